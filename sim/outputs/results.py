"""The files of a results folder: summary.json, CSVs, resolved scenario, plots/.

A run folder (:func:`write_run_files`) and a comparison folder
(:func:`write_comparison_files`) are written by the command line and the Python API
(:mod:`sim.api`) through the same functions. The per-element tables (nodes.csv, legs.csv,
flows.csv) are :mod:`sim.outputs.tables`; every column is described in docs/outputs.md.

Where the folder goes, and how it is kept safe (marker, lock, hidden partial
folder renamed into place), is :mod:`sim.outputs.results_folder`.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np


def default_out_dir(root: Path, scenario_name: str) -> Path:
    """``root/<scenario>/<UTC timestamp>`` (with a suffix if that already exists)."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    base = root / scenario_name / stamp
    out, k = base, 1
    while out.exists():
        k += 1
        out = base.with_name(f"{stamp}-{k}")
    return out


def _clean(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to null."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def json_safe(obj: Any) -> Any:
    """What ``write_json`` writes, as Python objects (the dict ``json.load`` gives back)."""
    return json.loads(json.dumps(_clean(obj), allow_nan=False))


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(_clean(obj), indent=2, allow_nan=False) + "\n", encoding="utf-8")


def csv_cell(v: Any) -> Any:
    """One CSV cell: empty for None/NaN/inf, floats rounded to 6 decimals, booleans
    ``true``/``false`` (every CSV of a results folder writes them so)."""
    if v is None:
        return ""
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating):
        v = float(v)
        return "" if not math.isfinite(v) else repr(round(v, 6))
    return v



STREAM_COLUMNS = ("replication", "seed", "seed_sequence")
"""What identifies a replication's random numbers: every stream of replication ``r`` of a
run with base ``seed`` is ``SeedSequence([seed, r, crc32(input name)])``
(:mod:`sim.model.random_streams`)."""


def stream_cells(seed: int, replication: int) -> list[Any]:
    """The :data:`STREAM_COLUMNS` of one replication."""
    return [replication, seed, f"[{seed}, {replication}, crc32(input)]"]


def write_replications_csv(path: Path, records: list[dict], seed: int) -> None:
    """One row per replication: what keyed its random streams (base seed and replication
    index), system and study KPIs, bottleneck, gridlock (true/false), cost."""
    system_keys = list(records[0]["system"])
    study_keys = list(records[0]["study"])
    header = [*STREAM_COLUMNS] + system_keys + [f"study_{k}" for k in study_keys]
    header += ["bottleneck", "bottleneck_utilisation", "gridlock", "wall_s", "events"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in records:
            w.writerow(
                stream_cells(seed, r["replication"])
                + [csv_cell(r["system"][k]) for k in system_keys]
                + [csv_cell(r["study"][k]) for k in study_keys]
                + [
                    r["bottleneck"]["element"] or "",
                    csv_cell(r["bottleneck"]["utilisation"]),
                    csv_cell(bool(r["gridlock"])),
                    csv_cell(r["perf"]["wall_s"]),
                    r["perf"]["events"],
                ]
            )


NOMINAL_START = "2025-01-01"  # as sim.model.calendar.NOMINAL_START (no start_date)


def _start(record: dict) -> np.datetime64:
    return np.datetime64(record.get("start_date") or NOMINAL_START, "D")


def write_timeseries_csv(path: Path, records: list[dict]) -> None:
    """Daily per node and replication: mean TEU at the node, yard TEU, TEU departed; each
    day with its date (``day`` 0 is the start date)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["replication", "day", "date", "node", "teu_at_node", "yard_teu", "departed_teu"]
        )
        for r in records:
            n_days = max((len(s["teu_at_node"]) for s in r["series"]["nodes"].values()), default=0)
            dates = np.datetime_as_string(_start(r) + np.arange(n_days))
            for nid, s in r["series"]["nodes"].items():
                cols = [np.round(s[k], 3) for k in ("teu_at_node", "yard_teu", "departed_teu")]
                for day in range(len(cols[0])):
                    w.writerow(
                        [r["replication"], day, dates[day], nid]
                        + [repr(float(c[day])) for c in cols]
                    )


MONTHLY_KPIS = (
    "created_teu",
    "delivered_teu",
    "transit_days_mean",
    "transit_days_p50",
    "transit_days_p95",
)


def write_monthly_csv(path: Path, records: list[dict]) -> None:
    """One row per replication x month x flow, by the month the boxes were created
    (booked): TEU created, TEU of those delivered by the end of the run, their transit
    mean, P50 and P95 (days; empty when none was delivered)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["replication", "month", "flow", *MONTHLY_KPIS])
        for r in records:
            monthly = r["monthly"]
            for k, month in enumerate(monthly["months"]):
                for fid, cols in monthly["flows"].items():
                    w.writerow(
                        [r["replication"], month, fid]
                        + [csv_cell(float(cols[kpi][k])) for kpi in MONTHLY_KPIS]
                    )


ROUTE_KPIS = (
    "offered_teu", "booked_teu", "refused_teu", "delivered_teu", "share",
    "generalised_cost_usd_per_teu", "expected_transit_days",
)


def write_routes_csv(path: Path, records: list[dict]) -> None:
    """One row per replication x month x market x route alternative, by the month of
    booking: TEU offered (first choice), booked, refused (first choice, booked elsewhere),
    delivered by the end of the run; share of the market's booked TEU; mean generalised
    cost (USD/TEU) and expected transit (days) of the month's decisions. A row with route
    ``(lost)`` holds TEU no open alternative would take."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["replication", "month", "market", "route", *ROUTE_KPIS])
        for r in records:
            months = r["monthly"]["months"]
            for mid, market in (r.get("routes") or {}).items():
                for k, month in enumerate(months):
                    for rid, cols in market["alternatives"].items():
                        w.writerow([r["replication"], month, mid, rid]
                                   + [csv_cell(float(cols[c][k])) for c in ROUTE_KPIS])
                    lost = float(market["lost_teu"][k])
                    if lost > 0:
                        w.writerow([r["replication"], month, mid, "(lost)", lost, 0.0, lost,
                                    0.0, "", "", ""])


def month_hours(record: dict) -> np.ndarray:
    """Hours of the run in each month of ``record["monthly"]["months"]`` (the first and
    last may be partial)."""
    months = np.array(record["monthly"]["months"], dtype="datetime64[M]")
    start = np.datetime64(record.get("start_date") or NOMINAL_START, "h")
    edges = np.append(months, months[-1] + 1).astype("datetime64[h]") if len(months) else months
    hours = (edges - start).astype(np.float64)
    hours = np.clip(hours, 0.0, float(record["end_h"]))
    return np.diff(hours)


def write_legs_monthly_csv(path: Path, records: list[dict]) -> None:
    """One row per replication x month x leg (``fleet`` empty), and per fleet and leg it
    sailed (a fleet carrying cargo back sails on its return leg too): departures, per
    week of the month, TEU loaded and empty, by the month of departure."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["replication", "month", "leg", "fleet", "mode", "departures",
             "departures_per_week", "teu_loaded", "teu_empty"]
        )
        for r in records:
            lm = r["legs_monthly"]
            weeks = month_hours(r) / 168.0
            rows: list[tuple[str, str, str, dict]] = [
                (lid, "", r["legs"][lid]["mode"], cols) for lid, cols in lm["legs"].items()
            ]
            rows += [
                (lid, fid, "sea", cols)
                for fid, by_leg in lm["fleets"].items()
                for lid, cols in by_leg.items()
            ]
            for k, month in enumerate(lm["months"]):
                for lid, fid, mode, cols in rows:
                    n = int(cols["departures"][k])
                    w.writerow(
                        [r["replication"], month, lid, fid, mode, n,
                         csv_cell(float(n / weeks[k])) if weeks[k] > 0 else "",
                         csv_cell(float(cols["teu_loaded"][k])),
                         csv_cell(float(cols["teu_empty"][k]))]
                    )


def write_run_files(
    folder: Path,
    loaded: Any,
    summary: dict,
    records: list[dict],
    plots: bool = True,
    report: bool = False,
    provenance: dict | None = None,
) -> None:
    """Write a run's files into ``folder`` (the hidden folder that becomes the results folder):
    provenance.json (when given: :func:`sim.scenario.provenance.provenance_document`),
    summary.json, scenario.resolved.json, replications.csv, nodes.csv, legs.csv, flows.csv,
    timeseries.csv, monthly.csv, legs_monthly.csv, routes.csv (with markets), plots/, report."""
    from sim.outputs.tables import write_element_tables

    if provenance is not None:
        from sim.scenario.provenance import PROVENANCE_NAME

        text = json.dumps(provenance, indent=2, ensure_ascii=False)  # as write_provenance
        (folder / PROVENANCE_NAME).write_text(text + "\n", encoding="utf-8")
    write_json(folder / "summary.json", summary)
    write_json(folder / "scenario.resolved.json", loaded.resolved)
    write_replications_csv(folder / "replications.csv", records, loaded.model.scenario.seed)
    write_element_tables(folder, loaded.model, records)
    write_timeseries_csv(folder / "timeseries.csv", records)
    write_monthly_csv(folder / "monthly.csv", records)
    write_legs_monthly_csv(folder / "legs_monthly.csv", records)
    if loaded.model.markets:
        write_routes_csv(folder / "routes.csv", records)
    if plots:
        from sim.outputs.plots import write_run_plots
        from sim.outputs.plots_map import route_map

        write_run_plots(records, loaded.model, folder / "plots")
        route_map(loaded.model, summary, folder / "plots" / "route_map.png")
        if loaded.model.markets:
            from sim.outputs.plots_routes import write_routes_plot

            write_routes_plot(records, loaded.model, folder / "plots")
    if report:
        from sim.outputs.report import write_report

        write_report(folder)


def write_comparison_csv(
    path: Path, comp: dict, values: dict[str, dict[str, list]]
) -> None:
    """A comparison's ``replications.csv``: one row per scenario and replication, what
    keyed its random streams (the same for every scenario: common random numbers) and
    the comparison KPIs."""
    kpis = comp["kpis"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["scenario", *STREAM_COLUMNS, *kpis])
        for name in comp["order"]:
            for r in range(comp["replications"]):
                row = [values[name][k][r] for k in kpis]
                w.writerow([name, *stream_cells(comp["seed"], r)] + [csv_cell(v) for v in row])


def write_comparison_files(
    folder: Path,
    scenarios: list[Any],
    comp: dict,
    records: list[list[dict]],
    plots: bool = True,
    report: bool = False,
) -> None:
    """Write a comparison's files into ``folder``: comparison.json, replications.csv,
    scenarios/<name>/ (summary.json, scenario.resolved.json, nodes.csv, legs.csv,
    flows.csv, monthly.csv, routes.csv with markets), plots/, report."""
    from sim.experiments.compare import kpi_values
    from sim.outputs.tables import write_element_tables

    write_json(folder / "comparison.json", comp)
    write_comparison_csv(folder / "replications.csv", comp, kpi_values(scenarios, records))
    for ld, recs in zip(scenarios, records, strict=True):
        sub = folder / "scenarios" / ld.model.scenario.name
        sub.mkdir(parents=True)
        write_json(sub / "summary.json", comp["scenarios"][ld.model.scenario.name]["summary"])
        write_json(sub / "scenario.resolved.json", ld.resolved)
        write_element_tables(sub, ld.model, recs)
        write_monthly_csv(sub / "monthly.csv", recs)
        if ld.model.markets:
            write_routes_csv(sub / "routes.csv", recs)
    if plots:
        _comparison_plots(folder / "plots", scenarios, comp, records)
    if report:
        from sim.outputs.report import write_report

        write_report(folder)


def _comparison_plots(
    plots: Path, scenarios: list[Any], comp: dict, records: list[list[dict]]
) -> None:
    """KPI bars, forest plot, transit CDFs, the base's route map and a change map per
    alternative."""
    from sim.outputs.plots_compare import forest, kpi_bars, transit_cdfs
    from sim.outputs.plots_map import change_map, route_map

    plots.mkdir()
    kpi_bars(comp, plots / "kpi_bars.png")
    forest(comp, plots / "forest.png")
    samples = {
        ld.model.scenario.name: np.concatenate([r["transit_days"] for r in recs])
        for ld, recs in zip(scenarios, records, strict=True)
    }
    transit_cdfs(samples, plots / "transit_cdfs.png")
    base = scenarios[0].model
    base_summary = comp["scenarios"][base.scenario.name]["summary"]
    route_map(base, base_summary, plots / "route_map.png")
    for ld in scenarios[1:]:
        name = ld.model.scenario.name
        change_map(
            base,
            base_summary,
            ld.model,
            comp["scenarios"][name]["summary"],
            plots / f"route_map_change_{name}.png",
        )
