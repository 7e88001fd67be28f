"""Inputs are auditable: every cited source ID resolves in docs/sources.md, and the provenance of
each scenario input (its cited IDs, or "estimate") reaches the outputs (provenance.json, report)."""

from __future__ import annotations

import contextlib
import json
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sim import cli
from sim.experiments import calibrate
from sim.outputs.report import write_report
from sim.scenario.provenance import (
    PROVENANCE_NAME,
    ProvenanceError,
    cited_ids,
    defined_ids,
    lookup,
    parse_comment,
    provenance_document,
    read_provenance,
    results_provenance,
    scenario_provenance,
    unresolved_ids,
    write_provenance,
)

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "docs" / "sources.md"
BASELINE = ROOT / "scenarios" / "baseline.toml"
TINY = ROOT / "tests" / "scenarios" / "tiny.toml"
DATA_SHEET = ROOT.parent / "shared" / "corridor_data.md"  # the data sheet, when beside the repo
FIGURES = "sim/data/published_figures.toml"  # calibrate's published figures and their sources
SKIP_DIRS = {".git", "results", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}
CITING_SUFFIXES = {".toml", ".py", ".md", ".txt", ".json"}


def citing_files() -> list[Path]:
    """Every text file of the repository that may cite a source (docs/sources.md excluded)."""
    out = []
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and path.suffix in CITING_SUFFIXES and path != SOURCES:
            out.append(path)
    return out


def citations() -> dict[str, list[str]]:
    """ID -> where it is cited (file:line), over the repository and calibrate's figures."""
    where: dict[str, list[str]] = {}
    for path in citing_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            for source_id in cited_ids(line):
                where.setdefault(source_id, []).append(f"{path.relative_to(ROOT)}:{n}")
    figures = tomllib.loads(calibrate.FIGURES_FILE.read_text(encoding="utf-8"))["figure"]
    for figure in figures:  # cited unbracketed, printed by `corridor calibrate`
        for source_id in figure["sources"]:
            where.setdefault(source_id, []).append(f"{FIGURES} ({figure['id']})")
    return where


def defined() -> set[str]:
    return defined_ids(SOURCES.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------
# docs/sources.md
# --------------------------------------------------------------------------------------


def test_every_cited_id_has_an_entry():
    where = citations()
    assert len(where) > 50  # the scan found the scenario files' citations
    missing = unresolved_ids(where, defined())
    assert not missing, "cited but not listed in docs/sources.md: " + "; ".join(
        f"[{i}] at {', '.join(where[i][:3])}" for i in missing
    )


def test_published_figures_cite_listed_sources():
    """Every figure of sim/data/published_figures.toml cites sources, all listed."""
    assert calibrate.FIGURES_FILE == ROOT / FIGURES
    known = defined()
    for figure in calibrate.PUBLISHED:
        assert figure.sources, figure.id
        missing = unresolved_ids(figure.sources, known)
        assert not missing, f"{FIGURES}: figure {figure.id!r} cites unlisted {missing}"


def test_capex_benchmarks_cite_listed_sources():
    """Every published capex benchmark (data sheet §10.5) cites sources, all listed."""
    from sim.experiments.economics import capex_benchmarks

    known = defined()
    for key, bench in capex_benchmarks().items():
        assert bench["sources"] and bench["usd_per_teu_year"] > 0, key
        missing = unresolved_ids(bench["sources"], known)
        assert not missing, f"sim/data/capex_benchmarks.toml: {key!r} cites unlisted {missing}"


def test_the_checker_fails_on_an_unknown_id():
    # built by concatenation so that this file itself cites no unknown ID
    unknown_s, unknown_g = "S" + "42z", "G" + "99"
    text = f"vessels = 6  # 4 KMTF + 2 ASCO [S25][{unknown_g}]\nx = 1  # E: see [{unknown_s}]\n"
    assert cited_ids(text) == ["S25", unknown_g, unknown_s]
    assert unresolved_ids(cited_ids(text), defined()) == [unknown_g, unknown_s]
    doc = "- **[S25]** Fleet. SIA, 2025. <https://example.org>\n- [S26] not an entry\n"
    assert defined_ids(doc) == {"S25"}
    assert unresolved_ids(["S25", "S26"], defined_ids(doc)) == ["S26"]


def test_entries_are_unique_and_complete():
    text = SOURCES.read_text(encoding="utf-8")
    entries = re.findall(r"^- \*\*\[([SGM]\d+[a-z]?)\]\*\* (.+)$", text, re.MULTILINE)
    ids = [i for i, _ in entries]
    assert len(ids) == len(set(ids)), "an ID is listed twice"
    assert len(ids) >= 230  # S1-S100 with their letters, G01-G21, M01-M25
    for source_id, body in entries:
        assert len(body) > 40, source_id
        assert re.search(r"http|address|doi", body, re.IGNORECASE), f"{source_id}: no address"
    for source_id in ("S42a", "S47a", "S56c", "S47c", "S47d", "S53", "S55", "M01", "M25", "G21"):
        assert source_id in ids, source_id
    assert "/work/" not in text


@pytest.mark.skipif(not DATA_SHEET.is_file(), reason="the data sheet is not beside the repo")
def test_every_id_of_the_data_sheet_is_listed():
    """New scenarios may cite any ID of the data sheet, so all of them are listed."""
    sheet = DATA_SHEET.read_text(encoding="utf-8")
    ids = set(re.findall(r"\b([SGM]\d{1,3}[a-z]?)\b", sheet))
    assert not unresolved_ids(ids, defined())


def test_calibrate_help_points_into_the_repository(capsys):
    with contextlib.suppress(SystemExit):
        cli.main(["calibrate", "--help"])
    out = capsys.readouterr().out
    assert "docs/sources.md" in out and "/work/" not in out


# --------------------------------------------------------------------------------------
# Provenance of scenario inputs
# --------------------------------------------------------------------------------------


def test_provenance_of_baseline_keys():
    prov = scenario_provenance(BASELINE)
    vessels = lookup(prov, "fleets.caspian_feeders.vessels")
    assert vessels.sources == ("S25", "G10") and not vessels.estimate
    assert vessels.label == "[S25] [G10]" and vessels.file == str(BASELINE)
    assert (
        BASELINE.read_text(encoding="utf-8")
        .splitlines()[vessels.line - 1]
        .startswith("vessels = 6")
    )
    yard = lookup(prov, "nodes.aktau.yard_capacity_teu")
    assert yard.estimate and "S42" in yard.sources and yard.label.endswith("estimate")
    assert lookup(prov, "nodes.aktau.cranes_per_berth").label == "estimate"  # "# E" alone
    # an inline table's keys share its line
    assert lookup(prov, "nodes.khorgos.clearance_h.p95").sources == ("S13", "S14", "S56")
    # sourced and estimated on one line: "[S74b]; E: 2 per feeder", ", E from [S84]"
    cranes = lookup(prov, "nodes.constanta.cranes_per_berth")
    assert cranes.sources == ("S74b",) and cranes.estimate
    run = lookup(prov, "legs.xian_khorgos.run_time_h")
    assert run.sources == ("S84",) and run.estimate and "§7.2 row 1" in run.sections
    # the comment block right above a key that says nothing itself
    storms = lookup(prov, "weather.caspian.storm_rate_per_month")
    assert storms.estimate and {"S46", "G19", "G20", "S46e"} <= set(storms.sources)
    # no source given; a data-sheet section only; a key no line sets
    assert lookup(prov, "scenario.gridlock_days").label == "—"
    # a market's size is an estimate with no source
    assert lookup(prov, "markets.cn_baltic.annual_teu").label == "estimate"
    assert lookup(prov, "flows.bg_aktau.block_train_teu").label == "§7.1"
    assert lookup(prov, "nodes.xian.yard_capacity_teu") is None
    assert "scenario.description" in prov and "extends" not in prov


def test_every_key_of_every_scenario_file_has_a_line():
    files = [*ROOT.glob("scenarios/*.toml"), *ROOT.glob("benchmarks/scenarios/*.toml")]
    files += list((ROOT / "tests" / "scenarios").rglob("*.toml"))
    assert len(files) >= 10

    def leaves(d, prefix=()):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from leaves(v, (*prefix, k))
            else:
                yield ".".join((*prefix, k))

    for path in files:
        prov = scenario_provenance(path)
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        data.pop("extends", None)
        for key in leaves(data):
            p = lookup(prov, key)
            assert p is not None, f"{path.name}: {key}"


def test_the_extending_file_wins():
    low_water = ROOT / "scenarios" / "disrupt_low_water.toml"
    prov = scenario_provenance(low_water)
    feeders = lookup(prov, "fleets.caspian_feeders.load_factor")
    assert feeders.file == str(low_water) and feeders.sources == ("S45", "S8", "S45c")
    assert lookup(prov, "fleets.caspian_feeders.vessels").file == str(BASELINE)
    # a dotted key of a scaled copy overrides one key of the base's inline table
    scaled = scenario_provenance(ROOT / "benchmarks" / "scenarios" / "baseline_2m.toml")
    assert lookup(scaled, "fleets.caspian_feeders.vessels").label == "—"  # scaled, no comment
    assert lookup(scaled, "fleets.blacksea_feeder.dispatch.interval_h").line is not None
    assert lookup(scaled, "fleets.blacksea_feeder.dispatch.rule").sources == ("S73",)
    assert lookup(scaled, "fleets.blacksea_feeder.dispatch.rule").file == str(BASELINE)


def test_a_replaced_table_leaves_no_stale_keys(tmp_path):
    child = tmp_path / "child.toml"
    child.write_text(
        f'extends = "{BASELINE.as_posix()}"\n'
        "[nodes.khorgos]\n"
        "clearance_h = 30  # E: flat\n"
        "[nodes.aktau]\n"
        'dwell_h = { dist = "uniform", low = 6, high = 12 }  # [S37]\n',
        encoding="utf-8",
    )
    prov = scenario_provenance(child)
    assert not any(k.startswith("nodes.khorgos.clearance_h.") for k in prov)
    assert lookup(prov, "nodes.khorgos.clearance_h").label == "estimate"
    assert "nodes.aktau.dwell_h.mode" not in prov  # the triangular's key is gone
    assert lookup(prov, "nodes.aktau.dwell_h.low").sources == ("S37",)
    assert lookup(prov, "nodes.aktau.clearance_h.p95").file == str(BASELINE)


def test_flags_replace_the_line():
    prov = scenario_provenance(
        BASELINE,
        [
            "fleets.caspian_feeders.vessels=8",
            ("--seed", "scenario.seed=3"),
            "nodes.aktau.dwell_h=5",
        ],
    )
    assert lookup(prov, "fleets.caspian_feeders.vessels").label == "--set"
    assert lookup(prov, "scenario.seed").label == "--seed"
    assert lookup(prov, "nodes.aktau.dwell_h.mode").label == "--set"  # no stale inline key


def test_comment_conventions():
    assert parse_comment("# E")[1]
    assert parse_comment("# E: runtime budget")[1]
    assert parse_comment("# E (§7.2 row 5)") == ((), True, ("§7.2 row 5",))
    assert parse_comment("# §7.2 row 11: tri(3,4,7) d, E [G06][G07]")[:2] == (("G06", "G07"), True)
    assert parse_comment("# weekly service, E")[1]
    assert parse_comment("# needs 2 ships (E).")[1]
    assert parse_comment('# Sources: docs/sources.md; "E" = estimate made here.')[1] is False
    assert parse_comment("# EU rail; E.g. a note; E60 ferry [S73c]") == (("S73c",), False, ())
    assert parse_comment("# E: §4-appendix tri(1,3,10) d")[2] == ("appendix §4",)


def test_tricky_toml(tmp_path):
    path = tmp_path / "tricky.toml"
    path.write_text(
        "# a header [S1]\n"
        "\n"
        "[scenario]\n"
        'name = "x"\n'
        'description = """a [fake] header\n'
        "[nodes.fake]\n"
        "x = 1  # [S2]\n"
        '"""\n'
        "[nodes.a]   # a table comment [S3]\n"
        "route = [\n"
        '  "a",  # first [S5]\n'
        '  "b",  # E: second\n'
        "]\n"
        "dispatch.timeout_h = 5  # [G03]\n"
        '"quoted key" = 1 # [M01]\n'
        's = "a # not a comment [S6]"   # real [S7]\n'
        "t = 'C:\\path # no'  # [S8]\n"
        'u = "say \\"hi\\" # no"  # [S10]\n'
        "[[items]]\n"
        "v = 1  # [S9]\n"
        "[[items]]\n"
        "v = 2\n",
        encoding="utf-8",
    )
    tomllib.loads(path.read_text(encoding="utf-8"))  # valid TOML
    prov = scenario_provenance(path)
    assert not any(k.startswith("nodes.fake") for k in prov)
    assert "S1" not in {s for p in prov.values() for s in p.sources}
    route = prov["nodes.a.route"]
    assert route.sources == ("S5",) and route.estimate and route.line == 10
    assert prov["nodes.a.dispatch.timeout_h"].sources == ("G03",)
    assert prov["nodes.a.quoted key"].sources == ("M01",)
    assert prov["nodes.a.s"].sources == ("S7",)
    assert prov["nodes.a.t"].sources == ("S8",) and prov["nodes.a.u"].sources == ("S10",)
    assert prov["items.0.v"].sources == ("S9",) and prov["items.1.v"].label == "—"
    assert prov["scenario.description"].line == 5


def test_provenance_json(tmp_path):
    out = write_provenance(tmp_path, BASELINE, [("--seed", "scenario.seed=1")])
    assert out.name == PROVENANCE_NAME
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["sources"] == "docs/sources.md" and doc["files"] == [str(BASELINE)]
    vessels = doc["keys"]["fleets.caspian_feeders.vessels"]
    assert vessels["sources"] == ["S25", "G10"] and vessels["label"] == "[S25] [G10]"
    assert doc["keys"]["scenario.seed"]["file"] == "--seed"
    keys = read_provenance(tmp_path)
    assert keys["nodes.aktau.yard_capacity_teu"].estimate
    # an unreadable scenario is recorded, never raised
    bad = tmp_path / "bad.toml"
    bad.write_text('[nodes.a]\nx = "unterminated\n', encoding="utf-8")
    with pytest.raises(ProvenanceError):
        scenario_provenance(bad)
    assert "error" in provenance_document(bad)
    folder = tmp_path / "f"
    folder.mkdir()
    write_provenance(folder, bad)
    assert read_provenance(folder) is None


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


class Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.headers: list[str] = []
        self._th = False

    def handle_starttag(self, tag, attrs):
        self._th = tag == "th"

    def handle_endtag(self, tag):
        self._th = False

    def handle_data(self, data):
        self.parts.append(data)
        if self._th:
            self.headers.append(data.strip())


def page_text(path: Path) -> Text:
    page = Text()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def sourced_run(tmp_path_factory) -> tuple[Path, Path]:
    """A short run of the tiny scenario extended by a file whose lines cite sources."""
    root = tmp_path_factory.mktemp("sourced")
    scenario = root / "sourced.toml"
    scenario.write_text(
        f'extends = "{TINY.as_posix()}"\n'
        "\n"
        "[scenario]\n"
        'name = "sourced"\n'
        "\n"
        "[fleets.f]\n"
        "vessels = 3                # 2 + 1 ships [S25][G10]\n"
        "\n"
        "[nodes.p]\n"
        "yard_capacity_teu = 600    # E: 4 d x 150 TEU/d\n",
        encoding="utf-8",
    )
    out = root / "res"
    argv = ["run", str(scenario), "--horizon-days", "60", "--replications", "2"]
    argv += ["--workers", "1", "--out", str(out), "--quiet", "--no-plots"]
    argv += ["--set", "fleets.f.load_factor=0.8"]
    assert cli.main(argv) in (0, 3)
    if not (out / PROVENANCE_NAME).exists():  # until `corridor run` writes it itself
        flags = [("--replications", "scenario.replications=2")]
        flags.append(("--horizon-days", "scenario.horizon_days=60"))
        write_provenance(out, scenario, ["fleets.f.load_factor=0.8", *flags])
    return out, scenario


def test_report_shows_the_sources(sourced_run):
    out, _ = sourced_run
    page = page_text(write_report(out))
    text = " ".join(" ".join(page.parts).split())
    assert "Source" in page.headers and "Set in" in page.headers  # the inputs table
    assert "[S25] [G10]" in text  # fleets.f.vessels, in the fleet table and the inputs table
    assert "estimate" in text and "E: 4 d x 150 TEU/d" in text  # nodes.p.yard_capacity_teu
    assert "--set" in text  # fleets.f.load_factor came from the command line
    assert "default" in text  # keys no line sets
    assert "Read from provenance.json" in text


def test_report_recomputes_missing_provenance(sourced_run, tmp_path):
    out, _ = sourced_run
    folder = tmp_path / "copy"
    folder.mkdir()
    for name in ("summary.json", "scenario.resolved.json"):
        (folder / name).write_bytes((out / name).read_bytes())
    keys, where = results_provenance(folder)
    assert "recomputed" in where
    assert lookup(keys, "fleets.f.vessels").sources == ("S25", "G10")
    assert lookup(keys, "fleets.f.load_factor").label == "--set?"  # differs from the file
    text = " ".join(" ".join(page_text(write_report(folder)).parts).split())
    assert "[S25] [G10]" in text and "recomputed from" in text
