"""Markets and appraisal in the analyst-facing outputs: the report's Route choice section,
the console's market lines and the answer's corridor share agree with routes.csv; the
comparison's console, report and answer show each alternative's appraisal with its CI and
the best investment by NPV; warnings are summary.json's own; input KPIs come from
comparison.json; small differences are not printed as 0.

Real short runs of tests/scenarios/markets/two_routes.toml (fixed seeds)."""

from __future__ import annotations

import csv
import json
import math
import re
from html import unescape
from pathlib import Path

import pytest

from sim.cli import main
from sim.outputs import answer as ans
from sim.outputs.console import format_comparison, format_summary
from sim.outputs.present import fmt, fmt_stat, money_stat, ratio_stat
from sim.outputs.report import warmup_text

ROOT = Path(__file__).resolve().parents[1]
CONGESTED = ROOT / "tests" / "scenarios" / "markets" / "congested"


def _text(html: str) -> str:
    """The visible text of a page, whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run of the congested market scenario with the corridor flagged, with its report."""
    out = tmp_path_factory.mktemp("market_run") / "run"
    assert main(["run", str(CONGESTED / "base.toml"), "--workers", "1", "--out", str(out),
                 "--report", "--quiet"]) in (0, 3)
    return out


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory) -> Path:
    """Base, more wagons (relieves the binding stage) and more tracks (does not)."""
    files = [str(CONGESTED / f"{name}.toml") for name in ("base", "wagons", "tracks")]
    out = tmp_path_factory.mktemp("market_cmp") / "cmp"
    assert main(["compare", *files, "--workers", "1", "--out", str(out), "--report",
                 "--quiet"]) in (0, 3)
    return out


def _measured_shares(folder: Path, summary: dict) -> dict[str, list[float]]:
    """Per route: its share of the booked TEU after the warm-up in each replication, from
    routes.csv by hand (whole months after the warm-up; the month the warm-up cuts pro
    rata by its days; nominal dates from 2025-01-01)."""
    import datetime as dt

    warm = dt.datetime(2025, 1, 1) + dt.timedelta(days=summary["warmup_days"])
    end = dt.datetime(2025, 1, 1) + dt.timedelta(days=summary["horizon_days"])
    booked: dict[tuple[str, str], float] = {}
    with (folder / "routes.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["route"] == "(lost)":
                continue
            y, m = map(int, row["month"].split("-"))
            a = dt.datetime(y, m, 1)
            b = dt.datetime(y + m // 12, m % 12 + 1, 1)
            run = (min(b, end) - a).total_seconds()
            kept = max((min(b, end) - max(a, warm)).total_seconds(), 0.0)
            key = (row["replication"], row["route"])
            booked[key] = booked.get(key, 0.0) + float(row["booked_teu"]) * kept / run
    out: dict[str, list[float]] = {}
    for rep in sorted({r for r, _ in booked}):
        total = sum(v for (r, _), v in booked.items() if r == rep)
        for (r, route), v in booked.items():
            if r == rep:
                out.setdefault(route, []).append(v / total)
    return out


def test_route_choice_in_report_console_and_answer(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    shares = _measured_shares(run_dir, summary)
    assert set(shares) == {"corridor", "coarse"}
    means = {r: sum(v) / len(v) for r, v in shares.items()}
    assert math.isclose(sum(means.values()), 1.0, rel_tol=1e-9)
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    text = _text(page)
    # the Route choice section comes right after the answer box, with the routes plot
    assert page.index('id="answer"') < page.index('id="routes"') < page.index('id="kpis"')
    section = page[page.index('<section id="routes"'):page.index('<section id="kpis"')]
    assert section.count("<img") == 1 and "Route choice" in section
    assert page.count('alt="Route choice: share of bookings') == 1  # not again in Plots
    for route, mean in means.items():
        # the hand-computed share, rounded as every output rounds it, in each place
        shown = fmt("share", mean)
        assert re.search(rf"{route}\s*(<[^>]+>\s*)*.*?{re.escape(shown)}", section, re.S)
    console = format_summary(summary, str(run_dir))
    market_line = next(x for x in console.splitlines() if x.startswith("  m: "))
    order = sorted(means, key=lambda r: -means[r])  # largest share first
    assert market_line.index(order[0]) < market_line.index(order[1])
    for route, mean in means.items():
        assert f"{route}{' (corridor)' if route == 'corridor' else ''} {fmt('share', mean)}" \
            in market_line
    # the answer states the corridor's share (the corridor route is flagged corridor = true)
    corridor_line = next(x for x in text.split("Route choice: ")[1:2])
    assert corridor_line.startswith(f"the corridor's routes take {fmt('share', means['corridor'])}")
    assert "corridor = true" in console
    # settle or oscillate, stated under the table with the equilibrium gap
    assert re.search(r"(settle|still move|too few measured months)", section)


def test_run_warnings_are_the_summary_list(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    texts = [w["text"] for w in summary["warnings"]]
    console = " ".join(format_summary(summary, str(run_dir)).split())
    page = _text((run_dir / "report.html").read_text(encoding="utf-8"))
    for t in texts:
        assert " ".join(t.split()) in console and " ".join(t.split()) in page
    if not texts:
        assert "no flow's transit KPIs are biased" in console
    # a summary with no warnings says what was checked, for every flow
    quiet = {**summary, "warnings": []}
    line = ans.run_answer(quiet)[-1]
    assert line.level == "ok" and "no flow's transit KPIs are biased" in line.text
    assert "no flow's demand exceeds capacity" in line.text


def test_warmup_line_says_not_judged_with_its_note():
    check = {"verdict": "not judged", "ok": True, "warmup_days": 60.0,
             "suggested_warmup_days": None, "note": "no steady state to reach: demand "
             "exceeds capacity for flow x", "method": "MSER-5 on ..."}
    text = warmup_text(check)
    assert text.startswith("not judged") and "no steady state to reach" in text
    assert "ok" not in text.split(";")[0]
    line = ans.no_warning_text({"warmup_check": check})
    assert "not judged" in line and "long enough" not in line


def test_comparison_shows_each_appraisal_and_the_best_by_npv(compare_dir):
    comp = json.loads((compare_dir / "comparison.json").read_text(encoding="utf-8"))
    econ = comp["economics"]
    console = format_comparison(comp)
    flat = " ".join(console.split())
    page = _text((compare_dir / "report.html").read_text(encoding="utf-8"))
    for alt in ("wagons", "tracks"):
        a = econ[alt]["appraisal"]
        npv, bcr = money_stat(a["npv_usd"]), ratio_stat(a["bcr"])
        ub = money_stat(a["user_benefit_usd_per_year"])
        ind, ind_ci = fmt_stat("created_teu", a["induced_teu_per_year"], signed=True)
        assert npv.startswith("USD ") and re.search(r" [kMb]n? \[|^USD -?[\d,.]+ \[", npv)
        for shown in (npv, bcr, ub, f"{ind} TEU/yr {ind_ci}"):
            assert shown in flat, shown
        assert npv.split(" [")[0] in page and bcr.split(" [")[0] in page
    # ranked by NPV: the wagons relieve the binding stage, the tracks do not
    assert [r["scenario"] for r in comp["ranking"]] == ["wagons", "tracks"]
    best = econ["wagons"]["appraisal"]
    lines = [x.text for x in ans.comparison_answer(comp)]
    best_line = next(x for x in lines if x.startswith("Best investment by NPV: wagons"))
    assert money_stat(best["npv_usd"]) in best_line
    if best["npv_usd"]["ci95_low"] > 0:
        assert "95% CI lies above 0" in best_line
    else:
        assert "95% CI" in best_line and "above 0" not in best_line
    induced = next(x for x in lines if x.startswith("wagons draws "))
    assert fmt_stat("created_teu", best["induced_teu_per_year"], signed=True)[0] in induced
    assert "extra capacity" in induced
    assert "Ranking by NPV" in console and "Appraisal: investments ranked by net present" in page


def test_without_costs_no_alternative_is_called_an_investment(compare_dir):
    """Policies and shocks (no capex or opex) have a user benefit but no NPV to rank:
    the answer names the largest benefit, never a 'best investment'."""
    comp = json.loads((compare_dir / "comparison.json").read_text(encoding="utf-8"))
    comp["ranking"] = []
    for e in comp["economics"].values():
        e["capex_usd"] = e["opex_usd_per_year"] = 0.0
    lines = [x.text for x in ans.comparison_answer(comp)]
    assert not any(x.startswith("Best investment") for x in lines)
    top = max(comp["economics"], key=lambda k: comp["economics"][k]["appraisal"][
        "user_benefit_usd_per_year"]["mean"])
    line = next(x for x in lines if x.startswith("Largest user benefit: "))
    assert line.startswith(f"Largest user benefit: {top}, ") and "none has an NPV or BCR" in line
    flat = " ".join(format_comparison(comp).split())
    assert "appraisal: no capex or opex stated: present value of the benefit" in flat
    assert "appraisal: NPV" not in flat


def test_with_markets_cost_and_co2_are_results(compare_dir):
    """comparison.json's input_kpis is empty with markets: cost per TEU is a result, with a
    CI and a paired test in the console, and no 'Inputs, not results' sentence."""
    from sim.outputs.plots_compare import result_kpis as plotted

    comp = json.loads((compare_dir / "comparison.json").read_text(encoding="utf-8"))
    assert comp["input_kpis"] == []
    assert "cost_usd_per_teu" in ans.result_kpis(comp) and "cost_usd_per_teu" in plotted(comp)
    assert ans.input_values(comp) == {}
    assert not any(x.text.startswith("Inputs, not results") for x in ans.comparison_answer(comp))
    assert any(line.strip().startswith("Cost per TEU") for line in
               format_comparison(comp).splitlines())
    # a comparison whose input_kpis name them: neither plotted nor tested nor a result
    old = {**comp, "input_kpis": ["cost_usd_per_teu", "co2_kg_per_teu"]}
    assert "cost_usd_per_teu" not in ans.result_kpis(old)
    assert "cost_usd_per_teu" not in plotted(old)


def test_small_differences_get_enough_digits():
    assert fmt("transit_days_mean", 0.004, signed=True) == "+0.0040"  # two significant
    assert fmt("transit_days_mean", -0.0123, signed=True) == "-0.012"
    assert fmt("transit_days_mean", 0.4, signed=True) == "+0.4"
    assert fmt("bottleneck_utilisation", 0.00012, signed=True) == "+0.012 pp"
    mean, ci = fmt_stat("transit_days_p50", {"mean": 0.004, "ci95_low": 0.002,
                                              "ci95_high": 0.006, "n": 3}, signed=True)
    assert (mean, ci) == ("+0.0040", "[+0.0020, +0.0060]")
    sweep = {
        "kpis": ["transit_days_p95"], "varied": ["fleets.f.vessels"],
        "points": [{"point": i, "status": "ok", "values": {"fleets.f.vessels": v},
                    "kpis": {"transit_days_p95": {"mean": 30.0 + i / 1000}}}
                   for i, v in enumerate((2, 3))],
        "response": [{"key": "fleets.f.vessels", "from": 2, "to": 3, "kpis": {
            "transit_days_p95": {"mean": 0.004, "ci95_low": 0.002, "ci95_high": 0.006,
                                 "n": 3, "clear": True}}}],
    }
    text = " ".join(x.text for x in ans.sweep_answer(sweep))
    assert "changes clearly at" in text and "+0.0040" in text and "[0.0, 0.0]" not in text


def test_money_and_ratios_in_human_units():
    assert money_stat({"mean": 12.3e6, "ci95_low": 8.1e6, "ci95_high": 16.5e6}) == \
        "USD 12.3 M [8.1, 16.5]"
    assert money_stat({"mean": 2.4358e9, "ci95_low": 2.3803e9, "ci95_high": 2.4913e9}) == \
        "USD 2.44 bn [2.38, 2.49]"
    assert money_stat({"mean": -9.5e5, "ci95_low": -1.16e6, "ci95_high": -7.4e5}) == \
        "USD -0.95 M [-1.16, -0.74]"
    assert ratio_stat({"mean": 1.42, "ci95_low": 1.1, "ci95_high": 1.74}) == "1.42 [1.10, 1.74]"


def test_sweep_legend_names_the_nearest_grid_point():
    from sim.outputs.plots_sweep import _reference_cell

    sweep = {"reference": {"a": 2.0, "b": 3.0}, "reference_note": "the base's a = 2.5 is "
             "not on the grid: the nearest grid point"}
    _, _, how = _reference_cell(sweep, None, "a", "b", [1.0, 2.0], [3.0, 4.0])
    assert how == "the grid point nearest the base scenario"
    _, _, how = _reference_cell({**sweep, "reference_note": None}, None, "a", "b",
                                [1.0, 2.0], [3.0, 4.0])
    assert how == "the base scenario's values"


def test_every_routes_csv_column_is_documented():
    from sim.outputs.results import ROUTE_KPIS

    doc = (ROOT / "docs" / "outputs.md").read_text(encoding="utf-8")
    section = doc[doc.index("### `routes.csv`"):doc.index("## A comparison folder")]
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, re.M))
    assert {"replication", "month", "market", "route", *ROUTE_KPIS} <= documented
    appraisal = doc[doc.index("`economics[<alternative>]`"):]
    for key in ("npv_usd", "bcr", "induced_teu_per_year", "user_benefit_usd_per_year",
                "ranking", "input_kpis"):
        assert f"`{key}`" in doc and (key in appraisal or key == "input_kpis")


def test_capex_per_extra_teu_is_shown_beside_the_published_benchmarks(compare_dir):
    """Data sheet §10.5: the published capex per TEU/yr of added terminal capacity sits
    beside each investment's capex per extra TEU/yr of corridor capacity (capex / the paired
    capacity gain), in comparison.json, the console and the report."""
    comp = json.loads((compare_dir / "comparison.json").read_text(encoding="utf-8"))
    bench = comp["capex_benchmarks"]
    assert {b["usd_per_teu_year"] for b in bench.values()} == {380, 390}
    e = comp["economics"]["wagons"]
    gain = e["extra_capacity_teu_per_year"]["mean"]
    if gain > 0:
        assert e["capex_per_extra_teu_usd"] == pytest.approx(e["capex_usd"] / gain)
    else:
        assert e["capex_per_extra_teu_usd"] is None
    flat = " ".join(format_comparison(comp).split())
    assert "published capex per TEU/yr of added terminal capacity (§10.5)" in flat
    assert "Aktau container hub, phase 1 380 USD [M16]" in flat
    page = _text((compare_dir / "report.html").read_text(encoding="utf-8"))
    assert "Capex per extra TEU/yr of capacity" in page
