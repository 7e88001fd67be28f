"""Markets and route alternatives: demand that chooses its route (schema part).

A **market** is demand from an origin region to a destination region (TEU per year on a
dated path, seasonality, cargo classes). Each market lists **route alternatives**
(``[routes.<id>]``: a route through the network with its tariff, handling charges, a
published prior for its transit time, its operator and nest). Every booking chooses an
alternative by a logit on generalised cost (:mod:`sim.model.market`).

Inside the model each market × alternative is an ordinary flow, with id
``<market>:<route>`` (the same route, the same queues, the same outputs as any flow); the
flows are generated here from the markets, so a scenario never writes them, and
``scenario.resolved.json`` lists only the markets and routes they come from. A generated
flow's ``annual_teu`` is the market's demand times the alternative's share at the prior
costs (what a planner would expect before any box moves); the model itself books each
market's boxes one by one.

Generalised cost of alternative r for cargo class c, USD per TEU::

    GC = tariff + handling + VoT_c × E[transit] + VoR_c × spread + risk + ASC

with E[transit] and spread (P95 − P50) in days, as shippers expect them (their prior until
boxes arrive, then a moving window of delivered boxes). Utility is ``-scale × GC``.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from pydantic import Field, model_validator

from sim.scenario.base import (
    DATE_PATTERN,
    ID_PATTERN,
    MAX_ANNUAL_TEU,
    MAX_USD_PER_TEU,
    MONTHS,
    Strict,
)
from sim.scenario.schema import ZERO, Duration  # schema imports this module after defining them

MAX_ALTERNATIVES = 30
MAX_DAYS = 3_650.0
FLOW_SEPARATOR = ":"


def flow_id(market: str, route: str) -> str:
    """The id of the flow of ``market``'s boxes on ``route``."""
    return f"{market}{FLOW_SEPARATOR}{route}"


def empties_flow_id(market: str, route: str) -> str:
    """The id of the flow of the empties ``market``'s boxes on ``route`` leave behind."""
    return f"{market}{FLOW_SEPARATOR}{route}{FLOW_SEPARATOR}empties"


class CargoClass(Strict):
    """Shippers of one kind: what a day and a day of spread cost them, and their rules."""

    label: str | None = Field(None, description="display name")
    vot_usd_per_teu_day: float = Field(
        ge=0, le=1e5, description="value of time, USD per TEU per day in transit"
    )
    vor_usd_per_teu_day: float = Field(
        0.0,
        ge=0,
        le=1e5,
        description="value of reliability, USD per TEU per day of transit spread (P95 - P50)",
    )
    eu_compliant: bool = Field(
        False,
        description="shippers bound by EU sanctions compliance (a route closed_for "
        "'eu_compliant' is not available to them)",
    )


class RouteAlternative(Strict):
    """One way a market's boxes can go: a route through the network and what it costs."""

    label: str | None = Field(None, description="display name")
    route: list[str] = Field(
        min_length=2, max_length=64, description="node ids in travel order"
    )
    tariff_usd_per_teu: float = Field(
        ge=0, le=MAX_USD_PER_TEU, description="door-to-door rate, USD per TEU"
    )
    handling_usd_per_teu: float = Field(
        0.0, ge=0, le=MAX_USD_PER_TEU, description="handling and transshipment charges, USD/TEU"
    )
    risk_usd_per_teu: float = Field(
        0.0,
        ge=0,
        le=MAX_USD_PER_TEU,
        description="route-risk premium (insurance, seizure, sanctions exposure), USD/TEU",
    )
    asc_usd_per_teu: float = Field(
        0.0,
        ge=-MAX_USD_PER_TEU,
        le=MAX_USD_PER_TEU,
        description="alternative-specific constant, USD/TEU: what the costs above leave out "
        "(calibrated to observed volumes)",
    )
    prior_transit_days: float = Field(
        gt=0, le=MAX_DAYS, description="door-to-door transit shippers expect before boxes arrive"
    )
    prior_spread_days: float = Field(
        0.0, ge=0, le=MAX_DAYS, description="P95 - P50 of transit shippers expect, days"
    )
    empty_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="share of its boxes that are carrier-owned and go back empty (along "
        "empties_route) once delivered; 0 for routes whose carriers reposition outside the "
        "modelled network (the sea, the Northern route)",
    )
    empty_turn_h: Duration = Field(
        ZERO, description="time from delivery until the empty box is ready at the route's end"
    )
    empties_route: list[str] | None = Field(
        None, description="node ids the empties travel (default: the route reversed)"
    )
    corridor: bool = Field(
        False,
        description="part of the corridor under study: its TEU are the corridor's volume "
        "(induced demand in an appraisal is the change in them)",
    )
    nest: str | None = Field(None, description="id of the [choice.nests.*] this belongs to")
    operator: str | None = Field(
        None, description="id of the [operators.*] that accepts its bookings (omit: no limit)"
    )
    closed_for: list[str] = Field(
        default_factory=list,
        description='cargo classes that may not use it: class ids, "eu_compliant" (every '
        'class with eu_compliant = true) or "all"',
    )


class Operator(Strict):
    """Who takes bookings on some routes, and stops when its backlog is too long."""

    label: str | None = Field(None, description="display name")
    booking_limit_teu: float | None = Field(
        None,
        gt=0,
        le=MAX_ANNUAL_TEU,
        description="refuse new bookings while this many TEU booked on its routes are not "
        "yet delivered (omit: no limit)",
    )
    booking_limit_days: float | None = Field(
        None,
        gt=0,
        le=MAX_DAYS,
        description="the same limit in days of capacity_teu_per_day",
    )
    capacity_teu_per_day: float | None = Field(
        None, gt=0, le=MAX_ANNUAL_TEU, description="what the operator says it can carry a day"
    )

    @model_validator(mode="after")
    def _limit(self) -> Operator:
        if self.booking_limit_days is not None and self.capacity_teu_per_day is None:
            raise ValueError("expected capacity_teu_per_day with booking_limit_days")
        return self

    def limit_teu(self) -> float:
        """The backlog at which bookings are refused, TEU (inf: none)."""
        limits = [math.inf]
        if self.booking_limit_teu is not None:
            limits.append(self.booking_limit_teu)
        if self.booking_limit_days is not None and self.capacity_teu_per_day is not None:
            limits.append(self.booking_limit_days * self.capacity_teu_per_day)
        return min(limits)


class Nest(Strict):
    """Alternatives that are closer substitutes for one another than for the rest."""

    label: str | None = Field(None, description="display name")
    lambda_: float = Field(
        1.0,
        alias="lambda",
        ge=0.05,
        le=1,
        description="nest parameter (1 = as independent as a multinomial logit; smaller = "
        "closer substitutes; below 0.05 the choice within the nest is all but deterministic "
        "and exp() would overflow)",
    )


class Choice(Strict):
    """How bookings choose: the logit and what shippers know."""

    scale_per_usd: float = Field(
        0.002,
        ge=1e-6,
        le=1.0,
        description="logit scale: utility = -scale x generalised cost (per USD/TEU); below "
        "1e-6 a million USD per TEU would not sway a shipper (and the logsum overflows)",
    )
    nests: dict[Annotated[str, Field(pattern=ID_PATTERN)], Nest] = Field(default_factory=dict)
    classes: dict[Annotated[str, Field(pattern=ID_PATTERN)], CargoClass] = Field(
        default_factory=lambda: {"average": CargoClass(vot_usd_per_teu_day=100.0)},
        min_length=1,
        max_length=20,
    )
    decision_interval_h: float = Field(
        24.0, ge=1, le=24 * 31, description="bookings are decided in batches this often, hours"
    )
    info_window_days: float = Field(
        30.0, gt=0, le=MAX_DAYS, description="shippers look at boxes delivered over this window"
    )
    info_lag_days: float = Field(
        7.0, ge=0, le=MAX_DAYS, description="how old the newest delivery they know of is"
    )
    prior_weight_boxes: float = Field(
        20.0,
        ge=0,
        le=1e6,
        description="the prior counts as this many delivered boxes in the expectation",
    )
    feedback: bool = Field(
        True,
        description="false: shippers keep their prior transit (no congestion feedback)",
    )


class Market(Strict):
    """Demand from an origin region to a destination region, choosing among alternatives."""

    label: str | None = Field(None, description="display name")
    origin_region: str = Field(description="where the boxes come from (display)")
    destination_region: str = Field(description="where they go (display)")
    alternatives: list[str] = Field(
        min_length=1, max_length=MAX_ALTERNATIVES, description="ids of [routes.*] it may take"
    )
    annual_teu: float = Field(
        gt=0, le=MAX_ANNUAL_TEU, description="TEU offered per year (365 days)"
    )
    class_shares: dict[str, float] = Field(
        default_factory=dict,
        description="share of the market's TEU per cargo class id (sums to 1; omit: the "
        "first class of [choice.classes] takes all)",
    )
    feu_share: float = Field(1.0, ge=0, le=1, description="share of boxes that are FEU")
    seasonality: list[Annotated[float, Field(ge=0, le=1e9)]] = Field(
        default_factory=lambda: [1.0] * MONTHS, min_length=MONTHS, max_length=MONTHS
    )
    growth_per_year: float = Field(0.0, ge=-0.5, le=1.0)
    base_year: int | None = Field(None, ge=1900, le=2200)
    teu_by_year: dict[Annotated[str, Field(pattern=r"^\d{4}$")], float] = Field(
        default_factory=dict, max_length=200
    )
    start_date: str | None = Field(None, pattern=DATE_PATTERN)
    end_date: str | None = Field(None, pattern=DATE_PATTERN)
    study: bool = Field(False, description="its flows' KPIs are the headline ones")

    @model_validator(mode="after")
    def _shares(self) -> Market:
        if self.class_shares:
            if any(not (0 <= s <= 1) for s in self.class_shares.values()):
                raise ValueError("expected class shares between 0 and 1")
            if abs(sum(self.class_shares.values()) - 1.0) > 1e-6:
                raise ValueError(
                    f"expected class shares summing to 1, got {sum(self.class_shares.values())!r}"
                )
        if len(set(self.alternatives)) != len(self.alternatives):
            raise ValueError("expected each alternative once")
        return self

    def shares(self, classes: dict[str, CargoClass]) -> dict[str, float]:
        """Class id -> share of the market (the first class if none are given)."""
        return dict(self.class_shares) if self.class_shares else {next(iter(classes)): 1.0}


def available(route: RouteAlternative, class_id: str, cls: CargoClass) -> bool:
    """Whether shippers of ``class_id`` may book ``route``."""
    closed = set(route.closed_for)
    eu = cls.eu_compliant and "eu_compliant" in closed
    return not ("all" in closed or class_id in closed or eu)


def prior_costs(scenario, market_id: str) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """Alternatives, classes, generalised cost (classes x alternatives, USD/TEU) at the prior
    transit, and which alternatives each class may book."""
    market = scenario.markets[market_id]
    classes = scenario.choice.classes
    shares = market.shares(classes)
    cids = list(shares)
    alts = list(market.alternatives)
    cost = np.zeros((len(cids), len(alts)))
    open_ = np.zeros((len(cids), len(alts)), dtype=bool)
    for i, cid in enumerate(cids):
        cls = classes[cid]
        for j, rid in enumerate(alts):
            r = scenario.routes[rid]
            cost[i, j] = generalised_cost(
                r, cls, r.prior_transit_days, r.prior_spread_days
            )
            open_[i, j] = available(r, cid, cls)
    return alts, cids, cost, open_


def generalised_cost(r: RouteAlternative, cls: CargoClass, transit_days, spread_days):
    """GC in USD/TEU of route ``r`` for class ``cls`` at the expected transit and spread
    (days; scalars or arrays)."""
    fixed = r.tariff_usd_per_teu + r.handling_usd_per_teu + r.risk_usd_per_teu
    return (
        fixed
        + r.asc_usd_per_teu
        + cls.vot_usd_per_teu_day * transit_days
        + cls.vor_usd_per_teu_day * spread_days
    )


def nest_arrays(scenario, alts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Nest index and λ of each alternative (an alternative in no nest is its own nest)."""
    names = list(scenario.choice.nests)
    nest = np.empty(len(alts), dtype=np.int64)
    lam = np.ones(len(alts))
    for j, rid in enumerate(alts):
        n = scenario.routes[rid].nest
        if n is None:
            nest[j] = len(names) + j
        else:
            nest[j] = names.index(n)
            lam[j] = scenario.choice.nests[n].lambda_
    return nest, lam


def prior_shares(scenario, market_id: str) -> dict[str, float]:
    """Share of ``market_id``'s TEU each alternative gets at the prior costs."""
    from sim.model.choice import nested_logit

    alts, cids, cost, open_ = prior_costs(scenario, market_id)
    nest, lam = nest_arrays(scenario, alts)
    prob, _ = nested_logit(cost, open_, scenario.choice.scale_per_usd, nest, lam)
    weights = np.array([scenario.markets[market_id].shares(scenario.choice.classes)[c]
                        for c in cids])
    share = weights @ prob
    return {rid: float(s) for rid, s in zip(alts, share, strict=True)}


def market_problems(scenario) -> list[tuple[str, str]]:
    """``(key, what was expected)`` of every wrong reference among markets, routes,
    operators and classes (reported by :mod:`sim.scenario.references`)."""
    out: list[tuple[str, str]] = []
    classes = scenario.choice.classes
    pairs = {(leg.from_node, leg.to_node) for leg in scenario.legs.values()}
    for rid, r in scenario.routes.items():
        for k, nid in enumerate(r.route):
            if nid not in scenario.nodes:
                out.append((f"routes.{rid}.route",
                            f"expected node ids, got {nid!r} (no such node)"))
            elif k and (r.route[k - 1], nid) not in pairs:
                out.append((f"routes.{rid}.route",
                            f"expected a leg from {r.route[k - 1]!r} to {nid!r} (none exists)"))
        if len(set(r.route)) != len(r.route):
            out.append((f"routes.{rid}.route", "expected each node once"))
        back = list(r.empties_route or reversed(r.route)) if r.empty_share > 0 else []
        for k, nid in enumerate(back):
            if nid not in scenario.nodes:
                out.append((f"routes.{rid}.empties_route", f"expected node ids, got {nid!r}"))
            elif k and (back[k - 1], nid) not in pairs:
                out.append((f"routes.{rid}.empties_route" if r.empties_route else
                            f"routes.{rid}.empty_share",
                            f"expected a leg from {back[k - 1]!r} to {nid!r} for the empties "
                            "(none exists; give empties_route)"))
        if back and back[0] != r.route[-1]:
            out.append((f"routes.{rid}.empties_route",
                        f"expected to start where the route ends ({r.route[-1]!r})"))
        if r.nest is not None and r.nest not in scenario.choice.nests:
            out.append((f"routes.{rid}.nest",
                        f"expected one of [choice.nests] {sorted(scenario.choice.nests)}, "
                        f"got {r.nest!r}"))
        if r.operator is not None and r.operator not in scenario.operators:
            out.append((f"routes.{rid}.operator",
                        f"expected one of [operators] {sorted(scenario.operators)}, "
                        f"got {r.operator!r}"))
        for c in r.closed_for:
            if c not in ("all", "eu_compliant") and c not in classes:
                out.append((f"routes.{rid}.closed_for",
                            f"expected a class id {sorted(classes)}, 'eu_compliant' or 'all', "
                            f"got {c!r}"))
    for mid, m in scenario.markets.items():
        if mid in scenario.flows and scenario.flows[mid].market is None:
            out.append((f"markets.{mid}", "expected an id no flow has (a market and a flow "
                        "may not share one)"))
        for rid in m.alternatives:
            if rid not in scenario.routes:
                out.append((f"markets.{mid}.alternatives",
                            f"expected ids of [routes] {sorted(scenario.routes)}, got {rid!r}"))
        for cid in m.class_shares:
            if cid not in classes:
                out.append((f"markets.{mid}.class_shares.{cid}",
                            f"expected a class of [choice.classes] {sorted(classes)}"))
    if out:
        return out
    for mid in scenario.markets:
        if sum(prior_shares(scenario, mid).values()) <= 0:
            out.append((f"markets.{mid}.alternatives",
                        "expected at least one alternative open to its cargo classes "
                        "(every one is closed_for them)"))
    return out


def expand_markets(scenario) -> dict:
    """The markets' flows (``market:route`` -> Flow); none while a reference is wrong
    (:func:`market_problems` names it)."""
    from sim.scenario.schema import Flow

    if market_problems(scenario):
        return {}
    flows = {}
    for mid, m in scenario.markets.items():
        shares = prior_shares(scenario, mid)
        for rid in m.alternatives:
            r = scenario.routes[rid]
            flows[flow_id(mid, rid)] = Flow(
                label=f"{m.label or mid} via {r.label or rid}",
                route=list(r.route),
                annual_teu=max(m.annual_teu * shares[rid], 1e-9),
                feu_share=m.feu_share,
                seasonality=list(m.seasonality),
                study=m.study,
                market=mid,
                alternative=rid,
                growth_per_year=m.growth_per_year,
                base_year=m.base_year,
                teu_by_year={y: v * shares[rid] for y, v in m.teu_by_year.items()},
                start_date=m.start_date,
                end_date=m.end_date,
            )
            if r.empty_share > 0:
                flows[empties_flow_id(mid, rid)] = Flow(
                    label=f"{m.label or mid} via {r.label or rid}: empties",
                    route=list(r.empties_route or reversed(r.route)),
                    empties_of=flow_id(mid, rid),
                    empty_share=r.empty_share,
                    empty_turn_h=r.empty_turn_h,
                    market=mid,
                    alternative=rid,
                )
    return flows
