"""Replication summaries: t-interval against scipy, and the edge-case conventions."""

import math

import numpy as np
import pytest
from scipy import stats

from sim.stats import summarise


def test_t_interval_matches_scipy():
    xs = [3.1, 2.7, 3.9, 3.3, 2.8, 3.0]
    s = summarise(xs)
    lo, hi = stats.t.interval(0.95, len(xs) - 1, loc=np.mean(xs), scale=stats.sem(xs))
    assert s["mean"] == pytest.approx(np.mean(xs))
    assert s["ci95_low"] == pytest.approx(lo)
    assert s["ci95_high"] == pytest.approx(hi)
    assert s["n"] == 6


def test_one_replication_has_null_bounds():
    assert summarise([5.0]) == {"mean": 5.0, "ci95_low": None, "ci95_high": None, "n": 1}


def test_zero_variance_interval_is_the_mean():
    s = summarise([2.0, 2.0, 2.0])
    assert (s["ci95_low"], s["ci95_high"]) == (2.0, 2.0)


def test_missing_and_nan_values_are_dropped_never_nan():
    s = summarise([None, float("nan"), 1.0, 3.0])
    assert s["n"] == 2 and s["mean"] == 2.0
    empty = summarise([None, None])
    assert empty["mean"] is None and empty["n"] == 0
    assert all(v is None or math.isfinite(v) for v in empty.values())


def test_interval_covers_true_mean_about_95_percent():
    rng = np.random.default_rng(3)
    hits = 0
    trials = 2000
    for _ in range(trials):
        s = summarise(rng.normal(10.0, 2.0, 8))
        hits += s["ci95_low"] <= 10.0 <= s["ci95_high"]
    # binomial sd of the coverage estimate is ~0.005; allow 4 sd
    assert abs(hits / trials - 0.95) < 0.02
