"""docs/scenarios.md is generated from the schema and must be current."""

from sim.scenario import schema
from sim.scenario.docs import DOC_PATH, render


def test_scenario_docs_are_up_to_date():
    assert DOC_PATH.read_text(encoding="utf-8") == render(), (
        "docs/scenarios.md is stale: run `python -m sim.scenario.docs`"
    )


def test_every_schema_key_is_documented():
    text = render()
    for model in (schema.RunSettings, schema.PortNode, schema.RailLeg, schema.SeaLeg,
                  schema.Fleet, schema.Flow, schema.WindowDisruption, schema.WagonPool):
        for name, field in model.model_fields.items():
            assert f"`{field.alias or name}`" in text
