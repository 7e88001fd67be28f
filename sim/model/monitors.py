"""Time-weighted statistics and independent invariant checks.

:class:`LevelMonitor` integrates a level (TEU in a yard, busy berths, wagons
out) over time, so means are time-weighted, and keeps the change points for
daily series. :class:`InvariantMonitor` keeps its *own* tally of every
resource from the deltas reported to it and raises as soon as one goes
negative or above its capacity — it does not trust the component's counter.
"""

from __future__ import annotations

import math
from array import array

import numpy as np

from sim.errors import InvariantError


class LevelMonitor:
    """A piecewise-constant level over time, integrated from ``t0``.

    Change points are kept in compact ``array('d')`` buffers (8 bytes a value):
    a yard has one per delivery time, i.e. about one per container. ``times`` and
    ``levels`` give them as lists.
    """

    __slots__ = ("_t", "_v", "level")

    def __init__(self, level: float = 0.0) -> None:
        self._t = array("d", [0.0])
        self._v = array("d", [level])
        self.level = level

    @property
    def times(self) -> list[float]:
        """Change times (a copy)."""
        return self._t.tolist()

    @property
    def levels(self) -> list[float]:
        """The level from each change time on (a copy)."""
        return self._v.tolist()

    def set(self, t: float, level: float) -> None:
        if t == self._t[-1]:
            self._v[-1] = level
        else:
            self._t.append(t)
            self._v.append(level)
        self.level = level

    def extend(self, times: np.ndarray, levels: np.ndarray) -> None:
        """``set(t, level)`` for each pair in order (times sorted, not before the last)."""
        if len(times) == 0:
            return
        t = np.asarray(times, dtype=np.float64)
        v = np.asarray(levels, dtype=np.float64)
        if len(t) > 1:
            last = np.empty(len(t), dtype=bool)  # of equal times, the last level holds
            np.not_equal(t[1:], t[:-1], out=last[:-1])
            last[-1] = True
            t, v = t[last], v[last]
        if t[0] == self._t[-1]:
            self._v[-1] = v[0]
            t, v = t[1:], v[1:]
        self._t.frombytes(t.tobytes())
        self._v.frombytes(v.tobytes())
        self.level = self._v[-1]

    def add(self, t: float, delta: float) -> None:
        self.set(t, self.level + delta)

    @classmethod
    def from_changes(cls, times: np.ndarray, deltas: np.ndarray) -> LevelMonitor:
        """The monitor of a level that starts at 0 and changes by ``deltas`` at ``times``.

        ``times`` need not be sorted; of changes at equal times the level after all
        of them holds, as with :meth:`set`.
        """
        mon = cls()
        if len(times) == 0:
            return mon
        order = np.argsort(times, kind="stable")
        t = np.asarray(times, dtype=np.float64)[order]
        v = np.cumsum(np.asarray(deltas, dtype=np.float64)[order])
        mon.extend(t, v)
        return mon

    def mean(self, a: float, b: float) -> float:
        """Time-average level on ``[a, b]``."""
        if b <= a:
            return 0.0
        with np.errstate(invalid="ignore"):  # an unlimited (inf) level has no finite mean
            return float(self.integral_at(np.array([a, b])) @ np.array([-1.0, 1.0])) / (b - a)

    def integral_at(self, points: np.ndarray) -> np.ndarray:
        """``∫_0^p level dt`` for each point ``p`` (sorted or not)."""
        t = np.array(self._t, dtype=np.float64)
        v = np.array(self._v, dtype=np.float64)
        seg = np.diff(t) * v[:-1]
        cum = np.concatenate(([0.0], np.cumsum(seg)))
        k = np.searchsorted(t, points, side="right") - 1
        return cum[k] + (points - t[k]) * v[k]

    def daily_means(self, days: int) -> np.ndarray:
        """Mean level of each whole day ``0..days-1``."""
        edges = np.arange(days + 1, dtype=float) * 24.0
        return np.diff(self.integral_at(edges)) / 24.0


class InvariantMonitor:
    """Independent tallies of bounded resources; raises on the first violation."""

    def __init__(self) -> None:
        self.capacity: dict[str, float] = {}
        self.tally: dict[str, float] = {}

    def register(self, name: str, capacity: float = math.inf, initial: float = 0.0) -> None:
        self.capacity[name] = capacity
        self.tally[name] = initial

    def set_capacity(self, name: str, capacity: float) -> None:
        """A dated change of a capacity: a cut below the level in use is legal (the level
        then only falls until it fits); taking more while over it is not."""
        self.capacity[name] = capacity

    def change(self, name: str, delta: float, t: float) -> None:
        level = self.tally[name] + delta
        self.tally[name] = level
        if level < -1e-6:
            raise InvariantError(f"{name} went negative ({level:g}) at t={t:.2f} h")
        if delta > 0 and level > self.capacity[name] + 1e-6:
            raise InvariantError(
                f"{name} exceeded its capacity ({level:g} > {self.capacity[name]:g}) at t={t:.2f} h"
            )
