"""The hand-written mutants that once passed the whole suite, each applied in a scratch copy of the project with the
test that must now catch it (``python tests/mutation/named.py``, ~10-40 min on 2 cores by load; a benchmark-style check,
not part of the default run).

Each mutant is one exact text replacement. The script first runs every named test on the unmutated copy (they must
pass), then each mutant with its tests (they must fail). It prints a Markdown table; a mutant whose text is no
longer in the file (the code was rewritten) is reported as "does not apply" so that it can be re-targeted. Exit
status 1 when a mutant survives or a test fails on the unmutated copy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline_support import REPO, project_files  # noqa: E402


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


GUARDS = "tests/test_scoring_statistics_guards.py"
MUTANTS = (
    Mutant("arm B's replicates shuffled (A/B pairing broken)", "stages/xlt/scoring/statistics.py",
           "        clean_b, pert_b, clean_b_r, pert_b_r = self._averages(arm_b)\n",
           "        clean_b, pert_b, clean_b_r, pert_b_r = self._averages(arm_b)\n"
           "        shuffle = np.random.default_rng(0).permutation(len(clean_b_r))\n"
           "        clean_b_r, pert_b_r = clean_b_r[shuffle], pert_b_r[shuffle]\n",
           (f"{GUARDS}::test_arms_with_identical_item_outcomes_have_a_zero_delta_in_every_replicate",
            f"{GUARDS}::test_a_paired_delta_is_narrower_than_either_arms_drop_and_finds_a_small_shared_effect",
            f"{GUARDS}::test_every_arm_of_a_multi_language_cell_is_paired_with_every_other")),
    Mutant("cluster counts drawn from an unseeded generator", "stages/xlt/scoring/statistics.py",
           "rng = np.random.default_rng([seed, 0, int(digest, 16) % (2**63), n_clusters])",
           "rng = np.random.default_rng()",
           (f"{GUARDS}::test_bootstrap_results_are_byte_identical_in_two_fresh_processes",)),
    Mutant("sign flips drawn from an unseeded generator", "stages/xlt/scoring/statistics.py",
           "rng = np.random.default_rng([seed, 2, int(digest, 16) % (2**63), n_clusters])",
           "rng = np.random.default_rng()",
           (f"{GUARDS}::test_bootstrap_results_are_byte_identical_in_two_fresh_processes",)),
    Mutant("Holm without its factors (Bonferroni)", "stages/xlt/scoring/statistics.py",
           "adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * ranked))",
           "adjusted = np.minimum(1.0, m * ranked)",
           ("tests/test_scoring_summary.py::test_a_cell_significant_only_before_adjustment_is_no_evidence",)),
    Mutant("covers() without its '/' boundary", "tests/deps_support.py",
           'file.startswith(dep.rstrip("/") + "/")', 'file.startswith(dep.rstrip("/"))',
           ("tests/test_dvc_deps.py::test_a_folder_dep_covers_only_files_below_it_not_files_sharing_its_prefix",)),
    Mutant("import_module(\"...\") with a constant not followed", "tests/deps_support.py",
           "elif isinstance(node, ast.Call) and _is_dynamic_import(node):", "elif False:",
           ("tests/test_dvc_deps.py::test_imports_of_every_form_are_followed_and_only_those",)),
    Mutant("a file dep the stage never imports", "dvc.yaml",
           "    cmd: python -m stages.download\n    deps:\n",
           "    cmd: python -m stages.download\n    deps:\n      - stages/xlt/scoring/plots.py\n",
           ("tests/test_dvc_deps.py::test_a_listed_file_the_stage_never_imports_is_an_error_a_folder_only_a_warning",)),
    Mutant("records without an applied flag always count as changed", "stages/xlt/scoring/collect.py",
           'bool(record.get("applied", chrf < 100.0))', 'bool(record.get("applied", True))',
           ("tests/test_scoring_collect.py::test_applied_comes_from_the_flag_else_from_chrf_below_100",)),
    Mutant("retrieval's shape check removed (numpy raises its own ValueError)", "stages/xlt/tasks/retrieval.py",
           "if src_emb.ndim != 2 or src_emb.shape != tgt_emb.shape or src_emb.shape[0] == 0:", "if False:",
           ("tests/test_retrieval.py::test_misshapen_embeddings_raise_naming_both_shapes",)),
    Mutant("the forest plot draws no point", "stages/xlt/scoring/plots.py",
           'if int(r["n"]) > 0 and np.isfinite(r["delta"]):', "if False:",
           ("tests/test_scoring_plots.py::test_forest_plot_draws_each_applicable_row_at_its_delta_in_its_verdict_colour",)),
    Mutant("the report names the largest cell as the smallest", "stages/xlt/scoring/report.py",
           'smallest = int(applicable["n"].min())', 'smallest = int(applicable["n"].max())',
           ("tests/test_scoring_report.py::test_limitations_name_the_smallest_applicable_cell",)),
    Mutant("the shared bottom is the deepest frozen depth, not the shallowest", "stages/params.py",
           "return min(c.freeze_layers for c in configs)", "return max(c.freeze_layers for c in configs)",
           ("tests/test_bad_input.py::test_cached_depth_is_what_every_phase_freezes",)),
    Mutant("the small preset's code-switching rate lowered to 0.02", "stages/presets/small.yaml",
           "codeswitch_words: {family: codeswitch_words, rate: 0.3,", "codeswitch_words: {family: codeswitch_words, rate: 0.02,",
           ("tests/test_perturbations_coverage.py",)),
)


def _copy(dest: Path) -> Path:
    for rel in project_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    return dest


def _pytest(repo: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests], cwd=repo,
                          env=env, capture_output=True, text=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="match", default="", help="only mutants whose name contains this text")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if args.match in m.name]
    failed = False
    with tempfile.TemporaryDirectory(prefix="xlt-named-mutants-") as tmp:
        control = _pytest(_copy(Path(tmp) / "control"), tuple(sorted({t for m in chosen for t in m.tests})))
        if control.returncode != 0:
            print(f"the named tests fail WITHOUT any mutant; fix them first:\n{control.stdout[-3000:]}")
            return 1
        rows = ["| mutant | file | test that must catch it | result |", "|---|---|---|---|"]
        for k, mutant in enumerate(chosen):
            repo = _copy(Path(tmp) / f"m{k}")
            path = repo / mutant.file
            text = path.read_text(encoding="utf-8")
            if text.count(mutant.old) != 1:
                result = "does not apply (the code changed: re-target this mutant)"
            else:
                path.write_text(text.replace(mutant.old, mutant.new), encoding="utf-8")
                proc = _pytest(repo, mutant.tests)
                result = "killed" if proc.returncode == 1 else f"SURVIVED (pytest exit {proc.returncode})"
                failed |= proc.returncode != 1
            shutil.rmtree(repo, ignore_errors=True)
            tests = "<br>".join(f"`{t.split('/')[-1]}`" for t in mutant.tests)
            rows.append(f"| {mutant.name} | `{mutant.file}` | {tests} | {result} |")
            print(rows[-1], file=sys.stderr, flush=True)
    print("\n".join(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
