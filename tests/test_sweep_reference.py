"""The sweep heat maps' reference is the base scenario (or the grid point nearest it), and
every point carries its per-replication records so the cells are compared pairwise.

Real short sweeps of the tiny scenario (fixed seed) and the reference rule on hand-made
grids.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sim import cli
from sim.experiments.sweep import base_values, grid_reference

TINY = Path(__file__).parent / "scenarios" / "tiny.toml"


def test_reference_is_the_base_when_it_is_a_grid_point():
    points = [{"a": x, "b": y} for x in (1, 2, 3) for y in (0.5, 1.0)]
    ref, note = grid_reference({"a": 2, "b": 1.0}, ["a", "b"], points)
    assert ref == {"a": 2, "b": 1.0} and note is None
    ref, note = grid_reference({"a": 2.0, "b": 1}, ["a", "b"], points)  # 2.0 is level 2
    assert ref == {"a": 2, "b": 1.0} and note is None


def test_reference_moves_to_the_nearest_level_and_says_so():
    points = [{"a": x, "b": y} for x in (1, 4, 10) for y in ("x", "y")]
    ref, note = grid_reference({"a": 6, "b": "y"}, ["a", "b"], points)
    assert ref == {"a": 4, "b": "y"}
    assert note is not None and "a is 6" in note and "4 is used" in note and "b " not in note
    # a tie goes to the lower level; a value of another kind to the first level
    assert grid_reference({"a": 7, "b": "z"}, ["a", "b"], points)[0] == {"a": 4, "b": "x"}
    # True is not the level 1
    ref, note = grid_reference({"a": True}, ["a"], [{"a": 1}, {"a": False}, {"a": True}])
    assert ref == {"a": True} and note is None
    assert grid_reference({}, ["a"], points) == (None, None)


def test_base_values_follow_dotted_keys():
    resolved = {"fleets": {"f": {"vessels": 3}}, "flows": {"main": {"annual_teu": 20000}}}
    assert base_values(resolved, ["fleets.f.vessels", "flows.main.annual_teu", "x.y"]) == {
        "fleets.f.vessels": 3, "flows.main.annual_teu": 20000}


def _sweep(out: Path, vessels: str) -> dict:
    rc = cli.main(["sweep", str(TINY), "--vary", f"fleets.f.vessels={vessels}",
                   "--vary", "flows.main.annual_teu=15000,20000", "--horizon-days", "150",
                   "--replications", "3", "--workers", "1", "--quiet", "--report",
                   "--out", str(out)])
    assert rc == 0
    return json.loads((out / "sweep.json").read_text())


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sweep_ref")
    return {"on_grid": root / "on", "off_grid": root / "off"}


def test_sweep_reference_is_the_base_point_and_points_carry_records(sweeps):
    out = sweeps["on_grid"]
    sweep = _sweep(out, "2,3,5")  # the base has 3 vessels and 20,000 TEU/yr
    assert sweep["reference"] == {"fleets.f.vessels": 3, "flows.main.annual_teu": 20000}
    assert sweep["reference_note"] is None
    stored = {}
    for f in (out / "points").glob("*.json"):
        point = json.loads(f.read_text())
        stored[json.dumps(point["values"], sort_keys=True)] = point["records"]
    for p in sweep["points"]:
        records = stored[json.dumps(p["values"], sort_keys=True)]
        assert p["records"] == records and len(records) == 3
        assert {r["replication"] for r in records} == {0, 1, 2}  # common replications
    for kpi in ("throughput_teu_per_week", "transit_days_p95", "bottleneck_utilisation"):
        assert (out / "plots" / f"heatmap_{kpi}.png").stat().st_size > 0
    with (out / "sweep.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 * 3
    assert all(r["gridlock"] in ("true", "false") for r in rows)
    html = (out / "report.html").read_text()
    assert "against the reference point (vessels = 3, annual teu = 20,000)" in html
    assert "paired t over the common replications" in html


def test_sweep_reference_off_the_grid_is_the_nearest_point(sweeps, capsys):
    out = sweeps["off_grid"]
    capsys.readouterr()
    sweep = _sweep(out, "2,5")
    assert sweep["reference"] == {"fleets.f.vessels": 2, "flows.main.annual_teu": 20000}
    note = sweep["reference_note"]
    assert "fleets.f.vessels is 3 in the base" in note and "2 is used" in note
    html = " ".join((out / "report.html").read_text().split())
    assert note.replace("'", "&#x27;") in html or note in html
