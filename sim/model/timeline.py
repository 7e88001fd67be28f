"""Piecewise-constant capacity factor over time (hours): 1 = full, 0 = closed.

Every disruption of a resource (random outages, scheduled windows, fixed
factors, storms) becomes one :class:`Timeline`; components ask it when the
resource is open and how long a piece of work takes at the reduced rate. All
timelines are generated before the run, so they cost no simulation events.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable


class Timeline:
    """Factor ``values[k]`` holds on ``[starts[k], starts[k+1])``; ``starts[0] == 0``."""

    __slots__ = ("starts", "values", "constant")

    def __init__(self, starts: list[float] | None = None, values: list[float] | None = None):
        self.starts = list(starts) if starts else [0.0]
        self.values = list(values) if values else [1.0]
        if len(self.starts) != len(self.values) or self.starts[0] != 0.0:
            raise ValueError("timeline needs matching starts/values beginning at 0")
        self.constant = len(self.values) == 1 and self.values[0] == 1.0

    @classmethod
    def from_intervals(cls, intervals: Iterable[tuple[float, float, float]]) -> Timeline:
        """Build from ``(start_h, end_h, factor)`` intervals; overlaps multiply, gaps are 1.

        ``end_h = inf`` means the interval never ends (its factor holds for good).
        """
        # Sweep over start/end events; the product of active factors is kept as
        # (number of active zeros, product of active non-zero factors).
        events: list[tuple[float, int, float]] = []
        for a, b, f in intervals:
            a = max(0.0, a)
            if b > a:
                events.append((a, 1, f))
                if b < math.inf:
                    events.append((b, -1, f))
        events.sort(key=lambda e: (e[0], e[1]))
        starts, values = [0.0], [1.0]
        zeros, product = 0, 1.0
        i = 0
        while i < len(events):
            t = events[i][0]
            while i < len(events) and events[i][0] == t:
                _, sign, f = events[i]
                if f == 0.0:
                    zeros += sign
                else:
                    product = product * f if sign > 0 else product / f
                i += 1
            value = 0.0 if zeros else round(product, 12)
            if t == 0.0:
                values[0] = value
            else:
                starts.append(t)
                values.append(value)
        return cls(starts, values).simplified()

    def simplified(self) -> Timeline:
        starts, values = [self.starts[0]], [self.values[0]]
        for s, v in zip(self.starts[1:], self.values[1:], strict=True):
            if v != values[-1]:
                starts.append(s)
                values.append(v)
        return Timeline(starts, values)

    def __mul__(self, other: Timeline) -> Timeline:
        if self.constant:
            return other
        if other.constant:
            return self
        starts = sorted(set(self.starts) | set(other.starts))
        values = [self.at(s) * other.at(s) for s in starts]
        return Timeline(starts, values).simplified()

    def at(self, t: float) -> float:
        """Factor at time ``t``."""
        if self.constant:
            return 1.0
        return self.values[bisect_right(self.starts, t) - 1]

    def next_open(self, t: float) -> float:
        """Earliest time >= ``t`` with a factor > 0 (``inf`` if never again)."""
        if self.constant:
            return t
        k = bisect_right(self.starts, t) - 1
        if self.values[k] > 0:
            return t
        for j in range(k + 1, len(self.values)):
            if self.values[j] > 0:
                return self.starts[j]
        return math.inf

    def closed_since(self, t: float) -> float:
        """Start of the closure (factor 0) in force at ``t``; ``t`` itself if open at ``t``."""
        if self.constant:
            return t
        k = bisect_right(self.starts, t) - 1
        if self.values[k] > 0:
            return t
        while k > 0 and self.values[k - 1] == 0:
            k -= 1
        return self.starts[k]

    def last_opened_at_or_before(self, t: float) -> float:
        """Latest time <= ``t`` at which the factor rose from 0 (0.0 if never)."""
        if self.constant:
            return 0.0
        k = bisect_right(self.starts, t) - 1
        for j in range(k, 0, -1):
            if self.values[j] > 0 and self.values[j - 1] == 0:
                return self.starts[j]
        return 0.0

    def finish_time(self, start: float, work: float, rate: float = 1.0) -> float:
        """When ``work`` is done if started at ``start`` at ``rate * factor(t)`` per hour."""
        if work <= 0:
            return start
        if self.constant:
            return start + work / rate
        k = bisect_right(self.starts, start) - 1
        t = start
        remaining = work
        while True:
            v = self.values[k] * rate
            end = self.starts[k + 1] if k + 1 < len(self.starts) else math.inf
            if v > 0:
                done_at = t + remaining / v
                if done_at <= end:
                    return done_at
                remaining -= (end - t) * v
            if end == math.inf:
                return math.inf
            t = end
            k += 1

    def mean_over(self, a: float, b: float) -> float:
        """Time-average factor on ``[a, b]``."""
        if self.constant or b <= a:
            return 1.0
        total = 0.0
        for k, s in enumerate(self.starts):
            e = self.starts[k + 1] if k + 1 < len(self.starts) else math.inf
            lo, hi = max(a, s), min(b, e)
            if hi > lo:
                total += (hi - lo) * self.values[k]
        return total / (b - a)
