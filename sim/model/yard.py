"""A finite container yard: space is reserved FIFO before a train or vessel unloads.

When the yard is full, the next arrival waits — a train keeps its wagons, a
vessel keeps its berth — which is how congestion backs up the line. Space is
freed when containers leave on a train or vessel (``release``) or when they are
delivered to the consignee at a known future time (``release_at``; kept as
sorted runs and applied lazily in bulk, with a wake-up at the next release time
only while someone waits). The level over time (:attr:`Yard.monitor`) is built
from the log of changes when it is read, so applying releases costs no
per-container bookkeeping during the run.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Generator

import numpy as np
import simpy

from sim.model.monitors import InvariantMonitor, LevelMonitor
from sim.model.runs import SortedRuns


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
        # the level's history: immediate changes, and releases at their own (future) times
        self._log_t = array("d")
        self._log_d = array("d")
        self._scheduled: list[tuple[np.ndarray, np.ndarray]] = []
        self._applied_until = 0.0  # releases up to here are in ``occupied``
        self._monitor: tuple[tuple[int, int, float], LevelMonitor] | None = None
        self._waiters: deque[tuple[float, simpy.Event]] = deque()
        self._n_first = 0  # waiters at the head of the line that came first (vessels)
        self._future = SortedRuns()  # releases at known future times (teu by time)
        self._wake_at = math.inf
        self._invariants = invariants
        # carriers waiting to leave (dispatch._Watch): told when an arrival has to wait
        self.watchers: list = []
        self._blocked: simpy.Event | None = None
        self._inv = f"yard {name}"
        invariants.register(self._inv, capacity_teu)
        self.full_since: float | None = None
        self.capacity_monitor: LevelMonitor | None = None  # capacity over time, once it changes
        self.last_release_h = 0.0  # when space was last freed (the watchdog reads it)

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

    @property
    def monitor(self) -> LevelMonitor:
        """TEU in the yard over time, up to the last time the yard was looked at.

        Built from the log of changes on first read after a change (and cached):
        a change point per reservation, removal and delivery time.
        """
        key = (len(self._log_t), len(self._scheduled), self._applied_until)
        if self._monitor is None or self._monitor[0] != key:
            times = [np.frombuffer(self._log_t, dtype=np.float64)]
            deltas = [np.frombuffer(self._log_d, dtype=np.float64)]
            for t, teu in self._scheduled:
                k = int(t.searchsorted(self._applied_until, side="right"))
                times.append(t[:k])
                deltas.append(-teu[:k])
            mon = LevelMonitor.from_changes(np.concatenate(times), np.concatenate(deltas))
            self._monitor = (key, mon)
        return self._monitor[1]

    def free(self) -> float:
        self._apply_due()
        return self.capacity - self.occupied

    def set_capacity(self, capacity_teu: float) -> None:
        """A dated change of the yard's size (or its share for the modelled traffic, or a
        capacity factor): more space admits those in line; less stops admissions until
        the yard has emptied below it."""
        if capacity_teu == self.capacity:
            return
        if self.capacity_monitor is None:
            self.capacity_monitor = LevelMonitor(self.capacity)
        self.capacity_monitor.set(self.env.now, capacity_teu)
        self.capacity = capacity_teu
        self._invariants.set_capacity(self._inv, capacity_teu)
        self._apply_due()
        self._serve()

    def try_reserve(self, teu: float, first: bool = False) -> bool:
        """Hold ``teu`` of space now if :meth:`reserve` would get it without waiting (no
        generator); False: nothing is held, wait with :meth:`reserve`."""
        self._apply_due()
        ahead = self._n_first if first else len(self._waiters)
        if not ahead and self.capacity - self.occupied >= teu - 1e-9:
            self._change(teu)
            return True
        return False

    def reserve(self, teu: float, first: bool = False) -> Generator[simpy.Event, object, None]:
        """Hold ``teu`` of space, waiting in line while the yard is short (``yield from``).

        ``first``: go to the head of the line (a vessel discharging at a berth, which it
        holds meanwhile; trains wait on their own tracks).
        """
        ev = self.request(teu, first)
        if ev is not None:
            yield ev

    def request(self, teu: float, first: bool = False) -> simpy.Event | None:
        """:meth:`reserve` without its generator: None if the space is held now, else the
        event that fires when it is (the caller waits in line for it)."""
        self._apply_due()
        ahead = self._n_first if first else len(self._waiters)
        if not ahead and self.capacity - self.occupied >= teu - 1e-9:
            self._change(teu)  # no event when the space is there
            return None
        ev = self.env.event()
        if first:  # behind the vessels already waiting, ahead of the trains
            self._waiters.insert(self._n_first, (teu, ev))
            self._n_first += 1
        else:
            self._waiters.append((teu, ev))
        if self.full_since is None:
            self.full_since = self.env.now
        if self._blocked is not None and not self._blocked.triggered:
            self._blocked.succeed()
        for watch in list(self.watchers):
            watch.on_change()
        self._schedule_wake()
        return ev

    def exchange(self, out_teu: float, in_teu: float) -> float:
        """Dual cycle at a berth: ``out_teu`` leave on a vessel that will discharge
        ``in_teu``; the space they free goes to that vessel first (not to the carriers in
        line, which would leave it holding the berth). Returns the TEU reserved for it."""
        self._apply_due()
        if out_teu > 0:
            self._change(-out_teu)
        got = max(0.0, min(in_teu, self.capacity - self.occupied))
        if got > 0:
            self._change(got)
        self._serve()
        return got

    def give(self, waiter: simpy.Event, out_teu: float) -> None:
        """Dual cycle for a train in line (``waiter``, from :meth:`request`): ``out_teu``
        leave on its wagons as its own boxes come off, so the space they free goes to it
        ahead of the trains in line, after the vessels discharging at a berth."""
        self._apply_due()
        if out_teu > 0:
            self._change(-out_teu)
        waiters = self._waiters
        while self._n_first:  # vessels first, in line
            need, ev = waiters[0]
            if self.capacity - self.occupied < need - 1e-9:
                break
            waiters.popleft()
            self._n_first -= 1
            self._change(need)
            ev.succeed()
        for i, (need, ev) in enumerate(waiters):
            if ev is not waiter:
                continue
            got = min(need, out_teu, max(0.0, self.capacity - self.occupied))
            if got > 0:
                self._change(got)
                if need - got <= 1e-9:
                    del self._waiters[i]
                    if i < self._n_first:
                        self._n_first -= 1
                    ev.succeed()
                else:
                    self._waiters[i] = (need - got, ev)
            break
        self._serve()

    def release(self, teu: float) -> None:
        """Containers left now."""
        if teu <= 0:
            return
        self._apply_due()
        self._change(-teu)
        self._serve()

    def release_at(self, times: np.ndarray, teus: np.ndarray, presorted: bool = False) -> None:
        """Containers will leave at ``times`` (delivery to the consignee).

        ``presorted``: ``times`` is already in ascending order.
        """
        now = self.env.now
        self._apply_due()
        times = np.asarray(times, dtype=np.float64)
        teus = np.asarray(teus, dtype=np.float64)
        if not presorted:
            order = times.argsort(kind="stable")
            times, teus = times[order], teus[order]
        n = len(times)
        # due already
        k = 0 if n and times[0] > now else int(times.searchsorted(now, side="right"))
        if k:
            freed_now = float(teus[:k].sum())
            if freed_now:
                self._change(-freed_now)
        if k < n:
            if k:
                times, teus = times[k:], teus[k:]
            self._future.add(times, None, teus)
            self._scheduled.append((times, teus))
        self._serve()

    def pending_release_teu(self) -> float:
        """TEU whose release lies in the future (they are still in the yard)."""
        self._apply_due()
        return float(sum(q.sum() for _, _, q in self._future.remaining()))

    # ------------------------------------------------------------------------------

    def _change(self, delta: float) -> None:
        now = self.env.now
        if delta < 0:
            self.last_release_h = now
        occupied = self.occupied + delta
        self.occupied = 0.0 if abs(occupied) < 1e-9 else occupied
        self._log_t.append(now)
        self._log_d.append(delta)
        self._invariants.change(self._inv, delta, now)

    def _apply_due(self) -> None:
        """Apply the releases due by now (the monitor places each at its own time)."""
        now = self.env.now
        self._applied_until = now
        if now < self._future.next_due:
            return
        total = self._future.drop_until(now)
        if total > 0:
            self.last_release_h = now  # at or after the releases' own times
        self.occupied -= total
        if abs(self.occupied) < 1e-9:
            self.occupied = 0.0
        self._invariants.change(self._inv, -total, now)

    def _serve(self) -> None:
        while self._waiters:
            teu, ev = self._waiters[0]
            if self.capacity - self.occupied < teu - 1e-9:
                break
            self._waiters.popleft()
            if self._n_first:
                self._n_first -= 1
            self._change(teu)
            ev.succeed()
        if not self._waiters:
            self.full_since = None
        self._schedule_wake()

    def _schedule_wake(self) -> None:
        if not self._waiters or not self._future:
            return
        t = self._future.next_due
        if t >= self._wake_at:
            return
        self._wake_at = t
        timer = self.env.timeout(t - self.env.now)
        timer.callbacks.append(self._on_wake)

    def _on_wake(self, _event: simpy.Event) -> None:
        self._wake_at = math.inf
        self._apply_due()
        self._serve()
