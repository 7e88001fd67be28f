"""Every shipped scenario's [scenario] name is its file name without .toml (comparisons
write each scenario's files under scenarios/<name>/, so the two must agree)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "scenarios").glob("*.toml"))


def test_there_are_shipped_scenarios():
    names = {p.stem for p in SHIPPED}
    assert {"baseline", "redsea_crisis", "northern_closed", "northern_closed_eu",
            "one_stop_tariff", "border_digital"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_scenario_name_is_the_file_name(path):
    # the name as resolved (an extends file must set its own, not inherit its parent's)
    assert load_scenario(path).model.scenario.name == path.stem
