"""Command line: ``corridor <command>`` (also ``python -m sim <command>``).

Each command lives in its own module under ``sim/commands/`` with a
``register(subparsers)`` function. Exit status: 0 success; 1 the run was stopped
by its surroundings (a worker died, the disk is full, an internal error): one line,
nothing half-written; 2 bad input (one line on stderr naming file, key and what was
expected; nothing written); 3 a replication stopped in gridlock (results are still
written and reported); 4 ``calibrate`` only: a published target was missed (results are
still written); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).
Set ``CORRIDOR_DEBUG=1`` to see the traceback of an internal error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from sim import __version__
from sim.errors import RunFault, ScenarioError

EXIT_FAULT = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EPILOG = """\
Exit status:
  0    success
  1    the run was stopped by its surroundings (a worker died, the disk is full, an
       internal error): one line, nothing half-written
  2    bad input: one line naming file, key and what was expected; nothing written
  3    a replication stopped in gridlock (results are still written and reported)
  4    calibrate: some published target was missed (results are still written)
  130  interrupted (Ctrl-C); 143 terminated (SIGTERM)
Set CORRIDOR_DEBUG=1 to see the traceback of an internal error.
Each command's --help says more (e.g. corridor calibrate --help)."""
COMMANDS = (
    "run", "validate", "compare", "sweep", "report", "calibrate", "sensitivity", "stability"
)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="corridor",
        description="Middle Corridor freight simulator",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"corridor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"sim.commands.{name}").register(sub)
    return parser


class Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C so that every ``finally`` and ``with`` cleans up."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def _os_message(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (e.g. called from a notebook worker thread)
        previous = None
    try:
        return args.handler(args, argv)
    except ScenarioError as exc:
        sys.stderr.write(f"corridor: error: {exc}\n")
        return EXIT_BAD_INPUT
    except RunFault as exc:
        sys.stderr.write(f"corridor: error: {exc}\n")
        return EXIT_FAULT
    except BrokenPipeError:  # output piped into `head` and closed
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        sys.stderr.write(f"corridor: interrupted; {_unfinished(args)}\n")
        return EXIT_INTERRUPTED
    except Terminated:
        sys.stderr.write(f"corridor: terminated; {_unfinished(args)}\n")
        return EXIT_TERMINATED
    except OSError as exc:
        sys.stderr.write(f"corridor: error: {_os_message(exc)}; nothing was written\n")
        return EXIT_FAULT
    except MemoryError:
        sys.stderr.write("corridor: error: out of memory; nothing was written\n")
        return EXIT_FAULT
    except Exception as exc:
        if os.environ.get("CORRIDOR_DEBUG"):
            raise
        sys.stderr.write(
            f"corridor: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
            "(set CORRIDOR_DEBUG=1 for the traceback; please report it)\n"
        )
        return EXIT_FAULT
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _unfinished(args: argparse.Namespace) -> str:
    """What an interrupted command leaves behind (sweeps keep finished points)."""
    note = getattr(args, "interrupted_note", None)
    if callable(note):
        note = note()
    return note or "no results folder was written"
