"""Scale a corridor scenario with its demand: k x demand, k x the capacity that carries it.

``scaled_overrides(model, k)`` returns ``--set`` style overrides that multiply
every flow's and every market's ``annual_teu`` (and ``teu_by_year``) by ``k`` and
grow the corridor with it, so that the load is carried rather than queued at the
origin:

- fleets: ``vessels`` x k (rounded up); a timetable's ``interval_h`` / k;
- ports: ``berths`` x k; every node: ``handling_tracks`` x k, ``yard_capacity_teu`` x k;
- rail legs: ``paths_per_day`` x k; a timetable's ``interval_h`` / k;
- wagon pools: ``wagons`` x k (rounded up);
- operators: ``booking_limit_teu`` and ``capacity_teu_per_day`` x k (a limit that
  stayed put would refuse the scaled bookings);
- dated changes: the new values of those keys, scaled alike.

The flows a market generates (one per market x route, ``flow.market`` set) are not
scaled themselves: they follow their market.

Train lengths, vessel sizes, crane rates, times and weather stay as they are, so
each carrier does the same work and there are k times as many of them.
``python benchmarks/scale.py K`` prints the overrides as TOML for ``extends`` files
(``benchmarks/scenarios/baseline_2m.toml`` was written this way).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from sim.scenario.schema import DispatchTimetable, PortNode, RailLeg, Scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"


MAX_PATHS = 1_440.0  # the schema's limit: a train a minute


def _up(x: float) -> int:
    return int(math.ceil(x - 1e-9))


def _table(by_year: dict[str, float], k: float) -> str:
    """A ``teu_by_year`` table scaled by ``k``, as an inline TOML table."""
    return "{" + ", ".join(f'"{y}" = {v * k!r}' for y, v in by_year.items()) + "}"


def scaled_overrides(model: Scenario, k: float) -> list[str]:
    """``key.path=value`` overrides that scale ``model`` by ``k`` (k = 1: no change)."""
    if k == 1:
        return []
    out: list[str] = []
    for fid, flow in model.flows.items():
        if getattr(flow, "market", None) is not None:  # generated from a market: follows it
            continue
        out.append(f"flows.{fid}.annual_teu={flow.annual_teu * k!r}")
        if getattr(flow, "teu_by_year", None):  # older models have no demand path
            out.append(f"flows.{fid}.teu_by_year={_table(flow.teu_by_year, k)}")
    for mid, market in getattr(model, "markets", {}).items():  # older models have none
        out.append(f"markets.{mid}.annual_teu={market.annual_teu * k!r}")
        if market.teu_by_year:
            out.append(f"markets.{mid}.teu_by_year={_table(market.teu_by_year, k)}")
    for oid, op in getattr(model, "operators", {}).items():
        if op.booking_limit_teu is not None:
            out.append(f"operators.{oid}.booking_limit_teu={op.booking_limit_teu * k!r}")
        if op.capacity_teu_per_day is not None:
            out.append(f"operators.{oid}.capacity_teu_per_day={op.capacity_teu_per_day * k!r}")
    for fid, fleet in model.fleets.items():
        out.append(f"fleets.{fid}.vessels={_up(fleet.vessels * k)}")
        if isinstance(fleet.dispatch, DispatchTimetable):
            out.append(f"fleets.{fid}.dispatch.interval_h={fleet.dispatch.interval_h / k!r}")
    for nid, node in model.nodes.items():
        if isinstance(node, PortNode):
            out.append(f"nodes.{nid}.berths={_up(node.berths * k)}")
        if node.handling_tracks is not None:
            out.append(f"nodes.{nid}.handling_tracks={_up(node.handling_tracks * k)}")
        if node.yard_capacity_teu is not None:
            out.append(f"nodes.{nid}.yard_capacity_teu={node.yard_capacity_teu * k!r}")
    for lid, leg in model.legs.items():
        if not isinstance(leg, RailLeg):
            continue
        if leg.paths_per_day is not None:
            out.append(f"legs.{lid}.paths_per_day={min(leg.paths_per_day * k, MAX_PATHS)!r}")
        if isinstance(leg.dispatch, DispatchTimetable):
            out.append(f"legs.{lid}.dispatch.interval_h={leg.dispatch.interval_h / k!r}")
    for pid, pool in model.wagon_pools.items():
        out.append(f"wagon_pools.{pid}.wagons={_up(pool.wagons * k)}")
    # dated changes set capacities too: scale their new values the same way
    scaled_keys = {"annual_teu", "vessels", "berths", "handling_tracks", "yard_capacity_teu",
                   "paths_per_day", "wagons"}
    whole = {"vessels", "berths", "handling_tracks", "wagons"}
    for cid, change in getattr(model, "changes", {}).items():  # older models have none
        items = []
        for key, value in change.set.items():
            attr = key.rsplit(".", 1)[-1]
            if attr in scaled_keys:
                value = _up(value * k) if attr in whole else value * k
                if attr == "paths_per_day":
                    value = min(value, MAX_PATHS)
            items.append(f'"{key}" = {value!r}')
        out.append(f"changes.{cid}.set={{{', '.join(items)}}}")
    return out


def as_toml(overrides: list[str]) -> str:
    """The overrides as TOML tables (for an ``extends`` file)."""
    tables: dict[str, list[str]] = {}
    for item in overrides:
        key, _, value = item.partition("=")
        parts = key.split(".")
        # dispatch is an inline table in the base file: keep it as a dotted key
        if len(parts) > 3:
            table, leaf = ".".join(parts[:2]), ".".join(parts[2:])
        else:
            table, leaf = ".".join(parts[:-1]), parts[-1]
        tables.setdefault(table, []).append(f"{leaf} = {value}")
    return "\n".join(f"[{t}]\n" + "\n".join(lines) + "\n" for t, lines in tables.items())


if __name__ == "__main__":
    from sim.scenario.loader import load_scenario

    factor = float(sys.argv[1])
    print(as_toml(scaled_overrides(load_scenario(BASELINE).model, factor)))
