"""Summaries over replications: mean and 95% Student-t confidence interval.

Conventions (so the JSON stays strict and honest): a KPI missing in some
replications is summarised over the others; one replication gives ``null``
bounds; zero variance gives the interval (mean, mean); no value at all gives
``null`` everywhere. Never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from scipy import stats as _st


def summarise(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """``{"mean", "ci95_low", "ci95_high", "n"}`` of the non-null values."""
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(xs)
    if n == 0:
        return {"mean": None, "ci95_low": None, "ci95_high": None, "n": 0}
    mean = math.fsum(xs) / n
    if n == 1:
        return {"mean": mean, "ci95_low": None, "ci95_high": None, "n": 1}
    var = math.fsum((x - mean) ** 2 for x in xs) / (n - 1)
    if var <= 0.0:
        return {"mean": mean, "ci95_low": mean, "ci95_high": mean, "n": n}
    half = float(_st.t.ppf(0.975, n - 1)) * math.sqrt(var / n)
    return {"mean": mean, "ci95_low": mean - half, "ci95_high": mean + half, "n": n}


def summarise_table(rows: Sequence[dict], keys: Iterable[str]) -> dict[str, dict]:
    """Summarise each numeric ``key`` across ``rows`` (one row per replication)."""
    return {k: summarise(r.get(k) for r in rows) for k in keys}
