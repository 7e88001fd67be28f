"""Options and helpers shared by the commands that run scenarios."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from sim.experiments.executors import ExecutorSpec

MAX_REPLICATIONS = 10_000
"""More replications than any study needs: a CI half-width shrinks as 1/sqrt(n), so 10,000
replications give 1% of the spread of one."""


def positive_int(maximum: int | None = None):
    """An argparse type: a whole number >= 1 (and <= ``maximum``); argparse puts the flag
    in front of the one-line error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"expected a number <= {maximum:,}, got {value:,}")
        return value

    return parse


def add_set_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        dest="overrides",
        help="override one scenario value (repeatable)",
    )


DEFAULT_OUT_HELP = {
    "run": "results/<scenario>/<timestamp>/",
    "compare": "results/compare/<timestamp>/",
    "sweep": "results/sweep-<scenario>/<timestamp>/",
    "calibrate": "results/calibrate/<timestamp>/",
    "sensitivity": "results/sensitivity/<timestamp>/",
}
"""The default results folder of each command, as ``--help`` states it (relative to the
current directory; the commands build it with ``sim.outputs.results.default_out_dir``)."""


def add_run_options(
    p: argparse.ArgumentParser,
    replications_help: str = "replications (default: the scenario's)",
    report: bool = True,
    horizon_help: str = "horizon incl. warm-up, days (default: the scenario's)",
) -> None:
    """``--replications --seed --horizon-days --workers --out --set --scheduler
    --dask-local [--report] --quiet``. The ``--out`` help names the command's default
    folder (:data:`DEFAULT_OUT_HELP`, by the last word of the parser's ``prog``)."""
    out_default = DEFAULT_OUT_HELP.get(p.prog.split()[-1], "results/<name>/<timestamp>/")
    p.add_argument(
        "--replications",
        type=positive_int(MAX_REPLICATIONS),
        metavar="N",
        help=replications_help,
    )
    p.add_argument("--seed", type=int, metavar="S", help="base seed (default: the scenario's)")
    p.add_argument("--horizon-days", type=float, metavar="D", help=horizon_help)
    p.add_argument(
        "--workers",
        type=positive_int(),
        metavar="W",
        help="worker processes (default: all cores)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"results folder (default: {out_default} under the current directory, timestamp "
        "in UTC); must not exist, or be a results folder of this tool (replaced only with "
        "--force)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an existing results folder written by this tool at --out",
    )
    add_set_option(p)
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a Dask cluster (e.g. tcp://host:8786); needs the [distributed] extra",
    )
    p.add_argument(
        "--dask-local",
        type=positive_int(),
        metavar="N",
        help="start a local Dask cluster of N worker processes",
    )
    if report:
        p.add_argument(
            "--report", action="store_true", help="also write a self-contained report.html"
        )
    p.add_argument("--quiet", action="store_true", help="print nothing but errors; no progress bar")


def executor_spec(args: argparse.Namespace) -> ExecutorSpec:
    """Where the replications run, from ``--workers``, ``--scheduler`` and ``--dask-local``."""
    return ExecutorSpec(
        workers=args.workers,
        scheduler=args.scheduler,
        dask_local=args.dask_local,
        quiet=args.quiet,
    )


def command_line(argv: list[str]) -> str:
    return "corridor " + " ".join(shlex.quote(a) for a in argv)


def flag_overrides(args: argparse.Namespace) -> list[str | tuple[str, str]]:
    """``--set`` values, then the run flags as overrides of [scenario] keys."""
    out: list[str | tuple[str, str]] = list(args.overrides)
    for flag, key, value in (
        ("--replications", "replications", getattr(args, "replications", None)),
        ("--seed", "seed", getattr(args, "seed", None)),
        ("--horizon-days", "horizon_days", getattr(args, "horizon_days", None)),
    ):
        if value is not None:
            out.append((flag, f"scenario.{key}={value}"))
    return out


def check_size(loaded, spec: ExecutorSpec, replications: int) -> None:
    """Refuse, before any work, a run whose replications would not fit in memory (exit 2,
    with the estimate), naming the file or flag that set the key most responsible."""
    from sim.scenario.limits import check_run_size

    concurrent = max(1, min(spec.effective_workers(), replications))
    check_run_size(loaded.model, loaded.source_of, concurrent)
