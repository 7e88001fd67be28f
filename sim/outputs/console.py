"""The readable summary table ``corridor run`` prints."""

from __future__ import annotations

import datetime as _dt
from typing import Any


def _num(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def _ci(s: dict[str, Any], digits: int = 1) -> str:
    if s["mean"] is None:
        return f"{'-':>12}  {'':>23}"
    if s["ci95_low"] is None:
        return f"{_num(s['mean'], digits):>12}  {'(1 replication)':>23}"
    return (
        f"{_num(s['mean'], digits):>12}  "
        f"[{_num(s['ci95_low'], digits):>9}, {_num(s['ci95_high'], digits):>9}]"
    )


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


def format_periods(summary: dict[str, Any]) -> list[str]:
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
        t = p["transit_days_mean"]
        ci = (
            f"[{_num(t['ci95_low'])}, {_num(t['ci95_high'])}]"
            if t.get("ci95_low") is not None
            else ""
        )
        b = p.get("bottleneck") or {}
        where = f"{b['element']} {_pct(b['utilisation'])}" if b.get("element") else "-"
        if not p["measured_days"]:
            where = "outside the measured period"
        lines.append(
            f"{period_name(pid, p)[:29]:<30}"
            f"{date_span(p['measured_from_date'], p['measured_to_date']):<26}"
            f"{_num(p['throughput_teu_per_week']['mean']):>9}{_num(t['mean']):>13}  {ci:<15}"
            f"{_num(p['transit_days_p50']['mean']):>6}{_num(p['transit_days_p95']['mean']):>6}"
            f"{_num((p.get('en_route_transit_days_mean') or {}).get('mean')):>9}  {where}"
        )
    return lines


def _start_text(summary: dict[str, Any]) -> str:
    start = summary.get("start_date")
    if not start:
        return ""
    return f" from {start}" + ("" if summary.get("dated") else " (nominal)")


def format_summary(summary: dict[str, Any], out_dir: str | None = None) -> str:
    """Multi-line text: headline KPIs with CIs, a per-node table, the bottleneck."""
    k = summary["kpis"]
    lines = [
        f"Scenario {summary['scenario']['name']}: {summary['replications']} replication(s), "
        f"seed {summary['seed']}, horizon {summary['horizon_days']:g} d "
        f"(warm-up {summary['warmup_days']:g} d)" + _start_text(summary),
        f"Study flows: {', '.join(summary['study_flows'])}",
        "",
        f"{'KPI':<34}{'mean':>12}  {'95% CI':>23}",
        f"{'Throughput, study (TEU/week)':<34}{_ci(k['throughput_teu_per_week'])}",
        f"{'Transit mean, study (days)':<34}{_ci(k['transit_days_mean'])}",
        f"{'Transit median, study (days)':<34}{_ci(k['transit_days_p50'])}",
        f"{'Transit P95, study (days)':<34}{_ci(k['transit_days_p95'])}",
        f"{'Created, all flows (TEU)':<34}{_ci(k['created_teu'], 0)}",
        f"{'Delivered, all flows (TEU)':<34}{_ci(k['delivered_teu'], 0)}",
        f"{'In system at end (TEU)':<34}{_ci(k['in_system_teu_end'], 0)}",
    ]
    share = k["cohort_inside_share"]["mean"]
    if share is not None:
        lines.append(
            f"{'Post-warm-up TEU still inside':<34}{100 * share:>11.1f}%  "
            "(transit KPIs flagged as biased above 5%)"
        )
    check = summary.get("warmup_check")
    if check and not check["ok"]:
        lines.append(
            "WARNING warm-up may be too short: MSER-5 suggests "
            f"{check['suggested_warmup_days']:.0f} d, the scenario uses "
            f"{check['warmup_days']:.0f} d"
        )
    if summary["transit_biased"]:
        lines.append(f"WARNING transit KPIs biased: {summary['transit_bias_note']}")
    lines += [
        "",
        f"{'Node':<24}{'wait (h)':>10}{'TEU there':>11}{'utilisation':>13}  binding resource",
    ]
    for _nid, n in summary["nodes"].items():
        lines.append(
            f"{n['label'][:23]:<24}{_num(n['wait_h_mean']['mean']):>10}"
            f"{_num(n['queue_teu_mean']['mean'], 0):>11}{_pct(n['utilisation']):>13}  "
            f"{n['utilisation_of'] or '-'}"
        )
    others = []
    for section in ("fleets", "legs", "wagon_pools"):
        for ident, v in summary[section].items():
            if v["utilisation"]["mean"] is not None:
                slots = " of timetable slots" if v.get("utilisation_of") == "slots" else ""
                others.append(f"{section}.{ident} {_pct(v['utilisation'])}{slots}")
    if others:
        lines += ["", "Other stages (utilisation): " + "; ".join(others)]
    b = summary["bottleneck"]
    if b["element"]:
        lines += ["", f"Bottleneck: {b['element']} (utilisation {_pct(b['utilisation'])})"]
    table = format_periods(summary)
    if table:
        lines += ["", *table]
    for g in summary["gridlock"]:
        lines.append(
            f"GRIDLOCK in replication {g['replication']} since day {g['since_day']:.1f}: "
            + "; ".join(g["where"])
        )
    for c in summary.get("closed_at_horizon") or []:
        lines.append(
            f"CLOSED AT THE HORIZON in replication {c['replication']} (nothing moved since day "
            f"{c['since_day']:.1f}, not a gridlock): " + "; ".join(c["where"])
        )
    if out_dir:
        lines += ["", f"Results written to {out_dir}"]
    return "\n".join(lines)
