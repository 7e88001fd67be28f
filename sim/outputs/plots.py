"""Plots of one run (all replications of one scenario) as PNG files.

``write_run_plots(records, scenario, out_dir)`` writes five figures into
``out_dir`` (the ``plots/`` folder of a result):

* ``throughput.png``   weekly TEU of the study flows delivered (light), their
  5-week rolling mean (the trend) with its 95% CI across replications, the
  expected demand and the warm-up shaded;
* ``transit_time.png`` histogram of study-flow transit times (days, pooled over
  replications) with mean, median and P95 marked;
* ``node_performance.png`` mean time at each node and utilisation of every
  capacity-limited stage (nodes, rail paths, wagon pools, fleets) in route
  order, the bottleneck highlighted, a reference line at ρ = 0.9;
* ``queues.png``       TEU held at each node (small multiples): the weekly mean of
  the daily TEU and a band from the week's lowest to its highest day (a weekly
  service reads as a band, not a saw-tooth), the yard occupancy and capacity;
* ``bottleneck_by_year.png`` utilisation of the most utilised stages in each calendar
  year of the measured period, the binding one of each year marked.

Whiskers and bands of uncertainty are always the 95% Student-t interval of the mean
across replications (:func:`ci95`), clipped to what the quantity can be; utilisation
axes run 0-1. Stage names come from :func:`sim.outputs.labels.stage_label`.

Time axes are calendar dates (``start_date`` of the scenario, or nominal dates from
2025-01-01 when it has none, as the record's ``start_date`` says), with scheduled
disruption windows shaded and dated ``[changes.*]`` marked with their labels.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas:
no pyplot, so nothing is left open in pyplot's global figure registry.
Records are the dicts returned by :func:`sim.model.corridor.run_replication`
(see :func:`sim.model.measure.measure`); replications may differ in length
(a gridlocked run stops early), so every series is padded with NaN.
"""

from __future__ import annotations

import math
import textwrap
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.ticker as mticker
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy.stats import t as student_t

from sim.model.calendar import NOMINAL_START, Calendar
from sim.model.demand import HOURS_PER_YEAR, demand_profile, monthly_rates
from sim.model.disruptions import disruption_intervals
from sim.model.schedule import Schedule, change_time_h
from sim.outputs.labels import fleet_note, stage_label
from sim.scenario.references import legs_between
from sim.scenario.schema import (
    DispatchTimetable,
    FactorDisruption,
    RailLeg,
    Scenario,
    SeaLeg,
    WindowDisruption,
)

DPI = 120
HOURS_PER_DAY = 24.0
DAYS_PER_WEEK = 7
RHO_REF = 0.9
UTIL_MAX = 1.0  # upper end of every utilisation axis (a share of capacity)
DODGE = 0.07  # bottleneck_by_year: horizontal offset between stages (years apart by 1)
BINDS_TEXT_BELOW = 0.8  # bottleneck_by_year: above this ρ the "binds" note goes under the ring
EMPTY_NODE_TEU = 0.5  # a node whose content never exceeds this (TEU) gets no queue panel
WAIT_DAYS_ABOVE_H = 72.0  # show node times in days when the longest mean exceeds this
CAPTION_CHARS = 150  # wrap width of the grey caption line under each title
TRANSIT_CAPTION_CHARS = 120  # the same on the narrower transit-time figure
CAP_ON_SCALE = 4.0  # draw the yard-capacity line when it is at most this many times the peak

C_MAIN = "#1f5f9e"
C_BAND = "#9ecae1"
C_DEMAND = "#555555"
C_YARD = "#e08214"
C_CAP = "#b2182b"
C_BAR = "#4c78a8"
C_NEAR = "#f2a541"
C_BOTTLENECK = "#d62728"
C_WARMUP = "#d9d9d9"
C_GRIDLOCK = "#7b3294"
C_DISRUPTION = "#e7298a"
C_CHANGE = "#1b7837"
STAGE_COLOURS = ("#d62728", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b")
TOP_STAGES = 5  # stages drawn in bottleneck_by_year.png
ROLL_WEEKS = 5  # window of the rolling mean on weekly series (weeks, centred: about a month)
C_WEEKLY = "#a9bfd6"  # the raw weekly values behind their rolling mean
C_DAYS = "#c6dbef"  # range of daily values within a week (queue panels)

PLOT_FILES = (
    "throughput.png",
    "transit_time.png",
    "node_performance.png",
    "queues.png",
    "bottleneck_by_year.png",
)


def write_run_plots(records: list[dict], scenario: Scenario, out_dir: Path) -> list[Path]:
    """Write the run's PNG figures (:data:`PLOT_FILES`) into ``out_dir`` (created) and
    return their paths.

    ``records`` are the replication records of one scenario (at least one),
    ``scenario`` the validated scenario they were run from.
    """
    if not records:
        raise ValueError("write_run_plots needs at least one replication record")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    builders: list[tuple[str, Callable[[list[dict], Scenario], Figure]]] = [
        ("throughput.png", throughput_figure),
        ("transit_time.png", transit_figure),
        ("node_performance.png", node_performance_figure),
        ("queues.png", queues_figure),
        ("bottleneck_by_year.png", bottleneck_by_year_figure),
    ]
    written = []
    for name, build in builders:
        fig = build(records, scenario)
        path = out_dir / name
        _save(fig, path)
        written.append(path)
    return written


# --------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)  # attach the Agg canvas explicitly (no pyplot, no global backend)
    fig.savefig(path, dpi=DPI, facecolor="white")


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def message_figure(title: str, message: str, out: Path) -> Path:
    """A small figure that says why there is nothing to plot (instead of an empty chart)."""
    fig = _new_figure(9.0, 3.2)
    ax = fig.add_subplot()
    ax.text(
        0.5,
        0.5,
        message,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=12,
        color="#444444",
        wrap=True,
    )
    ax.set_xticks([])
    ax.set_yticks([])
    fig.suptitle(title, fontsize=13, fontweight="bold")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _save(fig, out)
    return out


def _title(fig: Figure, scenario: Scenario, what: str, records: Sequence[dict]) -> None:
    n = len(records)
    reps = f"{n} replication" + ("s" if n != 1 else "")
    fig.suptitle(
        f"{what} — scenario '{scenario.scenario.name}' ({reps})", fontsize=13, fontweight="bold"
    )


def _stack(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Rows of unequal length padded with NaN into one 2-D float array."""
    width = max((len(a) for a in arrays), default=0)
    out = np.full((len(arrays), width), np.nan)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = np.asarray(a, dtype=float)
    return out


def ci95(
    stack: np.ndarray, lower: float | None = 0.0, upper: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise mean and 95% Student-t interval of the mean across replications (rows).

    The one kind of whisker and band of every plot. Bounds are clipped to what the
    quantity can be (``lower``/``upper``: 0 for volumes and times, 1 for utilisation);
    NaN where a column has fewer than two finite values.
    """
    stack = np.atleast_2d(np.asarray(stack, dtype=float))
    n = np.sum(np.isfinite(stack), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns, n = 1
        mean = np.nanmean(stack, axis=0)
        sd = np.nanstd(stack, axis=0, ddof=1)
        half = student_t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(np.maximum(n, 1))
    half = np.where(n >= 2, half, np.nan)
    lo, hi = mean - half, mean + half
    if lower is not None:
        lo = np.maximum(lo, lower)
    if upper is not None:
        hi = np.minimum(hi, upper)
    return mean, lo, hi


def ci95_of(
    values: Sequence[float], lower: float | None = 0.0, upper: float | None = None
) -> tuple[float, float | None, float | None]:
    """Mean and clipped 95% CI of the mean of one sample (CI None with fewer than 2)."""
    mean, lo, hi = ci95(np.asarray([values], dtype=float).T, lower, upper)
    low, high = float(lo[0]), float(hi[0])
    ok = math.isfinite(low) and math.isfinite(high)
    return float(mean[0]), (low if ok else None), (high if ok else None)


CI_NOTE = "95% CI of the mean across replications"


def _mean_of(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


def _warmup_days(records: Sequence[dict]) -> float:
    return max(float(r.get("warmup_h", 0.0)) for r in records) / HOURS_PER_DAY


def _end_days(records: Sequence[dict]) -> float:
    return max(float(r.get("end_h", 0.0)) for r in records) / HOURS_PER_DAY


@dataclass(frozen=True)
class _Clock:
    """Model days to calendar dates on a plot's time axis."""

    start: np.datetime64  # the first simulated day, 00:00 (seconds)
    dated: bool  # False: nominal dates (the scenario has no start_date)

    def x(self, days):
        """``numpy.datetime64`` of model days (a number or an array)."""
        secs = np.round(np.asarray(days, dtype=float) * 86400.0).astype("timedelta64[s]")
        return self.start + secs

    def day_of(self, when: str) -> float:
        """Model day of a ``YYYY-MM-DD`` date."""
        return float((np.datetime64(when, "s") - self.start) / np.timedelta64(1, "D"))


def _clock(records: Sequence[dict], scenario: Scenario) -> _Clock:
    """The dates of a run: the records' start date (else the scenario's, else nominal)."""
    start = (records[0].get("start_date") if records else None) or scenario.scenario.start_date
    dated = scenario.scenario.start_date is not None
    return _Clock(np.datetime64(start or NOMINAL_START.isoformat(), "s"), dated)


class _DateTicks(mticker.Formatter):
    """Tick labels: the month, with the year under January and under the first tick (so
    every axis says which year it starts in); only the year on axes of many years."""

    def __init__(self, years_only: bool) -> None:
        self.years_only = years_only

    def __call__(self, x: float, pos: int | None = None) -> str:
        when = mdates.num2date(x)
        if self.years_only:
            return f"{when:%Y}"
        if when.day != 1 or when.hour:  # ticks inside a month (short runs): the day too
            text = f"{when.day} {when:%b}"
            return f"{text}\n{when:%Y}" if pos == 0 else text
        return f"{when:%b}\n{when:%Y}" if when.month == 1 or pos == 0 else f"{when:%b}"


def _date_axis(ax, clock: _Clock, end_days: float, label: bool = True) -> None:
    """Dates on the x axis over the run (concise month/year ticks)."""
    ax.set_xlim(clock.x(0.0), clock.x(max(end_days, 1.0)))
    locator = mdates.AutoDateLocator(minticks=4, maxticks=12)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(_DateTicks(end_days > 6 * 365))
    if label:
        ax.set_xlabel(
            "Date" if clock.dated else "Date (nominal: the scenario has no start_date)"
        )


def _shade_warmup(ax, warm_days: float, clock: _Clock, label: bool = True) -> None:
    if warm_days > 0:
        ax.axvspan(
            clock.x(0.0),
            clock.x(warm_days),
            color=C_WARMUP,
            alpha=0.6,
            lw=0,
            zorder=0,
            label=f"warm-up ({warm_days:g} d, excluded from KPIs)" if label else None,
        )


def _mark_gridlock(ax, records: Sequence[dict], clock: _Clock, label: bool = True) -> None:
    days = sorted(
        {round(float(r["gridlock"]["since_day"]), 1) for r in records if r.get("gridlock")}
    )
    for i, day in enumerate(days):
        ax.axvline(
            clock.x(day),
            color=C_GRIDLOCK,
            ls=":",
            lw=1.5,
            zorder=4,
            label="gridlock began" if label and i == 0 else None,
        )


@dataclass(frozen=True)
class _Event:
    """A scheduled disruption (span) or a dated change (``to_day`` None) on the time axis."""

    from_day: float
    to_day: float | None
    text: str


def _calendar_events(scenario: Scenario, clock: _Clock, end_days: float) -> list[_Event]:
    """Scheduled disruption windows (``window``, ``factor`` with an end) and dated changes
    within the run, in time order; random outages differ per replication and are left out."""
    out = []
    horizon_h = scenario.scenario.horizon_days * HOURS_PER_DAY
    for did in sorted(scenario.disruptions):
        dis = scenario.disruptions[did]
        if not dis.enabled or not isinstance(dis, WindowDisruption | FactorDisruption):
            continue
        if isinstance(dis, FactorDisruption) and dis.end_day is None:
            continue
        what = "closed" if dis.factor == 0 else f"capacity × {dis.factor:g}"
        for a, b, _ in disruption_intervals(did, dis, scenario.scenario.seed, 0, horizon_h):
            if a / HOURS_PER_DAY < end_days:
                out.append(_Event(a / HOURS_PER_DAY, min(b / HOURS_PER_DAY, end_days),
                                  f"{did}: {dis.target} {what}"))
    calendar = Calendar(clock.start.astype("datetime64[D]").astype(object))
    at: dict[float, list[str]] = {}
    for cid in sorted(scenario.changes):
        change = scenario.changes[cid]
        if change.enabled:
            day = max(0.0, change_time_h(change, calendar) / HOURS_PER_DAY)
            if day < end_days:
                at.setdefault(day, []).append(change.label or cid)
    out += [_Event(day, None, "; ".join(texts)) for day, texts in at.items()]
    return sorted(out, key=lambda e: e.from_day)


def _mark_events(ax, events: Sequence[_Event], clock: _Clock, texts: bool = True) -> None:
    """Shade disruption windows and draw a dashed line at each dated change; with
    ``texts``, the change's label along its line and the window's name at its top."""
    named: set[str] = set()
    for ev in events:
        if ev.to_day is None:
            ax.axvline(clock.x(ev.from_day), color=C_CHANGE, ls="--", lw=1.2, zorder=4)
            if texts:
                ax.text(clock.x(ev.from_day), 0.97, " " + textwrap.shorten(ev.text, 48),
                        rotation=90, ha="right", va="top", fontsize=7.5, color=C_CHANGE,
                        transform=ax.get_xaxis_transform(), zorder=6,
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7,
                              "pad": 0.5})
            continue
        ax.axvspan(clock.x(ev.from_day), clock.x(ev.to_day), color=C_DISRUPTION, alpha=0.18,
                   lw=0, zorder=0.5)
        if texts and ev.text not in named:
            named.add(ev.text)
            ax.text(clock.x(ev.from_day), 0.97, " " + textwrap.shorten(ev.text, 48),
                    rotation=90, ha="right", va="top", fontsize=7.5, color=C_DISRUPTION,
                    transform=ax.get_xaxis_transform(), zorder=6,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5})


def _events_caption(events: Sequence[_Event], clock: _Clock) -> str:
    """One wrapped line naming each disruption window and dated change with its date."""
    parts = []
    seen: set[str] = set()
    for ev in events:
        day = f"{clock.x(ev.from_day).astype('datetime64[D]')}"
        if ev.to_day is None:
            parts.append(f"{day} {ev.text}")
        elif ev.text not in seen:
            seen.add(ev.text)
            last = clock.x(max(ev.from_day, ev.to_day - 1e-3)).astype("datetime64[D]")
            parts.append(f"{day}–{last} {ev.text}")
    text = "Dated changes and disruptions: " + "; ".join(parts) if parts else ""
    return "\n".join(textwrap.wrap(text, CAPTION_CHARS, break_on_hyphens=False))


def _event_handles(events: Sequence[_Event]) -> list:
    """Legend entries for what :func:`_mark_events` drew."""
    handles: list = []
    if any(e.to_day is not None for e in events):
        handles.append(Patch(color=C_DISRUPTION, alpha=0.18, label="scheduled disruption"))
    if any(e.to_day is None for e in events):
        handles.append(Line2D([], [], color=C_CHANGE, ls="--", lw=1.2, label="dated change"))
    return handles


def node_order(scenario: Scenario) -> list[str]:
    """Node ids along the study-flow routes (first seen first), then the remaining nodes."""
    order: list[str] = []
    for fid in scenario.study_flow_ids():
        for nid in scenario.flows[fid].route:
            if nid not in order:
                order.append(nid)
    order += [nid for nid in scenario.nodes if nid not in order]
    return order


def _node_title(scenario: Scenario, nid: str) -> str:
    return f"{scenario.nodes[nid].kind.capitalize()}: {scenario.node_label(nid)}"


def _study_caption(scenario: Scenario, *extra: str, width: int = CAPTION_CHARS) -> str:
    """One line naming the study flows and their demand (wrapped when long), plus ``extra``."""
    ids = scenario.study_flow_ids()
    names = []
    for fid in ids:
        f = scenario.flows[fid]
        ends = f"{scenario.node_label(f.route[0])} → {scenario.node_label(f.route[-1])}"
        names.append(f.label or f"{fid} ({ends})")
    total = sum(scenario.flows[fid].annual_teu for fid in ids)
    head = "Study flow" + ("s" if len(ids) > 1 else "") + f" ({total:,.0f} TEU/yr): "
    lines = textwrap.wrap(head + "; ".join(names), width, break_on_hyphens=False)
    if extra:
        lines += textwrap.wrap("  |  ".join(extra), width, break_on_hyphens=False)
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# 1. Throughput
# --------------------------------------------------------------------------------------


def _weekly(daily: np.ndarray, end_h: float) -> np.ndarray:
    """Weekly sums of a daily series over the complete weeks before ``end_h``."""
    weeks = int(end_h // (DAYS_PER_WEEK * HOURS_PER_DAY))
    daily = np.asarray(daily, dtype=float)
    weeks = min(weeks, len(daily) // DAYS_PER_WEEK)
    return daily[: weeks * DAYS_PER_WEEK].reshape(weeks, DAYS_PER_WEEK).sum(axis=1)


def _weekly_demand(scenario: Scenario, weeks: int) -> np.ndarray:
    """Expected TEU/week created by the study flows: the demand path the model draws from
    (seasonality by calendar month in a dated run, 730-h months otherwise; growth, levels
    by year and dated changes), integrated over each week."""
    horizon_h = scenario.scenario.horizon_days * HOURS_PER_DAY
    start = scenario.scenario.start_date
    calendar = Calendar(None if start is None else Calendar(None).parse(start))
    schedule = Schedule(scenario, calendar)
    points = np.minimum(np.arange(weeks + 1) * DAYS_PER_WEEK * HOURS_PER_DAY, horizon_h)
    total = np.zeros(weeks)
    for fid in scenario.study_flow_ids():
        f = scenario.flows[fid]
        if getattr(f, "empties_of", None) is not None:
            continue  # empties follow their loaded flow's deliveries: no demand of their own
        profile = demand_profile(fid, f, scenario, calendar, schedule)
        if profile is None:
            edges, relative = monthly_rates(horizon_h, f.seasonality)
            rate = f.annual_teu / HOURS_PER_YEAR * relative
        else:
            edges, teu_per_year = profile
            rate = teu_per_year / HOURS_PER_YEAR
        cum = np.concatenate(([0.0], np.cumsum(rate * np.diff(edges))))
        total += np.diff(np.interp(points, edges, cum))
    return total


def rolling_mean(values: np.ndarray, window: int = ROLL_WEEKS) -> np.ndarray:
    """Centred rolling mean along the last axis over ``window`` values (odd), ignoring
    NaN; the ends average the values there are (a shorter window)."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    half = window // 2
    finite = np.isfinite(values)
    padded = np.pad(np.where(finite, values, 0.0), ((0, 0), (half + 1, half)))
    counts = np.pad(finite.astype(float), ((0, 0), (half + 1, half)))
    csum, ccount = np.cumsum(padded, axis=1), np.cumsum(counts, axis=1)
    total = csum[:, window:] - csum[:, :-window]
    count = ccount[:, window:] - ccount[:, :-window]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def throughput_figure(records: list[dict], scenario: Scenario) -> Figure:
    """Weekly study-flow deliveries over time: the weekly values (light), their rolling
    mean (the trend) with its 95% CI across replications, and the expected demand."""
    fig = _new_figure(11.5, 5.8)
    ax = fig.add_subplot()
    clock = _clock(records, scenario)
    weekly = _stack(
        [_weekly(r["series"]["study_delivered_teu"], float(r["end_h"])) for r in records]
    )
    multi = len(records) > 1
    mean, _, _ = ci95(weekly) if weekly.size else (np.empty(0),) * 3
    n_weeks = weekly.shape[1]
    edges = clock.x(np.arange(n_weeks + 1) * float(DAYS_PER_WEEK))
    centres = clock.x((np.arange(n_weeks) + 0.5) * float(DAYS_PER_WEEK))
    warm = _warmup_days(records)
    end = _end_days(records)
    events = _calendar_events(scenario, clock, end)
    _shade_warmup(ax, warm, clock)
    _mark_events(ax, events, clock)
    demand = np.empty(0)
    if n_weeks:
        ax.stairs(
            mean,
            edges,
            baseline=None,
            color=C_WEEKLY,
            lw=1.0,
            label="weekly TEU" + (", mean over replications" if multi else ""),
            zorder=2,
        )
        trend, lo, hi = ci95(rolling_mean(weekly)) if multi else (
            rolling_mean(weekly)[0], np.full(n_weeks, np.nan), np.full(n_weeks, np.nan))
        if multi and np.isfinite(lo).any():
            ax.fill_between(centres, lo, hi, color=C_BAND, alpha=0.35, lw=0, zorder=1.5,
                            label=f"{CI_NOTE} (of the rolling mean)")
        ax.plot(centres, trend, color=C_MAIN, lw=2.6, zorder=3, gid="rolling_mean",
                label=f"{ROLL_WEEKS}-week rolling mean (the trend)")
        demand = _weekly_demand(scenario, n_weeks)
        ax.stairs(
            demand,
            edges,
            baseline=None,
            color=C_DEMAND,
            lw=1.3,
            ls="--",
            label="expected demand (created)",
            zorder=3,
        )
    kpi = _mean_of([r.get("study", {}).get("throughput_teu_per_week") for r in records])
    if kpi is not None:
        ax.hlines(
            kpi,
            clock.x(warm),
            clock.x(end),
            color=C_BOTTLENECK,
            lw=1.3,
            ls="-.",
            zorder=5,
            label=f"post-warm-up mean: {kpi:,.0f} TEU/week",
        )
    _mark_gridlock(ax, records, clock)
    _date_axis(ax, clock, end)
    # the scale of the data, not of a CI band (with 2 replications t = 12.7 makes it wide)
    tops = [mean, demand, [kpi or 0.0], [1.0]]
    ymax = np.nanmax(np.concatenate(tops)) if n_weeks else (kpi or 1.0)
    ax.set_ylim(0, ymax * 1.12)
    ax.set_ylabel("TEU delivered per week")
    ax.grid(True, axis="y", alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    fig.legend(
        handles=handles + _event_handles(events),
        loc="outside lower center",
        ncols=3,
        fontsize=9,
        frameon=False,
    )
    dropped = end - n_weeks * DAYS_PER_WEEK
    notes = []
    short = sum(1 for r in records if float(r["end_h"]) < end * HOURS_PER_DAY - 1e-6)
    if short:
        notes.append(f"{short} replication(s) stopped early: later weeks average the others")
    if len(records) == 2:
        notes.append("2 replications: the 95% CI uses t = 12.7 and is wide (off scale "
                     "where it passes the data); more replications narrow it")
    if n_weeks == 0:
        notes.append("run shorter than one week: no weekly totals")
    elif dropped > 0.05:
        notes.append(f"last {dropped:.0f} d (incomplete week) not shown")
    ax.set_title(_study_caption(scenario, *notes), fontsize=9, color="#444444", loc="left")
    _title(fig, scenario, "Study-flow throughput", records)
    return fig


# --------------------------------------------------------------------------------------
# 2. Transit time
# --------------------------------------------------------------------------------------


def transit_figure(records: list[dict], scenario: Scenario) -> Figure:
    """Histogram of study-flow transit times pooled over replications."""
    fig = _new_figure(9.5, 5.2)
    ax = fig.add_subplot()
    parts = [np.asarray(r.get("transit_days", ()), dtype=float) for r in records]
    data = np.concatenate(parts) if parts else np.empty(0)
    data = data[np.isfinite(data)]
    ax.set_xlabel("Transit time, creation → delivery (days)")
    ax.set_ylabel("Containers (count)")
    _title(fig, scenario, "Study-flow transit time", records)
    if len(data) == 0:
        ax.text(
            0.5,
            0.5,
            "No deliveries of the study flows after the warm-up",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=13,
            color="#444444",
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(_study_caption(scenario, width=TRANSIT_CAPTION_CHARS), fontsize=9,
                     color="#444444", loc="left")
        return fig
    edges = np.histogram_bin_edges(data, bins="fd")
    if not 10 <= len(edges) - 1 <= 80:
        edges = np.histogram_bin_edges(data, bins=min(80, max(10, int(np.sqrt(len(data))))))
    ax.hist(data, bins=edges, color=C_BAR, alpha=0.85, edgecolor="white", lw=0.4)
    stats = [
        ("mean", float(data.mean()), "#2ca02c", "-"),
        ("median", float(np.percentile(data, 50)), "#222222", "--"),
        ("P95", float(np.percentile(data, 95)), C_BOTTLENECK, "-."),
    ]
    for name, value, colour, ls in stats:
        ax.axvline(value, color=colour, ls=ls, lw=2, label=f"{name}: {value:.1f} d")
    ax.legend(loc="best", fontsize=10, framealpha=0.95, title="Pooled statistics")
    ymax = ax.get_ylim()[1]
    ax.set_ylim(0, ymax * 1.15)
    span = float(data.max() - data.min())
    pad = max(span * 0.05, 0.25)
    ax.set_xlim(float(data.min()) - pad, float(data.max()) + pad)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_title(
        _study_caption(scenario, f"{len(data):,} containers delivered after warm-up",
                       width=TRANSIT_CAPTION_CHARS),
        fontsize=9,
        color="#444444",
        loc="left",
    )
    return fig


# --------------------------------------------------------------------------------------
# 3. Node performance
# --------------------------------------------------------------------------------------


@dataclass
class _Stage:
    key: str  # "nodes.x", "legs.x", "fleets.x", "wagon_pools.x" (as in record["bottleneck"])
    label: str
    util: float | None = None
    util_lo: float | None = None
    util_hi: float | None = None
    util_of: str | None = None
    wait_h: float | None = None
    wait_lo: float | None = None
    wait_hi: float | None = None


def _section(key: str) -> tuple[str, str]:
    section, _, ident = key.partition(".")
    return section, ident


def _values(records: Sequence[dict], key: str, field: str) -> list[float]:
    section, ident = _section(key)
    out = []
    for r in records:
        v = r.get(section, {}).get(ident, {}).get(field)
        if v is not None and math.isfinite(float(v)):
            out.append(float(v))
    return out


def _stage_keys(scenario: Scenario, records: Sequence[dict]) -> list[str]:
    """Stage keys in corridor order: each node, then the stages of the leg leaving it."""

    def has_util(key: str) -> bool:
        return bool(_values(records, key, "utilisation"))

    keys: list[str] = []

    def add(key: str) -> None:
        if key not in keys:
            keys.append(key)

    def add_leg(lid: str) -> None:
        leg = scenario.legs[lid]
        if isinstance(leg, RailLeg):
            if has_util(f"legs.{lid}"):
                add(f"legs.{lid}")
            if leg.wagon_pool is not None:
                add(f"wagon_pools.{leg.wagon_pool}")
        elif isinstance(leg, SeaLeg) and has_util(f"legs.{lid}"):
            add(f"legs.{lid}")  # the leg's fleets together, as the model rates the stage

    for fid in scenario.study_flow_ids():
        route = scenario.flows[fid].route
        for a, b in zip(route, route[1:], strict=False):
            add(f"nodes.{a}")
            for lid in legs_between(scenario, a, b):
                add_leg(lid)
        add(f"nodes.{route[-1]}")
    for nid in node_order(scenario):
        add(f"nodes.{nid}")
    for lid in scenario.legs:
        add_leg(lid)
    for pid in scenario.wagon_pools:
        add(f"wagon_pools.{pid}")
    # keep only stages the records know about; non-node stages need a utilisation
    return [
        k
        for k in keys
        if any(_section(k)[1] in r.get(_section(k)[0], {}) for r in records)
        and (k.startswith("nodes.") or has_util(k))
    ]


def _stage_label(scenario: Scenario, key: str) -> str:
    """The stage's label from the one label builder (:func:`sim.outputs.labels.stage_label`)."""
    return stage_label(scenario, key)


def _wrap(label: str, width: int = 34) -> str:
    return "\n".join(textwrap.wrap(label, width, break_on_hyphens=False)) or label


def _stage_note(scenario: Scenario, key: str) -> str:
    """What a transport stage is, for the (empty) time-at-node panel."""
    section, ident = _section(key)

    def ends(lid: str) -> str:
        leg = scenario.legs[lid]
        return f"{scenario.node_label(leg.from_node)} → {scenario.node_label(leg.to_node)}"

    if section == "fleets":
        return f"vessels on {ends(scenario.fleets[ident].leg)}"
    if section == "wagon_pools":
        used = [
            lid
            for lid, leg in scenario.legs.items()
            if isinstance(leg, RailLeg) and leg.wagon_pool == ident
        ]
        if len(used) == 1:
            return f"wagons for {ends(used[0])}"
        return f"wagons shared by {len(used)} rail legs" if used else "wagon pool"
    leg = scenario.legs[ident]
    slots = "timetable: share of the offered slots filled"
    if isinstance(leg, SeaLeg):
        serving = [f for f in scenario.fleets.values() if f.leg == ident]
        fleets = fleet_note(scenario, ident)
        head = f"{fleets}: " if fleets else ""
        if serving and all(isinstance(f.dispatch, DispatchTimetable) for f in serving):
            return head + slots
        return head + "vessels, busy share weighted by slots"
    if isinstance(leg.dispatch, DispatchTimetable):
        return slots
    return "line capacity, train paths/day"


def _stages(scenario: Scenario, records: Sequence[dict]) -> list[_Stage]:
    stages = []
    for key in _stage_keys(scenario, records):
        s = _Stage(key=key, label=_stage_label(scenario, key))
        u = _values(records, key, "utilisation")
        if u:
            s.util, s.util_lo, s.util_hi = ci95_of(u, 0.0, 1.0)
        if key.startswith("nodes."):
            w = _values(records, key, "wait_h_mean")
            if w:
                s.wait_h, s.wait_lo, s.wait_hi = ci95_of(w)
            _, nid = _section(key)
            ofs = [r["nodes"][nid].get("utilisation_of") for r in records if nid in r["nodes"]]
            ofs = [o for o in ofs if o]
            s.util_of = max(set(ofs), key=ofs.count) if ofs else None
        stages.append(s)
    return stages


def _bottleneck(stages: Sequence[_Stage], records: Sequence[dict]) -> tuple[str | None, int]:
    """The stage of highest mean utilisation, and in how many replications it was the top."""
    rated = [s for s in stages if s.util is not None]
    if not rated:
        return None, 0
    top = max(rated, key=lambda s: s.util or 0.0)
    votes = sum(1 for r in records if (r.get("bottleneck") or {}).get("element") == top.key)
    return top.key, votes


def node_performance_figure(records: list[dict], scenario: Scenario) -> Figure:
    """Mean time at each node and utilisation of each capacity-limited stage."""
    stages = _stages(scenario, records)
    n = max(len(stages), 1)
    fig = _new_figure(13.0, 2.3 + 0.42 * n)
    ax_w, ax_u = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1, 1.15]})
    y = np.arange(len(stages))
    top_key, votes = _bottleneck(stages, records)
    multi = len(records) > 1

    waits = [s.wait_h for s in stages if s.wait_h is not None]
    in_days = bool(waits) and max(waits) > WAIT_DAYS_ABOVE_H
    scale, unit = (HOURS_PER_DAY, "days") if in_days else (1.0, "hours")

    for ax in (ax_w, ax_u):
        for i, s in enumerate(stages):
            if s.key == top_key:
                ax.axhspan(i - 0.5, i + 0.5, color=C_BOTTLENECK, alpha=0.08, lw=0, zorder=0)

    # left: mean time at node
    w_ends = [
        s.wait_hi if multi and s.wait_hi is not None else s.wait_h
        for s in stages
        if s.wait_h is not None
    ]
    w_max = max(w_ends, default=0.0) / scale
    for i, s in enumerate(stages):
        if not s.key.startswith("nodes."):
            ax_w.text(
                0.0,
                i,
                f"  {_stage_note(scenario, s.key)}",
                va="center",
                fontsize=8,
                color="#888888",
                clip_on=True,
                style="italic",
            )
            continue
        if s.wait_h is None:
            ax_w.text(0.0, i, "  no containers passed", va="center", fontsize=8, color="#999999")
            continue
        colour = C_BOTTLENECK if s.key == top_key else C_BAR
        val = s.wait_h / scale
        xerr = None
        if multi and s.wait_lo is not None and s.wait_hi is not None:
            xerr = [[max(val - s.wait_lo / scale, 0.0)], [max(s.wait_hi / scale - val, 0.0)]]
        ax_w.barh(
            i,
            val,
            color=colour,
            height=0.65,
            xerr=xerr,
            error_kw={"ecolor": "#333333", "capsize": 3, "lw": 1},
        )
        hi = (s.wait_hi / scale) if (multi and s.wait_hi is not None) else val
        ax_w.text(hi + w_max * 0.02, i, f"{val:.1f}", va="center", fontsize=9)
    ax_w.set_xlim(0, max(w_max, 1e-9) * 1.18 if w_max > 0 else 1.0)
    ax_w.set_xlabel(f"Mean time at node per container, arrival → departure ({unit})")
    ax_w.set_title("Time spent at nodes", fontsize=11)
    ax_w.grid(True, axis="x", alpha=0.3)

    # right: utilisation, on its own scale 0-1 (a share of capacity never exceeds 1)
    for i, s in enumerate(stages):
        if s.util is None:
            ax_u.text(0.005, i, "  no finite capacity", va="center", fontsize=8, color="#999999")
            continue
        if s.key == top_key:
            colour = C_BOTTLENECK
        elif s.util >= RHO_REF:
            colour = C_NEAR
        else:
            colour = C_BAR
        xerr = None
        if multi and s.util_lo is not None and s.util_hi is not None:
            xerr = [[max(s.util - s.util_lo, 0.0)], [max(s.util_hi - s.util, 0.0)]]  # clipped CI
        ax_u.barh(
            i,
            s.util,
            color=colour,
            height=0.65,
            xerr=xerr,
            error_kw={"ecolor": "#333333", "capsize": 3, "lw": 1},
        )
        text = f"{s.util:.2f}"
        if s.util_of:
            text += f" ({s.util_of})"
        if s.key == top_key:
            text += "  ◀ BOTTLENECK"
        end = s.util_hi if multi and s.util_hi is not None else s.util
        bold = "bold" if s.key == top_key else "normal"
        # ~0.0085 axis units per character at this width: keep the label inside the axes
        if end + 0.015 + 0.0085 * len(text) <= UTIL_MAX:
            ax_u.text(
                end + 0.015,
                i,
                text,
                va="center",
                fontsize=9,
                fontweight=bold,
                color=C_BOTTLENECK if s.key == top_key else "black",
                zorder=5,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
            )
        else:
            # inside the bar, right-aligned; the box hides the lower whisker behind it
            ax_u.text(
                s.util,
                i,
                text + "  ",
                va="center",
                ha="right",
                fontsize=9,
                fontweight=bold,
                color="white",
                zorder=5,
                bbox={"facecolor": colour, "edgecolor": "none", "pad": 1.0},
            )
    ax_u.axvline(RHO_REF, color="#333333", ls="--", lw=1.2, zorder=3)
    ax_u.set_xlim(0, UTIL_MAX)
    ax_u.set_xlabel("Utilisation ρ, 0–1: busy share of capacity after the warm-up\n"
                    "(a timetabled service: share of its offered slots filled)")
    ax_u.set_title("Utilisation of capacity-limited stages", fontsize=11)
    ax_u.grid(True, axis="x", alpha=0.3)

    ax_w.set_yticks(y, [_wrap(s.label) for s in stages])
    ax_w.set_ylim(len(stages) - 0.5, -0.5)  # route order top to bottom
    ax_w.tick_params(axis="y", labelsize=10)
    handles = [
        Patch(color=C_BAR, label=f"ρ < {RHO_REF}"),
        Patch(color=C_NEAR, label=f"ρ ≥ {RHO_REF}"),
        Patch(
            color=C_BOTTLENECK,
            label="bottleneck (highest mean ρ"
            + (f"; top stage in {votes} of {len(records)} replications)" if multi else ")"),
        ),
        Line2D([], [], color="#333333", ls="--", lw=1.2, label=f"reference ρ = {RHO_REF}"),
    ]
    note = f"bars: mean over replications; whiskers: {CI_NOTE}" if multi else "one replication"
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=4,
        fontsize=9,
        title=note,
        title_fontsize=8,
        frameon=False,
    )
    _title(fig, scenario, "Node and stage performance", records)
    return fig


# --------------------------------------------------------------------------------------
# 4. Queues
# --------------------------------------------------------------------------------------


def _node_stack(records: Sequence[dict], nid: str, field: str) -> np.ndarray:
    return _stack(
        [np.asarray(r["series"]["nodes"].get(nid, {}).get(field, ()), dtype=float) for r in records]
    )


def nodes_with_content(records: Sequence[dict], scenario: Scenario) -> list[str]:
    """Nodes (route order) that ever hold more than a trace of containers in any replication."""
    out = []
    for nid in node_order(scenario):
        peak = 0.0
        for field in ("teu_at_node", "yard_teu"):
            s = _node_stack(records, nid, field)
            if s.size and np.isfinite(s).any():
                peak = max(peak, float(np.nanmax(s)))
        if peak > EMPTY_NODE_TEU:
            out.append(nid)
    return out


def weekly_profile(daily: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over replications (rows) of each week's mean, lowest and highest day of a daily
    series; a last, incomplete week counts the days it has. NaN days are left out."""
    daily = np.atleast_2d(np.asarray(daily, dtype=float))
    weeks = math.ceil(daily.shape[1] / DAYS_PER_WEEK)
    padded = np.full((daily.shape[0], weeks * DAYS_PER_WEEK), np.nan)
    padded[:, : daily.shape[1]] = daily
    cube = padded.reshape(daily.shape[0], weeks, DAYS_PER_WEEK)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # weeks without a value
        stats = (np.nanmean(cube, axis=2), np.nanmin(cube, axis=2), np.nanmax(cube, axis=2))
        return tuple(np.nanmean(x, axis=0) for x in stats)  # type: ignore[return-value]


def queues_figure(records: list[dict], scenario: Scenario) -> Figure:
    """TEU held at each node, one panel per node that ever holds containers: the weekly
    mean of the daily TEU (line) and the range from the week's lowest to its highest day
    (band), so that a weekly service reads as a band and not as a saw-tooth."""
    nids = nodes_with_content(records, scenario)
    warm = _warmup_days(records)
    end = _end_days(records)
    clock = _clock(records, scenario)
    events = _calendar_events(scenario, clock, end)
    schedule = Schedule(scenario, Calendar(clock.start.astype("datetime64[D]").astype(object)))
    if not nids:
        fig = _new_figure(10.0, 3.5)
        ax = fig.add_subplot()
        ax.text(
            0.5,
            0.5,
            "No containers held at any node",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=13,
            color="#444444",
        )
        ax.set_ylabel("TEU at node")
        _date_axis(ax, clock, end)
        _title(fig, scenario, "TEU at nodes", records)
        return fig
    ncols = 1 if len(nids) <= 4 else 2
    nrows = math.ceil(len(nids) / ncols)
    fig = _new_figure(11.0 if ncols == 1 else 14.0, 1.6 + 2.1 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, squeeze=False)).ravel()
    multi = len(records) > 1
    cap_drawn = False
    first_week = int(warm // DAYS_PER_WEEK)  # weeks from here on are (mostly) measured
    for k, nid in enumerate(nids):
        ax = axes[k]
        node = scenario.nodes[nid]
        content = _node_stack(records, nid, "teu_at_node")
        yard = _node_stack(records, nid, "yard_teu")
        mean, low, high = weekly_profile(content)
        edges = clock.x(np.minimum(np.arange(len(mean) + 1) * float(DAYS_PER_WEEK),
                                   max(content.shape[1], 1)))
        _shade_warmup(ax, warm, clock, label=False)
        _mark_events(ax, events, clock, texts=False)  # named in the caption
        ymax = float(np.nanmax(high)) if len(mean) and np.isfinite(high).any() else 0.0
        ymean, _, _ = weekly_profile(yard)
        if len(ymean) and np.isfinite(ymean).any() and np.nanmax(ymean) > EMPTY_NODE_TEU:
            # filled underneath: the gap up to the line is what waits outside the yard
            ax.stairs(ymean, edges[: len(ymean) + 1], baseline=0.0, fill=True, color=C_YARD,
                      alpha=0.35, lw=0)
        if len(mean):
            ax.fill_between(edges, np.append(low, low[-1]), np.append(high, high[-1]),
                            step="post", color=C_DAYS, alpha=0.5, lw=0, gid="daily_range")
            ax.stairs(mean, edges, baseline=None, color=C_MAIN, lw=1.5, gid="weekly_mean")
        cap = node.yard_capacity_teu
        steps = [(t, v) for t, v in schedule.steps_of("nodes", nid, "yard_capacity_teu")
                 if t < end * HOURS_PER_DAY]
        if cap is not None and steps:
            cap = max(cap, *(v for _, v in steps))  # the largest size it has in the run
        if cap is not None and cap <= CAP_ON_SCALE * max(ymax, EMPTY_NODE_TEU):
            cap_drawn = True
            sizes = [node.yard_capacity_teu] + [v for _, v in steps]
            cap_edges = [0.0] + [t / HOURS_PER_DAY for t, _ in steps] + [max(end, 1.0)]
            ax.stairs(sizes, clock.x(np.array(cap_edges)), baseline=None, color=C_CAP, ls="--",
                      lw=1.3)
            ax.text(
                0.995,
                sizes[-1],
                f"yard capacity {sizes[-1]:,.0f} TEU"
                + (f" (from {sizes[0]:,.0f})" if len(sizes) > 1 else ""),
                color=C_CAP,
                fontsize=8,
                ha="right",
                va="bottom",
                transform=ax.get_yaxis_transform(),
            )
            ymax = max(ymax, cap)
        elif cap is not None:
            # far above the content: keep the data readable, state the capacity instead
            ax.text(
                0.995,
                0.96,
                f"yard capacity {cap:,.0f} TEU (off scale; "
                f"busiest day = {ymax / cap:.0%} of it)",
                color=C_CAP,
                fontsize=8,
                ha="right",
                va="top",
                transform=ax.transAxes,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
            )
        _mark_gridlock(ax, records, clock, label=False)
        ax.set_ylim(0, max(ymax, 1.0) * 1.15)
        title = _node_title(scenario, nid)
        cut = first_week if len(mean) > first_week else 0
        if np.isfinite(mean[cut:]).any():
            busiest = float(np.nanmax(high[cut:]))
            title += f" — mean {np.nanmean(mean[cut:]):,.0f} TEU, busiest day {busiest:,.0f} TEU"
        ax.set_title(title, fontsize=9.5, loc="left")
        ax.set_ylabel("TEU at node")
        ax.grid(True, alpha=0.3)
        _date_axis(ax, clock, end, label=False)
    for ax in axes[len(nids) :]:
        ax.set_visible(False)
    for ax in axes[max(0, len(nids) - ncols) : len(nids)]:
        _date_axis(ax, clock, end)
        ax.xaxis.set_tick_params(labelbottom=True)
    handles = [
        Line2D([], [], color=C_MAIN, lw=1.5, label="weekly mean, all containers at the node"),
        Patch(color=C_DAYS, alpha=0.5, label="lowest to highest day of the week"),
        Patch(color=C_YARD, alpha=0.35, label="of which in the yard (weekly mean)"),
    ]
    if cap_drawn:
        handles.append(Line2D([], [], color=C_CAP, ls="--", lw=1.3, label="yard capacity"))
    if warm > 0:
        handles.append(Patch(color=C_WARMUP, alpha=0.6, label=f"warm-up ({warm:g} d)"))
    if any(r.get("gridlock") for r in records):
        handles.append(Line2D([], [], color=C_GRIDLOCK, ls=":", lw=1.5, label="gridlock began"))
    handles += _event_handles(events)
    note = ("Each panel has its own TEU scale; its title gives the mean and the busiest day "
            "after the warm-up" + (", averaged over replications" if multi else "")
            + ". Days are daily averages.")
    caption = _events_caption(events, clock)
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=min(len(handles), 3),
        fontsize=9,
        frameon=False,
        title=note + ("\n" + caption if caption else ""),
        title_fontsize=8.5,
    )
    what = "TEU at nodes, by week" + (" (mean over replications)" if multi else "")
    _title(fig, scenario, what, records)
    return fig


# --------------------------------------------------------------------------------------
# 5. Bottleneck by year
# --------------------------------------------------------------------------------------


def _year_label(records: Sequence[dict], pid: str, clock: _Clock) -> str:
    """``2026``, or ``2025`` with the measured months when the year is partial."""
    p = records[0]["periods"][pid]
    label = p["label"]
    a, b = p.get("measured_from_h"), p.get("measured_to_h")
    if a is None or b is None:
        return label
    if a <= p["from_h"] and b >= p["to_h"]:
        return label  # the whole year
    first = clock.x(a / HOURS_PER_DAY).astype(object)
    last = clock.x((b - 1.0) / HOURS_PER_DAY).astype(object)  # the last measured day
    return f"{label}\n({first.day} {first:%b} – {last.day} {last:%b})"


def _period_util(record: dict, pid: str, key: str) -> float:
    """A stage's utilisation in a period of one record (NaN if unknown)."""
    v = ((record.get("periods") or {}).get(pid) or {}).get("utilisation", {}).get(key)
    return float(v) if v is not None else np.nan


def bottleneck_by_year_figure(records: list[dict], scenario: Scenario) -> Figure:
    """Utilisation of the most utilised stages in each calendar year of the measured
    period (mean over replications, whiskers the 95% CI of the mean), the binding stage
    of each year ringed and labelled; the axis is 0-1."""
    from sim.outputs.summary import stage_means

    clock = _clock(records, scenario)
    years = [pid for pid, p in (records[0].get("periods") or {}).items() if p["kind"] == "year"]
    fig = _new_figure(11.0, 6.0)
    ax = fig.add_subplot()
    _title(fig, scenario, "Bottleneck by year", records)
    if not years:
        ax.text(0.5, 0.5, "No calendar year in the measured period", transform=ax.transAxes,
                ha="center", va="center", fontsize=13, color="#444444")
        ax.set_xticks([])
        ax.set_yticks([])
        return fig
    means = {pid: stage_means(records, pid) for pid in years}
    chosen: list[str] = []
    for pid in years:  # the binding stage and the runner-up of every year
        chosen += [k for k in list(means[pid])[:2] if k not in chosen]
    overall: dict[str, float] = {}
    for pid in years:
        for k, v in means[pid].items():
            overall[k] = max(overall.get(k, 0.0), v)
    for k in sorted(overall, key=lambda k: -overall[k]):
        if len(chosen) >= TOP_STAGES:
            break
        if k not in chosen:
            chosen.append(k)
    x = np.arange(len(years))
    multi = len(records) > 1
    upper: dict[str, np.ndarray] = {}  # each stage's upper whisker by year
    for i, key in enumerate(chosen):
        colour = STAGE_COLOURS[i % len(STAGE_COLOURS)]
        mean = np.array([means[pid].get(key, np.nan) for pid in years])
        per_rep = np.array([[_period_util(r, pid, key) for pid in years] for r in records])
        _, lo, hi = ci95(per_rep, 0.0, UTIL_MAX)
        upper[key] = np.where(np.isfinite(hi), hi, mean)
        yerr = None
        if multi:
            yerr = [np.nan_to_num(np.maximum(mean - lo, 0)),
                    np.nan_to_num(np.maximum(hi - mean, 0))]
        dodge = (i - (len(chosen) - 1) / 2) * DODGE  # whiskers of stages side by side
        ax.errorbar(x + dodge, mean, yerr=yerr, color=colour, marker="o", ms=6, lw=2,
                    capsize=3, elinewidth=1.2, label=_stage_label(scenario, key), zorder=3)
    for j, pid in enumerate(years):
        if not means[pid]:
            continue
        key, value = next(iter(means[pid].items()))
        dodge = (chosen.index(key) - (len(chosen) - 1) / 2) * DODGE if key in chosen else 0.0
        ax.plot(x[j] + dodge, value, marker="o", ms=17, mfc="none", mec=C_BOTTLENECK, mew=2.2,
                zorder=4)
        name = textwrap.shorten(stage_label(scenario, key, short=True, bare=True), 34)
        above = float(np.nanmax([value, upper.get(key, np.full(len(years), np.nan))[j]]))
        room = above < BINDS_TEXT_BELOW  # room for the note above the ring on a 0-1 axis
        ax.annotate(f"binds: ρ {value:.2f}\n{name}", (x[j] + dodge, above if room else value),
                    xytext=(0, 12 if room else -16), textcoords="offset points", ha="center",
                    va="bottom" if room else "top", fontsize=8.5, fontweight="bold",
                    color=C_BOTTLENECK, zorder=5,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1})
    ax.axhline(RHO_REF, color="#333333", ls="--", lw=1.0, zorder=2)
    ax.text(1.0, RHO_REF, f" ρ = {RHO_REF}", transform=ax.get_yaxis_transform(), va="center",
            fontsize=8, color="#333333")
    ax.set_xticks(x, [_year_label(records, pid, clock) for pid in years])
    ax.set_xlim(-0.5, len(years) - 0.5)
    ax.set_ylim(0, UTIL_MAX)
    ax.set_ylabel("Utilisation ρ in the year, 0–1 (mean over replications)")
    ax.set_xlabel("Calendar year of the measured period"
                  + ("" if clock.dated else " (nominal: the scenario has no start_date)"))
    ax.grid(True, axis="y", alpha=0.3)
    note = f"whiskers: {CI_NOTE}" + (" (t = 12.7 with 2: wide)" if len(records) == 2 else "")
    note = note + "; " if multi else ""
    ax.set_title(textwrap.fill(note + "ringed: the binding stage of the year (highest mean ρ); "
                               "timetabled services: share of offered slots filled",
                               CAPTION_CHARS), fontsize=9, color="#444444", loc="left")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        [h[0] if isinstance(h, tuple) else h for h in handles],  # the line, not its whiskers
        labels, loc="outside lower center", ncols=2, fontsize=9, frameon=False,
    )
    return fig
