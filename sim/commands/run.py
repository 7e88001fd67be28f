"""``corridor run SCENARIO``: simulate replications and write a results folder."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from sim import __version__
from sim.commands.common import add_run_options, flag_overrides

EXIT_GRIDLOCK = 3


def register(sub) -> None:
    p = sub.add_parser("run", help="simulate a scenario and write a results folder")
    p.add_argument("scenario", type=Path, help="scenario file (TOML)")
    add_run_options(p)
    p.add_argument("--no-plots", action="store_true", help="skip the plots/ folder")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.console import format_summary
    from sim.experiments import replicate
    from sim.results import (
        default_out_dir,
        write_atomically,
        write_json,
        write_replications_csv,
        write_timeseries_csv,
    )
    from sim.scenario.loader import load_scenario
    from sim.summary import build_summary

    loaded = load_scenario(args.scenario, flag_overrides(args))
    settings = loaded.model.scenario
    out_dir = args.out or default_out_dir(Path("results"), settings.name)
    records = replicate(loaded.model, settings.replications, args.workers)
    command = "corridor " + " ".join(shlex.quote(a) for a in argv)
    summary = build_summary(loaded, records, command, __version__)

    def fill(tmp: Path) -> None:
        write_json(tmp / "summary.json", summary)
        write_json(tmp / "scenario.resolved.json", loaded.resolved)
        write_replications_csv(tmp / "replications.csv", records, settings.seed)
        write_timeseries_csv(tmp / "timeseries.csv", records)
        if not args.no_plots:
            from sim.plots import write_run_plots

            write_run_plots(records, loaded.model, tmp / "plots")

    final = write_atomically(out_dir, fill)
    if not args.quiet:
        print(format_summary(summary, str(final)))
    for g in summary["gridlock"]:
        sys.stderr.write(
            f"corridor: gridlock in replication {g['replication']} since day "
            f"{g['since_day']:.1f}: {'; '.join(g['where'])}\n"
        )
    return EXIT_GRIDLOCK if summary["gridlock"] else 0
