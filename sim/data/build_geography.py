"""Rebuild ``naturalearth_50m.npz`` (the route map's coastlines and borders) — run once, by hand.

Not used at run time. Input: ``countries-50m.json`` of the npm package ``world-atlas`` 2.0.2
(Natural Earth 4.1.0 Admin-0 countries, 1:50m, as TopoJSON; get it with
``npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz``)::

    python sim/data/build_geography.py package/countries-50m.json sim/data/naturalearth_50m.npz

Every TopoJSON arc is simplified once (Douglas-Peucker, ``TOLERANCE`` degrees) so that the
land outline, the country rings and the borders stay consistent with each other; only rings
and arcs that reach into ``WINDOW`` are kept (whole, not clipped). The file holds, as float32
lon/lat arrays with ring offsets:

* ``land_*``: the merged land polygons (exterior rings and holes), for the land fill;
* ``country_*``: each country's rings, its name and ISO 3166-1 numeric id;
* ``border_*``: the arcs two countries share (land borders), as polylines.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

TOLERANCE = 0.02  # degrees: ~2 km, well under a pixel of the whole-route map
WINDOW = (-34.0, 160.0, -50.0, 82.0)  # lon0, lon1, lat0, lat1: what a corridor map can show


def _decode_arcs(topo: dict) -> list[np.ndarray]:
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    out = []
    for arc in topo["arcs"]:
        q = np.cumsum(np.asarray(arc, dtype=np.int64), axis=0)
        out.append(np.column_stack([q[:, 0] * sx + tx, q[:, 1] * sy + ty]))
    return out


def _simplify(pts: np.ndarray, tol: float) -> np.ndarray:
    """Douglas-Peucker keeping both ends (iterative)."""
    n = len(pts)
    if n <= 2:
        return pts
    keep = np.zeros(n, dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        i, j = stack.pop()
        if j <= i + 1:
            continue
        a, b = pts[i], pts[j]
        seg = pts[i + 1 : j]
        d = b - a
        norm = float(np.hypot(*d))
        if norm == 0:
            dist = np.hypot(*(seg - a).T)
        else:
            dist = np.abs(d[0] * (seg[:, 1] - a[1]) - d[1] * (seg[:, 0] - a[0])) / norm
        k = int(np.argmax(dist))
        if dist[k] > tol:
            m = i + 1 + k
            keep[m] = True
            stack += [(i, m), (m, j)]
    return pts[keep]


def _ring(arcs: list[np.ndarray], idx: list[int]) -> np.ndarray:
    parts = []
    for k, a in enumerate(idx):
        pts = arcs[a] if a >= 0 else arcs[~a][::-1]
        parts.append(pts if k == 0 else pts[1:])
    return _unwrap(np.concatenate(parts))


def _polygons(geom: dict) -> list[list[list[int]]]:
    if geom["type"] == "Polygon":
        return [geom["arcs"]]
    if geom["type"] == "MultiPolygon":
        return geom["arcs"]
    return []


def _unwrap(pts: np.ndarray) -> np.ndarray:
    """A ring or arc crossing the antimeridian made continuous (lon past 180)."""
    if len(pts) > 1 and np.abs(np.diff(pts[:, 0])).max() > 180:
        pts = pts.copy()
        pts[:, 0] = np.degrees(np.unwrap(np.radians(pts[:, 0])))
        if pts[:, 0].min() < -180:
            pts[:, 0] += 360
    return pts


def _in_window(pts: np.ndarray) -> bool:
    x0, x1, y0, y1 = WINDOW
    return bool(
        pts[:, 0].max() >= x0
        and pts[:, 0].min() <= x1
        and pts[:, 1].max() >= y0
        and pts[:, 1].min() <= y1
    )


def _pack(rings: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    start = np.cumsum([0] + [len(r) for r in rings]).astype(np.int32)
    xy = np.concatenate(rings).astype(np.float32) if rings else np.zeros((0, 2), np.float32)
    return xy, start


def build(src: Path, dst: Path) -> None:
    topo = json.loads(Path(src).read_text(encoding="utf-8"))
    arcs = [_simplify(a, TOLERANCE) for a in _decode_arcs(topo)]

    land, land_hole = [], []
    for geom in topo["objects"]["land"]["geometries"]:
        for poly in _polygons(geom):
            for k, idx in enumerate(poly):
                r = _ring(arcs, idx)
                if len(r) >= 4 and _in_window(r):
                    land.append(r)
                    land_hole.append(k > 0)

    rings, hole, owner, names, ids = [], [], [], [], []
    users: dict[int, set[int]] = {}
    for c, geom in enumerate(topo["objects"]["countries"]["geometries"]):
        for poly in _polygons(geom):
            for idx in poly:
                for a in idx:
                    users.setdefault(a if a >= 0 else ~a, set()).add(c)
        kept = False
        for poly in _polygons(geom):
            for k, idx in enumerate(poly):
                r = _ring(arcs, idx)
                if len(r) >= 4 and _in_window(r):
                    rings.append(r)
                    hole.append(k > 0)
                    owner.append(len(names))
                    kept = True
        if kept:
            names.append(geom["properties"]["name"])
            ids.append(str(geom.get("id", "")))
    borders = [arcs[a] for a, cs in sorted(users.items()) if len(cs) >= 2 and _in_window(arcs[a])]

    land_xy, land_start = _pack(land)
    country_xy, country_start = _pack(rings)
    border_xy, border_start = _pack(borders)
    np.savez_compressed(
        dst,
        land_xy=land_xy,
        land_start=land_start,
        land_hole=np.array(land_hole, dtype=bool),
        country_xy=country_xy,
        country_start=country_start,
        country_hole=np.array(hole, dtype=bool),
        country_of_ring=np.array(owner, dtype=np.int16),
        country_name=np.array(names, dtype=str),
        country_id=np.array(ids, dtype=str),
        border_xy=border_xy,
        border_start=border_start,
        window=np.array(WINDOW, dtype=np.float32),
        tolerance_deg=np.float32(TOLERANCE),
    )
    print(
        f"{dst}: {len(land)} land rings, {len(rings)} rings of {len(names)} countries, "
        f"{len(borders)} border arcs, {len(land_xy) + len(country_xy) + len(border_xy)} points, "
        f"{Path(dst).stat().st_size / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python sim/data/build_geography.py countries-50m.json out.npz")
    build(Path(sys.argv[1]), Path(sys.argv[2]))
