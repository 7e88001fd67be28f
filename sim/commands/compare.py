"""``corridor compare BASE ALT...``: paired comparison of scenarios and investment ranking."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from sim import __version__
from sim.commands.common import (
    add_run_options,
    check_size,
    command_line,
    executor_spec,
    flag_overrides,
)
from sim.experiments.executors import ExecutorSpec

if TYPE_CHECKING:
    from sim.scenario.loader import LoadedScenario


def register(sub) -> None:
    p = sub.add_parser("compare", help="compare scenarios with a base under common random numbers")
    p.add_argument("base", type=Path, help="base scenario file")
    p.add_argument("alternatives", type=Path, nargs="+", help="alternative scenario files")
    add_run_options(p)
    p.set_defaults(handler=run)


def prepare_comparison(
    base: Path,
    alternatives: list[Path],
    overrides: list[str | tuple[str, str]],
    spec: ExecutorSpec,
) -> tuple[list[LoadedScenario], ExecutorSpec]:
    """Load the base and the alternatives (aligned with the base for common random
    numbers) and check, before any work, that the replications fit in memory. Returns the
    scenarios and the executor (capped at the replications to run)."""
    from sim.experiments.compare import load_compared

    scenarios = load_compared(base, alternatives, overrides)
    replications = scenarios[0].model.scenario.replications
    spec = spec.capped(len(scenarios) * replications)
    for ld in scenarios:
        check_size(ld, spec, replications)
    return scenarios, spec


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.experiments.compare import build_comparison, simulate_comparison
    from sim.outputs.console import format_comparison
    from sim.outputs.results import default_out_dir, write_comparison_files
    from sim.outputs.results_folder import open_results

    scenarios, spec = prepare_comparison(
        args.base, args.alternatives, flag_overrides(args), executor_spec(args)
    )
    out_dir = args.out or default_out_dir(Path("results"), "compare")
    with open_results(out_dir, "compare", args.force) as folder:
        records = simulate_comparison(scenarios, spec)
        comp = build_comparison(scenarios, records, command_line(argv), __version__)
        write_comparison_files(folder.tmp, scenarios, comp, records, report=args.report)
        final = folder.publish()
    if not args.quiet:
        print(format_comparison(comp))
        print(f"\nResults written to {final}")
    return 0
