"""The record of the last calibration run, and the one line every baseline run shows.

``corridor calibrate`` on the baseline writes ``docs/calibration_status.json`` (committed
with the source tree): the date, the scenario, the commit and version, the run settings and,
per published target, met or missed with the model value and the published band. This
module builds, writes and reads that file, decides whether it applies to a scenario (the
baseline, or a scenario whose chain of ``extends`` reaches it), and formats it:

* :func:`verdict_line` — the first line of ``corridor calibrate``'s output;
* :func:`status_line` — the line a run's console and report show, e.g.
  ``Calibration (2026-12-04, baseline): meets 8 of 19 published targets (4 of the 9 it was
  calibrated to); misses: Khorgos time per box, ...``.

A *target* is a published figure with an acceptance range (every role but "context").
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import subprocess
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError
from sim.locations import BASELINE_REL, source_root

STATUS_REL = Path("docs") / "calibration_status.json"
"""The status file, relative to the source tree's root."""
KIND = "corridor calibration status"
"""Marks a file this module wrote (another file at the path is never replaced)."""
MAX_CHAIN = 32


def status_file() -> Path | None:
    """``docs/calibration_status.json`` of the source tree, or ``None`` without one."""
    root = source_root()
    return root / STATUS_REL if root is not None else None


# --------------------------------------------------------------------------------------
# Building and writing (``corridor calibrate``)
# --------------------------------------------------------------------------------------


def _git_commit(root: Path | None) -> str | None:
    """Short commit of ``root``'s checkout, ``+dirty`` when sim/ or scenarios/ differ
    from it; ``None`` without git."""
    if root is None:
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(root), "diff", "--quiet", "HEAD", "--", "sim", "scenarios"],
            capture_output=True, timeout=10,
        ).returncode  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head or None


def build_status(rows: Sequence[Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """The status document from calibration rows (:class:`sim.experiments.calibrate.
    CalibrationRow`) and the run's ``meta`` (``scenario``, ``sha256``, ``replications``,
    ``seed``, ``horizon_days``, ``warmup_days``, ``command``, ``version``; optional
    ``date`` as ``YYYY-MM-DD``, default today in UTC)."""
    targets = []
    for row in rows:
        f = row.figure
        if f.role == "context":
            continue
        targets.append(
            {
                "id": f.id,
                "label": f.label or f.id,
                "role": f.role,
                "verdict": {"pass": "met", "fail": "missed"}.get(row.verdict, "not measured"),
                "model": {k: row.model.get(k) for k in ("mean", "ci95_low", "ci95_high", "n")},
                "published": {
                    "low": f.low,
                    "high": f.high,
                    "unit": f.unit,
                    "text": f.published,
                    "acceptance": f.acceptance,
                },
                "sources": list(f.sources),
            }
        )
    root = source_root()
    return {
        "kind": KIND,
        "date": meta.get("date") or _dt.datetime.now(_dt.UTC).date().isoformat(),
        "scenario": meta.get("scenario"),
        "scenario_file": BASELINE_REL.as_posix(),
        "scenario_sha256": meta.get("sha256"),
        "commit": meta.get("commit", _git_commit(root)),
        "version": meta.get("version"),
        "replications": meta.get("replications"),
        "seed": meta.get("seed"),
        "horizon_days": meta.get("horizon_days"),
        "warmup_days": meta.get("warmup_days"),
        "gridlocked_replications": list(meta.get("gridlocked_replications") or []),
        "command": meta.get("command"),
        **counts({"targets": targets}),
        "targets": targets,
    }


def counts(status: Mapping[str, Any]) -> dict[str, Any]:
    """``met``/``total`` over all targets and over the calibrated ones, and the ids missed
    and not measured."""
    targets = status.get("targets") or []
    calibrated = [t for t in targets if t.get("role") == "calibrated"]
    return {
        "met": sum(t.get("verdict") == "met" for t in targets),
        "total": len(targets),
        "calibrated_met": sum(t.get("verdict") == "met" for t in calibrated),
        "calibrated_total": len(calibrated),
        "missed": [t["id"] for t in targets if t.get("verdict") == "missed"],
        "not_measured": [t["id"] for t in targets if t.get("verdict") == "not measured"],
    }


def all_met(status: Mapping[str, Any]) -> bool:
    """Every target met (none missed, none without a model value)."""
    c = counts(status)
    return c["total"] > 0 and c["met"] == c["total"]


def _is_status_file(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("kind") == KIND


def check_status_target(path: Path) -> None:
    """Refuse (exit 2, before any work) a path that is a folder or a file this module did
    not write."""
    if path.is_dir():
        raise ScenarioError(str(path), None, "is a folder; expected the calibration status file")
    if path.exists() and not _is_status_file(path):
        raise ScenarioError(
            str(path),
            None,
            f"exists and is not a calibration status written by `corridor calibrate` (no "
            f'"kind": "{KIND}"); not replaced — move it away or pass --no-status',
        )


def write_status(path: Path, status: Mapping[str, Any]) -> Path:
    """Write ``status`` to ``path`` whole or not at all (a temporary file, then a rename)."""
    check_status_target(path)
    text = json.dumps(status, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".calibration_status.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_status(path: Path | None = None) -> dict[str, Any] | None:
    """The status document at ``path`` (default :func:`status_file`); ``None`` when absent,
    unreadable or not a status file."""
    path = path if path is not None else status_file()
    if path is None:
        return None
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        return None
    if not isinstance(doc.get("targets"), list):
        return None
    return doc


# --------------------------------------------------------------------------------------
# Does the status apply to a scenario?
# --------------------------------------------------------------------------------------


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or os.path.samefile(a, b)
    except OSError:
        return False


def _chain(path: Path) -> list[Path]:
    """``path`` and the files its ``extends`` chain names, most-derived first; stops at a
    file that cannot be read (the loader reports those errors, not this check)."""
    chain: list[Path] = []
    current: Path | None = path
    while current is not None and len(chain) < MAX_CHAIN:
        if any(_same_file(current, seen) for seen in chain):
            break
        chain.append(current)
        try:
            base = tomllib.loads(current.read_text(encoding="utf-8")).get("extends")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            break
        if not isinstance(base, str):
            break
        base_path = Path(base)
        current = base_path if base_path.is_absolute() else current.parent / base_path
    return chain


def _resolved_sha256(resolved: Mapping[str, Any]) -> str:
    """The loader's digest of a resolved scenario (``LoadedScenario.sha256``)."""
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()


def _baseline_sha256(baseline: Path) -> str | None:
    from sim.scenario.loader import load_scenario

    try:
        return load_scenario(baseline).sha256
    except ScenarioError:
        return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _scenario_reference(scenario: Any) -> tuple[Path | None, str | None]:
    """``(scenario file, sha256 of the resolved scenario)`` from whatever was given."""
    from sim.scenario.loader import LoadedScenario

    if isinstance(scenario, LoadedScenario):
        return scenario.path, scenario.sha256
    if isinstance(scenario, Mapping):
        meta = scenario.get("scenario")
        if isinstance(meta, Mapping) and ("file" in meta or "sha256" in meta):  # summary.json
            return (Path(str(meta["file"])) if meta.get("file") else None), meta.get("sha256")
        if "file" in scenario or "sha256" in scenario:  # summary.json's "scenario" entry
            return (Path(str(scenario["file"])) if scenario.get("file") else None), scenario.get(
                "sha256"
            )
        return None, _resolved_sha256(scenario)  # a resolved scenario
    path = Path(scenario)
    if path.is_dir():  # a results folder
        summary = _read_json(path / "summary.json")
        if isinstance(summary, Mapping):
            return _scenario_reference(summary)
        resolved = _read_json(path / "scenario.resolved.json")
        return (None, _resolved_sha256(resolved)) if isinstance(resolved, Mapping) else (None, None)
    if path.suffix.lower() == ".json":
        doc = _read_json(path)  # summary.json or a resolved scenario
        return _scenario_reference(doc) if isinstance(doc, Mapping) else (None, None)
    return path, None


def calibration_status(
    scenario: Any, status_path: Path | None = None
) -> dict[str, Any] | None:
    """The last calibration's status when it applies to ``scenario``, else ``None``.

    ``scenario`` is a scenario file (TOML: applies when it is the baseline or its chain of
    ``extends`` reaches the baseline), a :class:`~sim.scenario.loader.LoadedScenario`, a
    results folder or its ``summary.json`` (the scenario file the run names), or a resolved
    scenario (a dict or ``scenario.resolved.json``: applies only when it *is* the baseline).
    ``status_path`` defaults to :func:`status_file`.

    The returned dict is the status document plus ``status_file`` (where it was read),
    ``applies_via`` (``"baseline"`` or ``"extends"``) and ``baseline_changed`` (the baseline
    file no longer resolves to the scenario that was calibrated; ``None`` if unknown).
    """
    status = read_status(status_path)
    root = source_root()
    if status is None or root is None:
        return None
    baseline = root / str(status.get("scenario_file") or BASELINE_REL.as_posix())
    if not baseline.is_file():
        return None
    path, sha = _scenario_reference(scenario)
    via = None
    if path is not None:
        candidates = [path] if path.is_absolute() else [path, root / path]
        for candidate in candidates:
            if candidate.is_file():
                chain = _chain(candidate)
                if any(_same_file(f, baseline) for f in chain):
                    via = "baseline" if _same_file(chain[0], baseline) else "extends"
                break
    current = _baseline_sha256(baseline)
    if via is None and sha is not None and sha == current:
        via = "baseline"
    if via is None:
        return None
    recorded = status.get("scenario_sha256")
    changed = None if recorded is None or current is None else recorded != current
    return {
        **status,
        "status_file": str(status_path or status_file()),
        "applies_via": via,
        "baseline_changed": changed,
    }


# --------------------------------------------------------------------------------------
# The lines
# --------------------------------------------------------------------------------------


def _labels(status: Mapping[str, Any], ids: Sequence[str]) -> str:
    by_id = {t.get("id"): t for t in status.get("targets") or []}
    return ", ".join(str(by_id.get(i, {}).get("label") or i) for i in ids)


def _tally(status: Mapping[str, Any], noun: str) -> str:
    c = counts(status)
    text = f"{c['met']} of {c['total']} {noun}"
    if c["calibrated_total"]:
        text += f" ({c['calibrated_met']} of the {c['calibrated_total']} it was calibrated to)"
    return text


def _misses(status: Mapping[str, Any], word: str) -> str:
    c = counts(status)
    text = f"; {word}: {_labels(status, c['missed'])}" if c["missed"] else ""
    if c["not_measured"]:
        text += f"; not measured: {_labels(status, c['not_measured'])}"
    return text


def verdict_line(status: Mapping[str, Any]) -> str:
    """The first line of ``corridor calibrate``: ``calibration: 8 of 19 targets met (4 of
    the 9 it was calibrated to); missed: ... (baseline, 2026-12-04)``."""
    line = "calibration: " + _tally(status, "targets met") + _misses(status, "missed")
    grid = status.get("gridlocked_replications") or []
    if grid:
        line += f"; {len(grid)} replication(s) stopped in gridlock"
    return f"{line} ({status.get('scenario')}, {status.get('date')})"


def status_line(status: Mapping[str, Any]) -> str:
    """One line for a run's console and report: ``Calibration (2026-12-04, baseline):
    meets 8 of 19 published targets (4 of the 9 it was calibrated to); misses: ...``.

    Adds "the baseline has changed since" when ``status["baseline_changed"]`` is true.
    """
    line = (
        f"Calibration ({status.get('date')}, {status.get('scenario')}): meets "
        + _tally(status, "published targets")
        + _misses(status, "misses")
    )
    if status.get("baseline_changed"):
        line += "; the baseline has changed since (rerun corridor calibrate)"
    return line
