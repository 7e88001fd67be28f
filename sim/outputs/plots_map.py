"""Route maps on real geography: the network of one run, and what changed between two.

:func:`route_map` draws every node that has coordinates (``lat``/``lon`` in the
scenario) on an equirectangular map (true scale at the map's middle latitude)
with land, sea and country borders from Natural Earth 1:50m (public domain),
shipped as ``sim/data/naturalearth_50m.npz`` — nothing is downloaded. Each leg
runs along the waypoints of ``sim/data/waypoints.toml`` when that file names
its end nodes (the EU rail leg through Romania, Hungary, Slovakia, Poland and
Lithuania; sea legs along the water), else along the great circle between its
nodes. Legs that share a stretch of track or sea are drawn side by side. A
leg's width is proportional to the TEU per year it carried after the warm-up
(mean over replications); its colour is either

* ``colour_by="utilisation"``: rail legs the higher of their train-path and
  wagon-pool utilisation, sea legs their own utilisation when the summary
  has one, else the TEU-weighted utilisation of the fleets serving them;
  nodes filled with their own utilisation; or
* ``colour_by="waiting"``: nodes filled with the mean time a container spends
  there (days), each leg with the mean time at its origin node (the wait
  before that leg).

The bottleneck of the summary is cased in black and labelled. When several
nodes crowd one spot (the Caspian ports), a detail panel below the map shows
that area at a larger scale.

:func:`change_map` draws the union of two networks (a base and an
alternative) coloured by the change: legs by the change in TEU per year,
nodes by the change in utilisation; legs and nodes only one of them has are
marked as added or removed. Both use the Figure API with the Agg canvas.
"""

from __future__ import annotations

import math
import textwrap
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import LinearSegmentedColormap, Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.patheffects import withStroke
from matplotlib.transforms import Bbox

from sim.outputs.labels import stage_kind, stage_label
from sim.outputs.plots import C_BOTTLENECK, DPI, message_figure
from sim.scenario.schema import RailLeg, Scenario

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
GEOGRAPHY_FILE = DATA_DIR / "naturalearth_50m.npz"
WAYPOINTS_FILE = DATA_DIR / "waypoints.toml"
ATTRIBUTION = "Coastlines and borders: Natural Earth 1:50m (public domain)"

COLOUR_BY = ("utilisation", "waiting")
DAYS_PER_YEAR = 365.0
C_NO_VALUE = "#b5b5b5"
C_SEA = "#dce8f1"
C_LAND = "#f3f2ee"
C_COAST = "#9fb1c1"
C_BORDER = "#bdbab2"
C_SEA_TEXT = "#5b86ad"
C_LAND_TEXT = "#a19d94"
C_GRATICULE = "#ffffff"
C_ADDED = "#1a9850"
C_REMOVED = "#8a8a8a"
WIDTH_MAX_PT = 11.0  # the leg carrying the most TEU per year
WIDTH_MIN_PT = 1.2  # a leg carrying little is still visible
STACK_GAP_PT = 0.6  # between legs drawn side by side
CROWD_SHARE = 0.06  # nodes closer than this share of the map diagonal are "crowded"
LINK_SHARE = 0.09  # crowded nodes closer than this form one detail area
STROKE = [withStroke(linewidth=3.2, foreground="white")]

# (text, lon, lat, is_sea): drawn where they fall inside a frame (the first of a name that fits)
GEOGRAPHY = (
    ("Caspian\nSea", 51.4, 37.6, True),
    ("Caspian\nSea", 52.0, 40.3, True),
    ("Black Sea", 34.6, 42.6, True),
    ("Baltic\nSea", 18.6, 57.2, True),
    ("North\nSea", 3.2, 56.2, True),
    ("Mediterranean Sea", 18.5, 34.2, True),
    ("Red\nSea", 38.8, 20.5, True),
    ("Arabian\nSea", 63.0, 15.0, True),
    ("Bay of\nBengal", 88.5, 14.5, True),
    ("South China\nSea", 116.5, 12.5, True),
    ("INDIAN OCEAN", 75.0, -12.0, True),
    ("ATLANTIC\nOCEAN", -22.0, 32.0, True),
    ("ATLANTIC\nOCEAN", -20.0, -5.0, True),
    ("CHINA", 97.0, 36.0, False),
    ("KAZAKHSTAN", 68.5, 49.0, False),
    ("RUSSIA", 46.0, 57.5, False),
    ("TÜRKIYE", 35.0, 39.0, False),
    ("IRAN", 55.0, 32.5, False),
    ("UKRAINE", 31.5, 49.0, False),
    ("BELARUS", 28.0, 53.3, False),
    ("POLAND", 18.0, 52.3, False),
    ("ROMANIA", 23.4, 44.6, False),
    ("MONGOLIA", 103.0, 46.5, False),
    ("UZBEKISTAN", 63.5, 41.3, False),
    ("TURKMENISTAN", 59.0, 38.8, False),
    ("AFRICA", 20.0, 5.0, False),
    ("INDIA", 78.5, 22.0, False),
)

_UTIL_CMAP = LinearSegmentedColormap.from_list(
    "util", colormaps["YlOrRd"](np.linspace(0.18, 1.0, 256))
)
_WAIT_CMAP = LinearSegmentedColormap.from_list(
    "wait", colormaps["PuBu"](np.linspace(0.25, 1.0, 256))
)
# blue = less, grey = unchanged, red = more (a grey middle stays visible on the pale land)
_DELTA_CMAP = LinearSegmentedColormap.from_list(
    "delta", ["#2166ac", "#67a9cf", "#b4b4b4", "#ef8a62", "#b2182b"]
)


def _mean(stat: Any) -> float | None:
    if isinstance(stat, Mapping):
        stat = stat.get("mean")
    if isinstance(stat, int | float) and math.isfinite(float(stat)):
        return float(stat)
    return None


# --------------------------------------------------------------------------------------
# Geography: Natural Earth land, countries and borders (sim/data/naturalearth_50m.npz)
# --------------------------------------------------------------------------------------


def _rings(xy: np.ndarray, start: np.ndarray) -> list[np.ndarray]:
    return [xy[start[k] : start[k + 1]].astype(float) for k in range(len(start) - 1)]


def _bboxes(rings: list[np.ndarray]) -> np.ndarray:
    if not rings:
        return np.zeros((0, 4))
    return np.array([[r[:, 0].min(), r[:, 0].max(), r[:, 1].min(), r[:, 1].max()] for r in rings])


@dataclass(frozen=True, eq=False)
class Geography:
    """Land polygons (rings and holes), each country's rings, and land borders, in lon/lat."""

    land: list[np.ndarray]
    land_hole: np.ndarray
    country_rings: list[np.ndarray]
    country_hole: np.ndarray
    country_of_ring: np.ndarray
    country_names: tuple[str, ...]
    borders: list[np.ndarray]
    land_bbox: np.ndarray = field(repr=False)
    border_bbox: np.ndarray = field(repr=False)

    @classmethod
    def load(cls, path: Path) -> Geography:
        with np.load(path, allow_pickle=False) as z:
            land = _rings(z["land_xy"], z["land_start"])
            rings = _rings(z["country_xy"], z["country_start"])
            borders = _rings(z["border_xy"], z["border_start"])
            return cls(
                land=land,
                land_hole=z["land_hole"].astype(bool),
                country_rings=rings,
                country_hole=z["country_hole"].astype(bool),
                country_of_ring=z["country_of_ring"].astype(int),
                country_names=tuple(str(n) for n in z["country_name"]),
                borders=borders,
                land_bbox=_bboxes(land),
                border_bbox=_bboxes(borders),
            )

    @staticmethod
    def _inside(rings, holes, points) -> np.ndarray:
        pts = np.atleast_2d(np.asarray(points, dtype=float))
        depth = np.zeros(len(pts), dtype=int)
        for ring, hole in zip(rings, holes, strict=True):
            inside = MplPath(ring).contains_points(pts)
            depth += np.where(inside, -1 if hole else 1, 0)
        return depth > 0

    def is_land(self, points) -> np.ndarray:
        """Which of the (lon, lat) ``points`` lie on land (an array of bools)."""
        return self._inside(self.land, self.land_hole, points)

    def in_country(self, name: str, points) -> np.ndarray:
        """Which of the (lon, lat) ``points`` lie in the country called ``name``."""
        if name not in self.country_names:
            raise KeyError(f"no country {name!r} in the geography file")
        idx = self.country_names.index(name)
        sel = [k for k, c in enumerate(self.country_of_ring) if c == idx]
        return self._inside(
            [self.country_rings[k] for k in sel], [self.country_hole[k] for k in sel], points
        )


@lru_cache(maxsize=4)
def load_geography(path: Path | str = GEOGRAPHY_FILE) -> Geography | None:
    """The shipped Natural Earth extract, or None when the file is missing (plain map)."""
    path = Path(path)
    if not path.is_file():
        return None
    return Geography.load(path)


# --------------------------------------------------------------------------------------
# Waypoints (sim/data/waypoints.toml) and leg paths
# --------------------------------------------------------------------------------------


def _points(key: str, raw: Any) -> list[tuple[float, float]]:
    """``via`` as (lon, lat) tuples; the file holds [lat, lon] pairs."""
    if not isinstance(raw, list):
        raise ValueError(f"waypoints {key!r}: via must be a list of [lat, lon] pairs")
    out = []
    for p in raw:
        ok = isinstance(p, list) and len(p) == 2
        ok = ok and all(isinstance(v, int | float) and math.isfinite(v) for v in p)
        if not ok or not (-90 <= p[0] <= 90 and -180 <= p[1] <= 180):
            raise ValueError(f"waypoints {key!r}: {p!r} is not a [lat, lon] pair in degrees")
        out.append((float(p[1]), float(p[0])))
    return out


@lru_cache(maxsize=4)
def load_waypoints(path: Path | str = WAYPOINTS_FILE) -> dict[str, dict[str, Any]]:
    """``{"from->to": {"via": [(lon, lat), ...], "variants": {name: [(lon, lat), ...]}}}``."""
    path = Path(path)
    if not path.is_file():
        return {}
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    out: dict[str, dict[str, Any]] = {}
    for key, table in raw.items():
        if "->" not in key or not isinstance(table, dict):
            raise ValueError(f"waypoints: {key!r} is not a 'from->to' table")
        variants = {
            name.lower(): _points(f"{key}.{name}", sub.get("via"))
            for name, sub in table.items()
            if isinstance(sub, dict)
        }
        out[key] = {"via": _points(key, table.get("via", [])), "variants": variants}
    return out


def leg_via(scenario: Scenario, lid: str) -> list[tuple[float, float]] | None:
    """The waypoints (lon, lat) of leg ``lid`` between its nodes, or None (none in the file)."""
    leg = scenario.legs[lid]
    table = load_waypoints()
    words = f"{lid} {leg.label or ''}".lower()
    for key, rev in (
        (f"{leg.from_node}->{leg.to_node}", False),
        (f"{leg.to_node}->{leg.from_node}", True),
    ):
        if key in table:
            entry = table[key]
            via = next((v for n, v in entry["variants"].items() if n in words), entry["via"])
            return list(reversed(via)) if rev else list(via)
    return None


def _great_circle(p0, p1, step_deg: float = 1.0) -> np.ndarray:
    """Points (lon, lat) along the great circle from ``p0`` to ``p1``, both included."""
    lon0, lat0, lon1, lat1 = map(math.radians, (*p0, *p1))
    a = np.array([math.cos(lat0) * math.cos(lon0), math.cos(lat0) * math.sin(lon0), math.sin(lat0)])
    b = np.array([math.cos(lat1) * math.cos(lon1), math.cos(lat1) * math.sin(lon1), math.sin(lat1)])
    omega = math.acos(max(-1.0, min(1.0, float(a @ b))))
    if omega < 1e-9 or abs(omega - math.pi) < 1e-9:
        return np.array([p0, p1], dtype=float)
    n = max(2, int(math.degrees(omega) / step_deg) + 2)
    t = np.linspace(0, 1, n)[:, None]
    v = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / math.sin(omega)
    lon = np.degrees(np.unwrap(np.arctan2(v[:, 1], v[:, 0])))
    lon += round((p0[0] - lon[0]) / 360.0) * 360.0
    lat = np.degrees(np.arcsin(np.clip(v[:, 2], -1, 1)))
    out = np.column_stack([lon, lat])
    out[0], out[-1] = p0, p1
    return out


def _chain(p0, p1, via) -> np.ndarray:
    """The coarse path of a leg: its nodes and waypoints, or great-circle points."""
    if via is None:
        return _great_circle(p0, p1)
    return np.array([p0, *via, p1], dtype=float)


def _densify(chain: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points every ``step`` degrees along a chain; each point's segment and position in it."""
    pts, seg, frac = [chain[:1]], [np.array([0])], [np.array([0.0])]
    for k in range(len(chain) - 1):
        a, b = chain[k], chain[k + 1]
        n = max(1, math.ceil(math.dist(a, b) / step))
        t = np.linspace(0, 1, n + 1)[1:]
        pts.append(a + (b - a) * t[:, None])
        seg.append(np.full(n, k))
        frac.append(t)
    return np.concatenate(pts), np.concatenate(seg), np.concatenate(frac)


def leg_path(scenario: Scenario, lid: str, step_deg: float = 0.1) -> np.ndarray:
    """The drawn line of leg ``lid`` as (lon, lat) points, every ``step_deg`` at most.

    Its waypoints when ``sim/data/waypoints.toml`` has them, else the great circle between
    its nodes. Raises KeyError when a node of the leg has no coordinates.
    """
    leg = scenario.legs[lid]
    ends = []
    for nid in (leg.from_node, leg.to_node):
        node = scenario.nodes[nid]
        if node.lat is None or node.lon is None:
            raise KeyError(f"node {nid!r} has no coordinates")
        ends.append((float(node.lon), float(node.lat)))
    return _densify(_chain(ends[0], ends[1], leg_via(scenario, lid)), step_deg)[0]


def line_width(teu_per_year: float | None, teu_max: float) -> float:
    """Line width (points) of a leg: proportional to TEU per year, at least ``WIDTH_MIN_PT``."""
    teu = max(float(teu_per_year or 0.0), 0.0)
    return max(WIDTH_MIN_PT, WIDTH_MAX_PT * teu / max(teu_max, 1e-9))


def teu_per_year_factor(scenario: Scenario, summary: Mapping[str, Any]) -> float:
    """What turns the TEU counted after the warm-up into TEU per year."""
    horizon = summary.get("horizon_days", scenario.scenario.horizon_days)
    warmup = summary.get("warmup_days", scenario.scenario.warmup_days)
    try:
        days = float(horizon) - float(warmup)
    except (TypeError, ValueError):
        days = float(scenario.scenario.horizon_days) - float(scenario.scenario.warmup_days)
    return DAYS_PER_YEAR / days if days > 0 else 0.0


# --------------------------------------------------------------------------------------
# Labels of stages: sim.outputs.labels (stage_label, stage_kind are re-exported here)
# --------------------------------------------------------------------------------------


def data_label(scenario: Scenario, nid: str) -> str:
    """Short display name of a node for panel titles (text before any parenthesis)."""
    return scenario.node_label(nid).split(" (")[0]


# --------------------------------------------------------------------------------------
# What one run's summary says about each node and leg
# --------------------------------------------------------------------------------------


@dataclass
class _MapData:
    """Everything a map of one run needs, in lon/lat and TEU per year."""

    pos: dict[str, tuple[float, float]]
    node_util: dict[str, float | None]
    node_value: dict[str, float | None]
    node_note: dict[str, str]
    kinds: dict[str, str]  # node id -> "terminal" | "border" | "port"
    legs: list[tuple[str, str, str, str]]  # (leg id, from, to, mode)
    leg_util: dict[str, float | None]
    leg_value: dict[str, float | None]
    leg_teu: dict[str, float]  # TEU per year after the warm-up
    highlight_nodes: set[str] = field(default_factory=set)
    highlight_legs: set[str] = field(default_factory=set)
    bottleneck_text: str | None = None
    ranking: list[tuple[str, float]] = field(default_factory=list)


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
    per_year = teu_per_year_factor(scenario, summary)

    node_util = {nid: _mean((s_nodes.get(nid) or {}).get("utilisation")) for nid in pos}
    node_wait = {nid: _mean((s_nodes.get(nid) or {}).get("wait_h_mean")) for nid in pos}
    legs = [
        (lid, leg.from_node, leg.to_node, leg.mode)
        for lid, leg in scenario.legs.items()
        if leg.from_node in pos and leg.to_node in pos
    ]
    leg_teu = {
        lid: (_mean((s_legs.get(lid) or {}).get("teu")) or 0.0) * per_year for lid, *_ in legs
    }

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

    utils = {lid: leg_util(lid) for lid, *_ in legs}
    if colour_by == "utilisation":
        node_value: dict[str, float | None] = dict(node_util)
        leg_value = dict(utils)
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
    data = _MapData(pos, node_util, node_value, note, kinds, legs, utils, leg_value, leg_teu)

    # the stages the model rates (fleets through their sea leg), as in the summary
    stages: list[tuple[str, float]] = []
    for section, table in (("nodes", s_nodes), ("legs", s_legs), ("wagon_pools", s_pools)):
        for ident, vals in table.items():
            u = _mean((vals or {}).get("utilisation"))
            if u is not None:
                stages.append((f"{section}.{ident}", u))
    stages.sort(key=lambda kv: -kv[1])
    data.ranking = stages
    element = (summary.get("bottleneck") or {}).get("element")
    if element:
        data.highlight_nodes, data.highlight_legs = _bottleneck_elements(scenario, element, pos)
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


def _bottleneck_elements(scenario: Scenario, element: str, pos) -> tuple[set[str], set[str]]:
    section, _, ident = element.partition(".")
    nodes: set[str] = set()
    legs: set[str] = set()
    if section == "nodes" and ident in pos:
        nodes.add(ident)
    elif section == "legs":
        legs.add(ident)
    elif section == "fleets" and ident in scenario.fleets:
        legs.add(scenario.fleets[ident].leg)
    elif section == "wagon_pools":
        legs |= {
            lid
            for lid, leg in scenario.legs.items()
            if isinstance(leg, RailLeg) and leg.wagon_pool == ident
        }
    return nodes, legs


# --------------------------------------------------------------------------------------
# What the renderer draws
# --------------------------------------------------------------------------------------


@dataclass
class _Leg:
    key: str  # unique among the legs drawn
    a: str  # node ids
    b: str
    via: list[tuple[float, float]] | None  # waypoints (lon, lat); None: great circle
    colour: Any
    width: float  # points
    dashed: bool = False
    ghost: bool = False  # a removed leg: a pale band with a dotted centre line
    casing: str | None = None  # a halo round the leg: the bottleneck


@dataclass
class _Node:
    nid: str
    lonlat: tuple[float, float]
    kind: str
    face: Any
    label: str
    ring: str | None = None  # a circle round the marker (bottleneck, added)
    bold: bool = False
    label_colour: str = "#111111"
    edge: str = "#222222"


@dataclass
class _Panel:
    ax: Any
    extent: tuple[float, float, float, float]
    pos: dict[str, tuple[float, float]]
    labelled: list[str]
    paths: list[tuple[np.ndarray, float]] = field(default_factory=list)  # legs drawn, width


# --------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------


def _proj(lon: float, lat: float, lat0: float) -> tuple[float, float]:
    return lon * math.cos(math.radians(lat0)), lat


def _frame(points, pad_share: float, min_pad: float):
    pts = np.asarray(points, dtype=float)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    w, h = hi - lo
    px = max(w * pad_share, min_pad)
    py = max(h * pad_share, min_pad)
    return (lo[0] - px, hi[0] + px, max(lo[1] - py, -85.0), min(hi[1] + py, 85.0))


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
        return (x0, x1, max(cy - half, -89.0), min(cy + half, 89.0))
    half = (x1 - x0) * have / want / 2
    cx = (x0 + x1) / 2
    return (cx - half, cx + half, y0, y1)


def _stack(chains: dict[str, np.ndarray], widths: dict[str, float]) -> dict[str, np.ndarray]:
    """Per leg and segment, the sideways offset (points) that puts legs sharing it side by side.

    Two legs share a segment when both ends are the same points (waypoints shared in
    ``waypoints.toml``, or the same great circle). The offset is to the left of the leg's
    own direction; legs keep one order (that of ``chains``) on every shared segment.
    """
    users: dict[tuple, list[tuple[str, int, int]]] = {}
    for key, ch in chains.items():
        for k in range(len(ch) - 1):
            p, q = tuple(np.round(ch[k], 3)), tuple(np.round(ch[k + 1], 3))
            canon, sign = ((p, q), 1) if p <= q else ((q, p), -1)
            users.setdefault(canon, []).append((key, k, sign))
    out = {key: np.zeros(max(len(ch) - 1, 0)) for key, ch in chains.items()}
    for members in users.values():
        if len(members) < 2:
            continue
        total = sum(widths[m[0]] for m in members) + STACK_GAP_PT * (len(members) - 1)
        at = -total / 2
        for key, k, sign in members:
            w = widths[key]
            out[key][k] = sign * (at + w / 2)
            at += w + STACK_GAP_PT
    return out


def _offset_path(ax, chain: np.ndarray, offsets: np.ndarray, step: float) -> np.ndarray:
    """The chain densified, each point moved sideways by its segment's offset (points).

    The offset ramps from zero at the two nodes and between segments of different offsets
    over a short stretch, so side-by-side legs fan into their nodes.
    """
    pts, seg, frac = _densify(chain, step)
    if not np.any(offsets):
        return pts
    n_seg = len(chain) - 1
    vertex = np.zeros(n_seg + 1)
    for k in range(1, n_seg):
        vertex[k] = (offsets[k - 1] + offsets[k]) / 2
    disp = ax.transData.transform(pts)
    pt_px = ax.figure.dpi / 72.0
    seg_px = np.hypot(*(ax.transData.transform(chain[1:]) - ax.transData.transform(chain[:-1])).T)
    tau = np.minimum(0.3, 22.0 * pt_px / np.maximum(seg_px, 1e-9))[seg]
    o = offsets[seg]
    off = (
        o
        + (vertex[seg] - o) * np.clip(1 - frac / tau, 0, 1)
        + (vertex[seg + 1] - o) * np.clip(1 - (1 - frac) / tau, 0, 1)
    )
    off[0] = vertex[0]
    d = np.gradient(disp, axis=0)
    norm = np.hypot(d[:, 0], d[:, 1])
    norm[norm == 0] = 1.0
    normal = np.column_stack([-d[:, 1], d[:, 0]]) / norm[:, None]
    return ax.transData.inverted().transform(disp + normal * (off * pt_px)[:, None])


# --------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------


def _graticule(ax, extent) -> None:
    x0, x1, y0, y1 = extent
    span = max(x1 - x0, y1 - y0)
    step = 20 if span > 110 else 10 if span > 40 else 5 if span > 15 else 2 if span > 6 else 1
    lons = np.arange(math.ceil(x0 / step) * step, x1 + 1e-9, step)
    lats = np.arange(math.ceil(y0 / step) * step, y1 + 1e-9, step)
    for lon in lons:
        ax.axvline(lon, color=C_GRATICULE, lw=0.6, alpha=0.8, zorder=0.6)
    for lat in lats:
        ax.axhline(lat, color=C_GRATICULE, lw=0.6, alpha=0.8, zorder=0.6)
    ax.set_xticks(lons)
    ax.set_yticks(lats)
    ax.xaxis.set_major_formatter(lambda v, _p: f"{abs(v):g}°{'E' if v >= 0 else 'W'}")
    ax.yaxis.set_major_formatter(lambda v, _p: f"{abs(v):g}°{'N' if v >= 0 else 'S'}")
    ax.tick_params(labelsize=8, colors="#666666", length=2)
    ax.set_facecolor(C_SEA)
    for spine in ax.spines.values():
        spine.set_color("#8c8c8c")


def _draw_land(ax, extent, geo: Geography | None, lw: float) -> None:
    """Land, holes in it, and country borders, as light greys under the network."""
    if geo is None:  # no geography file: a neutral background, not an ocean
        ax.set_facecolor("#fbfbf8")
        return
    x0, x1, y0, y1 = extent
    mx, my = (x1 - x0) * 0.05, (y1 - y0) * 0.05

    def near(bb: np.ndarray) -> np.ndarray:
        if not len(bb):
            return np.zeros(0, dtype=bool)
        return (
            (bb[:, 1] >= x0 - mx)
            & (bb[:, 0] <= x1 + mx)
            & (bb[:, 3] >= y0 - my)
            & (bb[:, 2] <= y1 + my)
        )

    sel = near(geo.land_bbox)
    outer = [r for r, s, h in zip(geo.land, sel, geo.land_hole, strict=True) if s and not h]
    holes = [r for r, s, h in zip(geo.land, sel, geo.land_hole, strict=True) if s and h]
    ax.add_collection(
        PolyCollection(outer, facecolors=C_LAND, edgecolors=C_COAST, linewidths=lw, zorder=0.2)
    )
    if holes:
        ax.add_collection(
            PolyCollection(holes, facecolors=C_SEA, edgecolors=C_COAST, linewidths=lw, zorder=0.3)
        )
    bsel = near(geo.border_bbox)
    borders = [b for b, s in zip(geo.borders, bsel, strict=True) if s]
    ax.add_collection(LineCollection(borders, colors=C_BORDER, linewidths=lw * 1.1, zorder=0.4))


def _geography_names(ax, extent, skip, fontsize: float) -> list:
    texts = []
    done: set[str] = set()
    x0, x1, y0, y1 = extent
    mx, my = (x1 - x0) * 0.06, (y1 - y0) * 0.06
    for text, lon, lat, sea in GEOGRAPHY:
        name = " ".join(text.split())
        if name in done:
            continue  # an alternative position of a name already shown
        if not (x0 + mx < lon < x1 - mx and y0 + my < lat < y1 - my):
            continue
        if skip and skip[0] <= lon <= skip[1] and skip[2] <= lat <= skip[3]:
            continue
        done.add(name)
        texts.append(
            ax.text(
                lon,
                lat,
                text,
                ha="center",
                va="center",
                fontsize=fontsize + (0.5 if sea else 0),
                color=C_SEA_TEXT if sea else C_LAND_TEXT,
                style="italic" if sea else "normal",
                alpha=0.95,
                zorder=1,
                clip_on=True,
                linespacing=1.0,
            )
        )
    return texts


def _draw_network(panel: _Panel, legs: list[_Leg], nodes: dict[str, _Node]) -> None:
    ax, pos = panel.ax, panel.pos
    x0, x1, y0, y1 = panel.extent
    step = max(x1 - x0, y1 - y0) / 300.0
    chains = {lg.key: _chain(pos[lg.a], pos[lg.b], lg.via) for lg in legs}
    # a cased leg takes the room of its casing, so that a neighbour is not drawn on it
    offsets = _stack(chains, {lg.key: lg.width + (5.0 if lg.casing else 0.0) for lg in legs})
    # widest first, so that a thin leg crossing a wide one stays visible
    for lg in sorted(legs, key=lambda lg: -lg.width):
        xy = _offset_path(ax, chains[lg.key], offsets[lg.key], step)
        xs, ys = xy[:, 0], xy[:, 1]
        if lg.casing:
            ax.plot(xs, ys, color=lg.casing, lw=lg.width + 5.0, solid_capstyle="butt", zorder=2)
            ax.plot(xs, ys, color="white", lw=lg.width + 2.2, solid_capstyle="butt", zorder=2.1)
        if lg.ghost:
            ax.plot(xs, ys, color=lg.colour, lw=lg.width, alpha=0.35, zorder=2.5,
                    solid_capstyle="butt")  # fmt: skip
            ax.plot(xs, ys, color="#5f5f5f", lw=0.9, ls=(0, (1.0, 2.0)), zorder=2.6)
            panel.paths.append((xy, lg.width))
            continue
        ls: Any = "-"
        if lg.dashed:  # dashes in points, not scaled up as much as the width
            ls = (0, ((4.0 + 1.0 * lg.width) / lg.width, (1.8 + 0.2 * lg.width) / lg.width))
        ax.plot(
            xs,
            ys,
            color=lg.colour,
            lw=lg.width,
            ls=ls,
            solid_capstyle="butt",
            dash_capstyle="butt",
            solid_joinstyle="round",
            zorder=3,
        )
        panel.paths.append((xy, lg.width + (5.0 if lg.casing else 0.0)))
    marker = {"terminal": "o", "border": "D", "port": "s"}
    for nid, (x, y) in pos.items():
        node = nodes[nid]
        size = 9.5 if node.kind != "border" else 8.0
        if node.ring:
            ax.plot(x, y, marker="o", ms=size + 12, mfc="none", mec=node.ring, mew=2.4, zorder=5)
        ax.plot(
            x,
            y,
            marker=marker.get(node.kind, "o"),
            ms=size,
            mfc=node.face,
            mec=node.edge,
            mew=1.3,
            zorder=6,
            ls="none",
        )


def _place_labels(fig, panel: _Panel, nodes: dict[str, _Node], obstacles: list, fontsize: float):
    """Label each node at the first of twelve offsets that overlaps nothing placed so far."""
    renderer = fig.canvas.get_renderer()
    ax = panel.ax
    axbox = ax.get_window_extent(renderer)
    taken: list[Bbox] = [o.get_window_extent(renderer) for o in obstacles]
    for x, y in panel.pos.values():
        px, py = ax.transData.transform((x, y))
        taken.append(Bbox.from_extents(px - 7, py - 7, px + 7, py + 7))
    # legs: small boxes every few pixels along each drawn line, a softer obstacle
    pt = fig.dpi / 72.0
    boxes = [np.zeros((0, 4))]  # x0, y0, x1, y1 of small squares along each leg
    for xy, width in panel.paths:
        pts = ax.transData.transform(xy)
        half = max(3.0, width * pt / 2)
        seg = np.hypot(*np.diff(pts, axis=0).T)
        for a, b, n in zip(pts[:-1], pts[1:], seg, strict=True):
            q = a + (b - a) * np.linspace(0, 1, max(1, int(n // 6)) + 1)[:, None]
            inside = (
                (q[:, 0] >= axbox.x0) & (q[:, 0] <= axbox.x1)
                & (q[:, 1] >= axbox.y0) & (q[:, 1] <= axbox.y1)
            )  # fmt: skip
            q = q[inside]
            boxes.append(np.column_stack([q[:, 0] - half, q[:, 1] - half, q + half]))
    line_boxes = np.concatenate(boxes)
    candidates = [
        (9, 7, "left", "bottom"),
        (9, -7, "left", "top"),
        (-9, 7, "right", "bottom"),
        (-9, -7, "right", "top"),
        (0, 11, "center", "bottom"),
        (0, -11, "center", "top"),
        (12, 0, "left", "center"),
        (-12, 0, "right", "center"),
        (24, 20, "left", "bottom"),
        (-24, -20, "right", "top"),
        (24, -20, "left", "top"),
        (-24, 20, "right", "bottom"),
        (36, 0, "left", "center"),
        (-36, 0, "right", "center"),
    ]
    # most constrained first: nodes with close neighbours
    order = sorted(
        panel.labelled,
        key=lambda n: min(
            [math.dist(panel.pos[n], panel.pos[m]) for m in panel.pos if m != n] or [1e9]
        ),
    )
    for nid in order:
        node = nodes[nid]
        x, y = panel.pos[nid]
        best, best_cost = None, math.inf
        for dx, dy, ha, va in candidates:
            t = ax.annotate(
                node.label,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=fontsize,
                fontweight="bold" if node.bold else "normal",
                color=node.label_colour,
                zorder=8,
                path_effects=STROKE,
                linespacing=1.05,
                arrowprops=(
                    {"arrowstyle": "-", "color": "#555555", "lw": 0.7, "shrinkA": 0, "shrinkB": 5}
                    if abs(dx) > 15
                    else None
                ),
            )
            bb = t.get_window_extent(renderer)
            bb = Bbox.from_extents(bb.x0 - 2 * pt, bb.y0 - pt, bb.x1 + 2 * pt, bb.y1 + pt)
            overlap = sum(_overlap(bb, o) for o in taken)
            w = np.minimum(bb.x1, line_boxes[:, 2]) - np.maximum(bb.x0, line_boxes[:, 0])
            h = np.minimum(bb.y1, line_boxes[:, 3]) - np.maximum(bb.y0, line_boxes[:, 1])
            overlap += 0.4 * float((np.clip(w, 0, None) * np.clip(h, 0, None)).sum())
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


def _render(
    out: Path,
    title: str,
    nodes: dict[str, _Node],
    legs: list[_Leg],
    info: Callable[[Figure, Any, bool], None],
    cluster_title: Callable[[list[str]], str],
) -> Path:
    """The map, a detail panel for crowded nodes when there are any, and an info panel."""
    geo = load_geography()
    pos = {nid: n.lonlat for nid, n in nodes.items()}
    shape_pts = list(pos.values())
    for lg in legs:
        shape_pts.extend(map(tuple, _chain(pos[lg.a], pos[lg.b], lg.via)))

    cluster = _crowded_cluster(pos)
    fig_w, left, right, top, bottom = 14.0, 0.7, 0.3, 0.55, 0.3
    map_w = fig_w - left - right
    extent = _frame(shape_pts, 0.06, 2.6)
    map_h = min(8.2, max(3.6, map_w * _ratio(extent)))
    extent = _fit(extent, map_w, map_h)
    zoom_extent = None
    if cluster:
        zoom_pts = [pos[n] for n in cluster]
        zoom_extent = _frame(zoom_pts, 0.18, 0.9)
        zoom_h = 5.2
        zoom_w = min(6.6, max(4.6, zoom_h / _ratio(zoom_extent)))
        zoom_extent = _fit(zoom_extent, zoom_w, zoom_h)
        gap, bottom_h = 0.85, zoom_h
    else:
        zoom_w = zoom_h = 0.0
        gap, bottom_h = 0.6, 2.4
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

    panels = []
    for ax, ext, skip, spread, labelled in (
        (ax_main, extent, zoom_extent, 0.006 * (extent[1] - extent[0]), None),
        (ax_zoom, zoom_extent, None, None, cluster),
    ):
        if ax is None or ext is None:
            continue
        ax.set_xlim(ext[0], ext[1])
        ax.set_ylim(ext[2], ext[3])
        _graticule(ax, ext)
        _draw_land(ax, ext, geo, 0.6 if ax is ax_main else 0.9)
        names = _geography_names(ax, ext, skip, 9.0)
        if spread is None:
            spread = 0.018 * max(ext[1] - ext[0], ext[3] - ext[2])
        ppos = _spread(pos, spread)
        if labelled is None:
            labelled = [n for n in pos if n not in cluster]
        else:
            x0, x1, y0, y1 = ext
            labelled = [n for n, (x, y) in ppos.items() if x0 <= x <= x1 and y0 <= y <= y1]
        panel = _Panel(ax, ext, ppos, labelled)
        _draw_network(panel, legs, nodes)
        panels.append((panel, names))

    if zoom_extent and ax_zoom is not None:
        x0, x1, y0, y1 = zoom_extent
        ax_main.add_patch(
            Rectangle(
                (x0, y0), x1 - x0, y1 - y0, fill=False, ec="#444444", lw=1.1, ls="--", zorder=7
            )
        )
        panels[0][1].append(
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
        ax_zoom.set_title(cluster_title(cluster), fontsize=10, loc="left")
    ax_main.set_title(title, fontsize=13, fontweight="bold")
    if geo is not None:
        panels[0][1].append(
            ax_main.text(
                0.995,
                0.005,
                ATTRIBUTION,
                transform=ax_main.transAxes,
                ha="right",
                va="bottom",
                fontsize=6.5,
                color="#6f6f6f",
                zorder=9,
                path_effects=STROKE,
            )
        )
    ax_info.axis("off")
    info(fig, ax_info, not cluster)

    # labels last: they need the final positions
    fig.canvas.draw()
    for panel, obstacles in panels:
        _place_labels(fig, panel, nodes, obstacles, 9.0)
    fig.savefig(out, dpi=DPI, facecolor="white")
    return out


def _width_handles(teu_max: float, colour: str = "#666666") -> list[Line2D]:
    """Legend lines of three widths in TEU per year."""
    values = sorted({_nice(teu_max), _nice(teu_max / 2), _nice(teu_max / 5)}, reverse=True)
    return [
        Line2D([], [], color=colour, lw=line_width(v, teu_max), label=f"{v:,.0f} TEU/yr")
        for v in values
        if v > 0
    ]


def _nice(x: float) -> float:
    """``x`` rounded to two significant digits (legend values)."""
    if x <= 0:
        return 0.0
    digits = 1 - int(math.floor(math.log10(x)))
    return round(x, digits)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _marker_handles() -> list[Line2D]:
    return [
        Line2D([], [], ls="none", marker="s", mfc="white", mec="#222222", ms=8, label="port"),
        Line2D([], [], ls="none", marker="D", mfc="white", mec="#222222", ms=7, label="border"),
        Line2D([], [], ls="none", marker="o", mfc="white", mec="#222222", ms=8, label="terminal"),
    ]


def _legend(ax, handles, wide: bool, title: str) -> None:
    ax.legend(
        handles=handles,
        loc="upper left" if wide else "lower left",
        bbox_to_anchor=(0.34, 1.0) if wide else (0.0, 0.0),
        ncols=2,
        fontsize=8.5,
        frameon=False,
        handlelength=3.4,
        title=title,
        title_fontsize=8.5,
        alignment="left",
        borderaxespad=0.2,
    )


# --------------------------------------------------------------------------------------
# The route map of one run
# --------------------------------------------------------------------------------------


def route_map(scenario: Scenario, summary: dict, out: Path, colour_by: str = "utilisation") -> Path:
    """Write a map of the network on real geography, coloured by utilisation or waiting.

    ``scenario`` is the validated :class:`Scenario` (node ``lat``/``lon``
    in degrees; nodes without coordinates and legs touching them are left
    out), ``summary`` the run's ``summary.json`` dict. Line widths are TEU per
    year carried after the warm-up. ``colour_by`` is ``"utilisation"`` (busy
    share of capacity, 0–1) or ``"waiting"`` (mean time at node, days).
    Returns ``out``.
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
        return message_figure(
            title, "No node of this scenario has coordinates (lat/lon):\nno map to draw", out
        )

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

    legs = []
    for lid, a, b, mode in data.legs:
        v = data.leg_value.get(lid)
        legs.append(
            _Leg(
                key=lid,
                a=a,
                b=b,
                via=leg_via(scenario, lid),
                colour=cmap(norm(v)) if v is not None else C_NO_VALUE,
                width=line_width(data.leg_teu.get(lid), teu_max),
                dashed=mode == "sea",
                casing="#111111" if lid in data.highlight_legs else None,
            )
        )
    nodes = {}
    for nid, lonlat in data.pos.items():
        v = data.node_value.get(nid)
        hot = nid in data.highlight_nodes
        label = scenario.node_label(nid)
        if nid in data.node_note:
            label += "\n" + data.node_note[nid]
        nodes[nid] = _Node(
            nid,
            lonlat,
            data.kinds.get(nid, "terminal"),
            cmap(norm(v)) if v is not None else "white",
            label,
            ring="#111111" if hot else None,
            bold=hot,
            label_colour=C_BOTTLENECK if hot else "#111111",
        )

    def info(fig, ax, wide: bool) -> None:
        _route_info(fig, ax, data, scenario, cmap, norm, cbar_label, teu_max, colour_by, vals, wide)

    def cluster_title(cluster: list[str]) -> str:
        names = sorted({data_label(scenario, n) for n in cluster})
        return "Detail: " + ", ".join(names[:4]) + (" …" if len(names) > 4 else "")

    return _render(out, title, nodes, legs, info, cluster_title)


def _route_info(fig, ax, data, scenario, cmap, norm, cbar_label, teu_max, colour_by, vals, wide):
    """Bottleneck, colour bar, line/marker legend and the most utilised stages."""
    if wide:
        cb_box, bn_xy, st_xy = [0.02, 0.42, 0.29, 0.1], (0.0, 0.98), (0.72, 0.98)
    else:
        cb_box, bn_xy, st_xy = [0.02, 0.76, 0.62, 0.05], (0.0, 0.99), (0.0, 0.57)
    if data.bottleneck_text:
        wrap = 46 if wide else 62
        wrapped = [
            w for line in data.bottleneck_text.split("\n") for w in textwrap.wrap(line, wrap)
        ]
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
    vmax = max(vals + [0.0])
    cb = fig.colorbar(
        ScalarMappable(norm=norm, cmap=cmap),
        cax=cax,
        orientation="horizontal",
        extend="max" if colour_by == "utilisation" and vmax > 1 else "neither",
    )
    cb.set_label(cbar_label, fontsize=8.5)
    cb.ax.tick_params(labelsize=8)
    handles = [
        Line2D([], [], color="#666666", lw=2.5, label="rail leg"),
        Line2D([], [], color="#666666", lw=2.5, ls=(0, (2.6, 0.9)), label="sea leg"),
        *_width_handles(teu_max),
        Line2D([], [], color=C_NO_VALUE, lw=2.5, label="no capacity limit / no value"),
        *_marker_handles(),
    ]
    if data.highlight_legs or data.highlight_nodes:
        handles.append(Line2D([], [], color="#111111", lw=5, label="bottleneck (cased)"))
    _legend(
        ax,
        handles,
        wide,
        "line width: TEU per year carried after the warm-up (mean)\n"
        f"proportional; at least {WIDTH_MIN_PT:g} pt. Legs sharing a track run side by side",
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


# --------------------------------------------------------------------------------------
# What changed between two runs
# --------------------------------------------------------------------------------------


def _fmt_teu(x: float, signed: bool = False) -> str:
    return f"{x:+,.0f}" if signed else f"{x:,.0f}"


def change_map(
    base_model: Scenario,
    base_summary: Mapping[str, Any],
    alt_model: Scenario,
    alt_summary: Mapping[str, Any],
    path: Path,
) -> Path:
    """Write a map of what changed from a base run to an alternative.

    Legs are coloured by the change in TEU per year carried (after the warm-up),
    nodes by the change in utilisation; widths are the alternative's TEU per year
    (the base's for a removed leg). A leg or node only the alternative has is
    marked "added" (green), one only the base has "removed" (a pale grey band). The
    alternative's bottleneck is cased in black. Colour scales are at least ±10% of the
    busiest leg and ±0.10 of utilisation, so that noise stays grey.
    Legs are matched by id and end nodes, nodes by id. Returns ``path``.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    base = _collect(base_model, base_summary, "utilisation")
    alt = _collect(alt_model, alt_summary, "utilisation")
    bname = (base_summary.get("scenario") or {}).get("name") or base_model.scenario.name
    aname = (alt_summary.get("scenario") or {}).get("name") or alt_model.scenario.name
    title = f"What changed: '{aname}' against '{bname}'"
    if not base.pos and not alt.pos:
        return message_figure(
            title, "No node of these scenarios has coordinates (lat/lon):\nno map to draw", out
        )

    def ends(model: Scenario, lid: str) -> tuple[str, str]:
        leg = model.legs[lid]
        return leg.from_node, leg.to_node

    # legs: (key, lid, model it is drawn from, base TEU/yr or None, alt TEU/yr or None)
    rows: list[tuple[str, str, Scenario, str, float | None, float | None]] = []
    alt_ids = {lid for lid, *_ in alt.legs}
    base_ids = {lid for lid, *_ in base.legs}
    for lid, _a, _b, mode in alt.legs:
        same = lid in base_ids and ends(base_model, lid) == ends(alt_model, lid)
        rows.append(
            (lid, lid, alt_model, mode, base.leg_teu[lid] if same else None, alt.leg_teu[lid])
        )
    for lid, _a, _b, mode in base.legs:
        if lid in alt_ids and ends(base_model, lid) == ends(alt_model, lid):
            continue
        key = lid if lid not in alt_ids else f"{lid} (base)"
        rows.append((key, lid, base_model, mode, base.leg_teu[lid], None))

    teu_max = max([v for r in rows for v in r[4:] if v is not None] + [1.0])
    deltas = [(r[5] or 0.0) - (r[4] or 0.0) for r in rows]
    kept = [abs(d) for d, r in zip(deltas, rows, strict=True) if None not in r[4:]]
    d_max = max(kept + [0.1 * teu_max, 1.0])
    leg_norm = TwoSlopeNorm(0.0, -d_max, d_max)
    legs = []
    for (key, lid, model, mode, b, a), d in zip(rows, deltas, strict=True):
        removed, added = a is None, b is None
        colour = C_REMOVED if removed else C_ADDED if added else _DELTA_CMAP(leg_norm(d))
        legs.append(
            _Leg(
                key=key,
                a=model.legs[lid].from_node,
                b=model.legs[lid].to_node,
                via=leg_via(model, lid),
                colour=colour,
                width=line_width(b if removed else a, teu_max),
                dashed=mode == "sea" and not removed,
                ghost=removed,
                casing="#111111" if not removed and lid in alt.highlight_legs else None,
            )
        )

    node_ids = list(alt.pos) + [n for n in base.pos if n not in alt.pos]
    node_d = {
        n: alt.node_util[n] - base.node_util[n]
        for n in node_ids
        if n in alt.pos
        and n in base.pos
        and alt.node_util.get(n) is not None
        and base.node_util.get(n) is not None
    }
    u_max = max([abs(d) for d in node_d.values()] + [0.1])
    node_norm = TwoSlopeNorm(0.0, -u_max, u_max)
    nodes = {}
    for nid in node_ids:
        in_alt, in_base = nid in alt.pos, nid in base.pos
        model, data = (alt_model, alt) if in_alt else (base_model, base)
        label = model.node_label(nid)
        face: Any = "white"
        ring = edge = None
        colour = "#111111"
        if in_alt and not in_base:
            label += "\nadded"
            ring, colour = C_ADDED, C_ADDED
            u = alt.node_util.get(nid)
            if u is not None:
                label += f", ρ {u:.2f}"
        elif in_base and not in_alt:
            label += "\nremoved"
            face, edge, colour = "#e6e6e6", C_REMOVED, "#555555"
        else:
            ub, ua = base.node_util.get(nid), alt.node_util.get(nid)
            if nid in node_d:
                face = _DELTA_CMAP(node_norm(node_d[nid]))
                label += f"\nρ {ub:.2f} → {ua:.2f}"
            elif ua is not None or ub is not None:
                label += "\nρ " + " → ".join("–" if u is None else f"{u:.2f}" for u in (ub, ua))
        hot_alt = nid in alt.highlight_nodes
        nodes[nid] = _Node(
            nid,
            data.pos[nid],
            data.kinds.get(nid, "terminal"),
            face,
            label,
            ring="#111111" if hot_alt else ring,
            bold=hot_alt,
            label_colour=C_BOTTLENECK if hot_alt else colour,
            edge=edge or "#222222",
        )

    table = []
    for k in sorted(range(len(rows)), key=lambda k: -abs(deltas[k])):
        key, lid, model, _mode, b, a = rows[k]
        if len(table) == 6 or (None not in (a, b) and abs(deltas[k]) < 0.005 * max(a, b, 1.0)):
            continue  # changes under 0.5% of the leg's flow are not listed
        name = _short(stage_label(model, f"legs.{lid}", short=True, bare=True), 34)
        if a is None:
            table.append(f"{name}: removed ({_fmt_teu(b or 0)})")
        elif b is None:
            table.append(f"{name}: added ({_fmt_teu(a)})")
        else:
            table.append(f"{name}: {_fmt_teu(b)} → {_fmt_teu(a)} ({_fmt_teu(deltas[k], True)})")
    # nodes and legs together: an investment in ships shows as the sea leg's ρ falling
    util_rows = [
        (f"{_short(data_label(alt_model, n), 28)}", base.node_util[n], alt.node_util[n], d)
        for n, d in node_d.items()
    ]
    for lid in alt_ids & base_ids:
        ub, ua = base.leg_util.get(lid), alt.leg_util.get(lid)
        if ub is not None and ua is not None and ends(base_model, lid) == ends(alt_model, lid):
            name = _short(stage_label(alt_model, f"legs.{lid}", short=True), 44)
            util_rows.append((name, ub, ua, ua - ub))
    node_table = [
        f"{name}: {ub:.2f} → {ua:.2f} ({d:+.2f})"
        for name, ub, ua, d in sorted(util_rows, key=lambda r: -abs(r[3]))[:5]
        if abs(d) >= 0.005
    ]
    bottlenecks = []
    for model, summary, name in (
        (base_model, base_summary, bname),
        (alt_model, alt_summary, aname),
    ):
        bn = summary.get("bottleneck") or {}
        el = bn.get("element")
        m = _mean(bn.get("utilisation"))
        text = stage_label(model, el, short=True) if el else "none"
        bottlenecks.append(
            f"{name}: {_short(text, 44)}" + (f" (ρ {m:.2f})" if m is not None else "")
        )
    summary_info = _ChangeInfo(leg_norm, node_norm, teu_max, bottlenecks, table, node_table)

    def info(fig, ax, wide: bool) -> None:
        _change_info(fig, ax, wide, summary_info)

    def cluster_title(cluster: list[str]) -> str:
        names = sorted({data_label(alt_model if n in alt.pos else base_model, n) for n in cluster})
        return "Detail: " + ", ".join(names[:4]) + (" …" if len(names) > 4 else "")

    return _render(out, title, nodes, legs, info, cluster_title)


@dataclass
class _ChangeInfo:
    leg_norm: Any
    node_norm: Any
    teu_max: float
    bottlenecks: list[str]
    legs: list[str]  # the largest changes, as text
    nodes: list[str]


def _change_info(fig, ax, wide: bool, info: _ChangeInfo) -> None:
    """Bottlenecks before and after, two colour bars, the legend and the largest changes."""
    ax.text(
        0.0,
        0.99 if not wide else 0.98,
        "Bottleneck\n" + "\n".join(info.bottlenecks),
        transform=ax.transAxes,
        va="top",
        ha="left",
        fontsize=9,
        color=C_BOTTLENECK,
        fontweight="bold",
    )
    if wide:
        leg_box, node_box, st_xy = [0.02, 0.50, 0.29, 0.08], [0.02, 0.18, 0.29, 0.08], (0.72, 0.98)
    else:
        leg_box, node_box, st_xy = [0.02, 0.75, 0.45, 0.04], [0.52, 0.75, 0.45, 0.04], (0.0, 0.62)
    for box, norm, label in (
        (leg_box, info.leg_norm, "Legs: change in TEU per year carried\n(alternative − base)"),
        (node_box, info.node_norm, "Nodes: change in utilisation ρ\n(alternative − base)"),
    ):
        cb = fig.colorbar(
            ScalarMappable(norm=norm, cmap=_DELTA_CMAP),
            cax=ax.inset_axes(box),
            orientation="horizontal",
        )
        cb.set_label(label, fontsize=8.5)
        cb.ax.tick_params(labelsize=7.5)
        cb.ax.xaxis.set_major_formatter(lambda v, _p: f"{v:+,.2g}" if abs(v) < 1 else f"{v:+,.0f}")
    handles = [
        Line2D([], [], color="#8a8a8a", lw=2.5, label="rail leg"),
        Line2D([], [], color="#8a8a8a", lw=2.5, ls=(0, (2.6, 0.9)), label="sea leg"),
        *_width_handles(info.teu_max, "#8a8a8a"),
        Line2D([], [], color=C_ADDED, lw=3, label="added (alternative only)"),
        Line2D([], [], color=C_REMOVED, lw=6, alpha=0.35, label="removed (base only)"),
        *_marker_handles(),
        Line2D([], [], color="#111111", lw=5, label="alternative's bottleneck (cased)"),
    ]
    _legend(ax, handles, wide, "line width: TEU per year carried (alternative; base if removed)")
    text = "Largest changes, TEU per year\n" + (
        "\n".join(info.legs) or "no leg changed by 0.5% or more"
    )
    if info.nodes:
        text += "\n\nLargest changes, utilisation ρ\n" + "\n".join(info.nodes)
    ax.text(
        *st_xy,
        text,
        transform=ax.transAxes,
        va="top",
        ha="left",
        fontsize=8.3,
        color="#333333",
        linespacing=1.3,
    )


__all__ = [
    "COLOUR_BY",
    "Geography",
    "change_map",
    "leg_path",
    "leg_via",
    "line_width",
    "load_geography",
    "load_waypoints",
    "route_map",
    "stage_kind",
    "stage_label",
    "teu_per_year_factor",
]
