"""The paper profile's whole graph, end to end, on small local folders in the Hugging Face Hub's formats.

A GPU user's first run of `python -m stages.preset paper && dvc repro` must not fail on a path nobody exercised. Here
every stage of the paper profile runs with ALL its intermediate tasks (SQuAD, MNLI, HellaSwag, ANLI, CommonsenseQA,
CosmosQA, QQP, SST-2), fine-tuning tasks (SQuAD, MNLI, PAWS-X) and targets (XQuAD, MLQA, XNLI, PAWS-X, Tatoeba),
through the Hub loaders (``XLT_HUB_MIRROR``: a folder laid out like the Hub repos, JSON-lines files in the parquet
files' places), on a tiny model of XLM-R's architecture with the XLM-R vocabulary, saved like a Hub model folder
(``encoder.source: hub``). Sizes and steps are the preset's except where listed in ``SHRINK``: the graph, the
loaders, full fine-tuning (no frozen layers, so no cached bottom) and the GPU settings' CPU fallbacks are the paper's.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from pipeline_support import copy_repo, dvc, git, require_mirror, stage_env, stages_run, write_params

N_ROWS = 12  # rows per Hub split


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _squad_rows(mirror: Path, lang: str, n: int, offset: int = 0) -> list[dict]:
    from stages.xlt.data.squad import read_squad

    examples = read_squad(mirror / "xquad" / f"xquad.{lang}.json", lang)[offset: offset + n]
    return [{"id": e["id"], "title": e["article"], "context": e["context"], "question": e["question"],
             "answers": e["answers"]} for e in examples]


def _pairs(mirror: Path, task: str, lang: str, n: int) -> list[tuple[str, str, int]]:
    from stages.xlt.data.pairs import read_pairs

    return [(e["text_a"], e["text_b"], e["label"]) for e in read_pairs(mirror / task / f"dev-{lang}.tsv", task, lang)][:n]


def build_hub_mirror(mirror: Path, root: Path) -> Path:
    """Every Hub file the paper profile reads, from the offline mirror's data (English rows stand in for tasks the
    mirror lacks: the loaders and the graph are under test, not the tasks)."""
    rng = random.Random(0)
    squad = _squad_rows(mirror, "en", N_ROWS)
    _jsonl(root / "squad" / "plain_text" / "train-00000-of-00001.jsonl", squad)
    nli = _pairs(mirror, "xnli", "en", N_ROWS)
    _jsonl(root / "mnli" / "mnli" / "train-00000-of-00001.jsonl",
           [{"premise": a, "hypothesis": b, "label": y, "idx": i} for i, (a, b, y) in enumerate(nli)])
    for r in ("r1", "r2", "r3"):
        _jsonl(root / "anli" / "plain_text" / f"train_{r}-00000-of-00001.jsonl",
               [{"uid": f"{r}-{i}", "premise": a, "hypothesis": b, "label": y} for i, (a, b, y) in enumerate(nli)])
    paws = _pairs(mirror, "pawsx", "en", N_ROWS)
    _jsonl(root / "qqp" / "qqp" / "train-00000-of-00001.jsonl",
           [{"question1": a, "question2": b, "label": y, "idx": i} for i, (a, b, y) in enumerate(paws)])
    _jsonl(root / "sst2" / "sst2" / "train-00000-of-00001.jsonl",
           [{"sentence": a, "label": rng.randint(0, 1), "idx": i} for i, (a, _, _) in enumerate(nli)])
    sentences = [b for _, b, _ in nli]
    _jsonl(root / "hellaswag" / "data" / "train-00000-of-00001.jsonl",
           [{"ind": i, "ctx": a, "endings": rng.sample(sentences, 4), "label": str(rng.randint(0, 3))}
            for i, (a, _, _) in enumerate(nli)])
    _jsonl(root / "commonsenseqa" / "data" / "train-00000-of-00001.jsonl",
           [{"id": f"c{i}", "question": q["question"], "question_concept": "x",
             "choices": {"label": list("ABCDE"), "text": rng.sample(sentences, 5)}, "answerKey": "C"}
            for i, q in enumerate(squad)])
    _jsonl(root / "cosmosqa" / "data" / "train-00000-of-00001.jsonl",
           [{"id": f"k{i}", "context": q["context"][:300], "question": q["question"],
             **{f"answer{j}": s for j, s in enumerate(rng.sample(sentences, 4))}, "label": rng.randint(0, 3)}
            for i, q in enumerate(squad)])
    for lang in ("en", "de", "zh"):
        _jsonl(root / "xquad" / f"xquad.{lang}" / "validation-00000-of-00001.jsonl",
               [{k: r[k] for k in ("id", "context", "question", "answers")} for r in _squad_rows(mirror, lang, N_ROWS, 40)])
    from stages.xlt.data.mlqa import read_mlqa

    data = read_mlqa(mirror / "mlqa" / "MLQA_V1" / "dev", ["de"], gxlt=False)
    german = data.native["de"][:N_ROWS]
    # As on the Hub, the English config holds the English original of every translated question (same id).
    english = [e for e in data.english if e["id"] in {g["id"] for g in german}]
    for lang, rows in (("en", english), ("de", german)):
        _jsonl(root / "mlqa" / f"mlqa.{lang}.{lang}" / "test-00000-of-00001.jsonl",
               [{k: e[k] for k in ("id", "context", "question", "answers")} for e in rows])
    for lang in ("en", "de", "zh"):
        _jsonl(root / "xnli" / lang / "test-00000-of-00001.jsonl",
               [{"premise": a, "hypothesis": b, "label": y} for a, b, y in _pairs(mirror, "xnli", lang, N_ROWS)])
        for split in ("train", "test"):
            _jsonl(root / "pawsx" / lang / f"{split}-00000-of-00001.jsonl",
                   [{"id": i, "sentence1": a, "sentence2": b, "label": y}
                    for i, (a, b, y) in enumerate(_pairs(mirror, "pawsx", lang, N_ROWS))])
    return root


def build_tiny_xlmr_model(out: Path) -> Path:
    """A random 2-layer XLM-R (``XLMRobertaModel``) with the real XLM-R vocabulary, saved like a Hub model folder."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from stages.xlt.sources.encoder import bundled_tokenizer

    tokenizer = bundled_tokenizer()
    config = XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64, max_position_embeddings=514, type_vocab_size=1,
                              pad_token_id=tokenizer.pad_token_id, bos_token_id=0, eos_token_id=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


# The paper preset, shrunk only in size: one seed, two steps, a few languages, few resamples.
SHRINK = {
    "launcher": "python",
    "seeds": [0],
    "download.max_hub_train": N_ROWS,
    "download.max_tatoeba_pairs": 12,
    "intermediate.train.max_steps": 2,
    "intermediate.train.checkpoint_every": 1,
    "transfer.train.max_steps": 2,
    "transfer.train.checkpoint_every": 1,
    "transfer.targets": {"qa": {}, "xnli": {"max_seq_length": 128, "doc_stride": 64, "batch_size": 8, "max_steps": 2},
                         "pawsx": {"max_seq_length": 128, "doc_stride": 64, "batch_size": 8, "max_steps": 2}},
    "evaluate.targets": {"xquad": ["de", "zh"], "mlqa": ["de"], "xnli": ["de", "zh"], "pawsx": ["de", "zh"],
                         "tatoeba": ["de"]},
    "evaluate.retrieval_layer": -1,
    "attack.max_examples": 2,
    "attack.eligibility": 0.0,
    "score.bootstrap.n_resamples": 100,
    "score.n_permutations": 100,
}


def _set(params: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    node = params
    for key in parents:
        node = node[key]
    node[last] = value


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory: pytest.TempPathFactory):
    mirror = require_mirror()
    root = tmp_path_factory.mktemp("paper")
    hub = build_hub_mirror(mirror, root / "hub")
    model = build_tiny_xlmr_model(root / "xlmr-tiny")
    repo = copy_repo(root / "repo", profile="paper", commit=False)
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    for key, value in SHRINK.items():
        _set(params, key, value)
    params["encoder"]["name_or_path"] = str(model)
    write_params(repo, params)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "paper profile, shrunk")
    env = stage_env(root, mirror)
    env["XLT_HUB_MIRROR"] = str(hub)
    repro = dvc(repo, "repro", env=env, timeout=1500)
    return repo, params, repro


def test_every_stage_of_the_paper_graph_runs(paper_run) -> None:
    repo, params, repro = paper_run
    ran = set(stages_run(repro))
    arms = list(params["intermediate"]["arms"])
    for stage in ["download", "encoder", "perturb", "prefix_clean", "prefix_perturbed", "score",
                  *(f"{s}@{a}-0" for s in ("intermediate", "transfer", "evaluate_clean", "evaluate_perturbed")
                    for a in arms), *(f"attack@{t}" for t in params["attack"]["targets"])]:
        assert stage in ran, f"{stage} did not run: {sorted(ran)}"
    intermediate = json.loads((repo / "data" / "prepared" / "intermediate" / "sizes.json").read_text())
    assert {f"{t}.jsonl" for t in params["intermediate"]["arms"]["multi"]} <= set(intermediate)


def test_nothing_is_cached_when_every_layer_trains(paper_run) -> None:
    repo, _, _ = paper_run
    assert "nothing to cache" in (repo / "data" / "prefix" / "clean" / "README").read_text()
    delta = json.loads((repo / "data" / "transfer" / "multi-0" / "qa" / "delta.json").read_text())
    assert delta["delta_from"] == 0 and delta["embeddings"] is True


def test_the_report_covers_every_paper_target(paper_run) -> None:
    repo, params, _ = paper_run
    report = (repo / "metrics" / "report.md").read_text(encoding="utf-8")
    for target in params["evaluate"]["targets"]:
        assert f"`{target}`" in report, f"no report section for {target}"
