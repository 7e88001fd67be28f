"""The shipped scenarios: all valid and runnable, the baseline stable, each case doing its job.

Directional checks use common random numbers: replication i of a case sees the
same demand and storms as replication i of the baseline, so a paired
comparison isolates the effect of the change.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from sim.experiments.replications import replicate
from sim.scenario.loader import load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SHORT = ["scenario.horizon_days=400", "scenario.warmup_days=60"]
REQUIRED = {
    "baseline", "northern_route", "sea_route",
    "disrupt_caspian_storms", "disrupt_georgia_closure", "disrupt_low_water",
    "invest_caspian_ships", "invest_aktau_phase2", "invest_alat_phase2",
    "growth_2030", "growth_2030_no_invest",
    "redsea_crisis", "northern_closed", "northern_closed_eu", "one_stop_tariff", "border_digital",
    "scandinavia_branch",
}


def test_required_scenarios_are_shipped_and_named_after_their_file():
    files = {p.stem: p for p in SCENARIOS.glob("*.toml")}
    assert set(files) >= REQUIRED
    for stem, path in files.items():
        loaded = load_scenario(path)
        assert loaded.model.scenario.name == stem
        assert loaded.model.study_flow_ids(), f"{stem} marks no study flow"


@pytest.mark.parametrize("stem", sorted(n for n in REQUIRED if n.startswith(("disrupt", "invest"))))
def test_cases_are_short_files_extending_the_baseline(stem):
    text = (SCENARIOS / f"{stem}.toml").read_text()
    assert 'extends = "baseline.toml"' in text
    code = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(code) <= 25, f"{stem} should override a few values, not restate the baseline"


@pytest.mark.parametrize("stem", sorted(REQUIRED))
def test_every_scenario_runs_without_gridlock(stem):
    scen = load_scenario(SCENARIOS / f"{stem}.toml", SHORT).model
    rec = replicate(scen, 1, workers=1)[0]  # conservation is checked inside
    assert rec["gridlock"] is None
    assert rec["study"]["delivered_teu"] > 0
    s = rec["system"]
    assert s["created_teu"] == s["delivered_teu"] + s["in_system_teu_end"]


def test_baseline_content_does_not_grow_with_the_horizon():
    """Stability: with every stage below saturation the TEU inside at the end is a
    stationary quantity, the same after H and after 2H days. An overloaded stage
    (even 2% over capacity) would add thousands of TEU over the extra H days."""
    path = SCENARIOS / "baseline.toml"
    base = load_scenario(path).model
    horizon = base.scenario.horizon_days
    reps = 4
    one = replicate(base, reps, workers=2)
    two = replicate(
        load_scenario(path, [f"scenario.horizon_days={2 * horizon}"]).model, reps, workers=2
    )
    a = np.array([r["system"]["in_system_teu_end"] for r in one])
    b = np.array([r["system"]["in_system_teu_end"] for r in two])
    growth = b - a
    se = growth.std(ddof=1) / math.sqrt(reps)
    assert growth.mean() < 3 * se + 0.1 * a.mean(), (a, b)
    # and what went in came out: what was created and not delivered by 2H is the TEU still
    # en route, which Little's law puts at the sum over flows of TEU created a day x mean
    # transit days (the market baseline's ~45-d sea and ~22-d Northern boxes are ~1.1% of
    # what it creates; the pre-market baseline's 0.6% fitted a flat 1% bound). More than
    # that would be boxes stuck or lost. Measured: 0.97-1.01 x the pipeline.
    gap = np.mean([r["system"]["created_teu"] - r["system"]["delivered_teu"] for r in two])
    pipeline = np.mean([
        sum(f["created_teu"] / (2 * horizon) * f["transit_days_mean"]
            for f in r["flows"].values() if f.get("transit_days_mean") is not None)
        for r in two
    ])
    assert 0 < gap < 1.25 * pipeline, (gap, pipeline)


def test_baseline_carries_traffic_both_ways_and_through_both_crossings():
    """Both China-Kazakhstan crossings carry corridor boxes; the eastbound loaded boxes (the
    background's imports, the Europe -> China market's corridor boxes) and the empties of
    the background and of the Middle Corridor routes ride the westbound flows' ships
    (return_leg) and wagons (backhaul_of)."""
    scen = load_scenario(SCENARIOS / "baseline.toml", SHORT).model
    assert any("dostyk" in nid for nid in scen.nodes)
    rec = replicate(scen, 1, workers=1)[0]
    for nid in ("khorgos", "dostyk"):
        assert rec["nodes"][nid]["departed_teu"] > 0, nid
    # fixed flows: each eastbound and empties flow delivers
    for fid in ("bg_east", "bg_aktau_empties", "bg_kuryk_empties"):
        assert rec["flows"][fid]["delivered_teu"] > 0, fid
    # markets: every route whose carrier owns boxes has its empties flow, in each market
    owned = [(mid, rid) for mid, m in scen.markets.items() for rid in m.alternatives
             if scen.routes[rid].empty_share > 0]
    empties = [f for f, fl in scen.flows.items() if fl.market and fl.empties_of is not None]
    assert owned and len(empties) == len(owned)
    assert sum(rec["flows"][f]["delivered_teu"] for f in empties) > 0
    east = [f for f, fl in scen.flows.items()
            if fl.market == "eu_cn" and fl.empties_of is None and fl.route[-1] == "xian"]
    assert east and sum(rec["flows"][f]["delivered_teu"] for f in east) > 0
    assert all(f.return_leg for f in scen.fleets.values())
    backs = {leg.backhaul_of for leg in scen.legs.values() if getattr(leg, "backhaul_of", None)}
    assert {"xian_khorgos", "xian_dostyk", "hinterland_aktau", "constanta_sestokai"} <= backs


def _after_changes(stem: str) -> list[str]:
    """Overrides that measure a case after its dated changes: the full horizon, with a
    warm-up that ends a day after the last change (SHORT when the case has none, or when
    they fall before SHORT's measured window starts)."""
    from sim.model.calendar import Calendar
    from sim.model.schedule import change_time_h

    scen = load_scenario(SCENARIOS / f"{stem}.toml").model
    start = scen.scenario.start_date
    calendar = Calendar(date.fromisoformat(start) if start else None)
    last = max(
        (change_time_h(c, calendar) / 24 for c in scen.changes.values() if c.enabled),
        default=0.0,
    )
    if last < 60:
        return SHORT
    assert last + 180 < scen.scenario.horizon_days, f"{stem}: too little measured after its changes"
    return [f"scenario.warmup_days={math.ceil(last) + 1}"]


def _paired(stem: str, reps: int = 2) -> tuple[list[dict], list[dict]]:
    overrides = _after_changes(stem)
    base = replicate(load_scenario(SCENARIOS / "baseline.toml", overrides).model, reps, workers=2)
    case = replicate(load_scenario(SCENARIOS / f"{stem}.toml", overrides).model, reps, workers=2)
    return base, case


def _demand_teu(rec: dict, scen) -> float:
    """The demand: TEU created by the fixed loaded flows, plus the TEU the markets offered
    (booked on some route, or lost when every operator refused). Empties are created as
    their loaded boxes are delivered, and a market's boxes are created on the route they
    choose, so those counts depend on the run, not only on the demand."""
    fixed = sum(
        rec["flows"][fid]["created_teu"]
        for fid, flow in scen.flows.items()
        if flow.empties_of is None and flow.market is None
    )
    offered = sum(
        float(np.sum(alt["booked_teu"])) for m in rec["routes"].values()
        for alt in m["alternatives"].values()
    ) + sum(float(np.sum(m["lost_teu"])) for m in rec["routes"].values())
    return fixed + offered


def _u(rec: dict, element: str) -> float:
    section, ident = element.split(".")
    value = rec[section][ident]["utilisation"]
    return value


@pytest.mark.parametrize(
    "stem, element, direction",
    [
        ("disrupt_caspian_storms", "fleets.caspian_feeders", +1),
        ("disrupt_low_water", "fleets.caspian_feeders", +1),
        ("invest_caspian_ships", "fleets.caspian_feeders", -1),
        ("invest_aktau_phase2", "nodes.aktau", -1),
        ("invest_alat_phase2", "nodes.alat", -1),
    ],
)
def test_cases_move_the_stage_they_target(stem, element, direction):
    """Dated investments are measured after their date (the base over the same window)."""
    base, case = _paired(stem)
    scen = load_scenario(SCENARIOS / "baseline.toml").model
    for b, c in zip(base, case, strict=True):
        assert _demand_teu(b, scen) == _demand_teu(c, scen)  # CRN: same demand
        assert direction * (_u(c, element) - _u(b, element)) > 0.02


def test_growth_without_investments_switches_off_every_investment():
    """growth_2030_no_invest differs from growth_2030 only in the investments it disables:
    every dated change growth_2030 adds to the baseline, and nothing else."""
    base = load_scenario(SCENARIOS / "baseline.toml").model
    grow = load_scenario(SCENARIOS / "growth_2030.toml").model
    none = load_scenario(SCENARIOS / "growth_2030_no_invest.toml").model
    added = set(grow.changes) - set(base.changes)
    assert added and all(grow.changes[c].enabled for c in added)
    assert {c for c, ch in none.changes.items() if not ch.enabled} == added
    assert none.model_copy(update={"changes": grow.changes, "scenario": grow.scenario}) == grow
    # the baseline's own dated changes (today's network) stay on in both
    assert all(none.changes[c].enabled for c in base.changes)


def test_georgia_closure_stops_trains_for_two_weeks():
    scen = load_scenario(SCENARIOS / "disrupt_georgia_closure.toml").model
    from sim.model.corridor import CorridorModel

    model = CorridorModel(scen, 0)
    model.run()
    dis = scen.disruptions["georgia_closed"]
    start, end = dis.start_day * 24, (dis.start_day + dis.duration_days) * 24
    for lid in ("alat_poti", "alatferry_poti", "poti_alat", "poti_alatferry"):  # both ways
        dep = np.asarray(model.rail_legs[lid].departures_h)
        assert not np.any((dep >= start) & (dep < end)), lid
    dep = np.asarray(model.rail_legs["alat_poti"].departures_h)
    assert np.any((dep >= end) & (dep < end + 48)), "trains resume when the line reopens"
