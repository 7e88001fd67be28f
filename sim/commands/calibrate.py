"""``corridor calibrate [SCENARIO]``: the model against published figures of the real corridor.

Runs the scenario's replications with the calibration probes of :mod:`sim.experiments.calibrate`
(berth time per vessel call, segment times of the study boxes), prints the verdict on its
first line (:func:`sim.outputs.calibration_status.verdict_line`), then the table "model vs
published figure" with the model's 95% CI and a pass/fail verdict per row, and writes
``calibration.json`` and ``calibration.md`` into the results folder. On the baseline (no
``--set``, no ``--horizon-days``) it also rewrites ``docs/calibration_status.json``, the
record a run of the baseline (or of a scenario extending it) shows.

Exit status: 0 every target met; 4 a target missed or not measurable; 3 a replication
stopped in gridlock; 2 bad input; 1 a fault (see :data:`EPILOG`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from sim import __version__
from sim.commands.common import (
    add_run_options,
    check_size,
    command_line,
    executor_spec,
    flag_overrides,
)
from sim.commands.run import EXIT_GRIDLOCK

EXIT_ALL_MET = 0
EXIT_TARGET_MISSED = 4
"""Some published target was missed (or had no model value); results are still written."""
EPILOG = f"""\
The first line of the output is the verdict, e.g.
  calibration: 8 of 19 targets met (4 of the 9 it was calibrated to); missed: ... (baseline, DATE)
A target is a published figure with an acceptance range (every role but "context").

Exit status:
  {EXIT_ALL_MET}  every target met
  {EXIT_TARGET_MISSED}  some target missed, or not measurable in this scenario (results written)
  {EXIT_GRIDLOCK}  a replication stopped in gridlock (results written; verdicts unreliable)
  2  bad input (one line on stderr; nothing run)
  1  a fault (a worker died, the disk is full, an internal error)

On the baseline (scenarios/baseline.toml of the source tree, without --set or
--horizon-days) the command also rewrites docs/calibration_status.json, which runs of the
baseline and of scenarios extending it show as their calibration line (--no-status: skip).
Results folder: results/calibrate/<timestamp>/ under the current directory."""


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="compare the model with published figures of the real corridor",
        description="Run a scenario and print the model against published figures of the real "
        "corridor (sim/data/published_figures.toml; source IDs as listed in docs/sources.md), "
        "with 95% CIs and pass/fail per figure.",
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
    add_run_options(p, report=False)
    p.add_argument(
        "--no-status",
        action="store_true",
        help="do not rewrite docs/calibration_status.json (only the baseline writes it)",
    )
    p.set_defaults(handler=run)


def evaluate(loaded, replications: int, spec) -> tuple[list[dict], list[Any]]:
    """The calibration replications and the table rows (one per published figure)."""
    from sim.experiments.calibrate import build_table, run_calibration

    records = run_calibration(loaded.model, replications, spec)
    return records, build_table(loaded.model, records)


def status_target(args: argparse.Namespace, scenario: Path) -> Path | None:
    """Where this run's calibration status goes: the source tree's status file when the
    scenario is the baseline run without ``--set`` or ``--horizon-days``; else ``None``."""
    from sim.locations import baseline_scenario
    from sim.outputs.calibration_status import status_file

    if args.no_status or args.overrides or args.horizon_days is not None:
        return None
    baseline = baseline_scenario()
    if baseline is None:
        return None
    try:
        if scenario.resolve() != baseline.resolve():
            return None
    except OSError:
        return None
    return status_file()


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.experiments.calibrate import format_markdown, format_text
    from sim.locations import default_scenario
    from sim.outputs.calibration_status import (
        all_met,
        build_status,
        check_status_target,
        verdict_line,
        write_status,
    )
    from sim.outputs.results import default_out_dir, write_json
    from sim.outputs.results_folder import open_results
    from sim.scenario.loader import load_scenario

    t0 = time.perf_counter()
    scenario = args.scenario if args.scenario is not None else default_scenario("calibrate")
    loaded = load_scenario(scenario, flag_overrides(args))
    settings = loaded.model.scenario
    target = status_target(args, scenario)
    if target is not None:
        check_status_target(target)
    out_dir = args.out or default_out_dir(Path("results"), "calibrate")
    spec = executor_spec(args).capped(settings.replications)
    check_size(loaded, spec, settings.replications)
    with open_results(out_dir, "calibrate", args.force) as folder:
        records, rows = evaluate(loaded, settings.replications, spec)
        meta = {
            "scenario": settings.name,
            "file": str(loaded.path),
            "sha256": loaded.sha256,
            "replications": len(records),
            "seed": settings.seed,
            "horizon_days": settings.horizon_days,
            "warmup_days": settings.warmup_days,
            "command": command_line(argv),
            "version": __version__,
            "wall_s": round(time.perf_counter() - t0, 1),
            "gridlocked_replications": [r["replication"] for r in records if r.get("gridlock")],
        }
        verdicts = [r.verdict for r in rows]
        meta["passed"] = verdicts.count("pass")
        meta["failed"] = verdicts.count("fail")
        status = build_status(rows, meta)
        meta["verdict"] = verdict_line(status)

        def fill(tmp: Path) -> None:
            table = {"meta": meta, "rows": [r.as_dict() for r in rows]}
            write_json(tmp / "calibration.json", table)
            (tmp / "calibration.md").write_text(format_markdown(rows, meta), encoding="utf-8")

        fill(folder.tmp)
        final = folder.publish()
    if target is not None:
        write_status(target, status)
    if not args.quiet:
        print(meta["verdict"])
        header = (
            f"Calibration of {settings.name}: {len(records)} replications, seed {settings.seed}, "
            f"horizon {settings.horizon_days:g} d (warm-up {settings.warmup_days:g} d), "
            f"{meta['wall_s']:.0f} s. {meta['passed']} pass, {meta['failed']} fail."
        )
        print(format_text(rows, header))
        print(f"\nResults written to {final}")
        if target is not None:
            print(f"Calibration status written to {target}")
    if meta["gridlocked_replications"]:
        return EXIT_GRIDLOCK
    return EXIT_ALL_MET if all_met(status) else EXIT_TARGET_MISSED
