"""Where the files of the source tree are, wherever the command is run from.

The scenarios and ``docs/`` are not package data: they exist beside the package when it
runs from a checkout (an editable install or ``python -m sim`` in the repository). Commands
whose scenario argument has a default (``calibrate``, ``sensitivity``) resolve it here, so
they work from any directory; without a source tree they ask for the path (exit 2).
"""

from __future__ import annotations

from pathlib import Path

from sim.errors import ScenarioError

PACKAGE_DIR = Path(__file__).resolve().parent
BASELINE_REL = Path("scenarios") / "baseline.toml"
"""The baseline scenario, relative to the source tree's root."""


def source_root() -> Path | None:
    """The repository root the package runs from (it holds ``scenarios/baseline.toml``),
    or ``None`` for an installed copy without its source tree."""
    root = PACKAGE_DIR.parent
    return root if (root / BASELINE_REL).is_file() else None


def baseline_scenario() -> Path | None:
    """``scenarios/baseline.toml`` of the source tree (absolute), or ``None``."""
    root = source_root()
    return root / BASELINE_REL if root is not None else None


def default_scenario(command: str) -> Path:
    """The baseline as the default scenario of ``command``; a :class:`ScenarioError`
    (one line, exit 2) asking for the path when there is no source tree."""
    path = baseline_scenario()
    if path is None:
        raise ScenarioError(
            f"corridor {command}",
            "scenario",
            f"expected a scenario file: the default {BASELINE_REL.as_posix()} was not found "
            f"beside the installed package ({PACKAGE_DIR}); pass the path, e.g. "
            f"corridor {command} path/to/{BASELINE_REL.as_posix()}",
        )
    return path
