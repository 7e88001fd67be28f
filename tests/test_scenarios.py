"""The shipped scenarios: all valid and runnable, the baseline stable, each case doing its job.

Directional checks use common random numbers: replication i of a case sees the
same demand and storms as replication i of the baseline, so a paired
comparison isolates the effect of the change.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sim.experiments import replicate
from sim.scenario.loader import load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SHORT = ["scenario.horizon_days=400", "scenario.warmup_days=60"]
REQUIRED = {
    "baseline", "northern_route", "sea_route",
    "disrupt_caspian_storms", "disrupt_georgia_closure", "disrupt_low_water",
    "invest_caspian_ships", "invest_aktau_phase2", "invest_alat_phase2",
}


def test_required_scenarios_are_shipped_and_named_after_their_file():
    files = {p.stem: p for p in SCENARIOS.glob("*.toml")}
    assert set(files) >= REQUIRED
    for stem, path in files.items():
        loaded = load_scenario(path)
        assert loaded.model.scenario.name == stem
        assert loaded.model.study_flow_ids(), f"{stem} marks no study flow"


@pytest.mark.parametrize("stem", sorted(n for n in REQUIRED if n.startswith(("disrupt", "invest"))))
def test_cases_are_short_files_extending_the_baseline(stem):
    text = (SCENARIOS / f"{stem}.toml").read_text()
    assert 'extends = "baseline.toml"' in text
    code = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(code) <= 25, f"{stem} should override a few values, not restate the baseline"


@pytest.mark.parametrize("stem", sorted(REQUIRED))
def test_every_scenario_runs_without_gridlock(stem):
    scen = load_scenario(SCENARIOS / f"{stem}.toml", SHORT).model
    rec = replicate(scen, 1, workers=1)[0]  # conservation is checked inside
    assert rec["gridlock"] is None
    assert rec["study"]["delivered_teu"] > 0
    s = rec["system"]
    assert s["created_teu"] == s["delivered_teu"] + s["in_system_teu_end"]


def test_baseline_content_does_not_grow_with_the_horizon():
    """Stability: with every stage below saturation the TEU inside at the end is a
    stationary quantity, the same after H and after 2H days. An overloaded stage
    (even 2% over capacity) would add thousands of TEU over the extra H days."""
    path = SCENARIOS / "baseline.toml"
    base = load_scenario(path).model
    horizon = base.scenario.horizon_days
    reps = 4
    one = replicate(base, reps, workers=2)
    two = replicate(
        load_scenario(path, [f"scenario.horizon_days={2 * horizon}"]).model, reps, workers=2
    )
    a = np.array([r["system"]["in_system_teu_end"] for r in one])
    b = np.array([r["system"]["in_system_teu_end"] for r in two])
    growth = b - a
    se = growth.std(ddof=1) / math.sqrt(reps)
    assert growth.mean() < 3 * se + 0.1 * a.mean(), (a, b)
    # and what went in came out: the post-warm-up throughput matches demand
    created_per_day = np.mean([r["system"]["created_teu"] for r in two]) / (2 * horizon)
    delivered_per_day = np.mean([r["system"]["delivered_teu"] for r in two]) / (2 * horizon)
    assert delivered_per_day == pytest.approx(created_per_day, rel=0.01)


def _paired(stem: str, reps: int = 2) -> tuple[list[dict], list[dict]]:
    base = replicate(load_scenario(SCENARIOS / "baseline.toml", SHORT).model, reps, workers=2)
    case = replicate(load_scenario(SCENARIOS / f"{stem}.toml", SHORT).model, reps, workers=2)
    return base, case


def _u(rec: dict, element: str) -> float:
    section, ident = element.split(".")
    value = rec[section][ident]["utilisation"]
    return value


@pytest.mark.parametrize(
    "stem, element, direction",
    [
        ("disrupt_caspian_storms", "fleets.caspian_feeders", +1),
        ("disrupt_low_water", "fleets.caspian_feeders", +1),
        ("invest_caspian_ships", "fleets.caspian_feeders", -1),
        ("invest_aktau_phase2", "nodes.aktau", -1),
        ("invest_alat_phase2", "nodes.alat", -1),
    ],
)
def test_cases_move_the_stage_they_target(stem, element, direction):
    base, case = _paired(stem)
    for b, c in zip(base, case, strict=True):
        assert b["system"]["created_teu"] == c["system"]["created_teu"]  # CRN: same demand
        assert direction * (_u(c, element) - _u(b, element)) > 0.02


def test_georgia_closure_stops_trains_for_two_weeks():
    scen = load_scenario(SCENARIOS / "disrupt_georgia_closure.toml").model
    from sim.model.corridor import CorridorModel

    model = CorridorModel(scen, 0)
    model.run()
    dis = scen.disruptions["georgia_closed"]
    start, end = dis.start_day * 24, (dis.start_day + dis.duration_days) * 24
    dep = np.asarray(model.rail_legs["alat_poti"].departures_h)
    assert not np.any((dep >= start) & (dep < end))
    assert np.any((dep >= end) & (dep < end + 48)), "trains resume when the line reopens"
