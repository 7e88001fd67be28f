"""The readable summary table ``corridor run`` prints."""

from __future__ import annotations

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


def format_summary(summary: dict[str, Any], out_dir: str | None = None) -> str:
    """Multi-line text: headline KPIs with CIs, a per-node table, the bottleneck."""
    k = summary["kpis"]
    lines = [
        f"Scenario {summary['scenario']['name']}: {summary['replications']} replication(s), "
        f"seed {summary['seed']}, horizon {summary['horizon_days']:g} d "
        f"(warm-up {summary['warmup_days']:g} d)",
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
                others.append(f"{section}.{ident} {_pct(v['utilisation'])}")
    if others:
        lines += ["", "Other stages (utilisation): " + "; ".join(others)]
    b = summary["bottleneck"]
    if b["element"]:
        lines += ["", f"Bottleneck: {b['element']} (utilisation {_pct(b['utilisation'])})"]
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
