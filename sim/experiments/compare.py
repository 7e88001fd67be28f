"""Compare scenarios against a base: paired differences under common random numbers.

Replication *i* of every scenario uses the same seed and replication index, so
it sees the same demand and the same storms; differences are taken pair by
pair (alt_i − base_i), which removes most of the noise the scenarios share.
With several alternatives and KPIs, the p-values of the paired t-tests are
corrected with Holm–Bonferroni (family-wise error 5% over all tests). The KPIs that
restate the scenarios' inputs (:func:`~sim.experiments.economics.input_kpis`: cost and
CO2 per TEU of fixed flows, the same in every replication) are not tested: they have no entry in
``differences`` and do not count in the correction; the summaries and
``replications.csv`` still carry their values.

Investments are ranked by their **annualised cost per extra TEU/yr of corridor
capacity** (see :mod:`sim.experiments.economics` for how capacity is measured); the
ranking table also gives the throughput gained, transit days saved, and the
cost and CO2 per TEU of the study flows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError
from sim.experiments.appraisal import appraise
from sim.experiments.economics import (
    capex_benchmarks,
    co2_per_teu,
    corridor_capacity,
    cost_per_teu,
    input_kpis,
)
from sim.experiments.executors import ExecutorSpec, open_executor
from sim.experiments.replications import kpi_value, run_batches
from sim.outputs.summary import build_summary
from sim.scenario.loader import LoadedScenario, load_scenario
from sim.stats import holm, paired_difference, summarise

ALIGN_SOURCE = "compare (aligned with the base for common random numbers)"

WEEKS_PER_YEAR = 8760.0 / 168.0
KPI_BETTER = {
    "throughput_teu_per_week": "higher",
    "transit_days_mean": "lower",
    "transit_days_p50": "lower",
    "transit_days_p95": "lower",
    "bottleneck_utilisation": "lower",
    "corridor_capacity_teu_per_year": "higher",
    "cost_usd_per_teu": "lower",
    "co2_kg_per_teu": "lower",
}
KPIS = tuple(KPI_BETTER)


def split_kpis(scenarios: Sequence[LoadedScenario]) -> tuple[list[str], list[str]]:
    """(tested, inputs): the comparison KPIs that are model results, and those that restate
    the inputs of every scenario compared (cost and CO2 per TEU of fixed flows; with
    markets they are results and tested)."""
    inputs = set(KPIS)
    for ld in scenarios:
        inputs &= set(input_kpis(ld.model))
    return [k for k in KPIS if k not in inputs], [k for k in KPIS if k in inputs]


def record_kpi(loaded: LoadedScenario, record: dict, kpi: str) -> float | None:
    """One comparison KPI of one replication."""
    if kpi == "corridor_capacity_teu_per_year":
        return corridor_capacity(record, loaded.model)
    if kpi == "cost_usd_per_teu":
        return cost_per_teu(loaded.model, record)
    if kpi == "co2_kg_per_teu":
        return co2_per_teu(loaded.model, record)
    return kpi_value(record, kpi)


def load_compared(
    base: str | Path,
    alternatives: Sequence[str | Path],
    overrides: Sequence[str | tuple[str, str]] = (),
) -> list[LoadedScenario]:
    """The base and its alternatives (each with ``overrides``), every alternative run with
    the base's seed, replications, horizon and warm-up (common random numbers). Raises
    :class:`~sim.errors.ScenarioError` when two scenarios share a name."""
    first = load_scenario(base, overrides)
    s = first.model.scenario
    aligned = [
        (ALIGN_SOURCE, f"scenario.{key}={value}")
        for key, value in (
            ("seed", s.seed),
            ("replications", s.replications),
            ("horizon_days", s.horizon_days),
            ("warmup_days", s.warmup_days),
        )
    ]
    scenarios = [first] + [load_scenario(p, [*overrides, *aligned]) for p in alternatives]
    names = [ld.model.scenario.name for ld in scenarios]
    if len(set(names)) != len(names):
        raise ScenarioError(
            "compare", "scenario.name", f"expected distinct scenario names, got {names}"
        )
    return scenarios


def simulate_comparison(
    scenarios: list[LoadedScenario], spec: ExecutorSpec
) -> list[list[dict]]:
    """The records of every scenario (replications ``0 .. n-1`` of the base's count, daily
    series dropped), in the order of ``scenarios``."""
    reps = list(range(scenarios[0].model.scenario.replications))
    with open_executor(spec) as ex:
        return run_batches(ex, spec, [(ld.model, reps) for ld in scenarios], drop=("series",))


def kpi_values(
    scenarios: list[LoadedScenario], records: list[list[dict]]
) -> dict[str, dict[str, list[float | None]]]:
    """Per scenario name, per comparison KPI (:data:`KPIS`), its value in each replication."""
    return {
        ld.model.scenario.name: {k: [record_kpi(ld, r, k) for r in recs] for k in KPIS}
        for ld, recs in zip(scenarios, records, strict=True)
    }


def _economics(
    alt: LoadedScenario, diffs: dict[str, dict], alt_values: dict[str, list]
) -> dict[str, Any]:
    econ = alt.model.economics
    annual = econ.annualised_cost_usd()
    extra = diffs["corridor_capacity_teu_per_year"]
    extra_mean = extra["mean"]
    per_extra = annual / extra_mean if annual > 0 and extra_mean and extra_mean > 0 else None
    capex_per_extra = (econ.capex_usd / extra_mean
                       if econ.capex_usd > 0 and extra_mean and extra_mean > 0 else None)
    gain = diffs["throughput_teu_per_week"]
    scale = {k: (v * WEEKS_PER_YEAR if v is not None else None) for k, v in gain.items()
             if k in ("mean", "ci95_low", "ci95_high")}
    saved = {k: (-v if v is not None else None) for k, v in diffs["transit_days_mean"].items()
             if k in ("mean", "ci95_high", "ci95_low")}
    saved["ci95_low"], saved["ci95_high"] = saved.pop("ci95_high"), saved.pop("ci95_low")
    return {
        "capex_usd": econ.capex_usd,
        "lifetime_years": econ.lifetime_years,
        "opex_usd_per_year": econ.opex_usd_per_year,
        "discount_rate": econ.discount_rate,
        "annualised_cost_usd": annual,
        "extra_capacity_teu_per_year": extra,
        "annualised_cost_per_extra_teu_usd": per_extra,
        # capex alone per extra TEU/yr of corridor capacity, beside capex_benchmarks
        "capex_per_extra_teu_usd": capex_per_extra,
        "throughput_gain_teu_per_year": scale,
        "transit_days_saved": saved,
        "cost_per_teu_usd": summarise(alt_values["cost_usd_per_teu"]),
        "co2_kg_per_teu": summarise(alt_values["co2_kg_per_teu"]),
    }


def _rank(economics: dict[str, dict]) -> list[dict[str, Any]]:
    """Investments (capex or opex > 0): with an appraisal (markets), by NPV, highest
    first, with the BCR and today's annualised cost per extra TEU of capacity beside it;
    else by annualised cost per extra TEU of capacity, cheapest first."""
    rows = []
    by_npv = any("appraisal" in e for e in economics.values())
    for name, e in economics.items():
        if e["capex_usd"] <= 0 and e["opex_usd_per_year"] <= 0:
            continue
        if by_npv:
            value = (e.get("appraisal") or {}).get("npv_usd", {}).get("mean")
            key = -value if value is not None else math.inf
        else:
            value = e["annualised_cost_per_extra_teu_usd"]
            key = value if value is not None else math.inf
        rows.append((value is None, key, name, value))
    rows.sort()
    metric = "npv_usd" if by_npv else "annualised_cost_per_extra_teu_usd"
    out = []
    for k, (_, _, name, value) in enumerate(rows):
        row = {"rank": k + 1, "scenario": name, "metric": metric, "value": value}
        if by_npv:
            a = economics[name]["appraisal"]
            row["bcr"] = a["bcr"]["mean"]
            row["annualised_cost_per_extra_teu_usd"] = economics[name][
                "annualised_cost_per_extra_teu_usd"]
        out.append(row)
    return out


def build_comparison(
    scenarios: list[LoadedScenario],
    records: list[list[dict]],
    command: str,
    version: str,
) -> dict[str, Any]:
    """The comparison record written as ``comparison.json``."""
    base, alts = scenarios[0], scenarios[1:]
    base_name = base.model.scenario.name
    values = kpi_values(scenarios, records)
    tested, inputs = split_kpis(scenarios)
    diffs: dict[str, dict[str, dict]] = {}
    tests: list[tuple[str, str]] = []
    for alt in alts:
        name = alt.model.scenario.name
        diffs[name] = {}
        for k in tested:
            diffs[name][k] = paired_difference(values[name][k], values[base_name][k])
            tests.append((name, k))
    corrected = holm([diffs[a][k]["p_value"] for a, k in tests])
    for (a, k), (p_adj, sig) in zip(tests, corrected, strict=True):
        diffs[a][k]["p_adjusted"] = p_adj
        diffs[a][k]["significant"] = sig
        mean = diffs[a][k]["mean"]
        better = KPI_BETTER[k] == "higher"
        diffs[a][k]["better"] = None if not mean else (mean > 0) == better

    economics = {
        alt.model.scenario.name: _economics(
            alt, diffs[alt.model.scenario.name], values[alt.model.scenario.name]
        )
        for alt in alts
    }
    if base.model.markets:  # investments valued by what they attract
        for alt, recs in zip(alts, records[1:], strict=True):
            economics[alt.model.scenario.name]["appraisal"] = appraise(
                base.model, alt.model, records[0], recs
            )
    settings = base.model.scenario
    summaries = {
        ld.model.scenario.name: build_summary(ld, recs, command, version)
        for ld, recs in zip(scenarios, records, strict=True)
    }
    for name, summary in summaries.items():
        summary["kpis"].update(
            {k: summarise(values[name][k]) for k in KPIS if k not in summary["kpis"]}
        )
    return {
        "kind": "comparison",
        "base": base_name,
        "order": [ld.model.scenario.name for ld in scenarios],
        "replications": settings.replications,
        "seed": settings.seed,
        "horizon_days": settings.horizon_days,
        "warmup_days": settings.warmup_days,
        "common_random_numbers": "replication i of every scenario uses seed "
        f"{settings.seed} and index i: same demand and storms, paired differences",
        "scenarios": {
            ld.model.scenario.name: {
                "file": str(ld.path),
                "sha256": ld.sha256,
                "description": ld.model.scenario.description,
                "summary": summaries[ld.model.scenario.name],
            }
            for ld in scenarios
        },
        "kpis": list(KPIS),
        "tested_kpis": tested,
        "input_kpis": inputs,
        "kpi_better": KPI_BETTER,
        "differences": diffs,
        "correction": "Holm–Bonferroni over all (alternative, result KPI) paired t-tests, "
        "family-wise alpha 0.05",
        "economics": economics,
        "ranking": _rank(economics),
        "capex_benchmarks": capex_benchmarks(),
        "provenance": {"version": version, "command": command, "seed": settings.seed},
    }
