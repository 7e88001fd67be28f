"""Parameter sweeps: full-factorial grids and Latin-hypercube samples over scenario keys.

Each point is the base scenario with a few dotted keys overridden (validated
exactly like ``--set``), replicated with common random numbers (the same
replication indices at every point). Points are written one file each under
``DIR/points/`` as they finish, so an interrupted sweep resumes where it
stopped; a point that fails (bad value, model error) is recorded with its
error and does not stop the others.

Each point is flagged (``sweep.json`` ``flags``, ``sweep.csv`` boolean columns):
*saturated* when its most utilised stage is busy at least :data:`SATURATED_UTILISATION`
of the time on average or a replication gridlocked (demand at or above capacity: the
queue grows over the horizon, so its KPIs depend on the horizon, not on a steady state),
*transit biased* when more than :data:`~sim.outputs.summary.BIAS_THRESHOLD` of the TEU
created after the warm-up were still inside at the horizon. A flagged point is never
called the "best" one. ``response`` gives, per varied key and consecutive pair of its
levels, the paired difference of each KPI (common random numbers: the same replication
indices at every point), so a reader sees where the response changes and where it is
within noise.

Each point also carries its per-replication ``records`` (as its ``points/*.json`` holds
them), so a heat map compares cells with the paired test over common replications. A
factorial sweep's ``reference`` is the base scenario's values of the varied keys, each
moved to the nearest grid level when the base value is not one (``reference_note`` says
so): the heat maps show every cell's difference to that point.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import os
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError
from sim.experiments.replications import BULKY, kpi_value, run_chunk
from sim.outputs.summary import BIAS_THRESHOLD
from sim.scenario.loader import load_scenario, parse_override
from sim.stats import paired_difference, summarise

TRANSIENT = "transient"
"""Status of a point that failed for a reason outside its inputs; retried on resume."""
FINAL = ("ok", "failed")
"""Statuses stored in ``points/`` and kept on resume."""

SWEEP_KPIS = (
    "throughput_teu_per_week",
    "transit_days_mean",
    "transit_days_p50",
    "transit_days_p95",
    "bottleneck_utilisation",
    "in_system_teu_end",
    "cohort_inside_share",
)
SATURATED_UTILISATION = 0.98
"""Mean busy share of the most utilised stage from which a point counts as saturated."""
FLAGS = ("saturated", "transit_biased", "gridlock")
"""Boolean flags of a point, in ``sweep.json`` and as ``sweep.csv`` columns."""
MAX_RESPONSE_STEPS = 200
"""Steps (pairs of neighbouring levels) kept in ``sweep.json``'s ``response``."""


def parse_vary(text: str) -> tuple[str, list[Any]]:
    """``key=v1,v2,...`` -> (key, values); each value read like a ``--set`` value."""
    key, sep, values = text.partition("=")
    if not sep or not values.strip():
        raise ScenarioError("--vary", text, "expected KEY.PATH=V1,V2,...")
    parsed = [parse_override(f"{key}={v}", "--vary")[1] for v in values.split(",")]
    return key.strip(), parsed


def parse_sample(text: str) -> tuple[str, float, float]:
    """``key=lo:hi`` -> (key, lo, hi)."""
    key, sep, rng = text.partition("=")
    lo_text, colon, hi_text = rng.partition(":")
    try:
        lo, hi = float(lo_text), float(hi_text)
    except ValueError:
        raise ScenarioError("--sample", text, "expected KEY.PATH=LOW:HIGH with numbers") from None
    if not sep or not colon or not hi > lo:
        raise ScenarioError("--sample", key or text, "expected KEY.PATH=LOW:HIGH with LOW < HIGH")
    integer = lo_text.strip().lstrip("-").isdigit() and hi_text.strip().lstrip("-").isdigit()
    return key.strip(), (int(lo) if integer else lo), (int(hi) if integer else hi)


def check_key(resolved: dict[str, Any], key: str, flag: str) -> None:
    """Refuse a varied key that the base scenario does not have (every point would fail)."""
    node: Any = resolved
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(parts[:i]) or "the scenario"
            choices = list(node) if isinstance(node, dict) else []
            near = difflib.get_close_matches(part, choices, n=1)
            hint = f" (did you mean {'.'.join(parts[:i] + [near[0]])!r}?)" if near else ""
            raise ScenarioError(
                flag, key, f"expected a key of the base scenario: {where} has no {part!r}{hint}"
            )
        node = node[part]


def factorial(varies: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """Every combination of the varied values (first key slowest)."""
    keys = [k for k, _ in varies]
    return [
        dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(v for _, v in varies))
    ]


def latin_hypercube(
    samples: Sequence[tuple[str, float, float]], n: int, seed: int
) -> list[dict[str, Any]]:
    """``n`` Latin-hypercube points; integer ranges give integers (stratified, then rounded)."""
    from scipy.stats import qmc

    unit = qmc.LatinHypercube(d=len(samples), seed=seed).random(n)
    points = []
    for row in unit:
        point = {}
        for (key, lo, hi), u in zip(samples, row, strict=True):
            value = lo + u * (hi - lo)
            point[key] = int(round(value)) if isinstance(lo, int) else float(value)
        points.append(point)
    return points


def _point_id(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def run_point(
    base_path: str, overrides: list, values: dict[str, Any], indices: list[int]
) -> dict[str, Any]:
    """One sweep point on a worker: load with the point's overrides, run, summarise.

    A failure whose reason is in the point's inputs (a value the scenario refuses, a
    model error for these values) is returned as ``status = "failed"`` and stays
    failed on resume. A failure of the surroundings (out of memory, disk full) is
    ``status = "transient"``: it is reported but not stored, so a resumed sweep
    retries it. A killed worker never returns; the caller treats it as transient.
    """
    point_overrides = list(overrides) + [
        ("--vary/--sample", f"{k}={json.dumps(v)}") for k, v in values.items()
    ]
    try:
        scenario = load_scenario(base_path, point_overrides).model
        records = run_chunk(scenario, indices, drop=BULKY)
    except ScenarioError as exc:
        return {"values": values, "status": "failed", "error": str(exc), "records": []}
    except (MemoryError, OSError) as exc:
        msg = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return {"values": values, "status": TRANSIENT, "error": msg, "records": []}
    except Exception as exc:  # noqa: BLE001 - recorded, the sweep goes on
        msg = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return {"values": values, "status": "failed", "error": msg, "records": []}
    rows = [
        {k: kpi_value(r, k) for k in SWEEP_KPIS}
        | {"replication": r["replication"], "gridlock": bool(r.get("gridlock"))}
        for r in records
    ]
    return {"values": values, "status": "ok", "error": None, "records": rows}


def write_point(points_dir: Path, result: dict[str, Any]) -> None:
    """Store a finished point atomically (resume reads these files).

    The file is written under a temporary name, flushed to disk and renamed, so a
    failed write (disk full, a kill) never leaves a truncated point under its name.
    """
    points_dir.mkdir(parents=True, exist_ok=True)
    target = points_dir / f"{_point_id(result['values'])}.json"
    tmp = points_dir / f".{target.stem}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:  # mode from the umask
            json.dump(result, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


POINT_KEYS = {"values", "status", "error", "records"}
PENDING = {
    "status": "not run",
    "error": "not run yet: run the same command to resume",
    "records": [],
}


def load_done(points_dir: Path) -> dict[str, dict[str, Any]]:
    """Points finished in an earlier (interrupted) run, by point id.

    A file that cannot be read back whole, or a point that did not finish for a
    transient reason, is not done: the point runs again.
    """
    done = {}
    if points_dir.is_dir():
        for f in sorted(points_dir.glob("*.json")):
            try:
                result = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if (
                isinstance(result, dict)
                and set(result) >= POINT_KEYS
                and result["status"] in FINAL
                and _point_id(result["values"]) == f.stem
            ):
                done[f.stem] = result
    return done


def point_key(values: dict[str, Any]) -> str:
    return _point_id(values)


def point_flags(status: str, kpis: dict[str, dict], records: list[dict]) -> dict[str, bool]:
    """``saturated``, ``transit_biased`` and ``gridlock`` of one point (all false for a
    point without results)."""
    if status != "ok":
        return dict.fromkeys(FLAGS, False)
    rho = kpis["bottleneck_utilisation"]["mean"]
    share = kpis["cohort_inside_share"]["mean"]
    gridlock = any(bool(r.get("gridlock")) for r in records)
    return {
        "saturated": gridlock or (rho is not None and rho >= SATURATED_UTILISATION),
        "transit_biased": share is not None and share > BIAS_THRESHOLD,
        "gridlock": gridlock,
    }


def _by_replication(res: dict[str, Any], kpi: str) -> dict[int, float | None]:
    return {row["replication"]: row.get(kpi) for row in res["records"]}


def response_steps(
    varied: list[str], design: str, points: list[dict[str, Any]], results: dict[str, dict]
) -> list[dict[str, Any]]:
    """Per varied key, each pair of neighbouring levels (the other keys held at each of
    their combinations, pooled): the paired difference ``to - from`` of every KPI over
    the common replications. Factorial designs only (an LHS has no neighbours)."""
    if design != "factorial":
        return []
    ok = {
        point_key(v): results[point_key(v)]
        for v in points
        if (results.get(point_key(v)) or {}).get("status") == "ok"
    }
    steps = []
    for key in varied:
        levels = sorted({v[key] for v in points}, key=lambda x: (not isinstance(x, int | float), x))
        for a, b in zip(levels, levels[1:], strict=False):
            pairs = []
            for v in points:
                if v[key] != a:
                    continue
                w = dict(v, **{key: b})
                if point_key(v) in ok and point_key(w) in ok:
                    pairs.append((ok[point_key(v)], ok[point_key(w)]))
            if not pairs:
                continue
            diffs = {}
            for kpi in SWEEP_KPIS:
                # one value per replication: the mean over the pooled pairs of points
                per_rep: dict[int, list[tuple[float, float]]] = {}
                for lo, hi in pairs:
                    x, y = _by_replication(lo, kpi), _by_replication(hi, kpi)
                    for r in x.keys() & y.keys():
                        if x[r] is not None and y[r] is not None:
                            per_rep.setdefault(r, []).append((x[r], y[r]))
                reps = sorted(r for r, xs in per_rep.items() if len(xs) == len(pairs))
                base = [sum(p[0] for p in per_rep[r]) / len(pairs) for r in reps]
                alt = [sum(p[1] for p in per_rep[r]) / len(pairs) for r in reps]
                d = paired_difference(alt, base)
                lo_, hi_ = d["ci95_low"], d["ci95_high"]
                d["clear"] = lo_ is not None and hi_ is not None and (lo_ > 0 or hi_ < 0)
                diffs[kpi] = d
            steps.append({"key": key, "from": a, "to": b, "pairs": len(pairs), "kpis": diffs})
            if len(steps) >= MAX_RESPONSE_STEPS:
                return steps
    return steps


def base_values(resolved: dict[str, Any], varied: Sequence[str]) -> dict[str, Any]:
    """The base scenario's value of each varied dotted key (keys it lacks left out)."""
    out = {}
    for key in varied:
        node: Any = resolved
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None and not isinstance(node, dict | list):
            out[key] = node
    return out


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x)


def _text(v: Any) -> str:
    """A key's value as the note shows it: 800.0 as 800, strings quoted."""
    if isinstance(v, float) and v.is_integer():
        return f"{v:.0f}"
    return repr(v)


def _same(a: Any, b: Any) -> bool:
    """Equal values of a key (8 and 8.0 alike, but not True and 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def grid_reference(
    base: dict[str, Any], varied: Sequence[str], points: Sequence[dict[str, Any]]
) -> tuple[dict[str, Any] | None, str | None]:
    """The grid point nearest the base scenario: per varied key, the base value when it is
    a level of the grid, else the nearest numeric level (else the first level). Returns
    the reference values and a note naming each key moved to a grid level (None when the
    base itself is a grid point); ``(None, None)`` without points or base values."""
    if not points or any(k not in base for k in varied):
        return None, None
    ref, moved = {}, []
    for key in varied:
        levels = []
        for v in points:
            if not any(_same(v[key], x) for x in levels):
                levels.append(v[key])
        value = base[key]
        same = [x for x in levels if _same(x, value)]
        if same:
            ref[key] = same[0]
            continue
        numeric = [x for x in levels if _number(x) is not None]
        if _number(value) is not None and numeric:
            pick = min(numeric, key=lambda x: (abs(_number(x) - _number(value)), _number(x)))
        else:
            pick = levels[0]
        ref[key] = pick
        moved.append(f"{key} is {_text(value)} in the base, not a level of the grid: "
                     f"{_text(pick)} is used")
    note = None
    if moved:
        note = ("The heat maps' reference is the grid point nearest the base scenario ("
                + "; ".join(moved) + ").")
    return ref, note


def summarise_sweep(
    base_name: str,
    varied: list[str],
    design: str,
    points: list[dict[str, Any]],
    results: dict[str, dict[str, Any]],
    provenance: dict[str, Any],
    base: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``sweep.json``: per point, its values, status, flags, KPI summaries and
    per-replication records. ``base``: the base scenario's values of the varied keys
    (:func:`base_values`); a factorial sweep's ``reference`` is the grid point nearest
    them (:func:`grid_reference`)."""
    out_points = []
    for k, values in enumerate(points):
        res = results.get(point_key(values)) or PENDING | {"values": values}
        kpis = {kpi: summarise(row[kpi] for row in res["records"]) for kpi in SWEEP_KPIS}
        out_points.append(
            {
                "point": k,
                "values": values,
                "status": res["status"],
                "error": res["error"],
                "flags": point_flags(res["status"], kpis, res["records"]),
                "kpis": kpis,
                "records": res["records"],
            }
        )
    reference, note = (None, None)
    if design == "factorial" and base:
        reference, note = grid_reference(base, varied, points)
    return {
        "kind": "sweep",
        "base": base_name,
        "varied": varied,
        "design": design,
        "reference": reference,
        "reference_note": note,
        "kpis": list(SWEEP_KPIS),
        "flag_rules": {
            "saturated": f"most utilised stage busy >= {SATURATED_UTILISATION:.0%} of the "
            "time (mean over replications) or a replication gridlocked",
            "transit_biased": f"more than {BIAS_THRESHOLD:.0%} of the TEU created after the "
            "warm-up still inside at the horizon (mean over replications)",
            "gridlock": "a replication stopped in gridlock",
        },
        "points": out_points,
        "response": response_steps(varied, design, points, results),
        "provenance": provenance,
    }


def tidy_rows(sweep: dict[str, Any], results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per point x replication (failed points: one row with the error)."""
    rows = []
    for p in sweep["points"]:
        res = results.get(point_key(p["values"])) or PENDING
        base = {"point": p["point"], **p["values"], "status": p["status"], **p["flags"]}
        if not res["records"]:
            rows.append(base | {"error": p["error"]})
        for rec in res["records"]:
            rows.append(base | rec)
    return rows
