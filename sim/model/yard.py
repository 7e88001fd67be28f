"""A finite container yard: space is reserved FIFO before a train or vessel unloads.

When the yard is full, the next arrival waits — a train keeps its wagons, a
vessel keeps its berth — which is how congestion backs up the line. Space is
freed when containers leave on a train or vessel (``release``) or when they are
delivered to the consignee at a known future time (``release_at``; applied
lazily, with a wake-up at the next release time only while someone waits).
"""

from __future__ import annotations

import heapq
import math
from collections import deque

import simpy

from sim.model.monitors import InvariantMonitor, LevelMonitor


class Yard:
    """TEU storage of one node; ``capacity_teu = inf`` for an unlimited yard."""

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        capacity_teu: float,
        invariants: InvariantMonitor,
    ) -> None:
        self.env = env
        self.name = name
        self.capacity = capacity_teu
        self.occupied = 0.0
        self.monitor = LevelMonitor()
        self._waiters: deque[tuple[float, simpy.Event]] = deque()
        self._future: list[tuple[float, float]] = []
        self._wake_at = math.inf
        self._invariants = invariants
        self._blocked: simpy.Event | None = None
        self._inv = f"yard {name}"
        invariants.register(self._inv, capacity_teu)
        self.full_since: float | None = None

    @property
    def finite(self) -> bool:
        return self.capacity < math.inf

    @property
    def is_blocked(self) -> bool:
        """Arrivals are waiting for space."""
        return bool(self._waiters)

    def blocked(self) -> simpy.Event:
        """An event that fires when the next arrival has to wait for space."""
        if self._blocked is None or self._blocked.triggered:
            self._blocked = self.env.event()
        return self._blocked

    def free(self) -> float:
        self._apply_due()
        return self.capacity - self.occupied

    def reserve(self, teu: float) -> simpy.Event:
        """An event that fires once ``teu`` of space is held for the caller (FIFO)."""
        ev = self.env.event()
        self._apply_due()
        if not self._waiters and self.capacity - self.occupied >= teu - 1e-9:
            self._change(teu)
            ev.succeed()
        else:
            self._waiters.append((teu, ev))
            if self.full_since is None:
                self.full_since = self.env.now
            if self._blocked is not None and not self._blocked.triggered:
                self._blocked.succeed()
            self._schedule_wake()
        return ev

    def release(self, teu: float) -> None:
        """Containers left now."""
        if teu <= 0:
            return
        self._apply_due()
        self._change(-teu)
        self._serve()

    def release_at(self, times, teus) -> None:
        """Containers will leave at ``times`` (delivery to the consignee)."""
        now = self.env.now
        self._apply_due()
        freed_now = 0.0
        for t, q in zip(times, teus, strict=True):
            if t <= now:
                freed_now += float(q)
            else:
                heapq.heappush(self._future, (float(t), float(q)))
        if freed_now:
            self._change(-freed_now)
        self._serve()

    def pending_release_teu(self) -> float:
        """TEU whose release lies in the future (they are still in the yard)."""
        self._apply_due()
        return sum(q for _, q in self._future)

    # ------------------------------------------------------------------------------

    def _change(self, delta: float) -> None:
        self.occupied += delta
        if abs(self.occupied) < 1e-9:
            self.occupied = 0.0
        self.monitor.set(self.env.now, self.occupied)
        self._invariants.change(self._inv, delta, self.env.now)

    def _apply_due(self) -> None:
        now = self.env.now
        while self._future and self._future[0][0] <= now:
            t, q = heapq.heappop(self._future)
            self.occupied -= q
            if abs(self.occupied) < 1e-9:
                self.occupied = 0.0
            self.monitor.set(t, self.occupied)
            self._invariants.change(self._inv, -q, t)

    def _serve(self) -> None:
        while self._waiters:
            teu, ev = self._waiters[0]
            if self.capacity - self.occupied < teu - 1e-9:
                break
            self._waiters.popleft()
            self._change(teu)
            ev.succeed()
        if not self._waiters:
            self.full_since = None
        self._schedule_wake()

    def _schedule_wake(self) -> None:
        if not self._waiters or not self._future:
            return
        t = self._future[0][0]
        if t >= self._wake_at:
            return
        self._wake_at = t
        timer = self.env.timeout(t - self.env.now)
        timer.callbacks.append(self._on_wake)

    def _on_wake(self, _event: simpy.Event) -> None:
        self._wake_at = math.inf
        self._apply_due()
        self._serve()
