"""Cross-reference checks a typed schema cannot express.

Nodes named by legs and routes must exist, routes must connect leg by leg,
sea legs must join ports and have a fleet, and disruption targets must exist.
Each failure names the exact key, e.g. ``flows.xian_klaipeda.route.3``. A check
that involves several keys (a sea leg's end and that node's ``kind``) names the one
written last — by an extending file or a flag over its base — since that is the
change that broke it; on a tie, the first key listed.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable

from sim.errors import ScenarioError
from sim.scenario.markets import market_problems
from sim.scenario.schema import CHANGEABLE, DispatchFull, PortNode, RailLeg, Scenario, SeaLeg

TARGET_TABLES = ("nodes", "legs", "fleets", "wagon_pools")


def legs_between(scenario: Scenario, a: str, b: str) -> list[str]:
    """Ids of the legs from node ``a`` to node ``b``."""
    return [lid for lid, leg in scenario.legs.items() if leg.from_node == a and leg.to_node == b]


def check_references(
    scenario: Scenario,
    source_of: Callable[[str], str],
    rank: Callable[[str], int] | None = None,
) -> None:
    """Raise :class:`ScenarioError` at the first dangling or inconsistent reference.

    ``source_of(key)`` names the file or flag responsible for a key; ``rank(source)``
    orders sources by when they were applied (later = higher).
    """
    order = rank or (lambda source: 0)

    def fail(key: str, expected: str, *also: tuple[str, str]) -> None:
        """``also``: the same problem told from another key it involves."""
        best_key, best_expected = max(
            ((key, expected), *also), key=lambda o: order(source_of(o[0]))
        )
        raise ScenarioError(source_of(best_key), best_key, best_expected)

    for key, expected in market_problems(scenario):
        fail(key, expected)
    node_ids = sorted(scenario.nodes)
    for lid, leg in scenario.legs.items():
        for attr, alias in (("from_node", "from"), ("to_node", "to")):
            nid = getattr(leg, attr)
            if nid not in scenario.nodes:
                fail(f"legs.{lid}.{alias}", f"expected a node id (one of {node_ids}), got {nid!r}")
        if leg.from_node == leg.to_node:
            fail(
                f"legs.{lid}.to",
                "expected a node different from 'from'",
                (f"legs.{lid}.from", "expected a node different from 'to'"),
            )
        if isinstance(leg, SeaLeg):
            for attr, alias in (("from_node", "from"), ("to_node", "to")):
                nid = getattr(leg, attr)
                if not isinstance(scenario.nodes[nid], PortNode):
                    fail(
                        f"legs.{lid}.{alias}",
                        "expected a port node at each end of a sea leg",
                        (f"nodes.{nid}.kind", f"expected 'port': sea leg {lid!r} calls here"),
                        (f"legs.{lid}.mode", f"expected 'rail': {nid!r} is not a port"),
                    )
        if isinstance(leg, RailLeg) and leg.wagon_pool is not None:
            if leg.wagon_pool not in scenario.wagon_pools:
                fail(
                    f"legs.{lid}.wagon_pool",
                    f"expected a wagon pool id (one of {sorted(scenario.wagon_pools)}), "
                    f"got {leg.wagon_pool!r}",
                )
            pid = leg.wagon_pool
            pool = scenario.wagon_pools[pid]
            if pool.teu_per_wagon > leg.train_capacity_teu:
                fail(
                    f"legs.{lid}.train_capacity_teu",
                    "expected room for at least one wagon",
                    (
                        f"wagon_pools.{pid}.teu_per_wagon",
                        f"expected at most {leg.train_capacity_teu:g} TEU: "
                        f"a wagon must fit a train of leg {lid!r}",
                    ),
                    (f"legs.{lid}.wagon_pool", f"expected a pool whose wagons fit leg {lid!r}"),
                )
            need = math.ceil(leg.train_capacity_teu / pool.teu_per_wagon - 1e-9)
            if pool.wagons < need:
                fits = pool.wagons * pool.teu_per_wagon
                fail(
                    f"wagon_pools.{pid}.wagons",
                    f"expected at least {need} wagons: one full train of leg {lid!r}",
                    (
                        f"legs.{lid}.train_capacity_teu",
                        f"expected at most {fits:g} TEU: wagon pool {pid!r} holds one train "
                        f"of {pool.wagons} wagons",
                    ),
                    (
                        f"wagon_pools.{pid}.teu_per_wagon",
                        f"expected at least {leg.train_capacity_teu / pool.wagons:g} TEU: "
                        f"{pool.wagons} wagons must make one full train of leg {lid!r}",
                    ),
                    (
                        f"legs.{lid}.wagon_pool",
                        f"expected a pool of at least {need} wagons: one full train",
                    ),
                )

    for fid, fleet in scenario.fleets.items():
        leg = scenario.legs.get(fleet.leg)
        if leg is None:
            fail(f"fleets.{fid}.leg", f"expected a sea leg id, got {fleet.leg!r}")
        elif not isinstance(leg, SeaLeg):
            fail(
                f"fleets.{fid}.leg",
                f"expected a sea leg, {fleet.leg!r} is a rail leg",
                (f"legs.{fleet.leg}.mode", f"expected 'sea': fleet {fid!r} serves this leg"),
            )
        back = scenario.legs.get(fleet.return_leg or "")
        if fleet.return_leg is not None and isinstance(leg, SeaLeg) and not _runs_back(
            back, leg, SeaLeg
        ):
            fail(
                f"fleets.{fid}.return_leg",
                f"expected a sea leg from {leg.to_node!r} to {leg.from_node!r} "
                f"(the way back of {fleet.leg!r}), got {fleet.return_leg!r}",
            )

    for nid, node in scenario.nodes.items():
        if (
            isinstance(node, PortNode)
            and node.weather_region is not None
            and node.weather_region not in scenario.weather
        ):
            fail(
                f"nodes.{nid}.weather_region",
                f"expected a weather region id (one of {sorted(scenario.weather)}), "
                f"got {node.weather_region!r}",
            )

    served = {fleet.leg for fleet in scenario.fleets.values()}
    served |= {f.return_leg for f in scenario.fleets.values() if f.return_leg is not None}
    for fid, flow in scenario.flows.items():
        seen: set[str] = set()
        for i, nid in enumerate(flow.route):
            key = f"flows.{fid}.route.{i}"
            if nid not in scenario.nodes:
                fail(key, f"expected a node id (one of {node_ids}), got {nid!r}")
            if nid in seen:
                fail(key, f"expected each node once on a route, {nid!r} repeats")
            seen.add(nid)
            if i == 0:
                continue
            prev = flow.route[i - 1]
            found = legs_between(scenario, prev, nid)
            if not found:
                fail(key, f"expected a leg from {prev!r} to {nid!r}: the route does not connect")
            if len(found) > 1:
                also = [
                    (
                        f"legs.{other}.{end}",
                        f"expected one leg from {prev!r} to {nid!r} (flow {fid!r} goes this "
                        f"way), found {sorted(found)}",
                    )
                    for other in sorted(found)
                    for end in ("from", "to")
                ]
                fail(
                    key, f"expected one leg from {prev!r} to {nid!r}, found {sorted(found)}", *also
                )
            if isinstance(scenario.legs[found[0]], SeaLeg) and found[0] not in served:
                fail(key, f"expected a fleet serving sea leg {found[0]!r}")

    for lid, leg in scenario.legs.items():
        if isinstance(leg, RailLeg):
            dest = scenario.nodes[leg.to_node]
            if (
                dest.yard_capacity_teu is not None
                and dest.yard_capacity_teu < leg.train_capacity_teu
            ):
                fail(
                    f"nodes.{leg.to_node}.yard_capacity_teu",
                    f"expected room for a whole train of leg {lid!r} "
                    f"(>= {leg.train_capacity_teu:g} TEU)",
                    (
                        f"legs.{lid}.train_capacity_teu",
                        f"expected at most {dest.yard_capacity_teu:g} TEU: a whole train must "
                        f"fit the yard at {leg.to_node!r}",
                    ),
                )

    gridlock_h = scenario.scenario.gridlock_days * 24.0
    carriers: list[tuple[str, object, str, float]] = [
        (f"legs.{k}", v, v.from_node, v.train_capacity_teu)
        for k, v in scenario.legs.items()
        if isinstance(v, RailLeg)
    ]
    carriers += [
        (
            f"fleets.{k}",
            v,
            scenario.legs[v.leg].from_node,
            v.nominal_capacity_teu() * v.load_factor,
        )
        for k, v in scenario.fleets.items()
    ]
    for key, item, origin, capacity in carriers:
        rule = item.dispatch  # type: ignore[attr-defined]
        wait_key = "interval_h" if getattr(rule, "interval_h", None) else "timeout_h"
        wait = getattr(rule, wait_key, None)
        if wait is not None and wait >= gridlock_h:
            fail(
                "scenario.gridlock_days",
                f"expected more than the longest scheduled wait ({key}: {wait:g} h), "
                "or every such wait would look like gridlock",
                (
                    f"{key}.dispatch.{wait_key}",
                    f"expected less than scenario.gridlock_days "
                    f"({scenario.scenario.gridlock_days:g} d = {gridlock_h:g} h), "
                    "or every such wait would look like gridlock",
                ),
            )
        yard = scenario.nodes[origin].yard_capacity_teu
        if isinstance(rule, DispatchFull) and yard is not None and capacity > yard:
            fail(
                f"{key}.dispatch",
                f"expected a rule that can fire: a full load of {capacity:g} TEU never fits "
                f"the {yard:g}-TEU yard at {origin!r} (use full_or_timeout)",
                (
                    f"nodes.{origin}.yard_capacity_teu",
                    f"expected at least {capacity:g} TEU: {key} leaves only when full",
                ),
            )

    for did, dis in scenario.disruptions.items():
        table, _, ident = dis.target.partition(".")
        if table not in TARGET_TABLES or not ident:
            fail(
                f"disruptions.{did}.target",
                'expected "nodes.<id>", "legs.<id>", "fleets.<id>" or "wagon_pools.<id>"',
            )
        if ident not in getattr(scenario, table):
            fail(
                f"disruptions.{did}.target",
                f"expected an existing {table.removesuffix('s').replace('_', ' ')} id, "
                f"got {ident!r}",
            )
        leg = scenario.legs.get(ident) if table == "legs" else None
        if isinstance(leg, RailLeg) and leg.paths_per_day is None and 0 < dis.factor < 1:
            fail(
                f"disruptions.{did}.factor",
                f"expected 0 or 1: a factor on a rail leg scales its train paths, and "
                f"legs.{ident} has no paths_per_day (give one, or close the leg with 0)",
            )
        end = getattr(dis, "end_day", None)
        if end is not None and end <= dis.start_day:
            fail(
                f"disruptions.{did}.end_day",
                "expected end_day > start_day",
                (f"disruptions.{did}.start_day", "expected start_day < end_day"),
            )

    for lid, leg in scenario.legs.items():
        if not isinstance(leg, RailLeg) or leg.backhaul_of is None:
            continue
        other = scenario.legs.get(leg.backhaul_of)
        if not _runs_back(other, leg, RailLeg):
            fail(
                f"legs.{lid}.backhaul_of",
                f"expected a rail leg from {leg.to_node!r} to {leg.from_node!r}, "
                f"got {leg.backhaul_of!r}",
            )
        elif other.wagon_pool is None or other.wagon_pool != leg.wagon_pool:
            fail(
                f"legs.{lid}.wagon_pool",
                f"expected the wagon pool of {leg.backhaul_of!r} ({other.wagon_pool!r}): a "
                "backhaul uses the wagons that leg brought",
            )
    for fid, flow in scenario.flows.items():
        if flow.empties_of is None:
            continue
        parent = scenario.flows.get(flow.empties_of)
        if parent is None or parent.empties_of is not None:
            near = difflib.get_close_matches(flow.empties_of, list(scenario.flows), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            fail(f"flows.{fid}.empties_of", f"expected a flow of loaded boxes{hint}")
        elif flow.route[0] != parent.route[-1]:
            fail(
                f"flows.{fid}.route.0",
                f"expected {parent.route[-1]!r}: the empties of {flow.empties_of!r} appear where "
                "its boxes are delivered",
            )
    for lid, leg in scenario.legs.items():
        if isinstance(leg, RailLeg) and leg.other_traffic_share > 0 and leg.paths_per_day is None:
            fail(
                f"legs.{lid}.other_traffic_share",
                "expected paths_per_day on this leg: the share is taken from its train paths",
            )
    dated = scenario.scenario.start_date is not None
    for fid, flow in scenario.flows.items():
        for attr in ("start_date", "end_date"):
            if getattr(flow, attr) is not None and not dated:
                fail(
                    f"flows.{fid}.{attr}", "expected scenario.start_date to be set (dates need it)"
                )
        if flow.start_date and flow.end_date and flow.end_date <= flow.start_date:
            fail(f"flows.{fid}.end_date", "expected end_date after start_date")
    _check_zero_capacity(scenario, fail)
    for cid, change in scenario.changes.items():
        if change.date is not None and not dated:
            fail(
                f"changes.{cid}.date",
                "expected scenario.start_date to be set (or give day = days from the start)",
            )
        for key, value in change.set.items():
            _check_change_key(scenario, f"changes.{cid}.set.{key}", key, value, fail)


def _check_change_key(scenario: Scenario, where: str, key: str, value: float, fail) -> None:
    """A dated change sets a capacity or demand key of an existing element, to a valid value."""
    from pydantic import ValidationError

    parts = key.split(".")
    tables = ", ".join(f"{t}.<id>.<key>" for t in CHANGEABLE)
    if len(parts) != 3 or parts[0] not in CHANGEABLE:
        fail(where, f"expected a key like {tables}")
    table, ident, attr = parts
    items = getattr(scenario, table)
    if ident not in items:
        near = difflib.get_close_matches(ident, list(items), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        fail(where, f"unknown {table.removesuffix('s').replace('_', ' ')} {ident!r}{hint}")
    element = items[ident]
    allowed = [
        k
        for k in CHANGEABLE[table]
        if k in type(element).model_fields
        or k in {f.alias for f in type(element).model_fields.values()}
    ]
    if attr not in allowed:
        fail(where, f"expected one of {', '.join(allowed)} (the keys a dated change can set)")
    field = type(element).model_fields[attr]
    if field.annotation in (int, int | None):
        if value != int(value):
            fail(where, f"expected a whole number, got {value!r}")
        value = int(value)
    data = element.model_dump(by_alias=True)
    data[attr] = value
    try:
        type(element).model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        fail(where, err["msg"].removeprefix("Value error, ").replace("Input should be", "expected"))


def _runs_back(other, leg, mode: type) -> bool:
    """``other`` is a leg of type ``mode`` from ``leg``'s destination to its origin."""
    return isinstance(other, mode) and (other.from_node, other.to_node) == (
        leg.to_node,
        leg.from_node,
    )


def _check_zero_capacity(scenario: Scenario, fail) -> None:
    """A capacity of 0 (closed until a dated change) must get a dated change that opens it,
    or nothing could ever pass."""

    def raised(table: str, ident: str, attr: str) -> bool:
        return any(
            ch.enabled and ch.set.get(f"{table}.{ident}.{attr}", 0) > 0
            for ch in scenario.changes.values()
        )

    for lid, leg in scenario.legs.items():
        if isinstance(leg, SeaLeg):
            fleets = [(fid, f) for fid, f in scenario.fleets.items() if f.leg == lid]
            if fleets and not any(
                f.vessels > 0 or raised("fleets", fid, "vessels") for fid, f in fleets
            ):
                fid = fleets[0][0]
                fail(
                    f"fleets.{fid}.vessels",
                    f"expected at least one vessel on sea leg {lid!r}, now or from a dated change",
                )
    for pid, pool in scenario.wagon_pools.items():
        if pool.wagons == 0 and not raised("wagon_pools", pid, "wagons"):
            fail(f"wagon_pools.{pid}.wagons", "expected wagons, now or from a dated change")
    for nid, node in scenario.nodes.items():
        for attr in ("handling_tracks", "berths"):
            if getattr(node, attr, None) == 0 and not raised("nodes", nid, attr):
                fail(
                    f"nodes.{nid}.{attr}",
                    "expected at least 1, now or from a dated change (0 closes it for good)",
                )
