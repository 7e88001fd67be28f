"""A single self-contained HTML report of a results folder.

:func:`write_report` recognises the folder by its main file

* ``summary.json``     a run (``corridor run``),
* ``comparison.json``  a comparison of scenarios (``corridor compare``),
* ``sweep.json``       a parameter sweep (``corridor sweep``),

and writes ``report.html`` into it: description and key parameters of the
scenario(s), each value with its source (the IDs cited on its line of the scenario
file, "estimate", or the flag that set it: ``provenance.json``, see
:mod:`sim.scenario.provenance`), KPI tables with 95% confidence intervals, the bottleneck,
warnings (gridlock, biased transit KPIs, failed sweep points), for
comparisons the paired differences and the economics/ranking, every PNG of
``plots/`` (and ``scenarios/*/plots/``) embedded as a base64 data URI, and
provenance. A run report also has an interactive map of the run through time
(:mod:`sim.outputs.interactive`: plotly.js inlined in the page, coastlines from the
shipped data). The page loads nothing: its only script is inline, and there is no
external CSS, script, font or image, so it can be mailed or archived as one file and
opens offline. A route map is drawn
for the report (into memory, not into the folder) when a run has node
coordinates but no map among its plots; comparisons and sweeps without any
plots get their summary figures the same way.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from sim import __version__
from sim.errors import ScenarioError
from sim.experiments.economics import INPUT_KPIS
from sim.outputs import answer as _answer
from sim.outputs.plots_compare import better_of, kpi_label, kpi_of
from sim.outputs.present import SCOPE as PRESENT_SCOPE
from sim.outputs.present import fmt, fmt_stat, money_stat, ratio_stat, run_kpi_rows

REPORT_NAME = "report.html"
KINDS = {"comparison": "comparison.json", "sweep": "sweep.json", "run": "summary.json"}
NOT_A_RESULTS_FOLDER = "expected a results folder with summary.json, comparison.json or sweep.json"
RUN_KPIS = (
    "throughput_teu_per_week",
    "transit_days_mean",
    "transit_days_p50",
    "transit_days_p95",
    "cohort_inside_share",
    "bottleneck_utilisation",
    "corridor_capacity_teu_per_year",
    "cost_usd_per_teu",
    "co2_kg_per_teu",
    "created_teu",
    "delivered_teu",
    "in_system_teu_end",
)
SCOPE = PRESENT_SCOPE  # which boxes a KPI counts: one table for console and report
HEADLINE = ("throughput_teu_per_week", "transit_days_mean", "transit_days_p95")
MAX_DIFF_ROWS = 40  # changed parameters listed per alternative
PLOT_CAPTIONS = {  # also the order of the plots in a report
    "route_map.png": "Route map coloured by utilisation",
    "throughput.png": "Weekly study-flow deliveries over time, mean over replications",
    "transit_time.png": "Distribution of study-flow transit times, pooled over replications",
    "node_performance.png": "Time at each node and utilisation of each capacity-limited stage",
    "queues.png": "TEU held at each node per day",
    "bottleneck_by_year.png": "Utilisation of the most utilised stages by calendar year, "
    "the binding stage of each year ringed",
    "kpi_bars.png": "KPIs by scenario with 95% confidence intervals",
    "forest.png": "Paired differences to the base scenario with 95% confidence intervals",
    "transit_cdfs.png": "Transit-time distributions by scenario",
}


def detect_kind(results_dir: Path) -> str | None:
    """ "comparison", "sweep" or "run" by the folder's main JSON file, else None."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return None
    for kind, name in KINDS.items():
        if (results_dir / name).is_file():
            return kind
    return None


def write_report(results_dir: Path) -> Path:
    """Write ``results_dir/report.html`` (self-contained) and return its path.

    Raises :class:`~sim.errors.ScenarioError` (one line: the folder and what was
    expected) when ``results_dir`` is not a run, comparison or sweep folder, or
    its main JSON file cannot be read.
    """
    results_dir = Path(results_dir)
    kind = detect_kind(results_dir)
    if kind is None:
        raise ScenarioError(str(results_dir), None, NOT_A_RESULTS_FOLDER)
    data = _read_json(results_dir / KINDS[kind])
    builder: Callable[[Path, dict], tuple[str, str]] = {
        "run": _run_page,
        "comparison": _comparison_page,
        "sweep": _sweep_page,
    }[kind]
    try:
        title, body = builder(results_dir, data)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ScenarioError(
            str(results_dir / KINDS[kind]),
            None,
            f"expected a {kind} file as corridor writes it (damaged: {type(exc).__name__} "
            f"{' '.join(str(exc).split())[:80]})",
        ) from None
    out = results_dir / REPORT_NAME
    tmp = results_dir / f".{REPORT_NAME}.{os.getpid()}.tmp"
    try:
        tmp.write_text(_page(title, body), encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), None, f"cannot read file ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ScenarioError(str(path), None, f"malformed JSON at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise ScenarioError(str(path), None, "expected a JSON object at the top level")
    return data


def _maybe_json(path: Path) -> dict | None:
    try:
        return _read_json(path) if path.is_file() else None
    except ScenarioError:
        return None


def _load_scenario(path: Path):
    """The validated Scenario of a ``scenario.resolved.json`` (None if absent or invalid)."""
    if not path.is_file():
        return None
    from sim.scenario.loader import load_scenario

    try:
        return load_scenario(path).model
    except ScenarioError:
        return None


def e(x: Any) -> str:
    """HTML-escaped text of anything (None as an en dash)."""
    return "–" if x is None else html.escape(str(x), quote=True)


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(float(x))


def _num(x: Any, digits: int | None = None) -> str:
    """A number by magnitude (thousands separators), '–' when missing."""
    if not _finite(x):
        return "–"
    x = float(x)
    if digits is None:
        mag = abs(x)
        digits = 0 if mag >= 100 else 1 if mag >= 10 else 2 if mag >= 0.01 or mag == 0 else 4
    return f"{x:,.{digits}f}"


def _p(x: Any) -> str:
    """A scenario parameter, compact: 48 -> "48", 4.333 -> "4.33", 62000 -> "62,000"."""
    if not _finite(x):
        return "–"
    x = float(x)
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    text = f"{x:,.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _ci_text(
    kpi: str, stat: Mapping[str, Any] | None, signed: bool = False, reps: int | None = None
) -> tuple[str, str]:
    """(mean, "[low, high]") of a ``{mean, ci95_low, ci95_high}`` dict as text, rounded
    as the console rounds it (:func:`sim.outputs.present.fmt_stat`)."""
    return fmt_stat(kpi, stat, signed, reps)


def _reps(summary: Mapping[str, Any]) -> int | None:
    """Replications of a run (so a KPI only some had is shown as "1 of 2")."""
    return summary.get("replications")


def fmt_value(kpi: str, x: Any, signed: bool = False, unit: bool = True) -> str:
    """One value, rounded as :func:`sim.outputs.present.fmt`."""
    return fmt(kpi, x, signed, bare=not unit)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "s"


def _table(
    head: Sequence[str],
    rows: Iterable[Sequence[str]],
    cls: str = "",
    num_cols: Iterable[int] = (),
    raw: bool = False,
    caption: str | None = None,
) -> str:
    """An HTML table; cells are escaped unless ``raw`` (then they are trusted HTML)."""
    nums = set(num_cols)
    out = [f'<table class="{cls}">' if cls else "<table>"]
    if caption:
        out.append(f"<caption>{e(caption)}</caption>")
    out.append(
        "<thead><tr>"
        + "".join(
            f'<th class="num">{e(h)}</th>' if i in nums else f"<th>{e(h)}</th>"
            for i, h in enumerate(head)
        )
        + "</tr></thead><tbody>"
    )
    for row in rows:
        cells = []
        for i, c in enumerate(row):
            text = c if raw else e(c)
            cells.append(f'<td class="num">{text}</td>' if i in nums else f"<td>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _alert(level: str, title: str, text: str) -> str:
    return f'<div class="alert {level}"><strong>{e(title)}</strong> {e(text)}</div>'


def _section(anchor: str, title: str, body: str, intro: str | None = None) -> str:
    p = f'<p class="intro">{e(intro)}</p>' if intro else ""
    return f'<section id="{e(anchor)}"><h2>{e(title)}</h2>{p}{body}</section>'


def _png_bytes(path: Path) -> bytes:
    """A plot's PNG for embedding: re-encoded with a 256-colour palette when that is
    smaller (plots have few colours; it halves to quarters a report's images, keeping a
    baseline report with its interactive map under 10 MB), else the file as it is."""
    raw = path.read_bytes()
    try:
        import io

        from PIL import Image

        with Image.open(io.BytesIO(raw)) as im:
            rgb = im.convert("RGBA")
            flat = Image.new("RGB", rgb.size, "white")
            flat.paste(rgb, mask=rgb.getchannel("A"))
            pal = flat.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
            out = io.BytesIO()
            pal.save(out, "PNG", optimize=True)
    except Exception:  # not a PNG Pillow reads: embed it unchanged
        return raw
    return out.getvalue() if len(out.getvalue()) < len(raw) else raw


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(_png_bytes(path)).decode("ascii")
    return (
        f'<figure><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{e(caption)}</figcaption></figure>"
    )


def _plot_caption(path: Path) -> str:
    """A caption from the file name: known run/compare plots, ``response_<kpi>``,
    ``heatmap_<kpi>``, ``route_map*``; otherwise the name itself."""
    if path.name in PLOT_CAPTIONS:
        return PLOT_CAPTIONS[path.name]
    stem = path.stem
    for prefix, text in (
        ("response_", "{} against the varied parameters"),
        ("heatmap_", "{}: difference of each grid point to the reference point"),
    ):
        if stem.startswith(prefix):
            return text.format(kpi_label(stem[len(prefix) :]))
    if stem.startswith("route_map"):
        rest = stem[len("route_map") :].strip("_- ")
        return "Route map" + (f" — {rest.replace('_', ' ')}" if rest else "")
    stem = stem.replace("_", " ")
    return stem[:1].upper() + stem[1:]


def _pngs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    known = [folder / n for n in PLOT_CAPTIONS if (folder / n).is_file()]

    def order(p: Path) -> tuple:
        # sweep plots KPI by KPI: the response curve, then the heat map
        for k, prefix in enumerate(("response_", "heatmap_")):
            if p.stem.startswith(prefix):
                return (0, p.stem[len(prefix) :], k)
        return (1, p.stem, 0)

    rest = sorted((p for p in folder.glob("*.png") if p not in known), key=order)
    return known + rest


def _figures(paths: Sequence[Path], note: str = "") -> str:
    return "".join(_img(p, _plot_caption(p) + note) for p in paths)


def _when() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _meta(items: Iterable[tuple[str, Any]]) -> str:
    parts = [f"<span><b>{e(k)}</b> {e(v)}</span>" for k, v in items if v not in (None, "")]
    return '<p class="meta">' + " ".join(parts) + "</p>"  # a space: the line may break


def _toc(entries: Sequence[tuple[str, str]]) -> str:
    links = "".join(f'<a href="#{e(a)}">{e(t)}</a>' for a, t in entries)
    return f'<nav class="toc">{links}</nav>'


class Section(NamedTuple):
    """One section of a report: its anchor (``id``), title, HTML body and intro line."""

    anchor: str
    title: str
    body: str
    intro: str | None = None


class Page(NamedTuple):
    """What a section builder gets: the results folder, its main JSON and (for a run)
    the validated scenario (None when ``scenario.resolved.json`` is absent or invalid)."""

    folder: Path
    data: dict
    scenario: Any = None
    routes: Any = None  # a run with markets: sim.outputs.route_choice.from_folder


SectionBuilder = Callable[[Page], Section | None]


def _sections(page: Page, builders: Sequence[SectionBuilder]) -> list[Section]:
    return [sec for build in builders if (sec := build(page)) is not None]


def _render(sections: Sequence[Section], answer: str = "", lead: str = "") -> str:
    """The answer box, the table of contents, ``lead`` (e.g. the description) and every
    section in order."""
    toc = _toc([(sec.anchor, sec.title) for sec in sections])
    body = "".join(_section(sec.anchor, sec.title, sec.body, sec.intro) for sec in sections)
    return answer + toc + lead + body


def _answer_html(lines: Sequence[_answer.Line], title: str = "The answer") -> str:
    """The summary lines as the report's opening box; warnings styled as alerts."""
    items = []
    for line in lines:
        cls = {"warn": "warn", "bad": "bad", "ok": "ok", "calibration": "calib"}.get(
            line.level, ""
        )
        attr = f' class="{cls}"' if cls else ""
        items.append(f"<li{attr}>{e(line.text)}</li>")
    return f'<div class="answer" id="answer"><h2>{e(title)}</h2><ul>{"".join(items)}</ul></div>'


# --------------------------------------------------------------------------------------
# Scenario parameters (compact tables)
# --------------------------------------------------------------------------------------


def _dist(d: Any, unit: str = "h") -> str:
    """A duration distribution as "mean (shape)", e.g. "88 h (tri 60–84–120)"."""
    if d is None:
        return "–"
    try:
        mean = float(d.mean())
    except (AttributeError, TypeError, ValueError):
        return str(d)
    kind = getattr(d, "dist", "fixed")
    if kind == "fixed":
        return "–" if mean == 0 else f"{_p(mean)} {unit}"
    shape = {
        "triangular": lambda: f"tri {_p(d.low)}–{_p(d.mode)}–{_p(d.high)}",
        "uniform": lambda: f"unif {_p(d.low)}–{_p(d.high)}",
        "lognormal": lambda: f"lognormal, median {_p(d.median)}, P95 {_p(d.p95)}",
        "exponential": lambda: "exponential",
        "gamma": lambda: f"gamma, cv {_p(d.cv)}",
    }.get(kind, lambda: kind)()
    return f"{_p(mean)} {unit} mean ({shape})"


def _dispatch(rule: Any) -> str:
    name = getattr(rule, "rule", "full")
    if name == "timetable":
        return f"timetable every {_p(rule.interval_h)} h"
    if name == "full_or_timeout":
        return f"when full or after {_p(rule.timeout_h)} h"
    return "when full"


def _leg_ends(scenario, lid: str) -> str:
    leg = scenario.legs[lid]
    return f"{scenario.node_label(leg.from_node)} → {scenario.node_label(leg.to_node)}"


Provenance = Mapping[str, Any]  # dotted key -> sim.scenario.provenance.Provenance


def _input_provenance(folder: Path) -> tuple[Provenance | None, str]:
    """The inputs' provenance of a results folder (provenance.json, else recomputed)."""
    from sim.scenario.provenance import results_provenance

    try:
        return results_provenance(folder)
    except Exception as exc:  # the report never fails for want of provenance
        return None, f"provenance unavailable ({type(exc).__name__})"


def _src(prov: Provenance | None, keys: Sequence[str]) -> str:
    """A value's source tag (HTML): cited IDs, "estimate", "—" or "default"; the comments
    it was read from as a tooltip. Empty without provenance."""
    if prov is None or not keys:
        return ""
    from sim.scenario.provenance import ESTIMATE, label_of, lookup

    found = [lookup(prov, k) for k in keys]
    # keys inside a table that a later file (or a flag) sets one by one: dispatch.interval_h
    found += [p for k in keys for sub, p in prov.items() if sub.startswith(k + ".")]
    found = [p for i, p in enumerate(found) if p is None or p not in found[:i]]
    label = label_of(found)
    tips = []
    for k, p in zip(keys, found, strict=False):
        if p is None and len(keys) > 1:
            tips.append(f"{k.rsplit('.', 1)[-1]}: default")
    tips += list(dict.fromkeys(p.comment for p in found if p is not None and p.comment))
    cls = "src est" if label.endswith(ESTIMATE) else "src"
    title = f' title="{e(" | ".join(tips))}"' if tips else ""
    return f'<span class="{cls}"{title}>{e(label)}</span>'


def _v(text: str, prov: Provenance | None, *keys: str) -> str:
    """A parameter value (escaped) with its source tag beneath."""
    if text in ("–", "") or prov is None:
        return e(text)
    return e(text) + _src(prov, keys)


def _parameters(scenario, prov: Provenance | None = None) -> str:
    """Key parameters: demand per flow, fleets, ports/terminals, rail legs, disruptions.

    With ``prov`` (see :func:`_input_provenance`) every value carries its source tag.
    """
    from sim.scenario.schema import DelayLeg, PortNode, RailLeg

    parts = []
    flows = []
    for fid, f in scenario.flows.items():
        route = " → ".join(scenario.node_label(n) for n in f.route)
        k = f"flows.{fid}."
        arrivals = (
            f"block trains of {_p(f.block_train_teu)} TEU (cv {_p(f.headway_cv)})"
            if f.arrivals == "block_train"
            else "single boxes (Poisson)"
        )
        arrival_keys = (
            (k + "arrivals", k + "block_train_teu", k + "headway_cv")
            if f.arrivals == "block_train"
            else (k + "arrivals",)
        )
        flows.append(
            [
                e(f.label or fid) + (' <span class="tag">study</span>' if f.study else ""),
                _v(route, prov, k + "route"),
                _v(_p(f.annual_teu), prov, k + "annual_teu"),
                _v(f"{100 * f.feu_share:.0f}%", prov, k + "feu_share"),
                _v(arrivals, prov, *arrival_keys),
            ]
        )
    parts.append(
        _table(
            ["Flow", "Route", "TEU/yr", "FEU", "Arrivals"],
            flows,
            raw=True,
            num_cols=(2, 3),
            caption="Demand per flow",
        )
    )
    if scenario.fleets:
        rows = []
        for fid, f in scenario.fleets.items():
            k = f"fleets.{fid}."
            cap = (
                f"{_p(f.capacity_teu)} TEU"
                if f.capacity_teu is not None
                else f"{f.capacity_wagons} wagons × {_p(f.teu_per_wagon)} TEU"
            )
            cap_keys = (
                (k + "capacity_teu",)
                if f.capacity_teu is not None
                else (k + "capacity_wagons", k + "teu_per_wagon")
            )
            rows.append(
                [
                    e(f.label or fid),
                    _v(_leg_ends(scenario, f.leg), prov, k + "leg"),
                    _v(str(f.vessels), prov, k + "vessels"),
                    _v(cap, prov, *cap_keys),
                    _v(f"{f.load_factor:.2f}", prov, k + "load_factor"),
                    _v(_dispatch(f.dispatch), prov, k + "dispatch"),
                    _v(_dist(f.turnaround_h), prov, k + "turnaround_h"),
                ]
            )
        parts.append(
            _table(
                [
                    "Fleet",
                    "Leg",
                    "Vessels",
                    "Capacity / vessel",
                    "Load factor",
                    "Sails",
                    "Turnaround",
                ],
                rows,
                raw=True,
                num_cols=(2, 4),
                caption="Fleets (sea legs)",
            )
        )
    rows = []
    for nid, n in scenario.nodes.items():
        k = f"nodes.{nid}."
        berths = yard = tracks = storms = "–"
        if isinstance(n, PortNode):
            berths = (
                f"{n.berths} × {n.cranes_per_berth} crane(s) × {_p(n.crane_rate_teu_per_h)} TEU/h"
            )
            if n.weather_region:
                storms = f"{n.weather_region}, {100 * n.storm_sensitivity:.0f}% of storms"
        if n.yard_capacity_teu is not None:
            yard = _p(n.yard_capacity_teu)
        if n.handling_tracks is not None:
            tracks = f"{n.handling_tracks} × {_dist(n.train_handling_h).split(' (')[0]}"
        rows.append(
            [
                e(scenario.node_label(nid)),
                e(n.kind),
                _v(berths, prov, k + "berths", k + "cranes_per_berth", k + "crane_rate_teu_per_h"),
                _v(yard, prov, k + "yard_capacity_teu"),
                _v(tracks, prov, k + "handling_tracks", k + "train_handling_h"),
                _v(_dist(n.clearance_h), prov, k + "clearance_h"),
                _v(_dist(n.dwell_h), prov, k + "dwell_h"),
                _v(storms, prov, k + "weather_region", k + "storm_sensitivity"),
            ]
        )
    parts.append(
        _table(
            [
                "Node",
                "Kind",
                "Berths",
                "Yard (TEU)",
                "Handling tracks × time",
                "Clearance",
                "Min. dwell",
                "Storms",
            ],
            rows,
            raw=True,
            num_cols=(3,),
            caption="Nodes: berths, yards, handling",
        )
    )
    rows = []
    for lid, leg in scenario.legs.items():
        k = f"legs.{lid}."
        if isinstance(leg, RailLeg):
            pool = "unlimited"
            pool_keys = [k + "wagon_pool"]
            if leg.wagon_pool is not None:
                p = scenario.wagon_pools[leg.wagon_pool]
                pool = f"{p.label or leg.wagon_pool} ({p.wagons} wagons)"
                pool_keys.append(f"wagon_pools.{leg.wagon_pool}.wagons")
            rows.append(
                [
                    e(leg.label or _leg_ends(scenario, lid)),
                    _v(_dist(leg.run_time_h), prov, k + "run_time_h"),
                    _v(_p(leg.train_capacity_teu), prov, k + "train_capacity_teu"),
                    _v(
                        _p(leg.paths_per_day) if leg.paths_per_day else "unlimited",
                        prov,
                        k + "paths_per_day",
                    ),
                    _v(pool, prov, *pool_keys),
                    _v(_dispatch(leg.dispatch), prov, k + "dispatch"),
                ]
            )
        else:  # a coarse delay per box (no capacity), or a sea leg run by its fleets
            coarse = isinstance(leg, DelayLeg)
            time_key = "transit_h" if coarse else "sail_time_h"
            rows.append(
                [
                    e((leg.label or _leg_ends(scenario, lid))
                      + (" (coarse delay)" if coarse else " (sea)")),
                    _v(_dist(getattr(leg, time_key)), prov, k + time_key),
                    "–",
                    "–",
                    "–",
                    "per box, no capacity limit" if coarse else "by its fleets",
                ]
            )
    parts.append(
        _table(
            ["Leg", "Run / sail time", "Train (TEU)", "Paths/day", "Wagon pool", "Departs"],
            rows,
            raw=True,
            num_cols=(2, 3),
            caption="Legs",
        )
    )
    if scenario.weather:
        rows = [
            [
                e(rid),
                _v(_p(sum(w.storm_rate_per_month)), prov, f"weather.{rid}.storm_rate_per_month"),
                _v(_dist(w.storm_duration_h), prov, f"weather.{rid}.storm_duration_h"),
            ]
            for rid, w in scenario.weather.items()
        ]
        parts.append(
            _table(
                ["Weather region", "Storms per year", "Storm duration"],
                rows,
                raw=True,
                num_cols=(1,),
                caption="Weather",
            )
        )
    active = {k: d for k, d in scenario.disruptions.items()}
    if active:
        rows = []
        for did, d in active.items():
            k = f"disruptions.{did}."
            if d.kind == "outage":
                what = f"MTBF {_p(d.mtbf_h)} h, repair {_dist(d.mttr_h)}"
                when = (k + "mtbf_h", k + "mttr_h")
            elif d.kind == "window":
                what = f"from day {_p(d.start_day)} for {_p(d.duration_days)} d"
                when = (k + "start_day", k + "duration_days")
                if d.every_days:
                    what += f", every {_p(d.every_days)} d"
                    when += (k + "every_days",)
            else:
                end = f"to day {_p(d.end_day)}" if d.end_day else "to the horizon"
                what = f"from day {_p(d.start_day)} {end}"
                when = (k + "start_day", k + "end_day")
            rows.append(
                [
                    e(did),
                    e(d.kind),
                    e(d.target),
                    _v(f"{d.factor:.2f}", prov, k + "factor"),
                    _v(what, prov, *when),
                    _v("on" if d.enabled else "off", prov, k + "enabled"),
                ]
            )
        parts.append(
            _table(
                ["Disruption", "Kind", "Target", "Capacity factor", "When", "Enabled"],
                rows,
                raw=True,
                num_cols=(3,),
                caption="Disruptions",
            )
        )
    return '<div class="params">' + "".join(parts) + "</div>"


def _inputs_table(resolved: Mapping[str, Any] | None, prov: Provenance | None) -> str:
    """Every key a scenario file line (or a flag) sets, with its value, source and comment."""
    if prov is None or not isinstance(resolved, Mapping):
        return ""
    from sim.scenario.provenance import ESTIMATE

    rows = []

    def walk(node: Any, path: str) -> None:
        p = prov.get(path) if path else None
        if p is not None:
            parent = prov.get(path.rsplit(".", 1)[0]) if "." in path else None
            same_line = parent is not None and (parent.file, parent.line) == (p.file, p.line)
            if not same_line:
                where = f"{Path(str(p.file)).name}:{p.line}" if p.line is not None else str(p.file)
                label = p.label
                cls = "src est" if label.endswith(ESTIMATE) else "src"
                rows.append(
                    [
                        f"<code>{e(path)}</code>",
                        e(_short_json(node, 60)),
                        f'<span class="{cls}">{e(label)}</span>',
                        e(where),
                        f'<span class="muted">{e(p.comment)}</span>',
                    ]
                )
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))

    walk(resolved, "")
    if not rows:
        return ""
    table = _table(
        ["Parameter", "Value", "Source", "Set in", "Comment"],
        rows,
        cls="inputs",
        raw=True,
        caption="Every input and its source",
    )
    return (
        f'<details class="inputs"><summary>Every input set by the scenario file or a flag, with '
        f"its source ({len(rows)} keys)</summary>{table}</details>"
    )


def _parameters_intro(base: str, prov: Provenance | None, prov_from: str) -> str:
    if prov is None:
        return base + f" Sources of the inputs: none ({prov_from})."
    return (
        base + " Beneath each value its source, read from the comment on the value's line in "
        "the scenario file: the IDs it cites (listed in docs/sources.md of the corridor "
        'repository), "estimate" for a value the scenario\'s authors estimated (E), a '
        'data-sheet section (§), "—" for a line that gives no source, "default" for a '
        f"key no line sets, or the flag that set it. Read from {prov_from}."
    )


# --------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------


def _stage_name(scenario, key: str | None, bare: bool = False) -> str:
    """Readable name of a stage key (the key itself without a scenario)."""
    if not key:
        return "–"
    if scenario is None:
        return key
    from sim.outputs.plots_map import stage_label

    return stage_label(scenario, key, bare=bare)


def _bottleneck_text(summary: Mapping[str, Any], scenario) -> str:
    b = summary.get("bottleneck") or {}
    if not b.get("element"):
        return "no capacity-limited stage"
    mean, ci = _ci_text("bottleneck_utilisation", b.get("utilisation"), reps=_reps(summary))
    return f"{_stage_name(scenario, b['element'])} — utilisation {mean} {ci}".strip()


def _cards(summary: Mapping[str, Any], scenario) -> str:
    cards = []
    for kpi in HEADLINE:
        mean, ci = _ci_text(kpi, kpi_of(summary, kpi), reps=_reps(summary))
        unit = kpi_label(kpi).rpartition("(")[2].rstrip(")") if "(" in kpi_label(kpi) else ""
        cards.append(
            f'<div class="card"><div class="label">{e(kpi_label(kpi, unit=False))}</div>'
            f'<div class="value">{e(mean)} <span class="unit">{e(unit)}</span></div>'
            f'<div class="ci">95% CI {e(ci) if ci else "–"}</div></div>'
        )
    b = summary.get("bottleneck") or {}
    mean, ci = _ci_text("bottleneck_utilisation", b.get("utilisation"), reps=_reps(summary))
    cards.append(
        '<div class="card bottleneck"><div class="label">Bottleneck</div>'
        f'<div class="value small">{e(_stage_name(scenario, b.get("element")))}</div>'
        f'<div class="ci">utilisation ρ {e(mean)} {e(ci)}</div></div>'
    )
    return '<div class="cards">' + "".join(cards) + "</div>"


def _kpi_table(summary: Mapping[str, Any]) -> str:
    """The run's KPIs: the same rows, names and rounding as the console's KPI table
    (:func:`sim.outputs.present.run_kpi_rows`)."""
    rows = [[name, scope, mean, ci] for _k, name, scope, mean, ci in run_kpi_rows(summary)]
    return _table(["KPI", "Scope", "Mean", "95% CI"], rows, num_cols=(2, 3), cls="kpis")


def _assumptions_table(scenario) -> str:
    """Cost and CO2 per TEU of each study route: inputs of the scenario, not results."""
    from sim.experiments.economics import co2_per_teu, cost_per_teu, input_kpis, route_inputs

    if scenario is None or not input_kpis(scenario):  # with markets they are results
        return ""

    inputs = route_inputs(scenario)
    if not any(v["cost_usd_per_teu"] is not None or v["co2_kg_per_teu"] is not None
               for v in inputs.values()):
        return ""
    rows = [
        [e(scenario.flows[fid].label or fid), e(_num(v["annual_teu"], 0)),
         e(fmt("cost_usd_per_teu", v["cost_usd_per_teu"])),
         e(fmt("co2_kg_per_teu", v["co2_kg_per_teu"]))]
        for fid, v in inputs.items()
    ]
    rows.append(["<b>Study flows, weighted by demand</b>", "",
                 f"<b>{e(fmt('cost_usd_per_teu', cost_per_teu(scenario)))}</b>",
                 f"<b>{e(fmt('co2_kg_per_teu', co2_per_teu(scenario)))}</b>"])
    return _table(
        ["Study flow", "Demand (TEU/yr)", "Cost (USD/TEU)", "CO₂ (kg/TEU)"], rows, raw=True,
        num_cols=(1, 2, 3),
        caption="Assumptions, not results: cost and CO₂ per TEU of each study route",
    ) + '<p class="note">' + e("; ".join(
        f"{kpi_label(k, unit=False)}: {why}" for k, why in INPUT_KPIS.items())
        + ". The simulation does not change them: no confidence interval.") + "</p>"


def _stage_tables(summary: Mapping[str, Any], scenario) -> str:
    nodes = summary.get("nodes") or {}
    order = list(nodes)
    if scenario is not None:
        from sim.outputs.plots import node_order

        order = [n for n in node_order(scenario) if n in nodes] + [
            n for n in nodes if n not in scenario.nodes
        ]
    rows = []
    top = (summary.get("bottleneck") or {}).get("element")
    for nid in order:
        n = nodes[nid]
        wait = (n.get("wait_h_mean") or {}).get("mean")
        util, util_ci = _ci_text(
            "bottleneck_utilisation", n.get("utilisation"), reps=_reps(summary)
        )
        of = n.get("utilisation_of")
        name = n.get("label") or nid
        mark = ' <span class="tag red">bottleneck</span>' if top == f"nodes.{nid}" else ""
        rows.append(
            [
                e(name) + mark,
                e(_num(wait, 1)),
                e(_num(wait / 24.0, 1) if _finite(wait) else "–"),
                e(_num((n.get("queue_teu_mean") or {}).get("mean"), 0)),
                e(util) + (f' <span class="muted ci">{e(util_ci)}</span>' if util_ci else ""),
                e(of or "–"),
                e(fmt_value("cohort_inside_share", (n.get("yard_utilisation") or {}).get("mean"))),
                e(_num((n.get("departed_teu") or {}).get("mean"), 0)),
            ]
        )
    out = _table(
        [
            "Node",
            "Time there (h)",
            "(days)",
            "TEU there (mean)",
            "Utilisation",
            "Binding resource",
            "Yard use",
            "TEU departed",
        ],
        rows,
        raw=True,
        num_cols=(1, 2, 3, 4, 6, 7),
        caption="Nodes (route order), means over replications after the warm-up",
    )
    rows = []
    for section, what in (
        ("fleets", "Fleet"),
        ("legs", "Rail paths"),
        ("wagon_pools", "Wagon pool"),
    ):
        for ident, v in (summary.get(section) or {}).items():
            stat = v.get("utilisation") or {}
            if not _finite(stat.get("mean")):
                continue
            util, ci = _ci_text("bottleneck_utilisation", stat, reps=_reps(summary))
            extra = ""
            if section == "fleets":
                sailings = (v.get("sailings") or {}).get("mean")
                load = (v.get("load_factor_mean") or {}).get("mean")
                hold = (v.get("weather_hold_h_mean") or {}).get("mean")
                extra = (
                    f"{_num(sailings, 0)} sailings, load "
                    f"{fmt_value('cohort_inside_share', load)}, storm hold {_num(hold, 1)} h"
                )
                if v.get("utilisation_of") == "slots":
                    busy = (v.get("busy_share") or {}).get("mean")
                    extra += (
                        "; utilisation = share of the timetable's slots filled (vessels busy "
                        f"{fmt_value('cohort_inside_share', busy)} of the time)"
                    )
            elif section == "legs":
                sea = v.get("mode") == "sea"
                extra = f"{_num((v.get('departures') or {}).get('mean'), 0)} " + (
                    "sailings, all fleets" if sea else "trains"
                )
                if v.get("utilisation_of") == "slots":
                    extra += "; utilisation = share of the timetable's slots filled"
                what = "Sea leg" if sea else "Rail paths"
            key = f"{section}.{ident}"
            mark = ' <span class="tag red">bottleneck</span>' if top == key else ""
            rows.append(
                [
                    e(what),
                    e(_stage_name(scenario, key, bare=True)) + mark,
                    e(util) + (f' <span class="muted ci">{e(ci)}</span>' if ci else ""),
                    e(extra),
                ]
            )
    if rows:
        rows.sort(key=lambda r: r[0])
        out += _table(
            ["Stage", "Name", "Utilisation", "Activity (per replication)"],
            rows,
            raw=True,
            num_cols=(2,),
            caption="Fleets, legs and wagon pools",
            cls="stages",
        )
    return out


def _periods_table(summary: Mapping[str, Any], scenario) -> str:
    """KPIs of the named periods (calendar years, disruption windows, [periods.*])."""
    from sim.outputs.console import date_span, period_name

    periods = summary.get("periods") or {}
    rows = []
    for pid, p in periods.items():
        cells = [
            e(period_name(pid, p)) + (f'<br><span class="muted">{e(p.get("label"))}</span>'
                                      if p.get("kind") != "year" else ""),
            e(date_span(p.get("measured_from_date"), p.get("measured_to_date"))),
            e(_num(p.get("measured_days"), 0)),
        ]
        for kpi in ("throughput_teu_per_week", "transit_days_mean", "transit_days_p50",
                    "transit_days_p95", "en_route_transit_days_mean"):
            mean, ci = _ci_text(kpi, p.get(kpi), reps=_reps(summary))
            cells.append(e(mean) + (f' <span class="muted ci">{e(ci)}</span>' if ci else ""))
        b = p.get("bottleneck") or {}
        util, ci = _ci_text("bottleneck_utilisation", b.get("utilisation"), reps=_reps(summary))
        cells.append(
            e(_stage_name(scenario, b.get("element"))) + f" — {e(util)}"
            + (f' <span class="muted ci">{e(ci)}</span>' if ci else "")
            if b.get("element") else "–"
        )
        rows.append(cells)
    if not rows:
        return ""
    nominal = "" if summary.get("dated") else " (nominal dates: the scenario has no start_date)"
    return _table(
        ["Period", "Measured dates", "Days", "Throughput (TEU/week)", "Transit mean (d)",
         "Transit P50 (d)", "Transit P95 (d)", "En route: transit mean (d)",
         "Bottleneck in the period (ρ)"],
        rows,
        raw=True,
        num_cols=(2, 3, 4, 5, 6, 7),
        caption="Study flows by period" + nominal + "; transit of the boxes created (booked) "
        "in the period, and of all boxes en route at some time in it; each period clipped to "
        "the measured time",
    )


def _by_year_table(summary: Mapping[str, Any], scenario) -> str:
    """Which stage binds in which calendar year, and the runner-up."""
    from sim.outputs.console import date_span

    years = summary.get("bottleneck_by_year") or {}
    rows = []
    for year, y in years.items():
        util, ci = _ci_text("bottleneck_utilisation", y.get("utilisation"), reps=_reps(summary))
        second = y.get("runner_up") or {}
        util2, ci2 = _ci_text(
            "bottleneck_utilisation", second.get("utilisation"), reps=_reps(summary)
        )
        rows.append([
            e(year),
            e(date_span(y.get("from_date"), y.get("to_date"))),
            e(_stage_name(scenario, y.get("element"))),
            e(util) + (f' <span class="muted ci">{e(ci)}</span>' if ci else ""),
            e(_stage_name(scenario, second.get("element"))),
            e(util2) + (f' <span class="muted ci">{e(ci2)}</span>' if ci2 else ""),
        ])
    if not rows:
        return ""
    return _table(
        ["Year", "Measured dates", "Bottleneck", "Utilisation", "Runner-up", "Utilisation"],
        rows,
        raw=True,
        num_cols=(3, 5),
        caption="Bottleneck by calendar year (highest mean utilisation over replications)",
    )


def _flow_table(summary: Mapping[str, Any], scenario) -> str:
    flows = summary.get("flows") or {}
    if not flows:
        return ""
    study = set(summary.get("study_flows") or [])
    rows = []
    for fid, f in flows.items():
        label = fid
        demand = "–"
        if scenario is not None and fid in scenario.flows:
            flow = scenario.flows[fid]
            label = flow.label or fid
            parent = getattr(flow, "empties_of", None)
            demand = (f"{fmt_value('cohort_inside_share', flow.empty_share)} of {parent}"
                      if parent else _num(flow.annual_teu))
        tag = ' <span class="tag">study</span>' if fid in study else ""
        cells = [e(label) + tag, e(demand)]
        for kpi in (
            "throughput_teu_per_week",
            "transit_days_mean",
            "transit_days_p95",
            "cohort_inside_share",
        ):
            mean, ci = _ci_text(kpi, f.get(kpi), reps=_reps(summary))
            cells.append(e(mean) + (f' <span class="muted ci">{e(ci)}</span>' if ci else ""))
        rows.append(cells)
    return _table(
        [
            "Flow",
            "Demand (TEU/yr)",
            "Throughput (TEU/week)",
            "Transit mean (d)",
            "Transit P95 (d)",
            "Still inside",
        ],
        rows,
        raw=True,
        num_cols=(1, 2, 3, 4, 5),
        caption="Per flow (post-warm-up)",
    )


def _provenance(items: Sequence[tuple[str, Any]]) -> str:
    rows = [
        [
            e(k),
            f"<code>{e(v)}</code>"
            if k in ("Command", "Scenario SHA-256", "Scenario file") or k.startswith("SHA")
            else e(v),
        ]
        for k, v in items
        if v not in (None, "")
    ]
    return _table(["Item", "Value"], rows, raw=True, cls="prov")


def _route_map_figure(scenario, summary: Mapping[str, Any], tmp: Path, name: str) -> list[Path]:
    """A route map drawn for the report (only if some node has coordinates)."""
    if scenario is None or not any(
        n.lat is not None and n.lon is not None for n in scenario.nodes.values()
    ):
        return []
    from sim.outputs.plots_map import route_map

    return [route_map(scenario, dict(summary), tmp / f"{name}route_map.png")]


def _run_kpis(pg: Page) -> Section:
    return Section(
        "kpis", "Key performance indicators",
        _cards(pg.data, pg.scenario) + _kpi_table(pg.data) + _assumptions_table(pg.scenario),
        "Means over replications with 95% Student-t confidence intervals; measured after the "
        "warm-up. The console prints the same table.",
    )


def _run_stages(pg: Page) -> Section:
    return Section("stages", "Nodes and stages", _stage_tables(pg.data, pg.scenario),
                   f"Bottleneck: {_bottleneck_text(pg.data, pg.scenario)}.")


def _run_time(pg: Page) -> Section:
    body = _by_year_table(pg.data, pg.scenario) + _periods_table(pg.data, pg.scenario)
    return Section(
        "time", "Through time",
        body or '<p class="muted">No calendar year or period in the measured time.</p>',
        "Each calendar year of the measured period, each scheduled disruption window and "
        "each [periods.*] of the scenario. By month: monthly.csv (per flow, by the month "
        "the boxes were created) and legs_monthly.csv (departures and TEU loaded and empty "
        "per leg and fleet).",
    )


def _run_map(pg: Page) -> Section:
    from sim.outputs.interactive import interactive_section_from_folder

    return Section("map", "The corridor through time (interactive)",
                   interactive_section_from_folder(pg.folder, pg.scenario))


def _run_flows(pg: Page) -> Section | None:
    flows = _flow_table(pg.data, pg.scenario)
    return Section("flows", "Flows", flows) if flows else None


def _run_parameters(pg: Page) -> Section:
    if pg.scenario is None:
        return Section("parameters", "Scenario parameters",
                       '<p class="muted">scenario.resolved.json missing or invalid.</p>')
    prov, prov_from = _input_provenance(pg.folder)
    return Section(
        "parameters", "Scenario parameters",
        _parameters(pg.scenario, prov)
        + _inputs_table(_maybe_json(pg.folder / "scenario.resolved.json"), prov),
        _parameters_intro(
            "From scenario.resolved.json (the scenario as run, overrides applied). Times are "
            "means with their distribution.", prov, prov_from),
    )


def _run_plots(pg: Page) -> Section:
    pngs = _pngs(pg.folder / "plots")
    if (pg.routes or {}).get("markets"):  # shown under Route choice
        pngs = [p for p in pngs if p.name != ROUTES_PNG]
    figs = _figures(pngs)
    if not any("map" in p.name for p in pngs):
        with tempfile.TemporaryDirectory() as tmp:
            figs = _figures(
                _route_map_figure(pg.scenario, pg.data, Path(tmp), ""),
                " (drawn for this report)",
            ) + figs
    return Section("plots", "Plots", figs or '<p class="muted">No plots in plots/.</p>')


RUN_FILES = {
    "summary.json": "KPIs with 95% CIs, per period and calendar year; nodes, legs, fleets, "
    "flows, the bottleneck and the warnings",
    "replications.csv": "one row per replication: its seed, system and study KPIs, "
    "bottleneck, gridlock",
    "nodes.csv": "one row per replication × node: mean wait and queue, utilisation of "
    "tracks, berths and yard, TEU departed",
    "legs.csv": "one row per replication × leg: direction, departures, TEU carried "
    "(loaded and empty), utilisation",
    "flows.csv": "one row per replication × flow: TEU created, delivered and still inside, "
    "throughput, transit times",
    "routes.csv": "one row per replication × month × market × route: TEU offered, booked, "
    "refused and delivered, share, generalised cost (scenarios with markets)",
    "monthly.csv": "one row per replication × month × flow, by the month the boxes were created",
    "legs_monthly.csv": "one row per replication × month × leg (and fleet), by the month of "
    "departure: departures, TEU loaded and empty",
    "timeseries.csv": "one row per replication × day × node: TEU held, in the yard, departed",
    "scenario.resolved.json": "the scenario as run, every default and override filled in",
    "provenance.json": "the source of each input value",
    "plots": "the figures of this report (PNG)",
    "report.html": "this report",
}
"""The files of a run folder, in the order the report lists them (only those present)."""


def _run_files(pg: Page) -> Section:
    rows = [[f"<code>{e(name)}{'/' if name == 'plots' else ''}</code>", e(what)]
            for name, what in RUN_FILES.items() if (pg.folder / name).exists()]
    return Section(
        "files", "Files in this folder",
        _table(["File", "What it holds"], rows, raw=True, cls="prov"),
        "Every CSV column, its unit and how to reproduce one replication: docs/outputs.md in "
        "the source tree. The same numbers from Python: sim.run(...) (sim/api.py) returns "
        "summary.json as a dict and the KPIs as a table, and its save() writes this folder.",
    )


def warmup_text(check: Mapping[str, Any]) -> str:
    """The warm-up check as one line: its verdict ("ok", "too short", "not judged"), the
    warm-up used, MSER's point when judged, its note (why, with the evidence) and method."""
    verdict = check.get("verdict") or ("ok" if check.get("ok") else "too short")
    used = f"{_num(check.get('warmup_days'), 0)} d used"
    point = check.get("suggested_warmup_days")
    mser = f", MSER-5 truncation point {_num(point, 0)} d" if _finite(point) else ""
    note = check.get("note")  # the method names the days judged and why they end there
    return (f"{verdict}: {used}{mser}" + (f"; {note}" if note else "")
            + (f". Method: {check.get('method')}" if check.get("method") else ""))


def _run_provenance(pg: Page) -> Section:
    summary = pg.data
    sc = summary.get("scenario") or {}
    prov = summary.get("provenance") or {}
    perf = summary.get("performance") or {}
    wall = (perf.get("wall_s_per_replication") or {}).get("mean")
    check = summary.get("warmup_check")
    check_text = None
    if isinstance(check, Mapping):
        check_text = warmup_text(check)
    algorithm = summary.get("replications_algorithm")
    if isinstance(algorithm, Mapping):
        algorithm = ", ".join(f"{k} = {_value_text(v)}" for k, v in algorithm.items())
    events = (perf.get("events_per_replication") or {}).get("mean")
    return Section("provenance", "Provenance", _provenance([
        ("corridor version", prov.get("version")),
        ("Command", prov.get("command")),
        ("Scenario file", sc.get("file")),
        ("Scenario SHA-256", sc.get("sha256")),
        ("Seed", summary.get("seed")),
        ("Replications", summary.get("replications")),
        ("Wall time per replication", f"{_num(wall, 2)} s" if _finite(wall) else None),
        ("Events per replication", _num(events, 0) if perf else None),
        ("Warm-up check", check_text),
        ("Replications chosen by", algorithm),
        ("Report", f"written {_when()} by corridor {__version__}"),
    ]))


ROUTES_PNG = "routes.png"


def _route_choice_table(mid: str, m: Mapping[str, Any], reps: int | None) -> str:
    """One market's route alternatives: share, TEU booked and refused per year, expected
    transit and generalised cost when chosen, measured transit."""
    def cell(kpi: str, stat: Any) -> str:
        if isinstance(stat, Mapping) and all(stat.get(k) == 0 for k in
                                             ("mean", "ci95_low", "ci95_high")):
            return "0"  # none in any replication
        mean, ci = fmt_stat(kpi, stat, replications=reps)
        return e(mean) + (f' <span class="muted ci">{e(ci)}</span>' if ci else "")

    rows = []
    alts = sorted((m.get("alternatives") or {}).items(),
                  key=lambda kv: -((kv[1].get("share") or {}).get("mean") or 0.0))
    for rid, a in alts:
        tag = ' <span class="tag">corridor</span>' if a.get("corridor") else ""
        name = e(a.get("label") or rid)
        code = f'<br><code class="muted">{e(rid)}</code>' if (a.get("label") or rid) != rid else ""
        rows.append([
            name + tag + code,
            cell("share", a.get("share")),
            cell("created_teu", a.get("booked_teu_per_year")),
            cell("created_teu", a.get("refused_teu_per_year")),
            cell("transit_days_mean", a.get("expected_transit_days")),
            cell("cost_usd_per_teu", a.get("generalised_cost_usd_per_teu")),
            cell("transit_days_mean", a.get("measured_transit_days")),
        ])
    offered, _ = fmt_stat("created_teu", m.get("offered_teu_per_year"))
    lost_stat = m.get("lost_teu_per_year") or {}
    lost, lost_ci = fmt_stat("created_teu", lost_stat, replications=reps)
    lost_text = ("none lost" if not lost_stat.get("mean") else
                 f"lost (no route open) {lost} TEU/yr {lost_ci}".strip())
    caption = f"{m.get('label') or mid}: {offered} TEU/yr offered, {lost_text}"
    table = _table(
        ["Route", "Share of bookings", "Booked (TEU/yr)", "Refused (TEU/yr)",
         "Expected transit (d)", "Generalised cost (USD/TEU)", "Measured transit (d)"],
        rows, raw=True, num_cols=range(1, 7), cls="routes", caption=caption,
    )
    settle = m.get("settles")
    cls = "ok" if settle else "warn" if settle is False else "muted"
    text = m.get("settles_text") or ""
    return table + f'<p class="note {cls}">{e(text[:1].upper() + text[1:])}.</p>'


def _run_routes(pg: Page) -> Section | None:
    """Route choice (markets): the routes plot and one table per market."""
    markets = (pg.routes or {}).get("markets") or {}
    if not markets:
        return None
    png = pg.folder / "plots" / ROUTES_PNG
    body = _img(png, "Route choice: share of bookings and generalised cost per route over "
                     "time") if png.is_file() else ""
    reps = _reps(pg.data)
    body += "".join(_route_choice_table(mid, m, reps) for mid, m in markets.items())
    return Section(
        "routes", "Route choice", body,
        "Per market, each route alternative over the measured period (after the warm-up), "
        "mean [95% CI] across replications: its share of the market's booked TEU; TEU booked "
        "and refused (its operator's booking limit was reached, the cargo booked elsewhere) "
        "per year; the transit and generalised cost (tariff + handling + risk + ASC + value of "
        "time × expected transit + value of reliability × spread, class-weighted) shippers "
        "expected when they chose; and the mean transit its boxes had. By month: routes.csv. "
        "Shares settle when the monthly equilibrium gap (the share of bookings that would "
        "have to move to repeat last month's split) of the last months is at most 5%.",
    )


RUN_SECTIONS: list[SectionBuilder] = [
    _run_routes,
    _run_kpis,
    _run_stages,
    _run_time,
    _run_map,
    _run_flows,
    _run_parameters,
    _run_plots,
    _run_files,
    _run_provenance,
]
"""The sections of a run report, in order (add a builder here to add a section)."""


def _study_flows_text(flows: Sequence[str], most: int = 4) -> str:
    """The study flows for the page's meta line: their ids, or with more than ``most``
    (a market's flows are ``market:route``) how many and of which markets."""
    if len(flows) <= most:
        return ", ".join(flows)
    markets = list(dict.fromkeys(f.split(":")[0] for f in flows if ":" in f))
    return f"{len(flows)} flows" + (f" of markets {', '.join(markets)}" if markets else "")


def _run_page(folder: Path, summary: dict) -> tuple[str, str]:
    from sim.outputs.route_choice import from_folder

    scenario = _load_scenario(folder / "scenario.resolved.json")
    pg = Page(folder, summary, scenario, from_folder(folder, summary, scenario))
    sc = summary.get("scenario") or {}
    name = sc.get("name") or (scenario.scenario.name if scenario else folder.name)
    title = f"Run report — scenario '{name}'"
    head = f"<h1>{e(title)}</h1>" + _meta([
        ("Replications", summary.get("replications")),
        ("Seed", summary.get("seed")),
        ("Horizon", f"{_num(summary.get('horizon_days'))} d (warm-up "
                    f"{_num(summary.get('warmup_days'))} d)"),
        ("Study flows", _study_flows_text(summary.get("study_flows") or []) or None),
        ("Generated", _when()),
    ])
    lines = _answer.run_answer(summary, scenario, _answer.calibration_line(summary), pg.routes)
    desc = sc.get("description") or (scenario.scenario.description if scenario else "")
    lead = f'<p class="desc">{e(desc)}</p>' if desc else ""
    return title, head + _render(_sections(pg, RUN_SECTIONS), _answer_html(lines), lead)


# --------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------


def _value_text(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, int | float):
        return _p(v)
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "[" + ", ".join(_value_text(x) for x in v) + "]"
    if isinstance(v, dict):
        return ", ".join(f"{k} = {_value_text(x)}" for k, x in v.items() if x is not None)
    return str(v)


def _short_json(v: Any, width: int = 140) -> str:
    """A resolved-scenario value as short text ("(absent)" for a missing key)."""
    if v is None:
        return "(absent)"
    text = _value_text(v)
    return text if len(text) <= width else text[: width - 1] + "…"


def _diff_rows(base: dict, alt: dict) -> list[tuple[str, str, str]]:
    """Changed leaves of two resolved scenarios (``scenario.name``/``description`` ignored).

    A table (e.g. a new fleet) present on one side only is one row, not one per key.
    """
    rows = []
    skip = {"scenario.name", "scenario.description"}

    def walk(a: Any, b: Any, path: str) -> None:
        if path in skip:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in list(a) + [k for k in b if k not in a]:
                walk(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
            return
        if a != b:
            rows.append((path, _short_json(a), _short_json(b)))

    walk(base, alt, "")
    return rows


DIFF_COLUMNS = 4
"""KPIs per paired-differences table (more KPIs: several tables, none wider than the page)."""


def _diff_table(c: Mapping[str, Any], base: str) -> str:
    """Paired differences of the result KPIs, :data:`DIFF_COLUMNS` KPIs per table."""
    kpis = _answer.result_kpis(c)
    intervals = _answer.decision_intervals(c)
    return "".join(_diff_chunk(c, base, kpis[i : i + DIFF_COLUMNS], intervals)
                   for i in range(0, len(kpis), DIFF_COLUMNS))


def _diff_chunk(c: Mapping[str, Any], base: str, kpis: list[str],
                intervals: Mapping[str, Any]) -> str:
    """Paired differences of ``kpis``: mean, the interval the Holm decision used (with its
    level), the adjusted p and the verdict; the single-test 95% CI below."""
    rows = []
    for alt in c.get("differences") or {}:
        cells = []
        for kpi in kpis:
            t = _answer.difference_text(c, alt, kpi, intervals)
            d = ((c.get("differences") or {}).get(alt) or {}).get(kpi) or {}
            if t is None:
                cells.append('<span class="muted">–</span>')
                continue
            better = better_of(kpi, c)
            cls = ""
            if d.get("significant") and better:
                good = (float(d["mean"]) > 0) == (better == "higher")
                cls = "good" if good else "bad"
            star = " *" if d.get("significant") else ""
            cells.append(
                f'<div class="diff {cls}"><b>{e(t["mean"])}{star}</b> '
                f'<span class="ci">{e(t["ci"])} ({e(t["level"])})</span><br>'
                f'<span class="p">{e(t["p"])}, {e(t["verdict"])}</span><br>'
                f'<span class="p">95% CI, single test: {e(t["ci95"])}</span></div>'
            )
        rows.append([f"<b>{e(alt)}</b>"] + cells)
    head = ["Alternative − " + base] + [
        kpi_label(k) + {"higher": " ↑", "lower": " ↓"}.get(better_of(k, c) or "", "")
        for k in kpis
    ]
    return _table(head, rows, raw=True, num_cols=range(1, 1 + len(kpis)), cls="diffs")


def _money(x: Any) -> str:
    if not _finite(x):
        return "–"
    x = float(x)
    if abs(x) >= 1e6:
        return f"{x / 1e6:,.1f} M"
    return f"{x:,.0f}"


def _headroom(summary: Mapping[str, Any]) -> str:
    return _answer._headroom_text((summary.get("bottleneck") or {}).get("utilisation"))


def _appraisal_table(c: Mapping[str, Any]) -> str:
    """Each appraised alternative, best NPV first: NPV, BCR, induced demand and user
    benefit (mean [95% CI] over the paired replications) and today's annualised cost per
    extra TEU/yr of capacity."""
    econ = c.get("economics") or {}
    appraised = [a for a, x in econ.items() if isinstance((x or {}).get("appraisal"), Mapping)]
    if not appraised:
        return ""
    rank = {r.get("scenario"): r.get("rank") for r in c.get("ranking") or []
            if r.get("metric") == "npv_usd"}
    appraised.sort(key=lambda a: (rank.get(a) is None, rank.get(a) or 0))

    def two(text: str) -> str:  # "USD 12.3 M [8.1, 16.5]": the CI muted below the mean
        mean, _, ci = text.partition(" [")
        return e(mean) + (f'<br><span class="muted ci">[{e(ci)}</span>' if ci else "")

    rows = []
    for alt in appraised:
        x = econ[alt] or {}
        costed = _answer.states_cost(x)
        a = x["appraisal"]
        ind, ind_ci = _ci_text("created_teu", a.get("induced_teu_per_year"), signed=True)
        cap, cap_ci = _ci_text("created_teu", x.get("extra_capacity_teu_per_year"), signed=True)
        per = x.get("annualised_cost_per_extra_teu_usd")
        rows.append([
            e(str(rank.get(alt) or "")),
            f"<b>{e(alt)}</b><br><span class=\"muted\">{e(_answer._period_text(x))}</span>",
            two(money_stat(a.get("npv_usd")))
            + ('<br><span class="muted">no cost stated: the PV of the benefit</span>'
               if not costed else ""),
            two(ratio_stat(a.get("bcr"))) if costed else e("– (no cost stated)"),
            e(ind) + (f'<br><span class="muted ci">{e(ind_ci)}</span>' if ind_ci else ""),
            two(money_stat(a.get("user_benefit_usd_per_year"))),
            (two(money_stat(a.get("benefit_induced_usd_per_year")))
             + (f'<br><span class="muted">{_answer.induced_share(a):.0%} of the benefit'
                '</span>' if _answer.induced_share(a) is not None else "")),
            e(cap) + (f'<br><span class="muted ci">{e(cap_ci)}</span>' if cap_ci else ""),
            e(fmt("cost_usd_per_teu", per) + " USD" if _finite(per)
              else "adds no capacity" if costed else "– (no cost stated)"),
            e(fmt("cost_usd_per_teu", x.get("capex_per_extra_teu_usd")) + " USD"
              if _finite(x.get("capex_per_extra_teu_usd")) else "–"),
        ])
    return _table(
        ["Rank", "Alternative", "NPV", "Benefit–cost ratio", "Induced demand (TEU/yr)",
         "User benefit (per yr)", "Of it, from cargo switching route (per yr)",
         "Extra capacity (TEU/yr)", "Today's annualised cost per extra TEU/yr of capacity",
         "Capex per extra TEU/yr of capacity"],
        rows, raw=True, num_cols=range(2, 10), cls="econ",
        caption="Appraisal: investments ranked by net present value (mean [95% CI] over the "
        "paired replications)",
    ) + '<p class="note">' + e(
        "User benefit: the change in the markets' shippers' consumer surplus (logsum × TEU "
        "offered per year) plus the time the fixed background flows save, at the markets' "
        "mean value of time. Of it, from cargo switching route: by the rule of a half, route "
        "by route, ½ × the saving in generalised cost × the change in TEU booked; the rest "
        "goes to cargo that stays on its route. Induced "
        "demand: the change in TEU booked per year on the corridor's routes (corridor = "
        "true), cargo won from other routes. NPV: − capex + the discounted benefit less "
        "opex over the alternative's lifetime; BCR: discounted benefit / (capex + "
        "discounted opex). Extra capacity: the paired change of the corridor's throughput "
        "(its routes and the fixed flows through modelled stages, all grown alike) divided "
        "by the busiest stage's utilisation. " + _answer.capex_benchmark_text(c)) + "</p>"


def _economics(c: Mapping[str, Any]) -> str:
    out = _appraisal_table(c)
    ranking = c.get("ranking") or []
    if out:
        ranking = []  # the appraisal table is the ranking (by NPV)
    if ranking:
        rows = []
        for r in ranking:
            metric = r.get("metric") or ""
            value = r.get("value")
            rows.append(
                [
                    str(r.get("rank", "")),
                    f"<b>{e(r.get('scenario'))}</b>",
                    e("annualised cost per extra TEU/yr of corridor capacity"
                      if metric == "annualised_cost_per_extra_teu_usd"
                      else metric.replace("_", " ")),
                    e(
                        _num(value, 1)
                        if "usd" not in metric
                        else fmt("cost_usd_per_teu", value) + (" USD" if _finite(value) else "")
                    ),
                ]
            )
        out += _table(
            ["Rank", "Scenario", "Ranked by", "Value"],
            rows,
            raw=True,
            num_cols=(0, 3),
            caption="Ranking of the alternatives (best first)",
        )
    econ = c.get("economics") or {}
    if econ:
        intervals = _answer.decision_intervals(c)
        scen = c.get("scenarios") or {}

        def ci(v: Any, kpi: str = "") -> str:
            """A {mean, ci95_low, ci95_high} dict as "mean [low, high]"."""
            if not isinstance(v, Mapping):
                return e(_num(v))
            mean, rng = _ci_text(kpi or "x", v, signed=True)
            return e(mean) + (f' <span class="muted ci">{e(rng)}</span>' if rng else "")

        rows = []
        for alt, x in econ.items():
            x = x or {}
            rate = x.get("discount_rate")
            extra = _answer.difference_text(c, alt, "corridor_capacity_teu_per_year", intervals)
            extra_text = (
                e(f"{extra['mean']} {extra['ci']}")
                + f'<br><span class="muted">{e(extra["level"])}, {e(extra["verdict"])}</span>'
                if extra else ci(x.get("extra_capacity_teu_per_year"), "created_teu")
            )
            rows.append(
                [
                    f"<b>{e(alt)}</b>",
                    e(_money(x.get("capex_usd"))),
                    e(_num(x.get("lifetime_years"), 0)),
                    e(_money(x.get("opex_usd_per_year"))),
                    e(_money(x.get("annualised_cost_usd")))
                    + (
                        f'<br><span class="muted">at {100 * rate:.0f}%/yr</span>'
                        if _finite(rate)
                        else ""
                    ),
                    extra_text,
                    e(fmt("cost_usd_per_teu", x.get("annualised_cost_per_extra_teu_usd"))),
                    e(_headroom((scen.get(alt) or {}).get("summary") or {})),
                    ci(x.get("throughput_gain_teu_per_year"), "created_teu"),
                    ci(x.get("transit_days_saved"), "transit_days_mean"),
                ]
            )
        base_room = _headroom((scen.get(c.get("base")) or {}).get("summary") or {})
        out += _table(
            [
                "Alternative",
                "CAPEX (USD)",
                "Life (yr)",
                "OPEX (USD/yr)",
                "Annualised (USD/yr)",
                "Extra capacity (TEU/yr)",
                "USD per extra TEU/yr",
                f"Demand growth before saturation (base {base_room.split(' [')[0]})",
                "Throughput change (TEU/yr), demand-bound",
                "Transit days saved",
            ],
            rows,
            raw=True,
            num_cols=range(1, 10),
            cls="econ",
            caption="Economics: costs and the capacity they buy",
        )
        why = _answer.throughput_sentence(c)
        if why:
            out += f'<p class="note">{e(why)}</p>'
    return out


def _comparison_inputs(c: Mapping[str, Any]) -> str:
    """Cost and CO2 per TEU by scenario, as assumptions (no CI, no test)."""
    values = _answer.input_values(c)
    if not values:
        return ""
    order = list(c.get("order") or [])
    rows = [[f"<b>{e(n)}</b>"] + [e(fmt(k, values[k].get(n))) for k in values] for n in order]
    text = _answer.inputs_sentence(c) or ""
    return _table(["Scenario"] + [kpi_label(k) for k in values], rows, raw=True,
                  num_cols=range(1, 1 + len(values)),
                  caption="Assumptions, not results") + f'<p class="note">{e(text)}</p>'


def _cmp_scenarios(pg: Page) -> Section:
    c = pg.data
    base, order, scen = c.get("base") or "", _cmp_order(c), c.get("scenarios") or {}
    alts = [s for s in order if s != base]
    rows = []
    for name in order:
        s = scen.get(name) or {}
        tag = ' <span class="tag">base</span>' if name == base else ""
        sha = s.get("sha256") or ""
        file = f"<br><code>{e(s.get('file'))}</code>" if s.get("file") else ""
        rows.append(
            [
                f"<b>{e(name)}</b>{tag}{file}",
                e(s.get("description") or ""),
                f'<code class="nowrap" title="{e(sha)}">{e(sha[:12])}</code>' if sha else "–",
            ]
        )
    body = _table(["Scenario and file", "Description", "SHA-256"], rows, raw=True, cls="scenarios")
    resolved = {
        n: _maybe_json(pg.folder / "scenarios" / n / "scenario.resolved.json") for n in order
    }
    if resolved.get(base):
        rows = []
        for alt in alts:
            if not resolved.get(alt):
                continue
            diff = _diff_rows(resolved[base], resolved[alt])
            for key, a, b in diff[:MAX_DIFF_ROWS]:
                rows.append([f"<b>{e(alt)}</b>", f"<code>{e(key)}</code>", e(a), e(b)])
            if len(diff) > MAX_DIFF_ROWS:
                rows.append([e(alt), f"… {len(diff) - MAX_DIFF_ROWS} more", "", ""])
            if not diff:
                rows.append(
                    [
                        f"<b>{e(alt)}</b>",
                        '<span class="muted">no parameter differs from the base</span>',
                        "",
                        "",
                    ]
                )
        if rows:
            body += _table(
                ["Alternative", "Parameter", f"In {base}", "In the alternative"],
                rows,
                raw=True,
                cls="changes",
                caption="What each alternative changes (resolved scenarios compared)",
            )
    return Section("scenarios", "Scenarios", body)


def _cmp_order(c: Mapping[str, Any]) -> list[str]:
    return list(c.get("order") or c.get("scenarios") or [])


def _cmp_kpis(pg: Page) -> Section:
    c = pg.data
    base, scen = c.get("base") or "", c.get("scenarios") or {}
    kpis = _answer.result_kpis(c)
    rows = []
    for name in _cmp_order(c):
        summary = (scen.get(name) or {}).get("summary") or {}
        cells = [f"<b>{e(name)}</b>" + (' <span class="tag">base</span>' if name == base else "")]
        for kpi in kpis:
            mean, ci = _ci_text(kpi, kpi_of(summary, kpi), reps=_reps(summary))
            cells.append(e(mean) + (f'<br><span class="muted ci">{e(ci)}</span>' if ci else ""))
        rows.append(cells)
    body = _table(
        ["Scenario"] + [kpi_label(k) for k in kpis], rows, raw=True,
        num_cols=range(1, 1 + len(kpis)),
    ) + _comparison_inputs(c)
    return Section("kpis", "KPIs by scenario", body, "Mean over replications [95% CI].")


def _cmp_differences(pg: Page) -> Section:
    c = pg.data
    corr = c.get("correction") or ""
    crn = c.get("common_random_numbers")
    crn = f"common random numbers: {crn}" if crn else "common random numbers"
    return Section(
        "differences", "Paired differences to the base",
        _diff_table(c, c.get("base") or "")
        + f'<p class="note">Alternative − base over the same replications ({e(crn)}). Each '
        "cell: mean and the confidence interval the decision used (its level in brackets: "
        "the Holm–Bonferroni step at which the test was judged, so the interval excludes 0 "
        "exactly when the difference is significant), the adjusted p-value and the verdict; "
        "below, the single-test 95% CI. * significant; "
        '<span class="good">green</span> better, <span class="bad">red</span> worse '
        f"(↑ higher is better, ↓ lower is better). Correction: {e(corr)}.</p>",
    )


def _cmp_economics(pg: Page) -> Section:
    econ = _economics(pg.data)
    return Section("economics", "Economics and ranking",
                   econ or '<p class="muted">No economics in this comparison.</p>')


def _cmp_bottlenecks(pg: Page) -> Section:
    c = pg.data
    scen = c.get("scenarios") or {}
    rows = []
    for name in _cmp_order(c):
        summary = (scen.get(name) or {}).get("summary") or {}
        scenario = _load_scenario(pg.folder / "scenarios" / name / "scenario.resolved.json")
        b = summary.get("bottleneck") or {}
        mean, ci = _ci_text("bottleneck_utilisation", b.get("utilisation"))
        rows.append(
            [
                f"<b>{e(name)}</b>",
                e(_stage_name(scenario, b.get("element"))),
                e(mean) + (f' <span class="muted ci">{e(ci)}</span>' if ci else ""),
                e(_headroom(summary)),
            ]
        )
    return Section("bottlenecks", "Bottleneck per scenario", _table(
        ["Scenario", "Bottleneck", "Utilisation", "Demand growth before it saturates"],
        rows, raw=True, num_cols=(2, 3)))


def _cmp_plots(pg: Page) -> Section:
    c = pg.data
    base = c.get("base") or ""
    top = _pngs(pg.folder / "plots")
    figs = "".join(
        _img(p, f"Route map of the base scenario '{base}', coloured by utilisation")
        if p.name == "route_map.png"
        else _img(p, _plot_caption(p))
        for p in top
    )
    if not top:
        from sim.outputs.plots_compare import forest, kpi_bars

        with tempfile.TemporaryDirectory() as tmp:
            made = [kpi_bars(c, Path(tmp) / "kpi_bars.png"), forest(c, Path(tmp) / "forest.png")]
            figs = _figures(made, " (drawn for this report)")
    for name in _cmp_order(c):
        sub = _pngs(pg.folder / "scenarios" / name / "plots")
        if sub:
            figs += f'<h3 id="plots-{e(_slug(name))}">Scenario {e(name)}</h3>' + _figures(
                sub, f" — {name}"
            )
    return Section("plots", "Plots", figs or '<p class="muted">No plots.</p>')


def _cmp_parameters(pg: Page) -> Section:
    base = pg.data.get("base") or ""
    base_scen = _load_scenario(pg.folder / "scenarios" / base / "scenario.resolved.json")
    base_prov, base_prov_from = _input_provenance(pg.folder / "scenarios" / base)
    return Section(
        "parameters", f"Parameters of the base scenario '{base}'",
        _parameters(base_scen, base_prov)
        if base_scen is not None
        else '<p class="muted">scenarios/&lt;base&gt;/scenario.resolved.json missing.</p>',
        _parameters_intro(
            "The alternatives differ as listed under Scenarios.", base_prov, base_prov_from
        ),
    )


def _cmp_provenance(pg: Page) -> Section:
    c = pg.data
    scen = c.get("scenarios") or {}
    prov = c.get("provenance") or {}
    items: list[tuple[str, Any]] = [
        ("corridor version", prov.get("version")),
        ("Command", prov.get("command")),
        ("Seed", prov.get("seed", c.get("seed"))),
        ("Replications", c.get("replications")),
    ]
    for name in _cmp_order(c):
        items.append((f"SHA-256 {name}", (scen.get(name) or {}).get("sha256")))
    items += [("Report", f"written {_when()} by corridor {__version__}")]
    return Section("provenance", "Provenance", _provenance(items))


COMPARISON_SECTIONS: list[SectionBuilder] = [
    _cmp_scenarios,
    _cmp_kpis,
    _cmp_differences,
    _cmp_economics,
    _cmp_bottlenecks,
    _cmp_plots,
    _cmp_parameters,
    _cmp_provenance,
]
"""The sections of a comparison report, in order."""


def _comparison_page(folder: Path, c: dict) -> tuple[str, str]:
    base = c.get("base") or ""
    alts = [s for s in _cmp_order(c) if s != base]
    title = f"Scenario comparison — base '{base}' vs {len(alts)} alternative" + (
        "s" if len(alts) != 1 else ""
    )
    head = f"<h1>{e(title)}</h1>" + _meta(
        [
            ("Replications", c.get("replications")),
            ("Seed", c.get("seed")),
            (
                "Horizon",
                f"{_num(c.get('horizon_days'))} d (warm-up {_num(c.get('warmup_days'))} d)"
                if c.get("horizon_days") is not None
                else None,
            ),
            ("Generated", _when()),
        ]
    )
    answer = _answer_html(_answer.comparison_answer(c))
    return title, head + _render(_sections(Page(folder, c), COMPARISON_SECTIONS), answer)


# --------------------------------------------------------------------------------------
# Sweep
# --------------------------------------------------------------------------------------


def _fmt_param(v: Any) -> str:
    if _finite(v):
        v = float(v)
        return f"{v:,.0f}" if v == int(v) else f"{v:,.4g}"
    return str(v)


def _sweep_reference(folder: Path, sw: Mapping[str, Any]) -> tuple[dict | None, str | None]:
    """The heat maps' reference point: ``sweep.json``'s, else the grid point nearest the
    base scenario's values (``scenario.resolved.json``), and the note when it is not the
    base itself."""
    if sw.get("reference"):
        return dict(sw["reference"]), sw.get("reference_note")
    from sim.experiments.sweep import base_values, grid_reference

    varied = list(sw.get("varied") or [])
    resolved = _maybe_json(folder / "scenario.resolved.json")
    points = [p.get("values") or {} for p in sw.get("points") or [] if isinstance(p, Mapping)]
    if not resolved or not varied or (sw.get("design") or "") == "lhs":
        return None, None
    if any(k not in v for v in points for k in varied):
        return None, None
    return grid_reference(base_values(resolved, varied), varied, points)


def _sweep_page(folder: Path, sw: dict) -> tuple[str, str]:
    from sim.outputs.plots_sweep import param_label

    varied = list(sw.get("varied") or [])
    kpis = list(sw.get("kpis") or [])
    points = [p for p in sw.get("points") or [] if isinstance(p, Mapping)]
    ok = [p for p in points if p.get("status", "ok") == "ok"]
    failed = [p for p in points if p.get("status", "ok") != "ok"]
    title = (
        f"Parameter sweep — base '{sw.get('base')}', {len(varied)} parameter"
        + ("s" if len(varied) != 1 else "")
        + f", {len(points)} points"
    )
    parts = [f"<h1>{e(title)}</h1>"]
    prov = sw.get("provenance") or {}
    parts.append(
        _meta(
            [
                ("Design", sw.get("design")),
                ("Seed", prov.get("seed")),
                ("Points", f"{len(ok)} ok, {len(failed)} failed"),
                ("Generated", _when()),
            ]
        )
    )
    parts.append(_answer_html(_answer.sweep_answer(sw)))
    parts.append(
        _toc(
            [
                ("varied", "Parameters"),
                ("best", "Best points"),
                ("points", "Points"),
                ("plots", "Plots"),
                ("parameters", "Base scenario"),
                ("provenance", "Provenance"),
            ]
        )
    )
    for p in failed:
        vals = ", ".join(f"{k} = {_fmt_param(v)}" for k, v in (p.get("values") or {}).items())
        parts.append(
            _alert(
                "bad",
                f"Point {p.get('point')} failed",
                f"({vals}): " + (p.get("error") or "no result"),
            )
        )

    rows = []
    for key in varied:
        vals = [(p.get("values") or {}).get(key) for p in points]
        uniq = sorted(
            {v for v in vals if v is not None},
            key=lambda v: (not _finite(v), v if _finite(v) else str(v)),
        )
        shown = ", ".join(_fmt_param(v) for v in uniq[:12]) + (" …" if len(uniq) > 12 else "")
        rows.append([f"<code>{e(key)}</code>", e(param_label(key)), e(str(len(uniq))), e(shown)])
    parts.append(
        _section(
            "varied",
            "Varied parameters",
            _table(["Key", "Meaning", "Levels", "Values"], rows, raw=True, num_cols=(2,)),
        )
    )

    # best point per KPI (flagged points never qualify)
    rows = []
    for kpi in kpis:
        better = better_of(kpi, sw)
        pick = _answer.best_point(sw, kpi)
        if pick is None or not better:
            if better and ok:
                rows.append([e(kpi_label(kpi)), e(better), "–",
                             '<span class="muted">every point is flagged</span>', ""])
            continue
        mean, ci = _ci_text(kpi, pick["kpis"][kpi])
        vals = ", ".join(
            f"{param_label(k).split(' — ')[0]} = {_fmt_param(v)}"
            for k, v in (pick.get("values") or {}).items()
        )
        rows.append(
            [
                e(kpi_label(kpi)),
                e(better),
                e(str(pick.get("point"))),
                e(vals),
                e(mean) + (f' <span class="muted ci">{e(ci)}</span>' if ci else ""),
            ]
        )
    parts.append(
        _section(
            "best",
            "Best point per KPI",
            _table(
                ["KPI", "Better", "Point", "Values", "Mean [95% CI]"],
                rows,
                raw=True,
                num_cols=(2, 4),
            )
            if rows
            else '<p class="muted">No successful point.</p>',
            "Best mean among the points that are neither saturated nor transit-biased; "
            "check the confidence intervals before calling a winner.",
        )
    )

    # all points
    best_of = {kpi: (_answer.best_point(sw, kpi) or {}).get("point") for kpi in kpis}
    rows = []
    for p in points:
        cells = [e(str(p.get("point", "")))]
        cells += [e(_fmt_param((p.get("values") or {}).get(k))) for k in varied]
        status = p.get("status", "ok")
        flags = _answer.flag_names(p)
        if status != "ok":
            badge = f'<span class="tag red" title="{e(p.get("error"))}">{e(status)}</span>'
        elif flags:
            badge = " ".join(f'<span class="tag amber">{e(f)}</span>' for f in flags)
        else:
            badge = '<span class="tag">ok</span>'
        cells.append(badge)
        for kpi in kpis:
            stat = (p.get("kpis") or {}).get(kpi)
            mean, ci = _ci_text(kpi, stat)
            best = status == "ok" and best_of.get(kpi) == p.get("point")
            text = f"<b>{e(mean)}</b>" if best else e(mean)
            cells.append(text + (f'<br><span class="muted ci">{e(ci)}</span>' if ci else ""))
        rows.append(cells)
    head = (
        ["#"]
        + [param_label(k).split(" — ")[0] for k in varied]
        + ["Status"]
        + [kpi_label(k) for k in kpis]
    )
    nv = len(varied)
    parts.append(
        _section(
            "points",
            "All points",
            _table(
                head,
                rows,
                raw=True,
                num_cols=list(range(0, 1 + nv)) + list(range(2 + nv, 2 + nv + len(kpis))),
                cls="points",
            ),
            "Mean [95% CI] over the replications of each point; the best unflagged mean in "
            "bold. Status: saturated (busiest stage at or above capacity), transit biased "
            "(many boxes still inside at the horizon) or gridlock; sweep.csv has these as "
            "true/false columns. "
            "Tidy per-replication data: sweep.csv.",
        )
    )

    pngs = _pngs(folder / "plots")
    figs = _figures(pngs)
    reference, ref_note = _sweep_reference(folder, sw)
    if not pngs and ok:
        from sim.outputs.plots_sweep import heatmap, response

        with tempfile.TemporaryDirectory() as tmp:
            made = []
            for kpi in kpis:
                made.append(response(sw, kpi, Path(tmp) / f"response_{kpi}.png"))
                if len(varied) >= 2 and (sw.get("design") or "") != "lhs":
                    made.append(heatmap(sw, kpi, Path(tmp) / f"heatmap_{kpi}.png",
                                        reference=reference))
            figs = _figures(made, " (drawn for this report)")
    heat = any(p.name.startswith("heatmap_") for p in pngs) or (
        not pngs and ok and len(varied) >= 2 and (sw.get("design") or "") != "lhs")
    intro = None
    if heat and reference:
        where = ", ".join(f"{param_label(k).split(' — ')[0]} = {_fmt_param(v)}"
                          for k, v in reference.items())
        intro = (f"Heat maps: every grid point against the reference point ({where}); "
                 "grey cells are not significantly different from it ("
                 + ("paired t over the common replications" if all(p.get("records")
                    for p in ok) else "Welch's t from each point's CI")
                 + ", Holm–Bonferroni over the cells). "
                 + (ref_note or "The reference is the base scenario's own values."))
    parts.append(_section("plots", "Plots", figs or '<p class="muted">No plots.</p>', intro))

    base = sw.get("base") or ""
    scenario = None
    for cand in (
        folder / "scenario.resolved.json",
        folder / "base" / "scenario.resolved.json",
        folder / "scenarios" / base / "scenario.resolved.json",
    ):
        scenario = _load_scenario(cand)
        if scenario is not None:
            break
    parts.append(
        _section(
            "parameters",
            f"Base scenario '{base}'",
            _parameters(scenario)
            if scenario is not None
            else '<p class="muted">No scenario.resolved.json of the base in this folder.</p>',
            "Each point overrides the varied keys of this scenario.",
        )
    )
    parts.append(
        _section(
            "provenance",
            "Provenance",
            _provenance(
                [
                    ("corridor version", prov.get("version")),
                    ("Command", prov.get("command")),
                    ("Seed", prov.get("seed")),
                    ("Report", f"written {_when()} by corridor {__version__}"),
                ]
            ),
        )
    )
    return title, "".join(parts)


# --------------------------------------------------------------------------------------
# Page
# --------------------------------------------------------------------------------------

CSS = """
:root { --ink:#1d232a; --muted:#66707a; --line:#dde2e7; --head:#f1f4f7; --accent:#1f5f9e;
        --good:#1a7f45; --bad:#c0392b; --warn:#9a6700; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: var(--ink); background: #fff; margin: 0 auto; max-width: 1240px;
       padding: 28px 32px 60px; line-height: 1.45; font-size: 14.5px; }
h1 { font-size: 25px; margin: 0 0 6px; color: #102a43; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 5px;
     border-bottom: 2px solid var(--accent); color: #102a43; }
h3 { font-size: 16px; margin: 24px 0 8px; color: #243b53; }
p.meta { margin: 0 0 12px; color: var(--muted); font-size: 13.5px; }
p.meta span { margin-right: 18px; white-space: nowrap; }
p.meta b { color: var(--ink); font-weight: 600; }
p.desc { background: #f7f9fb; border-left: 4px solid var(--accent); padding: 10px 14px;
         margin: 14px 0; }
p.intro, p.note { color: var(--muted); margin: 4px 0 10px; font-size: 13.5px; }
nav.toc { display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0 14px; }
nav.toc a { font-size: 13px; color: var(--accent); text-decoration: none; padding: 3px 10px;
            border: 1px solid var(--line); border-radius: 14px; background: #fafbfc; }
.alert { padding: 9px 14px; border-radius: 6px; margin: 8px 0; font-size: 14px;
         border: 1px solid; }
.alert.bad { background: #fdecea; border-color: #f5b7b1; color: #7b241c; }
.alert.warn { background: #fff8e1; border-color: #f3d27a; color: #6d4c00; }
.answer { border: 1px solid #b9cde3; background: #f4f8fc; border-radius: 8px;
          padding: 4px 18px 8px; margin: 12px 0 16px; }
.answer h2 { border: none; margin: 10px 0 4px; font-size: 18px; }
.answer ul { margin: 4px 0; padding-left: 20px; }
.answer li { margin: 5px 0; font-size: 15px; }
.answer li.warn { color: #6d4c00; background: #fff8e1; border-radius: 4px; padding: 2px 6px; }
.answer li.bad { color: #7b241c; background: #fdecea; border-radius: 4px; padding: 2px 6px; }
.answer li.ok { color: var(--good); }
.answer li.calib { font-weight: 600; list-style: none; margin-left: -20px; padding: 6px 10px;
                   background: #eef2f6; border-left: 4px solid var(--accent); }
.tag.amber { background: #fff1cc; color: var(--warn); }
p.note.ok { color: var(--good); }
p.note.warn { color: #6d4c00; background: #fff8e1; border-radius: 4px; padding: 2px 6px; }
table.routes td:first-child { width: 28%; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(210px, 1fr)); gap: 12px;
         margin: 10px 0 16px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px;
        background: #fbfcfd; }
.card .label { font-size: 12.5px; color: var(--muted); text-transform: uppercase;
               letter-spacing: .03em; }
.card .value { font-size: 26px; font-weight: 650; margin: 2px 0; }
.card .value.small { font-size: 15.5px; line-height: 1.3; }
.card .unit { font-size: 13px; font-weight: 400; color: var(--muted); }
.card .ci { font-size: 12.5px; color: var(--muted); font-variant-numeric: tabular-nums; }
.card.bottleneck { border-color: #f0b4ae; background: #fdf3f2; }
.card.bottleneck .value { color: var(--bad); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 18px; font-size: 13px; }
caption { text-align: left; font-weight: 600; padding: 4px 0 6px; color: #243b53;
          font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; vertical-align: top;
         text-align: left; }
th { background: var(--head); font-weight: 600; border-bottom: 2px solid #c9d1d9; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) td { background: #fafbfc; }
table.kpis td:first-child { font-weight: 600; }
table.prov td:first-child { width: 220px; color: var(--muted); }
table.scenarios td:first-child { width: 300px; }
code.nowrap { white-space: nowrap; word-break: normal; }
table.changes td:nth-child(2) { width: 30%; }
table.changes td:nth-child(3) { width: 14%; }
.params table { font-size: 12.5px; }
.src { display: block; font-size: 11px; color: var(--muted); }
.src.est { color: var(--warn); }
td .src:only-child { display: inline; }
details.inputs { margin: 4px 0 18px; }
details.inputs summary { cursor: pointer; color: var(--accent); font-size: 13.5px; }
table.inputs { font-size: 12px; }
table.inputs td:nth-child(4) { white-space: nowrap; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
       font-size: 12px; background: #f3f5f7; padding: 1px 4px; border-radius: 3px;
       word-break: break-all; }
.muted { color: var(--muted); }
td span.ci { white-space: nowrap; }
table.stages td:first-child { white-space: nowrap; }
.tag { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 8px;
       background: #e3edf7; color: var(--accent); font-weight: 600; vertical-align: 1px;
       white-space: nowrap; }
.tag.red { background: #fbe3e0; color: var(--bad); }
.diff .ci, .diff .p { font-size: 11.5px; color: var(--muted); }
.diff.good b, span.good { color: var(--good); }
.diff.bad b, span.bad { color: var(--bad); }
.diff.good, .diff.bad { padding: 2px 4px; border-radius: 4px; }
.diff.good { background: #e9f6ee; }
.diff.bad { background: #fbeceb; }
figure { margin: 16px 0 24px; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto;
             border: 1px solid var(--line); border-radius: 4px; }
figcaption { font-size: 13px; color: var(--muted); text-align: center; margin-top: 6px; }
footer { margin-top: 40px; font-size: 12px; color: var(--muted); }
@media print {
  body { max-width: none; padding: 0 6mm; font-size: 11pt; }
  nav.toc { display: none; }
  h2 { break-after: avoid; }
  figure, table, .card, .alert { break-inside: avoid; }
  tbody tr:nth-child(even) td { background: none; }
  figure img { max-height: 240mm; object-fit: contain; }
}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>{body}"
        f"<footer>corridor {e(__version__)} — self-contained report; images are embedded."
        "</footer></body></html>\n"
    )
