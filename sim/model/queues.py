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

import math
from collections import deque

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
        # carriers waiting to leave (dispatch._Watch), in the order they started waiting:
        # told at every put, future entry or take, with the earliest ready time added
        self.watchers: list = []
        self.version = 0  # counts the changes
        self.shared = False  # carriers of more than one fleet load from this queue

    # -- entering -------------------------------------------------------------------

    def put(self, idx: np.ndarray) -> None:
        """Containers ready now, appended after everything already ready."""
        if len(idx) == 0:
            return
        self._materialise()
        self.table.ready_h[idx] = self.env.now
        self._chunks.append(idx)
        self._ready_teu += self.table.teu_of(idx)
        self._notify(self.env.now)

    def add_future(self, idx: np.ndarray, ready_h: np.ndarray, presorted: bool = False) -> None:
        """Containers that become ready at ``ready_h`` (any order; ties keep index order).

        ``presorted``: ``ready_h`` is already in ascending order.
        """
        if len(idx) == 0:
            return
        if presorted:
            times = ready_h
        elif len(idx) > 1:
            order = ready_h.argsort(kind="stable")
            idx = idx[order]
            times = ready_h[order]
        else:
            times = ready_h
        table = self.table
        table.ready_h[idx] = times
        future = self._future
        future.add(times, idx, table.teu[idx])
        if self.env.now >= future.next_due:
            self._materialise()
        self._notify(float(times[0]))

    # -- looking --------------------------------------------------------------------

    def ready_teu(self) -> float:
        """TEU ready to leave now."""
        self._materialise()
        return self._ready_teu

    def known_teu(self) -> float:
        """TEU ready now or known to become ready (future entries)."""
        self._materialise()
        return self._ready_teu + self._future.total_teu()

    def oldest_ready_h(self) -> float:
        """Ready time of the first container in line (``inf`` if none is known yet)."""
        self._materialise()
        if self._chunks:
            return float(self.table.ready_h[self._chunks[0][0]])
        return self._future.next_due

    def time_reaching(self, teu: float, before: float = math.inf) -> float:
        """Earliest time at which at least ``teu`` will be ready, from what is known now.

        ``before``: only a time earlier than this matters (``inf`` may be returned otherwise).
        """
        self._materialise()
        need = teu - self._ready_teu
        if need <= 1e-9:
            return self.env.now
        return self._future.time_reaching(need, before)

    def changed(self) -> simpy.Event:
        """An event that fires at the next put, future entry or take."""
        if self._changed is None or self._changed.triggered:
            self._changed = self.env.event()
        return self._changed

    # -- leaving --------------------------------------------------------------------

    def take(self, max_teu: float) -> tuple[np.ndarray, float]:
        """Remove the longest FIFO prefix of ready containers with at most ``max_teu`` TEU.

        Returns the indices and their TEU.
        """
        self._materialise()
        chunks = self._chunks
        if not chunks or max_teu <= 0:
            return np.empty(0, dtype=np.int64), 0.0
        if self._ready_teu <= max_teu + 1e-9:  # all that is ready fits (whole TEU: exact)
            line = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
            taken_teu = self._ready_teu
            chunks.clear()
            self._ready_teu = 0.0
            self._notify(math.inf)
            return line, taken_teu
        # a box is at least 1 TEU: the first max_teu + 1 boxes in line decide
        need = int(max_teu) + 1
        front: list[np.ndarray] = []
        n = 0
        for chunk in self._chunks:
            front.append(chunk)
            n += len(chunk)
            if n >= need:
                break
        line = np.concatenate(front) if len(front) > 1 else front[0]
        cum = self.table.teu[line[:need]].cumsum(dtype=np.float64)
        k = int(cum.searchsorted(max_teu + 1e-9, side="right"))
        if k == 0:
            return np.empty(0, dtype=np.int64), 0.0
        taken_teu = float(cum[k - 1])  # whole numbers: exact
        left = k
        while left:
            chunk = self._chunks[0]
            if len(chunk) <= left:
                self._chunks.popleft()
                left -= len(chunk)
            else:
                self._chunks[0] = chunk[left:]
                left = 0
        self._ready_teu -= taken_teu
        if self._ready_teu < 1e-9:
            self._ready_teu = 0.0
        self._notify(math.inf)  # nothing new: no departure can come sooner
        return line[:k], taken_teu

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
        now = self.env.now
        if now < self._future.next_due:
            return
        _, chunk, teu = self._future.pop_until(now)
        n = len(chunk)
        if n:
            self._chunks.append(chunk)
            # teu.sum() without its wrapper; a short list sums faster (whole TEU: exact)
            self._ready_teu += float(sum(teu.tolist()) if n <= 32 else np.add.reduce(teu))

    def _notify(self, first_new_h: float) -> None:
        self.version += 1
        changed = self._changed
        if changed is not None and not changed.triggered:
            changed.succeed()
        if self.watchers:
            for watch in list(self.watchers):
                watch.on_change(first_new_h)
