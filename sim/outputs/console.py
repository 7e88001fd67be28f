"""What the commands print: the answer first, then the tables.

``corridor run`` prints :func:`format_summary`, ``corridor compare``
:func:`format_comparison`, ``corridor sweep`` :func:`format_sweep`. Each starts with the
summary lines of :mod:`sim.outputs.answer` (the same lines the report opens with) and
rounds every KPI as :mod:`sim.outputs.present` does (the same text as the report).
"""

from __future__ import annotations

import datetime as _dt
import json
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sim.outputs import answer as _answer
from sim.outputs.present import (
    fmt,
    fmt_stat,
    label,
    money_stat,
    ratio_stat,
    run_kpi_rows,
)

WIDTH = 100
"""Console lines are wrapped at this width."""
MARK = {"info": "", "ok": "", "warn": "WARNING ", "bad": "PROBLEM "}


def _num(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def _pct(s: dict[str, Any] | None) -> str:
    if not s or s["mean"] is None:
        return "-"
    return f"{100 * s['mean']:.0f}%"


def date_span(start: str | None, end: str | None) -> str:
    """``first – last day`` of a period given as ``[start, end)`` dates."""
    if not start or not end:
        return "-"
    last = _dt.datetime.fromisoformat(end)
    if last.time() == _dt.time():
        last -= _dt.timedelta(days=1)
    a = _dt.datetime.fromisoformat(start).date()
    return str(a) if last.date() <= a else f"{a} – {last.date()}"


def period_name(pid: str, p: dict[str, Any]) -> str:
    """A short name of a period: ``2026``, ``closure georgia_closed``, ``peak``."""
    ident = pid.partition(".")[2]
    if p["kind"] == "year":
        return ident
    if p["kind"] == "disruption":
        return f"disruption {ident}" + (f" (x{p['occurrences']})" if p["occurrences"] > 1 else "")
    return ident


def format_periods(summary: dict[str, Any], scenario=None) -> list[str]:
    """The per-period table: study throughput, transit of the boxes created in the
    period (mean with its 95% CI, P50, P95) and the bottleneck in the period."""
    periods = summary.get("periods") or {}
    if not periods:
        return []
    nominal = "" if summary.get("dated") else " (nominal dates: the scenario has no start_date)"
    lines = [
        f"Periods{nominal}: study flows; transit (days) of the boxes created in the period, "
        "and of all en route in it",
        f"{'Period':<30}{'dates':<26}{'TEU/week':>9}{'transit mean':>13}  {'95% CI':<15}"
        f"{'P50':>6}{'P95':>6}{'en route':>9}  bottleneck (ρ)",
    ]
    for pid, p in periods.items():
        mean, ci = fmt_stat("transit_days_mean", p["transit_days_mean"])
        en_route = (p.get("en_route_transit_days_mean") or {}).get("mean")
        b = p.get("bottleneck") or {}
        where = (f"{_stage_name(scenario, b['element'])} "
                 f"{fmt('bottleneck_utilisation', (b.get('utilisation') or {}).get('mean'))}"
                 if b.get("element") else "-")
        if not p["measured_days"]:
            where = "outside the measured period"
        lines.append(
            f"{period_name(pid, p)[:29]:<30}"
            f"{date_span(p['measured_from_date'], p['measured_to_date']):<26}"
            f"{fmt('throughput_teu_per_week', p['throughput_teu_per_week']['mean']):>9}"
            f"{mean:>13}  {ci:<15}"
            f"{fmt('transit_days_p50', p['transit_days_p50']['mean']):>6}"
            f"{fmt('transit_days_p95', p['transit_days_p95']['mean']):>6}"
            f"{fmt('transit_days_mean', en_route):>9}"
            f"  {where}"
        )
    return lines


def _start_text(summary: dict[str, Any]) -> str:
    start = summary.get("start_date")
    if not start:
        return ""
    return f" from {start}" + ("" if summary.get("dated") else " (nominal)")


def answer_lines(lines: list[_answer.Line]) -> list[str]:
    """Summary lines as console text: one bullet each, wrapped, warnings marked."""
    out = []
    for line in lines:
        out += textwrap.wrap(
            MARK.get(line.level, "") + line.text,
            WIDTH,
            initial_indent="* ",
            subsequent_indent="  ",
            break_on_hyphens=False,
        )
    return out


def load_resolved(out_dir: str | Path | None) -> tuple[dict | None, Any]:
    """``scenario.resolved.json`` of a results folder: (the dict, the validated Scenario),
    (None, None) when absent or invalid."""
    if not out_dir:
        return None, None
    path = Path(out_dir) / "scenario.resolved.json"
    if not path.is_file():
        return None, None
    from sim.errors import ScenarioError
    from sim.scenario.loader import load_scenario

    try:
        resolved = json.loads(path.read_text(encoding="utf-8"))
        return resolved, load_scenario(path).model
    except (OSError, ValueError, ScenarioError):
        return None, None


def kpi_table(summary: Mapping[str, Any]) -> list[str]:
    """The run's KPI table (the same KPIs, names and rounding as the report's)."""
    rows = run_kpi_rows(summary)
    width = max([len(r[1]) for r in rows] + [3]) + 2
    lines = [f"{'KPI':<{width}}{'scope':<22}{'mean':>10}  95% CI"]
    for _kpi, name, scope, mean, ci in rows:
        lines.append(f"{name:<{width}}{scope:<22}{mean:>10}  {ci}")
    return lines


def _stage_name(scenario, key: str) -> str:
    if scenario is None:
        return key
    from sim.outputs.plots_map import stage_label

    return stage_label(scenario, key)


def node_table(summary: Mapping[str, Any]) -> list[str]:
    """Nodes: time there, TEU there, utilisation and what binds; labels are never cut
    (long ones wrap onto a second line)."""
    nodes = summary["nodes"]
    width = min(max([len(n["label"]) for n in nodes.values()] + [4]), 40) + 2
    lines = [f"{'Node':<{width}}{'wait (h)':>10}{'TEU there':>11}{'utilisation':>13}  "
             "binding resource"]
    for n in nodes.values():
        name = textwrap.wrap(n["label"], width - 2) or [""]
        lines += name[:-1]
        lines.append(
            f"{name[-1]:<{width}}{_num(n['wait_h_mean']['mean']):>10}"
            f"{_num(n['queue_teu_mean']['mean'], 0):>11}{_pct(n['utilisation']):>13}  "
            f"{n['utilisation_of'] or '-'}"
        )
    return lines


def stage_table(summary: Mapping[str, Any], scenario) -> list[str]:
    """Fleets, legs and wagon pools with a utilisation, by readable name."""
    rows = []
    for section in ("fleets", "legs", "wagon_pools"):
        for ident, v in summary[section].items():
            if v["utilisation"]["mean"] is None:
                continue
            slots = " (of timetable slots)" if v.get("utilisation_of") == "slots" else ""
            rows.append((_stage_name(scenario, f"{section}.{ident}"),
                         fmt("bottleneck_utilisation", v["utilisation"]["mean"]) + slots))
    if not rows:
        return []
    width = min(max(len(r[0]) for r in rows), 70) + 2
    lines = [f"{'Fleet, leg or wagon pool':<{width}}utilisation"]
    for name, util in rows:
        wrapped = textwrap.wrap(name, width - 2) or [""]
        lines += wrapped[:-1]
        lines.append(f"{wrapped[-1]:<{width}}{util}")
    return lines


def market_lines(routes: Mapping[str, Any] | None, reps: int | None = None) -> list[str]:
    """One compact line per market: each route's share of bookings over the measured
    period (mean [95% CI]), largest first; then a blank line. None without markets."""
    markets = (routes or {}).get("markets") or {}
    if not markets:
        return []
    out = ["Route shares of bookings, measured period (mean [95% CI]; routes.csv, report):"]
    for mid, m in markets.items():
        out += textwrap.wrap(_answer.market_line(mid, m, reps), WIDTH, initial_indent="  ",
                             subsequent_indent="    ", break_on_hyphens=False)
    return out + [""]


def format_summary(
    summary: dict[str, Any], out_dir: str | None = None, scenario=None
) -> str:
    """The answer first (summary lines of :func:`sim.outputs.answer.run_answer`, with the
    calibration status), then the KPI table, nodes, stages, periods and gridlocks."""
    from sim.outputs.route_choice import from_folder

    _resolved, loaded = load_resolved(out_dir)
    scenario = scenario if scenario is not None else loaded
    routes = from_folder(out_dir, summary, scenario)
    lines = [
        f"Scenario {summary['scenario']['name']}: {summary['replications']} replication(s), "
        f"seed {summary['seed']}, horizon {summary['horizon_days']:g} d "
        f"(warm-up {summary['warmup_days']:g} d)" + _start_text(summary),
        "",
        *answer_lines(_answer.run_answer(summary, scenario, _answer.calibration_line(summary),
                                         routes)),
        "",
        *market_lines(routes, summary.get("replications")),
        f"Study flows: {', '.join(summary['study_flows'])}",
        *kpi_table(summary),
        "",
        *node_table(summary),
    ]
    others = stage_table(summary, scenario)
    if others:
        lines += ["", *others]
    table = format_periods(summary, scenario)
    if table:
        lines += ["", *table]
    if out_dir:
        lines += ["", f"Results written to {out_dir}"]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------


def difference_rows(comp: Mapping[str, Any], alt: str) -> list[tuple[str, dict[str, str]]]:
    """(KPI label, :func:`sim.outputs.answer.difference_text`) of each result KPI."""
    intervals = _answer.decision_intervals(comp)
    rows = []
    for kpi in _answer.result_kpis(comp):
        t = _answer.difference_text(comp, alt, kpi, intervals)
        if t is not None:
            rows.append((label(kpi), t))
    return rows


def format_comparison(comp: Mapping[str, Any]) -> str:
    """The answer first, then per alternative the paired differences (each with the
    interval the Holm decision used, its level and the adjusted p) and the economics."""
    base = comp["base"]
    lines = [
        f"Comparison against {base}: {comp['replications']} paired replications "
        f"(common random numbers, seed {comp['seed']}); {comp['correction']}",
        "",
        *answer_lines(_answer.comparison_answer(comp)),
        "",
    ]
    for alt in comp["differences"]:
        rows = difference_rows(comp, alt)
        if not rows:
            continue
        width = max(len(r[0]) for r in rows) + 2
        lines.append(f"{alt} - {base}:")
        lines.append(f"  {'KPI':<{width}}{'difference':>12}  {'decision CI (level)':<34}"
                     "adjusted p      verdict")
        for name, t in rows:
            ci = f"{t['ci']} ({t['level']})"
            lines.append(f"  {name:<{width}}{t['mean']:>12}  {ci:<34}{t['p']:<16}{t['verdict']}")
        e = comp["economics"].get(alt) or {}
        a = e.get("appraisal")
        if isinstance(a, Mapping):
            ind, ind_ci = fmt_stat("created_teu", a.get("induced_teu_per_year"), signed=True)
            lines.append(f"  appraisal: {_answer.npv_text(e)}")
            lines.append(f"  induced demand {ind} TEU/yr {ind_ci}, user benefit "
                         f"{money_stat(a.get('user_benefit_usd_per_year'))} per year")
            split = _answer.benefit_split_text(a)
            if split:
                lines.append(f"  {split}")
        if e.get("annualised_cost_usd", 0) > 0:
            per = e.get("annualised_cost_per_extra_teu_usd")
            per_text = (f"{fmt('cost_usd_per_teu', per)} USD per extra TEU/yr of capacity"
                        if per else "no extra capacity")
            lines.append(f"  annualised cost {fmt('cost_usd_per_teu', e['annualised_cost_usd'])} "
                         f"USD/yr -> {per_text}")
        lines.append("")
    npv_rows = [r for r in comp.get("ranking") or [] if r.get("metric") == "npv_usd"]
    if npv_rows:
        lines.append("Ranking by NPV (highest first), BCR and today's annualised cost per extra "
                     "TEU/yr of capacity beside it:")
        econ = comp.get("economics") or {}
        for row in npv_rows:
            a = (econ.get(row["scenario"]) or {}).get("appraisal") or {}
            per = row.get("annualised_cost_per_extra_teu_usd")
            lines.append(f"  {row['rank']}. {row['scenario']}: NPV {money_stat(a.get('npv_usd'))}"
                         f", BCR {ratio_stat(a.get('bcr'))}, "
                         + (f"{fmt('cost_usd_per_teu', per)} USD per extra TEU/yr"
                            if per is not None else "adds no capacity"))
        bench = _answer.capex_benchmark_text(comp)
        if bench:
            lines.append("  " + bench)
    elif comp.get("ranking"):
        lines.append("Ranking (annualised cost per extra TEU/yr of corridor capacity):")
        for row in comp["ranking"]:
            v = row["value"]
            lines.append(f"  {row['rank']}. {row['scenario']}: "
                         + (f"{fmt('cost_usd_per_teu', v)} USD" if v is not None
                            else "adds no capacity"))
    return "\n".join(lines).rstrip()


# --------------------------------------------------------------------------------------
# Sweep
# --------------------------------------------------------------------------------------

SWEEP_COLUMNS = (
    "throughput_teu_per_week",
    "transit_days_p50",
    "transit_days_p95",
    "bottleneck_utilisation",
)


def sweep_rows(sweep: Mapping[str, Any]) -> list[dict[str, str]]:
    """Per point: its number, values, status (flags), and the KPI means with CIs as text
    (the report's points table shows the same)."""
    from sim.outputs.plots_sweep import param_label

    rows = []
    for p in sweep.get("points") or []:
        row = {"#": str(p.get("point"))}
        for k, v in (p.get("values") or {}).items():
            row[param_label(k).split(" — ")[0]] = _answer._param(v)
        flags = _answer.flag_names(p)
        row["status"] = ", ".join(flags) if p.get("status") == "ok" and flags else str(
            p.get("status"))
        for kpi in SWEEP_COLUMNS:
            mean, ci = fmt_stat(kpi, (p.get("kpis") or {}).get(kpi))
            row[label(kpi)] = f"{mean} {ci}".strip()
        rows.append(row)
    return rows


def format_sweep(sweep: Mapping[str, Any]) -> str:
    """The answer first, then a table of every point with its flags."""
    lines = [*answer_lines(_answer.sweep_answer(sweep)), ""]
    rows = sweep_rows(sweep)
    if rows:
        cols = list(rows[0])
        widths = {c: max(len(c), *(len(r.get(c, "")) for r in rows)) for c in cols}
        lines.append("  ".join(f"{c:<{widths[c]}}" for c in cols).rstrip())
        for r in rows:
            lines.append("  ".join(f"{r.get(c, ''):<{widths[c]}}" for c in cols).rstrip())
    if sweep.get("reference_note"):  # the heat maps' reference is not the base itself
        lines += ["", *textwrap.wrap(sweep["reference_note"], WIDTH)]
    return "\n".join(lines)
