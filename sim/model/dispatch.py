"""Departure rules: when a train or vessel waiting at a node leaves.

``full``            — when ``capacity_teu`` is ready (a train leaves full);
``timetable``       — at ``offset_h + k * interval_h`` with whatever is ready;
``full_or_timeout`` — when full, or ``timeout_h`` after the first container in
                      line became ready (the timer starts with that container).

``full`` and ``full_or_timeout`` also let a part load leave when the node's
yard is full and arrivals are waiting for space — holding it would keep the
yard blocked — but only a load worth running: at least
:data:`BLOCKED_MIN_SHARE` of the carrier's capacity, or, if the queue knows of
fewer boxes (ready, or in the yard and ready later), all of them once they are
ready. A railway does not run a one-box train to make room; before this rule
29 % of the baseline's Alat-Poti trains left with 4 TEU or less
(tests/test_train_loads.py). The blocked yard cannot stay blocked for ever on
this account: every box the queue waits for is already known and becomes
ready after its dwell.

:func:`wait_for_departure` is a SimPy sub-process: it sleeps until the rule
allows a departure. The queue and the yard re-check the rule whenever they
change and wake the carrier only when it may leave, so a waiting carrier costs
an event per wake-up, not one per change of its queue (:class:`_Watch`).
"""

from __future__ import annotations

import math
from collections.abc import Generator

import simpy

from sim.model.queues import LegQueue
from sim.model.yard import Yard
from sim.scenario.schema import DispatchFull, DispatchFullOrTimeout, DispatchTimetable

BLOCKED_MIN_SHARE = 0.5
"""Share of its capacity a part load needs to leave a blocked yard (or all the queue knows of)."""


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


def departure_due(
    queue: LegQueue, rule, capacity_teu: float, yard: Yard | None = None
) -> float:
    """When ``rule`` lets a carrier of ``capacity_teu`` leave, from what the queue knows now.

    ``yard``: the yard the queue's boxes occupy; while arrivals wait for space there, a
    part load may leave as soon as it is worth running (:func:`blocked_load_teu`).
    """
    if isinstance(rule, DispatchFullOrTimeout):
        timeout_at = queue.oldest_ready_h() + rule.timeout_h
        due = min(queue.time_reaching(capacity_teu, before=timeout_at), timeout_at)
    elif isinstance(rule, DispatchFull):
        due = queue.time_reaching(capacity_teu)
    else:
        raise TypeError(rule)  # pragma: no cover - schema guarantees the rule types
    if yard is not None and yard.is_blocked and due > queue.env.now:
        need = blocked_load_teu(queue, capacity_teu)
        if need > 1e-9:
            due = min(due, queue.time_reaching(need, before=due))
    return due


def blocked_load_teu(queue: LegQueue, capacity_teu: float) -> float:
    """TEU a part load needs to leave a blocked yard: :data:`BLOCKED_MIN_SHARE` of the
    carrier's ``capacity_teu``, or all the queue knows of (ready or due later) if less."""
    return min(BLOCKED_MIN_SHARE * capacity_teu, queue.known_teu())


class _Watch:
    """A carrier asleep until its departure rule may let it go.

    The queue and the yard call :meth:`on_change` synchronously whenever they
    change (entries added or taken, the yard blocked) — the instants at which
    the rule can newly allow a departure. The rule is re-checked there and the
    carrier is woken only if it may leave now; otherwise a single timer stands at
    the earliest known due time and is moved only when a change brings it
    forward. A waiting carrier so costs an event per wake-up, not one per change
    of its queue.
    """

    __slots__ = (
        "env", "queue", "rule", "capacity", "yard", "event", "rang", "_timer", "_timer_at"
    )

    def __init__(self, env, queue: LegQueue, rule, capacity: float, yard: Yard | None) -> None:
        self.env = env
        self.queue = queue
        self.rule = rule
        self.capacity = capacity
        self.yard = yard
        self.event = env.event()  # succeeds when the carrier should look again
        self.rang: tuple[float, int] | None = None  # (time, queue version) the rule was met
        self._timer: simpy.Event | None = None
        self._timer_at = math.inf

    def due(self) -> float:
        due = departure_due(self.queue, self.rule, self.capacity, self.yard)
        return max(due, self.env.now)

    def arm(self, due: float) -> None:
        """Ring at ``due`` unless a timer already stands at or before it."""
        if due == math.inf or self._timer_at <= due:
            return
        self._timer = self.env.timeout(due - self.env.now)
        self._timer.callbacks.append(self._on_timer)
        self._timer_at = due

    def on_change(self, first_new_h: float = -math.inf) -> None:
        """The queue or yard changed; ``first_new_h`` is the earliest ready time added."""
        if self.event.triggered:
            return
        if first_new_h < self._timer_at:  # else the due time cannot have moved forward
            due = self.due()
            if due <= self.env.now:
                self._ring_due()
                return
            self.arm(due)

    def _on_timer(self, timer: simpy.Event) -> None:
        if self.event.triggered or timer is not self._timer:
            return  # already woken, or superseded by an earlier timer
        self._timer, self._timer_at = None, math.inf
        due = self.due()
        if due <= self.env.now:
            self._ring_due()
        else:
            self.arm(due)  # a take moved the due time later

    def _ring_due(self) -> None:
        self.rang = (self.env.now, self.queue.version)
        self.event.succeed()


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
    if queue.shared:
        yield from _wait_competing(env, queue, rule, capacity_teu, yard)
        return
    while True:
        watch = _Watch(env, queue, rule, capacity_teu, yard)
        due = watch.due()
        if due <= env.now:
            return
        watch.arm(due)
        queue.watchers.append(watch)
        if yard is not None and yard.finite:
            yard.watchers.append(watch)
        try:
            yield watch.event
        finally:
            queue.watchers.remove(watch)
            if yard is not None and yard.finite:
                yard.watchers.remove(watch)
        if watch.rang == (env.now, queue.version):
            return  # the rule was met at this instant and the queue is unchanged since


def _wait_competing(
    env: simpy.Environment, queue: LegQueue, rule, capacity_teu: float, yard: Yard | None
) -> Generator[simpy.Event, object, None]:
    """:func:`wait_for_departure` for a queue that carriers of several fleets load from.

    Every change of the queue wakes every waiting carrier, which looks again and
    sets a new timer. When the rules of two fleets fall due at the same instant
    (the same timeout on the same first box), the order in which those timers
    were set decides which fleet loads first — so this keeps exactly that order
    rather than the cheaper :class:`_Watch`, at an event or two per change.
    """
    while True:
        due = max(departure_due(queue, rule, capacity_teu, yard), env.now)
        if due <= env.now:
            return
        wake = queue.changed()
        if yard is not None and yard.finite:
            wake = wake | yard.blocked()
        if due < math.inf:
            yield env.timeout(due - env.now) | wake
        else:
            yield wake
