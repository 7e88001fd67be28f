"""Plots of route choice: each market's shares and generalised costs per route over time.

``routes.png`` has one row per market: on the left the share of bookings each route
alternative gets (the class-weighted choice probability of every daily decision; a
15-day rolling mean with its 95 % CI across replications, the daily values light behind),
on the right the generalised cost shippers expected of each route (USD/TEU). Time axes are
dates with the warm-up shaded and disruptions and dated changes marked, as every time
plot of a run (:mod:`sim.outputs.plots`). The caption says whether the shares settle:
the equilibrium gap (:func:`equilibrium_gap`) of the last measured months against the
noise of the first.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from sim.outputs.plots import (
    _calendar_events,
    _clock,
    _date_axis,
    _end_days,
    _mark_events,
    _new_figure,
    _save,
    _shade_warmup,
    _title,
    _warmup_days,
    ci95,
    rolling_mean,
)
from sim.scenario.schema import Scenario

ROLL_DAYS = 15
SETTLED = 0.05  # equilibrium gap (share of bookings) at or below which shares have settled
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]


def equilibrium_gap(monthly_shares: np.ndarray) -> np.ndarray:
    """Per month: half the sum over routes of |share this month - share last month| (the
    share of bookings that would have to move to repeat last month's split; NaN for the
    first month). Shares that settle give a gap at the level of sampling noise; shares
    that oscillate give a gap that does not shrink."""
    s = np.asarray(monthly_shares, dtype=float)  # months x routes
    gap = np.full(len(s), np.nan)
    if len(s) > 1:
        gap[1:] = 0.5 * np.nansum(np.abs(np.diff(s, axis=0)), axis=1)
    return gap


def settles(records: list[dict], market: str) -> tuple[bool | None, str]:
    """Whether a market's shares settle: the mean equilibrium gap (over replications) of
    the last third of the whole measured months is at most :data:`SETTLED`; with the
    numbers, and the gap of the middle third for comparison."""
    gaps = []
    for r in records:
        m = (r.get("routes") or {}).get(market)
        if m is None:
            continue
        months = r["monthly"]["months"]
        shares = np.array([m["alternatives"][rid]["share"] for rid in m["alternatives"]]).T
        warm_month = int(np.searchsorted(
            np.arange(len(months)) * 730.0, r.get("warmup_h", 0.0), side="right"))
        g = equilibrium_gap(shares)[warm_month + 1 : -1]  # whole measured months
        gaps.append(g)
    if not gaps or min(len(g) for g in gaps) < 3:
        return None, "too few measured months to judge"
    n = min(len(g) for g in gaps)
    g = np.nanmean(np.array([x[:n] for x in gaps]), axis=0)
    third = max(1, n // 3)
    middle, last = float(np.nanmean(g[third : 2 * third])), float(np.nanmean(g[-third:]))
    ok = last <= SETTLED  # a few % of bookings moving from month to month is sampling noise
    verb = "settle" if ok else "still move (oscillate or drift)"
    return ok, (f"shares {verb}: monthly equilibrium gap {100 * last:.1f}% of bookings in the "
                f"last months against {100 * middle:.1f}% before")


def routes_figure(records: list[dict], scenario: Scenario) -> Figure | None:
    """Shares and expected generalised cost per route over time, one row per market."""
    markets = [m for m in scenario.markets if any((r.get("routes") or {}).get(m)
                                                   for r in records)]
    if not markets:
        return None
    fig = _new_figure(18.0, 3.4 * len(markets) + 1.0)
    axes = fig.subplots(len(markets), 2, squeeze=False)
    clock = _clock(records, scenario)
    end = _end_days(records)
    warm = _warmup_days(records)
    events = _calendar_events(scenario, clock, end)
    for row, mid in enumerate(markets):
        alts = list(scenario.markets[mid].alternatives)
        decisions = [r["routes"][mid]["decisions"] for r in records if r.get("routes")]
        n = min(len(d["time_h"]) for d in decisions)
        days = np.asarray(decisions[0]["time_h"][:n]) / 24.0
        ax_s, ax_c = axes[row]
        for j, rid in enumerate(alts):
            colour = COLOURS[j % len(COLOURS)]
            label = scenario.routes[rid].label or rid
            share = np.array([np.asarray(d["share"])[:n, j] for d in decisions])
            cost = np.array([np.asarray(d["generalised_cost_usd_per_teu"])[:n, j]
                             for d in decisions])
            rolled = rolling_mean(share, ROLL_DAYS)
            mean, lo, hi = ci95(rolled, lower=0.0, upper=1.0)
            x = clock.x(days)
            ax_s.plot(x, np.nanmean(share, axis=0), color=colour, lw=0.5, alpha=0.35)
            ax_s.plot(x, mean, color=colour, lw=2.0, label=label)
            if len(decisions) >= 3:  # with 2 replications a t-interval spans the panel
                ax_s.fill_between(x, lo, hi, color=colour, alpha=0.15, lw=0)
            ax_c.plot(x, np.nanmean(cost, axis=0), color=colour, lw=1.5, label=label)
        title = scenario.markets[mid].label or mid
        ax_s.set_title(f"{title}: share of bookings by route", loc="left", fontsize=10)
        ax_s.set_ylim(0.0, 1.0)
        ax_s.set_ylabel("share of bookings")
        ax_c.set_title(f"{title}: generalised cost shippers expect", loc="left", fontsize=10)
        ax_c.set_ylabel("USD per TEU")
        for ax in (ax_s, ax_c):
            _date_axis(ax, clock, end, label=row == len(markets) - 1)
            _shade_warmup(ax, warm, clock, label=False)
            _mark_events(ax, events, clock, texts=False)  # named on the other time plots
            ax.grid(alpha=0.3)
        ok, text = settles(records, mid)
        ax_s.text(0.01, 0.02, text, transform=ax_s.transAxes, fontsize=8, color="#444444")
        ax_c.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    _title(fig, scenario, "Route choice: shares and generalised cost", records)
    fig.text(0.01, 0.005,
             f"Share: the chance a booking picks each route (daily decisions; thick: "
             f"{ROLL_DAYS}-day rolling mean; band: its 95% CI across replications, from 3 "
             "replications on; thin: daily; dashed: dated changes and disruptions, named on "
             "the throughput plot). Generalised cost = tariff + handling + risk + ASC + value "
             "of time x expected transit + value of reliability x expected spread, "
             "class-weighted.",
             fontsize=8, color="#444444", wrap=True)
    with warnings.catch_warnings():  # long captions: tight_layout may not fit them all
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout(rect=(0, 0.03, 1, 0.96))
    return fig


def write_routes_plot(records: list[dict], scenario: Scenario, out_dir: Path) -> Path | None:
    """``routes.png`` in ``out_dir`` when the scenario has markets."""
    fig = routes_figure(records, scenario)
    if fig is None:
        return None
    out = out_dir / "routes.png"
    _save(fig, out)
    return out
