"""Executors, the replications algorithm, paired comparisons, sweeps and economics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from sim.cli import main
from sim.experiments.compare import build_comparison
from sim.experiments.economics import (
    capacity_flows,
    corridor_capacity,
    route_co2_kg_per_teu,
    route_cost_usd_per_teu,
)
from sim.experiments.executors import ExecutorSpec, chunk, open_executor
from sim.experiments.replications import BULKY, replicate, replicate_to_precision, run_batches
from sim.experiments.sweep import factorial, latin_hypercube, parse_sample, parse_vary
from sim.scenario.loader import load_scenario
from sim.scenario.schema import Economics
from sim.stats import holm

TINY = Path(__file__).parent / "scenarios" / "tiny.toml"
SHORT = ["scenario.horizon_days=60", "scenario.warmup_days=10"]


def _numbers(records):
    return [json.dumps({k: v for k, v in r.items() if k not in ("perf",)},
                       default=lambda a: np.asarray(a).tolist(), sort_keys=True)
            for r in records]


@pytest.fixture(scope="module")
def dask_spec():
    """One local Dask cluster for the module (no dashboard), reached like a remote
    scheduler (``--scheduler ADDRESS``)."""
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield ExecutorSpec(scheduler=cluster.scheduler_address, quiet=True)


def test_chunks_cover_every_replication_once():
    parts = chunk(list(range(10)), workers=2)
    assert sum(parts, []) == list(range(10))
    assert len(parts) == 4


def test_serial_process_and_dask_give_identical_numbers(dask_spec):
    scen = load_scenario(TINY, SHORT).model
    serial = replicate(scen, 3, spec=ExecutorSpec(workers=1, quiet=True))
    pool = replicate(scen, 3, spec=ExecutorSpec(workers=2, quiet=True))
    dask = replicate(scen, 3, spec=dask_spec)
    assert _numbers(serial) == _numbers(pool) == _numbers(dask)


def test_cli_runs_on_the_dask_cluster(dask_spec, tmp_path, capsys):
    out = tmp_path / "d"
    rc = main(["run", str(TINY), "--replications", "2", "--horizon-days", "60", "--no-plots",
               "--scheduler", dask_spec.scheduler, "--out", str(out), "--quiet"])
    assert rc == 0
    assert json.loads((out / "summary.json").read_text())["replications"] == 2


def test_unreachable_scheduler_is_a_one_line_error(capsys):
    rc = main(["run", str(TINY), "--replications", "1", "--horizon-days", "30",
               "--scheduler", "tcp://127.0.0.1:9", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "--scheduler" in err


def test_light_records_drop_bulky_arrays_on_the_worker():
    scen = load_scenario(TINY, SHORT).model
    spec = ExecutorSpec(workers=1, quiet=True)
    with open_executor(spec) as ex:
        (recs,) = run_batches(ex, spec, [(scen, [0])], drop=BULKY)
    assert "series" not in recs[0] and "transit_days" not in recs[0]
    assert recs[0]["study"]["transit_days_mean"] is not None


def test_replications_algorithm_stops_at_the_target_and_is_deterministic():
    scen = load_scenario(TINY, SHORT + ["scenario.replications=3"]).model
    recs, info = replicate_to_precision(
        scen, ExecutorSpec(workers=2, quiet=True), "transit_days_mean", 0.01, 40
    )
    assert info["reached"] and info["achieved_rel_halfwidth"] <= 0.01
    assert info["replications"] == len(recs) >= 3
    again, info2 = replicate_to_precision(
        scen, ExecutorSpec(workers=1, quiet=True), "transit_days_mean", 0.01, 40
    )
    assert info2 == info and _numbers(again) == _numbers(recs)
    _, capped = replicate_to_precision(
        scen, ExecutorSpec(workers=1, quiet=True), "transit_days_mean", 1e-6, 5
    )
    assert capped["replications"] == 5 and not capped["reached"]


def test_holm_matches_hand_computation():
    # sorted p: .01 (x4 = .04), .03 (x3 = .09), .04 (x2 = .08 -> monotone .09), .5
    assert holm([0.01, 0.04, 0.03, 0.5]) == [(0.04, True), (0.09, False), (0.09, False),
                                            (0.5, False)]


def test_comparing_a_scenario_with_itself_finds_exactly_nothing():
    a = load_scenario(TINY, SHORT)
    recs = replicate(a.model, 4, workers=1)
    comp = build_comparison([a, a], [recs, recs], "t", "0")
    for d in comp["differences"]["tiny"].values():
        if d["mean"] is not None:
            assert d["mean"] == 0 and d["p_value"] == 1.0 and not d["significant"]


def test_more_ships_is_a_significant_paired_improvement():
    base = load_scenario(TINY, SHORT)
    alt = load_scenario(TINY, SHORT + ["scenario.name=more_ships", "fleets.f.vessels=6"])
    comp = build_comparison(
        [base, alt],
        [replicate(base.model, 5, workers=2), replicate(alt.model, 5, workers=2)],
        "t",
        "0",
    )
    d = comp["differences"]["more_ships"]
    fleet_share = d["bottleneck_utilisation"]
    assert comp["scenarios"]["more_ships"]["summary"]["kpis"]["created_teu"] == \
        comp["scenarios"]["tiny"]["summary"]["kpis"]["created_teu"]  # CRN: same demand
    assert fleet_share["mean"] is not None


def test_annualised_cost_is_the_capital_recovery_factor():
    e = Economics(capex_usd=100e6, lifetime_years=25, discount_rate=0.08, opex_usd_per_year=1e6)
    crf = 0.08 * 1.08**25 / (1.08**25 - 1)  # 0.09368
    assert e.annualised_cost_usd() == pytest.approx(100e6 * crf + 1e6)
    assert Economics(capex_usd=50.0, lifetime_years=10, discount_rate=0).annualised_cost_usd() == 5


def test_route_cost_and_co2_add_up_along_the_route():
    s = load_scenario(TINY.parents[2] / "scenarios" / "baseline.toml").model
    fid = "cn_baltic:mc_khorgos_aktau_poti"  # the China -> Klaipėda market's main MC route
    legs = ["xian_khorgos", "khorgos_aktau", "aktau_alat", "alat_poti", "poti_constanta",
            "constanta_sestokai", "sestokai_klaipeda"]
    tariffs = sum(s.legs[lid].tariff_usd_per_teu for lid in legs)
    handling = sum(s.nodes[n].handling_usd_per_teu or 0 for n in s.flows[fid].route)
    assert route_cost_usd_per_teu(s, fid) == pytest.approx(tariffs + handling)
    km = sum(getattr(s.legs[lid], "distance_km", None) or 0 for lid in legs)
    nm = sum(getattr(s.legs[lid], "distance_nm", None) or 0 for lid in legs)
    co2 = km * s.economics.co2_rail_kg_per_teu_km + nm * 1.852 * s.economics.co2_sea_kg_per_teu_km
    assert route_co2_kg_per_teu(s, fid) == pytest.approx(co2)


def test_corridor_capacity_is_throughput_over_bottleneck_utilisation():
    rec = {"bottleneck": {"utilisation": 0.8},
           "flows": {"a": {"throughput_teu_per_week": 100.0},
                     "b": {"throughput_teu_per_week": 60.0}}}
    assert corridor_capacity(rec) == pytest.approx(160 * 8760 / 168 / 0.8)


def test_corridor_capacity_counts_the_corridor_not_the_bottleneck_branch():
    """With markets, the corridor is every route marked ``corridor`` (and its empties),
    wherever the bottleneck is: a bottleneck on one Black Sea branch must not shrink the
    corridor to that branch's flows; coarse Northern and sea routes never count, fixed
    (background) flows through modelled stages do."""
    s = load_scenario(TINY.parents[2] / "scenarios" / "baseline.toml").model
    fids = capacity_flows(s)
    for fid in s.flows:
        flow = s.flows[fid]
        owner = s.flows[flow.empties_of] if flow.empties_of else flow
        on_corridor = (s.routes[owner.alternative].corridor if owner.alternative
                       else fid.startswith("bg_"))  # the baseline's Caspian background trades
        assert (fid in fids) == on_corridor, fid
    assert not any("northern" in f or ":sea_" in f for f in fids)
    weekly = {fid: 10.0 + i for i, fid in enumerate(s.flows)}
    rec = {"bottleneck": {"utilisation": 0.5, "element": "legs.poti_constanta"},
           "flows": {f: {"throughput_teu_per_week": w} for f, w in weekly.items()}}
    expected = sum(weekly[f] for f in fids) * 8760 / 168 / 0.5
    assert corridor_capacity(rec, s) == pytest.approx(expected)


def test_sweep_designs():
    key, values = parse_vary("fleets.f.vessels=2,4,6")
    assert key == "fleets.f.vessels" and values == [2, 4, 6]
    grid = factorial([parse_vary("a.b=1,2"), parse_vary("c.d=0.5,1.5,2.5")])
    assert len(grid) == 6 and grid[0] == {"a.b": 1, "c.d": 0.5}
    samples = [parse_sample("x.y=0:10"), parse_sample("z.w=0.0:1.0")]
    pts = latin_hypercube(samples, 8, seed=3)
    assert all(isinstance(p["x.y"], int) for p in pts)
    # Latin hypercube: exactly one point in each eighth of the continuous range
    strata = sorted(int(p["z.w"] * 8) for p in pts)
    assert strata == list(range(8))


def test_sweep_resumes_and_records_failed_points(tmp_path, capsys):
    out = tmp_path / "sw"
    args = ["sweep", str(TINY), "--vary", "fleets.f.vessels=0,2,3", "--replications", "2",
            "--horizon-days", "40", "--workers", "1",
            "--out", str(out), "--quiet"]
    assert main(args) == 0
    sweep = json.loads((out / "sweep.json").read_text())
    status = {p["values"]["fleets.f.vessels"]: p for p in sweep["points"]}
    assert status[0]["status"] == "failed" and "vessels" in status[0]["error"]
    assert status[2]["status"] == "ok" and status[3]["status"] == "ok"
    files = sorted((out / "points").glob("*.json"))
    assert len(files) == 3
    # interrupt simulation: forget one finished point, keep the others' files untouched
    stamps = {f.name: f.stat().st_mtime_ns for f in files}
    victim = files[0]
    victim.unlink()
    assert main(args) == 0
    after = {f.name: f.stat().st_mtime_ns for f in (out / "points").glob("*.json")}
    assert set(after) == set(stamps)
    assert all(after[n] == stamps[n] for n in stamps if n != victim.name)
    assert json.loads((out / "sweep.json").read_text()) == sweep
    rows = (out / "sweep.csv").read_text().splitlines()
    assert len(rows) == 1 + 1 + 2 * 2  # header, failed point, 2 points x 2 replications


def test_sweep_refuses_to_resume_a_different_design(tmp_path, capsys):
    out = tmp_path / "sw"
    base = ["sweep", str(TINY), "--replications", "1", "--horizon-days", "30", "--workers",
            "1", "--out", str(out), "--quiet"]
    assert main(base + ["--vary", "fleets.f.vessels=2"]) == 0
    assert main(base + ["--vary", "fleets.f.vessels=3"]) == 2
    assert "same sweep" in capsys.readouterr().err


def test_compare_cli_writes_comparison_and_ranking(tmp_path, capsys):
    alt = tmp_path / "alt.toml"
    alt.write_text(f'extends = "{TINY}"\n[scenario]\nname = "alt"\n[fleets.f]\nvessels = 5\n'
                   "[economics]\ncapex_usd = 1e7\n")
    out = tmp_path / "cmp"
    rc = main(["compare", str(TINY), str(alt), "--replications", "3", "--horizon-days", "60",
               "--workers", "2", "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    comp = json.loads((out / "comparison.json").read_text())
    assert comp["order"] == ["tiny", "alt"] and comp["replications"] == 3
    assert comp["ranking"][0]["scenario"] == "alt"
    e = comp["economics"]["alt"]
    if e["annualised_cost_per_extra_teu_usd"] is not None:
        assert e["annualised_cost_per_extra_teu_usd"] == pytest.approx(
            e["annualised_cost_usd"] / e["extra_capacity_teu_per_year"]["mean"])
    for png in ("kpi_bars.png", "forest.png", "transit_cdfs.png", "route_map.png"):
        assert (out / "plots" / png).read_bytes()[:4] == b"\x89PNG"
    assert math.isfinite(comp["differences"]["alt"]["bottleneck_utilisation"]["mean"])
