"""Outputs through time: by month, by leg and direction, by named period and by year.

Checked against the record's own totals (conservation), against arithmetic (a dated
demand change, a timetable's offered slots counted by hand from the departure log), and
against what a scenario makes obvious (a closure lengthens the transit of the boxes
booked during it; a fleet cut in year 2 binds in year 2).
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from sim.model.corridor import CorridorModel, run_replication
from sim.model.measure import measure
from sim.outputs.results import write_legs_monthly_csv, write_monthly_csv, write_timeseries_csv
from sim.outputs.summary import bottleneck_by_year, build_periods
from sim.scenario.loader import load_scenario, scenario_from_dict

HERE = Path(__file__).resolve().parent
TINY = HERE / "scenarios" / "tiny.toml"
TWO_WAY = HERE / "scenarios" / "two_way.toml"


def tiny(**scenario) -> dict:
    raw = tomllib.loads(TINY.read_text())
    raw["scenario"].update(scenario)
    return raw


def measured(raw: dict, replication: int = 0) -> tuple[CorridorModel, dict]:
    """Run one replication and keep the model (for its departure logs) with its record."""
    model = CorridorModel(scenario_from_dict(raw), replication)
    end, gridlock = model.run()
    inside = model.check_conservation(end)
    return model, measure(model, end, inside, gridlock)


# --------------------------------------------------------------------------------------
# monthly.csv
# --------------------------------------------------------------------------------------


def test_monthly_created_and_delivered_teu_add_up_to_the_record():
    scen = scenario_from_dict(tiny(start_date="2026-03-15", horizon_days=150))
    rec = run_replication(scen, 0, keep_log=True)
    months = rec["monthly"]["months"]
    assert months[0] == "2026-03" and months[-1] == "2026-08"  # 15 Mar + 150 d = 12 Aug
    for fid, cols in rec["monthly"]["flows"].items():
        assert cols["created_teu"].sum() == rec["flows"][fid]["created_teu"]
        assert cols["delivered_teu"].sum() == rec["flows"][fid]["delivered_teu"]
        assert np.all(cols["delivered_teu"] <= cols["created_teu"])
    # the quantiles of one month, computed here from the boxes themselves
    table, end = rec["log"], rec["end_h"]
    fi = 0  # flow "main": a -> b -> p -> q -> z
    rows = np.flatnonzero(table.flow == fi)
    created, delivered = table.created_h[rows], table.depart_h[rows, 4]
    april = (created >= 17 * 24) & (created < 47 * 24)  # 1-30 April 2026
    done = april & (delivered <= end)
    transit = (delivered[done] - created[done]) / 24
    cols = rec["monthly"]["flows"]["main"]
    k = months.index("2026-04")
    assert cols["created_teu"][k] == table.teu[rows][april].sum()
    assert cols["transit_days_mean"][k] == pytest.approx(transit.mean(), rel=1e-12)
    assert cols["transit_days_p50"][k] == pytest.approx(np.percentile(transit, 50), rel=1e-12)
    assert cols["transit_days_p95"][k] == pytest.approx(np.percentile(transit, 95), rel=1e-12)


def test_monthly_created_teu_follows_a_dated_demand_change():
    """20,000 TEU/yr, 40,000 from 1 July 2026: each calendar month creates
    level x days / 365 TEU, within Poisson noise (FEU only: 2 TEU a box)."""
    raw = {
        "scenario": {"name": "m", "horizon_days": 365, "warmup_days": 10, "seed": 5,
                     "start_date": "2026-01-01"},
        "nodes": {"p": {"kind": "port"}, "q": {"kind": "port"}},
        "legs": {"pq": {"mode": "sea", "from": "p", "to": "q", "sail_time_h": 10}},
        "fleets": {"f": {"leg": "pq", "vessels": 6, "capacity_teu": 400}},
        "flows": {"m": {"route": ["p", "q"], "annual_teu": 20_000, "feu_share": 1.0}},
        "changes": {"up": {"date": "2026-07-01", "set": {"flows.m.annual_teu": 40_000}}},
    }
    rec = run_replication(scenario_from_dict(raw), 0)
    months = rec["monthly"]["months"]
    assert len(months) == 12
    created = rec["monthly"]["flows"]["m"]["created_teu"]
    for k, month in enumerate(months):
        y, m = map(int, month.split("-"))
        days = (dt.date(y + (m == 12), m % 12 + 1, 1) - dt.date(y, m, 1)).days
        expected = (20_000 if m < 7 else 40_000) * days / 365
        sd = 2 * math.sqrt(expected / 2)
        assert abs(created[k] - expected) < 4.5 * sd, (month, created[k], expected)


def test_monthly_csv_rows_and_dates_in_the_timeseries(tmp_path):
    scen = scenario_from_dict(tiny(start_date="2026-01-20", horizon_days=60))
    recs = [run_replication(scen, r) for r in range(2)]
    write_monthly_csv(tmp_path / "monthly.csv", recs)
    with (tmp_path / "monthly.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 3 * 2  # replications x months (Jan-Mar) x flows
    assert {r["month"] for r in rows} == {"2026-01", "2026-02", "2026-03"}
    for r in recs:
        for fid in ("main", "local"):
            total = sum(float(x["created_teu"]) for x in rows
                        if x["flow"] == fid and int(x["replication"]) == r["replication"])
            assert total == r["flows"][fid]["created_teu"]
    write_timeseries_csv(tmp_path / "timeseries.csv", recs[:1])
    with (tmp_path / "timeseries.csv").open() as fh:
        first = list(csv.DictReader(fh))[:2]
    assert [(x["day"], x["date"]) for x in first] == [("0", "2026-01-20"), ("1", "2026-01-21")]


# --------------------------------------------------------------------------------------
# legs_monthly.csv: by leg and by fleet and leg, loaded and empty
# --------------------------------------------------------------------------------------


def test_legs_monthly_loaded_plus_empty_is_the_teu_departed(tmp_path):
    model, rec = measured(load_scenario(TWO_WAY).resolved)
    lm = rec["legs_monthly"]
    for lid, leg in {**model.rail_legs, **model.sea_legs}.items():
        cols = lm["legs"][lid]
        assert cols["departures"].sum() == len(leg.departures_h)
        assert cols["teu_loaded"].sum() + cols["teu_empty"].sum() == pytest.approx(
            sum(leg.departure_teu), abs=1e-9)
        assert cols["teu_empty"].sum() == pytest.approx(sum(leg.departure_empty_teu), abs=1e-9)
    assert lm["legs"]["qz"]["teu_empty"].sum() == 0  # westbound: no empties
    assert lm["legs"]["zq"]["teu_empty"].sum() > 0  # eastbound: the empties of "main"
    fleet = model.fleets["f"]
    by_leg = lm["fleets"]["f"]
    assert set(by_leg) == {"pq", "qp"}  # out, and back with return cargo
    assert by_leg["qp"]["departures"].sum() > 0 and by_leg["qp"]["teu_empty"].sum() > 0
    assert sum(c["departures"].sum() for c in by_leg.values()) == len(fleet.departures_h)
    assert sum(c["teu_loaded"].sum() + c["teu_empty"].sum() for c in by_leg.values()) == (
        pytest.approx(sum(fleet.departure_teu), abs=1e-9))
    # per year in the summary: loaded and empty TEU after the warm-up
    years = (rec["end_h"] - rec["warmup_h"]) / 8760
    leg = model.rail_legs["zq"]
    t = np.asarray(leg.departures_h)
    post = t >= rec["warmup_h"]
    empty = np.asarray(leg.departure_empty_teu)[post].sum()
    loaded = np.asarray(leg.departure_teu)[post].sum() - empty
    assert rec["legs"]["zq"]["teu_empty_per_year"] == pytest.approx(empty / years)
    assert rec["legs"]["zq"]["teu_loaded_per_year"] == pytest.approx(loaded / years)
    rec["replication"] = 0
    write_legs_monthly_csv(tmp_path / "legs.csv", [rec])
    with (tmp_path / "legs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    back = [r for r in rows if r["fleet"] == "f" and r["leg"] == "qp"]
    assert len(back) == len(lm["months"])
    assert sum(int(r["departures"]) for r in back) == by_leg["qp"]["departures"].sum()
    jan = next(r for r in rows if r["leg"] == "qz" and r["fleet"] == "" and r["month"] == "2026-01")
    assert float(jan["departures_per_week"]) == pytest.approx(int(jan["departures"]) / (31 / 7))


# --------------------------------------------------------------------------------------
# Timetabled services: the share of their offered slots they filled
# --------------------------------------------------------------------------------------


def slots_between(a: float, b: float, interval: float, offset: float) -> int:
    """Slots offset + k * interval (k >= 0) in [a, b], counted one by one."""
    return sum(1 for k in range(int(b // interval) + 2) if a <= offset + k * interval <= b)


def test_timetable_utilisation_is_teu_carried_over_offered_slots():
    raw = tiny(horizon_days=90)
    raw["fleets"]["f"]["dispatch"] = {"rule": "timetable", "interval_h": 24, "offset_h": 6}
    model, rec = measured(raw)
    warm, end = rec["warmup_h"], rec["end_h"]
    # the rail leg q -> z: a train of 80 TEU every 12 h
    leg = model.rail_legs["qz"]
    t, teu = np.asarray(leg.departures_h), np.asarray(leg.departure_teu)
    carried = teu[t >= warm].sum()
    assert rec["legs"]["qz"]["utilisation"] == pytest.approx(
        carried / (slots_between(warm, end, 12, 0) * 80), rel=1e-12)
    assert rec["legs"]["qz"]["busy_share"] is None  # no train paths to share
    # the fleet: a sailing a day at 6:00, 200 TEU x 0.9 usable
    fleet = model.fleets["f"]
    t, teu = np.asarray(fleet.departures_h), np.asarray(fleet.departure_teu)
    fill = teu[t >= warm].sum() / (slots_between(warm, end, 24, 6) * 200 * 0.9)
    assert rec["fleets"]["f"]["utilisation"] == pytest.approx(fill, rel=1e-12)
    assert rec["fleets"]["f"]["utilisation_of"] == "slots"
    assert rec["fleets"]["f"]["busy_share"] == pytest.approx(
        fleet.busy_share(warm, end), rel=1e-12)
    assert rec["legs"]["pq"]["utilisation"] == pytest.approx(fill, rel=1e-12)  # its one fleet
    assert rec["fleets"]["f"]["busy_share"] > fill  # three ships: busier than the slots are full


# --------------------------------------------------------------------------------------
# Named periods: calendar years, disruption windows, [periods.*]
# --------------------------------------------------------------------------------------


def test_a_closure_window_is_visible_in_its_period_kpis():
    raw = tiny(horizon_days=200, start_date="2026-01-01")
    raw["nodes"]["p"]["yard_capacity_teu"] = 20_000  # room for a month of boxes
    raw["disruptions"] = {"shut": {"kind": "window", "target": "legs.pq", "start_day": 80,
                                   "duration_days": 30}}
    raw["periods"] = {"spring": {"label": "spring", "from_date": "2026-04-01",
                                 "to_date": "2026-06-01"},
                      "late": {"from_day": 150, "to_day": 400}}
    recs = [run_replication(scenario_from_dict(raw), r) for r in range(2)]
    for rec in recs:
        assert rec["gridlock"] is None
        p = rec["periods"]["disruptions.shut"]
        assert (p["from_h"], p["to_h"], p["measured_h"]) == (80 * 24, 110 * 24, 30 * 24)
        # boxes booked during the closure wait for it to end: days longer than the mean
        assert p["transit_days_mean"] > rec["study"]["transit_days_mean"] + 5
        assert p["throughput_teu_per_week"] < rec["study"]["throughput_teu_per_week"]
        assert p["en_route_transit_days_mean"] > rec["study"]["transit_days_mean"] + 5
        assert rec["periods"]["periods.late"]["measured_h"] == (200 - 150) * 24  # clipped
    periods = build_periods(recs)
    assert list(periods) == ["years.2026", "disruptions.shut", "periods.late", "periods.spring"]
    shut = periods["disruptions.shut"]
    assert (shut["from_date"], shut["to_date"]) == ("2026-03-22", "2026-04-21")
    assert shut["transit_days_mean"]["n"] == 2
    assert shut["transit_days_mean"]["mean"] > periods["years.2026"]["transit_days_mean"]["mean"]
    spring = periods["periods.spring"]
    assert (spring["label"], spring["measured_days"]) == ("spring", 61)
    assert spring["bottleneck"]["element"] and spring["bottleneck"]["utilisation"]["n"] == 2


def test_the_years_of_the_measured_period_add_up_to_the_whole():
    """Calendar years partition the measured period: their TEU delivered and created add
    up to the run's (the last year ends with the run: boxes not yet delivered, or not yet
    created, are in no year)."""
    raw = load_scenario(TWO_WAY).resolved
    raw["scenario"].update(horizon_days=500, start_date="2026-10-01", warmup_days=40)
    rec = run_replication(scenario_from_dict(raw), 0, keep_log=True)
    years = {k: p for k, p in rec["periods"].items() if p["kind"] == "year"}
    assert list(years) == ["years.2026", "years.2027", "years.2028"]
    warm, end = rec["warmup_h"], rec["end_h"]
    assert sum(p["measured_h"] for p in years.values()) == pytest.approx(end - warm)
    weeks = (end - warm) / 168
    delivered = sum(p["delivered_teu"] for p in years.values())
    assert delivered == pytest.approx(rec["study"]["throughput_teu_per_week"] * weeks)
    table = rec["log"]
    study = np.isin(table.flow, [0])  # "main", the study flow of tiny
    created = table.created_h[study]
    after = (created >= warm) & (created <= end)
    assert sum(p["created_teu"] for p in years.values()) == table.teu[study][after].sum()


def test_bottleneck_by_year_names_the_fleet_cut_in_year_two():
    raw = tiny(horizon_days=2 * 365, warmup_days=30, start_date="2026-01-01", gridlock_days=30)
    raw["nodes"]["p"]["yard_capacity_teu"] = 6000
    raw["changes"] = {"sold": {"date": "2027-01-01", "label": "two ships sold",
                               "set": {"fleets.f.vessels": 1}}}
    recs = [run_replication(scenario_from_dict(raw), r) for r in range(2)]
    assert all(r["gridlock"] is None for r in recs)
    years = bottleneck_by_year(build_periods(recs))
    assert list(years) == ["2026", "2027"]
    assert years["2026"]["element"] != "legs.pq"
    assert years["2027"]["element"] == "legs.pq"
    assert years["2027"]["utilisation"]["mean"] > years["2026"]["runner_up"]["utilisation"]["mean"]
    assert years["2026"]["from_date"] == "2026-01-31"  # after the 30-day warm-up


def test_periods_reach_the_summary_and_the_console(tmp_path):
    from sim.outputs.console import format_summary
    from sim.outputs.summary import build_summary

    path = tmp_path / "s.toml"
    path.write_text(
        'extends = "' + TINY.as_posix() + '"\n'
        '[scenario]\nname = "tiny"\nstart_date = "2026-01-01"\nhorizon_days = 100\n'
        '[disruptions.shut]\nkind = "window"\ntarget = "nodes.b"\nstart_day = 40\n'
        "duration_days = 10\n"
    )
    loaded = load_scenario(path)
    recs = [run_replication(loaded.model, r) for r in range(2)]
    for r in recs:
        r["perf"] = {"wall_s": 0.0, "events": 0, "containers": 0}
    summary = build_summary(loaded, recs, "test", "0")
    assert summary["start_date"] == "2026-01-01" and summary["dated"] is True
    assert set(summary["periods"]) == {"years.2026", "disruptions.shut"}
    assert summary["legs"]["qz"]["utilisation_of"] == "slots"
    text = format_summary(summary)
    assert "2026-02-10 – 2026-02-19" in text  # the closure: days 40-49
    assert "2026-01-21 – 2026-04-10" in text  # 2026 after the 20-day warm-up, to day 99
    assert "disruption shut" in text


def test_records_stay_small():
    rec = run_replication(scenario_from_dict(tiny(horizon_days=3 * 365)), 0)
    months = rec["monthly"]["months"]
    assert len(months) == 36 and rec["start_date"] == "2025-01-01" and rec["dated"] is False
    sizes = [a.nbytes for c in rec["monthly"]["flows"].values() for a in c.values()]
    sizes += [a.nbytes for c in rec["legs_monthly"]["legs"].values() for a in c.values()]
    assert sum(sizes) < 20_000
    assert copy.deepcopy(rec["periods"])  # plain numbers and dicts


def test_periods_of_a_replication_that_stopped_early_are_left_out_not_a_crash():
    """A gridlocked replication has no period after its end: the summary of a period
    takes the replications that reached it (it once raised KeyError 'years.2030')."""
    from sim.outputs.summary import build_periods

    year = {"kind": "year", "label": "2027", "from_h": 8760.0, "to_h": 17520.0,
            "measured_h": 8760.0, "utilisation": {"legs.a": 0.5}}
    records = [
        {"start_date": "2026-01-01", "periods": {"years.2027": year}},
        {"start_date": "2026-01-01", "periods": {}},  # stopped in 2026
    ]
    periods = build_periods(records)
    assert list(periods) == ["years.2027"]
    assert periods["years.2027"]["bottleneck"]["element"] == "legs.a"
