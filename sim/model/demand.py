"""Demand: every container of a flow over the horizon, generated before the run.

Arrivals follow a non-homogeneous renewal process with a piecewise-constant
rate — by calendar month in a dated run, by 730-h month from 1 January otherwise, times
the flow's demand path (growth, levels by year, dated changes): unit-rate
gaps are drawn (exponential for Poisson, gamma with the flow's ``headway_cv``
for block trains) and mapped through the inverse cumulative rate. Poisson
flows produce single boxes (FEU with probability ``feu_share``); block-train
flows produce whole trains of ``block_train_teu`` arriving together.
Generating up front costs no simulation events and gives common random numbers
(same stream name → same arrivals in every scenario).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model.calendar import HOURS_PER_DAY, Calendar
from sim.model.random_streams import stream
from sim.model.schedule import Schedule
from sim.scenario.schema import Flow, Scenario

HOURS_PER_YEAR = 8760.0
HOURS_PER_MONTH = HOURS_PER_YEAR / 12.0  # the months of a run without a start date


@dataclass(frozen=True)
class Arrivals:
    """Boxes of one flow: arrival times (h, sorted) and sizes (1 or 2 TEU)."""

    time_h: np.ndarray
    teu: np.ndarray


def block_composition(flow: Flow) -> tuple[int, int]:
    """(FEU, TEU boxes) of one block train, matching ``feu_share`` of boxes."""
    feu = int(round(flow.block_train_teu * flow.feu_share / (1.0 + flow.feu_share)))
    teu = max(0, int(round(flow.block_train_teu - 2 * feu)))
    return feu, teu


def _event_times(edges: np.ndarray, rates: np.ndarray, cv: float, rng) -> np.ndarray:
    """Renewal epochs with rate ``rates[k]`` (per hour) on ``[edges[k], edges[k + 1])``."""
    n_months = len(rates)
    cum = np.concatenate(([0.0], np.cumsum(rates * np.diff(edges))))
    total = cum[-1]
    if total <= 0:
        return np.empty(0)
    if cv == 0.0:
        epochs = np.arange(0.5, total, 1.0)  # regular: half a headway into each unit
    else:
        # unit-rate gaps in "expected arrivals" space, drawn in blocks until past the total
        expected = int(total + 6 * np.sqrt(total) + 16)
        gaps = []
        acc = 0.0
        while acc <= total:
            if cv == 1.0:
                g = rng.exponential(1.0, expected)
            else:
                shape = 1.0 / cv**2
                g = rng.gamma(shape, 1.0 / shape, expected)
            gaps.append(g)
            acc += g.sum()
        epochs = np.cumsum(np.concatenate(gaps))
        epochs = epochs[epochs < total]
    # invert the piecewise-linear cumulative rate
    m = np.searchsorted(cum, epochs, side="right") - 1
    m = np.clip(m, 0, n_months - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = edges[m] + (epochs - cum[m]) / rates[m]
    return t[np.isfinite(t)]


def monthly_rates(horizon_h: float, seasonality: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Month edges (730-h months from 1 January) and the relative rate of each month: the
    demand profile of a run without a start date, as it always was."""
    edges, month = Calendar(None).demand_months(horizon_h)
    season = np.asarray(seasonality, dtype=float)
    return edges, (season / season.mean())[month]


def demand_profile(
    flow_id: str,
    flow: Flow,
    scenario: Scenario,
    calendar: Calendar,
    schedule: Schedule,
    table: str = "flows",
) -> tuple[np.ndarray, np.ndarray] | None:
    """Interval edges (hours) and demand in TEU/yr on each, when the flow's demand follows
    a path — calendar months, growth, levels by year, dated changes, a start or end date;
    None for a flow whose demand is one level with the 730-h seasonal profile.

    The level in calendar year Y at time t is ``teu_by_year[Y]`` if listed; else the
    nearest earlier listed level grown at ``growth_per_year`` per year; else
    ``annual_teu(t) x (1 + growth)^(Y - base_year)``, where ``annual_teu(t)`` is the
    plain value as changed by dated ``[changes]``. ``base_year`` defaults to the year of
    the first measured day. Outside ``[start_date, end_date)`` demand is 0.
    """
    horizon_h = scenario.scenario.horizon_days * HOURS_PER_DAY
    steps = schedule.steps_of(table, flow_id, "annual_teu")  # a flow's, or a market's
    plain = not (
        calendar.dated
        or flow.growth_per_year
        or flow.teu_by_year
        or steps
        or flow.start_date
        or flow.end_date
    )
    if plain:
        return None
    edges, month = calendar.demand_months(horizon_h)
    season = np.asarray(flow.seasonality, dtype=float)
    season = season / season.mean()
    cuts = [t for t, _ in steps]
    years = calendar.year_starts(horizon_h)
    cuts += [a for _, a, _ in years]
    window = []
    for when in (flow.start_date, flow.end_date):
        if when is not None:
            window.append(calendar.hours_of(calendar.parse(when)))
            cuts.append(window[-1])
    edges_all = np.unique(np.concatenate((edges, [c for c in cuts if 0 < c < horizon_h])))
    starts = edges_all[:-1]
    month_idx = np.searchsorted(edges, starts, side="right") - 1
    first_measured = calendar.years(np.array([scenario.scenario.warmup_days * HOURS_PER_DAY]))[0]
    base_year = flow.base_year or int(first_measured)
    listed = {int(y): v for y, v in flow.teu_by_year.items()}
    year_of = calendar.years(starts)
    level = np.empty(len(starts))
    for k, (t, y) in enumerate(zip(starts, year_of, strict=True)):
        level[k] = _level(flow, schedule, (table, flow_id), listed, base_year, int(y), float(t))
    if flow.start_date is not None:
        level[starts < calendar.hours_of(calendar.parse(flow.start_date))] = 0.0
    if flow.end_date is not None:
        level[starts >= calendar.hours_of(calendar.parse(flow.end_date))] = 0.0
    return edges_all, level * season[month[month_idx]]


def _level(
    flow: Flow,
    schedule: Schedule,
    key: tuple[str, str],
    listed: dict[int, float],
    base_year: int,
    year: int,
    t: float,
) -> float:
    g = 1.0 + flow.growth_per_year
    if year in listed:
        return listed[year]
    earlier = [y for y in listed if y < year]
    if earlier:
        y0 = max(earlier)
        return listed[y0] * g ** (year - y0)
    annual = schedule.value(*key, "annual_teu", flow.annual_teu, t)  # (table, id)
    return annual * g ** (year - base_year)


def generate(
    flow_id: str,
    flow: Flow,
    seed: int,
    replication: int,
    horizon_h: float,
    profile: tuple[np.ndarray, np.ndarray] | None = None,
) -> Arrivals:
    """All boxes of ``flow`` arriving before ``horizon_h``.

    ``profile`` is the flow's demand path (:func:`demand_profile`): interval edges and
    TEU/yr on each (seasonality included); without one, ``annual_teu`` with the 730-h
    seasonal profile.
    """
    rng = stream(seed, replication, f"demand:{flow_id}")
    if profile is None:
        edges, relative = monthly_rates(horizon_h, flow.seasonality)

        def per_hour(teu_per_unit: float) -> np.ndarray:
            return flow.annual_teu / (HOURS_PER_YEAR * teu_per_unit) * relative
    else:
        edges, teu_per_year = profile

        def per_hour(teu_per_unit: float) -> np.ndarray:
            return teu_per_year / (HOURS_PER_YEAR * teu_per_unit)

    if flow.arrivals == "poisson":
        rate = per_hour(1.0 + flow.feu_share)
        t = _event_times(edges, rate, 1.0, rng)
        teu = np.where(rng.random(len(t)) < flow.feu_share, 2, 1).astype(np.int8)
        return Arrivals(t, teu)
    feu, single = block_composition(flow)
    rate = per_hour(feu * 2 + single)
    trains = _event_times(edges, rate, flow.headway_cv, rng)
    boxes = np.concatenate((np.full(feu, 2, np.int8), np.full(single, 1, np.int8)))
    t = np.repeat(trains, len(boxes))
    teu = np.tile(boxes, len(trains))
    return Arrivals(t, teu)
