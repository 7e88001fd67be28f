"""How numbers are shown to a reader: one rounding and one KPI list for console and report.

Rules (so the console and the report print the same text for the same number):

* utilisations and shares in percent: ``87%`` (one decimal below 10 %: ``4.2%``);
  differences of shares in percentage points with one decimal: ``+2.4 pp``;
* days with one decimal: ``39.8``;
* a difference that one decimal would show as ``0.0`` gets two significant figures
  (``+0.012 days``), so a non-zero change never reads as none;
* everything else (TEU, TEU/week, TEU/yr, USD, kg) to three significant figures,
  thousands separated and at most one decimal: ``+2,450``, ``338,000``, ``17.8``;
* a mean and its CI bounds are rounded to the same step (the one of the largest of the
  three), so ``112 [101, 122]``, not ``111.6 [101.45, 121.74]``;
* the CI of a quantity that cannot be negative (a count, a share, a time) is clipped at 0,
  and the CI of a share (a utilisation) at 100 %.

KPI names and units come from :data:`sim.outputs.plots_compare.KPI_INFO`
(:func:`~sim.outputs.plots_compare.kpi_label`): the one label table of plots, console
and report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from sim.outputs.plots_compare import KPI_INFO, kpi_label

RUN_KPIS = (
    "throughput_teu_per_week",
    "transit_days_mean",
    "transit_days_p50",
    "transit_days_p95",
    "cohort_inside_share",
    "bottleneck_utilisation",
    "created_teu",
    "delivered_teu",
    "in_system_teu_end",
)
"""The KPIs of a run, in the order the console and the report list them."""

SCOPE = {
    "created_teu": "all flows",
    "delivered_teu": "all flows",
    "in_system_teu_end": "all flows",
    "bottleneck_utilisation": "most utilised stage",
    "corridor_capacity_teu_per_year": "all flows grown alike",
}
"""Which boxes a KPI counts (the rest: the study flows)."""


def finite(x: Any) -> bool:
    """A real, finite number (not a bool)."""
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(float(x))


def kind_of(kpi: str) -> str:
    """``"share"`` (fraction shown in %), ``"days"`` or ``"num"`` (everything else)."""
    if kpi.endswith("_share") or kpi.endswith("utilisation") or kpi in ("utilisation", "share"):
        return "share"
    info = KPI_INFO.get(kpi)
    if info and info[3] == "share":
        return "share"
    if (info and info[1] == "days") or "days" in kpi:
        return "days"
    return "num"


def unit_of(kpi: str) -> str:
    """The unit printed after a value (``%`` is part of the number itself)."""
    if kind_of(kpi) == "share":
        return ""
    info = KPI_INFO.get(kpi)
    return info[1] if info else ""


def label(kpi: str, unit: bool = True) -> str:
    """Readable KPI name (``kpi_label``), e.g. ``Transit time, P95 (days)``."""
    return kpi_label(kpi, unit=unit)


def _step(magnitude: float) -> float:
    """Rounding step of three significant figures, at most one decimal."""
    if magnitude <= 0 or not math.isfinite(magnitude):
        return 0.1
    return max(10.0 ** (math.floor(math.log10(magnitude)) - 2), 0.1)


def _signed(text: str, x: float, signed: bool) -> str:
    if signed and not text.startswith("-") and x >= 0:
        return "+" + text
    return text


def _small_digits(mag: float) -> int:
    """Decimals of a difference: one, or two significant figures when one decimal would
    show a non-zero difference as 0.0 (at most 6)."""
    if not 0 < mag < 0.05 or not math.isfinite(mag):
        return 1
    return min(6, 1 - math.floor(math.log10(mag)))


def fmt(
    kpi: str, x: Any, signed: bool = False, scale: float | None = None, bare: bool = False
) -> str:
    """One value of ``kpi`` as text; ``scale``: the magnitude that sets the rounding step
    (default the value's own); ``signed``: a difference (``+``/``-``, shares in pp);
    ``bare``: no " pp" after a difference of shares (CI bounds next to the value)."""
    if not finite(x):
        return "–"
    x = float(x)
    kind = kind_of(kpi)
    mag = abs(x) if scale is None else scale
    if kind == "share":
        if signed:
            digits = _small_digits(100 * mag)
            text = f"{100 * x:.{digits}f}"
            if text.lstrip("-").strip("0.") == "":  # -0.0 -> 0.0
                text = text.lstrip("-")
            return _signed(text, x, True) + ("" if bare else " pp")
        digits = 1 if 100 * mag < 10 else 0
        return f"{100 * x:.{digits}f}%"
    if signed and _small_digits(mag) > 1:  # a difference that one decimal shows as 0.0
        text = f"{x:,.{_small_digits(mag)}f}"
    elif kind == "days":
        text = f"{x:,.1f}"
    else:
        step = _step(mag)
        if step >= 1:
            value = round(x / step) * step
            text = f"{value:,.0f}"
        else:
            text = f"{x:,.1f}"
    if text.lstrip("-").strip("0.,") == "":  # -0.0 -> 0.0
        text = text.lstrip("-")
    return _signed(text, x, signed)


def fmt_stat(
    kpi: str,
    stat: Mapping[str, Any] | None,
    signed: bool = False,
    replications: int | None = None,
) -> tuple[str, str]:
    """``(mean, "[low, high]")`` of a ``{mean, ci95_low, ci95_high, n}`` dict.

    Mean and bounds share one rounding step; a level that cannot be negative has its
    lower bound clipped at 0. Without bounds the second text says why: ``(1 of 2
    replications)`` when only one replication had a value.
    """
    if not stat or not finite(stat.get("mean")):
        return "–", ""
    mean = float(stat["mean"])
    lo, hi = stat.get("ci95_low"), stat.get("ci95_high")
    n = stat.get("n")
    if not (finite(lo) and finite(hi)):
        if n == 1:
            of = f" of {replications}" if replications and replications > 1 else ""
            return fmt(kpi, mean, signed), f"(1{of} replication{'s' if of else ''})"
        return fmt(kpi, mean, signed), ""
    lo, hi = float(lo), float(hi)
    if not signed:
        lo = max(lo, 0.0)
        if kind_of(kpi) == "share":
            hi = min(hi, 1.0)
    scale = max(abs(mean), abs(lo), abs(hi))
    ci = f"[{fmt(kpi, lo, signed, scale, True)}, {fmt(kpi, hi, signed, scale, True)}]"
    if replications and finite(n) and 1 < n < replications:
        ci += f" (n = {n} of {replications})"
    return fmt(kpi, mean, signed, scale), ci


def kpi_of(summary: Mapping[str, Any], kpi: str) -> dict[str, Any] | None:
    """``{mean, ci95_low, ci95_high, n}`` of ``kpi`` in a run summary (None if absent)."""
    value = (summary.get("kpis") or {}).get(kpi)
    if value is None and kpi == "bottleneck_utilisation":
        value = (summary.get("bottleneck") or {}).get("utilisation")
    return dict(value) if isinstance(value, Mapping) else None


def run_kpi_rows(summary: Mapping[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """The KPI table of a run, as console and report print it:
    ``(kpi, label, scope, mean, ci)`` per KPI present in the summary."""
    rows = []
    reps = summary.get("replications")
    for kpi in RUN_KPIS:
        stat = kpi_of(summary, kpi)
        if stat is None:
            continue
        mean, ci = fmt_stat(kpi, stat, replications=reps)
        rows.append((kpi, label(kpi), SCOPE.get(kpi, "study flows"), mean, ci))
    return rows


# --------------------------------------------------------------------------------------
# Money and ratios (appraisal)
# --------------------------------------------------------------------------------------

_MONEY_UNITS = ((1e9, " bn"), (1e6, " M"), (1e3, " k"), (1.0, ""))


def _sig3(x: float, scale: float) -> str:
    """``x`` to three significant figures of ``scale`` (at most two decimals)."""
    decimals = 0 if scale <= 0 else min(2, max(0, 2 - math.floor(math.log10(scale))))
    text = f"{x:,.{decimals}f}"
    return text.lstrip("-") if text.lstrip("-").strip("0.,") == "" else text


def money(x: Any, scale: float | None = None) -> str:
    """USD in human units: ``USD 12.3 M``, ``USD -950 k``, ``USD 2.44 bn``."""
    if not finite(x):
        return "–"
    x = float(x)
    mag = abs(x) if scale is None else scale
    div, unit = next(((d, u) for d, u in _MONEY_UNITS if mag >= d), (1.0, ""))
    return f"USD {_sig3(x / div, mag / div)}{unit}"


def _with_ci(
    stat: Mapping[str, Any] | None,
    head: Callable[[float, float], str],
    number: Callable[[float, float], str],
) -> str:
    """A mean with its CI, all to the significance of the largest magnitude among them:
    ``head(mean, magnitude)`` then ``[number(low, magnitude), number(high, magnitude)]``."""
    if not stat or not finite(stat.get("mean")):
        return "–"
    lo, hi = stat.get("ci95_low"), stat.get("ci95_high")
    vals = [float(stat["mean"])] + [float(v) for v in (lo, hi) if finite(v)]
    mag = max(abs(v) for v in vals)
    text = head(float(stat["mean"]), mag)
    if finite(lo) and finite(hi):
        text += f" [{number(float(lo), mag)}, {number(float(hi), mag)}]"
    return text


def money_stat(stat: Mapping[str, Any] | None) -> str:
    """A money mean with its CI in the same unit: ``USD 12.3 M [8.1, 16.5]``."""

    def number(v: float, mag: float) -> str:
        div = next((d for d, _ in _MONEY_UNITS if mag >= d), 1.0)
        return _sig3(v / div, mag / div)

    return _with_ci(stat, money, number)


def ratio_stat(stat: Mapping[str, Any] | None) -> str:
    """A ratio (benefit-cost) with its CI: ``1.42 [1.10, 1.74]``, ``1,220 [1,190, 1,250]``."""
    return _with_ci(stat, _sig3, _sig3)
