"""Plots of a run: every figure is written as a valid PNG, also for degenerate records."""

from __future__ import annotations

import copy
import struct
from pathlib import Path

import numpy as np
import pytest

from sim.model.corridor import run_replication
from sim.outputs.plots import (
    PLOT_FILES,
    bottleneck_by_year_figure,
    node_order,
    nodes_with_content,
    queues_figure,
    throughput_figure,
    transit_figure,
    write_run_plots,
)
from sim.scenario.loader import load_scenario, scenario_from_dict

TINY = Path(__file__).parent / "scenarios" / "tiny.toml"
SHORT = ["scenario.horizon_days=60", "scenario.warmup_days=10"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def loaded():
    return load_scenario(TINY, overrides=SHORT)


@pytest.fixture(scope="module")
def run(loaded):
    scenario = loaded.model
    return [run_replication(scenario, r) for r in range(2)], scenario


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC, f"{path.name} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def _check_png(p: Path) -> None:
    assert p.is_file()
    assert 10_000 < p.stat().st_size < 3_000_000, f"{p.name}: {p.stat().st_size} bytes"
    width, height = _png_size(p)
    assert 600 <= width <= 2500 and 300 <= height <= 2500, (p.name, width, height)


def _check_written(paths: list[Path], out: Path) -> None:
    assert [p.name for p in paths] == list(PLOT_FILES)
    for p in paths:
        assert p.parent == out
        _check_png(p)


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=120)
    return path


def test_two_replications_write_all_plots(run, tmp_path):
    import matplotlib.pyplot as plt

    records, scenario = run
    open_before = plt.get_fignums()
    out = tmp_path / "results" / "plots"  # created, parents too
    paths = write_run_plots(records, scenario, out)
    _check_written(paths, out)
    assert plt.get_fignums() == open_before  # no pyplot figures created or left open


def test_single_replication(run, tmp_path):
    records, scenario = run
    paths = write_run_plots(records[:1], scenario, tmp_path)
    _check_written(paths, tmp_path)


def test_node_with_all_zero_series_is_skipped(run, tmp_path):
    records, scenario = run
    recs = copy.deepcopy(records)
    assert "b" in nodes_with_content(recs, scenario)
    for r in recs:
        for field in ("teu_at_node", "yard_teu", "departed_teu"):
            r["series"]["nodes"]["b"][field] = np.zeros_like(r["series"]["nodes"]["b"][field])
    shown = nodes_with_content(recs, scenario)
    assert "b" not in shown and shown  # other nodes still plotted
    assert "z" not in shown  # the destination never holds boxes in tiny
    fig = queues_figure(recs, scenario)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == len(shown)
    _check_png(_save(fig, tmp_path / "queues.png"))


def test_all_nodes_empty_still_plots(run, tmp_path):
    records, scenario = run
    recs = copy.deepcopy(records)
    for r in recs:
        for series in r["series"]["nodes"].values():
            for field in series:
                series[field] = np.zeros_like(series[field])
    assert nodes_with_content(recs, scenario) == []
    fig = queues_figure(recs, scenario)
    texts = [t.get_text().lower() for ax in fig.axes for t in ax.texts]
    assert any("no containers" in t for t in texts)


def test_no_deliveries_after_warmup(run, tmp_path):
    records, scenario = run
    recs = copy.deepcopy(records[:1])
    r = recs[0]
    r["transit_days"] = np.empty(0, dtype=np.float32)
    r["series"]["study_delivered_teu"] = np.zeros_like(r["series"]["study_delivered_teu"])
    r["study"]["throughput_teu_per_week"] = None
    for node in r["nodes"].values():
        node["wait_h_mean"] = None
    fig = transit_figure(recs, scenario)
    texts = [t.get_text().lower() for ax in fig.axes for t in ax.texts]
    assert any("no deliveries" in t for t in texts)
    _check_written(write_run_plots(recs, scenario, tmp_path), tmp_path)


def test_gridlocked_replication_of_different_length(run, tmp_path):
    """A run stopped early has shorter series: pads, does not crash."""
    records, scenario = run
    recs = copy.deepcopy(records)
    short = recs[1]
    days = 30
    short["end_h"] = days * 24.0
    short["gridlock"] = {"since_day": 25.0, "detected_day": 30.0, "where": ["nodes.p"]}
    short["series"]["study_delivered_teu"] = short["series"]["study_delivered_teu"][:days]
    for series in short["series"]["nodes"].values():
        for field in series:
            series[field] = series[field][:days]
    _check_png(_save(throughput_figure(recs, scenario), tmp_path / "throughput.png"))
    _check_png(_save(queues_figure(recs, scenario), tmp_path / "queues.png"))


def test_node_order_follows_study_route(loaded):
    raw = copy.deepcopy(loaded.resolved)
    raw["nodes"] = {k: raw["nodes"][k] for k in ["z", "q", "p", "b", "a"]}  # reversed file order
    raw["nodes"]["x"] = {"kind": "terminal"}  # off the route: last
    scenario = scenario_from_dict(raw)
    assert node_order(scenario) == ["a", "b", "p", "q", "z", "x"]


def test_empty_records_rejected(loaded, tmp_path):
    with pytest.raises(ValueError):
        write_run_plots([], loaded.model, tmp_path)


def test_time_axes_are_dates_with_disruptions_shaded_and_changes_marked(loaded, tmp_path):
    import matplotlib.dates as mdates

    raw = copy.deepcopy(loaded.resolved)
    raw["scenario"]["start_date"] = "2026-03-01"
    raw["disruptions"] = {"shut": {"kind": "window", "target": "legs.pq", "start_day": 30,
                                   "duration_days": 5}}
    raw["changes"] = {"more": {"date": "2026-04-10", "label": "a fourth ship",
                               "set": {"fleets.f.vessels": 4}}}
    scenario = scenario_from_dict(raw)
    records = [run_replication(scenario, 0)]
    for build in (throughput_figure, queues_figure):
        fig = build(records, scenario)
        ax = fig.axes[0]
        lo, hi = (mdates.num2date(x).date().isoformat() for x in ax.get_xlim())
        assert (lo, hi) == ("2026-03-01", "2026-04-30")  # 60 days from 1 March
        spans = [p for p in ax.patches if p.get_facecolor()[:3] != (1, 1, 1)]
        assert any(
            mdates.num2date(p.get_x()).date().isoformat() == "2026-03-31" for p in spans
        )  # the closure, from day 30
        lines = [ln for ln in ax.lines if len(ln.get_xdata()) == 2]
        assert any(
            mdates.num2date(mdates.date2num(ln.get_xdata()[0])).date().isoformat()
            == "2026-04-10" for ln in lines
        )  # the change
        _check_png(_save(fig, tmp_path / f"{build.__name__}.png"))
    texts = [t.get_text() for t in throughput_figure(records, scenario).axes[0].texts]
    assert any("a fourth ship" in t for t in texts) and any("shut" in t for t in texts)


def test_bottleneck_by_year_marks_the_binding_stage(run, tmp_path):
    records, scenario = run
    fig = bottleneck_by_year_figure(records, scenario)
    notes = [t.get_text() for t in fig.axes[0].texts]
    top = records[0]["periods"]["years.2025"]["bottleneck"]["element"]
    assert any(n.startswith("binds") and top.split(".")[1] in n for n in notes)
    _check_png(_save(fig, tmp_path / "by_year.png"))
    recs = copy.deepcopy(records)
    for r in recs:
        r["periods"] = {}  # a record without periods (older runs): a note, no crash
    texts = [t.get_text() for ax in bottleneck_by_year_figure(recs, scenario).axes
             for t in ax.texts]
    assert any("no calendar year" in t.lower() for t in texts)
