"""What every scenario table shares: the strict base class and the bounds and patterns
used on both sides of :mod:`sim.scenario.schema` and :mod:`sim.scenario.markets`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

ID_PATTERN = r"^[A-Za-z0-9_\-]+$"
MONTHS = 12
MAX_ANNUAL_TEU = 50_000_000
MAX_USD_PER_TEU = 1_000_000
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


class Strict(BaseModel):
    """Base class: unknown keys are errors (typos must not pass silently), numbers are finite."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )
