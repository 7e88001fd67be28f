"""Rail legs: train formation, wagon pools, line capacity, running and empty return.

A formation process per leg waits for its departure rule on the queue at the
origin node, takes a FIFO batch up to the train length, draws wagons from the
operator's pool (waiting if the pool is empty: flatcar shortage), books the
next free train path and runs. At the destination the train waits for yard
space and a handling track with its wagons still loaded; once unloaded, the
wagons run back empty and only then rejoin the pool.

Dual cycle at a full yard: a load formed at a node that waits for wagons of a
pool, while a train of that pool waits at the same node for yard space to
unload, goes on that train's wagons instead. Its boxes come off the yard as the
train's own come off the wagons, so the space they free goes to the train, and
they leave once it is unloaded (:func:`_hand_over`). Without it, a full yard of
boxes waiting for the very wagons held by the trains queuing to unload into it
never empties: the two-way yard-wagon jam.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from collections.abc import Generator
from typing import TYPE_CHECKING

import numpy as np
import simpy

from sim.model.dispatch import TimetableSlots, wait_for_departure
from sim.model.monitors import LevelMonitor
from sim.model.node import NodeRuntime
from sim.model.random_streams import Sampler
from sim.model.timeline import Timeline
from sim.scenario.schema import DispatchTimetable, RailLeg, WagonPool

if TYPE_CHECKING:
    from sim.model.corridor import CorridorModel


class WagonPoolRuntime:
    """A pool of wagons handed out first come, first served.

    The first train in line blocks those behind it (no overtaking by shorter
    trains). Counts change at the instant of the grant, so ``free`` and the
    monitor of wagons out always agree.
    """

    def __init__(self, model: CorridorModel, pool_id: str, spec: WagonPool) -> None:
        self.id = pool_id
        self.spec = spec
        self.env = model.env
        self.total = spec.wagons
        self.sizes: LevelMonitor | None = None  # wagons in the pool over time, once it changes
        self.free = spec.wagons
        self.held: dict[str, int] = {}  # unloaded wagons kept at a node for a backhaul
        self.reused = 0  # wagons that carried a backhaul instead of running back empty
        self.returning = 0  # wagons running back empty
        self.out = LevelMonitor()
        self._waiters: deque[tuple[int, simpy.Event]] = deque()
        self._inv = model.invariants
        self._name = f"wagons out {pool_id}"
        model.invariants.register(self._name, spec.wagons)

    def get(self, n: int) -> Generator[simpy.Event, object, None]:
        """Take ``n`` wagons, waiting in line while the pool is short (``yield from``)."""
        if not self._waiters and n <= self.free:
            self._take(n)  # no event when the wagons are there
            return
        ev = self.env.event()
        self._waiters.append((n, ev))
        yield ev

    def send_back(self, n: int, after_h: float) -> None:
        """``n`` wagons run back empty and rejoin the pool ``after_h`` hours from now."""
        self.returning += n
        timer = self.env.timeout(after_h)
        timer.callbacks.append(lambda _: self._returned(n))

    def hold(self, node_id: str, n: int) -> None:
        """``n`` unloaded wagons stay at ``node_id`` for a backhaul (still out of the pool)."""
        self.held[node_id] = self.held.get(node_id, 0) + n

    def take_held(self, node_id: str, n: int) -> int:
        """Up to ``n`` wagons kept at ``node_id``; returns how many."""
        got = min(n, self.held.get(node_id, 0))
        if got:
            self.held[node_id] -= got
            self.reused += got
        return got

    def set_total(self, wagons: int) -> None:
        """A dated change of the pool (wagons bought, leased out, stuck elsewhere): added
        wagons are free at once; removed ones leave as they come free (``free`` may go
        below 0 meanwhile, and no train gets wagons until it is back above)."""
        if wagons == self.total:
            return
        if self.sizes is None:
            self.sizes = LevelMonitor(self.total)
        self.sizes.set(self.env.now, wagons)
        self.free += wagons - self.total
        self.total = wagons
        self._inv.set_capacity(self._name, wagons)
        self._serve()

    def utilisation(self, a: float, b: float) -> float | None:
        """Wagon-hours out over wagon-hours in the pool on ``[a, b]``."""
        size = self.sizes.mean(a, b) if self.sizes is not None else self.spec.wagons
        return self.out.mean(a, b) / size if size > 0 else None

    def _returned(self, n: int) -> None:
        self.returning -= n
        self.put(n)

    def put(self, n: int) -> None:
        """``n`` empty wagons are back."""
        self._take(-n)
        self._serve()

    @property
    def awaited(self) -> bool:
        """A train is waiting for wagons."""
        return bool(self._waiters)

    def _take(self, n: int) -> None:
        self.free -= n
        self.out.add(self.env.now, n)
        self._inv.change(self._name, n, self.env.now)

    def _serve(self) -> None:
        while self._waiters and self._waiters[0][0] <= self.free:
            n, ev = self._waiters.popleft()
            self._take(n)
            ev.succeed()


class _TrainForSpace:
    """A train waiting at its destination for yard space, with wagons a load there may
    take (a dual cycle); ``loads`` are the loads it took."""

    __slots__ = ("leg", "free_wagons", "waiter", "loads")

    def __init__(self, leg: RailLegRuntime, wagons: int, waiter: simpy.Event) -> None:
        self.leg = leg
        self.free_wagons = wagons
        self.waiter = waiter  # its place in the yard's line
        self.loads: list[tuple[RailLegRuntime, int, np.ndarray, float, int]] = []


class _LoadForWagons:
    """A load taken from a leg's queue that waits for wagons from the pool."""

    __slots__ = ("leg", "key", "idx", "teu", "wagons", "from_pool", "held", "event")

    def __init__(self, leg, key, idx, teu, wagons, from_pool, held, event) -> None:
        self.leg = leg
        self.key = key  # its holdings entry
        self.idx = idx
        self.teu = teu
        self.wagons = wagons
        self.from_pool = from_pool  # its place in the pool's line: (from_pool, event)
        self.held = held  # wagons kept at the node for it, already taken
        self.event = event


def _hand_over(train: _TrainForSpace, load: _LoadForWagons) -> None:
    """Dual cycle: ``load`` (or the part of it that ``train``'s free wagons can carry,
    whole boxes in line order) goes on those wagons; the yard space its boxes free goes
    to the train. A part left over keeps its place in the pool's line."""
    out = load.leg
    node = out.origin
    pool = out.pool
    model = out.model
    per = pool.spec.teu_per_wagon
    if load.wagons <= train.free_wagons:  # all of it
        idx, teu, used = load.idx, load.teu, load.wagons
        pool._waiters.remove((load.from_pool, load.event))
        node.loads_for_wagons.remove(load)
        key, rest = load.key, None
    else:
        cum = model.table.teu[load.idx].cumsum(dtype=np.float64)
        k = int(cum.searchsorted(train.free_wagons * per + 1e-9, side="right"))
        if k == 0:
            return
        idx, teu = load.idx[:k], float(cum[k - 1])
        used = math.ceil(teu / per - 1e-9)
        key = model.holdings.hold(idx)
        rest = load.idx[k:]
        model.holdings.replace(load.key, rest)
    if load.held:  # wagons kept here for the load stay here for the next one
        pool.hold(node.id, load.held)
        pool.reused -= load.held
        load.held = 0
    train.free_wagons -= used
    train.loads.append((out, key, idx, teu, used))
    out.dual_cycle_loads += 1
    pool.reused += used
    stage = out.stage if out.stage is not None else model.table.stage[idx]
    node.yard.give(train.waiter, node.yard_teu(idx, stage, teu))
    model.moved()
    if rest is None:
        pool._serve()  # the pool's line moved up
        load.event.succeed("trains")
        return
    load.idx, load.teu = rest, load.teu - teu
    load.wagons = math.ceil(load.teu / per - 1e-9)
    at = pool._waiters.index((load.from_pool, load.event))
    load.from_pool = load.wagons
    pool._waiters[at] = (load.from_pool, load.event)
    pool._serve()  # a smaller request may be met now


class Line:
    """Train paths of a line: departures are spaced by 24 / paths_per_day hours."""

    def __init__(self, paths_per_day: float | None, capacity: Timeline) -> None:
        self.rate_per_h = paths_per_day / 24.0 if paths_per_day else None
        self.capacity = capacity
        self.next_free = 0.0
        self.used = 0
        self.rates: LevelMonitor | None = None  # paths per hour over time, once they change

    def set_paths(self, now: float, paths_per_day: float | None) -> None:
        """A dated change of the paths the modelled trains may use (per day)."""
        rate = paths_per_day / 24.0 if paths_per_day else None
        if rate == self.rate_per_h:
            return
        if self.rates is None:
            self.rates = LevelMonitor(self.rate_per_h or math.inf)
        self.rates.set(now, rate or math.inf)
        self.rate_per_h = rate

    def available(self, a: float, b: float) -> float | None:
        """Train paths offered on ``[a, b]``, capacity factors included (None: unlimited)."""
        if self.rates is None:
            if self.rate_per_h is None:
                return None
            return self.rate_per_h * (b - a) * self.capacity.mean_over(a, b)
        cuts = sorted({a, b, *(t for t in self.rates.times if a < t < b),
                       *(t for t in self.capacity.starts if a < t < b)})
        total = 0.0
        for lo, hi in zip(cuts, cuts[1:], strict=False):
            rate = self.rates.levels[max(0, bisect_right(self.rates.times, lo) - 1)]
            total += rate * (hi - lo) * self.capacity.at(lo)
        return total if math.isfinite(total) else None

    def book(self, now: float) -> float:
        """Departure time of a train ready at ``now`` (``inf`` if the line never reopens)."""
        start = self.capacity.next_open(max(now, self.next_free))
        if start == math.inf:
            return start
        self.used += 1
        if self.rate_per_h is not None:
            self.next_free = self.capacity.finish_time(start, 1.0, self.rate_per_h)
        return start


class RailLegRuntime:
    """Run-time state and processes of one rail leg."""

    def __init__(
        self,
        model: CorridorModel,
        leg_id: str,
        spec: RailLeg,
        origin: NodeRuntime,
        dest: NodeRuntime,
        pool: WagonPoolRuntime | None,
        capacity: Timeline,
    ) -> None:
        self.model = model
        self.env = model.env
        self.id = leg_id
        self.spec = spec
        self.origin = origin
        self.dest = dest
        self.pool = pool
        self.capacity = capacity
        self.line = Line(spec.paths_per_day, capacity)
        self.train_capacity_teu = spec.train_capacity_teu
        self.backhaul: RailLegRuntime | None = None  # the leg back that may take our wagons
        self.forward: RailLegRuntime | None = None  # for a backhaul leg: the leg it serves
        # legs out of our destination whose loads waiting for wagons our trains may take
        # in a dual cycle there (same pool, own way back first; set by the model), and
        # the legs into our origin whose trains may take ours
        self.swap_legs: list[RailLegRuntime] = []
        self.swap_from: set[RailLegRuntime] = set()
        self.dual_cycle_loads = 0  # loads of ours that left on a train's wagons that way
        self.queue = origin.queue_for(leg_id)
        self.run_time = Sampler(spec.run_time_h, model.rng(f"run:{leg_id}"))
        self.return_time = Sampler(
            spec.return_time_h or spec.run_time_h, model.rng(f"return:{leg_id}")
        )
        rule = spec.dispatch
        self.slots = (
            TimetableSlots(rule.interval_h, rule.offset_h)
            if isinstance(rule, DispatchTimetable)
            else None
        )
        self.departures_h: list[float] = []
        self.departure_teu: list[float] = []
        self.departure_empty_teu: list[float] = []  # of departure_teu, empty boxes
        self.empties = False  # some flow of empty boxes takes this leg (set by the model)
        self.stage: int | None = None  # the route stage of every box taking this leg, if one
        self.env.process(self._formation())

    def _formation(self) -> Generator[simpy.Event, object, None]:
        env = self.env
        rule = self.spec.dispatch
        origin_open = self.origin.capacity
        while True:
            cap = self.train_capacity_teu  # may change on a date
            yield from wait_for_departure(env, self.queue, rule, cap, self.slots, self.origin.yard)
            opens = origin_open.next_open(env.now)
            if opens > env.now:
                if opens == math.inf:
                    yield env.event()
                yield env.timeout(opens - env.now)
            idx, teu = self.queue.take(cap)
            if len(idx) == 0:
                if self.slots is None:
                    yield self.queue.changed()
                continue
            key = self.model.holdings.hold(idx)
            wagons = 0
            if self.pool is not None:
                wagons = math.ceil(teu / self.pool.spec.teu_per_wagon - 1e-9)
                from_pool = wagons
                if self.forward is not None:  # a backhaul: the wagons unloaded here first
                    from_pool -= self.pool.take_held(self.origin.id, wagons)
                if from_pool:
                    pool = self.pool
                    came = None
                    if not pool._waiters and from_pool <= pool.free:
                        pool._take(from_pool)  # get() without its generator
                    elif self.swap_from:  # in line (pool.get), unless a train takes it
                        load = _LoadForWagons(self, key, idx, teu, wagons, from_pool,
                                              wagons - from_pool, env.event())
                        pool._waiters.append((from_pool, load.event))
                        self.origin.loads_for_wagons.append(load)
                        for train in list(self.origin.trains_for_space):
                            if (train.leg in self.swap_from and not train.waiter.triggered
                                    and train.free_wagons):
                                _hand_over(train, load)
                                if load.event.triggered:
                                    break
                        came = yield load.event  # None: from the pool
                        if came == "trains":
                            continue  # it left on trains' wagons
                        self.origin.loads_for_wagons.remove(load)
                        idx, teu = load.idx, load.teu  # what is left of it
                        wagons = load.wagons
                    else:
                        yield from pool.get(from_pool)
                    if self.forward is not None and came is None:
                        # they come empty from the other end
                        yield env.timeout(self.forward.return_time())
            depart = self.line.book(env.now)
            env.process(self._run(key, idx, teu, wagons, depart))

    def _run(
        self,
        key: int,
        idx: np.ndarray,
        teu: float,
        wagons: int,
        depart: float,
        yard_released: bool = False,
    ) -> Generator[simpy.Event, object, None]:
        """One train: wait for its path, run, unload at the destination, free its wagons.

        ``yard_released``: its boxes already left the origin's yard (a dual cycle there).
        """
        env = self.env
        table = self.model.table
        if depart == math.inf:
            yield env.event()  # the line is closed for good
        if depart > env.now:
            yield env.timeout(depart - env.now)
        model = self.model
        stage = self.stage if self.stage is not None else table.stage[idx]
        now = env.now
        table.depart_h[idx, stage] = now
        origin = self.origin
        if not yard_released:
            origin.yard.release(origin.yard_teu(idx, stage, teu))
        self.departures_h.append(now)
        self.departure_teu.append(teu)
        self.departure_empty_teu.append(model.empty_teu_of(idx) if self.empties else 0.0)
        model.moved()
        model.loaded_in_motion += 1
        yield env.timeout(self.run_time())
        model.loaded_in_motion -= 1
        stage += 1
        table.stage[idx] = stage
        table.arrive_h[idx, stage] = env.now

        train = None
        reserved = 0.0
        if self.swap_legs and wagons:  # wait for space where a load may take our wagons
            dest = self.dest
            waiter = dest.yard.request(teu)
            if waiter is not None:
                train = _TrainForSpace(self, wagons, waiter)
                for load in list(dest.loads_for_wagons):
                    if (load.leg in self.swap_legs and not load.event.triggered
                            and train.free_wagons):
                        _hand_over(train, load)
                        if waiter.triggered or not train.free_wagons:
                            break
                if not waiter.triggered:
                    dest.trains_for_space.append(train)
                    yield waiter
                    dest.trains_for_space.remove(train)
            reserved = teu

        def unloaded() -> None:
            self.model.holdings.drop(key)
            left = wagons
            if train is not None:  # the loads taken in a dual cycle leave on our wagons
                for out, out_key, out_idx, out_teu, used in train.loads:
                    left -= used
                    depart = out.line.book(env.now)
                    env.process(out._run(out_key, out_idx, out_teu, used, depart, True))
            if not left:
                return
            if self.forward is not None:  # a backhaul ends where the wagons are at home
                self.pool.put(left)
                return
            keep = 0
            if self.backhaul is not None:  # wagons for cargo waiting to go back
                per = self.pool.spec.teu_per_wagon
                want = math.ceil(self.backhaul.queue.ready_teu() / per - 1e-9)
                keep = min(left, max(0, want - self.pool.held.get(self.dest.id, 0)))
                if keep:
                    self.pool.hold(self.dest.id, keep)
            if left - keep:
                self.pool.send_back(left - keep, self.return_time())

        yield from self.dest.receive_train(idx, teu, unloaded, reserved)
