"""``corridor run SCENARIO``: simulate replications and write a results folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim import __version__
from sim.commands.common import add_run_options, command_line, executor_spec, flag_overrides

EXIT_GRIDLOCK = 3


def register(sub) -> None:
    p = sub.add_parser("run", help="simulate a scenario and write a results folder")
    p.add_argument("scenario", type=Path, help="scenario file (TOML)")
    add_run_options(p)
    p.add_argument("--no-plots", action="store_true", help="skip the plots/ folder")
    p.add_argument(
        "--target-ci",
        type=float,
        metavar="REL",
        help="add replications until the 95%% CI half-width of --target-kpi is at most REL "
        "times its mean (the replications algorithm)",
    )
    p.add_argument(
        "--target-kpi",
        default="transit_days_mean",
        metavar="KPI",
        help="KPI for --target-ci (default transit_days_mean)",
    )
    p.add_argument(
        "--max-replications",
        type=int,
        default=200,
        metavar="N",
        help="upper limit for --target-ci (default 200)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.console import format_summary
    from sim.errors import ScenarioError
    from sim.executors import open_executor
    from sim.experiments import run_batches
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
    spec = executor_spec(args)
    algorithm = None
    if args.target_ci is not None:
        from sim.experiments import replicate_to_precision

        if not 0 < args.target_ci < 1:
            raise ScenarioError("--target-ci", None, "expected a number between 0 and 1")
        records, algorithm = replicate_to_precision(
            loaded.model, spec, args.target_kpi, args.target_ci, args.max_replications
        )
    else:
        with open_executor(spec) as ex:
            records = run_batches(ex, spec, [(loaded.model, list(range(settings.replications)))])[0]
    summary = build_summary(loaded, records, command_line(argv), __version__)
    if algorithm:
        summary["replications_algorithm"] = algorithm

    def fill(tmp: Path) -> None:
        write_json(tmp / "summary.json", summary)
        write_json(tmp / "scenario.resolved.json", loaded.resolved)
        write_replications_csv(tmp / "replications.csv", records, settings.seed)
        write_timeseries_csv(tmp / "timeseries.csv", records)
        if not args.no_plots:
            from sim.plots import write_run_plots
            from sim.plots_map import route_map

            write_run_plots(records, loaded.model, tmp / "plots")
            route_map(loaded.model, summary, tmp / "plots" / "route_map.png")
        if args.report:
            from sim.report import write_report

            write_report(tmp)

    final = write_atomically(out_dir, fill)
    if not args.quiet:
        print(format_summary(summary, str(final)))
    for g in summary["gridlock"]:
        sys.stderr.write(
            f"corridor: gridlock in replication {g['replication']} since day "
            f"{g['since_day']:.1f}: {'; '.join(g['where'])}\n"
        )
    return EXIT_GRIDLOCK if summary["gridlock"] else 0
