"""Typed schema of a scenario file.

Every key carries its unit in its name (``_h`` hours, ``_days`` days, ``_teu``
twenty-foot equivalent units, ``_km``, ``_per_day``...) or in its description.
The classes here are data only: the simulation reads them, it never mutates
them. Cross-references between tables (a leg's ``from`` node, a flow's route,
a disruption's target) are checked in :mod:`sim.scenario.references`, which
can name the exact key that is wrong.

``docs/scenarios.md`` is generated from these classes
(``python -m sim.scenario.docs``); keep descriptions precise.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

ID_PATTERN = r"^[A-Za-z0-9_\-]+$"
MONTHS = 12


class Strict(BaseModel):
    """Base class: unknown keys are errors (typos must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------------------
# Probability distributions of durations (hours unless the key says otherwise)
# --------------------------------------------------------------------------------------


class FixedDist(Strict):
    """A constant. A bare number in a scenario file means this."""

    dist: Literal["fixed"] = "fixed"
    value: float = Field(ge=0, description="the constant value")

    def mean(self) -> float:
        return self.value


class ExponentialDist(Strict):
    """Exponential (memoryless) distribution."""

    dist: Literal["exponential"]
    mean_value: float = Field(gt=0, alias="mean", description="mean")

    def mean(self) -> float:
        return self.mean_value


class TriangularDist(Strict):
    """Triangular distribution tri(low, mode, high)."""

    dist: Literal["triangular"]
    low: float = Field(ge=0, description="minimum")
    mode: float = Field(ge=0, description="most likely value")
    high: float = Field(ge=0, description="maximum")

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
    low: float = Field(ge=0, description="minimum")
    high: float = Field(ge=0, description="maximum")

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
    median: float = Field(gt=0, description="median (50th percentile)")
    p95: float = Field(gt=0, description="95th percentile; must exceed the median")

    @model_validator(mode="after")
    def _ordered(self) -> LognormalDist:
        if self.p95 <= self.median:
            raise ValueError("expected p95 > median")
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
    mean_value: float = Field(gt=0, alias="mean", description="mean")
    cv: float = Field(gt=0, description="coefficient of variation (standard deviation / mean)")

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
    interval_h: float = Field(gt=0, description="time between scheduled departures, hours")
    offset_h: float = Field(0.0, ge=0, description="time of the first departure, hours")


class DispatchFullOrTimeout(Strict):
    """Leave when full, or ``timeout_h`` after the oldest waiting container became ready."""

    rule: Literal["full_or_timeout"]
    timeout_h: float = Field(gt=0, description="longest wait of the first container, hours")


Dispatch = Annotated[
    DispatchFull | DispatchTimetable | DispatchFullOrTimeout, Field(discriminator="rule")
]

# --------------------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------------------


class NodeBase(Strict):
    label: str | None = Field(None, description="display name (defaults to the id)")
    lat: float | None = Field(None, ge=-90, le=90, description="latitude, WGS84 degrees (maps)")
    lon: float | None = Field(None, ge=-180, le=180, description="longitude, WGS84 degrees")
    yard_capacity_teu: float | None = Field(
        None,
        gt=0,
        description="static yard capacity, TEU; when full, arriving trains and vessels wait "
        "holding their wagons/berth (back-pressure). Omit for unlimited",
    )
    handling_tracks: int | None = Field(
        None,
        ge=1,
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
        None, ge=0, description="handling/transshipment charge per TEU passing this node, USD/TEU"
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
    berths: int = Field(1, ge=1, description="berths available to the modelled vessels")
    cranes_per_berth: int = Field(1, ge=1, description="cranes working one vessel")
    crane_rate_teu_per_h: float = Field(25.0, gt=0, description="moves per crane, TEU/h")
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


Node = Annotated[TerminalNode | BorderNode | PortNode, Field(discriminator="kind")]

# --------------------------------------------------------------------------------------
# Legs, wagon pools, fleets
# --------------------------------------------------------------------------------------


class WagonPool(Strict):
    """Flatcars of one operator; a wagon returns empty to be loaded again."""

    label: str | None = Field(None, description="display name")
    wagons: int = Field(ge=1, description="wagons in the pool")
    teu_per_wagon: float = Field(2.0, gt=0, description="TEU one wagon carries (an FEU or 2x20')")


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
        ge=2, description="train length limit, TEU slots (at least one FEU)"
    )
    paths_per_day: float | None = Field(
        None, gt=0, description="line capacity, train paths per day; omit for unlimited"
    )
    wagon_pool: str | None = Field(
        None, description="id of the [wagon_pools.*] whose wagons this leg uses; omit for unlimited"
    )
    dispatch: Dispatch = Field(default_factory=DispatchFull, description="departure rule")
    distance_km: float | None = Field(None, gt=0, description="length, km (costs, emissions)")
    tariff_usd_per_teu: float | None = Field(
        None, ge=0, description="rate charged per TEU carried on this leg, USD/TEU"
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
        None, gt=0, description="length, nautical miles (costs, emissions)"
    )
    tariff_usd_per_teu: float | None = Field(
        None, ge=0, description="rate charged per TEU carried on this leg, USD/TEU"
    )


Leg = Annotated[RailLeg | SeaLeg, Field(discriminator="mode")]


class Fleet(Strict):
    """Vessels shuttling on one sea leg (loaded out, empty back)."""

    leg: str = Field(description="id of the sea leg this fleet serves")
    label: str | None = Field(None, description="display name")
    vessels: int = Field(ge=1, description="number of vessels")
    capacity_teu: float | None = Field(None, gt=0, description="container slots per vessel, TEU")
    capacity_wagons: int | None = Field(
        None, ge=1, description="rail-ferry capacity in wagons (instead of capacity_teu)"
    )
    teu_per_wagon: float = Field(2.0, gt=0, description="TEU per ferried wagon")
    load_factor: float = Field(
        1.0, gt=0, le=1, description="usable share of the capacity (low water, deadweight)"
    )
    dispatch: Dispatch = Field(default_factory=DispatchFull, description="departure rule")
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
    route: list[str] = Field(min_length=2, description="node ids from origin to destination")
    annual_teu: float = Field(gt=0, description="mean demand, TEU per year (365 days)")
    feu_share: float = Field(1.0, ge=0, le=1, description="share of boxes that are FEU (2 TEU)")
    seasonality: list[float] = Field(
        default_factory=lambda: [1.0] * MONTHS,
        min_length=MONTHS,
        max_length=MONTHS,
        description="relative demand Jan..Dec (12 non-negative factors, rescaled to mean 1)",
    )
    arrivals: Literal["poisson", "block_train"] = Field(
        "poisson", description="single containers (Poisson) or whole block trains"
    )
    block_train_teu: float = Field(
        110.0, ge=1, description="TEU per block train (55 FEU = 110 TEU)"
    )
    headway_cv: float = Field(
        1.0,
        ge=0,
        description="coefficient of variation of block-train headways (1 = Poisson, 0 = regular)",
    )
    study: bool = Field(
        False, description="a China->destination flow whose KPIs are the headline ones"
    )

    @model_validator(mode="after")
    def _seasonality(self) -> Flow:
        if any(s < 0 for s in self.seasonality) or sum(self.seasonality) <= 0:
            raise ValueError("expected 12 non-negative seasonality factors, not all zero")
        return self


class WeatherRegion(Strict):
    """Storms of one sea: a seasonal Poisson process shared by all its ports."""

    storm_rate_per_month: list[float] = Field(
        min_length=MONTHS,
        max_length=MONTHS,
        description="storm onsets per month, Jan..Dec (events/month)",
    )
    storm_duration_h: Duration = Field(description="duration of one storm, hours")

    @model_validator(mode="after")
    def _rates(self) -> WeatherRegion:
        if any(r < 0 for r in self.storm_rate_per_month):
            raise ValueError("expected non-negative storm rates")
        return self


class OutageDisruption(Strict):
    """Random outages: up-times exponential with mean mtbf_h, repair times mttr_h."""

    kind: Literal["outage"]
    target: str = Field(description='"nodes.<id>", "legs.<id>" or "fleets.<id>"')
    enabled: bool = Field(True, description="switch the disruption on or off")
    mtbf_h: float = Field(gt=0, description="mean time between failures, hours")
    mttr_h: Duration = Field(description="time to repair, hours")
    factor: float = Field(0.0, ge=0, le=1, description="capacity factor while down (0 = closed)")


class WindowDisruption(Strict):
    """A scheduled closure or slowdown: from start_day for duration_days."""

    kind: Literal["window"]
    target: str = Field(description='"nodes.<id>", "legs.<id>" or "fleets.<id>"')
    enabled: bool = Field(True, description="switch the disruption on or off")
    start_day: float = Field(ge=0, description="start, days from the simulation start")
    duration_days: float = Field(gt=0, description="length, days")
    factor: float = Field(0.0, ge=0, le=1, description="capacity factor in the window (0 = closed)")
    every_days: float | None = Field(
        None, gt=0, description="repeat the window with this period, days (omit for once)"
    )


class FactorDisruption(Strict):
    """A fixed capacity factor over a period (default: the whole run)."""

    kind: Literal["factor"]
    target: str = Field(description='"nodes.<id>", "legs.<id>" or "fleets.<id>"')
    enabled: bool = Field(True, description="switch the disruption on or off")
    factor: float = Field(ge=0, le=1, description="capacity factor (0 = closed)")
    start_day: float = Field(0.0, ge=0, description="start, days")
    end_day: float | None = Field(None, gt=0, description="end, days (omit: the horizon)")


Disruption = Annotated[
    OutageDisruption | WindowDisruption | FactorDisruption, Field(discriminator="kind")
]

# --------------------------------------------------------------------------------------
# Run settings and the whole scenario
# --------------------------------------------------------------------------------------


class Economics(Strict):
    """Cost and emissions of a scenario, for comparing capacity investments."""

    capex_usd: float = Field(0.0, ge=0, description="investment cost of this case, USD")
    lifetime_years: float = Field(25.0, gt=0, description="economic life of the investment, years")
    opex_usd_per_year: float = Field(
        0.0, ge=0, description="extra operating cost of the investment, USD/year"
    )
    discount_rate: float = Field(
        0.08, ge=0, le=1, description="real discount rate to annualise capex (per year)"
    )
    co2_rail_kg_per_teu_km: float | None = Field(
        None, ge=0, description="emission factor of rail legs, kg CO2 per TEU-km"
    )
    co2_sea_kg_per_teu_km: float | None = Field(
        None, ge=0, description="emission factor of sea legs, kg CO2 per TEU-km"
    )

    def annualised_cost_usd(self) -> float:
        """Capex spread over the lifetime with the capital recovery factor, plus opex."""
        r, n = self.discount_rate, self.lifetime_years
        crf = 1.0 / n if r == 0 else r * (1 + r) ** n / ((1 + r) ** n - 1)
        return self.capex_usd * crf + self.opex_usd_per_year


class RunSettings(Strict):
    """Run settings: horizon, warm-up, replications, seed."""

    name: str = Field(pattern=ID_PATTERN, description="scenario name (used in result paths)")
    description: str = Field("", description="one paragraph for reports")
    horizon_days: float = Field(gt=0, description="simulated time including the warm-up, days")
    warmup_days: float = Field(0.0, ge=0, description="initial period excluded from KPIs, days")
    replications: int = Field(10, ge=1, description="independent replications")
    seed: int = Field(1, ge=0, description="base seed of all random streams")
    gridlock_days: float = Field(
        7.0, gt=0, description="stop and report gridlock when nothing moves this long, days"
    )

    @field_validator("warmup_days")
    @classmethod
    def _warmup(cls, value: float, info: ValidationInfo) -> float:
        horizon = info.data.get("horizon_days")
        if horizon is not None and value >= horizon:
            raise ValueError(f"expected warmup_days ({value:g}) < horizon_days ({horizon:g})")
        return value


class Scenario(Strict):
    """A whole scenario: the network, its demand and disruptions, and run settings."""

    extends: str | None = Field(
        None, description="base scenario file (relative to this file) whose values this overrides"
    )
    scenario: RunSettings
    nodes: dict[Annotated[str, Field(pattern=ID_PATTERN)], Node]
    legs: dict[Annotated[str, Field(pattern=ID_PATTERN)], Leg]
    flows: dict[Annotated[str, Field(pattern=ID_PATTERN)], Flow]
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
    economics: Economics = Field(default_factory=Economics)

    def study_flow_ids(self) -> list[str]:
        """Flows marked ``study = true``; all flows when none is marked."""
        marked = [fid for fid, f in self.flows.items() if f.study]
        return marked or list(self.flows)

    def node_label(self, node_id: str) -> str:
        return self.nodes[node_id].label or node_id
