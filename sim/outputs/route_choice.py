"""Route choice of a run, read back from its folder: per market, what each route
alternative got over the measured period, for the report, the console and the answer.

From ``routes.csv`` (one row per replication x month x market x route, by the month of
booking) and ``summary.json``, per market and route alternative:

* ``share``: the route's share of the market's booked TEU over the measured period
  (``[warm-up, end)``; a month the warm-up cuts counts pro rata, bookings assumed even
  through it) — mean and 95 % CI across replications;
* ``booked_teu_per_year``, ``refused_teu_per_year`` (first choice of the route, booked
  elsewhere because its operator's booking limit was reached), per measured year;
* ``expected_transit_days`` and ``generalised_cost_usd_per_teu``: what shippers expected
  of the route when they chose (mean of the measured months' decision means, weighted by
  the measured hours in each month);
* ``measured_transit_days``: the mean transit its boxes had (``summary.json`` flow
  ``<market>:<route>``, deliveries after the warm-up);

and per market ``lost_teu_per_year`` (no open alternative would take it), and whether
its shares settle (:func:`sim.outputs.plots_routes.settles`: the monthly equilibrium gap
of the last measured months). ``corridor_share`` pools every market's routes with
``corridor = true``.
"""

from __future__ import annotations

import csv
import datetime as _dt
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sim.stats import summarise

ROUTES_CSV = "routes.csv"
LOST = "(lost)"
NOMINAL_START = "2025-01-01"  # as sim.model.calendar.NOMINAL_START (no start_date)
HOURS_PER_YEAR = 8760.0


def _float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def read_routes_csv(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``routes.csv`` with numbers as floats (NaN for an empty cell)."""
    with Path(path).open(newline="", encoding="utf-8") as fh:
        rows = []
        for row in csv.DictReader(fh):
            out: dict[str, Any] = {k: row[k] for k in ("replication", "month", "market", "route")}
            for k, v in row.items():
                if k not in out:
                    out[k] = _float(v)
            rows.append(out)
    return rows


def month_weights(months: list[str], start: str | None, warmup_h: float,
                  end_h: float) -> tuple[np.ndarray, np.ndarray]:
    """Per month label ``YYYY-MM``: the share of its run time after the warm-up (the
    weight of its bookings in the measured period) and its measured hours."""
    origin = _dt.datetime.fromisoformat(start or NOMINAL_START)
    share, hours = [], []
    for label in months:
        y, m = (int(x) for x in label.split("-"))
        a = (_dt.datetime(y, m, 1) - origin).total_seconds() / 3600.0
        b = (_dt.datetime(y + m // 12, m % 12 + 1, 1) - origin).total_seconds() / 3600.0
        a, b = max(a, 0.0), min(b, end_h)
        run = max(b - a, 0.0)
        measured = max(min(b, end_h) - max(a, warmup_h), 0.0)
        share.append(measured / run if run > 0 else 0.0)
        hours.append(measured)
    return np.array(share), np.array(hours)


def _stat(values: list[float], upper: float | None = None) -> dict[str, Any]:
    s = summarise([v for v in values if math.isfinite(v)], lower=0.0)
    if upper is not None and s["ci95_high"] is not None:
        s["ci95_high"] = min(s["ci95_high"], upper)
    return s


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    ok = np.isfinite(x) & (w > 0)
    return float(x[ok] @ w[ok] / w[ok].sum()) if ok.any() else math.nan


def route_choice(
    rows: list[dict[str, Any]], summary: Mapping[str, Any], scenario: Any = None
) -> dict[str, dict[str, Any]]:
    """Per market (in the scenario's order): ``label``, ``alternatives`` (route id ->
    ``label``, ``corridor``, ``share``, ``booked_teu_per_year``, ``refused_teu_per_year``,
    ``expected_transit_days``, ``generalised_cost_usd_per_teu``,
    ``measured_transit_days``), ``lost_teu_per_year``, ``offered_teu_per_year`` (each a
    ``{mean, ci95_low, ci95_high, n}`` over replications), ``settles`` (True, False or
    None: too few months) and ``settles_text``. The corridor as a whole:
    :func:`corridor_share`."""
    from sim.outputs.plots_routes import settles

    warm_h = float(summary.get("warmup_days") or 0.0) * 24.0
    end_h = float(summary.get("horizon_days") or 0.0) * 24.0
    start = summary.get("start_date")
    flows = summary.get("flows") or {}
    # replication -> market -> route -> month -> row
    data: dict[str, dict[str, dict[str, dict[str, dict]]]] = {}
    month_set: dict[str, set[str]] = {}
    for r in rows:
        rep = r["replication"]
        data.setdefault(rep, {}).setdefault(r["market"], {}).setdefault(r["route"], {})[
            r["month"]] = r
        month_set.setdefault(rep, set()).add(r["month"])
    months = {rep: sorted(ms) for rep, ms in month_set.items()}  # YYYY-MM sorts by date
    markets: list[str] = []
    for rep in data.values():
        markets += [m for m in rep if m not in markets]
    if scenario is not None and getattr(scenario, "markets", None):
        markets = [m for m in scenario.markets if m in markets] + [
            m for m in markets if m not in scenario.markets]
    years = max(end_h - warm_h, 1e-9) / HOURS_PER_YEAR
    out: dict[str, dict[str, Any]] = {}
    for mid in markets:
        alts: list[str] = []
        if scenario is not None and mid in getattr(scenario, "markets", {}):
            alts = list(scenario.markets[mid].alternatives)
        for rep in data.values():
            alts += [a for a in rep.get(mid, {}) if a not in alts and a != LOST]
        per: dict[str, dict[str, list[float]]] = {
            a: {k: [] for k in ("share", "booked", "refused", "expected", "gc")} for a in alts}
        lost, offered = [], []
        records = []
        for rep, by_market in data.items():
            routes = by_market.get(mid)
            if not routes:
                continue
            ms = months[rep]
            w, hours = month_weights(ms, start, warm_h, end_h)

            def col(rid: str, key: str, ms=ms, routes=routes) -> np.ndarray:
                got = routes.get(rid) or {}
                return np.array([(got.get(m) or {}).get(key, math.nan) for m in ms],
                                dtype=float)

            booked = {a: np.nan_to_num(col(a, "booked_teu")) for a in alts}
            total = float(sum(w @ b for b in booked.values()))
            lost_teu = float(w @ np.nan_to_num(col(LOST, "offered_teu")))
            lost.append(lost_teu / years)
            offered.append((total + lost_teu) / years)
            for a in alts:
                p = per[a]
                p["share"].append(float(w @ booked[a]) / total if total > 0 else math.nan)
                p["booked"].append(float(w @ booked[a]) / years)
                p["refused"].append(float(w @ np.nan_to_num(col(a, "refused_teu"))) / years)
                p["expected"].append(_wmean(col(a, "expected_transit_days"), hours))
                p["gc"].append(_wmean(col(a, "generalised_cost_usd_per_teu"), hours))
            records.append({
                "monthly": {"months": ms},
                "warmup_h": warm_h,
                "routes": {mid: {"alternatives": {a: {"share": col(a, "share")}
                                                  for a in alts}}},
            })
        ok, text = settles(records, mid) if records else (None, "no bookings")
        label = mid
        route_meta: dict[str, tuple[str, bool]] = {}
        if scenario is not None and mid in getattr(scenario, "markets", {}):
            label = scenario.markets[mid].label or mid
            for a in alts:
                r = scenario.routes.get(a)
                route_meta[a] = ((r.label or a) if r else a, bool(r and r.corridor))
        out[mid] = {
            "label": label,
            "alternatives": {
                a: {
                    "label": route_meta.get(a, (a, False))[0],
                    "corridor": route_meta.get(a, (a, False))[1],
                    "share": _stat(per[a]["share"], upper=1.0),
                    "booked_teu_per_year": _stat(per[a]["booked"]),
                    "refused_teu_per_year": _stat(per[a]["refused"]),
                    "expected_transit_days": _stat(per[a]["expected"]),
                    "generalised_cost_usd_per_teu": _stat(per[a]["gc"]),
                    "measured_transit_days": (flows.get(f"{mid}:{a}") or {}).get(
                        "transit_days_mean"),
                }
                for a in alts
            },
            "lost_teu_per_year": _stat(lost),
            "offered_teu_per_year": _stat(offered),
            "settles": ok,
            "settles_text": text,
        }
    return out


def corridor_share(rows: list[dict[str, Any]], summary: Mapping[str, Any],
                   corridor_routes: set[str]) -> dict[str, Any] | None:
    """The corridor routes' share of every market's booked TEU over the measured period,
    and their TEU booked per year (each mean and CI over replications); None when no
    route is a corridor route."""
    if not corridor_routes:
        return None
    warm_h = float(summary.get("warmup_days") or 0.0) * 24.0
    end_h = float(summary.get("horizon_days") or 0.0) * 24.0
    years = max(end_h - warm_h, 1e-9) / HOURS_PER_YEAR
    by_rep: dict[str, list[dict]] = {}
    for r in rows:
        by_rep.setdefault(r["replication"], []).append(r)
    shares, teu = [], []
    for reps in by_rep.values():
        months = sorted({r["month"] for r in reps})
        w, _ = month_weights(months, summary.get("start_date"), warm_h, end_h)
        weight = dict(zip(months, w, strict=True))
        total = on = 0.0
        for r in reps:
            if r["route"] == LOST or not math.isfinite(r.get("booked_teu", math.nan)):
                continue
            x = weight[r["month"]] * r["booked_teu"]
            total += x
            on += x if r["route"] in corridor_routes else 0.0
        shares.append(on / total if total > 0 else math.nan)
        teu.append(on / years)
    return {"share": _stat(shares, upper=1.0), "booked_teu_per_year": _stat(teu)}


def from_folder(folder: str | Path | None, summary: Mapping[str, Any],
                scenario: Any = None) -> dict[str, Any] | None:
    """``{"markets": route_choice(...), "corridor": corridor_share(...)}`` of a run
    folder with a ``routes.csv``; None without one (no markets) or when it cannot be
    read."""
    if not folder:
        return None
    path = Path(folder) / ROUTES_CSV
    if not path.is_file():
        return None
    try:
        rows = read_routes_csv(path)
    except (OSError, KeyError, ValueError):
        return None
    if not rows:
        return None
    corridor = set()
    if scenario is not None:
        corridor = {rid for rid, r in (getattr(scenario, "routes", None) or {}).items()
                    if getattr(r, "corridor", False)}
    return {"markets": route_choice(rows, summary, scenario),
            "corridor": corridor_share(rows, summary, corridor)}
