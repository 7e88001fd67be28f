"""Tornado plots of a sensitivity analysis (one PNG per KPI).

``write_sensitivity_plots(result, out_dir)`` takes the dict of
:func:`sim.experiments.sensitivity.run_sensitivity` and writes ``sensitivity_<kpi>.png`` per KPI:

* one-at-a-time (``oat``): a tornado — for each parameter, the change of the KPI from the
  base run when the parameter goes to its low setting (blue) and to its high setting
  (orange), largest swing on top; a swing whose paired 95% CI includes 0 is drawn faded;
* Morris (``morris``): ``mu*`` (mean |elementary effect|, KPI units per low->high range)
  per parameter as bars, with ``sigma`` marked.

Built on :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from sim.experiments.sensitivity import KPI_LABELS, ranked, significant

DPI = 120
C_LOW = "#2c7bb6"
C_HIGH = "#e66101"
C_SIGMA = "#333333"
FADED = 0.35
UTIL_MAX = 1.0  # upper end of a utilisation axis
SUBTITLE_CHARS = 110  # wrap width of the grey line under the title (fits the axes)


def _fmt(x: float) -> str:
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _param_label(row: dict[str, Any]) -> str:
    unit = row["unit"].replace(" (mean)", ", mean")
    return f"{row['parameter']}\n{_fmt(row['x_low'])} – {_fmt(row['x_high'])} {unit}"


def _kpi_axis(kpi: str) -> tuple[str, str]:
    label, unit = KPI_LABELS.get(kpi, (kpi, ""))
    return label, unit


def _is_share(kpi: str, unit: str) -> bool:
    """A KPI that is a share of capacity or of TEU (its axis stops at 1)."""
    return kpi.endswith("utilisation") or unit.startswith("share")


def _subtitle(meta: dict[str, Any]) -> str:
    n = meta["replications"]
    return (
        f"scenario '{meta['scenario']}', {n} replication{'s' if n != 1 else ''} per variant with "
        f"common random numbers, horizon {meta['horizon_days']:g} d "
        f"(warm-up {meta['warmup_days']:g} d)"
    )


def tornado_figure(result: dict[str, Any], kpi: str) -> Figure:
    """The OAT tornado of one KPI (largest |swing| on top)."""
    meta = result["meta"]
    rows = ranked(result["rows"], kpi)
    label, unit = _kpi_axis(kpi)
    base = rows[0]["kpi_base"] if rows else 0.0
    base = 0.0 if base is None else base
    height = 1.6 + 0.55 * max(len(rows), 1)
    fig = Figure(figsize=(11, height), layout="constrained")
    ax = fig.add_subplot()
    n = len(rows)
    left = right = 0.0
    for i, r in enumerate(rows):
        y = n - 1 - i
        alpha = 1.0 if significant(r) else FADED
        for value, color, dy in ((r["kpi_low"], C_LOW, 0.18), (r["kpi_high"], C_HIGH, -0.18)):
            if value is None:
                continue
            d = value - base
            left, right = max(left, -d), max(right, d)
            ax.barh(y + dy, d, left=base, height=0.34, color=color, alpha=alpha, lw=0)
            ax.annotate(
                _fmt(value),
                (value, y + dy),
                xytext=(4 if d >= 0 else -4, 0),
                textcoords="offset points",
                ha="left" if d >= 0 else "right",
                va="center",
                fontsize=8.5,
                color="#222222",
            )
    total = (left + right) or max(abs(base) * 0.05, 1e-6)
    lo, hi = base - left - 0.14 * total, base + right + 0.14 * total
    if _is_share(kpi, unit):  # a utilisation or share never runs past 1 (nor below 0)
        lo, hi = max(lo, 0.0), min(hi, UTIL_MAX)
    ax.set_xlim(lo, hi)
    ax.axvline(base, color="black", lw=1.2)
    ax.set_yticks(range(n))
    ax.set_yticklabels([_param_label(r) for r in reversed(rows)], fontsize=9)
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlabel(f"{label} ({unit}); vertical line: base = {_fmt(base)}", fontsize=10)
    ax.grid(axis="x", color="#dddddd", lw=0.8)
    ax.set_axisbelow(True)
    handles = [
        Patch(color=C_LOW, label="parameter at its low setting"),
        Patch(color=C_HIGH, label="parameter at its high setting"),
        Patch(color="#999999", alpha=FADED, label="faded: paired 95% CI of the swing includes 0"),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=8.5, framealpha=0.9)
    fig.suptitle(
        f"What moves the {label[0].lower() + label[1:]} ({unit}): one-at-a-time sensitivity",
        fontsize=13,
        fontweight="bold",
    )
    sub = _subtitle(meta)
    if kpi == "bottleneck_utilisation":
        seen = sorted({v["bottleneck"] for v in result["variants"] if v.get("bottleneck")})
        sub += "; most utilised stage: " + ", ".join(seen)
    ax.set_title(textwrap.fill(sub, SUBTITLE_CHARS), fontsize=9, color="#555555")
    return fig


def morris_figure(result: dict[str, Any], kpi: str) -> Figure:
    """Morris ``mu*`` bars (largest on top) with ``sigma`` markers, for one KPI."""
    meta = result["meta"]
    rows = ranked(result["rows"], kpi)
    label, unit = _kpi_axis(kpi)
    fig = Figure(figsize=(11, 1.6 + 0.55 * max(len(rows), 1)), layout="constrained")
    ax = fig.add_subplot()
    n = len(rows)
    for i, r in enumerate(rows):
        y = n - 1 - i
        mu_star = r["mu_star"] or 0.0
        color = C_HIGH if (r["mu"] or 0) >= 0 else C_LOW
        ax.barh(y + 0.12, mu_star, height=0.44, color=color)
        ax.annotate(
            _fmt(mu_star), (mu_star, y + 0.12), xytext=(4, 0), textcoords="offset points",
            va="center", fontsize=8.5,
        )
        if r["sigma"] is not None and math.isfinite(r["sigma"]):
            ax.barh(y - 0.25, r["sigma"], height=0.14, color=C_SIGMA)
            ax.annotate(
                f"σ {_fmt(r['sigma'])}", (r["sigma"], y - 0.25), xytext=(4, 0),
                textcoords="offset points", va="center", fontsize=7.5, color=C_SIGMA,
            )
    ax.set_yticks(range(n))
    ax.set_yticklabels([_param_label(r) for r in reversed(rows)], fontsize=9)
    ax.set_xlabel(f"{label}: mean |elementary effect| mu* ({unit} per low→high range)")
    ax.set_ylim(-0.6, n - 0.4)
    ax.grid(axis="x", color="#dddddd", lw=0.8)
    ax.set_axisbelow(True)
    handles = [
        Patch(color=C_HIGH, label="mu* (mean effect mu >= 0: KPI rises with the parameter)"),
        Patch(color=C_LOW, label="mu* (mu < 0: KPI falls)"),
        Patch(color=C_SIGMA, label="sigma: spread of the effects (non-linearity, interactions)"),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=8.5, framealpha=0.9)
    fig.suptitle(
        f"What moves the {label[0].lower() + label[1:]} ({unit}): Morris elementary effects",
        fontsize=13,
        fontweight="bold",
    )
    sub = _subtitle(meta) + f", {meta['trajectories']} trajectories"
    ax.set_title(textwrap.fill(sub, SUBTITLE_CHARS), fontsize=9, color="#555555")
    return fig


def plot_name(kpi: str) -> str:
    """File name of a KPI's plot."""
    return "sensitivity_" + kpi.replace(".", "_") + ".png"


def write_sensitivity_plots(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write one PNG per KPI into ``out_dir`` (created); returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    build = tornado_figure if result["meta"]["method"] == "oat" else morris_figure
    paths = []
    for kpi in result["meta"]["kpis"]:
        fig = build(result, kpi)
        FigureCanvasAgg(fig)
        path = out_dir / plot_name(kpi)
        fig.savefig(path, dpi=DPI, facecolor="white")
        paths.append(path)
    return paths
