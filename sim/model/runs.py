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

    ``pos`` is the first entry not yet taken and ``head`` its time; the running
    TEU sum ``cumteu`` is computed when first asked for (most runs are merged or
    consumed before anyone asks).
    """

    __slots__ = ("times", "idx", "teu", "pos", "head", "_cumteu")

    def __init__(self, times: np.ndarray, idx: np.ndarray | None, teu: np.ndarray) -> None:
        self.times = times
        self.idx = idx
        self.teu = teu
        self.pos = 0
        self.head = float(times[0])
        self._cumteu: np.ndarray | None = None

    def __len__(self) -> int:
        """Entries not yet taken."""
        return len(self.times) - self.pos

    @property
    def cumteu(self) -> np.ndarray:
        if self._cumteu is None:
            self._cumteu = self.teu.cumsum(dtype=np.float64)
        return self._cumteu

    def teu_before(self, k: int) -> float:
        """TEU of the untaken entries before index ``k`` (``k > pos``)."""
        cum = self.cumteu
        return float(cum[k - 1]) - (float(cum[self.pos - 1]) if self.pos else 0.0)

    def advance(self, k: int) -> None:
        """Entries before ``k`` are taken."""
        self.pos = k
        self.head = float(self.times[k]) if k < len(self.times) else math.inf


def _merge(older: Run, newer: Run) -> Run:
    """The remaining entries of two runs as one run (ties: ``older`` first)."""
    a, b = older.pos, newer.pos
    ot, nt = older.times, newer.times
    if ot[-1] <= nt[b]:  # the usual case: the newer run starts after the older ends
        first, second, i, j = older, newer, a, b
    elif nt[-1] < ot[a]:  # the newer run ends before the older starts
        first, second, i, j = newer, older, b, a
    else:
        times = np.concatenate((ot[a:], nt[b:]))
        order = times.argsort(kind="stable")  # two sorted runs: a linear merge
        idx = None if older.idx is None else np.concatenate((older.idx[a:], newer.idx[b:]))[order]
        teu = np.concatenate((older.teu[a:], newer.teu[b:]))[order]
        return Run(times[order], idx, teu)
    # no overlap: the two runs one after the other are sorted, as a stable sort leaves them
    times = np.concatenate((first.times[i:], second.times[j:]))
    idx = None if first.idx is None else np.concatenate((first.idx[i:], second.idx[j:]))
    teu = np.concatenate((first.teu[i:], second.teu[j:]))
    return Run(times, idx, teu)


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
        new = Run(times, idx, teu)
        while runs:
            last = runs[-1]
            # merge into the previous run while that is not at least twice as long
            if len(last.times) - last.pos > 2 * (len(new.times) - new.pos):
                break
            new = _merge(runs.pop(), new)
        runs.append(new)
        first = float(times[0])
        if first < self.next_due:
            self.next_due = first

    def total_teu(self) -> float:
        """TEU of all entries not yet taken."""
        return sum(r.teu_before(len(r.times)) for r in self.runs)

    def pop_until(self, now: float) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Remove the entries with time <= ``now``: (times, idx, teu), in order."""
        moved: list[tuple[np.ndarray, np.ndarray | None, np.ndarray]] = []
        keep: list[Run] = []
        next_due = math.inf
        for r in self.runs:
            if r.head > now:
                keep.append(r)
                if r.head < next_due:
                    next_due = r.head
                continue
            times = r.times
            pos = r.pos
            n = len(times)
            k = n if times[-1] <= now else int(times.searchsorted(now, side="right"))
            if pos == 0 and k == n:
                moved.append((times, r.idx, r.teu))
            else:
                idx = None if r.idx is None else r.idx[pos:k]
                moved.append((times[pos:k], idx, r.teu[pos:k]))
            if k < n:
                r.pos = k
                r.head = head = float(times[k])
                keep.append(r)
                if head < next_due:
                    next_due = head
        self.runs = keep
        self.next_due = next_due
        if len(moved) == 1:
            return moved[0]
        if not moved:
            empty = np.empty(0)
            return empty, np.empty(0, dtype=np.int64), empty
        times = np.concatenate([m[0] for m in moved])
        order = times.argsort(kind="stable")
        idx = None if moved[0][1] is None else np.concatenate([m[1] for m in moved])[order]
        teu = np.concatenate([m[2] for m in moved])[order]
        return times[order], idx, teu

    def drop_until(self, now: float) -> float:
        """Remove the entries with time <= ``now`` and return their total TEU.

        For entries that are only amounts (yard releases): no arrays are built,
        each due run gives its sum from its running TEU sum.
        """
        total = 0.0
        keep: list[Run] = []
        next_due = math.inf
        for r in self.runs:
            if r.head <= now:
                times = r.times
                n = len(times)
                k = n if times[-1] <= now else int(times.searchsorted(now, side="right"))
                total += r.teu_before(k)
                if k == n:
                    continue
                r.pos = k
                r.head = float(times[k])
            keep.append(r)
            if r.head < next_due:
                next_due = r.head
        self.runs = keep
        self.next_due = next_due
        return total

    def time_reaching(self, need: float, before: float = math.inf) -> float:
        """Earliest entry time at which the entries up to it hold at least ``need`` TEU.

        ``before``: only an answer earlier than this matters; ``inf`` is returned
        when the entries before it do not hold ``need`` (checked from each run's
        running sum, without merging the runs).
        """
        threshold = need - 1e-9
        if len(self.runs) == 1:
            return self._single_run_reaching(self.runs[0], threshold)
        if before < math.inf:
            held = 0.0
            for r in self.runs:
                k = int(r.times.searchsorted(before, side="left"))
                if k > r.pos:
                    held += r.teu_before(k)
            if held < threshold:
                return math.inf
        times = []
        sizes = []
        for r in self.runs:
            # each run alone contributes at most the entries needed to cover `need`
            cum = r.cumteu
            base = cum[r.pos - 1] if r.pos else 0.0
            k = int(cum.searchsorted(base + need - 1e-9, side="left")) + 1
            k = min(k, len(r.times))
            times.append(r.times[r.pos : k])
            sizes.append(r.teu[r.pos : k])
        if not times:
            return math.inf
        if len(times) == 1:
            t, s = times[0], sizes[0].astype(np.float64)
        else:
            t = np.concatenate(times)
            order = t.argsort(kind="stable")
            t = t[order]
            s = np.concatenate(sizes).astype(np.float64)[order]
        cum = s.cumsum()
        j = int(cum.searchsorted(threshold, side="left"))
        return float(t[j]) if j < len(cum) else math.inf

    @staticmethod
    def _single_run_reaching(r: Run, threshold: float) -> float:
        """:meth:`time_reaching` of one run, from its running TEU sum without copying."""
        cum = r.cumteu
        base = cum[r.pos - 1] if r.pos else 0.0
        j = max(int(cum.searchsorted(base + threshold, side="left")), r.pos)
        # the sum base + threshold is rounded: settle j on the exact differences
        while j > r.pos and cum[j - 1] - base >= threshold:
            j -= 1
        while j < len(r.times) and cum[j] - base < threshold:
            j += 1
        return float(r.times[j]) if j < len(r.times) else math.inf

    def remaining(self) -> list[tuple[np.ndarray, np.ndarray | None, np.ndarray]]:
        """(times, idx, teu) of every run's untaken entries."""
        return [
            (r.times[r.pos :], None if r.idx is None else r.idx[r.pos :], r.teu[r.pos :])
            for r in self.runs
        ]
