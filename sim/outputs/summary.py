"""Build ``summary.json`` from replication records: KPIs with CIs, nodes, flows, bottleneck.

Through time: ``periods`` (each calendar year of the measured period, each scheduled
disruption window, each ``[periods.*]``) with the study throughput, the transit of the
boxes created in the period and its bottleneck; ``bottleneck_by_year`` (which stage binds
in which year, and the runner-up). Dates are calendar dates from ``start_date`` (nominal,
from 2025-01-01, when the scenario has none: ``dated`` is false).
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

import numpy as np

from sim.model.measure import PERIOD_KPIS  # study flows, per named period
from sim.scenario.loader import LoadedScenario
from sim.stats import mser, summarise

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
BIAS_THRESHOLD = 0.05
DAYS_PER_YEAR = 365


def _group(records: list[dict], section: str, kpis: tuple[str, ...]) -> dict[str, Any]:
    ids = list(records[0][section])
    out = {}
    for ident in ids:
        out[ident] = {k: summarise(r[section][ident].get(k) for r in records) for k in kpis}
    return out


def warmup_check(records: list[dict], warmup_days: float) -> dict[str, Any] | None:
    """MSER-5 on the daily TEU held at all nodes (mean over replications).

    Demand and storms are seasonal, so the steady state is periodic, which plain
    MSER mistakes for a transient. When the run covers at least two years, the
    day-of-year profile measured after the warm-up is subtracted first and MSER
    looks at the residual. Warns when the truncation point lies beyond the
    configured warm-up, i.e. the initial transient may still bias the KPIs.
    """
    series = [r["series"]["nodes"] for r in records if "series" in r]
    if not series:
        return None
    days = min(len(next(iter(s.values()))["teu_at_node"]) for s in series)
    total = np.zeros(days)
    for s in series:
        for node in s.values():
            total += np.asarray(node["teu_at_node"][:days])
    total /= len(series)
    method = "MSER-5 on daily TEU held at all nodes, mean over replications"
    if days >= 2 * DAYS_PER_YEAR and days - warmup_days >= DAYS_PER_YEAR:
        doy = np.arange(days) % DAYS_PER_YEAR
        after = np.arange(days) >= warmup_days
        profile = np.bincount(doy[after], weights=total[after], minlength=DAYS_PER_YEAR)
        profile /= np.maximum(np.bincount(doy[after], minlength=DAYS_PER_YEAR), 1)
        total = total - profile[doy]
        method += ", after removing the day-of-year profile (seasonal demand and storms)"
    suggested = mser(total.tolist(), batch=5)
    return {
        "method": method,
        "suggested_warmup_days": float(suggested),
        "warmup_days": warmup_days,
        "ok": suggested <= warmup_days,
    }


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
    top = max(stages, key=lambda k: stages[k]["mean"]) if stages else None

    gridlocks = [
        {"replication": r["replication"], **r["gridlock"]} for r in records if r["gridlock"]
    ]
    closed_at_horizon = [
        {"replication": r["replication"], **r["closed_at_horizon"]}
        for r in records
        if r.get("closed_at_horizon")
    ]
    periods = build_periods(records)
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
        "transit_biased": bool(share is not None and share > BIAS_THRESHOLD),
        "transit_bias_note": (
            f"{share:.1%} of the TEU created after the warm-up were still inside at the horizon; "
            "transit KPIs over deliveries under-represent slow containers"
            if share is not None and share > BIAS_THRESHOLD
            else None
        ),
        "bottleneck": {"element": top, "utilisation": stages[top] if top else None},
        "bottleneck_by_year": bottleneck_by_year(periods),
        "periods": periods,
        "nodes": nodes,
        "legs": legs,
        "fleets": fleets,
        "wagon_pools": pools,
        "flows": {
            fid: {k: summarise(r["flows"][fid][k] for r in records) for k in FLOW_KPIS}
            for fid in records[0]["flows"]
        },
        "gridlock": gridlocks,
        "closed_at_horizon": closed_at_horizon,
        "warmup_check": warmup_check(records, settings.warmup_days),
        "provenance": {"version": version, "command": command},
        "performance": {
            "wall_s_per_replication": summarise(r["perf"]["wall_s"] for r in records),
            "events_per_replication": summarise(r["perf"]["events"] for r in records),
            "containers_per_replication": summarise(r["perf"]["containers"] for r in records),
        },
    }
