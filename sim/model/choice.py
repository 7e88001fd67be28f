"""Route choice arithmetic: nested logit probabilities and the logsum.

Utility of alternative r is V_r = -scale × GC_r (GC in USD/TEU). Alternatives in nest n
(parameter λ_n in (0, 1]) share the inclusive value IV_n = ln Σ_{r∈n} exp(V_r / λ_n); an
alternative in no nest is a nest of its own with λ = 1, so with no nests at all this is the
multinomial logit. P(r) = P(n) · P(r | n) with P(n) ∝ exp(λ_n IV_n) and
P(r | n) = exp(V_r / λ_n − IV_n). The logsum ln Σ_n exp(λ_n IV_n) divided by the scale is
the expected maximum utility in USD per TEU (the consumer-surplus measure of appraisal).
"""

from __future__ import annotations

import numpy as np


def nested_logit(
    cost: np.ndarray, open_: np.ndarray, scale: float, nest: np.ndarray, lam: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Choice probabilities and logsums (USD/TEU, as -expected generalised cost).

    ``cost``: (k, n) generalised costs of n alternatives for k decision makers (or classes);
    ``open_``: (k, n) whether each may be chosen; ``nest``: (n,) nest index of each
    alternative (alternatives sharing an index form a nest); ``lam``: (n,) the λ of each
    alternative's nest. Rows with nothing open get probabilities 0 and logsum -inf.
    """
    cost = np.atleast_2d(np.asarray(cost, dtype=np.float64))
    open_ = np.broadcast_to(np.atleast_2d(open_), cost.shape)
    v = np.where(open_, -scale * cost, -np.inf)
    k, n = v.shape
    nests = np.unique(nest)
    prob = np.zeros((k, n))
    terms = np.full((k, len(nests)), -np.inf)
    for j, m in enumerate(nests):
        cols = np.flatnonzero(nest == m)
        lm = float(lam[cols[0]])
        scaled = v[:, cols] / lm
        top = scaled.max(axis=1, keepdims=True)
        safe = np.where(np.isfinite(top), top, 0.0)
        e = np.exp(scaled - safe)
        s = e.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore"):
            iv = np.log(s) + safe  # inclusive value
        prob[:, cols] = np.divide(e, s, out=np.zeros_like(e), where=s > 0)
        terms[:, j] = lm * iv[:, 0]
    top = terms.max(axis=1, keepdims=True)
    safe = np.where(np.isfinite(top), top, 0.0)
    w = np.exp(terms - safe)
    total = w.sum(axis=1, keepdims=True)
    p_nest = np.divide(w, total, out=np.zeros_like(w), where=total > 0)
    for j, m in enumerate(nests):
        prob[:, nest == m] *= p_nest[:, j : j + 1]
    with np.errstate(divide="ignore"):
        logsum = (np.log(total[:, 0]) + safe[:, 0]) / scale
    return prob, logsum


def draw_choice(prob: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index of the alternative each uniform ``u`` picks from one probability row ``prob``
    (inverse of the cumulative distribution; alternatives with probability 0 never)."""
    cum = np.cumsum(prob)
    if cum[-1] <= 0:
        return np.full(len(u), -1, dtype=np.int64)
    pick = np.searchsorted(cum / cum[-1], u, side="right")
    return np.minimum(pick, len(prob) - 1).astype(np.int64)
