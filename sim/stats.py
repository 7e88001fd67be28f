"""Summaries over replications: mean and 95% Student-t confidence interval.

Also: paired differences for comparisons under common random numbers, the
Holm–Bonferroni correction for multiple comparisons, and MSER warm-up detection with a
test of whether the transient it finds is real (:func:`truncation_evidence`).

Conventions (so the JSON stays strict and honest): a KPI missing in some
replications is summarised over the others; one replication gives ``null``
bounds; zero variance gives the interval (mean, mean); no value at all gives
``null`` everywhere. Never NaN. A quantity that cannot be negative (a count, a
time, a utilisation) is summarised with ``lower=0``: its interval is clipped at 0
(the Student-t interval of a few replications of a count can reach below 0, e.g.
after a gridlock). Clipping keeps the coverage: the true mean is >= 0, so every
value the clipped part removed was impossible.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from scipy import stats as _st


def summarise(
    values: Iterable[float | None], lower: float | None = None
) -> dict[str, float | int | None]:
    """``{"mean", "ci95_low", "ci95_high", "n"}`` of the non-null values; with ``lower``
    (e.g. 0 for a count) the interval is clipped at that bound."""
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
    low = mean - half if lower is None else max(lower, mean - half)
    return {"mean": mean, "ci95_low": low, "ci95_high": mean + half, "n": n}


def summarise_table(rows: Sequence[dict], keys: Iterable[str]) -> dict[str, dict]:
    """Summarise each numeric ``key`` across ``rows`` (one row per replication)."""
    return {k: summarise(r.get(k) for r in rows) for k in keys}


def paired_difference(alt: Sequence[float | None], base: Sequence[float | None]) -> dict:
    """Mean of ``alt_i - base_i`` over replications with both values, its 95% t-interval
    and the two-sided p-value of a paired t-test (1.0 when every difference is 0)."""
    diffs = [a - b for a, b in zip(alt, base, strict=True) if a is not None and b is not None]
    out = summarise(diffs)
    n = len(diffs)
    if n < 2:
        out["p_value"] = None
        return out
    mean = out["mean"]
    var = math.fsum((d - mean) ** 2 for d in diffs) / (n - 1)
    if var <= 0.0:
        out["p_value"] = 1.0 if mean == 0 else 0.0
        return out
    t = mean / math.sqrt(var / n)
    out["p_value"] = float(2.0 * _st.t.sf(abs(t), n - 1))
    return out


def holm(p_values: Sequence[float | None], alpha: float = 0.05) -> list[tuple[float | None, bool]]:
    """Holm–Bonferroni step-down: ``(adjusted p, significant)`` per test, family-wise ``alpha``."""
    known = sorted((p, k) for k, p in enumerate(p_values) if p is not None)
    m = len(known)
    adjusted: dict[int, float] = {}
    running = 0.0
    for rank, (p, k) in enumerate(known):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[k] = running
    return [
        (adjusted.get(k), adjusted.get(k) is not None and adjusted[k] < alpha)
        for k in range(len(p_values))
    ]


def mser(series: Sequence[float], batch: int = 5) -> int:
    """MSER-``batch`` truncation point (in series steps) of a warm-up transient.

    Batches the series into means of ``batch`` steps and picks the truncation
    ``d`` (searched over the first half) minimising the marginal standard error
    ``var(rest) / len(rest)``; returns ``d * batch``.
    """
    n = len(series) // batch
    if n < 4:
        return 0
    means = [math.fsum(series[i * batch : (i + 1) * batch]) / batch for i in range(n)]
    best, best_d = math.inf, 0
    for d in range(n // 2):
        rest = means[d:]
        m = math.fsum(rest) / len(rest)
        score = math.fsum((x - m) ** 2 for x in rest) / len(rest) ** 2
        if score < best:
            best, best_d = score, d
    return best_d * batch


def early_window_test(
    series: Sequence[float],
    start: int,
    window: int,
    level: float = 0.99,
    material: float = 0.01,
) -> dict[str, float | int | bool | None]:
    """Does the first ``window`` steps after ``start`` of ``series`` stand out from the
    rest, beyond noise? (A warm-up left too short shows as such an early window.)

    The rest, ``series[start + window:]``, is cut into ``k`` windows of the same length,
    and ``t = (early - mean(w)) / (sd(w) * sqrt(1 + 1/k))`` is a Student-t prediction test
    with ``k - 1`` degrees of freedom: the later windows give the spread a window mean
    has, autocorrelation included, as long as a window is longer than the correlation
    time. Positive window means are compared on the log scale (queue levels are skewed
    to the right: one long excursion is not a transient). The window is fixed
    beforehand (not fitted to the data), so on a stationary series the test fires with
    probability about ``1 - level``. ``shift``: the mean over ``series[start:]``
    relative to the mean over the rest, minus 1 — the bias the early window puts into a
    mean measured from ``start`` (``None`` when the rest averages 0). ``significant``:
    ``p_value < 1 - level`` and ``|shift| >= material``. ``p_value`` is ``None`` with
    fewer than two later windows.
    """
    rest = [float(x) for x in series[start + window :]]
    k = len(rest) // window if window > 0 else 0
    out: dict[str, float | int | bool | None] = {
        "window": window, "windows": k, "p_value": None, "shift": None, "significant": False,
    }
    if k < 2:
        return out
    early = math.fsum(float(x) for x in series[start : start + window]) / window
    windows = [math.fsum(rest[j * window : (j + 1) * window]) / window for j in range(k)]
    if early > 0 and min(windows) > 0:  # on the log scale: levels are skewed to the right
        early, windows = math.log(early), [math.log(w) for w in windows]
    centre = math.fsum(windows) / k
    sd = math.sqrt(math.fsum((w - centre) ** 2 for w in windows) / (k - 1))
    if sd > 0:
        t = (early - centre) / (sd * math.sqrt(1.0 + 1.0 / k))
        p = float(2.0 * _st.t.sf(abs(t), k - 1))
    else:
        p = 1.0 if early == centre else 0.0
    ref = math.fsum(rest) / len(rest)
    measured = math.fsum(float(x) for x in series[start:]) / (len(series) - start)
    shift = measured / ref - 1.0 if ref > 0 else None  # None: nothing held after it
    material_shift = shift is not None and abs(shift) >= material
    out.update(p_value=p, shift=shift, significant=bool(p < 1.0 - level and material_shift))
    return out
