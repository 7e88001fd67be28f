"""``corridor sweep BASE --vary key=v1,v2 ... | --sample key=lo:hi --samples N``.

Writes ``DIR/points/*.json`` as points finish (so an interrupted sweep resumes
when run again with the same ``--out DIR``), then ``sweep.json``, the tidy
``sweep.csv`` (one row per point x replication) and response plots.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

from sim import __version__
from sim.commands.common import (
    add_run_options,
    check_size,
    command_line,
    executor_spec,
    flag_overrides,
    positive_int,
)

MAX_SAMPLES = 10_000
"""Points in one sweep; a study that needs more is better split into several sweeps."""


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run a grid or Latin-hypercube sample of scenario values")
    p.add_argument("base", type=Path, help="base scenario file")
    p.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="KEY.PATH=V1,V2,...",
        help="full-factorial values of one key (repeatable)",
    )
    p.add_argument(
        "--sample",
        action="append",
        default=[],
        metavar="KEY.PATH=LOW:HIGH",
        help="Latin-hypercube range of one key (repeatable; integers if both ends are)",
    )
    p.add_argument(
        "--samples",
        type=positive_int(MAX_SAMPLES),
        default=10,
        metavar="N",
        help="Latin-hypercube points (default 10)",
    )
    add_run_options(p)
    p.set_defaults(handler=run)


def _write_csv(path: Path, rows: list[dict]) -> None:
    """The tidy CSV; booleans (the point's flags, a replication's gridlock) as
    ``true``/``false`` like every CSV of a results folder."""
    from sim.outputs.results import csv_cell

    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for row in rows:
            w.writerow({k: csv_cell(v) for k, v in row.items()})


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.errors import RunFault, ScenarioError
    from sim.experiments.executors import iter_tasks, open_executor
    from sim.experiments.sweep import (
        FINAL,
        TRANSIENT,
        base_values,
        check_key,
        factorial,
        latin_hypercube,
        load_done,
        parse_sample,
        parse_vary,
        point_key,
        run_point,
        summarise_sweep,
        tidy_rows,
        write_point,
    )
    from sim.outputs.results import default_out_dir, write_json
    from sim.outputs.results_folder import open_incremental, write_marker
    from sim.scenario.loader import load_scenario

    if bool(args.vary) == bool(args.sample):
        raise ScenarioError("corridor sweep", None, "expected --vary options or --sample options")
    overrides = flag_overrides(args)
    base = load_scenario(args.base, overrides)
    settings = base.model.scenario
    if args.vary:
        varies = [parse_vary(v) for v in args.vary]
        varied = [k for k, _ in varies]
        for key in varied:
            check_key(base.resolved, key, "--vary")
        if math.prod(len(v) for _, v in varies) > MAX_SAMPLES:
            raise ScenarioError(
                "--vary", None, f"expected at most {MAX_SAMPLES:,} points in the grid"
            )
        points, design = factorial(varies), "factorial"
    else:
        samples = [parse_sample(s) for s in args.sample]
        varied = [k for k, _, _ in samples]
        for key in varied:
            check_key(base.resolved, key, "--sample")
        points, design = latin_hypercube(samples, args.samples, settings.seed), "lhs"
    indices = list(range(settings.replications))
    check_size(base, executor_spec(args).capped(len(points) * len(indices)), len(indices))

    out_dir = args.out or default_out_dir(Path("results"), f"sweep-{settings.name}")
    manifest = {
        "base_sha256": base.sha256,
        "design": design,
        "points": points,
        "replications": settings.replications,
    }
    with open_incremental(out_dir, "sweep", args.force) as (out_dir, resumed):
        manifest_path = out_dir / "design.json"
        if resumed and manifest_path.exists():
            try:
                same = json.loads(manifest_path.read_text(encoding="utf-8")) == manifest
            except (OSError, ValueError):
                same = False
            if not same:
                raise ScenarioError(
                    str(out_dir),
                    None,
                    "expected the same sweep to resume (another design, base scenario or "
                    "replication count is there; add --force to start it anew)",
                )
        else:
            write_json(out_dir / "scenario.resolved.json", base.resolved)
            write_json(manifest_path, manifest)

        points_dir = out_dir / "points"
        done = load_done(points_dir)
        pending = [v for v in points if point_key(v) not in done]
        if pending and not args.quiet and done:
            print(f"resuming: {len(points) - len(pending)} of {len(points)} points already done")

        def finished() -> int:
            return sum(1 for v in points if done.get(point_key(v), {}).get("status") in FINAL)

        def note() -> str:  # read from disk when interrupted: says exactly what is kept
            kept = sum(1 for v in points if point_key(v) in load_done(points_dir))
            return (
                f"{kept} of {len(points)} points are kept in {points_dir}; "
                "run the same command to resume"
            )

        args.interrupted_note = note
        spec = executor_spec(args).capped(len(pending) * len(indices))
        base_path = str(base.path)
        lost = None
        try:
            with open_executor(spec) as ex:
                tasks = [(base_path, overrides, v, indices) for v in pending]
                for _, result in iter_tasks(
                    ex, run_point, tasks, [len(indices)] * len(tasks), "sweep", spec.quiet
                ):
                    if result["status"] in FINAL:
                        write_point(points_dir, result)
                    done[point_key(result["values"])] = result
        except RunFault as exc:  # a worker died: keep what finished, report, resume later
            lost = str(exc)
        kept = finished()

        sweep = summarise_sweep(
            settings.name,
            varied,
            design,
            points,
            done,
            {"version": __version__, "command": command_line(argv), "seed": settings.seed},
            base=base_values(base.resolved, varied),
        )
        write_json(out_dir / "sweep.json", sweep)
        _write_csv(out_dir / "sweep.csv", tidy_rows(sweep, done))
        from sim.outputs.plots_sweep import heatmap, response

        plots = out_dir / "plots"
        plots.mkdir(exist_ok=True)
        for kpi in ("throughput_teu_per_week", "transit_days_p95", "bottleneck_utilisation"):
            response(sweep, kpi, plots / f"response_{kpi}.png")
            if len(varied) == 2 and design == "factorial":
                # cells against the grid point of the base scenario (nearest, if need be)
                heatmap(sweep, kpi, plots / f"heatmap_{kpi}.png", reference=sweep["reference"])
        if args.report:
            from sim.outputs.report import write_report

            write_report(out_dir)
        unfinished = len(points) - kept
        write_marker(out_dir, "sweep", "complete" if unfinished == 0 else "partial")
    failed = [p for p in sweep["points"] if p["status"] == "failed"]
    if not args.quiet:
        from sim.outputs.console import format_sweep

        ok = sum(1 for p in sweep["points"] if p["status"] == "ok")
        print(
            f"Sweep of {settings.name}: {ok} of {len(points)} points ok ({design}), "
            f"{settings.replications} replications each"
        )
        print(format_sweep(sweep))
        for p in failed:
            print(f"  point {p['point']} {p['values']} failed: {p['error']}")
        print(f"\nResults written to {out_dir}")
    if unfinished:
        reason = lost or "; ".join(
            sorted({p["error"] for p in sweep["points"] if p["status"] == TRANSIENT})
        )
        raise RunFault(
            f"{unfinished} of {len(points)} points did not finish ({reason}); "
            f"the {kept} finished are kept in {out_dir}: run the same command to resume"
        )
    return 0
