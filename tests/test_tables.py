"""nodes.csv, legs.csv, flows.csv (one row per replication × element, the numbers
summary.json summarises), replications.csv's stream columns, and true/false in CSVs."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.model.corridor import run_replication
from sim.outputs.results import csv_cell
from sim.outputs.tables import FLOW_COLUMNS, LEG_COLUMNS, NODE_COLUMNS
from sim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
TABLES = {"nodes.csv": "nodes", "legs.csv": "legs", "flows.csv": "flows"}
ID_COLUMN = {"nodes": "node", "legs": "leg", "flows": "flow"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """The baseline (two-way, dated, with empties), 2 replications of a short horizon."""
    r = sim.run(BASELINE, replications=2, horizon_days=240, workers=2)
    return r.save(tmp_path_factory.mktemp("tables") / "run", plots=False)


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def number(cell: str) -> float | None:
    return float(cell) if cell != "" else None


def summary_of(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("table", sorted(TABLES))
def test_one_row_per_replication_and_element(folder, table):
    summary = summary_of(folder)
    section = TABLES[table]
    rows = read(folder / table)
    ids = list(summary[section])
    reps = [str(r) for r in range(summary["replications"])]
    assert [(row["replication"], row[ID_COLUMN[section]]) for row in rows] == [
        (r, ident) for r in reps for ident in ids
    ]


@pytest.mark.parametrize("table", sorted(TABLES))
def test_columns_are_what_summary_json_summarises(folder, table):
    """For every element and statistic: the mean of its column over the replications is
    summary.json's mean, and the non-empty cells are its n."""
    summary = summary_of(folder)
    section = TABLES[table]
    rows = read(folder / table)
    checked = 0
    for ident, stats in summary[section].items():
        mine = [row for row in rows if row[ID_COLUMN[section]] == ident]
        for kpi, s in stats.items():
            if not (isinstance(s, dict) and "mean" in s):
                continue
            assert kpi in mine[0], f"{table} has no column {kpi}"
            values = [number(row[kpi]) for row in mine]
            known = [v for v in values if v is not None]
            assert len(known) == s["n"], (ident, kpi)
            if s["mean"] is None:
                assert not known
                continue
            assert math.fsum(known) / len(known) == pytest.approx(s["mean"], rel=1e-6, abs=1e-6)
            checked += 1
    assert checked > 10


def test_labels_and_kinds(folder):
    scen = load_scenario(folder / "scenario.resolved.json").model
    for row in read(folder / "nodes.csv"):
        node = scen.nodes[row["node"]]
        assert row["label"] == (node.label or row["node"]) and row["kind"] == node.kind
    summary = summary_of(folder)
    for row in read(folder / "flows.csv"):
        flow = scen.flows[row["flow"]]
        assert row["study"] == ("true" if row["flow"] in summary["study_flows"] else "false")
        assert (row["origin"], row["destination"]) == (flow.route[0], flow.route[-1])
        assert row["empties_of"] == (flow.empties_of or "")


def test_legs_carry_direction_and_loaded_and_empty_teu(folder):
    summary = summary_of(folder)
    scen = load_scenario(folder / "scenario.resolved.json").model
    years = (summary["horizon_days"] - summary["warmup_days"]) / 365.0
    rows = read(folder / "legs.csv")
    for row in rows:
        leg = scen.legs[row["leg"]]
        assert (row["from_node"], row["to_node"]) == (leg.from_node, leg.to_node)
        west = scen.nodes[leg.to_node].lon < scen.nodes[leg.from_node].lon
        assert row["direction"] == ("westbound" if west else "eastbound")
        loaded, empty = number(row["teu_loaded_per_year"]), number(row["teu_empty_per_year"])
        # loaded and empty TEU together are the TEU the leg's departures carried
        assert (loaded + empty) * years == pytest.approx(float(row["teu"]), abs=1e-3)
    assert {row["direction"] for row in rows} == {"westbound", "eastbound"}
    assert any(number(row["teu_empty_per_year"]) > 0 for row in rows)
    eastbound = [row for row in rows if row["direction"] == "eastbound"]
    assert any(number(row["teu_loaded_per_year"]) > 0 for row in eastbound)


def test_replications_csv_says_which_streams_made_each_row(folder):
    summary = summary_of(folder)
    rows = read(folder / "replications.csv")
    seed = summary["seed"]
    assert [row["replication"] for row in rows] == ["0", "1"]
    for row in rows:
        assert int(row["seed"]) == seed
        assert row["seed_sequence"] == f"[{seed}, {row['replication']}, crc32(input)]"
        assert row["gridlock"] in ("true", "false")
    # the two columns reproduce a row on their own (docs/outputs.md shows how)
    scenario = load_scenario(folder / "scenario.resolved.json").model
    assert scenario.scenario.seed == int(rows[1]["seed"])
    record = run_replication(scenario, int(rows[1]["replication"]))
    assert csv_cell(record["system"]["created_teu"]) == rows[1]["created_teu"]
    assert csv_cell(record["study"]["transit_days_mean"]) == rows[1]["study_transit_days_mean"]
    assert rows[0]["created_teu"] != rows[1]["created_teu"]  # the index changes the streams


def test_booleans_are_true_or_false_in_every_csv(folder):
    csvs = sorted(folder.glob("*.csv"))
    assert len(csvs) >= 7
    for path in csvs:
        with path.open(newline="", encoding="utf-8") as fh:
            cells = {cell for row in csv.reader(fh) for cell in row}
        assert not cells & {"yes", "no", "True", "False", "nan", "None"}, path.name


def test_csv_cell():
    assert csv_cell(True) == "true" and csv_cell(np.bool_(False)) == "false"
    assert csv_cell(None) == "" and csv_cell(float("nan")) == "" and csv_cell(np.inf) == ""
    assert csv_cell(np.float32(0.5)) == "0.5" and csv_cell(1.23456789) == "1.234568"
    assert csv_cell(3) == 3 and csv_cell("a") == "a"


def test_every_column_is_documented():
    doc = (ROOT / "docs" / "outputs.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z0-9_]+)`", doc))
    from sim.outputs.summary import FLOW_KPIS, LEG_KPIS, NODE_KPIS

    columns = {"replication", "seed", "seed_sequence", *NODE_COLUMNS, *LEG_COLUMNS,
               *FLOW_COLUMNS, *NODE_KPIS, *LEG_KPIS, *FLOW_KPIS}
    assert columns - documented == set()
