"""Run replications of a scenario, serially or across worker processes.

Every replication is ``run_replication(scenario, r)`` — a pure function of the
scenario and the replication index (its random streams are keyed by both),
so the same numbers come out whatever the number of workers; results are
sorted by replication index before anything is aggregated.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from sim.model.corridor import run_replication
from sim.scenario.schema import Scenario


def default_workers() -> int:
    """All cores of this machine."""
    return os.cpu_count() or 1


def replicate(
    scenario: Scenario, replications: int, workers: int | None = None, first: int = 0
) -> list[dict[str, Any]]:
    """Records of replications ``first .. first + replications - 1``, in index order."""
    indices = list(range(first, first + replications))
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(indices) == 1:
        records = [run_replication(scenario, r) for r in indices]
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(indices))) as pool:
            records = list(pool.map(run_replication, [scenario] * len(indices), indices))
    return sorted(records, key=lambda rec: rec["replication"])
