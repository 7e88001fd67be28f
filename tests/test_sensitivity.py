"""Sensitivity design: the parameter table is sourced and ordered, variants set the right
keys, every variant sees the same demand (common random numbers), Morris steps are
one-at-a-time, plots are PNGs, and ``corridor sensitivity`` writes its results folder."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from sim.errors import ScenarioError
from sim.experiments import sensitivity as sens
from sim.outputs.plots_sensitivity import plot_name, write_sensitivity_plots
from sim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
SHORT = ["scenario.horizon_days=90", "scenario.warmup_days=30"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def base():
    return load_scenario(BASELINE, SHORT)


def test_parameter_table_is_sourced_and_low_base_high_ordered(base):
    resolved = base.resolved
    assert 8 <= len(sens.PARAMETERS) <= 24
    assert sens.applicable(sens.PARAMETERS, resolved) == list(sens.PARAMETERS)
    for p in sens.PARAMETERS:
        assert p.sources and p.basis and p.unit, p.name
        assert p.kind in ("value", "scale")
        lo, b, hi = (
            sens.display(p, resolved, p.low),
            sens.base_display(p, resolved),
            sens.display(p, resolved, p.high),
        )
        assert lo < b < hi, p.name
        if p.kind == "scale":
            assert p.low < 1.0 < p.high


def test_oat_variants_apply_the_right_overrides(base):
    resolved = base.resolved
    variants = sens.oat_design(sens.PARAMETERS, resolved)
    assert len(variants) == 1 + 2 * len(sens.PARAMETERS)
    assert variants[0].overrides == ()
    for v in variants[1:]:
        (name, setting), = v.settings
        p = next(q for q in sens.PARAMETERS if q.name == name)
        changed = load_scenario(BASELINE, [*SHORT, *v.overrides]).resolved
        for key in p.keys:
            got = sens.resolved_value(changed, key)
            want = sens.resolved_value(resolved, key)
            if p.kind == "scale":
                assert sens._magnitude(got) == pytest.approx(sens._magnitude(want) * setting)
            else:
                assert got == pytest.approx(setting)
        # nothing else moved: the other parameters keep their base values
        for q in sens.PARAMETERS:
            if q.name != name and not set(q.keys) & set(p.keys):
                for key in q.keys:
                    assert sens.resolved_value(changed, key) == sens.resolved_value(resolved, key)


def test_scaling_keeps_shape_and_cv():
    tri = {"dist": "triangular", "low": 10.0, "mode": 20.0, "high": 40.0}
    assert sens.scaled(tri, 0.5) == {"dist": "triangular", "low": 5.0, "mode": 10.0, "high": 20.0}
    gam = {"dist": "gamma", "mean": 10.0, "cv": 0.5}
    assert sens.scaled(gam, 2.0) == {"dist": "gamma", "mean": 20.0, "cv": 0.5}
    assert sens.scaled([1.0, 2.0], 1.5) == [1.5, 3.0]
    assert sens._toml({"dist": "fixed", "value": 2.0}) == '{dist = "fixed", value = 2.0}'


def test_common_random_numbers_same_demand_in_every_variant(base):
    params = [p for p in sens.PARAMETERS if p.name in ("Caspian storm rate", "Poti dwell")]
    variants = sens.oat_design(params, base.resolved)
    scenarios = [load_scenario(BASELINE, [*SHORT, *v.overrides]).model for v in variants]
    results = sens.evaluate(scenarios, 2, sens.ExecutorSpec(workers=1, quiet=True), ["created_teu"])
    for res in results:
        assert [r["_study_created_teu"] for r in res] == [
            r["_study_created_teu"] for r in results[0]
        ]
        assert [r["_system_created_teu"] for r in res] == [
            r["_system_created_teu"] for r in results[0]
        ]
    # the two replications differ from each other (they are not the same stream)
    assert results[0][0]["_system_created_teu"] != results[0][1]["_system_created_teu"]


def test_morris_steps_change_one_parameter_by_delta(base):
    params = sens.PARAMETERS[:5]
    variants, points = sens.morris_design(params, base.resolved, trajectories=3, seed=1)
    assert points.shape == (3, 6, 5)
    assert len(variants) == 18
    delta = sens.MORRIS_LEVELS / (2 * (sens.MORRIS_LEVELS - 1))
    assert np.all((points >= -1e-9) & (points <= 1 + 1e-9))
    for t in range(3):
        steps = np.diff(points[t], axis=0)
        assert np.all(np.count_nonzero(steps, axis=1) == 1)
        assert np.allclose(np.abs(steps[steps != 0]), delta)
        moved = [int(np.flatnonzero(s)[0]) for s in steps]
        assert sorted(moved) == list(range(5))  # each parameter moves once
    for v in variants:
        for (name, setting), p in zip(v.settings, params, strict=True):
            assert name == p.name
            assert min(p.low, p.high) - 1e-9 <= setting <= max(p.low, p.high) + 1e-9


def _synthetic_result() -> dict:
    rows = []
    for i, name in enumerate(["A long parameter name", "B", "C"]):
        rows.append(
            {
                "parameter": name,
                "keys": [f"nodes.x{i}.dwell_h"],
                "unit": "hours (mean)",
                "x_low": 10.0,
                "x_base": 20.0,
                "x_high": 40.0,
                "kpi": "transit_days_p50",
                "kpi_low": 40.0 - i,
                "kpi_base": 40.0,
                "kpi_high": 41.0 + 2 * i,
                "swing": 1.0 + 3 * i,
                "swing_ci95_low": 0.5 - i,
                "swing_ci95_high": 2.0 + i,
                "elasticity": 0.1,
                "sources": "E",
                "basis": "test",
            }
        )
    meta = {
        "scenario": "synthetic",
        "method": "oat",
        "replications": 3,
        "horizon_days": 485.0,
        "warmup_days": 120.0,
        "kpis": ["transit_days_p50"],
        "variants": 7,
        "wall_s": 1.0,
        "skipped": [],
        "trajectories": None,
    }
    return {"meta": meta, "rows": rows, "variants": [], "parameters": []}


def test_quick_horizon_is_warmup_plus_a_year_never_longer_and_stated():
    assert sens.quick_horizon_days(1216.0, 120.0) == 485.0
    assert sens.quick_horizon_days(300.0, 120.0) == 300.0  # never lengthened
    meta = {"horizon_days": 485.0, "scenario_horizon_days": 1216.0}
    note = sens.horizon_note(meta)
    assert "1,216 d shortened" in note and "--horizon-days" in note
    result = _synthetic_result()
    result["meta"].update(meta)
    assert f"Horizon: {note}." in sens.format_table(result).splitlines()[1]
    assert note in sens.format_markdown(result)
    result["meta"]["scenario_horizon_days"] = 485.0
    assert "Horizon:" not in sens.format_table(result)


def test_tornado_plot_is_a_png(tmp_path):
    result = _synthetic_result()
    paths = write_sensitivity_plots(result, tmp_path)
    assert paths == [tmp_path / plot_name("transit_days_p50")]
    assert paths[0].read_bytes()[:8] == PNG_MAGIC
    ranked = sens.ranked(result["rows"], "transit_days_p50")
    assert [r["parameter"] for r in ranked] == ["C", "B", "A long parameter name"]
    text = sens.format_table(result)
    assert "C" in text and "*" in text


def test_unknown_kpi_is_a_one_line_error(base):
    with pytest.raises(ScenarioError, match="--kpis"):
        sens.check_kpis(["transit_p50"], base.model)
    with pytest.raises(ScenarioError, match="no legs id"):
        sens.check_kpis(["legs.nowhere.utilisation"], base.model)
    sens.check_kpis(["transit_days_p50", "legs.aktau_alat.utilisation"], base.model)


def test_sensitivity_command_writes_table_and_plots(tmp_path, capsys):
    from sim.commands import sensitivity as cmd

    parser = argparse.ArgumentParser()
    cmd.register(parser.add_subparsers())
    out = tmp_path / "sens"
    argv = [
        "sensitivity",
        str(BASELINE),
        "--replications",
        "1",
        "--horizon-days",
        "50",
        "--set",
        "scenario.warmup_days=15",
        "--workers",
        "1",
        "--kpis",
        "transit_days_p50",
        "bottleneck_utilisation",
        "--out",
        str(out),
    ]
    args = parser.parse_args(argv)
    assert args.handler(args, argv) == 0
    printed = capsys.readouterr().out
    assert "Study transit, median" in printed
    data = json.loads((out / "sensitivity.json").read_text())
    assert data["meta"]["replications"] == 1
    assert data["meta"]["horizon_days"] == 50
    own = load_scenario(BASELINE).model.scenario.horizon_days
    assert data["meta"]["scenario_horizon_days"] == own and data["meta"]["horizon_from_flag"]
    note = f"Horizon: 50 d from --horizon-days (the scenario's: {own:,.0f} d)."
    assert printed.splitlines()[1] == note
    assert len(data["variants"]) == 1 + 2 * len(sens.PARAMETERS)
    with (out / "sensitivity.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * len(sens.PARAMETERS)
    for kpi in ("transit_days_p50", "bottleneck_utilisation"):
        assert (out / plot_name(kpi)).read_bytes()[:8] == PNG_MAGIC
