"""Results folders, faults and resumption: nothing lost, nothing hung, one line per fault.

Each test asserts the exit status, the one-line message and that nothing outside the
named results folder changed (a snapshot of the directory tree before and after).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.cli import main
from sim.experiments.executors import ExecutorSpec
from sim.experiments.replications import replicate, replicate_to_precision
from sim.outputs.results_folder import MARKER, PARTIAL, _Lock
from sim.scenario.loader import load_scenario
from sim.stats import summarise

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "scenarios" / "tiny.toml"
BASELINE = ROOT / "scenarios" / "baseline.toml"
QUICK = ["--replications", "2", "--horizon-days", "40", "--workers", "1", "--quiet", "--no-plots"]


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a hash of its content (folders: 'dir')."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


# --------------------------------------------------------------------------------------
# 1. --out never destroys what the tool did not write
# --------------------------------------------------------------------------------------


def _notes(tmp_path: Path) -> Path:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("keep me\n")
    return notes


@pytest.mark.parametrize(
    "target",
    ["notes", ".", "", "scenarios", "file.txt", "notes/todo.txt", "empty", "link"],
)
def test_out_refuses_anything_it_did_not_write(tmp_path, monkeypatch, capsys, target):
    _notes(tmp_path)
    (tmp_path / "scenarios").mkdir()
    scen = tmp_path / "scenarios" / "tiny.toml"
    scen.write_text(TINY.read_text())
    (tmp_path / "file.txt").write_text("data\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "notes")
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    rc = main(["run", str(scen), *QUICK, "--out", target])
    assert rc == 2
    line = one_line(capsys.readouterr().err)
    assert "--out" in line and "not a results folder written by corridor" in line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["compare", "sweep", "calibrate", "sensitivity"])
def test_every_command_refuses_a_foreign_out(tmp_path, capsys, command):
    notes = _notes(tmp_path)
    alt = tmp_path / "alt.toml"
    alt.write_text(f'extends = "{TINY}"\n[scenario]\nname = "alt"\n')
    before = snapshot(tmp_path)
    extra = {
        "compare": [str(TINY), str(alt)],
        "sweep": [str(TINY), "--vary", "fleets.f.vessels=2,3"],
        "calibrate": [str(TINY)],
        "sensitivity": [str(TINY)],
    }[command]
    quick = [a for a in QUICK if a != "--no-plots"]
    rc = main([command, *extra, *quick, "--out", str(notes)])
    assert rc == 2
    assert "not a results folder written by corridor" in one_line(capsys.readouterr().err)
    assert snapshot(tmp_path) == before


def test_own_folder_is_replaced_only_with_force(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["run", str(TINY), *QUICK, "--out", str(out)]) == 0
    marker = json.loads((out / MARKER).read_text())
    assert marker["kind"] == "run" and marker["state"] == "complete"
    before = snapshot(tmp_path)
    assert main(["run", str(TINY), *QUICK, "--out", str(out)]) == 2
    assert "--force" in one_line(capsys.readouterr().err)
    assert snapshot(tmp_path) == before
    (out / "my_note.txt").write_text("added by the user\n")
    before = snapshot(tmp_path)
    assert main(["run", str(TINY), *QUICK, "--out", str(out), "--force"]) == 2
    assert "my_note.txt" in one_line(capsys.readouterr().err)
    assert snapshot(tmp_path) == before
    (out / "my_note.txt").unlink()
    assert main(["run", str(TINY), *QUICK, "--seed", "9", "--out", str(out), "--force"]) == 0
    assert json.loads((out / "summary.json").read_text())["seed"] == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]  # no hidden leftovers


def test_results_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "res"
        assert main(["run", str(TINY), *QUICK, "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o755
    assert (out / "summary.json").stat().st_mode & 0o777 == 0o644


def test_a_second_writer_of_the_same_out_is_refused(tmp_path, capsys):
    out = tmp_path / "res"
    lock = _Lock(out)
    lock.acquire(out)
    try:
        assert main(["run", str(TINY), *QUICK, "--out", str(out)]) == 2
        assert "another corridor process" in one_line(capsys.readouterr().err)
        assert not out.exists()
    finally:
        lock.release()
    assert main(["run", str(TINY), *QUICK, "--out", str(out)]) == 0


def test_stale_partial_folders_of_a_killed_run_are_removed_and_reported(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["run", str(TINY), *QUICK, "--out", str(out)]) == 0
    stale = tmp_path / f"{PARTIAL}0123456789abcdef-deadbeef"
    stale.mkdir()
    (stale / MARKER).write_text((out / MARKER).read_text())
    (stale / "summary.json").write_text("{")  # half-written
    foreign = tmp_path / f"{PARTIAL}fedcba9876543210-00000000"  # no marker: not ours
    foreign.mkdir()
    capsys.readouterr()
    assert main(["run", str(TINY), *QUICK, "--out", str(tmp_path / "res2")]) == 0
    err = capsys.readouterr().err
    assert f"removed {stale}" in err and "interrupted run" in err
    assert not stale.exists() and foreign.exists()


def test_unwritable_out_is_refused_before_the_simulation(tmp_path, capsys, monkeypatch):
    import sim.experiments.replications

    def boom(*a, **k):
        raise AssertionError("the simulation must not start")

    monkeypatch.setattr(sim.experiments.replications, "run_batches", boom)
    before = snapshot(tmp_path)
    for out in (tmp_path / ("x" * 300), Path("/proc/corridor-cannot-write/res")):
        assert main(["run", str(TINY), *QUICK, "--out", str(out)]) == 2
        assert "--out" in one_line(capsys.readouterr().err)
    parent_file = tmp_path / "plain"
    parent_file.write_text("x")
    before = snapshot(tmp_path)
    assert main(["run", str(TINY), *QUICK, "--out", str(parent_file / "res")]) == 2
    assert "--out" in one_line(capsys.readouterr().err)
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------
# 4. faults: one line, nothing half-written, no worker left behind
# --------------------------------------------------------------------------------------


def test_disk_full_while_writing_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    import sim.outputs.results

    def full(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(sim.outputs.results, "write_json", full)
    before = snapshot(tmp_path)
    assert main(["run", str(TINY), *QUICK, "--out", str(tmp_path / "res")]) == 1
    assert "No space left on device" in one_line(capsys.readouterr().err)
    assert snapshot(tmp_path) == before


def _cli(args: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sim", *args],
        cwd=kw.pop("cwd", ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_file_size_limit_is_one_line_and_leaves_nothing(tmp_path):
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    proc = _cli(["run", str(TINY), *QUICK, "--out", str(tmp_path / "res")], preexec_fn=limit)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "File too large" in one_line(err)
    assert list(tmp_path.iterdir()) == []


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped has already died)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_two_worker_run(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    out = tmp_path / "res"
    proc = _cli(
        ["run", str(BASELINE), "--replications", "8", "--workers", "2", "--quiet",
         "--no-plots", "--out", str(out)]
    )
    deadline = time.monotonic() + 60
    kids: list[int] = []
    while time.monotonic() < deadline and len(kids) < 2:
        time.sleep(0.2)
        kids = [k for k in _children(proc.pid) if _alive(k)]
        assert proc.poll() is None, proc.communicate()
    assert len(kids) >= 2, "the pool did not start"
    return proc, kids


def _assert_gone(pids: list[int], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)], "worker processes outlived their parent"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killing_the_main_process_takes_its_workers_along(tmp_path, sig):
    proc, kids = _start_two_worker_run(tmp_path)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    _assert_gone(kids)
    assert not (tmp_path / "res").exists()
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == {signal.SIGTERM: 143, signal.SIGINT: 130}[sig]
        assert "no results folder was written" in one_line(err)
        assert [p.name for p in tmp_path.iterdir()] == []  # partial folder removed too


def test_a_killed_worker_is_one_line_and_leaves_nothing(tmp_path):
    proc, kids = _start_two_worker_run(tmp_path)
    os.kill(kids[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "worker process stopped unexpectedly" in one_line(err)
    _assert_gone(kids)
    assert [p.name for p in tmp_path.iterdir()] == []


def test_malformed_scheduler_address_is_refused(tmp_path, capsys):
    assert main(["run", str(TINY), *QUICK, "--scheduler", "not an address!",
                 "--out", str(tmp_path / "res")]) == 2
    assert "--scheduler" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "res").exists()


@pytest.mark.parametrize("content", ["{", "[]", "{\"kpis\": 3}", "{\"nodes\": 1}"])
def test_report_on_a_damaged_summary_is_one_line(tmp_path, capsys, content):
    out = tmp_path / "res"
    assert main(["run", str(TINY), *QUICK, "--out", str(out)]) == 0
    (out / "summary.json").write_text(content)
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    assert "summary.json" in one_line(capsys.readouterr().err)
    assert not (out / "report.html").exists()


def test_workers_never_exceed_tasks_or_cores():
    cores = os.cpu_count() or 1
    assert ExecutorSpec(workers=1000).effective_workers() == cores
    assert ExecutorSpec(workers=1000).capped(1).kind == "serial"
    assert ExecutorSpec(dask_local=1000).capped(2).dask_local == min(2, cores)


# --------------------------------------------------------------------------------------
# 5. sweeps resume honestly
# --------------------------------------------------------------------------------------

SWEEP = ["--replications", "1", "--horizon-days", "30", "--workers", "1", "--quiet"]


def test_sweep_retries_transient_failures_and_keeps_input_failures(tmp_path, capsys, monkeypatch):
    import sim.experiments.sweep

    out = tmp_path / "sw"
    args = ["sweep", str(TINY), "--vary", "fleets.f.vessels=0,2,3", *SWEEP, "--out", str(out)]
    real = sim.experiments.sweep.run_chunk

    def flaky(scenario, indices, drop=()):
        if scenario.fleets["f"].vessels == 3:
            raise MemoryError()
        return real(scenario, indices, drop)

    monkeypatch.setattr(sim.experiments.sweep, "run_chunk", flaky)
    assert main(args) == 1
    line = one_line(capsys.readouterr().err)
    assert "1 of 3 points did not finish" in line and "resume" in line
    status = {p["values"]["fleets.f.vessels"]: p["status"]
              for p in json.loads((out / "sweep.json").read_text())["points"]}
    assert status == {0: "failed", 2: "ok", 3: "transient"}
    assert len(list((out / "points").glob("*.json"))) == 2
    assert json.loads((out / MARKER).read_text())["state"] == "partial"

    monkeypatch.setattr(sim.experiments.sweep, "run_chunk", real)
    assert main(args) == 0
    status = {p["values"]["fleets.f.vessels"]: p["status"]
              for p in json.loads((out / "sweep.json").read_text())["points"]}
    assert status == {0: "failed", 2: "ok", 3: "ok"}
    assert json.loads((out / MARKER).read_text())["state"] == "complete"


def test_sweep_never_keeps_a_truncated_point(tmp_path, capsys):
    out = tmp_path / "sw"
    args = ["sweep", str(TINY), "--vary", "fleets.f.vessels=2,3", *SWEEP, "--out", str(out)]
    assert main(args) == 0
    sweep = json.loads((out / "sweep.json").read_text())
    victim = sorted((out / "points").glob("*.json"))[0]
    victim.write_text(victim.read_text()[:40])  # a write cut short
    assert main(args) == 0
    json.loads(victim.read_text())  # rewritten whole
    assert json.loads((out / "sweep.json").read_text()) == sweep
    assert not list((out / "points").glob("*.tmp"))


@pytest.mark.parametrize(
    "vary", ["fleets.f.vessel=2,3", "fleets.nope.vessels=2,3", "scenario.seeds=1,2"]
)
def test_sweep_over_a_key_that_does_not_exist_is_refused(tmp_path, capsys, vary):
    before = snapshot(tmp_path)
    assert main(["sweep", str(TINY), "--vary", vary, *SWEEP, "--out", str(tmp_path / "s")]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("corridor: error: --vary: ") and vary.split("=")[0] in line
    assert snapshot(tmp_path) == before


def test_ctrl_c_on_a_sweep_says_which_points_are_kept(tmp_path, capsys, monkeypatch):
    import sim.commands.sweep  # noqa: F401 - the module whose loop is interrupted
    import sim.experiments.sweep

    real = sim.experiments.sweep.write_point
    calls = []

    def then_interrupt(points_dir, result):
        real(points_dir, result)
        calls.append(result)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(sim.experiments.sweep, "write_point", then_interrupt)
    out = tmp_path / "sw"
    args = ["sweep", str(TINY), "--vary", "fleets.f.vessels=2,3,4", *SWEEP, "--out", str(out)]
    assert main(args) == 130
    line = one_line(capsys.readouterr().err)
    assert f"2 of 3 points are kept in {out / 'points'}" in line and "resume" in line
    monkeypatch.setattr(sim.experiments.sweep, "write_point", real)
    assert main(args) == 0
    assert len(list((out / "points").glob("*.json"))) == 3


# --------------------------------------------------------------------------------------
# 6. the replications algorithm decides the same on every executor
# --------------------------------------------------------------------------------------


def test_replications_algorithm_is_independent_of_workers_and_minimal():
    scen = load_scenario(TINY, ["scenario.horizon_days=60", "scenario.replications=3"]).model
    target, cap = 0.02, 30
    answers = []
    for workers in (1, 2, 3):
        recs, info = replicate_to_precision(
            scen, ExecutorSpec(workers=workers, quiet=True), "transit_days_mean", target, cap
        )
        answers.append((info["replications"], [r["study"]["transit_days_mean"] for r in recs]))
    assert answers[0] == answers[1] == answers[2]
    # independent check: the smallest prefix of a plain run that meets the target
    every = replicate(scen, cap, spec=ExecutorSpec(workers=1, quiet=True))
    values = [r["study"]["transit_days_mean"] for r in every]

    def rel(n):
        s = summarise(values[:n])
        return (s["ci95_high"] - s["mean"]) / abs(s["mean"])

    expected = next((n for n in range(3, cap + 1) if rel(n) <= target), cap)
    assert answers[0][0] == expected


def test_unknown_target_kpi_is_refused(tmp_path, capsys):
    rc = main(["run", str(TINY), *QUICK, "--target-ci", "0.05", "--target-kpi", "nope",
               "--out", str(tmp_path / "res")])
    assert rc == 2
    assert "--target-kpi" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "res").exists()


def test_a_run_that_does_not_fit_in_memory_is_refused_up_front(tmp_path, capsys):
    before = snapshot(tmp_path)
    rc = main(["run", str(BASELINE), "--set", "flows.bg_aktau.annual_teu=4e7", "--quiet",
               "--out", str(tmp_path / "res")])
    assert rc == 2
    line = one_line(capsys.readouterr().err)
    assert "--set: flows.bg_aktau.annual_teu" in line and "GiB" in line
    assert snapshot(tmp_path) == before
    assert main(["validate", str(BASELINE), "--set", "flows.bg_aktau.annual_teu=4e7"]) == 2
    assert "GiB" in one_line(capsys.readouterr().err)
