"""Print the verification table of docs/validation.md from the tests' own configurations.

    python tests/validation_table.py             # the default-suite comparisons (~1 min)
    python tests/validation_table.py --slow      # also the slow, tighter versions (~15 min)
    python tests/validation_table.py --coverage  # coverage of the node-queue designs (~10 min)

Every row is a :class:`Comparison` built by the same functions, with the same
seeds and sizes, as the assertions in ``tests/test_validation_queueing.py``;
importing this module runs nothing.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import test_validation_queueing as v  # noqa: E402

from sim.model.demand import generate  # noqa: E402
from sim.model.random_streams import Sampler, stream  # noqa: E402


def default_cases() -> list[tuple[str, Callable[[], list[v.Comparison]]]]:
    """(test name, builder) of every comparison of the default suite."""
    cases: list[tuple[str, Callable[[], list[v.Comparison]]]] = []
    for case in v.MMC_CASES:
        name = "test_node_as_mmc_queue_matches_erlang_c"
        cases.append((name, lambda c=case, n=name: v.node_queue_comparisons(c, n)))
    for case in v.MG1_CASES:
        name = "test_node_with_general_service_matches_pollaczek_khinchine"
        cases.append((name, lambda c=case, n=name: v.node_queue_comparisons(c, n)))
    cases += [
        ("test_dispatch_when_full_batch_wait", v.full_batching_comparisons),
        ("test_full_or_timeout_batch_wait_and_size", v.timeout_batching_comparisons),
        ("test_full_or_timeout_formula_against_direct_sampling", v.formula_comparisons),
        ("test_vessel_shuttle_capacity_under_saturation", v.default_shuttle_comparisons),
        ("test_outage_availability_from_the_capacity_timeline",
         v.default_availability_comparisons),
        ("test_outage_throughput_of_a_saturated_line", v.default_outage_line_comparisons),
        ("test_tandem_line_with_finite_buffer_matches_ciw", v.stable_tandem_comparisons),
        ("test_saturated_tandem_line_throughput_matches_ciw_and_birth_death",
         v.saturated_tandem_comparisons),
    ]
    return cases


def slow_cases() -> list[tuple[str, Callable[[], list[v.Comparison]]]]:
    """(test name, builder) of the slow tests' comparisons."""
    cases: list[tuple[str, Callable[[], list[v.Comparison]]]] = []
    for case in v.MMC_SLOW + v.MG1_SLOW:
        name = "test_node_queue_heavy_traffic_slow"
        cases.append((name, lambda c=case, n=name: v.node_queue_comparisons(c, n)))
    cases.append(("test_batching_slow", v.slow_batching_comparisons))
    cases.append(("test_tandem_slow", v.slow_tandem_comparisons))
    return cases


def _fmt(x: float) -> str:
    return f"{x:.4g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def row(c: v.Comparison) -> str:
    """One markdown row: test | compared | reference | model [95% CI] | tolerance."""
    level = v.TABLE_LEVEL
    if c.kind == "two-sample":
        h = c.reference_half_width(level)
        ref = f"ciw {_fmt(c.reference_mean)} [{_fmt(c.reference_mean - h)}, " \
              f"{_fmt(c.reference_mean + h)}]"
    else:
        ref = _fmt(c.reference)
    if c.kind == "bound":
        lo, hi = min(c.values), max(c.values)
        model = _fmt(c.mean) if c.n == 1 else f"{_fmt(lo)} .. {_fmt(hi)} (all {c.n} reps)"
    else:
        h = c.half_width(level)
        model = f"{_fmt(c.mean)} [{_fmt(c.mean - h)}, {_fmt(c.mean + h)}]"
    verdict = "pass" if c.passes else "**FAIL**"
    tol = f"±{_fmt(c.tolerance())}: {c.why} ({verdict})"
    return f"| `{c.test}` | {c.quantity} | {ref} | {model} | {tol} |"


HEADER = (
    "| test | compared | theory / reference | model, mean [95% CI] | tolerance (99%) and why |\n"
    "|---|---|---|---|---|"
)


def table(cases: list[tuple[str, Callable[[], list[v.Comparison]]]]) -> tuple[str, float]:
    """The markdown table of ``cases`` and the seconds it took."""
    t0 = time.perf_counter()
    lines = [HEADER]
    for _name, build in cases:
        lines += [row(c) for c in build()]
    return "\n".join(lines), time.perf_counter() - t0


def recursion_wait(case: v.NodeCase, replication: int) -> float:
    """The node's post-warm-up mean wait in queue in one replication, computed from the
    model's input streams with the exact FIFO recursion (equal to the model's value,
    see ``test_node_is_an_exact_fifo_multiserver_queue``) — fast, so a whole test
    design can be repeated many times."""
    _name, _lam, _service, mean_s, _second, c, days, warm, _reps, seed = case
    scn = v.node_scenario(case)
    horizon = days * 24.0
    arrivals = generate("f", scn.flows["f"], seed, replication, horizon).time_h  # 1 box/block
    draws = Sampler(scn.nodes["b"].train_handling_h, stream(seed, replication, "handling:b"))
    services = np.array([draws() for _ in range(len(arrivals))])
    done = v.fifo_multiserver_departures(arrivals, services, c)
    post = (arrivals >= warm * 24.0) & (done < horizon)
    return float(np.mean(done[post] - arrivals[post])) - mean_s


def coverage(case: v.NodeCase, repetitions: int) -> tuple[float, float]:
    """Share of ``repetitions`` independent repetitions of the test design (its number
    of replications and horizon) whose 99% t-interval holds the theory; and the share
    that misses on the low side. Repetition k uses replications k*reps .. k*reps+reps-1,
    so repetition 0 is the test itself."""
    name, lam, _service, mean_s, second_s, c, *_rest, reps, _seed = case
    if c == 1:
        wq = v.pollaczek_khinchine(lam, mean_s, second_s)[0]
    else:
        wq = v.erlang_c(lam, 1.0 / mean_s, c)[0]
    hits = low = 0
    for k in range(repetitions):
        xs = np.array([recursion_wait(case, k * reps + i) for i in range(reps)])
        half = v._t(v.CHECK_LEVEL, reps - 1) * xs.std(ddof=1) / math.sqrt(reps)
        hits += abs(xs.mean() - wq) <= half
        low += xs.mean() + half < wq
    return hits / repetitions, low / repetitions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", action="store_true", help="also the slow comparisons")
    parser.add_argument("--coverage", action="store_true",
                        help="only the coverage of the node-queue test designs")
    parser.add_argument("--repetitions", type=int, default=200)
    args = parser.parse_args(argv)
    if args.coverage:
        print("| design | replications x days (warm-up) | coverage of the 99% CI | misses low |")
        print("|---|---|---|---|")
        for case in v.MMC_CASES + v.MG1_CASES:
            cov, low = coverage(case, args.repetitions)
            print(f"| {case[0]} | {case[8]} x {case[6]:g} ({case[7]:g}) | {cov:.3f} | {low:.3f} |",
                  flush=True)
        return 0
    text, seconds = table(default_cases())
    print(text)
    print(f"\n(default suite: {seconds:.0f} s)")
    if args.slow:
        text, seconds = table(slow_cases())
        print("\nSlow versions (`python -m pytest -m slow tests/test_validation_queueing.py`):\n")
        print(text)
        print(f"\n(slow: {seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
