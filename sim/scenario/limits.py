"""How much memory a run will need, estimated from its scenario before any work starts.

The schema bounds every number on its own (:mod:`sim.scenario.schema`); this module
checks their product. A replication generates every box of demand over the horizon
up front and keeps a row of stamps per box (:mod:`sim.model.containers`), so its
peak memory is (within 5% from 100,000 boxes up; erring high, by up to 1.6x, on
small runs)::

    BYTES_FIXED
    + boxes x (BYTES_PER_BOX_BASE + BYTES_PER_BOX_STAGE x stages)
    + horizon days x nodes x BYTES_PER_NODE_DAY
    + closure intervals x BYTES_PER_INTERVAL

where ``stages`` is the number of nodes on the longest route. Where the bytes per box
go: the container table holds 20 bytes per box (flow int16, size int8, stage int8,
creation and ready times float64) plus 16 per stage (``arrive_h`` and ``depart_h``,
float64, allocated for every box at every stage of the longest route); demand
generation (gaps, epochs and their inverse-rate mapping), the queues' future runs
(times, indices, sizes), the delivery sinks (index and time of every delivered box)
and ``measure()``'s temporaries (each flow's rows, created and delivered times, one
node's stays with their stable sort and running sums) add ~170 bytes per box at the
peak, which is reached in ``measure()``. The per-day term covers the daily series of
``measure()`` and the monitors' histories, which grow with time rather than boxes;
the per-interval term the Python tuples and lists of a closure timeline (repeating
windows, outages, storms).

Measured (CPython 3.11, numpy 2.4, 2 cores; replication 0 in a fresh process after a
short warm-up replication, so imports and first-call caches are not counted: they are
part of ``PROCESS_BYTES``, ~54 MB of RSS for the interpreter with the model imported
and run once). Peak RSS above that, the tracemalloc peak, and the estimate::

    scenario                                 boxes  stages  days  RSS MB  traced MB  est. MB
    tests/scenarios/tiny.toml                4,511    5      120     0.8       1.1      1.7
    tiny, horizon 1,000 d                   36,670    5    1,000     8.2       7.5     10.5
    tiny, horizon 3,650 d                  136,104    5    3,650    28.4      27.4     36.9
    tiny, main flow 2 M TEU/yr (and the
      capacity to carry it)                366,210    5      120    84.6      78.1     87.9
    scenarios/baseline.toml                140,720    8    1,215    43.5      41.8     43.1
    baseline, horizon 4,860 d              557,265    8    4,860   167.8     162.5    171.0
    benchmarks/scenarios/baseline_2m.toml  1,564,275  8      485   433.3     428.1    442.2

That is 324 bytes per box for the baseline corridor (8 stages), 290 for ``baseline_2m``
(whose 489 MB in docs/performance.md is the whole process's peak RSS, interpreter
included). Closure intervals, measured as the
RSS difference over tiny at 3,650 d: a window repeating every hour (87,600 intervals)
+27 MB (308 bytes each); an outage with ``mtbf_h = 1`` (~58,400 intervals) +11 MB.

The constants below were fitted to these runs (least squares) and rounded.

A run keeps one record per replication (daily series per node, up to 50,000 transit
samples, the KPIs), ``estimate_record_bytes``; replications running at once each
need a process of their own (``PROCESS_BYTES``). :func:`check_run_size` refuses a run
whose total exceeds ``HEADROOM`` of the memory available (``MemAvailable`` of
``/proc/meminfo``, capped by a cgroup memory limit; ``os.sysconf`` elsewhere; no
check when neither can be read), naming the key most responsible.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

from sim.errors import ScenarioError
from sim.scenario.schema import (
    OutageDisruption,
    PortNode,
    Scenario,
    WindowDisruption,
)

GIB = float(2**30)
HOURS_PER_DAY = 24.0
HOURS_PER_YEAR = 8760.0
HOURS_PER_MONTH = HOURS_PER_YEAR / 12.0

BYTES_FIXED = 2**19
"""One replication's memory whatever its size: processes, monitors, streams."""
BYTES_PER_BOX_BASE = 170
BYTES_PER_BOX_STAGE = 16
BYTES_PER_NODE_DAY = 220
BYTES_PER_INTERVAL = 320
PROCESS_BYTES = 64 * 2**20
"""A worker process: the interpreter with numpy, SimPy, pydantic and the model, run once
(~54 MB of RSS measured)."""
RECORD_BYTES_PER_ELEMENT = 2_048
"""A record's KPIs per node, leg, fleet, flow and wagon pool (dicts of floats)."""
MAX_TRANSIT_SAMPLES = 50_000  # as sim.model.measure
HEADROOM = 0.8
"""Share of the available memory a run may plan to use."""
LONG_HORIZON_DAYS = 3_650
"""Beyond ten years, a run too big for memory is blamed on its horizon, not its demand."""


# --------------------------------------------------------------------------------------
# What a scenario generates
# --------------------------------------------------------------------------------------


def _horizon_h(model: Scenario) -> float:
    return model.scenario.horizon_days * HOURS_PER_DAY


def _monthly_integral(rates: list[float], horizon_h: float) -> float:
    """``∫ rate`` over ``[0, horizon_h)`` for a rate that repeats ``rates`` month by month
    (months of 730 h from 1 January, as the model's demand and weather)."""
    whole_years, rest_h = divmod(horizon_h, HOURS_PER_YEAR)
    total = whole_years * sum(rates) * HOURS_PER_MONTH
    for m in range(12):
        if rest_h <= 0:
            break
        span = min(rest_h, HOURS_PER_MONTH)
        total += rates[m] * span
        rest_h -= span
    return total


def expected_boxes(model: Scenario) -> dict[str, float]:
    """Mean number of boxes each flow creates over the horizon (as :mod:`sim.model.demand`)."""
    from sim.model.demand import block_composition

    horizon_h = _horizon_h(model)
    out = {}
    for fid, flow in model.flows.items():
        season = flow.seasonality
        mean = sum(season) / len(season)
        teu_per_h = [flow.annual_teu / HOURS_PER_YEAR * s / mean for s in season]
        teu = _monthly_integral(teu_per_h, horizon_h)
        if flow.arrivals == "poisson":
            boxes = teu / (1.0 + flow.feu_share)
        else:
            feu, single = block_composition(flow)
            per_train_teu = 2 * feu + single
            boxes = teu / per_train_teu * (feu + single) if per_train_teu > 0 else 0.0
        out[fid] = boxes
    return out


def expected_intervals(model: Scenario) -> dict[str, float]:
    """Closure intervals the disruptions and storms add, by the key that sets their number."""
    horizon_h = _horizon_h(model)
    out: dict[str, float] = {}
    for did, dis in model.disruptions.items():
        if not dis.enabled:
            continue
        if isinstance(dis, OutageDisruption):
            out[f"disruptions.{did}.mtbf_h"] = horizon_h / (dis.mtbf_h + dis.mttr_h.mean())
        elif isinstance(dis, WindowDisruption) and dis.every_days is not None:
            span_h = max(0.0, horizon_h - dis.start_day * HOURS_PER_DAY)
            out[f"disruptions.{did}.every_days"] = span_h / (dis.every_days * HOURS_PER_DAY) + 1
        else:
            out[f"disruptions.{did}"] = 1.0
    for rid, region in model.weather.items():
        storms = _monthly_integral(
            [r / HOURS_PER_MONTH for r in region.storm_rate_per_month], horizon_h
        )
        ports = sum(
            n.storm_sensitivity
            for n in model.nodes.values()
            if isinstance(n, PortNode) and n.weather_region == rid
        )
        out[f"weather.{rid}.storm_rate_per_month"] = storms * (1.0 + ports)
    return out


def _stages(model: Scenario) -> int:
    return max(len(f.route) for f in model.flows.values())


def _parts(model: Scenario) -> dict[str, float]:
    """Bytes of one replication's peak by the key responsible (the fixed part under "")."""
    days = model.scenario.horizon_days
    per_box = BYTES_PER_BOX_BASE + BYTES_PER_BOX_STAGE * _stages(model)
    parts: dict[str, float] = {"": float(BYTES_FIXED)}
    for fid, boxes in expected_boxes(model).items():
        parts[f"flows.{fid}.annual_teu"] = boxes * per_box
    parts["scenario.horizon_days"] = days * len(model.nodes) * BYTES_PER_NODE_DAY
    for key, n in expected_intervals(model).items():
        parts[key] = parts.get(key, 0.0) + n * BYTES_PER_INTERVAL
    return parts


def estimate_replication_bytes(model: Scenario) -> int:
    """Peak memory of one replication of ``model`` (bytes above the interpreter)."""
    return int(math.ceil(sum(_parts(model).values())))


def estimate_record_bytes(model: Scenario) -> int:
    """Memory of the record one replication leaves to the run (kept until it ends)."""
    days = math.ceil(model.scenario.horizon_days)
    series = days * (3 * len(model.nodes) + 1) * 8
    study = set(model.study_flow_ids())
    study_boxes = sum(b for fid, b in expected_boxes(model).items() if fid in study)
    transit = min(study_boxes, MAX_TRANSIT_SAMPLES) * 4
    elements = (
        len(model.nodes)
        + len(model.legs)
        + len(model.flows)
        + len(model.fleets)
        + len(model.wagon_pools)
        + 2
    )
    return int(series + transit + elements * RECORD_BYTES_PER_ELEMENT)


# --------------------------------------------------------------------------------------
# What the machine has
# --------------------------------------------------------------------------------------


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def _cgroup_room() -> int | None:
    """Bytes this process's cgroup may still allocate (None: no limit found)."""
    root = Path("/sys/fs/cgroup")
    for limit_file, usage_file in (
        ("memory.max", "memory.current"),  # cgroup v2
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),  # v1
    ):
        limit = _read_int(root / limit_file)
        usage = _read_int(root / usage_file)
        if limit is not None and usage is not None and limit < 2**60:
            return max(0, limit - usage)
    return None


def memory_available() -> tuple[int | None, int | None]:
    """(available, total) bytes of memory, or None where they cannot be read.

    Available is ``MemAvailable`` of ``/proc/meminfo`` (what can be allocated without
    swapping), capped by the room left under a cgroup memory limit (containers).
    """
    available = total = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                name, _, rest = line.partition(":")
                fields = rest.split()
                if not fields or not fields[0].isdigit():
                    continue
                if name == "MemAvailable":
                    available = int(fields[0]) * 1024
                elif name == "MemTotal":
                    total = int(fields[0]) * 1024
    except OSError:
        pass
    if available is None or total is None:
        try:
            page = os.sysconf("SC_PAGE_SIZE")
            if available is None:
                available = os.sysconf("SC_AVPHYS_PAGES") * page
            if total is None:
                total = os.sysconf("SC_PHYS_PAGES") * page
        except (AttributeError, ValueError, OSError):
            pass
    room = _cgroup_room()
    if room is not None:
        available = room if available is None else min(available, room)
    if available is not None and available <= 0:
        available = None  # an unreadable figure, not a machine without memory
    return available, total


# --------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------


def run_bytes(model: Scenario, concurrent_replications: int) -> int:
    """Memory of the whole run: the replications running at once (a process each) and
    the records of every replication."""
    concurrent = max(1, min(concurrent_replications, model.scenario.replications))
    one = PROCESS_BYTES + estimate_replication_bytes(model)
    return concurrent * one + model.scenario.replications * estimate_record_bytes(model)


def _responsible_key(model: Scenario, concurrent: int) -> str:
    """The key whose value makes the run big: the largest part of its memory."""
    parts = {k: v * concurrent for k, v in _parts(model).items() if k}
    parts["scenario.replications"] = model.scenario.replications * estimate_record_bytes(model)
    key = max(parts, key=lambda k: parts[k])
    if key.startswith("flows.") and model.scenario.horizon_days > LONG_HORIZON_DAYS:
        return "scenario.horizon_days"
    return key


def check_run_size(
    model: Scenario,
    source: str | Callable[[str], str],
    concurrent_replications: int,
    available_bytes: int | None = None,
) -> None:
    """Raise :class:`ScenarioError` if a run of ``model`` with ``concurrent_replications``
    replications at once would need more than ``HEADROOM`` of the memory available.

    ``source`` is the file (or flag) named in the error, with the key most responsible;
    it may be a function of that key (the file or flag that set it). ``available_bytes``
    overrides what the machine reports (tests); when neither is known, nothing is
    checked.
    """
    if available_bytes is None:
        available_bytes, _ = memory_available()
    if available_bytes is None:
        return
    allowed = HEADROOM * available_bytes
    concurrent = max(1, min(concurrent_replications, model.scenario.replications))
    need = run_bytes(model, concurrent)
    if need <= allowed:
        return
    one = estimate_replication_bytes(model)
    boxes = sum(expected_boxes(model).values())
    key = _responsible_key(model, concurrent)
    fewer = ""
    if concurrent > 1 and run_bytes(model, 1) <= allowed:
        fewer = ", or run fewer replications at once (--workers)"
    raise ScenarioError(
        source(key) if callable(source) else source,
        key,
        f"expected a run that fits in memory: it needs ~{need / GIB:.1f} GiB "
        f"(one replication ~{one / GIB:.2f} GiB for {boxes:,.0f} boxes, {concurrent} at once, "
        f"records of {model.scenario.replications}) but {allowed / GIB:.1f} GiB can be used "
        f"({HEADROOM:.0%} of {available_bytes / GIB:.1f} GiB available); lower this value"
        f"{fewer}",
    )
