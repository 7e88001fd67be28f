"""Wire a scenario into a SimPy model, run one replication, check conservation.

``run_replication(scenario, r)`` is the one entry point experiments use: a
pure function of (scenario, replication index) returning a small, picklable
record. Model time is in hours from 1 January 00:00.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from sim.errors import ConservationError
from sim.model.calendar import Calendar
from sim.model.containers import ContainerTable
from sim.model.delay import DelayLegRuntime
from sim.model.demand import Arrivals, demand_profile, generate
from sim.model.disruptions import capacity_timelines
from sim.model.market import Markets
from sim.model.monitors import InvariantMonitor
from sim.model.node import NodeRuntime
from sim.model.queues import LegQueue
from sim.model.rail import RailLegRuntime, WagonPoolRuntime
from sim.model.random_streams import Sampler, stream
from sim.model.schedule import Schedule, apply_schedule
from sim.model.sea import FleetRuntime, SeaLegRuntime
from sim.model.timeline import Timeline
from sim.model.weather import closure_timeline, generate_storms
from sim.scenario.references import legs_between
from sim.scenario.schema import DelayLeg, PortNode, RailLeg, Scenario

HOURS_PER_DAY = 24.0


@dataclass(frozen=True)
class Gridlock:
    """Nothing moved for ``gridlock_days`` while containers were inside, and nothing
    scheduled would change that (no closed resource is due to reopen)."""

    since_h: float
    detected_h: float
    where: list[str]
    closures: tuple[str, ...] = ()  # targets closed for good at the standstill


@dataclass(frozen=True)
class Closure:
    """A resource at capacity factor 0 from ``from_h`` until ``until_h`` (``inf``: for good)."""

    target: str
    from_h: float
    until_h: float

    def describe(self, horizon_h: float) -> str:
        if self.until_h == math.inf:
            return f"{self.target} closed from day {self.from_h / HOURS_PER_DAY:.1f} for good"
        after = " (reopens after the horizon)" if self.until_h > horizon_h else ""
        return (
            f"{self.target} closed from day {self.from_h / HOURS_PER_DAY:.1f} "
            f"to day {self.until_h / HOURS_PER_DAY:.1f}{after}"
        )


@dataclass(frozen=True)
class ClosedAtHorizon:
    """The run reached the horizon in a standstill that closures explain.

    Nothing had moved since ``since_h`` (for more than ``gridlock_days``) with
    containers inside — what would be a gridlock — but ``closures`` (closed for more
    than ``gridlock_days`` at the end of the run) are scheduled to reopen after the
    horizon.
    """

    since_h: float
    closures: list[Closure]
    where: list[str]


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that reports how many events were scheduled (for the benchmark)."""

    @property
    def scheduled(self) -> int:
        """Events scheduled so far.

        SimPy numbers every scheduled event from an ``itertools.count`` (``_eid``),
        whose repr is ``count(N)``: reading it costs nothing per event, unlike
        overriding ``schedule``.
        """
        return int(repr(self._eid)[6:-1])


class Holdings:
    """Containers aboard trains and vessels (index arrays keyed by carrier trip)."""

    def __init__(self) -> None:
        self._items: dict[int, np.ndarray] = {}
        self._next = 0

    def hold(self, idx: np.ndarray) -> int:
        key = self._next
        self._next += 1
        self._items[key] = idx
        return key

    def replace(self, key: int, idx: np.ndarray) -> None:
        self._items[key] = idx

    def drop(self, key: int) -> None:
        del self._items[key]

    def all(self) -> list[np.ndarray]:
        return list(self._items.values())


class CorridorModel:
    """One replication of a scenario: components, processes and their state."""

    def __init__(self, scenario: Scenario, replication: int) -> None:
        settings = scenario.scenario
        self.scenario = scenario
        self.replication = replication
        self.seed = settings.seed
        self.horizon_h = settings.horizon_days * HOURS_PER_DAY
        self.warmup_h = settings.warmup_days * HOURS_PER_DAY
        self.gridlock_h = settings.gridlock_days * HOURS_PER_DAY
        self.env = CountingEnvironment()
        self.invariants = InvariantMonitor()
        self.holdings = Holdings()
        self.last_move_h = 0.0
        self.loaded_in_motion = 0  # loaded trains running and loaded vessels sailing
        self.gridlock: Gridlock | None = None
        self.closed_at_horizon: ClosedAtHorizon | None = None
        self._halt = self.env.event()

        self.flow_ids = list(scenario.flows)
        # flows of empty containers (repositioning); none until empties are modelled
        self.empty_flows = np.zeros(len(self.flow_ids), dtype=bool)
        self.leg_ids = list(scenario.legs)
        leg_index = {lid: k for k, lid in enumerate(self.leg_ids)}
        stages = max(len(f.route) for f in scenario.flows.values())
        self.route_legs: list[list[str]] = []
        self.next_leg_code = np.full((len(self.flow_ids), stages), -1, dtype=np.int64)
        for fi, fid in enumerate(self.flow_ids):
            route = scenario.flows[fid].route
            legs = [legs_between(scenario, a, b)[0] for a, b in zip(route, route[1:], strict=False)]
            self.route_legs.append(legs)
            for s, lid in enumerate(legs):
                self.next_leg_code[fi, s] = leg_index[lid]

        start = settings.start_date
        self.calendar = Calendar(None if start is None else _dt.date.fromisoformat(start))
        self.schedule = Schedule(scenario, self.calendar)
        arrivals = [
            generate(
                fid,
                scenario.flows[fid],
                self.seed,
                replication,
                self.horizon_h,
                demand_profile(fid, scenario.flows[fid], scenario, self.calendar, self.schedule),
            )
            if scenario.flows[fid].empties_of is None and scenario.flows[fid].market is None
            else None
            for fid in self.flow_ids
        ]
        booked = self._market_bookings(scenario, arrivals, replication)
        parent_rows = self._carrier_owned(scenario, arrivals, replication)
        flow_col = np.concatenate(
            [np.full(len(a.time_h), fi, np.int16) for fi, a in enumerate(arrivals)]
        )
        self.table = ContainerTable(
            flow_col,
            np.concatenate([a.teu for a in arrivals]),
            np.concatenate([a.time_h for a in arrivals]),
            stages,
        )
        self.markets: Markets | None = None
        if booked:
            starts = np.concatenate(([0], np.cumsum([len(a.time_h) for a in arrivals])))
            first = {mid: starts[self.flow_ids.index(fid)] for mid, fid in booked.items()}
            self.markets = Markets(self, {
                mid: (np.arange(first[mid], first[mid] + len(arrivals[self.flow_ids.index(fid)]
                                                                  .time_h)),
                      arrivals[self.flow_ids.index(fid)].time_h)
                for mid, fid in booked.items()
            })
        self.child_of: np.ndarray | None = None  # row of the empty box a loaded box returns as
        self.empty_u: np.ndarray | None = None  # per row: market bookings' empties uniforms
        self.empty_teu_row: np.ndarray | None = None  # TEU of each row if it is an empty box
        if parent_rows:
            self._link_empties(arrivals, parent_rows)
            table = self.table
            self.empty_teu_row = np.where(self.empty_flows[table.flow], table.teu, 0).astype(
                np.int64
            )

        caps = capacity_timelines(scenario, replication)
        self.capacity_timelines = caps

        def cap(key: str) -> Timeline:
            return caps.get(key, Timeline())

        self.nodes = {
            nid: NodeRuntime(self, nid, spec, cap(f"nodes.{nid}"))
            for nid, spec in scenario.nodes.items()
        }
        for region_id, region in scenario.weather.items():
            storms = generate_storms(
                region_id, region, self.seed, replication, self.horizon_h, self.calendar
            )
            for node in self.nodes.values():
                spec = node.spec
                if isinstance(spec, PortNode) and spec.weather_region == region_id:
                    node.departures_open = closure_timeline(storms, spec.storm_sensitivity)
        arriving: dict[str, set[int]] = {nid: set() for nid in self.nodes}
        for fi, flow in enumerate(scenario.flows.values()):
            self.nodes[flow.route[0]].is_origin = True
            for s, nid in enumerate(flow.route[1:], start=1):
                arriving[nid].add(int(self.next_leg_code[fi, s]))
        for nid, codes in arriving.items():
            if len(codes) == 1 and min(codes) >= 0:
                self.nodes[nid].only_next = codes.pop()
        routes = [f.route for f in scenario.flows.values()]  # each node once on a route
        for nid, node in self.nodes.items():
            node.code_by_flow = np.array(
                [self.next_leg_code[fi, r.index(nid)] if nid in r else -1
                 for fi, r in enumerate(routes)],
                dtype=np.int64,
            )
        self.pools = {
            pid: WagonPoolRuntime(self, pid, spec) for pid, spec in scenario.wagon_pools.items()
        }
        self.rail_legs: dict[str, RailLegRuntime] = {}
        self.sea_legs: dict[str, SeaLegRuntime] = {}
        self.delay_legs: dict[str, DelayLegRuntime] = {}
        self.delay_by_code: dict[int, DelayLegRuntime] = {}
        for lid, spec in scenario.legs.items():
            a, b = self.nodes[spec.from_node], self.nodes[spec.to_node]
            if isinstance(spec, RailLeg):
                pool = self.pools[spec.wagon_pool] if spec.wagon_pool else None
                self.rail_legs[lid] = RailLegRuntime(
                    self, lid, spec, a, b, pool, cap(f"legs.{lid}")
                )
            elif isinstance(spec, DelayLeg):
                self.delay_legs[lid] = DelayLegRuntime(self, lid, spec, a, b)
                self.delay_by_code[leg_index[lid]] = self.delay_legs[lid]
            else:
                self.sea_legs[lid] = SeaLegRuntime(self, lid, spec, a, b, cap(f"legs.{lid}"))
        for leg in self.rail_legs.values():
            if leg.spec.backhaul_of is not None:
                forward = self.rail_legs[leg.spec.backhaul_of]
                leg.forward = forward
                forward.backhaul = leg
        for lid in self.sea_legs:
            fleets = [f for f in scenario.fleets.values() if f.leg == lid]
            self.sea_legs[lid].queue.shared = len(fleets) > 1
        # a leg that every flow takes at the same stage of its route needs no per-box stages
        stages_of: dict[str, set[int]] = {lid: set() for lid in self.leg_ids}
        for legs in self.route_legs:
            for s, lid in enumerate(legs):
                stages_of[lid].add(s)
        # dual cycles: a train's wagons may take the boxes waiting in its destination's yard
        # for a leg on the same pool (its own way back first); not those of a leg some
        # route starts on, whose boxes may hold no yard space there to free
        for leg in self.rail_legs.values():
            if leg.pool is None or not leg.dest.keeps_yard:
                continue
            outs = [o for o in self.rail_legs.values()
                    if o.origin is leg.dest and o.pool is leg.pool and 0 not in stages_of[o.id]]
            outs.sort(key=lambda o: o is not leg.backhaul and o is not leg.forward)
            leg.swap_legs = outs
            for o in outs:
                o.swap_from.add(leg)
        every_leg = {**self.rail_legs, **self.sea_legs, **self.delay_legs}
        for lid, leg in every_leg.items():
            if len(stages_of[lid]) == 1:
                leg.stage = stages_of[lid].pop()
        for fi, legs in enumerate(self.route_legs):
            if self.empty_flows[fi]:
                for lid in legs:
                    every_leg[lid].empties = True
        self.fleets = {
            fid: FleetRuntime(self, fid, spec, self.sea_legs[spec.leg], cap(f"fleets.{fid}"))
            for fid, spec in scenario.fleets.items()
        }
        apply_schedule(self)

        start = 0
        self._empty_queue: dict[int, LegQueue] = {}  # where each empties flow starts
        for fi, a in enumerate(arrivals):
            n = len(a.time_h)
            origin = self.nodes[scenario.flows[self.flow_ids[fi]].route[0]]
            queue = origin.queue_for(self.route_legs[fi][0])
            if self.empty_flows[fi]:  # created one by one as loaded boxes are delivered
                self._empty_queue[fi] = queue
            elif scenario.flows[self.flow_ids[fi]].market is None:  # markets book as they go
                self.enter(fi, np.arange(start, start + n), a.time_h)
            start += n
        if self.markets is not None:
            self.env.process(self.markets.process())
        self.env.process(self._watchdog())

    def enter(self, fi: int, rows: np.ndarray, times: np.ndarray) -> None:
        """Boxes ``rows`` of flow ``fi`` appear at its origin at ``times`` (sorted)."""
        origin = self.nodes[self.scenario.flows[self.flow_ids[fi]].route[0]]
        origin.onward(int(self.next_leg_code[fi, 0]), rows, times)  # its queue, or a coarse leg

    def book(self, fi: int, rows: np.ndarray, times: np.ndarray) -> None:
        """Bookings ``rows`` (made at ``times``, sorted) chose flow ``fi``."""
        self.table.flow[rows] = fi
        self.markets.on_booked(fi, self.table.teu_of(rows))  # type: ignore[union-attr]
        self.enter(fi, rows, times)

    def _market_bookings(self, scenario: Scenario, arrivals: list, replication: int
                         ) -> dict[str, str]:
        """Draw each market's bookings into the slot of its first alternative's flow (they
        are given their flow when they choose); returns market id -> that flow id."""
        out = {}
        for mid, market in scenario.markets.items():
            fid = f"{mid}:{market.alternatives[0]}"
            flow = scenario.flows[fid].model_copy(
                update={"annual_teu": market.annual_teu, "teu_by_year": market.teu_by_year}
            )
            profile = demand_profile(
                mid, flow, scenario, self.calendar, self.schedule, table="markets"
            )
            arrivals[self.flow_ids.index(fid)] = generate(
                mid, flow, self.seed, replication, self.horizon_h, profile
            )
            out[mid] = fid
        for fi, a in enumerate(arrivals):
            if a is None and scenario.flows[self.flow_ids[fi]].market is not None:
                arrivals[fi] = Arrivals(np.empty(0), np.empty(0, dtype=np.int8))
        return out

    # -- empty containers --------------------------------------------------------------

    def _carrier_owned(
        self, scenario: Scenario, arrivals: list, replication: int
    ) -> dict[int, np.ndarray]:
        """Give each flow of empties its boxes: one per carrier-owned box of its parent
        flow (drawn from the empties flow's own stream), sized like it and created only
        when that box is delivered (``created_h = inf`` until then).

        Returns, per empties flow index, the parent's rows (local to the parent flow) that
        return empty; fills ``arrivals`` in place for the empties flows.
        """
        index = {fid: k for k, fid in enumerate(self.flow_ids)}
        chosen: dict[int, np.ndarray] = {}
        self._parent_slot: dict[int, int] = {}  # empties flow -> flow slot of its parents
        n = len(self.flow_ids)
        # share of a flow's boxes that come back empty, decided at delivery: market flows
        # their route's (0 if none); other flows 1 (their returning boxes are drawn up front)
        self._empty_share_of = np.array(
            [0.0 if scenario.flows[f].market is not None else 1.0 for f in self.flow_ids]
        )
        self._empties_flow_of = np.full(n, -1, dtype=np.int64)  # market flow -> its empties
        self._market_u: dict[int, np.ndarray] = {}  # booking slot -> u per booking
        for fi, fid in enumerate(self.flow_ids):
            flow = scenario.flows[fid]
            if flow.empties_of is None:
                continue
            self.empty_flows[fi] = True
            if flow.market is not None:
                self._market_empties(scenario, fi, flow, arrivals, chosen, index, replication)
                continue
            self._parent_slot[fi] = index[flow.empties_of]
            parent = arrivals[index[flow.empties_of]]
            u = stream(self.seed, replication, f"empties:{fid}").random(len(parent.time_h))
            rows = np.flatnonzero(u < flow.empty_share)
            chosen[fi] = rows
            arrivals[fi] = Arrivals(np.full(len(rows), np.inf), parent.teu[rows].copy())
        return chosen

    def _market_empties(
        self, scenario: Scenario, fi: int, flow: Any, arrivals: list,
        chosen: dict[int, np.ndarray], index: dict[str, int], replication: int,
    ) -> None:
        """Empties of a market's route: which booking returns empty is known only when it
        has chosen its route. Each booking whose uniform is below the largest empty share
        among the market's routes gets a row in the slot of the market's first empties flow;
        at delivery the row becomes an empty box of the chosen route's empties flow if the
        uniform is below that route's share, or is never created."""
        self._empty_share_of[index[flow.empties_of]] = flow.empty_share
        self._empties_flow_of[index[flow.empties_of]] = fi
        mid = flow.market
        market = scenario.markets[mid]
        slot = index[f"{mid}:{market.alternatives[0]}"]  # where the bookings are
        if slot in self._market_u:  # the market's rows are already made
            arrivals[fi] = Arrivals(np.empty(0), np.empty(0, dtype=np.int8))
            return
        parent = arrivals[slot]
        u = stream(self.seed, replication, f"empties:{mid}").random(len(parent.time_h))
        top = max(scenario.routes[r].empty_share for r in market.alternatives)
        rows = np.flatnonzero(u < top)
        self._market_u[slot] = u
        self._parent_slot[fi] = slot
        chosen[fi] = rows
        arrivals[fi] = Arrivals(np.full(len(rows), np.inf), parent.teu[rows].copy())

    def _link_empties(self, arrivals: list, chosen: dict[int, np.ndarray]) -> None:
        """``child_of[row]`` = the row of the empty box that loaded box ``row`` becomes."""
        starts = np.concatenate(([0], np.cumsum([len(a.time_h) for a in arrivals])))
        index = {fid: k for k, fid in enumerate(self.flow_ids)}
        self.child_of = np.full(len(self.table), -1, dtype=np.int64)
        self._empty_turn: dict[int, Sampler] = {}
        del index
        for fi, rows in chosen.items():
            pi = self._parent_slot[fi]
            self.child_of[starts[pi] + rows] = starts[fi] + np.arange(len(rows))
        if self._market_u:
            self.empty_u = np.zeros(len(self.table))
            for slot, u in self._market_u.items():
                self.empty_u[starts[slot] : starts[slot] + len(u)] = u
        for fi in np.flatnonzero(self.empty_flows):
            flow = self.scenario.flows[self.flow_ids[fi]]
            self._empty_turn[int(fi)] = Sampler(
                flow.empty_turn_h, self.rng(f"empty_turn:{self.flow_ids[fi]}")
            )

    def on_delivered(self, idx: np.ndarray, ready: np.ndarray) -> None:
        """Loaded boxes delivered at ``ready``: the carrier-owned ones come back as empty
        boxes of their empties flow, at its origin, after the turn time."""
        child = self.child_of[idx]  # type: ignore[index]
        sel = child >= 0
        if self.empty_u is not None:  # market boxes: does their route's carrier own them?
            parent_flow = self.table.flow[idx]
            sel &= self.empty_u[idx] < self._empty_share_of[parent_flow]
            to = self._empties_flow_of[parent_flow]
            mine = sel & (to >= 0)
            self.table.flow[child[mine]] = to[mine]
        n = int(np.count_nonzero(sel))
        if n == 0:
            return
        if n < len(child):
            child, ready = child[sel], ready[sel]
        table = self.table
        flows = table.flow[child]
        first = flows[0]
        if flows[-1] == first and (flows == first).all():  # the usual case: one flow
            groups: list[tuple[int, Any]] = [(int(first), slice(None))]
        else:
            groups = [(int(fi), flows == fi) for fi in np.flatnonzero(np.bincount(flows))]
        for fi, mine in groups:
            rows = child[mine]
            t = ready[mine] + self._empty_turn[fi].many(len(rows))
            table.created_h[rows] = t
            table.arrive_h[rows, 0] = t
            self._empty_queue[fi].add_future(rows, t)

    # -- services for components -------------------------------------------------------

    def rng(self, name: str) -> np.random.Generator:
        """The named random stream of this replication."""
        return stream(self.seed, self.replication, name)

    def empty_teu_of(self, idx: np.ndarray) -> float:
        """TEU of the empty containers among ``idx``."""
        if self.empty_teu_row is None:
            return 0.0
        return float(np.add.reduce(self.empty_teu_row[idx]))

    def moved(self) -> None:
        """Record that containers moved (loaded, unloaded, departed) now."""
        self.last_move_h = self.env.now

    # -- gridlock ----------------------------------------------------------------------
    #
    # Gridlock means: nothing can move, and nothing scheduled will change that. The
    # watchdog sees the first half (nothing moved for ``gridlock_days`` with containers
    # inside); ``next_capacity_relief`` answers the second. A standstill while some
    # resource is closed but due to reopen — before or after the horizon — is a closure,
    # not a gridlock: the run goes on, and a closure still in force at the horizon is
    # reported as ``closed_at_horizon``.

    def _all_timelines(self) -> list[tuple[str, Timeline]]:
        out = [(k, t) for k, t in self.capacity_timelines.items()]
        out += [(f"storm closure at nodes.{n.id}", n.departures_open) for n in self.nodes.values()]
        return out

    def next_capacity_relief(
        self, now: float, timelines: list[tuple[str, Timeline]] | None = None
    ) -> float:
        """Earliest time after ``now`` at which scheduled capacity returns where there is
        none at ``now`` (``inf`` if nothing scheduled will give any back).

        Scheduled capacity is the disruption and storm timelines — a node, leg, fleet or
        port closed at ``now`` gives capacity back when it reopens, even after the
        horizon (random outages and storms always end; a ``factor`` disruption without
        ``end_day`` never does) — and the dated ``[changes]``: the next one after
        ``now`` may bring capacity (a ship joining, a terminal opening).
        """
        relief = self.schedule.next_change_after(now)  # capacity scheduled to join or change
        for _, t in timelines if timelines is not None else self._all_timelines():
            if t.at(now) == 0.0:
                relief = min(relief, t.next_open(now))
        return relief

    def _closures_at(self, now: float, timelines: list[tuple[str, Timeline]]) -> list[Closure]:
        return [
            Closure(k, t.closed_since(now), t.next_open(now))
            for k, t in timelines
            if t.at(now) == 0.0
        ]

    def _stalled_since(self, now: float, timelines: list[tuple[str, Timeline]]) -> float:
        """Start of the current stall: the last move, or the last reopening if later."""
        reopened = max((t.last_opened_at_or_before(now) for _, t in timelines), default=0.0)
        return max(self.last_move_h, reopened)

    def _progress_under_way(self) -> bool:
        """Containers are moving, or a carrier is on its way to containers that wait for it."""
        if self.loaded_in_motion:
            return True
        now = self.env.now
        if any(leg.in_transit(now) for leg in self.delay_legs.values()):
            return True
        for fleet in self.fleets.values():
            if fleet.returning and fleet.leg.queue.ready_teu() > 0:
                return True
        return any(pool.returning and pool.awaited for pool in self.pools.values())

    def _watchdog(self) -> Generator[simpy.Event, object, None]:
        """Stop the run in gridlock: nothing moved for ``gridlock_days`` with containers
        inside, and nothing scheduled will change that.

        The stall clock restarts whenever containers move (loaded, unloaded, or
        aboard a running train or sailing vessel), whenever an empty vessel or
        empty wagons are on their way to containers waiting for them, whenever
        the system is found empty, and whenever a closure lifts (carriers need time
        to resume). A standstill while a resource is closed but scheduled to reopen
        (:meth:`next_capacity_relief` is finite, even if after the horizon) is
        explained by that closure, not gridlock.
        """
        step = min(HOURS_PER_DAY, self.gridlock_h / 4.0)
        timelines = self._all_timelines()
        while True:
            yield self.env.timeout(step)
            now = self.env.now
            if now >= self.horizon_h:  # the run ends here: nothing is left to judge
                return
            # a yard stuck while the rest of the corridor still moves (when nothing moves
            # at all, the stall below is the gridlock)
            moving = self._progress_under_way() or now - self.last_move_h <= 2 * step
            stuck = self._stuck_yards(now, timelines) if moving else []
            if stuck and self.next_capacity_relief(now, timelines) == math.inf:
                since = min(t for _, t in stuck)
                where = [
                    f"yard at {nid} full since day {t / HOURS_PER_DAY:.1f} with nothing leaving "
                    "it (the carriers waiting to unload hold the berths or wagons that would "
                    "empty it)"
                    for nid, t in stuck
                ]
                self.gridlock = Gridlock(since, now, self._describe_standstill(now, where))
                self._halt.succeed()
                return
            if self._progress_under_way():
                self.last_move_h = now
                continue
            since = self._stalled_since(now, timelines)
            if now - since <= self.gridlock_h:
                continue
            inside = self.inside_indices(now)
            if len(inside) == 0:
                self.last_move_h = now
                continue
            # boxes that arrived during the stall have waited only since they arrived
            since = max(since, float(self.table.created_h[inside].min()))
            if now - since <= self.gridlock_h:
                continue
            if self.next_capacity_relief(now, timelines) < math.inf:
                continue  # a closure explains the standstill; it will lift
            shut = self._closures_at(now, timelines)
            closed = [f"{c.target} closed for good" for c in shut]
            self.gridlock = Gridlock(
                since, now, self._describe_standstill(now, closed), tuple(c.target for c in shut)
            )
            self._halt.succeed()
            return

    def _stuck_yards(
        self, now: float, timelines: list[tuple[str, Timeline]]
    ) -> list[tuple[str, float]]:
        """Yards that have had carriers waiting for space, and freed none, for longer than
        ``gridlock_days``: a standstill there even while the rest of the corridor moves
        (with traffic both ways a full yard can hold the carriers that would empty it).
        As for the whole corridor, the clock restarts when a closure lifts."""
        out = []
        reopened = None
        for nid, node in self.nodes.items():
            yard = node.yard
            if yard.full_since is None:
                continue
            if reopened is None:
                reopened = max(
                    (t.last_opened_at_or_before(now) for _, t in timelines), default=0.0
                )
            yard.free()  # apply the releases due by now
            blocked = max(yard.full_since, yard.last_release_h, reopened)
            if yard.is_blocked and now - blocked > self.gridlock_h:
                out.append((nid, blocked))
        return out

    def _closed_at_end(self, now: float) -> ClosedAtHorizon | None:
        """The standstill the run ends in, if closures that reopen later explain it.

        Nothing has moved for more than ``gridlock_days`` with containers inside, and
        resources have been closed for more than ``gridlock_days`` (closures that began
        during the standstill, e.g. a storm the day before, are not its cause) and are
        scheduled to reopen after the end.
        """
        if self._progress_under_way() or now - self.last_move_h <= self.gridlock_h:
            return None
        closures = [
            c for c in self._closures_at(now, self._all_timelines())
            if now - c.from_h > self.gridlock_h
        ]
        if not any(c.until_h < math.inf for c in closures):
            return None  # no closure, or only for good: a gridlock not yet looked at
        if len(self.inside_indices(now)) == 0:
            return None
        lines = [c.describe(self.horizon_h) for c in closures]
        return ClosedAtHorizon(self.last_move_h, closures, self._describe_standstill(now, lines))

    def _describe_standstill(self, now: float, closed: list[str]) -> list[str]:
        where = list(closed)
        for nid, node in self.nodes.items():
            teu = self.table.teu_of(node.present(now))
            if teu <= 0 and node.trains_waiting == 0:
                continue
            parts = [f"{teu:.0f} TEU waiting"]
            if node.yard.finite:
                parts.append(f"yard {node.yard.occupied:.0f}/{node.yard.capacity:.0f} TEU")
            if node.trains_waiting:
                parts.append(f"{node.trains_waiting} trains waiting to unload")
            where.append(f"{nid}: " + ", ".join(parts))
        aboard = sum(self.table.teu_of(idx) for idx in self.holdings.all())
        if aboard:
            where.append(f"{aboard:.0f} TEU aboard trains or vessels that cannot move on")
        for pid, pool in self.pools.items():
            level = pool.free
            if level < pool.spec.wagons:
                where.append(f"wagon pool {pid}: {level}/{pool.spec.wagons} wagons free")
        return where

    # -- accounting --------------------------------------------------------------------

    def inside_indices(self, now: float) -> np.ndarray:
        """Every container physically in the system at ``now``, found where it sits."""
        parts = [node.present(now) for node in self.nodes.values()]
        parts += self.holdings.all()
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def check_conservation(self, end_h: float) -> np.ndarray:
        """Raise :class:`ConservationError` unless created = delivered + inside, box by box."""
        table = self.table
        inside = self.inside_indices(end_h)
        uniq = np.unique(inside)
        if len(uniq) != len(inside):
            raise ConservationError("a container is in two places at once")
        created = table.created_h <= end_h
        delivered = self.delivered_mask(end_h)
        if np.any(~created[inside]) or np.any(delivered[inside]):
            raise ConservationError("a container inside is not yet created or already delivered")
        n_created, n_delivered = int(created.sum()), int(delivered.sum())
        if n_created != n_delivered + len(inside):
            raise ConservationError(
                f"created {n_created} boxes != delivered {n_delivered} + inside {len(inside)}"
            )
        for name, _cap in self.invariants.capacity.items():
            if name.startswith("yard "):
                yard = self.nodes[name[5:]].yard
                yard.free()
                if abs(self.invariants.tally[name] - yard.occupied) > 1e-6:
                    raise ConservationError(f"{name}: monitor tally differs from the yard counter")
        return inside

    def delivered_mask(self, end_h: float) -> np.ndarray:
        """Boxes delivered at or before ``end_h``."""
        table = self.table
        last = np.array([len(self.scenario.flows[f].route) - 1 for f in self.flow_ids])
        rows = np.arange(len(table))
        t = table.depart_h[rows, last[table.flow.astype(np.int64)]]
        return t <= end_h

    # -- run ---------------------------------------------------------------------------

    def run(self) -> tuple[float, Gridlock | None]:
        """Simulate to the horizon (or to a detected gridlock); returns (end_h, gridlock)."""
        horizon = self.env.timeout(self.horizon_h)
        self.env.run(until=self.env.any_of([horizon, self._halt]))
        if self.gridlock is None:
            self.closed_at_horizon = self._closed_at_end(self.env.now)
        return self.env.now, self.gridlock


def run_replication(scenario: Scenario, replication: int, keep_log: bool = False) -> dict[str, Any]:
    """Simulate replication ``replication`` of ``scenario`` and measure it."""
    from sim.model.measure import measure

    t0 = time.perf_counter()
    model = CorridorModel(scenario, replication)
    end_h, gridlock = model.run()
    inside = model.check_conservation(end_h)
    record = measure(model, end_h, inside, gridlock)
    record["perf"] = {
        "wall_s": time.perf_counter() - t0,
        "events": model.env.scheduled,
        "containers": int((model.table.created_h <= end_h).sum()),
    }
    if keep_log:
        record["log"] = model.table
    return record
