"""The answer comes first, and the console and the report say the same thing.

Real short runs of the tiny scenario (fixed seeds): the summary lines carry summary.json's
numbers, the console and the report list the same KPIs with the same rounding, inputs
(cost and CO2 per TEU) are not presented as results, sweep points are flagged in the
console, sweep.csv and the report, and a flagged point is never the "best".
"""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sim import cli
from sim.experiments.economics import (
    INPUT_KPIS,
    co2_per_teu,
    cost_per_teu,
    route_co2_kg_per_teu,
    route_cost_usd_per_teu,
)
from sim.outputs.answer import (
    best_point,
    comparison_answer,
    decision_intervals,
    run_answer,
    study_demand_per_week,
)
from sim.outputs.console import MARK, format_comparison, format_summary, sweep_rows
from sim.outputs.present import fmt, fmt_stat, label, run_kpi_rows
from sim.scenario.loader import load_scenario

TINY = Path(__file__).parent / "scenarios" / "tiny.toml"
TARIFFS = [
    "--set", "legs.ab.tariff_usd_per_teu=400",
    "--set", "legs.pq.tariff_usd_per_teu=900",
    "--set", "nodes.p.handling_usd_per_teu=120",
    "--set", "economics.co2_rail_kg_per_teu_km=0.02",
    "--set", "legs.ab.distance_km=1500",
]


class Tables(HTMLParser):
    """Text of every table cell by table class, and the items of the answer box."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[tuple[str, list[list[str]]]] = []
        self.answer: list[str] = []
        self._cell: list[str] | None = None
        self._in_answer = False
        self._li: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append((a.get("class") or "", []))
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "div" and "answer" in (a.get("class") or ""):
            self._in_answer = True
        elif tag == "li" and self._in_answer:
            self._li = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "li" and self._li is not None:
            self.answer.append(" ".join("".join(self._li).split()))
            self._li = None
        elif tag == "ul" and self._in_answer:
            self._in_answer = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._li is not None:
            self._li.append(data)


def parse(path: Path) -> Tables:
    t = Tables()
    t.feed(path.read_text(encoding="utf-8"))
    return t


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "res"
    rc = cli.main(["run", str(TINY), "--horizon-days", "150", "--replications", "3",
                   "--workers", "1", "--quiet", "--no-plots", "--report", "--out", str(out)])
    assert rc in (0, 3)
    return out


def test_run_answer_carries_the_summary_numbers(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    lines = [x.text for x in run_answer(summary)]
    k = summary["kpis"]
    p50, p50_ci = fmt_stat("transit_days_p50", k["transit_days_p50"], replications=3)
    p95, p95_ci = fmt_stat("transit_days_p95", k["transit_days_p95"], replications=3)
    assert f"median {p50} days {p50_ci}, P95 {p95} days {p95_ci}" in lines[0]
    tp, tp_ci = fmt_stat("throughput_teu_per_week", k["throughput_teu_per_week"])
    demand = study_demand_per_week(summary)
    created = sum(p["created_teu"]["mean"] for p in summary["periods"].values()
                  if p["kind"] == "year")
    days = sum(p["measured_days"] for p in summary["periods"].values() if p["kind"] == "year")
    assert demand == pytest.approx(created / days * 7)
    assert f"{tp} TEU/week {tp_ci} against a demand of " \
           f"{fmt('throughput_teu_per_week', demand)} TEU/week" in lines[1]
    util, util_ci = fmt_stat("bottleneck_utilisation", summary["bottleneck"]["utilisation"])
    assert f"busy {util} {util_ci}" in lines[2]
    # the console prints the same lines first (after the one-line header), the report
    # opens with them
    console = format_summary(summary, str(run_dir))
    first = flat(console.split("\n\n")[1].replace("* ", " "))
    scenario = load_scenario(run_dir / "scenario.resolved.json").model
    answer = run_answer(summary, scenario)
    expected = [x.text for x in answer]
    assert flat(" ".join(MARK.get(x.level, "") + x.text for x in answer)) in first
    page = parse(run_dir / "report.html")
    assert [flat(t) for t in expected] == page.answer[-len(expected):]
    assert page.answer and "answer" in (run_dir / "report.html").read_text()[:5000]


def test_console_and_report_list_the_same_kpis(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    console = format_summary(summary, str(run_dir)).splitlines()
    rows = run_kpi_rows(summary)
    page = parse(run_dir / "report.html")
    kpi_table = next(rows_ for cls, rows_ in page.tables if cls == "kpis")
    report_rows = [r for r in kpi_table[1:]]
    assert [(r[0], r[2], r[3]) for r in report_rows] == [(n, m, c) for _k, n, _s, m, c in rows]
    for _k, name, _scope, mean, ci in rows:
        line = next(x for x in console if x.startswith(name + " "))
        assert line.split()[-len(f"{mean} {ci}".split()):] == f"{mean} {ci}".split()
    assert {r[0] for r in report_rows} == {label(k) for k, *_ in rows}
    assert not any("_" in r[0] for r in report_rows)  # readable names, not machine ids


def test_one_replication_of_two_is_said_so():
    stat = {"mean": 12.34, "ci95_low": None, "ci95_high": None, "n": 1}
    assert fmt_stat("transit_days_mean", stat, replications=2) == ("12.3", "(1 of 2 replications)")
    assert fmt_stat("created_teu", {"mean": 5.0, "ci95_low": -3.0, "ci95_high": 13.0, "n": 3})[1] \
        == "[0.0, 13.0]"  # a count's CI does not go below 0
    assert fmt("created_teu", 2448.04, signed=True) == "+2,450"
    assert fmt("bottleneck_utilisation", 0.8717) == "87%"


def test_cost_and_co2_are_inputs():
    scenario = load_scenario(TINY, [("test", s) for s in TARIFFS[1::2]]).model
    study = scenario.study_flow_ids()
    cost = cost_per_teu(scenario)
    assert cost == pytest.approx(
        sum(route_cost_usd_per_teu(scenario, f) * scenario.flows[f].annual_teu for f in study)
        / sum(scenario.flows[f].annual_teu for f in study)
    )
    assert cost_per_teu(scenario, {"flows": {}}) == cost  # no replication changes it
    assert co2_per_teu(scenario) == pytest.approx(route_co2_kg_per_teu(scenario, study[0]))


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cmp")
    alt = root / "more_ships.toml"
    alt.write_text(
        f'extends = "{TINY.as_posix()}"\n[scenario]\nname = "more_ships"\n'
        "[fleets.f]\nvessels = 5\n[economics]\ncapex_usd = 5e7\nlifetime_years = 25\n"
    )
    out = root / "res"
    rc = cli.main(["compare", str(TINY), str(alt), "--horizon-days", "100",
                   "--replications", "3", "--workers", "1", "--quiet", "--report",
                   "--out", str(out), *TARIFFS])
    assert rc == 0
    return out


def test_comparison_shows_inputs_as_assumptions(compare_dir):
    comp = json.loads((compare_dir / "comparison.json").read_text())
    text = format_comparison(comp)
    page = parse(compare_dir / "report.html")
    html_text = flat((compare_dir / "report.html").read_text())
    diff_table = next(rows for cls, rows in page.tables if cls == "diffs")
    for kpi in INPUT_KPIS:
        assert kpi in comp["kpis"]
        assert not any(label(kpi) in h for h in diff_table[0])  # not a result column
        assert label(kpi) not in text.split("Ranking")[-1]
    assert "Inputs, not results" in text and "Assumptions, not results" in html_text
    value = comp["scenarios"]["tiny"]["summary"]["kpis"]["cost_usd_per_teu"]["mean"]
    assert f"{fmt('cost_usd_per_teu', value)} USD/TEU in every scenario" in text
    # the interval next to each verdict is the decision's: it excludes 0 exactly when
    # the difference is significant, in the console and in the report
    intervals = decision_intervals(comp)
    for kpi, d in comp["differences"]["more_ships"].items():
        if kpi in INPUT_KPIS or d["mean"] is None:
            continue
        dec = intervals["more_ships"][kpi]
        assert (dec["low"] > 0 or dec["high"] < 0) == d["significant"], kpi
    answer = [x.text for x in comparison_answer(comp)]
    assert any("demand-bound" in a for a in answer)
    assert [flat(a) for a in answer] == page.answer


def test_inputs_are_not_tested_nor_counted_in_the_correction(compare_dir, capsys):
    comp = json.loads((compare_dir / "comparison.json").read_text())
    diffs = comp["differences"]["more_ships"]
    assert set(comp["input_kpis"]) == set(INPUT_KPIS)
    assert not set(diffs) & set(INPUT_KPIS) and set(diffs) == set(comp["tested_kpis"])
    # Holm over the result KPIs only: the smallest p is multiplied by their number
    tested = sorted((d["p_value"], k) for k, d in diffs.items() if d["p_value"] is not None)
    p_min, k_min = tested[0]
    assert diffs[k_min]["p_adjusted"] == pytest.approx(min(1.0, len(tested) * p_min))
    # the command prints the answer-first text once, not the old table as well
    alt = compare_dir.parent / "more_ships.toml"
    out = compare_dir.parent / "again"
    rc = cli.main(["compare", str(TINY), str(alt), "--horizon-days", "100",
                   "--replications", "3", "--workers", "1",
                   "--out", str(out), *TARIFFS])
    assert rc == 0
    printed = capsys.readouterr().out
    assert printed.strip().startswith("Comparison against")
    assert printed.count("Comparison against") == 1
    assert printed.replace(f"\nResults written to {out}", "").rstrip() == \
        format_comparison(json.loads((out / "comparison.json").read_text()))


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "res"
    rc = cli.main(["sweep", str(TINY), "--vary", "flows.main.annual_teu=10000,60000",
                   "--horizon-days", "300", "--workers", "1", "--report", "--out", str(out)])
    assert rc == 0
    return out


def test_sweep_flags_everywhere_and_never_best(sweep_dir, capsys):
    sweep = json.loads((sweep_dir / "sweep.json").read_text())
    flags = {p["point"]: p["flags"] for p in sweep["points"]}
    saturated = [p for p in sweep["points"] if p["flags"]["saturated"]]
    assert saturated and not all(f["saturated"] for f in flags.values())
    for p in sweep["points"]:
        rho = p["kpis"]["bottleneck_utilisation"]["mean"]
        assert p["flags"]["saturated"] == (rho >= 0.98 or p["flags"]["gridlock"])
    # the saturated point carries the most boxes, yet is never the best
    top = max(sweep["points"], key=lambda p: p["kpis"]["throughput_teu_per_week"]["mean"])
    assert top["flags"]["saturated"]
    best = best_point(sweep, "throughput_teu_per_week")
    assert best is not None and not any(best["flags"].values())
    # sweep.csv: boolean columns written true/false
    with (sweep_dir / "sweep.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        assert r["saturated"] in ("true", "false") and r["transit_biased"] in ("true", "false")
        assert (r["saturated"] == "true") == flags[int(r["point"])]["saturated"]
    # console: the result table shows the flags
    table = sweep_rows(sweep)
    assert any("saturated" in r["status"] for r in table)
    # report: badges, and the best-point table names the unflagged point
    page = parse(sweep_dir / "report.html")
    points = next(rows for cls, rows in page.tables if cls == "points")
    status = {int(r[0]): r[2] for r in points[1:]}
    for p in saturated:
        assert "saturated" in status[p["point"]] and "ok" not in status[p["point"]].split()
    best_table = next(rows for cls, rows in page.tables if cls == "" and rows[0][:3] ==
                      ["KPI", "Better", "Point"])
    for row in best_table[1:]:
        if row[2] != "–":
            assert not any(flags[int(row[2])].values()), row
