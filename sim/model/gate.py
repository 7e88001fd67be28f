"""A FIFO set of identical units (tracks, berths, a fleet's loading turn).

Like ``simpy.Resource`` but a request that can be granted at once is granted
without a simulation event: the caller goes on in the same step. Only a caller
that has to wait yields an event, which :meth:`Gate.release` triggers when it
hands a unit over (first come, first served).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator

import simpy


class Gate:
    """``capacity`` units (``None``: unlimited) handed out first come, first served."""

    __slots__ = ("env", "capacity", "in_use", "_waiters")

    def __init__(self, env: simpy.Environment, capacity: int | None) -> None:
        self.env = env
        self.capacity = capacity
        self.in_use = 0
        self._waiters: deque[simpy.Event] = deque()

    def enter(self) -> Generator[simpy.Event, object, None]:
        """Take a unit, waiting in line if none is free (``yield from gate.enter()``)."""
        if self.capacity is None or (self.in_use < self.capacity and not self._waiters):
            self.in_use += 1
            return
        turn = self.env.event()
        self._waiters.append(turn)
        yield turn  # release() passed its unit on to us

    def leave(self) -> None:
        """Give a unit back: to the first in line, if any (unless the capacity was cut
        below the units in use: then the unit goes away)."""
        if self._waiters and (self.capacity is None or self.in_use <= self.capacity):
            self._waiters.popleft().succeed()
        else:
            self.in_use -= 1

    def set_capacity(self, capacity: int | None) -> None:
        """A dated change: more units serve those in line at once; fewer take effect as
        units in use are given back."""
        self.capacity = capacity
        while self._waiters and (capacity is None or self.in_use < capacity):
            self.in_use += 1
            self._waiters.popleft().succeed()
