"""Traffic both ways: return cargo on the ships, backhauls on the wagons, empties.

tests/scenarios/two_way.toml is tests/scenarios/tiny.toml with an eastbound flow and the
empties of the westbound study flow, on the same ships (``return_leg``) and wagons
(``backhaul_of``).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np

from sim.model.corridor import CorridorModel, run_replication
from sim.scenario.loader import load_scenario, scenario_from_dict

TWO_WAY = Path(__file__).resolve().parent / "scenarios" / "two_way.toml"


def run(without_backhaul: bool = False, replication=0) -> tuple[CorridorModel, float]:
    resolved = copy.deepcopy(load_scenario(TWO_WAY).resolved)
    if without_backhaul:
        for leg in resolved["legs"].values():
            leg.pop("backhaul_of", None)
    model = CorridorModel(scenario_from_dict(resolved), replication)
    end, gridlock = model.run()
    assert gridlock is None
    model.check_conservation(end)
    return model, end


def test_conservation_box_by_box_both_ways_loaded_and_empty():
    model, end = run()
    t = model.table
    created = t.created_h <= end
    delivered = model.delivered_mask(end)
    inside = model.inside_indices(end)
    for fi, fid in enumerate(model.flow_ids):
        mine = t.flow == fi
        n_inside = int(np.isin(inside, np.flatnonzero(mine)).sum())
        assert int((created & mine).sum()) == int((delivered & mine).sum()) + n_inside, fid
    assert (t.flow[created] == model.flow_ids.index("main_empties")).any()
    assert (t.flow[created] == model.flow_ids.index("east")).any()


def test_carrier_owned_boxes_come_back_empty_after_their_turn():
    model, end = run()
    t = model.table
    main = model.flow_ids.index("main")
    parents = np.flatnonzero((t.flow == main) & (model.child_of >= 0))
    all_main = int((t.flow == main).sum())
    # the carrier-owned share is the scenario's 0.5, within binomial noise
    share, n = len(parents) / all_main, all_main
    assert abs(share - 0.5) <= 4 * math.sqrt(0.25 / n)
    children = model.child_of[parents]
    last = len(model.scenario.flows["main"].route) - 1
    delivered_at = t.depart_h[parents, last]
    done = delivered_at <= end
    # an empty box exists exactly when its loaded box was delivered, 2-7 days later
    assert np.all(np.isinf(t.created_h[children[~done]]))
    turn = t.created_h[children[done]] - delivered_at[done]
    assert turn.min() >= 48 - 1e-9 and turn.max() <= 168 + 1e-9
    assert np.all(t.teu[children] == t.teu[parents])


def test_ships_carry_return_cargo_on_the_way_back():
    model, end = run()
    fleet = model.fleets["f"]
    legs = np.array(fleet.departure_leg)
    assert (legs == "qp").sum() > 0
    assert (legs == "qp").sum() <= (legs == "pq").sum()  # only after an outbound crossing
    back = np.array(fleet.departure_teu)[legs == "qp"]
    assert back.max() <= fleet.nominal_teu + 1e-9
    # every box of the eastbound flows left q on one of these sailings
    t = model.table
    east = np.isin(t.flow, [model.flow_ids.index(f) for f in ("east", "main_empties")])
    left_q = east & (t.stage >= 2)
    assert left_q.any()
    assert model.sea_legs["qp"].departures_h == [
        h for h, leg in zip(fleet.departures_h, fleet.departure_leg, strict=True) if leg == "qp"
    ]


def test_wagons_carry_backhauls_before_running_back_empty():
    """The same eastbound traffic costs fewer wagon-hours when trains take the wagons
    unloaded at their origin than when every eastbound train draws wagons that first
    run there empty (common random numbers: same demand, same draws)."""
    shared, _ = run()
    assert shared.pools["w"].reused > 0 and shared.pools["w2"].reused > 0
    separate, _ = run(without_backhaul=True)
    assert separate.pools["w"].reused == 0
    for pid in ("w", "w2"):
        a = shared.pools[pid].out.mean(20 * 24.0, 200 * 24.0)
        b = separate.pools[pid].out.mean(20 * 24.0, 200 * 24.0)
        assert a < b, pid


def test_two_way_record_counts_empty_teu_per_leg():
    rec = run_replication(load_scenario(TWO_WAY).model, 0)
    assert rec["gridlock"] is None


def small_yards(wagons: dict[str, int]) -> object:
    resolved = copy.deepcopy(load_scenario(TWO_WAY).resolved)
    for node, teu in (("p", 600), ("q", 800)):
        resolved["nodes"][node]["yard_capacity_teu"] = teu
    for pool, n in wagons.items():
        resolved["wagon_pools"][pool]["wagons"] = n
    return scenario_from_dict(resolved)


def test_ships_coming_home_exchange_loads_instead_of_blocking_the_berth():
    """With the yards of tiny.toml (p 600 TEU, one berth) the return crossings fill p's
    yard; a ship coming home loads its next outbound batch first and discharges into the
    space it freed (a dual-cycle call), so the corridor keeps moving."""
    scen = small_yards({"w": 400, "w2": 400})
    for r in range(3):
        model = CorridorModel(scen, r)
        end, gridlock = model.run()
        model.check_conservation(end)
        assert gridlock is None and end == scen.scenario.horizon_days * 24
        assert model.fleets["f"].departure_leg.count("qp") > 0


def test_a_yard_deadlock_is_reported_while_other_traffic_moves():
    """Far too few wagons on q -> z (100): loaded eastbound trains wait at q for yard space
    holding the wagons the westbound trains need to empty it. Dual cycles swap loads for
    space but free none, so q stays full, the ship waiting there to discharge holds p's
    trade, and p fills. Other flows still move, so only the check of stuck yards can see
    it: a gridlock naming a yard, not a quiet standstill."""
    model = CorridorModel(small_yards({"w": 200, "w2": 100}), 0)
    end, gridlock = model.run()
    model.check_conservation(end)
    assert gridlock is not None and end < 200 * 24
    assert gridlock.where[0].startswith("yard at ")
    assert "full since day" in gridlock.where[0]


def _without_dual_cycles(model: CorridorModel) -> CorridorModel:
    for leg in model.rail_legs.values():
        leg.swap_legs, leg.swap_from = [], set()
    return model


def test_a_train_dual_cycle_breaks_the_aktau_yard_wagon_jam():
    """Replication 6 of growth_2030_ships jams at Aktau in 2030 without dual cycles: the yard
    is full of eastbound boxes that need KTZ wagons, and the wagons sit on westbound trains
    waiting for yard space to unload. With them, the eastbound loads waiting for wagons go
    on those trains' wagons, their space takes the trains' boxes, and the run goes on."""
    path = Path(__file__).resolve().parents[1] / "scenarios" / "growth_2030_ships.toml"
    scen = load_scenario(path).model
    jammed = _without_dual_cycles(CorridorModel(scen, 6))
    end, gridlock = jammed.run()
    assert gridlock is not None and gridlock.where[0].startswith("yard at aktau full")
    model = CorridorModel(scen, 6)
    end, gridlock = model.run()
    assert gridlock is None and end == scen.scenario.horizon_days * 24
    model.check_conservation(end)
    ktz = [leg for leg in model.rail_legs.values() if leg.origin.id == "aktau"]
    assert sum(leg.dual_cycle_loads for leg in ktz) > 0


def test_dual_cycles_keep_yards_wagons_and_boxes_whole():
    """Small yards and few wagons on q <-> z: trains waiting at q for space take the loads
    waiting there for their pool's wagons. Every box is accounted for, no yard or pool goes
    past its size or below 0 (the invariant monitors raise), and each load that left that
    way ran."""
    for r in range(3):
        model = CorridorModel(small_yards({"w": 200, "w2": 120}), r)
        end, _ = model.run()
        model.check_conservation(end)
        assert 0 <= model.invariants.tally["wagons out w2"] <= 120
        qz = model.rail_legs["qz"]
        assert qz.dual_cycle_loads > 0
        assert len(qz.departures_h) >= qz.dual_cycle_loads
