"""Mutation testing of the modules whose tests must catch what matters (mutmut; a benchmark-style check, not part
of the default test run).

    python tests/mutation/run.py                        # every module below (wall times per module, with the
                                                        # machine's matmul speed, in the README's test section)
    python tests/mutation/run.py stages/xlt/scoring/collect.py --max-children 2

For each module, in a scratch copy of the project (the checkout is never touched): mutmut mutates that module only
and runs only the fast tests that exercise it (``MODULES``; mutmut then runs, per mutant, the tests that call the
mutated function). The shared mutmut settings are pyproject.toml's ``[tool.mutmut]``; this script adds
``only_mutate`` and the test selection per module. It prints a Markdown table to paste (mutants, killed, survived,
timeout, other, score = (killed + timeout) / mutants) and each survivor with its location and change.
Exit status 1 when a module scores below ``--target`` (default 85%).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))
from pipeline_support import REPO, project_files  # noqa: E402

# module -> the fast test files that exercise it (keep each list to tests of seconds, not the pipeline)
MODULES: dict[str, list[str]] = {
    # less the four coverage / type-I-error simulations (~1-2 min together): they check calibration over hundreds
    # of simulated data sets; the exact tests pin the same code, and with them every survivor would cost minutes
    "stages/xlt/scoring/statistics.py": ["tests/test_scoring_statistics.py", "tests/test_scoring_statistics_guards.py",
                                         "tests/test_scoring_statistics_pinned.py",
                                         "-k", "not covers_the_truth and not controls_type_one_error "
                                               "and not covers_true_delta_at_nominal_rate"],
    "stages/xlt/scoring/collect.py": ["tests/test_scoring_collect.py"],
    # the default run's tests (under a second each); the power simulations across designs are marked slow
    "stages/xlt/scoring/power.py": ["tests/test_scoring_power.py", "tests/test_plan.py"],
    # less the three checks of the real dvc.yaml: each parses every module of the project (seconds per mutant); the
    # fixture tests pin the same code on a mini project
    "tests/deps_support.py": ["tests/test_dvc_deps.py", "-k", "not every_stage and not never_imports_is_an_error"],
}
# mutmut's exit codes (mutmut.stats.status_by_exit_code, 3.8.1) grouped for the table
KILLED, SURVIVED, TIMEOUT = {1, 3}, {0}, {24, -24, 36, 152, 255}


@dataclass
class Result:
    module: str
    statuses: dict[str, int] = field(default_factory=dict)  # mutant name -> exit code
    survivors: list[str] = field(default_factory=list)  # "file:line (function): - old / + new"
    seconds: float = 0.0

    def count(self, codes: set[int]) -> int:
        return sum(code in codes for code in self.statuses.values())

    @property
    def other(self) -> int:
        return len(self.statuses) - self.count(KILLED | SURVIVED | TIMEOUT)

    @property
    def score(self) -> float:
        return (self.count(KILLED) + self.count(TIMEOUT)) / len(self.statuses) if self.statuses else float("nan")


def _mutmut_section(module: str, tests: list[str]) -> str:
    """The scratch copy's [tool.mutmut]: the repository's shared settings plus this module and its tests."""
    shared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8")).get("tool", {}).get("mutmut", {})
    settings = {**shared, "only_mutate": [module], "pytest_add_cli_args_test_selection": tests}
    return "[tool.mutmut]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())


_COLD_CACHES = """

@pytest.fixture(autouse=True)
def _cold_caches_for_mutation_testing():
    \"\"\"Added by tests/mutation/run.py to its scratch copy: every cache of {module} starts empty.\"\"\"
    import importlib

    for value in list(vars(importlib.import_module("{module}")).values()):
        if hasattr(value, "cache_clear"):
            value.cache_clear()
        elif isinstance(getattr(value, "_items", None), dict):
            value._items.clear()
    yield
"""


def _scratch_copy(dest: Path, module: str, tests: list[str]) -> None:
    for rel in project_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    if module.startswith("tests/"):
        # A test helper is imported by its bare name (tests/ is on sys.path); mutmut names it by its path, so
        # the copy's tests import it as ``tests.<name>`` (a namespace package) for its mutants to be recognised.
        stem = Path(module).stem
        for test in (t for t in tests if t.endswith(".py")):
            path = dest / test
            path.write_text(path.read_text(encoding="utf-8").replace(f"from {stem} import", f"from tests.{stem} import"),
                            encoding="utf-8")
    # mutmut forks each mutant from the process that ran the tests once: warm caches there (the bootstrap's draws,
    # the deps checker's parsed imports) would let a mutant inside a cached computation pass without running.
    # An autouse fixture of the copy empties the module's caches before every test.
    dotted = module.removesuffix(".py").replace("/", ".")
    with open(dest / "tests" / "conftest.py", "a", encoding="utf-8") as conftest:
        conftest.write(_COLD_CACHES.format(module=dotted))
    pyproject = (dest / "pyproject.toml").read_text(encoding="utf-8")
    pyproject = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", pyproject)
    (dest / "pyproject.toml").write_text(pyproject.rstrip() + "\n\n" + _mutmut_section(module, tests),
                                         encoding="utf-8")


_DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
print(json.dumps({name: get_diff_for_mutant(name, path=sys.argv[1]) for name in sys.argv[2:]}))
"""


def _locations(scratch: Path, module: str, names: list[str], env: dict[str, str]) -> list[str]:
    """``file:line (function): - old  + new`` of each mutant, from mutmut's diffs (one process) and the source."""
    if not names:
        return []
    proc = subprocess.run([sys.executable, "-c", _DIFFS, module, *names], cwd=scratch, env=env, capture_output=True,
                          text=True)
    diffs = json.loads(proc.stdout) if proc.returncode == 0 else {}
    source = (REPO / module).read_text(encoding="utf-8").splitlines()
    out = []
    for name in names:
        diff = diffs.get(name, "").splitlines()
        removed = [line[1:].strip() for line in diff if line.startswith("-") and not line.startswith("---")]
        added = [line[1:].strip() for line in diff if line.startswith("+") and not line.startswith("+++")]
        function = name.split("__mutmut_")[0].rsplit(".", 1)[-1].removeprefix("x_").replace("\u01c1", ".").strip(".")
        start = next((i for i, line in enumerate(source)
                      if re.match(rf"\s*def {re.escape(function.rsplit('.', 1)[-1])}\b", line)), 0)
        line_no = next((i + 1 for i in range(start, len(source)) if removed and source[i].strip() == removed[0]),
                       start + 1)
        out.append(f"{module}:{line_no} ({function}): `- {' | '.join(removed)[:150]}` `+ {' | '.join(added)[:150]}`")
    return out


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    return env


def _results(scratch: Path, module: str, seconds: float) -> Result:
    """The statuses mutmut recorded in ``scratch`` (mutants it has not reached yet count as "other")."""
    meta = scratch / "mutants" / f"{module}.meta"
    codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    result = Result(module, seconds=seconds)
    result.statuses = {name: (code if code is not None else -1) for name, code in codes.items()}
    result.survivors = _locations(scratch, module, sorted(n for n, c in result.statuses.items() if c in SURVIVED),
                                  _env())
    return result


def _scratch_dir(keep: Path | None, module: str) -> Path:
    return Path(tempfile.mkdtemp(prefix="xlt-mutation-")) if keep is None else keep / module.replace("/", "_")


def run_module(module: str, tests: list[str], max_children: int, keep: Path | None) -> Result:
    scratch = _scratch_dir(keep, module)
    scratch.mkdir(parents=True, exist_ok=True)
    _scratch_copy(scratch, module, tests)
    start = time.monotonic()
    with open(scratch / "mutmut.log", "w", encoding="utf-8") as log:
        proc = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children)],
                              cwd=scratch, env=_env(), stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0 or not (scratch / "mutants" / f"{module}.meta").is_file():
        tail = (scratch / "mutmut.log").read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"mutmut failed on {module} (exit {proc.returncode}); log in {scratch}/mutmut.log:\n{tail}")
    result = _results(scratch, module, time.monotonic() - start)
    if keep is None:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def table(results: list[Result]) -> str:
    lines = ["| module | mutants | killed | survived | timeout | other | score |", "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| `{r.module}` | {len(r.statuses)} | {r.count(KILLED)} | {r.count(SURVIVED)} | "
                     f"{r.count(TIMEOUT)} | {r.other} | {100 * r.score:.1f}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", default=list(MODULES), help=f"any of {list(MODULES)}")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested in parallel (default 2)")
    parser.add_argument("--target", type=float, default=0.85, help="lowest acceptable score per module")
    parser.add_argument("--keep", type=Path, help="keep each scratch copy (with mutants/ and mutmut.log) here")
    parser.add_argument("--report", action="store_true",
                        help="only print the table from the copies in --keep DIR (also while mutmut still runs there)")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {unknown}: choose from {list(MODULES)} (or add one to MODULES)")
    if args.report and args.keep is None:
        parser.error("--report reads the copies kept by an earlier --keep DIR run: give --keep DIR")
    results = []
    for module in args.modules:
        if args.report:
            results.append(_results(_scratch_dir(args.keep, module), module, math.nan))
            continue
        result = run_module(module, MODULES[module], args.max_children, args.keep)
        print(f"{module}: {len(result.statuses)} mutants in {result.seconds:.0f} s", file=sys.stderr, flush=True)
        results.append(result)
    print(table(results))
    for r in results:
        if r.survivors:
            print(f"\nSurvivors in `{r.module}`:")
            print("\n".join(f"* {s}" for s in r.survivors))
    below = [r.module for r in results if not r.score >= args.target]
    if below:
        print(f"\nbelow the {args.target:.0%} target: {', '.join(below)}", file=sys.stderr)
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
