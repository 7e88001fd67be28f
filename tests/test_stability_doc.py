"""docs/stability.md is what ``corridor stability`` writes today, and its hand formulas hold.

The first test regenerates the document (4 replications of the baseline's horizon and of
twice it, 2 workers) and compares it byte for byte with the committed file: it fails
as soon as a change to the model, the scenario or the formulas makes the file stale.
The others check one formula at a time against a computation written out here, and that
the command is robust (a stage it cannot compute is a note, a file it did not write is
not overwritten).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sim.cli import main
from sim.experiments.stability import HandModel, erlang_c, fmt_teu, hand_stages, raw_moment
from sim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "stability.md"
TINY = ROOT / "tests" / "scenarios" / "tiny.toml"


def test_docs_stability_md_is_what_the_command_writes(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the document names the scenario by its relative path
    out = tmp_path / "stability.md"
    assert main(["stability", "--out-md", str(out), "--workers", "2", "--quiet"]) == 0
    assert out.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8"), (
        "docs/stability.md is stale: run `corridor stability` (from the repository root) "
        "and commit the result"
    )


def _stage(hand, key):
    return next(s for s in hand.stages if s.key == key)


def test_fleet_capacity_is_n_c_f_over_the_cycle_built_by_hand():
    hand = hand_stages(load_scenario(TINY).model)
    # fleet f on p -> q: 3 vessels x 200 TEU x 0.9 = 180 usable TEU per sailing
    origin_call = 0 + 180 / (2 * 20)  # no vessel_fixed_h; 2 cranes x 20 TEU/h at p
    dest_call = 0 + 180 / (1 * 25)  # q: the defaults, 1 crane x 25 TEU/h
    sail = back = 20.0
    # storms at p (sensitivity 1): mean rate 16 storms/yr over 8760 h, D ~ tri(24, 48, 96):
    # E[D^2] = (24² + 48² + 96² + 24·48 + 24·96 + 48·96) / 6 = 3360 h², wait = λ E[D²] / 2
    storm_p = 16 / 8760 * 3360 / 2
    cycle = origin_call + sail + dest_call + back + 0 + storm_p + 0  # q has no weather
    capacity = 3 * 200 * 0.9 * 8760 / cycle
    demand = 20000 + 5000  # flows main and local both cross p -> q
    st = _stage(hand, "fleets.f")
    assert hand.cycles["f"].cycle_h == pytest.approx(cycle, rel=1e-12)
    assert st.capacity == pytest.approx(capacity, rel=1e-12)
    assert st.demand == pytest.approx(demand)
    assert st.rho == pytest.approx(demand / capacity, rel=1e-12)
    assert f"= **{fmt_teu(capacity)}**" in st.formula


def test_the_other_hand_formulas_of_the_tiny_scenario():
    hand = hand_stages(load_scenario(TINY).model)
    assert not hand.notes
    # line b -> p: 4 paths/day x 100 TEU x 365
    assert _stage(hand, "legs.bp").capacity == pytest.approx(4 * 100 * 365)
    # tracks at b: 2 tracks x 24 / 4 h x 100 TEU per (full) train x 365; only "main"
    # arrives by rail ("local" starts at b)
    tracks = _stage(hand, "nodes.b.tracks")
    assert tracks.capacity == pytest.approx(2 * 24 / 4 * 100 * 365)
    assert tracks.demand == pytest.approx(20000)
    # berths at p: one berth, a call of 180 TEU / 40 TEU/h; 25,000 / 180 calls a year
    berths = _stage(hand, "nodes.p.berths")
    assert berths.capacity == pytest.approx(1 * 8760 / 4.5 * 180)
    assert berths.rho == pytest.approx(25000 / 180 * 4.5 / 8760)
    # wagon pool w: 200 wagons x 2 TEU; round trip on ab = 50 + 4 (handling at b) + 50 h
    run = (40 + 50 + 70) / 3
    pool = _stage(hand, "wagon_pools.w")
    assert pool.capacity == pytest.approx(200 * 2 * 8760 / (run + 4 + run))
    # yard at q (delivered "local", and "main" on to z by a 12-h timetable): unloading
    # 180 TEU / 25 TEU/h, no clearance or dwell, then half a headway for "main"
    yard = _stage(hand, "nodes.q.yard")
    stay = (5000 * 180 / 25 + 20000 * (180 / 25 + 6)) / 25000
    assert yard.capacity == pytest.approx(800 * 8760 / stay)
    keys = {s.key for s in hand.stages}
    assert keys == {"fleets.f", "legs.bp", "nodes.b.tracks", "nodes.p.berths",
                    "nodes.q.berths", "nodes.p.yard", "nodes.q.yard", "wagon_pools.w"}


def test_boxes_arriving_together_fill_the_next_carrier_faster():
    hm = HandModel(load_scenario(TINY).model)
    # at p (no dwell) the boxes of one 100-TEU train are ready together: a 180-TEU vessel
    # then waits for 80 TEU more of the 25,000 TEU/yr stream, not for 180 (at most for
    # the fleet's 48-h timeout); the wait for a free vessel is the same in each case
    stream, _ = hm.departure_wait("p", "pq", 0.0)
    batched, how = hm.departure_wait("p", "pq", 100.0)
    full, _ = hm.departure_wait("p", "pq", 180.0)
    rate = 25000 / 8760
    assert stream - batched == pytest.approx(min(180 / rate, 48) / 2 - min(80 / rate, 48) / 2)
    assert stream - full == pytest.approx(min(180 / rate, 48) / 2)  # no wait to fill
    assert "in batches of 100" in how


def test_both_directions_and_a_dated_window(tmp_path):
    """The formulas follow whatever the scenario holds: a fleet back the other way, a flow
    the other way round, a window disruption counted over the measured window only."""
    path = tmp_path / "both_ways.toml"
    path.write_text(f"""
extends = "{TINY.as_posix()}"
[legs.qp]
mode = "sea"
from = "q"
to = "p"
sail_time_h = 25
[fleets.g]
leg = "qp"
vessels = 1
capacity_teu = 100
[flows.back]
route = ["q", "p"]
annual_teu = 3000
[disruptions.slow_b]
kind = "window"
target = "nodes.b"
start_day = 10
duration_days = 20
factor = 0.5
""", encoding="utf-8")
    hand = hand_stages(load_scenario(path).model)
    assert not hand.notes
    back = _stage(hand, "fleets.g")
    cycle = (0 + 100 / 25) + 25 + (0 + 100 / 40) + 25 + 0 + 0 + 16 / 8760 * 3360 / 2
    assert back.capacity == pytest.approx(1 * 100 * 8760 / cycle)
    assert back.demand == pytest.approx(3000)
    assert _stage(hand, "fleets.f").demand == pytest.approx(25000)  # not the way back
    # p's berths now load f and unload g: berth hours of both kinds of call
    berths = _stage(hand, "nodes.p.berths")
    assert berths.rho == pytest.approx((25000 / 180 * 4.5 + 3000 / 100 * 2.5) / 8760)
    # the window covers days 20-30 of the measured days 20-120 (warm-up 20): a = 1 - 0.1 x 0.5
    tracks = _stage(hand, "nodes.b.tracks")
    assert tracks.capacity == pytest.approx(2 * 24 / 4 * 100 * 365 * 0.95)
    assert "`slow_b`" in tracks.formula


def test_moments_and_erlang_c_against_closed_forms():
    scen = load_scenario(TINY).model
    tri = scen.weather["sea"].storm_duration_h  # tri(24, 48, 96)
    assert raw_moment(tri, 1) == pytest.approx(56.0)
    assert raw_moment(tri, 2) == pytest.approx(3360.0)
    lognormal = scen.nodes["b"].clearance_h  # median 12, p95 48
    sigma = math.log(4) / 1.6448536269514722
    assert raw_moment(lognormal, 2) == pytest.approx(144 * math.exp(2 * sigma**2))
    assert erlang_c(1, 0.6) == pytest.approx(0.6)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)


def test_a_stage_that_cannot_be_computed_is_a_note_not_a_crash():
    scen = load_scenario(TINY).model
    broken_fleet = scen.fleets["f"].model_copy(update={"turnaround_h": object()})
    scen = scen.model_copy(update={"fleets": {"f": broken_fleet}, "dated_changes": {"x": 1}})
    hand = hand_stages(scen)
    text = " ".join(hand.notes)
    assert "`pq`" in text and "no moments known" in text
    assert "`[dated_changes]` is not in the hand formulas" in text
    keys = {s.key for s in hand.stages}
    assert "fleets.f" not in keys and "legs.bp" in keys and "wagon_pools.w" in keys


def test_the_command_is_deterministic_and_names_itself(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    a, b = tmp_path / "a.md", tmp_path / "b.md"
    args = ["stability", "tests/scenarios/tiny.toml", "--replications", "2", "--quiet"]
    assert main([*args, "--out-md", str(a), "--workers", "1"]) == 0
    assert main([*args, "--out-md", str(b), "--workers", "2"]) == 0
    text = a.read_text(encoding="utf-8")
    assert text == b.read_text(encoding="utf-8")
    assert "`corridor stability tests/scenarios/tiny.toml --replications 2`" in text
    assert "## Horizon check" in text and "Parameters that are estimates" not in text
    # and it replaces its own file
    assert main([*args, "--out-md", str(a), "--workers", "1"]) == 0


def test_a_file_the_command_did_not_write_is_left_alone(tmp_path, capsys):
    mine = tmp_path / "notes.md"
    mine.write_text("my own notes\n", encoding="utf-8")
    assert main(["stability", str(TINY), "--out-md", str(mine), "--quiet"]) == 2
    assert mine.read_text(encoding="utf-8") == "my own notes\n"
    assert "--force" in capsys.readouterr().err


TWO_WAY_DATED = ROOT / "tests" / "scenarios" / "stability" / "two_way_dated.toml"
# tiny.toml + two_way.toml + the dated file: measured window days 20-200
WINDOW_DAYS = 200 - 20
LOCAL = (100 * 5000 + 80 * 7000) / WINDOW_DAYS  # `local` 5,000 TEU/yr, 7,000 from day 120
FORWARD = 20000 + LOCAL  # main + local on p -> q
BACK = 4000 + 0.5 * 20000  # east + the empties of main (empty_share 0.5) on q -> p


def test_empties_are_their_share_of_the_loaded_flow():
    hand = hand_stages(load_scenario(TWO_WAY_DATED).model)
    hm = HandModel(load_scenario(TWO_WAY_DATED).model)
    assert hm.flow_monthly["main_empties"].mean() == pytest.approx(0.5 * 20000)
    # the legs back carry the eastbound flow and the empties: 4,000 + 10,000
    assert hm.leg_demand("zq").mean() == pytest.approx(BACK)
    assert hm.leg_demand("ba").mean() == pytest.approx(BACK)
    assert not [n for n in hand.notes if "is not in the hand formulas" in n]


def test_a_dated_demand_level_is_time_weighted_over_the_measured_window():
    hand = hand_stages(load_scenario(TWO_WAY_DATED).model)
    hm = HandModel(load_scenario(TWO_WAY_DATED).model)
    assert hm.flow_monthly["local"].mean() == pytest.approx(LOCAL)
    assert any("`local`" in n and "time-weighted" in n for n in hand.notes)


def test_a_fleet_with_a_return_leg_adds_the_return_calls_to_its_cycle():
    hand = hand_stages(load_scenario(TWO_WAY_DATED).model)
    usable = 200 * 0.9
    sailings = FORWARD / usable  # full outbound loads
    r = BACK / sailings  # mean return load
    storm_p = 16 / 8760 * 3360 / 2  # p: 16 storms/yr, E[D²] = 3360 h²; q has no weather
    cycle = (
        usable / (2 * 20)  # load at p (2 cranes × 20 TEU/h, no vessel_fixed_h)
        + 20  # sail p -> q
        + usable / 25  # unload at q (1 crane × 25 TEU/h)
        + r / 25  # load the return cargo at q
        + 20  # sail back on qp
        + r / 40  # unload it at p
        + storm_p
    )
    c = hand.cycles["f"]
    assert c.back_leg == "qp"
    assert c.back_load == pytest.approx(r)
    assert c.cycle_h == pytest.approx(cycle, rel=1e-12)
    capacity = 3 * usable * 8760 / cycle
    st = _stage(hand, "fleets.f")
    assert st.capacity == pytest.approx(capacity, rel=1e-12)
    assert st.rho == pytest.approx(FORWARD / capacity, rel=1e-12)  # outbound binds
    assert f"return {fmt_teu(BACK)} / capacity = " in " ".join(st.notes)


def test_berths_count_the_return_calls_at_both_ports():
    hand = hand_stages(load_scenario(TWO_WAY_DATED).model)
    usable = 180
    sailings = FORWARD / usable
    r = BACK / sailings
    # p loads the outbound cargo and unloads the return; q the other way round
    p_hours = sailings * (usable / 40) + sailings * (r / 40)
    q_hours = sailings * (usable / 25) + sailings * (r / 25)
    assert _stage(hand, "nodes.p.berths").rho == pytest.approx(p_hours / 8760, rel=1e-12)
    assert _stage(hand, "nodes.q.berths").rho == pytest.approx(q_hours / 8760, rel=1e-12)
    assert _stage(hand, "nodes.p.berths").demand == pytest.approx(FORWARD + BACK)


def test_yards_of_a_return_leg_wait_for_the_next_return_call():
    hm = HandModel(load_scenario(TWO_WAY_DATED).model)
    hand = hand_stages(load_scenario(TWO_WAY_DATED).model)
    sailings = FORWARD / 180
    wait, how = hm.departure_wait("q", "qp")
    assert wait == pytest.approx(8760 / sailings / 2)
    assert "between return calls" in how
    # q's yard: the return boxes that came by rail from z wait for a call, then the loading
    ways = {(w.leg_in, w.leg_out): w for w in hand.yards["q"]}
    east = ways[("zq", "qp")]
    parts = {name: h for name, h, _ in east.parts}
    r = BACK / sailings
    assert parts["wait for departure"] == pytest.approx(wait)
    assert parts["loading call"] == pytest.approx(r / 25)
    assert {"nodes.p.yard", "nodes.q.yard"} <= {s.key for s in hand.stages}


def test_other_traffic_and_dated_paths_as_the_model_applies_them():
    hand = hand_stages(load_scenario(TWO_WAY_DATED).model)
    # b: round(2 × (1 − 0.5)) = 1 track of the 2
    tracks = _stage(hand, "nodes.b.tracks")
    assert tracks.capacity == pytest.approx(1 * 24 / 4 * 100 * 365)
    assert "round(2 × (1 − 0.5)) = 1 track" in tracks.formula
    # bp: 4 × 0.75 = 3 paths/day on days 20-70, 8 × 0.75 = 6 from day 70 to 200
    paths = (50 * 3 + 130 * 6) / WINDOW_DAYS
    line = _stage(hand, "legs.bp")
    assert line.capacity == pytest.approx(paths * 100 * 365)
    assert "inside the measured window" in " ".join(line.notes)


def test_a_backhaul_reuses_the_wagons_it_finds_waiting():
    hand = hand_stages(load_scenario(TWO_WAY_DATED).model)
    run = (40 + 50 + 70) / 3  # ab and ba, and ab's empty return
    f_teu, b_teu = 20000.0, BACK
    # boxes for ba wait ½ × min(100 TEU / (14,000 / 8760 TEU/h), 24 h timeout) = 12 h at b;
    # a forward train (20,000 / 100 a year) is unloaded meanwhile with probability q
    wait = min(100 / (b_teu / 8760), 24) / 2
    q = 1 - math.exp(-(f_teu / 100 / 8760) * wait)
    reused = min(f_teu, q * b_teu)
    hours = (f_teu * (run + 4)  # loaded run + handling at b
             + b_teu * (run + 0)  # backhaul run + handling at a (none)
             + reused * wait  # wagons kept at b while the backhaul train forms
             + (f_teu + b_teu - 2 * reused) * run)  # the rest run back / out empty
    capacity = 400 * 2 * 8760 / (hours / (f_teu + b_teu))
    pool = _stage(hand, "wagon_pools.w")
    assert pool.capacity == pytest.approx(capacity, rel=1e-12)
    assert pool.rho == pytest.approx(hours / (400 * 2 * 8760), rel=1e-12)


def test_the_defaults_are_the_source_tree_s_from_any_directory(tmp_path, monkeypatch):
    """Run from elsewhere, the default scenario, notes and output file are the source
    tree's, and the document names them from its root as it does from the root."""
    import argparse

    from sim.commands.stability import out_path, reproducing_command

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert out_path(argparse.Namespace(out_md=None)) == DOC
    given = argparse.Namespace(scenario=TINY, replications=4, overrides=[], no_notes=False,
                               notes=None)
    assert reproducing_command(given) == "corridor stability tests/scenarios/tiny.toml"
    out = tmp_path / "stability.md"
    assert main(["stability", "--replications", "1", "--workers", "1", "--quiet",
                 "--out-md", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "<!-- Generated by `corridor stability scenarios/baseline.toml --replications 1`" \
        in text
    assert "Generated from `scenarios/baseline.toml`" in text
    mark = "<!-- From here on: docs/stability_notes.md"
    assert mark in text  # the source tree's notes, as from the root
    assert text[text.index(mark):] == DOC.read_text(encoding="utf-8")[
        DOC.read_text(encoding="utf-8").index(mark):]
    assert not (elsewhere / "docs").exists()
