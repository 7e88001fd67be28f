"""One random stream per stochastic input, keyed by name — common random numbers.

A stream is spawned from ``SeedSequence([seed, replication, crc32(name)])``, so
replication *i* of two scenarios sees the same demand and the same storms
whatever else differs, and results never depend on worker order. ``zlib.crc32``
is used because Python's ``hash()`` of a string changes between processes.
"""

from __future__ import annotations

import zlib

import numpy as np

from sim.scenario.schema import (
    ExponentialDist,
    FixedDist,
    GammaDist,
    LognormalDist,
    TriangularDist,
    UniformDist,
)

BLOCK = 512


def stream(seed: int, replication: int, name: str) -> np.random.Generator:
    """The generator of input ``name`` in ``replication`` of a run with base ``seed``."""
    key = zlib.crc32(name.encode("utf-8"))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, replication, key])))


def draw(dist, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` variates of a schema distribution (float64)."""
    if isinstance(dist, FixedDist):
        return np.full(n, dist.value)
    if isinstance(dist, ExponentialDist):
        return rng.exponential(dist.mean_value, n)
    if isinstance(dist, TriangularDist):
        if dist.low == dist.high:
            return np.full(n, dist.low)
        return rng.triangular(dist.low, dist.mode, dist.high, n)
    if isinstance(dist, UniformDist):
        return rng.uniform(dist.low, dist.high, n)
    if isinstance(dist, LognormalDist):
        return dist.median * np.exp(dist.sigma() * rng.standard_normal(n))
    if isinstance(dist, GammaDist):
        shape = 1.0 / dist.cv**2
        return rng.gamma(shape, dist.mean_value / shape, n)
    raise TypeError(f"unknown distribution {dist!r}")


class Sampler:
    """Variates of one distribution from one stream, drawn in blocks for speed.

    A sampler serves either scalars (``__call__``) or arrays (``many``), not both: each
    keeps its own block, so values come in the stream's order either way — a block of
    512 split into pieces equals the pieces drawn one after another (every distribution
    here consumes the stream variate by variate).
    """

    __slots__ = ("_dist", "_rng", "_buf", "_pos", "_const", "_block", "_bpos")

    def __init__(self, dist, rng: np.random.Generator) -> None:
        self._dist = dist
        self._rng = rng
        self._const = dist.value if isinstance(dist, FixedDist) else None
        self._buf: list[float] = []
        self._pos = 0
        self._block = np.empty(0)
        self._bpos = 0

    def __call__(self) -> float:
        if self._const is not None:
            return self._const
        if self._pos >= len(self._buf):
            self._buf = draw(self._dist, self._rng, BLOCK).tolist()
            self._pos = 0
        value = self._buf[self._pos]
        self._pos += 1
        return value

    def many(self, n: int) -> np.ndarray:
        """``n`` variates at once (per-container dwell times); a read-only view."""
        if self._const is not None:  # views of one constant block, as for drawn values
            block = self._block
            if n > len(block):
                block = np.full(max(BLOCK, n), self._const)
                block.flags.writeable = False
                self._block = block
            return block[:n]
        pos = self._bpos
        block = self._block
        if pos + n <= len(block):
            self._bpos = pos + n
            return block[pos : pos + n]
        rest = block[pos:]
        need = n - len(rest)
        fresh = draw(self._dist, self._rng, max(BLOCK, need))
        fresh.flags.writeable = False
        self._block, self._bpos = fresh, need
        return np.concatenate((rest, fresh[:need])) if len(rest) else fresh[:need]
