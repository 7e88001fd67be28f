"""Dated scenarios: calendar dates, capacity that changes on dates, demand paths.

Checked against arithmetic (demand per calendar year), against the obvious law of a
saturated shuttle (sailings per week proportional to the ships in service), and
against the model as it was before dates existed (bit-identical raw state).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.model.calendar import Calendar
from sim.model.corridor import run_replication
from sim.model.demand import demand_profile, generate
from sim.model.schedule import Schedule
from sim.scenario.loader import load_scenario, scenario_from_dict
from sim.stats import summarise

ROOT = Path(__file__).resolve().parents[1]
REGRESSION = ROOT / "tests" / "scenarios" / "regression"


def test_scenarios_without_dates_give_the_numbers_they_gave_before_dates_existed():
    """Raw model state (every stamp, monitor and departure) hashed by
    benchmarks/fingerprint.py, against hashes made with the commit before dates
    (3dd0c76) on the baseline of that time and on tests/scenarios/tiny.toml."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from fingerprint import fingerprint

    expected = json.loads((REGRESSION / "fingerprints_pre_dates.json").read_text())
    files = {
        "baseline_pre_dates.toml": REGRESSION / "baseline_pre_dates.toml",
        "tiny.toml": ROOT / "tests" / "scenarios" / "tiny.toml",
    }
    for key, hashes in expected.items():
        name, rep = key.split(" r=")
        got, _ = fingerprint(load_scenario(files[name]).model, int(rep))
        assert json.loads(json.dumps(got)) == hashes, key


def shuttle(vessels: int, changes: dict | None = None, horizon_days: float = 300) -> dict:
    """Port p -> port q, one fleet, demand far above what the ships can carry."""
    raw = {
        "scenario": {"name": "shuttle", "horizon_days": horizon_days, "warmup_days": 20,
                     "seed": 11, "start_date": "2026-01-01", "gridlock_days": 10},
        "nodes": {
            "p": {"kind": "port", "berths": 20, "crane_rate_teu_per_h": 100},
            "q": {"kind": "port", "berths": 20, "crane_rate_teu_per_h": 100},
        },
        "legs": {"pq": {"mode": "sea", "from": "p", "to": "q",
                        "sail_time_h": {"dist": "triangular", "low": 20, "mode": 24, "high": 32}}},
        "fleets": {"f": {"leg": "pq", "vessels": vessels, "capacity_teu": 200}},
        "flows": {"m": {"route": ["p", "q"], "annual_teu": 400_000}},
    }
    if changes:
        raw["changes"] = changes
    return raw


def sailings_per_week(fleet, a_day: float, b_day: float) -> float:
    t = np.asarray(fleet.departures_h) / 24.0
    return float(((t >= a_day) & (t < b_day)).sum()) / ((b_day - a_day) / 7.0)


def test_a_fleet_that_doubles_on_a_date_doubles_its_sailings():
    from sim.model.corridor import CorridorModel

    scen = scenario_from_dict(
        shuttle(3, {"two_more": {"date": "2026-05-01", "set": {"fleets.f.vessels": 6}}})
    )
    before, after, util = [], [], []
    for r in range(6):
        m = CorridorModel(scen, r)
        end, _ = m.run()
        day = m.calendar.hours_of(m.calendar.parse("2026-05-01")) / 24.0
        fleet = m.fleets["f"]
        before.append(sailings_per_week(fleet, 30, day))
        after.append(sailings_per_week(fleet, day + 10, end / 24.0))
        util.append(fleet.busy_share(20 * 24.0, end))
    ratio = summarise([a / b for a, b in zip(after, before, strict=True)])
    assert ratio["ci95_low"] <= 2.0 <= ratio["ci95_high"] or abs(ratio["mean"] - 2.0) < 0.05
    # saturated: every ship in service is busy; ships not yet in service are not idle ones
    assert min(util) > 0.97


def test_ships_leave_at_the_end_of_a_round_trip_and_nothing_is_lost():
    scen = scenario_from_dict(
        shuttle(6, {"sold": {"day": 100, "set": {"fleets.f.vessels": 2}}}, horizon_days=200)
    )
    rec = run_replication(scen, 0)  # conservation and invariants are checked inside
    assert rec["gridlock"] is None
    assert rec["fleets"]["f"]["utilisation"] > 0.97


def test_a_fleet_that_starts_empty_waits_for_its_ships_without_gridlock():
    scen = scenario_from_dict(
        shuttle(0, {"first": {"day": 60, "set": {"fleets.f.vessels": 2}}}, horizon_days=120)
    )
    rec = run_replication(scen, 0)
    assert rec["gridlock"] is None
    assert rec["fleets"]["f"]["sailings"] > 0


def flow_scenario(**flow) -> dict:
    raw = shuttle(2, horizon_days=3 * 365 + 184)
    raw["scenario"].update(start_date="2025-07-01", warmup_days=184)
    raw["flows"]["m"] = {"route": ["p", "q"], "annual_teu": 20_000, "feu_share": 1.0} | flow
    return raw


def created_teu_by_year(raw: dict, replications: int = 3) -> dict[int, float]:
    scen = scenario_from_dict(raw)
    cal = Calendar(dt.date.fromisoformat(scen.scenario.start_date))
    flow = scen.flows["m"]
    horizon = scen.scenario.horizon_days * 24
    profile = demand_profile("m", flow, scen, cal, Schedule(scen, cal))
    totals: dict[int, float] = {}
    for r in range(replications):
        arr = generate("m", flow, scen.scenario.seed, r, horizon, profile)
        years = cal.years(arr.time_h)
        for y in np.unique(years):
            totals[int(y)] = totals.get(int(y), 0.0) + float(arr.teu[years == y].sum())
    return {y: v / replications for y, v in totals.items()}


def assert_close_to_poisson(got: float, expected_teu: float, replications: int = 3) -> None:
    """Within 4.5 standard deviations of the Poisson count of FEU boxes."""
    boxes = expected_teu / 2 * replications
    sd_teu = 2 * math.sqrt(boxes) / replications
    assert abs(got - expected_teu) <= 4.5 * sd_teu + 1e-9, (got, expected_teu, sd_teu)


def test_demand_per_calendar_year_follows_the_growth_path():
    """15 %/yr from the first measured year (2026): the warm-up half of 2025 runs at
    2026's demand / 1.15 ("last year's demand")."""
    got = created_teu_by_year(flow_scenario(growth_per_year=0.15))
    assert_close_to_poisson(got[2025], 20_000 / 1.15 * 184 / 365)
    for y in (2026, 2027, 2028):
        assert_close_to_poisson(got[y], 20_000 * 1.15 ** (y - 2026) * (366 if y == 2028 else 365)
                                / 365)


def test_levels_by_year_dated_changes_and_a_demand_window():
    got = created_teu_by_year(flow_scenario(
        teu_by_year={"2027": 30_000}, growth_per_year=0.10, start_date="2025-10-01",
        end_date="2028-07-01",
    ))
    assert_close_to_poisson(got[2025], 20_000 / 1.1 * 92 / 365)  # Oct-Dec only
    assert_close_to_poisson(got[2026], 20_000)
    assert_close_to_poisson(got[2027], 30_000)  # the listed level
    assert_close_to_poisson(got[2028], 33_000 * 182 / 365)  # grows from 2027; ends 1 July
    raw = flow_scenario()
    raw["changes"] = {"surge": {"date": "2027-01-01", "set": {"flows.m.annual_teu": 50_000}}}
    got = created_teu_by_year(raw)
    assert_close_to_poisson(got[2026], 20_000)
    assert_close_to_poisson(got[2027], 50_000)


def test_seasonality_follows_calendar_months_in_a_dated_run():
    raw = flow_scenario(seasonality=[3.0] + [1.0] * 11)  # January triple
    scen = scenario_from_dict(raw)
    cal = Calendar(dt.date(2025, 7, 1))
    profile = demand_profile("m", scen.flows["m"], scen, cal, Schedule(scen, cal))
    arr = generate("m", scen.flows["m"], 1, 0, scen.scenario.horizon_days * 24, profile)
    months = cal.month_labels(arr.time_h)
    jan = (months == "2026-01").sum()
    feb = (months == "2026-02").sum()
    assert jan / feb == pytest.approx(3.0 * 28 / 31 * (31 / 28), rel=0.25)


@pytest.mark.parametrize(
    "key, value",
    [
        ("nodes.p.berths", 1),
        ("nodes.q.yard_capacity_teu", 300),
        ("nodes.p.other_traffic_share", 0.5),
        ("fleets.f.capacity_teu", 100),
        ("fleets.f.load_factor", 0.5),
    ],
)
def test_every_changeable_key_runs_with_conservation(key, value):
    raw = shuttle(3, {"c": {"day": 50, "set": {key: value}}}, horizon_days=100)
    raw["flows"]["m"]["annual_teu"] = 30_000
    rec = run_replication(scenario_from_dict(raw), 0)  # raises on any broken invariant
    assert rec["system"]["delivered_teu"] > 0
