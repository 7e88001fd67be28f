"""Storms of a sea region and the departure closures they impose on its ports.

Storm onsets follow a Poisson process whose rate changes by calendar month
(months of 730 h, the run starts on 1 January). Each storm has a duration and
a severity ``u ~ U(0, 1)``; a port with ``storm_sensitivity = s`` is closed to
departures by the storms with ``u < s`` — a sheltered port (small ``s``) is shut
only by the strongest ones. All ports of a region share the same storms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model.calendar import Calendar
from sim.model.random_streams import draw, stream
from sim.model.timeline import Timeline
from sim.scenario.schema import WeatherRegion

HOURS_PER_MONTH = 8760.0 / 12.0


@dataclass(frozen=True)
class Storms:
    """Storm onsets (h), durations (h) and severities (0..1) of one region."""

    start_h: np.ndarray
    duration_h: np.ndarray
    severity: np.ndarray


def generate_storms(
    region_id: str,
    region: WeatherRegion,
    seed: int,
    replication: int,
    horizon_h: float,
    calendar: Calendar | None = None,
) -> Storms:
    """Storms over ``[0, horizon_h)`` from the region's named stream, by calendar month in
    a dated run (730-h months from 1 January otherwise)."""
    rng = stream(seed, replication, f"weather:{region_id}")
    rates = np.asarray(region.storm_rate_per_month, dtype=float) / HOURS_PER_MONTH
    starts = []
    if calendar is not None and calendar.dated:
        edges, month = calendar.demand_months(horizon_h)
        months = [
            (float(a), float(b), int(m))
            for a, b, m in zip(edges[:-1], edges[1:], month, strict=True)
        ]
    else:
        n_months = int(np.ceil(horizon_h / HOURS_PER_MONTH))
        months = [
            (m * HOURS_PER_MONTH, min(horizon_h, m * HOURS_PER_MONTH + HOURS_PER_MONTH), m % 12)
            for m in range(n_months)
        ]
    for a, b, m in months:
        lam = rates[m] * (b - a)
        k = rng.poisson(lam)
        starts.append(np.sort(rng.uniform(a, b, k)))
    start = np.concatenate(starts) if starts else np.empty(0)
    duration = draw(region.storm_duration_h, rng, len(start))
    severity = rng.uniform(0.0, 1.0, len(start))
    return Storms(start, duration, severity)


def closure_timeline(storms: Storms, sensitivity: float) -> Timeline:
    """0 while a storm that closes a port of this sensitivity blows, else 1."""
    hit = storms.severity < sensitivity
    return Timeline.from_intervals(
        (float(a), float(a + d), 0.0)
        for a, d in zip(storms.start_h[hit], storms.duration_h[hit], strict=True)
    )
