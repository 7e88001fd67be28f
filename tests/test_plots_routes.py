"""Route-choice plots and the settle/oscillate judgement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.model.corridor import run_replication
from sim.outputs.plots_routes import equilibrium_gap, routes_figure, settles
from sim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def test_equilibrium_gap_is_half_the_moved_share():
    shares = np.array([[0.7, 0.3], [0.6, 0.4], [0.6, 0.4]])
    gap = equilibrium_gap(shares)
    assert np.isnan(gap[0])
    assert gap[1:] == pytest.approx([0.1, 0.0])


def _records_with_shares(series: list[list[float]]) -> list[dict]:
    months = [f"2025-{k + 1:02d}" for k in range(len(series))]
    s = np.array(series)
    return [{"replication": 0, "warmup_h": 0.0, "monthly": {"months": months},
             "routes": {"m": {"alternatives": {"a": {"share": s[:, 0]},
                                               "b": {"share": s[:, 1]}}}}}]


def test_oscillating_shares_do_not_settle_and_steady_ones_do():
    swing = [[0.8, 0.2], [0.2, 0.8]] * 6
    steady = [[0.71, 0.29], [0.70, 0.30], [0.72, 0.28]] * 4
    assert settles(_records_with_shares(swing), "m")[0] is False
    assert settles(_records_with_shares(steady), "m")[0] is True


def test_the_routes_figure_of_a_market_run_reads_as_shares():
    scen = load_scenario(ROOT / "tests" / "scenarios" / "markets" / "two_routes.toml").model
    recs = [run_replication(scen, r) for r in range(2)]
    fig = routes_figure(recs, scen)
    ax = fig.axes[0]
    assert ax.get_ylim() == (0.0, 1.0)
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]  # beside the costs
    assert labels == ["corridor", "coarse"]
