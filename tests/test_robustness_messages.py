"""Bad input names the file or flag actually responsible, in one line, exit 2.

Covers what the scenario loader gets wrong easily: run flags turned into
overrides, errors of an extending file blamed on its base, a file or ``--set``
switching a table's type (dispatch rule, distribution, node kind, leg mode),
``--set extends``, a mistyped id creating a new entry, and hostile input
(deep ``extends`` chains, deep nesting, symlink loops, directories, bad bytes).
"""

from __future__ import annotations

import glob
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sim.cli import main
from sim.scenario.loader import load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
TINY_TEXT = (Path(__file__).parent / "scenarios" / "tiny.toml").read_text()


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse
        rc = int(exc.code)
    out, err = capsys.readouterr()
    return rc, out, err


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    return lines[0]


def check_run(tmp_path: Path, capsys, args: list[str]) -> str:
    """``corridor run`` fails with exit 2, one line, and writes nothing."""
    before = tree(tmp_path)
    rc, out, err = run_cli(["run", *args, "--out", str(tmp_path / "out"), "--workers", "1"],
                           capsys)
    assert rc == 2, err
    assert out == ""
    assert tree(tmp_path) == before
    return one_line(err)


def check_validate(capsys, args: list[str]) -> str:
    rc, _, err = run_cli(["validate", *args], capsys)
    assert rc == 2, err
    return one_line(err)


def write(tmp_path: Path, text: str, name: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def extending(tmp_path: Path, text: str) -> tuple[Path, Path]:
    base = write(tmp_path, TINY_TEXT, "base.toml")
    return base, write(tmp_path, 'extends = "base.toml"\n' + text, "ext.toml")


# -- run flags are not to blame for what a file lacks ---------------------------------


def test_empty_file_blames_the_file_not_the_run_flags(tmp_path, capsys):
    path = write(tmp_path, "", "x.toml")
    for flags in (["--replications", "3"], ["--seed", "4", "--horizon-days", "30"]):
        line = check_run(tmp_path, capsys, [str(path), *flags])
        assert f"error: {path}: scenario" in line and "missing required key" in line
        assert "--replications" not in line and "--seed" not in line
    line = check_validate(capsys, [str(path)])
    assert f"error: {path}: scenario: missing required key" in line


def test_a_flag_that_breaks_a_check_is_named(tmp_path, capsys):
    path = write(tmp_path, TINY_TEXT, "s.toml")  # warm-up 20 days
    line = check_run(tmp_path, capsys, [str(path), "--horizon-days", "10"])
    assert "error: --horizon-days: scenario.horizon_days: expected warmup_days" in line


# -- an extending file's errors are its own -------------------------------------------

EXTENDING_ERRORS = {
    "wrong value": ("[fleets.f]\nvessels = \"three\"\n", "fleets.f.vessels", "integer"),
    "unknown key": ("[fleets.f]\nvesels = 3\n", "fleets.f.vesels", "unknown key"),
    "missing key of a new entry": ('[fleets.g]\nleg = "pq"\n', "fleets.g.vessels",
                                   "missing required key"),
    "missing key of a switched rule": ('[legs.bp]\ndispatch = {rule = "timetable"}\n',
                                       "legs.bp.dispatch.interval_h", "missing required key"),
    "check of a whole table": ("[fleets.f]\ncapacity_wagons = 10\n", "fleets.f.capacity_wagons",
                               "exactly one of"),
    "check across a distribution": ("[legs.ab.run_time_h]\nhigh = 45\n",
                                    "legs.ab.run_time_h.high", "low <= mode <= high"),
    "check across run settings": ("[scenario]\nhorizon_days = 10\n", "scenario.horizon_days",
                                  "warmup_days (20) < horizon_days (10)"),
    "node kind breaks a sea leg": ('[nodes.p]\nkind = "terminal"\n', "nodes.p.kind",
                                   "expected 'port'"),
    "leg mode breaks a fleet": (
        '[legs.pq]\nmode = "rail"\nfrom = "p"\nto = "q"\nrun_time_h = 20\n'
        "train_capacity_teu = 100\n",
        "legs.pq.mode",
        "expected 'sea'",
    ),
    "train too long for a base yard": ("[legs.bp]\ntrain_capacity_teu = 700\n",
                                       "legs.bp.train_capacity_teu", "at most 600 TEU"),
    "wait longer than gridlock": ('[legs.bp]\ndispatch = {rule = "timetable", interval_h = 200}\n',
                                  "legs.bp.dispatch.interval_h", "scenario.gridlock_days"),
    "parallel leg": ('[legs.ab2]\nmode = "rail"\nfrom = "a"\nto = "b"\nrun_time_h = 3\n'
                     "train_capacity_teu = 50\n", "legs.ab2.from", "one leg from 'a' to 'b'"),
}


@pytest.mark.parametrize("case", sorted(EXTENDING_ERRORS))
def test_extending_file_errors_name_the_extending_file(case, tmp_path, capsys):
    text, key, expected = EXTENDING_ERRORS[case]
    base, ext = extending(tmp_path, text)
    line = check_run(tmp_path, capsys, [str(ext)])
    assert f"error: {ext}: {key}: " in line and expected in line
    assert str(base) not in line
    assert check_validate(capsys, [str(ext)]) == line


def test_missing_key_goes_to_the_file_that_defines_the_table(tmp_path, capsys):
    base = write(tmp_path, TINY_TEXT.replace("vessels = 3\n", ""), "base.toml")
    mid = write(tmp_path, 'extends = "base.toml"\n[fleets.f]\nload_factor = 0.8\n', "mid.toml")
    top = write(tmp_path, 'extends = "mid.toml"\n[scenario]\nname = "top"\n', "top.toml")
    line = check_validate(capsys, [str(top)])
    assert f"error: {mid}: fleets.f.vessels: missing required key" in line
    assert str(base) not in line


# -- switching a table's type replaces it ---------------------------------------------


def test_extending_file_switches_types(tmp_path, capsys):
    _, ext = extending(
        tmp_path,
        '[legs.bp]\ndispatch = {rule = "timetable", interval_h = 48}\n'
        '[legs.ab]\nrun_time_h = {dist = "exponential", mean = 50}\n'
        "[legs.qz]\nrun_time_h = {dist = \"triangular\", low = 30, mode = 40, high = 50}\n"
        '[nodes.b]\nkind = "terminal"\nhandling_tracks = 2\n'
        "[weather.sea]\nstorm_duration_h = 36\n",
    )
    rc, out, err = run_cli(["validate", str(ext)], capsys)
    assert rc == 0, err
    legs = load_scenario(ext).resolved["legs"]
    assert legs["bp"]["dispatch"] == {"rule": "timetable", "interval_h": 48, "offset_h": 0.0}
    assert legs["ab"]["run_time_h"] == {"dist": "exponential", "mean": 50}
    assert legs["qz"]["run_time_h"]["dist"] == "triangular"
    resolved = load_scenario(ext).resolved
    assert resolved["nodes"]["b"]["kind"] == "terminal"
    assert "gauge_change" not in resolved["nodes"]["b"]
    assert resolved["nodes"]["b"]["clearance_h"] == {"dist": "fixed", "value": 0.0}  # replaced
    assert resolved["weather"]["sea"]["storm_duration_h"] == {"dist": "fixed", "value": 36}


def test_extending_file_leftover_key_of_the_old_type_is_its_own_error(tmp_path, capsys):
    _, ext = extending(
        tmp_path, '[legs.bp.dispatch]\nrule = "timetable"\ninterval_h = 48\ntimeout_h = 3\n'
    )
    line = check_validate(capsys, [str(ext)])
    assert f"error: {ext}: legs.bp.dispatch.timeout_h: unknown key" in line


@pytest.mark.parametrize(
    "overrides",
    [
        ['legs.bp.dispatch={rule="timetable", interval_h=48}'],
        ["legs.bp.dispatch.rule=timetable", "legs.bp.dispatch.interval_h=48"],
        ["legs.bp.dispatch.interval_h=48", "legs.bp.dispatch.rule=timetable"],
    ],
)
def test_set_switches_a_rule(overrides, tmp_path):
    path = write(tmp_path, TINY_TEXT, "s.toml")
    dispatch = load_scenario(path, overrides).resolved["legs"]["bp"]["dispatch"]
    assert dispatch == {"rule": "timetable", "interval_h": 48, "offset_h": 0.0}


def test_set_switches_a_distribution(tmp_path, capsys):
    path = write(tmp_path, TINY_TEXT, "s.toml")
    legs = load_scenario(path, ["legs.ab.run_time_h=12"]).resolved["legs"]
    assert legs["ab"]["run_time_h"] == {"dist": "fixed", "value": 12}
    legs = load_scenario(path, ['legs.ab.run_time_h={dist="exponential", mean=9}']).resolved[
        "legs"
    ]
    assert legs["ab"]["run_time_h"] == {"dist": "exponential", "mean": 9}
    legs = load_scenario(path, ["legs.ab.run_time_h={high=80}"]).resolved["legs"]  # same type
    assert legs["ab"]["run_time_h"] == {"dist": "triangular", "low": 40, "mode": 50, "high": 80}
    line = check_validate(capsys, [str(path), "--set", 'legs.ab.run_time_h={dist="exponential"}'])
    assert "error: --set: legs.ab.run_time_h.mean: missing required key" in line


def test_set_that_breaks_a_check_is_named(tmp_path, capsys):
    path = write(tmp_path, TINY_TEXT, "s.toml")
    for override, key in [
        ('legs.bp.dispatch={rule="timetable", interval_h=200}', "legs.bp.dispatch.interval_h"),
        ("nodes.p.kind=terminal", "nodes.p.kind"),
        ("nodes.b.clearance_h.p95=3", "nodes.b.clearance_h.p95"),
        ("fleets.f.capacity_wagons=10", "fleets.f.capacity_wagons"),
    ]:
        line = check_run(tmp_path, capsys, [str(path), "--set", override])
        assert f"error: --set: {key}: " in line, (override, line)


# -- --set extends, mistyped ids ------------------------------------------------------


def test_set_extends_is_refused(tmp_path, capsys):
    path = write(tmp_path, TINY_TEXT, "s.toml")
    other = write(tmp_path, TINY_TEXT.replace('name = "tiny"', 'name = "other"'), "o.toml")
    for args in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "out")]):
        before = tree(tmp_path)
        rc, _, err = run_cli([*args, "--set", f"extends={other}"], capsys)
        assert rc == 2 and tree(tmp_path) == before
        line = one_line(err)
        assert "error: --set: extends: expected" in line
        assert "(extends can only be set in a scenario file)" in line


TYPOS = {
    "nodes": ("nodes.pp.berths=2", "unknown node 'pp' (did you mean 'p'?)"),
    "legs": ("legs.abx.train_capacity_teu=50", "unknown leg 'abx' (did you mean 'ab'?)"),
    "flows": ("flows.mian.annual_teu=5", "unknown flow 'mian' (did you mean 'main'?)"),
    "fleets": ("fleets.ff.vessels=8", "unknown fleet 'ff' (did you mean 'f'?)"),
    "wagon_pools": (
        "wagon_pools.ww.teu_per_wagon=1",
        "unknown wagon pool 'ww' (did you mean 'w'?)",
    ),
    "weather": ("weather.seaa.storm_duration_h=3",
                "unknown weather region 'seaa' (did you mean 'sea'?)"),
    "disruptions": ("disruptions.d.factor=0.5", "unknown disruption 'd' (to add one, also set "
                    "disruptions.d.kind)"),
}


@pytest.mark.parametrize("table", sorted(TYPOS))
def test_set_of_a_mistyped_id_is_unknown_not_new(table, tmp_path, capsys):
    path = write(tmp_path, TINY_TEXT, "s.toml")
    override, expected = TYPOS[table]
    line = check_run(tmp_path, capsys, [str(path), "--set", override])
    ident = override.split(".")[1]
    assert f"error: --set: {table}.{ident}: {expected}" in line


def test_set_typo_in_the_shipped_baseline(capsys):
    line = check_validate(
        capsys, [str(ROOT / "scenarios" / "baseline.toml"), "--set",
                 "fleets.caspian_feeder.vessels=8"]
    )
    assert line.endswith(
        "--set: fleets.caspian_feeder: unknown fleet 'caspian_feeder' "
        "(did you mean 'caspian_feeders'?)"
    )


def test_set_can_still_create_a_complete_entry(tmp_path):
    path = write(tmp_path, TINY_TEXT, "s.toml")
    dotted = ["fleets.g.leg=pq", "fleets.g.vessels=2", "fleets.g.capacity_teu=100"]
    whole = ['fleets.g={leg="pq", vessels=2, capacity_teu=100}']
    a, b = load_scenario(path, dotted), load_scenario(path, whole)
    assert set(a.model.fleets) == {"f", "g"} and a.sha256 == b.sha256
    with pytest.raises(Exception, match=r"^--set: fleets.g: expected exactly one of"):
        load_scenario(path, dotted[:2])  # complete keys, but the fleet's own check fails


def test_sweep_overrides_get_the_same_check(tmp_path):
    path = write(tmp_path, TINY_TEXT, "s.toml")
    with pytest.raises(Exception, match=r"^--vary/--sample: fleets.ff: unknown fleet 'ff'"):
        load_scenario(path, [("--vary/--sample", "fleets.ff.vessels=4")])


# -- hostile input --------------------------------------------------------------------


def test_very_deep_extends_chain(tmp_path, capsys):
    write(tmp_path, TINY_TEXT, "f0.toml")
    for i in range(1, 5000):
        write(tmp_path, f'extends = "f{i - 1}.toml"\n', f"f{i}.toml")
    top = tmp_path / "f4999.toml"
    line = check_run(tmp_path, capsys, [str(top)])
    assert ": extends: expected at most 32 files in a chain of extends" in line
    assert str(top) in line
    ok = tmp_path / "f20.toml"  # a legitimate chain still loads
    assert load_scenario(ok).model.scenario.name == "tiny"


DEEP = 100_000


@pytest.mark.parametrize(
    "name, text",
    [
        ("arrays.toml", "a = " + "[" * DEEP + "]" * DEEP + "\n"),
        ("tables.toml", "a = " + "{b = " * DEEP + "1" + "}" * DEEP + "\n"),
        ("some.toml", "a = " + "{b = " * 200 + "1" + "}" * 200 + "\n"),
        ("dotted.toml", "a" + ".b" * 5000 + " = 1\n"),
        ("arrays.json", "[" * DEEP + "]" * DEEP),
        ("object.json", '{"a": ' + "[" * 200 + "]" * 200 + "}"),
    ],
    ids=lambda v: v if len(v) < 20 else "",
)
def test_very_deep_nesting(name, text, tmp_path, capsys):
    path = write(tmp_path, text, name)
    line = check_run(tmp_path, capsys, [str(path)])
    assert f"error: {path}: " in line and "too deeply nested" in line


def test_very_deep_set_value(tmp_path, capsys):
    path = write(tmp_path, TINY_TEXT, "s.toml")
    for value in ("[" * DEEP + "]" * DEEP, "{b=" * 200 + "1" + "}" * 200):
        line = check_run(tmp_path, capsys, [str(path), "--set", f"scenario.x={value}"])
        assert "error: --set: scenario.x: too deeply nested" in line


def test_symlink_loop(tmp_path, capsys):
    (tmp_path / "a.toml").symlink_to(tmp_path / "b.toml")
    (tmp_path / "b.toml").symlink_to(tmp_path / "a.toml")
    line = check_run(tmp_path, capsys, [str(tmp_path / "a.toml")])
    assert f"error: {tmp_path / 'a.toml'}: cannot read file" in line
    ext = write(tmp_path, 'extends = "a.toml"\n', "ext.toml")
    line = check_validate(capsys, [str(ext)])
    assert f"error: {ext}: extends: base scenario 'a.toml': cannot read file" in line


def test_directory_and_fifo(tmp_path, capsys):
    folder = tmp_path / "dir.toml"
    folder.mkdir()
    line = check_run(tmp_path, capsys, [str(folder)])
    assert f"error: {folder}: expected a scenario file, got a directory" in line
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # must not block on open
    line = check_validate(capsys, [str(fifo)])
    assert f"error: {fifo}: expected a regular scenario file" in line


def test_not_utf8(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes(TINY_TEXT.replace('name = "tiny"', 'name = "t\xe9"').encode("latin-1"))
    line = check_run(tmp_path, capsys, [str(path)])
    assert f"error: {path}: expected UTF-8 text (byte 0xe9 at offset" in line


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads files whatever their mode")
def test_unreadable(tmp_path, capsys):
    path = write(tmp_path, TINY_TEXT, "s.toml")
    path.chmod(0)
    try:
        line = check_run(tmp_path, capsys, [str(path)])
    finally:
        path.chmod(0o644)
    assert f"error: {path}: cannot read file (permission denied)" in line


def test_read_error_is_one_line(tmp_path, capsys, monkeypatch):
    """What chmod 000 gives a non-root user, simulated so that it runs as root too."""
    path = write(tmp_path, TINY_TEXT, "s.toml")
    real = Path.read_text

    def denied(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)
    line = check_run(tmp_path, capsys, [str(path)])
    assert f"error: {path}: cannot read file (permission denied)" in line


# -- nothing changed for the shipped scenarios ----------------------------------------


def _plain_merge(base: dict[str, Any], over: dict[str, Any]) -> None:
    """The merge before type switches replaced tables: key by key."""
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _plain_merge(base[key], value)
        else:
            base[key] = value


def _plain_load(path: Path) -> dict[str, Any]:
    raw = tomllib.loads(path.read_text())
    base_name = raw.pop("extends", None)
    if base_name is None:
        return raw
    base = _plain_load(path.parent / base_name)
    _plain_merge(base, raw)
    return base


def test_shipped_scenarios_resolve_as_with_a_plain_merge(capsys):
    paths = sorted(glob.glob(str(ROOT / "scenarios" / "*.toml")))
    assert paths
    rc, _, err = run_cli(["validate", *paths], capsys)
    assert rc == 0, err
    for p in paths:
        model = scenario_from_dict(_plain_load(Path(p)))
        expected = model.model_dump(mode="json", by_alias=True, exclude={"extends"})
        assert load_scenario(p).resolved == expected, p

