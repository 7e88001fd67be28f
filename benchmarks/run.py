"""Speed and scale benchmark of the corridor model: ``python benchmarks/run.py``.

Prints one table and writes the same numbers as JSON to
``benchmarks/results/<UTC timestamp>.json`` for comparison across commits.

Method: plain timing (``time.perf_counter`` for wall, ``time.process_time`` for
CPU), not pytest-benchmark: every measurement is a fresh Python process (so
peak RSS is that run's own, and nothing is cached between runs), repeated
``--repeats`` times, and the median is reported. The machine is shared, so
whatever is compared — batch model vs per-container reference, serial vs
parallel — is measured *side by side in the same run*, interleaved (A B B A
...), and reported as a ratio of medians. CPU seconds are reported next to
wall seconds: when other jobs load the machine the wall clock stretches, the
CPU time much less.

Sections (each can be skipped, ``--only`` picks some):

* ``scale``     — the full corridor (every stage, every statistic: build, run,
  conservation check, measure) at 1x, 4x and 16x the baseline demand and at
  2 million TEU/yr (benchmarks/scenarios/baseline_2m.toml), all over the same
  485-day horizon; then 1x, 2x, 4x that horizon at 4x demand. Containers/s,
  SimPy events per container, wall, CPU, peak RSS (and RSS above the bare
  interpreter), with the per-container log kept (``keep_log=True``) and
  without it.
* ``reference`` — speed against the per-container SimPy model
  (benchmarks/reference.py) on the same corridor and demand, interleaved.
* ``agreement`` — the statistics of both models over replications, each with a
  95% t-interval, and the Welch interval of their difference.
* ``parallel``  — ``sim.experiments.replications.replicate`` serial vs a 2-worker process
  pool (replications of >= 1 s), and the overhead per task of the process
  pool and of Dask (``sim.experiments.executors``).
* ``cli``       — ``corridor run scenarios/baseline.toml --replications 1
  --workers 1`` with plots, process start-up included.
* ``directions`` — the cost per box of traffic both ways: the last fixed-flow baseline
  (from git history; with markets, directions are chosen) at 4x demand with its
  eastbound and empties flows against the same without them (westbound only),
  interleaved; and the model before dated scenarios and two-way traffic (commit
  3dd0c76, unpacked with ``git archive``) against today's on the scenario of that time
  (tests/scenarios/regression/baseline_pre_dates.toml) at 4x demand, interleaved.
* ``markets``   — the market baseline (route choice; coarse Northern and sea routes,
  whose boxes cost no events) against the last fixed-flow baseline (from git history),
  interleaved, per box; and the wall time of the default ``corridor run
  scenarios/baseline.toml``.
* ``budget``    — at 2 million TEU/yr: the CPU time of each phase of a
  replication (build, run, conservation check, measure), its carrier trips and
  events, the cost of a bare SimPy event and of single numpy calls on this
  machine, and the cost per trip that 0.5 M boxes/s would allow
  (benchmarks/budget.py).

``--quick`` runs every section small (a smoke test, a minute or two).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

BASELINE = ROOT / "scenarios" / "baseline.toml"
SCENARIO_2M = HERE / "scenarios" / "baseline_2m.toml"
BASE_TEU_PER_YEAR = 72_000.0  # the baseline's four flows
K_2M = 2_000_000.0 / BASE_TEU_PER_YEAR
HORIZON_DAYS = 485.0  # 120 d warm-up + 365 d measured (as baseline_2m.toml)


# ======================================================================================
# one measurement in a fresh process
# ======================================================================================


def _load(job: dict[str, Any]):
    """The scenario of a job: the 2M file, or the baseline scaled by ``scale``."""
    from scale import scaled_overrides

    from sim.scenario.loader import load_scenario

    if job.get("file") and job.get("scale"):  # any file, scaled, maybe one way only
        base = load_scenario(job["file"]).model
        overrides = scaled_overrides(base, job["scale"])
        overrides.append(f"scenario.horizon_days={job['horizon']}")
        loaded = load_scenario(job["file"], overrides)
        if not job.get("westbound_only"):
            return loaded.model
        from sim.scenario.loader import scenario_from_dict

        raw = loaded.resolved
        lon = {nid: n.get("lon") for nid, n in raw["nodes"].items()}

        def westbound(f: dict) -> bool:  # loaded, and ends west of where it starts
            a, b = lon.get(f["route"][0]), lon.get(f["route"][-1])
            return not f.get("empties_of") and (a is None or b is None or b < a)

        raw["flows"] = {fid: f for fid, f in raw["flows"].items() if westbound(f)}
        return scenario_from_dict(raw)
    if job.get("file"):
        overrides = [f"scenario.horizon_days={job['horizon']}"] if job.get("horizon") else []
        return load_scenario(job["file"], overrides).model
    base = load_scenario(BASELINE).model
    overrides = scaled_overrides(base, job["scale"])
    overrides.append(f"scenario.horizon_days={job['horizon']}")
    return load_scenario(BASELINE, overrides).model


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job in this (fresh) process and report its cost."""
    if job["kind"] == "noop":
        return {}
    if job.get("sim_root"):  # an older version of the model
        sys.path.insert(0, job["sim_root"])
    scenario = _load(job)
    if job["kind"] == "budget":
        from budget import bare_simpy_us_per_event, numpy_us_per_call, replication_phases

        return {
            "phases": replication_phases(scenario),
            "bare_simpy_us_per_event": bare_simpy_us_per_event(),
            "numpy_us_per_call": numpy_us_per_call(),
        }
    if job["kind"] == "batch":
        from sim.model.corridor import run_replication

        def work():
            return run_replication(scenario, job["replication"], keep_log=job.get("keep_log"))
    else:
        from reference import run_reference

        def work():
            return run_reference(scenario, job["replication"])

    rss0 = _rss_mb()
    c0, t0 = time.process_time(), time.perf_counter()
    record = work()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    perf = record["perf"]
    out = {
        "wall_s": wall,
        "cpu_s": cpu,
        "containers": perf["containers"],
        "events": perf["events"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": rss0,
    }
    if job["kind"] == "batch":
        out["study_transit_days"] = record["study"]["transit_days_mean"]
        out["bottleneck"] = record["bottleneck"]
        out["delivered_teu"] = record["system"]["delivered_teu"]
        # loaded carrier departures (trains, sailings) in the measured period
        out["departures"] = sum(leg["departures"] for leg in record["legs"].values()
                                if leg.get("teu"))
        out["origin_wait_h"] = {
            n: record["nodes"][n]["wait_h_mean"]
            for n in {f.route[0] for f in scenario.flows.values()}
        }
    return out


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """``child(job)`` in a fresh interpreter."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(job)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        raise RuntimeError(f"job {job} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def interleaved(jobs: dict[str, dict[str, Any]], repeats: int) -> dict[str, list[dict]]:
    """Each job ``repeats`` times, in alternating order (A B, B A, A B, ...)."""
    names = list(jobs)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for i in range(repeats):
        for n in names if i % 2 == 0 else reversed(names):
            runs[n].append(measure(jobs[n]))
    return runs


def med(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


# ======================================================================================
# sections
# ======================================================================================


def scale_section(args) -> dict[str, Any]:
    """Throughput, events, time and memory at each scale."""
    h = args.horizon
    # (label, job, growth series the row belongs to)
    rows: list[tuple[str, dict[str, Any], list[str]]] = []
    for k in args.scales:
        series = ["demand"] + (["horizon"] if k == args.horizon_scale else [])
        rows.append(
            (f"{k:g}x demand, {h:g} d", {"kind": "batch", "scale": k, "horizon": h}, series)
        )
    rows.append(
        (
            "2M TEU/yr (baseline_2m)",
            {"kind": "batch", "file": str(SCENARIO_2M), "horizon": None if not args.quick else h},
            ["demand"],
        )
    )
    for m in args.horizons[1:]:
        rows.append(
            (
                f"{args.horizon_scale:g}x demand, {h * m:g} d",
                {"kind": "batch", "scale": args.horizon_scale, "horizon": h * m},
                ["horizon"],
            )
        )
    out = []
    for label, job, series in rows:
        for keep_log in (True, False):
            job = dict(job, replication=0, keep_log=keep_log)
            runs = [measure(job) for _ in range(args.repeats if keep_log else 1)]
            r0 = runs[0]
            row = {
                "label": label,
                "series": series,
                "keep_log": keep_log,
                "job": job,
                "containers": r0["containers"],
                "events_per_container": r0["events"] / r0["containers"],
                "wall_s": med(runs, "wall_s"),
                "cpu_s": med(runs, "cpu_s"),
                "containers_per_s": r0["containers"] / med(runs, "wall_s"),
                "containers_per_cpu_s": r0["containers"] / med(runs, "cpu_s"),
                "peak_rss_mb": med(runs, "peak_rss_mb"),
                "rss_above_interpreter_mb": med(runs, "peak_rss_mb") - med(runs, "rss_before_mb"),
                "runs": runs,
            }
            out.append(row)
            tag = "log" if keep_log else "aggregates"
            print(
                f"  {label:32s} {tag:10s} {row['containers']:>9,} boxes  "
                f"{row['containers_per_s']:>9,.0f}/s wall  "
                f"{row['containers_per_cpu_s']:>9,.0f}/s cpu"
                f"  {row['events_per_container']:.3f} ev/box  {row['peak_rss_mb']:6.0f} MB",
                flush=True,
            )
    return {"rows": out}


def reference_section(args) -> dict[str, Any]:
    """Batch model vs the per-container reference on the same scenario, interleaved."""
    out = []
    cases: list[tuple[str, dict[str, Any], int]] = [
        (f"{k:g}x", {"scale": k, "horizon": args.horizon}, args.repeats)
        for k in args.reference_scales
    ]
    if args.reference_2m:  # the reference takes minutes here: one run each
        cases.append(("2M", {"file": str(SCENARIO_2M)}, 1))
    for label, where, repeats in cases:
        jobs = {
            "batch": {"kind": "batch", "replication": 0, **where},
            "reference": {"kind": "reference", "replication": 0, **where},
        }
        runs = interleaved(jobs, repeats)
        batch, ref = runs["batch"], runs["reference"]
        row = {
            "scale": label,
            "repeats": repeats,
            "job": where,
            "containers": batch[0]["containers"],
            "batch_wall_s": med(batch, "wall_s"),
            "reference_wall_s": med(ref, "wall_s"),
            "batch_cpu_s": med(batch, "cpu_s"),
            "reference_cpu_s": med(ref, "cpu_s"),
            "batch_events_per_container": batch[0]["events"] / batch[0]["containers"],
            "reference_events_per_container": ref[0]["events"] / ref[0]["containers"],
            "batch_peak_rss_mb": med(batch, "peak_rss_mb"),
            "reference_peak_rss_mb": med(ref, "peak_rss_mb"),
            "runs": runs,
        }
        row["speedup_wall"] = row["reference_wall_s"] / row["batch_wall_s"]
        row["speedup_cpu"] = row["reference_cpu_s"] / row["batch_cpu_s"]
        out.append(row)
        print(
            f"  {label} demand: reference {row['reference_wall_s']:.2f} s, batch "
            f"{row['batch_wall_s']:.2f} s -> {row['speedup_wall']:.1f}x wall, "
            f"{row['speedup_cpu']:.1f}x cpu",
            flush=True,
        )
    return {"rows": out}


def _t_interval(values: list[float]) -> tuple[float, float]:
    """Mean and 95% t half-width."""
    from scipy import stats

    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return mean, math.nan
    return mean, stats.t.ppf(0.975, n - 1) * statistics.stdev(values) / math.sqrt(n)


def _welch(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Difference of means, its 95% Welch half-width, and the two-sided p-value."""
    from scipy import stats

    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    diff = statistics.fmean(a) - statistics.fmean(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, 0.0, 1.0 if diff == 0 else 0.0
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    p = 2 * stats.t.sf(abs(diff) / se, df)
    return diff, stats.t.ppf(0.975, df) * se, float(p)


def _stats_job(kind: str, k: float, horizon: float, r: int) -> dict[str, Any]:
    """KPIs of one replication of either model (run in a worker process)."""
    from reference import batch_statistics, run_reference

    from sim.model.corridor import run_replication

    scenario = _load({"scale": k, "horizon": horizon})
    if kind == "reference":
        return run_reference(scenario, r)["kpis"]
    return batch_statistics(run_replication(scenario, r), scenario)


def agreement_section(args) -> dict[str, Any]:
    """The same statistics from both models, replication by replication."""
    from concurrent.futures import ProcessPoolExecutor

    n = args.agreement_replications
    k, h = args.agreement_scale, args.horizon
    with ProcessPoolExecutor(max_workers=2) as pool:
        ref = list(pool.map(_stats_job, ["reference"] * n, [k] * n, [h] * n, range(n)))
        bat = list(pool.map(_stats_job, ["batch"] * n, [k] * n, [h] * n, range(n)))
    rows = []
    for kpi in ref[0]:
        a = [r[kpi] for r in bat if r.get(kpi) is not None]
        b = [r[kpi] for r in ref if r.get(kpi) is not None]
        if len(a) < 2 or len(b) < 2:
            continue
        ma, ha = _t_interval(a)
        mb, hb = _t_interval(b)
        diff, hd, p = _welch(a, b)
        rows.append(
            {
                "kpi": kpi,
                "batch_mean": ma,
                "batch_ci95": ha,
                "reference_mean": mb,
                "reference_ci95": hb,
                "difference": diff,
                "difference_ci95": hd,
                "p": p,
                "intervals_overlap": abs(ma - mb) <= ha + hb,
            }
        )
    # Holm's step-down over all KPIs: which differences are significant at 5% overall?
    order = sorted(range(len(rows)), key=lambda i: rows[i]["p"])
    m, still = len(rows), True
    for rank, i in enumerate(order):
        still = still and rows[i]["p"] <= 0.05 / (m - rank)
        rows[i]["significant_holm"] = still
    agree = sum(1 for r in rows if not r["significant_holm"])
    overlap = sum(1 for r in rows if r["intervals_overlap"])
    print(
        f"  {n} replications each, {k:g}x demand, {h:g} d: {agree}/{len(rows)} KPIs agree "
        f"(Holm, 5%); 95% intervals overlap for {overlap}/{len(rows)}",
        flush=True,
    )
    return {
        "replications": n,
        "scale": k,
        "horizon_days": h,
        "rows": rows,
        "agree_holm": agree,
        "intervals_overlap": overlap,
        "kpis": len(rows),
    }


def _noop(x: int) -> int:
    return x


def parallel_section(args) -> dict[str, Any]:
    """Parallel efficiency of the process pool, and overhead per task (pool and Dask)."""
    from sim.experiments.replications import replicate
    from sim.model.corridor import run_replication

    scenario = _load({"scale": args.parallel_scale, "horizon": args.parallel_horizon})
    n = args.parallel_replications
    t1s, t2s = [], []
    for i in range(args.repeats):
        for workers in (1, 2) if i % 2 == 0 else (2, 1):
            t0 = time.perf_counter()
            records = replicate(scenario, n, workers=workers)
            (t1s if workers == 1 else t2s).append(time.perf_counter() - t0)
    per_rep = statistics.median(t1s) / n
    t1, t2 = statistics.median(t1s), statistics.median(t2s)
    eff = t1 / (2 * t2)
    print(
        f"  replicate x{n} ({per_rep:.2f} s each): serial {t1:.2f} s, 2 workers {t2:.2f} s "
        f"-> efficiency {eff:.0%}",
        flush=True,
    )
    events = records[0]["perf"]["events"]

    # overhead per task: many trivial tasks, and many tiny replications
    from sim.experiments.executors import ExecutorSpec, open_executor, run_tasks
    from sim.scenario.loader import load_scenario

    tiny = load_scenario(ROOT / "tests" / "scenarios" / "tiny.toml").model
    tasks = args.overhead_tasks
    overhead: dict[str, Any] = {}
    # distinct arguments in every task: Dask would compute identical tasks only once
    t0 = time.perf_counter()
    for r in range(tasks):
        run_replication(tiny, r)
    serial_tiny = (time.perf_counter() - t0) / tasks
    for name, spec in (
        ("process pool", ExecutorSpec(workers=2, quiet=True)),
        ("dask", ExecutorSpec(dask_local=2, quiet=True)),
    ):
        t0 = time.perf_counter()
        with open_executor(spec) as ex:
            started = time.perf_counter() - t0
            run_tasks(ex, _noop, [(-i,) for i in range(1, 5)], quiet=True)  # warm up
            t0 = time.perf_counter()
            run_tasks(ex, _noop, [(i,) for i in range(tasks)], quiet=True)
            noop = (time.perf_counter() - t0) / tasks
            t0 = time.perf_counter()
            run_tasks(ex, run_replication, [(tiny, r) for r in range(tasks)], quiet=True)
            tiny_t = (time.perf_counter() - t0) / tasks
        overhead[name] = {
            "start_s": started,
            "noop_task_ms": noop * 1e3,
            "tiny_replication_task_ms": tiny_t * 1e3,
            "tiny_replication_serial_ms": serial_tiny * 1e3,
            "overhead_per_task_ms": (tiny_t - serial_tiny / 2) * 1e3,
        }
        print(
            f"  {name}: start {started:.2f} s, no-op task {noop * 1e3:.2f} ms, tiny replication "
            f"{tiny_t * 1e3:.1f} ms/task on 2 workers vs {serial_tiny * 1e3:.1f} ms serial",
            flush=True,
        )
    return {
        "replications": n,
        "seconds_per_replication": per_rep,
        "events_per_replication": events,
        "serial_s": t1,
        "two_workers_s": t2,
        "efficiency": eff,
        "serial_runs": t1s,
        "parallel_runs": t2s,
        "overhead": overhead,
    }


def cli_section(args) -> dict[str, Any]:
    """``corridor run`` of the baseline, plots and process start-up included."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            cmd = [
                sys.executable,
                "-m",
                "sim",
                "run",
                str(BASELINE),
                "--replications",
                "1",
                "--workers",
                "1",
                "--out",
                str(Path(tmp) / f"run{i}"),
                "--quiet",
            ]
            if args.quick:
                cmd += ["--horizon-days", "200"]
            t0 = time.perf_counter()
            res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            times.append(time.perf_counter() - t0)
            if res.returncode not in (0, 3):
                raise RuntimeError(res.stderr[-2000:])
    t = statistics.median(times)
    print(f"  corridor run baseline (1 replication, plots): {t:.2f} s", flush=True)
    return {"wall_s": t, "runs": times}


TARGET_BOXES_PER_S = 500_000.0


def directions_section(args) -> dict[str, Any]:
    """Cost per box with and without the eastbound and empties flows, and today's model
    against the one before dated scenarios and two-way traffic (side by side)."""
    k, h = (1.0, 150.0) if args.quick else (4.0, HORIZON_DAYS)
    # the last fixed-flow baseline: with markets, which boxes go which way is a choice,
    # and dropping the eastbound flows would not leave the same westbound run
    fixed = _before_markets()
    two_way = fixed / "scenarios" / "baseline.toml" if fixed is not None else BASELINE
    both = {"kind": "batch", "file": str(two_way), "scale": k, "horizon": h, "replication": 0}
    jobs = {"both ways": both, "westbound only": dict(both, westbound_only=True)}
    old_root = Path(tempfile.mkdtemp(prefix="corridor-3dd0c76-"))
    archive = subprocess.run(
        f"git -C {ROOT} archive 3dd0c76 sim | tar -x -C {old_root}",
        shell=True, capture_output=True, text=True,
    )
    pre = ROOT / "tests" / "scenarios" / "regression" / "baseline_pre_dates.toml"
    now = {"kind": "batch", "file": str(pre), "scale": k, "horizon": h, "replication": 0}
    if archive.returncode == 0:
        jobs["before dates (3dd0c76)"] = dict(now, sim_root=str(old_root))
        jobs["today, same scenario"] = now
    runs = interleaved(jobs, args.repeats)
    rows = {}
    for name, rs in runs.items():
        rows[name] = {
            "containers": rs[0]["containers"],
            "cpu_s": med(rs, "cpu_s"),
            "wall_s": med(rs, "wall_s"),
            "cpu_us_per_box": 1e6 * med(rs, "cpu_s") / rs[0]["containers"],
            "events_per_box": rs[0]["events"] / rs[0]["containers"],
            "boxes_per_departure": rs[0]["containers"] / max(1, rs[0].get("departures", 0)),
            "cpu_us_per_departure": 1e6 * med(rs, "cpu_s") / max(1, rs[0].get("departures", 0)),
            "runs": rs,
        }
        print(f"  {name:28s} {rows[name]['containers']:>9,} boxes "
              f"{rows[name]['cpu_us_per_box']:7.2f} us cpu/box", flush=True)
    out: dict[str, Any] = {"scale": k, "horizon_days": h, "rows": rows}
    both, west = rows["both ways"], rows["westbound only"]
    out["two_way_per_box_ratio"] = both["cpu_us_per_box"] / west["cpu_us_per_box"]
    # the cost is per carrier trip; eastbound trips carry fewer boxes (the imbalance)
    out["two_way_per_departure_ratio"] = (
        both["cpu_us_per_departure"] / west["cpu_us_per_departure"]
    )
    out["two_way_boxes_per_departure_ratio"] = (
        both["boxes_per_departure"] / west["boxes_per_departure"]
    )
    if "today, same scenario" in rows:
        out["today_vs_before_per_box_ratio"] = (
            rows["today, same scenario"]["cpu_us_per_box"]
            / rows["before dates (3dd0c76)"]["cpu_us_per_box"]
        )
    return out


def _before_markets() -> Path | None:
    """A temporary copy of ``scenarios/`` and ``benchmarks/scenarios/`` as they were in the
    newest commit whose baseline had no markets (same layout, so ``extends`` still works);
    None outside a git checkout."""
    revs = subprocess.run(
        ["git", "-C", str(ROOT), "log", "--format=%H", "--", "scenarios/baseline.toml"],
        capture_output=True, text=True,
    ).stdout.split()
    for rev in revs:
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:scenarios/baseline.toml"],
            capture_output=True, text=True,
        ).stdout
        if text and "[markets." not in text:
            root = Path(tempfile.mkdtemp(prefix=f"corridor-fixed-{rev[:7]}-"))
            done = subprocess.run(
                f"git -C {ROOT} archive {rev} scenarios benchmarks/scenarios | tar -x -C {root}",
                shell=True, capture_output=True, text=True,
            )
            return root if done.returncode == 0 else None
    return None


def markets_section(args) -> dict[str, Any]:
    """The market baseline (route choice, coarse Northern and sea routes) against the last
    fixed-flow baseline, side by side, at the baseline's demand and at 2 M TEU/yr: boxes,
    events per box and CPU per box; and the default `corridor run scenarios/baseline.toml`
    wall time."""
    h = 150.0 if args.quick else None
    jobs: dict[str, dict[str, Any]] = {
        "market baseline": {"kind": "batch", "file": str(BASELINE), "horizon": h,
                            "replication": 0},
    }
    if not args.quick:
        jobs["market 2M TEU/yr (baseline_2m)"] = {
            "kind": "batch", "file": str(SCENARIO_2M), "horizon": None, "replication": 0}
    before = _before_markets()
    if before is not None:
        jobs["fixed-flow baseline (before markets)"] = {
            "kind": "batch", "file": str(before / "scenarios" / "baseline.toml"),
            "horizon": h, "replication": 0}
        old_2m = before / "benchmarks" / "scenarios" / "baseline_2m.toml"
        if not args.quick and old_2m.exists():
            jobs["fixed-flow 2M TEU/yr (before markets)"] = {
                "kind": "batch", "file": str(old_2m), "horizon": None, "replication": 0}
    runs = interleaved(jobs, args.repeats)
    rows = {}
    for name, rs in runs.items():
        rows[name] = {
            "containers": rs[0]["containers"],
            "events_per_box": rs[0]["events"] / rs[0]["containers"],
            "cpu_us_per_box": 1e6 * med(rs, "cpu_s") / rs[0]["containers"],
            "cpu_s": med(rs, "cpu_s"),
            "runs": rs,
        }
        print(f"  {name:38s} {rows[name]['containers']:>9,} boxes "
              f"{rows[name]['events_per_box']:.3f} ev/box "
              f"{rows[name]['cpu_us_per_box']:7.2f} us cpu/box", flush=True)
    out: dict[str, Any] = {"horizon_days": h, "rows": rows}
    pairs = {"baseline": ("market baseline", "fixed-flow baseline (before markets)"),
             "2M TEU/yr": ("market 2M TEU/yr (baseline_2m)",
                           "fixed-flow 2M TEU/yr (before markets)")}
    out["per_box_ratio"] = {
        label: rows[new]["cpu_us_per_box"] / rows[old]["cpu_us_per_box"]
        for label, (new, old) in pairs.items() if new in rows and old in rows
    }
    for label, ratio in out["per_box_ratio"].items():
        print(f"  cost per box, markets / fixed flows ({label}): {ratio:.2f}", flush=True)
    if not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "sim", "run", str(BASELINE), "--out",
                            str(Path(tmp) / "run"), "--quiet"], check=True, cwd=ROOT)
            out["default_run_wall_s"] = time.perf_counter() - t0
        print(f"  corridor run scenarios/baseline.toml (defaults): "
              f"{out['default_run_wall_s']:.1f} s wall", flush=True)
    return out


def budget_section(args) -> dict[str, Any]:
    """Per-trip cost of the run against the budget the throughput target implies."""
    from budget import budget

    if args.quick:
        job = {"kind": "budget", "scale": 4.0, "horizon": args.horizon}
        label = f"4x demand, {args.horizon:g} d"
    else:
        job = {"kind": "budget", "file": str(SCENARIO_2M), "horizon": None}
        label = "2M TEU/yr (baseline_2m)"
    runs = [measure(job) for _ in range(args.repeats)]
    keys = runs[0]["phases"].keys()
    phases = {k: statistics.median(r["phases"][k] for r in runs) for k in keys}
    event_us = statistics.median(r["bare_simpy_us_per_event"] for r in runs)
    numpy_us = {
        k: statistics.median(r["numpy_us_per_call"][k] for r in runs)
        for k in runs[0]["numpy_us_per_call"]
    }
    b = budget(phases, event_us, TARGET_BOXES_PER_S)
    print(
        f"  {label}: run {b['run_us_per_trip']:.0f} us per trip "
        f"(bare SimPy events {b['bare_events_us_per_trip']:.1f}); "
        f"0.5 M boxes/s would allow {b['allowed_us_per_trip']:.0f} us",
        flush=True,
    )
    return {
        "label": label,
        "phases": phases,
        "bare_simpy_us_per_event": event_us,
        "numpy_us_per_call": numpy_us,
        "budget": b,
        "runs": runs,
    }


# ======================================================================================
# report
# ======================================================================================


def table(result: dict[str, Any]) -> str:
    lines = []
    add = lines.append
    s = result.get("scale")
    if s:
        add(
            "Scale (full corridor: build + run + conservation check + measure; median of "
            f"{result['settings']['repeats']} fresh processes, replication 0)"
        )
        add(
            f"{'run':33s} {'log':>4s} {'boxes':>10s} {'boxes/s':>9s} {'boxes/cpu-s':>11s} "
            f"{'ev/box':>7s} {'wall s':>7s} {'cpu s':>7s} {'peak MB':>8s} {'MB/1k box':>9s}"
        )
        for r in s["rows"]:
            add(
                f"{r['label']:33s} {'on' if r['keep_log'] else 'off':>4s} {r['containers']:>10,} "
                f"{r['containers_per_s']:>9,.0f} {r['containers_per_cpu_s']:>11,.0f} "
                f"{r['events_per_container']:>7.3f} {r['wall_s']:>7.2f} {r['cpu_s']:>7.2f} "
                f"{r['peak_rss_mb']:>8.0f} "
                f"{1000 * r['rss_above_interpreter_mb'] / r['containers']:>9.3f}"
            )
        growth = result.get("growth")
        if growth:
            add("Growth (per box, relative to the smallest run of each series; 1.00 = linear):")
            for g in growth:
                add(
                    f"  {g['series']:12s} {g['label']:33s} x{g['containers_ratio']:>6.2f} boxes: "
                    f"cpu/box {g['cpu_per_box_ratio']:.2f}, "
                    f"wall/box {g['wall_per_box_ratio']:.2f}, "
                    f"RSS/box {g['rss_per_box_ratio']:.2f}"
                )
    d = result.get("directions")
    if d:
        add("")
        add(
            f"Traffic both ways ({d['scale']:g}x demand, {d['horizon_days']:g} d; interleaved, "
            f"median of {result['settings']['repeats']})"
        )
        for name, r in d["rows"].items():
            add(
                f"  {name:28s} {r['containers']:>9,} boxes  {r['cpu_us_per_box']:7.2f} us cpu/box"
                f"  {r['events_per_box']:.3f} ev/box"
            )
        add(f"  cost per box, both ways / westbound only: {d['two_way_per_box_ratio']:.2f}")
        if "two_way_per_departure_ratio" in d:
            add(f"  cost per loaded carrier departure, both ways / westbound only: "
                f"{d['two_way_per_departure_ratio']:.2f} (boxes per departure: "
                f"{d['two_way_boxes_per_departure_ratio']:.2f}x)")
        if "today_vs_before_per_box_ratio" in d:
            add(f"  cost per box, today / before dates: {d['today_vs_before_per_box_ratio']:.2f}")
    mk = result.get("markets")
    if mk:
        add("")
        add("Markets (route choice) against the fixed-flow baseline, replication 0, interleaved")
        for name, r in mk["rows"].items():
            add(f"  {name:38s} {r['containers']:>9,} boxes  {r['events_per_box']:.3f} ev/box"
                f"  {r['cpu_us_per_box']:7.2f} us cpu/box")
        for label, ratio in mk.get("per_box_ratio", {}).items():
            add(f"  cost per box, markets / fixed flows ({label}): {ratio:.2f}")
        if "default_run_wall_s" in mk:
            wall = mk["default_run_wall_s"]
            add(f"  corridor run scenarios/baseline.toml (defaults): {wall:.1f} s")
    ref = result.get("reference")
    if ref:
        add("")
        add(
            "Against the per-container reference (benchmarks/reference.py), interleaved, median "
            f"of {result['settings']['repeats']} (2M: 1 run each)"
        )
        add(
            f"{'scale':>6s} {'boxes':>9s} {'ref wall':>9s} {'batch wall':>10s} {'ratio wall':>10s} "
            f"{'ratio cpu':>9s} {'ref ev/box':>10s} {'batch ev/box':>12s} {'ref MB':>7s} "
            f"{'batch MB':>8s}"
        )
        for r in ref["rows"]:
            add(
                f"{r['scale']:>6s} {r['containers']:>9,} {r['reference_wall_s']:>9.2f} "
                f"{r['batch_wall_s']:>10.2f} {r['speedup_wall']:>9.1f}x {r['speedup_cpu']:>8.1f}x "
                f"{r['reference_events_per_container']:>10.2f} "
                f"{r['batch_events_per_container']:>12.3f} "
                f"{r['reference_peak_rss_mb']:>7.0f} {r['batch_peak_rss_mb']:>8.0f}"
            )
    ag = result.get("agreement")
    if ag:
        add("")
        add(
            f"Same statistics? {ag['replications']} replications of each model, "
            f"{ag['scale']:g}x demand, {ag['horizon_days']:g} d; mean +- 95% t half-width"
        )
        add(f"{'KPI':36s} {'batch':>20s} {'reference':>20s} {'difference':>20s} {'p':>6s}  ok")
        for r in ag["rows"]:
            add(
                f"{r['kpi']:36s} {r['batch_mean']:>11.3f} +-{r['batch_ci95']:>7.3f} "
                f"{r['reference_mean']:>11.3f} +-{r['reference_ci95']:>7.3f} "
                f"{r['difference']:>11.3f} +-{r['difference_ci95']:>7.3f} {r['p']:>6.3f}  "
                f"{'no' if r['significant_holm'] else 'yes'}"
            )
        add(
            f"{ag['agree_holm']}/{ag['kpis']} agree (no significant difference, Holm 5%); "
            f"the two 95% intervals overlap for {ag['intervals_overlap']}/{ag['kpis']}"
        )
    par = result.get("parallel")
    if par:
        add("")
        add(
            f"Parallel: {par['replications']} replications of "
            f"{par['seconds_per_replication']:.2f} s: "
            f"serial {par['serial_s']:.2f} s, 2 workers {par['two_workers_s']:.2f} s, "
            f"efficiency {par['efficiency']:.0%}"
        )
        for name, o in par["overhead"].items():
            add(
                f"  {name:12s} start {o['start_s']:.2f} s; "
                f"per task: no-op {o['noop_task_ms']:.2f} ms, "
                f"tiny replication {o['tiny_replication_task_ms']:.1f} ms on 2 workers "
                f"(serial {o['tiny_replication_serial_ms']:.1f} ms)"
            )
    cli = result.get("cli")
    if cli:
        add("")
        add(
            "corridor run scenarios/baseline.toml --replications 1 --workers 1: "
            f"{cli['wall_s']:.2f} s"
        )
    bud = result.get("budget")
    if bud:
        ph, b = bud["phases"], bud["budget"]
        add("")
        add(
            f"Budget per carrier trip, {bud['label']} (CPU, median of {len(bud['runs'])} "
            "fresh processes):"
        )
        add(
            f"  {ph['boxes']:,} boxes, {b['trips']:,} trips ({ph['train_runs']:,} train runs, "
            f"{ph['sailings']:,} sailings), {ph['events']:,} events = "
            f"{b['events_per_trip']:.1f} per trip"
        )
        add(
            f"  phases: build {ph['build_s']:.2f} s, run {ph['run_s']:.2f} s, "
            f"conservation check {ph['check_s']:.2f} s, measure {ph['measure_s']:.2f} s "
            f"-> {b['boxes_per_cpu_s']:,.0f} boxes/CPU-s"
        )
        add(
            f"  run: {b['run_us_per_trip']:.0f} us per trip; bare SimPy "
            f"{bud['bare_simpy_us_per_event']:.2f} us per event = "
            f"{b['bare_events_us_per_trip']:.1f} us per trip for the events alone"
        )
        add(
            f"  {TARGET_BOXES_PER_S:,.0f} boxes/s: {b['allowed_total_s']:.2f} s in all, "
            f"{b['allowed_run_s']:.2f} s for the run = {b['allowed_us_per_trip']:.0f} us per trip "
            f"({b['run_us_per_trip'] / b['allowed_us_per_trip']:.1f}x less than now)"
            if b["allowed_run_s"] > 0
            else f"  {TARGET_BOXES_PER_S:,.0f} boxes/s: the fixed phases alone take longer"
        )
        add(
            "  numpy, one call on 110 elements: "
            + ", ".join(f"{k} {v:.2f} us" for k, v in bud["numpy_us_per_call"].items())
        )
    m = result["machine"]
    add("")
    add(
        f"Machine: {m['cpus']} CPUs, Python {m['python']}, load average {m['load_before']} before, "
        f"{m['load_after']} after"
    )
    return "\n".join(lines)


def growth_rows(scale: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-box cost of each run relative to the first run of its series (log on)."""
    rows = [r for r in scale["rows"] if r["keep_log"]]
    demand = [r for r in rows if "demand" in r["series"]]
    horizon = [r for r in rows if "horizon" in r["series"]]
    out = []
    for series, group in (("demand", demand), ("horizon", horizon)):
        if not group:
            continue
        base = group[0]
        for r in group:

            def per(row, key):
                return row[key] / row["containers"]

            out.append(
                {
                    "series": series,
                    "label": r["label"],
                    "containers_ratio": r["containers"] / base["containers"],
                    "cpu_per_box_ratio": per(r, "cpu_s") / per(base, "cpu_s"),
                    "wall_per_box_ratio": per(r, "wall_s") / per(base, "wall_s"),
                    "rss_per_box_ratio": per(r, "rss_above_interpreter_mb")
                    / per(base, "rss_above_interpreter_mb"),
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="every section small (smoke test)")
    p.add_argument(
        "--only",
        nargs="*",
        default=None,
        choices=["scale", "reference", "agreement", "parallel", "cli", "directions", "markets",
                 "budget"],
    )
    p.add_argument("--repeats", type=int, default=None, help="runs per measurement (median)")
    p.add_argument("--out", type=Path, default=HERE / "results", help="folder for the JSON")
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0

    q = args.quick
    args.repeats = args.repeats or (1 if q else 3)
    args.horizon = 150.0 if q else HORIZON_DAYS
    args.scales = [1.0, 4.0] if q else [1.0, 4.0, 16.0]
    args.horizons = [1, 2] if q else [1, 2, 4]
    args.horizon_scale = 1.0 if q else 4.0
    args.reference_scales = [1.0] if q else [1.0, 4.0]
    args.reference_2m = not q
    args.agreement_scale = 1.0
    args.agreement_replications = 3 if q else 10
    args.parallel_scale = 1.0 if q else 2.0  # 2x demand, 1,215 d: about 1.5 s a replication
    args.parallel_horizon = 200.0 if q else 1215.0
    args.parallel_replications = 2 if q else 8
    args.overhead_tasks = 8 if q else 100
    sections = args.only or [
        "scale", "reference", "agreement", "parallel", "cli", "directions", "markets", "budget"
    ]

    result: dict[str, Any] = {
        "when": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "method": "plain timing (perf_counter wall, process_time CPU); each measurement in a "
        "fresh process; median of repeats; compared runs interleaved",
        "settings": {k: v for k, v in vars(args).items() if k not in ("child", "out")},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_before": _load_avg(),
        },
    }
    result["settings"]["out"] = str(args.out)
    steps = {
        "scale": scale_section,
        "reference": reference_section,
        "agreement": agreement_section,
        "parallel": parallel_section,
        "cli": cli_section,
        "directions": directions_section,
        "markets": markets_section,
        "budget": budget_section,
    }
    for name in sections:
        print(f"[{name}]", flush=True)
        result[name] = steps[name](args)
    if "scale" in result:
        result["growth"] = growth_rows(result["scale"])
    result["machine"]["load_after"] = _load_avg()
    text = table(result)
    result["table"] = text
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    path = args.out / f"{stamp}{'-quick' if q else ''}.json"
    path.write_text(json.dumps(result, indent=1, default=float) + "\n", encoding="utf-8")
    print(f"\nwritten {path}")
    return 0


def _load_avg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _git_commit() -> str | None:
    try:
        res = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "sim"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
        return res.stdout.strip() + ("+dirty" if dirty else "")
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
