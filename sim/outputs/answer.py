"""The answer first: plain-language summary lines of a run, a comparison or a sweep.

The console prints these lines before its tables and the report opens with them, so
both say the same thing in the same words and numbers (rounded by
:mod:`sim.outputs.present`). Each line is a :class:`Line`: ``level`` ("info", "ok",
"warn", "bad") and ``text``.

For a comparison, the interval printed next to "significant" is the one the decision
used (:func:`decision_intervals`): the paired-t interval at the level of the
Holm–Bonferroni step at which the test was judged, so it excludes 0 exactly when the
difference is significant after the correction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from scipy import stats as _st

from sim.experiments.economics import INPUT_KPIS, demand_headroom
from sim.experiments.sweep import SATURATED_UTILISATION
from sim.outputs.present import (
    finite,
    fmt,
    fmt_stat,
    kpi_of,
    label,
    money_stat,
    ratio_stat,
)

ALPHA = 0.05
"""Family-wise error of the comparison's Holm–Bonferroni correction."""


class Line(NamedTuple):
    """One summary line: ``level`` is "info", "ok", "warn", "bad" or "calibration"."""

    level: str
    text: str


# --------------------------------------------------------------------------------------
# Calibration status (sim.outputs.calibration_status, written beside this module)
# --------------------------------------------------------------------------------------


def calibration_line(run: Mapping[str, Any] | Path | str | None) -> str | None:
    """The calibration status line of a run of the baseline (or a scenario extending it),
    None for other scenarios or while the calibration-status module is not installed.
    ``run``: the run's ``summary.json`` dict (names its scenario file) or its folder."""
    if run is None:
        return None
    # CALIBRATION STATUS: the one call site (console and report both come here)
    try:
        from sim.outputs.calibration_status import calibration_status, status_line
    except ImportError:
        return None
    status = calibration_status(run)
    return status_line(status) if status else None


# --------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------


def _stage_name(scenario, key: str | None) -> str:
    if not key:
        return "–"
    if scenario is None:
        return key
    from sim.outputs.plots_map import stage_label

    return stage_label(scenario, key)


def run_warnings(summary: Mapping[str, Any]) -> list[Line]:
    """Every warning of a run summary, one line each: ``summary["warnings"]`` when the
    summary lists them (each ``{kind, text}``), else built from its fields."""
    listed = summary.get("warnings")
    if isinstance(listed, list):
        out = []
        for w in listed:
            if isinstance(w, Mapping):
                text = w.get("text") or w.get("message") or str(dict(w))
                bad = w.get("kind") == "gridlock" or w.get("level") in ("bad", "error")
                out.append(Line("bad" if bad else "warn", str(text)))
            else:
                out.append(Line("warn", str(w)))
        return out
    out = []
    for g in summary.get("gridlock") or []:
        where = "; ".join(g.get("where") or [])
        out.append(Line("bad", (
            f"Gridlock in replication {g.get('replication')}: nothing moved since day "
            f"{fmt('transit_days_mean', g.get('since_day'))}" + (f" ({where})" if where else "")
            + "; its KPIs cover only the time before the stop.")))
    for c in summary.get("closed_at_horizon") or []:
        out.append(Line("warn", (
            f"Closed at the horizon in replication {c.get('replication')}: nothing moved "
            f"since day {fmt('transit_days_mean', c.get('since_day'))} ("
            + "; ".join(c.get("where") or []) + "), a closure, not a gridlock.")))
    check = summary.get("warmup_check")
    if isinstance(check, Mapping) and check.get("ok") is False:
        out.append(Line("warn", (
            f"Warm-up may be too short: the warm-up check suggests "
            f"{fmt('transit_days_mean', check.get('suggested_warmup_days'))} days, the run "
            f"used {fmt('transit_days_mean', check.get('warmup_days'))} days.")))
    if summary.get("transit_biased"):
        out.append(Line("warn", "Transit KPIs biased: " + (
            summary.get("transit_bias_note") or "many boxes were still inside at the horizon")))
    b = summary.get("bottleneck") or {}
    rho = (b.get("utilisation") or {}).get("mean")
    if finite(rho) and rho >= SATURATED_UTILISATION:
        out.append(Line("warn", (
            f"Saturated: the most utilised stage ({b.get('element')}) is busy "
            f"{fmt('bottleneck_utilisation', rho)} of the time: demand is at or above its "
            "capacity, queues grow over the horizon and the KPIs depend on its length.")))
    return out


def study_demand_per_week(summary: Mapping[str, Any]) -> float | None:
    """TEU/week of study-flow boxes created after the warm-up (the calendar years of the
    measured period), the demand the study throughput is measured against."""
    created = days = 0.0
    for p in (summary.get("periods") or {}).values():
        if p.get("kind") != "year":
            continue
        value = (p.get("created_teu") or {}).get("mean")
        if not finite(value) or not finite(p.get("measured_days")):
            return None
        created += value
        days += p["measured_days"]
    return created / days * 7.0 if days > 0 else None


def _headroom_text(stat: Mapping[str, Any] | None) -> str:
    """"+15% [+11%, +19%]": demand growth before the stage saturates, from its utilisation
    (the interval only while the utilisation's CI stays clear of 0 and 100 %)."""
    if not stat or not finite(stat.get("mean")):
        return "–"
    mid = demand_headroom(stat["mean"])
    if mid is None:
        return "–"
    lo_rho, hi_rho = stat.get("ci95_low"), stat.get("ci95_high")
    ci = ""
    if finite(lo_rho) and finite(hi_rho) and lo_rho > 0.05 and hi_rho < 1.0:
        ci = f" [{demand_headroom(hi_rho):+.0%}, {demand_headroom(lo_rho):+.0%}]"
    return f"{max(mid, 0.0):+.0%}{ci}"


def run_answer(
    summary: Mapping[str, Any], scenario=None, calibration: str | None = None,
    routes: Mapping[str, Any] | None = None,
) -> list[Line]:
    """The summary lines of a run: transit median and P95, throughput against demand,
    the bottleneck and its utilisation, with markets the corridor's share of bookings
    (``routes``: :func:`sim.outputs.route_choice.from_folder`), every warning, the
    calibration status."""
    reps = summary.get("replications")
    lines = []
    if calibration:
        lines.append(Line("calibration", calibration))
    p50, p50_ci = fmt_stat("transit_days_p50", kpi_of(summary, "transit_days_p50"),
                           replications=reps)
    p95, p95_ci = fmt_stat("transit_days_p95", kpi_of(summary, "transit_days_p95"),
                           replications=reps)
    lines.append(Line("info", (
        f"Study-flow transit: median {p50} days {p50_ci}, P95 {p95} days {p95_ci} "
        f"(mean [95% CI] over {reps} replication{'s' if reps != 1 else ''}).")))
    tp_stat = kpi_of(summary, "throughput_teu_per_week")
    tp, tp_ci = fmt_stat("throughput_teu_per_week", tp_stat, replications=reps)
    demand = study_demand_per_week(summary)
    if demand and tp_stat and finite(tp_stat.get("mean")):
        share = tp_stat["mean"] / demand
        lines.append(Line("info", (
            f"Study-flow throughput {tp} TEU/week {tp_ci} against a demand of "
            f"{fmt('throughput_teu_per_week', demand)} TEU/week (boxes created after the "
            f"warm-up): {share:.0%} delivered.")))
    else:
        lines.append(Line("info", f"Study-flow throughput {tp} TEU/week {tp_ci}."))
    b = summary.get("bottleneck") or {}
    if b.get("element"):
        util, util_ci = fmt_stat("bottleneck_utilisation", b.get("utilisation"),
                                 replications=reps)
        room = _headroom_text(b.get("utilisation"))
        stuck = summary.get("gridlock") or (finite((b.get("utilisation") or {}).get("mean"))
                                            and b["utilisation"]["mean"] >= SATURATED_UTILISATION)
        lines.append(Line("info", (
            f"Bottleneck: {_stage_name(scenario, b['element'])}, busy {util} {util_ci} of the "
            "time" + ("." if stuck or room == "–" else
                      f"; all demand could grow by about {room} before it saturates."))))
    else:
        lines.append(Line("info", "Bottleneck: no capacity-limited stage."))
    if routes:
        lines += route_lines(routes, reps)
    warnings = run_warnings(summary)
    lines += warnings or [Line("ok", no_warning_text(summary))]
    return lines


def no_warning_text(summary: Mapping[str, Any]) -> str:
    """What a run without warnings was checked for (the warm-up as its check judged it)."""
    check = summary.get("warmup_check")
    verdict = check.get("verdict") if isinstance(check, Mapping) else None
    if verdict == "not judged":
        warm = f"the warm-up was not judged ({check.get('note')})"
    elif verdict == "ok" or (isinstance(check, Mapping) and check.get("ok")):
        warm = "the warm-up is long enough"
    else:
        warm = "no warm-up check"
    return (f"No warnings: no gridlock, {warm}; no flow's transit KPIs are biased (every "
            f"flow has at most {_bias_pct()} of its TEU still inside at the horizon) and no "
            "flow's demand exceeds capacity.")


def _bias_pct() -> str:
    from sim.outputs.summary import BIAS_THRESHOLD

    return f"{BIAS_THRESHOLD:.0%}"


# --------------------------------------------------------------------------------------
# Route choice (markets): sim.outputs.route_choice reads it from the run folder
# --------------------------------------------------------------------------------------


def share_text(stat: Mapping[str, Any] | None, reps: int | None = None) -> str:
    """A share with its CI: ``74% [72%, 77%]``."""
    mean, ci = fmt_stat("share", stat, replications=reps)
    return f"{mean} {ci}".strip()


def market_line(mid: str, m: Mapping[str, Any], reps: int | None = None) -> str:
    """One market's route shares over the measured period, compact, largest first:
    ``China -> Türkiye: MC Khorgos 65% [61%, 69%], sea 35% [31%, 39%]; refused 1,200
    TEU/yr; lost 0; shares settle (...)``."""
    alts = sorted((m.get("alternatives") or {}).items(),
                  key=lambda kv: -((kv[1].get("share") or {}).get("mean") or 0.0))
    parts = [f"{a.get('label') or rid}{' (corridor)' if a.get('corridor') else ''} "
             f"{share_text(a.get('share'), reps)}" for rid, a in alts]
    refused = sum(((a.get("refused_teu_per_year") or {}).get("mean") or 0.0)
                  for _, a in alts)
    lost = (m.get("lost_teu_per_year") or {}).get("mean") or 0.0
    extra = []
    if refused > 0:
        extra.append(f"refused by booking limits {fmt('created_teu', refused)} TEU/yr")
    if lost > 0:
        extra.append(f"lost (no route open) {fmt('created_teu', lost)} TEU/yr")
    if m.get("settles") is True:
        extra.append("shares settle")
    elif m.get("settles") is False:
        extra.append("shares still move month to month")
    text = f"{m.get('label') or mid}: " + ", ".join(parts)
    if extra:
        text += "; " + "; ".join(extra)
    return text


def route_lines(routes: Mapping[str, Any], reps: int | None = None) -> list[Line]:
    """The answer's route-choice line: the corridor routes' share of the markets'
    bookings (routes with ``corridor = true``), else the largest route per market."""
    markets = routes.get("markets") or {}
    if not markets:
        return []
    corridor = routes.get("corridor")
    unsettled = [m.get("label") or mid for mid, m in markets.items() if m.get("settles") is False]
    tail = (f" Shares still move month to month in {', '.join(unsettled)} (no settled split)."
            if unsettled else "")
    if corridor:
        teu, teu_ci = fmt_stat("created_teu", corridor.get("booked_teu_per_year"),
                               replications=reps)
        names = sorted({a.get("label") or rid for m in markets.values()
                        for rid, a in (m.get("alternatives") or {}).items() if a.get("corridor")})
        return [Line("info", (
            f"Route choice: the corridor's routes take {share_text(corridor.get('share'), reps)}"
            f" of the markets' bookings over the measured period, {teu} TEU/yr {teu_ci} "
            f"({len(names)} corridor route{'s' if len(names) != 1 else ''}: "
            f"{', '.join(names)}; corridor = true in the scenario).{tail}"))]
    tops = []
    for mid, m in markets.items():
        alts = m.get("alternatives") or {}
        if not alts:
            continue
        rid, a = max(alts.items(), key=lambda kv: (kv[1].get("share") or {}).get("mean") or 0.0)
        tops.append(f"{m.get('label') or mid}: {a.get('label') or rid} "
                    f"{share_text(a.get('share'), reps)}")
    return [Line("info", "Route choice (no route is marked corridor = true), the largest "
                         "share of bookings per market: " + "; ".join(tops) + "." + tail)]


# --------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------


def decision_intervals(comp: Mapping[str, Any], alpha: float = ALPHA) -> dict[str, dict]:
    """Per alternative and KPI: ``{low, high, level}`` of the interval the Holm–Bonferroni
    decision used.

    The tests sorted by p-value are judged at ``alpha/m``, ``alpha/(m-1)``, ... until one
    fails; the test at sorted position ``j`` (or, once one failed, at the failing step
    ``s``) gets the paired-t interval of level ``1 - alpha/(m - min(j, s))``. It
    excludes 0 exactly when the test is significant after the correction. Rebuilt from
    the 95% interval and ``n`` of ``comparison.json``'s differences.
    """
    tests = []
    for alt, entry in (comp.get("differences") or {}).items():
        for kpi in comp.get("kpis") or list(entry or {}):
            d = (entry or {}).get(kpi) or {}
            if finite(d.get("p_value")):
                tests.append((float(d["p_value"]), len(tests), alt, kpi, d))
    tests.sort(key=lambda t: (t[0], t[1]))
    m = len(tests)
    stop = next((j for j, t in enumerate(tests) if not t[0] < alpha / (m - j)), m)
    out: dict[str, dict] = {}
    for j, (_, _, alt, kpi, d) in enumerate(tests):
        level_alpha = alpha / (m - min(j, stop))
        mean, lo, hi, n = d.get("mean"), d.get("ci95_low"), d.get("ci95_high"), d.get("n")
        if not (finite(mean) and finite(lo) and finite(hi) and finite(n) and n >= 2):
            continue
        se = (hi - lo) / 2.0 / float(_st.t.ppf(0.975, n - 1))
        half = float(_st.t.ppf(1.0 - level_alpha / 2.0, n - 1)) * se
        out.setdefault(alt, {})[kpi] = {
            "low": mean - half,
            "high": mean + half,
            "level": 1.0 - level_alpha,
        }
    return out


def _level_text(level: float) -> str:
    pct = 100 * level
    return f"{pct:.1f}%" if pct < 99.95 else f"{pct:.2f}%" if pct < 99.995 else f"{pct:.3f}%"


def p_text(p: Any) -> str:
    """An adjusted p-value as text."""
    if not finite(p):
        return "p_adj –"
    return "p_adj < 0.001" if p < 0.001 else f"p_adj {p:.3f}"


def difference_text(comp: Mapping[str, Any], alt: str, kpi: str,
                    intervals: Mapping[str, Any] | None = None) -> dict[str, str] | None:
    """One paired difference as text: ``mean``, ``ci`` (the decision's interval),
    ``level`` (its confidence), ``ci95`` (the single-test 95% interval), ``p`` and
    ``verdict`` ("significant" / "not significant"). None when undefined."""
    d = ((comp.get("differences") or {}).get(alt) or {}).get(kpi)
    if not d or not finite(d.get("mean")):
        return None
    intervals = decision_intervals(comp) if intervals is None else intervals
    dec = (intervals.get(alt) or {}).get(kpi)
    mean95, ci95 = fmt_stat(kpi, d, signed=True)
    if dec:
        scale = max(abs(d["mean"]), abs(dec["low"]), abs(dec["high"]))
        mean = fmt(kpi, d["mean"], True, scale)
        lo_text = fmt(kpi, dec["low"], True, scale, True)
        ci = f"[{lo_text}, {fmt(kpi, dec['high'], True, scale, True)}]"
        level = _level_text(dec["level"])
    else:
        mean, ci, level = mean95, ci95, "95%"
    return {
        "mean": mean,
        "ci": ci,
        "level": level,
        "ci95": ci95,
        "p": p_text(d.get("p_adjusted", d.get("p_value"))),
        "verdict": "significant" if d.get("significant") else "not significant",
    }


def input_kpis(comp: Mapping[str, Any]) -> list[str]:
    """The comparison's KPIs that are inputs, not model results: ``comparison.json``'s
    ``input_kpis`` (empty with markets: cost and CO2 per TEU are then results); a file
    written before that key: cost and CO2 per TEU."""
    listed = comp.get("input_kpis")
    return list(listed) if isinstance(listed, list) else list(INPUT_KPIS)  # also plots_compare


def result_kpis(comp: Mapping[str, Any]) -> list[str]:
    """The comparison's KPIs that are model results (:func:`input_kpis` left out)."""
    inputs = set(input_kpis(comp))
    return [k for k in comp.get("kpis") or [] if k not in inputs]


def input_values(comp: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """Per input KPI (:func:`input_kpis`), its value in each scenario."""
    out: dict[str, dict[str, float | None]] = {}
    for kpi in input_kpis(comp):
        if kpi not in (comp.get("kpis") or []):
            continue
        out[kpi] = {
            name: ((s.get("summary") or {}).get("kpis") or {}).get(kpi, {}).get("mean")
            for name, s in (comp.get("scenarios") or {}).items()
        }
    return out


def inputs_sentence(comp: Mapping[str, Any]) -> str | None:
    """Why cost/TEU and CO2/TEU are not results, with their values."""
    parts = []
    for kpi, values in input_values(comp).items():
        known = {n: v for n, v in values.items() if finite(v)}
        if not known:
            continue
        texts = {fmt(kpi, v) for v in known.values()}
        name = label(kpi, unit=False)
        unit = label(kpi).rpartition("(")[2].rstrip(")")
        if len(texts) == 1:
            parts.append(f"{name} {texts.pop()} {unit} in every scenario")
        else:
            parts.append(f"{name} " + ", ".join(f"{n} {fmt(kpi, v)}" for n, v in known.items())
                         + f" {unit}")
    if not parts:
        return None
    return ("Inputs, not results: " + "; ".join(parts) + ". They are the scenarios' tariffs, "
            "handling charges, distances and emission factors averaged over the study routes "
            "by demand; the simulation does not change them, so they get no CI and no test.")


def throughput_sentence(comp: Mapping[str, Any]) -> str | None:
    """Why the 'throughput gain' of an investment is about zero, and what it buys instead."""
    diffs = comp.get("differences") or {}
    gains = [
        (d.get("throughput_teu_per_week") or {}) for d in diffs.values()
        if finite((d.get("throughput_teu_per_week") or {}).get("mean"))
    ]
    if not gains:
        return None
    weeks = 8760.0 / 168.0
    lo = min(g["mean"] for g in gains) * weeks
    hi = max(g["mean"] for g in gains) * weeks
    sig = sum(1 for g in gains if g.get("significant"))
    base = (comp.get("scenarios") or {}).get(comp.get("base")) or {}
    demand = study_demand_per_week(base.get("summary") or {})
    demand_text = (f", {fmt('created_teu', demand * weeks)} TEU/yr,"
                   if finite(demand) else "")
    rng = (f"{fmt('created_teu', lo, True)}" if fmt('created_teu', lo) == fmt('created_teu', hi)
           else f"{fmt('created_teu', lo, True)} to {fmt('created_teu', hi, True)}")
    base_rho = ((base.get("summary") or {}).get("bottleneck") or {}).get("utilisation") or {}
    if finite(base_rho.get("mean")) and base_rho["mean"] >= SATURATED_UTILISATION:
        busy = fmt("bottleneck_utilisation", base_rho["mean"])
        return (f"The base is saturated (busiest stage {busy} busy), so throughput can rise: "
                f"changes of {rng} TEU/yr ({sig} of {len(gains)} significant).")
    if any(isinstance((e or {}).get("appraisal"), Mapping)
           for e in (comp.get("economics") or {}).values()):
        return (f"Study-flow throughput is demand-bound: the markets offer the same cargo in "
                f"every scenario{demand_text} (common random numbers; route choice moves it "
                f"between routes, not in or out), so deliveries cannot rise; the changes of "
                f"{rng} TEU/yr ({sig} of {len(gains)} significant) are boxes still in transit "
                "at the horizon on faster or slower routes, not a benefit. The appraisal "
                "values what an investment changes: induced demand and user benefit.")
    text = (
        f"Throughput is demand-bound: every scenario is sent the same study demand"
        f"{demand_text} below its capacity (common random numbers), so deliveries cannot "
        f"rise; the changes of {rng} TEU/yr ({sig} of {len(gains)} significant) are boxes "
        "still in transit at the horizon, not a benefit."
    )
    rooms = []
    for name in comp.get("order") or []:
        s = ((comp.get("scenarios") or {}).get(name) or {}).get("summary") or {}
        room = _headroom_text((s.get("bottleneck") or {}).get("utilisation"))
        if room != "–":
            rooms.append(f"{name} {room.split(' [')[0]}")
    if rooms:
        text += (" What an investment buys is capacity: all demand could grow by about "
                 + ", ".join(rooms) + " before the binding stage saturates.")
    return text


def comparison_answer(comp: Mapping[str, Any]) -> list[Line]:
    """The summary lines of a comparison: ranking, significant differences after the
    correction (with the decision's interval and adjusted p), throughput and inputs
    explained, every warning of every scenario."""
    base = comp.get("base")
    lines = []
    intervals = decision_intervals(comp)
    ranking = comp.get("ranking") or []
    econ = comp.get("economics") or {}
    appraised = {alt: (e or {}).get("appraisal") for alt, e in econ.items()
                 if isinstance((e or {}).get("appraisal"), Mapping)}
    if appraised:
        lines += appraisal_lines(comp)
    elif ranking:
        parts = []
        for r in ranking:
            name = r.get("scenario")
            value = r.get("value")
            extra = difference_text(comp, name, "corridor_capacity_teu_per_year", intervals)
            cap = ""
            if extra:
                cap = (f", extra capacity {extra['mean']} TEU/yr {extra['ci']} "
                       f"({extra['verdict']})")
            cost = (f"{fmt('cost_usd_per_teu', value)} USD per extra TEU/yr" if finite(value)
                    else "adds no capacity")
            parts.append(f"{r.get('rank')}. {name}: {cost}{cap}")
        lines.append(Line("info", "Ranking by annualised cost per extra TEU/yr of corridor "
                                  "capacity (cheapest first): " + "; ".join(parts) + "."))
    kpis = result_kpis(comp)
    for alt in (comp.get("differences") or {}):
        sig, not_sig = [], []
        for kpi in kpis:
            t = difference_text(comp, alt, kpi, intervals)
            if t is None:
                continue
            if t["verdict"] == "significant":
                sig.append(f"{label(kpi, unit=False)} {t['mean']} {_unit(kpi)}{t['ci']} "
                           f"({t['p']})")
            else:
                not_sig.append(label(kpi, unit=False))
        text = f"{alt} vs {base}: "
        text += ("significant after the Holm correction: " + "; ".join(sig)) if sig else (
            "no difference is significant after the Holm correction")
        if not_sig and sig:
            text += "; not significant: " + "; ".join(not_sig)
        lines.append(Line("info", text + "."))
    if econ:
        lines.append(Line("info", "Intervals next to a verdict are those of the decision "
                                  "(Holm-adjusted level; the report also lists the single-test "
                                  "95% CI)."))
    for sentence in (throughput_sentence(comp), inputs_sentence(comp)):
        if sentence:
            lines.append(Line("info", sentence))
    any_warning = False
    for name in comp.get("order") or []:
        s = ((comp.get("scenarios") or {}).get(name) or {}).get("summary") or {}
        for w in run_warnings(s):
            lines.append(Line(w.level, f"{name}: {w.text}"))
            any_warning = True
    if not any_warning:
        lines.append(Line("ok", "No warnings in any scenario."))
    return lines


def _period_text(e: Mapping[str, Any]) -> str:
    years, rate = e.get("lifetime_years"), e.get("discount_rate")
    if finite(years) and finite(rate):
        return f"over {years:g} years at {100 * rate:g}%/yr"
    return "over the appraisal period"


def states_cost(e: Mapping[str, Any]) -> bool:
    """Whether an alternative's economics state a capex or opex: an investment, not a
    policy or a shock (the rule ``compare`` ranks by)."""
    return (e.get("capex_usd") or 0) > 0 or (e.get("opex_usd_per_year") or 0) > 0


def npv_text(e: Mapping[str, Any]) -> str:
    """An alternative's NPV and BCR, or, when it states no capex or opex (a policy or a
    shock, not an investment), the present value of its benefit, which is all its NPV is."""
    a = e.get("appraisal") or {}
    if not states_cost(e):
        return (f"no capex or opex stated: present value of the benefit "
                f"{money_stat(a.get('npv_usd'))} {_period_text(e)}")
    return (f"NPV {money_stat(a.get('npv_usd'))} {_period_text(e)}, "
            f"BCR {ratio_stat(a.get('bcr'))}")


def ranking_text(comp: Mapping[str, Any]) -> str | None:
    """The ranking by NPV as one sentence: NPV, BCR and today's annualised cost per extra
    TEU/yr of capacity of each investment (None without an NPV ranking)."""
    econ = comp.get("economics") or {}
    rows = [r for r in comp.get("ranking") or [] if r.get("metric") == "npv_usd"]
    if not rows:
        return None
    parts = []
    for r in rows:
        a = (econ.get(r.get("scenario")) or {}).get("appraisal") or {}
        per = r.get("annualised_cost_per_extra_teu_usd")
        cost = (f"{fmt('cost_usd_per_teu', per)} USD per extra TEU/yr of capacity"
                if finite(per) else "no extra capacity to price")
        parts.append(f"{r.get('rank')}. {r.get('scenario')}: NPV "
                     f"{money_stat(a.get('npv_usd'))}, BCR {ratio_stat(a.get('bcr'))}, {cost}")
    return ("Ranking by net present value (highest first; mean [95% CI] over the paired "
            "replications): " + "; ".join(parts) + ".")


def capex_benchmark_text(comp: Mapping[str, Any]) -> str:
    """Each investment's capex per extra TEU/yr of corridor capacity beside the published
    capex per TEU/yr of added terminal capacity (data sheet §10.5); "" without either."""
    bench = comp.get("capex_benchmarks") or {}
    econ = comp.get("economics") or {}
    ours = [(alt, e.get("capex_per_extra_teu_usd")) for alt, e in econ.items()
            if (e or {}).get("capex_usd", 0) > 0]
    if not bench or not ours:
        return ""
    mine = ", ".join(f"{alt} {fmt('cost_usd_per_teu', v)} USD" if finite(v)
                     else f"{alt} adds no capacity" for alt, v in ours)
    published = ", ".join(
        f"{b['label']} {fmt('cost_usd_per_teu', b['usd_per_teu_year'])} USD "
        + "".join(f"[{s}]" for s in b.get("sources", [])) for b in bench.values())
    return (f"Capex per extra TEU/yr of corridor capacity: {mine}; published capex per TEU/yr "
            f"of added terminal capacity (§10.5): {published}. A terminal that is not the "
            "binding stage adds little corridor capacity, so it costs more per corridor TEU.")


def induced_share(a: Mapping[str, Any]) -> float | None:
    """The share of an appraisal's benefit from cargo switching route, or None when it
    means nothing: a part whose CI includes 0 (or a negative part) has no share."""
    share = a.get("induced_share_of_benefit")
    lows = [(a.get(k) or {}).get("ci95_low")
            for k in ("benefit_existing_usd_per_year", "benefit_induced_usd_per_year")]
    return share if finite(share) and all(finite(x) and x > 0 for x in lows) else None


def benefit_split_text(a: Mapping[str, Any]) -> str:
    """The rule-of-a-half split of an appraisal's user benefit: cargo that stays on its
    route against cargo that switched route (the induced part), with the induced share;
    "" when the appraisal has none."""
    stays = a.get("benefit_existing_usd_per_year") or {}
    switched = a.get("benefit_induced_usd_per_year") or {}
    if not (finite(stays.get("mean")) and finite(switched.get("mean"))):
        return ""
    share = induced_share(a)
    share_text = (f" ({share:.0%} from induced demand)" if share is not None else
                  " (a CI includes 0: the split is within noise at this number of "
                  "replications)")
    fixed = a.get("benefit_fixed_flows_usd_per_year") or {}
    fixed_text = (f" (the fixed background flows' time saved {money_stat(fixed)} among it)"
                  if finite(fixed.get("mean")) and fixed["mean"] != 0 else "")
    return (f"of it, cargo switching route (rule of a half) {money_stat(switched)}, cargo "
            f"staying on its route {money_stat(stays)}{fixed_text} per year{share_text}")


def appraisal_lines(comp: Mapping[str, Any]) -> list[Line]:
    """The appraisal's answer: the ranking by NPV, the best investment with whether its
    NPV's CI excludes 0, and its induced demand next to the capacity it adds."""
    econ = comp.get("economics") or {}
    lines = []
    text = ranking_text(comp)
    if text:
        lines.append(Line("info", text))
    rows = [r for r in comp.get("ranking") or [] if r.get("metric") == "npv_usd"]
    best = rows[0].get("scenario") if rows else None
    if best is None:  # no alternative states a cost: no investment to rank, only benefits
        cands = [(alt, ((e or {}).get("appraisal") or {}).get("user_benefit_usd_per_year")
                  or {}) for alt, e in econ.items()]
        cands = [(alt, b) for alt, b in cands if finite(b.get("mean"))]
        if not cands:
            return lines
        best, benefit = max(cands, key=lambda c: c[1]["mean"])
        lines.append(Line("info", (
            f"Largest user benefit: {best}, {money_stat(benefit)} per year; no alternative "
            "states a capex or opex, so none has an NPV or BCR (policies and shocks, not "
            "investments).")))
        e = econ.get(best) or {}
        a = e.get("appraisal") or {}
    else:
        e = econ.get(best) or {}
        a = e.get("appraisal") or {}
        npv = a.get("npv_usd") or {}
        lo, hi = npv.get("ci95_low"), npv.get("ci95_high")
        if finite(lo) and lo > 0:
            verdict, level = "its 95% CI lies above 0: it is worth more than it costs", "ok"
        elif finite(hi) and hi < 0:
            verdict, level = ("its 95% CI lies below 0: even the best option costs more than "
                              "it returns"), "warn"
        elif finite(lo) and finite(hi):
            verdict, level = ("its 95% CI includes 0: not clearly worth its cost at this "
                              "number of replications"), "warn"
        else:
            verdict, level = "no CI (one replication)", "warn"
        lines.append(Line(level, (
            f"Best investment by NPV: {best}, NPV {money_stat(npv)} {_period_text(e)}, BCR "
            f"{ratio_stat(a.get('bcr'))}; {verdict}.")))
    induced = a.get("induced_teu_per_year") or {}
    benefit = a.get("user_benefit_usd_per_year") or {}
    if finite(induced.get("mean")):
        ind, ind_ci = fmt_stat("created_teu", induced, signed=True)
        cap = e.get("extra_capacity_teu_per_year") or {}
        cap_text = ""
        if finite(cap.get("mean")):
            c, c_ci = fmt_stat("created_teu", cap, signed=True)
            cap_text = f" next to the extra capacity it measures, {c} TEU/yr {c_ci}"
        text = (f"{best} draws {ind} TEU/yr {ind_ci} of induced demand onto the corridor's "
                f"routes (cargo won from other routes; market totals are fixed){cap_text}.")
        if finite(benefit.get("mean")):
            text += (f" Its user benefit, {money_stat(benefit)} per year, is the change in "
                     "all the markets' shippers' consumer surplus (logsum) plus the time "
                     "the fixed background flows save.")
            split = benefit_split_text(a)
            if split:
                text += " " + split[0].upper() + split[1:] + "."
        lines.append(Line("info", text))
    return lines


def _unit(kpi: str) -> str:
    from sim.outputs.present import unit_of

    u = unit_of(kpi)
    return f"{u} " if u else ""


# --------------------------------------------------------------------------------------
# Sweep
# --------------------------------------------------------------------------------------

SWEEP_HEADLINE = ("throughput_teu_per_week", "transit_days_p95", "bottleneck_utilisation")


def _values_text(values: Mapping[str, Any]) -> str:
    from sim.outputs.plots_sweep import param_label

    return ", ".join(f"{param_label(k).split(' — ')[0]} = {_param(v)}" for k, v in values.items())


def _param(v: Any) -> str:
    if finite(v):
        v = float(v)
        return f"{v:,.0f}" if v == int(v) else f"{v:,.4g}"
    return str(v)


def point_flags(p: Mapping[str, Any]) -> dict[str, bool]:
    """A sweep point's flags (computed again for a sweep.json written before flags)."""
    flags = p.get("flags")
    if isinstance(flags, Mapping):
        return {k: bool(v) for k, v in flags.items()}
    if p.get("status", "ok") != "ok":
        return {"saturated": False, "transit_biased": False, "gridlock": False}
    from sim.outputs.summary import BIAS_THRESHOLD

    k = p.get("kpis") or {}
    rho = (k.get("bottleneck_utilisation") or {}).get("mean")
    share = (k.get("cohort_inside_share") or {}).get("mean")
    return {
        "saturated": finite(rho) and rho >= SATURATED_UTILISATION,
        "transit_biased": finite(share) and share > BIAS_THRESHOLD,
        "gridlock": False,
    }


def flag_names(p: Mapping[str, Any]) -> list[str]:
    """``["saturated", "transit biased"]``: the flags set on a point."""
    return [k.replace("_", " ") for k, v in point_flags(p).items() if v and k != "gridlock"] + (
        ["gridlock"] if point_flags(p).get("gridlock") else [])


def best_point(sweep: Mapping[str, Any], kpi: str) -> Mapping[str, Any] | None:
    """The best unflagged ok point for ``kpi`` (None if every point is flagged)."""
    from sim.outputs.plots_compare import better_of

    better = better_of(kpi, sweep)
    cands = [
        p for p in sweep.get("points") or []
        if p.get("status", "ok") == "ok" and not any(point_flags(p).values())
        and finite(((p.get("kpis") or {}).get(kpi) or {}).get("mean"))
    ]
    if not cands or not better:
        return None
    return (max if better == "higher" else min)(cands, key=lambda p: p["kpis"][kpi]["mean"])


def _spearman(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    rho = _st.spearmanr(xs, ys).statistic
    return float(rho) if math.isfinite(rho) else None


def sweep_answer(sweep: Mapping[str, Any]) -> list[Line]:
    """The summary lines of a sweep: flagged points, where the response changes (clear
    steps between neighbouring levels, paired over the common replications), the best
    unflagged point."""
    points = [p for p in sweep.get("points") or [] if isinstance(p, Mapping)]
    ok = [p for p in points if p.get("status", "ok") == "ok"]
    lines = []
    sat = [p for p in ok if point_flags(p).get("saturated")]
    biased = [p for p in ok if point_flags(p).get("transit_biased")]
    failed = [p for p in points if p.get("status", "ok") != "ok"]
    head = f"{len(ok)} of {len(points)} points ran"
    if failed:
        head += f" ({len(failed)} failed or not run)"
    lines.append(Line("info", head + "."))
    for what, group, level in (("Saturated (demand at or above capacity)", sat, "warn"),
                               ("Transit KPIs biased", biased, "warn")):
        if group:
            lines.append(Line(level, f"{what}: " + "; ".join(
                f"point {p.get('point')} ({_values_text(p.get('values') or {})})"
                for p in group) + ". These points are never picked as best."))
    if not sat and not biased and ok:
        lines.append(Line("ok", "No point is saturated or transit-biased."))
    steps = sweep.get("response") or []
    for kpi in SWEEP_HEADLINE:
        if kpi not in (sweep.get("kpis") or []):
            continue
        if steps:
            clear, flat = [], []
            for st in steps:
                d = (st.get("kpis") or {}).get(kpi) or {}
                if not finite(d.get("mean")):
                    continue
                name = (f"{_values_text({st['key']: st['from']}).split(' = ')[0]} "
                        f"{_param(st['from'])}→{_param(st['to'])}")
                if d.get("clear"):
                    mean, ci = fmt_stat(kpi, d, signed=True)
                    clear.append(f"{name} ({mean} {_unit(kpi)}{ci})")
                else:
                    flat.append(name)
            if not clear and not flat:
                continue
            text = f"{label(kpi, unit=False)}: "
            text += ("changes clearly at " + "; ".join(clear)) if clear else (
                "no step changes it beyond noise")
            if flat and clear:
                text += "; within noise at " + ", ".join(flat)
            lines.append(Line("info", text + " (paired differences, 95% CI)."))
        else:
            for key in sweep.get("varied") or []:
                xs = [(p.get("values") or {}).get(key) for p in ok]
                ys = [((p.get("kpis") or {}).get(kpi) or {}).get("mean") for p in ok]
                pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if finite(x) and finite(y)]
                rho = _spearman([x for x, _ in pairs], [y for _, y in pairs])
                if rho is not None:
                    lines.append(Line("info", (
                        f"{label(kpi, unit=False)} vs {_values_text({key: 0}).split(' = ')[0]}: "
                        f"rank correlation {rho:+.2f} over {len(pairs)} points.")))
    for kpi in SWEEP_HEADLINE[:2]:
        p = best_point(sweep, kpi)
        if p is not None:
            mean, ci = fmt_stat(kpi, p["kpis"][kpi])
            lines.append(Line("info", (
                f"Best unflagged point for {label(kpi, unit=False)}: point "
                f"{p.get('point')} ({_values_text(p.get('values') or {})}), "
                f"{mean} {_unit(kpi)}{ci}.")))
        elif ok:
            lines.append(Line("warn", f"No unflagged point to call best for "
                                      f"{label(kpi, unit=False)}."))
    return lines
