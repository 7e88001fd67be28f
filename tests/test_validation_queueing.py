"""Verification: the model's own components against known answers.

Every configuration here is an ordinary scenario file under
``tests/scenarios/validation/`` (read by :func:`sim.scenario.loader.load_scenario`,
with ``--set``-style overrides for the parameters a test varies) and is run by the
model's usual entry points (:func:`sim.experiments.replications.replicate`,
:class:`sim.model.corridor.CorridorModel`). Nothing in ``sim/`` knows about these tests.

Each comparison is a :class:`Comparison`: the model's estimate (one value per
replication, so the replications are independent and identically distributed)
against a reference value. Tolerances come from the estimate's own uncertainty:

* ``ci`` — the reference (a closed-form result) must lie inside the 99% Student-t
  confidence interval of the mean over replications. The seeds are fixed, so the
  tests are deterministic; 99% (not 95%) is used because there are about thirty
  comparisons: a correct model fails a given one on an unlucky choice of seed about
  1 time in 100 rather than 1 in 20. The warm-up of every configuration is several
  relaxation times long, so the initial-transient bias is small against the
  interval (it is stated per test); for the node queues the interval's actual
  coverage was measured (97-100%, see docs/validation.md).
* ``two-sample`` — the reference is itself a simulation (ciw): the difference of
  the two means must lie within the 99% Welch t interval of the difference.
* ``bound`` — deterministic configurations: the value must lie within a bound
  derived from the configuration (e.g. one ship load per ship per window).

The numbers of the default suite are printed as a markdown table by
``python tests/validation_table.py`` (the table in ``docs/validation.md``). The
``slow`` tests repeat the node-queue (in heavier traffic), batching and tandem
comparisons with longer runs and tighter intervals
(``python -m pytest -m slow tests/test_validation_queueing.py``).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from sim.experiments.replications import replicate
from sim.model.corridor import CorridorModel
from sim.model.disruptions import capacity_timelines
from sim.model.random_streams import Sampler, stream
from sim.scenario.loader import load_scenario
from sim.scenario.schema import Scenario

SCENARIOS = Path(__file__).resolve().parent / "scenarios" / "validation"
HOURS_PER_YEAR = 8760.0
CHECK_LEVEL = 0.99  # assertions: 99% intervals
TABLE_LEVEL = 0.95  # reported intervals

# ======================================================================================
# scenarios and comparisons
# ======================================================================================


def toml_value(value: Any) -> str:
    """A Python value as a TOML literal for a ``key.path=value`` override."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML literal for {value!r}")


def validation_scenario(name: str, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """``tests/scenarios/validation/<name>.toml`` with ``--set`` style overrides."""
    sets = [f"{key}={toml_value(v)}" for key, v in (overrides or {}).items()]
    return load_scenario(SCENARIOS / f"{name}.toml", sets).model


def run_records(scn: Scenario, replications: int) -> list[dict[str, Any]]:
    """Replication records 0 .. replications-1, in this process (no worker pool)."""
    return replicate(scn, replications, workers=1)


def _t(level: float, df: float) -> float:
    return float(stats.t.ppf(0.5 + level / 2.0, df))


@dataclass(frozen=True)
class Comparison:
    """A model estimate against a reference, with the tolerance that decides it."""

    test: str
    quantity: str
    reference: float
    values: tuple[float, ...]  # the model's estimate, one value per replication
    kind: str = "ci"  # "ci", "two-sample" or "bound"
    reference_values: tuple[float, ...] = ()  # two-sample: the reference per replication
    bound: float = 0.0  # "bound": largest allowed |value - reference|
    why: str = ""  # where the tolerance comes from (for the table)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def se(self) -> float:
        return float(np.std(self.values, ddof=1) / math.sqrt(self.n)) if self.n > 1 else 0.0

    @property
    def reference_mean(self) -> float:
        return float(np.mean(self.reference_values)) if self.reference_values else self.reference

    @property
    def reference_se(self) -> float:
        m = len(self.reference_values)
        return float(np.std(self.reference_values, ddof=1) / math.sqrt(m)) if m > 1 else 0.0

    def half_width(self, level: float) -> float:
        """Half-width of the ``level`` interval of the model mean."""
        return _t(level, self.n - 1) * self.se if self.n > 1 else 0.0

    def reference_half_width(self, level: float) -> float:
        m = len(self.reference_values)
        return _t(level, m - 1) * self.reference_se if m > 1 else 0.0

    def tolerance(self, level: float = CHECK_LEVEL) -> float:
        """Largest |model - reference| that passes."""
        if self.kind == "bound":
            return self.bound
        if self.kind == "ci":
            return self.half_width(level)
        # Welch: the difference of two independent means
        v1, v2 = self.se**2, self.reference_se**2
        m = len(self.reference_values)
        df = (v1 + v2) ** 2 / (v1**2 / (self.n - 1) + v2**2 / (m - 1))
        return _t(level, df) * math.sqrt(v1 + v2)

    @property
    def deviation(self) -> float:
        if self.kind == "bound":
            return max(abs(v - self.reference) for v in self.values)
        return abs(self.mean - self.reference_mean)

    @property
    def passes(self) -> bool:
        return self.deviation <= self.tolerance()

    def describe(self) -> str:
        return (
            f"{self.test}: {self.quantity}: model {self.mean:.6g} "
            f"(+-{self.half_width(CHECK_LEVEL):.3g} at 99%, n={self.n}) vs reference "
            f"{self.reference_mean:.6g}; |difference| {self.deviation:.3g} > "
            f"tolerance {self.tolerance():.3g} ({self.kind})"
        )


def check(comparisons: list[Comparison]) -> None:
    """Assert every comparison, reporting all failures at once."""
    failed = [c.describe() for c in comparisons if not c.passes]
    assert not failed, "\n".join(failed)


# ======================================================================================
# closed forms
# ======================================================================================


def erlang_c(lam: float, mu: float, c: int) -> tuple[float, float]:
    """M/M/c: mean wait in queue Wq (h) and mean number in queue Lq (Erlang C)."""
    a = lam / mu
    rho = a / c
    assert rho < 1
    top = a**c / math.factorial(c) / (1.0 - rho)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    wq = p_wait / (c * mu - lam)
    return wq, lam * wq


def pollaczek_khinchine(lam: float, mean_s: float, second_moment_s: float) -> tuple[float, float]:
    """M/G/1: Wq = lam E[S^2] / (2 (1 - rho)) and Lq = lam Wq."""
    rho = lam * mean_s
    assert rho < 1
    wq = lam * second_moment_s / (2.0 * (1.0 - rho))
    return wq, lam * wq


def batch_wait_full(lam: float, b: int) -> float:
    """Mean wait of a box for a batch of b boxes to fill, Poisson(lam): (b - 1) / (2 lam)."""
    return (b - 1) / (2.0 * lam)


def batch_wait_full_or_timeout(lam: float, b: int, timeout: float) -> tuple[float, float]:
    """Mean wait of a box and mean batch size under "full or timeout", Poisson(lam) boxes.

    A batch starts with the first box after a departure (time 0). With A(t) later
    arrivals in (0, t], it leaves at D = min(T, epoch of the (b-1)-th later arrival),
    and {D > t} = {A(t) <= b-2} for t < T. The boxes of one batch wait in total
    ``integral_0^D (1 + A(t)) dt``, whose mean is
        sum_{k=0}^{b-2} (k+1) integral_0^T P(A(t) = k) dt
      = (1/lam) sum_{j=1}^{b-1} j P(Poisson(lam T) >= j)
    (the integral of a Poisson(lam t) probability is an Erlang cdf / lam). The batch
    size is N = 1 + min(b-1, A(T)), E[N] = 1 + sum_{j=1}^{b-1} P(Poisson(lam T) >= j).
    Batches are i.i.d. cycles, so the long-run mean wait per box is E[total]/E[N].
    """
    j = np.arange(1, b)
    tail = stats.poisson.sf(j - 1, lam * timeout)  # P(Poisson >= j)
    mean_batch = 1.0 + float(tail.sum())
    mean_total_wait = float((j * tail).sum()) / lam
    return mean_total_wait / mean_batch, mean_batch


def saturated_tandem_throughput(mu1: float, c1: int, mu2: float, c2: int, k: int) -> float:
    """Throughput of a two-station exponential line with K waiting places before station 2.

    Station 1 always has work (saturated), blocking after service. State m = boxes at
    station 2 (at most c2 + K) plus station-1 servers blocked, m = 0 .. c2 + K + c1.
    A birth-death chain: up-rate mu1 x (servers of station 1 not blocked), down-rate
    mu2 x min(m, c2); throughput = sum_m pi_m mu2 min(m, c2).
    """
    n2 = c2 + k
    top = n2 + c1
    up = [mu1 * (c1 - max(0, m - n2)) for m in range(top + 1)]
    down = [mu2 * min(m, c2) for m in range(top + 1)]
    weights = [1.0]
    for m in range(1, top + 1):
        weights.append(weights[-1] * up[m - 1] / down[m])
    pi = np.asarray(weights) / sum(weights)
    return float(np.dot(pi, down))


# ======================================================================================
# 1-2. one node as an M/G/c queue (node_queue.toml)
# ======================================================================================

# (id, lam per h, service duration, E[S], E[S^2], c, horizon days, warm-up days, reps, seed)
NodeCase = tuple[str, float, dict, float, float, int, float, float, int, int]

EXP1 = {"dist": "exponential", "mean": 1.0}
MMC_CASES: list[NodeCase] = [
    ("M/M/1 rho=0.5", 0.5, EXP1, 1.0, 2.0, 1, 40, 3, 16, 11),
    ("M/M/2 rho=0.8", 1.6, EXP1, 1.0, 2.0, 2, 100, 6, 10, 12),
    ("M/M/3 rho=0.9", 2.7, EXP1, 1.0, 2.0, 3, 200, 15, 8, 13),
]
MMC_SLOW: list[NodeCase] = [
    ("M/M/1 rho=0.9", 0.9, EXP1, 1.0, 2.0, 1, 1000, 60, 20, 21),
    ("M/M/4 rho=0.95", 3.8, EXP1, 1.0, 2.0, 4, 500, 60, 20, 22),
]
TRI = {"dist": "triangular", "low": 0.0, "mode": 0.5, "high": 2.5}
TRI_MEAN = (0.0 + 0.5 + 2.5) / 3.0  # 1
TRI_VAR = (0.0**2 + 0.5**2 + 2.5**2 - 0.0 * 0.5 - 0.0 * 2.5 - 0.5 * 2.5) / 18.0
MG1_CASES: list[NodeCase] = [
    ("M/D/1 rho=0.8", 0.8, {"dist": "fixed", "value": 1.0}, 1.0, 1.0, 1, 200, 10, 10, 31),
    ("M/G/1 tri rho=0.8", 0.8, TRI, TRI_MEAN, TRI_VAR + TRI_MEAN**2, 1, 200, 10, 10, 32),
]
MG1_SLOW: list[NodeCase] = [
    ("M/D/1 rho=0.9", 0.9, {"dist": "fixed", "value": 1.0}, 1.0, 1.0, 1, 1000, 40, 20, 41),
    ("M/G/1 tri rho=0.9", 0.9, TRI, TRI_MEAN, TRI_VAR + TRI_MEAN**2, 1, 1000, 40, 20, 42),
]


def node_scenario(case: NodeCase) -> Scenario:
    """node_queue.toml with the rate, servers, service time, horizon and seed of ``case``."""
    _name, lam, service, _mean, _second, c, days, warm, _reps, seed = case
    return validation_scenario("node_queue", {
        "scenario.horizon_days": days, "scenario.warmup_days": warm, "scenario.seed": seed,
        "flows.f.annual_teu": lam * 2.0 * HOURS_PER_YEAR,  # 2 TEU per block train
        "nodes.b.handling_tracks": c, "nodes.b.train_handling_h": service,
    })


def node_queue_comparisons(case: NodeCase, test: str) -> list[Comparison]:
    """Wq and Lq of node b of node_queue.toml against Erlang C (c > 1 or exponential
    service) or Pollaczek-Khinchine (c = 1).

    Estimates per replication (from the record, post-warm-up window):
    Wq = nodes.b.wait_h_mean - E[S]  (the node's wait is arrival -> delivery = Wq + S);
    Lq = nodes.b.queue_teu_mean / 2 - c x nodes.b.track_utilisation, i.e. the
    time-average number of one-box trains at b minus those on a track.
    """
    name, lam, service, mean_s, second_s, c, days, warm, reps, seed = case
    records = run_records(node_scenario(case), reps)
    node = [r["nodes"]["b"] for r in records]
    if c == 1:
        wq, lq = pollaczek_khinchine(lam, mean_s, second_s)
        theory = "Pollaczek-Khinchine"
    else:
        assert service["dist"] == "exponential"
        wq, lq = erlang_c(lam, 1.0 / mean_s, c)
        theory = "Erlang C"
    if c == 1 and service["dist"] == "exponential":
        theory = "Erlang C = P-K"
    why = f"99% t-CI, {reps} reps x {days - warm:g} d after {warm:g} d warm-up"
    return [
        Comparison(test, f"{name}: Wq (h), {theory}", wq,
                   tuple(n["wait_h_mean"] - mean_s for n in node), why=why),
        Comparison(test, f"{name}: Lq (boxes), {theory}", lq,
                   tuple(n["queue_teu_mean"] / 2.0 - c * n["track_utilisation"] for n in node),
                   why=why),
    ]


@pytest.mark.parametrize("case", MMC_CASES, ids=[c[0] for c in MMC_CASES])
def test_node_as_mmc_queue_matches_erlang_c(case):
    """A node with c handling tracks, Poisson one-box trains and exponential handling is
    an M/M/c queue: its mean wait in queue Wq and mean number waiting Lq are Erlang C's.

    Setup (node_queue.toml): block trains of one FEU arrive at ``a`` as a Poisson
    process (headway_cv = 1); leg ab has run time 0 and 2-TEU trains under rule
    "full", so every block leaves the instant it arrives and reaches ``b`` at once.
    At ``b`` the c tracks serve trains FIFO with exponential handling; no yard limit,
    clearance or dwell, so delivery = end of service and the node's wait is Wq + S.
    Tolerance: Erlang C must lie in the 99% t-interval of the mean over the
    replications (16 x 37 days, 10 x 94 days, 8 x 185 days after warm-ups of 3, 6 and
    15 days, i.e. 6, 3.2 and 2.8 relaxation times 1/(c mu (1 - sqrt rho)^2) = 12 h,
    45 h, 127 h; 700 recursion replications of 120 days with the same 15-day warm-up
    show no start bias at rho = 0.9: 2.718 +- 0.028 h vs 2.724 h). In heavy traffic
    the mean wait of a short run is right-skewed, and a t-interval from many short
    replications covers the truth too rarely (93% instead of 99% for 14 x 28 days at
    rho = 0.9), so these designs use fewer, longer replications; the coverage of each
    design's 99% interval,
    measured over 200 repetitions of the whole design with the exact FIFO recursion
    of ``test_node_is_an_exact_fifo_multiserver_queue``
    (``python tests/validation_table.py --coverage``), is 98%, 98.5% and 98.5%.
    """
    check(node_queue_comparisons(case, "test_node_as_mmc_queue_matches_erlang_c"))


@pytest.mark.parametrize("case", MG1_CASES, ids=[c[0] for c in MG1_CASES])
def test_node_with_general_service_matches_pollaczek_khinchine(case):
    """One handling track with fixed (M/D/1) or triangular (M/G/1) handling time:
    Wq = lam E[S^2] / (2 (1 - rho)) (Pollaczek-Khinchine) and Lq = lam Wq.

    Same node as the Erlang C test with ``handling_tracks = 1``. M/D/1: S = 1 h,
    E[S^2] = 1. M/G/1: S ~ tri(0, 0.5, 2.5) h, E[S] = 1, E[S^2] = 1 + 5.25/18.
    rho = 0.8. Tolerance: the 99% t-interval over 10 replications of 190 days after a
    10-day warm-up (2.7 x the M/M/1 relaxation time at rho = 0.8, 90 h, an upper
    bound for these less variable services); measured coverage of the interval over
    200 repetitions of the design (see the Erlang C test): 97% (M/D/1), 100% (M/G/1).
    """
    check(node_queue_comparisons(
        case, "test_node_with_general_service_matches_pollaczek_khinchine"))


def fifo_multiserver_departures(arrivals: np.ndarray, services: np.ndarray, c: int) -> np.ndarray:
    """Departure times of a FIFO c-server queue (Kiefer-Wolfowitz recursion): each
    customer, in arrival order, starts on the server that frees first."""
    free = [0.0] * c
    out = np.empty(len(arrivals))
    for k, (a, s) in enumerate(zip(arrivals.tolist(), services.tolist(), strict=True)):
        start = max(a, heapq.heappop(free))
        out[k] = start + s
        heapq.heappush(free, out[k])
    return out


def test_node_is_an_exact_fifo_multiserver_queue():
    """Trace-driven check (no statistics): node b of node_queue.toml with 3 tracks at
    rho = 0.9 delivers every box exactly when a FIFO 3-server queue fed with the same
    inputs would finish serving it.

    Inputs are taken from the model's own random streams: the block arrivals are the
    boxes' creation times, and the handling times are the successive draws of the
    model's ``Sampler`` on the stream ``handling:b`` (sim/model/node.py draws one per
    train when it gets a track, i.e. in FIFO order). This separates the mechanics
    (exact) from the sampling noise of the Erlang C comparisons above. Tolerance:
    1e-9 h (floating point).
    """
    lam, c, days = 2.7, 3, 30
    scn = validation_scenario("node_queue", {
        "scenario.horizon_days": days, "scenario.warmup_days": 0.0,
        "flows.f.annual_teu": lam * 2.0 * HOURS_PER_YEAR,
        "nodes.b.handling_tracks": c, "nodes.b.train_handling_h": EXP1})
    model = CorridorModel(scn, 0)
    end, gridlock = model.run()
    assert gridlock is None
    model.check_conservation(end)
    table = model.table
    order = np.argsort(table.created_h, kind="stable")
    draws = Sampler(scn.nodes["b"].train_handling_h, stream(scn.scenario.seed, 0, "handling:b"))
    services = np.array([draws() for _ in range(len(order))])
    expected = np.empty(len(order))
    expected[order] = fifo_multiserver_departures(table.created_h[order], services, c)
    delivered = table.depart_h[:, 1]
    assert len(order) > 1500
    np.testing.assert_array_equal(np.isfinite(delivered), expected < end)
    done = np.isfinite(delivered)
    np.testing.assert_allclose(delivered[done], expected[done], rtol=0, atol=1e-9)
    # the boxes did queue: a fair share waited for a track
    assert np.mean(expected - table.created_h - services[np.argsort(order)] > 1e-9) > 0.3


@pytest.mark.slow
@pytest.mark.parametrize("case", MMC_SLOW + MG1_SLOW, ids=[c[0] for c in MMC_SLOW + MG1_SLOW])
def test_node_queue_heavy_traffic_slow(case):
    """Heavy traffic (rho = 0.9, 0.95), long runs: M/M/1, M/M/4, M/D/1, M/G/1 against
    Erlang C / Pollaczek-Khinchine, 20 replications of 1000 (M/M/4: 500) days; the
    warm-ups (60 days; 40 for M/D/1 and M/G/1) are at least 2.5 relaxation times
    (380 h at M/M/1 rho = 0.9, 390 h at M/M/4 rho = 0.95)."""
    check(node_queue_comparisons(case, "test_node_queue_heavy_traffic_slow"))


# ======================================================================================
# 3. batching: dispatch when full, full or timeout (batching.toml)
# ======================================================================================

BATCH_LAM = 2.0  # boxes per hour
BATCH_B = 10  # train capacity, boxes of 1 TEU
BATCH_TIMEOUT = 3.0  # hours; lam T = 6 < b - 1 = 9: both exits happen often


def batching_comparisons(rule: dict, days: float, reps: int, seed: int,
                         test: str) -> list[Comparison]:
    """Wait of a box at ``a`` (nodes.a.wait_h_mean) and the mean train load
    (legs.ab.teu / legs.ab.departures) under ``rule``."""
    scn = validation_scenario("batching", {
        "scenario.horizon_days": days, "scenario.seed": seed,
        "flows.f.annual_teu": BATCH_LAM * HOURS_PER_YEAR,  # 1 TEU boxes
        "legs.ab.train_capacity_teu": BATCH_B, "legs.ab.dispatch": rule,
    })
    records = run_records(scn, reps)
    wait = tuple(r["nodes"]["a"]["wait_h_mean"] for r in records)
    load = tuple(r["legs"]["ab"]["teu"] / r["legs"]["ab"]["departures"] for r in records)
    why = f"99% t-CI, {reps} reps x {days - scn.scenario.warmup_days:g} d"
    if rule["rule"] == "full":
        return [
            Comparison(test, f"full, b={BATCH_B}, lam={BATCH_LAM:g}/h: wait for the batch (h) "
                       "= (b-1)/(2 lam)", batch_wait_full(BATCH_LAM, BATCH_B), wait, why=why),
            Comparison(test, "full: boxes per train = b", BATCH_B, load, kind="bound",
                       why="exact: every train leaves with b boxes"),
        ]
    wq, size = batch_wait_full_or_timeout(BATCH_LAM, BATCH_B, rule["timeout_h"])
    label = f"full_or_timeout T={rule['timeout_h']:g} h, b={BATCH_B}, lam={BATCH_LAM:g}/h"
    return [
        Comparison(test, f"{label}: wait for the batch (h)", wq, wait, why=why),
        Comparison(test, f"{label}: boxes per train", size, load, why=why),
    ]


def full_batching_comparisons() -> list[Comparison]:
    return batching_comparisons({"rule": "full"}, 100, 10, 301,
                                "test_dispatch_when_full_batch_wait")


def timeout_batching_comparisons() -> list[Comparison]:
    return batching_comparisons({"rule": "full_or_timeout", "timeout_h": BATCH_TIMEOUT}, 100,
                                10, 302, "test_full_or_timeout_batch_wait_and_size")


def slow_batching_comparisons() -> list[Comparison]:
    return (batching_comparisons({"rule": "full"}, 400, 40, 311, "test_batching_slow")
            + batching_comparisons({"rule": "full_or_timeout", "timeout_h": BATCH_TIMEOUT},
                                   400, 40, 312, "test_batching_slow"))


def test_dispatch_when_full_batch_wait():
    """Poisson 1-TEU boxes (lam = 2/h) and trains of b = 10 TEU that leave when full:
    the k-th box of a batch waits for b - k more arrivals, so the mean wait is
    (b - 1) / (2 lam) = 2.25 h exactly (batches are i.i.d.), and every train carries b.

    Tolerance: 99% t-interval over 10 replications of 95 days (about 460 trains
    each); no warm-up bias (each batch is an independent cycle from the start).
    """
    check(full_batching_comparisons())


def test_full_or_timeout_batch_wait_and_size():
    """Poisson 1-TEU boxes (lam = 2/h), trains of b = 10 that leave when full or
    T = 3 h after the first box: mean wait and mean train load against the closed form
    of :func:`batch_wait_full_or_timeout` (1.627 h and 6.839 boxes).

    Tolerance: 99% t-interval over 10 replications of 95 days (~670 trains each).
    """
    check(timeout_batching_comparisons())


def full_or_timeout_by_sampling(lam: float, b: int, timeout: float, groups: int,
                                batches: int, seed: int) -> list[float]:
    """Direct sampling of the batch cycle (numpy, not the model): mean wait per group."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(groups):
        later = np.cumsum(rng.exponential(1.0 / lam, (batches, b - 1)), axis=1)
        leave = np.minimum(later[:, -1], timeout)
        aboard = later <= leave[:, None]
        total = leave.sum() + ((leave[:, None] - later) * aboard).sum()
        out.append(float(total / (batches + aboard.sum())))
    return out


def formula_comparisons() -> list[Comparison]:
    wq, _ = batch_wait_full_or_timeout(BATCH_LAM, BATCH_B, BATCH_TIMEOUT)
    sampled = full_or_timeout_by_sampling(BATCH_LAM, BATCH_B, BATCH_TIMEOUT, 20, 20_000, 7)
    return [Comparison("test_full_or_timeout_formula_against_direct_sampling",
                       "full_or_timeout closed form vs direct numpy sampling of the cycle "
                       "(not the model)", wq, tuple(sampled),
                       why="99% t-CI, 20 groups x 20 000 batches")]


def test_full_or_timeout_formula_against_direct_sampling():
    """The closed form used above, checked independently of the model: 20 groups of
    20 000 batch cycles sampled with numpy (first box at 0, later boxes at Poisson
    epochs, departure at min(T, epoch of the (b-1)-th later box)); the formula must
    lie in the 99% t-interval of the group means. Also its limits: T -> inf gives
    (b-1)/(2 lam); T -> 0 gives 0."""
    check(formula_comparisons())
    assert batch_wait_full_or_timeout(2.0, 10, 1e6)[0] == pytest.approx(batch_wait_full(2, 10))
    assert batch_wait_full_or_timeout(2.0, 10, 1e6)[1] == pytest.approx(10)
    assert batch_wait_full_or_timeout(2.0, 10, 1e-9)[0] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.slow
def test_batching_slow():
    """Both rules with 40 replications of 395 days (tighter intervals)."""
    check(slow_batching_comparisons())


# ======================================================================================
# 4. vessel shuttle capacity (vessel_shuttle.toml)
# ======================================================================================

SHUTTLE_VESSELS = 3
SHUTTLE_CAPACITY_TEU = 400.0
# cycle: load at p 2 + 400/(2 x 50) = 6 h, sail 30, unload at q 2 + 400/100 = 6,
# return 24, turnaround 6
SHUTTLE_CYCLE_H = 6.0 + 30.0 + 6.0 + 24.0 + 6.0
SHUTTLE_DEMAND_TEU = 219_000.0  # per year in the file: 25 TEU/h = 1.5 x capacity


def shuttle_capacity_teu_per_h() -> float:
    return SHUTTLE_VESSELS * SHUTTLE_CAPACITY_TEU / SHUTTLE_CYCLE_H


def shuttle_comparisons(test: str, reps_random: int = 10, days: float = 400) -> list[Comparison]:
    """Delivered TEU per hour after the warm-up (flows.x.throughput_teu_per_week / 168)
    of the saturated shuttle, fixed cycle at two demand levels and random sailings."""
    cap = shuttle_capacity_teu_per_h()
    out = []
    for scale in (1.5, 3.0):
        scn = validation_scenario("vessel_shuttle", {
            "flows.x.annual_teu": scale * cap * HOURS_PER_YEAR,
            "scenario.horizon_days": days})
        rec = run_records(scn, 1)[0]
        window_h = rec["end_h"] - rec["warmup_h"]
        # each ship delivers one full load every cycle, so in any window of length L
        # it delivers L/T loads give or take one: |rate - nC/T| <= nC/L
        bound = SHUTTLE_VESSELS * SHUTTLE_CAPACITY_TEU / window_h
        out.append(Comparison(
            test, f"fixed 72 h cycle, demand {scale:g} x capacity: TEU/h = nC/T", cap,
            (rec["flows"]["x"]["throughput_teu_per_week"] / 168.0,), kind="bound",
            bound=bound, why=f"exact +- one load per ship in {window_h:g} h: nC/L"))
    scn = validation_scenario("vessel_shuttle", {
        "flows.x.annual_teu": 1.5 * cap * HOURS_PER_YEAR, "scenario.horizon_days": days,
        "legs.pq.sail_time_h": {"dist": "triangular", "low": 20.0, "mode": 30.0, "high": 40.0},
        "legs.pq.return_time_h": {"dist": "uniform", "low": 12.0, "high": 36.0},
    })
    records = run_records(scn, reps_random)
    out.append(Comparison(
        test, "random sail/return (mean cycle 72 h), demand 1.5 x: TEU/h = nC/E[T]", cap,
        tuple(r["flows"]["x"]["throughput_teu_per_week"] / 168.0 for r in records),
        why=f"99% t-CI, {reps_random} reps (renewal-reward)"))
    return out


def default_shuttle_comparisons() -> list[Comparison]:
    return shuttle_comparisons("test_vessel_shuttle_capacity_under_saturation")


def test_vessel_shuttle_capacity_under_saturation():
    """n = 3 ships of C = 400 TEU with a fixed cycle T = 72 h (loading 6 h, sailing
    30 h, unloading 6 h, return 24 h, turnaround 6 h; a berth per ship, so no ship
    ever waits for another) carry n C / T = 16.67 TEU/h when demand exceeds it.

    Demand at 1.5 x and 3 x the capacity gives the same throughput (saturation). With a
    fixed cycle the run is deterministic once saturated, so the tolerance is exact:
    each ship delivers L / T loads +- 1 in a window of L hours, |rate - nC/T| <= nC/L
    (0.14 TEU/h for L = 370 days). With random sailing and return times of the same
    means the long-run rate is n C / E[T] by the renewal-reward theorem; tolerance:
    99% t-interval over 10 replications.
    """
    check(default_shuttle_comparisons())


# ======================================================================================
# 5. outages: availability and the throughput it implies (outage_line.toml)
# ======================================================================================

OUTAGE_MTBF_H = 100.0
OUTAGE_MTTR_H = 25.0
LINE_PATHS_PER_DAY = 4.0
LINE_TRAIN_TEU = 100.0
LINE_RUN_H = 5.0


def availability() -> float:
    return OUTAGE_MTBF_H / (OUTAGE_MTBF_H + OUTAGE_MTTR_H)


REPAIRS = {
    "exponential": {"dist": "exponential", "mean": OUTAGE_MTTR_H},
    "triangular": {"dist": "triangular", "low": 10.0, "mode": 25.0, "high": 40.0},
}


def availability_comparisons(test: str, names: list[str], reps: int = 200) -> list[Comparison]:
    """Share of time the leg's capacity factor is 0, from the model's own timeline
    (:func:`sim.model.disruptions.capacity_timelines`), over the post-warm-up window."""
    out = []
    for name in names:
        repair = REPAIRS[name]
        scn = validation_scenario("outage_line", {"disruptions.breakdowns.mttr_h": repair})
        warm = scn.scenario.warmup_days * 24.0
        end = scn.scenario.horizon_days * 24.0
        down = tuple(1.0 - capacity_timelines(scn, r)["legs.ab"].mean_over(warm, end)
                     for r in range(reps))
        out.append(Comparison(
            test, f"{name} repair: share of time closed = MTTR/(MTBF+MTTR)",
            1.0 - availability(), down, why=f"99% t-CI, {reps} reps x 350 d"))
    return out


def outage_line_comparisons(test: str, reps: int = 10) -> list[Comparison]:
    """Delivered TEU/h of the saturated line with outages, against
    availability x paths/h x train TEU, and per replication against the same product
    with the availability realised in that replication's departure window."""
    scn = validation_scenario("outage_line")
    records = run_records(scn, reps)
    rate = LINE_PATHS_PER_DAY / 24.0 * LINE_TRAIN_TEU
    thr = tuple(r["flows"]["f"]["throughput_teu_per_week"] / 168.0 for r in records)
    excess = []
    for r, x in zip(records, thr, strict=True):
        warm, end = r["warmup_h"], r["end_h"]
        realised = capacity_timelines(scn, r["replication"])["legs.ab"].mean_over(
            warm - LINE_RUN_H, end - LINE_RUN_H)  # trains delivered in the window left 5 h earlier
        excess.append(x - rate * realised)
    span = records[0]["end_h"] - records[0]["warmup_h"]
    return [
        Comparison(test, "saturated line: TEU/h = A x paths/h x train TEU", availability() * rate,
                   thr, why=f"99% t-CI, {reps} reps x 350 d"),
        Comparison(test, "same, per replication: TEU/h - realised open share x paths/h x TEU",
                   0.0, tuple(excess), kind="bound", bound=LINE_TRAIN_TEU / span,
                   why="exact +- one train per window: C/L"),
    ]


def default_availability_comparisons() -> list[Comparison]:
    return availability_comparisons("test_outage_availability_from_the_capacity_timeline",
                                    list(REPAIRS))


def default_outage_line_comparisons() -> list[Comparison]:
    return outage_line_comparisons("test_outage_throughput_of_a_saturated_line")


@pytest.mark.parametrize("repair", list(REPAIRS))
def test_outage_availability_from_the_capacity_timeline(repair):
    """Outages with exponential up-times (MTBF 100 h) and repairs of mean 25 h
    (exponential, or triangular(10, 25, 40): availability depends only on the means,
    by the alternating-renewal theorem) close the leg 25/125 = 20% of the time.

    Measured: 1 - the time-average capacity factor of ``legs.ab`` from
    ``capacity_timelines`` over days 15..365 (the process starts 'up'; 15 days are
    18 relaxation times 1/(1/MTBF + 1/MTTR) = 20 h, so no start bias). Tolerance:
    99% t-interval over 200 replications.
    """
    check(availability_comparisons("test_outage_availability_from_the_capacity_timeline",
                                   [repair]))


def test_outage_throughput_of_a_saturated_line():
    """A line of 4 paths/day x 100 TEU with demand above it, closed by the outages
    (A = 0.8), carries A x 4/24 x 100 = 13.33 TEU/h.

    Two checks: the mean delivered TEU/h over 10 replications of 350 days must hold
    13.33 in its 99% t-interval; and in every replication the throughput must equal
    paths/h x TEU x the open share realised in its window (shifted by the 5 h run)
    within one train per window, C / L = 0.012 TEU/h — paths are spaced in open time.
    """
    check(default_outage_line_comparisons())


# ======================================================================================
# 6. tandem line with a finite buffer, against ciw (tandem_blocking.toml)
# ======================================================================================

TANDEM = {"mu1": 0.5, "c1": 2, "mu2": 1.0, "c2": 1, "k": 2}  # as in tandem_blocking.toml
TANDEM_METRICS = {
    "throughput": "throughput (boxes/h)",
    "p_blocked": "P(blocked after service 1)",
    "blocked_h": "mean blocked time (h)",
    "buffer_wait_h": "mean wait in the buffer (h)",
    "sojourn_h": "mean time in system (h)",
}


def tandem_model_stats(scn: Scenario, r: int) -> dict[str, float]:
    """One replication of tandem_blocking.toml, measured like the ciw records.

    Per box (created after the warm-up and delivered by the end): arrival at b =
    end of service 1; ``ready_h`` = when it entered b's queue for leg bc = end of
    its blocking (unloading takes no time); departure from b = start of service 2;
    delivery = end of service 2.
    """
    model = CorridorModel(scn, r)
    end, gridlock = model.run()
    assert gridlock is None
    model.check_conservation(end)
    t = model.table
    warm = model.warmup_h
    delivered = t.depart_h[:, 2]
    done = np.isfinite(delivered) & (t.created_h >= warm)
    blocked = t.ready_h[done] - t.arrive_h[done, 1]
    in_window = np.isfinite(delivered) & (delivered >= warm) & (delivered <= end)
    return {
        "throughput": float(in_window.sum() / (end - warm)),
        "p_blocked": float(np.mean(blocked > 1e-9)),
        "blocked_h": float(blocked.mean()),
        "buffer_wait_h": float(np.mean(t.depart_h[done, 1] - t.ready_h[done])),
        "sojourn_h": float(np.mean(delivered[done] - t.created_h[done])),
    }


def tandem_ciw_stats(lam: float, horizon_h: float, warm_h: float, seed: int) -> dict[str, float]:
    """The same line in ciw: node 1 (c1 servers, unlimited queue) -> node 2 (c2 servers,
    ``queue_capacities`` K, i.e. K places besides the servers); Poisson arrivals at
    node 1; ciw blocks a customer after service at node 1 while node 2 is full."""
    ciw = pytest.importorskip("ciw")
    p = TANDEM
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=lam), None],
        service_distributions=[ciw.dists.Exponential(rate=p["mu1"]),
                               ciw.dists.Exponential(rate=p["mu2"])],
        number_of_servers=[p["c1"], p["c2"]],
        queue_capacities=[float("inf"), p["k"]],
        routing=[[0.0, 1.0], [0.0, 0.0]],
    )
    state = random.getstate()
    try:
        ciw.seed(seed)
        sim = ciw.Simulation(network)
        sim.simulate_until_max_time(horizon_h)
    finally:
        random.setstate(state)
    recs = [x for x in sim.get_all_records() if x.record_type == "service"]
    first = {x.id_number: x for x in recs if x.node == 1}
    second = {x.id_number: x for x in recs if x.node == 2}
    ids = [i for i in second if first[i].arrival_date >= warm_h]
    blocked = np.array([first[i].time_blocked for i in ids])
    exits = np.array([x.exit_date for x in second.values()])
    return {
        "throughput": float(np.sum(exits >= warm_h) / (horizon_h - warm_h)),
        "p_blocked": float(np.mean(blocked > 1e-9)),
        "blocked_h": float(blocked.mean()),
        "buffer_wait_h": float(np.mean([second[i].waiting_time for i in ids])),
        "sojourn_h": float(np.mean([second[i].exit_date - first[i].arrival_date for i in ids])),
    }


def tandem_comparisons(lam: float, metrics: list[str], model_reps: int, ciw_reps: int,
                       days: float, test: str, seed: int) -> list[Comparison]:
    warm_days = 5.0
    scn = validation_scenario("tandem_blocking", {
        "flows.f.annual_teu": lam * 2.0 * HOURS_PER_YEAR, "scenario.seed": seed,
        "scenario.horizon_days": days, "scenario.warmup_days": warm_days})
    model = [tandem_model_stats(scn, r) for r in range(model_reps)]
    ref = [tandem_ciw_stats(lam, days * 24.0, warm_days * 24.0, 10_000 * seed + r)
           for r in range(ciw_reps)]
    why = f"99% Welch t-CI of the difference, {model_reps} + {ciw_reps} reps x {days - 5:g} d"
    out = [Comparison(test, f"lam={lam:g}/h: {TANDEM_METRICS[m]} vs ciw", 0.0,
                      tuple(x[m] for x in model), kind="two-sample",
                      reference_values=tuple(x[m] for x in ref), why=why) for m in metrics]
    return out


def stable_tandem_comparisons() -> list[Comparison]:
    return tandem_comparisons(0.7, list(TANDEM_METRICS), 16, 30, 50,
                              "test_tandem_line_with_finite_buffer_matches_ciw", 61)


def saturated_tandem_comparisons() -> list[Comparison]:
    test = "test_saturated_tandem_line_throughput_matches_ciw_and_birth_death"
    comps = tandem_comparisons(1.2, ["throughput", "p_blocked", "blocked_h", "buffer_wait_h"],
                               16, 30, 50, test, 62)
    comps.append(Comparison(test, "lam=1.2/h: throughput vs exact birth-death chain (9/11)",
                            saturated_tandem_throughput(**TANDEM), comps[0].values,
                            why="99% t-CI, 16 reps x 45 d"))
    return comps


def slow_tandem_comparisons() -> list[Comparison]:
    test = "test_tandem_slow"
    comps = tandem_comparisons(0.7, list(TANDEM_METRICS), 40, 100, 400, test, 63)
    sat = tandem_comparisons(1.2, ["throughput", "p_blocked", "blocked_h", "buffer_wait_h"],
                             40, 100, 400, test, 64)
    sat.append(Comparison(test, "lam=1.2/h: throughput vs exact birth-death chain (9/11)",
                          saturated_tandem_throughput(**TANDEM), sat[0].values,
                          why="99% t-CI, 40 reps x 395 d"))
    return comps + sat


def test_tandem_line_with_finite_buffer_matches_ciw():
    """Two stations with a K = 2 box buffer between them (tandem_blocking.toml):
    station 1 = the 2 wagons of leg ab (exponential run, mean 2 h), buffer = the
    4-TEU yard of b, station 2 = the single wagon of leg bc (exponential, mean 1 h);
    Poisson arrivals of 0.7 boxes/h (rho1 = rho2 = 0.7).

    Mapping to ciw: a wagon is a server; a train arriving at b while the yard is full
    waits *holding its wagon*, which is ciw's blocking after service (Type I); the
    yard holds the boxes waiting for a bc wagon (not the one aboard), which is ciw's
    ``queue_capacities`` (places besides the servers). Same selection on both sides:
    boxes arriving after the 5-day warm-up and finished by the end.

    Compared: throughput, probability of being blocked, mean blocked time, mean wait
    in the buffer, mean time in system. Tolerance: the 99% Welch t-interval of the
    difference of means (16 model + 30 ciw replications of 45 days after 5 days of
    warm-up; ciw is cheaper, so it gets more replications).
    """
    check(stable_tandem_comparisons())


def test_saturated_tandem_line_throughput_matches_ciw_and_birth_death():
    """The same line with arrivals (1.2/h) above what it can carry: the throughput is
    set by blocking alone. Compared with ciw (throughput, blocking probability and
    time, buffer wait; 99% Welch interval, 16 + 30 replications of 45 days) and the
    throughput with the exact birth-death chain of :func:`saturated_tandem_throughput`
    (9/11 = 0.818 boxes/h; 99% t-interval of the model's 16 replications)."""
    check(saturated_tandem_comparisons())


@pytest.mark.slow
def test_tandem_slow():
    """Both tandem configurations with 40 model + 100 ciw replications of 395 days."""
    check(slow_tandem_comparisons())
