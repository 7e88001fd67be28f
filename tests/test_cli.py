"""The command line: a full run writes a complete results folder; bad input exits 2.

Every bad-input class named by the spec gets a one-line error that names the
file (or ``--set``), the key path and what was expected — no traceback, and
no results folder.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main
from sim.scenario.loader import load_scenario

TINY_TEXT = (Path(__file__).parent / "scenarios" / "tiny.toml").read_text()


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse
        rc = int(exc.code)
    out, err = capsys.readouterr()
    return rc, out, err


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _replace(old: str, new: str) -> str:
    assert old in TINY_TEXT, old
    return TINY_TEXT.replace(old, new, 1)


BAD_FILES = {
    "unknown key": (_replace("vessels = 3", "vesels = 3"), "fleets.f.vesels", "unknown key"),
    "wrong type": (_replace("vessels = 3", 'vessels = "three"'), "fleets.f.vessels", "integer"),
    "negative capacity": (
        _replace("yard_capacity_teu = 600", "yard_capacity_teu = -600"),
        "nodes.p.yard_capacity_teu",
        "greater than 0",
    ),
    "negative duration": (
        _replace("run_time_h = 30", "run_time_h = -30"),
        "legs.bp.run_time_h",
        "greater than or equal to 0",
    ),
    "negative distribution bound": (
        _replace("low = 40, mode = 50", "low = -40, mode = 50"),
        "legs.ab.run_time_h.low",
        "greater than or equal to 0",
    ),
    "dangling node": (_replace('to = "b"', 'to = "nowhere"'), "legs.ab.to", "node id"),
    "route does not connect": (
        _replace('route = ["a", "b", "p", "q", "z"]', 'route = ["a", "p", "q", "z"]'),
        "flows.main.route.1",
        "does not connect",
    ),
    "unknown node kind": (_replace('kind = "border"', 'kind = "bordr"'), "nodes.b.kind",
                          "expected one of"),
    "warm-up past horizon": (
        _replace("warmup_days = 20", "warmup_days = 200"),
        "scenario.warmup_days",
        "< horizon_days",
    ),
    "malformed TOML": (_replace("berths = 1", "berths = = 1"), None, "line"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys):
    text, key, expected = BAD_FILES[case]
    path = write(tmp_path, text)
    out_dir = tmp_path / "out"
    rc, out, err = run_cli(["run", str(path), "--out", str(out_dir), "--workers", "1"], capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(path) in lines[0]
    if key:
        assert f": {key}:" in lines[0]
    assert expected in lines[0]
    assert "Traceback" not in err and out == ""
    assert not out_dir.exists()
    assert not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_missing_file(tmp_path, capsys):
    rc, _, err = run_cli(["run", str(tmp_path / "nope.toml")], capsys)
    assert rc == 2 and "nope.toml: scenario file not found" in err


def test_missing_extends_target(tmp_path, capsys):
    path = write(tmp_path, 'extends = "base.toml"\n[scenario]\nname = "x"\n')
    rc, _, err = run_cli(["validate", str(path)], capsys)
    assert rc == 2
    assert f"{path}: extends: base scenario 'base.toml' not found" in err


def test_extends_cycle(tmp_path, capsys):
    write(tmp_path, 'extends = "b.toml"\n', "a.toml")
    write(tmp_path, 'extends = "a.toml"\n', "b.toml")
    rc, _, err = run_cli(["validate", str(tmp_path / "a.toml")], capsys)
    assert rc == 2 and "extends" in err and "cycle" in err


@pytest.mark.parametrize(
    "override, key, expected",
    [
        ("fleets.f.vessels=abc", "fleets.f.vessels", "integer"),
        ("fleets.f.vessels=-1", "fleets.f.vessels", "greater than or equal to 0"),
        ("fleets.f.capacity_tue=3", "fleets.f.capacity_tue", "unknown key"),
        ("no_equals_sign", "no_equals_sign", "KEY.PATH=VALUE"),
        ("scenario.name.x=1", "scenario.name.x", "not a table"),
    ],
)
def test_bad_set_value(override, key, expected, tmp_path, capsys):
    path = write(tmp_path, TINY_TEXT)
    rc, _, err = run_cli(["run", str(path), "--set", override, "--out", str(tmp_path / "o")],
                         capsys)
    assert rc == 2
    assert err.count("\n") == 1
    assert f"--set: {key}:" in err and expected in err
    assert not (tmp_path / "o").exists()


def test_bad_flag_value_is_one_line(tmp_path, capsys):
    rc, _, err = run_cli(["run", "x.toml", "--workers", "0"], capsys)
    assert rc == 2 and err.count("\n") == 1 and "--workers" in err


def test_extends_and_set_override_values(tmp_path):
    base = write(tmp_path, TINY_TEXT, "base.toml")
    child = write(
        tmp_path,
        'extends = "base.toml"\n[scenario]\nname = "child"\n[fleets.f]\nvessels = 5\n',
        "child.toml",
    )
    loaded = load_scenario(child, ["legs.bp.paths_per_day=6"])
    assert loaded.model.scenario.name == "child"
    assert loaded.model.fleets["f"].vessels == 5
    assert loaded.model.fleets["f"].capacity_teu == 200  # inherited
    assert loaded.model.legs["bp"].paths_per_day == 6
    assert load_scenario(base).sha256 != loaded.sha256


def test_run_writes_complete_results(tmp_path, capsys):
    path = write(tmp_path, TINY_TEXT)
    out_dir = tmp_path / "res"
    rc, out, err = run_cli(
        ["run", str(path), "--replications", "3", "--workers", "2", "--out", str(out_dir),
         "--horizon-days", "90"],
        capsys,
    )
    assert rc == 0, err
    assert "Bottleneck:" in out and str(out_dir) in out
    names = {p.name for p in out_dir.iterdir()}
    assert {"summary.json", "replications.csv", "timeseries.csv", "scenario.resolved.json",
            "plots"} <= names

    def no_nan(token):
        raise AssertionError(f"non-strict JSON constant {token}")

    summary = json.loads((out_dir / "summary.json").read_text(), parse_constant=no_nan)
    assert summary["replications"] == 3 and summary["horizon_days"] == 90
    assert summary["scenario"]["name"] == "tiny" and len(summary["scenario"]["sha256"]) == 64
    for k in ("created_teu", "delivered_teu", "in_system_teu_end", "throughput_teu_per_week",
              "transit_days_mean", "transit_days_p50", "transit_days_p95"):
        assert set(summary["kpis"][k]) >= {"mean", "ci95_low", "ci95_high"}
    k = summary["kpis"]
    assert k["created_teu"]["mean"] == pytest.approx(
        k["delivered_teu"]["mean"] + k["in_system_teu_end"]["mean"]
    )
    assert set(summary["nodes"]) == {"a", "b", "p", "q", "z"}
    for node in summary["nodes"].values():
        assert {"wait_h_mean", "queue_teu_mean", "utilisation"} <= set(node)
    assert set(summary["flows"]) == {"main", "local"}
    assert summary["bottleneck"]["element"]

    with (out_dir / "replications.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["replication"]) for r in rows] == [0, 1, 2]
    for r in rows:  # conservation per replication, whole run
        assert float(r["created_teu"]) == float(r["delivered_teu"]) + float(r["in_system_teu_end"])

    resolved = load_scenario(out_dir / "scenario.resolved.json")
    assert resolved.sha256 == summary["scenario"]["sha256"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".res")]


def test_python_dash_m_and_console_script_agree(tmp_path):
    path = write(tmp_path, TINY_TEXT)
    for cmd in ([sys.executable, "-m", "sim"], ["corridor"]):
        proc = subprocess.run(cmd + ["validate", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert "ok (tiny: 5 nodes" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "sim", "run", str(path), "--set", "x.y=1"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("corridor: error: --set: x: unknown key")
