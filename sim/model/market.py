"""Markets at run time: bookings choose a route, learn from deliveries, meet booking limits.

Each market's bookings (times, sizes) are drawn up front from its demand path, like a
flow's arrivals, and each gets a cargo class and two uniforms from the market's own
streams (common random numbers across scenarios). Every ``decision_interval_h`` the
bookings of the coming interval choose, all at once:

1. Expected transit and spread per alternative: the boxes of that alternative delivered
   in the window ``[now - lag - window, now - lag]`` (door-to-door days, booking to
   delivery), blended with the published prior as if the prior were
   ``prior_weight_boxes`` boxes. With no delivery in the window, the belief drifts back
   from what the last deliveries said to the prior, by exp(-time since / window): news
   fades, and a route nobody books again (so nothing is delivered to learn from) is not
   shunned for ever.
2. Generalised cost per class × alternative, nested-logit probabilities, and a first
   choice per booking (its first uniform).
3. An alternative whose operator's backlog (TEU booked on its routes and not yet
   delivered) has reached its booking limit refuses: the booking chooses again among the
   alternatives still open (its second uniform). The limits are read at the start of the
   interval. A booking with nothing open is lost (``lost_teu``).
4. The booked boxes join their alternative's flow at their booking times.

Time is in hours, as everywhere in the model; transit expectations are in days.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING

import numpy as np
import simpy

from sim.model.choice import draw_choice, nested_logit
from sim.model.random_streams import stream
from sim.model.runs import SortedRuns
from sim.scenario.markets import available, generalised_cost, nest_arrays

if TYPE_CHECKING:
    from sim.model.corridor import CorridorModel

HOURS_PER_DAY = 24.0


class _Deliveries:
    """Recent deliveries of one flow: (delivered_h, transit_days, first_h, last_h) chunks,
    each sorted by delivery time, oldest pruned."""

    __slots__ = ("chunks",)

    def __init__(self) -> None:
        self.chunks: list[tuple[np.ndarray, np.ndarray, float, float]] = []

    def add(self, at_h: np.ndarray, transit_d: np.ndarray) -> None:
        """Boxes delivered at ``at_h`` (ascending) after ``transit_d`` days."""
        if len(at_h):
            self.chunks.append((at_h, transit_d, float(at_h[0]), float(at_h[-1])))

    def window(self, lo: float, hi: float) -> np.ndarray:
        """Transit days of the boxes delivered in ``(lo, hi]``; forgets what is older."""
        self.chunks = chunks = [c for c in self.chunks if c[3] > lo]
        parts = []
        for t, d, first, last in chunks:
            if first > lo and last <= hi:  # wholly inside: no mask
                parts.append(d)
            elif first <= hi:
                parts.append(d[(t > lo) & (t <= hi)])
        return np.concatenate(parts) if parts else np.empty(0)


def p50_p95(values: np.ndarray) -> tuple[float, float]:
    """``np.percentile(values, [50, 95])`` (linear interpolation), bit for bit, from one
    sort: numpy's general quantile path costs ~70 µs a call, this a few."""
    a = np.sort(values)
    n = len(a)
    out = []
    for q in (0.5, 0.95):
        virtual = (n - 1) * q  # numpy's virtual index for method "linear"
        below = math.floor(virtual)
        i = min(max(below, 0), n - 1)
        j = min(max(below + 1, 0), n - 1)
        t = virtual - below
        lo_v, hi_v = a[i], a[j]
        diff = hi_v - lo_v
        out.append(float(hi_v - diff * (1 - t)) if t >= 0.5 else float(lo_v + diff * t))
    return out[0], out[1]


class MarketRuntime:
    """One market: its bookings, their choices, and what its shippers expect."""

    def __init__(
        self, model: CorridorModel, market_id: str, rows: np.ndarray, times: np.ndarray
    ) -> None:
        scen = model.scenario
        spec = scen.markets[market_id]
        self.model = model
        self.id = market_id
        self.rows = rows  # table rows of its bookings, by booking time
        self.times = times
        self.next = 0  # first booking not yet decided
        self.alts = list(spec.alternatives)
        self.routes = [scen.routes[r] for r in self.alts]
        index = {fid: k for k, fid in enumerate(model.flow_ids)}
        self.flows = np.array([index[f"{market_id}:{r}"] for r in self.alts], dtype=np.int64)
        classes = scen.choice.classes
        shares = spec.shares(classes)
        self.class_ids = list(shares)
        self.classes = [classes[c] for c in self.class_ids]
        self.class_open = np.array(
            [[available(r, cid, cls) for r in self.routes]
             for cid, cls in zip(self.class_ids, self.classes, strict=True)]
        )
        cum = np.cumsum([shares[c] for c in self.class_ids])
        u = stream(model.seed, model.replication, f"class:{market_id}").random(len(rows))
        self.cls = np.minimum(np.searchsorted(cum / cum[-1], u, side="right"),
                              len(cum) - 1)
        rng = stream(model.seed, model.replication, f"choice:{market_id}")
        self.u_first = rng.random(len(rows))
        self.u_again = rng.random(len(rows))
        self.nest, self.lam = nest_arrays(scen, self.alts)
        self.expect_days = np.array([r.prior_transit_days for r in self.routes])
        self.expect_spread = np.array([r.prior_spread_days for r in self.routes])
        # the last time deliveries were seen, and what they said (for the drift back)
        self.seen_h = np.zeros(len(self.routes))
        self.seen_days = self.expect_days.copy()
        self.seen_spread = self.expect_spread.copy()
        self.first_choice = np.full(len(rows), -1, dtype=np.int16)  # alternative index
        self.booked_alt = np.full(len(rows), -1, dtype=np.int16)  # -1: lost
        # per decision: time_h, GC (class x alternative), expected transit days (per
        # alternative), probabilities (class x alternative), logsum (per class, USD/TEU)
        self.decisions: list[tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def costs(self) -> np.ndarray:
        """Generalised cost, USD/TEU, per class × alternative at today's expectations."""
        return np.array([
            [generalised_cost(r, cls, self.expect_days[j], self.expect_spread[j])
             for j, r in enumerate(self.routes)]
            for cls in self.classes
        ])

    def learn(self, now: float, deliveries: dict[int, _Deliveries]) -> None:
        """Update the expected transit of each alternative from recent deliveries."""
        choice = self.model.scenario.choice
        if not choice.feedback:
            return
        hi = now - choice.info_lag_days * HOURS_PER_DAY
        lo = hi - choice.info_window_days * HOURS_PER_DAY
        k = choice.prior_weight_boxes
        window_h = choice.info_window_days * HOURS_PER_DAY
        for j, fi in enumerate(self.flows):
            seen = deliveries[int(fi)].window(lo, hi)
            r = self.routes[j]
            if len(seen) == 0:  # no news: the belief drifts back to the published prior
                keep = np.exp(-(now - self.seen_h[j]) / window_h)
                self.expect_days[j] = r.prior_transit_days + keep * (
                    self.seen_days[j] - r.prior_transit_days)
                self.expect_spread[j] = r.prior_spread_days + keep * (
                    self.seen_spread[j] - r.prior_spread_days)
                continue
            n = len(seen)
            p50, p95 = p50_p95(seen)
            self.expect_days[j] = (n * seen.mean() + k * r.prior_transit_days) / (n + k)
            self.expect_spread[j] = (n * (p95 - p50) + k * r.prior_spread_days) / (n + k)
            self.seen_h[j] = now
            self.seen_days[j] = self.expect_days[j]
            self.seen_spread[j] = self.expect_spread[j]

    def decide(self, now: float, until: float, refusing: np.ndarray) -> None:
        """Bookings made in ``[now, until)`` choose; ``refusing[j]``: alternative j's
        operator takes no booking now."""
        a = self.next
        b = int(np.searchsorted(self.times, until, side="left"))
        self.next = b
        cost = self.costs()
        scale = self.model.scenario.choice.scale_per_usd
        prob, logsum = nested_logit(cost, self.class_open, scale, self.nest, self.lam)
        if refusing.any():
            still = self.class_open & ~refusing
            prob2, _ = nested_logit(cost, still, scale, self.nest, self.lam)
        else:  # nobody refuses: a second choice would be the first
            prob2 = prob
        self.decisions.append((now, cost, self.expect_days.copy(), prob, logsum))
        if b <= a:
            return
        cls = self.cls[a:b]
        first = np.empty(b - a, dtype=np.int64)
        final = np.empty(b - a, dtype=np.int64)
        for c in np.unique(cls):
            mine = np.flatnonzero(cls == c)
            first[mine] = draw_choice(prob[c], self.u_first[a:b][mine])
            final[mine] = first[mine]
            again = mine[refusing[first[mine]]] if first[mine].min() >= 0 else mine
            if len(again):
                final[again] = draw_choice(prob2[c], self.u_again[a:b][again])
        self.first_choice[a:b] = first
        self.booked_alt[a:b] = final
        rows = self.rows[a:b]
        times = self.times[a:b]
        model = self.model
        for j in np.unique(final):
            if j < 0:
                model.table.created_h[rows[final == j]] = np.inf  # lost: never enters
                continue
            sel = final == j
            model.book(int(self.flows[j]), rows[sel], times[sel])


def _monthly_mean(month: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per month 0..n-1, the mean of the rows of ``values`` (decisions x columns) taken in
    it; NaN for a month with none."""
    count = np.bincount(month, minlength=n)[:n]
    sums = np.stack([np.bincount(month, weights=values[:, c], minlength=n)[:n]
                     for c in range(values.shape[1])], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count[:, None] > 0, sums / np.maximum(count, 1)[:, None], np.nan)


class Markets:
    """All markets of a run: the decision process, deliveries seen, operators' backlogs."""

    def __init__(self, model: CorridorModel, booked: dict[str, tuple[np.ndarray, np.ndarray]]):
        self.model = model
        scen = model.scenario
        self.markets = [MarketRuntime(model, mid, *booked[mid]) for mid in scen.markets]
        self.is_market_flow = np.array(
            [scen.flows[f].market is not None for f in model.flow_ids], dtype=bool
        )
        self.deliveries = {
            int(fi): _Deliveries() for fi in np.flatnonzero(self.is_market_flow)
        }
        self.operator_ids = list(scen.operators)
        self.limit = np.array([scen.operators[o].limit_teu() for o in self.operator_ids])
        op_of_route = {
            rid: (self.operator_ids.index(r.operator) if r.operator else -1)
            for rid, r in scen.routes.items()
        }
        self.operator_of_flow = np.array(
            [op_of_route[scen.flows[f].alternative]
             if scen.flows[f].market and scen.flows[f].empties_of is None else -1
             for f in model.flow_ids], dtype=np.int64  # empties are nobody's booking
        )
        self.booked_teu = np.zeros(len(self.operator_ids))
        self._pending = [SortedRuns() for _ in self.operator_ids]  # deliveries ahead
        self.delivered_teu = np.zeros(len(self.operator_ids))

    def backlog(self, now: float) -> np.ndarray:
        """TEU booked with each operator and not delivered by ``now``."""
        for k, runs in enumerate(self._pending):
            if runs.next_due <= now:
                self.delivered_teu[k] += runs.drop_until(now)
        return self.booked_teu - self.delivered_teu

    def on_booked(self, fi: int, teu: float) -> None:
        op = self.operator_of_flow[fi]
        if op >= 0:
            self.booked_teu[op] += teu

    def on_delivered(self, idx: np.ndarray, ready: np.ndarray) -> None:
        """Boxes delivered at ``ready`` (sorted): what shippers will learn, and backlogs."""
        table = self.model.table
        flows = table.flow[idx]
        mine = self.is_market_flow[flows]
        if not mine.any():
            return
        idx, ready, flows = idx[mine], ready[mine], flows[mine]
        transit_d = (ready - table.created_h[idx]) / HOURS_PER_DAY
        for fi in np.unique(flows):
            sel = flows == fi
            self.deliveries[int(fi)].add(ready[sel], transit_d[sel])
            op = self.operator_of_flow[fi]
            if op >= 0:
                self._pending[op].add(ready[sel], None, table.teu[idx[sel]].astype(np.float64))

    def process(self) -> Generator[simpy.Event, object, None]:
        """Decide the bookings of each interval at its start, until the horizon."""
        env = self.model.env
        step = self.model.scenario.choice.decision_interval_h
        while True:
            now = env.now
            over = np.append(self.backlog(now) >= self.limit, False)  # [-1]: no operator
            for m in self.markets:
                m.learn(now, self.deliveries)
                refusing = over[self.operator_of_flow[m.flows]]
                m.decide(now, now + step, refusing)
            if now + step >= self.model.horizon_h:
                return
            yield env.timeout(step)

    # -- outputs -----------------------------------------------------------------------

    def _measured(self, m: MarketRuntime, per_alt: dict, rows: np.ndarray, teu: np.ndarray,
                  final: np.ndarray, done: np.ndarray, made: np.ndarray, end: float) -> None:
        """Whole-period numbers per alternative for the economics, over the boxes booked
        after the warm-up and delivered by the end: ``measured_teu``, their TEU-weighted
        ``transit_days_mean``, ``node_days_mean`` (days spent at nodes, the rest being on
        legs) and ``vot_usd_per_teu_day`` (the value of time of the classes that chose it)."""
        model = self.model
        table = model.table
        warm = model.warmup_h
        after = m.times[made] >= warm
        vot = np.array([c.vot_usd_per_teu_day for c in m.classes])[m.cls[made]]
        for j, rid in enumerate(m.alts):
            sel = (final == j) & done & after
            r, w = rows[sel], teu[sel]
            total = float(w.sum())
            cols = per_alt[rid]
            cols["measured_teu"] = total
            booked_after = float(teu[(final == j) & after].sum())
            cols["booked_teu_per_year"] = booked_after / max(
                end - warm, 1e-9) * 8760.0
            if total <= 0:
                cols["transit_days_mean"] = cols["node_days_mean"] = np.nan
                cols["vot_usd_per_teu_day"] = np.nan
                continue
            stages = len(m.routes[j].route)
            arrive, depart = table.arrive_h[r, :stages], table.depart_h[r, :stages]
            transit = (depart[:, -1] - table.created_h[r]) / HOURS_PER_DAY
            at_nodes = np.nansum(depart - arrive, axis=1) / HOURS_PER_DAY
            cols["transit_days_mean"] = float(w @ transit / total)
            cols["node_days_mean"] = float(w @ at_nodes / total)
            cols["vot_usd_per_teu_day"] = float(w @ vot[sel] / total)

    def record(self, end: float, month_of, n_months: int, delivered_by_end: np.ndarray
               ) -> dict[str, dict]:
        """Per market and alternative, by calendar month of booking: offered, booked,
        refused and delivered TEU, share of the market's booked TEU, and the mean
        generalised cost (USD/TEU, class-weighted) and expected transit (days) of the
        decisions taken in the month. ``delivered_by_end``: per table row."""
        table = self.model.table
        out: dict[str, dict] = {}
        for m in self.markets:
            made = m.times <= end
            rows, month = m.rows[made], month_of(m.times[made])
            teu = table.teu[rows].astype(np.float64)
            first, final = m.first_choice[made], m.booked_alt[made]
            done = delivered_by_end[rows]
            total = np.bincount(month, weights=teu * (final >= 0), minlength=n_months)[:n_months]
            lost = np.bincount(month, weights=teu * (final < 0), minlength=n_months)[:n_months]
            d_month = month_of(np.array([d[0] for d in m.decisions]))
            weights = np.array([m.model.scenario.markets[m.id].shares(
                m.model.scenario.choice.classes)[c] for c in m.class_ids])
            gc = np.array([weights @ d[1] for d in m.decisions]).reshape(-1, len(m.alts))
            expect = np.array([d[2] for d in m.decisions]).reshape(-1, len(m.alts))
            logsum = np.array([weights @ d[4] for d in m.decisions])
            gc_month = _monthly_mean(d_month, gc, n_months)
            expect_month = _monthly_mean(d_month, expect, n_months)

            def by_month(mask: np.ndarray, month=month, teu=teu) -> np.ndarray:
                return np.bincount(month, weights=teu * mask, minlength=n_months)[:n_months]

            per_alt = {}
            for j, rid in enumerate(m.alts):
                booked = by_month(final == j)
                per_alt[rid] = {
                    "offered_teu": by_month(first == j),
                    "booked_teu": booked,
                    "refused_teu": by_month((first == j) & (final != j)),
                    "delivered_teu": by_month((final == j) & done),
                    "share": np.divide(booked, total, out=np.full(n_months, np.nan),
                                       where=total > 0),
                    "generalised_cost_usd_per_teu": gc_month[:, j],
                    "expected_transit_days": expect_month[:, j],
                }
            self._measured(m, per_alt, rows, teu, final, done, made, end)
            probs = np.array([weights @ d[3] for d in m.decisions]).reshape(-1, len(m.alts))
            out[m.id] = {
                "alternatives": per_alt,
                "lost_teu": lost,
                # every decision (daily by default): the chance a booking picks each
                # alternative, its generalised cost and expected transit (class-weighted)
                "decisions": {
                    "time_h": np.array([d[0] for d in m.decisions]),
                    "share": probs.astype(np.float32),
                    "generalised_cost_usd_per_teu": gc.astype(np.float32),
                    "expected_transit_days": expect.astype(np.float32),
                    "logsum_usd_per_teu": logsum,
                },
                # TEU offered (booked, refused or lost) after the warm-up, per year
                "offered_teu_per_year": float(
                    teu[m.times[made] >= self.model.warmup_h].sum()
                    / max(end - self.model.warmup_h, 1e-9) * 8760.0),
                # consumer surplus per TEU: the class-weighted logsum (USD/TEU, higher is
                # better; only differences between scenarios mean anything)
                "logsum_usd_per_teu": _monthly_mean(d_month, logsum[:, None], n_months)[:, 0],
            }
        return out
