"""Figures are written atomically as PNGs; the offline DVC plots template inlines vega and loads nothing remote."""

import re
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.colors import to_hex, to_rgb
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from scoring_support import COMPARISONS, synthetic_scores

from stages.xlt.scoring.metrics_files import plot_tables
from stages.xlt.scoring.plots import (NEUTRAL, OKABE_ITO, VERDICT_COLOURS, coverage_text, drop_bars, forest_plot,
                                      headline_forest, strength_curves)
from stages.xlt.scoring.settings import SummarySettings
from stages.xlt.scoring.statistics import BootstrapSettings
from stages.xlt.scoring.summary import summarize

TEMPLATE = Path(__file__).resolve().parents[1] / ".dvc" / "vega-offline.html"
PLOT_TEMPLATES = Path(__file__).resolve().parents[1] / ".dvc" / "plots"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tables():
    scores = synthetic_scores({"multi": 0.4, "squad": 0.2, "none": 0.2}, langs=("de", "zh"),
                              conditions=("typos", "distractor"), seeds=(0,), n_clusters=20,
                              coverage={("zh", "distractor"): 0.0})
    settings = SummarySettings(comparisons=COMPARISONS, bootstrap=BootstrapSettings(n_resamples=100),
                               headline=(("qa", ("multi", "squad"), "typos"), ("qa", ("multi", "none"), "typos")))
    return plot_tables(summarize(scores, None, settings))


@pytest.fixture
def saved_figures(monkeypatch) -> list[Figure]:
    """Every Figure saved while the test runs (inspected after the PNG is written)."""
    saved, original = [], Figure.savefig

    def spy(self, *args, **kwargs):
        saved.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    return saved


def _colour_pixels(image: np.ndarray, colour: str) -> int:
    """Pixels of ``image`` (RGBA floats, as imread returns them) within 2/255 of ``colour``."""
    return int((np.abs(image[..., :3] - np.array(to_rgb(colour))) < 2 / 255).all(axis=-1).sum())


def _read_png(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    ink = (image[..., :3] < 0.9).any(axis=-1).mean()  # share of pixels that are not (near) white
    assert 0.02 < ink < 0.6, f"{path.name}: {ink:.1%} of the figure is drawn"
    return image


def test_figures_are_pngs_and_leave_no_temporary_files(tables, tmp_path):
    paths = [
        forest_plot(tables["delta"], tmp_path / "forest.png", "multi", "squad", 0.9, scope="clusters only"),
        drop_bars(tables["drop"], tmp_path / "drop_distractor.png", "distractor", 0.9),
        strength_curves(tables["strength"], tmp_path / "strength.png", 0.9),
    ]
    for path in paths:
        height, width = _read_png(path).shape[:2]
        assert width > height > 300  # landscape, at the figures' 150 dpi
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_forest_plot_draws_each_applicable_row_at_its_delta_in_its_verdict_colour(tables, tmp_path, saved_figures):
    path = forest_plot(tables["delta"], tmp_path / "forest.png", "multi", "squad", 0.9)
    (figure,) = saved_figures
    rows = tables["delta"][(tables["delta"]["arm_a"] == "multi") & (tables["delta"]["arm_b"] == "squad")]
    panels = figure.get_axes()
    assert [axes.get_ylabel() for axes in panels] == ["distractor", "typos"]  # one panel above the other
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["de", "zh", "avg"]
    for axes in panels:
        expected = rows[(rows["condition"] == axes.get_ylabel()) & (rows["n"] > 0)]
        points = sorted(float(c.lines[0].get_xdata()[0]) for c in axes.containers)
        assert points == pytest.approx(sorted(100 * expected["delta"]))  # one point per applicable row, none for n/a
    _read_png(path)
    for axes in panels:
        expected = rows[(rows["condition"] == axes.get_ylabel()) & (rows["n"] > 0)].sort_values("delta")
        drawn = sorted((float(c.lines[0].get_xdata()[0]), to_hex(c.lines[0].get_color())) for c in axes.containers)
        assert [colour for _, colour in drawn] == [to_hex(VERDICT_COLOURS.get(v, NEUTRAL)) for v in expected["verdict"]]
    legend = [t.get_text() for t in panels[0].get_legend().get_texts()]
    assert legend[0].startswith("degrades") and legend[1].startswith("improves")  # every colour explained
    assert "90%" in figure.texts[0].get_text()  # the suptitle names the level passed in


def test_drop_bars_have_one_bar_per_arm_and_language_at_its_drop(tables, tmp_path, saved_figures):
    path = drop_bars(tables["drop"], tmp_path / "drop.png", "typos", 0.9)
    (figure,) = saved_figures
    (axes,) = figure.get_axes()
    rows = tables["drop"][tables["drop"]["condition"] == "typos"]
    bars = [c for c in axes.containers if isinstance(c, BarContainer)]
    assert [c.get_label() for c in bars] == ["multi", "none", "squad"]
    for container in bars:
        arm = rows[rows["arm"] == container.get_label()].set_index("lang").reindex(["de", "zh", "avg"])
        assert [p.get_height() for p in container.patches] == pytest.approx(list(100 * arm["drop"]))
    image = _read_png(path)
    assert all(_colour_pixels(image, OKABE_ITO[k]) > 100 for k in range(3))  # every arm's colour is on the image


def test_strength_curves_plot_each_arms_drop_per_bin(tables, tmp_path, saved_figures):
    strength_curves(tables["strength"], tmp_path / "strength.png", 0.9)
    (figure,) = saved_figures
    table = tables["strength"]
    panels = [axes for axes in figure.get_axes() if axes.get_visible()]
    assert sorted(axes.get_title() for axes in panels) == sorted(table["condition"].unique())
    for axes in panels:
        rows = table[table["condition"] == axes.get_title()]
        drawn = {c.get_label(): sorted(c.lines[0].get_ydata()) for c in axes.containers}
        expected = {arm: sorted(100 * g["drop"]) for arm, g in rows.groupby("arm")}
        assert drawn.keys() == expected.keys()
        for arm in expected:
            assert drawn[arm] == pytest.approx(expected[arm], nan_ok=True)


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


@pytest.fixture
def drawn(monkeypatch):
    """The figures a plotting function saves, kept open for inspection."""
    import matplotlib.pyplot as plt

    import stages.xlt.scoring.plots as plots

    figures = []
    def keep(figure, path):
        figures.append(figure)
        figure.canvas.draw()
        figure.savefig(path)
        return path

    monkeypatch.setattr(plots, "_save", keep)
    yield figures
    plt.close("all")


def test_forest_panels_are_stacked_vertically_with_a_verdict_legend(tables, tmp_path, drawn):
    forest_plot(tables["delta"], tmp_path / "forest.png", "multi", "squad", 0.95)
    panels = [axes for axes in drawn[0].axes if axes.get_visible()]
    assert len(panels) == 2  # typos and distractor
    lefts = {round(axes.get_position().x0, 3) for axes in panels}
    tops = sorted(round(axes.get_position().y1, 3) for axes in panels)
    assert len(lefts) == 1 and tops[0] < tops[1]  # one column: one panel above the other
    legend = panels[0].get_legend()
    assert legend is not None and legend.get_title().get_text() == "verdict (adjusted p)"
    assert [t.get_text() for t in legend.get_texts()][0].startswith("degrades")


def test_headline_forest_has_one_row_per_named_cell(tables, tmp_path, drawn):
    headline_forest(tables["headline"], tmp_path / "headline.png", 0.95)
    labels = [tick.get_text() for tick in drawn[0].axes[0].get_yticklabels()]
    assert labels == ["qa · typos\nmulti − squad", "qa · typos\nmulti − none"]


@pytest.mark.parametrize("template, x, y, data", [
    ("forest", "delta", "cell", [{"cell": "qa · typos", "delta": 0.01, "ci_low": -0.02, "ci_high": 0.04}]),
    ("bars_with_intervals", "clean", "arm", [{"task": "qa", "arm": "multi", "clean": 0.5, "ci_low": 0.4,
                                               "ci_high": 0.6}]),
    ("lines_by_model", "step", "loss", [{"model": "multi-0", "step": 10, "loss": 3.0},
                                        {"model": "multi-0", "step": 20, "loss": 2.5}]),
])
def test_custom_plot_templates_fill_and_name_real_fields(template, x, y, data, tmp_path):
    import json

    from dvc_render.vega import VegaRenderer

    datapoints = [{**point, "rev": "workspace"} for point in data]
    renderer = VegaRenderer(datapoints, "plot.csv", template=template, template_dir=str(PLOT_TEMPLATES), x=x, y=y)
    spec = renderer.get_filled_template()
    text = json.dumps(spec)
    assert "<DVC_METRIC" not in text
    fields = set(re.findall(r'"field": "([^"]+)"', text)) - {"rev", "estimate", "low", "high", "score"}
    assert fields <= set(data[0]), fields
