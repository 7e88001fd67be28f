"""Per-element tables of a run: ``nodes.csv``, ``legs.csv``, ``flows.csv``.

One row per replication × element, with the statistics that ``summary.json`` summarises
over the replications for that element (``summary.json``'s mean of a statistic is the mean
of its column over the element's rows; its CI is the t-interval of those rows). Each row
also says what the element is (label, kind or mode, its ends and direction), so a
notebook or a spreadsheet needs no other file to group or filter.

Units are in the column names: ``_h`` hours, ``_days`` days, ``_teu`` TEU (an FEU counts
2), ``_per_week`` / ``_per_year`` per 168 h / 365 days of the measured period (after the
warm-up); utilisations and shares are fractions 0..1. Empty cell: not defined (no box
finished a stay there, no capacity measure). Booleans are ``true`` / ``false``.
Every column is described in ``docs/outputs.md``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sim.outputs.results import csv_cell
from sim.outputs.summary import FLOW_KPIS, LEG_KPIS, NODE_KPIS
from sim.scenario.schema import Scenario

NODE_COLUMNS = ("node", "label", "kind", "utilisation_of")
LEG_COLUMNS = ("leg", "label", "mode", "from_node", "to_node", "direction", "utilisation_of")
FLOW_COLUMNS = (
    "flow", "label", "origin", "destination", "direction", "study", "empties_of"
)
TABLES = ("nodes.csv", "legs.csv", "flows.csv")


def direction(scen: Scenario, origin: str, destination: str) -> str:
    """``westbound`` / ``eastbound`` by the longitudes of two nodes; ``""`` when a node has
    no coordinates or both lie on one meridian."""
    a, b = scen.nodes[origin].lon, scen.nodes[destination].lon
    if a is None or b is None or a == b:
        return ""
    return "westbound" if b < a else "eastbound"


def _node_info(scen: Scenario, nid: str, rec: dict) -> list[Any]:
    return [nid, scen.node_label(nid), scen.nodes[nid].kind, rec.get("utilisation_of") or ""]


def _leg_info(scen: Scenario, lid: str, rec: dict) -> list[Any]:
    leg = scen.legs[lid]
    return [
        lid,
        leg.label or lid,
        rec.get("mode") or leg.mode,
        leg.from_node,
        leg.to_node,
        direction(scen, leg.from_node, leg.to_node),
        rec.get("utilisation_of") or "",
    ]


def _flow_info(scen: Scenario, fid: str, rec: dict) -> list[Any]:
    flow = scen.flows[fid]
    origin, destination = flow.route[0], flow.route[-1]
    return [
        fid,
        flow.label or fid,
        origin,
        destination,
        direction(scen, origin, destination),
        fid in scen.study_flow_ids(),
        flow.empties_of or "",
    ]


def write_table(
    path: Path,
    records: Sequence[dict],
    section: str,
    info_columns: Sequence[str],
    info: Callable[[str, dict], list[Any]],
    kpis: Sequence[str],
) -> None:
    """One row per replication × element of ``record[section]``: ``replication``, the
    element's ``info`` columns, then its ``kpis``."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["replication", *info_columns, *kpis])
        for r in records:
            for ident, values in r[section].items():
                w.writerow(
                    [r["replication"]]
                    + [csv_cell(v) for v in info(ident, values)]
                    + [csv_cell(values.get(k)) for k in kpis]
                )


def write_element_tables(folder: Path, scen: Scenario, records: Sequence[dict]) -> None:
    """``nodes.csv``, ``legs.csv`` and ``flows.csv`` of a run into ``folder``."""
    write_table(
        folder / "nodes.csv", records, "nodes", NODE_COLUMNS,
        lambda i, v: _node_info(scen, i, v), NODE_KPIS,
    )
    write_table(
        folder / "legs.csv", records, "legs", LEG_COLUMNS,
        lambda i, v: _leg_info(scen, i, v), LEG_KPIS,
    )
    write_table(
        folder / "flows.csv", records, "flows", FLOW_COLUMNS,
        lambda i, v: _flow_info(scen, i, v), FLOW_KPIS,
    )
