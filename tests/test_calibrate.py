"""Calibration table: published figures carry sources, the table has CIs and verdicts,
the probes only observe, and ``corridor calibrate`` writes its results folder."""

from __future__ import annotations

import argparse
import copy
import json
import re
from pathlib import Path

import pytest

from sim.experiments import calibrate as cal
from sim.model.corridor import run_replication
from sim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
DATA_SHEET = ROOT.parent / "shared" / "corridor_data.md"
SHORT = ["scenario.horizon_days=200", "scenario.warmup_days=60"]
SOURCE_ID = re.compile(r"^[SG]\d+[a-z]?$")


@pytest.fixture(scope="module")
def short():
    loaded = load_scenario(BASELINE, SHORT)
    return loaded, cal.run_calibration(loaded.model, 2)


def test_every_published_figure_names_its_sources_and_a_known_statistic(short):
    loaded, records = short
    values = cal.model_values(loaded.model, records)
    assert len({f.id for f in cal.PUBLISHED}) == len(cal.PUBLISHED)
    for f in cal.PUBLISHED:
        assert f.sources and all(SOURCE_ID.match(s) for s in f.sources), f.id
        assert f.role in cal.ROLES, f.id
        assert f.how, f.id
        assert f.stat in values, f.id
        if f.low is not None and f.high is not None:
            assert f.low <= f.high, f.id
        if f.role == cal.ROLE_CONTEXT:
            assert f.low is None and f.high is None
    roles = {f.role for f in cal.PUBLISHED}
    assert {cal.ROLE_CALIBRATED, cal.ROLE_INDEPENDENT} <= roles


@pytest.mark.skipif(not DATA_SHEET.is_file(), reason="shared data sheet not beside the repo")
def test_source_ids_exist_in_the_data_sheet():
    text = DATA_SHEET.read_text(encoding="utf-8")
    for f in cal.PUBLISHED:
        for s in f.sources:
            assert f"**{s}**" in text, f"{f.id}: {s} is not listed in corridor_data.md"


def test_table_structure_with_confidence_intervals(short):
    loaded, records = short
    rows = cal.build_table(loaded.model, records)
    assert [r.figure.id for r in rows] == [f.id for f in cal.PUBLISHED]
    for row in rows:
        m = row.model
        assert {"mean", "ci95_low", "ci95_high", "n"} <= set(m)
        assert row.verdict in ("pass", "fail", "n/a", "-")
        if m["mean"] is not None and m["n"] >= 2 and m["ci95_low"] is not None:
            assert m["ci95_low"] <= m["mean"] <= m["ci95_high"]
    by_id = {r.figure.id: r for r in rows}
    assert by_id["alat_call_mean"].model["n"] == 2
    assert by_id["khorgos_capacity"].model["mean"] == pytest.approx(20.0)
    assert by_id["caspian_all"].verdict == "-"
    json.dumps([r.as_dict() for r in rows])  # serialisable
    md = cal.format_markdown(rows, {"scenario": "baseline", "command": "corridor calibrate"})
    txt = cal.format_text(rows)
    for f in cal.PUBLISHED:
        assert f.quantity in md and f.id in txt


def test_verdict_logic_on_a_synthetic_record(short):
    loaded, records = short
    rec = copy.deepcopy(records[0])
    berth = rec["calibration"]["berth_calls"]["alat"]["berth_h"]
    fig = next(f for f in cal.PUBLISHED if f.id == "alat_call_mean")
    for value, expected in ((20.0, "pass"), (fig.high + 0.5, "fail"), (fig.low - 0.5, "fail")):
        berth["mean"] = value
        row = next(r for r in cal.build_table(loaded.model, [rec]) if r.figure.id == fig.id)
        assert row.model["mean"] == pytest.approx(value)
        assert row.model["ci95_low"] is None  # one replication: no interval
        assert row.verdict == expected
    berth["mean"] = None
    row = next(r for r in cal.build_table(loaded.model, [rec]) if r.figure.id == fig.id)
    assert row.verdict == "n/a"
    upper = next(f for f in cal.PUBLISHED if f.id == "alat_call_p95")
    assert cal.verdict({"mean": 29.9}, upper) == "pass"
    assert cal.verdict({"mean": 30.1}, upper) == "fail"
    context = next(f for f in cal.PUBLISHED if f.role == cal.ROLE_CONTEXT)
    assert cal.verdict({"mean": 1.0}, context) == "-"


def test_probes_only_observe_the_run(short):
    loaded, records = short
    plain = run_replication(loaded.model, 0)
    probed = records[0]
    assert probed["study"] == plain["study"]
    assert probed["system"] == plain["system"]
    assert probed["nodes"] == plain["nodes"]
    assert probed["fleets"] == plain["fleets"]


def test_berth_probe_agrees_with_the_berth_monitor(short):
    """Mean berth time per call x calls ≈ busy berth-hours of the record (edge effects only)."""
    loaded, records = short
    for rec in records:
        calls = rec["calibration"]["berth_calls"]["alat"]["berth_h"]
        span = rec["end_h"] - rec["warmup_h"]
        busy = rec["nodes"]["alat"]["berth_utilisation"] * 2 * span
        assert calls["mean"] * calls["n"] == pytest.approx(busy, rel=0.1)


def test_segment_times_add_up(short):
    _, records = short
    seg = records[0]["calibration"]["segments"]
    assert seg["origin_baku"]["p50"] < seg["origin_constanta"]["p50"]
    assert seg["origin_constanta"]["p50"] < seg["origin_sestokai"]["p50"]
    assert seg["origin_sestokai"]["p50"] < seg["origin_delivery"]["p50"]
    assert seg["khorgos_baku"]["p50"] < seg["origin_baku"]["p50"]


def test_calibrate_command_writes_json_and_markdown(tmp_path, capsys):
    from sim.commands import calibrate as cmd

    parser = argparse.ArgumentParser()
    cmd.register(parser.add_subparsers())
    out = tmp_path / "cal"
    argv = [
        "calibrate",
        "--replications",
        "2",
        "--horizon-days",
        "150",
        "--set",
        "scenario.warmup_days=50",
        "--workers",
        "1",
        "--out",
        str(out),
    ]
    args = parser.parse_args(argv)
    assert args.scenario is None  # the baseline of the source tree, resolved at run time
    code = args.handler(args, argv)
    printed = capsys.readouterr().out
    assert printed.startswith("calibration: ")
    assert "alat_call_mean" in printed and "Results written to" in printed
    assert "Calibration status written" not in printed  # --horizon-days: not the baseline run
    data = json.loads((out / "calibration.json").read_text())
    assert data["meta"]["file"] == str(BASELINE)
    targets = [r for r in data["rows"] if r["role"] != cal.ROLE_CONTEXT]
    assert code == (0 if all(r["verdict"] == "pass" for r in targets) else 4)
    assert data["meta"]["replications"] == 2
    assert data["meta"]["horizon_days"] == 150
    assert len(data["rows"]) == len(cal.PUBLISHED)
    assert all(r["sources"] for r in data["rows"])
    md = (out / "calibration.md").read_text()
    assert "| # | Quantity |" in md and f"**Verdict:** {printed.splitlines()[0]}" in md


def test_figures_file_is_checked(tmp_path):
    """The data file's mistakes are caught with the entry and key named."""
    text = cal.FIGURES_FILE.read_text(encoding="utf-8")
    figures, notes = cal.load_figures(cal.FIGURES_FILE)
    assert figures == cal.PUBLISHED and notes["surge"] == cal.SURGE_NOTE
    fleet = next(f for f in figures if f.id == "feeder_capacity")  # point = 89,000 ±10%
    assert (fleet.low, fleet.high) == pytest.approx((80_100, 97_900))
    const = next(f for f in figures if f.id == "khorgos_constanta_p10")  # best case 20-22 d
    assert (const.low, const.high) == pytest.approx((15.0, 27.5))
    assert all(f.label for f in figures)
    bad = {
        'id = "feeder_capacity"': 'id = "caspian_westbound"',  # duplicate id
        'point = 89_000': 'point = 89_000\nlow = 1',  # two kinds of range
        'role = "independent"': 'role = "checked"',
        'stat = "node_wait_h:khorgos"': 'stat = "node_wait_h:khorgos"\nsorces = ["S1"]',
    }
    for old, new in bad.items():
        assert old in text, old
        path = tmp_path / "figures.toml"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(cal.FiguresError, match=str(path)):
            cal.load_figures(path)
