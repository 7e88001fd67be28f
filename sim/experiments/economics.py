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
"""

from __future__ import annotations

from sim.scenario.references import legs_between
from sim.scenario.schema import RailLeg, Scenario

KM_PER_NM = 1.852
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
    econ = scenario.economics
    total, known = 0.0, False
    for lid in route_legs(scenario, flow_id):
        leg = scenario.legs[lid]
        if isinstance(leg, RailLeg):
            factor, km = econ.co2_rail_kg_per_teu_km, leg.distance_km
        else:
            factor = econ.co2_sea_kg_per_teu_km
            km = leg.distance_nm * KM_PER_NM if leg.distance_nm else None
        if factor is not None and km is not None:
            total += factor * km
            known = True
    return total if known else None


def _weighted(scenario: Scenario, record: dict, per_flow) -> float | None:
    """Average of ``per_flow(flow_id)`` over study flows, weighted by delivered TEU."""
    num = den = 0.0
    for fid in scenario.study_flow_ids():
        value = per_flow(scenario, fid)
        weight = record["flows"][fid]["delivered_teu"]
        if value is None or not weight:
            continue
        num += value * weight
        den += weight
    return num / den if den else None


def cost_per_teu(scenario: Scenario, record: dict) -> float | None:
    """USD per TEU of the study flows in one replication."""
    return _weighted(scenario, record, route_cost_usd_per_teu)


def co2_per_teu(scenario: Scenario, record: dict) -> float | None:
    """kg CO2 per TEU of the study flows in one replication."""
    return _weighted(scenario, record, route_co2_kg_per_teu)


def corridor_capacity(record: dict) -> float | None:
    """TEU/yr all flows could carry if they grew in proportion until a stage saturates."""
    rho = record["bottleneck"]["utilisation"]
    weekly = [f["throughput_teu_per_week"] for f in record["flows"].values()]
    if not rho or rho <= 0 or any(w is None for w in weekly):
        return None
    return sum(weekly) * (HOURS_PER_YEAR / 168.0) / rho
