"""Sensitivity of the headline KPIs to the uncertain parameters of a scenario.

:data:`PARAMETERS` is the list studied: dotted scenario keys, a low and a high setting
taken from the ranges of the project's data sheet (§7 and the appendix) and the source
IDs behind them (listed in ``docs/sources.md``). A setting is either a *value* (a load
factor, a yard size, a demand) or a *scale* factor applied to the base entry — every
number of a duration distribution (so its shape and its random draws scale exactly), or
every element of a list such as monthly storm rates.

Two designs:

* ``oat`` — one at a time: the base point plus each parameter at its low and at its high
  setting, the others at base. Swing = KPI(high) - KPI(low), with a 95% t-interval of the
  paired per-replication differences; elasticity = (swing / KPI(base)) /
  ((x_high - x_low) / x_base), x being the parameter's displayed value (a mean in its unit);
* ``morris`` — Morris elementary effects on ``r`` random one-step trajectories over a
  4-level grid of each parameter's [low, high]; ``mu*`` (mean |effect|) and ``sigma``
  (spread: non-linearity or interactions), in KPI units per low->high range.

Every variant runs the *same* replication indices, and the model keys each random stream
by name (``sim/model/random_streams.py``), so variants share demand and storms (common
random numbers) and paired differences are fair. Units: KPIs as the run summary names
them (days, TEU/week, utilisation as a 0-1 share).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.experiments.executors import ExecutorSpec
from sim.outputs.summary import FLOW_KPIS
from sim.scenario.loader import load_scenario
from sim.scenario.schema import Scenario
from sim.stats import summarise

DEFAULT_KPIS = (
    "transit_days_p50",
    "transit_days_p95",
    "throughput_teu_per_week",
    "bottleneck_utilisation",
)
KPI_LABELS = {
    "transit_days_p50": ("Study transit, median", "days"),
    "transit_days_p95": ("Study transit, P95", "days"),
    "transit_days_mean": ("Study transit, mean", "days"),
    "throughput_teu_per_week": ("Study throughput", "TEU/week"),
    "bottleneck_utilisation": ("Bottleneck utilisation", "share of time busy"),
    "cohort_inside_share": ("Post-warm-up TEU still inside", "share"),
    "in_system_teu_end": ("In system at the end", "TEU"),
}
DEFAULT_REPLICATIONS = 3
QUICK_MEASURED_DAYS = 365.0
"""Without ``--horizon-days``, variants run the scenario's warm-up plus this many measured
days (or the scenario's own horizon when that is shorter): many variants x replications
must fit in minutes. Stated in the output and in ``--help``."""


def quick_horizon_days(horizon_days: float, warmup_days: float) -> float:
    """The default horizon of a sensitivity run, days: warm-up + one measured year, at most
    the scenario's horizon (the baseline's 1,216 d become 485 d)."""
    return min(horizon_days, warmup_days + QUICK_MEASURED_DAYS)


def horizon_note(meta: dict[str, Any]) -> str:
    """Why the horizon differs from the scenario's own (``""`` when it does not)."""
    own = meta.get("scenario_horizon_days")
    if own is None or own == meta["horizon_days"]:
        return ""
    if meta.get("horizon_from_flag"):
        return f"{meta['horizon_days']:g} d from --horizon-days (the scenario's: {own:,.0f} d)"
    return (
        f"the scenario's {own:,.0f} d shortened to its warm-up + {QUICK_MEASURED_DAYS:g} "
        "measured days for speed (--horizon-days to change)"
    )


MORRIS_LEVELS = 4
MORRIS_TRAJECTORIES = 4


@dataclass(frozen=True)
class Parameter:
    """One uncertain input: its dotted keys, low/high settings and where they come from.

    ``kind`` is ``"value"`` (low/high are the values, set on every key) or ``"scale"``
    (low/high are factors on the base entry of every key). The displayed value is the
    value itself, or the base entry's mean (sum, for a list) times the factor, divided
    by ``per`` into ``unit``.
    """

    name: str
    keys: tuple[str, ...]
    kind: str
    low: float
    high: float
    unit: str
    sources: str
    basis: str
    per: float = 1.0
    also: tuple[str, ...] = ()  # fixed overrides that go with either setting


PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "Feeder load factor (low water)",
        ("fleets.caspian_feeders.load_factor",),
        "value",
        0.75,
        0.95,
        "share",
        "[S45c] §7.2 row 5c",
        "ships load 10-25% below capacity; the §7.2 range 0.75-0.95",
    ),
    Parameter(
        "Caspian storm rate",
        ("weather.caspian.storm_rate_per_month",),
        "scale",
        0.5,
        1.5,
        "events/yr",
        "[S46][S46e] §7.2 row 5d",
        "x0.5 ≈ 21 closed days/yr (bottom of the 20-40 d estimate); x1.5 ≈ 60 (~50 gale "
        "days/yr at Baku); closure days are not sourced",
    ),
    Parameter(
        "Khorgos clearance",
        ("nodes.khorgos.clearance_h",),
        "scale",
        0.67,
        1.5,
        "days (mean)",
        "[S13][S14][S56] §7.2 row 2",
        "x0.67: mean 1.6 d ≈ CPMM 2019 (39.9 h); x1.5: mean 3.5 d, E, towards the 6-7 d "
        "Dostyk wait",
        24.0,
    ),
    Parameter(
        "KZ rail run time",
        ("legs.khorgos_aktau.run_time_h", "legs.khorgos_kuryk.run_time_h"),
        "scale",
        0.75,
        1.3125,
        "days (mean)",
        "[S23][S53][S94] §7.2 row 3",
        "mean 4 d (the low end of tri(4,5,7) d) to 7 d (its high end)",
        24.0,
    ),
    Parameter(
        "Feeder turnaround",
        ("fleets.caspian_feeders.turnaround_h",),
        "scale",
        0.78,
        1.58,
        "hours (mean)",
        "[S25] §7.2 row 5b",
        "feeder cycle 4.5 d (row 5b low) to 5.5 d (row 5b default); the 7-d end would "
        "overload the fleet (capacity 58k < 66k TEU/yr)",
    ),
    Parameter(
        "Aktau vessel fixed time",
        ("nodes.aktau.vessel_fixed_h",),
        "scale",
        0.5,
        1.87,
        "hours (mean)",
        "E; [S37]",
        "call 8 h to 20 h (as slow as Alat's 20.1 h average [S37])",
    ),
    Parameter(
        "Alat yard capacity",
        ("nodes.alat.yard_capacity_teu",),
        "value",
        600.0,
        1200.0,
        "TEU",
        "E; [S87]",
        "share of the port yard for this traffic; the intermodal terminal holds >1,000 boxes",
    ),
    Parameter(
        "Alat dwell",
        ("nodes.alat.dwell_h",),
        "scale",
        0.5,
        2.0,
        "hours (mean)",
        "E; appendix §4",
        "no dwell data (§8 gap 5); factor 2 either way",
    ),
    Parameter(
        "Poti dwell",
        ("nodes.poti.dwell_h",),
        "scale",
        0.5,
        2.0,
        "hours (mean)",
        "E; §7.2 row 8",
        "no dwell data (§8 gap 5); factor 2 either way",
    ),
    Parameter(
        "Black Sea sailing interval",
        ("fleets.blacksea_feeder.dispatch.interval_h",),
        "value",
        120.0,
        240.0,
        "days",
        "[S73b] §7.2 row 9",
        "weekly in the base; 3 sailings/month (10 d) in 2022; 5 d is E. The stall limit "
        "is raised to 14 d so a 10-d wait is not taken for gridlock",
        24.0,
        ("scenario.gridlock_days=14",),
    ),
    Parameter(
        "Constanța dwell",
        ("nodes.constanta.dwell_h",),
        "scale",
        0.5,
        2.0,
        "hours (mean)",
        "E; §7.2 row 10",
        "no dwell data; factor 2 either way",
    ),
    Parameter(
        "EU rail run time",
        ("legs.constanta_sestokai.run_time_h",),
        "scale",
        0.643,
        1.5,
        "days (mean)",
        "[G06][G07] §7.2 row 11",
        "mean 3 d (appendix §2: 3-4.5 d derived) to 7 d (the high end of tri(3,4,7) d)",
        24.0,
    ),
    Parameter(
        "Background Caspian demand",
        ("flows.bg_aktau.annual_teu",),
        "scale",
        0.7,
        1.2,
        "TEU/yr",
        "[S19][S25][S26] §7.1",
        "the 2024-25 range (55-90k all directions) scaled to the baseline's 48.6k westbound "
        "Kazakh boxes (the 2025 total less the markets' corridor boxes)",
    ),
    Parameter(
        "Eastbound demand",
        ("flows.bg_east.annual_teu", "markets.eu_cn.annual_teu"),
        "scale",
        0.5,
        1.5,
        "TEU/yr",
        "E; §10.8",
        "eastbound loaded boxes 10-30% of westbound (base 20%): the train counts, box counts "
        "and the 'insignificant' Middle Corridor backhaul of §10.8 disagree",
    ),
    Parameter(
        "Carrier-owned share (empties)",
        ("flows.bg_aktau_empties.empty_share", "flows.bg_kuryk_empties.empty_share",
         "routes.mc_khorgos_aktau_poti.empty_share",
         "routes.mc_dostyk_aktau_poti.empty_share",
         "routes.mc_khorgos_kuryk_poti.empty_share",
         "routes.mc_dostyk_kuryk_poti.empty_share",
         "routes.mc_khorgos_aktau_poti_cw.empty_share",
         "routes.mc_dostyk_aktau_poti_cw.empty_share",
         "routes.mc_khorgos_kuryk_poti_cw.empty_share",
         "routes.mc_dostyk_kuryk_poti_cw.empty_share",
         "routes.mc_khorgos_aktau_btk.empty_share",
         "routes.mc_dostyk_aktau_btk.empty_share",
         "routes.mc_kz_aktau_poti_cw.empty_share",
         "routes.mc_kz_kuryk_poti_cw.empty_share",
        ),
        "scale",
        0.6,
        1.4,
        "share",
        "E; §10.8",
        "share of westbound boxes that return empty: 30-70% (§10.8 reading); no volumes found",
    ),
    Parameter(
        "Market sizes",
        ("markets.cn_baltic.annual_teu", "markets.cn_cweurope.annual_teu",
         "markets.cn_turkiye.annual_teu", "markets.kz_europe.annual_teu",
         "markets.eu_cn.annual_teu"),
        "scale",
        0.75,
        1.25,
        "TEU/yr",
        "E; §4, §10.4",
        "TEU offered per origin-destination: not published; ±25% around the sizes set from "
        "2024-25 volumes",
    ),
    Parameter(
        "Logit scale",
        ("choice.scale_per_usd",),
        "value",
        0.0005,
        0.002,
        "per USD/TEU",
        "E; §10.4",
        "no estimate in the data sheet: a USD 500-2,000/TEU cost difference multiplies the "
        "odds by e",
    ),
    Parameter(
        "Middle Corridor nest",
        ("choice.nests.mc.lambda",),
        "value",
        0.3,
        0.9,
        "lambda",
        "E; §10.4",
        "how close substitutes the corridor's variants are; no estimate published",
    ),
    Parameter(
        "Value of reliability",
        ("choice.classes.low.vor_usd_per_teu_day", "choice.classes.average.vor_usd_per_teu_day",
         "choice.classes.high.vor_usd_per_teu_day",
         "choice.classes.average_eu.vor_usd_per_teu_day",
         "choice.classes.high_eu.vor_usd_per_teu_day"),
        "scale",
        0.5,
        1.5,
        "USD/TEU-day",
        "E; §10.1 [M05]",
        "reliability ratio 0.5-1.5 around 1 (value of a day of spread / value of a day)",
    ),
    Parameter(
        "Northern route risk premium",
        ("routes.northern_brest.risk_usd_per_teu", "routes.northern_brest_erenhot.risk_usd_per_teu",
         "routes.northern_kena.risk_usd_per_teu", "routes.northern_kz_brest.risk_usd_per_teu",
         "routes.northern_east_brest.risk_usd_per_teu"),
        "scale",
        0.25,
        2.5,
        "USD/TEU",
        "E; §5",
        "sanctions and seizure exposure of the Northern route: not priced in the data sheet",
    ),
    Parameter(
        "Booking limits",
        ("operators.mc_aktau_poti.booking_limit_teu", "operators.mc_kuryk_poti.booking_limit_teu",
         "operators.mc_kz.booking_limit_teu", "operators.mc_btk.booking_limit_teu",
         "operators.mc_east.booking_limit_teu"),
        "scale",
        0.67,
        2.0,
        "TEU",
        "E",
        "operators' backlog limits: none published; 1-3x the pipeline at the calibration point",
    ),
    Parameter(
        "Shippers' information lag",
        ("choice.info_lag_days",),
        "value",
        2.0,
        14.0,
        "days",
        "E",
        "how old the newest delivery shippers know of is (base 7 d)",
    ),
    Parameter(
        "Other traffic at the China-Kazakhstan borders",
        ("nodes.khorgos.other_traffic_share", "nodes.dostyk.other_traffic_share"),
        "value",
        0.6,
        0.9,
        "share of tracks",
        "E; §2.1",
        "most trains through Khorgos/Dostyk are not Middle Corridor trains; no split published",
    ),
    Parameter(
        "CN rail run time",
        ("legs.xian_khorgos.run_time_h",),
        "scale",
        0.8,
        1.2,
        "days (mean)",
        "E; §7.2 row 1",
        "±20% around tri(2.5,3.5,5) d",
        24.0,
    ),
)


# --------------------------------------------------------------------------------------
# Settings, displayed values and overrides
# --------------------------------------------------------------------------------------


def resolved_value(resolved: dict[str, Any], key: str) -> Any:
    """The entry at dotted ``key`` of a resolved scenario (``KeyError`` if absent)."""
    node: Any = resolved
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def _dist_mean(d: dict[str, Any]) -> float:
    """Mean of a resolved duration table (hours)."""
    kind = d.get("dist", "fixed")
    if kind == "fixed":
        return float(d["value"])
    if kind in ("exponential", "gamma"):
        return float(d["mean"])
    if kind == "triangular":
        return (d["low"] + d["mode"] + d["high"]) / 3.0
    if kind == "uniform":
        return (d["low"] + d["high"]) / 2.0
    if kind == "lognormal":
        sigma = math.log(d["p95"] / d["median"]) / 1.6448536269514722
        return d["median"] * math.exp(sigma**2 / 2.0)
    raise ValueError(f"unknown distribution {kind!r}")


def _magnitude(value: Any) -> float:
    """A single number for an entry: itself, a distribution's mean, a list's sum."""
    if isinstance(value, dict):
        return _dist_mean(value)
    if isinstance(value, list):
        return float(sum(value))
    return float(value)


def scaled(value: Any, factor: float) -> Any:
    """``value`` times ``factor``: every number of a distribution (not ``cv``), list or scalar."""
    if isinstance(value, dict):
        return {
            k: (v * factor if isinstance(v, int | float) and k != "cv" else v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [v * factor for v in value]
    return value * factor


def _toml(value: Any) -> str:
    """A TOML literal of a scalar, list or inline table (for ``--set``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, float | np.floating):
        return repr(round(float(value), 9))
    return str(value)


def base_display(param: Parameter, resolved: dict[str, Any]) -> float:
    """The parameter's displayed value at base, in ``param.unit``."""
    return _magnitude(resolved_value(resolved, param.keys[0])) / param.per


def display(param: Parameter, resolved: dict[str, Any], setting: float) -> float:
    """The displayed value of a setting (a value, or a factor on the base), in ``param.unit``."""
    if param.kind == "scale":
        return base_display(param, resolved) * setting
    return setting / param.per


def overrides_for(param: Parameter, resolved: dict[str, Any], setting: float) -> list[str]:
    """``key=value`` overrides that put ``param`` at ``setting``."""
    out = []
    for key in param.keys:
        if param.kind == "scale":
            value = scaled(resolved_value(resolved, key), setting)
        else:
            base = resolved_value(resolved, key)
            value = int(round(setting)) if isinstance(base, int) else float(setting)
        out.append(f"{key}={_toml(value)}")
    return out + list(param.also)


def applicable(params: Sequence[Parameter], resolved: dict[str, Any]) -> list[Parameter]:
    """The parameters whose keys all exist in this scenario."""
    out = []
    for p in params:
        try:
            for key in p.keys:
                resolved_value(resolved, key)
        except KeyError:
            continue
        out.append(p)
    return out


# --------------------------------------------------------------------------------------
# Designs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One design point: a label, the settings it changes (name -> setting), its overrides."""

    label: str
    settings: tuple[tuple[str, float], ...]
    overrides: tuple[str, ...]


def oat_design(params: Sequence[Parameter], resolved: dict[str, Any]) -> list[Variant]:
    """Base, then each parameter at low and at high (the others at base)."""
    out = [Variant("base", (), ())]
    for p in params:
        for level, setting in (("low", p.low), ("high", p.high)):
            out.append(
                Variant(
                    f"{p.name}: {level}",
                    ((p.name, setting),),
                    tuple(overrides_for(p, resolved, setting)),
                )
            )
    return out


def morris_design(
    params: Sequence[Parameter],
    resolved: dict[str, Any],
    trajectories: int = MORRIS_TRAJECTORIES,
    levels: int = MORRIS_LEVELS,
    seed: int = 0,
) -> tuple[list[Variant], np.ndarray]:
    """Morris trajectories on the unit grid mapped linearly onto each [low, high].

    Returns the variants and the unit-cube points ``(trajectories, k+1, k)``; point
    ``j+1`` of a trajectory differs from point ``j`` in one coordinate by ±Δ,
    Δ = levels / (2 (levels - 1)).
    """
    k = len(params)
    rng = np.random.default_rng(seed)
    delta = levels / (2.0 * (levels - 1))
    grid = np.arange(levels) / (levels - 1)
    points = np.zeros((trajectories, k + 1, k))
    variants = []
    for t in range(trajectories):
        x = rng.choice(grid, size=k)
        points[t, 0] = x
        for j, i in enumerate(rng.permutation(k)):
            x = x.copy()
            x[i] = x[i] + delta if x[i] + delta <= 1.0 + 1e-9 else x[i] - delta
            points[t, j + 1] = x
        for j in range(k + 1):
            settings = tuple(
                (p.name, float(p.low + points[t, j, i] * (p.high - p.low)))
                for i, p in enumerate(params)
            )
            overrides = tuple(
                o for (p, (_, s)) in zip(params, settings, strict=True)
                for o in overrides_for(p, resolved, s)
            )
            variants.append(Variant(f"trajectory {t + 1} point {j}", settings, overrides))
    return variants, points


# --------------------------------------------------------------------------------------
# Evaluation (common random numbers: the same replication indices for every variant)
# --------------------------------------------------------------------------------------


def kpi_of(record: dict, kpi: str) -> float | None:
    """A KPI of one replication record: a study KPI, ``bottleneck_utilisation``, a system
    KPI, or a dotted path into the record (``legs.aktau_alat.utilisation``)."""
    if kpi == "bottleneck_utilisation":
        return record["bottleneck"]["utilisation"]
    if kpi in record["study"]:
        return record["study"][kpi]
    if kpi in record["system"]:
        return record["system"][kpi]
    node: Any = record
    for part in kpi.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"unknown KPI {kpi!r}")
        node = node[part]
    return node


def variant_job(
    scenario: Scenario, indices: list[int], kpis: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Replications ``indices`` of one variant, each reduced to its KPIs (small to send)."""
    from sim.model.corridor import run_replication

    loaded = [fid for fid, f in scenario.flows.items() if f.empties_of is None]
    out = []
    for r in indices:
        rec = run_replication(scenario, r)
        row: dict[str, Any] = {k: kpi_of(rec, k) for k in kpis}
        row["_bottleneck"] = rec["bottleneck"]["element"]
        row["_gridlock"] = rec["gridlock"] is not None
        row["_study_created_teu"] = rec["study"]["created_teu"]
        # demand (loaded boxes): the same in every variant under common random numbers;
        # empties are created at deliveries, so they move with the variant
        row["_system_created_teu"] = sum(rec["flows"][f]["created_teu"] for f in loaded)
        row["_wall_s"] = rec["perf"]["wall_s"]
        out.append(row)
    return out


def evaluate(
    scenarios: Sequence[Scenario],
    replications: int,
    spec: ExecutorSpec | None,
    kpis: Sequence[str],
) -> list[list[dict[str, Any]]]:
    """For each scenario, the KPIs of replications ``0..replications-1`` (in order).

    One executor task per variant (all its replications), so tasks last seconds.
    """
    from sim.experiments.executors import open_executor, run_tasks

    spec = spec or ExecutorSpec(quiet=True)
    indices = list(range(replications))
    with open_executor(spec) as ex:
        return run_tasks(
            ex,
            variant_job,
            [(s, indices, tuple(kpis)) for s in scenarios],
            [replications] * len(scenarios),
            "sensitivity runs",
            spec.quiet,
        )


def _parameter_row(p, x_low, x_base, x_high) -> dict[str, Any]:
    """The columns describing a varied parameter, shared by the OAT and Morris tables."""
    return {
        "parameter": p.name,
        "keys": list(p.keys),
        "kind": p.kind,
        "setting_low": p.low,
        "setting_high": p.high,
        "unit": p.unit,
        "x_low": x_low,
        "x_base": x_base,
        "x_high": x_high,
        "sources": p.sources,
        "basis": p.basis,
    }


STUDY_KPIS = FLOW_KPIS  # the study KPIs of a record are those of a flow
RECORD_SECTIONS = ("nodes", "legs", "fleets", "wagon_pools", "flows")


def check_kpis(kpis: Sequence[str], scenario: Scenario) -> None:
    """Raise :class:`~sim.errors.ScenarioError` (source ``--kpis``) for a KPI no record has.

    Accepted: a study or system KPI, ``bottleneck_utilisation``, or
    ``<nodes|legs|fleets|wagon_pools|flows>.<id>.<kpi>`` with an id of this scenario.
    """
    from sim.errors import ScenarioError

    if not kpis:
        raise ScenarioError("--kpis", None, "expected at least one KPI")
    for kpi in kpis:
        if kpi == "bottleneck_utilisation" or kpi in STUDY_KPIS:
            continue
        parts = kpi.split(".")
        if len(parts) == 3 and parts[0] in RECORD_SECTIONS:
            ids = getattr(scenario, parts[0])
            if parts[1] in ids:
                continue
            raise ScenarioError("--kpis", kpi, f"no {parts[0]} id {parts[1]!r} in this scenario")
        raise ScenarioError(
            "--kpis",
            kpi,
            "expected a study KPI (" + ", ".join(STUDY_KPIS) + "), bottleneck_utilisation, or "
            "<nodes|legs|fleets|wagon_pools|flows>.<id>.<kpi>",
        )


def _mean(values: Sequence[float | None]) -> float | None:
    return summarise(values)["mean"]


def oat_rows(
    params: Sequence[Parameter],
    resolved: dict[str, Any],
    results: list[list[dict[str, Any]]],
    kpis: Sequence[str],
) -> list[dict[str, Any]]:
    """One row per (parameter, KPI): settings, KPI at low/base/high, swing, elasticity.

    ``results[0]`` is the base, then low/high per parameter (as :func:`oat_design`).
    """
    base = results[0]
    rows = []
    for i, p in enumerate(params):
        low_r, high_r = results[1 + 2 * i], results[2 + 2 * i]
        x_b, x_l, x_h = (
            base_display(p, resolved),
            display(p, resolved, p.low),
            display(p, resolved, p.high),
        )
        for kpi in kpis:
            yb = [r[kpi] for r in base]
            yl = [r[kpi] for r in low_r]
            yh = [r[kpi] for r in high_r]
            diffs = [
                h - lo
                for h, lo in zip(yh, yl, strict=True)
                if h is not None and lo is not None
            ]
            sw = summarise(diffs)
            m_b, m_l, m_h = _mean(yb), _mean(yl), _mean(yh)
            elasticity = None
            if sw["mean"] is not None and m_b and x_b and x_h != x_l:
                elasticity = (sw["mean"] / m_b) / ((x_h - x_l) / x_b)
            rows.append(
                {
                    **_parameter_row(p, x_l, x_b, x_h),
                    "kpi": kpi,
                    "kpi_low": m_l,
                    "kpi_base": m_b,
                    "kpi_high": m_h,
                    "swing": sw["mean"],
                    "swing_ci95_low": sw["ci95_low"],
                    "swing_ci95_high": sw["ci95_high"],
                    "elasticity": elasticity,
                    "bottleneck_low": _mode([r["_bottleneck"] for r in low_r]),
                    "bottleneck_high": _mode([r["_bottleneck"] for r in high_r]),
                    "gridlocks": sum(r["_gridlock"] for r in low_r + high_r),
                }
            )
    return rows


def _mode(values: list[str | None]) -> str | None:
    known = [v for v in values if v]
    return max(sorted(set(known)), key=known.count) if known else None


def morris_rows(
    params: Sequence[Parameter],
    resolved: dict[str, Any],
    points: np.ndarray,
    results: list[list[dict[str, Any]]],
    kpis: Sequence[str],
) -> list[dict[str, Any]]:
    """One row per (parameter, KPI): ``mu_star``, ``mu``, ``sigma`` of the elementary
    effects, in KPI units per low->high range of the parameter."""
    n_traj, n_pts, k = points.shape
    rows = []
    for kpi in kpis:
        means = [_mean([r[kpi] for r in res]) for res in results]
        y = np.array([np.nan if m is None else m for m in means], dtype=float).reshape(
            n_traj, n_pts
        )
        effects: list[list[float]] = [[] for _ in range(k)]
        for t in range(n_traj):
            for j in range(k):
                step = points[t, j + 1] - points[t, j]
                i = int(np.flatnonzero(step)[0])
                ee = (y[t, j + 1] - y[t, j]) / step[i]
                if np.isfinite(ee):
                    effects[i].append(float(ee))
        for i, p in enumerate(params):
            e = np.asarray(effects[i])
            rows.append(
                {
                    **_parameter_row(
                        p,
                        display(p, resolved, p.low),
                        base_display(p, resolved),
                        display(p, resolved, p.high),
                    ),
                    "kpi": kpi,
                    "mu_star": float(np.abs(e).mean()) if len(e) else None,
                    "mu": float(e.mean()) if len(e) else None,
                    "sigma": float(e.std(ddof=1)) if len(e) > 1 else None,
                    "effects": len(e),
                }
            )
    return rows


# --------------------------------------------------------------------------------------
# The whole analysis
# --------------------------------------------------------------------------------------


def run_sensitivity(
    path: str | Path,
    overrides: Sequence[str | tuple[str, str]] = (),
    method: str = "oat",
    replications: int = DEFAULT_REPLICATIONS,
    spec: ExecutorSpec | None = None,
    kpis: Sequence[str] = DEFAULT_KPIS,
    params: Sequence[Parameter] = PARAMETERS,
    trajectories: int = MORRIS_TRAJECTORIES,
) -> dict[str, Any]:
    """Run the design on the scenario at ``path`` (with ``overrides``) and tabulate it.

    Returns ``{"meta", "parameters", "variants", "rows"}``; rows as :func:`oat_rows` or
    :func:`morris_rows`. Parameters whose keys the scenario lacks are skipped (listed in
    ``meta["skipped"]``).
    """
    import time

    t0 = time.perf_counter()
    base = load_scenario(path, list(overrides))
    check_kpis(kpis, base.model)
    resolved = base.resolved
    usable = applicable(params, resolved)
    skipped = [p.name for p in params if p not in usable]
    if method == "oat":
        variants = oat_design(usable, resolved)
        points = None
    elif method == "morris":
        variants, points = morris_design(
            usable, resolved, trajectories, seed=base.model.scenario.seed
        )
    else:
        raise ValueError(f"unknown method {method!r} (expected oat or morris)")
    scenarios = [
        base.model if not v.overrides else load_scenario(path, [*overrides, *v.overrides]).model
        for v in variants
    ]
    results = evaluate(scenarios, replications, spec, kpis)
    if method == "oat":
        rows = oat_rows(usable, resolved, results, kpis)
    else:
        assert points is not None
        rows = morris_rows(usable, resolved, points, results, kpis)
    settings = base.model.scenario
    meta = {
        "scenario": settings.name,
        "file": str(path),
        "sha256": base.sha256,
        "method": method,
        "replications": replications,
        "seed": settings.seed,
        "horizon_days": settings.horizon_days,
        "warmup_days": settings.warmup_days,
        "kpis": list(kpis),
        "variants": len(variants),
        "runs": len(variants) * replications,
        "trajectories": trajectories if method == "morris" else None,
        "skipped": skipped,
        "wall_s": time.perf_counter() - t0,
        "gridlocked_runs": sum(r["_gridlock"] for res in results for r in res),
    }
    return {
        "meta": meta,
        "parameters": [
            {
                "name": p.name,
                "keys": list(p.keys),
                "kind": p.kind,
                "low": p.low,
                "high": p.high,
                "unit": p.unit,
                "x_low": display(p, resolved, p.low),
                "x_base": base_display(p, resolved),
                "x_high": display(p, resolved, p.high),
                "sources": p.sources,
                "basis": p.basis,
            }
            for p in usable
        ],
        "variants": [
            {
                "label": v.label,
                "overrides": list(v.overrides),
                "kpis": {k: summarise(r[k] for r in res) for k in kpis},
                "study_created_teu": [r["_study_created_teu"] for r in res],
                "system_created_teu": [r["_system_created_teu"] for r in res],
                "bottleneck": _mode([r["_bottleneck"] for r in res]),
            }
            for v, res in zip(variants, results, strict=True)
        ],
        "rows": rows,
    }


def ranked(rows: list[dict[str, Any]], kpi: str) -> list[dict[str, Any]]:
    """The rows of one KPI, largest effect first (|swing| or mu*)."""

    def size(r: dict[str, Any]) -> float:
        v = r.get("swing", r.get("mu_star"))
        return -abs(v) if v is not None else 0.0

    return sorted((r for r in rows if r["kpi"] == kpi), key=size)


def significant(row: dict[str, Any]) -> bool:
    """The paired 95% CI of an OAT swing excludes 0 (always true without a CI)."""
    lo, hi = row.get("swing_ci95_low"), row.get("swing_ci95_high")
    if lo is None or hi is None:
        return True
    return lo > 0 or hi < 0


def _fmt_x(x: float | None) -> str:
    """A parameter value: no decimals from 100, one from 10, else two."""
    if x is None or not math.isfinite(x):
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def _fmt(x: float | None, digits: int = 2) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def format_table(result: dict[str, Any], top: int | None = None) -> str:
    """Plain-text tables, one per KPI, largest effect first."""
    meta = result["meta"]
    lines = [
        f"Sensitivity ({meta['method']}) of {meta['scenario']}: {meta['variants']} variants x "
        f"{meta['replications']} replications (common random numbers), horizon "
        f"{meta['horizon_days']:g} d (warm-up {meta['warmup_days']:g} d), "
        f"{meta['wall_s']:.0f} s",
    ]
    if horizon_note(meta):
        lines.append(f"Horizon: {horizon_note(meta)}.")
    if meta["skipped"]:
        lines.append("Skipped (keys not in this scenario): " + ", ".join(meta["skipped"]))
    if meta["method"] == "oat":
        lines.append("swing = KPI(high) - KPI(low); * = its paired 95% CI excludes 0")
    for kpi in meta["kpis"]:
        label, unit = KPI_LABELS.get(kpi, (kpi, ""))
        rows = ranked(result["rows"], kpi)[:top]
        lines += ["", f"{label} ({unit}) — {kpi}"]
        if meta["method"] == "oat":
            base = rows[0]["kpi_base"] if rows else None
            lines.append(f"base: {_fmt(base)}")
            lines.append(
                f"{'parameter':<30}{'low':>10}{'high':>10}  {'unit':<12}{'KPI low':>9}"
                f"{'KPI high':>9}{'swing':>8}  {'95% CI':>15}{'elast.':>8}"
            )
            for r in rows:
                ci = f"[{_fmt(r['swing_ci95_low'])}, {_fmt(r['swing_ci95_high'])}]"
                ci += "*" if significant(r) else " "
                lines.append(
                    f"{r['parameter'][:29]:<30}{_fmt_x(r['x_low']):>10}{_fmt_x(r['x_high']):>10}  "
                    f"{r['unit'][:11]:<12}{_fmt(r['kpi_low']):>9}{_fmt(r['kpi_high']):>9}"
                    f"{_fmt(r['swing']):>8}  {ci:>15}{_fmt(r['elasticity']):>8}"
                )
        else:
            lines.append(
                f"{'parameter':<30}{'low':>10}{'high':>10}  {'unit':<12}{'mu*':>9}{'mu':>9}"
                f"{'sigma':>9}"
            )
            for r in rows:
                lines.append(
                    f"{r['parameter'][:29]:<30}{_fmt_x(r['x_low']):>10}{_fmt_x(r['x_high']):>10}  "
                    f"{r['unit'][:11]:<12}{_fmt(r['mu_star']):>9}{_fmt(r['mu']):>9}"
                    f"{_fmt(r['sigma']):>9}"
                )
    return "\n".join(lines)


def format_markdown(result: dict[str, Any], top: int | None = None) -> str:
    """The tables as Markdown (for docs), one per KPI, largest effect first."""
    meta = result["meta"]
    out = [
        f"Sensitivity ({meta['method']}) of `{meta['scenario']}`: {meta['variants']} variants × "
        f"{meta['replications']} replications with common random numbers, horizon "
        f"{meta['horizon_days']:g} d (warm-up {meta['warmup_days']:g} d)."
        + (f" Horizon: {horizon_note(meta)}." if horizon_note(meta) else ""),
    ]
    if meta["method"] == "oat":
        out.append(
            "Swing = KPI(high) − KPI(low) with the 95% t-interval of the paired differences "
            "(* = excludes 0); elasticity = (swing / KPI(base)) / ((high − low) / base)."
        )
    for kpi in meta["kpis"]:
        label, unit = KPI_LABELS.get(kpi, (kpi, ""))
        rows = ranked(result["rows"], kpi)[:top]
        out += ["", f"**{label} ({unit})**", ""]
        if meta["method"] == "oat":
            base = rows[0]["kpi_base"] if rows else None
            out[-2] += f" — base {_fmt(base)}"
            out += [
                "| parameter (keys) | low | base | high | unit | KPI at low | KPI at high | "
                "swing [95% CI] | elasticity | sources |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for r in rows:
                out.append(
                    f"| {r['parameter']} (`{', '.join(r['keys'])}`) | {_fmt_x(r['x_low'])} | "
                    f"{_fmt_x(r['x_base'])} | {_fmt_x(r['x_high'])} | {r['unit']} | "
                    f"{_fmt(r['kpi_low'])} | {_fmt(r['kpi_high'])} | {_fmt(r['swing'])} "
                    f"[{_fmt(r['swing_ci95_low'])}, {_fmt(r['swing_ci95_high'])}]"
                    f"{'*' if significant(r) else ''} | "
                    f"{_fmt(r['elasticity'])} | {r['sources']} |"
                )
        else:
            out += [
                "| parameter (keys) | low | high | unit | mu* | mu | sigma | sources |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for r in rows:
                out.append(
                    f"| {r['parameter']} (`{', '.join(r['keys'])}`) | {_fmt_x(r['x_low'])} | "
                    f"{_fmt_x(r['x_high'])} | {r['unit']} | {_fmt(r['mu_star'])} | "
                    f"{_fmt(r['mu'])} | {_fmt(r['sigma'])} | {r['sources']} |"
                )
    return "\n".join(out) + "\n"


CSV_COLUMNS = (
    "kpi",
    "parameter",
    "keys",
    "unit",
    "x_low",
    "x_base",
    "x_high",
    "kpi_low",
    "kpi_base",
    "kpi_high",
    "swing",
    "swing_ci95_low",
    "swing_ci95_high",
    "elasticity",
    "mu_star",
    "mu",
    "sigma",
    "sources",
    "basis",
)


def write_csv(path: Path, result: dict[str, Any]) -> None:
    """``sensitivity.csv``: one row per (KPI, parameter), largest effect first per KPI."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for kpi in result["meta"]["kpis"]:
            for r in ranked(result["rows"], kpi):
                vals = []
                for c in CSV_COLUMNS:
                    v = r.get(c)
                    if c == "keys":
                        v = " ".join(r["keys"])
                    if isinstance(v, float):
                        v = repr(round(v, 6)) if math.isfinite(v) else ""
                    vals.append("" if v is None else v)
                w.writerow(vals)
