"""``corridor run SCENARIO``: simulate replications and write a results folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim import __version__
from sim.commands.common import (
    MAX_REPLICATIONS,
    add_run_options,
    check_size,
    command_line,
    executor_spec,
    flag_overrides,
    positive_int,
)

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
        type=positive_int(MAX_REPLICATIONS),
        default=200,
        metavar="N",
        help="upper limit for --target-ci (default 200)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.errors import ScenarioError
    from sim.experiments.executors import open_executor
    from sim.experiments.replications import run_batches
    from sim.outputs.console import format_summary
    from sim.outputs.results import default_out_dir, write_run_files
    from sim.outputs.results_folder import open_results
    from sim.outputs.summary import build_summary
    from sim.scenario.loader import load_scenario
    from sim.scenario.provenance import write_provenance

    loaded = load_scenario(args.scenario, flag_overrides(args))
    settings = loaded.model.scenario
    out_dir = args.out or default_out_dir(Path("results"), settings.name)
    if args.target_ci is not None:
        from sim.experiments.replications import TARGET_KPIS

        if not 0 < args.target_ci < 1:  # also refuses nan
            raise ScenarioError("--target-ci", None, "expected a number between 0 and 1")
        if args.target_kpi not in TARGET_KPIS:
            raise ScenarioError(
                "--target-kpi",
                None,
                f"expected one of {', '.join(TARGET_KPIS)}, got {args.target_kpi!r}",
            )
    tasks = args.max_replications if args.target_ci is not None else settings.replications
    spec = executor_spec(args).capped(tasks)
    check_size(loaded, spec, tasks)
    with open_results(out_dir, "run", args.force) as folder:
        algorithm = None
        if args.target_ci is not None:
            from sim.experiments.replications import replicate_to_precision

            records, algorithm = replicate_to_precision(
                loaded.model, spec, args.target_kpi, args.target_ci, args.max_replications
            )
        else:
            with open_executor(spec) as ex:
                indices = list(range(settings.replications))
                records = run_batches(ex, spec, [(loaded.model, indices)])[0]
        summary = build_summary(loaded, records, command_line(argv), __version__)
        if algorithm:
            summary["replications_algorithm"] = algorithm
        write_provenance(folder.tmp, args.scenario, flag_overrides(args))
        write_run_files(folder.tmp, loaded, summary, records, not args.no_plots, args.report)
        final = folder.publish()

    if not args.quiet:
        print(format_summary(summary, str(final)))
    for g in summary["gridlock"]:
        sys.stderr.write(
            f"corridor: gridlock in replication {g['replication']} since day "
            f"{g['since_day']:.1f}: {'; '.join(g['where'])}\n"
        )
    return EXIT_GRIDLOCK if summary["gridlock"] else 0
