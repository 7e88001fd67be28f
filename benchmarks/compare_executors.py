"""Wall time of one investment comparison on each executor, measured side by side.

Runs the same comparison (baseline against the shipped invest_* cases) serially,
on a local process pool and on a local Dask cluster of the same size, checks the
three give identical numbers, and prints the wall times and their ratios. The
machines are shared and noisy: compare the ratios, not the absolute seconds.

    python benchmarks/compare_executors.py [--replications 30] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.experiments.compare import build_comparison  # noqa: E402
from sim.experiments.executors import ExecutorSpec, open_executor  # noqa: E402
from sim.experiments.replications import run_batches  # noqa: E402
from sim.scenario.loader import load_scenario  # noqa: E402


def comparison(spec: ExecutorSpec, files: list[Path], reps: int) -> tuple[float, dict]:
    """(wall seconds, comparison record) of one comparison on ``spec``."""
    t0 = time.perf_counter()
    base = load_scenario(files[0], [f"scenario.replications={reps}"])
    s = base.model.scenario
    align = [f"scenario.{k}={v}" for k, v in (("seed", s.seed), ("replications", reps),
                                              ("horizon_days", s.horizon_days),
                                              ("warmup_days", s.warmup_days))]
    scenarios = [base] + [load_scenario(f, align) for f in files[1:]]
    with open_executor(spec) as ex:
        records = run_batches(ex, spec, [(ld.model, list(range(reps))) for ld in scenarios],
                              drop=("series",))
    comp = build_comparison(scenarios, records, "benchmark", "bench")
    return time.perf_counter() - t0, comp


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replications", type=int, default=30)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args()
    files = [ROOT / "scenarios" / "baseline.toml"] + sorted(
        (ROOT / "scenarios").glob("invest_*.toml")
    )
    specs = {
        "serial": ExecutorSpec(workers=1, quiet=True),
        f"process pool ({args.workers})": ExecutorSpec(workers=args.workers, quiet=True),
        f"dask LocalCluster ({args.workers})": ExecutorSpec(dask_local=args.workers, quiet=True),
    }
    times, results = {}, {}
    for name, spec in specs.items():
        times[name], results[name] = comparison(spec, files, args.replications)
        print(f"{name:<26}{times[name]:8.1f} s", flush=True)
    numbers = {k: json.dumps(v["differences"], sort_keys=True) for k, v in results.items()}
    identical = len(set(numbers.values())) == 1
    serial = times["serial"]
    print(f"\n{len(files)} scenarios x {args.replications} replications; identical numbers "
          f"on every executor: {identical}")
    for name, t in times.items():
        print(f"  {name:<26} speed-up vs serial {serial / t:5.2f}  "
              f"(parallel efficiency {serial / t / (1 if name == 'serial' else args.workers):.0%})")
    ranking = results["serial"]["ranking"]
    print("\nRanking (annualised cost per extra TEU/yr of corridor capacity):")
    for row in ranking:
        alt = row["scenario"]
        extra = results["serial"]["economics"][alt]["extra_capacity_teu_per_year"]
        print(f"  {row['rank']}. {alt}: {row['value'] or float('nan'):,.0f} USD; extra capacity "
              f"{extra['mean']:,.0f} TEU/yr [{extra['ci95_low']:,.0f}, {extra['ci95_high']:,.0f}]")
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    (args.out / f"compare_executors-{stamp}.json").write_text(json.dumps(
        {"replications": args.replications, "workers": args.workers, "wall_s": times,
         "identical": identical, "ranking": ranking}, indent=2) + "\n")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
