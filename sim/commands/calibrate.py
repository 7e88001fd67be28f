"""``corridor calibrate [SCENARIO]``: the model against published figures of the real corridor.

Runs the scenario's replications with the calibration probes of :mod:`sim.calibrate`
(berth time per vessel call, segment times of the study boxes), prints the table
"model vs published figure" with the model's 95% CI and a pass/fail verdict per row, and
writes ``calibration.json`` and ``calibration.md`` into the results folder.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sim import __version__
from sim.commands.common import add_set_option, command_line, flag_overrides, positive_int
from sim.executors import ExecutorSpec

DEFAULT_SCENARIO = Path("scenarios/baseline.toml")


def add_common_options(p: argparse.ArgumentParser, replications_help: str) -> None:
    """``--replications --seed --horizon-days --workers --scheduler --dask-local --out --set
    --quiet`` (as ``corridor run``, without plots and reports)."""
    p.add_argument(
        "--replications", type=positive_int("--replications"), metavar="N", help=replications_help
    )
    p.add_argument("--seed", type=int, metavar="S", help="base seed (default: the scenario's)")
    p.add_argument("--horizon-days", type=float, metavar="D", help="horizon incl. warm-up, days")
    p.add_argument(
        "--workers",
        type=positive_int("--workers"),
        metavar="W",
        help="worker processes (default: all cores)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a Dask cluster (e.g. tcp://host:8786); needs the [distributed] extra",
    )
    p.add_argument(
        "--dask-local",
        type=positive_int("--dask-local"),
        metavar="N",
        help="start a local Dask cluster of N worker processes",
    )
    p.add_argument("--out", type=Path, metavar="DIR", help="results folder")
    add_set_option(p)
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")


def spec_of(args: argparse.Namespace) -> ExecutorSpec:
    """The executor of ``--workers``, ``--scheduler`` and ``--dask-local``."""
    return ExecutorSpec(
        workers=args.workers,
        scheduler=args.scheduler,
        dask_local=args.dask_local,
        quiet=args.quiet,
    )


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="compare the model with published figures of the real corridor",
        description="Run a scenario and print the model against the published figures of "
        "/work/shared/corridor_data.md, with 95%% CIs and pass/fail per figure.",
    )
    p.add_argument(
        "scenario",
        nargs="?",
        type=Path,
        default=DEFAULT_SCENARIO,
        help=f"scenario file (default: {DEFAULT_SCENARIO})",
    )
    add_common_options(p, "replications (default: the scenario's)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.calibrate import build_table, format_markdown, format_text, run_calibration
    from sim.results import default_out_dir, write_atomically, write_json
    from sim.scenario.loader import load_scenario

    t0 = time.perf_counter()
    loaded = load_scenario(args.scenario, flag_overrides(args))
    settings = loaded.model.scenario
    out_dir = args.out or default_out_dir(Path("results"), "calibrate")
    records = run_calibration(loaded.model, settings.replications, spec_of(args))
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
        write_json(tmp / "calibration.json", {"meta": meta, "rows": [r.as_dict() for r in rows]})
        (tmp / "calibration.md").write_text(format_markdown(rows, meta), encoding="utf-8")

    final = write_atomically(out_dir, fill)
    if not args.quiet:
        header = (
            f"Calibration of {settings.name}: {len(records)} replications, seed {settings.seed}, "
            f"horizon {settings.horizon_days:g} d (warm-up {settings.warmup_days:g} d), "
            f"{meta['wall_s']:.0f} s. {meta['passed']} pass, {meta['failed']} fail."
        )
        print(format_text(rows, header))
        print(f"\nResults written to {final}")
    return 0
