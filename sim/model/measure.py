"""Measure one finished replication: KPIs per flow, node, leg, fleet; daily series.

Everything about containers is computed exactly from their time stamps (no
sampling): the mean TEU at a node is the integral of its content over the
post-warm-up window, so it agrees with Little's law by construction.
Resource utilisations come from the time-weighted monitors; a timetabled service's
utilisation is the share of its offered slots it filled (:func:`_slot_fill`).

Through time (the record stays small: arrays by month, numbers by period):

* ``monthly``: per flow and calendar month in which boxes were *created* (booked),
  the TEU created, the TEU of those delivered by the end of the run, and their transit
  mean, P50 and P95 (grouped with numpy, no loop per box);
* ``legs_monthly``: per leg, and per fleet and leg, departures and TEU loaded and empty
  by the calendar month of departure;
* ``periods``: each calendar year of the measured period, each scheduled disruption
  window, and each ``[periods.*]`` of the scenario, clipped to the measured period: the
  study throughput, transit of the boxes created in it, and every stage's utilisation.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from sim.model.disruptions import disruption_intervals
from sim.scenario.schema import DispatchTimetable, FactorDisruption, WindowDisruption

if TYPE_CHECKING:
    from sim.model.containers import ContainerTable
    from sim.model.corridor import CorridorModel, Gridlock

HOURS_PER_WEEK = 168.0
HOURS_PER_YEAR = 8760.0
MAX_TRANSIT_SAMPLES = 50_000
QUANTILES = (0.5, 0.95)
MAX_PERIOD_WINDOWS = 100  # of a repeating window, the first measured ones make its KPIs


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
        # for the demand-exceeds-capacity check: TEU created after the warm-up, and TEU
        # inside (created, not delivered) at the end of the warm-up
        "created_teu_measured": cohort_teu,
        "in_system_teu_warm": float(teu[(created <= warm) & (delivered > warm)].sum()),
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


# --------------------------------------------------------------------------------------
# Through time: calendar months, periods, timetable slots
# --------------------------------------------------------------------------------------


def _month_of(calendar: Any, hours: np.ndarray) -> np.ndarray:
    """Calendar month of each (finite) model hour, counted from the start's month (0)."""
    first = np.datetime64(calendar.start, "M")
    return (calendar.datetimes(hours).astype("datetime64[M]") - first).astype(np.int64)


def _months(calendar: Any, end: float) -> list[str]:
    """``YYYY-MM`` of every calendar month the run ``[0, end]`` touches."""
    last = max(end - 1.0 / 60.0, 0.0)  # a minute before the end (dates are in seconds)
    n = int(_month_of(calendar, np.array([last]))[0]) + 1
    first = np.datetime64(calendar.start, "M")
    return [str(m) for m in first + np.arange(n)]


def _grouped_quantiles(groups: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """``(len(QUANTILES), n)``: per group 0..n-1 the quantiles of its values, as
    :func:`numpy.percentile` computes them (linear interpolation); NaN for an empty group.
    One sort for all groups (by group, then value)."""
    out = np.full((len(QUANTILES), n), np.nan)
    if len(values) == 0:
        return out
    order = np.lexsort((values, groups))
    v = values[order]
    counts = np.bincount(groups, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    c, s0 = counts[has], starts[has]
    for k, q in enumerate(QUANTILES):
        pos = q * (c - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, c - 1)
        frac = pos - lo
        a, b = v[s0 + lo], v[s0 + hi]
        out[k, has] = a + (b - a) * frac
    return out


def _monthly_flow(
    calendar: Any, created: np.ndarray, delivered: np.ndarray, teu: np.ndarray, end: float,
    n: int,
) -> dict[str, np.ndarray]:
    """Of the boxes created in each calendar month: TEU created, TEU of those delivered by
    ``end``, and their transit mean, P50 and P95 (days; NaN if none was delivered)."""
    made = created <= end  # boxes not yet created have created = inf
    c, d, w = created[made], delivered[made], teu[made].astype(np.float64)
    month = _month_of(calendar, c)
    done = d <= end
    m_done = month[done]
    transit = (d[done] - c[done]) / 24.0
    count = np.bincount(m_done, minlength=n)[:n]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(m_done, weights=transit, minlength=n)[:n] / count
    q = _grouped_quantiles(m_done, transit, n)
    return {
        "created_teu": np.bincount(month, weights=w, minlength=n)[:n],
        "delivered_teu": np.bincount(m_done, weights=w[done], minlength=n)[:n],
        "transit_days_mean": mean,
        "transit_days_p50": q[0],
        "transit_days_p95": q[1],
    }


def _monthly_departures(
    calendar: Any, t: np.ndarray, teu: np.ndarray, empty: np.ndarray, n: int
) -> dict[str, np.ndarray]:
    """Departures and TEU loaded and empty by calendar month of departure."""
    month = _month_of(calendar, t) if len(t) else np.empty(0, dtype=np.int64)
    return {
        "departures": np.bincount(month, minlength=n)[:n].astype(np.int64),
        "teu_loaded": np.bincount(month, weights=teu - empty, minlength=n)[:n],
        "teu_empty": np.bincount(month, weights=empty, minlength=n)[:n],
    }


def _within(t: np.ndarray, a: float, b: float, end: float) -> np.ndarray:
    """``a <= t < b`` (``<= b`` when ``b`` is the end of the run; never after the end:
    a box not yet delivered has ``t = inf``)."""
    return (t >= a) & ((t < b) | ((b >= end) & (t <= end)))


class _Log(NamedTuple):
    """A departure log as arrays: times, TEU (empties included), empty TEU."""

    t: np.ndarray
    teu: np.ndarray
    empty: np.ndarray

    @classmethod
    def of(cls, carrier: Any, keep: np.ndarray | None = None) -> _Log:
        t = np.asarray(carrier.departures_h, dtype=np.float64)
        teu = np.asarray(carrier.departure_teu, dtype=np.float64)
        empty = np.asarray(carrier.departure_empty_teu, dtype=np.float64)
        if keep is not None:
            t, teu, empty = t[keep], teu[keep], empty[keep]
        return cls(t, teu, empty)

    def count(self, a: float, b: float, end: float) -> int:
        return int(_within(self.t, a, b, end).sum())

    def teu_in(self, a: float, b: float, end: float) -> float:
        return float(self.teu[_within(self.t, a, b, end)].sum())


def _piecewise(times: np.ndarray, plain: float, steps: list[tuple[float, float]]) -> np.ndarray:
    """A dated value (``plain`` before its first ``(time, value)`` step) at ``times``."""
    if not steps:
        return np.full(len(times), float(plain))
    at = np.array([t for t, _ in steps])
    values = np.array([float(plain)] + [v for _, v in steps])
    return values[np.searchsorted(at, times, side="right")]


def _factor_at(timeline: Any, times: np.ndarray) -> np.ndarray:
    """A capacity-factor timeline at ``times``."""
    if timeline.constant:
        return np.ones(len(times))
    starts = np.asarray(timeline.starts)
    return np.asarray(timeline.values)[np.searchsorted(starts, times, side="right") - 1]


def _slot_times(rule: DispatchTimetable, a: float, b: float, end: float) -> np.ndarray:
    """The timetable's slots ``offset + k * interval`` (k >= 0) in ``[a, b)`` (``<= b`` at
    the end of the run), as :class:`sim.model.dispatch.TimetableSlots` offers them."""
    k0 = max(0, math.ceil((a - rule.offset_h) / rule.interval_h - 1e-9))
    k1 = math.floor((b - rule.offset_h) / rule.interval_h + 1e-9)  # the slot at b, if any
    times = rule.offset_h + rule.interval_h * np.arange(k0, max(k0, k1 + 1))
    return times[_within(times, a, b, end)]


def _offered_fleet(model: CorridorModel, fid: str, fl: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Usable TEU a fleet offers at each slot: capacity x load factor (dated), x the
    capacity factor of the fleet and its leg at the slot."""
    spec, sched = fl.spec, model.schedule

    def usable(times: np.ndarray) -> np.ndarray:
        per_vessel = _piecewise(
            times, spec.nominal_capacity_teu(), sched.steps_of("fleets", fid, "capacity_teu")
        )
        load = _piecewise(times, spec.load_factor, sched.steps_of("fleets", fid, "load_factor"))
        return per_vessel * load * _factor_at(fl.open, times)

    return usable


def _offered_rail(model: CorridorModel, lid: str, leg: Any) -> Callable[[np.ndarray], np.ndarray]:
    """TEU a timetabled train offers at each slot: its length (dated) x the leg's
    capacity factor at the slot."""
    spec, sched = leg.spec, model.schedule

    def usable(times: np.ndarray) -> np.ndarray:
        size = _piecewise(
            times, spec.train_capacity_teu, sched.steps_of("legs", lid, "train_capacity_teu")
        )
        return size * _factor_at(leg.capacity, times)

    return usable


def _slot_fill(
    rule: DispatchTimetable,
    usable: Callable[[np.ndarray], np.ndarray],
    log: _Log,
    a: float,
    b: float,
    end: float,
) -> float | None:
    """A timetabled service's utilisation on ``[a, b)``: TEU carried (empties included)
    over the TEU its timetable offered (slots x usable TEU per departure); ``None`` when
    no slot was offered."""
    offered = float(usable(_slot_times(rule, a, b, end)).sum())
    return log.teu_in(a, b, end) / offered if offered > 0 else None


def _periods_of(model: CorridorModel, warm: float, end: float) -> list[dict[str, Any]]:
    """The named periods of a run: each calendar year of the measured period, each
    scheduled disruption window (``window``, and ``factor`` with an end), each
    ``[periods.*]``. Each has its intervals (hours; a repeating window has several, of
    which the first :data:`MAX_PERIOD_WINDOWS` measured ones count) clipped to the
    measured period ``[warm, end]``."""
    scen, cal = model.scenario, model.calendar
    out: list[dict[str, Any]] = []

    def add(pid: str, kind: str, label: str, intervals: list[tuple[float, float]]) -> None:
        clipped = [(max(a, warm), min(b, end)) for a, b in intervals]
        measured = [(a, b) for a, b in clipped if b > a]
        out.append({
            "id": pid,
            "kind": kind,
            "label": label,
            "from_h": min(a for a, _ in intervals),
            "to_h": max(b for _, b in intervals),
            "occurrences": len(intervals),
            "windows": measured[:MAX_PERIOD_WINDOWS],
        })

    for year, a, b in cal.year_starts(end):
        if min(b, end) > max(a, warm):  # the whole calendar year, clipped when measured
            whole = (cal.hours_of(_dt.date(year, 1, 1)), cal.hours_of(_dt.date(year + 1, 1, 1)))
            add(f"years.{year}", "year", str(year), [whole])
    horizon = model.horizon_h
    for did in sorted(scen.disruptions):
        dis = scen.disruptions[did]
        if not dis.enabled:
            continue
        if isinstance(dis, FactorDisruption) and dis.end_day is None:
            continue
        if not isinstance(dis, WindowDisruption | FactorDisruption):
            continue  # random outages: no dates to name
        ivs = [(a, b) for a, b, _ in disruption_intervals(did, dis, model.seed, 0, horizon)]
        if ivs:
            what = "closed" if dis.factor == 0 else f"capacity x {dis.factor:g}"
            add(f"disruptions.{did}", "disruption", f"{did}: {dis.target} {what}", ivs)
    for pid in sorted(scen.periods):
        per = scen.periods[pid]
        if per.from_date is not None:
            a = cal.hours_of(cal.parse(per.from_date))
            b = cal.hours_of(cal.parse(per.to_date))
        else:
            a, b = per.from_day * 24.0, per.to_day * 24.0
        add(f"periods.{pid}", "period", per.label or pid, [(a, b)])
    return out


def _period_study(
    windows: list[tuple[float, float]],
    created: np.ndarray,
    delivered: np.ndarray,
    teu: np.ndarray,
    end: float,
) -> dict[str, Any]:
    """Study KPIs of a period: throughput (TEU delivered in it per week), the transit of
    the boxes created in it (delivered by the end of the run), and the transit of the boxes
    en route at some time in it (created before it ended, delivered after it began: those a
    closure downstream holds up, though booked before it)."""
    hours = sum(b - a for a, b in windows)
    if hours <= 0:
        return {k: None for k in PERIOD_KPIS}
    in_c = np.zeros(len(created), dtype=bool)
    in_d = np.zeros(len(created), dtype=bool)
    en_route = np.zeros(len(created), dtype=bool)
    for a, b in windows:
        in_c |= _within(created, a, b, end)
        in_d |= _within(delivered, a, b, end)
        en_route |= (created < b) & (delivered >= a)
    ok = delivered <= end
    done = in_c & ok
    transit = (delivered[done] - created[done]) / 24.0
    made_teu = float(teu[in_c].sum())
    has = len(transit) > 0
    p50, p95 = np.percentile(transit, [50, 95]) if has else (None, None)
    en_route &= ok
    through = (delivered[en_route] - created[en_route]) / 24.0
    return {
        "throughput_teu_per_week": float(teu[in_d].sum()) / (hours / HOURS_PER_WEEK),
        "created_teu": made_teu,
        "delivered_teu": float(teu[in_d].sum()),
        "transit_days_mean": float(transit.mean()) if has else None,
        "transit_days_p50": float(p50) if has else None,
        "transit_days_p95": float(p95) if has else None,
        "inside_share_end": float(teu[in_c & ~done].sum()) / made_teu if made_teu > 0 else None,
        "en_route_transit_days_mean": float(through.mean()) if len(through) else None,
        "en_route_transit_days_p95": float(np.percentile(through, 95)) if len(through) else None,
    }


PERIOD_KPIS = (
    "throughput_teu_per_week",
    "created_teu",
    "delivered_teu",
    "transit_days_mean",
    "transit_days_p50",
    "transit_days_p95",
    "inside_share_end",
    "en_route_transit_days_mean",
    "en_route_transit_days_p95",
)


def _node_utilisation(
    node: Any, a: float, b: float, yard_mean: float
) -> tuple[float | None, str | None, dict[str, float | None]]:
    """A node's utilisation on ``[a, b]``: the highest of its tracks, berths and yard."""
    track_u = node.tracks.utilisation(a, b)
    berth_u = node.berths.utilisation(a, b) if node.berths else None
    sizes = node.yard.capacity_monitor  # a yard whose size changed on dates
    yard_u = _ratio(yard_mean, sizes.mean(a, b) if sizes else node.yard.capacity)
    parts = {"tracks": track_u, "berths": berth_u, "yard": yard_u}
    known = {k: v for k, v in parts.items() if v is not None}
    binding = max(known, key=lambda k: known[k]) if known else None
    return (known[binding] if binding else None), binding, parts


def _weighted(values: list[tuple[float | None, float]]) -> float | None:
    """Duration-weighted mean of the known values."""
    known = [(v, w) for v, w in values if v is not None and w > 0]
    total = sum(w for _, w in known)
    return float(sum(v * w for v, w in known) / total) if total > 0 else None


def measure(
    model: CorridorModel, end: float, inside: np.ndarray, gridlock: Gridlock | None
) -> dict[str, Any]:
    """The replication record (small, picklable; arrays only for plots)."""
    table = model.table
    scen = model.scenario
    cal = model.calendar
    warm = min(model.warmup_h, end)
    span = max(end - warm, 1e-9)
    teu8 = table.teu  # 1 or 2 (int8: cheap to gather; its sums are exact whole numbers)
    inside_by_flow = np.bincount(
        table.flow[inside], weights=teu8[inside], minlength=len(model.flow_ids)
    )
    days = int(math.ceil(end / 24.0))
    months = _months(cal, end)
    n_months = len(months)
    periods = _periods_of(model, warm, end)
    windows = sorted({w for p in periods for w in p["windows"]})
    points = np.array(sorted({x for w in windows for x in w}), dtype=float)
    where = {x: k for k, x in enumerate(points.tolist())}

    # per flow: its boxes (table rows in order), created and delivered (inf if not yet)
    # times; only the study flows' boxes are kept (for the study KPIs)
    routes = [scen.flows[f].route for f in model.flow_ids]
    study_fi = [model.flow_ids.index(f) for f in scen.study_flow_ids()]
    flow_rows = []
    flows = {}
    monthly_flows = {}
    study_boxes = {}
    for fi, (fid, route) in enumerate(zip(model.flow_ids, routes, strict=True)):
        rows = np.flatnonzero(table.flow == fi)
        delivered = table.depart_h[rows, len(route) - 1]
        delivered[np.isnan(delivered)] = np.inf
        b = _Boxes(table.created_h[rows], delivered, teu8[rows])
        flows[fid] = _flow_kpis(b.created, b.delivered, b.teu, float(inside_by_flow[fi]), warm, end)
        monthly_flows[fid] = _monthly_flow(cal, b.created, b.delivered, b.teu, end, n_months)
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
    period_study = {
        p["id"]: _period_study(p["windows"], s_created, s_delivered, s_teu, end) for p in periods
    }
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

    # utilisation of every stage in each window of a period: {window: {stage: value}}
    in_window: dict[tuple[float, float], dict[str, float | None]] = {w: {} for w in windows}

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
        util, binding, parts = _node_utilisation(node, warm, end, yard_mean)
        if windows:
            at = yard.integral_at(points)  # the yard's monitor read once for all windows
            for a, b in windows:
                mean_ab = (at[where[b]] - at[where[a]]) / (b - a)
                in_window[(a, b)][f"nodes.{nid}"] = _node_utilisation(node, a, b, mean_ab)[0]
        stays = _node_stays(table, visits[nid], warm, end, edges, day_starts)
        nodes[nid] = {
            "wait_h_mean": stays["wait_h_mean"],
            "queue_teu_mean": float(stays["teu_h"] / span),
            "utilisation": util,
            "utilisation_of": binding,
            "track_utilisation": parts["tracks"],
            "berth_utilisation": parts["berths"],
            "yard_utilisation": parts["yard"],
            "yard_teu_mean": yard_mean,
            "departed_teu": stays["departed_teu"],
        }
        series_nodes[nid] = {
            "teu_at_node": np.diff(stays["content"]) / widths,
            "yard_teu": yard_teu,
            "departed_teu": stays["departed_daily"],
        }

    years = span / HOURS_PER_YEAR
    legs_monthly: dict[str, Any] = {"months": months, "legs": {}, "fleets": {}}
    legs: dict[str, Any] = {}
    rail_util: dict[str, Callable[[float, float], float | None]] = {}
    for lid, leg in model.rail_legs.items():
        log = _Log.of(leg)
        n_post = log.count(warm, end, end)
        teu_post = log.teu_in(warm, end, end)
        empty_post = float(log.empty[_within(log.t, warm, end, end)].sum())

        def paths_share(a: float, b: float, leg: Any = leg, log: _Log = log) -> float | None:
            return _ratio(log.count(a, b, end), leg.line.available(a, b))

        rule = leg.spec.dispatch
        if isinstance(rule, DispatchTimetable):
            usable = _offered_rail(model, lid, leg)

            def util_of(a: float, b: float, rule: Any = rule, usable: Any = usable,
                        log: _Log = log) -> float | None:
                return _slot_fill(rule, usable, log, a, b, end)
        else:
            util_of = paths_share
        rail_util[lid] = util_of
        legs[lid] = {
            "mode": "rail",
            "departures": n_post,
            "teu": teu_post,
            "utilisation": util_of(warm, end),
            "utilisation_of": "slots" if isinstance(rule, DispatchTimetable) else "paths",
            "busy_share": paths_share(warm, end),
            "teu_loaded_per_year": (teu_post - empty_post) / years if years > 0 else None,
            "teu_empty_per_year": empty_post / years if years > 0 else None,
        }
        legs_monthly["legs"][lid] = _monthly_departures(cal, *log, n_months)
    for lid, leg in model.sea_legs.items():
        log = _Log.of(leg)
        n_post = log.count(warm, end, end)
        teu_post = log.teu_in(warm, end, end)
        empty_post = float(log.empty[_within(log.t, warm, end, end)].sum())
        legs[lid] = {
            "mode": "sea",
            "departures": n_post,
            "teu": teu_post,
            "utilisation": None,
            "teu_loaded_per_year": (teu_post - empty_post) / years if years > 0 else None,
            "teu_empty_per_year": empty_post / years if years > 0 else None,
        }
        legs_monthly["legs"][lid] = _monthly_departures(cal, *log, n_months)
    fleets = {}
    fleet_util: dict[str, Callable[[float, float], float | None]] = {}
    for fid, fl in model.fleets.items():
        log = _Log.of(fl)
        n_post = log.count(warm, end, end)
        teu_post = log.teu_in(warm, end, end)
        busy = fl.busy_share(warm, end)
        held = np.asarray(fl.held_h)[log.t >= warm]
        sailed_on = np.asarray(fl.departure_leg, dtype=object)
        rule = fl.spec.dispatch
        if isinstance(rule, DispatchTimetable):  # the slots are the outbound sailings
            usable = _offered_fleet(model, fid, fl)
            out = _Log.of(fl, sailed_on == fl.leg.id)

            def util_of(a: float, b: float, rule: Any = rule, usable: Any = usable,
                        out: _Log = out) -> float | None:
                return _slot_fill(rule, usable, out, a, b, end)
        else:

            def util_of(a: float, b: float, fl: Any = fl) -> float | None:
                return fl.busy_share(a, b)
        fleet_util[fid] = util_of
        fleets[fid] = {
            "weather_hold_h_mean": float(held.mean()) if len(held) else None,
            "sailings": n_post,
            "teu": teu_post,
            "load_factor_mean": teu_post / (n_post * fl.nominal_teu) if n_post else None,
            "utilisation": util_of(warm, end),
            "utilisation_of": "slots" if isinstance(rule, DispatchTimetable) else "vessels",
            "busy_share": busy,
        }
        back = getattr(fl, "back", None)  # the return leg, if the fleet carries cargo back
        on = [fl.leg.id] + ([back.id] if back is not None else []) + sailed_on.tolist()
        legs_monthly["fleets"][fid] = {
            lid: _monthly_departures(cal, *_Log.of(fl, sailed_on == lid), n_months)
            for lid in dict.fromkeys(on)
        }
    pools = {pid: {"utilisation": p.utilisation(warm, end)} for pid, p in model.pools.items()}

    def sea_leg_utilisation(lid: str, a: float, b: float, util: dict[str, Any]) -> float | None:
        """A sea leg's utilisation: its fleets' utilisations weighted by their slot
        capacity (vessels x usable TEU), so a leg served by several fleets is one stage."""
        serving = [
            (util[f], fl.vessel_weight(a, b) * fl.nominal_teu)
            for f, fl in model.fleets.items()
            if fl.leg.id == lid and util[f] is not None
        ]
        weight = sum(w for _, w in serving)
        return sum(u * w for u, w in serving) / weight if weight > 0 else None

    whole = {f: v["utilisation"] for f, v in fleets.items()}
    for lid in model.sea_legs:
        u = sea_leg_utilisation(lid, warm, end, whole)
        if u is not None:
            legs[lid]["utilisation"] = u
    for (a, b), util in in_window.items():
        for lid, f in rail_util.items():
            util[f"legs.{lid}"] = f(a, b)
        of_fleets = {fid: f(a, b) for fid, f in fleet_util.items()}
        for lid in model.sea_legs:
            util[f"legs.{lid}"] = sea_leg_utilisation(lid, a, b, of_fleets)
        for fid, u in of_fleets.items():
            util[f"fleets.{fid}"] = u
        for pid, pool in model.pools.items():
            util[f"wagon_pools.{pid}"] = pool.utilisation(a, b)

    # stages that can be the bottleneck: nodes, legs (fleets via their leg), wagon pools
    candidates = [(f"nodes.{k}", v["utilisation"]) for k, v in nodes.items()]
    candidates += [(f"legs.{k}", v["utilisation"]) for k, v in legs.items()]
    candidates += [(f"wagon_pools.{k}", v["utilisation"]) for k, v in pools.items()]
    candidates = [(k, v) for k, v in candidates if v is not None]
    top = max(candidates, key=lambda kv: kv[1]) if candidates else (None, None)

    period_records = {}
    for p in periods:
        hours = [b - a for a, b in p["windows"]]
        keys = dict.fromkeys(k for w in p["windows"] for k in in_window[w])
        util = {
            k: _weighted([(in_window[w].get(k), h) for w, h in zip(p["windows"], hours,
                                                                   strict=True)])
            for k in keys
        }
        stages = [(k, v) for k, v in util.items() if v is not None and not k.startswith("fleets.")]
        best = max(stages, key=lambda kv: kv[1]) if stages else (None, None)
        period_records[p["id"]] = {
            "kind": p["kind"],
            "label": p["label"],
            "from_h": p["from_h"],  # the period as named (a repeating window: first to last)
            "to_h": p["to_h"],
            "measured_from_h": p["windows"][0][0] if p["windows"] else None,
            "measured_to_h": p["windows"][-1][1] if p["windows"] else None,
            "occurrences": p["occurrences"],
            "measured_h": float(sum(hours)),
            **period_study[p["id"]],
            "utilisation": util,
            "bottleneck": {"element": best[0], "utilisation": best[1]},
        }

    return {
        "replication": model.replication,
        "start_date": cal.start.isoformat(),
        "dated": cal.dated,
        "end_h": end,
        "warmup_h": warm,
        "gridlock": None
        if gridlock is None
        else {
            "since_day": gridlock.since_h / 24.0,
            "detected_day": gridlock.detected_h / 24.0,
            "where": gridlock.where,
            "closures": list(gridlock.closures),
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
        "periods": period_records,
        "monthly": {"months": months, "flows": monthly_flows},
        "legs_monthly": legs_monthly,
        "routes": None
        if model.markets is None
        else model.markets.record(
            end, lambda h: _month_of(cal, h), n_months, model.delivered_mask(end)
        ),
        "transit_days": transit.astype(np.float32),
        "series": {"nodes": series_nodes, "study_delivered_teu": study_daily},
    }
