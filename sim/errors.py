"""Errors a user can act on: each names the file, the key path and what was expected."""

from __future__ import annotations


class ScenarioError(Exception):
    """Bad input in a scenario file or a ``--set`` override.

    ``str(err)`` is the one-line message the CLI prints (exit status 2).
    """

    def __init__(self, source: str, key: str | None, expected: str) -> None:
        self.source = source
        self.key = key
        self.expected = expected
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {expected}")


class ConservationError(AssertionError):
    """Containers created != delivered + in system: a model bug, never a user error."""


class InvariantError(AssertionError):
    """A monitored invariant failed (negative queue, resource over capacity): a model bug."""


class RunFault(Exception):
    """A run stopped by its surroundings, not its input: a lost worker, a full disk.

    ``str(err)`` is the one-line message the CLI prints (exit status 1); nothing is
    left half-written.
    """
