"""Calibration and validation: the model against published figures of the real corridor.

Three parts:

* :data:`PUBLISHED` — the published figures the model can be held against, read from the
  data file ``sim/data/published_figures.toml``: each with its source IDs (listed in
  ``docs/sources.md``), an acceptance range in the model's unit, its *role* (was it used
  to set a parameter, or is it an independent check?) and a sentence saying how the
  model number is computed;
* :func:`calibration_replication` / :func:`run_calibration` — replications of a scenario
  that, besides the usual record of :func:`sim.model.measure.measure`, collect what the
  record does not keep: the berth time of every vessel call and the time of every study
  box from origin (or from the Khorgos border) to each later node. The instrumentation
  only observes (it wraps the berth acquire/release of the node objects of this one
  model instance, draws no random numbers and schedules no events), so the record is
  identical to :func:`sim.model.corridor.run_replication`'s;
* :func:`model_values`, :func:`build_table`, :func:`format_text`, :func:`format_markdown` —
  the model's statistics with 95% CIs over replications, the verdict per figure, and
  the table as text and Markdown.

Units: model time is hours; berth times are hours, transit and segment times days,
volumes TEU per year (8,760 h).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.experiments.executors import ExecutorSpec
from sim.model.corridor import CorridorModel
from sim.model.measure import measure
from sim.scenario.schema import PortNode, Scenario, SeaLeg
from sim.stats import summarise

HOURS_PER_YEAR = 8760.0
HOURS_PER_DAY = 24.0
WEEKS_PER_YEAR = HOURS_PER_YEAR / 168.0

ROLE_CALIBRATED = "calibrated"
ROLE_INDEPENDENT = "independent"
ROLE_INPUT_E = "data-sheet estimate"
ROLE_CONTEXT = "context"
ROLES = {
    ROLE_CALIBRATED: "the figure was used to set a parameter of the scenario: agreement is by "
    "construction and shows the parameter was set as intended",
    ROLE_INDEPENDENT: "the figure was not used to set any parameter: a genuine check",
    ROLE_INPUT_E: "an estimate of the data sheet built from the same §7 rows the scenario "
    "uses, so it checks consistency with the inputs, not with the real corridor",
    ROLE_CONTEXT: "not comparable like for like (other directions, other years or a peak "
    "state): shown for scale, no verdict",
}

# Nodes of the baseline network used to place segment times (a scenario without them
# gets "n/a" on those rows).
BAKU = ("alat", "alat_ferry")
KHORGOS = ("khorgos",)
CASPIAN_ORIGINS = ("aktau", "kuryk")
CASPIAN_NODES = ("aktau", "kuryk", "alat", "alat_ferry")

# Segment times of the study flows, days: (name, from-nodes or None = creation at origin,
# to-nodes or None = delivery). The first node of a flow's route in each set is used.
SEGMENTS: tuple[tuple[str, tuple[str, ...] | None, tuple[str, ...] | None], ...] = (
    ("origin_baku", None, BAKU),
    ("origin_constanta", None, ("constanta",)),
    ("origin_sestokai", None, ("sestokai",)),
    ("origin_delivery", None, None),
    ("khorgos_baku", KHORGOS, BAKU),
    ("khorgos_poti", KHORGOS, ("poti",)),
    ("khorgos_constanta", KHORGOS, ("constanta",)),
)
BERTH_PORTS = ("aktau", "alat")


FIGURES_FILE = Path(__file__).resolve().parents[1] / "data" / "published_figures.toml"
"""The published figures with their sources (package data)."""

_FIGURE_KEYS = {
    "id", "label", "quantity", "published", "sources", "role", "stat", "unit",
    "acceptance", "how", "note", "low", "high", "point", "best_case",
}  # fmt: skip
_RANGE_KEYS = ("low", "high", "point", "best_case")


@dataclass(frozen=True)
class PublishedFigure:
    """A published figure and the model statistic it is compared with.

    ``low``/``high`` are the acceptance range in ``unit`` (``None`` = open side);
    ``stat`` names an entry of :func:`model_values`; ``label`` is a short name for
    one-line summaries.
    """

    id: str
    quantity: str
    published: str
    sources: tuple[str, ...]
    stat: str
    unit: str
    low: float | None
    high: float | None
    acceptance: str
    role: str
    how: str
    note: str = ""
    label: str = ""


class FiguresError(ValueError):
    """The figures file is malformed (a packaging or editing mistake, not user input)."""


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FiguresError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _acceptance_range(
    entry: dict[str, Any], tolerances: dict[str, float], where: str
) -> tuple[float | None, float | None]:
    """``(low, high)`` from ``low``/``high``, ``point`` (± the point tolerance) or
    ``best_case`` (one figure or ``[low, high]``, ± the best-case tolerance)."""
    given = [k for k in _RANGE_KEYS if k in entry]
    if ("point" in given or "best_case" in given) and len(given) != 1:
        raise FiguresError(f"{where}: expected one of point, best_case or low/high")
    if "point" in entry:
        value, tol = _number(entry["point"], f"{where}.point"), tolerances["point"]
        return value * (1 - tol), value * (1 + tol)
    if "best_case" in entry:
        raw = entry["best_case"]
        pair = raw if isinstance(raw, list) else [raw, raw]
        if len(pair) != 2:
            raise FiguresError(f"{where}.best_case: expected a number or [low, high]")
        lo, hi = (_number(v, f"{where}.best_case") for v in pair)
        tol = tolerances["best_case"]
        return lo * (1 - tol), hi * (1 + tol)
    low = _number(entry["low"], f"{where}.low") if "low" in entry else None
    high = _number(entry["high"], f"{where}.high") if "high" in entry else None
    if low is not None and high is not None and low > high:
        raise FiguresError(f"{where}: expected low <= high, got {low} > {high}")
    return low, high


def load_figures(
    path: Path = FIGURES_FILE,
) -> tuple[tuple[PublishedFigure, ...], dict[str, str]]:
    """The figures of ``path`` (a TOML file like ``sim/data/published_figures.toml``) in
    file order, and its ``[notes]``. Raises :class:`FiguresError` naming the entry and key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FiguresError(f"{path}: cannot read the published figures ({exc})") from None
    tol = data.get("tolerances", {})
    tolerances = {k: _number(tol.get(k), f"{path}: tolerances.{k}") for k in ("point", "best_case")}
    figures: list[PublishedFigure] = []
    for k, entry in enumerate(data.get("figure", [])):
        where = f"{path}: figure {entry.get('id', k + 1)!r}"
        unknown = sorted(set(entry) - _FIGURE_KEYS)
        if unknown:
            raise FiguresError(f"{where}: unknown key {unknown[0]!r}")
        for key in ("id", "label", "quantity", "published", "role", "stat", "unit", "how"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise FiguresError(f"{where}.{key}: expected a non-empty string")
        if entry["role"] not in ROLES:
            raise FiguresError(f"{where}.role: expected one of {', '.join(ROLES)}")
        sources = entry.get("sources")
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise FiguresError(f"{where}.sources: expected a list of source IDs")
        low, high = _acceptance_range(entry, tolerances, where)
        if entry["role"] == ROLE_CONTEXT and (low is not None or high is not None):
            raise FiguresError(f"{where}: a context figure has no acceptance range")
        figures.append(
            PublishedFigure(
                id=entry["id"],
                quantity=entry["quantity"],
                published=entry["published"],
                sources=tuple(sources),
                stat=entry["stat"],
                unit=entry["unit"],
                low=low,
                high=high,
                acceptance=entry.get("acceptance", ""),
                role=entry["role"],
                how=entry["how"],
                note=entry.get("note", ""),
                label=entry["label"],
            )
        )
    ids = [f.id for f in figures]
    if len(set(ids)) != len(ids):
        raise FiguresError(f"{path}: a figure id is used twice")
    notes = {str(k): str(v) for k, v in data.get("notes", {}).items()}
    return tuple(figures), notes


PUBLISHED, _NOTES = load_figures()
"""The published figures the model is held against (``sim/data/published_figures.toml``)."""
SURGE_NOTE = _NOTES.get("surge", "")

# --------------------------------------------------------------------------------------
# Instrumented replications
# --------------------------------------------------------------------------------------


def _instrument_berths(model: CorridorModel) -> dict[str, list[tuple[float, float, float]]]:
    """Log ``(requested_h, granted_h, released_h)`` of every berth use at every port.

    Wraps ``acquire``/``try_acquire``/``release`` of the node's berth resource on this
    instance only;
    the wrappers add no events and draw no random numbers, so the run is unchanged.
    """
    env = model.env
    calls: dict[str, list[tuple[float, float, float]]] = {}
    for nid, node in model.nodes.items():
        if node.berths is None:
            continue
        res = node.berths
        log: list[tuple[float, float, float]] = []
        started: dict[int, tuple[float, float]] = {}
        calls[nid] = log

        def acquire(
            orig: Callable[[], Generator[Any, Any, Any]] = res.acquire,
            started: dict[int, tuple[float, float]] = started,
        ) -> Generator[Any, Any, Any]:
            asked = env.now
            req = yield from orig()
            started[id(req)] = (asked, env.now)
            return req

        def release(
            req: Any,
            orig: Callable[[Any], None] = res.release,
            started: dict[int, tuple[float, float]] = started,
            log: list[tuple[float, float, float]] = log,
        ) -> None:
            asked, granted = started.pop(id(req))
            log.append((asked, granted, env.now))
            orig(req)

        def try_acquire(
            orig: Callable[[], Any] = res.try_acquire,
            started: dict[int, tuple[float, float]] = started,
        ) -> Any:
            req = orig()
            if req is not None:  # granted at once: asked and granted now
                started[id(req)] = (env.now, env.now)
            return req

        res.acquire = acquire  # type: ignore[method-assign]
        res.try_acquire = try_acquire  # type: ignore[method-assign]
        res.release = release  # type: ignore[method-assign]
    return calls


def _quantiles(x: np.ndarray) -> dict[str, float | None]:
    """Mean, P10, P50, P90, P95 and max of ``x`` (``None`` when empty)."""
    if len(x) == 0:
        return {k: None for k in ("mean", "p10", "p50", "p90", "p95", "max", "n")}
    p10, p50, p90, p95 = np.percentile(x, [10, 50, 90, 95])
    return {
        "mean": float(x.mean()),
        "p10": float(p10),
        "p50": float(p50),
        "p90": float(p90),
        "p95": float(p95),
        "max": float(x.max()),
        "n": len(x),
    }


def _first_stage(route: list[str], nodes: tuple[str, ...]) -> int | None:
    for s, nid in enumerate(route):
        if nid in nodes:
            return s
    return None


def _segment_times(model: CorridorModel, warm: float, end: float) -> dict[str, dict]:
    """Per segment of :data:`SEGMENTS`: quantiles of study-box times (days).

    A box counts when it reached the segment's end node after the warm-up and by ``end``.
    """
    table = model.table
    scen = model.scenario
    out: dict[str, dict] = {}
    for name, src, dst in SEGMENTS:
        parts = []
        for fid in scen.study_flow_ids():
            fi = model.flow_ids.index(fid)
            route = scen.flows[fid].route
            rows = np.flatnonzero(table.flow == fi)
            s_to = len(route) - 1 if dst is None else _first_stage(route, dst)
            s_from = 0 if src is None else _first_stage(route, src)
            if s_to is None or s_from is None or s_from >= s_to:
                continue
            t_end = table.depart_h[rows, s_to] if dst is None else table.arrive_h[rows, s_to]
            t0 = table.created_h[rows] if src is None else table.arrive_h[rows, s_from]
            ok = np.isfinite(t_end) & (t_end >= warm) & (t_end <= end)
            parts.append((t_end[ok] - t0[ok]) / HOURS_PER_DAY)
        out[name] = _quantiles(np.concatenate(parts)) if parts else _quantiles(np.empty(0))
    return out


def calibration_replication(scenario: Scenario, replication: int) -> dict[str, Any]:
    """One replication: the usual record plus ``record["calibration"]`` extras.

    Extras: ``berth_calls`` (per port: quantiles of berth time and of port stay incl. the
    wait for a berth, hours, calls granted after the warm-up) and ``segments`` (quantiles
    of study-box segment times, days). Bulky arrays (series, transit samples) are dropped.
    """
    import time

    t0 = time.perf_counter()
    model = CorridorModel(scenario, replication)
    calls = _instrument_berths(model)
    end_h, gridlock = model.run()
    inside = model.check_conservation(end_h)
    record = measure(model, end_h, inside, gridlock)
    warm = min(model.warmup_h, end_h)
    berth = {}
    for nid, log in calls.items():
        arr = np.asarray(log, dtype=float).reshape(-1, 3)
        post = arr[:, 1] >= warm
        berth[nid] = {
            "berth_h": _quantiles(arr[post, 2] - arr[post, 1]),
            "stay_h": _quantiles(arr[post, 2] - arr[post, 0]),
            "share_over_30h": float(np.mean(arr[post, 2] - arr[post, 1] > 30.0))
            if post.any()
            else None,
        }
    record["calibration"] = {
        "berth_calls": berth,
        "segments": _segment_times(model, warm, end_h),
    }
    record["perf"] = {
        "wall_s": time.perf_counter() - t0,
        "events": model.env.scheduled,
        "containers": int((model.table.created_h <= end_h).sum()),
    }
    record.pop("series", None)
    record.pop("transit_days", None)
    return record


def calibration_chunk(scenario: Scenario, indices: list[int]) -> list[dict[str, Any]]:
    """:func:`calibration_replication` for each index (one executor task)."""
    return [calibration_replication(scenario, r) for r in indices]


def run_calibration(
    scenario: Scenario, replications: int, spec: ExecutorSpec | None = None
) -> list[dict[str, Any]]:
    """Records of replications ``0 .. replications-1`` with calibration extras, in order.

    Runs on the executor of ``spec`` (serial, process pool or Dask; default: all cores).
    """
    from sim.experiments.executors import chunk, open_executor, run_tasks

    spec = spec or ExecutorSpec(quiet=True)
    parts = chunk(list(range(replications)), spec.effective_workers())
    with open_executor(spec) as ex:
        results = run_tasks(
            ex,
            calibration_chunk,
            [(scenario, part) for part in parts],
            [len(p) for p in parts],
            "calibration replications",
            spec.quiet,
        )
    records = [rec for part in results for rec in part]
    return sorted(records, key=lambda rec: rec["replication"])


# --------------------------------------------------------------------------------------
# Model values and the table
# --------------------------------------------------------------------------------------


def _years(record: dict) -> float:
    return max(record["end_h"] - record["warmup_h"], 1e-9) / HOURS_PER_YEAR


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _is_caspian(element: str | None, scenario: Scenario) -> bool:
    if not element:
        return False
    section, _, ident = element.partition(".")
    if section == "nodes":
        return ident in CASPIAN_NODES
    if section == "fleets" and ident in scenario.fleets:
        return scenario.legs[scenario.fleets[ident].leg].from_node in CASPIAN_ORIGINS
    if section == "legs" and ident in scenario.legs:
        leg = scenario.legs[ident]
        return isinstance(leg, SeaLeg) and leg.from_node in CASPIAN_ORIGINS
    return False


def _westbound_loaded(scenario: Scenario, fid: str) -> bool:
    """A flow of loaded boxes that ends west of where it starts (the published Caspian
    figures count westbound containers; eastbound cargo and empties come on top)."""
    flow = scenario.flows.get(fid)
    if flow is None or flow.empties_of is not None:
        return False
    a, b = scenario.nodes[flow.route[0]].lon, scenario.nodes[flow.route[-1]].lon
    return a is None or b is None or b < a


def _per_replication(scenario: Scenario, record: dict) -> dict[str, float | None]:
    """Every model statistic of :data:`PUBLISHED` for one replication (units as named)."""
    years = _years(record)
    span_h = years * HOURS_PER_YEAR
    study = set(scenario.study_flow_ids())
    out: dict[str, float | None] = {}

    tp = [_get(record, "flows", f, "throughput_teu_per_week") for f in record["flows"]]
    bg = [
        v
        for f, v in zip(record["flows"], tp, strict=True)
        if f not in study and _westbound_loaded(scenario, f)
    ]
    out["background_teu_per_year"] = (
        sum(v for v in bg if v is not None) * WEEKS_PER_YEAR if bg else None
    )

    caspian_fleets = [
        fid
        for fid, fl in scenario.fleets.items()
        if scenario.legs[fl.leg].from_node in CASPIAN_ORIGINS
    ]
    out["caspian_fleet_teu_per_year"] = (
        sum(record["fleets"][f]["teu"] for f in caspian_fleets) / years if caspian_fleets else None
    )
    unloaded = [_get(record, "nodes", n, "departed_teu") for n in BAKU]
    unloaded = [u for u in unloaded if u is not None]
    out["alat_unloaded_teu_per_year"] = sum(unloaded) / years if unloaded else None

    feeders = scenario.fleets.get("caspian_feeders")
    frec = _get(record, "fleets", "caspian_feeders")
    out["feeder_capacity_teu_per_year"] = None
    if feeders is not None and frec and frec["sailings"]:
        busy_h_per_sailing = frec["utilisation"] * feeders.vessels * span_h / frec["sailings"]
        nominal = feeders.nominal_capacity_teu() * feeders.load_factor
        out["feeder_capacity_teu_per_year"] = (
            feeders.vessels * nominal * HOURS_PER_YEAR / busy_h_per_sailing
        )

    extras = record.get("calibration") or {}
    calls = extras.get("berth_calls", {})
    for nid in BERTH_PORTS:
        b = _get(calls, nid, "berth_h") or {}
        out[f"berth_h_mean:{nid}"] = b.get("mean")
        out[f"berth_h_p95:{nid}"] = b.get("p95")
        out[f"berth_h_max:{nid}"] = b.get("max")
        out[f"stay_h_mean:{nid}"] = _get(calls, nid, "stay_h", "mean")
        out[f"share_over_30h:{nid}"] = _get(calls, nid, "share_over_30h")

    out["aktau_berth_capacity_teu_per_year"] = None
    aktau = scenario.nodes.get("aktau")
    call_h = out.get("berth_h_mean:aktau")
    from_aktau = [
        f for f, fl in scenario.fleets.items() if scenario.legs[fl.leg].from_node == "aktau"
    ]
    sailings = sum(record["fleets"][f]["sailings"] for f in from_aktau)
    if isinstance(aktau, PortNode) and call_h and sailings:
        teu_per_call = sum(record["fleets"][f]["teu"] for f in from_aktau) / sailings
        out["aktau_berth_capacity_teu_per_year"] = (
            aktau.berths * HOURS_PER_YEAR / call_h * teu_per_call
        )

    for nid in ("khorgos",):
        out[f"node_wait_h:{nid}"] = _get(record, "nodes", nid, "wait_h_mean")

    berths_u = [_get(record, "nodes", n, "berth_utilisation") for n in ("aktau", "alat")]
    berths_u = [u for u in berths_u if u is not None]
    out["max_berth_utilisation"] = max(berths_u) if berths_u else None

    element = _get(record, "bottleneck", "element")
    has_caspian = any(n in scenario.nodes for n in CASPIAN_NODES)
    out["caspian_bottleneck_share"] = (
        (1.0 if _is_caspian(element, scenario) else 0.0) if has_caspian else None
    )

    for name, *_ in SEGMENTS:
        q = _get(extras, "segments", name) or {}
        for stat in ("mean", "p10", "p50", "p90", "p95"):
            out[f"seg_{stat}:{name}"] = q.get(stat)
    return out


def _khorgos_trains_per_day(scenario: Scenario) -> float | None:
    node = scenario.nodes.get("khorgos")
    if node is None or not node.handling_tracks:
        return None
    mean_h = node.train_handling_h.mean()
    return node.handling_tracks * HOURS_PER_DAY / mean_h if mean_h > 0 else None


def model_values(scenario: Scenario, records: list[dict]) -> dict[str, dict[str, Any]]:
    """Every model statistic over replications: ``{mean, ci95_low, ci95_high, n}``.

    ``caspian_bottleneck_share`` also carries ``text`` (the bottleneck elements seen) and
    ``khorgos_trains_per_day`` is computed from the scenario alone (``n`` = 0).
    """
    per = [_per_replication(scenario, r) for r in records]
    keys = sorted({k for p in per for k in p})
    out: dict[str, dict[str, Any]] = {k: summarise(p.get(k) for p in per) for k in keys}
    seen: dict[str, list[float]] = {}
    for r in records:
        el = _get(r, "bottleneck", "element")
        if el:
            seen.setdefault(el, []).append(r["bottleneck"]["utilisation"])
    if "caspian_bottleneck_share" in out:
        out["caspian_bottleneck_share"]["text"] = "; ".join(
            f"{el} (ρ {np.mean(u):.2f}) in {len(u)}/{len(records)}"
            for el, u in sorted(seen.items(), key=lambda kv: -len(kv[1]))
        )
    for nid in BERTH_PORTS:
        p95, worst = out.get(f"berth_h_p95:{nid}"), out.get(f"berth_h_max:{nid}")
        share = out.get(f"share_over_30h:{nid}")
        if p95 and p95.get("mean") is not None and worst and share:
            p95["text"] = (
                f"longest call {worst['mean']:.1f} h on average over replications; "
                f"{100 * share['mean']:.1f}% of calls over 30 h"
            )
    tpd = _khorgos_trains_per_day(scenario)
    out["khorgos_trains_per_day"] = {
        "mean": tpd,
        "ci95_low": tpd,
        "ci95_high": tpd,
        "n": 0,
        "text": "by construction",
    }
    return out


def verdict(stat: dict[str, Any] | None, fig: PublishedFigure) -> str:
    """``pass`` if the model mean lies in the acceptance range, else ``fail``;
    ``n/a`` without a model value, ``-`` for context rows."""
    if fig.role == ROLE_CONTEXT:
        return "-"
    if not stat or stat.get("mean") is None:
        return "n/a"
    m = stat["mean"]
    ok = (fig.low is None or m >= fig.low) and (fig.high is None or m <= fig.high)
    return "pass" if ok else "fail"


def _ci_overlaps(stat: dict[str, Any] | None, fig: PublishedFigure) -> bool | None:
    if not stat or stat.get("mean") is None or fig.role == ROLE_CONTEXT:
        return None
    lo = stat["ci95_low"] if stat["ci95_low"] is not None else stat["mean"]
    hi = stat["ci95_high"] if stat["ci95_high"] is not None else stat["mean"]
    return (fig.high is None or lo <= fig.high) and (fig.low is None or hi >= fig.low)


@dataclass
class CalibrationRow:
    """One row of the calibration table: the figure, the model statistic, the verdict."""

    figure: PublishedFigure
    model: dict[str, Any] = field(default_factory=dict)
    verdict: str = "n/a"
    ci_overlaps: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self.figure)
        d["sources"] = list(self.figure.sources)
        d["model"] = self.model
        d["verdict"] = self.verdict
        d["ci_overlaps_range"] = self.ci_overlaps
        return d


def build_table(
    scenario: Scenario,
    records: list[dict],
    figures: tuple[PublishedFigure, ...] = PUBLISHED,
) -> list[CalibrationRow]:
    """The calibration table: one row per published figure, with the model's 95% CI."""
    values = model_values(scenario, records)
    rows = []
    for fig in figures:
        stat = values.get(fig.stat) or summarise([])
        rows.append(CalibrationRow(fig, stat, verdict(stat, fig), _ci_overlaps(stat, fig)))
    return rows


# --------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------


def _num(x: float | None, unit: str) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    if unit == "TEU/yr":
        return f"{x / 1000:,.1f}k"
    if unit in ("share", "ρ"):
        return f"{x:.2f}"
    return f"{x:,.1f}"


def format_model(stat: dict[str, Any], unit: str) -> str:
    """``mean [low, high]`` in the row's unit (or the text of a categorical statistic)."""
    if stat.get("mean") is None:
        return "n/a"
    s = _num(stat["mean"], unit)
    if stat.get("n", 0) >= 2 and stat.get("ci95_low") is not None:
        s += f" [{_num(stat['ci95_low'], unit)}, {_num(stat['ci95_high'], unit)}]"
    return s


def format_range(fig: PublishedFigure) -> str:
    """The acceptance range in the row's unit."""
    if fig.low is None and fig.high is None:
        return "-"
    if fig.low is None:
        return f"<= {_num(fig.high, fig.unit)}"
    if fig.high is None:
        return f">= {_num(fig.low, fig.unit)}"
    return f"{_num(fig.low, fig.unit)}-{_num(fig.high, fig.unit)}"


def format_text(rows: list[CalibrationRow], header: str = "") -> str:
    """The table for the terminal: id, model mean [95% CI], range, verdict, role."""
    lines = [header] if header else []
    lines.append(
        f"{'#':>2} {'figure':<24}{'model mean [95% CI]':>30}  {'accept':>15}  "
        f"{'unit':<12}{'verdict':<8}{'role':<20}sources"
    )
    for k, row in enumerate(rows, 1):
        f = row.figure
        lines.append(
            f"{k:>2} {f.id:<24}{format_model(row.model, f.unit):>30}  {format_range(f):>15}  "
            f"{f.unit:<12}{row.verdict:<8}{f.role:<20}{' '.join('[' + s + ']' for s in f.sources)}"
        )
    lines.append("")
    for k, row in enumerate(rows, 1):
        f = row.figure
        extra = f" ({row.model['text']})" if row.model.get("text") else ""
        lines.append(f"{k:>2} {f.quantity}: published {f.published}. Model: {f.how}{extra}.")
    lines += ["", SURGE_NOTE]
    return "\n".join(lines)


def _days(x: Any) -> str:
    return f"{x:g}" if isinstance(x, int | float) else str(x)


def format_markdown(rows: list[CalibrationRow], meta: dict[str, Any]) -> str:
    """The table as Markdown, with the run it was measured on and the role legend."""
    out = [
        f"# Calibration: {meta.get('scenario', '')} against published figures",
        "",
        f"Measured with `{meta.get('command', '')}`: {meta.get('replications')} replications, "
        f"seed {meta.get('seed')}, horizon {_days(meta.get('horizon_days'))} d "
        f"(warm-up {_days(meta.get('warmup_days'))} d). Model values are means over replications "
        "with 95% t-intervals. A row passes when the model mean lies in the acceptance range.",
        "",
        *([f"**Verdict:** {meta['verdict']}", ""] if meta.get("verdict") else []),
        "| # | Quantity | Published (source) | Accept | Model mean [95% CI] | Verdict | Role "
        "| How the model number is computed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k, row in enumerate(rows, 1):
        f = row.figure
        src = "".join(f"[{s}]" for s in f.sources)
        how = f.how + (f" — {row.model['text']}" if row.model.get("text") else "")
        if f.note:
            how += f". Note: {f.note}"
        out.append(
            f"| {k} | {f.quantity} | {f.published} {src} | {format_range(f)} | "
            f"{format_model(row.model, f.unit)} | **{row.verdict}** | {f.role} | {how} |"
        )
    out += ["", "Roles:", ""]
    out += [f"- **{role}**: {text}." for role, text in ROLES.items()]
    out += ["", SURGE_NOTE, ""]
    return "\n".join(out)
