"""The Python API, for notebooks and scripts: run or compare scenarios, read the numbers,
save the results folder the command line would write.

    import sim
    r = sim.run("scenarios/baseline.toml", replications=2,
                set=["fleets.caspian_feeders.vessels=8"])
    r.summary            # the dict summary.json holds
    r.kpis               # one row per KPI: mean, 95% CI, n, unit (a pandas DataFrame
                         # when pandas is installed, else a list of dicts)
    r.save("results/8ships")   # what `corridor run ... --out results/8ships` writes

    c = sim.compare(["scenarios/baseline.toml", "scenarios/invest_caspian_ships.toml"])
    c.summary            # the dict comparison.json holds; c.kpis, c.save(folder)

Keyword arguments mirror the command's options (``replications``, ``seed``,
``horizon_days`` in days incl. the warm-up, ``set`` for ``--set``, ``workers``,
``scheduler``, ``dask_local``; ``run`` also ``target_ci``, ``target_kpi``,
``max_replications``), and go through the same checks and code as the command line
(:mod:`sim.commands.run`, :mod:`sim.commands.compare`), so the numbers are the same for
the same seed. Bad input raises :class:`~sim.errors.ScenarioError` whose ``str()`` is the
one-line message the command line prints after ``corridor: error:``; a run stopped by its
surroundings raises :class:`~sim.errors.RunFault`. ``save`` follows the command line's
folder rules (:mod:`sim.outputs.results_folder`): it writes a new folder, or replaces one
of this tool's own with ``force=True``, and refuses anything else.
"""

from __future__ import annotations

import argparse
import functools
import operator
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sim.errors import RunFault, ScenarioError

__all__ = ["ComparisonResult", "RunResult", "compare", "kpi_unit", "run"]

F = TypeVar("F", bound=Callable[..., Any])

UNITS = (  # (part of a KPI name, unit), first match wins
    ("usd_per_teu", "USD/TEU"),
    ("kg_per_teu", "kg CO2/TEU"),
    ("teu_per_week", "TEU/week"),
    ("teu_per_year", "TEU/year"),
    ("days", "days"),
    ("utilisation", "fraction"),
    ("share", "fraction"),
    ("_h_", "h"),
    ("teu", "TEU"),
)


def kpi_unit(kpi: str) -> str:
    """The unit of a KPI, read from its name (``transit_days_p95`` -> ``days``;
    utilisations and shares are fractions 0..1)."""
    for part, unit in UNITS:
        if part in kpi or (part == "_h_" and kpi.endswith("_h")):
            return unit
    return ""


def _public(fn: F) -> F:
    """Raise the project's errors from the API call itself, not from deep inside it: the
    message is what counts (the one line the command line prints)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ScenarioError, RunFault) as exc:
            error = exc.with_traceback(None)
        raise error from None

    return wrapper  # type: ignore[return-value]


# --------------------------------------------------------------------------------------
# Arguments: the command line's checks, with its flag names in the messages
# --------------------------------------------------------------------------------------


def _count(flag: str, value: Any, maximum: int | None = None) -> int | None:
    """A whole number >= 1 (and <= ``maximum``), checked as the command line checks it."""
    from sim.commands.common import positive_int

    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise ScenarioError(flag, None, f"expected a whole number, got {value!r}") from None
    try:
        return positive_int(maximum)(str(number))
    except argparse.ArgumentTypeError as exc:
        raise ScenarioError(flag, None, str(exc)) from None


def _number(flag: str, value: Any, whole: bool = False) -> Any:
    """A number (``whole``: an integer) or None; the message is argparse's."""
    if value is None:
        return None
    try:
        if isinstance(value, bool | str):
            raise TypeError
        return operator.index(value) if whole else float(value)
    except (TypeError, ValueError):
        kind = "int" if whole else "float"
        raise ScenarioError(flag, None, f"invalid {kind} value: {value!r}") from None


def _path(value: Any) -> Path:
    """A scenario file name."""
    if isinstance(value, bool) or not isinstance(value, str | os.PathLike):
        raise ScenarioError("scenario", None, f"expected a scenario file path, got {value!r}")
    return Path(value)


def _sets(values: str | Sequence[str]) -> list[str]:
    """``set=`` as a list of ``key.path=value`` strings (one string is one override)."""
    items = [values] if isinstance(values, str) else list(values)
    for item in items:
        if not isinstance(item, str):
            raise ScenarioError("--set", None, f"expected 'key.path=value', got {item!r}")
    return items


def _namespace(
    *,
    replications: Any,
    seed: Any,
    horizon_days: Any,
    set: str | Sequence[str],  # the command line's --set (shadows the builtin here)
    workers: Any,
    scheduler: str | None,
    dask_local: Any,
    progress: bool,
) -> argparse.Namespace:
    """The options the command line would have parsed, checked the same way."""
    from sim.commands.common import MAX_REPLICATIONS

    return argparse.Namespace(
        replications=_count("--replications", replications, MAX_REPLICATIONS),
        seed=_number("--seed", seed, whole=True),
        horizon_days=_number("--horizon-days", horizon_days),
        overrides=_sets(set),
        workers=_count("--workers", workers),
        scheduler=scheduler,
        dask_local=_count("--dask-local", dask_local),
        quiet=not progress,
    )


def _call_text(name: str, positional: Any, **options: Any) -> str:
    """How the result was made, for provenance: ``sim.run('a.toml', seed=7)``."""
    shown = [repr(positional)] + [
        f"{k}={v!r}" for k, v in options.items() if v not in (None, (), [], False)
    ]
    return f"sim.{name}({', '.join(shown)})"


def _table(rows: list[dict[str, Any]]) -> Any:
    """A pandas DataFrame of ``rows`` when pandas is installed, else the rows."""
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows)


def _kpi_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per KPI of a run summary (the bottleneck's utilisation included)."""
    kpis = dict(summary.get("kpis") or {})
    bottleneck = (summary.get("bottleneck") or {}).get("utilisation")
    if "bottleneck_utilisation" not in kpis and isinstance(bottleneck, dict):
        kpis["bottleneck_utilisation"] = bottleneck
    return [
        {
            "kpi": kpi,
            "mean": s.get("mean"),
            "ci95_low": s.get("ci95_low"),
            "ci95_high": s.get("ci95_high"),
            "n": s.get("n"),
            "unit": kpi_unit(kpi),
        }
        for kpi, s in kpis.items()
        if isinstance(s, dict) and "mean" in s
    ]


def _publish(
    folder: str | Path | None, kind: str, name: str, force: bool, fill: Callable[[Path], None]
) -> Path:
    """Write a results folder by the command line's rules: ``fill`` the hidden folder, then
    rename it to ``folder`` (default ``results/<name>/<UTC timestamp>/``)."""
    from sim.outputs.results import default_out_dir
    from sim.outputs.results_folder import open_results

    out = Path(folder) if folder is not None else default_out_dir(Path("results"), name)
    with open_results(out, kind, force) as target:
        fill(target.tmp)
        return target.publish()


# --------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """The outcome of :func:`run`: the numbers in memory, and :meth:`save`."""

    scenario: Path
    """The scenario file."""
    summary: dict[str, Any] = field(repr=False)
    """What ``summary.json`` holds (as ``json.load`` would give it)."""
    records: list[dict[str, Any]] = field(repr=False)
    """One record per replication (:func:`sim.model.measure.measure`), in index order."""
    loaded: Any = field(repr=False)
    """The scenario as loaded (:class:`sim.scenario.loader.LoadedScenario`)."""
    provenance: dict[str, Any] = field(repr=False)
    """What ``provenance.json`` holds: each input's source, read when the run was made."""
    folder: Path | None = None
    """Where :meth:`save` last wrote the results folder."""
    raw_summary: dict[str, Any] = field(default_factory=dict, repr=False)
    """The summary as built (numpy values and NaN kept): what the folder is written from."""

    @property
    def kpis(self) -> Any:
        """One row per KPI: ``kpi, mean, ci95_low, ci95_high, n, unit`` (a pandas DataFrame
        when pandas is installed, else a list of dicts)."""
        return _table(_kpi_rows(self.summary))

    def __repr__(self) -> str:
        s = self.summary
        top = s["bottleneck"]
        rho = (top.get("utilisation") or {}).get("mean")
        where = f"; bottleneck {top['element']}" + (f" (ρ {rho:.2f})" if rho is not None else "")
        saved = f"; saved in {self.folder}" if self.folder else ""
        return (
            f"<RunResult {s['scenario']['name']}: {s['replications']} replication(s), seed "
            f"{s['seed']}, horizon {s['horizon_days']:g} d{where if top['element'] else ''}"
            f"{saved}>"
        )

    @property
    def gridlock(self) -> list[dict[str, Any]]:
        """The replications that stopped in gridlock (empty: none)."""
        return self.summary["gridlock"]

    @_public
    def save(
        self,
        folder: str | Path | None = None,
        force: bool = False,
        plots: bool = True,
        report: bool = False,
    ) -> Path:
        """Write the results folder ``corridor run --out FOLDER`` writes (default:
        ``results/<scenario>/<UTC timestamp>/``); ``force`` replaces a results folder of
        this tool's own, anything else that exists is refused. Returns the folder."""
        from sim.outputs.results import write_run_files

        def fill(tmp: Path) -> None:
            write_run_files(
                tmp, self.loaded, self.raw_summary, self.records, plots, report, self.provenance
            )

        self.folder = _publish(folder, "run", self.loaded.model.scenario.name, force, fill)
        return self.folder


@_public
def run(
    scenario: str | Path,
    *,
    replications: int | None = None,
    seed: int | None = None,
    horizon_days: float | None = None,
    set: str | Sequence[str] = (),  # the command line's --set (shadows the builtin here)
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
    target_ci: float | None = None,
    target_kpi: str | None = None,
    max_replications: int | None = None,
    progress: bool = False,
) -> RunResult:
    """Simulate a scenario as ``corridor run`` does, without writing anything.

    ``replications``, ``seed`` and ``horizon_days`` (days, warm-up included) override the
    scenario's; ``set`` is a list of ``"key.path=value"`` overrides; ``workers`` local
    processes (default: all cores), or a Dask ``scheduler`` address or ``dask_local``
    cluster size; ``target_ci`` (with ``target_kpi``, ``max_replications``) adds
    replications until the 95% CI half-width is at most that share of the mean;
    ``progress`` shows the progress bar.
    """
    from sim.commands.common import MAX_REPLICATIONS, executor_spec, flag_overrides
    from sim.commands.run import Precision, gridlock_lines, prepare_run, simulate_run
    from sim.outputs.results import json_safe
    from sim.scenario.provenance import provenance_document

    args = _namespace(
        replications=replications, seed=seed, horizon_days=horizon_days, set=set,
        workers=workers, scheduler=scheduler, dask_local=dask_local, progress=progress,
    )
    default = Precision()
    precision = Precision(
        _number("--target-ci", target_ci),
        default.kpi if target_kpi is None else str(target_kpi),
        _count("--max-replications", max_replications, MAX_REPLICATIONS)
        or default.max_replications,
    )
    path = _path(scenario)
    overrides = flag_overrides(args)
    loaded, spec = prepare_run(path, overrides, executor_spec(args), precision)
    call = _call_text(
        "run", str(scenario), replications=replications, seed=seed,
        horizon_days=horizon_days, set=args.overrides, target_ci=target_ci,
        target_kpi=target_kpi, max_replications=max_replications,
    )
    summary, records = simulate_run(loaded, spec, call, precision)
    result = RunResult(
        scenario=path,
        summary=json_safe(summary),
        records=records,
        loaded=loaded,
        provenance=provenance_document(path, overrides),
        raw_summary=summary,
    )
    for line in gridlock_lines(summary):
        warnings.warn(line, RuntimeWarning, stacklevel=3)
    return result


# --------------------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------------------


@dataclass
class ComparisonResult:
    """The outcome of :func:`compare`: the numbers in memory, and :meth:`save`."""

    scenarios: list[Path]
    """The scenario files, the base first."""
    summary: dict[str, Any] = field(repr=False)
    """What ``comparison.json`` holds (as ``json.load`` would give it): per scenario its
    run summary, the paired differences to the base, the economics and the ranking."""
    records: dict[str, list[dict[str, Any]]] = field(repr=False)
    """Per scenario name, one record per replication (daily series dropped)."""
    loaded: list[Any] = field(repr=False)
    folder: Path | None = None
    raw_summary: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def kpis(self) -> Any:
        """One row per scenario × KPI: ``scenario, kpi, mean, ci95_low, ci95_high, n,
        unit`` and, for an alternative, its paired difference to the base
        (``diff_mean, diff_ci95_low, diff_ci95_high``), the Holm-adjusted p-value and
        ``significant`` (a pandas DataFrame when pandas is installed, else dicts)."""
        rows = []
        comp = self.summary
        for name in comp["order"]:
            diffs = comp["differences"].get(name, {})
            for row in _kpi_rows(comp["scenarios"][name]["summary"]):
                d = diffs.get(row["kpi"]) or {}
                rows.append(
                    {
                        "scenario": name,
                        **row,
                        "diff_mean": d.get("mean"),
                        "diff_ci95_low": d.get("ci95_low"),
                        "diff_ci95_high": d.get("ci95_high"),
                        "p_adjusted": d.get("p_adjusted"),
                        "significant": d.get("significant"),
                    }
                )
        return _table(rows)

    def __repr__(self) -> str:
        c = self.summary
        saved = f"; saved in {self.folder}" if self.folder else ""
        return (
            f"<ComparisonResult {' vs '.join(c['order'])}: {c['replications']} paired "
            f"replication(s), seed {c['seed']}{saved}>"
        )

    @_public
    def save(
        self,
        folder: str | Path | None = None,
        force: bool = False,
        plots: bool = True,
        report: bool = False,
    ) -> Path:
        """Write the results folder ``corridor compare --out FOLDER`` writes (default:
        ``results/compare/<UTC timestamp>/``), by the same folder rules as
        :meth:`RunResult.save`. Returns the folder."""
        from sim.outputs.results import write_comparison_files

        records = [self.records[ld.model.scenario.name] for ld in self.loaded]

        def fill(tmp: Path) -> None:
            write_comparison_files(tmp, self.loaded, self.raw_summary, records, plots, report)

        self.folder = _publish(folder, "compare", "compare", force, fill)
        return self.folder


@_public
def compare(
    scenarios: Sequence[str | Path],
    *,
    replications: int | None = None,
    seed: int | None = None,
    horizon_days: float | None = None,
    set: str | Sequence[str] = (),  # the command line's --set (shadows the builtin here)
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
    progress: bool = False,
) -> ComparisonResult:
    """Compare scenarios as ``corridor compare BASE ALT...`` does, without writing
    anything: ``scenarios[0]`` is the base; every alternative runs with the base's seed,
    replications and horizon (common random numbers). Options as :func:`run`."""
    from sim import __version__
    from sim.commands.common import executor_spec, flag_overrides
    from sim.commands.compare import prepare_comparison
    from sim.experiments.compare import build_comparison, simulate_comparison
    from sim.outputs.results import json_safe

    names = [scenarios] if isinstance(scenarios, str | os.PathLike) else list(scenarios)
    paths = [_path(p) for p in names]
    if len(paths) < 2:
        raise ScenarioError(
            "compare", None, f"expected a base scenario and at least one alternative, "
            f"got {len(paths)} scenario file(s)"
        )
    args = _namespace(
        replications=replications, seed=seed, horizon_days=horizon_days, set=set,
        workers=workers, scheduler=scheduler, dask_local=dask_local, progress=progress,
    )
    loaded, spec = prepare_comparison(
        paths[0], paths[1:], flag_overrides(args), executor_spec(args)
    )
    records = simulate_comparison(loaded, spec)
    call = _call_text(
        "compare", [str(p) for p in paths], replications=replications, seed=seed,
        horizon_days=horizon_days, set=args.overrides,
    )
    comp = build_comparison(loaded, records, call, __version__)
    return ComparisonResult(
        scenarios=paths,
        summary=json_safe(comp),
        records={ld.model.scenario.name: recs for ld, recs in zip(loaded, records, strict=True)},
        loaded=loaded,
        raw_summary=comp,
    )
