"""A node at run time: yard, unloading tracks, berths, and where containers go next.

Inbound trains wait for yard space (holding their wagons), then for a handling
track, are unloaded or transshipped, and their wagons run back empty. After a
clearance time per batch and a dwell per container, each container joins the
queue of the next leg on its flow's route — or is delivered, if this node ends
its route. Ports additionally own berths and the weather closures of their sea.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import numpy as np
import simpy

from sim.model.gate import Gate
from sim.model.monitors import InvariantMonitor, LevelMonitor
from sim.model.queues import LegQueue
from sim.model.random_streams import Sampler
from sim.model.timeline import Timeline
from sim.model.yard import Yard
from sim.scenario.schema import PortNode

if TYPE_CHECKING:
    from sim.model.corridor import CorridorModel


class CountedResource:
    """Tracks or berths: a :class:`Gate` with a time-weighted busy count and a tally check."""

    def __init__(
        self, env: simpy.Environment, name: str, capacity: int | None, inv: InvariantMonitor
    ) -> None:
        self.env = env
        self.capacity = capacity
        self.gate = Gate(env, capacity)
        self.busy = LevelMonitor()
        self.units: LevelMonitor | None = None  # capacity over time, once it changes
        self._inv = inv
        self._name = name
        inv.register(name, capacity if capacity is not None else math.inf)

    def set_capacity(self, capacity: int | None) -> None:
        """A dated change of the number of units (tracks, berths)."""
        if capacity == self.capacity:
            return
        if self.units is None:
            self.units = LevelMonitor(math.inf if self.capacity is None else self.capacity)
        self.units.set(self.env.now, math.inf if capacity is None else capacity)
        self.capacity = capacity
        self._inv.set_capacity(self._name, capacity if capacity is not None else math.inf)
        self.gate.set_capacity(capacity)

    def utilisation(self, a: float, b: float) -> float | None:
        """Busy unit-hours over available unit-hours on ``[a, b]`` (None: unlimited or none)."""
        if self.units is None:
            if not self.capacity:
                return None
            return self.busy.mean(a, b) / self.capacity
        avail = self.units.mean(a, b)
        if not 0 < avail < math.inf:
            return None
        return self.busy.mean(a, b) / avail

    def acquire(self) -> Generator[simpy.Event, object, object]:
        """Wait for a unit; returns the token to :meth:`release` it with."""
        yield from self.gate.enter()
        return self._granted()

    def try_acquire(self) -> object | None:
        """A unit now if one is free and nobody waits (no event, no generator), else None:
        then :meth:`acquire` waits in line."""
        gate = self.gate
        if gate.capacity is None or (gate.in_use < gate.capacity and not gate._waiters):
            gate.in_use += 1
            return self._granted()
        return None

    def _granted(self) -> object:
        now = self.env.now
        self.busy.add(now, 1)
        self._inv.change(self._name, 1, now)
        return object()

    def release(self, token: object) -> None:
        now = self.env.now
        self.busy.add(now, -1)
        self._inv.change(self._name, -1, now)
        self.gate.leave()


class Sink:
    """Deliveries at a node: containers leave the system at their ready time."""

    def __init__(self) -> None:
        self.idx: list[np.ndarray] = []
        self.at_h: list[np.ndarray] = []

    def add(self, idx: np.ndarray, at_h: np.ndarray) -> None:
        self.idx.append(idx)
        self.at_h.append(at_h)

    def present(self, now: float, created_h: np.ndarray) -> np.ndarray:
        """Containers still clearing here at ``now`` (not yet delivered), of those created
        by then (a booking decided ahead can be on a coarse leg before its booking time)."""
        if not self.idx:
            return np.empty(0, dtype=np.int64)
        idx = np.concatenate(self.idx)
        idx = idx[np.concatenate(self.at_h) > now]
        return idx[created_h[idx] <= now]


class NodeRuntime:
    """Run-time state of one node."""

    def __init__(self, model: CorridorModel, node_id: str, spec, capacity: Timeline) -> None:
        env = model.env
        self.model = model
        self.env = env
        self.id = node_id
        self.spec = spec
        self.capacity = capacity
        self.departures_open = Timeline()
        cap = spec.yard_capacity_teu if spec.yard_capacity_teu is not None else math.inf
        self.yard = Yard(env, node_id, cap, model.invariants)
        self.tracks = CountedResource(
            env, f"tracks {node_id}", spec.handling_tracks, model.invariants
        )
        self.is_port = isinstance(spec, PortNode)
        # a gateway (where a coarse route joins) holds boxes without a yard
        self.keeps_yard = spec.kind != "gateway"
        self.berths = (
            CountedResource(env, f"berths {node_id}", spec.berths, model.invariants)
            if self.is_port
            else None
        )
        rng = model.rng
        self.handling = Sampler(spec.train_handling_h, rng(f"handling:{node_id}"))
        self.clearance = Sampler(spec.clearance_h, rng(f"clearance:{node_id}"))
        self.dwell = Sampler(spec.dwell_h, rng(f"dwell:{node_id}"))
        if self.is_port:
            self.vessel_fixed = Sampler(spec.vessel_fixed_h, rng(f"vessel_fixed:{node_id}"))
            self.crane_rate = spec.cranes_per_berth * spec.crane_rate_teu_per_h
        self.queues: dict[str, LegQueue] = {}
        self.sink = Sink()
        self.trains_waiting = 0
        # dual cycles (sim.model.rail): trains of a wagon pool waiting here for yard space,
        # and loads here waiting for wagons of a pool
        self.trains_for_space: list = []
        self.loads_for_wagons: list = []
        self.is_origin = False  # some flow starts here (its boxes occupy no yard space here)
        self.only_next: int | None = None  # the leg every unloaded box takes on, if one
        # the next leg's code by flow (-1: delivered here); set by the model
        self.code_by_flow = np.empty(0, dtype=np.int64)

    def queue_for(self, leg_id: str) -> LegQueue:
        if leg_id not in self.queues:
            self.queues[leg_id] = LegQueue(self.env, self.model.table, self.id, leg_id)
        return self.queues[leg_id]

    def yard_teu(self, idx: np.ndarray, stage: np.ndarray | int, teu: float) -> float:
        """TEU of the boxes ``idx`` (``teu`` in all, at ``stage``) that occupy this node's yard.

        Boxes in the yard are all but those whose route starts here (stage 0).
        """
        if not self.keeps_yard:
            return 0.0
        if not self.is_origin:
            return teu
        if isinstance(stage, int):  # one stage for the whole batch
            return teu if stage > 0 else 0.0
        return self.model.table.teu_of(idx[stage > 0])

    # -- inbound ---------------------------------------------------------------------

    def receive_train(
        self, idx: np.ndarray, teu: float, on_unloaded: Callable[[], None], reserved: float = 0.0
    ) -> Generator[simpy.Event, object, None]:
        """An arrived train: yard space, a track, handling; then wagons are freed.

        ``reserved``: yard space already held for it (it waited for it on arrival).
        """
        env = self.env
        self.trains_waiting += 1
        if self.keeps_yard and reserved < teu and not self.yard.try_reserve(teu):
            yield from self.yard.reserve(teu)
        req = self.tracks.try_acquire()
        if req is None:
            req = yield from self.tracks.acquire()
        self.trains_waiting -= 1
        start = self.capacity.next_open(env.now)
        done = self.capacity.finish_time(start, self.handling(), 1.0)
        if done == math.inf:
            yield env.event()  # closed for good: the train never unloads
        if done > env.now:
            yield env.timeout(done - env.now)
        self.tracks.release(req)
        self.model.moved()
        on_unloaded()
        self.admit(idx, env.now + self.clearance())

    def unload_vessel(
        self, idx: np.ndarray, teu: float, key: int, reserved: float = 0.0
    ) -> Generator[simpy.Event, object, None]:
        """A vessel at berth unloads ``teu`` into the yard, piece by piece while space is short.

        ``key`` is the vessel's entry in the model's holdings; it shrinks as
        containers move into the yard. ``reserved``: yard space already held for this
        vessel (a dual-cycle call), used before waiting in line for more.
        """
        env = self.env
        model = self.model
        yard = self.yard
        capacity = self.capacity
        clear_at_offset = self.clearance()
        if capacity.constant:  # fixed_call_time without its generator
            yield env.timeout(self.vessel_fixed())
        else:
            yield from self.fixed_call_time()
        pos = 0
        n = len(idx)
        while pos < n:
            rest = idx[pos:] if pos else idx
            # the space held for this vessel, else what is free (none with others in line)
            free = reserved if reserved > 1e-9 else (0.0 if yard._waiters else yard.free())
            if free + 1e-9 >= teu:  # all that is left fits
                k, piece = n - pos, teu
            else:
                cum = model.table.teu[rest].cumsum(dtype=np.float64)
                k = max(1, int(cum.searchsorted(free + 1e-9, side="right")))
                piece = float(cum[k - 1])
            teu -= piece
            if reserved > 1e-9:
                held = min(piece, reserved)
                reserved -= held
                if piece - held > 1e-9:
                    yield from yard.reserve(piece - held, first=True)
            elif not yard.try_reserve(piece, first=True):
                yield from yard.reserve(piece, first=True)
            start = capacity.next_open(env.now)
            done = capacity.finish_time(start, piece, self.crane_rate)
            if done == math.inf:
                yield env.event()
            if done > env.now:
                yield env.timeout(done - env.now)
            model.moved()
            pos += k
            if pos < n:
                model.holdings.replace(key, rest[k:])
                self.admit(rest[:k], env.now + clear_at_offset)
            else:
                self.admit(rest, env.now + clear_at_offset)
        model.holdings.drop(key)

    def fixed_call_time(self) -> Generator[simpy.Event, object, None]:
        """A vessel's berth time besides crane work (mooring, documents), at the node's
        capacity factor like all its work."""
        work = self.vessel_fixed()
        if self.capacity.constant:
            yield self.env.timeout(work)
            return
        start = self.capacity.next_open(self.env.now)
        done = self.capacity.finish_time(start, work, 1.0)
        if done == math.inf:
            yield self.env.event()
        yield self.env.timeout(done - self.env.now)

    def load_time_h(self, teu: float) -> float:
        """When a vessel starting to load ``teu`` now is done (crane rate x node factor)."""
        start = self.capacity.next_open(self.env.now)
        done = self.capacity.finish_time(start, teu, self.crane_rate)
        return done

    def admit_each(self, idx: np.ndarray, arrive_h: np.ndarray) -> None:
        """Boxes arriving one by one at ``arrive_h`` (a coarse leg): clearance (one draw),
        dwell, then on or delivered, as :meth:`admit`."""
        self.admit(idx, arrive_h + self.clearance())

    def admit(self, idx: np.ndarray, cleared_h: float | np.ndarray) -> None:
        """Unloaded containers: after clearance and dwell, to the next leg or delivered."""
        n = len(idx)
        if n == 0:
            return
        ready = cleared_h + self.dwell.many(n)
        if n > 1:
            order = ready.argsort(kind="stable")  # sorted once for the queues and the yard
            idx, ready = idx[order], ready[order]
        if self.only_next is not None:  # no need to look at the boxes' routes
            self.onward(self.only_next, idx, ready)
            return
        code = self.code_by_flow[self.model.table.flow[idx]]
        if n <= 512:  # a list counts faster than numpy compares for small batches
            codes = code.tolist()
            c = codes[0]
            one_way = codes.count(c) == n
        else:
            c = int(code[0])
            one_way = bool((code == c).all())
        if one_way:  # the usual case: one way on
            if c < 0:
                self._deliver(idx, ready)
            else:
                self.onward(c, idx, ready)
            return
        # group by the next leg (delivery, -1, first), each group still in ready order
        by_code = code.argsort(kind="stable")
        idx, ready, code = idx[by_code], ready[by_code], code[by_code]
        cuts = [0, *(np.flatnonzero(code[1:] != code[:-1]) + 1).tolist(), len(code)]
        for a, b in zip(cuts, cuts[1:], strict=False):
            c = int(code[a])
            if c < 0:
                self._deliver(idx[a:b], ready[a:b])
            else:
                self.onward(c, idx[a:b], ready[a:b])

    def onward(self, code: int, idx: np.ndarray, ready: np.ndarray) -> None:
        """Boxes ready at ``ready`` (sorted) leave on the leg with ``code``: they join its
        queue here, or go at once on a coarse (delay) leg."""
        model = self.model
        delay = model.delay_by_code.get(code) if model.delay_by_code else None
        if delay is not None:
            delay.send(idx, ready)
        else:
            self.queue_for(model.leg_ids[code]).add_future(idx, ready, presorted=True)

    def _deliver(self, idx: np.ndarray, ready: np.ndarray) -> None:
        """Containers whose route ends here leave at ``ready`` (sorted)."""
        model = self.model
        table = model.table
        table.depart_h[idx, table.stage[idx]] = ready
        self.sink.add(idx, ready)
        if self.keeps_yard:
            self.yard.release_at(ready, table.teu[idx], presorted=True)
        if model.child_of is not None:  # carrier-owned boxes come back empty
            model.on_delivered(idx, ready)
        if model.markets is not None:  # shippers learn, operators' backlogs shrink
            model.markets.on_delivered(idx, ready)

    # -- accounting ------------------------------------------------------------------

    def present(self, now: float) -> np.ndarray:
        """Containers in this node's queues and sink (not on trains or vessels)."""
        parts = [q.present(now) for q in self.queues.values()]
        parts.append(self.sink.present(now, self.model.table.created_h))
        return np.concatenate(parts)
