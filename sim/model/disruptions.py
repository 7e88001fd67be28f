"""Capacity-factor timelines of every node, leg and fleet, from the [disruptions.*] tables.

One mechanism for all disruptions: each one becomes ``(start_h, end_h, factor)``
intervals on its target; intervals on the same target multiply. Random
outages (MTBF/MTTR) draw from their own named stream, so they are the same in
every scenario that has them (common random numbers).

Intervals are not cut at the horizon: a window or a repair that outlasts the
run ends when it ends, and a ``factor`` disruption without ``end_day`` never
ends (``end_h = inf``). The gridlock watchdog relies on this to tell a closure
that lifts after the horizon from one that never lifts.
"""

from __future__ import annotations

import math

from sim.model.random_streams import draw, stream
from sim.model.timeline import Timeline
from sim.scenario.schema import (
    FactorDisruption,
    OutageDisruption,
    Scenario,
    WindowDisruption,
)

HOURS_PER_DAY = 24.0


def _outage_intervals(dis: OutageDisruption, rng, horizon_h: float):
    t = 0.0
    out = []
    while True:
        t += rng.exponential(dis.mtbf_h)
        if t >= horizon_h:
            return out
        repair = float(draw(dis.mttr_h, rng, 1)[0])
        out.append((t, t + repair, dis.factor))
        t += repair


def _window_intervals(dis: WindowDisruption, horizon_h: float):
    start = dis.start_day * HOURS_PER_DAY
    length = dis.duration_days * HOURS_PER_DAY
    out = []
    while start < horizon_h:
        out.append((start, start + length, dis.factor))
        if dis.every_days is None:
            break
        start += dis.every_days * HOURS_PER_DAY
    return out


def disruption_intervals(
    did: str, dis, seed: int, replication: int, horizon_h: float
) -> list[tuple[float, float, float]]:
    """The ``(start_h, end_h, factor)`` intervals one disruption imposes on its target."""
    if not dis.enabled:
        return []
    if isinstance(dis, OutageDisruption):
        return _outage_intervals(dis, stream(seed, replication, f"outage:{did}"), horizon_h)
    if isinstance(dis, WindowDisruption):
        return _window_intervals(dis, horizon_h)
    if isinstance(dis, FactorDisruption):
        end = math.inf if dis.end_day is None else dis.end_day * HOURS_PER_DAY
        return [(dis.start_day * HOURS_PER_DAY, end, dis.factor)]
    raise TypeError(f"unknown disruption {dis!r}")


def capacity_timelines(scenario: Scenario, replication: int) -> dict[str, Timeline]:
    """Timeline per target (``"nodes.x"``, ``"legs.y"``, ``"fleets.z"``); absent = always 1."""
    horizon_h = scenario.scenario.horizon_days * HOURS_PER_DAY
    seed = scenario.scenario.seed
    by_target: dict[str, list[tuple[float, float, float]]] = {}
    for did in sorted(scenario.disruptions):
        dis = scenario.disruptions[did]
        by_target.setdefault(dis.target, []).extend(
            disruption_intervals(did, dis, seed, replication, horizon_h)
        )
    return {target: Timeline.from_intervals(ivs) for target, ivs in sorted(by_target.items())}
