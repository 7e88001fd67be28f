"""``corridor run SCENARIO``: simulate replications and write a results folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

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
from sim.experiments.executors import ExecutorSpec

if TYPE_CHECKING:
    from sim.scenario.loader import LoadedScenario

EXIT_GRIDLOCK = 3
DEFAULT_TARGET_KPI = "transit_days_mean"
DEFAULT_MAX_REPLICATIONS = 200


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
        default=DEFAULT_TARGET_KPI,
        metavar="KPI",
        help=f"KPI for --target-ci (default {DEFAULT_TARGET_KPI})",
    )
    p.add_argument(
        "--max-replications",
        type=positive_int(MAX_REPLICATIONS),
        default=DEFAULT_MAX_REPLICATIONS,
        metavar="N",
        help=f"upper limit for --target-ci (default {DEFAULT_MAX_REPLICATIONS})",
    )
    p.set_defaults(handler=run)


class Precision(NamedTuple):
    """``--target-ci``, ``--target-kpi``, ``--max-replications``: the replications algorithm
    (``ci`` None: the scenario's replications)."""

    ci: float | None = None
    kpi: str = DEFAULT_TARGET_KPI
    max_replications: int = DEFAULT_MAX_REPLICATIONS


def prepare_run(
    scenario: Path,
    overrides: list[str | tuple[str, str]],
    spec: ExecutorSpec,
    precision: Precision,
) -> tuple[LoadedScenario, ExecutorSpec]:
    """Load the scenario and check everything before any work: the precision target, and
    that the replications fit in memory. Returns the scenario and the executor (capped at
    the replications to run). Bad input raises :class:`~sim.errors.ScenarioError`."""
    from sim.errors import ScenarioError
    from sim.experiments.replications import TARGET_KPIS
    from sim.scenario.loader import load_scenario

    loaded = load_scenario(scenario, overrides)
    if precision.ci is not None:
        if not 0 < precision.ci < 1:  # also refuses nan
            raise ScenarioError("--target-ci", None, "expected a number between 0 and 1")
        if precision.kpi not in TARGET_KPIS:
            raise ScenarioError(
                "--target-kpi",
                None,
                f"expected one of {', '.join(TARGET_KPIS)}, got {precision.kpi!r}",
            )
    tasks = (
        precision.max_replications
        if precision.ci is not None
        else loaded.model.scenario.replications
    )
    spec = spec.capped(tasks)
    check_size(loaded, spec, tasks)
    return loaded, spec


def simulate_run(
    loaded: LoadedScenario, spec: ExecutorSpec, command: str, precision: Precision
) -> tuple[dict[str, Any], list[dict]]:
    """Run the replications (the scenario's, or as many as ``precision`` asks): the
    summary (what summary.json holds) and the replication records."""
    from sim.experiments.executors import open_executor
    from sim.experiments.replications import replicate_to_precision, run_batches
    from sim.outputs.summary import build_summary

    algorithm = None
    if precision.ci is not None:
        records, algorithm = replicate_to_precision(
            loaded.model, spec, precision.kpi, precision.ci, precision.max_replications
        )
    else:
        with open_executor(spec) as ex:
            indices = list(range(loaded.model.scenario.replications))
            records = run_batches(ex, spec, [(loaded.model, indices)])[0]
    summary = build_summary(loaded, records, command, __version__)
    if algorithm:
        summary["replications_algorithm"] = algorithm
    return summary, records


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.outputs.console import format_summary
    from sim.outputs.results import default_out_dir, write_run_files
    from sim.outputs.results_folder import open_results
    from sim.scenario.provenance import provenance_document

    overrides = flag_overrides(args)
    precision = Precision(args.target_ci, args.target_kpi, args.max_replications)
    loaded, spec = prepare_run(args.scenario, overrides, executor_spec(args), precision)
    out_dir = args.out or default_out_dir(Path("results"), loaded.model.scenario.name)
    with open_results(out_dir, "run", args.force) as folder:
        summary, records = simulate_run(loaded, spec, command_line(argv), precision)
        provenance = provenance_document(args.scenario, overrides)
        write_run_files(
            folder.tmp, loaded, summary, records, not args.no_plots, args.report, provenance
        )
        final = folder.publish()

    if not args.quiet:
        print(format_summary(summary, str(final)))
    for line in gridlock_lines(summary):
        sys.stderr.write(f"corridor: {line}\n")
    return EXIT_GRIDLOCK if summary["gridlock"] else 0


def gridlock_lines(summary: dict[str, Any]) -> list[str]:
    """One line per replication that stopped in gridlock: since when, and where."""
    return [
        f"gridlock in replication {g['replication']} since day {g['since_day']:.1f}: "
        f"{'; '.join(g['where'])}"
        for g in summary["gridlock"]
    ]
