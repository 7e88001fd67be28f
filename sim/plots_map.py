"""A schematic route map of one run: nodes at their longitude/latitude, legs coloured.

:func:`route_map` draws every node that has coordinates (``lat``/``lon`` in the
scenario) on a plain equirectangular lon/lat frame with a light graticule and
a few sea and country names as text — no coastlines, nothing downloaded. Legs
are straight lines (sea legs dashed) whose width grows with the TEU they
carried and whose colour is either

* ``colour_by="utilisation"``: rail legs the higher of their train-path and
  wagon-pool utilisation, sea legs their own utilisation when the summary
  has one, else the TEU-weighted utilisation of the fleets serving them;
  nodes filled with their own utilisation; or
* ``colour_by="waiting"``: nodes filled with the mean time a container spends
  there (days), each leg with the mean time at its origin node (the wait
  before that leg).

The bottleneck of the summary is cased in black and labelled. When several
nodes crowd one spot (the Caspian ports), a detail panel below the map shows
that area at a larger scale. Uses the Figure API with the Agg canvas.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LinearSegmentedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.patheffects import withStroke
from matplotlib.transforms import Bbox

from sim.plots import C_BOTTLENECK, DPI
from sim.scenario.schema import RailLeg, Scenario

COLOUR_BY = ("utilisation", "waiting")
C_NO_VALUE = "#b5b5b5"
C_SEA_TEXT = "#5b8db8"
C_LAND_TEXT = "#9a9a9a"
C_GRATICULE = "#e3e3e3"
CROWD_SHARE = 0.06  # nodes closer than this share of the map diagonal are "crowded"
LINK_SHARE = 0.09  # crowded nodes closer than this form one detail area
STROKE = [withStroke(linewidth=3.2, foreground="white")]

# (text, lon, lat, is_sea): drawn where they fall inside a frame
GEOGRAPHY = (
    ("Caspian\nSea", 51.9, 40.9, True),
    ("Caspian Sea", 52.6, 37.7, True),
    ("Black Sea", 34.6, 41.9, True),
    ("Baltic\nSea", 19.2, 57.0, True),
    ("CHINA", 95.0, 41.6, False),
    ("KAZAKHSTAN", 67.5, 49.0, False),
    ("RUSSIA", 44.0, 52.5, False),
    ("TÜRKIYE", 35.0, 39.2, False),
    ("IRAN", 55.5, 33.5, False),
    ("UKRAINE", 31.0, 49.3, False),
)

_UTIL_CMAP = LinearSegmentedColormap.from_list(
    "util", colormaps["YlOrRd"](np.linspace(0.18, 1.0, 256))
)
_WAIT_CMAP = LinearSegmentedColormap.from_list(
    "wait", colormaps["PuBu"](np.linspace(0.25, 1.0, 256))
)


def _mean(stat: Any) -> float | None:
    if isinstance(stat, Mapping):
        stat = stat.get("mean")
    if isinstance(stat, int | float) and math.isfinite(float(stat)):
        return float(stat)
    return None


@dataclass
class _MapData:
    """Everything the map draws, in lon/lat."""

    pos: dict[str, tuple[float, float]]
    node_value: dict[str, float | None]
    node_note: dict[str, str]
    kinds: dict[str, str]  # node id -> "terminal" | "border" | "port"
    legs: list[tuple[str, str, str, str]]  # (leg id, from, to, mode)
    leg_value: dict[str, float | None]
    leg_teu: dict[str, float]
    highlight_nodes: set[str] = field(default_factory=set)
    highlight_legs: set[str] = field(default_factory=set)
    bottleneck_text: str | None = None
    ranking: list[tuple[str, float]] = field(default_factory=list)


def stage_label(scenario: Scenario, key: str, short: bool = False, bare: bool = False) -> str:
    """A readable name of a stage key ("nodes.x", "legs.x", "fleets.x", "wagon_pools.x").

    ``"Fleet KMTF feeders (Aktau → Alat)"``; ``short`` drops the route of fleets
    and the note on sea legs, ``bare`` the leading kind ("Fleet", "Rail paths", ...).
    """
    kind, name = _stage_parts(scenario, key, short)
    return name if bare or not kind else f"{kind} {name}"


def stage_kind(scenario: Scenario, key: str) -> str:
    """ "Port", "Border", "Terminal", "Fleet", "Rail paths", "Sea leg" or "Wagon pool"."""
    return _stage_parts(scenario, key, True)[0] or key.partition(".")[0]


def _stage_parts(scenario: Scenario, key: str, short: bool) -> tuple[str, str]:
    section, _, ident = key.partition(".")

    def ends(lid: str) -> str:
        leg = scenario.legs[lid]
        return f"{scenario.node_label(leg.from_node)} → {scenario.node_label(leg.to_node)}"

    if section == "nodes" and ident in scenario.nodes:
        return scenario.nodes[ident].kind.capitalize(), scenario.node_label(ident)
    if section == "fleets" and ident in scenario.fleets:
        f = scenario.fleets[ident]
        return "Fleet", f"{f.label or ident}" + ("" if short else f" ({ends(f.leg)})")
    if section == "legs" and ident in scenario.legs:
        leg = scenario.legs[ident]
        if isinstance(leg, RailLeg):
            return "Rail paths", leg.label or ends(ident)
        return "Sea leg", f"{leg.label or ends(ident)}" + ("" if short else ", all its fleets")
    if section == "wagon_pools" and ident in scenario.wagon_pools:
        return "Wagon pool", scenario.wagon_pools[ident].label or ident
    return "", key


def _collect(scenario: Scenario, summary: Mapping[str, Any], colour_by: str) -> _MapData:
    pos = {
        nid: (float(n.lon), float(n.lat))
        for nid, n in scenario.nodes.items()
        if n.lat is not None and n.lon is not None
    }
    s_nodes = summary.get("nodes") or {}
    s_legs = summary.get("legs") or {}
    s_fleets = summary.get("fleets") or {}
    s_pools = summary.get("wagon_pools") or {}

    node_util = {nid: _mean((s_nodes.get(nid) or {}).get("utilisation")) for nid in pos}
    node_wait = {nid: _mean((s_nodes.get(nid) or {}).get("wait_h_mean")) for nid in pos}
    legs = [
        (lid, leg.from_node, leg.to_node, leg.mode)
        for lid, leg in scenario.legs.items()
        if leg.from_node in pos and leg.to_node in pos
    ]
    leg_teu = {lid: _mean((s_legs.get(lid) or {}).get("teu")) or 0.0 for lid, *_ in legs}

    def leg_util(lid: str) -> float | None:
        leg = scenario.legs[lid]
        if isinstance(leg, RailLeg):
            vals = [_mean((s_legs.get(lid) or {}).get("utilisation"))]
            if leg.wagon_pool is not None:
                vals.append(_mean((s_pools.get(leg.wagon_pool) or {}).get("utilisation")))
            vals = [v for v in vals if v is not None]
            return max(vals) if vals else None
        own = _mean((s_legs.get(lid) or {}).get("utilisation"))
        if own is not None:
            return own  # the leg's own figure (all its fleets together), when summarised
        pairs = []
        for fid, fleet in scenario.fleets.items():
            if fleet.leg == lid:
                u = _mean((s_fleets.get(fid) or {}).get("utilisation"))
                if u is not None:
                    pairs.append((u, _mean((s_fleets.get(fid) or {}).get("teu")) or 0.0))
        if not pairs:
            return None
        weight = sum(w for _, w in pairs)
        if weight <= 0:
            return sum(u for u, _ in pairs) / len(pairs)
        return sum(u * w for u, w in pairs) / weight

    if colour_by == "utilisation":
        node_value = node_util
        leg_value = {lid: leg_util(lid) for lid, *_ in legs}
        note = {}
        for nid, u in node_util.items():
            if u is not None:
                of = (s_nodes.get(nid) or {}).get("utilisation_of")
                note[nid] = f"ρ {u:.2f}" + (f" ({of})" if of else "")
    else:
        node_value = {nid: (w / 24.0 if w is not None else None) for nid, w in node_wait.items()}
        leg_value = {lid: node_value.get(a) for lid, a, _, _ in legs}
        note = {nid: f"{v:.1f} d" for nid, v in node_value.items() if v is not None}

    kinds = {nid: scenario.nodes[nid].kind for nid in pos}
    data = _MapData(pos, node_value, note, kinds, legs, leg_value, leg_teu)

    # the bottleneck and the most utilised stages
    stages: list[tuple[str, float]] = []
    # the stages the model rates (fleets through their sea leg), as in the summary
    for section, table in (
        ("nodes", s_nodes),
        ("legs", s_legs),
        ("wagon_pools", s_pools),
    ):
        for ident, vals in table.items():
            u = _mean((vals or {}).get("utilisation"))
            if u is not None:
                stages.append((f"{section}.{ident}", u))
    stages.sort(key=lambda kv: -kv[1])
    data.ranking = stages
    element = (summary.get("bottleneck") or {}).get("element")
    if element:
        section, _, ident = element.partition(".")
        if section == "nodes" and ident in pos:
            data.highlight_nodes.add(ident)
        elif section == "legs":
            data.highlight_legs.add(ident)
        elif section == "fleets" and ident in scenario.fleets:
            data.highlight_legs.add(scenario.fleets[ident].leg)
        elif section == "wagon_pools":
            data.highlight_legs |= {
                lid
                for lid, leg in scenario.legs.items()
                if isinstance(leg, RailLeg) and leg.wagon_pool == ident
            }
        data.highlight_legs &= {lid for lid, *_ in legs}
        util = (summary.get("bottleneck") or {}).get("utilisation") or {}
        text = f"Bottleneck: {stage_label(scenario, element)}"
        m = _mean(util)
        if m is not None:
            text += f"\nutilisation ρ = {m:.2f}"
            lo, hi = util.get("ci95_low"), util.get("ci95_high")
            if isinstance(lo, int | float) and isinstance(hi, int | float):
                text += f"  (95% CI {lo:.2f}–{hi:.2f})"
        data.bottleneck_text = text
    return data


# --------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------


def _proj(lon: float, lat: float, lat0: float) -> tuple[float, float]:
    return lon * math.cos(math.radians(lat0)), lat


def _frame(points: list[tuple[float, float]], pad_share: float, min_pad: float):
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    w, h = max(lons) - min(lons), max(lats) - min(lats)
    px = max(w * pad_share, min_pad)
    py = max(h * pad_share, min_pad)
    return (min(lons) - px, max(lons) + px, min(lats) - py, max(lats) + py)


def _crowded_cluster(pos: dict[str, tuple[float, float]]) -> list[str]:
    """The largest group (>= 3) of nodes crowded together on the whole-route map."""
    if len(pos) < 4:
        return []
    ids = list(pos)
    lat0 = float(np.mean([p[1] for p in pos.values()]))
    xy = np.array([_proj(*pos[i], lat0) for i in ids])
    diag = float(np.hypot(*(xy.max(axis=0) - xy.min(axis=0))))
    if diag <= 0:
        return []
    dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(dist, np.inf)
    crowded = [k for k in range(len(ids)) if dist[k].min() < CROWD_SHARE * diag]
    groups: list[set[int]] = []
    for k in crowded:
        linked = [g for g in groups if any(dist[k, j] < LINK_SHARE * diag for j in g)]
        merged = {k}.union(*linked) if linked else {k}
        groups = [g for g in groups if g not in linked] + [merged]
    groups = [g for g in groups if len(g) >= 3]
    if not groups:
        return []
    best = max(groups, key=len)
    span = xy[list(best)].max(axis=0) - xy[list(best)].min(axis=0)
    full = xy.max(axis=0) - xy.min(axis=0)
    if span[0] > 0.4 * full[0] and span[1] > 0.4 * full[1]:
        return []  # the "cluster" is most of the map: a detail panel would not help
    return [ids[k] for k in sorted(best)]


def _spread(pos: dict[str, tuple[float, float]], radius: float) -> dict[str, tuple[float, float]]:
    """Nodes at (almost) the same coordinates moved apart on a small circle of ``radius``."""
    out = dict(pos)
    groups: list[list[str]] = []
    for nid, (x, y) in pos.items():
        for g in groups:
            gx, gy = pos[g[0]]
            if abs(gx - x) < 1e-3 + radius * 0.2 and abs(gy - y) < 1e-3 + radius * 0.2:
                g.append(nid)
                break
        else:
            groups.append([nid])
    for g in groups:
        if len(g) < 2:
            continue
        cx = float(np.mean([pos[n][0] for n in g]))
        cy = float(np.mean([pos[n][1] for n in g]))
        for k, nid in enumerate(g):
            a = math.pi / 2 + 2 * math.pi * k / len(g)
            out[nid] = (cx + radius * math.cos(a) * 1.4, cy + radius * math.sin(a))
    return out


def _curve(p0, p1, bend: float) -> tuple[np.ndarray, np.ndarray]:
    """A quadratic curve from p0 to p1 bowed sideways by ``bend`` x its length."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    if bend == 0:
        return np.array([p0[0], p1[0]]), np.array([p0[1], p1[1]])
    d = p1 - p0
    normal = np.array([-d[1], d[0]])
    ctrl = (p0 + p1) / 2 + normal * bend
    t = np.linspace(0, 1, 40)[:, None]
    pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * ctrl + t**2 * p1
    return pts[:, 0], pts[:, 1]


def _bends(data: _MapData, pos: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Legs sharing both end positions are bowed apart so each stays visible."""
    groups: dict[tuple, list[str]] = {}
    for lid, a, b, _ in data.legs:
        key = tuple(sorted((tuple(np.round(pos[a], 3)), tuple(np.round(pos[b], 3)))))
        groups.setdefault(key, []).append(lid)
    out = {}
    for lids in groups.values():
        n = len(lids)
        for k, lid in enumerate(lids):
            out[lid] = 0.0 if n == 1 else 0.12 * (k - (n - 1) / 2)
    return out


# --------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------


@dataclass
class _Panel:
    ax: Any
    extent: tuple[float, float, float, float]
    pos: dict[str, tuple[float, float]]
    labelled: list[str]
    scale: float  # line widths and markers relative to the main map
    paths: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # drawn legs


def _graticule(ax, extent) -> None:
    x0, x1, y0, y1 = extent
    span = max(x1 - x0, y1 - y0)
    step = 10 if span > 40 else 5 if span > 15 else 2 if span > 6 else 1
    for lon in np.arange(math.ceil(x0 / step) * step, x1 + 1e-9, step):
        ax.axvline(lon, color=C_GRATICULE, lw=0.7, zorder=0)
    for lat in np.arange(math.ceil(y0 / step) * step, y1 + 1e-9, step):
        ax.axhline(lat, color=C_GRATICULE, lw=0.7, zorder=0)
    ax.set_xticks(np.arange(math.ceil(x0 / step) * step, x1 + 1e-9, step))
    ax.set_yticks(np.arange(math.ceil(y0 / step) * step, y1 + 1e-9, step))
    ax.xaxis.set_major_formatter(lambda v, _p: f"{abs(v):g}°{'E' if v >= 0 else 'W'}")
    ax.yaxis.set_major_formatter(lambda v, _p: f"{abs(v):g}°{'N' if v >= 0 else 'S'}")
    ax.tick_params(labelsize=8, colors="#666666")
    ax.set_facecolor("#fbfbf8")


def _geography(ax, extent, skip: tuple[float, float, float, float] | None, fontsize: float):
    texts = []
    done: set[str] = set()
    x0, x1, y0, y1 = extent
    for text, lon, lat, sea in GEOGRAPHY:
        if " ".join(text.split()) in done:
            continue  # an alternative position of a name already shown
        if not (x0 < lon < x1 and y0 < lat < y1):
            continue
        if skip and skip[0] <= lon <= skip[1] and skip[2] <= lat <= skip[3]:
            continue
        done.add(" ".join(text.split()))
        texts.append(
            ax.text(
                lon,
                lat,
                text,
                ha="center",
                va="center",
                fontsize=fontsize + (1 if sea else 0),
                color=C_SEA_TEXT if sea else C_LAND_TEXT,
                style="italic" if sea else "normal",
                fontweight="normal",
                alpha=0.95,
                zorder=1,
                clip_on=True,
                linespacing=1.0,
            )
        )
    return texts


def _draw_network(panel: _Panel, data: _MapData, cmap, norm, widths) -> list:
    ax, pos = panel.ax, panel.pos
    bends = _bends(data, pos)
    markers = []
    for lid, a, b, mode in data.legs:
        xs, ys = _curve(pos[a], pos[b], bends[lid])
        v = data.leg_value.get(lid)
        colour = cmap(norm(v)) if v is not None else C_NO_VALUE
        lw = widths(data.leg_teu.get(lid, 0.0)) * panel.scale
        ls = (0, (4, 1.6)) if mode == "sea" else "-"
        if lid in data.highlight_legs:
            ax.plot(xs, ys, color="#111111", lw=lw + 5.5, solid_capstyle="round", zorder=2)
            ax.plot(xs, ys, color="white", lw=lw + 2.5, solid_capstyle="round", zorder=2)
        ax.plot(
            xs,
            ys,
            color=colour,
            lw=lw,
            ls=ls,
            solid_capstyle="round",
            dash_capstyle="butt",
            zorder=3,
        )
        panel.paths.append((xs, ys))
    marker = {"terminal": "o", "border": "D", "port": "s"}
    for nid, (x, y) in pos.items():
        v = data.node_value.get(nid)
        kind = data.kinds.get(nid, "terminal")
        face = cmap(norm(v)) if v is not None else "white"
        size = (9.5 if kind != "border" else 8.0) * min(1.25, panel.scale**0.5)
        if nid in data.highlight_nodes:
            ax.plot(x, y, marker="o", ms=size + 13, mfc="none", mec="#111111", mew=2.5, zorder=5)
        (m,) = ax.plot(
            x,
            y,
            marker=marker.get(kind, "o"),
            ms=size,
            mfc=face,
            mec="#222222",
            mew=1.3,
            zorder=6,
            ls="none",
        )
        markers.append(m)
    return markers


def _place_labels(
    fig, panel: _Panel, data: _MapData, scenario: Scenario, obstacles: list, fontsize: float
) -> None:
    """Label each node at the first of eight offsets that overlaps nothing placed so far."""
    renderer = fig.canvas.get_renderer()
    ax = panel.ax
    axbox = ax.get_window_extent(renderer)
    taken: list[Bbox] = [o.get_window_extent(renderer) for o in obstacles]
    # every node marker of this panel is an obstacle (a few pixels around it)
    for x, y in panel.pos.values():
        px, py = ax.transData.transform((x, y))
        taken.append(Bbox.from_extents(px - 7, py - 7, px + 7, py + 7))
    # legs: small boxes every few pixels along each drawn line, a softer obstacle
    line_boxes: list[Bbox] = []
    for xs, ys in panel.paths:
        pts = ax.transData.transform(np.column_stack([xs, ys]))
        for a, b in zip(pts[:-1], pts[1:], strict=False):
            steps = max(1, int(math.dist(a, b) // 6))
            for t in np.linspace(0, 1, steps + 1):
                qx, qy = a + (b - a) * t
                if axbox.x0 <= qx <= axbox.x1 and axbox.y0 <= qy <= axbox.y1:
                    line_boxes.append(Bbox.from_extents(qx - 3, qy - 3, qx + 3, qy + 3))
    pt = fig.dpi / 72.0
    candidates = [
        (9, 7, "left", "bottom"),
        (9, -7, "left", "top"),
        (-9, 7, "right", "bottom"),
        (-9, -7, "right", "top"),
        (0, 11, "center", "bottom"),
        (0, -11, "center", "top"),
        (12, 0, "left", "center"),
        (-12, 0, "right", "center"),
        (22, 18, "left", "bottom"),
        (-22, -18, "right", "top"),
        (22, -18, "left", "top"),
        (-22, 18, "right", "bottom"),
    ]
    # most constrained first: nodes with close neighbours
    order = sorted(
        panel.labelled,
        key=lambda n: min(
            [math.dist(panel.pos[n], panel.pos[m]) for m in panel.pos if m != n] or [1e9]
        ),
    )
    for nid in order:
        x, y = panel.pos[nid]
        text = scenario.node_label(nid)
        if nid in data.node_note:
            text += "\n" + data.node_note[nid]
        best, best_cost = None, math.inf
        for dx, dy, ha, va in candidates:
            t = ax.annotate(
                text,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=fontsize,
                fontweight="bold" if nid in data.highlight_nodes else "normal",
                color=C_BOTTLENECK if nid in data.highlight_nodes else "#111111",
                zorder=8,
                path_effects=STROKE,
                linespacing=1.05,
                arrowprops=(
                    {"arrowstyle": "-", "color": "#777777", "lw": 0.6, "shrinkA": 0, "shrinkB": 4}
                    if abs(dx) > 15
                    else None
                ),
            )
            bb = t.get_window_extent(renderer).expanded(1.0, 1.0)
            bb = Bbox.from_extents(bb.x0 - 2 * pt, bb.y0 - pt, bb.x1 + 2 * pt, bb.y1 + pt)
            overlap = sum(_overlap(bb, o) for o in taken)
            overlap += 0.4 * sum(_overlap(bb, o) for o in line_boxes)
            outside = bb.width * bb.height - _overlap(bb, axbox)
            cost = overlap + 3 * outside + (0.5 if abs(dx) > 15 else 0.0)
            if cost < best_cost:
                if best is not None:
                    best[0].remove()
                best, best_cost = (t, bb), cost
            else:
                t.remove()
            if cost == 0:
                break
        if best is not None:
            taken.append(best[1])


def _overlap(a: Bbox, b: Bbox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _panel_axes(ax, extent) -> None:
    x0, x1, y0, y1 = extent
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


def _ratio(extent) -> float:
    """Height / width of a lon/lat frame drawn at true scale (equirectangular)."""
    x0, x1, y0, y1 = extent
    c = math.cos(math.radians((y0 + y1) / 2))
    return (y1 - y0) / max((x1 - x0) * c, 1e-9)


def _fit(extent, width: float, height: float):
    """Widen a frame (about its centre) so that its true-scale shape is ``height / width``."""
    x0, x1, y0, y1 = extent
    want, have = height / width, _ratio(extent)
    if have < want:  # too flat: add latitude
        half = (y1 - y0) * want / have / 2
        cy = (y0 + y1) / 2
        return (x0, x1, max(cy - half, -90.0), min(cy + half, 90.0))
    half = (x1 - x0) * have / want / 2
    cx = (x0 + x1) / 2
    return (cx - half, cx + half, y0, y1)


def route_map(scenario: Scenario, summary: dict, out: Path, colour_by: str = "utilisation") -> Path:
    """Write a schematic lon/lat map of the network coloured by utilisation or waiting.

    ``scenario`` is the validated :class:`Scenario` (node ``lat``/``lon``
    in degrees; nodes without coordinates and legs touching them are left
    out), ``summary`` the run's ``summary.json`` dict. ``colour_by`` is
    ``"utilisation"`` (busy share of capacity, 0–1) or ``"waiting"`` (mean
    time at node, days). Returns ``out``.
    """
    if colour_by not in COLOUR_BY:
        raise ValueError(f"colour_by: expected one of {COLOUR_BY}, got {colour_by!r}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = _collect(scenario, summary, colour_by)
    name = (summary.get("scenario") or {}).get("name") or scenario.scenario.name
    reps = summary.get("replications")
    what = "utilisation" if colour_by == "utilisation" else "time at nodes"
    title = f"Route map: {what} — scenario '{name}'"
    if reps:
        title += f" ({reps} replication{'s' if reps != 1 else ''})"

    if not data.pos:
        fig = Figure(figsize=(9.0, 3.2), layout="constrained")
        ax = fig.add_subplot()
        ax.text(
            0.5,
            0.5,
            "No node of this scenario has coordinates (lat/lon):\nno map to draw",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=12,
            color="#444444",
        )
        ax.set_xticks([])
        ax.set_yticks([])
        fig.suptitle(title, fontsize=13, fontweight="bold")
        FigureCanvasAgg(fig)
        fig.savefig(out, dpi=DPI, facecolor="white")
        return out

    # colour scale
    vals = [
        v for v in list(data.node_value.values()) + list(data.leg_value.values()) if v is not None
    ]
    if colour_by == "utilisation":
        cmap, norm = _UTIL_CMAP, Normalize(0.0, 1.0)
        cbar_label = (
            "Utilisation ρ (busy share of capacity, post-warm-up)\n"
            "rail: max of train paths and wagon pool; sea: its fleets"
        )
    else:
        cmap, norm = _WAIT_CMAP, Normalize(0.0, max(vals + [1.0]))
        cbar_label = "Mean time at node per container (days)\nlegs: time at their origin node"
    cmap = cmap.with_extremes(over=cmap(1.0))
    teu_max = max(list(data.leg_teu.values()) + [1.0])

    def widths(teu: float) -> float:
        return 1.6 + 6.5 * math.sqrt(max(teu, 0.0) / teu_max)

    # layout, in inches: frames are widened to the shape of their boxes (true aspect)
    cluster = _crowded_cluster(data.pos)
    fig_w, left, right, top, bottom = 14.0, 0.7, 0.3, 0.55, 0.3
    map_w = fig_w - left - right
    extent = _frame(list(data.pos.values()), 0.06, 2.6)
    map_h = min(8.0, max(3.4, map_w * _ratio(extent)))
    extent = _fit(extent, map_w, map_h)
    zoom_extent = None
    if cluster:
        zoom_extent = _frame([data.pos[n] for n in cluster], 0.18, 0.9)
        zoom_h = 5.0
        zoom_w = min(6.6, max(4.6, zoom_h / _ratio(zoom_extent)))
        zoom_extent = _fit(zoom_extent, zoom_w, zoom_h)
        gap, bottom_h = 0.85, zoom_h
    else:
        zoom_w = zoom_h = 0.0
        gap, bottom_h = 0.6, 2.2
    fig_h = top + map_h + gap + bottom_h + bottom
    fig = Figure(figsize=(fig_w, fig_h))
    FigureCanvasAgg(fig)

    def box(x: float, y: float, w: float, h: float) -> list[float]:
        return [x / fig_w, y / fig_h, w / fig_w, h / fig_h]

    ax_main = fig.add_axes(box(left, bottom + bottom_h + gap, map_w, map_h))
    ax_zoom = fig.add_axes(box(left, bottom, zoom_w, zoom_h)) if cluster else None
    if cluster:
        x_info = left + zoom_w + 0.6
        ax_info = fig.add_axes(box(x_info, bottom, fig_w - right - x_info, bottom_h))
    else:
        ax_info = fig.add_axes(box(left, bottom, map_w, bottom_h))
    zoom_spread = 0.0
    if zoom_extent:
        zoom_spread = 0.03 * max(zoom_extent[1] - zoom_extent[0], zoom_extent[3] - zoom_extent[2])
    main_spread = 0.006 * (extent[1] - extent[0])
    main_pos = _spread(data.pos, main_spread)
    labelled = [n for n in data.pos if n not in cluster]

    _graticule(ax_main, extent)
    _panel_axes(ax_main, extent)
    geo = _geography(ax_main, extent, zoom_extent, 9)
    main = _Panel(ax_main, extent, main_pos, labelled, 1.0)
    _draw_network(main, data, cmap, norm, widths)
    if zoom_extent:
        x0, x1, y0, y1 = zoom_extent
        ax_main.add_patch(
            Rectangle(
                (x0, y0), x1 - x0, y1 - y0, fill=False, ec="#444444", lw=1.1, ls="--", zorder=7
            )
        )
        geo.append(
            ax_main.text(
                x0 + (x1 - x0) / 2,
                y1 + 0.3,
                "detail below",
                ha="center",
                va="bottom",
                fontsize=8.5,
                color="#444444",
                zorder=7,
                path_effects=STROKE,
            )
        )
    ax_main.set_title(title, fontsize=13, fontweight="bold")

    panels = [(main, geo, 9.0)]
    if ax_zoom is not None and zoom_extent is not None:
        zpos = _spread(data.pos, zoom_spread)
        zx0, zx1, zy0, zy1 = zoom_extent
        inside = [n for n, (x, y) in zpos.items() if zx0 <= x <= zx1 and zy0 <= y <= zy1]
        _graticule(ax_zoom, zoom_extent)
        _panel_axes(ax_zoom, zoom_extent)
        zgeo = _geography(ax_zoom, zoom_extent, None, 9)
        zoom = _Panel(ax_zoom, zoom_extent, zpos, inside, 1.0)
        _draw_network(zoom, data, cmap, norm, widths)
        ax_zoom.set_title(
            "Detail: "
            + ", ".join(sorted({data_label(scenario, n) for n in cluster})[:4])
            + (" …" if len(cluster) > 4 else ""),
            fontsize=10,
            loc="left",
        )
        panels.append((zoom, zgeo, 9.0))

    _info_panel(
        fig,
        ax_info,
        data,
        scenario,
        cmap,
        norm,
        cbar_label,
        widths,
        teu_max,
        colour_by,
        max(vals + [0.0]),
        wide=not cluster,
    )

    # labels last: they need the final positions
    fig.canvas.draw()
    for panel, obstacles, size in panels:
        _place_labels(fig, panel, data, scenario, obstacles, size)
    fig.savefig(out, dpi=DPI, facecolor="white")
    return out


def _nice(x: float) -> float:
    """``x`` rounded to two significant digits (legend values)."""
    if x <= 0:
        return 0.0
    digits = 1 - int(math.floor(math.log10(x)))
    return round(x, digits)


def _info_panel(
    fig,
    ax,
    data: _MapData,
    scenario: Scenario,
    cmap,
    norm,
    cbar_label: str,
    widths,
    teu_max: float,
    colour_by: str,
    vmax: float,
    wide: bool,
) -> None:
    """Bottleneck, colour bar, line/marker legend and the most utilised stages."""
    ax.axis("off")
    # (x, y) anchors in axes fractions: wide = three columns, else one column stacked
    if wide:
        cb_box, bn_xy = [0.02, 0.40, 0.29, 0.12], (0.0, 0.98)
        st_xy, lg_xy = (0.70, 0.98), (0.34, 1.0)
    else:
        cb_box, bn_xy = [0.02, 0.76, 0.62, 0.055], (0.0, 0.99)
        st_xy, lg_xy = (0.0, 0.55), (0.0, 0.0)
    if data.bottleneck_text:
        wrapped = [w for line in data.bottleneck_text.split("\n") for w in textwrap.wrap(line, 62)]
        ax.text(
            *bn_xy,
            "\n".join(wrapped),
            transform=ax.transAxes,
            va="top",
            ha="left",
            fontsize=9.5,
            color=C_BOTTLENECK,
            fontweight="bold",
        )
    cax = ax.inset_axes(cb_box)
    cb = fig.colorbar(
        ScalarMappable(norm=norm, cmap=cmap),
        cax=cax,
        orientation="horizontal",
        extend="max" if colour_by == "utilisation" and vmax > 1 else "neither",
    )
    cb.set_label(cbar_label, fontsize=8.5)
    cb.ax.tick_params(labelsize=8)
    big, small = _nice(teu_max), _nice(teu_max / 10)
    handles = [
        Line2D([], [], color="#666666", lw=2.5, label="rail leg"),
        Line2D([], [], color="#666666", lw=2.5, ls=(0, (4, 1.6)), label="sea leg"),
        Line2D([], [], color=C_NO_VALUE, lw=2.5, label="no capacity limit / no value"),
        Line2D([], [], color="#666666", lw=widths(big), label=f"{big:,.0f} TEU carried"),
        Line2D([], [], color="#666666", lw=widths(small), label=f"{small:,.0f} TEU carried"),
        Line2D([], [], ls="none", marker="s", mfc="white", mec="#222222", ms=8, label="port"),
        Line2D([], [], ls="none", marker="D", mfc="white", mec="#222222", ms=7, label="border"),
        Line2D(
            [],
            [],
            ls="none",
            marker="o",
            mfc="white",
            mec="#222222",
            ms=8,
            label="terminal (white fill: no value)",
        ),
    ]
    if data.highlight_legs or data.highlight_nodes:
        handles.append(Line2D([], [], color="#111111", lw=5, label="bottleneck (cased)"))
    ax.legend(
        handles=handles,
        loc="upper left" if wide else "lower left",
        bbox_to_anchor=lg_xy,
        ncols=2,
        fontsize=8.5,
        frameon=False,
        handlelength=3.2,
        title="line width: TEU carried after the warm-up (mean)",
        title_fontsize=8.5,
        alignment="left",
    )
    if data.ranking:
        rows = [
            f"{u:5.2f}   {_short(stage_label(scenario, key, short=True), 46)}"
            for key, u in data.ranking[:6]
        ]
        ax.text(
            *st_xy,
            "Most utilised stages (ρ, mean)\n" + "\n".join(rows),
            transform=ax.transAxes,
            va="top",
            ha="left",
            fontsize=8.5,
            color="#333333",
            linespacing=1.35,
        )


def data_label(scenario: Scenario, nid: str) -> str:
    """Short display name of a node for panel titles (text before any parenthesis)."""
    return scenario.node_label(nid).split(" (")[0]


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


__all__ = ["COLOUR_BY", "route_map", "stage_kind", "stage_label"]
