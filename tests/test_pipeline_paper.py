"""The paper profile's whole graph, end to end, on small local copies of the Hub repositories at their pinned commits.

A GPU user's first run of `python -m stages.preset paper && dvc repro` must not fail on a path nobody exercised. Here
every stage of the paper profile runs with ALL its intermediate tasks (SQuAD, MNLI, HellaSwag, ANLI, CommonsenseQA,
CosmosQA, QQP, SST-2), fine-tuning tasks (SQuAD, MNLI, PAWS-X, TyDiQA-GoldP English) and targets (XQuAD, MLQA, XNLI,
PAWS-X, TyDiQA-GoldP, Tatoeba), through the Hub loaders (``XLT_HUB_MIRROR``: ``<owner>/<name>/<files>``, the files
named, typed and label-encoded as at the pinned commits, ``hub_fixtures.py``: MLQA, PAWS-X and TyDiQA in
google/xtreme's layout, CosmosQA from its parquet export), on a tiny model of XLM-R's architecture with the XLM-R
vocabulary, saved like a Hub model folder (``encoder.source: hub``). Sizes are the preset's except where listed in
``SHRINK``; the lengths are the preset's epochs, so the graph also resolves epochs into steps, matches the control
arm's compute from features, and selects checkpoints on the English dev sets: the loaders, full fine-tuning (no
frozen layers, so no cached bottom) and the GPU settings' CPU fallbacks are the paper's.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml
from hub_fixtures import (ANLI, COSMOSQA, CSQA, GLUE_MNLI, GLUE_QQP, GLUE_SST2, HELLASWAG, PANX, PAWSX, QA, SHARD,
                          UDPOS, XNLI, XQUAD, write_parquet)

from pipeline_support import copy_repo, dvc, git, require_mirror, stage_env, stages_run, write_params

# About 4.5 minutes on 2 cores (the whole paper graph on copies of the pinned repositories): run with -m slow.
pytestmark = pytest.mark.slow

N_ROWS = 12  # rows per Hub split


def _squad_rows(mirror: Path, lang: str, n: int, offset: int = 0) -> list[dict]:
    from stages.xlt.data.squad import read_squad

    examples = read_squad(mirror / "xquad" / f"xquad.{lang}.json", lang)[offset: offset + n]
    return [{"id": e["id"], "title": e["article"], "context": e["context"], "question": e["question"],
             "answers": e["answers"]} for e in examples]


def _pairs(mirror: Path, task: str, lang: str, n: int, offset: int = 0) -> list[tuple[str, str, int]]:
    from stages.xlt.data.pairs import read_pairs

    rows = read_pairs(mirror / task / f"dev-{lang}.tsv", task, lang)[offset: offset + n]
    return [(e["text_a"], e["text_b"], e["label"]) for e in rows]


def _tagged(mirror: Path, lang: str, n: int, offset: int) -> list[tuple[list[str], list[int], list[int]]]:
    """Word lists from the mirror's XNLI premises, with synthetic but consistent tags: a UPOS index from the word's
    length, and an IOB2 PAN-X sequence that marks capitalised words after the first as locations (B-LOC, I-LOC)."""
    out = []
    for premise, _, _ in _pairs(mirror, "xnli", lang, n, offset):
        words = premise.split()
        pos = [len(w) % 17 for w in words]
        ner, inside = [], False
        for k, w in enumerate(words):
            entity = k > 0 and w[:1].isupper()
            ner.append((6 if inside else 5) if entity else 0)
            inside = entity
        out.append((words, pos, ner))
    return out


def _tagging_sets(mirror: Path, root: Path) -> None:
    """google/xtreme's udpos.<Language> and PAN-X.<lang> configs: English train and dev, every language's test."""
    from stages.xlt.languages import UDPOS_NAMES

    for lang in ("en", "de"):
        splits = (("train", 0), ("validation", N_ROWS), ("test", 2 * N_ROWS)) if lang == "en" else (("test", 0),)
        for split, offset in splits:
            rows = _tagged(mirror, lang, N_ROWS, offset)
            write_parquet(root, "udpos", f"udpos.{UDPOS_NAMES[lang]}/{split}-{SHARD}.parquet",
                          [{"tokens": w, "pos_tags": p} for w, p, _ in rows], UDPOS)
            write_parquet(root, "panx", f"PAN-X.{lang}/{split}-{SHARD}.parquet",
                          [{"tokens": w, "ner_tags": n, "langs": [lang] * len(w)} for w, _, n in rows], PANX)


def _english_tasks(mirror: Path, root: Path, split: str, offset: int) -> None:
    """Every English training task's file of ``split`` (train or its dev split), from the mirror's English rows
    (they stand in for the tasks the mirror lacks: the loaders and the graph are under test, not the tasks)."""
    rng = random.Random(offset)
    dev = split != "train"
    squad = _squad_rows(mirror, "en", N_ROWS, offset)
    write_parquet(root, "squad", f"plain_text/{'validation' if dev else 'train'}-{SHARD}.parquet", squad, QA)
    nli = _pairs(mirror, "xnli", "en", N_ROWS, offset)
    write_parquet(root, "mnli", f"mnli/{'validation_matched' if dev else 'train'}-{SHARD}.parquet",
                  [{"premise": a, "hypothesis": b, "label": y, "idx": i} for i, (a, b, y) in enumerate(nli)], GLUE_MNLI)
    for r in ("r1", "r2", "r3"):
        write_parquet(root, "anli", f"plain_text/{'dev' if dev else 'train'}_{r}-{SHARD}.parquet",
                      [{"uid": f"{r}-{i}", "premise": a, "hypothesis": b, "label": y, "reason": ""}
                       for i, (a, b, y) in enumerate(nli)], ANLI)
    paws = _pairs(mirror, "pawsx", "en", N_ROWS, offset)
    write_parquet(root, "qqp", f"qqp/{'validation' if dev else 'train'}-{SHARD}.parquet",
                  [{"question1": a, "question2": b, "label": y, "idx": i} for i, (a, b, y) in enumerate(paws)],
                  GLUE_QQP)
    write_parquet(root, "sst2", f"sst2/{'validation' if dev else 'train'}-{SHARD}.parquet",
                  [{"sentence": a, "label": rng.randint(0, 1), "idx": i} for i, (a, _, _) in enumerate(nli)], GLUE_SST2)
    sentences = [b for _, b, _ in nli]
    write_parquet(root, "hellaswag", f"data/{'validation' if dev else 'train'}-{SHARD}.parquet",
                  [{"ind": i, "activity_label": "x", "ctx_a": a, "ctx_b": "", "ctx": a,
                    "endings": rng.sample(sentences, 4), "source_id": "s", "split": split, "split_type": "indomain",
                    "label": str(rng.randint(0, 3))} for i, (a, _, _) in enumerate(nli)], HELLASWAG)
    write_parquet(root, "commonsenseqa", f"data/{'validation' if dev else 'train'}-{SHARD}.parquet",
                  [{"id": f"c{offset}-{i}", "question": q["question"], "question_concept": "x",
                    "choices": {"label": list("ABCDE"), "text": rng.sample(sentences, 5)}, "answerKey": "C"}
                   for i, q in enumerate(squad)], CSQA)
    write_parquet(root, "cosmosqa", f"data/{'validation' if dev else 'train'}-{SHARD}.parquet",
                  [{"id": f"k{offset}-{i}", "context": q["context"][:300], "question": q["question"],
                    **{f"answer{j}": s for j, s in enumerate(rng.sample(sentences, 4))}, "label": rng.randint(0, 3)}
                   for i, q in enumerate(squad)], COSMOSQA)


def build_hub_mirror(mirror: Path, root: Path) -> Path:
    """Every Hub file the paper profile reads, at the pinned layouts, from the offline mirror's data."""
    _english_tasks(mirror, root, "train", 0)
    _english_tasks(mirror, root, "validation", N_ROWS)
    for lang in ("en", "de", "zh"):
        write_parquet(root, "xquad", f"xquad.{lang}/validation-{SHARD}.parquet",
                      [{k: r[k] for k in ("id", "context", "question", "answers")}
                       for r in _squad_rows(mirror, lang, N_ROWS, 40)], XQUAD)
    from stages.xlt.data.mlqa import read_mlqa

    data = read_mlqa(mirror / "mlqa" / "MLQA_V1" / "dev", ["de"], gxlt=False)
    german = data.native["de"][:N_ROWS]
    # As in google/xtreme, MLQA.en.en holds the English original of every translated question (same id).
    english = [e for e in data.english if e["id"] in {g["id"] for g in german}]
    for lang, rows in (("en", english), ("de", german)):
        write_parquet(root, "mlqa", f"MLQA.{lang}.{lang}/test-{SHARD}.parquet",
                      [{"id": e["id"], "title": e["article"], "context": e["context"], "question": e["question"],
                        "answers": e["answers"]} for e in rows], QA)
    for lang in ("en", "de", "zh"):
        for split, offset in (("test", 0), ("validation", N_ROWS)):
            write_parquet(root, "xnli", f"{lang}/{split}-{SHARD}.parquet",
                          [{"premise": a, "hypothesis": b, "label": y}
                           for a, b, y in _pairs(mirror, "xnli", lang, N_ROWS, offset)], XNLI)
        for split, offset in (("train", 0), ("validation", N_ROWS), ("test", 2 * N_ROWS)):
            write_parquet(root, "pawsx", f"PAWS-X.{lang}/{split}-{SHARD}.parquet",
                          [{"sentence1": a, "sentence2": b, "label": str(y)}
                           for a, b, y in _pairs(mirror, "pawsx", lang, N_ROWS, offset)], PAWSX)
    _tagging_sets(mirror, root)
    _tydiqa(mirror, root)
    return root


TYDIQA_NAMES = {"en": "english", "ru": "russian", "ar": "arabic"}  # ar: in the files, in no profile's languages here


def _tydiqa(mirror: Path, root: Path) -> None:
    """TyDiQA-GoldP as google/xtreme holds it: one file per split with every language, each id prefixed by its
    language's name; every language has its own questions (here: other XQuAD paragraphs per language)."""
    for split, offset in (("train", 60), ("validation", 60 + 3 * N_ROWS)):
        rows = [{**r, "id": f"{name}-{r['id']}"} for i, (lang, name) in enumerate(TYDIQA_NAMES.items())
                for r in _squad_rows(mirror, lang, N_ROWS, offset + i * N_ROWS)]
        write_parquet(root, "tydiqa", f"tydiqa/{split}-{SHARD}.parquet", rows, QA)


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


# The paper preset, shrunk only in size: one seed, one intermediate epoch instead of 3, a few languages (English among
# them, as in XTREME), few resamples, dev evaluations every 2 steps instead of 1,000 (so selection runs mid-training).
SHRINK = {
    "seeds": [0],
    "intermediate.train.epochs": 1,
    "download.max_hub_train": N_ROWS,
    "download.max_hub_dev": 6,
    "download.max_tatoeba_pairs": 12,
    "intermediate.train.checkpoint_every": 1,
    "transfer.train.checkpoint_every": 1,
    "transfer.train.select_every": 2,
    "evaluate.targets": {"xquad": ["en", "de", "zh"], "mlqa": ["en", "de"], "xnli": ["en", "de", "zh"],
                         "pawsx": ["en", "de", "zh"], "tydiqa": ["en", "ru"], "tatoeba": ["de"],
                         "udpos": ["en", "de"], "panx": ["en", "de"]},
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


def _provenance(repo: Path, output: str) -> dict:
    return json.loads((repo / "data" / f"{output}.provenance.json").read_text(encoding="utf-8"))


def test_every_hub_file_read_is_recorded_at_its_pinned_commit(paper_run) -> None:
    from stages.xlt.tasks.registry import HUB_SOURCES

    repo, params, _ = paper_run
    sources = _provenance(repo, "prepared")["extra"]["hub_sources"]
    pins = {s.repo: s.revision for s in HUB_SOURCES.values()}
    # Every pinned repository but MTEB's bitext sets (BUCC is not evaluated; Tatoeba comes from LASER's files).
    assert {s["repo"] for s in sources} == set(pins) - {"mteb/bucc-bitext-mining", "mteb/tatoeba-bitext-mining"}
    assert all(s["revision"] == pins[s["repo"]] and s["files"] and s["rows"] > 0 for s in sources)
    assert any(s["repo"] == "google/xtreme" and s["files"] == [f"MLQA.de.de/test-{SHARD}.parquet"] for s in sources)
    dev = json.loads((repo / "data" / "prepared" / "finetune" / "sizes.json").read_text())
    assert {"qa.dev.jsonl", "xnli.dev.jsonl", "pawsx.dev.jsonl", "tydiqa.dev.jsonl"} <= set(dev)


def test_lengths_in_epochs_and_the_compute_matched_control(paper_run) -> None:
    """Steps come from the features (jiant's count); multi trains on every task's epochs, so longer than squad; the
    control arm fine-tunes on as many extra features as the squad arm's intermediate training."""
    import math

    from stages.xlt.training.length import steps_for_epochs

    repo, params, _ = paper_run
    inter = params["intermediate"]["train"]
    batch = inter["batch_size"] * inter["grad_accum_steps"]
    counts = {p.name.split(".")[0]: sum(1 for _ in p.open()) for p in
              (repo / "data" / "prefix" / "intermediate").glob("*.features.jsonl")}
    steps = {arm: _provenance(repo, f"intermediate/{arm}-0")["extra"]["training"]["steps"]
             for arm in ("squad", "multi")}
    assert steps["squad"] == steps_for_epochs({"squad": counts["squad"]}, inter["epochs"], batch)
    assert steps["multi"] == steps_for_epochs({t: counts[t] for t in params["intermediate"]["arms"]["multi"]},
                                              inter["epochs"], batch) > steps["squad"]
    control = _provenance(repo, "transfer/none_long-0")["extra"]["tasks"]
    plain = _provenance(repo, "transfer/none-0")["extra"]["tasks"]
    for task, record in control.items():
        task_batch = record["train"]["batch_size"] * record["train"]["grad_accum_steps"]
        assert record["compute_matched_steps"] == math.ceil(steps["squad"] * batch / task_batch)
        assert record["steps"] == plain[task]["steps"] + record["compute_matched_steps"]
        assert plain[task]["compute_matched_steps"] == 0


def test_fine_tuning_selects_on_english_dev_sets(paper_run) -> None:
    repo, _, _ = paper_run
    for task, record in _provenance(repo, "transfer/multi-0")["extra"]["tasks"].items():
        selection = record["training"]["selection"]
        assert selection["evaluations"] >= 1 and 0.0 <= selection["best_dev_score"] <= 1.0, task
        assert 1 <= selection["best_step"] <= record["steps"], task
    assert "selection" not in _provenance(repo, "intermediate/multi-0")["extra"]["training"]  # off there (jiant)


def test_english_is_evaluated_like_every_other_language(paper_run) -> None:
    repo, params, _ = paper_run
    for target in ("xquad", "mlqa", "xnli", "pawsx", "tydiqa"):
        rows = (repo / "data" / "predictions_clean" / "multi-0" / target / "en.jsonl").read_text().splitlines()
        assert rows, target


def test_tagging_targets_train_predict_and_score_through_the_shared_path(paper_run) -> None:
    """UD-POS and PAN-X: fine-tuned by the same loop (a delta with the tagging head), one tag per word predicted in
    every evaluated language, and word accuracy in the clean table of every arm."""
    repo, params, _ = paper_run
    detailed = json.loads((repo / "metrics" / "detailed.json").read_text(encoding="utf-8"))
    for target in ("udpos", "panx"):
        delta = json.loads((repo / "data" / "transfer" / "multi-0" / target / "delta.json").read_text())
        assert delta["heads"][target][0] == "tagging", delta["heads"]
        for lang in params["evaluate"]["targets"][target]:
            test = [json.loads(line) for line in
                    (repo / "data" / "prepared" / "test" / f"{target}.{lang}.jsonl").read_text().splitlines()]
            predicted = {json.loads(line)["id"]: json.loads(line)["prediction"] for line in
                         (repo / "data" / "predictions_clean" / "multi-0" / target / f"{lang}.jsonl")
                         .read_text().splitlines()}
            assert test and all(len(predicted[ex["id"]]) == len(ex["tokens"]) for ex in test), (target, lang)
        by_arm = detailed["clean"][target]["accuracy"]
        assert set(by_arm) == set(params["intermediate"]["arms"]), by_arm.keys()


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_tydiqa_trains_on_its_english_train_set_and_predicts_with_its_own_model(paper_run) -> None:
    """As jiant's XTREME setup: the tydiqa model is fine-tuned on TyDiQA-GoldP's English train rows only, selects on
    its English dev rows, and predicts every TyDiQA language; no English-question condition (no English originals)."""
    repo, _, _ = paper_run
    finetune = repo / "data" / "prepared" / "finetune"
    for name, split in (("tydiqa.jsonl", "train"), ("tydiqa.dev.jsonl", "validation")):
        rows = _rows(finetune / name)
        assert rows and all(r["id"].startswith("english-") and r["lang"] == "en" for r in rows), (name, split)
    train, dev = ({r["id"] for r in _rows(finetune / name)} for name in ("tydiqa.jsonl", "tydiqa.dev.jsonl"))
    assert not train & dev
    russian = _rows(repo / "data" / "prepared" / "test" / "tydiqa.ru.jsonl")
    assert russian and all(r["id"].startswith("russian-") for r in russian)
    record = _provenance(repo, "transfer/multi-0")["extra"]["tasks"]["tydiqa"]
    assert record["training"]["selection"]["evaluations"] >= 1
    assert (repo / "data" / "transfer" / "multi-0" / "tydiqa" / "delta.json").exists()
    predicted = {r["id"] for r in _rows(repo / "data" / "predictions_clean" / "multi-0" / "tydiqa" / "ru.jsonl")}
    assert predicted == {r["id"] for r in russian}
    perturbed = repo / "data" / "perturbed"
    assert (perturbed / "typos" / "tydiqa.ru.jsonl").exists()
    assert not (perturbed / "codeswitch_en_question" / "tydiqa.ru.jsonl").exists()
    assert (perturbed / "codeswitch_en_question" / "xquad.de.jsonl").exists()
