"""Calibrate the markets' alternative-specific constants (ASCs) to target volumes.

Each route alternative's ``asc_usd_per_teu`` is set so that the shares a market's bookings
take at the *prior* costs (:func:`sim.scenario.markets.prior_shares`: published transit,
no congestion) equal target shares — observed volumes, e.g. 2024-25 TEU per route. For a
multinomial logit the closed form is ``ASC_r += ln(s_model / s_target) / scale``; with
nests and several cargo classes the shares are a mixture of nested logits, so the same
equations ``ln s_r(ASC) = ln t_r`` are solved by Newton's method (which takes that
closed-form step when there is one class and no nest).

Shares sum to one, so one alternative per market — its *reference*, by default the last
alternative with a positive target — keeps its ASC; the others are relative to it. An
alternative closed for every cargo class must have target 0, and every open one a
positive target (a logit gives each open alternative some share). Targets no ASCs can
reach — e.g. 80 % on a route closed for the 30 % of the market that is EU-compliant —
are refused with a :class:`ValueError` that names the market and the alternatives.

Command line (prints the ASCs as TOML lines, and the shares they give)::

    python -m sim.experiments.market_calibration SCENARIO.toml TARGETS.toml

where TARGETS.toml has one table per market: ``[market_id]`` then
``route_id = target`` (TEU per year or shares; normalised per market).
"""

from __future__ import annotations

import itertools
import math
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from sim.model.choice import nested_logit
from sim.scenario.markets import nest_arrays, prior_costs

MAX_EXHAUSTIVE = 16  # alternatives up to which every subset is checked for feasibility
SHARE_TOL = 1e-10  # convergence: largest |share - target|
MAX_ITER = 200  # Newton steps


def _market_arrays(scenario, market_id: str):
    """Alternatives, costs without their ASC (classes x alts, USD/TEU), open mask, class
    weights (renormalised over classes with something open), nest index, λ."""
    alts, cids, cost, open_ = prior_costs(scenario, market_id)
    asc = np.array([scenario.routes[r].asc_usd_per_teu for r in alts])
    shares = scenario.markets[market_id].shares(scenario.choice.classes)
    w = np.array([shares[c] for c in cids], dtype=np.float64)
    w = np.where(open_.any(axis=1), w, 0.0)
    if w.sum() <= 0:
        raise ValueError(f"markets.{market_id}: no cargo class may book any alternative")
    nest, lam = nest_arrays(scenario, alts)
    return alts, cost - asc[None, :], asc, open_, w / w.sum(), nest, lam


def _shares(base, asc, open_, scale, nest, lam, w) -> np.ndarray:
    prob, _ = nested_logit(base + asc[None, :], open_, scale, nest, lam)
    s = w @ prob
    return s / s.sum()


def _check_targets(market_id: str, alts: list[str], t: np.ndarray, open_: np.ndarray,
                   w: np.ndarray) -> None:
    """Refuse targets no ASCs can give (see the module docstring)."""
    reachable = (open_ & (w[:, None] > 0)).any(axis=0)
    for j, rid in enumerate(alts):
        if t[j] > 0 and not reachable[j]:
            raise ValueError(
                f"markets.{market_id}: target {t[j]:.6g} for {rid!r}, which no cargo class "
                "of the market may book (closed_for); expected target 0")
        if t[j] == 0 and reachable[j]:
            raise ValueError(
                f"markets.{market_id}: target 0 for {rid!r}, which is open (a logit gives "
                "every open alternative a positive share); expected a positive target or "
                "closed_for = [\"all\"]")
    pos = np.flatnonzero(t > 0)
    if len(pos) > MAX_EXHAUSTIVE:
        return  # too many subsets: Newton's failure to converge will tell
    live = w > 0
    for k in range(1, len(pos)):
        for subset in itertools.combinations(pos, k):
            cols = list(subset)
            # classes that can book something in the subset carry at most this much
            cap = float(w[live & open_[:, cols].any(axis=1)].sum())
            want = float(t[cols].sum())
            if want >= cap - 1e-12:
                names = ", ".join(alts[c] for c in cols)
                raise ValueError(
                    f"markets.{market_id}: targets of {names} add up to {want:.6g} of the "
                    f"market, but only {cap:.6g} of it (the classes that may book them) can "
                    "choose them; expected less")


def calibrate_market(scenario, market_id: str, targets: Mapping[str, float], *,
                     reference: str | None = None, tol: float = SHARE_TOL,
                     max_iter: int = MAX_ITER) -> dict[str, float]:
    """ASC (USD/TEU) of each alternative of ``market_id`` so that its prior shares equal
    ``targets`` (route id -> TEU/yr or share, every alternative given; normalised).

    ``reference`` keeps its ASC (default: the last alternative with a positive target);
    alternatives with target 0 (closed for every class) keep theirs too.
    """
    if market_id not in scenario.markets:
        raise ValueError(f"targets: expected market ids of [markets] "
                         f"{sorted(scenario.markets)}, got {market_id!r}")
    alts, base, asc, open_, w, nest, lam = _market_arrays(scenario, market_id)
    missing = [r for r in alts if r not in targets]
    extra = [r for r in targets if r not in alts]
    if missing or extra:
        raise ValueError(f"targets.{market_id}: expected a target for each alternative "
                         f"{alts}; missing {missing}, not alternatives {extra}")
    t = np.array([float(targets[r]) for r in alts])
    if not np.all(np.isfinite(t)) or (t < 0).any() or t.sum() <= 0:
        raise ValueError(f"targets.{market_id}: expected finite targets >= 0 with a "
                         f"positive sum, got {dict(zip(alts, t.tolist(), strict=True))}")
    t = t / t.sum()
    _check_targets(market_id, alts, t, open_, w)
    pos = np.flatnonzero(t > 0)
    ref = alts.index(reference) if reference is not None else int(pos[-1])
    if reference is not None and (reference not in alts or t[ref] <= 0):
        raise ValueError(f"markets.{market_id}: reference {reference!r} must be an "
                         "alternative with a positive target")
    free = np.array([j for j in pos if j != ref], dtype=np.int64)
    scale = scenario.choice.scale_per_usd
    a = asc.astype(np.float64).copy()

    def resid(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = _shares(base, x, open_, scale, nest, lam, w)
        return np.log(np.maximum(s[free], 1e-300)) - np.log(t[free]), s

    f, s = resid(a)
    h = 1e-4 / scale  # a change of 1e-4 in utility
    for _ in range(max_iter):
        if np.abs(s - t).max() <= tol or len(free) == 0:
            break
        jac = np.empty((len(free), len(free)))
        for k, j in enumerate(free):
            up, down = a.copy(), a.copy()
            up[j] += h
            down[j] -= h
            jac[:, k] = (resid(up)[0] - resid(down)[0]) / (2 * h)
        try:
            step = np.linalg.solve(jac, -f)
        except np.linalg.LinAlgError:
            step = -f / (scale * lam[free])  # the closed-form (damped) step
        norm, alpha = float(f @ f), 1.0
        while alpha > 1e-10:
            trial = a.copy()
            trial[free] += alpha * step
            f2, s2 = resid(trial)
            if float(f2 @ f2) < norm:
                break
            alpha /= 2
        a, f, s = trial, f2, s2
    gap = float(np.abs(s - t).max())
    if gap > tol:
        raise ValueError(f"markets.{market_id}: ASCs did not reach the targets (largest "
                         f"share gap {gap:.3g} after {max_iter} steps); expected reachable "
                         "targets")
    return {alts[j]: float(a[j]) for j in range(len(alts))}


def calibrate_ascs(scenario, targets: Mapping[str, Mapping[str, float]], *,
                   tol: float = SHARE_TOL) -> dict[str, float]:
    """ASCs (route id -> USD/TEU) of every market in ``targets`` (market id -> route id ->
    target). A route shared by two calibrated markets is refused (one constant cannot
    meet two markets' targets)."""
    seen: dict[str, str] = {}
    for mid in targets:
        for rid in (scenario.markets[mid].alternatives if mid in scenario.markets else []):
            if rid in seen:
                raise ValueError(f"routes.{rid}: an alternative of both markets "
                                 f"{seen[rid]!r} and {mid!r}; expected one market per route "
                                 "to calibrate its ASC")
            seen[rid] = mid
    out: dict[str, float] = {}
    for mid, tgt in targets.items():
        out.update(calibrate_market(scenario, mid, tgt, tol=tol))
    return out


def with_ascs(scenario, ascs: Mapping[str, float]):
    """A copy of ``scenario`` with these ASCs (for prior shares; the generated flows'
    planning volumes are not refreshed — load the scenario again to run it)."""
    routes = {rid: (r.model_copy(update={"asc_usd_per_teu": float(ascs[rid])})
                    if rid in ascs else r) for rid, r in scenario.routes.items()}
    return scenario.model_copy(update={"routes": routes})


def read_targets(path: Path) -> dict[str, dict[str, float]]:
    """Targets from a TOML file: ``[market_id]`` tables of ``route_id = number``."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out: dict[str, dict[str, float]] = {}
    for mid, table in data.items():
        if not isinstance(table, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in table.values()):
            raise ValueError(f"{path}: [{mid}]: expected a table of route_id = number")
        out[mid] = {rid: float(v) for rid, v in table.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    """Print calibrated ASCs as TOML lines; exit 2 with a one-line error on bad input."""
    from sim.scenario.loader import load_scenario
    from sim.scenario.markets import prior_shares

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m sim.experiments.market_calibration SCENARIO.toml TARGETS.toml",
              file=sys.stderr)
        return 2
    try:
        scenario = load_scenario(Path(args[0])).model
        targets = read_targets(Path(args[1]))
        ascs = calibrate_ascs(scenario, targets)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as exc:
        print(f"error: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    done = with_ascs(scenario, ascs)
    for mid, tgt in targets.items():
        total = sum(tgt.values())
        shares = prior_shares(done, mid)
        print(f"# market {mid}: prior share vs target")
        for rid in scenario.markets[mid].alternatives:
            print(f"[routes.{rid}]  # share {shares[rid]:.6f}, target {tgt[rid] / total:.6f}")
            print(f"asc_usd_per_teu = {round(ascs[rid], 2) + 0.0}"
                  if math.isfinite(ascs[rid]) else "asc_usd_per_teu = 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
