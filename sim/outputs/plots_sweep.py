"""Plots of a parameter sweep (``sweep.json``) as PNG files.

* :func:`response` a KPI against the first varied parameter: one line per
  value of the other varied parameters with a 95% CI band (factorial
  designs), or points with CI error bars coloured by the second parameter
  (Latin-hypercube designs);
* :func:`heatmap`  the mean KPI over the grid of the first two varied
  parameters, cells annotated with mean and CI, failed points hatched grey.

Figures use the :class:`matplotlib.figure.Figure` API with the Agg canvas,
as :mod:`sim.outputs.plots`.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from sim.outputs.plots import C_BOTTLENECK, _new_figure, message_figure
from sim.outputs.plots_compare import (
    SCENARIO_COLOURS,
    _write,
    better_of,
    fmt_value,
    kpi_label,
)

C_FAILED = "#d0d0d0"

__all__ = ["heatmap", "param_label", "response"]


def param_label(key: str) -> str:
    """A varied key as a short axis label: ``fleets.caspian_feeders.vessels`` ->
    ``vessels — fleets.caspian_feeders``."""
    head, _, last = key.rpartition(".")
    return f"{last.replace('_', ' ')} — {head}" if head else key.replace("_", " ")


def _num(x: Any) -> float | None:
    if isinstance(x, bool):
        return float(x)
    if isinstance(x, int | float) and math.isfinite(float(x)):
        return float(x)
    return None


def _fmt_param(x: Any) -> str:
    v = _num(x)
    if v is None:
        return str(x)
    return f"{v:,.0f}" if v == int(v) and abs(v) < 1e15 else f"{v:,.3g}"


def _points(sweep: Mapping[str, Any]) -> list[dict]:
    return [p for p in sweep.get("points") or [] if isinstance(p, Mapping)]


def _kpi(point: Mapping[str, Any], kpi: str) -> tuple[float | None, float | None, float | None]:
    if point.get("status", "ok") != "ok":
        return None, None, None
    v = (point.get("kpis") or {}).get(kpi) or {}
    return _num(v.get("mean")), _num(v.get("ci95_low")), _num(v.get("ci95_high"))


def _caption(sweep: Mapping[str, Any]) -> str:
    """One grey line: base, design, points, replications, failures."""
    pts = _points(sweep)
    failed = sum(1 for p in pts if p.get("status", "ok") != "ok")
    reps = {
        (v or {}).get("n")
        for p in pts
        for v in (p.get("kpis") or {}).values()
        if isinstance(v, Mapping)
    } - {None}
    parts = []
    if sweep.get("base"):
        parts.append(f"base '{sweep['base']}'")
    if sweep.get("design"):
        parts.append(f"{sweep['design']} design, {len(pts)} points")
    if reps:
        parts.append("replications per point: " + ", ".join(str(r) for r in sorted(reps)))
    parts.append("mean with 95% CI")
    if failed:
        parts.append(f"{failed} point(s) failed")
    return "  |  ".join(parts)


def _better_note(kpi: str, sweep: Mapping[str, Any]) -> str:
    better = better_of(kpi, sweep)
    return {"higher": "  (higher is better)", "lower": "  (lower is better)"}.get(better or "", "")


# --------------------------------------------------------------------------------------
# Response curves
# --------------------------------------------------------------------------------------


def response(sweep: dict, kpi: str, out: Path) -> Path:
    """The KPI (its own unit) against the first varied parameter, with 95% CIs.

    Factorial designs: one line per combination of the other varied
    parameters, with a CI band. LHS designs: a scatter with CI error bars,
    coloured by the second varied parameter. Failed points are marked ✕ on
    the x axis.
    """
    varied = list(sweep.get("varied") or [])
    pts = _points(sweep)
    title = kpi_label(kpi, unit=False)
    if varied:
        title += f" vs {param_label(varied[0])}"
    if not varied or not pts:
        return message_figure(title, "No varied parameter or no points in the sweep", out)
    x_key = varied[0]
    others = varied[1:]
    fig = _new_figure(10.5, 6.0)
    ax = fig.add_subplot()
    lhs = (sweep.get("design") or "").lower() == "lhs"
    failed_x = [
        _num((p.get("values") or {}).get(x_key)) for p in pts if p.get("status", "ok") != "ok"
    ]
    ok_pts = [p for p in pts if _kpi(p, kpi)[0] is not None]
    handles: list[Any] = []
    if lhs:
        colour_key = others[0] if others else None
        cvals = (
            [_num((p.get("values") or {}).get(colour_key)) for p in ok_pts] if colour_key else []
        )
        finite = [c for c in cvals if c is not None]
        norm = Normalize(min(finite), max(finite)) if finite and max(finite) > min(finite) else None
        cmap = colormaps["viridis"]
        for i, p in enumerate(ok_pts):
            x = _num((p.get("values") or {}).get(x_key))
            m, lo, hi = _kpi(p, kpi)
            if x is None or m is None:
                continue
            c = cvals[i] if colour_key else None
            colour = cmap(norm(c)) if norm is not None and c is not None else SCENARIO_COLOURS[0]
            yerr = [[m - lo], [hi - m]] if lo is not None and hi is not None else None
            ax.errorbar(
                x,
                m,
                yerr=yerr,
                fmt="o",
                color=colour,
                ms=6,
                capsize=3,
                lw=1.2,
                mec="#222222",
                mew=0.6,
                zorder=3,
            )
        if norm is not None:
            cb = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.01)
            cb.set_label(param_label(colour_key), fontsize=9)
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker="o",
                mfc=SCENARIO_COLOURS[0],
                mec="#222222",
                label="design point (whisker: 95% CI)",
            )
        )
    else:
        groups: dict[tuple, list[dict]] = {}
        for p in ok_pts:
            key = tuple((p.get("values") or {}).get(k) for k in others)
            groups.setdefault(key, []).append(p)
        for g, (key, members) in enumerate(sorted(groups.items(), key=lambda kv: _sort_key(kv[0]))):
            rows = []
            for p in members:
                x = _num((p.get("values") or {}).get(x_key))
                m, lo, hi = _kpi(p, kpi)
                if x is not None and m is not None:
                    rows.append((x, m, lo if lo is not None else m, hi if hi is not None else m))
            if not rows:
                continue
            rows.sort()
            xs, ms, los, his = (np.array(c) for c in zip(*rows, strict=True))
            colour = SCENARIO_COLOURS[g % len(SCENARIO_COLOURS)]
            label = (
                ", ".join(
                    f"{param_label(k).split(' — ')[0]} = {_fmt_param(v)}"
                    for k, v in zip(others, key, strict=True)
                )
                or "mean"
            )
            ax.fill_between(xs, los, his, color=colour, alpha=0.18, lw=0)
            ax.plot(xs, ms, color=colour, lw=2, marker="o", ms=5, label=label, zorder=3)
        handles, _ = ax.get_legend_handles_labels()
        handles.append(Patch(color="#888888", alpha=0.25, label="95% CI band"))
    if any(x is not None for x in failed_x):
        xs = [x for x in failed_x if x is not None]
        ax.plot(
            xs,
            [0] * len(xs),
            ls="none",
            marker="X",
            ms=10,
            color=C_BOTTLENECK,
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            zorder=5,
        )
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker="X",
                ms=9,
                color=C_BOTTLENECK,
                label="failed point (no result)",
            )
        )
    ax.set_xlabel(param_label(x_key))
    ax.set_ylabel(kpi_label(kpi) + _better_note(kpi, sweep))
    xs_all = sorted({x for p in pts if (x := _num((p.get("values") or {}).get(x_key))) is not None})
    if 1 < len(xs_all) <= 12 and not lhs:
        ax.set_xticks(xs_all, [_fmt_param(x) for x in xs_all])
    if kpi_label(kpi).endswith("(share of capacity)") or kpi.endswith("_share"):
        ax.yaxis.set_major_formatter(lambda v, _pos: f"{100 * v:.0f}%")
    ax.grid(True, alpha=0.3)
    if handles:
        title_txt = (
            ("other varied: " + ", ".join(param_label(k) for k in others))
            if others and not lhs
            else None
        )
        ax.legend(
            handles=handles,
            fontsize=9,
            framealpha=0.95,
            title=title_txt,
            title_fontsize=8.5,
            loc="best",
        )
    ax.set_title(_caption(sweep), fontsize=9, color="#444444", loc="left")
    fig.suptitle(title, fontsize=13, fontweight="bold")
    return _write(fig, out)


def _sort_key(key: Sequence[Any]) -> tuple:
    return tuple((0, _num(v)) if _num(v) is not None else (1, str(v)) for v in key)


# --------------------------------------------------------------------------------------
# Heat map
# --------------------------------------------------------------------------------------


def heatmap(sweep: dict, kpi: str, out: Path) -> Path:
    """Mean KPI over the grid of the first two varied parameters, cells annotated.

    Cells show the mean and its 95% CI; failed points are hatched grey and
    labelled "failed"; grid cells without a point are blank. With one varied
    parameter the map is a single row; an LHS design (no grid) falls back to
    :func:`response`-style points coloured by the KPI.
    """
    varied = list(sweep.get("varied") or [])
    pts = _points(sweep)
    name = kpi_label(kpi, unit=False)
    if not varied or not pts:
        return message_figure(name, "No varied parameter or no points", out)
    x_key = varied[0]
    y_key = varied[1] if len(varied) > 1 else None
    xs = sorted({_key(p, x_key) for p in pts}, key=lambda v: _sort_key([v]))
    ys = sorted({_key(p, y_key) for p in pts}, key=lambda v: _sort_key([v])) if y_key else [None]
    lhs = (sweep.get("design") or "").lower() == "lhs"
    if lhs or len(xs) * len(ys) > 400:
        return _scatter_map(sweep, kpi, out, x_key, y_key)
    # cell -> (means, lows, highs, failed count)
    cells: dict[tuple, list] = {}
    for p in pts:
        c = cells.setdefault((_key(p, x_key), _key(p, y_key) if y_key else None), [[], [], [], 0])
        m, lo, hi = _kpi(p, kpi)
        if p.get("status", "ok") != "ok" or m is None:
            c[3] += 1
        else:
            c[0].append(m)
            c[1].append(lo)
            c[2].append(hi)
    grid = np.full((len(ys), len(xs)), np.nan)
    for (xv, yv), (ms, _, _, _) in cells.items():
        if ms:
            grid[ys.index(yv), xs.index(xv)] = float(np.mean(ms))
    better = better_of(kpi, sweep)
    cmap = colormaps["viridis" if better != "lower" else "viridis_r"]
    finite = grid[np.isfinite(grid)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmax <= vmin:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    norm = Normalize(vmin, vmax)
    w = min(14.0, max(9.5, 1.3 + 1.25 * len(xs)))
    h = min(12.0, max(3.8, 1.9 + 0.85 * len(ys)))
    fig = _new_figure(w, h)
    ax = fig.add_subplot()
    im = ax.imshow(
        np.ma.masked_invalid(grid),
        cmap=cmap,
        norm=norm,
        aspect="auto",
        origin="lower",
        interpolation="nearest",
    )
    multi = False
    for (xv, yv), (ms, los, his, nfail) in cells.items():
        i, j = ys.index(yv), xs.index(xv)
        multi = multi or len(ms) + nfail > 1
        if not ms:
            ax.add_patch(
                Rectangle(
                    (j - 0.5, i - 0.5),
                    1,
                    1,
                    facecolor=C_FAILED,
                    hatch="///",
                    edgecolor="#888888",
                    lw=0,
                )
            )
            ax.text(
                j,
                i,
                "failed",
                ha="center",
                va="center",
                fontsize=9,
                color="#333333",
                fontweight="bold",
            )
            continue
        m = float(np.mean(ms))
        text = fmt_value(kpi, m)
        if len(ms) == 1 and los[0] is not None and his[0] is not None:
            text += (
                f"\n[{fmt_value(kpi, los[0], unit=False)}, {fmt_value(kpi, his[0], unit=False)}]"
            )
        if nfail:
            text += f"\n({nfail} failed)"
        r, g, b, _ = cmap(norm(m))
        dark = (0.299 * r + 0.587 * g + 0.114 * b) < 0.5
        ax.text(
            j,
            i,
            text,
            ha="center",
            va="center",
            fontsize=8.5 if len(xs) > 8 else 9.5,
            color="white" if dark else "#111111",
            linespacing=1.15,
        )
    ax.set_xticks(range(len(xs)), [_fmt_param(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_fmt_param(v) for v in ys] if y_key else [""])
    ax.set_xlabel(param_label(x_key))
    ax.set_ylabel(param_label(y_key) if y_key else "")
    ax.set_xticks(np.arange(len(xs) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(ys) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    cb = fig.colorbar(im, ax=ax, pad=0.015)
    cb.set_label(
        kpi_label(kpi) + ("\n" + _better_note(kpi, sweep).strip() if better else ""), fontsize=9
    )
    if kpi_label(kpi).endswith("(share of capacity)") or kpi.endswith("_share"):
        cb.ax.yaxis.set_major_formatter(lambda v, _pos: f"{100 * v:.0f}%")
    note = _caption(sweep)
    if multi:
        note += "  |  cells with several points show their average"
    if len(varied) > 2:
        note += f"  |  averaged over {', '.join(param_label(k) for k in varied[2:])}"
    ax.set_title(
        "\n".join(textwrap.wrap(note, int(w * 13))), fontsize=9, color="#444444", loc="left"
    )
    fig.suptitle(f"{name}: mean over the grid", fontsize=13, fontweight="bold")
    return _write(fig, out)


def _key(point: Mapping[str, Any], key: str | None) -> Any:
    if key is None:
        return None
    v = (point.get("values") or {}).get(key)
    return _num(v) if _num(v) is not None else str(v)


def _scatter_map(
    sweep: Mapping[str, Any], kpi: str, out: Path, x_key: str, y_key: str | None
) -> Path:
    """No grid (LHS): design points at (x, y) coloured by the mean KPI."""
    pts = _points(sweep)
    better = better_of(kpi, sweep)
    cmap = colormaps["viridis" if better != "lower" else "viridis_r"]
    fig = _new_figure(9.5, 6.5)
    ax = fig.add_subplot()
    ok = [(p, _kpi(p, kpi)[0]) for p in pts]
    vals = [m for _, m in ok if m is not None]
    norm = (
        Normalize(min(vals), max(vals) if max(vals) > min(vals) else min(vals) + 1)
        if vals
        else Normalize(0, 1)
    )
    for p, m in ok:
        x = _num((p.get("values") or {}).get(x_key))
        y = _num((p.get("values") or {}).get(y_key)) if y_key else 0.0
        if x is None or y is None:
            continue
        if m is None:
            ax.plot(x, y, marker="X", ms=11, color=C_FAILED, mec="#555555", ls="none")
        else:
            ax.scatter(
                [x],
                [y],
                c=[m],
                cmap=cmap,
                norm=norm,
                s=140,
                edgecolors="#222222",
                linewidths=0.6,
                zorder=3,
            )
            ax.annotate(
                fmt_value(kpi, m),
                (x, y),
                xytext=(0, 9),
                textcoords="offset points",
                ha="center",
                fontsize=8,
                color="#222222",
            )
    cb = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.015)
    cb.set_label(kpi_label(kpi) + _better_note(kpi, sweep), fontsize=9)
    ax.set_xlabel(param_label(x_key))
    ax.set_ylabel(param_label(y_key) if y_key else "")
    ax.grid(True, alpha=0.3)
    handles = (
        [
            Line2D(
                [],
                [],
                ls="none",
                marker="X",
                ms=10,
                color=C_FAILED,
                mec="#555555",
                label="failed point",
            )
        ]
        if any(m is None for _, m in ok)
        else []
    )
    if handles:
        ax.legend(handles=handles, fontsize=9, loc="best")
    ax.set_title(
        _caption(sweep) + "  |  design points coloured by the mean KPI",
        fontsize=9,
        color="#444444",
        loc="left",
    )
    fig.suptitle(
        f"{kpi_label(kpi, unit=False)} over the design",
        fontsize=13,
        fontweight="bold",
    )
    return _write(fig, out)
