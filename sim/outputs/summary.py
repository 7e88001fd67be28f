"""Build ``summary.json`` from replication records: KPIs with CIs, nodes, flows, bottleneck.

Through time: ``periods`` (each calendar year of the measured period, each scheduled
disruption window, each ``[periods.*]``) with the study throughput, the transit of the
boxes created in the period and its bottleneck; ``bottleneck_by_year`` (which stage binds
in which year, and the runner-up). Dates are calendar dates from ``start_date`` (nominal,
from 2025-01-01, when the scenario has none: ``dated`` is false).

Every interval is a 95 % Student-t interval over replications, clipped at 0 (every KPI
here is a count, a time, a rate or a utilisation: none can be negative; see
:mod:`sim.stats`). ``warnings`` lists every warning of the run as
``{"kind", "text"}`` (plus ``flow`` or ``element`` where one applies), in this order:
``gridlock``, ``closed_at_horizon``, ``warmup``, ``transit_biased`` (any flow, or the
study flows together, with more than 5 % of the post-warm-up TEU still inside at the
horizon), ``demand_exceeds_capacity`` (per flow; the rule is in
:mod:`sim.outputs.checks`). The bottleneck of a run that ended in a standstill is the
stage that held it (a closed stage or a yard stuck full), not the busiest one.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

from sim.model.measure import PERIOD_KPIS  # study flows, per named period
from sim.outputs.checks import (
    BIAS_THRESHOLD,
    bias_note,
    collect_warnings,
    flow_checks,
    standstill_stages,
    warmup_check,
)
from sim.scenario.loader import LoadedScenario
from sim.scenario.schema import Scenario
from sim.stats import summarise as _summarise

__all__ = ["BIAS_THRESHOLD", "build_summary", "warmup_check"]

FLOW_KPIS = (
    "created_teu",
    "delivered_teu",
    "in_system_teu_end",
    "throughput_teu_per_week",
    "transit_days_mean",
    "transit_days_p50",
    "transit_days_p95",
    "cohort_inside_share",
)
SYSTEM_KPIS = ("created_teu", "delivered_teu", "in_system_teu_end")
STUDY_KPIS = (
    "throughput_teu_per_week",
    "transit_days_mean",
    "transit_days_p50",
    "transit_days_p95",
    "cohort_inside_share",
)
NODE_KPIS = (
    "wait_h_mean",
    "queue_teu_mean",
    "utilisation",
    "track_utilisation",
    "berth_utilisation",
    "yard_utilisation",
    "yard_teu_mean",
    "departed_teu",
)
LEG_KPIS = (
    "departures",
    "teu",
    "utilisation",
    "busy_share",
    "teu_loaded_per_year",
    "teu_empty_per_year",
)
FLEET_KPIS = (
    "sailings",
    "teu",
    "load_factor_mean",
    "utilisation",
    "busy_share",
    "weather_hold_h_mean",
)


def summarise(values: Any) -> dict[str, float | int | None]:
    """:func:`sim.stats.summarise` with the interval clipped at 0 (no KPI here can be
    negative: a count's t-interval over a few replications can reach below 0)."""
    return _summarise(values, lower=0.0)


def _group(records: list[dict], section: str, kpis: tuple[str, ...]) -> dict[str, Any]:
    ids = list(records[0][section])
    out = {}
    for ident in ids:
        out[ident] = {k: summarise(r[section][ident].get(k) for r in records) for k in kpis}
    return out


def _most_common(values: list[str | None]) -> str | None:
    known = [v for v in values if v is not None]
    return max(sorted(set(known)), key=known.count) if known else None


def date_text(start: str, hours: float | None) -> str | None:
    """The date (``YYYY-MM-DD``, with ``HH:MM`` unless midnight) of a model hour."""
    if hours is None or not math.isfinite(hours):
        return None
    when = _dt.datetime.fromisoformat(start) + _dt.timedelta(hours=float(hours))
    return when.strftime("%Y-%m-%d" if when.time() == _dt.time() else "%Y-%m-%d %H:%M")


def stage_means(records: list[dict], pid: str) -> dict[str, float]:
    """Mean utilisation over replications of each stage (nodes, legs, wagon pools) in
    period ``pid``, highest first."""
    values: dict[str, list[float]] = {}
    for r in records:
        util = ((r.get("periods") or {}).get(pid) or {}).get("utilisation") or {}
        for key, v in util.items():
            if v is not None and math.isfinite(v) and not key.startswith("fleets."):
                values.setdefault(key, []).append(float(v))
    means = {k: math.fsum(v) / len(v) for k, v in values.items()}
    return dict(sorted(means.items(), key=lambda kv: -kv[1]))


def _ranked(records: list[dict], pid: str, rank: int) -> dict[str, Any] | None:
    """The stage of the ``rank``-th highest mean utilisation in a period (0: the
    bottleneck), with its utilisation over replications."""
    means = list(stage_means(records, pid))
    if len(means) <= rank:
        return None
    key = means[rank]
    return {
        "element": key,
        "utilisation": summarise(
            ((r.get("periods") or {}).get(pid) or {}).get("utilisation", {}).get(key)
            for r in records
        ),
    }


def period_ids(records: list[dict]) -> list[str]:
    """Ids of the named periods of any record, in the order first seen (a replication
    that stopped in gridlock has no periods after its end)."""
    ids: dict[str, None] = {}
    for r in records:
        ids.update(dict.fromkeys(r.get("periods") or {}))
    return list(ids)


def build_periods(records: list[dict]) -> dict[str, Any]:
    """Per named period: its dates, the study KPIs with CIs, its bottleneck and runner-up."""
    start = records[0].get("start_date") or "2025-01-01"
    out = {}
    for pid in period_ids(records):
        having = [r for r in records if pid in (r.get("periods") or {})]
        p = having[0]["periods"][pid]

        out[pid] = {
            "kind": p["kind"],
            "label": p["label"],
            "from_date": date_text(start, p["from_h"]),
            "to_date": date_text(start, p["to_h"]),  # exclusive
            "measured_from_date": date_text(start, p.get("measured_from_h")),
            "measured_to_date": date_text(start, p.get("measured_to_h")),
            "from_day": p["from_h"] / 24.0,
            "to_day": p["to_h"] / 24.0,
            "occurrences": p.get("occurrences", 1),
            "measured_days": p["measured_h"] / 24.0,
            **{k: summarise(r["periods"][pid].get(k) for r in having) for k in PERIOD_KPIS},
            "bottleneck": _ranked(records, pid, 0),
            "runner_up": _ranked(records, pid, 1),
        }
    return out


def bottleneck_by_year(periods: dict[str, Any]) -> dict[str, Any]:
    """Per calendar year of the measured period: the stage with the highest utilisation
    (mean over replications) and its value, and the runner-up."""
    out = {}
    for p in periods.values():
        if p["kind"] != "year":
            continue
        out[p["label"]] = {
            "from_date": p["measured_from_date"],
            "to_date": p["measured_to_date"],
            "measured_days": p["measured_days"],
            "element": (p["bottleneck"] or {}).get("element"),
            "utilisation": (p["bottleneck"] or {}).get("utilisation"),
            "runner_up": p["runner_up"],
        }
    return out


def choose_bottleneck(
    stages: dict[str, dict],
    tables: dict[str, dict[str, Any]],
    records: list[dict],
    scenario: Scenario | None,
) -> dict[str, Any]:
    """The bottleneck: after a standstill (gridlock, closure at the horizon) the stage
    that held it in most replications — a closed stage, a yard stuck full — even if
    others were busier (wagons held by a stalled line look 50 % busy); otherwise the
    stage of the highest mean utilisation. ``why`` says which."""
    for key in standstill_stages(records, scenario):
        section, _, ident = key.partition(".")
        row = (tables.get(section) or {}).get(ident)
        if row is not None:
            stalled = sum(1 for r in records if r.get("gridlock") or r.get("closed_at_horizon"))
            return {
                "element": key,
                "utilisation": row["utilisation"],
                "why": f"held the standstill (gridlock or closure at the horizon) of "
                f"{stalled} of {len(records)} replication(s)",
            }
    top = max(stages, key=lambda k: stages[k]["mean"]) if stages else None
    return {
        "element": top,
        "utilisation": stages[top] if top else None,
        "why": "highest mean utilisation" if top else None,
    }


def build_summary(
    loaded: LoadedScenario, records: list[dict], command: str, version: str
) -> dict[str, Any]:
    """The summary of a run: every KPI as ``{mean, ci95_low, ci95_high, n}``."""
    scen = loaded.model
    settings = scen.scenario
    kpis = {k: summarise(r["system"][k] for r in records) for k in SYSTEM_KPIS}
    kpis.update({k: summarise(r["study"][k] for r in records) for k in STUDY_KPIS})
    share = kpis["cohort_inside_share"]["mean"]

    nodes = _group(records, "nodes", NODE_KPIS)
    for nid in nodes:
        nodes[nid]["utilisation_of"] = _most_common(
            [r["nodes"][nid]["utilisation_of"] for r in records]
        )
        nodes[nid]["label"] = scen.node_label(nid)
    legs = _group(records, "legs", LEG_KPIS)
    for lid in legs:
        legs[lid]["mode"] = records[0]["legs"][lid]["mode"]
        legs[lid]["utilisation_of"] = records[0]["legs"][lid].get("utilisation_of")
    fleets = _group(records, "fleets", FLEET_KPIS)
    for fid in fleets:  # "slots": the share of its timetable's slots filled; else busy share
        fleets[fid]["utilisation_of"] = records[0]["fleets"][fid].get("utilisation_of")
    pools = _group(records, "wagon_pools", ("utilisation",))

    # fleets are rated through their sea leg (several fleets on one leg are one stage)
    stages: dict[str, dict] = {}
    for section, table in (("nodes", nodes), ("legs", legs), ("wagon_pools", pools)):
        for ident, vals in table.items():
            if vals["utilisation"]["mean"] is not None:
                stages[f"{section}.{ident}"] = vals["utilisation"]
    bottleneck = choose_bottleneck(
        stages, {"nodes": nodes, "legs": legs, "wagon_pools": pools}, records, scen
    )

    gridlocks = [
        {"replication": r["replication"], **r["gridlock"]} for r in records if r["gridlock"]
    ]
    closed_at_horizon = [
        {"replication": r["replication"], **r["closed_at_horizon"]}
        for r in records
        if r.get("closed_at_horizon")
    ]
    periods = build_periods(records)
    checks = flow_checks(records)
    flows = {
        fid: {k: summarise(r["flows"][fid][k] for r in records) for k in FLOW_KPIS}
        for fid in records[0]["flows"]
    }
    for fid, c in checks.items():
        flows[fid]["transit_biased"] = c["transit_biased"]
        flows[fid]["demand_exceeds_capacity"] = c["demand_exceeds_capacity"]
    overloaded = [fid for fid, c in checks.items() if c["demand_exceeds_capacity"]]
    warm = warmup_check(records, settings.warmup_days, scen, overloaded)
    note = bias_note(share, checks)
    return {
        "scenario": {
            "name": settings.name,
            "description": settings.description,
            "file": str(loaded.path),
            "sha256": loaded.sha256,
        },
        "seed": settings.seed,
        "start_date": records[0].get("start_date"),
        "dated": bool(records[0].get("dated")),
        "replications": len(records),
        "horizon_days": settings.horizon_days,
        "warmup_days": settings.warmup_days,
        "study_flows": scen.study_flow_ids(),
        "kpis": kpis,
        "warnings": collect_warnings(gridlocks, closed_at_horizon, warm, share, checks),
        "transit_biased": note is not None,  # any flow, or the study flows together
        "transit_bias_note": note,
        "bottleneck": bottleneck,
        "bottleneck_by_year": bottleneck_by_year(periods),
        "periods": periods,
        "nodes": nodes,
        "legs": legs,
        "fleets": fleets,
        "wagon_pools": pools,
        "flows": flows,
        "flow_checks": checks,
        "gridlock": gridlocks,
        "closed_at_horizon": closed_at_horizon,
        "warmup_check": warm,
        "provenance": {"version": version, "command": command},
        "performance": {
            "wall_s_per_replication": summarise(r["perf"]["wall_s"] for r in records),
            "events_per_replication": summarise(r["perf"]["events"] for r in records),
            "containers_per_replication": summarise(r["perf"]["containers"] for r in records),
        },
    }
