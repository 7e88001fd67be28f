"""Departure rules: when a train or vessel waiting at a node leaves.

``full``            — when ``capacity_teu`` is ready (a train leaves full);
``timetable``       — at ``offset_h + k * interval_h`` with whatever is ready;
``full_or_timeout`` — when full, or ``timeout_h`` after the first container in
                      line became ready (the timer starts with that container).

``full`` and ``full_or_timeout`` also let a part load leave when the node's
yard is full and arrivals are waiting for space: the batch cannot grow any
more, and holding it would only keep the yard blocked.

:func:`wait_for_departure` is a SimPy sub-process: it sleeps until the rule
allows a departure, waking early only when the queue changes.
"""

from __future__ import annotations

import math
from collections.abc import Generator

import simpy

from sim.model.queues import LegQueue
from sim.model.yard import Yard
from sim.scenario.schema import DispatchFull, DispatchFullOrTimeout, DispatchTimetable


class TimetableSlots:
    """Departure slots ``offset + k * interval`` shared by the carriers of one rule."""

    def __init__(self, interval_h: float, offset_h: float) -> None:
        self.interval = interval_h
        self.offset = offset_h
        self._next_k = 0

    def claim(self, now: float) -> float:
        """The first untaken slot at or after ``now``."""
        k = max(self._next_k, math.ceil((now - self.offset) / self.interval - 1e-9))
        self._next_k = k + 1
        return self.offset + k * self.interval


def wait_for_departure(
    env: simpy.Environment,
    queue: LegQueue,
    rule,
    capacity_teu: float,
    slots: TimetableSlots | None = None,
    yard: Yard | None = None,
) -> Generator[simpy.Event, object, None]:
    """Sleep until ``rule`` lets a carrier of ``capacity_teu`` leave from ``queue``.

    ``yard`` is the yard the queue's containers occupy (for the blocked-yard exit).
    """
    if isinstance(rule, DispatchTimetable):
        assert slots is not None
        slot = slots.claim(env.now)
        if slot > env.now:
            yield env.timeout(slot - env.now)
        return
    while True:
        full_at = queue.time_reaching(capacity_teu)
        if isinstance(rule, DispatchFullOrTimeout):
            due = min(full_at, queue.oldest_ready_h() + rule.timeout_h)
        elif isinstance(rule, DispatchFull):
            due = full_at
        else:  # pragma: no cover - schema guarantees the rule types
            raise TypeError(rule)
        due = max(due, env.now)
        if due <= env.now:
            return
        if yard is not None and yard.is_blocked and queue.ready_teu() > 0:
            return
        wake = queue.changed()
        if yard is not None and yard.finite:
            wake = wake | yard.blocked()
        if due < math.inf:
            yield env.timeout(due - env.now) | wake
        else:
            yield wake
