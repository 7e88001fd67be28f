"""Fingerprint of the raw model state, to check that an optimisation changes no result.

For each scenario and replication it runs the model and hashes what the model
computed — every container's stamps, the containers inside at the end, every
yard, track and berth monitor, every leg's and fleet's departures, the wagon
pools — not the measured record (so it does not depend on ``measure.py``)::

    python benchmarks/fingerprint.py > after.json
    git stash; python benchmarks/fingerprint.py > before.json; git stash pop
    diff before.json after.json          # nothing: bit-identical results

``--sim-root DIR`` runs the ``sim`` package found in ``DIR`` instead (e.g. an
unpacked older commit: ``git archive 53c63f3 | tar -x -C /tmp/old``). Only the
number of SimPy events may differ between versions; it is printed, not hashed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _hash(*arrays) -> str:
    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a, dtype=np.float64) if isinstance(a, list) else a)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def fingerprint(scenario, replication: int) -> tuple[dict[str, object], int]:
    """Hashes of the model state after one replication, and its number of events."""
    import numpy as np

    from sim.model.corridor import CorridorModel

    m = CorridorModel(scenario, replication)
    end, gridlock = m.run()
    inside = np.sort(m.check_conservation(end))
    t = m.table
    out: dict[str, object] = {
        "end_h": end,
        "gridlock": None if gridlock is None else [gridlock.since_h, gridlock.where],
        "containers": _hash(t.flow, t.teu, t.created_h, t.stage, t.arrive_h, t.depart_h),
        "inside": _hash(inside),
    }
    for nid, n in m.nodes.items():
        n.yard.free()
        monitors = [n.yard.monitor, n.tracks.busy] + ([n.berths.busy] if n.berths else [])
        out[f"node {nid}"] = _hash(*[x for mon in monitors for x in (mon.times, mon.levels)])
    for lid, leg in list(m.rail_legs.items()) + list(m.sea_legs.items()):
        out[f"leg {lid}"] = _hash(leg.departures_h, leg.departure_teu)
    for fid, f in m.fleets.items():
        wc = f.waiting_cargo
        out[f"fleet {fid}"] = _hash(f.departures_h, f.departure_teu, f.held_h, wc.times, wc.levels)
    for pid, p in m.pools.items():
        out[f"pool {pid}"] = _hash(p.out.times, p.out.levels)
    return out, m.env.scheduled


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sim-root", type=Path, help="directory holding the sim package to run")
    p.add_argument("--scenarios", type=Path, default=ROOT / "scenarios",
                   help="folder of scenario files (default: scenarios/)")
    p.add_argument("--replications", type=int, default=2)
    p.add_argument("--scaled", action="store_true",
                   help="also the baseline scaled 4x (400 d) and 16x (250 d)")
    args = p.parse_args()
    sys.path.insert(0, str(args.sim_root or ROOT))
    sys.path.insert(1, str(HERE))
    from scale import scaled_overrides

    from sim.scenario.loader import load_scenario

    jobs = [(f, []) for f in sorted(args.scenarios.glob("*.toml"))]
    if args.scaled:
        base = args.scenarios / "baseline.toml"
        for k, h in ((4.0, 400), (16.0, 250)):
            jobs.append((base, scaled_overrides(load_scenario(base).model, k)
                         + [f"scenario.horizon_days={h}"]))
    result: dict[str, object] = {}
    for path, overrides in jobs:
        scenario = load_scenario(path, overrides).model
        for r in range(args.replications):
            t0 = time.perf_counter()
            fp, events = fingerprint(scenario, r)
            key = f"{path.name} {' '.join(overrides[-1:])} r={r}".replace("  ", " ")
            result[key] = fp
            print(f"{key}: {time.perf_counter() - t0:.2f} s, {events} events", file=sys.stderr)
    print(json.dumps(result, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
