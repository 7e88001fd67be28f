"""Components of the corridor model against hand-computed timelines.

Every scenario here is deterministic: durations are bare numbers (constants),
demand is block trains with ``headway_cv = 0`` and no weather unless a test is
about storms. ``sim.model.demand`` places regular block trains half a headway
into each unit of expected arrivals, so a flow of ``teu``-TEU block trains with
``annual_teu = 8760 * teu / H`` arrives at ``H/2, 3H/2, 5H/2, ...`` hours (see
:func:`block_flow`). All block trains are FEU only (``feu_share = 1``): a block
of 100 TEU is 50 boxes of 2 TEU, a train of 100 TEU takes 50 wagons of 2 TEU.

SimPy's ``run(until=horizon)`` stops before events scheduled at the horizon,
so nothing that would happen exactly at the horizon is stamped.


"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sim.errors import ScenarioError
from sim.model.corridor import CorridorModel, run_replication
from sim.model.weather import generate_storms
from sim.scenario.loader import scenario_from_dict
from sim.scenario.schema import Scenario

# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def block_flow(route: list[str], every_h: float, teu: float = 100.0, **extra: Any) -> dict:
    """Regular block trains of ``teu`` TEU (all FEU) at every_h/2 + k*every_h hours."""
    flow = {
        "route": route,
        "annual_teu": 8760.0 * teu / every_h,
        "arrivals": "block_train",
        "block_train_teu": teu,
        "feu_share": 1.0,
        "headway_cv": 0.0,
    }
    flow.update(extra)
    return flow


def scenario(
    nodes: dict, legs: dict, flows: dict, horizon_days: float, **tables: Any
) -> Scenario:
    settings = {"name": "component", "horizon_days": horizon_days, "seed": 3}
    settings.update(tables.pop("settings", {}))
    raw = {"scenario": settings, "nodes": nodes, "legs": legs, "flows": flows, **tables}
    return scenario_from_dict(raw)


def simulate(scn: Scenario, replication: int = 0) -> CorridorModel:
    """Run one replication to its end; conservation is checked like run_replication does."""
    model = CorridorModel(scn, replication)
    end_h, gridlock = model.run()
    assert gridlock is None, gridlock.where
    assert end_h == scn.scenario.horizon_days * 24.0
    model.check_conservation(end_h)
    return model


def stamps(values: np.ndarray) -> list[float]:
    """Distinct non-NaN time stamps, sorted (one per train/vessel batch here)."""
    return sorted(np.unique(values[~np.isnan(values)]).tolist())


def rail(frm: str, to: str, run_h: float, cap: float = 100.0, **extra: Any) -> dict:
    return {"mode": "rail", "from": frm, "to": to, "run_time_h": run_h,
            "train_capacity_teu": cap, **extra}


TERMINAL = {"kind": "terminal"}

# --------------------------------------------------------------------------------------
# a. one rail leg, full dispatch, fixed run time
# --------------------------------------------------------------------------------------


def test_single_rail_leg_stamps_and_delivery():
    # Blocks of 100 TEU every 24 h arrive at a at 12, 36, 60, 84 (horizon 96 h).
    # Each block fills a 100-TEU train exactly, so (rule "full") it leaves at once:
    #   depart a = 12, 36, 60, 84;  arrive b = depart + run 10 = 22, 46, 70, 94.
    # At b: handling 3 h (unlimited tracks), clearance 5 h per train, dwell 2 h per box:
    #   delivered = arrive + 3 + 5 + 2 = 32, 56, 80; the 4th would finish at 104 > 96.
    nodes = {"a": TERMINAL,
             "b": {"kind": "terminal", "train_handling_h": 3, "clearance_h": 5, "dwell_h": 2}}
    scn = scenario(nodes, {"ab": rail("a", "b", 10)}, {"f": block_flow(["a", "b"], 24)}, 4)
    model = simulate(scn)
    t = model.table
    assert len(t) == 4 * 50
    assert stamps(t.created_h) == pytest.approx([12, 36, 60, 84])
    assert stamps(t.depart_h[:, 0]) == pytest.approx([12, 36, 60, 84])
    assert stamps(t.arrive_h[:, 1]) == pytest.approx([22, 46, 70, 94])
    assert stamps(t.depart_h[:, 1]) == pytest.approx([32, 56, 80])
    # box by box: every box rode the train of its own block
    np.testing.assert_allclose(t.depart_h[:, 0], t.created_h)
    np.testing.assert_allclose(t.arrive_h[:, 1], t.created_h + 10)
    assert model.rail_legs["ab"].departures_h == pytest.approx([12, 36, 60, 84])
    assert model.rail_legs["ab"].departure_teu == [100, 100, 100, 100]

    # the record agrees: 3 trains delivered, each box in transit 10 + 3 + 5 + 2 = 20 h
    rec = run_replication(scn, 0)
    flow = rec["flows"]["f"]
    assert flow["created_teu"] == 400 and flow["delivered_teu"] == 300
    assert flow["in_system_teu_end"] == 100
    assert flow["transit_days_mean"] == pytest.approx(20 / 24)


# --------------------------------------------------------------------------------------
# b. line capacity
# --------------------------------------------------------------------------------------


def test_paths_per_day_space_a_burst_of_trains():
    # One block of 500 TEU at 50 h (every_h = 100, horizon 96 h: only one block).
    # Five 100-TEU trains are ready at once; 4 paths/day means one departure every
    # 24/4 = 6 h: 50, 56, 62, 68, 74; arrivals 10 h later.
    scn = scenario({"a": TERMINAL, "b": TERMINAL},
                   {"ab": rail("a", "b", 10, paths_per_day=4)},
                   {"f": block_flow(["a", "b"], 100, teu=500)}, 4)
    model = simulate(scn)
    t = model.table
    assert stamps(t.created_h) == pytest.approx([50])
    assert model.rail_legs["ab"].departures_h == pytest.approx([50, 56, 62, 68, 74])
    assert stamps(t.depart_h[:, 0]) == pytest.approx([50, 56, 62, 68, 74])
    assert stamps(t.arrive_h[:, 1]) == pytest.approx([60, 66, 72, 78, 84])
    assert np.diff(model.rail_legs["ab"].departures_h) == pytest.approx([6.0] * 4)
    assert model.rail_legs["ab"].departure_teu == [100] * 5


# --------------------------------------------------------------------------------------
# c. wagon pool
# --------------------------------------------------------------------------------------


def test_wagon_pool_for_one_train_makes_the_second_wait():
    # One block of 200 TEU at 50 h -> two 100-TEU trains ready at once.
    # The pool has 50 wagons of 2 TEU = exactly one train.
    # Train 1: leaves 50, arrives b 60, unloaded 60 + 3 (handling) = 63, its wagons run
    # back empty 7 h and rejoin the pool at 70.  Train 2 leaves at 70 = 50 + 10 + 3 + 7,
    # arrives 80, unloaded 83, wagons back at 90.
    nodes = {"a": TERMINAL, "b": {"kind": "terminal", "train_handling_h": 3}}
    legs = {"ab": rail("a", "b", 10, return_time_h=7, wagon_pool="w")}
    scn = scenario(nodes, legs, {"f": block_flow(["a", "b"], 100, teu=200)}, 5,
                   wagon_pools={"w": {"wagons": 50, "teu_per_wagon": 2}})
    model = simulate(scn)
    t = model.table
    assert model.rail_legs["ab"].departures_h == pytest.approx([50, 70])
    assert stamps(t.arrive_h[:, 1]) == pytest.approx([60, 80])
    assert stamps(t.depart_h[:, 1]) == pytest.approx([63, 83])
    out = model.pools["w"].out
    # 50 wagons out from 50 h; at 70 one train's wagons come back and the next take them
    # (same instant: the level stays 50); all back at 90.
    assert out.times == pytest.approx([0, 50, 70, 90])
    assert out.levels == [0, 50, 50, 0]


# --------------------------------------------------------------------------------------
# d. timetable dispatch
# --------------------------------------------------------------------------------------


def test_timetable_leaves_on_schedule_with_what_is_ready():
    # Slots at offset 5 + k * 12 = 5, 17, 29, 41, 53, 65 (horizon 72 h).
    # Blocks of 150 TEU (75 FEU) at 12, 36, 60; trains hold 100 TEU.
    #   slot  5: nothing ready          -> no train
    #   slot 17: 150 ready -> 100 TEU   (50 left)
    #   slot 29: 50 ready  ->  50 TEU   (a partial train)
    #   slot 41: block of 36 -> 100, slot 53 -> 50, slot 65: block of 60 -> 100.
    legs = {"ab": rail("a", "b", 10,
                       dispatch={"rule": "timetable", "interval_h": 12, "offset_h": 5})}
    scn = scenario({"a": TERMINAL, "b": TERMINAL}, legs,
                   {"f": block_flow(["a", "b"], 24, teu=150)}, 3)
    model = simulate(scn)
    leg = model.rail_legs["ab"]
    assert leg.departures_h == pytest.approx([17, 29, 41, 53, 65])
    assert leg.departure_teu == [100, 50, 100, 50, 100]
    # arrivals 10 h later; the 65 h train would arrive at 75 > horizon 72
    assert stamps(model.table.arrive_h[:, 1]) == pytest.approx([27, 39, 51, 63])
    # the last 50 TEU of the third block wait for the 77 h slot (after the horizon)
    assert int(np.isnan(model.table.depart_h[:, 0]).sum()) == 25


# --------------------------------------------------------------------------------------
# e. full-or-timeout dispatch
# --------------------------------------------------------------------------------------


def test_full_or_timeout_leaves_at_timeout_when_it_cannot_fill():
    # Blocks of 60 TEU every 48 h (at 24 and 72); trains hold 100, timeout 20 h.
    # A block never fills a train, so each leaves 20 h after its first box was ready:
    # 24 + 20 = 44 and 72 + 20 = 92, each with 60 TEU.
    legs = {"ab": rail("a", "b", 10, dispatch={"rule": "full_or_timeout", "timeout_h": 20})}
    scn = scenario({"a": TERMINAL, "b": TERMINAL}, legs,
                   {"f": block_flow(["a", "b"], 48, teu=60)}, 4)
    leg = simulate(scn).rail_legs["ab"]
    assert leg.departures_h == pytest.approx([44, 92])
    assert leg.departure_teu == [60, 60]


def test_full_or_timeout_leaves_full_before_the_timeout():
    # Blocks of 60 TEU every 16 h at 8, 24, 40, 56, 72, 88; trains hold 100, timeout 20.
    #  8: 60 ready; full at 24 (120 >= 100) comes before 8 + 20 = 28 -> leaves 24 with
    #     100 (FIFO: 30 FEU of block 1 + 20 of block 2), 20 TEU left, ready since 24.
    # 24: full only at 56 (20+60+60); timeout 24 + 20 = 44 -> leaves 44 with 20+60 = 80.
    # 56: 60 ready; full at 72, timeout 76 -> leaves 72 with 100, 20 left (ready 72).
    # 72: full at 104, timeout 92 -> leaves 92 with 20 + 60 = 80.
    legs = {"ab": rail("a", "b", 10, dispatch={"rule": "full_or_timeout", "timeout_h": 20})}
    scn = scenario({"a": TERMINAL, "b": TERMINAL}, legs,
                   {"f": block_flow(["a", "b"], 16, teu=60)}, 4)
    leg = simulate(scn).rail_legs["ab"]
    assert leg.departures_h == pytest.approx([24, 44, 72, 92])
    assert leg.departure_teu == [100, 80, 100, 80]


# --------------------------------------------------------------------------------------
# f. vessel shuttle
# --------------------------------------------------------------------------------------


def test_single_vessel_shuttle_cycle():
    # One vessel of 100 TEU on p -> q (sail 20 h, back 16 h), rule "full".
    # Port p: 2 cranes x 25 TEU/h = 50 TEU/h, vessel_fixed 2 h -> a call of 100 TEU
    #   takes 2 + 100/50 = 4 h.  Port q: 1 crane x 50 TEU/h, vessel_fixed 1 h ->
    #   unloading 100 TEU takes 1 + 2 = 3 h.  Cycle = 4 + 20 + 3 + 16 = 43 h.
    # Blocks of 100 TEU every 24 h at 12, 36, 60, ... (the vessel is the bottleneck):
    #   sailing 1: cargo 12 -> loaded 16, arrives q 36, delivered 39, back at p 55
    #   sailing 2: (cargo since 36) 55 -> loaded 59, arrives 79, delivered 82, back 98
    #   sailing 3: (cargo since 60) 98 -> loaded 102, arrives 122, delivered 125, back 141
    #   sailing 4 would be loaded at 145 > horizon 144.
    nodes = {
        "p": {"kind": "port", "cranes_per_berth": 2, "crane_rate_teu_per_h": 25,
              "vessel_fixed_h": 2},
        "q": {"kind": "port", "cranes_per_berth": 1, "crane_rate_teu_per_h": 50,
              "vessel_fixed_h": 1},
    }
    legs = {"pq": {"mode": "sea", "from": "p", "to": "q", "sail_time_h": 20,
                   "return_time_h": 16}}
    fleets = {"f": {"leg": "pq", "vessels": 1, "capacity_teu": 100}}
    scn = scenario(nodes, legs, {"x": block_flow(["p", "q"], 24)}, 6, fleets=fleets)
    model = simulate(scn)
    t = model.table
    assert stamps(t.depart_h[:, 0]) == pytest.approx([16, 59, 102])
    assert stamps(t.arrive_h[:, 1]) == pytest.approx([36, 79, 122])
    assert stamps(t.depart_h[:, 1]) == pytest.approx([39, 82, 125])
    assert np.diff(stamps(t.depart_h[:, 0])) == pytest.approx([43, 43])
    rec = run_replication(scn, 0)
    assert rec["fleets"]["f"]["sailings"] == 3 and rec["fleets"]["f"]["teu"] == 300
    assert rec["legs"]["pq"]["departures"] == 3
    # box by box: the k-th block sails on the k-th call
    k = np.round((t.created_h - 12) / 24).astype(int)
    sailed = k < 3
    np.testing.assert_allclose(t.depart_h[sailed, 0], 16 + 43 * k[sailed])


# --------------------------------------------------------------------------------------
# f2. storms close ports to departures
# --------------------------------------------------------------------------------------


def _merged(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _next_open(t: float, closures: list[tuple[float, float]]) -> float:
    for a, b in closures:
        if a <= t < b:
            return b
    return t


def test_storms_stop_departures_at_sensitive_ports_only():
    # Two identical shuttles in the same weather region: port p closes in every storm
    # (sensitivity 1: severity ~ U(0,1) < 1), port p0 in none (sensitivity 0).
    # Sailing time is fixed (10 h), so a batch sailed at arrive_h[:, 1] - 10.
    # A loaded vessel leaves the berth when loading ends (the berth monitor drops) and
    # waits at anchorage for the storm to pass (sea.py step 3); depart_h[:, 0] is the
    # sailing, so the storm wait counts as time at the port.
    sail = 10.0
    nodes = {
        "p": {"kind": "port", "weather_region": "sea", "storm_sensitivity": 1.0,
              "crane_rate_teu_per_h": 10},
        "p0": {"kind": "port", "weather_region": "sea", "storm_sensitivity": 0.0,
               "crane_rate_teu_per_h": 10},
        "q": {"kind": "port", "crane_rate_teu_per_h": 100},
        "q0": {"kind": "port", "crane_rate_teu_per_h": 100},
    }
    legs = {"pq": {"mode": "sea", "from": "p", "to": "q", "sail_time_h": sail},
            "p0q0": {"mode": "sea", "from": "p0", "to": "q0", "sail_time_h": sail}}
    fleets = {"f": {"leg": "pq", "vessels": 2, "capacity_teu": 40},
              "f0": {"leg": "p0q0", "vessels": 2, "capacity_teu": 40}}
    weather = {"sea": {"storm_rate_per_month": [6] * 12,
                       "storm_duration_h": {"dist": "uniform", "low": 12, "high": 60}}}
    flows = {"x": {"route": ["p", "q"], "annual_teu": 30000},
             "y": {"route": ["p0", "q0"], "annual_teu": 30000}}
    scn = scenario(nodes, legs, flows, 90, fleets=fleets, weather=weather)
    model = simulate(scn)
    horizon_h = 90 * 24.0
    storms = generate_storms("sea", scn.weather["sea"], scn.scenario.seed, 0, horizon_h)
    assert len(storms.start_h) >= 10  # the test is only meaningful with storms
    closures = _merged(
        [(float(a), float(a + d)) for a, d in zip(storms.start_h, storms.duration_h,
                                                   strict=True)]
    )
    t = model.table

    def stamped(flow_index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = (t.flow == flow_index) & ~np.isnan(t.arrive_h[:, 1])
        return t.depart_h[rows, 0], t.arrive_h[rows, 1] - sail

    def loading_ends(fleet: str) -> np.ndarray:
        f = model.fleets[fleet]
        return np.asarray(f.departures_h) - np.asarray(f.held_h)

    # the containers' departure stamp is the sailing
    for flow_index in (0, 1):
        dep, crossed = stamped(flow_index)
        np.testing.assert_allclose(dep, crossed)

    # sensitive port: a loaded vessel sails when loading is done, or when the storm
    # blowing at that moment is over -- never inside a storm
    loaded = loading_ends("f")
    sailed = np.asarray(model.fleets["f"].departures_h)
    assert len(sailed) > 100
    expected = [_next_open(lo, closures) for lo in loaded]
    np.testing.assert_allclose(sailed, expected)
    assert not any(any(a <= s < b for a, b in closures) for s in sailed)
    assert any(any(a <= lo < b for a, b in closures) for lo in loaded), (
        "no vessel finished loading during a storm: the closure was not exercised"
    )
    # sheltered port: never closed, so vessels sail as soon as they are loaded -- also
    # in the middle of storms
    loaded0 = loading_ends("f0")
    sailed0 = np.asarray(model.fleets["f0"].departures_h)
    np.testing.assert_allclose(sailed0, loaded0)
    assert any(any(a <= s < b for a, b in closures) for s in sailed0)
    assert model.nodes["p0"].departures_open.constant


# --------------------------------------------------------------------------------------
# g. finite yard back-pressure
# --------------------------------------------------------------------------------------


def test_full_yard_holds_trains_and_their_wagons():
    # Blocks of 100 TEU every 24 h at a: 12, 36, 60, 84, 108, 132 (horizon 144 h).
    # Pool of 100 wagons = two trains.  Run 10 h, empty return 10 h.
    # Destination b: yard 150 TEU (one train fits, two do not), boxes dwell 48 h.
    # T1 leaves 12, arrives 22, unloads at once (yard 100), delivered 70;
    #    wagons back at 22 + 10 = 32.
    # T2 leaves 36 (50 wagons free), arrives 46: yard has 50 free -> waits, wagons
    #    held, until T1's boxes leave at 70; unloads 70, delivered 118, wagons back 80.
    # T3 leaves 60 (T1's wagons), arrives 70, queued behind T2 -> unloads at 118
    #    (T2's boxes leave), delivered 166 (stamped ahead), wagons back 128.
    # T4 leaves 84 (T2's wagons, back at 80), arrives 94, waits for T3's boxes (166).
    # T5 is ready at 108 but both trains' wagons are held at b: leaves at 128.
    # T6 (132) gets no wagons before the horizon.
    nodes = {"a": TERMINAL,
             "b": {"kind": "terminal", "yard_capacity_teu": 150, "dwell_h": 48}}
    legs = {"ab": rail("a", "b", 10, return_time_h=10, wagon_pool="w")}
    scn = scenario(nodes, legs, {"f": block_flow(["a", "b"], 24)}, 6,
                   wagon_pools={"w": {"wagons": 100}})
    model = simulate(scn)
    t = model.table
    assert model.rail_legs["ab"].departures_h == pytest.approx([12, 36, 60, 84, 128])
    arrive = t.arrive_h[:, 1]
    assert stamps(arrive) == pytest.approx([22, 46, 70, 94, 138])
    assert stamps(t.depart_h[:, 1]) == pytest.approx([70, 118, 166])
    unloaded = t.depart_h[:, 1] - 48  # clearance 0, dwell 48
    done = ~np.isnan(unloaded)
    assert stamps(unloaded) == pytest.approx([22, 70, 118])
    waited = unloaded[done] - arrive[done]
    assert sorted(np.unique(waited).tolist()) == pytest.approx([0, 24, 48])
    # the yard monitor never exceeds the capacity (one train at a time here)
    yard = model.nodes["b"].yard
    assert max(yard.monitor.levels) == 100 <= yard.capacity
    assert min(yard.monitor.levels) >= 0
    # upstream wagons: both trains' worth held from 84 on (T3, T4 waiting at b)
    out = model.pools["w"].out
    assert max(out.levels) == 100
    assert list(zip(out.times, out.levels, strict=True)) == [
        (0, 0), (12, 50), (32, 0), (36, 50), (60, 100), (80, 50), (84, 100), (128, 100)
    ]


# --------------------------------------------------------------------------------------
# h. capacity-factor window
# --------------------------------------------------------------------------------------


def test_closure_window_on_a_rail_leg_stops_departures():
    # Blocks of 100 TEU every 24 h at 12, 36, 60, 84, 108, 132 (horizon 144).
    # Leg ab closed (factor 0) from day 2 for 2 days: [48, 96) h.
    # Trains of 12 and 36 leave on time; those ready at 60 and 84 form, keep their
    # boxes, and both leave when the line reopens at 96; then 108 and 132 on time.
    legs = {"ab": rail("a", "b", 10)}
    dis = {"shut": {"kind": "window", "target": "legs.ab", "start_day": 2,
                    "duration_days": 2, "factor": 0.0}}
    scn = scenario({"a": TERMINAL, "b": TERMINAL}, legs,
                   {"f": block_flow(["a", "b"], 24)}, 6, disruptions=dis)
    model = simulate(scn)
    dep = model.rail_legs["ab"].departures_h
    assert dep == pytest.approx([12, 36, 96, 96, 108, 132])
    assert not any(48 <= d < 96 for d in dep)
    # boxes created at 60 and 84 waited for the reopening
    t = model.table
    late = (t.created_h > 48) & (t.created_h < 96)
    assert np.all(t.depart_h[late, 0] == 96)


def test_closure_window_with_paths_per_day_spaces_the_backlog():
    # Same as above with 4 paths/day (6 h apart): the backlog leaves at 96 and 102,
    # the train of 108 then at 108 (the path after 102 is free from 108).
    legs = {"ab": rail("a", "b", 10, paths_per_day=4)}
    dis = {"shut": {"kind": "window", "target": "legs.ab", "start_day": 2,
                    "duration_days": 2, "factor": 0.0}}
    scn = scenario({"a": TERMINAL, "b": TERMINAL}, legs,
                   {"f": block_flow(["a", "b"], 24)}, 6, disruptions=dis)
    dep = simulate(scn).rail_legs["ab"].departures_h
    assert dep == pytest.approx([12, 36, 96, 102, 108, 132])


# --------------------------------------------------------------------------------------
# i. gridlock
# --------------------------------------------------------------------------------------


def _berth_deadlock_scenario(horizon_days: float = 30) -> Scenario:
    """p -sea-> q -sea-> r with one berth at q and a q yard of 150 TEU.

    Cranes 100 TEU/h everywhere (a 100-TEU call loads/unloads in 1 h), sail 10 h.
    Fleet f (p->q): 2 vessels of 100 TEU; fleet g (q->r): 1 vessel, closed days 0-5.
    Blocks of 100 TEU at p at 12, 36, 60, ...
      f1 loads 12-13, arrives q 23, unloads 23-24 (yard 100), returns.
      f2 loads 36-37, arrives q 47, unloads the 50 TEU that fit (yard 150/150) and
         waits for space *holding q's only berth*.
      f1 loads again 60-61 (the last movement), arrives q 71, waits for the berth.
      g reopens at 120, takes 100 TEU of q's queue and waits for the berth: it could
         free the yard only by loading at that berth -> deadlock since 61 h.
    The watchdog checks every 24 h; it counts the stall from g's reopening at 120 h
    (a closure explains the standstill before), so it fires at the 312 h check.
    """
    nodes = {
        "p": {"kind": "port", "crane_rate_teu_per_h": 100},
        "q": {"kind": "port", "berths": 1, "yard_capacity_teu": 150,
              "crane_rate_teu_per_h": 100},
        "r": {"kind": "port", "crane_rate_teu_per_h": 100},
    }
    legs = {"pq": {"mode": "sea", "from": "p", "to": "q", "sail_time_h": 10},
            "qr": {"mode": "sea", "from": "q", "to": "r", "sail_time_h": 10}}
    fleets = {"f": {"leg": "pq", "vessels": 2, "capacity_teu": 100},
              "g": {"leg": "qr", "vessels": 1, "capacity_teu": 100}}
    dis = {"g_late": {"kind": "window", "target": "fleets.g", "start_day": 0,
                      "duration_days": 5}}
    return scenario(nodes, legs, {"x": block_flow(["p", "q", "r"], 24)}, horizon_days,
                    fleets=fleets, disruptions=dis)


def test_true_deadlock_is_reported_as_gridlock():
    rec = run_replication(_berth_deadlock_scenario(), 0)
    grid = rec["gridlock"]
    assert grid is not None
    # the last movement was at 61 h, but until fleet g's closure lifted at 120 h the
    # standstill was explained by that closure: the stall clock starts at 120 h, and
    # the first daily check more than 7 days (168 h) later is at 312 h
    assert grid["since_day"] == pytest.approx(120 / 24)
    assert grid["detected_day"] == pytest.approx(13.0)
    assert rec["end_h"] == pytest.approx(312.0)
    assert any(w.startswith("q:") and "yard 150/150" in w for w in grid["where"])
    # conservation at the gridlock time (run_replication checked it box by box)
    s = rec["system"]
    assert s["created_teu"] == s["delivered_teu"] + s["in_system_teu_end"]


def test_berth_deadlock_stops_all_movement():
    # The same deadlock observed without relying on gridlock detection: run to 9 days
    # (before the watchdog's 240 h check): nothing moves after 61 h.
    model = simulate(_berth_deadlock_scenario(horizon_days=9))
    assert model.last_move_h == pytest.approx(61.0)
    assert stamps(model.table.depart_h[:, 0]) == pytest.approx([13, 37, 61])
    assert stamps(model.table.depart_h[:, 1]) == []  # nothing ever left q
    q = model.nodes["q"]
    assert q.yard.occupied == 150 == q.yard.capacity
    assert q.berths.busy.level == 1


def test_long_temporary_closure_is_not_gridlock():
    # Leg ab closed for 9.75 days (> gridlock_days = 7): from 48 h to 282 h (between two
    # watchdog ticks, so no same-instant tie-break is involved). Trains formed meanwhile
    # wait with their boxes and all leave at 282; the run reaches its horizon and all
    # 16 blocks (12 ... 372 h) are delivered by 372 + 10 = 382 < 384 h.
    dis = {"shut": {"kind": "window", "target": "legs.ab", "start_day": 2,
                    "duration_days": 9.75}}
    scn = scenario({"a": TERMINAL, "b": TERMINAL}, {"ab": rail("a", "b", 10)},
                   {"f": block_flow(["a", "b"], 24)}, 16, disruptions=dis)
    model = simulate(scn)
    backlog = [d for d in model.rail_legs["ab"].departures_h if 48 <= d <= 282]
    assert backlog == [282] * 10  # blocks of 60, 84, ..., 276 h
    rec = run_replication(scn, 0)
    assert rec["gridlock"] is None
    assert rec["end_h"] == 16 * 24
    assert rec["legs"]["ab"]["departures"] == 16
    s = rec["system"]
    assert s["created_teu"] == 1600 and s["delivered_teu"] == 1600
    assert s["in_system_teu_end"] == 0


def test_leg_closed_for_good_feeding_a_finite_yard_is_gridlock():
    # a -> b -> c; bc closed from the start with no end. b's yard (150) takes the first
    # train (leaves a 12 h, unloaded 22 h); the second (36 h) waits at b holding its
    # wagons; with a pool of two trains (100 wagons) the third leaves at 60 h on the
    # first train's returned wagons and waits at b too. No movement after 60 h: the
    # watchdog should report a gridlock 7 days later.
    nodes = {"a": TERMINAL, "b": {"kind": "terminal", "yard_capacity_teu": 150},
             "c": TERMINAL}
    legs = {"ab": rail("a", "b", 10, wagon_pool="w"), "bc": rail("b", "c", 10)}
    dis = {"cut": {"kind": "factor", "target": "legs.bc", "factor": 0.0}}
    scn = scenario(nodes, legs, {"f": block_flow(["a", "b", "c"], 24)}, 60,
                   disruptions=dis, wagon_pools={"w": {"wagons": 100}})
    rec = run_replication(scn, 0)
    assert rec["system"]["delivered_teu"] == 0
    assert rec["gridlock"] is not None
    assert any(w.startswith("b:") for w in rec["gridlock"]["where"])


# --------------------------------------------------------------------------------------
# further bugs found while writing the cases above
# --------------------------------------------------------------------------------------


def test_empty_system_time_does_not_count_towards_gridlock():
    # One 50-TEU block every 20 days (first at day 10); trains of 100 leave on a 48 h
    # timeout: departures at 240 + 48 = 288 and 720 + 48 = 768.
    legs = {"ab": rail("a", "b", 10, dispatch={"rule": "full_or_timeout", "timeout_h": 48})}
    scn = scenario({"a": TERMINAL, "b": TERMINAL}, legs,
                   {"f": block_flow(["a", "b"], 480, teu=50)}, 35)
    rec = run_replication(scn, 0)
    assert rec["gridlock"] is None
    assert rec["legs"]["ab"]["departures"] == 2


def test_fleet_closure_lifting_is_not_gridlock():
    # Fleet closed days 2-12 ([48, 288) h). At 288 the vessel berths (2 h) and loads
    # 100 TEU at 10 TEU/h (10 h): it leaves at 300. The watchdog ticks at 288 and sees
    # no movement since 48 h and no closure active -> gridlock.
    nodes = {"p": {"kind": "port", "crane_rate_teu_per_h": 10, "vessel_fixed_h": 2},
             "q": {"kind": "port"}}
    legs = {"pq": {"mode": "sea", "from": "p", "to": "q", "sail_time_h": 20}}
    fleets = {"f": {"leg": "pq", "vessels": 1, "capacity_teu": 100}}
    dis = {"w": {"kind": "window", "target": "fleets.f", "start_day": 2,
                 "duration_days": 10}}
    scn = scenario(nodes, legs, {"x": block_flow(["p", "q"], 24)}, 20, fleets=fleets,
                   disruptions=dis)
    rec = run_replication(scn, 0)
    assert rec["gridlock"] is None
    assert rec["end_h"] == 480


def test_sea_leg_closure_stops_a_vessel_waiting_for_cargo():
    # Leg pq closed [48, 120) h. The vessel waits (rule full) since 0 h; the only block
    # (100 TEU) arrives at 72 h, inside the closure. Expected: loaded and sailing no
    # earlier than 120 h. Observed: loaded at 72 + 100/25 = 76 h and sailed at once.
    nodes = {"p": {"kind": "port"}, "q": {"kind": "port"}}
    legs = {"pq": {"mode": "sea", "from": "p", "to": "q", "sail_time_h": 20}}
    fleets = {"f": {"leg": "pq", "vessels": 1, "capacity_teu": 100}}
    dis = {"w": {"kind": "window", "target": "legs.pq", "start_day": 2,
                 "duration_days": 3}}
    scn = scenario(nodes, legs, {"x": block_flow(["p", "q"], 144)}, 8, fleets=fleets,
                   disruptions=dis)
    model = simulate(scn)
    sailed = stamps(model.table.arrive_h[:, 1] - 20)
    assert sailed and all(not 48 <= s < 120 for s in sailed), sailed


# -- configurations the validator accepts but the model cannot run --------------------


def _rejected_or_runs(raw_builder) -> dict | None:
    """Either validation rejects the scenario, or it runs and delivers something."""
    try:
        scn = raw_builder()
    except ScenarioError:
        return None
    rec = run_replication(scn, 0)
    assert rec["gridlock"] is None
    assert rec["system"]["delivered_teu"] > 0
    return rec


def test_wagon_pool_smaller_than_a_train_is_rejected_or_works():
    def build() -> Scenario:
        legs = {"ab": rail("a", "b", 10, wagon_pool="w")}
        return scenario({"a": TERMINAL, "b": TERMINAL}, legs,
                        {"f": block_flow(["a", "b"], 24)}, 20,
                        wagon_pools={"w": {"wagons": 10}})  # 20 TEU for a 100-TEU train

    _rejected_or_runs(build)


def test_train_smaller_than_a_box_is_rejected_or_works():
    def build() -> Scenario:
        return scenario({"a": TERMINAL, "b": TERMINAL}, {"ab": rail("a", "b", 10, cap=1)},
                        {"f": {"route": ["a", "b"], "annual_teu": 3000, "feu_share": 1.0}},
                        20)

    _rejected_or_runs(build)


def test_vessel_smaller_than_a_box_is_rejected_or_works():
    def build() -> Scenario:
        nodes = {"p": {"kind": "port"}, "q": {"kind": "port"}}
        legs = {"pq": {"mode": "sea", "from": "p", "to": "q", "sail_time_h": 5}}
        fleets = {"f": {"leg": "pq", "vessels": 1, "capacity_teu": 1.5}}
        return scenario(nodes, legs,
                        {"x": {"route": ["p", "q"], "annual_teu": 3000, "feu_share": 1.0}},
                        20, fleets=fleets)

    _rejected_or_runs(build)


def test_block_train_below_one_teu_is_rejected_or_works():
    def build() -> Scenario:
        flow = {"route": ["a", "b"], "annual_teu": 3000, "arrivals": "block_train",
                "block_train_teu": 0.4}
        return scenario({"a": TERMINAL, "b": TERMINAL}, {"ab": rail("a", "b", 10, cap=10)},
                        {"f": flow}, 20)

    _rejected_or_runs(build)


def test_full_train_longer_than_the_yard_is_rejected_or_works():
    def build() -> Scenario:
        nodes = {"a": TERMINAL, "b": {"kind": "terminal", "yard_capacity_teu": 150},
                 "c": TERMINAL}
        legs = {"ab": rail("a", "b", 10), "bc": rail("b", "c", 10, cap=120)}
        return scenario(nodes, legs, {"f": block_flow(["a", "b", "c"], 24)}, 30)

    _rejected_or_runs(build)


def test_empty_timetable_sailings_do_not_hide_a_stall():
    # a -> p by rail with a "full" train of 10 000 TEU that can never fill (about
    # 160 TEU arrive in 30 days); p -> q a ferry on a 24 h timetable with nothing to
    # carry. No container ever moves: gridlock is due after 7 days.
    nodes = {"a": TERMINAL, "p": {"kind": "port"}, "q": {"kind": "port"}}
    legs = {"ap": rail("a", "p", 10, cap=10_000),
            "pq": {"mode": "sea", "from": "p", "to": "q", "sail_time_h": 5}}
    fleets = {"f": {"leg": "pq", "vessels": 1, "capacity_teu": 100,
                    "dispatch": {"rule": "timetable", "interval_h": 24}}}
    scn = scenario(nodes, legs, {"x": {"route": ["a", "p", "q"], "annual_teu": 2000}}, 30,
                   fleets=fleets)
    # (today the ferry sails empty every 24 h and the run reaches its horizon)
    rec = run_replication(scn, 0)
    assert rec["system"]["delivered_teu"] == 0 < rec["system"]["created_teu"]
    assert rec["gridlock"] is not None


def test_event_count_is_the_number_of_events_scheduled():
    # the benchmark's events/box figure reads SimPy's event counter: check it counts
    from sim.model.corridor import CountingEnvironment

    env = CountingEnvironment()

    def proc():
        for _ in range(3):
            yield env.timeout(1.0)

    env.process(proc())  # Initialize, 3 timeouts, the process's own end: 5 events
    env.run()
    assert env.scheduled == 5
