"""Calibration status: ``corridor calibrate`` puts its verdict on the first line and its exit
status says whether every target was met; the baseline's run writes the status file that
:func:`calibration_status` finds for the baseline and for scenarios extending it;
``calibrate``/``sensitivity`` work from any directory; ``--help`` texts say what the code does.

The evaluation is replaced by synthetic rows (all met / one missed) so the command tests are
fast and can fail both ways."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sim.locations
from sim import cli
from sim.commands import calibrate as cmd
from sim.experiments import calibrate as cal
from sim.outputs import calibration_status as cs
from sim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
TINY = ROOT / "tests" / "scenarios" / "tiny.toml"
TARGETS = [f for f in cal.PUBLISHED if f.role != cal.ROLE_CONTEXT]
MISSED = "khorgos_time"
TODAY = dt.datetime.now(dt.UTC).date().isoformat()


def rows_with(verdicts: dict[str, str]) -> list[cal.CalibrationRow]:
    """One row per published figure: the verdict given (default pass; context "-")."""
    rows = []
    for f in cal.PUBLISHED:
        verdict = "-" if f.role == cal.ROLE_CONTEXT else verdicts.get(f.id, "pass")
        mean = f.low if f.low is not None else f.high
        model = {"mean": mean, "ci95_low": mean, "ci95_high": mean, "n": 2}
        rows.append(cal.CalibrationRow(f, model, verdict, True))
    return rows


@pytest.fixture
def fake_evaluation(monkeypatch):
    """Replace the replications and the table by ``state["rows"]`` / ``state["records"]``."""
    state = {"rows": rows_with({}), "records": [{"replication": 0, "gridlock": None}]}
    monkeypatch.setattr(cmd, "evaluate", lambda loaded, n, spec: (state["records"], state["rows"]))
    return state


@pytest.fixture
def status_path(tmp_path, monkeypatch):
    """The status file the command writes, redirected into tmp (the committed one is safe)."""
    path = tmp_path / "calibration_status.json"
    monkeypatch.setattr(cs, "status_file", lambda: path)
    return path


def calibrate(args: list[str], capsys) -> tuple[int, list[str]]:
    code = cli.main(["calibrate", *args])
    return code, capsys.readouterr().out.splitlines()


# --------------------------------------------------------------------------------------
# First line and exit status
# --------------------------------------------------------------------------------------


def test_all_met_exits_0_with_the_verdict_first(tmp_path, fake_evaluation, status_path, capsys):
    code, lines = calibrate([str(BASELINE), "--out", str(tmp_path / "a")], capsys)
    assert code == cmd.EXIT_ALL_MET == 0
    n = len(TARGETS)
    calibrated = sum(f.role == cal.ROLE_CALIBRATED for f in TARGETS)
    assert lines[0].startswith(f"calibration: {n} of {n} targets met ")
    assert f"({calibrated} of the {calibrated} it was calibrated to)" in lines[0]
    assert "missed" not in lines[0] and lines[0].endswith(f"(baseline, {TODAY})")
    status = json.loads(status_path.read_text(encoding="utf-8"))
    assert status["met"] == status["total"] == n and status["missed"] == []
    meta = json.loads((tmp_path / "a" / "calibration.json").read_text())["meta"]
    assert meta["verdict"] == lines[0]


def test_a_missed_target_exits_4_and_is_named(tmp_path, fake_evaluation, status_path, capsys):
    fake_evaluation["rows"] = rows_with({MISSED: "fail", "xian_baku_mean": "n/a"})
    code, lines = calibrate([str(BASELINE), "--out", str(tmp_path / "b")], capsys)
    assert code == cmd.EXIT_TARGET_MISSED == 4
    n = len(TARGETS)
    label = next(f.label for f in TARGETS if f.id == MISSED)
    assert lines[0].startswith(f"calibration: {n - 2} of {n} targets met")
    assert f"; missed: {label};" in lines[0] and "not measured: Xi'an-Baku mean transit" in lines[0]
    status = json.loads(status_path.read_text(encoding="utf-8"))
    assert status["missed"] == [MISSED] and status["not_measured"] == ["xian_baku_mean"]
    khorgos = next(t for t in status["targets"] if t["id"] == MISSED)
    assert khorgos["verdict"] == "missed" and khorgos["published"]["low"] == 57.2
    assert khorgos["model"]["mean"] == 57.2 and khorgos["sources"] == ["S13", "S14"]


def test_gridlock_exits_3(tmp_path, fake_evaluation, status_path, capsys):
    fake_evaluation["records"] = [{"replication": 0, "gridlock": {"day": 5}}]
    code, lines = calibrate([str(BASELINE), "--out", str(tmp_path / "g")], capsys)
    assert code == 3
    assert "1 replication(s) stopped in gridlock" in lines[0]


def test_exit_codes_do_not_collide_and_are_documented(capsys):
    from sim.commands.run import EXIT_GRIDLOCK

    codes = {cli.EXIT_FAULT, cli.EXIT_BAD_INPUT, EXIT_GRIDLOCK, cmd.EXIT_TARGET_MISSED}
    assert len(codes) == 4 and cmd.EXIT_ALL_MET == 0
    with contextlib.suppress(SystemExit):
        cli.main(["calibrate", "--help"])
    text = capsys.readouterr().out
    for code in (0, 1, 2, 3, 4):
        assert re.search(rf"^\s+{code}\s+\w", text, re.MULTILINE), code
    assert str(cmd.EXIT_TARGET_MISSED) in (ROOT / "docs" / "validation.md").read_text()


def test_status_is_written_only_for_the_plain_baseline(
    tmp_path, fake_evaluation, status_path, capsys
):
    code, _ = calibrate([str(TINY), "--out", str(tmp_path / "t")], capsys)
    assert code == 0 and not status_path.exists()  # not the baseline
    calibrate([str(BASELINE), "--set", "scenario.seed=3", "--out", str(tmp_path / "s")], capsys)
    assert not status_path.exists()  # a changed baseline is not the baseline
    calibrate([str(BASELINE), "--no-status", "--out", str(tmp_path / "n")], capsys)
    assert not status_path.exists()
    status_path.write_text("my notes\n", encoding="utf-8")  # never replace a foreign file
    assert cli.main(["calibrate", str(BASELINE), "--out", str(tmp_path / "f")]) == 2
    assert "not a calibration status" in capsys.readouterr().err
    assert status_path.read_text(encoding="utf-8") == "my notes\n"
    assert not (tmp_path / "f").exists()  # refused before any work


# --------------------------------------------------------------------------------------
# calibration_status and status_line
# --------------------------------------------------------------------------------------


@pytest.fixture
def written_status(tmp_path):
    """A status of the current baseline with one target missed."""
    loaded = load_scenario(BASELINE)
    meta = {"scenario": "baseline", "sha256": loaded.sha256, "date": "2026-12-04"}
    meta.update(replications=10, seed=1, commit="abc1234")
    status = cs.build_status(rows_with({MISSED: "fail"}), meta)
    return cs.write_status(tmp_path / "status.json", status)


def test_status_applies_to_the_baseline_and_what_extends_it(tmp_path, written_status):
    loaded = load_scenario(BASELINE)
    for given in (BASELINE, str(BASELINE), loaded, loaded.resolved):
        status = cs.calibration_status(given, written_status)
        assert status is not None and status["applies_via"] == "baseline", given
        assert status["baseline_changed"] is False
    extending = ROOT / "scenarios" / "invest_caspian_ships.toml"
    assert cs.calibration_status(extending, written_status)["applies_via"] == "extends"
    child = tmp_path / "deeper.toml"  # a chain of two: child -> invest file -> baseline
    child.write_text(f'extends = "{extending.as_posix()}"\n', encoding="utf-8")
    assert cs.calibration_status(child, written_status)["applies_via"] == "extends"
    # a results folder: the scenario file its summary names
    folder = tmp_path / "run"
    folder.mkdir()
    summary = {"scenario": {"name": "x", "file": str(child), "sha256": "0"}}
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    assert cs.calibration_status(folder, written_status)["applies_via"] == "extends"


def test_status_does_not_apply_elsewhere(tmp_path, written_status):
    assert cs.calibration_status(TINY, written_status) is None
    assert cs.calibration_status(load_scenario(TINY).resolved, written_status) is None
    changed = load_scenario(BASELINE, ["fleets.caspian_feeders.vessels=8"]).resolved
    assert cs.calibration_status(changed, written_status) is None  # no file to follow
    assert cs.calibration_status(tmp_path / "missing.toml", written_status) is None
    assert cs.calibration_status(BASELINE, tmp_path / "no_status.json") is None
    (tmp_path / "foreign.json").write_text('{"met": 1}', encoding="utf-8")
    assert cs.calibration_status(BASELINE, tmp_path / "foreign.json") is None


def test_status_line_names_counts_misses_and_staleness(written_status):
    status = cs.calibration_status(BASELINE, written_status)
    line = cs.status_line(status)
    n = len(TARGETS)
    calibrated = sum(f.role == cal.ROLE_CALIBRATED for f in TARGETS)
    assert line == (
        f"Calibration (2026-12-04, baseline): meets {n - 1} of {n} published targets "
        f"({calibrated - 1} of the {calibrated} it was calibrated to); "
        "misses: Khorgos time per box"
    )
    assert "\n" not in line
    stale = {**status, "baseline_changed": True}
    assert cs.status_line(stale).endswith("baseline has changed since (rerun corridor calibrate)")
    doc = json.loads(written_status.read_text(encoding="utf-8"))
    doc["scenario_sha256"] = "0" * 64
    written_status.write_text(json.dumps(doc), encoding="utf-8")
    assert cs.calibration_status(BASELINE, written_status)["baseline_changed"] is True
    all_met = cs.build_status(rows_with({}), {"scenario": "baseline", "date": "2026-12-04"})
    assert "misses" not in cs.status_line(all_met) and cs.all_met(all_met)
    assert not cs.all_met(cs.build_status(rows_with({MISSED: "n/a"}), {}))


def test_committed_status_is_current_and_readable():
    """docs/calibration_status.json: written by `corridor calibrate` on the baseline and read
    back for it; its counts agree with its rows."""
    status = cs.calibration_status(BASELINE)
    assert status is not None, "docs/calibration_status.json missing or unreadable"
    assert status["scenario"] == "baseline" and status["replications"] >= 10
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", status["date"])
    assert {t["id"] for t in status["targets"]} == {f.id for f in TARGETS}
    assert {k: status[k] for k in ("met", "total", "missed")} == {
        k: cs.counts(status)[k] for k in ("met", "total", "missed")
    }
    assert cs.status_line(status).startswith(f"Calibration ({status['date']}, baseline): meets")


# --------------------------------------------------------------------------------------
# From any directory
# --------------------------------------------------------------------------------------


def test_calibrate_runs_from_another_directory(tmp_path, monkeypatch, fake_evaluation, capsys):
    monkeypatch.chdir(tmp_path)
    seen = {}
    real = cmd.evaluate

    def spy(loaded, n, spec):
        seen["path"] = loaded.path
        return real(loaded, n, spec)

    monkeypatch.setattr(cmd, "evaluate", spy)
    code = cli.main(["calibrate", "--no-status", "--quiet"])
    assert code == 0
    assert seen["path"] == BASELINE
    assert len(list((tmp_path / "results" / "calibrate").iterdir())) == 1  # default --out


def test_sensitivity_runs_from_another_directory_with_a_stated_horizon(tmp_path, monkeypatch):
    from sim.experiments import sensitivity as sens

    class Stop(BaseException):
        pass

    seen = {}

    def fake(path, overrides, **kw):
        seen.update(path=path, overrides=overrides)
        raise Stop

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sens, "run_sensitivity", fake)
    with pytest.raises(Stop):
        cli.main(["sensitivity", "--quiet", "--workers", "1"])
    assert seen["path"] == BASELINE
    own = load_scenario(BASELINE).model.scenario
    quick = own.warmup_days + sens.QUICK_MEASURED_DAYS
    assert quick < own.horizon_days  # the baseline's horizon is shortened by default...
    assert ("--horizon-days", f"scenario.horizon_days={quick}") in seen["overrides"]
    meta = {"horizon_days": quick, "scenario_horizon_days": own.horizon_days}
    assert "shortened" in sens.horizon_note(meta)  # ...and the output says so
    assert sens.horizon_note({"horizon_days": 50.0, "scenario_horizon_days": 50.0}) == ""


def test_without_a_source_tree_the_default_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sim.locations, "PACKAGE_DIR", tmp_path / "site-packages" / "sim")
    for command in ("calibrate", "sensitivity"):
        assert cli.main([command, "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "pass the path" in err, err


def test_help_works_outside_the_repository(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for command in ("calibrate", "sensitivity"):
        out = subprocess.run(
            [sys.executable, "-m", "sim", command, "--help"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
        assert "baseline.toml of the source tree" in " ".join(out.split())


# --------------------------------------------------------------------------------------
# --help texts
# --------------------------------------------------------------------------------------


def help_text(command: str, capsys) -> str:
    with contextlib.suppress(SystemExit):
        cli.main([command, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_no_help_text_shows_a_doubled_percent(capsys):
    for command in (None, *cli.COMMANDS):
        with contextlib.suppress(SystemExit):
            cli.main([command, "--help"] if command else ["--help"])
        out = capsys.readouterr().out
        assert "%%" not in out and "%(" not in out, command
        assert "/work/" not in out, command


class Stop(BaseException):
    """Raised by the spy in place of the results folder (main() does not catch it)."""


@pytest.mark.parametrize("command", ["run", "compare", "sweep", "calibrate", "sensitivity"])
def test_stated_default_results_folder_is_the_one_used(command, monkeypatch, capsys, tmp_path):
    from sim.experiments import sensitivity as sens
    from sim.outputs import results

    text = help_text(command, capsys)
    stated = re.search(r"--out DIR results folder \(default: (\S+) under the current dir", text)
    assert stated, text
    used = {}

    def spy(root, name):
        used.update(root=root, name=name)
        raise Stop

    monkeypatch.setattr(results, "default_out_dir", spy)
    monkeypatch.setattr(sens, "run_sensitivity", lambda *a, **k: None)
    other = tmp_path / "other.toml"
    other.write_text(f'extends = "{TINY.as_posix()}"\n[scenario]\nname = "other"\n', "utf-8")
    args = {
        "run": [str(TINY)],
        "compare": [str(TINY), str(other)],
        "sweep": [str(TINY), "--vary", "scenario.seed=1,2"],
        "calibrate": [str(TINY)],
        "sensitivity": [str(TINY)],
    }[command]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Stop):
        cli.main([command, *args, "--quiet", "--workers", "1"])
    name = load_scenario(TINY).model.scenario.name
    expected = stated.group(1).replace("<scenario>", name)
    assert expected == f"{used['root'].as_posix()}/{used['name']}/<timestamp>/"


def test_sensitivity_help_states_its_defaults(capsys):
    from sim.commands import sensitivity as scmd
    from sim.experiments import sensitivity as sens

    assert str(sens.DEFAULT_REPLICATIONS) == scmd.DEFAULT_REPLICATIONS_TEXT
    assert f"{sens.QUICK_MEASURED_DAYS:g}" == scmd.QUICK_MEASURED_DAYS_TEXT
    text = help_text("sensitivity", capsys)
    assert "shortened" in text and "warm-up + 365 d" in text
