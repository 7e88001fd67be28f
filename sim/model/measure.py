"""Measure one finished replication: KPIs per flow, node, leg, fleet; daily series.

Everything about containers is computed exactly from their time stamps (no
sampling): the mean TEU at a node is the integral of its content over the
post-warm-up window, so it agrees with Little's law by construction.
Resource utilisations come from the time-weighted monitors.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from sim.model.containers import ContainerTable
    from sim.model.corridor import CorridorModel, Gridlock

HOURS_PER_WEEK = 168.0
MAX_TRANSIT_SAMPLES = 50_000


class _Boxes(NamedTuple):
    """The boxes of one flow: their creation and delivery times and sizes."""

    created: np.ndarray
    delivered: np.ndarray  # inf if not delivered
    teu: np.ndarray  # int8 (1 or 2): its sums are whole numbers, exact in any order


def _running_sums(times: np.ndarray, teu: np.ndarray) -> tuple[np.ndarray, ...]:
    """``times`` sorted (stable), with running totals over them: ``cum_teu[k]`` is the
    TEU of the first ``k`` and ``cum_teu_h[k]`` their sum of TEU·time (``times`` finite,
    ``teu`` whole numbers). The float running sum depends on the order in its last bits,
    which is why it runs over the stable sort, never over day bins.
    """
    order = np.argsort(times, kind="stable")
    t = times[order]
    w = teu[order]
    del order  # before the running sums: a node's stays are the biggest arrays here
    cum_teu = np.zeros(len(t) + 1, dtype=np.int64)
    np.cumsum(w, dtype=np.int64, out=cum_teu[1:])
    cum_teu_h = np.zeros(len(t) + 1)
    np.multiply(w, t, out=cum_teu_h[1:])  # TEU·time, summed up in place
    np.cumsum(cum_teu_h[1:], out=cum_teu_h[1:])
    return t, cum_teu, cum_teu_h


def _ramp_at(points: np.ndarray, sums: tuple[np.ndarray, ...]) -> np.ndarray:
    """``Σ_i w_i·max(p - t_i, 0)`` at each point ``p``, i.e. ``∫_0^p Σ_i w_i·1[t_i <= t] dt``."""
    t, cum_teu, cum_teu_h = sums
    k = np.searchsorted(t, points, side="left")
    return points * cum_teu[k] - cum_teu_h[k]


def _teu_between(points: np.ndarray, sums: tuple[np.ndarray, ...]) -> np.ndarray:
    """TEU with a time in ``[points[j], points[j + 1])`` for each ``j``."""
    t, cum_teu, _ = sums
    return np.diff(cum_teu[np.searchsorted(t, points, side="left")]).astype(np.float64)


def _stays(
    table: ContainerTable, visits: list[tuple[np.ndarray, int]], end: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stays at one node: ``arrive``, ``depart`` and TEU of every box that arrived by
    the end, one ``(rows, stage)`` visit after another (a flow's boxes at one stage of its
    route, rows ascending); ``depart`` is inf if the box had not left by the end.

    Filled into arrays of the final size (no per-visit pieces to concatenate).
    """
    arrived = [rows[table.arrive_h[rows, s] <= end] for rows, s in visits]  # NaN: never
    n = sum(len(at) for at in arrived)
    a, d = np.empty(n), np.empty(n)
    w = np.empty(n, dtype=table.teu.dtype)
    i = 0
    for (_, s), at in zip(visits, arrived, strict=True):
        j = i + len(at)
        a[i:j] = table.arrive_h[at, s]
        d[i:j] = table.depart_h[at, s]
        w[i:j] = table.teu[at]
        i = j
    d[~(d <= end)] = np.inf  # NaN (still there) or later than the end
    return a, d, w


def _node_stays(
    table: ContainerTable,
    visits: list[tuple[np.ndarray, int]],
    warm: float,
    end: float,
    edges: np.ndarray,
    day_starts: np.ndarray,
) -> dict[str, Any]:
    """What the stays at one node give: the mean wait of the stays after the warm-up
    that ended, the TEU-hours spent there after the warm-up, the TEU that left after
    the warm-up; ``∫ TEU at the node`` at ``edges`` and the TEU that left each day.

    The stays are the biggest arrays of :func:`measure`: each is dropped as soon as
    it has served (this runs once, in a process that has not touched this memory).
    """
    a, d, w = _stays(table, visits, end)
    dep = np.isfinite(d)
    d_dep, w_dep = d[dep], w[dep]  # stays that ended by the end
    done = (a >= warm) & dep
    wait_h_mean = None
    if done.any():
        wait = d[done]
        wait -= a[done]
        wait_h_mean = float(wait.mean())
        del wait
    teu_h = np.minimum(d, end)  # of each stay, its TEU-hours after the warm-up
    del d
    teu_h -= np.maximum(a, warm)
    np.clip(teu_h, 0.0, None, out=teu_h)
    teu_h *= w
    teu_h_sum = teu_h.sum()
    del teu_h
    arrived_ramp = _ramp_at(edges, _running_sums(a, w))
    del a, w
    departed = _running_sums(d_dep, w_dep)
    return {
        "wait_h_mean": wait_h_mean,
        "teu_h": teu_h_sum,
        "departed_teu": float(w_dep.sum(where=d_dep >= warm)),
        "content": arrived_ramp - _ramp_at(edges, departed),
        "departed_daily": _teu_between(day_starts, departed),
    }


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
    p50, p95 = np.percentile(transit_d, [50, 95]) if has else (None, None)
    return {
        "created_teu": float(teu[made].sum()),
        "delivered_teu": float(teu[done].sum()),
        "in_system_teu_end": inside_teu,
        "throughput_teu_per_week": float(teu[post].sum()) / weeks if weeks > 0 else None,
        "transit_days_mean": float(transit_d.mean()) if has else None,
        "transit_days_p50": float(p50) if has else None,
        "transit_days_p95": float(p95) if has else None,
        "cohort_inside_share": stuck_teu / cohort_teu if cohort_teu > 0 else None,
    }


def _ratio(value: float, capacity: float | None) -> float | None:
    if capacity is None or capacity <= 0 or not math.isfinite(capacity):
        return None
    return value / capacity


def _closed_at_horizon(model: CorridorModel) -> dict[str, Any] | None:
    """The standstill behind closures that reopen after the horizon (not a gridlock)."""
    c = model.closed_at_horizon
    if c is None:
        return None
    return {
        "since_day": c.since_h / 24.0,
        "closures": [
            {
                "target": x.target,
                "from_day": x.from_h / 24.0,
                "until_day": x.until_h / 24.0 if math.isfinite(x.until_h) else None,
            }
            for x in c.closures
        ],
        "where": c.where,
    }


def measure(
    model: CorridorModel, end: float, inside: np.ndarray, gridlock: Gridlock | None
) -> dict[str, Any]:
    """The replication record (small, picklable; arrays only for plots)."""
    table = model.table
    scen = model.scenario
    warm = min(model.warmup_h, end)
    span = max(end - warm, 1e-9)
    teu8 = table.teu  # 1 or 2 (int8: cheap to gather; its sums are exact whole numbers)
    inside_by_flow = np.bincount(
        table.flow[inside], weights=teu8[inside], minlength=len(model.flow_ids)
    )
    days = int(math.ceil(end / 24.0))

    # per flow: its boxes (table rows in order), created and delivered (inf if not yet)
    # times; only the study flows' boxes are kept (for the study KPIs)
    routes = [scen.flows[f].route for f in model.flow_ids]
    study_fi = [model.flow_ids.index(f) for f in scen.study_flow_ids()]
    flow_rows = []
    flows = {}
    study_boxes = {}
    for fi, (fid, route) in enumerate(zip(model.flow_ids, routes, strict=True)):
        rows = np.flatnonzero(table.flow == fi)
        delivered = table.depart_h[rows, len(route) - 1]
        delivered[np.isnan(delivered)] = np.inf
        b = _Boxes(table.created_h[rows], delivered, teu8[rows])
        flows[fid] = _flow_kpis(b.created, b.delivered, b.teu, float(inside_by_flow[fi]), warm, end)
        flow_rows.append(rows)
        if fi in study_fi:
            study_boxes[fi] = b
    s_created = np.concatenate([study_boxes[fi].created for fi in study_fi])
    s_delivered = np.concatenate([study_boxes[fi].delivered for fi in study_fi])
    s_teu = np.concatenate([study_boxes[fi].teu for fi in study_fi])
    del study_boxes
    study = _flow_kpis(
        s_created, s_delivered, s_teu, float(inside_by_flow[study_fi].sum()), warm, end
    )
    system = {  # TEU totals are whole numbers: summing per-flow totals is exact
        "created_teu": sum(flows[f]["created_teu"] for f in model.flow_ids),
        "delivered_teu": sum(flows[f]["delivered_teu"] for f in model.flow_ids),
        "in_system_teu_end": float(teu8[inside].sum()),
    }
    post = (s_delivered <= end) & (s_delivered >= warm)
    transit = (s_delivered[post] - s_created[post]) / 24.0
    if len(transit) > MAX_TRANSIT_SAMPLES:
        transit = transit[:: int(math.ceil(len(transit) / MAX_TRANSIT_SAMPLES))]
    ok = s_delivered <= end
    study_daily = np.bincount(
        (s_delivered[ok] // 24).astype(np.int64), weights=s_teu[ok], minlength=days
    )[:days]
    del s_created, s_delivered, s_teu, post, ok

    edges = np.arange(days + 1, dtype=float) * 24.0
    edges[-1] = min(edges[-1], end) if days else 0.0
    widths = np.maximum(np.diff(edges), 1e-9)
    day_starts = np.arange(days + 1, dtype=float) * 24.0  # whole days (edges end at ``end``)

    # per node: content from stamps, resources from monitors. A stay at a node is
    # [arrive, depart) of one box at one stage of its route, arrived by the end;
    # depart is inf if it had not left by the end. One node's stays at a time (they
    # are the biggest arrays here), in the order of flows, then stages.
    visits: dict[str, list[tuple[np.ndarray, int]]] = {n: [] for n in scen.nodes}
    for rows, route in zip(flow_rows, routes, strict=True):
        for s, nid in enumerate(route):
            visits[nid].append((rows, s))
    nodes: dict[str, Any] = {}
    series_nodes: dict[str, Any] = {}
    for nid, node in model.nodes.items():
        # the monitors first: a yard builds its level history when read (memory of its
        # own, better not on top of the node's stays)
        node.yard.free()  # apply releases due by the end
        yard = node.yard.monitor
        yard_mean = yard.mean(warm, end)
        yard_teu = np.diff(yard.integral_at(edges)) / widths
        track_u = node.tracks.utilisation(warm, end)
        berth_u = node.berths.utilisation(warm, end) if node.berths else None
        sizes = node.yard.capacity_monitor  # a yard whose size changed on dates
        yard_u = _ratio(yard_mean, sizes.mean(warm, end) if sizes else node.yard.capacity)
        parts = {"tracks": track_u, "berths": berth_u, "yard": yard_u}
        known = {k: v for k, v in parts.items() if v is not None}
        binding = max(known, key=lambda k: known[k]) if known else None
        stays = _node_stays(table, visits[nid], warm, end, edges, day_starts)
        nodes[nid] = {
            "wait_h_mean": stays["wait_h_mean"],
            "queue_teu_mean": float(stays["teu_h"] / span),
            "utilisation": known[binding] if binding else None,
            "utilisation_of": binding,
            "track_utilisation": track_u,
            "berth_utilisation": berth_u,
            "yard_utilisation": yard_u,
            "yard_teu_mean": yard_mean,
            "departed_teu": stays["departed_teu"],
        }
        series_nodes[nid] = {
            "teu_at_node": np.diff(stays["content"]) / widths,
            "yard_teu": yard_teu,
            "departed_teu": stays["departed_daily"],
        }

    def departures(times: list[float], teus: list[float]) -> tuple[int, float]:
        t = np.asarray(times)
        post = t >= warm
        return int(post.sum()), float(np.asarray(teus)[post].sum()) if len(t) else 0.0

    legs: dict[str, Any] = {}
    for lid, leg in model.rail_legs.items():
        n_post, teu_post = departures(leg.departures_h, leg.departure_teu)
        avail = leg.line.available(warm, end)
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
        busy = fl.busy_share(warm, end)
        held = np.asarray(fl.held_h)[np.asarray(fl.departures_h) >= warm]
        fleets[fid] = {
            "weather_hold_h_mean": float(held.mean()) if len(held) else None,
            "sailings": n_post,
            "teu": teu_post,
            "load_factor_mean": teu_post / (n_post * fl.nominal_teu) if n_post else None,
            "utilisation": busy,
        }
    pools = {pid: {"utilisation": p.utilisation(warm, end)} for pid, p in model.pools.items()}

    # a sea leg's utilisation: its fleets' busy shares weighted by their slot capacity
    # (vessels x usable TEU), so a leg served by several fleets is one stage
    for lid in model.sea_legs:
        serving = [
            (fleets[f]["utilisation"], fl.vessel_weight(warm, end) * fl.nominal_teu)
            for f, fl in model.fleets.items()
            if fl.leg.id == lid and fleets[f]["utilisation"] is not None
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
        "closed_at_horizon": _closed_at_horizon(model),
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
