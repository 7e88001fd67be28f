"""Plots of a parameter sweep (``sweep.json``) as PNG files.

* :func:`response` a KPI against the first varied parameter: one line per
  value of the other varied parameters with a 95% CI band (factorial
  designs), or points with CI error bars coloured by the second parameter
  (Latin-hypercube designs);
* :func:`heatmap`  the KPI over the grid of the first two varied parameters as
  its difference to a reference point on a diverging scale; cells whose
  difference is not significant (Holm–Bonferroni over the cells) are grey and
  hatched, so noise is not painted as an effect; failed points hatched grey.

CIs are the 95% CI of the mean across replications everywhere, clipped to what
the KPI can be (shares 0-100%, no negative volumes or times).

Figures use the :class:`matplotlib.figure.Figure` API with the Agg canvas,
as :mod:`sim.outputs.plots`.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from scipy.stats import t as student_t

from sim.outputs.plots import C_BOTTLENECK, _new_figure, message_figure
from sim.outputs.plots_compare import (
    KPI_INFO,
    SCENARIO_COLOURS,
    _write,
    better_of,
    fmt_value,
    kpi_label,
)

C_FAILED = "#d0d0d0"
C_SAME = "#ececec"  # a heat-map cell not significantly different from the reference
C_REFERENCE = "#ffffff"
ALPHA = 0.05  # family-wise error rate of the heat map's tests against the reference
FLOOR_SHARE = 0.05  # the heat map's colours span at least this share of the reference value

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


def _bounds(kpi: str) -> tuple[float, float | None]:
    """What a KPI can be: shares 0-1, everything else in the table at least 0."""
    kind = KPI_INFO.get(kpi, ("", "", None, "num"))[3]
    return 0.0, (1.0 if kind == "share" else None)


def _clip(kpi: str, lo: float | None, hi: float | None) -> tuple[float | None, float | None]:
    """A CI clipped to what the KPI can be (a negative count or ρ above 1 is not shown)."""
    low, high = _bounds(kpi)
    if lo is not None:
        lo = max(lo, low)
    if hi is not None and high is not None:
        hi = min(hi, high)
    return lo, hi


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
    parts.append("mean with 95% CI (clipped to the possible range)")
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
            lo, hi = _clip(kpi, lo, hi)
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
                label="design point (whisker: 95% CI of the mean across replications)",
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
                lo, hi = _clip(kpi, lo, hi)
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
        handles.append(
            Patch(color="#888888", alpha=0.25, label="95% CI of the mean across replications")
        )
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
    if _bounds(kpi)[1] is not None:  # a share: the axis stops at 100%
        ax.yaxis.set_major_formatter(lambda v, _pos: f"{100 * v:.0f}%")
        bottom, top = ax.get_ylim()
        ax.set_ylim(max(bottom, 0.0), min(top, 1.0))
    elif ax.get_ylim()[0] < 0:
        ax.set_ylim(bottom=0.0)
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


@dataclass
class _Cell:
    """The points of one grid cell and how the cell differs from the reference cell."""

    means: list[float] = field(default_factory=list)
    ses: list[float] = field(default_factory=list)  # standard error of each point's mean
    dfs: list[float] = field(default_factory=list)
    reps: list[dict[int, float]] = field(default_factory=list)  # replication -> value
    ci: list[tuple[float | None, float | None]] = field(default_factory=list)
    failed: int = 0
    diff: float | None = None
    diff_lo: float | None = None
    diff_hi: float | None = None
    p: float | None = None
    significant: bool = False

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.means)) if self.means else None

    def se_df(self) -> tuple[float | None, float | None]:
        """Standard error and degrees of freedom of the cell's mean (None if unknown)."""
        if not self.means or len(self.ses) < len(self.means):
            return None, None
        k = len(self.means)
        return math.sqrt(sum(e * e for e in self.ses)) / k, min(self.dfs)


def _per_replication(point: Mapping[str, Any], kpi: str) -> dict[int, float]:
    """Replication index -> KPI value, when the point carries its replications."""
    out = {}
    for i, rec in enumerate(point.get("records") or ()):
        if isinstance(rec, Mapping) and _num(rec.get(kpi)) is not None:
            out[int(rec.get("replication", i))] = float(rec[kpi])
    return out


def _test(cell: _Cell, ref: _Cell) -> None:
    """The difference cell − reference with its 95% CI and two-sided p: paired over the
    common replications when both carry them (sweeps run every point with the same
    replication seeds), else Welch's t from each mean's CI and replication count."""
    if cell.mean is None or ref.mean is None:
        return
    cell.diff = cell.mean - ref.mean
    if len(cell.reps) == 1 and len(ref.reps) == 1:
        common = sorted(set(cell.reps[0]) & set(ref.reps[0]))
        if len(common) >= 2:
            d = np.array([cell.reps[0][r] - ref.reps[0][r] for r in common])
            sd = float(d.std(ddof=1))
            se, df = sd / math.sqrt(len(d)), float(len(d) - 1)
            cell.diff = float(d.mean())
            _finish(cell, se, df)
            return
    se1, df1 = cell.se_df()
    se2, df2 = ref.se_df()
    if se1 is None or se2 is None or df1 is None or df2 is None:
        return
    se = math.sqrt(se1 * se1 + se2 * se2)
    den = (se1**4 / df1 if df1 > 0 else 0.0) + (se2**4 / df2 if df2 > 0 else 0.0)
    df = (se**4 / den) if den > 0 else max(df1 + df2, 1.0)
    _finish(cell, se, df)


def _finish(cell: _Cell, se: float, df: float) -> None:
    assert cell.diff is not None
    half = student_t.ppf(0.975, max(df, 1.0)) * se
    cell.diff_lo, cell.diff_hi = cell.diff - half, cell.diff + half
    if se > 0:
        cell.p = float(2 * student_t.sf(abs(cell.diff) / se, max(df, 1.0)))
    else:
        cell.p = 0.0 if cell.diff != 0 else 1.0


def _holm(cells: Sequence[_Cell], alpha: float = ALPHA) -> None:
    """Mark the cells whose difference stays significant after Holm–Bonferroni."""
    tested = sorted((c for c in cells if c.p is not None), key=lambda c: c.p or 0.0)
    m = len(tested)
    for k, c in enumerate(tested):
        if (c.p or 0.0) > alpha / (m - k):
            break
        c.significant = True


def _reference_cell(
    sweep: Mapping[str, Any],
    reference: Mapping[str, Any] | None,
    x_key: str,
    y_key: str | None,
    xs: list,
    ys: list,
) -> tuple[Any, Any, str]:
    """The reference cell (x, y) and how it was chosen: ``reference`` (the base scenario's
    values of the varied keys), else ``sweep["reference"]``, else the first grid cell. With
    ``sweep["reference_note"]`` set, the reference is the grid point nearest the base
    (the base's own values are off the grid) and the legend says so."""
    ref = reference if reference is not None else sweep.get("reference")
    if isinstance(ref, Mapping):
        xv = _num(ref.get(x_key)) if _num(ref.get(x_key)) is not None else str(ref.get(x_key))
        yv = None
        if y_key is not None:
            raw = ref.get(y_key)
            yv = _num(raw) if _num(raw) is not None else str(raw)
        if xv in xs and yv in ys:
            if sweep.get("reference_note"):  # the base's values are not on the grid
                return xv, yv, "the grid point nearest the base scenario"
            return xv, yv, "the base scenario's values"
    return xs[0], ys[0], "the first grid point"


def heatmap(
    sweep: dict, kpi: str, out: Path, reference: Mapping[str, Any] | None = None
) -> Path:
    """The KPI over the grid of the first two varied parameters as its difference to a
    reference point, so that a difference inside the noise is not painted as an effect.

    The reference is the grid cell of ``reference`` (the base scenario's values of the
    varied keys), else of ``sweep["reference"]``, else the first grid cell; it is
    outlined in black. Colours are on a diverging scale centred on the reference
    (blue better, red worse when the KPI has a better direction), spanning at least
    ±5% of the reference value. A cell whose difference is not significant (95% CI of
    the difference; paired t over the common replications when the points carry them,
    else Welch's t from each mean's CI; Holm–Bonferroni over the cells of the map) is
    grey and hatched. Every cell states its mean with its 95% CI and the difference.
    Failed points are hatched grey and labelled "failed". With one varied parameter the
    map is a single row; an LHS design (no grid) falls back to points coloured by the KPI.
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
    cells: dict[tuple, _Cell] = {}
    for p in pts:
        c = cells.setdefault((_key(p, x_key), _key(p, y_key) if y_key else None), _Cell())
        m, lo, hi = _kpi(p, kpi)
        if p.get("status", "ok") != "ok" or m is None:
            c.failed += 1
            continue
        c.means.append(m)
        c.ci.append((lo, hi))
        c.reps.append(_per_replication(p, kpi))
        n = _num(((p.get("kpis") or {}).get(kpi) or {}).get("n"))
        if lo is not None and hi is not None and n is not None and n >= 2:
            c.ses.append((hi - lo) / 2 / float(student_t.ppf(0.975, n - 1)))
            c.dfs.append(n - 1)
    rx, ry, how = _reference_cell(sweep, reference, x_key, y_key, xs, ys)
    ref = cells.get((rx, ry), _Cell())
    others = [c for key, c in cells.items() if key != (rx, ry)]
    for c in others:
        _test(c, ref)
    _holm(others)
    better = better_of(kpi, sweep)
    cmap = colormaps[{"higher": "RdBu", "lower": "RdBu_r"}.get(better or "", "PuOr_r")]
    diffs = [abs(c.diff) for c in others if c.diff is not None]
    lim = max(diffs + [FLOOR_SHARE * abs(ref.mean or 0.0), 1e-9])
    norm = TwoSlopeNorm(0.0, -lim, lim)
    w = min(14.0, max(9.5, 1.3 + 1.25 * len(xs)))
    h = min(12.0, max(4.4, 2.4 + 0.85 * len(ys)))
    fig = _new_figure(w, h)
    ax = fig.add_subplot()
    ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.set_ylim(-0.5, len(ys) - 0.5)
    small = 8.0 if len(xs) > 8 else 9.0
    for (xv, yv), c in cells.items():
        i, j = ys.index(yv), xs.index(xv)
        is_ref = (xv, yv) == (rx, ry)
        if c.mean is None:
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=C_FAILED, hatch="///",
                                   edgecolor="#888888", lw=0, gid="failed"))
            ax.text(j, i, "failed", ha="center", va="center", fontsize=9, color="#333333",
                    fontweight="bold")
            continue
        if is_ref:
            face, gid = C_REFERENCE, "reference"
        elif c.significant and c.diff is not None:
            face, gid = cmap(norm(c.diff)), "significant"
        else:
            face, gid = C_SAME, "not_significant"
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=face, lw=0, gid=gid,
                               hatch=None if gid != "not_significant" else "..",
                               edgecolor="#b0b0b0"))
        text = fmt_value(kpi, c.mean)
        if len(c.means) == 1 and c.ci[0][0] is not None and c.ci[0][1] is not None:
            lo, hi = _clip(kpi, *c.ci[0])
            text += f"\n[{fmt_value(kpi, lo, unit=False)}, {fmt_value(kpi, hi, unit=False)}]"
        if is_ref:
            text = "reference\n" + text
        elif c.diff is not None:
            text += f"\nΔ {fmt_value(kpi, c.diff, signed=True)}"
            text += "" if c.significant else ("  (≈ ref)" if c.p is not None else "  (untested)")
        if c.failed:
            text += f"\n({c.failed} failed)"
        r, g, b, _ = face if isinstance(face, tuple) else (0.9, 0.9, 0.9, 1.0)
        dark = (0.299 * r + 0.587 * g + 0.114 * b) < 0.5
        ax.text(j, i, text, ha="center", va="center", fontsize=small,
                color="white" if dark else "#111111", linespacing=1.15,
                fontweight="bold" if c.significant or is_ref else "normal", zorder=4)
    j0, i0 = xs.index(rx), ys.index(ry)
    ax.add_patch(Rectangle((j0 - 0.5, i0 - 0.5), 1, 1, fill=False, edgecolor="#111111", lw=3,
                           zorder=5, clip_on=False))
    ax.set_xticks(range(len(xs)), [_fmt_param(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_fmt_param(v) for v in ys] if y_key else [""])
    ax.set_xlabel(param_label(x_key))
    ax.set_ylabel(param_label(y_key) if y_key else "")
    ax.set_xticks(np.arange(len(xs) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(ys) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    cb = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.015)
    share = KPI_INFO.get(kpi, ("", "", None, ""))[3] == "share"
    unit = "percentage points" if share else KPI_INFO.get(kpi, ("", "", None, ""))[1]
    side = {"higher": "blue: better, red: worse", "lower": "blue: better, red: worse"}
    cb.set_label(f"Δ to the reference ({unit})" + (f"\n{side[better]}" if better else ""),
                 fontsize=9)
    if share:
        cb.ax.yaxis.set_major_formatter(lambda v, _pos: f"{100 * v:+.1f}")
    handles = [
        Patch(facecolor=C_SAME, hatch="..", edgecolor="#b0b0b0",
              label="not significantly different from the reference"),
        Patch(facecolor=C_REFERENCE, edgecolor="#111111", lw=2,
              label=f"reference: {how}"),
    ]
    if any(c.failed and c.mean is None for c in cells.values()):
        handles.append(Patch(facecolor=C_FAILED, hatch="///", edgecolor="#888888",
                             label="failed point"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8.5,
               frameon=False)
    note = _caption(sweep)
    note += (f"  |  coloured: significant difference to the reference (95% CI of the "
             f"difference, Holm–Bonferroni over the {len(others)} cells, α {ALPHA:g}); "
             f"colours span at least ±{FLOOR_SHARE:.0%} of the reference")
    if any(len(c.means) > 1 for c in cells.values()):
        note += "  |  cells with several points show their average"
    if len(varied) > 2:
        note += f"  |  averaged over {', '.join(param_label(k) for k in varied[2:])}"
    ax.set_title(
        "\n".join(textwrap.wrap(note, int(w * 13))), fontsize=9, color="#444444", loc="left"
    )
    fig.suptitle(f"{kpi_label(kpi)}: difference to the reference point", fontsize=13,
                 fontweight="bold")
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
