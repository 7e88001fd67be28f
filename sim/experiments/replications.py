"""Replications of scenarios, on any executor, in deterministic order.

Every replication is ``run_replication(scenario, r)`` — a pure function of the
scenario and the replication index (its random streams are keyed by both, so
replication *r* of two scenarios shares demand and storms: common random
numbers). Replications are bundled into chunks (tasks of seconds, not
milliseconds), bulky arrays can be dropped on the worker side, and records are
sorted by replication index before anything is aggregated.
"""

from __future__ import annotations

import math
import os
from typing import Any

from sim.errors import ScenarioError
from sim.experiments.executors import ExecutorSpec, chunk, open_executor, run_tasks
from sim.model.corridor import run_replication
from sim.outputs.summary import FLOW_KPIS, SYSTEM_KPIS
from sim.scenario.schema import Scenario
from sim.stats import summarise

BULKY = ("series", "transit_days")
TARGET_KPIS = tuple(dict.fromkeys((*FLOW_KPIS, *SYSTEM_KPIS, "bottleneck_utilisation")))
"""KPIs the replications algorithm can aim at (study KPIs, system totals, bottleneck ρ)."""


def default_workers() -> int:
    """All cores of this machine."""
    return os.cpu_count() or 1


def run_chunk(scenario: Scenario, indices: list[int], drop: tuple[str, ...] = ()) -> list[dict]:
    """Records of replications ``indices``, without the bulky parts named in ``drop``
    (``"series"``, ``"transit_days"``): they are dropped on the worker, not shipped back."""
    out = []
    for r in indices:
        rec = run_replication(scenario, r)
        for key in drop:
            rec.pop(key, None)
        out.append(rec)
    return out


def run_batches(
    executor: Any,
    spec: ExecutorSpec,
    jobs: list[tuple[Scenario, list[int]]],
    drop: tuple[str, ...] = (),
    label: str = "replications",
) -> list[list[dict]]:
    """For each ``(scenario, indices)`` job, its records in index order."""
    workers = spec.effective_workers()
    tasks: list[tuple[Any, ...]] = []
    owner: list[int] = []
    for j, (scen, indices) in enumerate(jobs):
        n_jobs = max(1, len(jobs))
        for part in chunk(indices, max(1, math.ceil(workers / n_jobs))):
            tasks.append((scen, part, drop))
            owner.append(j)
    results = run_tasks(executor, run_chunk, tasks, [len(t[1]) for t in tasks], label, spec.quiet)
    grouped: list[list[dict]] = [[] for _ in jobs]
    for j, recs in zip(owner, results, strict=True):
        grouped[j].extend(recs)
    return [sorted(g, key=lambda rec: rec["replication"]) for g in grouped]


def replicate(
    scenario: Scenario,
    replications: int,
    workers: int | None = None,
    first: int = 0,
    spec: ExecutorSpec | None = None,
) -> list[dict[str, Any]]:
    """Records of replications ``first .. first + replications - 1``, in index order."""
    spec = spec or ExecutorSpec(workers=workers, quiet=True)
    indices = list(range(first, first + replications))
    with open_executor(spec) as ex:
        return run_batches(ex, spec, [(scenario, indices)])[0]


def kpi_value(record: dict, kpi: str) -> float | None:
    """A headline KPI of one record: a study KPI, a system KPI, or the bottleneck's ρ."""
    if kpi == "bottleneck_utilisation":
        return record["bottleneck"]["utilisation"]
    if kpi in record["study"]:
        return record["study"][kpi]
    return record["system"].get(kpi)


def _relative_halfwidth(records: list[dict], kpi: str) -> float | None:
    """95% CI half-width of ``kpi`` over ``records``, relative to |mean| (None if undefined)."""
    s = summarise(kpi_value(r, kpi) for r in records)
    if s["mean"] and s["ci95_high"] is not None:
        return (s["ci95_high"] - s["mean"]) / abs(s["mean"])
    return None


def replicate_to_precision(
    scenario: Scenario,
    spec: ExecutorSpec,
    kpi: str,
    target_rel_halfwidth: float,
    max_replications: int,
) -> tuple[list[dict], dict[str, Any]]:
    """The replications algorithm: add replications until ``kpi``'s 95% CI is tight enough.

    Starts with the scenario's replications (at least 3) and adds batches of one
    replication per worker. The decision looks at replications in index order: the
    answer is the smallest n (from the start count up) whose first n replications
    meet the target, or ``max_replications``. Replications run past that n (a batch
    is a few at a time) are dropped, so the count — and every number — is the same
    with any number of workers and on any executor.
    """
    if kpi not in TARGET_KPIS:
        raise ScenarioError(
            "--target-kpi", None, f"expected one of {', '.join(TARGET_KPIS)}, got {kpi!r}"
        )
    n0 = min(max(3, scenario.scenario.replications), max_replications)
    records: list[dict] = []
    n = n0
    with open_executor(spec) as ex:
        while True:
            if len(records) < n:
                ahead = max(n - len(records), spec.effective_workers())
                step = min(ahead, max_replications - len(records))
                more = list(range(len(records), len(records) + step))
                records += run_batches(ex, spec, [(scenario, more)])[0]
            rel = _relative_halfwidth(records[:n], kpi)
            done = rel is not None and rel <= target_rel_halfwidth
            if done or n >= max_replications:
                break
            n += 1
    records = records[:n]
    info = {
        "kpi": kpi,
        "target_rel_halfwidth": target_rel_halfwidth,
        "achieved_rel_halfwidth": rel,
        "replications": len(records),
        "reached": bool(done),
        "max_replications": max_replications,
    }
    return records, info
