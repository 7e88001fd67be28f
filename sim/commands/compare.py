"""``corridor compare BASE ALT...``: paired comparison of scenarios and investment ranking."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from sim import __version__
from sim.commands.common import (
    add_run_options,
    check_size,
    command_line,
    executor_spec,
    flag_overrides,
)

ALIGN_SOURCE = "compare (aligned with the base for common random numbers)"


def register(sub) -> None:
    p = sub.add_parser("compare", help="compare scenarios with a base under common random numbers")
    p.add_argument("base", type=Path, help="base scenario file")
    p.add_argument("alternatives", type=Path, nargs="+", help="alternative scenario files")
    add_run_options(p)
    p.set_defaults(handler=run)


def _write_tidy(path: Path, comp: dict, values: dict[str, dict[str, list]]) -> None:
    kpis = comp["kpis"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["scenario", "replication"] + kpis)
        for name in comp["order"]:
            for r in range(comp["replications"]):
                row = [values[name][k][r] for k in kpis]
                w.writerow([name, r] + ["" if v is None else repr(round(v, 6)) for v in row])


def run(args: argparse.Namespace, argv: list[str]) -> int:
    import numpy as np

    from sim.errors import ScenarioError
    from sim.experiments.compare import KPIS, build_comparison, format_comparison, record_kpi
    from sim.experiments.executors import open_executor
    from sim.experiments.replications import run_batches
    from sim.outputs.results import default_out_dir, write_json
    from sim.outputs.results_folder import open_results
    from sim.scenario.loader import load_scenario

    overrides = flag_overrides(args)
    base = load_scenario(args.base, overrides)
    s = base.model.scenario
    aligned = [
        (ALIGN_SOURCE, f"scenario.{key}={value}")
        for key, value in (
            ("seed", s.seed),
            ("replications", s.replications),
            ("horizon_days", s.horizon_days),
            ("warmup_days", s.warmup_days),
        )
    ]
    scenarios = [base] + [load_scenario(p, overrides + aligned) for p in args.alternatives]
    names = [ld.model.scenario.name for ld in scenarios]
    if len(set(names)) != len(names):
        raise ScenarioError(
            "compare", "scenario.name", f"expected distinct scenario names, got {names}"
        )
    out_dir = args.out or default_out_dir(Path("results"), "compare")
    spec = executor_spec(args).capped(len(scenarios) * s.replications)
    for ld in scenarios:
        check_size(ld, spec, s.replications)
    with open_results(out_dir, "compare", args.force) as folder:
        reps = list(range(s.replications))
        jobs = [(ld.model, reps) for ld in scenarios]
        with open_executor(spec) as ex:
            records = run_batches(ex, spec, jobs, drop=("series",))
        comp = build_comparison(scenarios, records, command_line(argv), __version__)
        values = {
            ld.model.scenario.name: {k: [record_kpi(ld, r, k) for r in recs] for k in KPIS}
            for ld, recs in zip(scenarios, records, strict=True)
        }

        def fill(tmp: Path) -> None:
            from sim.outputs.plots_compare import forest, kpi_bars, transit_cdfs
            from sim.outputs.plots_map import change_map, route_map

            write_json(tmp / "comparison.json", comp)
            _write_tidy(tmp / "replications.csv", comp, values)
            for ld in scenarios:
                sub = tmp / "scenarios" / ld.model.scenario.name
                sub.mkdir(parents=True)
                summary = comp["scenarios"][ld.model.scenario.name]["summary"]
                write_json(sub / "summary.json", summary)
                write_json(sub / "scenario.resolved.json", ld.resolved)
            plots = tmp / "plots"
            plots.mkdir()
            kpi_bars(comp, plots / "kpi_bars.png")
            forest(comp, plots / "forest.png")
            samples = {
                ld.model.scenario.name: np.concatenate([r["transit_days"] for r in recs])
                for ld, recs in zip(scenarios, records, strict=True)
            }
            transit_cdfs(samples, plots / "transit_cdfs.png")
            route_map(base.model, comp["scenarios"][names[0]]["summary"], plots / "route_map.png")
            for ld in scenarios[1:]:
                name = ld.model.scenario.name
                change_map(
                    base.model,
                    comp["scenarios"][names[0]]["summary"],
                    ld.model,
                    comp["scenarios"][name]["summary"],
                    plots / f"route_map_change_{name}.png",
                )
            if args.report:
                from sim.outputs.report import write_report

                write_report(tmp)

        fill(folder.tmp)
        final = folder.publish()
    if not args.quiet:
        print(format_comparison(comp))
        print(f"\nResults written to {final}")
    return 0
