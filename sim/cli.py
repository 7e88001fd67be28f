"""Command line: ``corridor <command>`` (also ``python -m sim <command>``).

Each command lives in its own module under ``sim/commands/`` with a
``register(subparsers)`` function. Exit status: 0 success; 2 bad input (one
line on stderr naming file, key and what was expected; nothing written);
3 a replication stopped in gridlock (results are still written and reported).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sim import __version__
from sim.errors import ScenarioError

EXIT_BAD_INPUT = 2
COMMANDS = ("run", "validate", "compare", "sweep", "report", "calibrate", "sensitivity")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="corridor", description="Middle Corridor freight simulator")
    parser.add_argument("--version", action="version", version=f"corridor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"sim.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args, argv)
    except ScenarioError as exc:
        sys.stderr.write(f"corridor: error: {exc}\n")
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into `head` and closed
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("corridor: interrupted; no results folder was written\n")
        return 130
