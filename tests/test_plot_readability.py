"""Plots read like a planner's figure: properties checked on the figure objects.

Trend lines on weekly series, weekly queue panels, one kind of whisker (the 95% CI of the
mean across replications), utilisation axes that stop at 1, labels without doubled
parentheticals, and sweep heat maps that do not paint noise as an effect.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.image import imread
from matplotlib.patches import Rectangle

from sim.model.corridor import run_replication
from sim.outputs.labels import doubled_parenthetical, stage_label
from sim.outputs.plots import (
    bottleneck_by_year_figure,
    ci95,
    node_performance_figure,
    queues_figure,
    rolling_mean,
    throughput_figure,
    weekly_profile,
)
from sim.outputs.plots_compare import kpi_bars
from sim.outputs.plots_sweep import heatmap, response
from sim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.toml"
SHORT = ["scenario.horizon_days=400", "scenario.warmup_days=60"]


@pytest.fixture(scope="module")
def baseline():
    return load_scenario(BASELINE, overrides=SHORT).model


@pytest.fixture(scope="module")
def records(baseline):
    return [run_replication(baseline, r) for r in range(3)]


def _texts(fig) -> list[str]:
    """Every text of a figure: titles, tick labels, legend entries, annotations."""
    FigureCanvasAgg(fig).draw()
    out = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    return [t for t in out if t]


# ---------------------------------------------------------------- labels


def test_doubled_parenthetical_detector():
    bad = "Sea leg: Poti - Constanța (Black Sea feeder) (Black Sea feeder (weekly))"
    assert doubled_parenthetical(bad) is not None
    assert doubled_parenthetical("Port (a) (a)") is not None
    assert doubled_parenthetical("Port (a") is not None
    assert doubled_parenthetical("Sea leg Poti - Constanța (Black Sea feeder)") is None
    assert doubled_parenthetical("Wagon pool EU wagons (1435)") is None


def test_every_stage_label_of_the_baseline_is_clean(baseline):
    keys = (
        [f"nodes.{n}" for n in baseline.nodes]
        + [f"legs.{lid}" for lid in baseline.legs]
        + [f"fleets.{f}" for f in baseline.fleets]
        + [f"wagon_pools.{p}" for p in baseline.wagon_pools]
    )
    for key in keys:
        for short in (False, True):
            label = stage_label(baseline, key, short=short)
            assert doubled_parenthetical(label) is None, label
    # the sea leg whose fleet repeats its name once gave the doubled label
    assert stage_label(baseline, "legs.poti_constanta", short=True) == (
        "Sea leg Poti - Constanța (Black Sea feeder)"
    )


@pytest.mark.parametrize(
    "build", [node_performance_figure, bottleneck_by_year_figure], ids=["nodes", "by_year"]
)
def test_no_label_in_the_run_figures_repeats_a_parenthetical(build, records, baseline):
    texts = _texts(build(records, baseline))
    assert texts
    for text in texts:
        flat = " ".join(text.split())
        assert doubled_parenthetical(flat) is None, flat


# ---------------------------------------------------------------- weekly series


def test_rolling_mean_is_centred_and_smooths():
    assert np.allclose(rolling_mean(np.array([1.0, 2, 3, 4, 5]), 3), [1.5, 2, 3, 4, 4.5])
    noisy = np.random.default_rng(1).normal(100, 30, (1, 200))
    assert np.nanstd(rolling_mean(noisy)) < 0.6 * np.nanstd(noisy)
    with_gap = rolling_mean(np.array([[1.0, np.nan, 3.0]]), 3)
    assert np.allclose(with_gap, [[1.0, 2.0, 3.0]])


def test_throughput_has_a_rolling_mean_over_the_light_weekly_values(records, baseline):
    fig = throughput_figure(records, baseline)
    ax = fig.axes[0]
    trend = [ln for ln in ax.get_lines() if ln.get_gid() == "rolling_mean"]
    assert len(trend) == 1
    y = np.asarray(trend[0].get_ydata(), dtype=float)
    weekly = [p for p in ax.patches if "weekly TEU" in (p.get_label() or "")]
    assert len(weekly) == 1
    raw = np.asarray(weekly[0].get_data().values, dtype=float)
    assert len(y) == len(raw)
    assert np.nanstd(np.diff(y)) < 0.7 * np.nanstd(np.diff(raw))  # the trend is smoother
    assert trend[0].get_linewidth() > weekly[0].get_linewidth()  # and drawn in front
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("95% CI of the mean across replications" in t for t in labels)
    assert isinstance(ax.xaxis.get_major_locator(), mdates.AutoDateLocator)  # dates stay


def test_weekly_profile():
    daily = np.array([[0, 0, 0, 0, 0, 0, 70, 7, 7, 7, 7, 7, 7, 7, 1.0]])
    mean, low, high = weekly_profile(daily)
    assert np.allclose(mean, [10, 7, 1]) and np.allclose(low, [0, 7, 1])
    assert np.allclose(high, [70, 7, 1])


def test_queue_panels_are_weekly_bands_with_units(records, baseline):
    fig = queues_figure(records, baseline)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert panels
    days = len(records[0]["series"]["nodes"][next(iter(baseline.nodes))]["teu_at_node"])
    for ax in panels:
        assert "TEU" in ax.get_ylabel()
        assert "TEU" in ax.get_title(loc="left")  # the panel's own mean and busiest day
        bands = [c for c in ax.collections if c.get_gid() == "daily_range"]
        means = [p for p in ax.patches if p.get_gid() == "weekly_mean"]
        assert len(bands) == 1 and len(means) == 1
        weeks = len(means[0].get_data().values)
        assert weeks == -(-days // 7)  # one value per week, not per day
    legend = fig.legends[0]
    assert "own TEU scale" in legend.get_title().get_text()


# ---------------------------------------------------------------- whiskers and axes


def test_ci95_is_the_t_interval_clipped_to_the_possible_range():
    mean, lo, hi = ci95(np.array([[0.9, 0.5], [1.0, 0.7], [0.98, 0.6]]), 0.0, 1.0)
    half = 4.302653 * np.std([0.5, 0.7, 0.6], ddof=1) / np.sqrt(3)
    assert np.allclose(mean, [0.96, 0.6])
    assert hi[0] == 1.0  # clipped: a utilisation never passes 1
    assert np.isclose(lo[1], 0.6 - half) and np.isclose(hi[1], 0.6 + half)
    _, lo1, hi1 = ci95(np.array([[5.0]]))
    assert np.isnan(lo1[0]) and np.isnan(hi1[0])  # one replication: no interval


def _errorbar_spans(ax) -> list[tuple[float, float]]:
    spans = []
    for coll in ax.collections:
        if isinstance(coll, LineCollection):
            for seg in coll.get_segments():
                if len(seg) == 2:
                    spans.append((float(seg[0][0]), float(seg[1][0])))
    return spans


def test_node_performance_whiskers_are_the_ci_and_the_axis_stops_at_1(records, baseline):
    fig = node_performance_figure(records, baseline)
    ax_u = fig.axes[1]
    assert ax_u.get_xlim()[1] <= 1.0
    assert "0–1" in ax_u.get_xlabel()
    assert "95% CI of the mean across replications" in fig.legends[0].get_title().get_text()
    # the whiskers are the t interval of each stage's utilisation, not the min-max range
    key = "legs.aktau_alat"
    vals = [r["legs"]["aktau_alat"]["utilisation"] for r in records]
    mean, lo, hi = ci95(np.array([vals]).T, 0.0, 1.0)
    spans = _errorbar_spans(ax_u)
    assert any(np.isclose(a, lo[0]) and np.isclose(b, hi[0]) for a, b in spans), key
    assert not any(np.isclose(a, min(vals)) and np.isclose(b, max(vals)) for a, b in spans)


def test_bottleneck_by_year_axis_stops_at_1(records, baseline):
    fig = bottleneck_by_year_figure(records, baseline)
    ax = fig.axes[0]
    assert ax.get_ylim()[1] <= 1.0
    note = ax.get_title(loc="left")
    assert "95% CI" in note and "min–max" not in note
    assert "0–1" in ax.get_ylabel()


def _comparison() -> dict:
    def kpis(u: float) -> dict:
        return {
            "throughput_teu_per_week": {"mean": 110.0, "ci95_low": 100.0, "ci95_high": 120.0},
            "bottleneck_utilisation": {"mean": u, "ci95_low": u - 0.1, "ci95_high": u + 0.1},
        }

    return {
        "base": "base",
        "order": ["base", "alt"],
        "kpis": ["throughput_teu_per_week", "bottleneck_utilisation"],
        "scenarios": {"base": {"summary": {"kpis": kpis(0.97)}},
                      "alt": {"summary": {"kpis": kpis(0.6)}}},
        "differences": {"alt": {"bottleneck_utilisation": {"mean": -0.37, "significant": True}}},
    }


def test_comparison_share_axis_stops_at_100_percent(tmp_path, monkeypatch):
    import sim.outputs.plots_compare as pc

    seen = {}
    monkeypatch.setattr(pc, "_write", lambda fig, out: seen.setdefault("fig", fig) and out)
    kpi_bars(_comparison(), tmp_path / "k.png")
    titles = {a.get_title(loc="left"): a for a in seen["fig"].axes}
    util_ax = titles["Bottleneck utilisation ρ"]
    assert util_ax.get_xlim()[1] <= 1.0


# ---------------------------------------------------------------- sweep heat maps


def _point(i: int, x: int, y: int, mean: float, half: float, n: int = 5,
           reps: list[float] | None = None) -> dict:
    p = {
        "point": i,
        "values": {"a.x": x, "b.y": y},
        "status": "ok",
        "kpis": {"throughput_teu_per_week": {"mean": mean, "ci95_low": mean - half,
                                             "ci95_high": mean + half, "n": n}},
    }
    if reps is not None:
        p["records"] = [{"throughput_teu_per_week": v, "replication": k}
                        for k, v in enumerate(reps)]
    return p


def _sweep(points: list[dict]) -> dict:
    return {"kind": "sweep", "base": "b", "design": "factorial", "varied": ["a.x", "b.y"],
            "points": points}


def _cells(fig) -> dict[tuple[int, int], str]:
    """(column, row) of each heat-map cell -> its gid."""
    ax = fig.axes[0]
    out = {}
    for p in ax.patches:
        if isinstance(p, Rectangle) and p.get_gid():
            x, y = p.get_xy()
            out[(round(x + 0.5), round(y + 0.5))] = p.get_gid()
    return out


def _heatmap_fig(sweep, tmp_path, monkeypatch, **kw):
    import sim.outputs.plots_sweep as ps

    seen = {}
    monkeypatch.setattr(ps, "_write", lambda fig, out: seen.setdefault("fig", fig) and out)
    heatmap(sweep, "throughput_teu_per_week", tmp_path / "h.png", **kw)
    return seen["fig"]


def test_heatmap_greys_out_a_difference_inside_overlapping_cis(tmp_path, monkeypatch):
    sweep = _sweep([
        _point(0, 1, 1, 100.0, 5.0),
        _point(1, 2, 1, 101.0, 5.0),  # 1 TEU/week apart, CIs overlap: noise
        _point(2, 1, 2, 130.0, 2.0),  # far apart, tight CIs: an effect
        _point(3, 2, 2, 99.0, 40.0),  # 1 below, very wide CI
    ])
    fig = _heatmap_fig(sweep, tmp_path, monkeypatch)
    cells = _cells(fig)
    assert cells[(0, 0)] == "reference"
    assert cells[(1, 0)] == "not_significant"
    assert cells[(0, 1)] == "significant"
    assert cells[(1, 1)] == "not_significant"
    texts = " ".join(_texts(fig))
    assert "not significantly different from the reference" in texts
    assert "Holm" in texts  # the title says what the colours mean
    # the colour scale spans at least ±5% of the reference: 1 TEU/week is not its end
    cb = [a for a in fig.axes if "Δ to the reference" in a.get_ylabel()]
    assert cb and cb[0].get_ylim()[1] >= 30.0


def test_heatmap_reference_from_the_base_values_and_a_paired_test(tmp_path, monkeypatch):
    # paired replications: a steady +1 TEU/week in every replication is significant
    # even though the points' own CIs overlap widely
    ref = [100.0, 120.0, 90.0, 110.0, 105.0]
    sweep = _sweep([
        _point(0, 1, 1, 80.0, 2.0, reps=[80.0] * 5),
        _point(1, 2, 1, float(np.mean(ref)), 15.0, reps=ref),
        _point(2, 1, 2, float(np.mean(ref)) + 1, 15.0,
               reps=[v + 1.0 + 0.01 * k for k, v in enumerate(ref)]),
        _point(3, 2, 2, float(np.mean(ref)) + 1, 15.0),  # no replications: Welch, n.s.
    ])
    fig = _heatmap_fig(sweep, tmp_path, monkeypatch, reference={"a.x": 2, "b.y": 1})
    cells = _cells(fig)
    assert cells[(1, 0)] == "reference"
    assert cells[(0, 1)] == "significant"
    assert cells[(1, 1)] == "not_significant"
    assert "the base scenario's values" in " ".join(_texts(fig))


def test_heatmap_and_response_of_a_real_sweep_file(tmp_path):
    """The shipped format (sweep.json of two varied keys) draws both plots."""
    pts = []
    for i, (x, y) in enumerate([(4, 1), (6, 1), (4, 2), (6, 2)]):
        p = _point(i, x, y, 100.0 + 10 * i, 3.0)
        p["kpis"]["bottleneck_utilisation"] = {"mean": 0.99, "ci95_low": 0.9,
                                               "ci95_high": 1.08, "n": 5}
        pts.append(p)
    sweep = _sweep(pts)
    json.dumps(sweep)  # JSON-safe, as written by the sweep command
    for kpi in ("throughput_teu_per_week", "bottleneck_utilisation"):
        out = heatmap(copy.deepcopy(sweep), kpi, tmp_path / f"h_{kpi}.png")
        assert imread(out).shape[0] > 300
        response(copy.deepcopy(sweep), kpi, tmp_path / f"r_{kpi}.png")


def test_response_utilisation_axis_stops_at_1(tmp_path, monkeypatch):
    import sim.outputs.plots_sweep as ps

    pts = []
    for i, x in enumerate([1, 2, 3]):
        p = _point(i, x, 1, 100.0, 3.0)
        p["values"] = {"a.x": x}
        p["kpis"]["bottleneck_utilisation"] = {"mean": 0.97, "ci95_low": 0.85,
                                               "ci95_high": 1.09, "n": 3}
        pts.append(p)
    seen = {}
    monkeypatch.setattr(ps, "_write", lambda fig, out: seen.setdefault("fig", fig) and out)
    response({"design": "factorial", "varied": ["a.x"], "points": pts},
             "bottleneck_utilisation", tmp_path / "r.png")
    assert seen["fig"].axes[0].get_ylim()[1] <= 1.0
