"""``corridor report RESULTS_DIR``: write a self-contained ``report.html`` of a results folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "report",
        help="write report.html (self-contained) for a run, comparison or sweep folder",
        description="Write RESULTS_DIR/report.html, one self-contained file that opens offline, "
        "from the files of a results folder written by run, compare or sweep; prints its path.",
    )
    p.add_argument(
        "results_dir",
        type=Path,
        metavar="RESULTS_DIR",
        help="folder with summary.json (run), comparison.json or sweep.json",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """Write the report and print its path; a folder that is not a result is ScenarioError."""
    from sim.outputs.report import write_report

    print(write_report(args.results_dir))
    return 0
