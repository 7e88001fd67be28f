"""Build ``summary.json`` from replication records: KPIs with CIs, nodes, flows, bottleneck."""

from __future__ import annotations

from typing import Any

import numpy as np

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
    legs = _group(records, "legs", ("departures", "teu", "utilisation"))
    for lid in legs:
        legs[lid]["mode"] = records[0]["legs"][lid]["mode"]
    fleets = _group(
        records,
        "fleets",
        ("sailings", "teu", "load_factor_mean", "utilisation", "weather_hold_h_mean"),
    )
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
    return {
        "scenario": {
            "name": settings.name,
            "description": settings.description,
            "file": str(loaded.path),
            "sha256": loaded.sha256,
        },
        "seed": settings.seed,
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
