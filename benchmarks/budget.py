"""Where the time of one replication goes, per carrier trip, against bare SimPy and numpy costs.

The throughput target (boxes per second) becomes a budget per carrier trip once the
fixed phases are known: a replication = build + run + conservation check + measure,
and the run costs about the same for every train run or sailing. This module times
the phases of one replication separately and counts its trips and events, and
measures, in the same process, what SimPy and numpy cost by themselves on this
machine — so the budget and the gap are measured, not asserted::

    python benchmarks/run.py --only budget
"""

from __future__ import annotations

import time
import timeit
from typing import Any

import numpy as np

BARE_PROCESSES = 400
BARE_HORIZON = 1500.0
BARE_STEP_H = 1.3
ARRAY_LEN = 110  # a train's or feeder's load, in boxes (order of magnitude)


def replication_phases(scenario) -> dict[str, Any]:
    """CPU seconds of each phase of replication 0, and its boxes, trips and events."""
    from sim.model.corridor import CorridorModel
    from sim.model.measure import measure

    c0 = time.process_time()
    model = CorridorModel(scenario, 0)
    c1 = time.process_time()
    end, gridlock = model.run()
    c2 = time.process_time()
    inside = model.check_conservation(end)
    c3 = time.process_time()
    measure(model, end, inside, gridlock)
    c4 = time.process_time()
    train_runs = sum(len(leg.departures_h) for leg in model.rail_legs.values())
    sailings = sum(len(f.departures_h) for f in model.fleets.values())
    return {
        "build_s": c1 - c0,
        "run_s": c2 - c1,
        "check_s": c3 - c2,
        "measure_s": c4 - c3,
        "boxes": int((model.table.created_h <= end).sum()),
        "train_runs": train_runs,
        "sailings": sailings,
        "events": model.env.scheduled,
    }


def bare_simpy_us_per_event() -> float:
    """CPU µs per timeout event of generator processes doing nothing else."""
    from sim.model.corridor import CountingEnvironment

    env = CountingEnvironment()

    def idle():
        while True:
            yield env.timeout(BARE_STEP_H)

    for _ in range(BARE_PROCESSES):
        env.process(idle())
    c0 = time.process_time()
    env.run(until=BARE_HORIZON)
    return (time.process_time() - c0) / env.scheduled * 1e6


def numpy_us_per_call() -> dict[str, float]:
    """CPU µs of single numpy calls on an array of ``ARRAY_LEN`` (median of 5 timings)."""
    rng = np.random.default_rng(0)
    a = np.sort(rng.uniform(0, 100, ARRAY_LEN))
    w = rng.integers(1, 3, ARRAY_LEN).astype(np.float64)
    table = rng.uniform(0, 1, 1_000_000)
    idx = np.sort(rng.choice(len(table), ARRAY_LEN, replace=False))
    calls = {
        "searchsorted": lambda: a.searchsorted(50.0),
        "gather": lambda: table[idx],
        "concatenate": lambda: np.concatenate((a, a)),
        "argsort": lambda: a.argsort(kind="stable"),
        "cumsum": lambda: w.cumsum(),
    }
    n = 20_000
    out = {}
    for name, call in calls.items():
        runs = timeit.repeat(call, number=n, repeat=5, timer=time.process_time)
        out[name] = float(np.median(runs)) / n * 1e6
    return out


def budget(phases: dict[str, Any], event_us: float, target_boxes_per_s: float) -> dict[str, Any]:
    """Per-trip cost of the run, and what ``target_boxes_per_s`` would allow per trip."""
    trips = phases["train_runs"] + phases["sailings"]
    fixed = phases["build_s"] + phases["check_s"] + phases["measure_s"]
    total_allowed = phases["boxes"] / target_boxes_per_s
    run_allowed = total_allowed - fixed
    return {
        "trips": trips,
        "events_per_trip": phases["events"] / trips,
        "run_us_per_trip": phases["run_s"] / trips * 1e6,
        "bare_events_us_per_trip": event_us * phases["events"] / trips,
        "allowed_total_s": total_allowed,
        "allowed_run_s": run_allowed,
        "allowed_us_per_trip": run_allowed / trips * 1e6,
        "boxes_per_cpu_s": phases["boxes"] / (fixed + phases["run_s"]),
    }
