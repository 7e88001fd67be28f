"""Cross-reference checks a typed schema cannot express.

Nodes named by legs and routes must exist, routes must connect leg by leg,
sea legs must join ports and have a fleet, and disruption targets must exist.
Each failure names the exact key, e.g. ``flows.xian_klaipeda.route.3``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sim.errors import ScenarioError
from sim.scenario.schema import DispatchFull, PortNode, RailLeg, Scenario, SeaLeg

TARGET_TABLES = ("nodes", "legs", "fleets")


def legs_between(scenario: Scenario, a: str, b: str) -> list[str]:
    """Ids of the legs from node ``a`` to node ``b``."""
    return [lid for lid, leg in scenario.legs.items() if leg.from_node == a and leg.to_node == b]


def check_references(scenario: Scenario, source_of: Callable[[str], str]) -> None:
    """Raise :class:`ScenarioError` at the first dangling or inconsistent reference."""

    def fail(key: str, expected: str) -> None:
        raise ScenarioError(source_of(key), key, expected)

    node_ids = sorted(scenario.nodes)
    for lid, leg in scenario.legs.items():
        for attr, alias in (("from_node", "from"), ("to_node", "to")):
            nid = getattr(leg, attr)
            if nid not in scenario.nodes:
                fail(f"legs.{lid}.{alias}", f"expected a node id (one of {node_ids}), got {nid!r}")
        if leg.from_node == leg.to_node:
            fail(f"legs.{lid}.to", "expected a node different from 'from'")
        if isinstance(leg, SeaLeg):
            for attr, alias in (("from_node", "from"), ("to_node", "to")):
                if not isinstance(scenario.nodes[getattr(leg, attr)], PortNode):
                    fail(f"legs.{lid}.{alias}", "expected a port node at each end of a sea leg")
        if isinstance(leg, RailLeg) and leg.wagon_pool is not None:
            if leg.wagon_pool not in scenario.wagon_pools:
                fail(
                    f"legs.{lid}.wagon_pool",
                    f"expected a wagon pool id (one of {sorted(scenario.wagon_pools)}), "
                    f"got {leg.wagon_pool!r}",
                )
            pool = scenario.wagon_pools[leg.wagon_pool]
            if pool.teu_per_wagon > leg.train_capacity_teu:
                fail(f"legs.{lid}.train_capacity_teu", "expected room for at least one wagon")
            need = math.ceil(leg.train_capacity_teu / pool.teu_per_wagon - 1e-9)
            if pool.wagons < need:
                fail(
                    f"wagon_pools.{leg.wagon_pool}.wagons",
                    f"expected at least {need} wagons: one full train of leg {lid!r}",
                )

    for fid, fleet in scenario.fleets.items():
        leg = scenario.legs.get(fleet.leg)
        if leg is None:
            fail(f"fleets.{fid}.leg", f"expected a sea leg id, got {fleet.leg!r}")
        elif not isinstance(leg, SeaLeg):
            fail(f"fleets.{fid}.leg", f"expected a sea leg, {fleet.leg!r} is a rail leg")

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
                fail(key, f"expected one leg from {prev!r} to {nid!r}, found {sorted(found)}")
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
        wait = getattr(rule, "interval_h", None) or getattr(rule, "timeout_h", None)
        if wait is not None and wait >= gridlock_h:
            fail(
                "scenario.gridlock_days",
                f"expected more than the longest scheduled wait ({key}: {wait:g} h), "
                "or every such wait would look like gridlock",
            )
        yard = scenario.nodes[origin].yard_capacity_teu
        if isinstance(rule, DispatchFull) and yard is not None and capacity > yard:
            fail(
                f"{key}.dispatch",
                f"expected a rule that can fire: a full load of {capacity:g} TEU never fits "
                f"the {yard:g}-TEU yard at {origin!r} (use full_or_timeout)",
            )

    for did, dis in scenario.disruptions.items():
        table, _, ident = dis.target.partition(".")
        if table not in TARGET_TABLES or not ident:
            fail(f"disruptions.{did}.target", 'expected "nodes.<id>", "legs.<id>" or "fleets.<id>"')
        if ident not in getattr(scenario, table):
            fail(
                f"disruptions.{did}.target",
                f"expected an existing {table[:-1]} id, got {ident!r}",
            )
        end = getattr(dis, "end_day", None)
        if end is not None and end <= dis.start_day:
            fail(f"disruptions.{did}.end_day", "expected end_day > start_day")
