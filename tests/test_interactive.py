"""The interactive map of the report (sim/outputs/interactive.py): frames over the run's
dates with the numbers of timeseries.csv and legs_monthly.csv, hover with units and dates,
nothing fetched from the network, and a baseline report with it under 10 MB."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from sim import cli
from sim.outputs import interactive as iv
from sim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "scenarios" / "tiny.toml"
BASELINE = ROOT / "scenarios" / "baseline.toml"
COORDS = {"a": (108.9, 34.3), "b": (80.4, 44.2), "p": (51.2, 43.6), "q": (49.4, 39.9),
          "z": (21.1, 55.7)}
MAX_REPORT_BYTES = 10_000_000
TOKEN = re.compile(r"%\{customdata\[(\d+)\](?::([^}]*))?\}")


def _run(out: Path, scenario: Path, *args: str) -> Path:
    rc = cli.main(["run", str(scenario), "--workers", "1", "--out", str(out), "--quiet", *args])
    assert rc in (0, 3)
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A short run of the tiny scenario with node coordinates (daily steps)."""
    sets = []
    for n, (lon, lat) in COORDS.items():
        sets += ["--set", f"nodes.{n}.lon={lon}", "--set", f"nodes.{n}.lat={lat}"]
    out = tmp_path_factory.mktemp("iv") / "run"
    return _run(out, TINY, "--horizon-days", "60", "--replications", "2", "--no-plots", *sets)


@pytest.fixture(scope="module")
def figure(run_dir):
    scenario = load_scenario(run_dir / "scenario.resolved.json").model
    series = iv.read_timeseries(run_dir / "timeseries.csv")
    legs = iv.read_legs_monthly(run_dir / "legs_monthly.csv")
    warmup = json.loads((run_dir / "summary.json").read_text())["warmup_days"]
    return iv.interactive_figure(scenario, series, legs, warmup), scenario


def _timeseries(path: Path) -> dict[str, dict[int, list[float]]]:
    """{node: {day: [teu_at_node of each replication]}} read with the csv module."""
    out: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            out[r["node"]][int(r["day"])].append(float(r["teu_at_node"]))
    return out


def _hover(template: str, customdata: list) -> str:
    """A hover template filled in as plotly does (d3 ',.0f' is Python's ',.0f')."""
    def fill(m: re.Match) -> str:
        value = customdata[int(m.group(1))]
        return format(value, m.group(2)) if m.group(2) else str(value)

    return TOKEN.sub(fill, template).replace("<extra></extra>", "")


def _trace(fig, name_start: str) -> tuple[int, object]:
    return next((k, t) for k, t in enumerate(fig.data) if (t.name or "").startswith(name_start))


def test_frames_cover_the_run_with_the_node_numbers(figure, run_dir):
    fig, scenario = figure
    ts = _timeseries(run_dir / "timeseries.csv")
    n_days = 1 + max(max(by) for by in ts.values())
    with (run_dir / "timeseries.csv").open(newline="") as fh:
        dates = sorted({r["date"] for r in csv.DictReader(fh)})
    assert len(dates) == n_days == 60
    nodes = [n for n in scenario.nodes if n in COORDS]
    step = iv.choose_step(n_days, len(nodes) + 4)
    assert step == 1  # 60 days: daily steps fit
    names = [f.name for f in fig.frames]
    assert names == dates  # one frame per day, named by its date, first to last
    assert len(fig.layout.sliders[0].steps) == len(names)
    k_node, _ = _trace(fig, "node")
    for k in (0, 25, 59):
        frame = fig.frames[k]
        colours = frame.data[frame.traces.index(k_node)].marker.color
        expected = [round(float(np.mean(ts[n][k]))) for n in nodes]
        assert list(colours) == expected  # mean over replications of that day
    assert max(max(f.data[f.traces.index(k_node)].marker.color) for f in fig.frames) > 0


def test_weekly_steps_average_the_days(run_dir):
    """With weekly steps a node's value is the mean of its 7 days (and replications)."""
    scenario = load_scenario(run_dir / "scenario.resolved.json").model
    series = iv.read_timeseries(run_dir / "timeseries.csv")
    old = iv.STEP_CHOICES_DAYS
    try:
        iv.STEP_CHOICES_DAYS = (7,)
        fig = iv.interactive_figure(scenario, series, {}, 20.0)
    finally:
        iv.STEP_CHOICES_DAYS = old
    assert len(fig.frames) == 9  # 60 days: 8 whole weeks and 4 days
    assert fig.layout.sliders[0].steps[0].label.startswith("Week of")
    k_node, node = _trace(fig, "node")
    ts = _timeseries(run_dir / "timeseries.csv")
    nid = "p"
    i = list(node.text).index(scenario.node_label(nid).split(" (")[0])
    frame = fig.frames[3]
    got = frame.data[frame.traces.index(k_node)].customdata[i][1]
    assert got == round(float(np.mean([ts[nid][d] for d in range(21, 28)])))
    active = fig.layout.sliders[0].active
    assert active == 3  # the first week after the 20-day warm-up is shown first


def test_leg_rates_add_up_to_the_months():
    start = np.datetime64("2026-01-20")
    monthly = {"2026-01": 120.0, "2026-02": 280.0, "2026-03": 31.0}
    daily = iv.leg_week_rates(monthly, start, 12 + 28 + 31)
    assert daily.sum() == pytest.approx(sum(monthly.values()))
    assert daily[:12] == pytest.approx(np.full(12, 10.0))  # 12 days of January in the run
    assert daily[12:40] == pytest.approx(np.full(28, 10.0))
    assert daily[40:] == pytest.approx(np.full(31, 1.0))


def test_hover_has_units_dates_and_the_csv_numbers(figure, run_dir):
    fig, scenario = figure
    k_node, node = _trace(fig, "node")
    k_leg, legs = _trace(fig, "leg: hover")
    frame = fig.frames[30]
    cd = frame.data[frame.traces.index(k_node)].customdata
    text = _hover(node.hovertemplate[0], cd[0])
    assert re.search(r"\d+ \w{3} 20\d\d", text), text  # the date
    assert "TEU held:" in text and " TEU (daily mean, mean of 2 replications" in text
    assert re.search(r"in the yard: [\d,]+ TEU", text) and "TEU in the day" in text
    leg_cd = frame.data[frame.traces.index(k_leg)].customdata
    monthly = iv.read_legs_monthly(run_dir / "legs_monthly.csv")
    month = fig.frames[30].name[:7]
    totals: list[int] = []
    for template, row in zip(legs.hovertemplate, leg_cd, strict=True):
        text = _hover(template, row)
        assert "TEU/week" in text and re.search(r"\d+ \w{3} 20\d\d", text), text
        found = [int(t.replace(",", "")) for t in re.findall(r"\(([\d,]+) TEU in ", text)]
        assert found  # each direction's month total
        totals += found
    # as legs_monthly.csv has them (mean over replications), one per leg
    assert sorted(totals) == sorted(round(v.get(month, 0.0)) for v in monthly.values())
    assert max(totals) > 0


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


REMOTE = ("http:", "https:", "//", "ftp:", "file:")


def test_fragment_loads_nothing_from_the_network(run_dir):
    frag = iv.interactive_section_from_folder(run_dir)
    page = _Tags()
    page.feed(frag)
    page.close()
    names = [t for t, _ in page.tags]
    assert "script" in names and "Plotly.newPlot" in frag and iv.DIV_ID in frag
    assert not {"link", "iframe", "img", "object", "embed", "base"} & set(names)
    for tag, attrs in page.tags:
        for key in ("src", "href", "srcset", "data", "poster"):
            value = (attrs.get(key) or "").strip().lower()
            assert not value.startswith(REMOTE), f"<{tag} {key}={value!r}>"
        if tag == "script":
            assert "src" not in attrs  # plotly.js inlined
    for css in page.styles:
        assert "@import" not in css and not re.search(r"url\(\s*['\"]?(https?:|//)", css)
    assert "MathJax.js" not in frag
    # the figure uses no geo/map trace or layout (they fetch basemaps or topojson)
    spec = json.loads(iv.interactive_figure(
        load_scenario(run_dir / "scenario.resolved.json").model,
        iv.read_timeseries(run_dir / "timeseries.csv"), {}, 20.0,
    ).to_json())
    assert {t["type"] for t in spec["data"]} == {"scatter"}
    assert not {"geo", "mapbox", "map"} & set(spec["layout"])
    assert '"displaylogo": false' in frag  # no link to plotly.com in the mode bar


def test_same_folder_same_fragment(run_dir):
    assert iv.interactive_section_from_folder(run_dir) == iv.interactive_section_from_folder(
        run_dir
    )


def test_missing_inputs_give_one_muted_line(tmp_path, run_dir):
    assert "no timeseries.csv" in iv.interactive_section_from_folder(tmp_path)
    for name in ("timeseries.csv", "scenario.resolved.json", "summary.json"):
        shutil.copy(run_dir / name, tmp_path / name)
    resolved = json.loads((tmp_path / "scenario.resolved.json").read_text())
    for node in resolved["nodes"].values():
        node["lat"] = node["lon"] = None
    (tmp_path / "scenario.resolved.json").write_text(json.dumps(resolved))
    text = iv.interactive_section_from_folder(tmp_path)
    assert text.startswith('<p class="muted">') and "coordinates" in text
    (tmp_path / "timeseries.csv").write_text("replication,day,date,node\n0,x,2026-01-01,a\n")
    assert iv.interactive_section_from_folder(tmp_path).startswith('<p class="muted">')


@pytest.mark.parametrize("n_days", [1, 30, 60, 200, 365, 1216, 3000, 20_000])
@pytest.mark.parametrize("elements", [1, 12, 29, 60, 400])
def test_choose_step_is_the_finest_that_keeps_the_file_small(n_days, elements):
    step = iv.choose_step(n_days, elements)
    frames = -(-n_days // step)
    assert frames <= iv.MAX_FRAMES and frames * elements <= iv.MAX_CELLS
    finer = [s for s in iv.STEP_CHOICES_DAYS if s < step]
    for s in finer:  # every finer step breaks a limit
        f = -(-n_days // s)
        assert f > iv.MAX_FRAMES or f * elements > iv.MAX_CELLS


def test_baseline_report_with_the_map_is_under_10_mb(tmp_path):
    """The full baseline report as written (plots embedded, the interactive map inside it:
    write_report adds it), measured alone."""
    from sim.outputs.report import write_report

    folder = _run(tmp_path / "base", BASELINE, "--replications", "2")
    page = write_report(folder).read_text(encoding="utf-8")
    assert page.count("Plotly.newPlot") >= 1 and "Week of" in page  # weekly steps, 1,216 d
    size = len(page.encode("utf-8"))
    print(f"baseline report {size:,} B")
    assert size < MAX_REPORT_BYTES


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_renders_offline_in_headless_chromium(run_dir, tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>map</title></head><body>'
        + iv.interactive_section_from_folder(run_dir) + "</body></html>",
        encoding="utf-8",
    )
    cmd = [
        "chromium", "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", "--proxy-server=127.0.0.1:9",
        "--virtual-time-budget=5000", "--dump-dom", page.as_uri(),
    ]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    assert 'class="main-svg"' in dom  # plotly drew the figure without any network
    assert "scatterlayer" in dom and "slider-container" in dom
