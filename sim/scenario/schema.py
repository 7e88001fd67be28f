"""Typed schema of a scenario file.

Every key carries its unit in its name (``_h`` hours, ``_days`` days, ``_teu``
twenty-foot equivalent units, ``_km``, ``_per_day``...) or in its description.
The classes here are data only: the simulation reads them, it never mutates
them. Cross-references between tables (a leg's ``from`` node, a flow's route,
a disruption's target) are checked in :mod:`sim.scenario.references`, which
can name the exact key that is wrong.

``docs/scenarios.md`` is generated from these classes
(``python -m sim.scenario.docs``); keep descriptions precise.

Limits: every number must be finite (``inf`` and ``nan`` are refused) and lie
within bounds a real study never needs to exceed. Past them a value is a typo or
a unit mistake that would make a run exhaust memory or never end, so it is
refused before any work starts, naming the key. Each bounded key carries its
reason (``json_schema_extra={"limit": ...}``), which the docs list under
*Limits*. Whether a whole run (boxes x horizon x replications) fits in memory is
checked separately, by :mod:`sim.scenario.limits`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from sim.scenario.base import (
    DATE_PATTERN,
    ID_PATTERN,
    MAX_ANNUAL_TEU,
    MAX_USD_PER_TEU,
    MONTHS,
    Strict,
)

# --------------------------------------------------------------------------------------
# Limits (see the module docstring); the reasons are rendered into docs/scenarios.md
# --------------------------------------------------------------------------------------

MAX_HORIZON_DAYS = 36_500  # 100 years
MAX_HOURS = 1_000_000  # ~114 years: any duration, period or offset in hours
MIN_PERIOD_H = 1.0  # gridlock_days, every_days, mtbf_h
MIN_TIMETABLE_H = 0.25
MAX_REPLICATIONS = 10_000
MAX_STORMS_PER_MONTH = 30
MAX_VESSELS = 1_000
MAX_WAGONS = 1_000_000
MAX_UNITS = 10_000  # handling tracks, berths
MAX_STOCK_TEU = 10_000_000  # a yard
MAX_TRAIN_TEU = 10_000
MAX_VESSEL_TEU = 50_000
MAX_ROUTE_NODES = 100
MAX_FLOWS = 1_000
MAX_SEED = 2**63 - 1
MAX_LOGNORMAL_SPREAD = 1_000  # p95 / median
MIN_CV = 0.001
MAX_CV = 10

WHY_HORIZON = (
    "100 years is longer than any planning study; every box of demand over the horizon "
    "is simulated and held in memory"
)
WHY_HOURS = (
    "10^6 h (114 years) is longer than the longest horizon (100 years): a longer time "
    "can never elapse within a run"
)
WHY_DAYS = "a day within the longest horizon (100 years)"
WHY_PERIOD = (
    "at least 1 h: a shorter period models no real process, and each period costs a "
    "closure interval or a check over the whole horizon (hundreds of millions of them "
    "over a long run)"
)
WHY_TIMETABLE = (
    "at least 15 minutes between scheduled departures (denser than any line's timetable): "
    "every slot is a simulation event over the whole horizon"
)
WHY_REPLICATIONS = (
    "10,000 replications resolve a KPI's mean to 2% of its standard deviation (95% CI); "
    "more cost time, and memory for every kept record"
)
WHY_ANNUAL_TEU = (
    "50 M TEU/yr per flow is 25 times all China-Europe rail traffic (~2 M TEU in 2023) "
    "and twice the whole Asia-Europe container trade; every box is simulated "
    "(~300 bytes each, see sim/scenario/limits.py)"
)
WHY_STORMS = "30 storm onsets a month is one a day: a sea closed almost all the time"
WHY_VESSELS = (
    "1,000 vessels in one fleet is six times the 167 of the 2 M TEU/yr benchmark; each "
    "vessel is a simulation process"
)
WHY_WAGONS = "a million wagons is more than any railway's whole flatcar fleet"
WHY_UNITS = "10,000 is more than any terminal or port has; omit the key for unlimited"
WHY_CRANES = "100 cranes on one vessel is ten times what the largest ships get"
WHY_CRANE_RATE = (
    "1-1,000 TEU/h per crane: a quay crane moves 20-40 boxes an hour, a roll-on ferry "
    "~100; a rate near zero would hold a vessel at its berth for ever"
)
WHY_WAGON_TEU = (
    "1-20 TEU per wagon: a box is 1 or 2 TEU, a five-platform double-stack unit carries 10 FEU"
)
WHY_STOCK = "10 M TEU is more than any port stacks; omit the key for an unlimited yard"
WHY_TRAIN = "10,000 TEU is ten times the longest double-stack trains"
WHY_PATHS = (
    "one path in 100 days to one a minute; omit the key for unlimited (close a line "
    "with a factor disruption)"
)
WHY_VESSEL_TEU = "50,000 TEU is twice the largest container ship (~24,000 TEU)"
WHY_FERRY_WAGONS = "1,000 wagons is ten times the largest rail ferries"
WHY_MONEY = "beyond any real price or budget; keeps costs finite"
WHY_DISTANCE = "once around the Earth (40,075 km = 21,639 nm)"
WHY_CO2 = "10 kg CO2 per TEU-km is 100 times rail or sea (0.01-0.1)"
WHY_LIFETIME = "1 to 200 years; a shorter life has no annual cost"
WHY_SEED = "a 64-bit integer (written to the result files)"
WHY_ROUTE = "a box's route stage is stored in one byte"
WHY_FLOWS = "a box's flow is stored in two bytes"
WHY_CV = (
    "0.001-10: below 0.001 the draw is a constant (write a fixed value, or headway_cv = 0); "
    "above 10 nearly all draws are zero"
)
WHY_LOGNORMAL = (
    "p95 at most 1,000 x the median (sigma <= 4.2, the mean is then 6,600 x the median); "
    "a wider spread is a unit mistake, and overflows the mean"
)
WHY_SEASONALITY = (
    "factors up to 10^9 (monthly TEU work too: they are rescaled to mean 1), together "
    "at least 10^-6"
)


def _at_least_an_hour(value: Any) -> Any:
    """Before ``ge=1/24`` on a period in days: say "1 h" rather than 0.041666666666666664."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1 / 24:
        raise ValueError(f"expected at least 1 h (1/24 = 0.0417 days), got {value!r}")
    return value


def _limit(why: str) -> dict[str, str]:
    """``json_schema_extra`` of a bounded key: the reason, for the docs' *Limits*."""
    return {"limit": why}


MAX_CHANGES_PER_TABLE = 1_000


def _valid_date(value: str | None) -> str | None:
    """A real calendar date ``YYYY-MM-DD`` (the pattern alone admits 2025-02-31)."""
    if value is not None:
        import datetime as _dt

        try:
            _dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected a calendar date YYYY-MM-DD, got {value!r}") from None
    return value




# --------------------------------------------------------------------------------------
# Probability distributions of durations (hours unless the key says otherwise)
# --------------------------------------------------------------------------------------


class FixedDist(Strict):
    """A constant. A bare number in a scenario file means this."""

    dist: Literal["fixed"] = "fixed"
    value: float = Field(
        ge=0, le=MAX_HOURS, json_schema_extra=_limit(WHY_HOURS), description="the constant value"
    )

    def mean(self) -> float:
        return self.value


class ExponentialDist(Strict):
    """Exponential (memoryless) distribution."""

    dist: Literal["exponential"]
    mean_value: float = Field(
        gt=0, alias="mean", le=MAX_HOURS, json_schema_extra=_limit(WHY_HOURS), description="mean"
    )

    def mean(self) -> float:
        return self.mean_value


class TriangularDist(Strict):
    """Triangular distribution tri(low, mode, high)."""

    dist: Literal["triangular"]
    low: float = Field(
        ge=0, le=MAX_HOURS, json_schema_extra=_limit(WHY_HOURS), description="minimum"
    )
    mode: float = Field(
        ge=0, le=MAX_HOURS, json_schema_extra=_limit(WHY_HOURS), description="most likely value"
    )
    high: float = Field(
        ge=0, le=MAX_HOURS, json_schema_extra=_limit(WHY_HOURS), description="maximum"
    )

    @model_validator(mode="after")
    def _ordered(self) -> TriangularDist:
        if not self.low <= self.mode <= self.high:
            raise ValueError("expected low <= mode <= high")
        return self

    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3.0


class UniformDist(Strict):
    """Uniform distribution on [low, high]."""

    dist: Literal["uniform"]
    low: float = Field(
        ge=0, le=MAX_HOURS, json_schema_extra=_limit(WHY_HOURS), description="minimum"
    )
    high: float = Field(
        ge=0, le=MAX_HOURS, json_schema_extra=_limit(WHY_HOURS), description="maximum"
    )

    @model_validator(mode="after")
    def _ordered(self) -> UniformDist:
        if self.low > self.high:
            raise ValueError("expected low <= high")
        return self

    def mean(self) -> float:
        return (self.low + self.high) / 2.0


class LognormalDist(Strict):
    """Lognormal distribution given by its median and 95th percentile (right-skewed delays)."""

    dist: Literal["lognormal"]
    median: float = Field(
        gt=0,
        le=MAX_HOURS,
        json_schema_extra=_limit(WHY_HOURS),
        description="median (50th percentile)",
    )
    p95: float = Field(
        gt=0,
        le=MAX_HOURS,
        json_schema_extra=_limit(WHY_LOGNORMAL),
        description="95th percentile; must exceed the median, at most 1,000 x the median",
    )

    @model_validator(mode="after")
    def _ordered(self) -> LognormalDist:
        if self.p95 <= self.median:
            raise ValueError("expected p95 > median")
        if self.p95 > MAX_LOGNORMAL_SPREAD * self.median:
            raise ValueError(f"expected p95 <= {MAX_LOGNORMAL_SPREAD:,} x median")
        return self

    def sigma(self) -> float:
        import math

        return math.log(self.p95 / self.median) / 1.6448536269514722

    def mean(self) -> float:
        import math

        return self.median * math.exp(self.sigma() ** 2 / 2.0)


class GammaDist(Strict):
    """Gamma distribution given by mean and coefficient of variation (cv=1 is exponential)."""

    dist: Literal["gamma"]
    mean_value: float = Field(
        gt=0, alias="mean", le=MAX_HOURS, json_schema_extra=_limit(WHY_HOURS), description="mean"
    )
    cv: float = Field(
        ge=MIN_CV,
        le=MAX_CV,
        json_schema_extra=_limit(WHY_CV),
        description="coefficient of variation (standard deviation / mean)",
    )

    def mean(self) -> float:
        return self.mean_value


Distribution = Annotated[
    FixedDist | ExponentialDist | TriangularDist | UniformDist | LognormalDist | GammaDist,
    Field(discriminator="dist"),
]


def _number_is_fixed(value: Any) -> Any:
    if isinstance(value, bool):
        return value  # let validation reject it
    if isinstance(value, int | float):
        return {"dist": "fixed", "value": value}
    return value


Duration = Annotated[Distribution, BeforeValidator(_number_is_fixed)]
"""A duration: a bare number (constant) or a table ``{dist = "...", ...}``."""

ZERO = FixedDist(value=0.0)

# --------------------------------------------------------------------------------------
# Departure rules (trains and vessels)
# --------------------------------------------------------------------------------------


class DispatchFull(Strict):
    """Leave when the batch is full (train length or vessel capacity reached)."""

    rule: Literal["full"] = "full"


class DispatchTimetable(Strict):
    """Leave at fixed times ``offset_h + k * interval_h`` with whatever is waiting (maybe none)."""

    rule: Literal["timetable"]
    interval_h: float = Field(
        ge=MIN_TIMETABLE_H,
        le=MAX_HOURS,
        json_schema_extra=_limit(WHY_TIMETABLE),
        description="time between scheduled departures, hours",
    )
    offset_h: float = Field(
        0.0,
        ge=0,
        le=MAX_HOURS,
        json_schema_extra=_limit(WHY_HOURS),
        description="time of the first departure, hours",
    )


class DispatchFullOrTimeout(Strict):
    """Leave when full, or ``timeout_h`` after the oldest waiting container became ready."""

    rule: Literal["full_or_timeout"]
    timeout_h: float = Field(
        gt=0,
        le=MAX_HOURS,
        json_schema_extra=_limit(WHY_HOURS),
        description="longest wait of the first container, hours",
    )


Dispatch = Annotated[
    DispatchFull | DispatchTimetable | DispatchFullOrTimeout, Field(discriminator="rule")
]

# --------------------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------------------


class NodeBase(Strict):
    label: str | None = Field(None, description="display name (defaults to the id)")
    other_traffic_share: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="share of the handling tracks, berths and yard taken by traffic the "
        "scenario does not model (e.g. non-corridor trains at a border); the modelled traffic "
        "gets round(n x (1 - share)) tracks and berths (at least 1) and yard x (1 - share)",
    )
    lat: float | None = Field(None, ge=-90, le=90, description="latitude, WGS84 degrees (maps)")
    lon: float | None = Field(None, ge=-180, le=180, description="longitude, WGS84 degrees")
    yard_capacity_teu: float | None = Field(
        None,
        gt=0,
        le=MAX_STOCK_TEU,
        json_schema_extra=_limit(WHY_STOCK),
        description="static yard capacity, TEU; when full, arriving trains and vessels wait "
        "holding their wagons/berth (back-pressure). Omit for unlimited",
    )
    handling_tracks: int | None = Field(
        None,
        ge=0,
        le=MAX_UNITS,
        json_schema_extra=_limit(WHY_UNITS),
        description="inbound trains that can be unloaded/transshipped at once; omit for "
        "unlimited. With train_handling_h this sets trains/day",
    )
    train_handling_h: Duration = Field(
        ZERO, description="time one track takes to unload (or transship) one inbound train, hours"
    )
    clearance_h: Duration = Field(
        ZERO,
        description="clearance of an inbound train or vessel after unloading (customs, "
        "documents), hours, sampled per batch; containers are not ready before it ends",
    )
    dwell_h: Duration = Field(
        ZERO,
        description="minimum dwell of each container before it is ready, hours, sampled "
        "per container",
    )
    handling_usd_per_teu: float | None = Field(
        None,
        ge=0,
        le=MAX_USD_PER_TEU,
        json_schema_extra=_limit(WHY_MONEY),
        description="handling/transshipment charge per TEU passing this node, USD/TEU",
    )


class TerminalNode(NodeBase):
    """A rail terminal: origin, destination or intermediate train (re)formation point."""

    kind: Literal["terminal"]


class BorderNode(NodeBase):
    """A border crossing, possibly with a gauge change (containers transshipped to other wagons)."""

    kind: Literal["border"]
    gauge_change: bool = Field(
        False,
        description="true where containers move between 1435 and 1520 mm wagons "
        "(informational; the wagon pools of the legs on each side carry the effect)",
    )


class PortNode(NodeBase):
    """A port: berths with cranes, a yard, and exposure to the weather of its sea."""

    kind: Literal["port"]
    berths: int = Field(
        1,
        ge=0,
        le=MAX_UNITS,
        json_schema_extra=_limit(WHY_UNITS),
        description="berths available to the modelled vessels",
    )
    cranes_per_berth: int = Field(
        1,
        ge=1,
        le=100,
        json_schema_extra=_limit(WHY_CRANES),
        description="cranes working one vessel",
    )
    crane_rate_teu_per_h: float = Field(
        25.0,
        ge=1,
        le=1_000,
        json_schema_extra=_limit(WHY_CRANE_RATE),
        description="moves per crane, TEU/h",
    )
    vessel_fixed_h: Duration = Field(
        ZERO, description="berth time per call besides crane work (mooring, documents), hours"
    )
    weather_region: str | None = Field(
        None, description="id of a [weather.*] region whose storms stop departures here"
    )
    storm_sensitivity: float = Field(
        1.0,
        ge=0,
        le=1,
        description="share of storms (the strongest ones) that close this port; 1 = every "
        "storm, 0.3 = a sheltered port closed only by the 30% strongest",
    )


class GatewayNode(NodeBase):
    """A point where a coarse route joins or leaves the network (or a region it ends in):
    no tracks, berths or yard limit, and boxes there take no yard space. Boxes reach it by a
    ``delay`` leg or by rail/sea, and go on at once."""

    kind: Literal["gateway"]

    @model_validator(mode="after")
    def _no_yard(self) -> GatewayNode:
        if self.yard_capacity_teu is not None:
            raise ValueError("a gateway holds boxes without a yard: omit yard_capacity_teu")
        return self


Node = Annotated[
    TerminalNode | BorderNode | PortNode | GatewayNode, Field(discriminator="kind")
]

# --------------------------------------------------------------------------------------
# Legs, wagon pools, fleets
# --------------------------------------------------------------------------------------


class WagonPool(Strict):
    """Flatcars of one operator; a wagon returns empty to be loaded again."""

    label: str | None = Field(None, description="display name")
    wagons: int = Field(
        ge=0,
        le=MAX_WAGONS,
        json_schema_extra=_limit(WHY_WAGONS),
        description="wagons in the pool (0: none until a dated change adds some)",
    )
    teu_per_wagon: float = Field(
        2.0,
        ge=1,
        le=20,
        json_schema_extra=_limit(WHY_WAGON_TEU),
        description="TEU one wagon carries (an FEU or 2x20')",
    )


Carrier = Literal["rail_electric", "rail_diesel", "deep_sea", "feeder", "ferry", "road"]
"""What carries a leg, for its emission factor (``economics.co2_kg_per_teu_km``)."""


class RailLeg(Strict):
    """A rail line between two nodes; trains form at its origin by the dispatch rule."""

    mode: Literal["rail"]
    from_node: str = Field(alias="from", description="origin node id")
    to_node: str = Field(alias="to", description="destination node id")
    label: str | None = Field(None, description="display name")
    run_time_h: Duration = Field(description="loaded run time, hours")
    return_time_h: Duration | None = Field(
        None, description="empty wagon return time, hours (defaults to run_time_h)"
    )
    train_capacity_teu: float = Field(
        ge=2,
        le=MAX_TRAIN_TEU,
        json_schema_extra=_limit(WHY_TRAIN),
        description="train length limit, TEU slots (at least one FEU)",
    )
    paths_per_day: float | None = Field(
        None,
        ge=0.01,
        le=1_440,
        json_schema_extra=_limit(WHY_PATHS),
        description="line capacity, train paths per day; omit for unlimited",
    )
    other_traffic_share: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="share of the train paths taken by traffic the scenario does not model "
        "(needs paths_per_day)",
    )
    wagon_pool: str | None = Field(
        None, description="id of the [wagon_pools.*] whose wagons this leg uses; omit for unlimited"
    )
    backhaul_of: str | None = Field(
        None,
        description="id of the rail leg running the other way with the same wagon pool: its "
        "wagons, once unloaded here, load this leg's waiting cargo before running back empty "
        "(when too few are here, wagons come empty from the pool, taking that leg's return time)",
    )
    dispatch: Dispatch = Field(default_factory=DispatchFull, description="departure rule")
    distance_km: float | None = Field(
        None,
        gt=0,
        le=40_075,
        json_schema_extra=_limit(WHY_DISTANCE),
        description="length, km (costs, emissions)",
    )
    tariff_usd_per_teu: float | None = Field(
        None,
        ge=0,
        le=MAX_USD_PER_TEU,
        json_schema_extra=_limit(WHY_MONEY),
        description="rate charged per TEU carried on this leg, USD/TEU",
    )
    carrier: Literal["rail_electric", "rail_diesel"] | None = Field(
        None, description="what carries it, for emissions (see economics.co2_kg_per_teu_km)"
    )


class SeaLeg(Strict):
    """A sea crossing between two ports, served by one or more [fleets.*]."""

    mode: Literal["sea"]
    from_node: str = Field(alias="from", description="origin port id")
    to_node: str = Field(alias="to", description="destination port id")
    label: str | None = Field(None, description="display name")
    sail_time_h: Duration = Field(description="loaded crossing time, hours")
    return_time_h: Duration | None = Field(
        None, description="return crossing time, hours (defaults to sail_time_h)"
    )
    distance_nm: float | None = Field(
        None,
        gt=0,
        le=21_639,
        json_schema_extra=_limit(WHY_DISTANCE),
        description="length, nautical miles (costs, emissions)",
    )
    tariff_usd_per_teu: float | None = Field(
        None,
        ge=0,
        le=MAX_USD_PER_TEU,
        json_schema_extra=_limit(WHY_MONEY),
        description="rate charged per TEU carried on this leg, USD/TEU",
    )
    carrier: Literal["deep_sea", "feeder", "ferry"] | None = Field(
        None, description="what carries it, for emissions (see economics.co2_kg_per_teu_km)"
    )


class DelayLeg(Strict):
    """A coarse stretch with no capacity that matters (an infinite server): each box takes a
    transit time drawn for it when it is ready to leave, and costs no simulation event.
    Boxes arriving by it must end at a gateway node."""

    mode: Literal["delay"]
    from_node: str = Field(alias="from", description="origin node id")
    to_node: str = Field(alias="to", description="destination node id (a gateway)")
    label: str | None = Field(None, description="display name")
    transit_h: Duration = Field(description="transit of one box, hours (drawn per box)")
    carrier: Carrier = Field("rail_diesel", description="what carries the boxes (emissions)")
    distance_km: float | None = Field(
        None,
        gt=0,
        le=40_075,
        json_schema_extra=_limit(WHY_DISTANCE),
        description="length, km (costs, emissions)",
    )
    tariff_usd_per_teu: float | None = Field(
        None,
        ge=0,
        le=MAX_USD_PER_TEU,
        json_schema_extra=_limit(WHY_MONEY),
        description="rate charged per TEU carried on this leg, USD/TEU",
    )


Leg = Annotated[RailLeg | SeaLeg | DelayLeg, Field(discriminator="mode")]


class Fleet(Strict):
    """Vessels shuttling on one sea leg (loaded out, empty back)."""

    leg: str = Field(description="id of the sea leg this fleet serves")
    label: str | None = Field(None, description="display name")
    vessels: int = Field(
        ge=0,
        le=MAX_VESSELS,
        json_schema_extra=_limit(WHY_VESSELS),
        description="number of vessels (0: none until a dated change adds some)",
    )
    capacity_teu: float | None = Field(
        None,
        gt=0,
        le=MAX_VESSEL_TEU,
        json_schema_extra=_limit(WHY_VESSEL_TEU),
        description="container slots per vessel, TEU",
    )
    capacity_wagons: int | None = Field(
        None,
        ge=1,
        le=1_000,
        json_schema_extra=_limit(WHY_FERRY_WAGONS),
        description="rail-ferry capacity in wagons (instead of capacity_teu)",
    )
    teu_per_wagon: float = Field(
        2.0,
        ge=1,
        le=20,
        json_schema_extra=_limit(WHY_WAGON_TEU),
        description="TEU per ferried wagon",
    )
    load_factor: float = Field(
        1.0, gt=0, le=1, description="usable share of the capacity (low water, deadweight)"
    )
    dispatch: Dispatch = Field(default_factory=DispatchFull, description="departure rule")
    return_leg: str | None = Field(
        None,
        description="id of the sea leg back (from this leg's destination to its origin): the "
        "vessels load the cargo waiting there, if any, before sailing back (else they return "
        "empty)",
    )
    turnaround_h: Duration = Field(
        ZERO, description="idle time per cycle at the origin (bunkering, crew, repairs), hours"
    )

    @model_validator(mode="after")
    def _one_capacity(self) -> Fleet:
        if (self.capacity_teu is None) == (self.capacity_wagons is None):
            raise ValueError("expected exactly one of capacity_teu or capacity_wagons")
        if self.nominal_capacity_teu() * self.load_factor < 2:
            raise ValueError("expected a usable capacity (x load_factor) of at least 2 TEU")
        return self

    def nominal_capacity_teu(self) -> float:
        """TEU per vessel before the load factor."""
        if self.capacity_teu is not None:
            return self.capacity_teu
        return float(self.capacity_wagons) * self.teu_per_wagon  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Demand, weather, disruptions
# --------------------------------------------------------------------------------------


class Flow(Strict):
    """Containers sent along one route: demand and where they go."""

    label: str | None = Field(None, description="display name")
    route: list[str] = Field(
        min_length=2,
        max_length=MAX_ROUTE_NODES,
        json_schema_extra=_limit(WHY_ROUTE),
        description="node ids from origin to destination",
    )
    annual_teu: float = Field(
        0.0,
        ge=0,
        le=MAX_ANNUAL_TEU,
        json_schema_extra=_limit(WHY_ANNUAL_TEU),
        description="mean demand, TEU per year (365 days); required (> 0) unless empties_of",
    )
    feu_share: float = Field(1.0, ge=0, le=1, description="share of boxes that are FEU (2 TEU)")
    seasonality: list[Annotated[float, Field(ge=0, le=1e9)]] = Field(
        default_factory=lambda: [1.0] * MONTHS,
        min_length=MONTHS,
        max_length=MONTHS,
        json_schema_extra=_limit(WHY_SEASONALITY),
        description="relative demand Jan..Dec (12 non-negative factors, rescaled to mean 1)",
    )
    arrivals: Literal["poisson", "block_train"] = Field(
        "poisson", description="single containers (Poisson) or whole block trains"
    )
    block_train_teu: float = Field(
        110.0,
        ge=1,
        le=MAX_TRAIN_TEU,
        json_schema_extra=_limit(WHY_TRAIN),
        description="TEU per block train (55 FEU = 110 TEU)",
    )
    headway_cv: float = Field(
        1.0,
        ge=0,
        le=MAX_CV,
        json_schema_extra=_limit(WHY_CV),
        description="coefficient of variation of block-train headways (1 = Poisson, 0 = regular;"
        " else at least 0.001)",
    )
    study: bool = Field(
        False, description="a China->destination flow whose KPIs are the headline ones"
    )
    empties_of: str | None = Field(
        None,
        description="this flow carries the empty containers of flow <id> back: a box of it is "
        "created when a carrier-owned box of that flow is delivered (at that flow's "
        "destination, which must be this route's first node); annual_teu, arrivals and the "
        "demand path are not used",
    )
    empty_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="with empties_of: share of that flow's boxes that are carrier-owned and "
        "return empty (the others are shipper-owned and stay)",
    )
    empty_turn_h: Duration = Field(
        ZERO,
        description="with empties_of: time from the delivery of the loaded box until the empty "
        "box is back at this route's first node, ready to leave (unpacking, drayage), hours",
    )
    market: str | None = Field(
        None,
        description="generated: the [markets.*] whose boxes this flow carries on one of its "
        "route alternatives (never written in a scenario file)",
    )
    alternative: str | None = Field(
        None, description="generated: the [routes.*] alternative this flow is"
    )
    growth_per_year: float = Field(
        0.0,
        ge=-0.5,
        le=1.0,
        description="demand growth per calendar year, compounded from base_year (0.15 = 15 %/yr); "
        "the level steps on 1 January",
    )
    base_year: int | None = Field(
        None,
        ge=1900,
        le=2200,
        description="the calendar year whose demand is annual_teu (default: the year of the "
        "first measured day, so a warm-up in the year before runs at last year's demand)",
    )
    teu_by_year: dict[Annotated[str, Field(pattern=r"^\d{4}$")], float] = Field(
        default_factory=dict,
        max_length=200,
        description='demand level of given calendar years, TEU/yr (e.g. {"2027" = 95000}); a '
        "year not listed grows at growth_per_year from the nearest earlier listed year, or "
        "from annual_teu in base_year",
    )
    start_date: str | None = Field(
        None,
        pattern=DATE_PATTERN,
        description="first day of demand, YYYY-MM-DD (omit: from the start)",
    )
    end_date: str | None = Field(
        None, pattern=DATE_PATTERN, description="day demand stops, YYYY-MM-DD (omit: never)"
    )

    @field_validator("start_date", "end_date")
    @classmethod
    def _dates(cls, value: str | None) -> str | None:
        return _valid_date(value)

    @field_validator("teu_by_year")
    @classmethod
    def _levels(cls, value: dict[str, float]) -> dict[str, float]:
        for year, teu in value.items():
            if not 0 <= teu <= MAX_ANNUAL_TEU:
                raise ValueError(f"expected 0 <= TEU <= {MAX_ANNUAL_TEU:g} for {year}, got {teu!r}")
        return value

    @field_validator("headway_cv")
    @classmethod
    def _headway_cv(cls, value: float) -> float:
        if 0 < value < MIN_CV:
            raise ValueError(f"expected 0 (regular headways) or at least {MIN_CV}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _demand(self) -> Flow:
        if self.empties_of is None and self.annual_teu <= 0:
            raise ValueError("expected annual_teu > 0 (or empties_of for a flow of empties)")
        return self

    @model_validator(mode="after")
    def _seasonality(self) -> Flow:
        if any(s < 0 for s in self.seasonality) or sum(self.seasonality) < 1e-6:
            raise ValueError(
                "expected 12 non-negative seasonality factors, not all zero (sum >= 1e-6)"
            )
        return self


class WeatherRegion(Strict):
    """Storms of one sea: a seasonal Poisson process shared by all its ports."""

    storm_rate_per_month: list[Annotated[float, Field(ge=0, le=MAX_STORMS_PER_MONTH)]] = Field(
        min_length=MONTHS,
        max_length=MONTHS,
        json_schema_extra=_limit(WHY_STORMS),
        description="storm onsets per month, Jan..Dec (events/month)",
    )
    storm_duration_h: Duration = Field(description="duration of one storm, hours")

    @model_validator(mode="after")
    def _rates(self) -> WeatherRegion:
        if any(r < 0 for r in self.storm_rate_per_month):
            raise ValueError("expected non-negative storm rates")
        return self


TARGET_HELP = (
    '"nodes.<id>", "legs.<id>", "fleets.<id>" or "wagon_pools.<id>" (what the factor scales '
    'on each: "What a capacity factor scales" below)'
)


class OutageDisruption(Strict):
    """Random outages: up-times exponential with mean mtbf_h, repair times mttr_h."""

    kind: Literal["outage"]
    target: str = Field(description=TARGET_HELP)
    enabled: bool = Field(True, description="switch the disruption on or off")
    mtbf_h: float = Field(
        ge=MIN_PERIOD_H,
        le=MAX_HOURS,
        json_schema_extra=_limit(WHY_PERIOD),
        description="mean time between failures, hours",
    )
    mttr_h: Duration = Field(description="time to repair, hours")
    factor: float = Field(0.0, ge=0, le=1, description="capacity factor while down (0 = closed)")


class WindowDisruption(Strict):
    """A scheduled closure or slowdown: from start_day for duration_days."""

    kind: Literal["window"]
    target: str = Field(description=TARGET_HELP)
    enabled: bool = Field(True, description="switch the disruption on or off")
    start_day: float = Field(
        ge=0,
        le=MAX_HORIZON_DAYS,
        json_schema_extra=_limit(WHY_DAYS),
        description="start, days from the simulation start",
    )
    duration_days: float = Field(
        gt=0, le=MAX_HORIZON_DAYS, json_schema_extra=_limit(WHY_DAYS), description="length, days"
    )
    factor: float = Field(0.0, ge=0, le=1, description="capacity factor in the window (0 = closed)")
    every_days: float | None = Field(
        None,
        ge=MIN_PERIOD_H / 24,
        le=MAX_HORIZON_DAYS,
        json_schema_extra=_limit(WHY_PERIOD),
        description="repeat the window with this period, days (omit for once)",
    )

    @field_validator("every_days", mode="before")
    @classmethod
    def _every(cls, value: Any) -> Any:
        return _at_least_an_hour(value)


class FactorDisruption(Strict):
    """A fixed capacity factor over a period (default: the whole run)."""

    kind: Literal["factor"]
    target: str = Field(description=TARGET_HELP)
    enabled: bool = Field(True, description="switch the disruption on or off")
    factor: float = Field(ge=0, le=1, description="capacity factor (0 = closed)")
    start_day: float = Field(
        0.0,
        ge=0,
        le=MAX_HORIZON_DAYS,
        json_schema_extra=_limit(WHY_DAYS),
        description="start, days",
    )
    end_day: float | None = Field(
        None,
        gt=0,
        le=MAX_HORIZON_DAYS,
        json_schema_extra=_limit(WHY_DAYS),
        description="end, days (omit: the horizon)",
    )


FACTOR_MEANING: dict[str, str] = {
    "nodes": "the speed of all its work — train handling on its tracks, crane moves and the "
    "fixed berth time of a vessel call — and the size of its yard (a yard cut below its level "
    "admits nothing until it has emptied below it); 0 closes the node",
    "legs (rail)": "its train paths per day (trains booked while it holds are spaced 1/f "
    "further apart); a rail leg without paths_per_day can only be closed (0), a factor "
    "between 0 and 1 there is refused",
    "legs (sea)": "the TEU each sailing of every fleet on it may carry; 0 stops departures",
    "fleets": "the TEU each of its sailings may carry; 0 stops its departures",
    "wagon_pools": "the wagons in the pool (round(wagons x f)); wagons taken away leave as they "
    "come free",
}
"""What a capacity factor (0..1) of a disruption scales, by kind of target."""


Disruption = Annotated[
    OutageDisruption | WindowDisruption | FactorDisruption, Field(discriminator="kind")
]

# --------------------------------------------------------------------------------------
# Run settings and the whole scenario
# --------------------------------------------------------------------------------------


class Economics(Strict):
    """Cost and emissions of a scenario, for comparing capacity investments."""

    capex_usd: float = Field(
        0.0,
        ge=0,
        le=1e13,
        json_schema_extra=_limit(WHY_MONEY),
        description="investment cost of this case, USD",
    )
    lifetime_years: float = Field(
        25.0,
        ge=1,
        le=200,
        json_schema_extra=_limit(WHY_LIFETIME),
        description="economic life of the investment, years",
    )
    opex_usd_per_year: float = Field(
        0.0,
        ge=0,
        le=1e12,
        json_schema_extra=_limit(WHY_MONEY),
        description="extra operating cost of the investment, USD/year",
    )
    discount_rate: float = Field(
        0.08, ge=0, le=1, description="real discount rate to annualise capex (per year)"
    )
    co2_rail_kg_per_teu_km: float | None = Field(
        None,
        ge=0,
        le=10,
        json_schema_extra=_limit(WHY_CO2),
        description="emission factor of rail legs, kg CO2 per TEU-km",
    )
    co2_sea_kg_per_teu_km: float | None = Field(
        None,
        ge=0,
        le=10,
        json_schema_extra=_limit(WHY_CO2),
        description="emission factor of sea legs, kg CO2 per TEU-km",
    )
    co2_kg_per_teu_km: dict[Carrier, Annotated[float, Field(ge=0, le=10)]] = Field(
        default_factory=dict,
        description="well-to-wheel emission factor by what carries a leg (its `carrier`), "
        "kg CO2e per TEU-km; a leg without a carrier, or a carrier not listed, uses "
        "co2_rail_kg_per_teu_km or co2_sea_kg_per_teu_km",
    )
    storage_usd_per_teu_day: float = Field(
        0.0,
        ge=0,
        le=MAX_USD_PER_TEU,
        json_schema_extra=_limit(WHY_MONEY),
        description="waiting and storage charge at nodes, USD per TEU per day beyond "
        "storage_free_days (summed along the route); part of the cost per TEU",
    )
    storage_free_days: float = Field(
        0.0, ge=0, le=365, description="days at nodes along a route before storage is charged"
    )

    def annualised_cost_usd(self) -> float:
        """Capex spread over the lifetime with the capital recovery factor, plus opex."""
        r, n = self.discount_rate, self.lifetime_years
        growth = (1 + r) ** n
        # a rate so small that 1 + r rounds to 1 is a zero rate (no division by zero)
        crf = 1.0 / n if r == 0 or growth == 1.0 else r * growth / (growth - 1)
        return self.capex_usd * crf + self.opex_usd_per_year


CHANGEABLE: dict[str, tuple[str, ...]] = {
    "nodes": (
        "handling_tracks",
        "berths",
        "cranes_per_berth",
        "crane_rate_teu_per_h",
        "yard_capacity_teu",
        "other_traffic_share",
    ),
    "legs": ("paths_per_day", "train_capacity_teu", "other_traffic_share"),
    "fleets": ("vessels", "capacity_teu", "load_factor"),
    "wagon_pools": ("wagons",),
    "flows": ("annual_teu",),
    "markets": ("annual_teu",),
}
"""Keys a dated change can set, by table (every one a capacity or a demand level)."""


class Change(Strict):
    """A dated change: from ``date`` (or ``day``) on, each key of ``set`` has its new value.

    One syntax for any capacity or demand level: a phased investment is a change (or
    a few); the plain value of each key stays its value at the start.
    """

    label: str | None = Field(None, description="what the change is (for reports and plots)")
    enabled: bool = Field(True, description="switch the change on or off")
    date: str | None = Field(
        None, pattern=DATE_PATTERN, description="day it takes effect, YYYY-MM-DD (needs start_date)"
    )
    day: float | None = Field(
        None,
        ge=0,
        le=MAX_HORIZON_DAYS,
        json_schema_extra=_limit(WHY_DAYS),
        description="or: day it takes effect, days from the simulation start",
    )
    set: dict[str, float] = Field(
        min_length=1,
        max_length=200,
        description='new values by dotted key, e.g. {"fleets.caspian_feeders.vessels" = 8}; '
        "keys: " + "; ".join(f"{t}.<id>.{{{', '.join(k)}}}" for t, k in CHANGEABLE.items()),
    )

    @field_validator("date")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        return _valid_date(value)

    @model_validator(mode="after")
    def _when(self) -> Change:
        if (self.date is None) == (self.day is None):
            raise ValueError("expected exactly one of date or day")
        return self


class RunSettings(Strict):
    """Run settings: horizon, warm-up, replications, seed."""

    name: str = Field(pattern=ID_PATTERN, description="scenario name (used in result paths)")
    description: str = Field("", description="one paragraph for reports")
    start_date: str | None = Field(
        None,
        pattern=DATE_PATTERN,
        description="first simulated day, YYYY-MM-DD: outputs are dated, seasonality and "
        "growth follow calendar months and years. Omit: a nominal 1 January with 730-h months "
        "(scenarios written before dates existed keep their numbers)",
    )
    horizon_days: float = Field(
        gt=0,
        le=MAX_HORIZON_DAYS,
        json_schema_extra=_limit(WHY_HORIZON),
        description="simulated time including the warm-up, days",
    )
    warmup_days: float = Field(
        0.0, ge=0, description="initial period excluded from KPIs, days (< horizon_days)"
    )
    replications: int = Field(
        10,
        ge=1,
        le=MAX_REPLICATIONS,
        json_schema_extra=_limit(WHY_REPLICATIONS),
        description="independent replications",
    )
    seed: int = Field(
        1,
        ge=0,
        le=MAX_SEED,
        json_schema_extra=_limit(WHY_SEED),
        description="base seed of all random streams",
    )
    gridlock_days: float = Field(
        7.0,
        ge=MIN_PERIOD_H / 24,
        le=MAX_HORIZON_DAYS,
        json_schema_extra=_limit(WHY_PERIOD),
        description="stop and report gridlock when nothing moves this long, days",
    )

    @field_validator("gridlock_days", mode="before")
    @classmethod
    def _gridlock(cls, value: Any) -> Any:
        return _at_least_an_hour(value)

    @field_validator("start_date")
    @classmethod
    def _start(cls, value: str | None) -> str | None:
        return _valid_date(value)

    @field_validator("warmup_days")
    @classmethod
    def _warmup(cls, value: float, info: ValidationInfo) -> float:
        horizon = info.data.get("horizon_days")
        if horizon is not None and value >= horizon:
            raise ValueError(f"expected warmup_days ({value:g}) < horizon_days ({horizon:g})")
        return value


class Period(Strict):
    """A named period for KPIs: ``[from, to)`` by dates (``from_date``/``to_date``) or by
    days from the simulation start (``from_day``/``to_day``). Without ``start_date`` the
    dates count from the nominal start, 2025-01-01."""

    label: str | None = Field(None, description="what the period is (for reports)")
    from_date: str | None = Field(
        None, pattern=DATE_PATTERN, description="first day, YYYY-MM-DD"
    )
    to_date: str | None = Field(
        None, pattern=DATE_PATTERN, description="day after the last, YYYY-MM-DD (exclusive)"
    )
    from_day: float | None = Field(
        None,
        ge=0,
        le=MAX_HORIZON_DAYS,
        json_schema_extra=_limit(WHY_DAYS),
        description="or: start, days from the simulation start",
    )
    to_day: float | None = Field(
        None,
        gt=0,
        le=MAX_HORIZON_DAYS,
        json_schema_extra=_limit(WHY_DAYS),
        description="end (exclusive), days from the simulation start",
    )

    @field_validator("from_date", "to_date")
    @classmethod
    def _dates(cls, value: str | None) -> str | None:
        return _valid_date(value)

    @model_validator(mode="after")
    def _bounds(self) -> Period:
        dates = (self.from_date, self.to_date)
        days = (self.from_day, self.to_day)
        if not (all(d is not None for d in dates) and all(d is None for d in days)) and not (
            all(d is None for d in dates) and all(d is not None for d in days)
        ):
            raise ValueError("expected from_date and to_date, or from_day and to_day")
        if self.from_date is not None and self.to_date <= self.from_date:  # type: ignore[operator]
            raise ValueError("expected to_date after from_date")
        if self.from_day is not None and self.to_day <= self.from_day:  # type: ignore[operator]
            raise ValueError("expected to_day after from_day")
        return self




from sim.scenario.markets import (  # noqa: E402 - markets use the types above
    Choice,
    Market,
    Operator,
    RouteAlternative,
    expand_markets,
)


class Scenario(Strict):
    """A whole scenario: the network, its demand and disruptions, and run settings."""

    extends: str | None = Field(
        None, description="base scenario file (relative to this file) whose values this overrides"
    )
    scenario: RunSettings
    nodes: dict[Annotated[str, Field(pattern=ID_PATTERN)], Node]
    legs: dict[Annotated[str, Field(pattern=ID_PATTERN)], Leg]
    flows: dict[Annotated[str, Field(pattern=ID_PATTERN)], Flow] = Field(
        default_factory=dict, max_length=MAX_FLOWS, json_schema_extra=_limit(WHY_FLOWS)
    )
    fleets: dict[Annotated[str, Field(pattern=ID_PATTERN)], Fleet] = Field(default_factory=dict)
    wagon_pools: dict[Annotated[str, Field(pattern=ID_PATTERN)], WagonPool] = Field(
        default_factory=dict
    )
    weather: dict[Annotated[str, Field(pattern=ID_PATTERN)], WeatherRegion] = Field(
        default_factory=dict
    )
    disruptions: dict[Annotated[str, Field(pattern=ID_PATTERN)], Disruption] = Field(
        default_factory=dict
    )
    changes: dict[Annotated[str, Field(pattern=ID_PATTERN)], Change] = Field(
        default_factory=dict, max_length=MAX_CHANGES_PER_TABLE
    )
    economics: Economics = Field(default_factory=Economics)
    periods: dict[Annotated[str, Field(pattern=ID_PATTERN)], Period] = Field(
        default_factory=dict,
        max_length=MAX_CHANGES_PER_TABLE,
        description="named periods whose KPIs summary.json reports (beside each calendar "
        "year and each disruption window)",
    )
    markets: dict[Annotated[str, Field(pattern=ID_PATTERN)], Market] = Field(
        default_factory=dict,
        max_length=MAX_FLOWS,
        description="demand that chooses its route among [routes.*] alternatives",
    )
    routes: dict[Annotated[str, Field(pattern=ID_PATTERN)], RouteAlternative] = Field(
        default_factory=dict, max_length=MAX_FLOWS, description="route alternatives of markets"
    )
    operators: dict[Annotated[str, Field(pattern=ID_PATTERN)], Operator] = Field(
        default_factory=dict, description="who takes bookings on routes, with booking limits"
    )
    choice: Choice = Field(default_factory=Choice, description="how bookings choose a route")

    @model_validator(mode="after")
    def _markets(self) -> Scenario:
        """Check the markets' references and add their flows (one per market x route)."""
        if self.markets or self.routes:
            for key, flow in expand_markets(self).items():
                self.flows[key] = flow  # generated: left out of dumps (see _dump_flows)
        if not self.flows and not self.markets:
            raise ValueError("expected at least one [flows.*] or [markets.*]")
        return self

    @field_serializer("flows")
    def _dump_flows(self, flows: dict[str, Flow]) -> dict[str, Flow]:
        return {k: f for k, f in flows.items() if f.market is None}

    def study_flow_ids(self) -> list[str]:
        """Flows marked ``study = true``; all flows when none is marked."""
        marked = [fid for fid, f in self.flows.items() if f.study]
        return marked or list(self.flows)

    def node_label(self, node_id: str) -> str:
        return self.nodes[node_id].label or node_id
