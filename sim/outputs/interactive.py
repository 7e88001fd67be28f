"""An interactive map of a run through time, for the report: one plotly figure.

:func:`interactive_section_from_folder` reads a run folder (``timeseries.csv``,
``legs_monthly.csv``, ``scenario.resolved.json``, ``summary.json``) and returns an HTML
fragment: the map with a slider (and play button) that steps through the run by day or
by week, whichever is finer while the figure stays small (:func:`choose_step`):

* nodes sized (area) and coloured by the TEU held there, mean over the step's days and
  over replications; hover gives that mean, its range over replications, the TEU in the
  yard and the TEU that left the node in the step (``timeseries.csv``);
* legs (both directions between two nodes on one line) as wide and dark as the TEU that
  left on them per week: ``legs_monthly.csv`` holds TEU per month, so a step shows its
  months' rate (a month's TEU / its days in the run x 7); hover on the dot at a line's
  middle gives each direction's TEU per week and its month's total.

Coastlines, lakes and land borders are scatter traces of the shipped Natural Earth
extract (:func:`sim.outputs.plots_map.load_geography`), legs run along the waypoints of
:func:`sim.outputs.plots_map.leg_path`; no plotly geo or map trace is used, and the
fragment inlines plotly.js (no MathJax, no plotly logo link), so nothing is fetched when
the page opens.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import sample_colorscale

from sim.outputs.plots_map import (
    ATTRIBUTION,
    C_BORDER,
    C_COAST,
    C_LAND,
    C_SEA,
    data_label,
    leg_path,
    load_geography,
)

DIV_ID = "corridor-interactive-map"
STEP_CHOICES_DAYS = (1, 7, 14, 28)  # the finest that passes both limits below is used
MAX_FRAMES = 260  # slider positions
MAX_CELLS = 12_000  # frames x (nodes + leg lines): keeps the figure's data near 2 MB
PATH_STEP_DEG = 0.25  # spacing of the points along a leg's line
COAST_DECIMALS = 2  # lon/lat rounding of coastlines and borders (about 1 km)
MARGIN_DEG = 3.0  # around the nodes and legs
CROWD_DEG = 3.0  # nodes closer than this get their labels to the side
NODE_PX = (7.0, 46.0)  # marker diameter: empty node, node holding the most TEU
LEG_PX = (1.5, 12.0)  # line width: no TEU, the busiest leg-week
WIDTH_GUESS_PX = 1100  # the plot's width on a report page, to size the map's height
HEIGHT_PX = (420, 900)  # the figure's height, within these bounds
NODE_SCALE = [[0.0, "#fee391"], [0.35, "#fe9929"], [0.7, "#d7301f"], [1.0, "#7f0000"]]
LEG_SCALE = [[0.0, "#7fb3d8"], [0.5, "#2f6fb0"], [1.0, "#08306b"]]
C_FRAME = "#1d232a"
HALO = "0 0 3px white, 0 0 3px white, 0 0 2px white"  # labels readable on lines and markers


# --------------------------------------------------------------------------------------
# Reading a run folder
# --------------------------------------------------------------------------------------


@dataclass
class NodeSeries:
    """Daily node series of a run: arrays ``[replication, day]`` in TEU."""

    start: np.datetime64  # the date of day 0
    teu_at_node: dict[str, np.ndarray]
    yard_teu: dict[str, np.ndarray]
    departed_teu: dict[str, np.ndarray]

    @property
    def n_days(self) -> int:
        return max((a.shape[1] for a in self.teu_at_node.values()), default=0)

    @property
    def replications(self) -> int:
        return max((a.shape[0] for a in self.teu_at_node.values()), default=0)


def read_timeseries(path: Path) -> NodeSeries:
    """``timeseries.csv`` (see :func:`sim.outputs.results.write_timeseries_csv`) as arrays."""
    cols = ("teu_at_node", "yard_teu", "departed_teu")
    rows: dict[str, dict[tuple[int, int], tuple[float, float, float]]] = {}
    start: np.datetime64 | None = None
    with Path(path).open(newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            rep, day = int(r["replication"]), int(r["day"])
            if start is None:
                start = np.datetime64(r["date"], "D") - day
            rows.setdefault(r["node"], {})[(rep, day)] = tuple(float(r[c]) for c in cols)
    reps = sorted({k[0] for by in rows.values() for k in by})
    days = 1 + max((k[1] for by in rows.values() for k in by), default=-1)
    out: dict[str, dict[str, np.ndarray]] = {c: {} for c in cols}
    for nid, by in rows.items():
        arr = np.zeros((3, len(reps), days))
        for (rep, day), values in by.items():
            arr[:, reps.index(rep), day] = values
        for k, c in enumerate(cols):
            out[c][nid] = arr[k]
    return NodeSeries(
        start if start is not None else np.datetime64("2000-01-01"),
        out["teu_at_node"],
        out["yard_teu"],
        out["departed_teu"],
    )


def read_legs_monthly(path: Path) -> dict[str, dict[str, float]]:
    """Mean over replications of each leg's TEU (loaded + empty) by month of departure:
    ``{leg: {"YYYY-MM": TEU}}``, from the per-leg rows of ``legs_monthly.csv``."""
    total: dict[str, dict[str, float]] = {}
    reps: set[str] = set()
    with Path(path).open(newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r.get("fleet"):
                continue  # the fleet rows split the same departures by fleet
            reps.add(r["replication"])
            teu = float(r["teu_loaded"] or 0.0) + float(r["teu_empty"] or 0.0)
            by = total.setdefault(r["leg"], {})
            by[r["month"]] = by.get(r["month"], 0.0) + teu
    n = max(len(reps), 1)
    return {lid: {m: v / n for m, v in by.items()} for lid, by in total.items()}


# --------------------------------------------------------------------------------------
# Time steps
# --------------------------------------------------------------------------------------


def choose_step(n_days: int, n_elements: int) -> int:
    """Days per slider step: the finest of ``STEP_CHOICES_DAYS`` that gives at most
    ``MAX_FRAMES`` steps and ``MAX_CELLS`` step x element values (else the coarsest
    multiple of 28 days that does)."""
    for step in STEP_CHOICES_DAYS:
        frames = math.ceil(n_days / step)
        if frames <= MAX_FRAMES and frames * max(n_elements, 1) <= MAX_CELLS:
            return step
    need = max(n_days / MAX_FRAMES, n_days * max(n_elements, 1) / MAX_CELLS)
    return 28 * math.ceil(need / 28)


def leg_week_rates(
    monthly: Mapping[str, float], start: np.datetime64, n_days: int
) -> np.ndarray:
    """Daily TEU of a leg from its monthly totals: each month's TEU spread evenly over the
    run's days in that month (the first and last month may be partial)."""
    dates = start + np.arange(n_days)
    months = dates.astype("datetime64[M]")
    labels, first, counts = np.unique(months, return_index=True, return_counts=True)
    out = np.zeros(n_days)
    for m, i, c in zip(labels, first, counts, strict=True):
        out[i : i + c] = monthly.get(str(m), 0.0) / c
    return out


# --------------------------------------------------------------------------------------
# Geography as scatter traces
# --------------------------------------------------------------------------------------


def _clip_ring(ring: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """A closed ring clipped to ``box`` = (lon0, lon1, lat0, lat1) (Sutherland-Hodgman)."""
    pts = [tuple(p) for p in ring]
    for axis, bound, keep_above in ((0, box[0], True), (0, box[1], False),
                                    (1, box[2], True), (1, box[3], False)):
        if not pts:
            break
        def inside(p, axis=axis, bound=bound, keep_above=keep_above) -> bool:
            return p[axis] >= bound if keep_above else p[axis] <= bound

        out = []
        for k, cur in enumerate(pts):
            prev = pts[k - 1]
            if inside(cur) != inside(prev):
                t = (bound - prev[axis]) / (cur[axis] - prev[axis])
                out.append(tuple(prev[j] + t * (cur[j] - prev[j]) for j in (0, 1)))
            if inside(cur):
                out.append(cur)
        pts = out
    return np.array(pts, dtype=float).reshape(-1, 2)


def _joined(rings: Sequence[np.ndarray], close: bool) -> tuple[list, list]:
    """x and y lists of several rings or lines, separated by None (plotly's gaps)."""
    xs: list = []
    ys: list = []
    for r in rings:
        if len(r) < 2:
            continue
        r = np.round(r, COAST_DECIMALS)
        if close:
            r = np.vstack([r, r[:1]])
        xs += r[:, 0].tolist() + [None]
        ys += r[:, 1].tolist() + [None]
    return xs, ys


def _hits(r: np.ndarray, box: tuple[float, float, float, float]) -> bool:
    return bool(
        r[:, 0].max() >= box[0] and r[:, 0].min() <= box[1]
        and r[:, 1].max() >= box[2] and r[:, 1].min() <= box[3]
    )


def geography_traces(box: tuple[float, float, float, float]) -> list[go.Scatter]:
    """Land (filled), lakes and inland seas (filled with the sea colour) and land borders
    inside ``box`` (lon0, lon1, lat0, lat1), from the shipped Natural Earth extract."""
    geo = load_geography()
    if geo is None:
        return []
    land = [_clip_ring(r, box) for r, h in zip(geo.land, geo.land_hole, strict=True)
            if not h and _hits(r, box)]
    holes = [_clip_ring(r, box) for r, h in zip(geo.land, geo.land_hole, strict=True)
             if h and _hits(r, box)]
    borders = [b for b in geo.borders if _hits(b, box)]
    common = {"mode": "lines", "hoverinfo": "skip", "showlegend": False}
    traces = []
    for rings, fill, name in ((land, C_LAND, "land"), (holes, C_SEA, "lakes")):
        x, y = _joined(rings, close=True)
        traces.append(go.Scatter(x=x, y=y, fill="toself", fillcolor=fill, name=name,
                                 line={"color": C_COAST, "width": 0.8}, **common))
    x, y = _joined(borders, close=False)
    traces.append(go.Scatter(x=x, y=y, name="borders",
                             line={"color": C_BORDER, "width": 0.7}, **common))
    return traces


# --------------------------------------------------------------------------------------
# The figure
# --------------------------------------------------------------------------------------


@dataclass
class _Line:
    """The legs drawn as one line: both directions between two nodes on one path."""

    legs: list[str]
    path: np.ndarray  # (lon, lat)
    mode: str
    name: str


def _lines(scenario: Any) -> list[_Line]:
    groups: dict[tuple, _Line] = {}
    for lid, leg in scenario.legs.items():
        try:
            path = leg_path(scenario, lid, PATH_STEP_DEG)
        except KeyError:
            continue  # a node without coordinates
        a, b = leg.from_node, leg.to_node
        if (a, b) > (b, a):
            a, b, path = b, a, path[::-1]
        mode = getattr(leg, "mode", "rail")
        key = (a, b, mode, np.round(path, 2).tobytes())
        if key not in groups:
            name = f"{data_label(scenario, a)} – {data_label(scenario, b)} ({mode})"
            groups[key] = _Line([], path, mode, name)
        groups[key].legs.append(lid)
    return list(groups.values())


def _date(d: np.datetime64) -> str:
    return _dt.date.fromisoformat(str(d.astype("datetime64[D]"))).strftime("%-d %b %Y")


def _colours(scale: list, values: np.ndarray, vmax: float) -> list[str]:
    """Hex colours of ``values`` on ``scale`` (0 to ``vmax``)."""
    rgb = sample_colorscale(scale, np.clip(values / max(vmax, 1e-9), 0.0, 1.0).tolist())
    out = []
    for t in rgb:  # "rgb(r, g, b)"
        r, g, b = (round(float(c)) for c in t[t.index("(") + 1 : -1].split(","))
        out.append(f"#{r:02x}{g:02x}{b:02x}")
    return out


def interactive_figure(
    scenario: Any,
    series: NodeSeries,
    legs_monthly: Mapping[str, Mapping[str, float]],
    warmup_days: float = 0.0,
    title: str = "",
) -> go.Figure | None:
    """The map with one slider step per day or week (:func:`choose_step`); None when no
    node has coordinates or the series is empty."""
    nodes = [
        n for n, spec in scenario.nodes.items()
        if spec.lat is not None and spec.lon is not None and n in series.teu_at_node
    ]
    n_days = series.n_days
    if not nodes or n_days == 0:
        return None
    lines = _lines(scenario)
    step = choose_step(n_days, len(nodes) + len(lines))
    starts = list(range(0, n_days, step))
    unit = "day" if step == 1 else "week" if step == 7 else f"{step} days"

    # node values per step: mean TEU over the step's days (then over replications)
    def per_step(a: np.ndarray, how: str) -> np.ndarray:  # a: [rep, day] -> [rep, step]
        return np.stack(
            [getattr(a[:, s : s + step], how)(axis=1) for s in starts], axis=1
        )

    held = {n: per_step(series.teu_at_node[n], "mean") for n in nodes}
    yard = {n: per_step(series.yard_teu[n], "mean").mean(axis=0) for n in nodes}
    gone = {n: per_step(series.departed_teu[n], "sum").mean(axis=0) for n in nodes}
    held_mean = {n: held[n].mean(axis=0) for n in nodes}
    node_max = max(float(v.max()) for v in held_mean.values())

    # legs: TEU per week at the rate of the step's months, per direction
    daily = {
        lid: leg_week_rates(legs_monthly.get(lid, {}), series.start, n_days)
        for line in lines for lid in line.legs
    }
    per_week = {
        lid: np.array([d[s : s + step].mean() * 7.0 for s in starts]) for lid, d in daily.items()
    }
    line_teu = [sum(per_week[lid] for lid in line.legs) for line in lines]
    leg_max = max([float(v.max()) for v in line_teu] + [1.0])

    pos = {n: (float(scenario.nodes[n].lon), float(scenario.nodes[n].lat)) for n in nodes}
    pts = np.array(list(pos.values()) + [p for ln in lines for p in ln.path])
    lon0, lat0 = pts.min(axis=0) - MARGIN_DEG
    lon1, lat1 = pts.max(axis=0) + MARGIN_DEG
    box = (float(lon0), float(lon1), float(lat0), float(lat1))
    geo = geography_traces((box[0] - 2, box[1] + 2, box[2] - 2, box[3] + 2))

    fig = go.Figure(geo)
    for mode in sorted({ln.mode for ln in lines}):  # legend entries of a fixed look
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="lines", name=f"{mode} leg: width and colour = TEU/week",
            line={"dash": "dash" if mode == "sea" else "solid", "color": "#2f6fb0", "width": 4},
        ))
    first_leg = len(fig.data)
    for line in lines:
        fig.add_trace(go.Scatter(
            x=np.round(line.path[:, 0], 3).tolist(), y=np.round(line.path[:, 1], 3).tolist(),
            mode="lines", hoverinfo="skip", showlegend=False, name=line.name,
            line={"dash": "dash" if line.mode == "sea" else "solid", "color": "#2f6fb0"},
        ))
    reps = series.replications
    rep_text = "mean of 1 replication" if reps == 1 else f"mean of {reps} replications"

    # hover: a fixed template per point; the frames change only its customdata (numbers
    # and the step's dates), which keeps the file small
    def name_of(nid: str) -> str:
        return html.escape(scenario.node_label(nid))

    leg_templates = []
    for line in lines:
        rows = [
            f"{name_of(scenario.legs[lid].from_node)} → {name_of(scenario.legs[lid].to_node)}: "
            f"%{{customdata[{2 + 2 * i}]:,.0f}} TEU/week (%{{customdata[{3 + 2 * i}]:,.0f}} TEU "
            f"in %{{customdata[1]}})"
            for i, lid in enumerate(line.legs)
        ]
        if len(line.legs) > 1:
            rows.append(f"both ways: %{{customdata[{2 + 2 * len(line.legs)}]:,.0f}} TEU/week")
        leg_templates.append(
            f"<b>{html.escape(line.name)}</b><br>%{{customdata[0]}}<br>" + "<br>".join(rows)
            + f"<br><i>TEU/week at the rate of the month; {rep_text}</i><extra></extra>"
        )
    spread = (
        "; %{customdata[2]:,.0f}–%{customdata[3]:,.0f} TEU across them" if reps > 1 else ""
    )
    node_templates = [
        f"<b>{name_of(n)}</b><br>%{{customdata[0]}}<br>TEU held: %{{customdata[1]:,.0f}} TEU "
        f"(daily mean, {rep_text}{spread})<br>of which in the yard: %{{customdata[4]:,.0f}} TEU"
        f"<br>left the node: %{{customdata[5]:,.0f}} TEU in the {unit}<extra></extra>"
        for n in nodes
    ]
    mids = np.array([ln.path[len(ln.path) // 2] for ln in lines]).reshape(-1, 2)
    mid_trace = len(fig.data)
    fig.add_trace(go.Scatter(
        x=mids[:, 0].tolist(), y=mids[:, 1].tolist(), mode="markers",
        name="leg: hover the dot for its TEU", hovertemplate=leg_templates,
        marker={"size": 9, "symbol": "diamond", "line": {"color": "white", "width": 1},
                "colorscale": LEG_SCALE, "cmin": 0, "cmax": leg_max,
                "colorbar": {"title": {"text": "Legs<br>TEU/week<br>(both ways)"},
                             "x": 1.0, "len": 0.42, "y": 0.28, "thickness": 14}},
    ))
    node_trace = len(fig.data)
    short = [data_label(scenario, n) for n in nodes]
    labels = [
        scenario.node_label(n) if short.count(t) > 1 else t
        for n, t in zip(nodes, short, strict=True)
    ]
    fig.add_trace(go.Scatter(
        x=[pos[n][0] for n in nodes], y=[pos[n][1] for n in nodes], mode="markers+text",
        text=labels, textposition=_label_positions(nodes, pos),
        textfont={"size": 11, "color": C_FRAME, "shadow": HALO},
        name="node: size and colour = TEU held", hovertemplate=node_templates,
        marker={"colorscale": NODE_SCALE, "cmin": 0, "cmax": node_max, "opacity": 0.92,
                "line": {"color": "#333333", "width": 1},
                "colorbar": {"title": {"text": "Nodes<br>TEU held<br>(mean)"},
                             "x": 1.0, "len": 0.42, "y": 0.76, "thickness": 14}},
    ))

    frames, steps = [], []
    for k, s in enumerate(starts):
        a = series.start + s
        b = series.start + min(s + step, n_days) - 1
        warm = " (warm-up)" if s + step <= warmup_days else ""
        when = (_date(a) if step == 1 else f"{_date(a)} – {_date(b)}") + warm
        label = (f"{unit.capitalize()} of " if step > 1 else "") + _date(a) + warm
        month = str(a.astype("datetime64[M]"))
        month_text = _dt.date.fromisoformat(f"{month}-01").strftime("%b %Y")
        teu = np.array([held_mean[n][k] for n in nodes])
        size = NODE_PX[0] + (NODE_PX[1] - NODE_PX[0]) * np.sqrt(teu / max(node_max, 1e-9))
        node_data = [
            [when] + [round(float(v)) for v in (
                held_mean[n][k], held[n][:, k].min(), held[n][:, k].max(), yard[n][k], gone[n][k]
            )]
            for n in nodes
        ]
        leg_data = []
        for line, v in zip(lines, line_teu, strict=True):
            row: list = [when, month_text]
            for lid in line.legs:
                row += [round(float(per_week[lid][k])),
                        round(float(legs_monthly.get(lid, {}).get(month, 0.0)))]
            leg_data.append(row + [round(float(v[k]))])
        widths = [LEG_PX[0] + (LEG_PX[1] - LEG_PX[0]) * float(v[k]) / leg_max for v in line_teu]
        cols = _colours(LEG_SCALE, np.array([float(v[k]) for v in line_teu]), leg_max)
        data = [go.Scatter(line={"width": round(w, 1), "color": c})
                for w, c in zip(widths, cols, strict=True)]
        data.append(go.Scatter(customdata=leg_data, marker={"color": cols}))
        data.append(go.Scatter(
            customdata=node_data,
            marker={"size": np.round(size, 1).tolist(), "color": np.round(teu).tolist()},
        ))
        name = str(a)
        frames.append(go.Frame(
            name=name, data=data,
            traces=list(range(first_leg, first_leg + len(lines))) + [mid_trace, node_trace],
        ))
        steps.append({
            "label": label, "method": "animate",
            "args": [[name], {"mode": "immediate", "frame": {"duration": 0, "redraw": True},
                              "transition": {"duration": 0}}],
        })
    fig.frames = frames
    active = next((k for k, s in enumerate(starts) if s >= warmup_days), 0)
    for j, trace in enumerate(frames[active].data):
        fig.data[frames[active].traces[j]].update(trace)

    mid_lat = math.radians((box[2] + box[3]) / 2)
    aspect = (box[1] - box[0]) * math.cos(mid_lat) / (box[3] - box[2])  # width / height
    fig.update_layout(
        title={"text": title, "x": 0.01, "y": 0.995, "yanchor": "top", "font": {"size": 15}},
        height=figure_height(aspect), margin={"l": 10, "r": 10, "t": 75, "b": 10},
        plot_bgcolor=C_SEA, paper_bgcolor="white", hovermode="closest",
        xaxis={"range": [box[0], box[1]], "visible": False, "constrain": "domain"},
        yaxis={"range": [box[2], box[3]], "visible": False, "scaleanchor": "x",
               "scaleratio": 1.0 / math.cos(mid_lat), "constrain": "domain"},
        legend={"orientation": "h", "x": 0.0, "y": 1.0, "yanchor": "bottom",
                "font": {"size": 11}, "itemwidth": 40},
        annotations=[{
            "text": ATTRIBUTION + ". Legs: TEU per week at the rate of the month "
            "(legs_monthly.csv); nodes: timeseries.csv.",
            "xref": "paper", "yref": "paper", "x": 0.0, "y": -0.01, "xanchor": "left",
            "yanchor": "top", "showarrow": False, "font": {"size": 10, "color": "#666666"},
        }],
        sliders=[{
            "active": active, "steps": steps, "x": 0.13, "len": 0.86, "y": 0.0,
            "yanchor": "top", "pad": {"t": 28, "b": 0}, "ticklen": 0, "minorticklen": 0,
            "font": {"color": "rgba(0,0,0,0)", "size": 1},
            "currentvalue": {"prefix": "", "font": {"size": 14, "color": C_FRAME},
                             "xanchor": "left"},
        }],
        updatemenus=[{
            "type": "buttons", "direction": "left", "x": 0.0, "y": 0.0, "xanchor": "left",
            "yanchor": "top", "pad": {"t": 36, "r": 6},
            "buttons": [
                {"label": "▶ Play", "method": "animate",
                 "args": [None, {"frame": {"duration": 350, "redraw": True},
                                 "transition": {"duration": 0}, "fromcurrent": True}]},
                {"label": "❚❚", "method": "animate",
                 "args": [[None], {"mode": "immediate", "frame": {"duration": 0,
                                                                  "redraw": False}}]},
            ],
        }],
    )
    return fig


def figure_height(aspect: float) -> int:
    """Pixels: the map's height at ``WIDTH_GUESS_PX`` wide plus room for the title, legend
    and slider, within ``HEIGHT_PX``."""
    return int(min(max(WIDTH_GUESS_PX / max(aspect, 0.1) + 190, HEIGHT_PX[0]), HEIGHT_PX[1]))


def _label_positions(nodes: Sequence[str], pos: Mapping[str, tuple[float, float]]) -> list[str]:
    """Text above a lone node; in a crowd (nodes within ``CROWD_DEG``), text to the left of
    the nodes west of the crowd's middle and to the right of the others (of two nodes at
    one spot, the first left and the second right)."""
    out = []
    for n in nodes:
        x, y = pos[n]
        crowd = [m for m in nodes if math.dist(pos[m], (x, y)) < CROWD_DEG]
        if len(crowd) == 1:
            out.append("top center")
            continue
        mid = sum(pos[m][0] for m in crowd) / len(crowd)
        same = [m for m in crowd if math.dist(pos[m], (x, y)) < 0.3]
        west = x < mid - 0.05 or (abs(x - mid) <= 0.05 and same.index(n) % 2 == 0)
        out.append("middle left" if west else "middle right")
    return out


def figure_html(fig: go.Figure) -> str:
    """The figure as a fragment that inlines plotly.js and loads nothing: no MathJax, no
    plotly logo link, not auto-playing, with a fixed element id (reproducible)."""
    return pio.to_html(
        fig,
        include_plotlyjs=True,
        include_mathjax=False,
        full_html=False,
        auto_play=False,
        div_id=DIV_ID,
        default_height=f"{fig.layout.height or HEIGHT_PX[0]}px",
        default_width="100%",
        config={"displaylogo": False, "responsive": True, "scrollZoom": False},
    )


def _muted(text: str) -> str:
    return f'<p class="muted">{html.escape(text)}</p>'


def interactive_section_from_folder(folder: Path, scenario: Any = None) -> str:
    """An HTML fragment for the report of the run folder ``folder``: the interactive map
    and a one-line guide, or one muted line saying why there is none (no timeseries.csv,
    no valid scenario.resolved.json, no node with coordinates). ``scenario``: the run's
    validated Scenario when the caller has it (else read from scenario.resolved.json)."""
    from sim.errors import ScenarioError
    from sim.scenario.loader import load_scenario

    folder = Path(folder)
    ts, lm = folder / "timeseries.csv", folder / "legs_monthly.csv"
    resolved = folder / "scenario.resolved.json"
    if not ts.is_file() or (scenario is None and not resolved.is_file()):
        return _muted("No interactive map: the folder has no timeseries.csv or "
                      "scenario.resolved.json.")
    try:
        if scenario is None:
            scenario = load_scenario(resolved).model
        series = read_timeseries(ts)
        legs = read_legs_monthly(lm) if lm.is_file() else {}
    except (ScenarioError, OSError, KeyError, TypeError, ValueError) as exc:
        return _muted(f"No interactive map: {' '.join(str(exc).split())[:120]}")
    summary: Any = {}
    with contextlib.suppress(OSError, ValueError):
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    if not isinstance(summary, dict):
        summary = {}
    warmup = summary.get("warmup_days", scenario.scenario.warmup_days) or 0.0
    name = (summary.get("scenario") or {}).get("name") or scenario.scenario.name
    fig = interactive_figure(
        scenario, series, legs, float(warmup),
        title=f"The corridor through time — '{html.escape(str(name))}'",
    )
    if fig is None:
        return _muted("No interactive map: no node has coordinates (lat/lon) or the run "
                      "has no daily series.")
    guide = (
        "Drag the slider or press Play to step through the run; hover a node or the dot "
        "on a leg for its numbers. Scroll-zoom is off: drag a box to zoom, double-click to "
        "reset. Nodes: TEU held, the daily mean over the step; legs: TEU per week at the "
        "rate of the step's month (the run records legs by month); all means over "
        "replications. Steps are the finest of day or week that keeps this file small."
    )
    return f'<p class="intro">{html.escape(guide)}</p>' + figure_html(fig)


__all__ = [
    "NodeSeries",
    "choose_step",
    "figure_html",
    "geography_traces",
    "interactive_figure",
    "interactive_section_from_folder",
    "leg_week_rates",
    "read_legs_monthly",
    "read_timeseries",
]
