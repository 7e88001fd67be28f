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
        """Give a unit back: to the first in line, if any."""
        if self._waiters:
            self._waiters.popleft().succeed()
        else:
            self.in_use -= 1
