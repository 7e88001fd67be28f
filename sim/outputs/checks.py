"""The checks behind the warnings of ``summary.json``: warm-up, biased transit and demand
beyond capacity (per flow, every flow), and the stage a standstill points at.

Warm-up (:func:`warmup_check`). The daily TEU held at all nodes is averaged over the
replications (Welch's procedure: one series, its noise shrunk by the replications)
and only its stationary stretch is judged: from day 0 to the first deliberate change
after the warm-up — a scheduled disruption (window or factor; a repeating window that
began during the warm-up is part of the regime), a dated ``[changes]`` entry, a step of a
flow's demand path (growth or ``teu_by_year`` on 1 January, a flow's ``start_date`` or
``end_date``) — or to the first replication's end or standstill. Changes during the
warm-up are the warm-up's to absorb. Random outages and storms are part of the regime;
when the stretch covers two years the day-of-year profile is removed first.
MSER-5 finds the truncation point ``d``; the warm-up is called too short only when
``d`` lies beyond it *and* the evidence is clear (:func:`sim.stats.early_window_test`):
the first window after the warm-up (as long as the warm-up, and at least a tenth of
the stretch after it; fixed beforehand, not fitted) differs from the later windows of
the same length beyond their 99 % prediction interval, and leaving it in shifts the
measured mean by at least 1 %. The false-alarm rate on stationary scenarios is
measured in ``tests/test_warmup.py``.

Per flow (:func:`flow_checks`): transit KPIs are *biased* when more than 5 % of the TEU
created after the warm-up were still inside at the horizon (mean over replications).
*Demand exceeds capacity* when, over the measured period and averaged over the
replications that reached the horizon moving (no gridlock, no standstill at the
horizon), (a) the flow delivered less than 95 % of the TEU created in it — its
backlog grew by more than 5 % of its demand — and (b) that growth is more than 1.5
times the flow's pipeline (demand rate x mean transit of its deliveries, Little's
law). (b) keeps a warm-up too short to fill the pipeline from reading as a capacity
shortfall: refilling adds at most one pipeline to the backlog, while a first-in
first-out flow whose demand exceeds capacity grows it by about twice its pipeline
(from empty, the mean wait of the boxes delivered is half the final one), and a flow
whose boxes are stuck behind others by far more.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections import Counter
from typing import Any

import numpy as np

from sim.model.calendar import Calendar
from sim.model.disruptions import disruption_intervals
from sim.model.schedule import change_time_h
from sim.scenario.schema import FactorDisruption, Scenario, WindowDisruption
from sim.stats import early_window_test, mser

HOURS_PER_DAY = 24.0
HOURS_PER_WEEK = 168.0
DAYS_PER_YEAR = 365
BIAS_THRESHOLD = 0.05  # share of the post-warm-up cohort still inside at the horizon
WARMUP_BATCH = 5  # MSER-5
WARMUP_LEVEL = 0.99  # prediction test of the early window
WARMUP_WINDOWS = 10  # the early window: the warm-up's length, at least 1/10 of the rest
WARMUP_MATERIAL = 0.01  # relative shift of the measured mean that matters
SHORTFALL_THRESHOLD = 0.05  # backlog growth / demand in the measured period
PIPELINE_FACTOR = 1.5  # backlog growth / Little's-law pipeline


# --------------------------------------------------------------------------------------
# Warm-up
# --------------------------------------------------------------------------------------


def _calendar(scenario: Scenario) -> Calendar:
    start = scenario.scenario.start_date
    return Calendar(None if start is None else _dt.date.fromisoformat(start))


def scheduled_breaks(scenario: Scenario) -> list[tuple[float, float, str]]:
    """``(from_h, to_h, what)`` of every deliberate change of regime the scenario
    schedules: one-off disruption windows and factors (``to_h`` their end, ``inf`` for
    good), and as instants (``to_h == from_h``) dated changes, steps of a flow's demand
    path and the first start of a repeating window."""
    horizon_h = scenario.scenario.horizon_days * HOURS_PER_DAY
    cal = _calendar(scenario)
    out: list[tuple[float, float, str]] = []
    for did in sorted(scenario.disruptions):
        dis = scenario.disruptions[did]
        if not dis.enabled or not isinstance(dis, WindowDisruption | FactorDisruption):
            continue  # random outages are part of the regime
        ivs = disruption_intervals(did, dis, scenario.scenario.seed, 0, horizon_h)
        if isinstance(dis, WindowDisruption) and dis.every_days is not None:
            if ivs:
                out.append((ivs[0][0], ivs[0][0], f"repeating disruption {did} begins"))
            continue
        out += [(a, b, f"disruption {did} ({dis.target}) begins") for a, b, _ in ivs]
    for cid in sorted(scenario.changes):
        change = scenario.changes[cid]
        if change.enabled:
            t = change_time_h(change, cal)
            out.append((t, t, f"dated change {cid}"))
    for fid in sorted(scenario.flows):
        flow = scenario.flows[fid]
        for when, what in ((flow.start_date, "starts"), (flow.end_date, "ends")):
            if when is not None:
                t = cal.hours_of(cal.parse(when))
                out.append((t, t, f"demand of flow {fid} {what}"))
        if flow.growth_per_year or flow.teu_by_year:
            for year, a, _ in cal.year_starts(horizon_h):
                if a > 0:
                    out.append((a, a, f"demand of flow {fid} steps on 1 January {year}"))
    return sorted(out)


def stationary_end(
    records: list[dict], warmup_days: float, scenario: Scenario | None
) -> tuple[float, str]:
    """Day the judged stretch ends (exclusive) and why: the first scheduled break after
    the warm-up (a disruption under way at its end cuts at the warm-up), the earliest
    end of a replication, or a standstill (gridlock or closure at the horizon)."""
    warm_h = warmup_days * HOURS_PER_DAY
    ends: list[tuple[float, str]] = []
    for r in records:
        ends.append((r["end_h"] / HOURS_PER_DAY, "the end of the run"))
        for key, what in (("gridlock", "gridlock"), ("closed_at_horizon", "standstill")):
            if r.get(key):
                ends.append((r[key]["since_day"], f"{what} in replication {r['replication']}"))
    for a, b, what in scheduled_breaks(scenario) if scenario is not None else []:
        if a > warm_h:
            ends.append((a / HOURS_PER_DAY, what))
        elif b > warm_h:
            ends.append((warmup_days, f"{what}, under way at the end of the warm-up"))
    return min(ends)


def _pooled_series(records: list[dict]) -> np.ndarray | None:
    """Daily TEU held at all nodes, mean over the replications that have series."""
    series = [r["series"]["nodes"] for r in records if "series" in r]
    if not series:
        return None
    days = min(len(next(iter(s.values()))["teu_at_node"]) for s in series)
    total = np.zeros(days)
    for s in series:
        for node in s.values():
            total += np.asarray(node["teu_at_node"][:days], dtype=float)
    return total / len(series)


def warmup_check(
    records: list[dict],
    warmup_days: float,
    scenario: Scenario | None = None,
    overloaded: list[str] | tuple[str, ...] = (),
) -> dict[str, Any] | None:
    """Is the configured warm-up long enough? (The rule: module docstring.)

    ``verdict``: ``"ok"``, ``"too short"`` or ``"not judged"`` (the stationary stretch
    is too short for MSER to look past the warm-up, or the flows ``overloaded`` have
    demand beyond capacity: their backlog grows, there is no steady state for any
    warm-up to reach); ``ok`` is false only when too short. ``suggested_warmup_days``:
    the MSER-5 truncation point (days; ``None`` when not judged); ``p_value`` and
    ``mean_shift`` the evidence for it; ``judged_days`` the stretch ``[0, n)`` judged and
    ``judged_until`` why it ends there; ``test_window_days`` the early window tested.
    """
    pooled = _pooled_series(records)
    if pooled is None:
        return None
    stop, why = stationary_end(records, warmup_days, scenario)
    n = int(min(len(pooled), math.floor(stop + 1e-9)))
    total = pooled[:n]
    warm = int(math.ceil(warmup_days - 1e-9))
    reps = sum(1 for r in records if "series" in r)
    method = (
        f"MSER-5 on the daily TEU held at all nodes, mean of {reps} replication(s), "
        f"days 0-{n} (until {why})"
    )
    if n >= 2 * DAYS_PER_YEAR and n - warm >= DAYS_PER_YEAR:
        doy = np.arange(n) % DAYS_PER_YEAR
        after = np.arange(n) >= warm
        profile = np.bincount(doy[after], weights=total[after], minlength=DAYS_PER_YEAR)
        profile /= np.maximum(np.bincount(doy[after], minlength=DAYS_PER_YEAR), 1)
        total = total - profile[doy] + float(total[after].mean())
        method += ", after removing the day-of-year profile (seasonal demand and storms)"
    base = {
        "method": method,
        "warmup_days": warmup_days,
        "judged_days": [0, n],
        "judged_until": why,
        "replications": reps,
    }
    window = min(max(warm, -(-(n - warm) // WARMUP_WINDOWS), WARMUP_BATCH), (n - warm) // 5)
    unjudged = {
        **base,
        "verdict": "not judged",
        "ok": True,
        "suggested_warmup_days": None,
        "p_value": None,
        "mean_shift": None,
    }
    if overloaded:
        return {
            **unjudged,
            "note": "no steady state to reach: demand exceeds capacity for "
            + ", ".join(f"flow {f}" for f in overloaded)
            + " (its backlog grows through the run), which no warm-up fixes",
        }
    if n // 2 < warm + WARMUP_BATCH or window < WARMUP_BATCH:
        return {
            **unjudged,
            "note": f"the stationary stretch (days 0-{n}, until {why}) is too short to judge a "
            f"{warmup_days:g}-d warm-up (MSER searches its first half; the test needs five "
            "windows after it)",
        }
    d = float(mser(total.tolist(), WARMUP_BATCH))
    ev = early_window_test(
        total.tolist(), warm, window, level=WARMUP_LEVEL, material=WARMUP_MATERIAL
    )
    too_short = d > warm and bool(ev["significant"])
    shift = "" if ev["shift"] is None else f", shifting the measured mean by {ev['shift']:+.1%}"
    evidence = (
        f"days {warm}-{warm + window} after the warm-up against {ev['windows']} later "
        f"{window}-d windows: p = {ev['p_value']:.2g}{shift}"
    )
    if too_short:
        note = f"the first days measured still differ: {evidence}"
    elif d <= warm:
        note = f"MSER finds no transient after the warm-up ({evidence})"
    else:
        note = f"MSER's point is within the noise ({evidence})"
    return {
        **base,
        "verdict": "too short" if too_short else "ok",
        "ok": not too_short,
        "suggested_warmup_days": d,
        "p_value": ev["p_value"],
        "mean_shift": ev["shift"],
        "test_window_days": [warm, warm + window],
        "note": note,
    }


# --------------------------------------------------------------------------------------
# Per flow: biased transit, demand beyond capacity
# --------------------------------------------------------------------------------------


def _created_in_measured(record: dict, fid: str, start: str | None) -> float | None:
    """TEU of flow ``fid`` created in ``[warm-up, end)``, from its calendar-month totals
    (a month the warm-up cuts counts pro rata)."""
    monthly = record.get("monthly") or {}
    created = ((monthly.get("flows") or {}).get(fid) or {}).get("created_teu")
    months = monthly.get("months")
    if created is None or not months:
        return None
    cal = Calendar(_dt.date.fromisoformat(start) if start else None)
    warm, end = float(record["warmup_h"]), float(record["end_h"])
    total = 0.0
    for label, teu in zip(months, created, strict=False):
        y, m = (int(x) for x in label.split("-"))
        a = max(0.0, cal.hours_of(_dt.date(y, m, 1)))
        b = min(end, cal.hours_of(_dt.date(y + m // 12, m % 12 + 1, 1)))
        if b <= a:
            continue
        total += float(teu) * max(0.0, min(b, end) - max(a, warm)) / (b - a)
    return total


def flow_balance(record: dict, fid: str) -> dict[str, float] | None:
    """One replication's measured-period balance of flow ``fid`` (TEU): created,
    delivered, the backlog growth (created - delivered), the TEU inside at the end and the
    pipeline Little's law expects (demand rate x mean transit of its deliveries)."""
    f = record["flows"][fid]
    start = record.get("start_date") if record.get("dated") else None
    created = _created_in_measured(record, fid, start)
    span_h = float(record["end_h"]) - float(record["warmup_h"])
    if created is None or created <= 0 or span_h <= 0:
        return None
    delivered = (f.get("throughput_teu_per_week") or 0.0) * span_h / HOURS_PER_WEEK
    transit_h = (f.get("transit_days_mean") or 0.0) * HOURS_PER_DAY
    return {
        "created": created,
        "delivered": delivered,
        "growth": created - delivered,
        "inside_end": float(f.get("in_system_teu_end") or 0.0),
        "pipeline": created / span_h * transit_h,
    }


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


def flow_checks(records: list[dict]) -> dict[str, dict[str, Any]]:
    """Per flow: ``transit_biased``, ``demand_exceeds_capacity`` (rules: module
    docstring) and the numbers behind them (means over replications)."""
    out: dict[str, dict[str, Any]] = {}
    moving = [r for r in records if not r.get("gridlock") and not r.get("closed_at_horizon")]
    for fid in records[0]["flows"]:
        shares = [
            r["flows"][fid]["cohort_inside_share"]
            for r in records
            if r["flows"][fid].get("cohort_inside_share") is not None
        ]
        share = _mean(shares) if shares else None
        balances = [b for b in (flow_balance(r, fid) for r in moving) if b is not None]
        check: dict[str, Any] = {
            "inside_share": share,
            "transit_biased": bool(share is not None and share > BIAS_THRESHOLD),
            "demand_exceeds_capacity": False,
            "delivered_share": None,
            "backlog_growth_teu": None,
            "inside_end_teu": None,
            "pipeline_teu": None,
            "replications_judged": len(balances),
        }
        if balances:
            created = _mean([b["created"] for b in balances])
            delivered = _mean([b["delivered"] for b in balances])
            inside = _mean([b["inside_end"] for b in balances])
            pipeline = _mean([b["pipeline"] for b in balances])
            check.update(
                delivered_share=delivered / created,
                backlog_growth_teu=created - delivered,
                inside_end_teu=inside,
                pipeline_teu=pipeline,
                demand_exceeds_capacity=bool(
                    created - delivered > SHORTFALL_THRESHOLD * created
                    and created - delivered > PIPELINE_FACTOR * pipeline
                ),
            )
        out[fid] = check
    return out


def bias_note(study_share: float | None, checks: dict[str, dict[str, Any]]) -> str | None:
    """The transit-bias sentence: the study flows together and every biased flow."""
    parts = []
    if study_share is not None and study_share > BIAS_THRESHOLD:
        parts.append(f"the study flows {study_share:.1%}")
    parts += [
        f"flow {fid} {c['inside_share']:.1%}" for fid, c in checks.items() if c["transit_biased"]
    ]
    if not parts:
        return None
    return (
        "of the TEU created after the warm-up, still inside at the horizon: "
        + ", ".join(parts)
        + f" (more than {BIAS_THRESHOLD:.0%}); transit KPIs over deliveries "
        "under-represent slow containers"
    )


def capacity_text(fid: str, c: dict[str, Any]) -> str:
    """The demand-exceeds-capacity sentence of one flow."""
    return (
        f"flow {fid} delivered {c['delivered_share']:.0%} of the TEU created in the measured "
        f"period: its backlog grew by {c['backlog_growth_teu']:,.0f} TEU "
        f"({c['backlog_growth_teu'] / max(c['pipeline_teu'], 1e-9):.1f}x its pipeline of "
        f"{c['pipeline_teu']:,.0f} TEU) to {c['inside_end_teu']:,.0f} TEU inside at the end "
        f"(rule: delivered < {1 - SHORTFALL_THRESHOLD:.0%} of created and backlog growth > "
        f"{PIPELINE_FACTOR:g}x demand rate x mean transit)"
    )


# --------------------------------------------------------------------------------------
# Standstills: the stage they point at
# --------------------------------------------------------------------------------------

_CLOSED = re.compile(r"^(\S+) closed (for good|from day)")
_YARD = re.compile(r"^yard at (\S+) full since")


def _as_stage(target: str, scenario: Scenario | None) -> str:
    """A closure target as a bottleneck stage key (a fleet is rated through its leg)."""
    section, _, ident = target.partition(".")
    if section == "fleets" and scenario is not None and ident in scenario.fleets:
        return f"legs.{scenario.fleets[ident].leg}"
    return target


def standstill_stages(records: list[dict], scenario: Scenario | None) -> list[str]:
    """Stages that held a standstill (gridlock or closure at the horizon), most
    replications first: the closed targets, and a yard found stuck full."""
    votes: Counter[str] = Counter()
    for r in records:
        found: set[str] = set()
        c = r.get("closed_at_horizon")
        if c:
            found.update(_as_stage(x["target"], scenario) for x in c.get("closures") or [])
        g = r.get("gridlock")
        if g:
            found.update(_as_stage(x, scenario) for x in g.get("closures") or [])
            for line in g.get("where") or []:
                m = _CLOSED.match(line) or _YARD.match(line)
                if m:
                    key = m.group(1)
                    found.add(_as_stage(key if "." in key else f"nodes.{key}", scenario))
        votes.update(found)
    return [k for k, _ in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))]


# --------------------------------------------------------------------------------------
# The warnings list
# --------------------------------------------------------------------------------------


def collect_warnings(
    gridlocks: list[dict],
    closed_at_horizon: list[dict],
    warmup: dict[str, Any] | None,
    study_share: float | None,
    checks: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Every warning of a run as ``{"kind", "text"}`` (with ``flow`` where one applies)."""
    out: list[dict[str, Any]] = []
    for g in gridlocks:
        out.append({
            "kind": "gridlock",
            "text": f"Gridlock in replication {g['replication']}: nothing moved since day "
            f"{g['since_day']:.1f} ({'; '.join(g.get('where') or [])}); its KPIs cover only "
            "the time before the stop",
        })
    for c in closed_at_horizon:
        out.append({
            "kind": "closed_at_horizon",
            "text": f"Closed at the horizon in replication {c['replication']}: nothing moved "
            f"since day {c['since_day']:.1f} behind closures that reopen later "
            f"({'; '.join(c.get('where') or [])})",
        })
    if warmup and warmup.get("verdict") == "too short":
        out.append({
            "kind": "warmup",
            "text": f"Warm-up may be too short: {warmup['method']} puts the end of the initial "
            f"transient at day {warmup['suggested_warmup_days']:.0f}, the run used "
            f"{warmup['warmup_days']:g} d; {warmup['note']}",
        })
    note = bias_note(study_share, checks)
    if note:
        out.append({"kind": "transit_biased", "text": f"Transit KPIs biased: {note}"})
    for fid, c in checks.items():
        if c["demand_exceeds_capacity"]:
            out.append({
                "kind": "demand_exceeds_capacity",
                "flow": fid,
                "text": "Demand exceeds capacity: " + capacity_text(fid, c),
            })
    return out
