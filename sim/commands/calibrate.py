"""``corridor calibrate [SCENARIO]``: the model against published figures of the real corridor.

Runs the scenario's replications with the calibration probes of :mod:`sim.experiments.calibrate`
(berth time per vessel call, segment times of the study boxes), prints the table
"model vs published figure" with the model's 95% CI and a pass/fail verdict per row, and
writes ``calibration.json`` and ``calibration.md`` into the results folder.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sim import __version__
from sim.commands.common import (
    add_run_options,
    check_size,
    command_line,
    executor_spec,
    flag_overrides,
)

DEFAULT_SCENARIO = Path("scenarios/baseline.toml")


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="compare the model with published figures of the real corridor",
        description="Run a scenario and print the model against published figures of the real "
        "corridor (source IDs as listed in docs/sources.md), with 95% CIs and pass/fail per "
        "figure.",
    )
    p.add_argument(
        "scenario",
        nargs="?",
        type=Path,
        default=DEFAULT_SCENARIO,
        help=f"scenario file (default: {DEFAULT_SCENARIO})",
    )
    add_run_options(p, report=False)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.experiments.calibrate import build_table, format_markdown, format_text, run_calibration
    from sim.outputs.results import default_out_dir, write_json
    from sim.outputs.results_folder import open_results
    from sim.scenario.loader import load_scenario

    t0 = time.perf_counter()
    loaded = load_scenario(args.scenario, flag_overrides(args))
    settings = loaded.model.scenario
    out_dir = args.out or default_out_dir(Path("results"), "calibrate")
    spec = executor_spec(args).capped(settings.replications)
    check_size(loaded, spec, settings.replications)
    with open_results(out_dir, "calibrate", args.force) as folder:
        records = run_calibration(loaded.model, settings.replications, spec)
        rows = build_table(loaded.model, records)
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
            "gridlocked_replications": [r["replication"] for r in records if r["gridlock"]],
        }
        verdicts = [r.verdict for r in rows]
        meta["passed"] = verdicts.count("pass")
        meta["failed"] = verdicts.count("fail")

        def fill(tmp: Path) -> None:
            table = {"meta": meta, "rows": [r.as_dict() for r in rows]}
            write_json(tmp / "calibration.json", table)
            (tmp / "calibration.md").write_text(format_markdown(rows, meta), encoding="utf-8")

        fill(folder.tmp)
        final = folder.publish()
    if not args.quiet:
        header = (
            f"Calibration of {settings.name}: {len(records)} replications, seed {settings.seed}, "
            f"horizon {settings.horizon_days:g} d (warm-up {settings.warmup_days:g} d), "
            f"{meta['wall_s']:.0f} s. {meta['passed']} pass, {meta['failed']} fail."
        )
        print(format_text(rows, header))
        print(f"\nResults written to {final}")
    return 0
