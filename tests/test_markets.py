"""Markets choosing among route alternatives: reduction, closed-form logit, feedback, limits.

Every check compares the model with something computed independently: the fixed-demand
model, the closed-form logit, a conservation count, or the direction a congested route's
share must move.
"""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model.choice import draw_choice, nested_logit
from sim.model.corridor import CorridorModel, run_replication
from sim.model.market import _Deliveries, p50_p95
from sim.scenario.loader import scenario_from_dict
from sim.scenario.markets import prior_shares

ROOT = Path(__file__).resolve().parents[1]
TWO = ROOT / "tests" / "scenarios" / "markets" / "two_routes.toml"


def _raw() -> dict:
    return tomllib.loads(TWO.read_text(encoding="utf-8"))


def _run(raw: dict, replication: int = 0) -> CorridorModel:
    model = CorridorModel(scenario_from_dict(copy.deepcopy(raw)), replication)
    end, gridlock = model.run()
    assert gridlock is None
    model.check_conservation(end)
    return model


# -- the arithmetic -------------------------------------------------------------------


def test_multinomial_logit_matches_the_formula():
    cost = np.array([[1000.0, 1500.0, 1200.0]])
    prob, logsum = nested_logit(cost, np.ones((1, 3), bool), 0.004, np.arange(3), np.ones(3))
    e = np.exp(-0.004 * cost[0])
    assert prob[0] == pytest.approx(e / e.sum(), rel=1e-12)
    assert logsum[0] == pytest.approx(math.log(e.sum()) / 0.004, rel=1e-12)


def test_nested_logit_matches_the_formula():
    # two alternatives in one nest (lambda 0.5), one alone
    cost = np.array([[1000.0, 1100.0, 1300.0]])
    s, lam = 0.003, 0.5
    prob, logsum = nested_logit(cost, np.ones((1, 3), bool), s, np.array([0, 0, 1]),
                                np.array([lam, lam, 1.0]))
    v = -s * cost[0]
    iv = math.log(math.exp(v[0] / lam) + math.exp(v[1] / lam))
    den = math.exp(lam * iv) + math.exp(v[2])
    p_nest = math.exp(lam * iv) / den
    expect = [p_nest * math.exp(v[0] / lam - iv), p_nest * math.exp(v[1] / lam - iv),
              math.exp(v[2]) / den]
    assert prob[0] == pytest.approx(expect, rel=1e-12)
    assert logsum[0] == pytest.approx(math.log(den) / s, rel=1e-12)


def test_a_closed_alternative_is_never_drawn():
    prob, _ = nested_logit(np.array([[1.0, 2.0, 3.0]]), np.array([[True, False, True]]),
                           1.0, np.arange(3), np.ones(3))
    picks = draw_choice(prob[0], np.random.default_rng(1).random(10_000))
    assert 1 not in set(picks.tolist())


# -- the model --------------------------------------------------------------------------


def test_one_alternative_and_no_limit_is_the_fixed_demand_model():
    """A market with a single route and no booking limit books every box on that route at
    its booking time: box by box the same run as a fixed flow with the market's id."""
    raw = _raw()
    market = raw["markets"]["m"]
    fixed = copy.deepcopy(raw)
    for key in ("markets", "routes", "operators", "choice"):
        fixed.pop(key)
    fixed["legs"].pop("a_gw")
    fixed["nodes"].pop("gw")
    fixed["flows"] = {"m": {"route": raw["routes"]["corridor"]["route"],
                            "annual_teu": market["annual_teu"],
                            "feu_share": market["feu_share"], "study": True}}
    one = copy.deepcopy(fixed)
    one.pop("flows")
    one["routes"] = {"corridor": {k: v for k, v in raw["routes"]["corridor"].items()
                                  if k != "operator"}}
    one["markets"] = {"m": dict(market, alternatives=["corridor"], class_shares={})}
    a, b = _run(fixed), _run(one)
    ta, tb = a.table, b.table
    assert len(ta) == len(tb) > 1000
    for name in ("created_h", "ready_h", "arrive_h", "depart_h", "teu", "stage"):
        assert np.array_equal(getattr(ta, name), getattr(tb, name), equal_nan=True), name


def test_without_feedback_shares_are_the_closed_form_logit():
    """Fixed expectations, no limits: each class books each route with its logit
    probability, so the booked share is the class-weighted logit within binomial noise."""
    raw = _raw()
    raw["choice"]["feedback"] = False
    raw.pop("operators")
    raw["routes"]["corridor"].pop("operator")
    raw["markets"]["m"]["annual_teu"] = 60_000
    model = _run(raw)
    m = model.markets.markets[0]  # type: ignore[union-attr]
    made = m.times <= model.horizon_h
    expect = prior_shares(model.scenario, "m")
    n = int(made.sum())
    for j, rid in enumerate(m.alts):
        share = float((m.booked_alt[made] == j).mean())
        sd = math.sqrt(expect[rid] * (1 - expect[rid]) / n)
        assert abs(share - expect[rid]) < 4 * sd, (rid, share, expect[rid], sd)


def test_a_booking_limit_refuses_and_the_refused_go_elsewhere():
    raw = _raw()
    raw["operators"]["corridor_op"]["booking_limit_teu"] = 300
    raw["markets"]["m"]["annual_teu"] = 40_000
    model = _run(raw)
    m = model.markets.markets[0]  # type: ignore[union-attr]
    made = m.times <= model.horizon_h
    first, final = m.first_choice[made], m.booked_alt[made]
    corridor = m.alts.index("corridor")
    refused = (first == corridor) & (final != corridor)
    assert refused.sum() > 0
    assert np.all(final[refused] == m.alts.index("coarse"))  # the only other route
    # the record counts them: offered = booked + refused on the corridor, every month
    rec = model.markets.record(  # type: ignore[union-attr]
        model.horizon_h, lambda h: (np.asarray(h) // (24 * 30)).astype(np.int64), 5,
        model.delivered_mask(model.horizon_h))
    c = rec["m"]["alternatives"]["corridor"]
    assert np.allclose(c["offered_teu"], c["booked_teu"] + c["refused_teu"])


def test_a_congested_route_loses_share_while_its_backlog_grows():
    """Close the corridor's sea leg for 40 days: shippers learn of slow deliveries, the
    corridor's share falls below its share before the closure while its boxes pile up,
    and comes back after."""
    raw = _raw()
    raw["scenario"]["horizon_days"] = 260
    raw.pop("operators")
    raw["routes"]["corridor"].pop("operator")
    raw["disruptions"] = {"closure": {"kind": "window", "target": "fleets.f", "start_day": 60,
                                      "duration_days": 40, "factor": 0.0}}
    raw["choice"]["info_lag_days"] = 2
    raw["choice"]["info_window_days"] = 10
    raw["choice"]["prior_weight_boxes"] = 5
    model = _run(raw)
    m = model.markets.markets[0]  # type: ignore[union-attr]
    j = m.alts.index("corridor")
    t = np.array([d[0] for d in m.decisions]) / 24.0
    p = np.array([d[3] for d in m.decisions])  # class x alternative probabilities
    share = p[:, :, j].mean(axis=1)
    before = share[(t > 30) & (t < 60)].mean()
    during = share[(t > 85) & (t < 110)].mean()
    after = share[(t > 200) & (t < 250)].mean()
    assert during < before - 0.1
    assert after > during + 0.1
    # while its share falls, boxes pile up at the closed port
    series = model.nodes["p"].queue_for("pq")
    assert series is not None


def test_a_coarse_route_costs_no_events_per_box():
    """Every box on the coarse route: the run's events are the daily decisions and the
    watchdog's checks, however many boxes there are."""
    raw = _raw()
    raw["routes"]["corridor"]["closed_for"] = ["all"]
    events = []
    for teu in (10_000, 80_000):
        raw["markets"]["m"]["annual_teu"] = teu
        rec = run_replication(scenario_from_dict(copy.deepcopy(raw)), 0)
        events.append(rec["perf"]["events"])
        assert rec["perf"]["containers"] > 0.15 * teu  # 120 d of 1.8-TEU boxes
    assert events[0] == events[1]


def test_a_routes_carrier_owned_boxes_come_back_empty_and_only_its_own():
    """Empties follow the route a box chose: about empty_share of the boxes delivered on
    the corridor come back empty (binomial), none of the coarse route's."""
    raw = _raw()
    raw["nodes"]["depot"] = {"kind": "gateway"}
    raw["legs"]["z_depot"] = {"mode": "delay", "from": "z", "to": "depot", "transit_h": 48.0}
    raw["routes"]["corridor"].update(empty_share=0.4, empty_turn_h=24.0,
                                     empties_route=["z", "depot"])
    model = _run(raw)
    table = model.table
    ids = model.flow_ids
    corridor, coarse = ids.index("m:corridor"), ids.index("m:coarse")
    empties = ids.index("m:corridor:empties")
    end = model.horizon_h
    delivered = model.delivered_mask(end)
    # an empty box exists for a delivered corridor box iff its uniform is below 0.4
    parents = np.flatnonzero((table.flow == corridor) & delivered)
    made = table.created_h[table.flow == empties] <= end
    n = len(parents)
    expected = 0.4 * n
    assert abs(int(made.sum()) - expected) < 4 * math.sqrt(n * 0.4 * 0.6) + 5, (made.sum(), n)
    # the coarse route's deliveries made none (every created empty has a corridor parent)
    child = model.child_of
    from_coarse = child[(table.flow == coarse) & delivered]
    assert np.all((from_coarse < 0) | ~np.isfinite(table.created_h[np.maximum(from_coarse, 0)])
                  | (table.flow[np.maximum(from_coarse, 0)] != empties))


def test_a_demand_surge_raises_transit_and_lowers_share_then_recovers():
    """Triple the market's demand for 60 days: the corridor's queues grow, its boxes take
    longer, shippers learn it and its share falls while its backlog grows; once the surge
    has passed and the backlog cleared, the share comes back."""
    raw = _raw()
    raw["scenario"]["horizon_days"] = 330
    raw.pop("operators")
    raw["routes"]["corridor"].pop("operator")
    raw["changes"] = {"surge": {"day": 80.0, "set": {"markets.m.annual_teu": 150_000.0}},
                      "calm": {"day": 140.0, "set": {"markets.m.annual_teu": 20_000.0}}}
    raw["choice"].update(info_lag_days=2, info_window_days=10, prior_weight_boxes=5)
    model = _run(raw)
    m = model.markets.markets[0]  # type: ignore[union-attr]
    j = m.alts.index("corridor")
    t = np.array([d[0] for d in m.decisions]) / 24.0
    share = np.array([d[3] for d in m.decisions])[:, :, j] @ np.array([0.6, 0.4])
    expect = np.array([d[2][j] for d in m.decisions])
    backlog = model.markets.booked_teu  # type: ignore[union-attr]
    assert backlog is not None

    def mean(x, a, b):
        return float(x[(t >= a) & (t < b)].mean())

    assert mean(expect, 120, 150) > 1.5 * mean(expect, 40, 80)  # transit rose
    assert mean(share, 120, 150) < mean(share, 40, 80) - 0.05  # share fell ...
    assert mean(share, 280, 330) > mean(share, 120, 150) + 0.05  # ... and came back


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0.0, 400.0, allow_nan=False), min_size=1, max_size=300))
def test_p50_p95_is_numpys_percentile_bit_for_bit(values):
    """The shippers' learned median and P95 equal ``np.percentile`` exactly, so the faster
    path changes no choice."""
    a = np.array(values)
    assert p50_p95(a) == tuple(float(x) for x in np.percentile(a, [50.0, 95.0]))


def test_delivery_window_takes_exactly_the_boxes_delivered_in_it():
    rng = np.random.default_rng(4)
    log = _Deliveries()
    t_all, d_all = [], []
    for start in range(0, 2000, 50):  # chunks, each sorted, overlapping in time
        t = np.sort(rng.uniform(start, start + 120, 30))
        d = rng.uniform(10, 40, 30)
        log.add(t, d)
        t_all.append(t)
        d_all.append(d)
    t_all, d_all = np.concatenate(t_all), np.concatenate(d_all)
    for lo in (0.0, 300.0, 700.5, 1500.0):  # ascending, as the run asks
        hi = lo + 240.0
        expected = d_all[(t_all > lo) & (t_all <= hi)]
        assert np.array_equal(log.window(lo, hi), expected)
