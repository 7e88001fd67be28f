"""Comparison, sweep and map plots: every function writes a valid PNG, also when degenerate."""

from __future__ import annotations

import copy
import struct
from pathlib import Path

import numpy as np
import pytest

from sim.outputs.plots_compare import fmt_value, forest, kpi_bars, kpi_label, kpi_of, transit_cdfs
from sim.outputs.plots_map import route_map, stage_label
from sim.outputs.plots_sweep import heatmap, response
from sim.scenario.loader import load_scenario

TINY = Path(__file__).parent / "scenarios" / "tiny.toml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
KPIS = [
    "throughput_teu_per_week",
    "transit_days_mean",
    "transit_days_p50",
    "transit_days_p95",
    "bottleneck_utilisation",
]
BETTER = {k: "lower" for k in KPIS} | {"throughput_teu_per_week": "higher"}
# the tiny network stretched over the corridor (lon, lat)
COORDS = {
    "a": (108.9, 34.3),
    "b": (80.4, 44.2),
    "p": (51.2, 43.6),
    "q": (49.4, 39.9),
    "z": (21.1, 55.7),
}


def stat(mean: float | None, half: float | None = 1.0, n: int = 5) -> dict:
    if mean is None:
        return {"mean": None, "ci95_low": None, "ci95_high": None, "n": 0}
    if half is None:
        return {"mean": mean, "ci95_low": None, "ci95_high": None, "n": 1}
    return {"mean": mean, "ci95_low": mean - half, "ci95_high": mean + half, "n": n}


def fake_summary(name: str, scale: float = 1.0) -> dict:
    """A run summary (sim/outputs/summary.py shape) of the tiny network, numbers made up."""
    util = {"a": None, "b": 0.2, "p": 0.6 * scale, "q": 0.4, "z": None}
    return {
        "scenario": {
            "name": name,
            "description": f"{name} (synthetic)",
            "file": f"{name}.toml",
            "sha256": "ab" * 32,
        },
        "seed": 7,
        "replications": 5,
        "horizon_days": 120.0,
        "warmup_days": 20.0,
        "study_flows": ["main"],
        "kpis": {
            "created_teu": stat(20000.0, 300.0),
            "delivered_teu": stat(19000.0, 300.0),
            "in_system_teu_end": stat(900.0, 50.0),
            "throughput_teu_per_week": stat(380.0 / scale, 9.0),
            "transit_days_mean": stat(9.0 * scale, 0.4),
            "transit_days_p50": stat(8.5 * scale, 0.4),
            "transit_days_p95": stat(14.0 * scale, 1.2),
            "cohort_inside_share": stat(0.03, 0.01),
        },
        "transit_biased": False,
        "transit_bias_note": None,
        "bottleneck": {"element": "fleets.f", "utilisation": stat(0.8 * scale, 0.03)},
        "nodes": {
            nid: {
                "wait_h_mean": stat(10.0 + 5 * k, 2.0),
                "queue_teu_mean": stat(50.0 * k, 5.0),
                "utilisation": stat(u, 0.05) if u is not None else stat(None),
                "yard_utilisation": stat(0.3, 0.05) if nid in "pq" else stat(None),
                "departed_teu": stat(19000.0, 300.0),
                "utilisation_of": "berths" if u is not None else None,
                "label": nid,
            }
            for k, (nid, u) in enumerate(util.items())
        },
        "legs": {
            "ab": {
                "departures": stat(100.0),
                "teu": stat(15000.0, 200.0),
                "utilisation": stat(None),
                "mode": "rail",
            },
            "bp": {
                "departures": stat(150.0),
                "teu": stat(19000.0, 200.0),
                "utilisation": stat(0.3, 0.02),
                "mode": "rail",
            },
            "pq": {
                "departures": stat(90.0),
                "teu": stat(19000.0, 200.0),
                "utilisation": stat(None),
                "mode": "sea",
            },
            "qz": {
                "departures": stat(200.0),
                "teu": stat(15000.0, 200.0),
                "utilisation": stat(None),
                "mode": "rail",
            },
        },
        "fleets": {
            "f": {
                "sailings": stat(90.0),
                "teu": stat(19000.0, 200.0),
                "load_factor_mean": stat(0.9, 0.02),
                "utilisation": stat(0.8 * scale, 0.03),
                "weather_hold_h_mean": stat(3.0, 0.5),
            }
        },
        "wagon_pools": {"w": {"utilisation": stat(0.45, 0.03)}},
        "flows": {},
        "gridlock": [],
        "provenance": {"version": "0.1.0", "command": f"corridor run {name}.toml"},
    }


def fake_comparison() -> dict:
    """A comparison.json of a base and two alternatives (one better, one worse)."""
    names = ["base", "invest", "disrupt"]
    scales = {"base": 1.0, "invest": 0.85, "disrupt": 1.2}
    scenarios = {
        n: {
            "file": f"{n}.toml",
            "sha256": "cd" * 32,
            "description": f"{n} case",
            "summary": fake_summary(n, scales[n]),
        }
        for n in names
    }
    diffs = {}
    for alt in names[1:]:
        diffs[alt] = {}
        for k, kpi in enumerate(KPIS):
            a = kpi_of(scenarios[alt]["summary"], kpi)["mean"]
            b = kpi_of(scenarios["base"]["summary"], kpi)["mean"]
            d = a - b
            half = abs(d) * (0.4 if k % 2 == 0 else 1.6)  # half significant, half not
            diffs[alt][kpi] = {
                "mean": d,
                "ci95_low": d - half,
                "ci95_high": d + half,
                "n": 5,
                "p_value": 0.001 if k % 2 == 0 else 0.4,
                "p_adjusted": 0.01 if k % 2 == 0 else 0.8,
                "significant": k % 2 == 0,
            }
    return {
        "kind": "comparison",
        "base": "base",
        "order": names,
        "replications": 5,
        "seed": 7,
        "horizon_days": 120.0,
        "warmup_days": 20.0,
        "scenarios": scenarios,
        "kpis": KPIS,
        "kpi_better": BETTER,
        "differences": diffs,
        "correction": "Holm–Bonferroni over all (alternative, KPI) tests, family-wise alpha 0.05",
        "economics": {
            "invest": {
                "capex_usd": 5.0e7,
                "lifetime_years": 25,
                "opex_usd_per_year": 2.0e6,
                "annualised_cost_usd": 5.5e6,
                "extra_capacity_teu_per_year": 40000.0,
                "annualised_cost_per_extra_teu_usd": 137.5,
                "throughput_gain_teu_per_year": stat(3500.0, 400.0),
                "transit_days_saved": stat(1.3, 0.3),
                "cost_per_teu_usd": stat(3100.0, 40.0),
                "co2_kg_per_teu": stat(950.0, 10.0),
            },
            "disrupt": {
                "capex_usd": None,
                "lifetime_years": None,
                "opex_usd_per_year": None,
                "annualised_cost_usd": None,
                "extra_capacity_teu_per_year": None,
                "annualised_cost_per_extra_teu_usd": None,
                "throughput_gain_teu_per_year": stat(-3000.0, 500.0),
                "transit_days_saved": stat(-1.8, 0.4),
                "cost_per_teu_usd": stat(3300.0, 40.0),
                "co2_kg_per_teu": stat(990.0, 10.0),
            },
        },
        "ranking": [
            {
                "rank": 1,
                "scenario": "invest",
                "metric": "annualised_cost_per_extra_teu_usd",
                "value": 137.5,
            }
        ],
        "provenance": {
            "version": "0.1.0",
            "command": "corridor compare base.toml invest.toml disrupt.toml",
            "seed": 7,
        },
    }


def fake_sweep(design: str = "factorial") -> dict:
    """A sweep.json over two parameters (3 x 2 grid, one failed point) or an LHS design."""
    keys = ["fleets.f.vessels", "nodes.p.yard_capacity_teu"]
    rng = np.random.default_rng(1)
    if design == "factorial":
        combos = [(v, y) for y in (600, 900) for v in (2, 3, 4)]
    else:
        combos = [(float(rng.uniform(2, 4)), float(rng.uniform(600, 900))) for _ in range(8)]
    points = []
    for i, (v, y) in enumerate(combos):
        failed = i == 0 and design == "factorial"
        kpis = (
            {}
            if failed
            else {
                "throughput_teu_per_week": stat(300 + 30 * v + y / 100, 8.0),
                "transit_days_mean": stat(12 - v + 100 / y, 0.5),
                "bottleneck_utilisation": stat(0.95 / v * 2, 0.02),
            }
        )
        points.append(
            {
                "point": i,
                "values": {keys[0]: v, keys[1]: y},
                "status": "failed" if failed else "ok",
                "error": "gridlock in replication 1 since day 40.2: nodes.p" if failed else None,
                "kpis": kpis,
            }
        )
    return {
        "kind": "sweep",
        "base": "tiny",
        "varied": keys,
        "design": design,
        "kpis": ["throughput_teu_per_week", "transit_days_mean", "bottleneck_utilisation"],
        "points": points,
        "provenance": {"version": "0.1.0", "command": "corridor sweep tiny.toml", "seed": 7},
    }


def check_png(path: Path, min_bytes: int = 8_000) -> None:
    assert path.is_file(), path
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC, f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    assert 500 <= width <= 3000 and 250 <= height <= 3500, (path.name, width, height)
    assert path.stat().st_size > min_bytes


@pytest.fixture(scope="module")
def mapped_scenario():
    sets = [
        f"nodes.{n}.{k}={v}"
        for n, (lon, lat) in COORDS.items()
        for k, v in (("lon", lon), ("lat", lat))
    ]
    return load_scenario(TINY, overrides=sets).model


def test_kpi_bars_and_forest(tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    comp = fake_comparison()
    check_png(kpi_bars(comp, tmp_path / "kpi_bars.png"))
    check_png(forest(comp, tmp_path / "sub" / "forest.png"))  # parents created
    assert plt.get_fignums() == before  # Figure API only: nothing left in pyplot


def test_compare_plots_degenerate(tmp_path):
    comp = fake_comparison()
    comp["kpis"] = ["throughput_teu_per_week", "transit_days_p95"]  # fewer panels: faster
    # one replication: no CIs; a KPI missing in one scenario; no alternatives at all
    one = copy.deepcopy(comp)
    for s in one["scenarios"].values():
        for k in s["summary"]["kpis"].values():
            k["ci95_low"] = k["ci95_high"] = None
    del one["scenarios"]["invest"]["summary"]["kpis"]["transit_days_p95"]
    one["differences"]["invest"]["transit_days_p95"] = stat(None)
    check_png(kpi_bars(one, tmp_path / "a.png"))
    check_png(forest(one, tmp_path / "b.png"))
    alone = copy.deepcopy(comp)
    alone["order"] = ["base"]
    alone["differences"] = {}
    check_png(kpi_bars(alone, tmp_path / "c.png"))
    check_png(forest(alone, tmp_path / "d.png"), min_bytes=2_000)


def test_transit_cdfs(tmp_path):
    rng = np.random.default_rng(0)
    samples = {
        "base": rng.gamma(9, 1.0, 2000),
        "invest": rng.gamma(8, 1.0, 1500),
        "empty": np.array([np.nan]),
    }
    check_png(transit_cdfs(samples, tmp_path / "cdf.png"))
    check_png(transit_cdfs({"x": np.array([])}, tmp_path / "none.png"), min_bytes=2_000)


@pytest.mark.parametrize("colour_by", ["utilisation", "waiting"])
def test_route_map(tmp_path, mapped_scenario, colour_by):
    summary = fake_summary("tiny")
    out = route_map(mapped_scenario, summary, tmp_path / f"map_{colour_by}.png", colour_by)
    check_png(out)


def test_route_map_without_coordinates_and_bad_mode(tmp_path):
    scenario = load_scenario(TINY).model
    check_png(route_map(scenario, fake_summary("tiny"), tmp_path / "m.png"), min_bytes=2_000)
    with pytest.raises(ValueError):
        route_map(scenario, fake_summary("tiny"), tmp_path / "x.png", colour_by="colour")


def test_sweep_plots(tmp_path):
    for design, kpi in (
        ("factorial", "bottleneck_utilisation"),
        ("lhs", "throughput_teu_per_week"),
    ):
        sw = fake_sweep(design)
        check_png(response(sw, kpi, tmp_path / f"r_{design}.png"))
        check_png(heatmap(sw, kpi, tmp_path / f"h_{design}.png"))
    one = fake_sweep()
    one["varied"] = one["varied"][:1]  # one parameter: lines without groups, a one-row map
    check_png(heatmap(one, "transit_days_mean", tmp_path / "h1.png"))


def test_labels_and_formats(mapped_scenario):
    assert kpi_label("transit_days_p95") == "Transit time, P95 (days)"
    assert kpi_label("something_new") == "something new"
    assert fmt_value("bottleneck_utilisation", 0.792) == "79.2%"
    assert fmt_value("bottleneck_utilisation", -0.21, signed=True) == "-21.0 pp"
    assert fmt_value("throughput_teu_per_week", 105.93) == "106"
    assert fmt_value("transit_days_mean", 2.1712, signed=True) == "+2.17"
    assert fmt_value("transit_days_mean", None) == "–"
    assert kpi_of(fake_summary("x"), "bottleneck_utilisation")["mean"] == pytest.approx(0.8)
    assert stage_label(mapped_scenario, "fleets.f").startswith("Fleet f")
    assert stage_label(mapped_scenario, "legs.pq").startswith("Sea leg")
    assert stage_label(mapped_scenario, "legs.bp").startswith("Rail paths")
