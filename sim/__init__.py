"""corridor-sim: a discrete-event simulator of the Middle Corridor container route.

Time inside the model is in **hours** (float) from the start of the run (1 January, 00:00).
Volumes are in **TEU**; an FEU counts 2 TEU everywhere.

From Python (notebooks, scripts): ``sim.run(scenario, ...)`` and
``sim.compare([base, alternative, ...], ...)`` (see :mod:`sim.api`). They are loaded on
first use, so ``import sim`` stays cheap for the command line.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["ComparisonResult", "RunResult", "__version__", "compare", "run"]

_API = ("run", "compare", "RunResult", "ComparisonResult")


def __getattr__(name: str) -> Any:
    """``sim.run``, ``sim.compare`` and their result classes, imported from :mod:`sim.api`
    when first asked for."""
    if name in _API:
        from sim import api

        return getattr(api, name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
