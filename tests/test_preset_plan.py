"""The small preset states the planner's projection that chose its allocation; this recomputes it from the planning
run kept in .notes/planning_run/, so the comment cannot drift from what the planner says."""

from __future__ import annotations

import re
from pathlib import Path

from stages.plan import _item_designs, _read_detailed
from stages.xlt.io import read_json
from stages.xlt.scoring.power import Shape, evaluate, headline_cells, run_shape

ROOT = Path(__file__).resolve().parent.parent
PLANNING = ROOT / ".notes" / "planning_run"
CLAIM = re.compile(r"projected family MDE of (?P<task>\w+) (?P<condition>\w+): (?P<new>[\d.]+) points "
                   r"\((?P<old>[\d.]+) at the previous allocation\), wall (?P<minutes>\d+) min \((?P<before>\d+)\)")
ITEMS = re.compile(r"--items run (?P<spec>\S+)")


def test_the_small_presets_projection_is_what_the_planner_says():
    text = (ROOT / "stages" / "presets" / "small.yaml").read_text(encoding="utf-8")
    claim, spec = CLAIM.search(text), ITEMS.search(text).group("spec")
    assert claim, "stages/presets/small.yaml no longer states the planner's projection"
    detailed = _read_detailed(PLANNING / "detailed.json.gz")
    times = read_json(PLANNING / "stage_times.json")
    cells, run = headline_cells(detailed), run_shape(detailed)
    alpha = float(detailed["settings"]["alpha"])
    before = evaluate(cells, run, run, alpha, stage_times=times)
    chosen = evaluate(cells, run, Shape(seeds=run.seeds, items=_item_designs(spec, dict(run.items)),
                                        languages=dict(run.languages)), alpha, stage_times=times)
    index = next(i for i, c in enumerate(cells) if (c.task, c.condition) == (claim["task"], claim["condition"]))
    assert f"{100 * chosen.projections[index].mde_family:.1f}" == claim["new"]
    assert f"{100 * before.projections[index].mde_family:.1f}" == claim["old"]
    assert f"{chosen.seconds / 60:.0f}" == claim["minutes"] and f"{before.seconds / 60:.0f}" == claim["before"]
    # "the other six headline cells are projected unchanged"
    others = [(a.mde_family, b.mde_family) for i, (a, b) in enumerate(zip(chosen.projections, before.projections))
              if i != index]
    assert len(others) == 6 and all(abs(a - b) < 1e-9 for a, b in others)
