"""Economics from results: cost and CO2 per TEU of the routes cargo chose, and the
appraisal of an investment (user benefit, induced demand, NPV, benefit-cost ratio).

Cost per TEU of a route alternative, USD (a model result: it moves with the simulated
transit times and with the classes of cargo that chose the route)::

    tariff + handling + risk + VoT × transit + storage × max(0, days at nodes - free days)

with VoT the TEU-weighted value of time of the bookings that chose the route and transit
and days at nodes those the model measured for its boxes booked after the warm-up and
delivered by the end. The run's cost per TEU is the TEU-weighted mean over every market
route (the alternative-specific constant is left out: it is a calibration term, not money).

CO2 per TEU of a route: its legs' lengths times their carriers' well-to-wheel factors (kg
CO2e per TEU-km, ``economics.co2_kg_per_teu_km``), plus its empties' route at the route's
empty share (empty running is allocated to the cargo, as ISO 14083 / GLEC do). The run's
CO2 per TEU is the TEU-weighted mean over the routes boxes took, so it changes when cargo
shifts route.

Appraisal of scenario A against base B, replication by replication (common random
numbers: replication i of both sees the same bookings):

* user benefit, USD/yr = Σ_markets (logsum_A - logsum_B) × TEU offered per year, the
  change in consumer surplus of a logit (the logsum per TEU in USD; it already holds the
  rule of a half for cargo that switched route), plus, for the fixed flows that are
  nobody's choice (background trades; their empties left out), the time they save:
  Σ (transit_B - transit_A) × TEU delivered per year × the markets' mean value of time
  (their classes weighted by TEU offered);
* its induced part, by the rule of a half route by route: Σ_routes ½ (GC_B - GC_A) ×
  (Q_A - Q_B), the benefit of the cargo that switched route, with GC the mean
  generalised cost of the decisions after the warm-up (class-weighted) and Q the TEU
  booked per year; the rest of the user benefit is the cargo's that stayed on its route
  (its rule-of-a-half form, Σ (GC_B - GC_A) × Q_B, multiplies cost changes of a few USD
  on the large coarse routes by their volumes, so it is left as the difference);
* induced demand, TEU/yr = the change in TEU booked on the corridor's routes
  (``routes.<id>.corridor = true``): cargo the corridor gains because it became cheaper or
  faster (from other routes; market totals are fixed);
* NPV = -capex + Σ_{t=1..T} (benefit - opex) / (1 + r)^t and
  BCR = PV(benefit) / (capex + PV(opex)), over T = ``economics.lifetime_years`` at
  ``economics.discount_rate`` (capex, opex and the rate are the alternative's).

Each is a mean with a 95 % t-interval over the replication pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sim.model.calendar import HOURS_PER_YEAR
from sim.scenario.references import legs_between
from sim.scenario.schema import DelayLeg, RailLeg, Scenario
from sim.stats import summarise

KM_PER_NM = 1.852
RAIL_CARRIERS = {"rail_electric", "rail_diesel"}


def leg_km(leg: Any) -> float | None:
    """Length of a leg, km (sea legs are given in nautical miles)."""
    if isinstance(leg, RailLeg | DelayLeg):
        return leg.distance_km
    return leg.distance_nm * KM_PER_NM if leg.distance_nm else None


def leg_factor(scenario: Scenario, leg: Any) -> float | None:
    """kg CO2e per TEU-km of a leg: its carrier's factor, else the rail or sea default."""
    econ = scenario.economics
    carrier = getattr(leg, "carrier", None)
    if carrier is not None and carrier in econ.co2_kg_per_teu_km:
        return econ.co2_kg_per_teu_km[carrier]
    is_rail = isinstance(leg, RailLeg) or carrier in RAIL_CARRIERS
    return econ.co2_rail_kg_per_teu_km if is_rail else econ.co2_sea_kg_per_teu_km


def path_co2_kg_per_teu(scenario: Scenario, nodes: Sequence[str]) -> float:
    """kg CO2e per TEU along ``nodes`` (legs without a length or a factor count 0)."""
    total = 0.0
    for a, b in zip(nodes, nodes[1:], strict=False):
        leg = scenario.legs[legs_between(scenario, a, b)[0]]
        km, factor = leg_km(leg), leg_factor(scenario, leg)
        if km is not None and factor is not None:
            total += km * factor
    return total


def route_co2_kg_per_teu(scenario: Scenario, route_id: str) -> float:
    """A route alternative's kg CO2e per loaded TEU, its empties included."""
    r = scenario.routes[route_id]
    co2 = path_co2_kg_per_teu(scenario, r.route)
    if r.empty_share > 0:
        back = r.empties_route or list(reversed(r.route))
        co2 += r.empty_share * path_co2_kg_per_teu(scenario, back)
    return co2


def route_cost_usd_per_teu(scenario: Scenario, route_id: str, cols: dict) -> float | None:
    """Cost per TEU of a route alternative from its measured numbers ``cols`` (one market's
    entry in a record's ``routes``); None when none of its boxes was measured."""
    r = scenario.routes[route_id]
    econ = scenario.economics
    if not cols.get("measured_teu") or not math.isfinite(cols.get("transit_days_mean", math.nan)):
        return None
    storage_days = max(0.0, cols["node_days_mean"] - econ.storage_free_days)
    return (
        r.tariff_usd_per_teu
        + r.handling_usd_per_teu
        + r.risk_usd_per_teu
        + cols["vot_usd_per_teu_day"] * cols["transit_days_mean"]
        + econ.storage_usd_per_teu_day * storage_days
    )


def _weighted(scenario: Scenario, record: dict, value) -> float | None:
    num = den = 0.0
    for mid, market in (record.get("routes") or {}).items():
        del mid
        for rid, cols in market["alternatives"].items():
            v = value(rid, cols)
            w = cols.get("measured_teu") or 0.0
            if v is None or not w:
                continue
            num += v * w
            den += w
    return num / den if den else None


def cost_per_teu(scenario: Scenario, record: dict) -> float | None:
    """USD per TEU over every market route, weighted by the TEU measured on each."""
    return _weighted(scenario, record,
                     lambda rid, cols: route_cost_usd_per_teu(scenario, rid, cols))


def co2_per_teu(scenario: Scenario, record: dict) -> float | None:
    """kg CO2e per TEU over every market route, weighted by the TEU measured on each."""
    return _weighted(scenario, record, lambda rid, cols: route_co2_kg_per_teu(scenario, rid))


# -- appraisal -----------------------------------------------------------------------------


def _after_warmup(record: dict, mid: str, key: str) -> np.ndarray:
    """A market's per-decision ``key`` column(s) for the decisions after the warm-up."""
    d = record["routes"][mid]["decisions"]
    after = np.asarray(d["time_h"]) >= record.get("warmup_h", 0.0)
    return np.asarray(d[key], dtype=np.float64)[after]


def _measured_logsum(record: dict, mid: str) -> float | None:
    """Mean logsum (USD/TEU) of a market's decisions after the warm-up."""
    ls = _after_warmup(record, mid, "logsum_usd_per_teu")
    ls = ls[np.isfinite(ls)]
    return float(ls.mean()) if len(ls) else None


def user_benefit_usd_per_year(base: dict, alt: dict) -> float | None:
    """Σ over markets of the change in consumer surplus per TEU times TEU offered a year."""
    total, any_ = 0.0, False
    for mid, market in (base.get("routes") or {}).items():
        if mid not in (alt.get("routes") or {}):
            continue
        a, b = _measured_logsum(alt, mid), _measured_logsum(base, mid)
        if a is None or b is None:
            continue
        total += (a - b) * market["offered_teu_per_year"]
        any_ = True
    return total if any_ else None


def mean_vot_usd_per_teu_day(scenario: Scenario) -> float | None:
    """The markets' mean value of time, USD per TEU-day: each cargo class's weighted by its
    share of every market's TEU offered a year (None without markets)."""
    classes = scenario.choice.classes if scenario.choice else {}
    total = weight = 0.0
    for market in scenario.markets.values():
        for cid, share in market.shares(classes).items():
            total += market.annual_teu * share * classes[cid].vot_usd_per_teu_day
            weight += market.annual_teu * share
    return total / weight if weight > 0 else None


def fixed_flow_benefit_usd_per_year(scenario: Scenario, base: dict, alt: dict) -> float:
    """Time saved by the loaded fixed flows (nobody's choice: background trades) in ``alt``
    against ``base``, valued at the markets' mean value of time, USD/yr."""
    vot = mean_vot_usd_per_teu_day(scenario)
    if vot is None:
        return 0.0
    total = 0.0
    for fid, flow in scenario.flows.items():
        if flow.market is not None or flow.empties_of is not None:
            continue
        fb, fa = (base.get("flows") or {}).get(fid), (alt.get("flows") or {}).get(fid)
        if not fb or not fa:
            continue
        tb, ta, q = fb.get("transit_days_mean"), fa.get("transit_days_mean"), fb.get(
            "throughput_teu_per_week")
        if None in (tb, ta, q):
            continue
        total += (tb - ta) * q * (HOURS_PER_YEAR / 168.0) * vot
    return total


def _measured_costs(record: dict, mid: str) -> np.ndarray:
    """Mean generalised cost (USD/TEU, class-weighted) per alternative of a market's
    decisions after the warm-up, in the order of its ``alternatives``."""
    gc = _after_warmup(record, mid, "generalised_cost_usd_per_teu")
    return gc.mean(axis=0) if len(gc) else np.full(gc.shape[1], np.nan)


def benefit_split(base: dict, alt: dict) -> tuple[float, float] | None:
    """User benefit, USD/yr, by the rule of a half: (cargo that stays on its route,
    cargo that switched route), summed over markets and their routes."""
    stays = switched = 0.0
    any_ = False
    for mid, mb in (base.get("routes") or {}).items():
        ma = (alt.get("routes") or {}).get(mid)
        if ma is None or list(ma["alternatives"]) != list(mb["alternatives"]):
            continue
        saving = _measured_costs(base, mid) - _measured_costs(alt, mid)
        for j, rid in enumerate(mb["alternatives"]):
            q_b = mb["alternatives"][rid].get("booked_teu_per_year") or 0.0
            q_a = ma["alternatives"][rid].get("booked_teu_per_year") or 0.0
            if not np.isfinite(saving[j]):
                continue
            stays += saving[j] * q_b
            switched += 0.5 * saving[j] * (q_a - q_b)
            any_ = True
    return (float(stays), float(switched)) if any_ else None


def corridor_teu_per_year(scenario: Scenario, record: dict) -> float:
    """TEU a year booked (after the warm-up) on the routes marked ``corridor``."""
    total = 0.0
    for market in (record.get("routes") or {}).values():
        for rid, cols in market["alternatives"].items():
            if scenario.routes[rid].corridor:
                total += cols.get("booked_teu_per_year") or 0.0
    return total


def present_value(amount_per_year: float, years: float, rate: float) -> float:
    """PV of ``amount_per_year`` paid at the end of each of ``years`` years (a fractional
    last year pays its share)."""
    whole = int(math.floor(years))
    pv = sum(amount_per_year / (1.0 + rate) ** t for t in range(1, whole + 1))
    frac = years - whole
    if frac > 0:
        pv += frac * amount_per_year / (1.0 + rate) ** (whole + 1)
    return pv


def appraise(
    base: Scenario, alt: Scenario, base_records: Sequence[dict], alt_records: Sequence[dict]
) -> dict[str, dict]:
    """User benefit, induced demand, NPV and BCR of ``alt`` against ``base``: per
    replication pair, then mean and 95 % CI. Pairs are matched by replication index."""
    econ = alt.economics
    by_rep = {r["replication"]: r for r in base_records}
    benefit, induced, npv, bcr = [], [], [], []
    stays, switched, fixed_part = [], [], []
    for ra in alt_records:
        rb = by_rep.get(ra["replication"])
        if rb is None or ra.get("gridlock") or rb.get("gridlock"):
            continue
        ub = user_benefit_usd_per_year(rb, ra)
        fixed = fixed_flow_benefit_usd_per_year(base, rb, ra)
        fixed_part.append(fixed)
        if ub is not None:
            ub += fixed
        benefit.append(ub)
        split = benefit_split(rb, ra)
        moved = split[1] if split is not None and ub is not None else None
        switched.append(moved)
        stays.append(ub - moved if moved is not None else None)
        induced.append(corridor_teu_per_year(alt, ra) - corridor_teu_per_year(base, rb))
        if ub is None:
            npv.append(None)
            bcr.append(None)
            continue
        pv_b = present_value(ub, econ.lifetime_years, econ.discount_rate)
        pv_opex = present_value(econ.opex_usd_per_year, econ.lifetime_years, econ.discount_rate)
        npv.append(pv_b - pv_opex - econ.capex_usd)
        cost = econ.capex_usd + pv_opex
        bcr.append(pv_b / cost if cost > 0 else None)
    s_switched = summarise(switched)
    whole = summarise(benefit).get("mean")
    return {
        "user_benefit_usd_per_year": summarise(benefit),
        # the user benefit split: cargo that switched route (rule of a half; induced onto
        # the routes that became cheaper), the rest (cargo staying), and the switched share
        "benefit_existing_usd_per_year": summarise(stays),
        "benefit_fixed_flows_usd_per_year": summarise(fixed_part),
        "benefit_induced_usd_per_year": s_switched,
        "induced_share_of_benefit": (
            s_switched["mean"] / whole if whole and s_switched.get("mean") is not None
            else None),
        "induced_teu_per_year": summarise(induced),
        "npv_usd": summarise(npv),
        "bcr": summarise(bcr),
    }
