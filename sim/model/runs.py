"""Future entries (container arrivals in a queue, releases from a yard) as sorted runs.

A queue learns about containers in batches whose ready times are known in
advance (a day of demand, a train unloaded with per-container dwell). Each
batch is a *run*: arrays sorted by time. Runs are merged like the digits of a
binary counter — a new run is merged into the previous one while that one is
not at least twice as long — so a queue holds O(log n) runs however many
batches arrived, and every entry is copied O(log n) times in all. Looking up
"when will X TEU be ready" or "what is due by now" then touches a few runs
instead of one per batch.

Order: entries are kept in (time, arrival) order — among equal times the
entry that was added first comes first, as in a single FIFO.
"""

from __future__ import annotations

import math

import numpy as np


class Run:
    """One sorted run: ``times`` with ``idx`` (container rows, or None) and their ``teu``.

    ``pos`` is the first entry not yet taken; ``cumteu`` is the running TEU sum.
    """

    __slots__ = ("times", "idx", "teu", "cumteu", "pos")

    def __init__(self, times: np.ndarray, idx: np.ndarray | None, teu: np.ndarray) -> None:
        self.times = times
        self.idx = idx
        self.teu = teu
        self.cumteu = np.cumsum(teu, dtype=np.float64)
        self.pos = 0

    def __len__(self) -> int:
        """Entries not yet taken."""
        return len(self.times) - self.pos

    @property
    def head(self) -> float:
        return float(self.times[self.pos])

    def teu_before(self, k: int) -> float:
        """TEU of entries ``pos..k-1``."""
        if k <= self.pos:
            return 0.0
        base = self.cumteu[self.pos - 1] if self.pos else 0.0
        return float(self.cumteu[k - 1] - base)


def _merge(older: Run, newer: Run) -> Run:
    """The remaining entries of two runs as one run (ties: ``older`` first)."""
    a, b = older.pos, newer.pos
    times = np.concatenate((older.times[a:], newer.times[b:]))
    order = np.argsort(times, kind="stable")  # two sorted runs: a linear merge
    idx = None if older.idx is None else np.concatenate((older.idx[a:], newer.idx[b:]))[order]
    teu = np.concatenate((older.teu[a:], newer.teu[b:]))[order]
    return Run(times[order], idx, teu)


class SortedRuns:
    """Future entries as a short list of sorted runs, oldest first."""

    __slots__ = ("runs", "next_due")

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self.next_due = math.inf  # earliest time among all entries

    def __bool__(self) -> bool:
        return bool(self.runs)

    def add(self, times: np.ndarray, idx: np.ndarray | None, teu: np.ndarray) -> None:
        """Add entries already sorted by time (ties in the order given).

        ``idx`` is None for entries that are only amounts (yard releases); it must
        be None for all entries of one :class:`SortedRuns` or for none.
        """
        if len(times) == 0:
            return
        runs = self.runs
        runs.append(Run(times, idx, teu))
        while len(runs) > 1 and len(runs[-2]) <= 2 * len(runs[-1]):
            newer = runs.pop()
            runs[-1] = _merge(runs[-1], newer)
        self.next_due = min(self.next_due, float(times[0]))

    def pop_until(self, now: float) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, float]:
        """Remove the entries with time <= ``now``: (times, idx, teu, total TEU), in order."""
        moved: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        total = 0.0
        keep: list[Run] = []
        for r in self.runs:
            k = int(np.searchsorted(r.times, now, side="right"))
            if k > r.pos:
                idx = None if r.idx is None else r.idx[r.pos : k]
                moved.append((r.times[r.pos : k], idx, r.teu[r.pos : k]))
                total += r.teu_before(k)
                r.pos = k
            if len(r):
                keep.append(r)
        self.runs = keep
        self.next_due = min((r.head for r in keep), default=math.inf)
        if not moved:
            empty = np.empty(0)
            return empty, np.empty(0, dtype=np.int64), empty, 0.0
        if len(moved) == 1:
            return (*moved[0], total)
        times = np.concatenate([m[0] for m in moved])
        order = np.argsort(times, kind="stable")
        idx = None if moved[0][1] is None else np.concatenate([m[1] for m in moved])[order]
        teu = np.concatenate([m[2] for m in moved])[order]
        return times[order], idx, teu, total

    def time_reaching(self, need: float) -> float:
        """Earliest entry time at which the entries up to it hold at least ``need`` TEU."""
        times = []
        sizes = []
        for r in self.runs:
            # each run alone contributes at most the entries needed to cover `need`
            base = r.cumteu[r.pos - 1] if r.pos else 0.0
            k = int(np.searchsorted(r.cumteu, base + need - 1e-9, side="left")) + 1
            k = min(k, len(r.times))
            times.append(r.times[r.pos : k])
            sizes.append(r.teu[r.pos : k])
        if not times:
            return math.inf
        if len(times) == 1:
            t, s = times[0], sizes[0].astype(np.float64)
        else:
            t = np.concatenate(times)
            order = np.argsort(t, kind="stable")
            t = t[order]
            s = np.concatenate(sizes).astype(np.float64)[order]
        cum = np.cumsum(s)
        j = int(np.searchsorted(cum, need - 1e-9, side="left"))
        return float(t[j]) if j < len(cum) else math.inf

    def remaining(self) -> list[tuple[np.ndarray, np.ndarray | None, np.ndarray]]:
        """(times, idx, teu) of every run's untaken entries."""
        return [
            (r.times[r.pos :], None if r.idx is None else r.idx[r.pos :], r.teu[r.pos :])
            for r in self.runs
        ]
