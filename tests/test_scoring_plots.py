"""Figures are written atomically as PNGs; the offline DVC plots template inlines vega and loads nothing remote."""

import re
from pathlib import Path

import pytest
from scoring_support import synthetic_scores

from stages.xlt.scoring.plots import coverage_text, drop_bars, forest_plot, strength_curves
from stages.xlt.scoring.statistics import BootstrapSettings
from stages.xlt.scoring.summary import SummarySettings, plot_tables, summarize

TEMPLATE = Path(__file__).resolve().parents[1] / ".dvc" / "vega-offline.html"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tables():
    scores = synthetic_scores({"multi": 0.4, "squad": 0.2, "none": 0.2}, langs=("de", "zh"),
                              conditions=("typos", "distractor"), seeds=(0,), n_clusters=20,
                              coverage={("zh", "distractor"): 0.0})
    return plot_tables(summarize(scores, None, SummarySettings(bootstrap=BootstrapSettings(n_resamples=100))))


def test_figures_are_pngs_and_leave_no_temporary_files(tables, tmp_path):
    paths = [
        forest_plot(tables["delta"], tmp_path / "forest.png", "multi", "squad", 0.9, scope="clusters only"),
        drop_bars(tables["drop"], tmp_path / "drop_distractor.png", "distractor", 0.9),
        strength_curves(tables["strength"], tmp_path / "strength.png", 0.9),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5_000
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_not_applicable_rows_are_labelled_not_drawn(tables):
    delta = tables["delta"]
    row = delta[(delta["lang"] == "zh") & (delta["condition"] == "distractor")].iloc[0]
    assert coverage_text(row) == "n/a (0/80 changed)"
    row = delta[(delta["lang"] == "de") & (delta["condition"] == "distractor")].iloc[0]
    assert coverage_text(row, clusters=True) == "80/80 changed, 20 clusters"


def test_unknown_comparison_or_condition_raises(tables, tmp_path):
    with pytest.raises(ValueError, match="no Δ rows"):
        forest_plot(tables["delta"], tmp_path / "x.png", "squad", "multi", 0.95)
    with pytest.raises(ValueError, match="no drop rows"):
        drop_bars(tables["drop"], tmp_path / "x.png", "no-such-perturbation", 0.95)
    assert not (tmp_path / "x.png").exists()


def test_offline_template_has_placeholder_and_no_remote_scripts():
    html = TEMPLATE.read_text(encoding="utf-8")
    assert "{plot_divs}" in html
    assert "{scripts}" not in html  # dvc-render would put its CDN <script src=...> tags there
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, flags=re.IGNORECASE)
    assert html.count("<script") == 3
    assert "vegaEmbed" in html and "vegaLite" in html
    assert 300_000 < len(html) < 3_000_000


def test_template_renders_a_dvc_page_offline(tmp_path):
    from dvc_render.html import render_html
    from dvc_render.vega import VegaRenderer

    datapoints = [{"lang": "de", "drop": 0.1, "rev": "workspace"}, {"lang": "zh", "drop": 0.2, "rev": "workspace"}]
    renderer = VegaRenderer(datapoints, "drop.csv", x="lang", y="drop")
    out = render_html([renderer], tmp_path / "index.html", html_template=str(TEMPLATE))
    page = Path(out).read_text(encoding="utf-8")
    assert "vegaEmbed(" in page and "cdn.jsdelivr" not in page
