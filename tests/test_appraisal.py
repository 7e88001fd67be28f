"""Economics from results and the appraisal of investments, against arithmetic done here
and against what relieving (or not) the binding stage must do."""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path

import pytest

from sim.experiments.appraisal import (
    appraise,
    co2_per_teu,
    cost_per_teu,
    present_value,
    route_co2_kg_per_teu,
)
from sim.model.corridor import run_replication
from sim.scenario.loader import scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
TWO = ROOT / "tests" / "scenarios" / "markets" / "two_routes.toml"
CONGESTED = ROOT / "tests" / "scenarios" / "markets" / "congested"


def _raw() -> dict:
    raw = tomllib.loads(TWO.read_text(encoding="utf-8"))
    raw["routes"]["corridor"]["corridor"] = True
    raw.pop("operators")
    raw["routes"]["corridor"].pop("operator")
    return raw


def test_present_value_is_the_annuity_formula():
    a, r, t = 1_000.0, 0.06, 25
    assert present_value(a, t, r) == pytest.approx(a * (1 - (1 + r) ** -t) / r, rel=1e-12)
    assert present_value(a, t, 0.0) == pytest.approx(a * t)


def test_cost_and_co2_per_teu_follow_the_routes_chosen():
    raw = _raw()
    raw["legs"]["a_gw"]["distance_km"] = 10_000.0
    raw["legs"]["a_gw"]["carrier"] = "deep_sea"
    raw["economics"] = {"co2_kg_per_teu_km": {"deep_sea": 0.05}, "co2_rail_kg_per_teu_km": 0.2}
    for lid, km in (("ab", 1000.0), ("bp", 500.0), ("qz", 400.0)):
        raw["legs"][lid]["distance_km"] = km
    raw["legs"]["pq"]["distance_nm"] = 300.0
    raw["legs"]["pq"]["carrier"] = "feeder"
    raw["economics"]["co2_kg_per_teu_km"]["feeder"] = 0.1
    scen = scenario_from_dict(copy.deepcopy(raw))
    corridor = (1000 + 500 + 400) * 0.2 + 300 * 1.852 * 0.1
    assert route_co2_kg_per_teu(scen, "corridor") == pytest.approx(corridor)
    assert route_co2_kg_per_teu(scen, "coarse") == pytest.approx(10_000 * 0.05)
    rec = run_replication(scen, 0)
    alts = rec["routes"]["m"]["alternatives"]
    w = {rid: a["measured_teu"] for rid, a in alts.items()}
    expect = (w["corridor"] * corridor + w["coarse"] * 500.0) / (w["corridor"] + w["coarse"])
    assert co2_per_teu(scen, rec) == pytest.approx(expect)
    # cost: tariff + VoT x measured transit (no handling, risk or storage here)
    c = alts["coarse"]
    by_hand = 2000 + c["vot_usd_per_teu_day"] * c["transit_days_mean"]
    k = alts["corridor"]
    by_hand_k = 2500 + k["vot_usd_per_teu_day"] * k["transit_days_mean"]
    total = (w["coarse"] * by_hand + w["corridor"] * by_hand_k) / (w["coarse"] + w["corridor"])
    assert cost_per_teu(scen, rec) == pytest.approx(total)


def _congested() -> dict:
    raw = _raw()
    raw["scenario"]["horizon_days"] = 240
    raw["scenario"]["warmup_days"] = 60
    raw["markets"]["m"]["annual_teu"] = 70_000
    return raw


def _records(raw: dict, n: int = 4) -> tuple:
    scen = scenario_from_dict(copy.deepcopy(raw))
    return scen, [run_replication(scen, r) for r in range(n)]


def test_relieving_the_binding_stage_induces_demand_and_a_non_binding_one_does_not():
    base = _congested()
    wagons = copy.deepcopy(base)
    wagons["wagon_pools"]["w"]["wagons"] = 400  # the binding stage
    wagons["economics"] = {"capex_usd": 5e6, "lifetime_years": 20, "discount_rate": 0.06}
    tracks = copy.deepcopy(base)
    tracks["nodes"]["b"]["handling_tracks"] = 6  # far from binding
    b_scen, b_recs = _records(base)
    # congestion holds the corridor back: its wagons bind, its boxes take as long as the
    # coarse route's, and shippers split between the two
    assert all(r["bottleneck"]["element"] == "wagon_pools.w" for r in b_recs)
    assert min(r["bottleneck"]["utilisation"] for r in b_recs) > 0.75
    w_scen, w_recs = _records(wagons)
    t_scen, t_recs = _records(tracks)
    relieve = appraise(b_scen, w_scen, b_recs, w_recs)
    idle = appraise(b_scen, t_scen, b_recs, t_recs)
    assert relieve["induced_teu_per_year"]["ci95_low"] > 0
    assert relieve["user_benefit_usd_per_year"]["ci95_low"] > 0
    ind = idle["induced_teu_per_year"]
    assert abs(ind["mean"]) < 0.1 * relieve["induced_teu_per_year"]["mean"]
    # the rule of a half, route by route, approximates the logsum benefit (exact only for
    # small changes); its switching part is the induced share, the rest is the staying
    # cargo's; relieving nothing switches nothing
    from sim.experiments.appraisal import benefit_split

    roh = [sum(benefit_split(rb, ra)) for rb, ra in zip(b_recs, w_recs, strict=True)]
    assert sum(roh) / len(roh) == pytest.approx(
        relieve["user_benefit_usd_per_year"]["mean"], rel=0.25)
    stays = relieve["benefit_existing_usd_per_year"]["mean"]
    switched = relieve["benefit_induced_usd_per_year"]
    assert switched["ci95_low"] > 0 and stays > 0
    assert stays + switched["mean"] == pytest.approx(
        relieve["user_benefit_usd_per_year"]["mean"], rel=1e-9)
    assert relieve["induced_share_of_benefit"] == pytest.approx(
        switched["mean"] / relieve["user_benefit_usd_per_year"]["mean"])
    assert abs(idle["benefit_induced_usd_per_year"]["mean"]) < 0.001 * switched["mean"]
    # NPV and BCR are the arithmetic of the benefit (same pairs, same formula)
    ub = relieve["user_benefit_usd_per_year"]["mean"]
    pv = present_value(ub, 20, 0.06)
    assert relieve["npv_usd"]["mean"] == pytest.approx(pv - 5e6, rel=1e-9)
    assert relieve["bcr"]["mean"] == pytest.approx(pv / 5e6, rel=1e-9)
    assert math.isfinite(relieve["bcr"]["ci95_high"])


def test_compare_values_investments_by_what_they_attract(tmp_path):
    """`corridor compare` on a market scenario: each alternative's appraisal (NPV, BCR,
    induced TEU, user benefit with CIs) in comparison.json, investments ranked by NPV,
    and every scenario's routes.csv and monthly.csv in scenarios/<name>/."""
    import json

    from sim.cli import main

    out = tmp_path / "cmp"
    assert main(["compare", str(CONGESTED / "base.toml"), str(CONGESTED / "wagons.toml"),
                 "--out", str(out), "--quiet"]) == 0
    comp = json.loads((out / "comparison.json").read_text())
    a = comp["economics"]["wagons"]["appraisal"]
    for key in ("npv_usd", "bcr", "induced_teu_per_year", "user_benefit_usd_per_year"):
        assert set(a[key]) >= {"mean", "ci95_low", "ci95_high", "n"}
    assert a["induced_teu_per_year"]["mean"] > 0
    assert comp["ranking"][0]["metric"] == "npv_usd"
    assert comp["ranking"][0]["value"] == a["npv_usd"]["mean"]
    for name in ("base", "wagons"):
        assert (out / "scenarios" / name / "routes.csv").is_file()
        assert (out / "scenarios" / name / "monthly.csv").is_file()


def test_the_induced_share_is_stated_only_when_both_parts_are_clear():
    from sim.outputs.answer import benefit_split_text, induced_share

    a = {"benefit_existing_usd_per_year": {"mean": 2e6, "ci95_low": 1e6, "ci95_high": 3e6},
         "benefit_induced_usd_per_year": {"mean": 1e6, "ci95_low": 5e5, "ci95_high": 1.5e6},
         "induced_share_of_benefit": 1 / 3}
    assert induced_share(a) == pytest.approx(1 / 3)
    assert "33% from induced demand" in benefit_split_text(a)
    a["benefit_existing_usd_per_year"]["ci95_low"] = -1e6  # the staying part is noise
    assert induced_share(a) is None
    assert "within noise" in benefit_split_text(a)


def test_fixed_flows_time_savings_count_in_the_user_benefit():
    """Background trades choose nothing, so the logsum misses them; the time an investment
    saves them counts at the markets' mean value of time (loaded boxes only)."""
    from sim.experiments.appraisal import fixed_flow_benefit_usd_per_year, mean_vot_usd_per_teu_day
    from sim.scenario.loader import load_scenario

    s = load_scenario(ROOT / "scenarios" / "baseline.toml").model
    classes = s.choice.classes
    num = sum(m.annual_teu * sh * classes[c].vot_usd_per_teu_day
              for m in s.markets.values() for c, sh in m.shares(classes).items())
    den = sum(m.annual_teu * sh for m in s.markets.values() for sh in m.shares(classes).values())
    vot = mean_vot_usd_per_teu_day(s)
    assert vot == pytest.approx(num / den)
    flows = {fid: {"transit_days_mean": 10.0, "throughput_teu_per_week": 100.0}
             for fid in s.flows}
    faster = copy.deepcopy(flows)
    for fid in faster:  # every flow one day faster: only the loaded fixed ones count
        faster[fid]["transit_days_mean"] = 9.0
    fixed = [f for f, fl in s.flows.items() if fl.market is None and fl.empties_of is None]
    assert fixed and len(fixed) < len(s.flows)
    got = fixed_flow_benefit_usd_per_year(s, {"flows": flows}, {"flows": faster})
    assert got == pytest.approx(len(fixed) * 1.0 * 100.0 * 8760 / 168 * vot)
