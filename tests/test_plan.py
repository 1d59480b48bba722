"""`python -m stages.plan`: reads a finished run's detailed.json and prints measured and projected minimum
detectable effects per headline cell, projected wall times, the best design within a budget, the cheapest design
reaching a target, and its assumptions; bad arguments end with one clear line."""

import json
import subprocess
import sys

import pytest
from scoring_support import synthetic_scores

from stages.plan import main
from stages.xlt.scoring.settings import SummarySettings
from stages.xlt.scoring.statistics import BootstrapSettings
from stages.xlt.scoring.metrics_files import detailed
from stages.xlt.scoring.summary import summarize

TIMES = {"total_seconds": 4000, "stages": [
    {"stage": "download", "seconds": 100}, {"stage": "transfer@multi-0", "seconds": 600},
    {"stage": "transfer@squad-0", "seconds": 600}, {"stage": "evaluate_perturbed@multi-0", "seconds": 300},
    {"stage": "evaluate_perturbed@squad-0", "seconds": 300}, {"stage": "prefix_perturbed", "seconds": 100}]}


@pytest.fixture(scope="module")
def run_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    scores = synthetic_scores({"multi": 0.3, "squad": 0.2}, langs=("de", "hi", "zh"),
                              conditions=("typos", "codeswitch"), seeds=(0, 1, 2), n_clusters=25, seed=9)
    settings = SummarySettings(comparisons=(("multi", "squad"),), bootstrap=BootstrapSettings(n_resamples=300),
                               n_permutations=100, headline=(("qa", ("multi", "squad"), "typos"),
                                                             ("qa", ("multi", "squad"), "codeswitch")))
    (folder / "detailed.json").write_text(json.dumps(detailed(summarize(scores, None, settings)), allow_nan=False))
    (folder / "times.json").write_text(json.dumps(TIMES))
    return folder


def test_prints_measured_and_projected_mdes_and_the_best_design(run_files, capsys):
    main(["--detailed", str(run_files / "detailed.json"), "--seeds", "3", "6", "--items", "run", "x2", "qa=300",
          "--languages", "3", "5", "--stage-times", str(run_files / "times.json"), "--budget-minutes", "120",
          "--target", "8"])
    out = capsys.readouterr().out
    cell = json.loads((run_files / "detailed.json").read_text())["comparisons"]["qa"]["f1"]["multi_vs_squad"]
    typos = cell["typos"]["avg"]
    measured = next(line for line in out.splitlines() if line.startswith("| qa typos |"))
    assert f"| {100 * typos['mde']:.1f} | {100 * typos['mde_family']:.1f} |" in measured
    assert "Measured wall time 66.7 min" in out  # the stage times' total
    rows = [line for line in out.splitlines() if line.startswith("| 3 |") or line.startswith("| 6 |")]
    assert len(rows) == 2 * 3 * 2  # seeds × item designs × language counts
    own = next(line for line in rows if line.startswith("| 3 | run | 3 |"))
    assert own.split("|")[4].strip().startswith(f"{100 * typos['mde_family']:.1f}")
    assert own.split("|")[-2].strip() == "67"  # the run's design takes the run's wall time
    assert "Best within 120 min:" in out and "Cheapest design with a family MDE of at most 8 points" in out
    assert "Assumptions:" in out and "1/items" in out


def test_bad_arguments_end_with_one_line(run_files, tmp_path):
    with pytest.raises(ValueError, match="--items 'lots'"):
        main(["--detailed", str(run_files / "detailed.json"), "--items", "lots"])
    with pytest.raises(ValueError, match="task 'nope' is not in the run"):
        main(["--detailed", str(run_files / "detailed.json"), "--items", "nope=3"])
    with pytest.raises(ValueError, match="needs --stage-times"):
        main(["--detailed", str(run_files / "detailed.json"), "--budget-minutes", "60"])
    proc = subprocess.run([sys.executable, "-m", "stages.plan", "--detailed", str(tmp_path / "missing.json")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.count("error:") == 1 and "dvc repro score" in proc.stderr


def test_items_for_a_task_whose_name_starts_with_x_is_a_count_not_a_factor():
    from stages.plan import _item_designs

    run = {"xquad": 150.0, "mlqa": 94.0}
    assert _item_designs("xquad=200,mlqa=190", run) == {"xquad": 200.0, "mlqa": 190.0}
    assert _item_designs("x2", run) == {"xquad": 300.0, "mlqa": 188.0}
