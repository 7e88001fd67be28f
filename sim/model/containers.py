"""Containers as rows of numpy arrays: no per-container Python objects or processes.

Row ``i`` is one box. Its flow, size (1 = TEU, 2 = FEU) and creation time are
fixed; ``arrive_h[i, s]`` / ``depart_h[i, s]`` stamp the stage ``s`` of its route
(stage 0 is the origin, the last stage the destination, where ``depart_h`` is
the delivery time). ``ready_h`` is when it may leave its current node. Batches
(trains, vessels, queues) hold index arrays into these rows.
"""

from __future__ import annotations

import numpy as np


class ContainerTable:
    """All containers of one replication (allocated once: demand is generated up front)."""

    def __init__(self, flow: np.ndarray, teu: np.ndarray, created_h: np.ndarray, stages: int):
        n = len(flow)
        self.flow = flow.astype(np.int16)
        self.teu = teu.astype(np.int8)
        self.created_h = created_h.astype(np.float64)
        self.stage = np.zeros(n, dtype=np.int8)
        self.ready_h = self.created_h.copy()
        self.arrive_h = np.full((n, stages), np.nan)
        self.depart_h = np.full((n, stages), np.nan)
        self.arrive_h[:, 0] = self.created_h

    def __len__(self) -> int:
        return len(self.flow)

    def teu_of(self, idx: np.ndarray) -> float:
        """Total TEU of the boxes ``idx``."""
        return float(np.add.reduce(self.teu[idx], dtype=np.int64))  # .sum() minus its wrapper
