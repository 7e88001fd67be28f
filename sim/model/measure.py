"""Measure one finished replication: KPIs per flow, node, leg, fleet; daily series.

Everything about containers is computed exactly from their time stamps (no
sampling): the mean TEU at a node is the integral of its content over the
post-warm-up window, so it agrees with Little's law by construction.
Resource utilisations come from the time-weighted monitors.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sim.model.corridor import CorridorModel, Gridlock

HOURS_PER_WEEK = 168.0
MAX_TRANSIT_SAMPLES = 50_000


def _integral_at(points: np.ndarray, a: np.ndarray, d: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``∫_0^p Σ_i w_i·1[a_i <= t < d_i] dt`` at each point ``p`` (``d`` may be inf)."""
    out = np.zeros(len(points))
    for times, sign in ((a, 1.0), (d, -1.0)):
        finite = np.isfinite(times)
        t, ww = times[finite], w[finite]
        order = np.argsort(t, kind="stable")
        t, ww = t[order], ww[order]
        cw = np.concatenate(([0.0], np.cumsum(ww)))
        cwt = np.concatenate(([0.0], np.cumsum(ww * t)))
        k = np.searchsorted(t, points, side="left")
        out += sign * (points * cw[k] - cwt[k])
    return out


def _flow_kpis(
    created: np.ndarray,
    delivered: np.ndarray,
    teu: np.ndarray,
    inside_teu: float,
    warm: float,
    end: float,
) -> dict[str, Any]:
    """KPIs of a set of boxes (one flow, or the study flows together)."""
    made = created <= end
    done = delivered <= end
    post = done & (delivered >= warm)
    transit_d = (delivered[post] - created[post]) / 24.0
    cohort = made & (created >= warm)
    cohort_teu = float(teu[cohort].sum())
    stuck_teu = float(teu[cohort & ~done].sum())
    weeks = (end - warm) / HOURS_PER_WEEK
    has = len(transit_d) > 0
    return {
        "created_teu": float(teu[made].sum()),
        "delivered_teu": float(teu[done].sum()),
        "in_system_teu_end": inside_teu,
        "throughput_teu_per_week": float(teu[post].sum()) / weeks if weeks > 0 else None,
        "transit_days_mean": float(transit_d.mean()) if has else None,
        "transit_days_p50": float(np.percentile(transit_d, 50)) if has else None,
        "transit_days_p95": float(np.percentile(transit_d, 95)) if has else None,
        "cohort_inside_share": stuck_teu / cohort_teu if cohort_teu > 0 else None,
    }


def _ratio(value: float, capacity: float | None) -> float | None:
    if capacity is None or capacity <= 0 or not math.isfinite(capacity):
        return None
    return value / capacity


def measure(
    model: CorridorModel, end: float, inside: np.ndarray, gridlock: Gridlock | None
) -> dict[str, Any]:
    """The replication record (small, picklable; arrays only for plots)."""
    table = model.table
    scen = model.scenario
    warm = min(model.warmup_h, end)
    span = max(end - warm, 1e-9)
    teu = table.teu.astype(np.float64)
    flow = table.flow.astype(np.int64)
    rows_by_flow = [np.flatnonzero(flow == fi) for fi in range(len(model.flow_ids))]
    last_stage = [len(scen.flows[f].route) - 1 for f in model.flow_ids]
    delivered = np.full(len(table), np.inf)
    for fi, rows in enumerate(rows_by_flow):
        d = table.depart_h[rows, last_stage[fi]]
        delivered[rows] = np.where(np.isnan(d), np.inf, d)
    inside_by_flow = np.bincount(flow[inside], weights=teu[inside], minlength=len(model.flow_ids))

    flows = {}
    for fi, fid in enumerate(model.flow_ids):
        r = rows_by_flow[fi]
        flows[fid] = _flow_kpis(
            table.created_h[r], delivered[r], teu[r], float(inside_by_flow[fi]), warm, end
        )
    study_ids = scen.study_flow_ids()
    study_fi = [model.flow_ids.index(f) for f in study_ids]
    sr = np.concatenate([rows_by_flow[fi] for fi in study_fi])
    study = _flow_kpis(
        table.created_h[sr],
        delivered[sr],
        teu[sr],
        float(inside_by_flow[study_fi].sum()),
        warm,
        end,
    )
    system = {
        "created_teu": float(teu[table.created_h <= end].sum()),
        "delivered_teu": float(teu[delivered <= end].sum()),
        "in_system_teu_end": float(teu[inside].sum()),
    }

    days = int(math.ceil(end / 24.0))
    edges = np.arange(days + 1, dtype=float) * 24.0
    edges[-1] = min(edges[-1], end) if days else 0.0
    widths = np.maximum(np.diff(edges), 1e-9)

    # per node: content from stamps, resources from monitors
    stays: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {n: [] for n in scen.nodes}
    for fi, fid in enumerate(model.flow_ids):
        r = rows_by_flow[fi]
        for s, nid in enumerate(scen.flows[fid].route):
            a = table.arrive_h[r, s]
            d = table.depart_h[r, s]
            ok = a <= end
            dd = np.where(np.isnan(d[ok]) | (d[ok] > end), np.inf, d[ok])
            stays[nid].append((a[ok], dd, teu[r][ok]))
    nodes: dict[str, Any] = {}
    series_nodes: dict[str, Any] = {}
    for nid, node in model.nodes.items():
        if stays[nid]:
            a = np.concatenate([x[0] for x in stays[nid]])
            d = np.concatenate([x[1] for x in stays[nid]])
            w = np.concatenate([x[2] for x in stays[nid]])
        else:
            a = d = w = np.empty(0)
        inside_part = np.clip(np.minimum(d, end) - np.maximum(a, warm), 0.0, None)
        done = (a >= warm) & np.isfinite(d)
        node.yard.free()  # apply releases due by the end
        yard_mean = node.yard.monitor.mean(warm, end)
        track_u = _ratio(node.tracks.busy.mean(warm, end), node.tracks.capacity)
        berth_u = (
            _ratio(node.berths.busy.mean(warm, end), node.berths.capacity) if node.berths else None
        )
        yard_u = _ratio(yard_mean, node.yard.capacity)
        parts = {"tracks": track_u, "berths": berth_u, "yard": yard_u}
        known = {k: v for k, v in parts.items() if v is not None}
        binding = max(known, key=lambda k: known[k]) if known else None
        nodes[nid] = {
            "wait_h_mean": float((d[done] - a[done]).mean()) if done.any() else None,
            "queue_teu_mean": float((w * inside_part).sum() / span),
            "utilisation": known[binding] if binding else None,
            "utilisation_of": binding,
            "track_utilisation": track_u,
            "berth_utilisation": berth_u,
            "yard_utilisation": yard_u,
            "yard_teu_mean": yard_mean,
            "departed_teu": float(w[np.isfinite(d) & (d >= warm)].sum()),
        }
        dep = np.isfinite(d)
        series_nodes[nid] = {
            "teu_at_node": np.diff(_integral_at(edges, a, d, w)) / widths,
            "yard_teu": np.diff(node.yard.monitor.integral_at(edges)) / widths,
            "departed_teu": np.bincount(
                (d[dep] // 24).astype(np.int64), weights=w[dep], minlength=days
            )[:days],
        }

    def departures(times: list[float], teus: list[float]) -> tuple[int, float]:
        t = np.asarray(times)
        post = t >= warm
        return int(post.sum()), float(np.asarray(teus)[post].sum()) if len(t) else 0.0

    legs: dict[str, Any] = {}
    for lid, leg in model.rail_legs.items():
        n_post, teu_post = departures(leg.departures_h, leg.departure_teu)
        avail = None
        if leg.spec.paths_per_day:
            avail = leg.spec.paths_per_day / 24.0 * span * leg.capacity.mean_over(warm, end)
        legs[lid] = {
            "mode": "rail",
            "departures": n_post,
            "teu": teu_post,
            "utilisation": _ratio(n_post, avail),
        }
    for lid, leg in model.sea_legs.items():
        n_post, teu_post = departures(leg.departures_h, leg.departure_teu)
        legs[lid] = {"mode": "sea", "departures": n_post, "teu": teu_post, "utilisation": None}
    fleets = {}
    for fid, fl in model.fleets.items():
        n_post, teu_post = departures(fl.departures_h, fl.departure_teu)
        busy = 1.0 - fl.waiting_cargo.mean(warm, end) / fl.spec.vessels
        held = np.asarray(fl.held_h)[np.asarray(fl.departures_h) >= warm]
        fleets[fid] = {
            "weather_hold_h_mean": float(held.mean()) if len(held) else None,
            "sailings": n_post,
            "teu": teu_post,
            "load_factor_mean": teu_post / (n_post * fl.nominal_teu) if n_post else None,
            "utilisation": busy,
        }
    pools = {
        pid: {"utilisation": p.out.mean(warm, end) / p.spec.wagons}
        for pid, p in model.pools.items()
    }

    # a sea leg's utilisation: its fleets' busy shares weighted by their slot capacity
    # (vessels x usable TEU), so a leg served by several fleets is one stage
    for lid in model.sea_legs:
        serving = [
            (fleets[f]["utilisation"], fl.spec.vessels * fl.nominal_teu)
            for f, fl in model.fleets.items()
            if fl.leg.id == lid
        ]
        weight = sum(w for _, w in serving)
        if weight > 0:
            legs[lid]["utilisation"] = sum(u * w for u, w in serving) / weight

    # stages that can be the bottleneck: nodes, legs (fleets via their leg), wagon pools
    candidates = [(f"nodes.{k}", v["utilisation"]) for k, v in nodes.items()]
    candidates += [(f"legs.{k}", v["utilisation"]) for k, v in legs.items()]
    candidates += [(f"wagon_pools.{k}", v["utilisation"]) for k, v in pools.items()]
    candidates = [(k, v) for k, v in candidates if v is not None]
    top = max(candidates, key=lambda kv: kv[1]) if candidates else (None, None)

    transit = (delivered[sr] - table.created_h[sr]) / 24.0
    post = (delivered[sr] <= end) & (delivered[sr] >= warm)
    transit = transit[post]
    if len(transit) > MAX_TRANSIT_SAMPLES:
        transit = transit[:: int(math.ceil(len(transit) / MAX_TRANSIT_SAMPLES))]
    d_study = delivered[sr]
    ok = d_study <= end
    study_daily = np.bincount(
        (d_study[ok] // 24).astype(np.int64), weights=teu[sr][ok], minlength=days
    )[:days]

    return {
        "replication": model.replication,
        "end_h": end,
        "warmup_h": warm,
        "gridlock": None
        if gridlock is None
        else {
            "since_day": gridlock.since_h / 24.0,
            "detected_day": gridlock.detected_h / 24.0,
            "where": gridlock.where,
        },
        "system": system,
        "study": study,
        "flows": flows,
        "nodes": nodes,
        "legs": legs,
        "fleets": fleets,
        "wagon_pools": pools,
        "bottleneck": {"element": top[0], "utilisation": top[1]},
        "transit_days": transit.astype(np.float32),
        "series": {"nodes": series_nodes, "study_delivered_teu": study_daily},
    }
