"""Costs, emissions and route capacity of a scenario, for ranking investments.

* Cost per TEU of a study flow: the sum of the tariffs (USD/TEU) of the legs on
  its route plus the handling charges of its nodes.
* CO2 per TEU: leg lengths (km; sea legs in nm x 1.852) times the emission
  factor of the leg's mode (kg CO2 per TEU-km).
* Corridor capacity (TEU/yr) under proportional growth of all flows: if every
  flow grew by a factor k, every stage's utilisation would grow by about k, so
  the first stage saturates at k = 1/ρ_max. Capacity = current throughput of
  all flows / ρ_max (the bottleneck's utilisation). An investment's *extra
  capacity* is the paired change of this quantity, so the "annualised cost per
  extra TEU of capacity" is measured by the model, not asserted by the
  scenario's author; it credits an investment only with what it adds before
  the next stage binds.

Cost and CO2 per TEU are *inputs*, not model results: each study flow's route has one
tariff sum and one distance, so the model only averages the scenario's own numbers
(weighted by each flow's demand, so the average is the same in every replication). The
console and the report show them as assumptions (:data:`INPUT_KPIS`), never with a
confidence interval or a "difference" as if simulated.

Throughput is bounded by demand: while every stage has spare capacity, the study flows
deliver what they are sent, whatever is invested; under common random numbers every
scenario is sent the same boxes, so a "throughput gain" is only the few boxes still in
transit at the horizon. What an investment buys is capacity: :func:`corridor_capacity`
and :func:`demand_headroom` (how much all demand could grow before the binding stage
saturates).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from sim.scenario.references import legs_between
from sim.scenario.schema import Scenario

HOURS_PER_YEAR = 8760.0


def route_legs(scenario: Scenario, flow_id: str) -> list[str]:
    route = scenario.flows[flow_id].route
    return [legs_between(scenario, a, b)[0] for a, b in zip(route, route[1:], strict=False)]


def route_cost_usd_per_teu(scenario: Scenario, flow_id: str) -> float | None:
    """Tariffs plus handling along the route (None if no tariff is given at all)."""
    parts = [scenario.legs[lid].tariff_usd_per_teu for lid in route_legs(scenario, flow_id)]
    parts += [scenario.nodes[n].handling_usd_per_teu for n in scenario.flows[flow_id].route]
    known = [p for p in parts if p is not None]
    return sum(known) if known else None


def route_co2_kg_per_teu(scenario: Scenario, flow_id: str) -> float | None:
    """Distance times emission factor along the route (None without factors or distances)."""
    from sim.experiments.appraisal import leg_factor, leg_km

    total, known = 0.0, False
    for lid in route_legs(scenario, flow_id):
        leg = scenario.legs[lid]
        factor, km = leg_factor(scenario, leg), leg_km(leg)
        if factor is not None and km is not None:
            total += factor * km
            known = True
    return total if known else None


INPUT_KPIS = {
    "cost_usd_per_teu": "the sum of the scenario's tariffs and handling charges (USD/TEU) "
    "along each study route, averaged over the study flows by their demand",
    "co2_kg_per_teu": "each study route's distance times the scenario's emission factor "
    "per mode (kg CO2 per TEU-km), averaged over the study flows by their demand",
}
"""KPIs that restate the scenario's inputs (identical in every replication): shown as
assumptions with how they are computed, not as results with a CI."""


def _weighted(scenario: Scenario, per_flow) -> float | None:
    """Average of ``per_flow(flow_id)`` over the study flows, weighted by their demand
    (``annual_teu``): a property of the scenario, the same in every replication."""
    num = den = 0.0
    for fid in scenario.study_flow_ids():
        value = per_flow(scenario, fid)
        weight = scenario.flows[fid].annual_teu or 0.0
        if value is None or not weight:
            continue
        num += value * weight
        den += weight
    return num / den if den else None


def input_kpis(scenario: Scenario) -> dict[str, str]:
    """The KPIs that restate ``scenario``'s inputs: cost and CO2 per TEU of fixed flows;
    none with markets, where they are model results (:mod:`sim.experiments.appraisal`)."""
    return {} if scenario.markets else dict(INPUT_KPIS)


def cost_per_teu(scenario: Scenario, record: dict | None = None) -> float | None:
    """USD per TEU: with markets, a model result over the routes cargo chose
    (:func:`sim.experiments.appraisal.cost_per_teu`); else the study flows' tariffs and
    handling (an input)."""
    if scenario.markets and record is not None and record.get("routes"):
        from sim.experiments.appraisal import cost_per_teu as from_results

        return from_results(scenario, record)
    return _weighted(scenario, route_cost_usd_per_teu)


def co2_per_teu(scenario: Scenario, record: dict | None = None) -> float | None:
    """kg CO2 per TEU: with markets, over the routes cargo chose, empties included
    (:func:`sim.experiments.appraisal.co2_per_teu`); else the study flows' (an input)."""
    if scenario.markets and record is not None and record.get("routes"):
        from sim.experiments.appraisal import co2_per_teu as from_results

        return from_results(scenario, record)
    return _weighted(scenario, route_co2_kg_per_teu)


def route_inputs(scenario: Scenario) -> dict[str, dict[str, float | None]]:
    """Per study flow: its route's ``cost_usd_per_teu`` and ``co2_kg_per_teu`` and its
    demand ``annual_teu``; the inputs behind :func:`cost_per_teu` and :func:`co2_per_teu`."""
    return {
        fid: {
            "annual_teu": scenario.flows[fid].annual_teu,
            "cost_usd_per_teu": route_cost_usd_per_teu(scenario, fid),
            "co2_kg_per_teu": route_co2_kg_per_teu(scenario, fid),
        }
        for fid in scenario.study_flow_ids()
    }


def demand_headroom(rho: float | None) -> float | None:
    """How much every flow's demand could grow (fraction: 0.15 = +15 %) before the most
    utilised stage saturates, ``1/ρ - 1``, the same proportional-growth argument as
    :func:`corridor_capacity` (None without a utilisation)."""
    if rho is None or not rho > 0:
        return None
    return 1.0 / rho - 1.0


def capacity_flows(scenario: Scenario) -> list[str]:
    """Flows that make up the corridor whose capacity is measured: with markets, those on
    routes marked ``corridor`` (and their empties); without, every flow that passes at least
    one modelled stage. Coarse routes (Northern rail, the sea) have no capacity that matters,
    so they neither use nor add to it."""
    def on_corridor(fid: str) -> bool:
        flow = scenario.flows[fid]
        if flow.empties_of is not None and flow.empties_of in scenario.flows:
            flow = scenario.flows[flow.empties_of]
        if scenario.markets and flow.alternative in scenario.routes:
            return bool(scenario.routes[flow.alternative].corridor)
        return any(scenario.legs[lid].mode != "delay" for lid in route_legs(scenario, fid))

    return [fid for fid in scenario.flows if on_corridor(fid)]


def corridor_capacity(record: dict, scenario: Scenario | None = None) -> float | None:
    """TEU/yr the corridor could carry if all its flows grew in proportion until the most
    utilised stage saturates: their throughput / ρ of that stage. The corridor's flows are
    :func:`capacity_flows` (with no ``scenario``, every flow counts). Counting only the
    flows through the binding stage would make an investment that moves the bottleneck to a
    branch (one Black Sea service, say) look like lost capacity."""
    rho = record["bottleneck"]["utilisation"]
    fids = capacity_flows(scenario) if scenario is not None else list(record["flows"])
    weekly = [record["flows"][f]["throughput_teu_per_week"] for f in fids
              if f in record["flows"]]
    if not rho or rho <= 0 or not weekly or any(w is None for w in weekly):
        return None
    return sum(weekly) * (HOURS_PER_YEAR / 168.0) / rho


CAPEX_BENCHMARKS_FILE = Path(__file__).resolve().parents[1] / "data" / "capex_benchmarks.toml"


def capex_benchmarks() -> dict[str, dict]:
    """Published capital cost of added terminal capacity, USD per TEU/yr, with labels and
    source IDs (data sheet §10.5; ``sim/data/capex_benchmarks.toml``)."""
    with CAPEX_BENCHMARKS_FILE.open("rb") as fh:
        return tomllib.load(fh)

