"""Refresh the README's generated blocks from the committed results: ``python -m stages.readme``.

Every number the README quotes from a run lives in a block between

    <!-- generated: NAME -->
    ...
    <!-- /generated -->

and is rebuilt here from the files the run wrote (``metrics/``, ``.notes/``), so it can never be retyped and go
stale: ``tests/test_readme_numbers.py`` fails when a block differs from what this command would write. With
``--check`` it only reports stale blocks (exit 1).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from stages import layout

README = Path("README.md")
STAGE_TIMES = Path(".notes") / "stage_times.json"
BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.DOTALL)


def answer(root: Path) -> str:
    """The report's first screen: the answer, the headline table and the clean scores."""
    report = (root / layout.REPORT).read_text(encoding="utf-8")
    screen = report.split("\n## ", 1)[0]
    lines = screen.splitlines()[1:]  # without the report's title
    text = "\n".join(lines).strip()
    return text.replace("### ", "#### ") + "\n\n" + f"(From [`{layout.REPORT}`]({layout.REPORT}).)"


def _span(low: float, high: float) -> str:
    return f"{low:,.0f}" if round(low) == round(high) else f"{low:,.0f}–{high:,.0f}"


def grouped_table(groups: list[dict]) -> list[str]:
    """The per-stage table's rows, seeds of one stage and arm together (as tests/benchmarks/time_stages.py groups
    them): runs, one run's wall range, totals, utilisation, overhead, peak RSS, outputs."""
    lines = ["| stage | runs | wall per run (s) | total (s) | useful GFLOP | utilisation | fixed overhead per run (s) "
             "| peak RSS (GB) | outputs (MB) |", "|---|---|---|---|---|---|---|---|---|"]
    for g in groups:
        overhead = "—" if g["overhead_seconds_max"] is None else (
            f"≤ {g['overhead_seconds_max']:.1f}" + ("" if g["runs_layers"] else "*"))
        rss = "—" if g["peak_rss_bytes"] is None else f"{g['peak_rss_bytes'] / 1e9:.2f}"
        lines.append(f"| `{g['stage']}` | {g['runs']} | {_span(g['seconds_min'], g['seconds_max'])} "
                     f"| {g['seconds_total']:,.0f} | {g['useful_gflop_total']:,.0f} | {g['utilisation']:.0%} "
                     f"| {overhead} | {rss} | {g['output_bytes_total'] / 1e6:,.1f} |")
    return lines


def _wall_groups(stages: list[dict]) -> list[dict]:
    """Rows of a stage table that records wall times only (runs made before the FLOP and memory accounting),
    grouped as time_stages.py groups them; the columns it did not measure stay empty."""
    groups: dict[str, list[float]] = {}
    for row in stages:
        groups.setdefault(re.sub(r"-\d+$", "", row["stage"]), []).append(row["seconds"])
    return [{"stage": name, "runs": len(s), "seconds_min": min(s), "seconds_max": max(s), "seconds_total": sum(s)}
            for name, s in groups.items()]


def stage_times(root: Path) -> str:
    """The per-stage table of the committed from-scratch run (seeds of one stage and arm together), its totals and
    the machine's matmul speed beside them (tests/benchmarks/time_stages.py writes the file). A table from before the
    FLOP and memory accounting has wall times only, and says so."""
    data = json.loads((root / STAGE_TIMES).read_text(encoding="utf-8"))
    seconds = data["total_seconds"]
    speed = (f"Machine: fp32 matmul (2048² `torch.mm`, 2 threads) {data['matmul_gflops_before']:.0f} GFLOP/s before "
             f"the run and {data['matmul_gflops_after']:.0f} after.")
    if "groups" not in data:
        lines = ["| stage | runs | wall per run (s) | total (s) |", "|---|---|---|---|"]
        lines += [f"| `{g['stage']}` | {g['runs']} | {_span(g['seconds_min'], g['seconds_max'])} "
                  f"| {g['seconds_total']:,.0f} |" for g in _wall_groups(data["stages"])]
        lines.append(f"| **total** | {len(data['stages'])} | | **{seconds:,.0f}** ({seconds / 60:.1f} min) |")
        return "\n".join(lines + ["", speed + " This run predates the per-stage FLOP, overhead, memory and output "
                                   "accounting: its table has wall times only."])
    lines = grouped_table(data["groups"])
    totals = data["totals"]
    lines.append(f"| **total** | {sum(g['runs'] for g in data['groups'])} | | **{seconds:,.0f}** "
                 f"({seconds / 60:.1f} min) | **{totals['useful_gflop']:,.0f}** | **{totals['utilisation']:.0%}** "
                 f"| {totals['overhead_seconds']:,.0f} in all | max {totals['peak_rss_bytes'] / 1e9:.2f} "
                 f"| {totals['output_bytes'] / 1e6:,.0f} |")
    speed += (f" The whole run: {totals['useful_gflop']:,.0f} useful GFLOP in {seconds / 60:.1f} min = "
              f"**{totals['utilisation']:.0%} of that matmul peak**. `*`: a stage that runs no encoder layer (its fixed "
              "overhead is the time outside `main()`).")
    return "\n".join(lines + ["", speed])


DISK = Path(".notes") / "disk.json"


def gpu_estimate(root: Path) -> str:
    """The paper profile's GPU hours by FLOP count, as tests/benchmarks/gpu_estimate.py prints them from the paper
    preset (no GPU needed: a count, not a measurement)."""
    import subprocess

    done = subprocess.run([sys.executable, "tests/benchmarks/gpu_estimate.py", "--markdown"], cwd=root, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def disk(root: Path) -> str:
    """Footprint of a from-scratch small run before and after the cache link change (.notes/disk.json: bytes of the
    workspace outputs, of the cache, and of both counted once, with the run's commit and the cache type)."""
    runs = json.loads((root / DISK).read_text(encoding="utf-8"))["runs"]
    lines = ["| run | cache type | `data/` (GB) | `.dvc/cache` (GB) | on disk, each file once (GB) |", "|---|---|---|---|---|"]
    for run in runs:
        lines.append(f"| {run['label']} (`{run['commit']}`) | {run['cache_type']} | {run['data_bytes'] / 1e9:.2f} "
                     f"| {run['cache_bytes'] / 1e9:.2f} | **{run['total_bytes'] / 1e9:.2f}** |")
    first = runs[0]
    for run in runs[1:]:  # each later row against the first (DVC's default copies)
        saved = first["total_bytes"] - run["total_bytes"]
        lines += ["", f"{run['label'][:1].upper()}{run['label'][1:]}: {saved / 1e9:.2f} GB less than {first['label']}, "
                      f"{saved / first['total_bytes']:.0%} of its footprint."]
    return "\n".join(lines)


START_FLOOR = Path(".notes") / "bench_start_floor.json"
STAGE_OVERHEAD = Path(".notes") / "bench_stage_overhead.json"


def _machine(before: dict, after: dict) -> str:
    return (f"fp32 matmul (2048² `torch.mm`, 2 threads) {before['matmul_gflops_2048_fp32']:.0f} GFLOP/s before and "
            f"{after['matmul_gflops_2048_fp32']:.0f} after, load average {before['load_average'][0]:.1f} before")


def start_floor(root: Path) -> str:
    """What a model stage cannot start below, step by step in fresh processes
    (tests/benchmarks/test_bench_start_floor.py writes the file)."""
    data = json.loads((root / START_FLOOR).read_text(encoding="utf-8"))
    lines = ["| a fresh process that … | wall (s) | CPU (s) | this step adds (wall s) |", "|---|---|---|---|"]
    lines += [f"| {row['step']} | {row['wall']:.2f} | {row['cpu']:.2f} | {row['wall_added']:.2f} |"
              for row in data["rows"]]
    unused = ", ".join(f"`{name}` {seconds:.2f}" for name, seconds in
                       sorted(data["unused_imports_seconds"].items(), key=lambda item: -item[1]))
    packages = ", ".join(f"{name} {version}" for name, version in data["packages"].items())
    return "\n".join(lines + [
        "", f"Medians of {data['repeats']} processes per step, interleaved; {packages}, Python {data['python']}; "
            f"{_machine(data['machine_before'], data['machine_after'])}. Imported with transformers' model code and "
            f"used by no stage (cumulative import seconds under `-X importtime`, overlapping): {unused}."])


def stage_overhead(root: Path) -> str:
    """The tiny profile's stages before and after the start-up cuts, with which of them load a model
    (tests/benchmarks/test_bench_stage_overhead.py writes the file)."""
    data = json.loads((root / STAGE_OVERHEAD).read_text(encoding="utf-8"))
    target = data["target_seconds"]
    lines = [f"| stage | loads a model | wall before (s) | wall after (s) | CPU before (s) | CPU after (s) "
             f"| after ≤ {target:.0f} s |", "|---|---|---|---|---|---|---|"]
    for row in data["rows"]:
        model = "yes" if row["imports_model_code"] else ("torch only" if row["imports_torch"] else "no")
        lines.append(f"| `{row['stage']}` | {model} | {row['wall_before']:.1f} | {row['wall_after']:.1f} "
                     f"| {row['cpu_before']:.1f} | {row['cpu_after']:.1f} "
                     f"| {'yes' if row['wall_after'] <= target else 'no'} |")
    totals = data["totals"]
    lines.append(f"| **sum** | | **{totals['wall_before']:.0f}** | **{totals['wall_after']:.0f}** "
                 f"| {totals['cpu_before']:.0f} | {totals['cpu_after']:.0f} | |")
    rows = data["rows"]
    within = [row for row in rows if row["wall_after"] <= target]
    models = [row["wall_after"] for row in rows if row["imports_model_code"]]
    others = [row for row in rows if not row["imports_model_code"]]
    summary = (f"{len(within)} of {len(rows)} stages start, work and finish within {target:.0f} s; "
               f"{sum(row['wall_after'] <= target for row in others)} of the {len(others)} that load no model do. "
               f"The {len(models)} that load one take {min(models):.1f}–{max(models):.1f} s.")
    repro = data["full_repro"]
    if repro["after"]:
        before, after = repro["before"][0]["wall"], repro["after"][0]["wall"]
        summary += (f" The whole tiny pipeline, `dvc repro --force` with DVC's own bookkeeping: {before:.0f} s before, "
                    f"{after:.0f} s after ({after / before:.0%}).")
    only = data.get("stages_of_one_side_only", {})
    new = ", ".join(f"`{name}`" for name in only.get("after", []))
    return "\n".join(lines + [
        "", summary,
        "", f"Before = `{data['before']}`, after = this revision; medians of {data['repeats']} runs of each stage's own "
            f"process, interleaved; {_machine(data['machine_before'], data['machine_after'])}."
            + (f" Stages the earlier revision does not have are left out: {new}." if new else "")])


def _report_section(root: Path, title: str) -> str:
    """One `## ` section of metrics/report.md, its heading one level down, links made relative to the README."""
    report = (root / layout.REPORT).read_text(encoding="utf-8")
    for part in report.split("\n## ")[1:]:
        if part.startswith(title):
            body = part.split("\n", 1)[1].strip()
            body = re.sub(r"\]\((?!https?:|/|metrics/)([^)]+)\)", lambda m: f"](metrics/{m.group(1)})", body)
            return body.replace("\n### ", "\n#### ") + f"\n\n(From [`{layout.REPORT}`]({layout.REPORT}), section \"{title}\".)"
    raise ValueError(f"{layout.REPORT} has no section starting {title!r}: re-run `dvc repro score`")


def detect(root: Path) -> str:
    return _report_section(root, "What this run can detect")


def attack(root: Path) -> str:
    return _report_section(root, "Model-aware attack")


BLOCKS: dict[str, Callable[[Path], str]] = {"answer": answer, "detect": detect, "attack": attack,
                                            "stage_times": stage_times, "disk": disk,
                                            "gpu_estimate": gpu_estimate, "start_floor": start_floor,
                                            "stage_overhead": stage_overhead}


def render(text: str, root: Path) -> tuple[str, list[str]]:
    """The README with every generated block rebuilt; and the names of the blocks that changed."""
    changed = []

    def rebuild(match: re.Match) -> str:
        name = match.group("name")
        if name not in BLOCKS:
            raise ValueError(f"README block {name!r} has no generator; known: {sorted(BLOCKS)}")
        body = BLOCKS[name](root).rstrip() + "\n"
        if body != match.group("body"):
            changed.append(name)
        return match.group(1) + body + match.group(4)

    return BLOCK.sub(rebuild, text), changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale blocks and exit 1, change nothing")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    new, changed = render(text, Path("."))
    if args.check:
        if changed:
            print(f"stale README blocks: {', '.join(changed)}; run `python -m stages.readme`", file=sys.stderr)
            return 1
        return 0
    if changed:
        README.write_text(new, encoding="utf-8")
    print(f"README: {len(changed)} block(s) refreshed" + (f" ({', '.join(changed)})" if changed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
