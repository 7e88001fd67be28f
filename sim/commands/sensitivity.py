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
DEFAULT_REPLICATIONS_TEXT = "3"
QUICK_MEASURED_DAYS_TEXT = "365"
"""Written out so that ``--help`` needs no import of the experiment (a test checks they
agree with :mod:`sim.experiments.sensitivity`)."""
EPILOG = f"""\
Horizon: without --horizon-days the scenario's horizon is shortened: every variant
runs the warm-up plus {QUICK_MEASURED_DAYS_TEXT} measured days, or the scenario's own horizon
when that is shorter (the baseline's 1,216 d become 485 d), so that the many variants
finish in minutes. The output says so on its second line, and sensitivity.json keeps the
scenario's own horizon (meta.scenario_horizon_days). Paired differences stay fair; the
absolute transit levels of a short run are biased low (slow boxes are still inside at
the end).

Results folder: results/sensitivity/<timestamp>/ under the current directory (UTC)."""


def register(sub) -> None:
    p = sub.add_parser(
        "sensitivity",
        help="which parameters move transit, throughput and the bottleneck most",
        description="One-at-a-time (oat) or Morris sensitivity of the headline KPIs to the "
        "uncertain parameters listed in sim/experiments/sensitivity.py, with common random numbers "
        "(every variant runs the same replication indices).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "scenario",
        nargs="?",
        type=Path,
        help="scenario file (default: scenarios/baseline.toml of the source tree, found from "
        "any directory)",
    )
    add_run_options(
        p,
        f"replications per variant (default: {DEFAULT_REPLICATIONS_TEXT})",
        report=False,
        horizon_help="horizon incl. warm-up, days (default: the scenario's warm-up + "
        f"{QUICK_MEASURED_DAYS_TEXT} d, at most the scenario's horizon; see below)",
    )
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
        DEFAULT_KPIS,
        DEFAULT_REPLICATIONS,
        MORRIS_TRAJECTORIES,
        format_markdown,
        format_table,
        quick_horizon_days,
        run_sensitivity,
        write_csv,
    )
    from sim.locations import default_scenario
    from sim.outputs.results import default_out_dir, write_json
    from sim.outputs.results_folder import open_results
    from sim.scenario.loader import load_scenario

    if args.scenario is None:
        args.scenario = default_scenario("sensitivity")
    flag_horizon, args.horizon_days = args.horizon_days, None
    own = load_scenario(args.scenario, flag_overrides(args)).model.scenario  # its own horizon
    horizon_from_flag = flag_horizon is not None
    args.horizon_days = (
        flag_horizon if horizon_from_flag else quick_horizon_days(own.horizon_days, own.warmup_days)
    )
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
        result["meta"]["scenario_horizon_days"] = own.horizon_days
        result["meta"]["horizon_from_flag"] = horizon_from_flag
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
