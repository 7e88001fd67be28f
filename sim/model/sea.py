"""Sea legs and their fleets: where a vessel decides to sail.

Each vessel shuttles on one sea leg: loaded out, empty back. Its cycle:

1. at the origin, wait (at anchorage) until the leg and fleet are open and its
   departure rule allows a sailing — the vessels of one fleet decide one at a
   time, in arrival order; vessels of different fleets on the same leg wait side
   by side and the first whose rule is met takes a FIFO batch up to capacity x
   load factor x capacity factor;
2. take a berth, moor (``vessel_fixed_h``) and load with the port's cranes;
3. leave the berth, then wait while a storm closes the port to departures (or
   the leg or fleet is closed); the containers count as at the origin port
   until the vessel sails;
4. sail; at the destination take a berth and unload into the yard — piece by
   piece if the yard is short of space, holding the berth meanwhile;
5. wait for the destination port to be open, sail back, idle ``turnaround_h``.

Rail ferries and container feeders are both fleets: a ferry's capacity is
``capacity_wagons x teu_per_wagon`` container slots, i.e. the wagons aboard are
counted only by the containers they carry (the ferry's bulk and tank wagons
are outside the model; ``load_factor`` gives the share left for containers).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING

import simpy

from sim.model.dispatch import TimetableSlots, wait_for_departure
from sim.model.gate import Gate
from sim.model.monitors import LevelMonitor
from sim.model.node import NodeRuntime
from sim.model.random_streams import Sampler
from sim.model.timeline import Timeline
from sim.scenario.schema import DispatchTimetable, Fleet, SeaLeg

if TYPE_CHECKING:
    from sim.model.corridor import CorridorModel


class SeaLegRuntime:
    """Shared state of a sea leg: its queue, crossing times, capacity timeline."""

    def __init__(
        self,
        model: CorridorModel,
        leg_id: str,
        spec: SeaLeg,
        origin: NodeRuntime,
        dest: NodeRuntime,
        capacity: Timeline,
    ) -> None:
        self.model = model
        self.id = leg_id
        self.spec = spec
        self.origin = origin
        self.dest = dest
        self.capacity = capacity
        self.queue = origin.queue_for(leg_id)
        self.sail_time = Sampler(spec.sail_time_h, model.rng(f"sail:{leg_id}"))
        self.return_time = Sampler(
            spec.return_time_h or spec.sail_time_h, model.rng(f"sail_back:{leg_id}")
        )
        self.departures_h: list[float] = []
        self.departure_teu: list[float] = []
        self.departure_empty_teu: list[float] = []  # of departure_teu, empty boxes
        self.empties = False  # some flow of empty boxes takes this leg (set by the model)
        self.stage: int | None = None  # the route stage of every box taking this leg, if one


class FleetRuntime:
    """The vessels of one fleet and their statistics."""

    def __init__(
        self,
        model: CorridorModel,
        fleet_id: str,
        spec: Fleet,
        leg: SeaLegRuntime,
        capacity: Timeline,
    ) -> None:
        self.model = model
        self.env = model.env
        self.id = fleet_id
        self.spec = spec
        self.leg = leg
        self.open = capacity * leg.capacity
        self.back: SeaLegRuntime | None = (
            model.sea_legs[spec.return_leg] if spec.return_leg is not None else None
        )
        self.open_back = capacity * self.back.capacity if self.back is not None else capacity
        self.nominal_teu = spec.nominal_capacity_teu() * spec.load_factor
        self.turnaround = Sampler(spec.turnaround_h, model.rng(f"turnaround:{fleet_id}"))
        rule = spec.dispatch
        self.slots = (
            TimetableSlots(rule.interval_h, rule.offset_h)
            if isinstance(rule, DispatchTimetable)
            else None
        )
        self.waiting_cargo = LevelMonitor()  # vessels idle at the origin waiting for cargo
        self.loading_turn = Gate(model.env, 1)  # the vessels decide to sail one at a time
        self.departures_h: list[float] = []
        self.departure_teu: list[float] = []
        self.departure_empty_teu: list[float] = []  # of departure_teu, empty boxes
        self.departure_leg: list[str] = []  # the leg of each sailing (a return leg too)
        self.held_h: list[float] = []  # per sailing: loaded -> sailed (storm or closure hold)
        self.returning = 0  # vessels on their way back to the origin (or in turnaround)
        self.vessels = spec.vessels  # in service (or joining at the end of a round trip)
        self.in_service: LevelMonitor | None = None  # vessels over time, once they change
        self._started = 0
        self._to_retire = 0
        for _ in range(spec.vessels):
            self._start_vessel()

    def _start_vessel(self) -> None:
        self.env.process(self._vessel(self._started))
        self._started += 1

    def set_vessels(self, vessels: int) -> None:
        """A dated change of the fleet: new ships start at the origin now; a ship that
        leaves the fleet does so at the end of its round trip (first to finish, first
        out), and counts as in service until then."""
        if self.in_service is None:
            self.in_service = LevelMonitor(self.vessels)
        delta = vessels - self.vessels
        self.vessels = vessels
        while delta > 0 and self._to_retire:  # cancel pending retirements first
            self._to_retire -= 1
            delta -= 1
        if delta > 0:
            self.in_service.set(self.env.now, self.in_service.level + delta)
            for _ in range(delta):
                self._start_vessel()
        elif delta < 0:
            self._to_retire += -delta

    def set_capacity(self, capacity_teu: float | None, load_factor: float) -> None:
        """A dated change of the usable TEU per sailing."""
        per_vessel = capacity_teu if capacity_teu is not None else self.spec.nominal_capacity_teu()
        self.nominal_teu = per_vessel * load_factor

    def vessel_weight(self, a: float, b: float) -> float:
        """Mean vessels in service on ``[a, b]``."""
        return self.in_service.mean(a, b) if self.in_service is not None else self.spec.vessels

    def busy_share(self, a: float, b: float) -> float | None:
        """Share of in-service vessel-hours not spent idle at the origin waiting for cargo."""
        if self.in_service is None:
            if self.spec.vessels == 0:
                return None
            return 1.0 - self.waiting_cargo.mean(a, b) / self.spec.vessels
        ships = self.in_service.mean(a, b)
        return 1.0 - self.waiting_cargo.mean(a, b) / ships if ships > 0 else None

    def _vessel(self, k: int) -> Generator[simpy.Event, object, None]:
        env = self.env
        leg = self.leg
        origin, dest = leg.origin, leg.dest
        aboard = None  # an outbound load taken on in a dual-cycle call at the origin
        while True:
            if self._to_retire and aboard is None:  # leaves at the end of a round trip
                self._to_retire -= 1
                self.in_service.set(env.now, self.in_service.level - 1)  # type: ignore[union-attr]
                return
            if aboard is None:
                # 1. decide to sail (the vessels of a fleet one at a time)
                self.waiting_cargo.add(env.now, 1)
                turn = self.loading_turn
                if turn.capacity is None or (turn.in_use < turn.capacity and not turn._waiters):
                    turn.in_use += 1  # Gate.enter without its generator
                else:
                    yield from turn.enter()
                while True:
                    if self.open.next_open(env.now) > env.now:
                        yield from self._wait_until_open(self.open)
                    cap = self.nominal_teu * self.open.at(env.now)
                    yield from wait_for_departure(
                        env, leg.queue, self.spec.dispatch, cap, self.slots, origin.yard
                    )
                    if self.open.at(env.now) > 0:  # still open when the rule fires
                        break
                idx, teu = leg.queue.take(cap)
                self.loading_turn.leave()
                self.waiting_cargo.add(env.now, -1)
                yield from self._carry(leg, self.open, idx, teu)
            else:
                yield from self._carry(leg, self.open, aboard[1], aboard[2], aboard=aboard[0])
                aboard = None
            # 5. back to the origin: with the cargo waiting on the return leg, if any
            back = self.back
            if back is not None and back.queue.ready_teu() > 0:
                while back.origin.departures_open.at(env.now) == 0:
                    yield from self._wait_until_open(back.origin.departures_open)
                cap = self.nominal_teu * self.open_back.at(env.now)
                if cap > 0 and back.queue.ready_teu() > 0:
                    idx, teu = back.queue.take(cap)
                    aboard = yield from self._carry(back, self.open_back, idx, teu, exchange=leg)
                    self.returning += 1  # in turnaround at the origin
                    idle = self.turnaround()
                    if idle > 0:
                        yield env.timeout(idle)
                    self.returning -= 1
                    continue
            if dest.departures_open.next_open(env.now) > env.now:
                yield from self._wait_until_open(dest.departures_open)
            self.returning += 1
            yield env.timeout(leg.return_time())
            idle = self.turnaround()
            if idle > 0:
                yield env.timeout(idle)
            self.returning -= 1

    def _carry(
        self,
        leg: SeaLegRuntime,
        open_: Timeline,
        idx,
        teu: float,
        aboard: int | None = None,
        exchange: SeaLegRuntime | None = None,
    ) -> Generator[simpy.Event, object, tuple | None]:
        """One loaded crossing of ``leg``: berth and load at its origin (unless the load is
        already ``aboard``, its holdings key), wait out storms and closures, sail, berth
        and unload at its destination.

        ``exchange``: the leg out of the destination this vessel serves next (a return
        crossing coming home). If its cargo does not fit the yard there, the call is a
        dual cycle: the vessel takes on the next outbound load first (the boxes leave the
        yard), then discharges into the space they freed — otherwise a full yard of
        boxes waiting for these very ships would keep them at the berth for ever.
        Returns that outbound load ``(key, idx, teu)``, or None.
        """
        env = self.env
        model = self.model
        table = model.table
        origin, dest = leg.origin, leg.dest
        if aboard is None:
            key = model.holdings.hold(idx)
            # 2. berth and load; the containers leave the yard once aboard
            req = origin.berths.try_acquire()
            if req is None:
                req = yield from origin.berths.acquire()
            if origin.capacity.constant:  # fixed_call_time without its generator
                yield env.timeout(origin.vessel_fixed())
            else:
                yield from origin.fixed_call_time()
            done = origin.load_time_h(teu)
            if done == math.inf:
                yield env.event()
            if done > env.now:
                yield env.timeout(done - env.now)
            stage = leg.stage if leg.stage is not None else table.stage[idx]
            origin.yard.release(origin.yard_teu(idx, stage, teu))
            origin.berths.release(req)
        else:
            key = aboard
            stage = leg.stage if leg.stage is not None else table.stage[idx]
        # 3. storms (and closures of the leg or fleet) stop departures
        loaded_at = now = env.now
        while origin.departures_open.at(now) == 0 or open_.at(now) == 0:
            yield from self._wait_until_open(origin.departures_open)
            yield from self._wait_until_open(open_)
            now = env.now
        loaded = len(idx) > 0
        if loaded:
            table.depart_h[idx, stage] = now
            model.moved()
        empty = model.empty_teu_of(idx) if leg.empties else 0.0
        for log in (self, leg):
            log.departures_h.append(now)
            log.departure_teu.append(teu)
            log.departure_empty_teu.append(empty)
        self.departure_leg.append(leg.id)
        self.held_h.append(now - loaded_at)
        # 4. crossing and unloading
        model.loaded_in_motion += loaded
        yield env.timeout(leg.sail_time())
        model.loaded_in_motion -= loaded
        if loaded:
            stage += 1
            table.stage[idx] = stage
            table.arrive_h[idx, stage] = env.now
        req = dest.berths.try_acquire()
        if req is None:
            req = yield from dest.berths.acquire()
        out, reserved = None, 0.0
        if exchange is not None:
            out, reserved = yield from self._take_on_first(dest, exchange, teu)
        yield from dest.unload_vessel(idx, teu, key, reserved)
        dest.berths.release(req)
        return out

    def _take_on_first(
        self, port: NodeRuntime, out_leg: SeaLegRuntime, teu_in: float
    ) -> Generator[simpy.Event, object, tuple[tuple | None, float]]:
        """The first half of a dual-cycle call: if ``teu_in`` does not fit the yard, load
        the next outbound batch (up to the usable TEU) so its boxes leave the yard, and
        keep the space they free for the discharge. Returns the batch (or None) and the
        yard space held for the discharge."""
        env = self.env
        yard = port.yard
        free = yard.free() if not yard.is_blocked else 0.0
        cap = self.nominal_teu * self.open.at(env.now)
        if teu_in <= free + 1e-9 or cap <= 0 or out_leg.queue.ready_teu() <= 0:
            return None, 0.0
        idx, teu = out_leg.queue.take(cap)
        if len(idx) == 0:
            return None, 0.0
        key = self.model.holdings.hold(idx)
        done = port.load_time_h(teu)
        if done == math.inf:
            yield env.event()
        if done > env.now:
            yield env.timeout(done - env.now)
        stage = out_leg.stage if out_leg.stage is not None else self.model.table.stage[idx]
        reserved = yard.exchange(port.yard_teu(idx, stage, teu), teu_in)
        self.model.moved()
        return (key, idx, teu), reserved

    def _wait_until_open(self, timeline: Timeline) -> Generator[simpy.Event, object, None]:
        opens = timeline.next_open(self.env.now)
        if opens == math.inf:
            yield self.env.event()
        if opens > self.env.now:
            yield self.env.timeout(opens - self.env.now)
