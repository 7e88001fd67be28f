"""The HTML report: self-contained (embedded PNGs only, nothing fetched), one per folder kind."""

from __future__ import annotations

import argparse
import base64
import copy
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from scipy.stats import t as t_dist

from sim import cli
from sim.commands import report as report_cmd
from sim.errors import ScenarioError
from sim.outputs.answer import decision_intervals, difference_text
from sim.outputs.present import fmt, fmt_stat
from sim.outputs.report import NOT_A_RESULTS_FOLDER, detect_kind, write_report
from sim.stats import holm

TINY = Path(__file__).parent / "scenarios" / "tiny.toml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
COORDS = {
    "a": (108.9, 34.3),
    "b": (80.4, 44.2),
    "p": (51.2, 43.6),
    "q": (49.4, 39.9),
    "z": (21.1, 55.7),
}
KPIS = [
    "throughput_teu_per_week",
    "transit_days_mean",
    "transit_days_p95",
    "bottleneck_utilisation",
]


class Tags(HTMLParser):
    """Every start tag with its attributes, the page text, and the text of each
    ``<style>`` and ``<script>`` block (kept out of the page text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.blocks: dict[str, list[str]] = {"style": [], "script": []}
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in self.blocks:
            self._in = tag
            self.blocks[tag].append("")

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        if self._in is not None:
            self.blocks[self._in][-1] += data
        else:
            self.text.append(data)


def parse_report(path: Path) -> Tags:
    """Parse a report and check that it is self-contained; return the parsed tags/text."""
    assert path.name == "report.html" and path.is_file()
    page = Tags()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    names = [t for t, _ in page.tags]
    assert names[:2] == ["html", "head"] and "body" in names and "style" in names
    assert "link" not in names and "iframe" not in names and "object" not in names
    for tag, attrs in page.tags:
        if tag == "script":  # inline scripts only (the interactive map's plotly.js)
            assert "src" not in attrs, f"<script src={attrs['src']!r}> loads a file"
        for key in ("src", "href"):
            value = attrs.get(key)
            if value is None:
                continue
            assert not value.lower().startswith(("http:", "https:", "//", "file:")), value
            if key == "href":
                assert value.startswith("#"), f"<{tag} href={value!r}> leaves the page"
        if tag == "img":
            src = attrs["src"] or ""
            assert src.startswith("data:image/png;base64,"), src[:60]
            assert base64.b64decode(src.split(",", 1)[1], validate=True)[:8] == PNG_MAGIC
        assert "url(" not in (attrs.get("style") or "")
    # the page's CSS imports nothing and fetches nothing (plotly.js, an inline script,
    # holds 'url(' in its own code: only <style> blocks are CSS)
    for css in page.blocks["style"]:
        assert "@import" not in css and "url(" not in css
    return page


def images(page: Tags) -> int:
    return sum(1 for t, _ in page.tags if t == "img")


def text_of(page: Tags) -> str:
    return " ".join(" ".join(page.text).split())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real short run of the tiny scenario (with node coordinates, so a map is drawn)."""
    out = tmp_path_factory.mktemp("run") / "res"
    sets = []
    for n, (lon, lat) in COORDS.items():
        sets += ["--set", f"nodes.{n}.lon={lon}", "--set", f"nodes.{n}.lat={lat}"]
    rc = cli.main(
        [
            "run",
            str(TINY),
            "--horizon-days",
            "60",
            "--replications",
            "2",
            "--workers",
            "1",
            "--out",
            str(out),
            "--quiet",
            *sets,
        ]
    )
    assert rc in (0, 3)
    return out


def test_run_report(run_dir):
    assert detect_kind(run_dir) == "run"
    page = parse_report(write_report(run_dir))
    summary = json.loads((run_dir / "summary.json").read_text())
    text = text_of(page)
    for kpi in ("throughput_teu_per_week", "transit_days_mean", "transit_days_p95"):
        mean, ci = fmt_stat(kpi, summary["kpis"][kpi])  # the console's rounding
        assert mean in text and ci in text, kpi
    assert "Bottleneck" in text and "Demand per flow" in text and "Fleets (sea legs)" in text
    assert summary["scenario"]["sha256"] in text
    assert summary["provenance"]["command"] in text
    assert "20,000" in text  # demand of the main flow, TEU/yr, from scenario.resolved.json
    plots = sorted(p.name for p in (run_dir / "plots").glob("*.png"))
    assert images(page) == len(plots)  # every plot embedded, the route map among them
    assert "Route map" in text
    # through time: the year of the run with its dates, its bottleneck and its KPIs
    assert "Through time" in text and "Bottleneck by calendar year" in text
    year = summary["periods"]["years.2025"]
    assert "2025-01-21 – 2025-03-01" in text  # after the 20-day warm-up, to day 59
    assert fmt_stat("transit_days_mean", year["transit_days_mean"])[0] in text
    assert "bottleneck_by_year.png" in plots
    # the interactive map: one inline plotly figure with its slider (nothing loaded)
    assert "The corridor through time (interactive)" in text
    assert any(t == "div" and a.get("id") == "corridor-interactive-map" for t, a in page.tags)
    assert page.blocks["script"] and all("src" not in a for t, a in page.tags if t == "script")
    # the folder's files, those present only (no markets: no routes.csv)
    files = text[text.index("Files in this folder"):]
    for name in ("nodes.csv", "legs.csv", "flows.csv", "timeseries.csv", "docs/outputs.md"):
        assert name in files, name
    assert "routes.csv" not in files and not (run_dir / "routes.csv").exists()


def test_run_report_draws_a_missing_route_map(run_dir, tmp_path):
    """A run folder without a map gets one drawn for the report (the folder is unchanged)."""
    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder)
    (folder / "plots" / "route_map.png").unlink(missing_ok=True)
    before = sorted(p.name for p in (folder / "plots").iterdir())
    page = parse_report(write_report(folder))
    assert images(page) == len(before) + 1
    assert "drawn for this report" in text_of(page)
    assert sorted(p.name for p in (folder / "plots").iterdir()) == before


def test_report_command_prints_the_path(run_dir, capsys):
    args = argparse.Namespace(results_dir=run_dir)
    assert report_cmd.run(args, ["report", str(run_dir)]) == 0
    out = capsys.readouterr().out.strip()
    assert out == str(run_dir / "report.html")


def test_not_a_results_folder(tmp_path, capsys, monkeypatch):
    with pytest.raises(ScenarioError, match="expected a results folder"):
        write_report(tmp_path / "missing")
    with pytest.raises(ScenarioError, match="expected a results folder"):
        report_cmd.run(argparse.Namespace(results_dir=tmp_path), ["report", str(tmp_path)])
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(ScenarioError, match="malformed JSON"):
        write_report(tmp_path)
    # through the CLI (registered here until cli.COMMANDS lists "report"): one line, status 2
    if "report" not in cli.COMMANDS:
        monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "report"))
    capsys.readouterr()
    assert cli.main(["report", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and NOT_A_RESULTS_FOLDER in err
    assert not (tmp_path / "nothing").exists()


# --------------------------------------------------------------------------------------
# Comparison and sweep folders (synthetic, in the shapes the compare/sweep commands write)
# --------------------------------------------------------------------------------------


def _shift(stat: dict, factor: float) -> dict:
    return {k: (v * factor if isinstance(v, float) else v) for k, v in stat.items()}


def make_comparison(root: Path, run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    resolved = json.loads((run_dir / "scenario.resolved.json").read_text())
    factors = {"tiny": 1.0, "more_ships": 0.9, "storms": 1.15}
    scenarios, diffs = {}, {}
    for name, f in factors.items():
        s = copy.deepcopy(summary)
        s["scenario"]["name"] = name
        for kpi in ("transit_days_mean", "transit_days_p95"):
            s["kpis"][kpi] = _shift(s["kpis"][kpi], f)
        s["kpis"]["throughput_teu_per_week"] = _shift(s["kpis"]["throughput_teu_per_week"], 1 / f)
        s["bottleneck"]["utilisation"] = _shift(s["bottleneck"]["utilisation"], f)
        r = copy.deepcopy(resolved)
        r["scenario"]["name"] = name
        if name == "more_ships":
            r["fleets"]["f"]["vessels"] = 5
        d = root / "scenarios" / name
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps(s))
        (d / "scenario.resolved.json").write_text(json.dumps(r))
        scenarios[name] = {
            "file": f"scenarios/{name}.toml",
            "sha256": "e" * 64,
            "description": f"{name} variant",
            "summary": s,
        }
    shutil.copytree(run_dir / "plots", root / "scenarios" / "tiny" / "plots")
    se = 0.5 / float(t_dist.ppf(0.975, 29))  # 95% CI half-width 0.5 over n = 30
    tests = []
    for alt, sign in (("more_ships", -1.0), ("storms", 1.0)):
        diffs[alt] = {}
        for k, kpi in enumerate(KPIS):
            mean = sign * (1.25 + k) if k < 2 else sign * 0.2  # two clear, two within noise
            p = float(2 * t_dist.sf(abs(mean) / se, 29))
            diffs[alt][kpi] = {"mean": mean, "ci95_low": mean - 0.5, "ci95_high": mean + 0.5,
                               "n": 30, "p_value": p}
            tests.append(diffs[alt][kpi])
    for d, (p_adj, sig) in zip(tests, holm([d["p_value"] for d in tests]), strict=True):
        d["p_adjusted"], d["significant"] = p_adj, sig
    comp = {
        "kind": "comparison",
        "base": "tiny",
        "order": list(factors),
        "replications": 2,
        "seed": 7,
        "horizon_days": 60.0,
        "warmup_days": 20.0,
        "scenarios": scenarios,
        "kpis": KPIS,
        "kpi_better": {
            "throughput_teu_per_week": "higher",
            "transit_days_mean": "lower",
            "transit_days_p95": "lower",
            "bottleneck_utilisation": "lower",
        },
        "differences": diffs,
        "correction": "Holm–Bonferroni over all (alternative, KPI) tests, family-wise alpha 0.05",
        "economics": {
            "more_ships": {
                "capex_usd": 5.0e7,
                "lifetime_years": 25,
                "opex_usd_per_year": 2.0e6,
                "annualised_cost_usd": 5.5e6,
                "extra_capacity_teu_per_year": 40000.0,
                "annualised_cost_per_extra_teu_usd": 137.5,
                "throughput_gain_teu_per_year": {
                    "mean": 3500.0,
                    "ci95_low": 3000.0,
                    "ci95_high": 4000.0,
                },
                "transit_days_saved": {"mean": 1.25, "ci95_low": 0.75, "ci95_high": 1.75},
                "cost_per_teu_usd": {"mean": 3100.0, "ci95_low": 3050.0, "ci95_high": 3150.0},
                "co2_kg_per_teu": {"mean": 950.0, "ci95_low": 940.0, "ci95_high": 960.0},
            }
        },
        "ranking": [
            {
                "rank": 1,
                "scenario": "more_ships",
                "metric": "annualised_cost_per_extra_teu_usd",
                "value": 137.5,
            }
        ],
        "provenance": {
            "version": "0.1.0",
            "command": "corridor compare tiny.toml more.toml",
            "seed": 7,
        },
    }
    (root / "plots").mkdir()
    (root / "comparison.json").write_text(json.dumps(comp))
    return comp


def test_comparison_report(tmp_path, run_dir):
    root = tmp_path / "cmp"
    comp = make_comparison(root, run_dir)
    assert detect_kind(root) == "comparison"
    page = parse_report(write_report(root))
    text = text_of(page)
    assert "Paired differences to the base" in text
    intervals = decision_intervals(comp)
    for alt, entry in comp["differences"].items():
        for kpi, d in entry.items():
            t = difference_text(comp, alt, kpi)
            star = " *" if d["significant"] else ""
            assert f"{t['mean']}{star} {t['ci']} ({t['level']})" in text  # the decision's CI
            assert f"95% CI, single test: {t['ci95']}" in text  # and the usual one, labelled
            assert f"{t['p']}, {t['verdict']}" in text
            dec = intervals[alt][kpi]
            assert (dec["low"] > 0 or dec["high"] < 0) == d["significant"]
    assert "p_adj 1.000, not significant" in text  # a non-significant one, adjusted p shown
    assert "Holm–Bonferroni" in text
    assert "Ranking of the alternatives" in text and "50.0 M" in text
    assert f"{fmt('cost_usd_per_teu', 137.5)} USD" in text  # the console's rounding
    assert "fleets.f.vessels" in text  # what the alternative changes, from resolved scenarios
    assert "Bottleneck per scenario" in text
    # kpi bars + forest drawn for the report (plots/ empty) + the base scenario's run plots
    n_run_plots = len(list((run_dir / "plots").glob("*.png")))
    assert images(page) == 2 + n_run_plots
    good = [a for t, a in page.tags if t == "div" and "good" in (a.get("class") or "")]
    bad = [a for t, a in page.tags if t == "div" and "bad" in (a.get("class") or "")]
    assert len(good) == 2 and len(bad) == 2  # significant better/worse cells


def make_sweep(root: Path, failed: bool = True) -> dict:
    keys = ["fleets.f.vessels", "nodes.p.yard_capacity_teu"]
    points = []
    for i, (v, y) in enumerate([(v, y) for y in (600, 900) for v in (2, 3)]):
        bad = failed and i == 0
        points.append(
            {
                "point": i,
                "values": {keys[0]: v, keys[1]: y},
                "status": "failed" if bad else "ok",
                "error": "gridlock in replication 1 since day 40.2: nodes.p yard full"
                if bad
                else None,
                "kpis": {}
                if bad
                else {
                    "throughput_teu_per_week": {
                        "mean": 300.0 + 10 * v + i,
                        "ci95_low": 290.0 + 10 * v,
                        "ci95_high": 310.0 + 10 * v + i,
                        "n": 2,
                    },
                    "transit_days_mean": {
                        "mean": 12.0 - v,
                        "ci95_low": 11.0 - v,
                        "ci95_high": 13.0 - v,
                        "n": 2,
                    },
                },
            }
        )
    sw = {
        "kind": "sweep",
        "base": "tiny",
        "varied": keys,
        "design": "factorial",
        "kpis": ["throughput_teu_per_week", "transit_days_mean"],
        "points": points,
        "provenance": {"version": "0.1.0", "command": "corridor sweep tiny.toml", "seed": 7},
    }
    root.mkdir(parents=True)
    (root / "sweep.json").write_text(json.dumps(sw))
    (root / "sweep.csv").write_text(
        "point,fleets.f.vessels,nodes.p.yard_capacity_teu,"
        "replication,throughput_teu_per_week,transit_days_mean\n"
    )
    return sw


def test_sweep_report(tmp_path):
    root = tmp_path / "sweep"
    make_sweep(root)
    assert detect_kind(root) == "sweep"
    page = parse_report(write_report(root))
    text = text_of(page)
    assert "Point 0 failed" in text and "nodes.p yard full" in text
    assert "Best point per KPI" in text and "All points" in text
    assert "vessels = 3, yard capacity teu = 900" in text  # best throughput (point 3)
    assert "fleets.f.vessels" in text and "600, 900" in text
    # no plots/ folder: a response curve and a heat map per KPI drawn for the report
    assert images(page) == 4


def test_sweep_report_embeds_existing_plots(tmp_path, run_dir):
    root = tmp_path / "sweep2"
    make_sweep(root, failed=False)
    (root / "plots").mkdir()
    src = next((run_dir / "plots").glob("*.png"))
    shutil.copy(src, root / "plots" / "response_throughput_teu_per_week.png")
    page = parse_report(write_report(root))
    assert images(page) == 1
    assert "Study-flow throughput (TEU/week) against the varied parameters" in text_of(page)
