"""Model hours and calendar dates.

Model time is hours (float) from the first simulated day, 00:00. With
``[scenario] start_date`` that day is a real date and months and years are calendar
months and years (28–31 days, 365 or 366). Without it the run keeps the older
convention: it starts on 1 January of a nominal year (:data:`NOMINAL_START`) and
demand seasonality uses months of 730 h — so scenarios written before dates existed
give exactly the numbers they always gave; their outputs are labelled with nominal
dates.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

HOURS_PER_DAY = 24.0
HOURS_PER_YEAR = 8760.0
LEGACY_MONTH_H = HOURS_PER_YEAR / 12.0
NOMINAL_START = _dt.date(2025, 1, 1)


class Calendar:
    """Converts between model hours and dates for one scenario."""

    def __init__(self, start_date: _dt.date | None) -> None:
        self.dated = start_date is not None
        self.start = start_date or NOMINAL_START
        self._t0 = _dt.datetime.combine(self.start, _dt.time())

    # -- points in time ----------------------------------------------------------------

    def hours_of(self, when: _dt.date) -> float:
        """Model hours at 00:00 of ``when`` (negative before the start)."""
        return (_dt.datetime.combine(when, _dt.time()) - self._t0).total_seconds() / 3600.0

    def datetime_of(self, hours: float) -> _dt.datetime:
        """The date and time of model hour ``hours``."""
        return self._t0 + _dt.timedelta(hours=float(hours))

    def datetimes(self, hours: np.ndarray) -> np.ndarray:
        """``numpy.datetime64`` (seconds) of many model hours at once."""
        base = np.datetime64(self._t0, "s")
        return base + np.round(np.asarray(hours, dtype=float) * 3600.0).astype("timedelta64[s]")

    def month_labels(self, hours: np.ndarray) -> np.ndarray:
        """``YYYY-MM`` of the calendar month each model hour falls in."""
        return np.datetime_as_string(self.datetimes(hours).astype("datetime64[M]"))

    def years(self, hours: np.ndarray) -> np.ndarray:
        """Calendar year of each model hour."""
        return self.datetimes(hours).astype("datetime64[Y]").astype(int) + 1970

    # -- intervals ---------------------------------------------------------------------

    def demand_months(self, horizon_h: float) -> tuple[np.ndarray, np.ndarray]:
        """Month edges on ``[0, horizon_h]`` (hours) and the month of year (0–11) of each.

        Dated runs use calendar months (the first and last may be partial); runs
        without a start date use 730-h months from 1 January, as they always did.
        """
        if not self.dated:
            n = int(np.ceil(horizon_h / LEGACY_MONTH_H))
            edges = np.minimum(np.arange(n + 1) * LEGACY_MONTH_H, horizon_h)
            return edges, np.arange(n) % 12
        first = np.datetime64(self.start, "M")
        last = self.datetimes(np.array([horizon_h]))[0].astype("datetime64[M]")
        months = np.arange(first, last + 1)
        starts = np.array([self.hours_of(m.astype(_dt.date)) for m in months])
        edges = np.concatenate((np.maximum(starts, 0.0), [horizon_h]))
        keep = np.diff(edges) > 0
        month_of_year = months.astype(int) % 12
        return np.concatenate((edges[:-1][keep], [horizon_h])), month_of_year[keep]

    def year_starts(self, horizon_h: float) -> list[tuple[int, float, float]]:
        """``(year, start_h, end_h)`` of each calendar year the run touches (clipped)."""
        out = []
        year = self.start.year
        while True:
            a = max(0.0, self.hours_of(_dt.date(year, 1, 1)))
            b = min(horizon_h, self.hours_of(_dt.date(year + 1, 1, 1)))
            if a >= horizon_h:
                return out
            out.append((year, a, b))
            year += 1

    def parse(self, text: str) -> _dt.date:
        """A ``YYYY-MM-DD`` date (raises ValueError)."""
        return _dt.date.fromisoformat(text)
