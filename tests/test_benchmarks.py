"""Smoke test of the benchmark script (slow: ``python -m pytest -m slow tests/test_benchmarks.py``).

The benchmark itself is ``python benchmarks/run.py`` (see docs/performance.md); this
only checks that its quick mode runs end to end and writes its JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmark_quick_mode_writes_its_table_and_json(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick",
           "--only", "scale", "reference", "budget", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (out,) = tmp_path.glob("*.json")
    result = json.loads(out.read_text())
    rows = result["scale"]["rows"]
    assert all(r["containers"] > 0 and r["events_per_container"] < 1 for r in rows)
    assert result["reference"]["rows"][0]["speedup_cpu"] > 1
    assert "boxes/s" in proc.stdout
    budget = result["budget"]
    phases, per_trip = budget["phases"], budget["budget"]
    assert per_trip["trips"] == phases["train_runs"] + phases["sailings"] > 0
    # a trip schedules several events and does work besides them
    assert per_trip["events_per_trip"] > 2
    assert per_trip["run_us_per_trip"] > per_trip["bare_events_us_per_trip"] > 0
    assert "us per trip" in proc.stdout
