"""Numbers that cannot be simulated, and sizes no machine can hold, are refused up front.

Every numeric key of the schema is found by walking the pydantic models (no
hand-written list): each is set, in a valid scenario that uses every table type,
to ``inf``, ``-inf``, ``nan`` and values far past any bound, and must be refused
with a :class:`ScenarioError` naming that key. The command line refuses the same
values from a file, ``--set`` or a flag with exit status 2, one line on stderr,
and no results folder. :mod:`sim.scenario.limits` estimates the memory of a run
and refuses one that does not fit.
"""

from __future__ import annotations

import copy
import math
import tomllib
import tracemalloc
import types
import typing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from sim.cli import main
from sim.errors import ScenarioError
from sim.scenario import limits, schema
from sim.scenario.loader import load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "scenarios" / "tiny.toml"
TINY_TEXT = TINY.read_text()
GIB = 2**30


def rich_scenario() -> dict:
    """tests/scenarios/tiny.toml plus every table type and optional numeric key the schema
    has: all six distributions, the three dispatch rules, a rail-ferry fleet, the three
    disruption kinds, economics."""
    raw = tomllib.loads(TINY_TEXT)
    raw["scenario"]["gridlock_days"] = 7.0
    raw["nodes"]["a"].update(lat=34.3, lon=108.9, handling_usd_per_teu=100.0)
    raw["nodes"]["b"]["train_handling_h"] = {"dist": "fixed", "value": 4.0}
    raw["nodes"]["p"]["storm_sensitivity"] = 0.8
    raw["nodes"]["q"]["vessel_fixed_h"] = {"dist": "uniform", "low": 2.0, "high": 6.0}
    raw["nodes"]["z"]["dwell_h"] = {"dist": "exponential", "mean": 5.0}
    raw["wagon_pools"]["w"]["teu_per_wagon"] = 2.0
    raw["legs"]["ab"].update(distance_km=1000.0, tariff_usd_per_teu=300.0)
    raw["legs"]["pq"].update(
        distance_nm=200.0,
        tariff_usd_per_teu=200.0,
        return_time_h={"dist": "gamma", "mean": 20.0, "cv": 0.3},
    )
    raw["legs"]["qz"]["dispatch"]["offset_h"] = 3.0
    raw["fleets"]["g"] = {
        "leg": "pq",
        "vessels": 1,
        "capacity_wagons": 60,
        "teu_per_wagon": 2.0,
        "dispatch": {"rule": "full_or_timeout", "timeout_h": 36.0},
    }
    raw["flows"]["main"]["seasonality"] = [1.0] * 6 + [1.2] * 6
    raw["flows"]["local"]["headway_cv"] = 0.5
    raw["disruptions"] = {
        "out": {"kind": "outage", "target": "legs.ab", "mtbf_h": 500.0, "mttr_h": 10.0},
        "win": {
            "kind": "window",
            "target": "nodes.b",
            "start_day": 30.0,
            "duration_days": 2.0,
            "every_days": 40.0,
            "factor": 0.5,
        },
        "fac": {
            "kind": "factor",
            "target": "fleets.f",
            "factor": 0.8,
            "start_day": 10.0,
            "end_day": 60.0,
        },
    }
    raw["changes"] = {"ships": {"day": 50.0, "set": {"fleets.f.vessels": 4.0}}}
    raw["periods"] = {"closure": {"from_day": 30.0, "to_day": 40.0}}
    raw["economics"] = {
        "capex_usd": 1e7,
        "lifetime_years": 25.0,
        "opex_usd_per_year": 1e5,
        "discount_rate": 0.08,
        "co2_rail_kg_per_teu_km": 0.02,
        "co2_sea_kg_per_teu_km": 0.015,
    }
    # markets choosing between the network and a coarse route through a gateway
    raw["nodes"]["gw"] = {"kind": "gateway", "lat": 52.0, "lon": 23.0, "handling_tracks": 2,
                          "handling_usd_per_teu": 50.0, "other_traffic_share": 0.1}
    raw["legs"]["a_gw"] = {"mode": "delay", "from": "a", "to": "gw", "transit_h": 500.0,
                           "distance_km": 9000.0, "tariff_usd_per_teu": 1500.0}
    raw["routes"] = {
        "net": {"route": ["a", "b", "p", "q", "z"], "tariff_usd_per_teu": 2500.0,
                "handling_usd_per_teu": 100.0, "risk_usd_per_teu": 10.0,
                "asc_usd_per_teu": -50.0, "prior_transit_days": 14.0,
                "prior_spread_days": 4.0, "operator": "op", "nest": "rail"},
        "coarse": {"route": ["a", "gw"], "tariff_usd_per_teu": 2000.0,
                   "prior_transit_days": 25.0, "nest": "rail"},
    }
    raw["operators"] = {"op": {"booking_limit_teu": 5000.0, "booking_limit_days": 30.0,
                               "capacity_teu_per_day": 100.0}}
    raw["choice"] = {
        "scale_per_usd": 0.002, "decision_interval_h": 24.0, "info_window_days": 30.0,
        "info_lag_days": 7.0, "prior_weight_boxes": 20.0,
        "nests": {"rail": {"lambda": 0.7}},
        "classes": {"avg": {"vot_usd_per_teu_day": 100.0, "vor_usd_per_teu_day": 20.0}},
    }
    raw["markets"] = {"mk": {"origin_region": "A", "destination_region": "Z",
                             "alternatives": ["net", "coarse"], "annual_teu": 3000.0,
                             "feu_share": 0.5, "growth_per_year": 0.05, "base_year": 2025,
                             "seasonality": [1.0] * 12}}
    return raw


RICH = rich_scenario()

# --------------------------------------------------------------------------------------
# Every numeric key of the schema, found by walking the models
# --------------------------------------------------------------------------------------


def _unwrap(annotation) -> list:
    """The leaf types of an annotation (Annotated, unions and Optional removed)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [leaf for a in typing.get_args(annotation) for leaf in _unwrap(a)]
    return [annotation]


def _numeric_kind(annotation) -> str | None:
    """ "float", "int", "list" (of numbers) or None."""
    for leaf in _unwrap(annotation):
        if leaf is float:
            return "float"
        if leaf is int:
            return "int"
        if typing.get_origin(leaf) is list and _numeric_kind(typing.get_args(leaf)[0]):
            return "list"
    return None


def _models_in(annotation) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold, directly or inside dicts and lists."""
    out = []
    for leaf in _unwrap(annotation):
        origin = typing.get_origin(leaf)
        if isinstance(leaf, type) and issubclass(leaf, BaseModel):
            out.append(leaf)
        elif origin in (dict, list):
            out += _models_in(typing.get_args(leaf)[-1])
    return out


def schema_numeric_fields() -> set[tuple[str, str]]:
    """(model, key) of every numeric field reachable from :class:`schema.Scenario`."""
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [schema.Scenario]
    fields = set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            if _numeric_kind(field.annotation):
                fields.add((model.__name__, field.alias or name))
            todo += _models_in(field.annotation)
    return fields


def numeric_locations(raw: dict) -> dict[tuple[str, str], tuple[tuple[str, ...], str]]:
    """Where each numeric field occurs in ``raw``: (model, key) -> (raw path, kind).

    The validated model is walked alongside the raw dict, so a key absent from the file
    (a default) is found too; the first occurrence of each field is kept.
    """
    model = scenario_from_dict(raw)
    found: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {}

    def walk(obj: BaseModel, raw_obj, path: tuple[str, ...]) -> None:
        if not isinstance(raw_obj, dict):
            return  # a bare number standing for a fixed duration: covered by the parent
        for name, field in type(obj).model_fields.items():
            key = field.alias or name
            kind = _numeric_kind(field.annotation)
            if kind:
                found.setdefault((type(obj).__name__, key), (path + (key,), kind))
            value = getattr(obj, name)
            if key not in raw_obj:
                continue
            if isinstance(value, BaseModel):
                walk(value, raw_obj[key], path + (key,))
            elif isinstance(value, dict):
                for k, v in value.items():
                    if isinstance(v, BaseModel) and k in raw_obj[key]:  # not generated
                        walk(v, raw_obj[key][k], path + (key, k))

    walk(model, raw, ())
    return found


LOCATIONS = numeric_locations(RICH)
NOT_SETTABLE = {("GatewayNode", "yard_capacity_teu")}  # refused on a gateway (no yard)
CASES = sorted(LOCATIONS.values())


def test_the_rich_scenario_is_valid_and_covers_every_numeric_key():
    assert scenario_from_dict(RICH)
    missing = schema_numeric_fields() - set(LOCATIONS) - NOT_SETTABLE
    assert not missing, f"add these keys to rich_scenario(): {sorted(missing)}"
    assert len(LOCATIONS) > 70  # sanity: the walk found the schema's numbers


def with_value(raw: dict, path: tuple[str, ...], kind: str, value, index: int = 0) -> dict:
    """A copy of ``raw`` with the key at ``path`` set to ``value`` (one item of a list)."""
    out = copy.deepcopy(raw)
    node = out
    for part in path[:-1]:
        node = node[part]
    if kind == "list":
        items = list(node.get(path[-1], [1.0] * schema.MONTHS))
        items[index] = value
        node[path[-1]] = items
    else:
        node[path[-1]] = value
    return out


def assert_refused(raw: dict, path: tuple[str, ...], kind: str, index: int = 0) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(raw, "rich.toml")
    err = info.value
    key = ".".join(path) + (f".{index}" if kind == "list" else "")
    assert err.key == key, f"{key}: refused at {err.key!r}: {err}"
    assert str(err).startswith(f"rich.toml: {key}: expected"), str(err)
    assert "\n" not in str(err)
    return err


NON_FINITE = [math.inf, -math.inf, math.nan]
HUGE = [1e300, -1e300, 1.7976931348623157e308, 1e19]


@pytest.mark.parametrize(
    "path, kind",
    [
        pytest.param(p, k, id=".".join(p))
        for p, k in CASES
    ],
)
def test_non_finite_and_huge_values_are_refused_naming_the_key(path, kind):
    for value in NON_FINITE + HUGE + ([2**63, 10**30, -(10**30)] if kind == "int" else []):
        assert_refused(with_value(RICH, path, kind, value, index=5), path, kind, index=5)


@settings(max_examples=300)
@given(
    case=st.sampled_from(CASES),
    value=st.one_of(
        st.sampled_from(NON_FINITE),
        st.floats(min_value=1e19, allow_infinity=False),
        st.floats(max_value=-1e19, allow_infinity=False),
        st.integers(min_value=2**63),
        st.integers(max_value=-(2**63)),
    ),
    index=st.integers(0, schema.MONTHS - 1),
)
def test_any_value_past_every_bound_is_refused_naming_the_key(case, value, index):
    path, kind = case
    assert_refused(with_value(RICH, path, kind, value, index), path, kind, index)


@pytest.mark.parametrize("path, kind", CASES, ids=[".".join(p) for p, _ in CASES])
def test_tiny_positive_values_are_refused_or_harmless(path, kind):
    """5e-324 (the smallest float) is refused where it cannot be simulated (a wagon
    carrying 5e-324 TEU, a crane moving that many per hour); where it is accepted,
    the estimate of a run stays finite (the short runs of such scenarios were checked
    to complete when the bounds were chosen)."""
    raw = with_value(RICH, path, kind, 5e-324, index=5)
    try:
        model = scenario_from_dict(raw, "rich.toml")
    except ScenarioError as err:
        assert err.key, str(err)
        return
    assert 0 < limits.estimate_replication_bytes(model) < 2**40


def test_tiny_values_that_would_divide_by_zero_are_refused():
    for path, kind in [
        (("wagon_pools", "w", "teu_per_wagon"), "float"),
        (("fleets", "g", "teu_per_wagon"), "float"),
        (("nodes", "p", "crane_rate_teu_per_h"), "float"),
        (("legs", "bp", "paths_per_day"), "float"),
        (("flows", "local", "headway_cv"), "float"),
        (("legs", "pq", "return_time_h", "cv"), "float"),
        (("economics", "lifetime_years"), "float"),
        (("scenario", "gridlock_days"), "float"),
        (("disruptions", "out", "mtbf_h"), "float"),
        (("disruptions", "win", "every_days"), "float"),
    ]:
        assert_refused(with_value(RICH, path, kind, 5e-324), path, kind)
    # seasonality rescaled to mean 1: twelve factors whose mean underflows
    raw = with_value(RICH, ("flows", "main", "seasonality"), "float", [5e-324] + [0.0] * 11)
    with pytest.raises(ScenarioError, match=r"flows\.main(\.seasonality)?: expected 12 non-neg"):
        scenario_from_dict(raw)


def test_a_tiny_discount_rate_annualises_like_a_zero_rate():
    econ = schema.Economics(capex_usd=100.0, lifetime_years=25.0, discount_rate=5e-324)
    assert econ.annualised_cost_usd() == pytest.approx(4.0)
    assert schema.Economics(capex_usd=100.0, lifetime_years=25.0, discount_rate=1e-17)


# --------------------------------------------------------------------------------------
# The command line: exit 2, one line naming file and key, nothing written
# --------------------------------------------------------------------------------------


def _replace(old: str, new: str) -> str:
    assert old in TINY_TEXT, old
    return TINY_TEXT.replace(old, new, 1)


WINDOW = '\n[disruptions.x]\nkind = "window"\ntarget = "nodes.b"\nstart_day = 1\n'
BAD_FILES = {
    "annual_teu inf": (_replace("annual_teu = 20000", "annual_teu = inf"), "flows.main.annual_teu"),
    "annual_teu 1e9": (_replace("annual_teu = 20000", "annual_teu = 1e9"), "flows.main.annual_teu"),
    "annual_teu 1e308": (
        _replace("annual_teu = 20000", "annual_teu = 1e308"),
        "flows.main.annual_teu",
    ),
    "horizon inf": (_replace("horizon_days = 120", "horizon_days = inf"), "scenario.horizon_days"),
    "horizon nan": (_replace("horizon_days = 120", "horizon_days = nan"), "scenario.horizon_days"),
    "horizon 1e9": (_replace("horizon_days = 120", "horizon_days = 1e9"), "scenario.horizon_days"),
    "replications 1e9": (
        _replace("replications = 2", "replications = 1000000000"),
        "scenario.replications",
    ),
    "gridlock 1e-6": (
        _replace("seed = 7", "seed = 7\ngridlock_days = 1e-6"),
        "scenario.gridlock_days",
    ),
    "seasonality nan": (
        _replace("annual_teu = 20000", "annual_teu = 20000\nseasonality = [nan" + ", 1" * 11 + "]"),
        "flows.main.seasonality.0",
    ),
    "storm rate inf": (
        _replace("storm_rate_per_month = [2,", "storm_rate_per_month = [inf,"),
        "weather.sea.storm_rate_per_month.0",
    ),
    "storm rate 1e12": (
        _replace("storm_rate_per_month = [2,", "storm_rate_per_month = [1e12,"),
        "weather.sea.storm_rate_per_month.0",
    ),
    "headway_cv inf": (
        _replace("block_train_teu = 60", "block_train_teu = 60\nheadway_cv = inf"),
        "flows.local.headway_cv",
    ),
    "train capacity inf": (
        _replace("train_capacity_teu = 100", "train_capacity_teu = inf"),
        "legs.ab.train_capacity_teu",
    ),
    "vessel capacity inf": (
        _replace("capacity_teu = 200", "capacity_teu = inf"),
        "fleets.f.capacity_teu",
    ),
    "vessels 1e7": (_replace("vessels = 3", "vessels = 1e7"), "fleets.f.vessels"),
    "vessels 10 million": (_replace("vessels = 3", "vessels = 10000000"), "fleets.f.vessels"),
    "run time inf": (_replace("run_time_h = 30", "run_time_h = inf"), "legs.bp.run_time_h"),
    "triangular high inf": (
        _replace("mode = 50, high = 70", "mode = 50, high = inf"),
        "legs.ab.run_time_h.high",
    ),
    "teu_per_wagon 5e-324": (
        _replace("wagons = 200", "wagons = 200\nteu_per_wagon = 5e-324"),
        "wagon_pools.w.teu_per_wagon",
    ),
    "every_days 1e-6": (
        TINY_TEXT + WINDOW + "duration_days = 1\nevery_days = 1e-6\n",
        "disruptions.x.every_days",
    ),
    "window length inf": (
        TINY_TEXT + WINDOW + "duration_days = inf\n",
        "disruptions.x.duration_days",
    ),
    "mtbf 1e-6": (
        TINY_TEXT + '\n[disruptions.o]\nkind = "outage"\ntarget = "legs.ab"\nmtbf_h = 1e-6\n'
        "mttr_h = 1\n",
        "disruptions.o.mtbf_h",
    ),
}


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse
        rc = int(exc.code)
    out, err = capsys.readouterr()
    return rc, out, err


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def assert_one_line(err: str, source: str, key: str | None) -> None:
    """One line naming ``source`` and ``key`` (``key`` None: a flag refused by the
    command line's own check, before it becomes a scenario key)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    if key is None:
        assert source in lines[0] and "expected" in lines[0], lines[0]
    else:
        assert f"{source}: {key}: expected" in lines[0], lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_validate_and_run_refuse_the_file_with_exit_2(case, tmp_path, capsys):
    text, key = BAD_FILES[case]
    path = tmp_path / "s.toml"
    path.write_text(text)
    rc, out, err = run_cli(["validate", str(path)], capsys)
    assert rc == 2 and out == ""
    assert_one_line(err, str(path), key)

    before = tree(tmp_path)
    out_dir = tmp_path / "results" / "out"
    rc, out, err = run_cli(
        ["run", str(path), "--out", str(out_dir), "--workers", "1", "--quiet"], capsys
    )
    assert rc == 2 and out == ""
    assert_one_line(err, str(path), key)
    assert not out_dir.exists()
    assert tree(tmp_path) == before


@pytest.mark.parametrize(
    "flags, source, key",
    [
        (["--horizon-days", "inf"], "--horizon-days", "scenario.horizon_days"),
        (["--horizon-days", "nan"], "--horizon-days", "scenario.horizon_days"),
        (["--horizon-days", "1e9"], "--horizon-days", "scenario.horizon_days"),
        (["--replications", "1000000000"], "--replications", None),  # argparse or schema
        (["--set", "flows.main.annual_teu=inf"], "--set", "flows.main.annual_teu"),
        (["--set", "flows.main.annual_teu=1e308"], "--set", "flows.main.annual_teu"),
        (["--set", "fleets.f.vessels=10000000"], "--set", "fleets.f.vessels"),
        (["--set", "scenario.gridlock_days=1e-6"], "--set", "scenario.gridlock_days"),
        (["--set", "nodes.p.crane_rate_teu_per_h=nan"], "--set", "nodes.p.crane_rate_teu_per_h"),
        (["--set", "legs.ab.run_time_h.high=inf"], "--set", "legs.ab.run_time_h.high"),
    ],
)
def test_run_refuses_flags_and_overrides_with_exit_2(flags, source, key, tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(TINY_TEXT)
    before = tree(tmp_path)
    out_dir = tmp_path / "results" / "out"
    rc, out, err = run_cli(
        ["run", str(path), *flags, "--out", str(out_dir), "--workers", "1", "--quiet"], capsys
    )
    assert rc == 2 and out == ""
    assert_one_line(err, source, key)
    assert not out_dir.exists()
    assert tree(tmp_path) == before


def test_validate_refuses_an_override_with_exit_2(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(TINY_TEXT)
    rc, out, err = run_cli(["validate", str(path), "--set", "scenario.horizon_days=inf"], capsys)
    assert rc == 2 and out == ""
    assert_one_line(err, "--set", "scenario.horizon_days")


def test_the_console_script_exits_2(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "s.toml"
    path.write_text(_replace("annual_teu = 20000", "annual_teu = nan"))
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "validate", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stderr
    assert_one_line(proc.stderr, str(path), "flows.main.annual_teu")


def test_every_shipped_scenario_is_within_the_bounds_and_fits_a_laptop():
    files = sorted(
        [
            *(ROOT / "scenarios").glob("*.toml"),
            *(ROOT / "tests" / "scenarios").rglob("*.toml"),
            *(ROOT / "benchmarks" / "scenarios").glob("*.toml"),
        ]
    )
    assert len(files) >= 15
    for path in files:
        model = load_scenario(path).model
        limits.check_run_size(model, str(path), 2, available_bytes=4 * GIB)


# --------------------------------------------------------------------------------------
# sim.scenario.limits: the memory of a run
# --------------------------------------------------------------------------------------


def _tiny(**changes) -> schema.Scenario:
    """tests/scenarios/tiny.toml with ``--set``-style changes (validated)."""
    return load_scenario(TINY, [f"{k}={v}" for k, v in changes.items()]).model


def _unvalidated(model: schema.Scenario, flow: str, annual_teu: float) -> schema.Scenario:
    """``model`` with a flow's demand set past the schema's bound (as a caller might)."""
    flows = dict(model.flows)
    flows[flow] = flows[flow].model_copy(update={"annual_teu": annual_teu})
    return model.model_copy(update={"flows": flows})


def test_the_baseline_is_accepted():
    model = load_scenario(ROOT / "scenarios" / "baseline.toml").model
    limits.check_run_size(model, "scenarios/baseline.toml", 2)  # this machine
    limits.check_run_size(model, "scenarios/baseline.toml", 2, available_bytes=1 * GIB)
    one = limits.estimate_replication_bytes(model)
    # the market baseline: 142 MB estimated, ~206 MB peak RSS growth measured for one
    # replication (2026-12; the pre-market baseline of the module docstring: 43.5 MB)
    assert 100e6 < one < 260e6


def test_a_billion_teu_a_year_is_refused_with_the_estimate():
    model = _unvalidated(_tiny(), "main", 1e9)
    with pytest.raises(ScenarioError) as info:
        limits.check_run_size(model, "tiny.toml", 2, available_bytes=16 * GIB)
    err = info.value
    assert err.source == "tiny.toml" and err.key == "flows.main.annual_teu"
    assert "GiB" in err.expected and "16.0 GiB available" in err.expected
    assert "\n" not in str(err)
    # ~1.8e8 boxes x ~250 bytes: some 40 GiB per replication
    assert 25 * GIB < limits.estimate_replication_bytes(model) < 80 * GIB
    with pytest.raises(ScenarioError, match="flows.main.annual_teu"):
        limits.check_run_size(_unvalidated(_tiny(), "main", 1e12), "tiny.toml", 1)  # this machine


def test_a_century_of_the_largest_demand_is_refused_naming_the_horizon():
    model = _tiny(**{"scenario.horizon_days": 36500, "flows.main.annual_teu": 5e7})
    with pytest.raises(ScenarioError) as info:
        limits.check_run_size(model, "tiny.toml", 1)  # this machine: ~700 GB needed
    assert info.value.key == "scenario.horizon_days"
    assert "GiB" in info.value.expected
    # the source may depend on the key (the flag or file that set it)
    origin = {"scenario.horizon_days": "--horizon-days"}
    with pytest.raises(ScenarioError, match="^--horizon-days: scenario.horizon_days: expected"):
        limits.check_run_size(model, lambda key: origin.get(key, "tiny.toml"), 1)


def test_the_largest_flow_is_refused_on_a_small_machine_and_accepted_on_a_big_one():
    model = _tiny(**{"scenario.horizon_days": 365, "flows.main.annual_teu": 5e7})
    with pytest.raises(ScenarioError, match=r"tiny.toml: flows.main.annual_teu: expected a run"):
        limits.check_run_size(model, "tiny.toml", 1, available_bytes=4 * GIB)
    limits.check_run_size(model, "tiny.toml", 1, available_bytes=64 * GIB)


def test_too_many_replications_at_once_suggests_fewer_workers():
    model = _tiny(
        **{"scenario.horizon_days": 365, "flows.main.annual_teu": 5e6, "scenario.replications": 10}
    )
    one = limits.run_bytes(model, 1)
    available = int(one / limits.HEADROOM * 1.5)  # one fits, two do not
    limits.check_run_size(model, "tiny.toml", 1, available_bytes=available)
    with pytest.raises(ScenarioError, match="--workers") as info:
        limits.check_run_size(model, "tiny.toml", 8, available_bytes=available)
    assert info.value.key == "flows.main.annual_teu"
    # at most as many at once as there are replications
    assert limits.run_bytes(model, 1000) == limits.run_bytes(model, 10)


def test_the_records_of_many_replications_are_counted():
    model = load_scenario(
        ROOT / "scenarios" / "baseline.toml", ["scenario.replications=10000"]
    ).model
    with pytest.raises(ScenarioError) as info:
        limits.check_run_size(model, "baseline.toml", 2, available_bytes=4 * GIB)
    assert info.value.key == "scenario.replications"


def test_a_window_repeating_every_hour_for_a_century_is_named():
    model = _tiny(
        **{
            "scenario.horizon_days": 36500,
            "flows.main.annual_teu": 10,
            "flows.local.annual_teu": 10,
            "disruptions.x": '{kind = "window", target = "nodes.b", start_day = 0, '
            "duration_days = 0.01, every_days = 0.0416667, factor = 0.5}",
        }
    )
    assert limits.expected_intervals(model)["disruptions.x.every_days"] > 800_000
    with pytest.raises(ScenarioError) as info:
        limits.check_run_size(model, "tiny.toml", 1, available_bytes=300 * 2**20)
    assert info.value.key == "disruptions.x.every_days"


def test_no_check_when_the_memory_cannot_be_read(monkeypatch):
    monkeypatch.setattr(limits, "memory_available", lambda: (None, None))
    limits.check_run_size(_unvalidated(_tiny(), "main", 1e12), "tiny.toml", 8)


def test_memory_available_reads_this_machine():
    available, total = limits.memory_available()
    assert available is None or available > 0
    if available is not None and total is not None:
        assert available <= total


@settings(max_examples=60)
@given(
    horizon=st.floats(1, 36500),
    annual=st.floats(1e-3, 5e7),
    replications=st.integers(1, 10000),
    concurrent=st.integers(1, 64),
    every_h=st.floats(1, 1e5),
    available=st.integers(2**20, 2**50),
)
def test_the_check_of_any_valid_scenario_refuses_or_passes_cleanly(
    horizon, annual, replications, concurrent, every_h, available
):
    raw = copy.deepcopy(RICH)
    raw["scenario"].update(horizon_days=horizon, warmup_days=0.0, replications=replications)
    raw["flows"]["main"]["annual_teu"] = annual
    raw["disruptions"]["win"]["every_days"] = every_h / 24.0
    model = scenario_from_dict(raw)
    est = limits.estimate_replication_bytes(model)
    assert isinstance(est, int) and est > 0
    try:
        limits.check_run_size(model, "rich.toml", concurrent, available_bytes=available)
    except ScenarioError as err:
        assert err.key in {
            "scenario.horizon_days",
            "scenario.replications",
            "disruptions.win.every_days",
            "disruptions.out.mtbf_h",
            "weather.sea.storm_rate_per_month",
        } | {f"flows.{f}.annual_teu" for f in model.flows}
        assert "GiB" in err.expected


@pytest.mark.parametrize("horizon_days", [120, 1000])
def test_the_estimate_is_within_a_factor_2_of_the_measured_peak(horizon_days):
    """tracemalloc sees every Python and numpy allocation of one replication."""
    from sim.model.corridor import run_replication

    warm_up = _tiny(**{"scenario.horizon_days": 30, "scenario.warmup_days": 5})
    run_replication(warm_up, 1)  # imports and first-call caches belong to the process
    model = _tiny(**{"scenario.horizon_days": horizon_days})
    estimate = limits.estimate_replication_bytes(model)
    tracemalloc.start()
    try:
        run_replication(model, 0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 0.5 < estimate / peak < 2.0, (estimate, peak)
