"""FIFO queues of containers at a node, waiting for an outbound leg or for delivery.

Containers enter a queue either *now* (``put``) or with known future ready
times (``add_future``: pre-generated demand, per-container dwell after
unloading). Future entries are kept as sorted arrays ("feeds") and moved into
the FIFO lazily, so a queue costs no simulation event per container: a train
or vessel asks :meth:`LegQueue.time_reaching` when enough TEU will be ready and
sleeps until then, or until the queue changes.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import simpy

from sim.model.containers import ContainerTable


class _Feed:
    """Future entries of a queue, sorted by ready time."""

    __slots__ = ("times", "idx", "cumteu", "pos")

    def __init__(self, times: np.ndarray, idx: np.ndarray, teu: np.ndarray) -> None:
        self.times = times
        self.idx = idx
        self.cumteu = np.cumsum(teu, dtype=np.float64)
        self.pos = 0

    def teu_before(self, k: int) -> float:
        """TEU of entries ``pos..k-1``."""
        if k <= self.pos:
            return 0.0
        base = self.cumteu[self.pos - 1] if self.pos else 0.0
        return float(self.cumteu[k - 1] - base)


class LegQueue:
    """Ready-ordered FIFO of container indices at ``node`` for leg ``leg`` (None: delivery)."""

    def __init__(self, env: simpy.Environment, table: ContainerTable, node: str, leg: str | None):
        self.env = env
        self.table = table
        self.node = node
        self.leg = leg
        self._chunks: deque[np.ndarray] = deque()
        self._ready_teu = 0.0
        self._feeds: list[_Feed] = []
        self._next_due = math.inf  # earliest ready time among the feeds
        self._changed: simpy.Event | None = None

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

    def add_future(self, idx: np.ndarray, ready_h: np.ndarray) -> None:
        """Containers that become ready at ``ready_h`` (any order; ties keep index order)."""
        if len(idx) == 0:
            return
        order = np.argsort(ready_h, kind="stable")
        idx = idx[order]
        times = ready_h[order]
        self.table.ready_h[idx] = times
        self._feeds.append(_Feed(times, idx, self.table.teu[idx]))
        self._next_due = min(self._next_due, float(times[0]))
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
        heads = [f.times[f.pos] for f in self._feeds if f.pos < len(f.times)]
        return float(min(heads)) if heads else math.inf

    def time_reaching(self, teu: float) -> float:
        """Earliest time at which at least ``teu`` will be ready, from what is known now."""
        self._materialise()
        need = teu - self._ready_teu
        if need <= 1e-9:
            return self.env.now
        times = []
        sizes = []
        for f in self._feeds:
            # each feed alone contributes at most the entries needed to cover `need`
            base = f.cumteu[f.pos - 1] if f.pos else 0.0
            k = int(np.searchsorted(f.cumteu, base + need - 1e-9, side="left")) + 1
            k = min(k, len(f.times))
            times.append(f.times[f.pos : k])
            sizes.append(self.table.teu[f.idx[f.pos : k]])
        if not times:
            return math.inf
        t = np.concatenate(times)
        s = np.concatenate(sizes).astype(np.float64)
        order = np.argsort(t, kind="stable")
        cum = np.cumsum(s[order])
        j = int(np.searchsorted(cum, need - 1e-9, side="left"))
        return float(t[order][j]) if j < len(cum) else math.inf

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
            cum = np.cumsum(teu[chunk], dtype=np.float64)
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
        for f in self._feeds:
            rest = f.idx[f.pos :]
            parts.append(rest[self.table.created_h[rest] <= now])
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def _materialise(self) -> None:
        now = self.env.now
        if now < self._next_due:
            return
        moved: list[np.ndarray] = []
        moved_t: list[np.ndarray] = []
        teu = 0.0
        keep = []
        for f in self._feeds:
            k = int(np.searchsorted(f.times, now, side="right"))
            if k > f.pos:
                moved.append(f.idx[f.pos : k])
                moved_t.append(f.times[f.pos : k])
                teu += f.teu_before(k)
                f.pos = k
            if f.pos < len(f.times):
                keep.append(f)
        self._feeds = keep
        self._next_due = min((float(f.times[f.pos]) for f in keep), default=math.inf)
        if not moved:
            return
        if len(moved) == 1:
            chunk = moved[0]
        else:
            t = np.concatenate(moved_t)
            chunk = np.concatenate(moved)[np.argsort(t, kind="stable")]
        self._chunks.append(chunk)
        self._ready_teu += teu

    def _notify(self) -> None:
        if self._changed is not None and not self._changed.triggered:
            self._changed.succeed()
