"""The Python API (``sim.run``, ``sim.compare``): the README's example runs; the API gives
the numbers ``corridor run`` / ``corridor compare`` write for the same seed and writes the
same folder; bad input raises the project's error with the command line's message."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

import sim
from sim.cli import main
from sim.errors import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "scenarios" / "tiny.toml"
RUN_OPTIONS = {"replications": 2, "seed": 11, "horizon_days": 90, "workers": 1}
RUN_FLAGS = ["--replications", "2", "--seed", "11", "--horizon-days", "90", "--workers", "1"]


def cli(args: list[str], capsys) -> tuple[int, str]:
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse
        rc = int(exc.code)
    return rc, capsys.readouterr().err


def comparable(summary: dict) -> dict:
    """A summary without what differs between two runs of the same numbers: how it was
    asked for (the command line or the Python call) and the wall-clock time."""
    out = json.loads(json.dumps(summary))
    out.pop("performance", None)
    out.get("provenance", {}).pop("command", None)
    return out


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    api = [b for b in blocks if "import sim\n" in b and "sim.run(" in b]
    assert len(api) == 1, "README.md should show the Python API in one python block"
    return api[0]


# --------------------------------------------------------------------------------------
# The README example
# --------------------------------------------------------------------------------------


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    code = readme_example()
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    out = capsys.readouterr().out
    r, c = ns["r"], ns["c"]

    # the --set reached the model, and the example's short horizon the summary
    assert r.loaded.model.fleets["caspian_feeders"].vessels == 8
    assert r.summary["replications"] == 2 and r.summary["horizon_days"] == 240
    assert r.summary["bottleneck"]["element"] in out
    # save wrote the run folder, whose summary.json is r.summary
    folder = tmp_path / "results" / "8ships"
    saved = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert saved == r.summary
    for name in ("replications.csv", "nodes.csv", "legs.csv", "flows.csv", "provenance.json",
                 "scenario.resolved.json", "plots"):
        assert (folder / name).exists(), name
    # the comparison ran both scenarios with the same seed and found the investment
    assert c.summary["order"] == ["baseline", "invest_alat_phase2"]
    alat = c.loaded[1].model.nodes["alat"]
    assert alat.yard_capacity_teu > c.loaded[0].model.nodes["alat"].yard_capacity_teu
    assert "invest_alat_phase2" in out


def test_import_sim_is_cheap_and_exposes_the_api():
    code = (
        "import sys, sim\n"
        "print(sorted(m for m in sys.modules if m == 'sim' or m.startswith('sim.')))\n"
        "import sim.api\n"
        "print(sim.run is sim.api.run, sim.compare is sim.api.compare)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    loaded, same = proc.stdout.splitlines()
    assert loaded == "['sim']"  # nothing but the package until the API is used
    assert same == "True True"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        sim.nothing  # noqa: B018


# --------------------------------------------------------------------------------------
# Same numbers, same folder as the command line
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run():
    return sim.run(TINY, set=["fleets.f.vessels=2"], **RUN_OPTIONS)


def test_run_summary_equals_what_corridor_run_writes(tiny_run, tmp_path, capsys):
    out = tmp_path / "cli"
    rc, err = cli(["run", str(TINY), *RUN_FLAGS, "--set", "fleets.f.vessels=2", "--out",
                   str(out), "--no-plots", "--quiet"], capsys)
    assert rc == 0, err
    written = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert comparable(tiny_run.summary) == comparable(written)
    assert tiny_run.summary["seed"] == 11 and tiny_run.summary["replications"] == 2
    assert tiny_run.summary["provenance"]["command"].startswith("sim.run(")


def test_save_writes_what_corridor_run_writes(tiny_run, tmp_path, capsys):
    out = tmp_path / "cli"
    rc, err = cli(["run", str(TINY), *RUN_FLAGS, "--set", "fleets.f.vessels=2", "--out",
                   str(out), "--no-plots", "--quiet"], capsys)
    assert rc == 0, err
    saved = tiny_run.save(tmp_path / "api", plots=False)
    assert saved == tmp_path / "api" and tiny_run.folder == saved

    def files(folder: Path) -> set[str]:
        return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}

    assert files(saved) == files(out)
    same_bytes = ("nodes.csv", "legs.csv", "flows.csv", "monthly.csv", "legs_monthly.csv",
                  "timeseries.csv", "scenario.resolved.json", "provenance.json")
    for name in same_bytes:
        assert (saved / name).read_bytes() == (out / name).read_bytes(), name

    def without_wall_time(folder: Path) -> list[list[str]]:
        with (folder / "replications.csv").open(newline="") as fh:
            rows = list(csv.reader(fh))
        k = rows[0].index("wall_s")
        return [row[:k] + row[k + 1:] for row in rows]

    assert without_wall_time(saved) == without_wall_time(out)


def test_save_keeps_the_folder_rules(tiny_run, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "mine.txt").write_text("keep")
    with pytest.raises(ScenarioError, match="is not a results folder written by corridor"):
        tiny_run.save(notes, plots=False)
    assert [p.name for p in notes.iterdir()] == ["mine.txt"]

    first = tiny_run.save(tmp_path / "res", plots=False)
    with pytest.raises(ScenarioError, match="add --force to replace it"):
        tiny_run.save(first, plots=False)
    assert tiny_run.save(first, force=True, plots=False) == first
    assert json.loads((first / "summary.json").read_text()) == tiny_run.summary


def test_kpis_are_tidy_rows_of_the_summary(tiny_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    rows = tiny_run.kpis
    assert isinstance(rows, list)
    by_kpi = {row["kpi"]: row for row in rows}
    for kpi, s in tiny_run.summary["kpis"].items():
        assert by_kpi[kpi]["mean"] == s["mean"]
        assert (by_kpi[kpi]["ci95_low"], by_kpi[kpi]["ci95_high"]) == (
            s["ci95_low"], s["ci95_high"])
        assert by_kpi[kpi]["n"] == s["n"]
    assert by_kpi["bottleneck_utilisation"]["mean"] == (
        tiny_run.summary["bottleneck"]["utilisation"]["mean"])
    assert by_kpi["transit_days_p95"]["unit"] == "days"
    assert by_kpi["throughput_teu_per_week"]["unit"] == "TEU/week"
    assert by_kpi["created_teu"]["unit"] == "TEU"
    assert by_kpi["cohort_inside_share"]["unit"] == "fraction"


def test_kpis_are_a_dataframe_with_pandas(tiny_run):
    pd = pytest.importorskip("pandas")
    frame = tiny_run.kpis
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["kpi", "mean", "ci95_low", "ci95_high", "n", "unit"]
    row = frame.set_index("kpi").loc["transit_days_mean"]
    assert row["mean"] == tiny_run.summary["kpis"]["transit_days_mean"]["mean"]


def test_compare_equals_corridor_compare(tmp_path, capsys):
    alt = tmp_path / "alt.toml"
    alt.write_text(
        f'extends = "{TINY}"\n[scenario]\nname = "tiny_more_ships"\n'
        "[fleets.f]\nvessels = 5\n"
    )
    options = {k: v for k, v in RUN_OPTIONS.items()}
    c = sim.compare([TINY, alt], **options)
    out = tmp_path / "cli"
    rc, err = cli(["compare", str(TINY), str(alt), *RUN_FLAGS, "--out", str(out), "--quiet"],
                  capsys)
    assert rc == 0, err
    written = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    assert c.summary["order"] == ["tiny", "tiny_more_ships"]
    for name in c.summary["order"]:
        for doc in (c.summary, written):
            doc["scenarios"][name]["summary"] = comparable(doc["scenarios"][name]["summary"])
    for doc in (c.summary, written):
        doc["provenance"].pop("command")
    assert c.summary == written

    saved = c.save(tmp_path / "api", plots=False)
    assert (saved / "replications.csv").read_bytes() == (out / "replications.csv").read_bytes()
    for name in c.summary["order"]:
        for table in ("nodes.csv", "legs.csv", "flows.csv"):
            assert (saved / "scenarios" / name / table).read_bytes() == (
                out / "scenarios" / name / table).read_bytes()
    assert not (saved / "plots").exists() and (out / "plots").is_dir()

    rows = c.kpis if isinstance(c.kpis, list) else c.kpis.to_dict("records")
    diff = next(r for r in rows if r["scenario"] == "tiny_more_ships"
                and r["kpi"] == "transit_days_mean")
    expected = written["differences"]["tiny_more_ships"]["transit_days_mean"]
    assert diff["diff_mean"] == expected["mean"]
    assert diff["significant"] == expected["significant"]
    base_diffs = [r["diff_mean"] for r in rows if r["scenario"] == "tiny"]
    assert base_diffs and all(d is None or d != d for d in base_diffs)  # None, or NaN in pandas


# --------------------------------------------------------------------------------------
# Bad input: the project's error, the command line's message, no deep traceback
# --------------------------------------------------------------------------------------

BAD_RUNS = {
    "unknown key in --set": ({"set": ["fleets.f.vesels=2"]}, ["--set", "fleets.f.vesels=2"]),
    "malformed --set": ({"set": "fleets.f.vessels"}, ["--set", "fleets.f.vessels"]),
    "negative horizon": ({"horizon_days": -5}, ["--horizon-days", "-5"]),
    "no replications": ({"replications": 0}, ["--replications", "0"]),
    "too many replications": ({"replications": 10**6}, ["--replications", str(10**6)]),
    "no workers": ({"workers": 0}, ["--workers", "0"]),
    "seed not a number": ({"seed": "x"}, ["--seed", "x"]),
    "target CI out of range": ({"target_ci": 2.0}, ["--target-ci", "2"]),
    "unknown target KPI": ({"target_ci": 0.1, "target_kpi": "speed"},
                           ["--target-ci", "0.1", "--target-kpi", "speed"]),
}


def assert_shallow(exc: BaseException) -> None:
    """The traceback starts in the API call, not deep inside the package."""
    files = {Path(f.filename).name for f in traceback.extract_tb(exc.__traceback__)}
    assert files <= {"test_api.py", "api.py"}, files
    assert exc.__suppress_context__


@pytest.mark.parametrize("case", sorted(BAD_RUNS))
def test_bad_run_input_raises_the_cli_message(case, tmp_path, capsys):
    kwargs, flags = BAD_RUNS[case]
    with pytest.raises(ScenarioError) as info:
        sim.run(TINY, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert_shallow(info.value)
    rc, err = cli(["run", str(TINY), *flags, "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert rc == 2 and err.count("\n") == 1
    if err.startswith("corridor: error: "):
        assert err == f"corridor: error: {message}\n"
    else:  # argparse's check of a flag: "corridor run: error: argument --flag: ..."
        assert err.rstrip("\n").endswith(f"argument {message}")
    assert not (tmp_path / "o").exists()


def test_missing_scenario_file(tmp_path, capsys):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError) as info:
        sim.run(missing)
    assert str(missing) in str(info.value)
    _, err = cli(["run", str(missing)], capsys)
    assert err == f"corridor: error: {info.value}\n"


def test_bad_compare_input(tmp_path, capsys):
    with pytest.raises(ScenarioError) as info:  # two scenarios of one name
        sim.compare([TINY, TINY], replications=2)
    assert_shallow(info.value)
    _, err = cli(["compare", str(TINY), str(TINY), "--out", str(tmp_path / "o")], capsys)
    assert err == f"corridor: error: {info.value}\n"
    with pytest.raises(ScenarioError, match="at least one alternative"):
        sim.compare([TINY])


def test_gridlock_is_a_warning_and_in_the_result():
    closed = ['disruptions.shut.kind="factor"', 'disruptions.shut.target="nodes.b"',
              "disruptions.shut.start_day=30", "disruptions.shut.factor=0"]
    with pytest.warns(RuntimeWarning, match="gridlock in replication 0 since day") as record:
        r = sim.run(TINY, replications=1, workers=1, set=closed)
    assert record[0].filename == __file__  # points at the caller's line
    assert [g["replication"] for g in r.gridlock] == [0]
