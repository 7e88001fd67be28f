"""Dated capacity: the ``[changes.*]`` of a scenario, applied to the running model.

Every changeable key (:data:`sim.scenario.schema.CHANGEABLE`) has a plain value — its
value at the start — and may take new values on dates. Together with the share of
capacity taken by traffic the scenario does not model (``other_traffic_share``, itself
changeable) and the capacity factors of disruptions that act on sizes (a yard, a wagon
pool), these give each component its effective capacity at any time. One SimPy process
applies them at the times they change, so a scenario without dated changes costs no
events and gives the numbers it always gave.

What a dated value means, by key:

* ``nodes.*.handling_tracks`` / ``berths``: units for the modelled traffic are
  ``round(n x (1 - other_traffic_share))``, at least 1 unless ``n`` is 0 (closed until a
  change adds some); a cut takes effect as units in use are given back;
* ``nodes.*.yard_capacity_teu``: ``size x (1 - other_traffic_share) x node factor``;
  below the level in use, no admissions until the yard has emptied below it;
* ``nodes.*.cranes_per_berth`` / ``crane_rate_teu_per_h``: the loading rate of calls
  that start after the change;
* ``legs.*.paths_per_day``: ``paths x (1 - other_traffic_share)``, for trains booked
  after the change (the leg's capacity factor scales the rate as before);
  ``legs.*.train_capacity_teu``: trains formed after the change;
* ``fleets.*.vessels``: new ships start at the origin on the date; a ship leaving the
  fleet does so at the end of its round trip; ``capacity_teu`` / ``load_factor``: the
  usable TEU of sailings decided after the change;
* ``wagon_pools.*.wagons``: ``wagons x pool factor``, added wagons free at once, removed
  ones as they come free;
* ``flows.*.annual_teu``: the demand level from the date on (see :mod:`sim.model.demand`).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import simpy

from sim.model.calendar import HOURS_PER_DAY, Calendar
from sim.scenario.schema import Scenario

if TYPE_CHECKING:
    from sim.model.corridor import CorridorModel

Key = tuple[str, str, str]


def change_time_h(change: Any, calendar: Calendar) -> float:
    """Model hour at which a ``[changes.*]`` entry takes effect."""
    if change.day is not None:
        return change.day * HOURS_PER_DAY
    return calendar.hours_of(calendar.parse(change.date))


class Schedule:
    """The dated values of every changeable key (model hours)."""

    def __init__(self, scenario: Scenario, calendar: Calendar) -> None:
        steps: dict[Key, list[tuple[float, int, float]]] = {}
        for order, cid in enumerate(sorted(scenario.changes)):
            change = scenario.changes[cid]
            if not change.enabled:
                continue
            t = max(0.0, change_time_h(change, calendar))
            for key, value in change.set.items():
                table, ident, attr = key.split(".")
                steps.setdefault((table, ident, attr), []).append((t, order, value))
        self._times: dict[Key, list[float]] = {}
        self._values: dict[Key, list[float]] = {}
        for key, items in steps.items():
            items.sort()
            self._times[key] = [t for t, _, _ in items]
            self._values[key] = [v for _, _, v in items]

    def __bool__(self) -> bool:
        return bool(self._times)

    def value(self, table: str, ident: str, attr: str, plain: Any, t: float) -> Any:
        """The value of ``table.ident.attr`` at ``t`` (``plain`` before its first change)."""
        key = (table, ident, attr)
        times = self._times.get(key)
        if not times:
            return plain
        k = bisect_right(times, t)
        if k == 0:
            return plain
        value = self._values[key][k - 1]
        return int(value) if isinstance(plain, int) and not isinstance(plain, bool) else value

    def times(self, table: str, ident: str) -> set[float]:
        """Times at which some key of element ``table.ident`` changes."""
        return {
            t
            for (tb, ident_, _), times in self._times.items()
            if tb == table and ident_ == ident
            for t in times
        }

    def steps_of(self, table: str, ident: str, attr: str) -> list[tuple[float, float]]:
        """``(time, value)`` of each dated change of one key."""
        key = (table, ident, attr)
        return list(zip(self._times.get(key, []), self._values.get(key, []), strict=True))

    def next_change_after(self, t: float) -> float:
        """The first dated change of any capacity at or after ``t`` (``inf`` if none; one
        due at ``t`` itself may not have been applied yet when this is asked)."""
        nxt = math.inf
        for (table, _, _), times in self._times.items():
            if table in ("flows", "markets"):  # demand, not capacity
                continue
            k = bisect_left(times, t)
            if k < len(times):
                nxt = min(nxt, times[k])
        return nxt


def units(n: int | None, share: float) -> int | None:
    """Tracks or berths left to the modelled traffic when ``share`` is taken by others."""
    if n is None or n == 0 or share == 0:
        return n
    return max(1, round(n * (1.0 - share)))


def apply_schedule(model: CorridorModel) -> None:
    """Set every component to its capacity at time 0 and start the process that changes
    it later (only if something changes)."""
    updates: dict[float, list[Callable[[float], None]]] = {}
    horizon = model.horizon_h

    def at(times: set[float] | list[float], refresh: Callable[[float], None]) -> None:
        for t in times:
            if 0 < t < horizon:
                updates.setdefault(t, []).append(refresh)

    sched = model.schedule
    for nid, node in model.nodes.items():
        refresh = _node_refresh(model, nid, node)
        refresh(0.0)
        times = sched.times("nodes", nid)
        if node.yard.finite or node.spec.yard_capacity_teu is not None or times:
            times |= set(node.capacity.starts[1:])  # the factor scales the yard
        at(times, refresh)
    for lid, leg in model.rail_legs.items():
        refresh = _rail_refresh(model, lid, leg)
        refresh(0.0)
        at(sched.times("legs", lid), refresh)
    for fid, fleet in model.fleets.items():
        refresh = _fleet_refresh(model, fid, fleet)
        at(sched.times("fleets", fid), refresh)
    for pid, pool in model.pools.items():
        factor = model.capacity_timelines.get(f"wagon_pools.{pid}")
        refresh = _pool_refresh(model, pid, pool, factor)
        refresh(0.0)
        at(sched.times("wagon_pools", pid) | set(factor.starts[1:] if factor else []), refresh)
    if updates:
        model.env.process(_apply(model.env, sorted(updates.items())))


def _apply(
    env: simpy.Environment, updates: list[tuple[float, list[Callable[[float], None]]]]
) -> Generator[simpy.Event, object, None]:
    for t, refreshes in updates:
        yield env.timeout(t - env.now)
        for refresh in refreshes:
            refresh(t)


def _node_refresh(model: CorridorModel, nid: str, node: Any) -> Callable[[float], None]:
    spec, sched = node.spec, model.schedule

    def refresh(t: float) -> None:
        share = sched.value("nodes", nid, "other_traffic_share", spec.other_traffic_share, t)
        tracks = sched.value("nodes", nid, "handling_tracks", spec.handling_tracks, t)
        node.tracks.set_capacity(units(tracks, share))
        if node.berths is not None:
            node.berths.set_capacity(
                units(sched.value("nodes", nid, "berths", spec.berths, t), share)
            )
            cranes = sched.value("nodes", nid, "cranes_per_berth", spec.cranes_per_berth, t)
            rate = sched.value("nodes", nid, "crane_rate_teu_per_h", spec.crane_rate_teu_per_h, t)
            node.crane_rate = cranes * rate
        size = sched.value("nodes", nid, "yard_capacity_teu", spec.yard_capacity_teu, t)
        if size is not None:
            factor = node.capacity.at(t)
            node.yard.set_capacity(
                size if share == 0 and factor == 1 else size * (1 - share) * factor
            )

    return refresh


def _rail_refresh(model: CorridorModel, lid: str, leg: Any) -> Callable[[float], None]:
    spec, sched = leg.spec, model.schedule

    def refresh(t: float) -> None:
        paths = sched.value("legs", lid, "paths_per_day", spec.paths_per_day, t)
        share = sched.value("legs", lid, "other_traffic_share", spec.other_traffic_share, t)
        leg.line.set_paths(t, paths if share == 0 or paths is None else paths * (1 - share))
        leg.train_capacity_teu = sched.value(
            "legs", lid, "train_capacity_teu", spec.train_capacity_teu, t
        )

    return refresh


def _fleet_refresh(model: CorridorModel, fid: str, fleet: Any) -> Callable[[float], None]:
    spec, sched = fleet.spec, model.schedule

    def refresh(t: float) -> None:
        fleet.set_vessels(sched.value("fleets", fid, "vessels", spec.vessels, t))
        fleet.set_capacity(
            sched.value("fleets", fid, "capacity_teu", spec.capacity_teu, t),
            sched.value("fleets", fid, "load_factor", spec.load_factor, t),
        )

    return refresh


def _pool_refresh(
    model: CorridorModel, pid: str, pool: Any, factor: Any
) -> Callable[[float], None]:
    spec, sched = pool.spec, model.schedule

    def refresh(t: float) -> None:
        wagons = sched.value("wagon_pools", pid, "wagons", spec.wagons, t)
        f = factor.at(t) if factor is not None else 1.0
        pool.set_total(wagons if f == 1 else round(wagons * f))

    return refresh
