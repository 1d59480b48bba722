"""Bad input fails fast, with ONE message naming the offending key/file and the fix, and leaves no output.

Params cases run the real stage entry point (`python -m stages.download`, or `stages.preset`) in a fresh temp
copy of the project whose params.yaml was corrupted in one place; validation must stop it before any work.
Data cases run the download stage against a temp mirror with one file broken, or call the reader / fetcher
directly where a stage cannot reach the case (a corrupt file with a valid checksum cannot exist).
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from pipeline_support import (REPO, leftovers, mirror_dir, python, read_params, require_mirror,
                              small_profile_freeze_depth, stage_env)

from stages.xlt.data.squad import read_squad
from stages.xlt.sources.fetch import DownloadError, fetch

TINY = yaml.safe_load((REPO / "stages" / "presets" / "tiny.yaml").read_text(encoding="utf-8"))


def _project_copy(dest: Path) -> Path:
    """The parts a stage needs before it does any work: the package and a tiny params.yaml (no git, no DVC)."""
    shutil.copytree(REPO / "stages", dest / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "params.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False), encoding="utf-8")
    (dest / "data").mkdir()
    return dest


def _at(params: dict, dotted: str) -> tuple[dict, str]:
    *parents, last = dotted.split(".")
    node = params
    for key in parents:
        node = node[key]
    return node, last


def set_key(dotted: str, value: object) -> Callable[[Path], None]:
    def mutate(repo: Path) -> None:
        params = read_params(repo)
        node, last = _at(params, dotted)
        node[last] = value
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return mutate


def set_keys(**values: object) -> Callable[[Path], None]:
    """Several keys at once (dots written as "__"), for rules that involve two keys."""
    def mutate(repo: Path) -> None:
        for dotted, value in values.items():
            set_key(dotted.replace("__", "."), value)(repo)
    return mutate


def rename_key(dotted: str, new_name: str) -> Callable[[Path], None]:
    def mutate(repo: Path) -> None:
        params = read_params(repo)
        node, last = _at(params, dotted)
        node[new_name] = node.pop(last)
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return mutate


def add_condition(name: str, condition: dict) -> Callable[[Path], None]:
    return set_key(f"perturb.conditions.{name}", condition)


def write_raw(text: str) -> Callable[[Path], None]:
    def mutate(repo: Path) -> None:
        (repo / "params.yaml").write_text(text, encoding="utf-8")
    return mutate


def remove_params(repo: Path) -> None:
    (repo / "params.yaml").unlink()


def unchanged(repo: Path) -> None:
    return None


# (id, mutation, stage argv, substrings the one message must contain: the key/file and the fix)
PARAMS_CASES = [
    ("arm-unknown-task", set_key("intermediate.arms.multi", ["squad", "mnlx"]),
     ["stages.download"], ["intermediate.arms", "mnlx", "known"]),
    ("arm-unavailable-task", set_key("intermediate.arms.multi", ["squad", "ccg"]),
     ["stages.download"], ["intermediate.arms", "'ccg'", "not openly available"]),
    ("arm-duplicate-task", set_key("intermediate.arms.multi", ["squad", "nli", "squad"]),
     ["stages.download"], ["arm 'multi'", "twice"]),
    ("arm-hub-task-offline", set_key("intermediate.arms.multi", ["squad", "mnli"]),
     ["stages.download"], ["intermediate.arms.multi", "download.source: hub"]),
    ("finetune-hub-task-offline", set_key("transfer.targets.tydiqa", {}),
     ["stages.download"], ["transfer.targets.tydiqa", "download.source: hub"]),
    ("arm-bad-name", set_key("intermediate.arms.multi-task", ["squad"]),
     ["stages.download"], ["multi-task", "letters, digits and '_'"]),
    ("arm-compute-matched-with-tasks", set_key("intermediate.arms.squad", {"tasks": ["squad"], "compute_matched": True}),
     ["stages.download"], ["arm 'squad'", "compute_matched"]),
    ("length-steps-and-epochs", set_key("intermediate.train.epochs", 2),
     ["stages.download"], ["intermediate.train", "exactly one of max_steps", "epochs", "not both"]),
    ("length-missing", set_key("transfer.train.max_steps", None),
     ["stages.download"], ["transfer.train", "exactly one of max_steps", "not neither"]),
    ("task-override-both-lengths", set_key("transfer.targets.xnli", {"max_steps": 3, "epochs": 1}),
     ["stages.download"], ["transfer.targets.xnli", "max_steps or epochs, not both"]),
    ("epochs-zero", set_key("transfer.targets.xnli", {"epochs": 0}),
     ["stages.download"], ["transfer.targets.xnli.epochs", "greater than 0"]),
    ("arm-two-lengths", set_key("intermediate.arms.squad", {"tasks": ["squad"], "max_steps": 5, "epochs": 1}),
     ["stages.download"], ["arm 'squad'", "exactly one of max_steps"]),
    ("arm-length-without-tasks", set_key("intermediate.arms.none_long", {"tasks": [], "compute_matched": True,
                                                                          "epochs": 2}),
     ["stages.download"], ["arm 'none_long'", "no intermediate task"]),
    ("compute-matched-unknown-task", set_key("intermediate.arms.none_long", {"tasks": [],
                                                                              "compute_matched": ["squadd"]}),
     ["stages.download"], ["intermediate.arms", "'squadd'", "known"]),
    ("compute-matched-no-task", set_key("intermediate.arms.none_long", {"tasks": [], "compute_matched": []}),
     ["stages.download"], ["arm 'none_long'", "lists no task"]),
    ("compute-matched-true-with-epochs", set_keys(intermediate__train__max_steps=None, intermediate__train__epochs=1),
     ["stages.download"], ["arms.none_long", "compute_matched: true", "epochs", "compute_matched: [squad]"]),
    ("selection-offline", set_key("transfer.train.select_every", 100),
     ["stages.download"], ["select_every", "English dev sets from the Hub", "remove select_every"]),
    ("selection-patience-zero", set_key("intermediate.train.select_patience", 0),
     ["stages.download"], ["intermediate.train.select_patience", "greater than 0"]),
    ("retrieval-length-too-long", set_key("evaluate.retrieval_max_length", 1024),
     ["stages.download"], ["evaluate.retrieval_max_length", "less than or equal to 512"]),
    ("target-unknown", set_key("evaluate.targets.xquadd", ["de"]),
     ["stages.download"], ["evaluate.targets", "'xquadd'", "known"]),
    ("target-language-unknown", set_key("evaluate.targets.xquad", ["de", "xx"]),
     ["stages.download"], ["evaluate.targets", "xquad has no language(s) ['xx']"]),
    ("target-language-duplicate", set_key("evaluate.targets.xnli", ["de", "de"]),
     ["stages.download"], ["evaluate.targets.xnli", "'de'", "once"]),
    ("target-languages-empty", set_key("evaluate.targets.xquad", []),
     ["stages.download"], ["evaluate.targets.xquad", "no language"]),
    ("target-without-model", set_key("transfer.targets", {"qa": {}}),
     ["stages.download"], ["evaluate.targets.xnli", "add 'xnli' to transfer.targets"]),
    ("finetune-task-unknown", set_key("transfer.targets.nli", {}),
     ["stages.download"], ["transfer.targets", "'nli'", "known"]),
    ("comparison-arm-with-itself", set_key("score.comparisons", [["multi", "multi"]]),
     ["stages.download"], ["score.comparisons", "'multi'", "itself"]),
    ("headline-unknown-comparison", set_key("score.headline", [{"target": "xquad", "comparison": ["none", "multi"],
                                                                 "condition": "typos"}]),
     ["stages.download"], ["score.headline", "['none', 'multi']", "score.comparisons"]),
    ("perturbation-family-unknown", add_condition("shuffled", {"family": "shuffle", "rate": 0.1}),
     ["stages.download"], ["perturb.conditions.shuffled", "'shuffle'", "typos"]),
    ("perturbation-knob-foreign", set_key("perturb.conditions.typos.position", "start"),
     ["stages.download"], ["perturb.conditions.typos", "position", "its knobs are"]),
    ("perturbation-target-wrong-kind", set_key("perturb.conditions.tautology.targets", ["xquad"]),
     ["stages.download"], ["perturb.conditions.tautology", "cannot edit xquad"]),
    ("condition-named-clean", add_condition("clean", {"family": "typos", "rate": 0.1}),
     ["stages.download"], ["perturb.conditions", "'clean' is reserved", "rename"]),
    ("rate-negative", set_key("perturb.conditions.typos.rate", -0.1),
     ["stages.download"], ["perturb.conditions.typos.rate", "greater than or equal to 0"]),
    ("rate-above-one", set_key("perturb.conditions.codeswitch_words.rate", 1.5),
     ["stages.download"], ["perturb.conditions.codeswitch_words.rate", "less than or equal to 1"]),
    ("question-lang-unknown", set_key("perturb.conditions.codeswitch_en_question.question_lang", "xx"),
     ["stages.download"], ["codeswitch_en_question.question_lang", "'xx'", "not a known language"]),
    ("key-misspelt", rename_key("intermediate.train.learning_rate", "learning_rat"),
     ["stages.download"], ["intermediate.train.learning_rat", "unknown key", "misspelt"]),
    ("section-misspelt", rename_key("evaluate", "evalute"),
     ["stages.download"], ["evalute", "unknown key"]),
    ("section-missing", rename_key("score", "score_"),
     ["stages.download"], ["score", "Field required"]),
    ("string-where-int", set_key("intermediate.train.max_steps", "many"),
     ["stages.download"], ["intermediate.train.max_steps", "valid integer"]),
    ("fraction-where-int", set_key("transfer.train.batch_size", 2.5),
     ["stages.download"], ["transfer.train.batch_size", "valid integer"]),
    ("bool-where-int", set_key("transfer.train.max_steps", True),
     ["stages.download"], ["transfer.train.max_steps", "valid integer"]),
    ("bool-where-number", set_key("intermediate.train.learning_rate", True),
     ["stages.download"], ["intermediate.train.learning_rate"]),
    ("freeze-all-layers", set_key("intermediate.train.freeze_layers", 2),
     ["stages.download"], ["intermediate.train.freeze_layers is 2", "2 layers", "freeze at most 1"]),
    ("learning-rate-zero", set_key("intermediate.train.learning_rate", 0.0),
     ["stages.download"], ["intermediate.train.learning_rate", "greater than 0"]),
    ("learning-rate-negative", set_key("transfer.train.learning_rate", -1e-3),
     ["stages.download"], ["transfer.train.learning_rate", "greater than 0"]),
    ("seed-negative", set_key("seeds", [0, -1]), ["stages.download"], ["seeds.1", "greater than or equal to 0"]),
    ("seeds-empty", set_key("seeds", []), ["stages.download"], ["seeds", "non-empty"]),
    ("seeds-duplicate", set_key("seeds", [0, 1, 0]), ["stages.download"], ["seeds", "distinct"]),
    ("seeds-scalar", set_key("seeds", 0), ["stages.download"], ["seeds", "valid list"]),
    ("doc-stride-too-large", set_key("transfer.train.doc_stride", 128),
     ["stages.download"], ["transfer.train", "doc_stride (128) must be smaller than max_seq_length (128)"]),
    ("target-override-breaks-window", set_key("transfer.targets.xnli", {"max_seq_length": 64}),
     ["stages.download"], ["transfer.targets.xnli with transfer.train",
                           "doc_stride (64) must be smaller than max_seq_length (64)"]),
    ("hub-without-name", set_key("encoder.source", "hub"),
     ["stages.download"], ["encoder", "name_or_path"]),
    ("encoder-source-unknown", set_key("encoder.source", "bert"), ["stages.download"], ["encoder.source", "'tiny'"]),
    ("tiny-heads-do-not-divide", set_key("encoder.tiny.num_attention_heads", 3),
     ["stages.download"], ["encoder.tiny", "multiple of num_attention_heads"]),
    ("bootstrap-confidence-above-one", set_key("score.bootstrap.confidence", 1.5),
     ["stages.download"], ["score.bootstrap.confidence", "less than 1"]),
    ("attack-target-not-attackable", set_key("attack.targets", ["tatoeba"]),
     ["stages.download"], ["attack.targets", "'tatoeba'", "cannot be attacked", "attackable targets"]),
    ("attack-target-unknown", set_key("attack.targets", ["xquadd"]),
     ["stages.download"], ["unknown evaluation target 'xquadd'", "xquad"]),
    ("preset-over-unsaved-edits", set_key("seeds", [0, 5]),
     ["stages.preset", "small"], ["has edits that are neither a preset nor committed", "--force"]),
    ("min-clusters-zero", set_key("score.min_clusters", 0),
     ["stages.download"], ["score.min_clusters", "greater than or equal to 2"]),
    ("min-clusters-negative", set_key("score.min_clusters", -3),
     ["stages.download"], ["score.min_clusters", "greater than or equal to 2"]),
    ("yaml-syntax-error", write_raw("profile: tiny\nseeds: [0, 1\nencoder: {source: tiny}\n"),
     ["stages.download"], ["params.yaml", "not valid YAML"]),
    ("yaml-not-a-mapping", write_raw("- tiny\n- small\n"), ["stages.download"], ["params.yaml", "mapping"]),
    ("params-missing", remove_params, ["stages.download"], ["params.yaml not found", "stages.preset"]),
    ("preset-unknown", unchanged, ["stages.preset", "huge"], ["unknown preset 'huge'", "tiny"]),
    ("stage-arm-undeclared", unchanged, ["stages.intermediate", "--arm", "mega", "--seed", "0"],
     ["'mega'", "intermediate.arms"]),
    ("stage-seed-undeclared", unchanged, ["stages.transfer", "--arm", "multi", "--seed", "7"],
     ["seed 7", "seeds"]),
]


def _assert_one_clear_error(proc, expected: list[str]) -> None:
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"exit 0 on bad input:\n{output}"
    assert "Traceback" not in output, f"a traceback instead of one message:\n{output}"
    assert output.count("error:") == 1, f"expected exactly one error message:\n{output}"
    for text in expected:
        assert text in output, f"the message does not mention {text!r}:\n{output}"


@pytest.mark.parametrize(("mutate", "argv", "expected"), [c[1:] for c in PARAMS_CASES],
                         ids=[c[0] for c in PARAMS_CASES])
def test_bad_params_fail_before_any_work(tmp_path: Path, mutate, argv: list[str], expected: list[str]) -> None:
    repo = _project_copy(tmp_path / "repo")
    mutate(repo)
    before = (repo / "params.yaml").read_bytes() if (repo / "params.yaml").exists() else None
    # The timeout only guards against a hang; "no work before validation" is checked by the empty data/ below.
    proc = python(repo, "-m", *argv, env=stage_env(tmp_path, mirror_dir()), timeout=120)
    _assert_one_clear_error(proc, expected)
    assert sorted(p.name for p in (repo / "data").iterdir()) == [], "output left behind by a failed stage"
    after = (repo / "params.yaml").read_bytes() if (repo / "params.yaml").exists() else None
    assert after == before, "a failed command rewrote params.yaml"


def test_every_cross_field_problem_is_reported_at_once(tmp_path: Path) -> None:
    repo = _project_copy(tmp_path / "repo")
    for mutate in (set_key("score.comparisons", [["multi", "multi"], ["squad", "squad"]]),
                   set_key("perturb.conditions.tautology.targets", ["xquad"]),
                   set_key("intermediate.train.freeze_layers", 2)):
        mutate(repo)
    proc = python(repo, "-m", "stages.download", env=stage_env(tmp_path, mirror_dir()), timeout=120)
    _assert_one_clear_error(proc, ["'multi' with itself", "'squad' with itself", "cannot edit xquad",
                                   "freeze_layers is 2"])


def test_one_edit_leaves_notes_not_errors(tmp_path: Path) -> None:
    """Evaluating only XQuAD, or removing an arm, is one edit: what referred to the removed parts is skipped with
    a note (one line per kind), never an error."""
    from stages.params import load

    repo = _project_copy(tmp_path / "repo")
    set_key("score.headline", [{"target": "xquad", "comparison": ["multi", "squad"], "condition": "typos"},
                               {"target": "xnli", "comparison": ["multi", "squad"], "condition": "typos"}])(repo)
    set_key("evaluate.targets", {"xquad": ["de", "zh"]})(repo)
    params = read_params(repo)
    del params["intermediate"]["arms"]["none_long"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    loaded = load(repo / "params.yaml")
    assert loaded.attack_targets() == ["xquad"]
    assert all("none_long" not in pair for pair in loaded.comparisons())
    assert {cell.target for cell in loaded.headline_cells()} == {"xquad"}
    notes = loaded.notes()
    assert any(n.startswith("perturb.conditions name targets") and "tautology: xnli" in n for n in notes)
    assert any("attack.targets" in n and "mlqa" in n for n in notes)
    assert any("score.comparisons name arms" in n and "none_long" in n for n in notes)
    assert any(n.startswith("score.headline cells") and "xnli" in n for n in notes)
    assert len(notes) == len({n.split(" ")[0] for n in notes})  # one line per kind
    unchanged = load(REPO / "stages" / "presets" / "small.yaml")
    assert unchanged.notes() == []  # the shipped profile leaves nothing out


def test_a_new_arm_in_no_comparison_gets_a_note(tmp_path: Path) -> None:
    from stages.params import load

    repo = _project_copy(tmp_path / "repo")
    set_key("intermediate.arms.qnli_only", ["qnli"])(repo)
    notes = load(repo / "params.yaml").notes()
    assert any("['qnli_only'] are in no score.comparisons entry" in n for n in notes)


def test_preset_keeps_a_backup_when_forced(tmp_path: Path) -> None:
    repo = _project_copy(tmp_path / "repo")
    set_key("seeds", [0, 5])(repo)
    edited = (repo / "params.yaml").read_text(encoding="utf-8")
    proc = python(repo, "-m", "stages.preset", "small", "--force", env=stage_env(tmp_path, None), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    backups = list(repo.glob("params.yaml.*.bak"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == edited
    assert (repo / "params.yaml").read_text(encoding="utf-8") == (REPO / "stages/presets/small.yaml").read_text(
        encoding="utf-8")
    # A preset over a preset (or over the committed file) needs no --force and leaves no backup.
    proc = python(repo, "-m", "stages.preset", "tiny", env=stage_env(tmp_path, None), timeout=120)
    assert proc.returncode == 0 and len(list(repo.glob("params.yaml.*.bak"))) == 1


def test_the_unmutated_copy_validates(tmp_path: Path) -> None:
    """The control for the table: without a corruption the same validation passes (arms may be empty lists)."""
    from stages.params import load

    repo = _project_copy(tmp_path / "repo")
    params = load(repo / "params.yaml")
    assert params.intermediate.arms["none"] == []
    assert params.intermediate.arm("none_long").compute_matched


def test_cached_depth_is_what_every_phase_freezes() -> None:
    """The shared bottom is the layers frozen in every training phase: the small preset's depth (which the slow
    tests and benchmarks read) is each phase's freeze_layers; the paper preset trains everything, so nothing."""
    from stages.params import validate

    def preset(name: str):
        return validate(yaml.safe_load((REPO / "stages" / "presets" / f"{name}.yaml").read_text(encoding="utf-8")))

    def raw(name: str) -> dict:
        return yaml.safe_load((REPO / "stages" / "presets" / f"{name}.yaml").read_text(encoding="utf-8"))

    # What the small preset's YAML says, read as plain data: every training phase freezes the same layers.
    phases = [raw("small")["intermediate"]["train"], raw("small")["transfer"]["train"]]
    (depth,) = {p["freeze_layers"] for p in phases}
    assert depth > 0 and all(p["freeze_embeddings"] for p in phases)
    small = preset("small")
    assert small_profile_freeze_depth() == small.prefix_depth() == depth
    assert {c.freeze_layers for c in small.train_configs()} == {depth}  # every phase, targets' overrides included
    assert preset("paper").prefix_depth() == 0
    # The shared bottom is the shallowest frozen depth, and nothing when any phase trains the embeddings.
    shallower = raw("small")
    shallower["transfer"]["train"]["freeze_layers"] = depth - 1
    assert validate(shallower).prefix_depth() == depth - 1
    trains_embeddings = raw("small")
    trains_embeddings["intermediate"]["train"]["freeze_embeddings"] = False
    assert validate(trains_embeddings).prefix_depth() == 0


# --- data cases ---------------------------------------------------------------------------------------------

def _temp_mirror(source: Path, dest: Path) -> Path:
    """Links to every file of the real mirror (cheap: ~300 links); a case replaces the one file it breaks with a
    real copy. Linking everything keeps the cases independent of which files a profile happens to fetch."""
    files = [f for f in source.rglob("*") if f.is_file()]
    assert any(f.name == "xquad.de.json" for f in files), f"the mirror {source} lacks xquad/xquad.de.json"
    for file in files:
        link = dest / file.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(file)
    return dest


def flip_one_byte(mirror: Path) -> str:
    rel = "xquad/xquad.de.json"
    data = bytearray((mirror / rel).read_bytes())
    data[len(data) // 2] ^= 0x01
    (mirror / rel).unlink()
    (mirror / rel).write_bytes(bytes(data))
    return rel


def drop_file(mirror: Path) -> str:
    rel = "tatoeba/v1/tatoeba.rus-eng.rus"
    (mirror / rel).unlink()
    return rel


DATA_CASES = [
    ("checksum-mismatch", flip_one_byte, ["xquad/xquad.de.json", "sha256 mismatch", "Fix:"]),
    ("mirror-missing-file", drop_file, ["tatoeba/v1/tatoeba.rus-eng.rus", "XLT_MIRROR", "has no file"]),
]


@pytest.mark.parametrize(("breaks", "expected"), [c[1:] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES])
def test_bad_mirror_fails_the_download_stage_cleanly(tmp_path: Path, breaks, expected: list[str]) -> None:
    mirror = _temp_mirror(require_mirror(), tmp_path / "mirror")
    broken = breaks(mirror)
    repo = _project_copy(tmp_path / "repo")
    proc = python(repo, "-m", "stages.download", env=stage_env(tmp_path, mirror), timeout=300)
    _assert_one_clear_error(proc, expected)
    data = repo / "data"
    assert not (data / "raw" / broken).exists(), f"{broken} was left at its destination"
    assert not (data / "prepared").exists(), "prepared output left behind by a failed download"
    assert not (data / "prepared.provenance.json").exists()
    assert leftovers(data) == [], f"temporary files left behind: {leftovers(data)}"


def test_old_format_bucc_stops_the_paper_download_with_one_line(tmp_path: Path) -> None:
    """The Hub path, as a stage: a BUCC file in the older one-row-per-language-pair format (sentence lists) ends the
    download with one line naming the file and the fix, and leaves no prepared output."""
    from hub_fixtures import QA, SHARD, XQUAD, write_jsonl_gz, write_parquet

    hub = tmp_path / "hub"
    row = {"id": "q1", "title": "T", "context": "Paris is big.", "question": "What is big?",
           "answers": {"text": ["Paris"], "answer_start": [0]}}
    for split in ("train", "validation"):
        write_parquet(hub, "squad", f"plain_text/{split}-{SHARD}.parquet", [row], QA)
    for lang in ("en", "de"):
        write_parquet(hub, "xquad", f"xquad.{lang}/validation-{SHARD}.parquet",
                      [{k: v for k, v in row.items() if k != "title"}], XQUAD)
    write_jsonl_gz(hub, "bucc", "test/de-en.jsonl.gz", [{"sentence1": ["Ein Haus."], "sentence2": ["A house."],
                                                          "gold": [[1, 1]]}])
    repo = _project_copy(tmp_path / "repo")
    params = yaml.safe_load((REPO / "stages" / "presets" / "paper.yaml").read_text(encoding="utf-8"))
    params.update(encoder={"source": "tiny"}, seeds=[0], attack={"enabled": False})
    params["intermediate"]["arms"] = {"none": [], "squad": ["squad"]}
    params["transfer"]["targets"] = {"qa": {}}
    params["evaluate"]["targets"] = {"xquad": ["de"], "bucc": ["de"]}
    params["perturb"]["conditions"] = {"typos": {"family": "typos", "rate": 0.1}}
    params["score"].update(comparisons=[["squad", "none"]], headline=[])
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    env = {**stage_env(tmp_path, require_mirror()), "XLT_HUB_MIRROR": str(hub)}
    proc = python(repo, "-m", "stages.download", env=env, timeout=600)
    _assert_one_clear_error(proc, ["mteb/bucc-bitext-mining", "test/de-en.jsonl.gz", "row 0",
                                   "sentence1 is a list", "mteb/BUCC", "fix:"])
    assert not (repo / "data" / "prepared").exists(), "prepared output left behind by a failed download"


def _xquad_text(mirror: Path, lang: str = "de") -> str:
    return (mirror / "xquad" / f"xquad.{lang}.json").read_text(encoding="utf-8")


def test_truncated_xquad_json_names_the_file(tmp_path: Path) -> None:
    text = _xquad_text(require_mirror())
    path = tmp_path / "xquad.de.json"
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(ValueError, match=r"xquad\.de\.json: malformed or truncated JSON .*re-download"):
        read_squad(path, "de")


def test_answer_offset_that_misses_its_text_names_the_question(tmp_path: Path) -> None:
    payload = json.loads(_xquad_text(require_mirror()))
    qa = payload["data"][0]["paragraphs"][0]["qas"][0]
    qa["answers"][0]["answer_start"] += 3
    path = tmp_path / "xquad.de.json"
    path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"xquad\.de\.json: question '{qa['id']}': answer_start .* does not match"):
        read_squad(path, "de")
    kept = read_squad(path, "de", on_bad_answer="drop")  # the documented escape hatch drops only that question
    assert qa["id"] not in {ex["id"] for ex in kept} and len(kept) > 1000


def test_language_with_no_questions_names_the_language(tmp_path: Path) -> None:
    payload = json.loads(_xquad_text(require_mirror()))
    for article in payload["data"]:
        for paragraph in article["paragraphs"]:
            paragraph["qas"] = []
    path = tmp_path / "xquad.de.json"
    path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match=r"xquad\.de\.json: no questions for language 'de'"):
        read_squad(path, "de")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # released on exit: nothing listens there afterwards


def test_unreachable_upstream_without_mirror_names_xlt_mirror(tmp_path: Path) -> None:
    """XLT_MIRROR unset and upstream down: after its retries, one error that tells the user about the mirror."""
    dest = tmp_path / "raw" / "xquad" / "xquad.de.json"
    url = f"http://127.0.0.1:{_closed_port()}/xquad.de.json"
    with pytest.raises(DownloadError, match=r"xquad/xquad\.de\.json: .* failed 2 times .*XLT_MIRROR"):
        fetch("xquad/xquad.de.json", dest, mirror=None, url=url, expected_sha256="0" * 64, retries=1, backoff=0.01,
              timeout=5)
    assert not dest.exists()
    assert leftovers(tmp_path) == []
