"""Readable names of corridor stages: the one label builder of every plot and report.

A stage key is ``"nodes.x"``, ``"legs.x"``, ``"fleets.x"`` or ``"wagon_pools.x"`` (as in
``record["bottleneck"]``). :func:`stage_label` gives ``"Port Aktau"``, ``"Sea leg Aktau -
Alat (container feeders), all its fleets"``, ``"Fleet Black Sea feeder (weekly), Poti →
Constanța"``. Labels never nest one parenthesis in another or repeat one that is already
in the name (the leg label "Poti - Constanța (Black Sea feeder)" and its fleet "Black Sea
feeder (weekly)" once gave "(Black Sea feeder) (Black Sea feeder (weekly))").
"""

from __future__ import annotations

import re

from sim.scenario.schema import RailLeg, Scenario

_PAREN = re.compile(r"\(([^()]*)\)")


def _core(text: str) -> str:
    """``text`` without its parentheticals, lower case, single spaces."""
    return " ".join(_PAREN.sub(" ", text).lower().split())


def _mentions(name: str, other: str) -> bool:
    """Whether ``other`` (without its parentheticals) already appears in ``name``."""
    core = _core(other)
    return bool(core) and core in " ".join(name.lower().replace("(", " ").replace(")", " ")
                                           .split())


def node_name(scenario: Scenario, nid: str) -> str:
    """A node's label (its id when it has none)."""
    return scenario.node_label(nid)


def leg_ends(scenario: Scenario, lid: str) -> str:
    """``"Aktau → Alat (Baku)"``: the leg's end nodes."""
    leg = scenario.legs[lid]
    return f"{scenario.node_label(leg.from_node)} → {scenario.node_label(leg.to_node)}"


def fleets_of(scenario: Scenario, lid: str) -> list[str]:
    """Labels of the fleets serving sea leg ``lid`` (ids when unlabelled), in scenario order."""
    return [f.label or fid for fid, f in scenario.fleets.items() if f.leg == lid]


def fleet_note(scenario: Scenario, lid: str) -> str:
    """The fleets of a sea leg that its own label does not already name (``""`` if none):
    ``"KMTF + ASCO container feeders"``."""
    name = scenario.legs[lid].label or leg_ends(scenario, lid)
    return " + ".join(f for f in fleets_of(scenario, lid) if not _mentions(name, f))


def stage_parts(scenario: Scenario, key: str, short: bool = False) -> tuple[str, str]:
    """(kind, name) of a stage key: ``("Port", "Aktau")``; ``("", key)`` when unknown.

    ``short`` drops the route of a fleet and the ", all its fleets" of a sea leg.
    """
    section, _, ident = key.partition(".")
    if section == "nodes" and ident in scenario.nodes:
        return scenario.nodes[ident].kind.capitalize(), scenario.node_label(ident)
    if section == "fleets" and ident in scenario.fleets:
        f = scenario.fleets[ident]
        name = f.label or ident
        return "Fleet", name if short else f"{name}, {leg_ends(scenario, f.leg)}"
    if section == "legs" and ident in scenario.legs:
        leg = scenario.legs[ident]
        name = leg.label or leg_ends(scenario, ident)
        if isinstance(leg, RailLeg):
            return "Rail paths", name
        return "Sea leg", name if short else f"{name}, all its fleets"
    if section == "wagon_pools" and ident in scenario.wagon_pools:
        return "Wagon pool", scenario.wagon_pools[ident].label or ident
    return "", key


def stage_label(scenario: Scenario, key: str, short: bool = False, bare: bool = False) -> str:
    """A readable name of a stage key: ``"Sea leg Aktau - Alat (container feeders)"``.

    ``short`` drops the route of fleets and the note on sea legs, ``bare`` the leading
    kind ("Fleet", "Rail paths", ...).
    """
    kind, name = stage_parts(scenario, key, short)
    return name if bare or not kind else f"{kind} {name}"


def stage_kind(scenario: Scenario, key: str) -> str:
    """ "Port", "Border", "Terminal", "Fleet", "Rail paths", "Sea leg" or "Wagon pool"."""
    return stage_parts(scenario, key, True)[0] or key.partition(".")[0]


def doubled_parenthetical(label: str) -> str | None:
    """The first defect of a label's parentheses, or None: nested or unbalanced
    parentheses, or a parenthetical whose text repeats in another one."""
    depth = 0
    for ch in label:
        depth += ch == "("
        depth -= ch == ")"
        if depth > 1:
            return f"nested parentheses in {label!r}"
        if depth < 0:
            return f"unbalanced parentheses in {label!r}"
    if depth:
        return f"unbalanced parentheses in {label!r}"
    inner = [" ".join(p.lower().split()) for p in _PAREN.findall(label)]
    for i, a in enumerate(inner):
        for b in inner[i + 1 :]:
            if a and b and (a in b or b in a):
                return f"repeated parenthetical ({a}) in {label!r}"
    return None


__all__ = [
    "doubled_parenthetical",
    "fleet_note",
    "fleets_of",
    "leg_ends",
    "node_name",
    "stage_kind",
    "stage_label",
    "stage_parts",
]
