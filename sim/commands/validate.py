"""``corridor validate FILE...``: check scenario files without running them."""

from __future__ import annotations

import argparse

from sim.commands.common import add_set_option, check_size


def register(sub) -> None:
    p = sub.add_parser(
        "validate",
        help="check scenario files without running them",
        description="Load, merge (extends, --set) and validate each scenario file as run would, "
        "and check that its replications fit in memory; print one line per file. Exit status 0 "
        "when every file is valid, 2 at the first invalid one (one line naming file, key and "
        "what was expected).",
    )
    p.add_argument("scenarios", nargs="+", help="scenario files (TOML, or JSON as in results)")
    add_set_option(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.experiments.executors import ExecutorSpec
    from sim.scenario.loader import load_scenario

    for path in args.scenarios:
        loaded = load_scenario(path, args.overrides)
        m = loaded.model
        check_size(loaded, ExecutorSpec(), m.scenario.replications)  # as `run` would, all cores
        print(
            f"{path}: ok ({m.scenario.name}: {len(m.nodes)} nodes, {len(m.legs)} legs, "
            f"{len(m.fleets)} fleets, {len(m.flows)} flows)"
        )
    return 0
