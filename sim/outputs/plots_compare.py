"""Plots of a comparison of scenarios (``comparison.json``) as PNG files.

* :func:`kpi_bars`     one panel per KPI, a bar per scenario with its 95% CI,
  the base scenario highlighted and alternatives coloured by the (corrected)
  significance and direction of their paired difference to the base;
* :func:`forest`       paired differences (alternative − base) with 95% CIs,
  one panel per KPI, a zero line, the "better" side shaded, significant
  differences (after the multiple-test correction) filled and labelled;
* :func:`transit_cdfs` empirical CDFs of the study-flow transit times (days)
  of each scenario, overlaid, with the median and P95 marked.

Also the KPI vocabulary shared by the report (:data:`KPI_INFO`,
:func:`kpi_label`, :func:`kpi_of`, :func:`fmt_value`). Figures use the
:class:`matplotlib.figure.Figure` API with the Agg canvas, as :mod:`sim.outputs.plots`.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from sim.outputs.plots import C_BOTTLENECK, DPI, _new_figure, _save, message_figure

__all__ = [
    "DPI",
    "KPI_INFO",
    "better_of",
    "fmt_value",
    "forest",
    "kpi_bars",
    "kpi_label",
    "kpi_of",
    "transit_cdfs",
]

C_BASE = "#3a3a3a"
C_ALT = "#9fbfdf"  # alternative, no significant difference
C_BETTER = "#1a9850"
C_WORSE = C_BOTTLENECK
C_BETTER_SIDE = "#e5f5e0"
SCENARIO_COLOURS = (
    "#1f5f9e",
    "#e08214",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
    "#d62728",
)

# key -> (label, unit, which direction is better: "higher" | "lower" | None, kind)
# kind: "share" values are fractions shown as percent, "count" big numbers, "num" the rest
KPI_INFO: dict[str, tuple[str, str, str | None, str]] = {
    "throughput_teu_per_week": ("Study-flow throughput", "TEU/week", "higher", "num"),
    "transit_days_mean": ("Transit time, mean", "days", "lower", "num"),
    "transit_days_p50": ("Transit time, median", "days", "lower", "num"),
    "transit_days_p95": ("Transit time, P95", "days", "lower", "num"),
    "bottleneck_utilisation": ("Bottleneck utilisation ρ", "share of capacity", "lower", "share"),
    "cohort_inside_share": ("Post-warm-up TEU still inside", "share of TEU", "lower", "share"),
    "created_teu": ("Created, all flows", "TEU", None, "count"),
    "delivered_teu": ("Delivered, all flows", "TEU", "higher", "count"),
    "in_system_teu_end": ("In system at the end", "TEU", "lower", "count"),
    "corridor_capacity_teu_per_year": ("Corridor capacity", "TEU/yr", "higher", "count"),
    "cost_usd_per_teu": ("Cost per TEU, study flows", "USD/TEU", "lower", "num"),
    "cost_per_teu_usd": ("Cost per TEU, study flows", "USD/TEU", "lower", "num"),
    "co2_kg_per_teu": ("CO₂ per TEU, study flows", "kg/TEU", "lower", "num"),
}


def kpi_label(kpi: str, unit: bool = True) -> str:
    """Readable name of a KPI key, with its unit in parentheses (``unit=True``)."""
    name, u, _, _ = KPI_INFO.get(kpi, (kpi.replace("_", " "), "", None, "num"))
    return f"{name} ({u})" if unit and u else name


def better_of(kpi: str, comparison: Mapping[str, Any] | None = None) -> str | None:
    """ "higher", "lower" or None: from ``comparison["kpi_better"]``, else the built-in table."""
    if comparison:
        value = (comparison.get("kpi_better") or {}).get(kpi)
        if value in ("higher", "lower"):
            return value
    return KPI_INFO.get(kpi, ("", "", None, "num"))[2]


def kpi_of(summary: Mapping[str, Any], kpi: str) -> dict[str, Any] | None:
    """``{mean, ci95_low, ci95_high, n}`` of ``kpi`` in a run summary (None if absent).

    ``bottleneck_utilisation`` falls back to ``summary["bottleneck"]["utilisation"]``.
    """
    value = (summary.get("kpis") or {}).get(kpi)
    if value is None and kpi == "bottleneck_utilisation":
        value = (summary.get("bottleneck") or {}).get("utilisation")
    return value if isinstance(value, Mapping) else None


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(float(x))


def fmt_value(kpi: str, x: float | None, signed: bool = False, unit: bool = True) -> str:
    """A KPI value as text: shares in percent (points for differences), others by magnitude.

    ``unit=False`` drops the "%"/"pp" suffix of shares (for CI bounds next to a value).
    """
    if not _finite(x):
        return "–"
    x = float(x)
    kind = KPI_INFO.get(kpi, ("", "", None, "num"))[3]
    sign = "+" if signed else ""
    if kind == "share":
        return f"{100 * x:{sign}.1f}" + ("" if not unit else " pp" if signed else "%")
    mag = abs(x)
    digits = 0 if mag >= 100 or kind == "count" else 1 if mag >= 10 else 2
    return f"{x:{sign},.{digits}f}"


def _order(comparison: Mapping[str, Any]) -> list[str]:
    order = list(comparison.get("order") or comparison.get("scenarios") or [])
    base = comparison.get("base")
    if base in order:
        order.remove(base)
        order.insert(0, base)
    return order


def _alternatives(comparison: Mapping[str, Any]) -> list[str]:
    base = comparison.get("base")
    diffs = comparison.get("differences") or {}
    alts = [s for s in _order(comparison) if s != base and s in diffs]
    return alts + [s for s in diffs if s not in alts and s != base]


def _verdict(diff: Mapping[str, Any] | None, better: str | None) -> str | None:
    """ "better" / "worse" for a significant difference in a known direction, else None."""
    if not diff or not diff.get("significant") or not _finite(diff.get("mean")) or not better:
        return None
    d = float(diff["mean"])
    if d == 0:
        return None
    return "better" if (d > 0) == (better == "higher") else "worse"


def _caption(comparison: Mapping[str, Any]) -> str:
    reps = comparison.get("replications")
    parts = []
    if reps:
        parts.append(f"{reps} paired replications per scenario (common random numbers)")
    if comparison.get("seed") is not None:
        parts.append(f"seed {comparison['seed']}")
    if comparison.get("horizon_days") is not None:
        warm = comparison.get("warmup_days")
        parts.append(
            f"horizon {comparison['horizon_days']:g} d"
            + (f" incl. {warm:g} d warm-up" if _finite(warm) else "")
        )
    return "  |  ".join(parts)


def _write(fig, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _save(fig, out)
    return out


# --------------------------------------------------------------------------------------
# KPI bars
# --------------------------------------------------------------------------------------


def result_kpis(comparison: dict) -> list[str]:
    """The comparison's KPIs less its ``input_kpis`` (inputs such as cost and CO2 per TEU
    without markets are the scenario's numbers, not results: no bar, no difference); a
    file written before ``input_kpis``: cost and CO2 per TEU, as
    :func:`sim.outputs.answer.input_kpis`."""
    listed = comparison.get("input_kpis")
    if not isinstance(listed, list):
        from sim.experiments.economics import INPUT_KPIS

        listed = list(INPUT_KPIS)
    inputs = set(listed)
    return [k for k in comparison.get("kpis") or [] if k not in inputs]


def kpi_bars(comparison: dict, out: Path) -> Path:
    """One panel per KPI: a horizontal bar per scenario (mean) with its 95% CI whiskers.

    Units are the KPIs' own (TEU/week, days, share of capacity). The base
    scenario is dark; an alternative is green/red when its paired difference
    to the base is significant (after the correction) and better/worse.
    """
    order = _order(comparison)
    kpis = result_kpis(comparison)
    scen = comparison.get("scenarios") or {}
    base = comparison.get("base")
    diffs = comparison.get("differences") or {}
    if not order or not kpis:
        return message_figure("KPIs by scenario", "No scenarios or KPIs in the comparison", out)
    ncols = min(3, len(kpis))
    nrows = math.ceil(len(kpis) / ncols)
    n = len(order)
    fig = _new_figure(4.6 * ncols + 1.6, 1.4 + nrows * (0.9 + 0.42 * n))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False, sharey=True)).ravel()
    y = np.arange(n)
    names = [f"{s}\n(base)" if s == base else s for s in order]
    for ax, kpi in zip(axes, kpis, strict=False):
        better = better_of(kpi, comparison)
        means, los, his, colours, texts = [], [], [], [], []
        for s in order:
            v = kpi_of((scen.get(s) or {}).get("summary") or {}, kpi) or {}
            m = float(v["mean"]) if _finite(v.get("mean")) else math.nan
            lo = float(v["ci95_low"]) if _finite(v.get("ci95_low")) else math.nan
            hi = float(v["ci95_high"]) if _finite(v.get("ci95_high")) else math.nan
            means.append(m)
            los.append(lo)
            his.append(hi)
            d = (diffs.get(s) or {}).get(kpi)
            verdict = _verdict(d, better)
            if s == base:
                colours.append(C_BASE)
            else:
                colours.append({"better": C_BETTER, "worse": C_WORSE}.get(verdict or "", C_ALT))
            txt = fmt_value(kpi, m)
            if s != base and d and _finite(d.get("mean")):
                txt += f"  (Δ {fmt_value(kpi, d['mean'], signed=True)}"
                txt += "*)" if d.get("significant") else ")"
            texts.append(txt)
        mean_arr = np.array(means)
        ok = np.isfinite(mean_arr)
        low, high = 0.0, 1.0 if KPI_INFO.get(kpi, ("", "", None, ""))[3] == "share" else None
        los = [max(v, low) if math.isfinite(v) else v for v in los]  # what the KPI can be
        his = [min(v, high) if high is not None and math.isfinite(v) else v for v in his]
        err_lo = np.where(np.isfinite(los), mean_arr - np.array(los), 0.0)
        err_hi = np.where(np.isfinite(his), np.array(his) - mean_arr, 0.0)
        ax.barh(
            y[ok],
            mean_arr[ok],
            color=[c for c, k in zip(colours, ok, strict=True) if k],
            height=0.62,
            xerr=[np.maximum(err_lo[ok], 0), np.maximum(err_hi[ok], 0)],
            error_kw={"ecolor": "#222222", "capsize": 3, "lw": 1.1},
            zorder=3,
        )
        share = KPI_INFO.get(kpi, ("", "", None, ""))[3] == "share"
        top = np.nanmax(np.where(np.isfinite(his), his, mean_arr)) if ok.any() else 1.0
        xlim = 1.0 if share else max(float(top), 1e-9) * 1.62  # a share stops at 100%
        if share:
            ax.xaxis.set_major_formatter(lambda v, _pos: f"{100 * v:.0f}%")
        for i in range(n):
            if not ok[i]:
                ax.text(0, y[i], "  no value", va="center", fontsize=8, color="#888888")
                continue
            end = min(his[i] if np.isfinite(his[i]) else means[i], xlim)
            bold = "bold" if order[i] == base else "normal"
            # ~0.0125 axis units per character at this width (0.019 on a 0-100% axis, whose
            # end is not padded): else inside the bar
            per_char = 0.019 if share else 0.0125
            if end + xlim * (0.015 + per_char * len(texts[i])) <= xlim:
                ax.text(end + xlim * 0.015, y[i], texts[i], va="center", fontsize=8.5,
                        fontweight=bold, zorder=4)
            else:
                ax.text(xlim * 0.015, y[i], texts[i], va="center", fontsize=8.5,
                        fontweight=bold, zorder=4,
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8,
                              "pad": 1.0})
        ax.set_xlim(0, xlim)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        if KPI_INFO.get(kpi, ("", "", None, ""))[3] == "count" and xlim >= 20_000:
            ax.xaxis.set_major_formatter(lambda v, _pos: f"{v / 1000:,.0f}k" if v else "0")
        ax.set_title(kpi_label(kpi, unit=False), fontsize=11, loc="left")
        arrow = {"higher": "  (higher is better →)", "lower": "  (← lower is better)"}
        ax.set_xlabel(
            KPI_INFO.get(kpi, ("", "", None, ""))[1] + arrow.get(better or "", ""), fontsize=9
        )
        ax.grid(True, axis="x", alpha=0.3, zorder=0)
        if ok.any() and order[0] == base:
            ax.axhspan(-0.5, 0.5, color="#eeeeee", zorder=0)
    for ax in axes[len(kpis) :]:
        ax.set_visible(False)
    axes[0].set_yticks(y, names)
    axes[0].set_ylim(n - 0.5, -0.5)
    for ax in axes:
        ax.tick_params(axis="y", labelsize=10)
    handles = [
        Patch(color=C_BASE, label=f"base scenario ({base})"),
        Patch(color=C_BETTER, label="significantly better than base"),
        Patch(color=C_WORSE, label="significantly worse than base"),
        Patch(color=C_ALT, label="no significant difference"),
        Line2D([], [], color="#222222", marker="|", ls="-", lw=1.1,
               label="95% CI of the mean across replications"),
    ]
    corr = comparison.get("correction") or "corrected"
    note = f"Δ = paired difference to the base; * significant after {corr}"
    cap = _caption(comparison)
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=5,
        fontsize=9,
        frameon=False,
        title=note + (f"\n{cap}" if cap else ""),
        title_fontsize=8.5,
    )
    fig.suptitle(
        "KPIs by scenario (mean with 95% confidence interval)", fontsize=13, fontweight="bold"
    )
    return _write(fig, out)


# --------------------------------------------------------------------------------------
# Forest plot of paired differences
# --------------------------------------------------------------------------------------


def forest(comparison: dict, out: Path) -> Path:
    """Paired differences alternative − base (KPI units) with 95% CIs, one panel per KPI.

    A filled marker is significant after the multiple-test correction (green:
    better, red: worse); hollow grey is not. The better side of zero is shaded.
    Next to each row: the difference, its CI and the adjusted p-value.
    """
    kpis = result_kpis(comparison)
    alts = _alternatives(comparison)
    diffs = comparison.get("differences") or {}
    base = comparison.get("base")
    if not kpis or not alts:
        return message_figure(
            "Differences to the base scenario", "No alternatives to compare with the base", out
        )
    n = len(alts)
    heights = [0.55 + 0.36 * n] * len(kpis)
    fig = _new_figure(12.0, 1.5 + sum(heights) + 0.35 * len(kpis))
    grid = fig.add_gridspec(len(kpis), 2, width_ratios=[2.6, 1.0], height_ratios=heights)
    y = np.arange(n)
    for k, kpi in enumerate(kpis):
        ax = fig.add_subplot(grid[k, 0])
        tx = fig.add_subplot(grid[k, 1], sharey=ax)
        better = better_of(kpi, comparison)
        vals = []
        for i, alt in enumerate(alts):
            d = (diffs.get(alt) or {}).get(kpi) or {}
            m, lo, hi = d.get("mean"), d.get("ci95_low"), d.get("ci95_high")
            vals += [v for v in (m, lo, hi) if _finite(v)]
            verdict = _verdict(d, better)
            colour = {"better": C_BETTER, "worse": C_WORSE}.get(verdict or "", "#8a8a8a")
            if _finite(lo) and _finite(hi):
                ax.hlines(i, lo, hi, color=colour, lw=2.2, zorder=3)
                ax.vlines([lo, hi], i - 0.18, i + 0.18, color=colour, lw=1.5, zorder=3)
            if _finite(m):
                sig = bool(d.get("significant"))
                ax.plot(
                    m,
                    i,
                    marker="D" if sig else "o",
                    ms=8 if sig else 7,
                    mfc=colour if sig else "white",
                    mec=colour,
                    mew=1.8,
                    zorder=4,
                )
                ci = (
                    f"[{fmt_value(kpi, lo, True, False)}, {fmt_value(kpi, hi, True, False)}]"
                    if _finite(lo) and _finite(hi)
                    else "(no CI)"
                )
                p = d.get("p_adjusted", d.get("p_value"))
                ptxt = (
                    f"{p:.3f}" if _finite(p) and p >= 0.001 else ("< 0.001" if _finite(p) else "–")
                )
                label = f"{fmt_value(kpi, m, True)} {ci}"
                tx.text(
                    0.0,
                    i,
                    label,
                    va="center",
                    fontsize=9,
                    color=colour if sig else "#333333",
                    fontweight="bold" if sig else "normal",
                )
                tx.text(
                    0.97,
                    i,
                    ptxt + (" *" if sig else ""),
                    va="center",
                    ha="right",
                    fontsize=8.5,
                    color="#555555",
                )
            else:
                tx.text(0.0, i, "no value", va="center", fontsize=9, color="#999999")
        base_stat = (
            kpi_of(((comparison.get("scenarios") or {}).get(base) or {}).get("summary") or {}, kpi)
            or {}
        )
        typical = abs(float(base_stat["mean"])) if _finite(base_stat.get("mean")) else 1.0
        span = max([abs(v) for v in vals] + [0.0])
        # differences of ~0 (identical KPIs): keep a scale of 0.01% of the KPI, not 1e-12
        lim = max(span * 1.15, 1e-4 * max(typical, 1e-6))
        ax.set_xlim(-lim, lim)
        ax.xaxis.set_major_locator(MaxNLocator(9, symmetric=True))
        if KPI_INFO.get(kpi, ("", "", None, ""))[3] == "count" and lim >= 20_000:
            ax.xaxis.set_major_formatter(lambda v, _pos: f"{v / 1000:+,.0f}k" if v else "0")
        ax.axvline(0, color="#222222", lw=1.2, zorder=2)
        if better in ("higher", "lower"):
            lo_side, hi_side = (0, lim) if better == "higher" else (-lim, 0)
            ax.axvspan(lo_side, hi_side, color=C_BETTER_SIDE, zorder=0, lw=0)
            ax.text(
                1.0,
                1.02,
                "higher is better →" if better == "higher" else "← lower is better",
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize=9,
                color=C_BETTER,
                fontweight="bold",
            )
        unit = KPI_INFO.get(kpi, ("", "", None, ""))[1]
        if KPI_INFO.get(kpi, ("", "", None, ""))[3] == "share":
            ax.xaxis.set_major_formatter(lambda v, _pos: f"{100 * v:+.0f}" if v else "0")
            unit = "percentage points"
        ax.set_title(kpi_label(kpi, unit=False), fontsize=11, loc="left", fontweight="bold")
        ax.set_xlabel(f"Δ vs {base} ({unit})" if unit else f"Δ vs {base}", fontsize=9)
        ax.set_yticks(y, alts)
        ax.set_ylim(n - 0.5, -0.5)
        ax.grid(True, axis="x", alpha=0.3, zorder=1)
        tx.axis("off")
        tx.set_xlim(0, 1)
        if k == 0:
            for x, ha, txt in ((0.0, "left", "Δ mean [95% CI]"), (0.97, "right", "adjusted p")):
                tx.text(
                    x,
                    1.02,
                    txt,
                    transform=tx.transAxes,
                    ha=ha,
                    va="bottom",
                    fontsize=9,
                    color="#444444",
                    fontweight="bold",
                )
    handles = [
        Line2D([], [], color=C_BETTER, marker="D", mfc=C_BETTER, lw=2, label="significant, better"),
        Line2D([], [], color=C_WORSE, marker="D", mfc=C_WORSE, lw=2, label="significant, worse"),
        Line2D([], [], color="#8a8a8a", marker="o", mfc="white", lw=2, label="not significant"),
        Patch(color=C_BETTER_SIDE, label="better side of zero"),
    ]
    corr = comparison.get("correction") or "multiple-test correction"
    cap = _caption(comparison)
    title = "\n".join(textwrap.wrap(f"* significant after {corr}", 120))
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=4,
        fontsize=9,
        frameon=False,
        title=title + (f"\n{cap}" if cap else ""),
        title_fontsize=8.5,
    )
    fig.suptitle(
        f"Paired differences to the base scenario '{base}' (alternative − base, 95% CI)",
        fontsize=13,
        fontweight="bold",
    )
    return _write(fig, out)


# --------------------------------------------------------------------------------------
# Transit-time CDFs
# --------------------------------------------------------------------------------------


def transit_cdfs(samples: dict[str, np.ndarray], out: Path, base: str | None = None) -> Path:
    """Empirical CDFs of study-flow transit times (days), one line per scenario.

    ``samples`` maps scenario name -> pooled transit times in days (any
    order; NaN dropped). The first scenario (or ``base``) is drawn dark and
    thicker. Medians and P95s are marked on each line and listed in the legend.
    """
    clean = {}
    for name, arr in samples.items():
        a = np.asarray(arr, dtype=float).ravel()
        clean[name] = np.sort(a[np.isfinite(a)])
    if base is None and clean:
        base = next(iter(clean))
    if not any(len(a) for a in clean.values()):
        return message_figure("Study-flow transit time", "No deliveries of the study flows", out)
    fig = _new_figure(10.5, 5.8)
    ax = fig.add_subplot()
    lo = min(float(a[0]) for a in clean.values() if len(a))
    hi = max(float(np.percentile(a, 99.5)) for a in clean.values() if len(a))
    k = 0
    for name, a in clean.items():
        if len(a) == 0:
            ax.plot([], [], color="#bbbbbb", label=f"{name}: no deliveries")
            continue
        if name == base:
            colour, lw = C_BASE, 2.8
        else:
            colour, lw = SCENARIO_COLOURS[k % len(SCENARIO_COLOURS)], 1.9
            k += 1
        p = np.arange(1, len(a) + 1) / len(a)
        med, p95 = float(np.percentile(a, 50)), float(np.percentile(a, 95))
        label = f"{name}{' (base)' if name == base else ''}: median {med:.1f} d, P95 {p95:.1f} d"
        label += f"  (n = {len(a):,})"
        ax.step(
            np.concatenate(([a[0]], a)),
            np.concatenate(([0.0], p)),
            where="post",
            color=colour,
            lw=lw,
            label=label,
            zorder=3 if name == base else 2,
        )
        ax.plot(
            [med, p95],
            [0.5, 0.95],
            ls="none",
            marker="o",
            ms=6,
            mfc="white",
            mec=colour,
            mew=1.8,
            zorder=4,
        )
    for q, txt in ((0.5, "median"), (0.95, "P95")):
        ax.axhline(q, color="#999999", lw=0.9, ls=":", zorder=1)
        ax.text(
            1.0,
            q,
            f" {txt}",
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=8.5,
            color="#666666",
        )
    pad = max((hi - lo) * 0.03, 0.25)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{100 * v:.0f}%")
    ax.set_xlabel("Transit time, creation → delivery (days)")
    ax.set_ylabel("Share of containers delivered within (cumulative)")
    ax.grid(True, alpha=0.3)
    ax.legend(
        loc="lower right",
        fontsize=9,
        framealpha=0.95,
        title="Scenario: pooled over replications",
        title_fontsize=9,
    )
    fig.suptitle(
        "Study-flow transit time distribution by scenario (empirical CDF)",
        fontsize=13,
        fontweight="bold",
    )
    ax.set_title(
        "Curves further left deliver faster; x clipped at the largest P99.5",
        fontsize=9,
        color="#444444",
        loc="left",
    )
    return _write(fig, out)
