"""plan: what a finished run can detect, and what design would detect more (not a DVC stage).

    python -m stages.plan [--detailed metrics/detailed.json] [--seeds 3 5] [--items run 388 x2 xquad=388,mlqa=504]
                          [--languages 3 4] [--stage-times .notes/stage_times.json] [--budget-minutes 110]
                          [--target 2]

Reads the run's metrics/detailed.json (written by `score`: per cell the item and run parts of the variance, each
arm's per-seed spread and item×run noise, the family sizes) and prints, for every headline cell, the measured
minimum detectable effect (80% power, two-sided, unadjusted and under the headline family) and, for every
combination of the designs named (training seeds per arm × test items per language × languages), the projected
one. Items: `run` (as in the run), a number (items per language for every task), `x2` (a multiple of the run's)
or `task=N,task=M` (those tasks; the others as in the run). With --stage-times (the format of
.notes/stage_times.json) each design's wall time is projected, and --budget-minutes picks the design with the
smallest mean family MDE (relative to the run's) that fits. --target (points) lists, per cell, the cheapest design
whose family MDE reaches it. Numbers are points (scores × 100). The method and its assumptions:
stages/xlt/scoring/power.py.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from stages import layout
from stages.runtime import main_guard


def _item_designs(spec: str, run_items: dict[str, float]) -> dict[str, float]:
    """Items per language per task for one --items token."""
    if spec == "run":
        return dict(run_items)
    if "=" in spec:
        chosen = dict(run_items)
        for part in spec.split(","):
            task, _, value = part.partition("=")
            if task not in run_items:
                raise ValueError(f"--items {spec!r}: task {task!r} is not in the run (it has {sorted(run_items)})")
            chosen[task] = _positive(value, spec)
        return chosen
    if spec.startswith("x"):  # after task=N: a task name may start with x (xquad=200)
        factor = _positive(spec[1:], spec)
        return {task: n * factor for task, n in run_items.items()}
    value = _positive(spec, spec)
    return {task: value for task in run_items}


def _positive(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"--items {spec!r}: use `run`, a positive number of items per language, `x2` or "
                         "`task=N,task=M`")
    return value


def _points(value) -> str:
    return "n/a" if value is None or value != value else f"{100 * value:.1f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"] + \
        ["| " + " | ".join(row) + " |" for row in rows]


def _read_detailed(path: Path) -> dict:
    """detailed.json, or a gzipped copy of one (the planning run kept in .notes/planning_run/)."""
    import gzip
    import json

    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    from stages.xlt.io import read_json

    return read_json(path)


def _measured_lines(cells, run, alpha, settings, args, times) -> list[str]:
    """The run's shape, its wall time and the measured headline cells with their variance split and MDEs."""
    from stages.xlt.scoring.power import design_seconds

    family = max((c.components.family_size for c in cells), default=1)
    lines = [f"Run {args.detailed}: {run.seeds} seeds per arm; test items per language "
             + ", ".join(f"{t} {n:.0f}" for t, n in run.items.items()) + "; languages "
             + ", ".join(f"{t} {n}" for t, n in run.languages.items())
             + f"; alpha {alpha:g}, headline family of {family} ({settings.get('multiplicity', 'holm')}).", ""]
    if times is not None:
        measured = sum(design_seconds(times, run, run).values())
        lines += [f"Measured wall time {measured / 60:.1f} min ({args.stage_times}).", ""]
    lines += [f"Measured (points; MDE: the effect found with {args.power:.0%} power, two-sided; family: "
              f"alpha/{family}):", ""]
    rows = []
    for c in cells:
        total = c.var_items + c.var_runs
        share = (lambda v: f"{100 * v / total:.0f}%") if total and total == total else (lambda v: "n/a")
        rows.append([c.name, c.metric, _points(c.delta), _points(c.se), f"{c.df:.1f}", share(c.var_items),
                     share(c.var_runs), _points(c.mde), _points(c.mde_family)])
    return lines + _table(["cell", "metric", "Δ", "se", "df", "items", "runs", "MDE", "MDE family"], rows) + [""]


def _design_lines(cells, designs, times) -> list[str]:
    header = ["seeds", "items/lang", "languages"] + [c.name for c in cells] + ["mean vs run"] + \
        (["wall min"] if times is not None else [])
    rows = []
    for spec, n_lang, e in designs:
        row = [str(e.design.seeds), spec, str(n_lang or "run")]
        row += [f"{_points(p.mde_family)} ({_points(p.mde)})" if p else "n/a" for p in e.projections]
        row += [f"{e.objective:.2f}"] + ([f"{e.seconds / 60:.0f}"] if e.seconds is not None else [])
        rows.append(row)
    return ["Projected MDE per design, family (unadjusted), points:", ""] + _table(header, rows) + [""]


def _budget_lines(cells, designs, budget_minutes: float) -> list[str]:
    from stages.xlt.scoring.power import best_within

    best = best_within([e for _, _, e in designs], 60 * budget_minutes)
    if best is None:
        return [f"No design fits {budget_minutes:g} min.", ""]
    spec, n_lang = next((s, n) for s, n, e in designs if e is best)
    return [f"Best within {budget_minutes:g} min: {best.design.seeds} seeds per arm, items {spec}, "
            f"languages {n_lang or 'as run'}: {best.seconds / 60:.0f} min, family MDE "
            + ", ".join(f"{c.name} {_points(p.mde_family) if p else 'n/a'}" for c, p in zip(cells, best.projections))
            + f" (mean {best.objective:.2f} × the run's).", ""]


def _target_lines(cells, designs, target: float) -> list[str]:
    lines = [f"Cheapest design with a family MDE of at most {target:g} points:", ""]
    for k, c in enumerate(cells):
        reaching = [(spec, n, e) for spec, n, e in designs
                    if e.projections[k] and 100 * e.projections[k].mde_family <= target]
        if not reaching:
            lines.append(f"- {c.name}: none of these designs")
            continue
        spec, n_lang, e = min(reaching, key=lambda d: (d[2].seconds if d[2].seconds is not None
                                                       else d[2].design.seeds * d[2].design.test_items()))
        cost = f", {e.seconds / 60:.0f} min" if e.seconds is not None else ""
        lines.append(f"- {c.name}: {e.design.seeds} seeds, items {spec}, languages {n_lang or 'as run'}"
                     f"{cost} (family MDE {_points(e.projections[k].mde_family)})")
    return lines + [""]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detailed", type=Path, default=layout.METRICS / "detailed.json")
    parser.add_argument("--seeds", type=int, nargs="+", help="training seeds per arm (default: the run's)")
    parser.add_argument("--items", nargs="+", default=["run"], help="run | N | xF | task=N,task=M")
    parser.add_argument("--languages", type=int, nargs="+", help="languages per task (default: the run's)")
    parser.add_argument("--stage-times", type=Path, help="per-stage wall times (.notes/stage_times.json format)")
    parser.add_argument("--budget-minutes", type=float, help="pick the best design within this wall time")
    parser.add_argument("--target", type=float, help="an effect in points: the cheapest design detecting it")
    parser.add_argument("--power", type=float, default=0.8)
    args = parser.parse_args(argv)

    from stages.xlt.io import read_json
    from stages.xlt.scoring.power import ASSUMPTIONS, Shape, evaluate, headline_cells, run_shape

    if not args.detailed.exists():
        raise FileNotFoundError(f"{args.detailed} not found: run `dvc repro score` (or pass --detailed PATH)")
    if args.budget_minutes is not None and args.stage_times is None:
        raise ValueError("--budget-minutes needs --stage-times (the measured per-stage wall times)")
    if not 0 < args.power < 1:
        raise ValueError(f"--power {args.power} must be in (0, 1), e.g. 0.8")
    detailed = _read_detailed(args.detailed)
    settings = detailed["settings"]
    alpha = float(settings.get("alpha", round(1 - settings["confidence"], 12)))
    cells = headline_cells(detailed)
    run = run_shape(detailed)
    times = read_json(args.stage_times) if args.stage_times else None

    designs = []
    for s, spec, n_lang in itertools.product(args.seeds or [run.seeds], args.items, args.languages or [None]):
        shape = Shape(seeds=s, items=_item_designs(spec, dict(run.items)),
                      languages={t: (n_lang or run.languages[t]) for t in run.languages})
        designs.append((spec, n_lang, evaluate(cells, run, shape, alpha, args.power, times)))
    lines = _measured_lines(cells, run, alpha, settings, args, times) + _design_lines(cells, designs, times)
    if args.budget_minutes is not None:
        lines += _budget_lines(cells, designs, args.budget_minutes)
    if args.target is not None:
        lines += _target_lines(cells, designs, args.target)
    lines.append(ASSUMPTIONS)
    print("\n".join(lines))


if __name__ == "__main__":
    main_guard(main)
