"""Command line: ``corridor run``, ``corridor validate`` (also ``python -m sim``).

Exit status: 0 success; 2 bad input (one line on stderr naming file, key and
what was expected; nothing written); 3 a replication stopped in gridlock
(results are still written and the gridlock is reported).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from sim import __version__
from sim.errors import ScenarioError

EXIT_BAD_INPUT = 2
EXIT_GRIDLOCK = 3


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(EXIT_BAD_INPUT)


def _positive_int(flag: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{flag}: expected a whole number, got {text!r}"
            ) from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{flag}: expected a number >= 1, got {value}")
        return value

    return parse


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--replications",
        type=_positive_int("--replications"),
        metavar="N",
        help="replications (default: the scenario's)",
    )
    p.add_argument("--seed", type=int, metavar="S", help="base seed (default: the scenario's)")
    p.add_argument("--horizon-days", type=float, metavar="D", help="horizon incl. warm-up, days")
    p.add_argument(
        "--workers",
        type=_positive_int("--workers"),
        metavar="W",
        help="worker processes (default: all cores)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="results folder (default: results/<scenario>/<timestamp>/)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        dest="overrides",
        help="override one scenario value (repeatable)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the plots/ folder")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="corridor", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"corridor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="simulate a scenario and write a results folder")
    run.add_argument("scenario", type=Path, help="scenario file (TOML)")
    _add_run_options(run)
    val = sub.add_parser("validate", help="check scenario files without running them")
    val.add_argument("scenarios", type=Path, nargs="+", help="scenario files")
    val.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        dest="overrides",
        help="override one value (repeatable)",
    )
    return parser


def _flag_overrides(args: argparse.Namespace) -> list[str | tuple[str, str]]:
    """``--set`` values, then the run flags as overrides of [scenario] keys."""
    out: list[str | tuple[str, str]] = list(args.overrides)
    for flag, key, value in (
        ("--replications", "replications", args.replications),
        ("--seed", "seed", args.seed),
        ("--horizon-days", "horizon_days", args.horizon_days),
    ):
        if value is not None:
            out.append((flag, f"scenario.{key}={value}"))
    return out


def cmd_validate(args: argparse.Namespace) -> int:
    from sim.scenario.loader import load_scenario

    for path in args.scenarios:
        loaded = load_scenario(path, args.overrides)
        m = loaded.model
        print(
            f"{path}: ok ({m.scenario.name}: {len(m.nodes)} nodes, {len(m.legs)} legs, "
            f"{len(m.fleets)} fleets, {len(m.flows)} flows)"
        )
    return 0


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.console import format_summary
    from sim.experiments import replicate
    from sim.results import (
        default_out_dir,
        write_atomically,
        write_json,
        write_replications_csv,
        write_timeseries_csv,
    )
    from sim.scenario.loader import load_scenario
    from sim.summary import build_summary

    loaded = load_scenario(args.scenario, _flag_overrides(args))
    settings = loaded.model.scenario
    out_dir = args.out or default_out_dir(Path("results"), settings.name)
    records = replicate(loaded.model, settings.replications, args.workers)
    command = "corridor " + " ".join(shlex.quote(a) for a in argv)
    summary = build_summary(loaded, records, command, __version__)

    def fill(tmp: Path) -> None:
        write_json(tmp / "summary.json", summary)
        write_json(tmp / "scenario.resolved.json", loaded.resolved)
        write_replications_csv(tmp / "replications.csv", records, settings.seed)
        write_timeseries_csv(tmp / "timeseries.csv", records)
        if not args.no_plots:
            from sim.plots import write_run_plots

            write_run_plots(records, loaded.model, tmp / "plots")

    final = write_atomically(out_dir, fill)
    if not args.quiet:
        print(format_summary(summary, str(final)))
    for g in summary["gridlock"]:
        sys.stderr.write(
            f"corridor: gridlock in replication {g['replication']} since day "
            f"{g['since_day']:.1f}: {'; '.join(g['where'])}\n"
        )
    return EXIT_GRIDLOCK if summary["gridlock"] else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "validate":
            return cmd_validate(args)
        return cmd_run(args, argv)
    except ScenarioError as exc:
        sys.stderr.write(f"corridor: error: {exc}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("corridor: interrupted; no results folder was written\n")
        return 130
