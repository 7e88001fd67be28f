"""The reference for the benchmark: the corridor written the way most people would write it.

One SimPy process per container. A box is a small object; its process waits in
the queue of the next leg, is picked up by a train or vessel (which are
processes too, with SimPy resources for tracks and berths, ``simpy.Container``
for yards and wagon pools), waits for the carrier to unload it, dwells, and
moves on — or is delivered and gives its yard space back. Carriers stamp every
box they move in a Python loop.

It follows the same rules as :mod:`sim.model` (departure rules with the
blocked-yard exit, FIFO yard reservations and back-pressure, wagons returning
empty, train paths, berths and cranes, storms closing ports to departures,
vessels unloading piecewise into a short yard) and reads the same scenario.
Inputs that are data rather than simulation — the demand of every flow, the
storms of every sea and the disruption timelines — come from the same
generators, so both models see the same corridor and the same boxes; durations
(run, sail, handling, clearance, dwell, ...) are drawn from its own streams.
Statistics are computed here from the boxes' own stamps, so the comparison in
``run.py`` checks the batch model's numbers against an independent count.

Not in the package on purpose: it exists to be measured against.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

import numpy as np
import simpy

from sim.model.corridor import CountingEnvironment
from sim.model.demand import generate
from sim.model.disruptions import capacity_timelines
from sim.model.random_streams import Sampler, stream
from sim.model.timeline import Timeline
from sim.model.weather import closure_timeline, generate_storms
from sim.scenario.references import legs_between
from sim.scenario.schema import (
    DispatchFullOrTimeout,
    DispatchTimetable,
    PortNode,
    RailLeg,
    Scenario,
)

HOURS_PER_DAY = 24.0
HOURS_PER_WEEK = 168.0
BIG = 10**9  # "unlimited" tracks or berths


class Box:
    """One container."""

    __slots__ = ("flow", "teu", "created", "stage", "arrive", "depart", "ready", "unloaded")

    def __init__(self, flow: int, teu: int, created: float, stages: int) -> None:
        self.flow = flow
        self.teu = teu
        self.created = created
        self.stage = 0
        self.arrive = [math.nan] * stages
        self.depart = [math.nan] * stages
        self.ready = created
        self.unloaded: simpy.Event | None = None


class Level:
    """A time-weighted level (yard TEU, vessels waiting for cargo)."""

    def __init__(self) -> None:
        self.times = [0.0]
        self.levels = [0.0]

    def add(self, t: float, delta: float) -> None:
        self.times.append(t)
        self.levels.append(self.levels[-1] + delta)

    def mean(self, a: float, b: float) -> float:
        t = np.append(np.asarray(self.times), b)
        v = np.asarray(self.levels)
        lo, hi = np.clip(t[:-1], a, b), np.clip(t[1:], a, b)
        return float(((hi - lo) * v).sum() / (b - a)) if b > a else 0.0


class Yard:
    """A ``simpy.Container`` of TEU: arrivals put (FIFO, waiting when full), departures get."""

    def __init__(self, env: simpy.Environment, capacity: float | None) -> None:
        self.env = env
        self.finite = capacity is not None
        self.store = simpy.Container(env, capacity=capacity if capacity else math.inf)
        self.level = Level()
        self.blocked_watchers: list[simpy.Event] = []

    @property
    def blocked(self) -> bool:
        return len(self.store.put_queue) > 0

    def reserve(self, teu: float):
        put = self.store.put(teu)
        if not put.triggered:
            for ev in self.blocked_watchers:
                if not ev.triggered:
                    ev.succeed()
        yield put
        self.level.add(self.env.now, teu)

    def release(self, teu: float):
        if teu > 0:
            yield self.store.get(teu)
            self.level.add(self.env.now, -teu)


class Queue:
    """Boxes ready to leave a node on one leg, first come first served."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.boxes: deque[Box] = deque()
        self.teu = 0
        self.watchers: list[simpy.Event] = []

    def join(self, box: Box) -> None:
        box.ready = self.env.now
        self.boxes.append(box)
        self.teu += box.teu
        self._changed()

    def take(self, max_teu: float) -> list[Box]:
        out = []
        room = max_teu
        while self.boxes and self.boxes[0].teu <= room + 1e-9:
            box = self.boxes.popleft()
            room -= box.teu
            self.teu -= box.teu
            out.append(box)
        self._changed()
        return out

    def changed(self) -> simpy.Event:
        ev = self.env.event()
        self.watchers.append(ev)
        return ev

    def _changed(self) -> None:
        watchers, self.watchers = self.watchers, []
        for ev in watchers:
            if not ev.triggered:
                ev.succeed()


class Slots:
    """Timetable departures ``offset + k * interval`` shared by the carriers of a rule."""

    def __init__(self, rule: DispatchTimetable) -> None:
        self.rule = rule
        self.k = 0

    def claim(self, now: float) -> float:
        r = self.rule
        k = max(self.k, math.ceil((now - r.offset_h) / r.interval_h - 1e-9))
        self.k = k + 1
        return r.offset_h + k * r.interval_h


class Node:
    def __init__(self, m: ReferenceModel, nid: str, spec, capacity: Timeline) -> None:
        env = m.env
        self.id = nid
        self.capacity = capacity
        self.departures_open = Timeline()
        self.yard = Yard(env, spec.yard_capacity_teu)
        self.tracks = simpy.Resource(env, spec.handling_tracks or BIG)
        self.handling = Sampler(spec.train_handling_h, m.rng(f"handling:{nid}"))
        self.clearance = Sampler(spec.clearance_h, m.rng(f"clearance:{nid}"))
        self.dwell = Sampler(spec.dwell_h, m.rng(f"dwell:{nid}"))
        if isinstance(spec, PortNode):
            self.berths = simpy.Resource(env, spec.berths)
            self.vessel_fixed = Sampler(spec.vessel_fixed_h, m.rng(f"vessel_fixed:{nid}"))
            self.crane_rate = spec.cranes_per_berth * spec.crane_rate_teu_per_h
        self.queues: dict[str, Queue] = {}

    def queue(self, env: simpy.Environment, leg_id: str) -> Queue:
        if leg_id not in self.queues:
            self.queues[leg_id] = Queue(env)
        return self.queues[leg_id]


def wait_until_open(env: simpy.Environment, timeline: Timeline):
    opens = timeline.next_open(env.now)
    if opens == math.inf:
        yield env.event()
    if opens > env.now:
        yield env.timeout(opens - env.now)


def wait_for_rule(env, queue: Queue, rule, capacity: float, slots: Slots | None, yard: Yard):
    """Sleep until the departure rule lets a carrier of ``capacity`` TEU leave."""
    if isinstance(rule, DispatchTimetable):
        slot = slots.claim(env.now)
        if slot > env.now:
            yield env.timeout(slot - env.now)
        return
    while True:
        if queue.teu >= capacity - 1e-9:
            return
        due = math.inf  # DispatchFull: only a full load
        if isinstance(rule, DispatchFullOrTimeout) and queue.boxes:
            due = queue.boxes[0].ready + rule.timeout_h
            if due <= env.now:
                return
        if yard.finite and yard.blocked and queue.teu > 0:
            return
        wake = [queue.changed()]
        if yard.finite:
            blocked = env.event()
            yard.blocked_watchers.append(blocked)
            wake.append(blocked)
        if due < math.inf:
            wake.append(env.timeout(due - env.now))
        yield env.any_of(wake)
        if yard.finite:
            yard.blocked_watchers.remove(blocked)


class ReferenceModel:
    """One replication, one process per container."""

    def __init__(self, scenario: Scenario, replication: int) -> None:
        settings = scenario.scenario
        self.scenario = scenario
        self.replication = replication
        self.seed = settings.seed
        self.horizon_h = settings.horizon_days * HOURS_PER_DAY
        self.warmup_h = settings.warmup_days * HOURS_PER_DAY
        self.env = env = CountingEnvironment()
        self.flow_ids = list(scenario.flows)
        self.routes = [scenario.flows[f].route for f in self.flow_ids]
        self.route_legs = [
            [legs_between(scenario, a, b)[0] for a, b in zip(r, r[1:], strict=False)]
            for r in self.routes
        ]
        caps = capacity_timelines(scenario, replication)

        def cap(key: str) -> Timeline:
            return caps.get(key, Timeline())

        self.nodes = {
            nid: Node(self, nid, spec, cap(f"nodes.{nid}")) for nid, spec in scenario.nodes.items()
        }
        for region_id, region in scenario.weather.items():
            storms = generate_storms(region_id, region, self.seed, replication, self.horizon_h)
            for nid, spec in scenario.nodes.items():
                if isinstance(spec, PortNode) and spec.weather_region == region_id:
                    self.nodes[nid].departures_open = closure_timeline(
                        storms, spec.storm_sensitivity
                    )
        self.pools = {
            pid: simpy.Container(env, capacity=p.wagons, init=p.wagons)
            for pid, p in scenario.wagon_pools.items()
        }
        self.departures: dict[str, list[float]] = {}
        self.sailings: dict[str, list[tuple[float, float]]] = {}
        self.waiting_cargo: dict[str, Level] = {}
        for lid, spec in scenario.legs.items():
            if isinstance(spec, RailLeg):
                self.departures[lid] = []
                env.process(self.formation(lid, spec, cap(f"legs.{lid}")))
        for fid, spec in scenario.fleets.items():
            leg = scenario.legs[spec.leg]
            open_ = cap(f"fleets.{fid}") * cap(f"legs.{spec.leg}")
            self.sailings[fid] = []
            self.waiting_cargo[fid] = Level()
            turn = simpy.Resource(env, 1)
            slots = Slots(spec.dispatch) if isinstance(spec.dispatch, DispatchTimetable) else None
            samplers = (
                Sampler(leg.sail_time_h, self.rng(f"sail:{spec.leg}")),
                Sampler(leg.return_time_h or leg.sail_time_h, self.rng(f"sail_back:{spec.leg}")),
                Sampler(spec.turnaround_h, self.rng(f"turnaround:{fid}")),
            )
            for _ in range(spec.vessels):
                env.process(self.vessel(fid, spec, leg, open_, turn, slots, samplers))

        self.boxes: list[Box] = []
        for fi, fid in enumerate(self.flow_ids):
            arrivals = generate(fid, scenario.flows[fid], self.seed, replication, self.horizon_h)
            env.process(self.source(fi, arrivals.time_h.tolist(), arrivals.teu.tolist()))

    def rng(self, name: str) -> np.random.Generator:
        return stream(self.seed, self.replication, f"reference:{name}")

    # -- the container ---------------------------------------------------------------

    def source(self, flow: int, times: list[float], teus: list[int]):
        """The boxes of one flow arrive, each starting its own process."""
        env = self.env
        stages = len(self.routes[flow])
        for t, teu in zip(times, teus, strict=True):
            if t > env.now:
                yield env.timeout(t - env.now)
            box = Box(flow, teu, t, stages)
            self.boxes.append(box)
            env.process(self.container(box))

    def container(self, box: Box):
        env = self.env
        box.arrive[0] = env.now
        route, legs = self.routes[box.flow], self.route_legs[box.flow]
        for s, leg_id in enumerate(legs):
            box.unloaded = env.event()
            self.nodes[route[s]].queue(env, leg_id).join(box)
            cleared_at = yield box.unloaded  # a carrier took, moved and unloaded the box
            node = self.nodes[route[s + 1]]
            ready = cleared_at + node.dwell()
            if ready > env.now:
                yield env.timeout(ready - env.now)
        box.depart[-1] = env.now
        yield from self.nodes[route[-1]].yard.release(box.teu)  # delivered

    # -- trains ----------------------------------------------------------------------

    def formation(self, lid: str, spec: RailLeg, line_open: Timeline):
        env = self.env
        origin, dest = self.nodes[spec.from_node], self.nodes[spec.to_node]
        queue = origin.queue(env, lid)
        pool = self.pools.get(spec.wagon_pool) if spec.wagon_pool else None
        per_wagon = self.scenario.wagon_pools[spec.wagon_pool].teu_per_wagon if pool else 1.0
        slots = Slots(spec.dispatch) if isinstance(spec.dispatch, DispatchTimetable) else None
        run_time = Sampler(spec.run_time_h, self.rng(f"run:{lid}"))
        return_time = Sampler(spec.return_time_h or spec.run_time_h, self.rng(f"return:{lid}"))
        rate = spec.paths_per_day / 24.0 if spec.paths_per_day else None
        next_path = 0.0
        cap = spec.train_capacity_teu
        while True:
            yield from wait_for_rule(env, queue, spec.dispatch, cap, slots, origin.yard)
            yield from wait_until_open(env, origin.capacity)
            boxes = queue.take(cap)
            if not boxes:
                if slots is None:
                    yield queue.changed()
                continue
            teu = sum(b.teu for b in boxes)
            wagons = math.ceil(teu / per_wagon - 1e-9) if pool else 0
            if wagons:
                yield pool.get(wagons)
            depart = line_open.next_open(max(env.now, next_path))
            if rate is not None and depart < math.inf:
                next_path = line_open.finish_time(depart, 1.0, rate)
            env.process(
                self.train(
                    lid, boxes, teu, wagons, depart, origin, dest, pool, run_time, return_time
                )
            )

    def train(self, lid, boxes, teu, wagons, depart, origin, dest, pool, run_time, return_time):
        env = self.env
        if depart == math.inf:
            yield env.event()
        if depart > env.now:
            yield env.timeout(depart - env.now)
        for b in boxes:
            b.depart[b.stage] = env.now
        yield from origin.yard.release(sum(b.teu for b in boxes if b.stage > 0))
        self.departures[lid].append(env.now)
        yield env.timeout(run_time())
        for b in boxes:
            b.stage += 1
            b.arrive[b.stage] = env.now
        yield from dest.yard.reserve(teu)
        with dest.tracks.request() as track:
            yield track
            done = dest.capacity.finish_time(dest.capacity.next_open(env.now), dest.handling())
            if done == math.inf:
                yield env.event()
            if done > env.now:
                yield env.timeout(done - env.now)
        if wagons:
            env.process(self.wagons_back(pool, wagons, return_time()))
        cleared_at = env.now + dest.clearance()
        for b in boxes:
            b.unloaded.succeed(cleared_at)

    def wagons_back(self, pool: simpy.Container, wagons: int, after_h: float):
        yield self.env.timeout(after_h)
        yield pool.put(wagons)

    # -- vessels ---------------------------------------------------------------------

    def vessel(self, fid, spec, leg, open_: Timeline, turn, slots, samplers):
        env = self.env
        origin, dest = self.nodes[leg.from_node], self.nodes[leg.to_node]
        queue = origin.queue(env, spec.leg)
        sail_time, return_time, turnaround = samplers
        nominal = spec.nominal_capacity_teu() * spec.load_factor
        waiting = self.waiting_cargo[fid]
        while True:
            waiting.add(env.now, 1)
            with turn.request() as my_turn:
                yield my_turn
                while True:
                    yield from wait_until_open(env, open_)
                    cap = nominal * open_.at(env.now)
                    yield from wait_for_rule(env, queue, spec.dispatch, cap, slots, origin.yard)
                    if open_.at(env.now) > 0:
                        break
                boxes = queue.take(cap)
            waiting.add(env.now, -1)
            teu = sum(b.teu for b in boxes)
            with origin.berths.request() as berth:
                yield berth
                yield env.timeout(origin.vessel_fixed())
                start = origin.capacity.next_open(env.now)
                done = origin.capacity.finish_time(start, teu, origin.crane_rate)
                if done == math.inf:
                    yield env.event()
                if done > env.now:
                    yield env.timeout(done - env.now)
                yield from origin.yard.release(sum(b.teu for b in boxes if b.stage > 0))
            while origin.departures_open.at(env.now) == 0 or open_.at(env.now) == 0:
                yield from wait_until_open(env, origin.departures_open)
                yield from wait_until_open(env, open_)
            for b in boxes:
                b.depart[b.stage] = env.now
            self.sailings[fid].append((env.now, teu))
            yield env.timeout(sail_time())
            for b in boxes:
                b.stage += 1
                b.arrive[b.stage] = env.now
            with dest.berths.request() as berth:
                yield berth
                clearance = dest.clearance()
                yield env.timeout(dest.vessel_fixed())
                aboard = deque(boxes)
                while aboard:
                    free = (
                        0.0
                        if dest.yard.blocked
                        else dest.yard.store.capacity - dest.yard.store.level
                    )
                    piece = [aboard.popleft()]
                    piece_teu = piece[0].teu
                    while aboard and piece_teu + aboard[0].teu <= free + 1e-9:
                        box = aboard.popleft()
                        piece.append(box)
                        piece_teu += box.teu
                    yield from dest.yard.reserve(piece_teu)
                    start = dest.capacity.next_open(env.now)
                    done = dest.capacity.finish_time(start, piece_teu, dest.crane_rate)
                    if done == math.inf:
                        yield env.event()
                    if done > env.now:
                        yield env.timeout(done - env.now)
                    for b in piece:
                        b.unloaded.succeed(env.now + clearance)
            yield from wait_until_open(env, dest.departures_open)
            yield env.timeout(return_time())
            idle = turnaround()
            if idle > 0:
                yield env.timeout(idle)

    # -- run and measure -------------------------------------------------------------

    def run(self) -> float:
        self.env.run(until=self.horizon_h)
        return self.env.now


def statistics(m: ReferenceModel, end: float) -> dict[str, float | None]:
    """The compared KPIs, from the boxes' stamps (same definitions as ``sim.model.measure``)."""
    scen = m.scenario
    warm = min(m.warmup_h, end)
    out: dict[str, float | None] = {}
    study = {m.flow_ids.index(f) for f in scen.study_flow_ids()}
    transit, study_teu, delivered_teu = [], 0.0, 0.0
    waits: dict[str, list[float]] = {nid: [] for nid in scen.nodes}
    for b in m.boxes:
        if b.created > end:
            continue
        route = m.routes[b.flow]
        done = b.depart[len(route) - 1]
        if done <= end:
            delivered_teu += b.teu
            if b.flow in study and done >= warm:
                transit.append((done - b.created) / HOURS_PER_DAY)
                study_teu += b.teu
        for s, nid in enumerate(route):
            a, d = b.arrive[s], b.depart[s]
            if a >= warm and d <= end:
                waits[nid].append(d - a)
    weeks = (end - warm) / HOURS_PER_WEEK
    out["study transit days, mean"] = float(np.mean(transit)) if transit else None
    out["study transit days, p95"] = float(np.percentile(transit, 95)) if transit else None
    out["study throughput, TEU/week"] = study_teu / weeks
    out["delivered TEU"] = delivered_teu
    for nid, w in waits.items():
        out[f"wait at {nid}, h"] = float(np.mean(w)) if w else None
    for nid, node in m.nodes.items():
        if node.yard.finite:
            out[f"yard {nid}, TEU"] = node.yard.level.mean(warm, end)
    for fid, spec in scen.fleets.items():
        sail = [t for t, _ in m.sailings[fid] if t >= warm]
        out[f"sailings {fid}"] = float(len(sail))
        busy = 1.0 - m.waiting_cargo[fid].mean(warm, end) / spec.vessels
        out[f"utilisation {fid}"] = busy
    return out


def batch_statistics(record: dict[str, Any], scenario: Scenario) -> dict[str, float | None]:
    """The same KPIs from a record of :func:`sim.model.corridor.run_replication`."""
    out: dict[str, float | None] = {
        "study transit days, mean": record["study"]["transit_days_mean"],
        "study transit days, p95": record["study"]["transit_days_p95"],
        "study throughput, TEU/week": record["study"]["throughput_teu_per_week"],
        "delivered TEU": record["system"]["delivered_teu"],
    }
    for nid, n in record["nodes"].items():
        out[f"wait at {nid}, h"] = n["wait_h_mean"]
    for nid, spec in scenario.nodes.items():
        if spec.yard_capacity_teu is not None:
            out[f"yard {nid}, TEU"] = record["nodes"][nid]["yard_teu_mean"]
    for fid, f in record["fleets"].items():
        out[f"sailings {fid}"] = float(f["sailings"])
        out[f"utilisation {fid}"] = f["utilisation"]
    return out


def run_reference(scenario: Scenario, replication: int) -> dict[str, Any]:
    """One replication of the reference: its KPIs and its cost."""
    t0 = time.perf_counter()
    m = ReferenceModel(scenario, replication)
    end = m.run()
    stats = statistics(m, end)
    return {
        "replication": replication,
        "kpis": stats,
        "perf": {
            "wall_s": time.perf_counter() - t0,
            "events": m.env.scheduled,
            "containers": sum(1 for b in m.boxes if b.created <= end),
        },
    }
