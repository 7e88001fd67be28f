"""Demand: every container of a flow over the horizon, generated before the run.

Arrivals follow a non-homogeneous renewal process with a piecewise-constant
monthly rate (months of 730 h, the run starts on 1 January): unit-rate
gaps are drawn (exponential for Poisson, gamma with the flow's ``headway_cv``
for block trains) and mapped through the inverse cumulative rate. Poisson
flows produce single boxes (FEU with probability ``feu_share``); block-train
flows produce whole trains of ``block_train_teu`` arriving together.
Generating up front costs no simulation events and gives common random numbers
(same stream name → same arrivals in every scenario).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model.random_streams import stream
from sim.scenario.schema import Flow

HOURS_PER_YEAR = 8760.0
HOURS_PER_MONTH = HOURS_PER_YEAR / 12.0


@dataclass(frozen=True)
class Arrivals:
    """Boxes of one flow: arrival times (h, sorted) and sizes (1 or 2 TEU)."""

    time_h: np.ndarray
    teu: np.ndarray


def block_composition(flow: Flow) -> tuple[int, int]:
    """(FEU, TEU boxes) of one block train, matching ``feu_share`` of boxes."""
    feu = int(round(flow.block_train_teu * flow.feu_share / (1.0 + flow.feu_share)))
    teu = max(0, int(round(flow.block_train_teu - 2 * feu)))
    return feu, teu


def _event_times(rate_per_h: np.ndarray, cv: float, horizon_h: float, rng) -> np.ndarray:
    """Renewal epochs with monthly rates ``rate_per_h[m % 12]`` on ``[0, horizon_h)``."""
    n_months = int(np.ceil(horizon_h / HOURS_PER_MONTH))
    edges = np.minimum(np.arange(n_months + 1) * HOURS_PER_MONTH, horizon_h)
    rates = rate_per_h[np.arange(n_months) % 12]
    cum = np.concatenate(([0.0], np.cumsum(rates * np.diff(edges))))
    total = cum[-1]
    if total <= 0:
        return np.empty(0)
    if cv == 0.0:
        epochs = np.arange(0.5, total, 1.0)  # regular: half a headway into each unit
    else:
        # unit-rate gaps in "expected arrivals" space, drawn in blocks until past the total
        expected = int(total + 6 * np.sqrt(total) + 16)
        gaps = []
        acc = 0.0
        while acc <= total:
            if cv == 1.0:
                g = rng.exponential(1.0, expected)
            else:
                shape = 1.0 / cv**2
                g = rng.gamma(shape, 1.0 / shape, expected)
            gaps.append(g)
            acc += g.sum()
        epochs = np.cumsum(np.concatenate(gaps))
        epochs = epochs[epochs < total]
    # invert the piecewise-linear cumulative rate
    m = np.searchsorted(cum, epochs, side="right") - 1
    m = np.clip(m, 0, n_months - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = edges[m] + (epochs - cum[m]) / rates[m]
    return t[np.isfinite(t)]


def generate(flow_id: str, flow: Flow, seed: int, replication: int, horizon_h: float) -> Arrivals:
    """All boxes of ``flow`` arriving before ``horizon_h``."""
    rng = stream(seed, replication, f"demand:{flow_id}")
    season = np.asarray(flow.seasonality, dtype=float)
    season = season / season.mean()
    if flow.arrivals == "poisson":
        teu_per_box = 1.0 + flow.feu_share
        rate = flow.annual_teu / (HOURS_PER_YEAR * teu_per_box) * season
        t = _event_times(rate, 1.0, horizon_h, rng)
        teu = np.where(rng.random(len(t)) < flow.feu_share, 2, 1).astype(np.int8)
        return Arrivals(t, teu)
    feu, single = block_composition(flow)
    per_train = feu * 2 + single
    rate = flow.annual_teu / (HOURS_PER_YEAR * per_train) * season
    trains = _event_times(rate, flow.headway_cv, horizon_h, rng)
    boxes = np.concatenate((np.full(feu, 2, np.int8), np.full(single, 1, np.int8)))
    t = np.repeat(trains, len(boxes))
    teu = np.tile(boxes, len(trains))
    return Arrivals(t, teu)
