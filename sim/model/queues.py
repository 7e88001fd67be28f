"""FIFO queues of containers at a node, waiting for an outbound leg or for delivery.

Containers enter a queue either *now* (``put``) or with known future ready
times (``add_future``: pre-generated demand, per-container dwell after
unloading). Future entries are kept as a few sorted runs (:mod:`sim.model.runs`)
and moved into the FIFO lazily, so a queue costs no simulation event per
container and no work per waiting container when it is looked at: a train
or vessel asks :meth:`LegQueue.time_reaching` when enough TEU will be ready and
sleeps until then, or until the queue changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np
import simpy

from sim.model.containers import ContainerTable
from sim.model.runs import SortedRuns


class LegQueue:
    """Ready-ordered FIFO of container indices at ``node`` for leg ``leg`` (None: delivery)."""

    def __init__(self, env: simpy.Environment, table: ContainerTable, node: str, leg: str | None):
        self.env = env
        self.table = table
        self.node = node
        self.leg = leg
        self._chunks: deque[np.ndarray] = deque()
        self._ready_teu = 0.0
        self._future = SortedRuns()  # known future entries, by ready time
        self._changed: simpy.Event | None = None
        # called at every put, future entry or take (carriers waiting to leave)
        self.watchers: list[Callable[[], None]] = []

    # -- entering -------------------------------------------------------------------

    def put(self, idx: np.ndarray) -> None:
        """Containers ready now, appended after everything already ready."""
        if len(idx) == 0:
            return
        self._materialise()
        self.table.ready_h[idx] = self.env.now
        self._chunks.append(idx)
        self._ready_teu += self.table.teu_of(idx)
        self._notify()

    def add_future(self, idx: np.ndarray, ready_h: np.ndarray, presorted: bool = False) -> None:
        """Containers that become ready at ``ready_h`` (any order; ties keep index order).

        ``presorted``: ``ready_h`` is already in ascending order.
        """
        if len(idx) == 0:
            return
        if presorted:
            times = ready_h
        else:
            order = np.argsort(ready_h, kind="stable")
            idx = idx[order]
            times = ready_h[order]
        self.table.ready_h[idx] = times
        self._future.add(times, idx, self.table.teu[idx])
        self._materialise()
        self._notify()

    # -- looking --------------------------------------------------------------------

    def ready_teu(self) -> float:
        """TEU ready to leave now."""
        self._materialise()
        return self._ready_teu

    def oldest_ready_h(self) -> float:
        """Ready time of the first container in line (``inf`` if none is known yet)."""
        self._materialise()
        if self._chunks:
            return float(self.table.ready_h[self._chunks[0][0]])
        return self._future.next_due

    def time_reaching(self, teu: float) -> float:
        """Earliest time at which at least ``teu`` will be ready, from what is known now."""
        self._materialise()
        need = teu - self._ready_teu
        if need <= 1e-9:
            return self.env.now
        return self._future.time_reaching(need)

    def changed(self) -> simpy.Event:
        """An event that fires at the next put, future entry or take."""
        if self._changed is None or self._changed.triggered:
            self._changed = self.env.event()
        return self._changed

    # -- leaving --------------------------------------------------------------------

    def take(self, max_teu: float) -> np.ndarray:
        """Remove the longest FIFO prefix of ready containers with at most ``max_teu`` TEU."""
        self._materialise()
        taken: list[np.ndarray] = []
        room = max_teu
        teu = self.table.teu
        while self._chunks and room > 0:
            chunk = self._chunks[0]
            # a box is at least 1 TEU: no more than room + 1 boxes need summing
            cum = np.cumsum(teu[chunk[: int(room) + 1]], dtype=np.float64)
            k = int(np.searchsorted(cum, room + 1e-9, side="right"))
            if k == 0:
                break
            if k >= len(chunk):
                taken.append(self._chunks.popleft())
                room -= float(cum[-1])
            else:
                taken.append(chunk[:k])
                self._chunks[0] = chunk[k:]
                room -= float(cum[k - 1])
                break
        if not taken:
            return np.empty(0, dtype=np.int64)
        out = np.concatenate(taken) if len(taken) > 1 else taken[0]
        self._ready_teu -= max_teu - room
        if self._ready_teu < 1e-9:
            self._ready_teu = 0.0
        self._notify()
        return out

    # -- accounting -----------------------------------------------------------------

    def present(self, now: float) -> np.ndarray:
        """Indices physically here at ``now`` (ready or not), excluding future demand."""
        self._materialise()
        parts = list(self._chunks)
        for _, rest, _ in self._future.remaining():
            parts.append(rest[self.table.created_h[rest] <= now])
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def _materialise(self) -> None:
        """Move the future entries that are ready by now to the end of the FIFO."""
        if self.env.now < self._future.next_due:
            return
        _, chunk, _, teu = self._future.pop_until(self.env.now)
        if len(chunk):
            self._chunks.append(chunk)
            self._ready_teu += teu

    def _notify(self) -> None:
        if self._changed is not None and not self._changed.triggered:
            self._changed.succeed()
        for watcher in list(self.watchers):
            watcher()
