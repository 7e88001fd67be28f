"""The route map on real geography: the shipped Natural Earth extract, the waypoints, widths."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest

from sim.outputs.plots_map import (
    GEOGRAPHY_FILE,
    WAYPOINTS_FILE,
    WIDTH_MAX_PT,
    WIDTH_MIN_PT,
    change_map,
    leg_path,
    leg_via,
    line_width,
    load_geography,
    load_waypoints,
    route_map,
    teu_per_year_factor,
)
from sim.scenario.loader import load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def png_size(path: Path) -> tuple[int, int]:
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def geo():
    g = load_geography()
    assert g is not None, f"{GEOGRAPHY_FILE} is missing"
    return g


@pytest.fixture(scope="module")
def baseline():
    return load_scenario(SCENARIOS / "baseline.toml").model


@pytest.fixture(scope="module")
def scandinavia_branch():
    return load_scenario(SCENARIOS / "scandinavia_branch.toml").model


@pytest.fixture(scope="module")
def sea_route():
    return load_scenario(SCENARIOS / "sea_route.toml").model


def fake_summary(scenario, teu: dict[str, float] | None = None, util: float = 0.5) -> dict:
    """A summary.json-shaped dict: every leg 3,000 TEU over three measured years unless given."""
    teu = teu or {}
    s = scenario.scenario
    return {
        "scenario": {"name": s.name},
        "replications": 2,
        "horizon_days": s.horizon_days,
        "warmup_days": s.warmup_days,
        "nodes": {
            nid: {
                "utilisation": {"mean": util if k % 2 else None},
                "wait_h_mean": {"mean": 12.0 + k},
                "utilisation_of": "berths",
            }
            for k, nid in enumerate(scenario.nodes)
        },
        "legs": {
            lid: {"teu": {"mean": teu.get(lid, 3000.0)}, "utilisation": {"mean": None}}
            for lid in scenario.legs
        },
        "fleets": {},
        "wagon_pools": {},
        "bottleneck": {
            "element": f"legs.{next(iter(scenario.legs))}",
            "utilisation": {"mean": 0.8, "ci95_low": 0.75, "ci95_high": 0.85},
        },
    }


# --------------------------------------------------------------------------------------
# The geography file
# --------------------------------------------------------------------------------------


def test_geography_file_is_small_and_has_its_licence():
    assert GEOGRAPHY_FILE.is_file()
    assert GEOGRAPHY_FILE.stat().st_size < 1_000_000
    notice = (GEOGRAPHY_FILE.parent / "LICENSE-naturalearth.txt").read_text(encoding="utf-8")
    assert "public domain" in notice.lower()


def test_land_and_water(geo):
    land = [
        (67.0, 48.0),  # Kazakhstan, steppe
        (76.9, 43.3),  # Almaty
        (35.0, 39.0),  # central Anatolia
        (20.0, -30.0),  # South Africa
    ]
    water = [
        (50.5, 42.0),  # middle Caspian
        (51.5, 38.5),  # south Caspian
        (52.0, 45.5),  # north Caspian
        (34.0, 43.0),  # Black Sea
        (19.0, 57.0),  # Baltic
        (70.0, 10.0),  # Arabian Sea
    ]
    assert geo.is_land(land).all()
    assert not geo.is_land(water).any()
    assert geo.in_country("Kazakhstan", [(67.0, 48.0)])[0]
    assert not geo.in_country("Kazakhstan", [(50.5, 42.0)])[0]
    assert geo.in_country("Ukraine", [(31.0, 49.0)])[0]
    assert geo.in_country("Belarus", [(27.56, 53.9)])[0]
    with pytest.raises(KeyError):
        geo.in_country("Atlantis", [(0.0, 0.0)])


# --------------------------------------------------------------------------------------
# Waypoints
# --------------------------------------------------------------------------------------


def test_waypoints_file_parses():
    table = load_waypoints()
    assert WAYPOINTS_FILE.is_file()
    assert "constanta->sestokai" in table
    assert "cape" in table["shanghai->rotterdam"]["variants"]
    for key, entry in table.items():
        for lon, lat in entry["via"]:
            assert -180 <= lon <= 180 and -90 <= lat <= 90, key


def test_eu_rail_leg_stays_out_of_ukraine_and_belarus(geo, baseline):
    path = leg_path(baseline, "constanta_sestokai", step_deg=0.05)
    assert len(path) > 100
    for country in ("Ukraine", "Belarus", "Moldova", "Russia"):
        assert not geo.in_country(country, path).any(), f"the EU rail leg enters {country}"
    # it runs through the countries it should, so the check above is not vacuous
    for country in ("Romania", "Hungary", "Slovakia", "Poland", "Lithuania"):
        assert geo.in_country(country, path).any(), f"the EU rail leg misses {country}"
    # a straight line between its nodes would cross Ukraine: the waypoints matter
    a, b = path[0], path[-1]
    straight = a + (b - a) * np.linspace(0, 1, 400)[:, None]
    assert geo.in_country("Ukraine", straight).any()


def test_every_leg_of_the_shipped_scenarios_has_waypoints():
    for toml in sorted(SCENARIOS.glob("*.toml")):
        model = load_scenario(toml).model
        missing = [lid for lid in model.legs if leg_via(model, lid) is None]
        assert not missing, f"{toml.name}: legs drawn as great circles: {missing}"


def _far_from_ends(path: np.ndarray, km: float) -> np.ndarray:
    def dist(p, q) -> np.ndarray:
        dlon = (p[:, 0] - q[0]) * np.cos(np.radians(q[1]))
        return np.hypot(dlon, p[:, 1] - q[1]) * 111.2

    return (dist(path, path[0]) > km) & (dist(path, path[-1]) > km)


@pytest.mark.parametrize(
    ("scenario", "lid"),
    [
        ("baseline", "aktau_alat"),
        ("baseline", "kuryk_alat"),
        ("baseline", "poti_constanta"),
        ("sea_route", "shanghai_rotterdam"),
        ("sea_route", "rotterdam_klaipeda"),
        ("scandinavia_branch", "klaipeda_karlshamn"),
        ("scandinavia_branch", "rotterdam_karlshamn"),
    ],
)
def test_sea_legs_stay_on_water(geo, scenario, lid, request):
    model = request.getfixturevalue(scenario)
    path = leg_path(model, lid, step_deg=0.05)
    at_sea = path[_far_from_ends(path, 40.0)]  # ports lie inland of a 1:50m coast
    on_land = at_sea[geo.is_land(at_sea)]
    assert len(on_land) == 0, f"{lid} crosses land at {on_land[:3].round(2).tolist()}"


@pytest.mark.parametrize("name", ["baseline", "northern_route"])
def test_rail_legs_stay_on_land(geo, name):
    model = load_scenario(SCENARIOS / f"{name}.toml").model
    for lid, leg in model.legs.items():
        if leg.mode != "rail":
            continue
        path = leg_path(model, lid, step_deg=0.05)
        inland = path[_far_from_ends(path, 20.0)]  # a port node may sit just off the coast
        assert geo.is_land(inland).all(), f"{name}: rail leg {lid} runs over water"


def test_deep_sea_variant_by_label(geo, sea_route):
    cape = leg_path(sea_route, "shanghai_rotterdam")
    assert "cape" in (sea_route.legs["shanghai_rotterdam"].label or "").lower()
    assert cape[:, 1].min() < -33  # rounds the Cape of Good Hope
    leg = sea_route.legs["shanghai_rotterdam"].model_copy(update={"label": "via Suez"})
    suez_model = sea_route.model_copy(
        update={"legs": {**sea_route.legs, "shanghai_rotterdam": leg}}
    )
    suez = leg_path(suez_model, "shanghai_rotterdam", step_deg=0.05)
    assert suez[:, 1].min() > 0  # stays north of the equator
    near_canal = (np.abs(suez[:, 0] - 32.4) < 0.6) & (suez[:, 1] > 29.5) & (suez[:, 1] < 31.5)
    at_sea = suez[_far_from_ends(suez, 40.0) & ~near_canal]
    assert not geo.is_land(at_sea).any()


def test_reverse_leg_uses_the_same_waypoints(baseline):
    leg = baseline.legs["constanta_sestokai"]
    back = leg.model_copy(update={"from_node": leg.to_node, "to_node": leg.from_node})
    model = baseline.model_copy(update={"legs": {**baseline.legs, "constanta_sestokai": back}})
    assert leg_via(model, "constanta_sestokai") == leg_via(baseline, "constanta_sestokai")[::-1]


# --------------------------------------------------------------------------------------
# Widths and the per-year scale
# --------------------------------------------------------------------------------------


def test_widths_grow_with_teu():
    teu_max = 60_000.0
    widths = [line_width(t, teu_max) for t in (0, 1_000, 10_000, 20_000, 40_000, 60_000)]
    assert widths == sorted(widths)
    assert widths[0] == WIDTH_MIN_PT and widths[-1] == pytest.approx(WIDTH_MAX_PT)
    # proportional above the floor
    assert line_width(40_000, teu_max) == pytest.approx(2 * line_width(20_000, teu_max))
    assert line_width(None, teu_max) == WIDTH_MIN_PT


def test_teu_per_year_uses_the_measured_period(baseline):
    summary = {"horizon_days": 1215, "warmup_days": 120}
    assert teu_per_year_factor(baseline, summary) == pytest.approx(365 / 1095)
    s = baseline.scenario
    expected = 365 / (s.horizon_days - s.warmup_days)
    assert teu_per_year_factor(baseline, {}) == pytest.approx(expected)


# --------------------------------------------------------------------------------------
# The maps
# --------------------------------------------------------------------------------------


def test_route_map_writes_a_png(tmp_path, baseline):
    summary = fake_summary(baseline, {"aktau_alat": 200_000.0, "hinterland_aktau": 180_000.0})
    out = route_map(baseline, summary, tmp_path / "sub" / "route_map.png")
    w, h = png_size(out)
    assert w > 1200 and h > 800
    out2 = route_map(baseline, summary, tmp_path / "wait.png", colour_by="waiting")
    assert out2.stat().st_size > 50_000


def test_route_map_of_the_sea_route(tmp_path, sea_route):
    out = route_map(sea_route, fake_summary(sea_route), tmp_path / "sea.png")
    assert png_size(out)[0] > 1200


def test_change_map(tmp_path, baseline, sea_route):
    base = fake_summary(baseline, {"aktau_alat": 200_000.0})
    more = fake_summary(baseline, {"aktau_alat": 230_000.0}, util=0.4)
    out = change_map(baseline, base, baseline, more, tmp_path / "change.png")
    assert png_size(out)[0] > 1200
    # a different network: every leg added or removed
    out = change_map(baseline, base, sea_route, fake_summary(sea_route), tmp_path / "c2.png")
    assert png_size(out)[0] > 1200


def test_change_map_without_coordinates(tmp_path):
    tiny = load_scenario(Path(__file__).parent / "scenarios" / "tiny.toml").model
    if any(n.lat is not None for n in tiny.nodes.values()):
        pytest.skip("the tiny scenario has coordinates")
    s = fake_summary(tiny)
    out = change_map(tiny, s, tiny, s, tmp_path / "none.png")
    assert math.prod(png_size(out)) > 0
