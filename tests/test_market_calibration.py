"""ASC calibration (sim.experiments.market_calibration): prior shares meet the targets,
the closed form holds for a multinomial logit, impossible targets are refused, and the
baseline's ASCs are the ones its targets give."""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path

import pytest

from sim.experiments.market_calibration import (
    calibrate_ascs,
    calibrate_market,
    main,
    read_targets,
    with_ascs,
)
from sim.scenario.loader import load_scenario, scenario_from_dict
from sim.scenario.markets import prior_costs, prior_shares

ROOT = Path(__file__).resolve().parents[1]
TWO = ROOT / "tests" / "scenarios" / "markets" / "two_routes.toml"
BASELINE = ROOT / "scenarios" / "baseline.toml"
TARGETS = ROOT / "docs" / "market_targets.toml"


def _raw() -> dict:
    return tomllib.loads(TWO.read_text(encoding="utf-8"))


def _nested_raw() -> dict:
    """two_routes with a third alternative nested with 'coarse', an EU-compliant class
    for which 'coarse' is closed, and three classes in all."""
    raw = copy.deepcopy(_raw())
    raw["nodes"]["gw2"] = {"kind": "gateway"}
    raw["legs"]["a_gw2"] = {"mode": "delay", "from": "a", "to": "gw2",
                            "transit_h": {"dist": "triangular", "low": 500, "mode": 600,
                                          "high": 800}}
    raw["routes"]["coarse2"] = {"route": ["a", "gw2"], "tariff_usd_per_teu": 2300,
                                "prior_transit_days": 26, "prior_spread_days": 5,
                                "nest": "rail"}
    raw["routes"]["coarse"]["nest"] = "rail"
    raw["routes"]["coarse"]["closed_for"] = ["eu_compliant"]
    raw["choice"]["nests"] = {"rail": {"lambda": 0.4}}
    raw["choice"]["classes"]["eu"] = {"vot_usd_per_teu_day": 200, "eu_compliant": True}
    raw["markets"]["m"]["alternatives"] = ["corridor", "coarse", "coarse2"]
    raw["markets"]["m"]["class_shares"] = {"low": 0.5, "high": 0.2, "eu": 0.3}
    return raw


def test_multinomial_logit_meets_the_closed_form():
    raw = _raw()
    raw["choice"]["classes"] = {"avg": {"vot_usd_per_teu_day": 100}}
    raw["markets"]["m"]["class_shares"] = {"avg": 1.0}
    scen = scenario_from_dict(raw)
    target = {"corridor": 0.25, "coarse": 0.75}
    ascs = calibrate_market(scen, "m", target)
    assert ascs["coarse"] == 0.0  # the reference (last alternative) keeps its constant
    # one class, no nest: s_r ∝ exp(-scale (c_r + a_r)), so a_corridor - a_coarse is known
    _, _, cost, _ = prior_costs(scen, "m")
    scale = scen.choice.scale_per_usd
    expect = math.log(0.75 / 0.25) / scale - (cost[0, 0] - cost[0, 1])
    assert ascs["corridor"] == pytest.approx(expect, abs=1e-6)
    shares = prior_shares(with_ascs(scen, ascs), "m")
    assert shares == pytest.approx(target, abs=1e-9)


@pytest.mark.parametrize("target", [
    {"corridor": 0.1, "coarse": 0.5, "coarse2": 0.4},
    {"corridor": 2000, "coarse": 9000, "coarse2": 9000},  # TEU: normalised
    {"corridor": 0.6, "coarse": 0.01, "coarse2": 0.39},
])
def test_nested_logit_with_classes_meets_the_targets(target):
    scen = scenario_from_dict(_nested_raw())
    ascs = calibrate_ascs(scen, {"m": target})
    total = sum(target.values())
    shares = prior_shares(with_ascs(scen, ascs), "m")
    for rid, t in target.items():
        assert shares[rid] == pytest.approx(t / total, abs=1e-6)
    assert ascs["coarse2"] == scen.routes["coarse2"].asc_usd_per_teu  # the reference


def test_impossible_targets_are_refused_with_a_clear_error():
    scen = scenario_from_dict(_nested_raw())
    # 'coarse' is closed for the EU class (30%): it cannot take 80 % of the market
    with pytest.raises(ValueError, match=r"markets\.m: targets of coarse add up to 0\.8.*0\.7"):
        calibrate_market(scen, "m", {"corridor": 0.1, "coarse": 0.8, "coarse2": 0.1})
    # an open alternative cannot have share 0 in a logit
    with pytest.raises(ValueError, match=r"target 0 for 'corridor', which is open"):
        calibrate_market(scen, "m", {"corridor": 0, "coarse": 0.5, "coarse2": 0.5})
    # every alternative needs a target, and only alternatives of the market
    with pytest.raises(ValueError, match=r"expected a target for each alternative"):
        calibrate_market(scen, "m", {"corridor": 0.5, "coarse": 0.5})
    with pytest.raises(ValueError, match=r"expected market ids"):
        calibrate_market(scen, "nope", {"corridor": 1})
    with pytest.raises(ValueError, match=r"expected finite targets >= 0"):
        calibrate_market(scen, "m", {"corridor": -1, "coarse": 0.5, "coarse2": 0.5})
    raw = _nested_raw()
    raw["routes"]["coarse"]["closed_for"] = ["all"]
    closed = scenario_from_dict(raw)
    with pytest.raises(ValueError, match=r"target 0\.5 for 'coarse', which no cargo class"):
        calibrate_market(closed, "m", {"corridor": 0.3, "coarse": 0.5, "coarse2": 0.2})
    # a closed alternative with target 0 is fine, and keeps its constant
    ascs = calibrate_market(closed, "m", {"corridor": 0.3, "coarse": 0, "coarse2": 0.7})
    assert prior_shares(with_ascs(closed, ascs), "m")["corridor"] == pytest.approx(0.3, abs=1e-6)


def test_a_route_of_two_markets_is_refused():
    raw = _raw()
    raw["markets"]["m2"] = copy.deepcopy(raw["markets"]["m"])
    scen = scenario_from_dict(raw)
    target = {"corridor": 0.3, "coarse": 0.7}
    with pytest.raises(ValueError, match=r"routes\.corridor: an alternative of both markets"):
        calibrate_ascs(scen, {"m": target, "m2": target})


def test_the_baseline_asc_values_are_those_its_targets_give():
    """scenarios/baseline.toml holds the ASCs of docs/market_targets.toml (rounded to a cent):
    its prior shares are the targets."""
    scen = load_scenario(BASELINE).model
    targets = read_targets(TARGETS)
    assert set(targets) == set(scen.markets)
    ascs = calibrate_ascs(scen, targets)
    for mid, tgt in targets.items():
        total = sum(tgt.values())
        exact = prior_shares(with_ascs(scen, ascs), mid)
        written = prior_shares(scen, mid)
        for rid, t in tgt.items():
            assert exact[rid] == pytest.approx(t / total, abs=1e-6)
            assert written[rid] == pytest.approx(t / total, abs=1e-4), (mid, rid)
            assert scen.routes[rid].asc_usd_per_teu == pytest.approx(ascs[rid], abs=0.01)


def test_command_prints_the_constants_and_refuses_bad_input(tmp_path, capsys):
    assert main([str(BASELINE), str(TARGETS)]) == 0
    out = capsys.readouterr().out
    assert "[routes.mc_khorgos_aktau_poti]" in out and "asc_usd_per_teu = " in out
    bad = tmp_path / "t.toml"
    bad.write_text('[cn_baltic]\nsea_cape_klaipeda = "many"\n', encoding="utf-8")
    assert main([str(BASELINE), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expected a table of route_id = number" in err
    assert main([str(BASELINE)]) == 2
