"""``corridor sensitivity [SCENARIO]``: which uncertain parameters move the headline KPIs.

One-at-a-time low/high swings (``--method oat``, default) or Morris elementary effects
(``--method morris``) over the parameter table of :mod:`sim.experiments.sensitivity`, with common
random numbers. Prints one table per KPI and writes ``sensitivity.csv``,
``sensitivity.json``, ``sensitivity.md`` and ``sensitivity_<kpi>.png`` (tornado plots).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sim import __version__
from sim.commands.calibrate import DEFAULT_SCENARIO
from sim.commands.common import (
    add_run_options,
    check_size,
    command_line,
    executor_spec,
    flag_overrides,
    positive_int,
)

DEFAULT_KPIS_TEXT = (
    "transit_days_p50 transit_days_p95 throughput_teu_per_week bottleneck_utilisation"
)


def register(sub) -> None:
    p = sub.add_parser(
        "sensitivity",
        help="which parameters move transit, throughput and the bottleneck most",
        description="One-at-a-time (oat) or Morris sensitivity of the headline KPIs to the "
        "uncertain parameters listed in sim/experiments/sensitivity.py, with common random numbers "
        "(every variant runs the same replication indices).",
    )
    p.add_argument(
        "scenario",
        nargs="?",
        type=Path,
        default=DEFAULT_SCENARIO,
        help=f"scenario file (default: {DEFAULT_SCENARIO})",
    )
    add_run_options(p, "replications per variant (default: 3)", report=False)
    p.add_argument("--method", choices=("oat", "morris"), default="oat", help="design (oat)")
    p.add_argument(
        "--kpis",
        nargs="+",
        metavar="KPI",
        help="study KPIs (transit_days_mean, ...), bottleneck_utilisation, or dotted record "
        f"paths such as legs.aktau_alat.utilisation (default: {DEFAULT_KPIS_TEXT})",
    )
    p.add_argument(
        "--trajectories",
        type=positive_int(1000),
        metavar="R",
        help="Morris trajectories (default: 4)",
    )
    p.add_argument(
        "--no-plots", action="store_true", help="skip the sensitivity_<kpi>.png tornado plots"
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.experiments.sensitivity import (
        DEFAULT_HORIZON_DAYS,
        DEFAULT_KPIS,
        DEFAULT_REPLICATIONS,
        MORRIS_TRAJECTORIES,
        format_markdown,
        format_table,
        run_sensitivity,
        write_csv,
    )
    from sim.outputs.results import default_out_dir, write_json
    from sim.outputs.results_folder import open_results
    from sim.scenario.loader import load_scenario

    if args.horizon_days is None:
        args.horizon_days = DEFAULT_HORIZON_DAYS
    replications = args.replications or DEFAULT_REPLICATIONS
    args.replications = None  # replications are per variant, not a scenario override
    out_dir = args.out or default_out_dir(Path("results"), "sensitivity")
    spec = executor_spec(args)
    base = load_scenario(
        args.scenario,
        flag_overrides(args) + [("--replications", f"scenario.replications={replications}")],
    )
    check_size(base, spec, replications)
    with open_results(out_dir, "sensitivity", args.force) as folder:
        result = run_sensitivity(
            args.scenario,
            flag_overrides(args),
            method=args.method,
            replications=replications,
            spec=spec,
            kpis=args.kpis or list(DEFAULT_KPIS),
            trajectories=args.trajectories or MORRIS_TRAJECTORIES,
        )
        result["meta"]["command"] = command_line(argv)
        result["meta"]["version"] = __version__

        def fill(tmp: Path) -> None:
            write_json(tmp / "sensitivity.json", result)
            write_csv(tmp / "sensitivity.csv", result)
            (tmp / "sensitivity.md").write_text(format_markdown(result), encoding="utf-8")
            if not args.no_plots:
                from sim.outputs.plots_sensitivity import write_sensitivity_plots

                write_sensitivity_plots(result, tmp)

        fill(folder.tmp)
        final = folder.publish()
    if not args.quiet:
        print(format_table(result))
        print(f"\nResults written to {final}")
    return 0
