"""Coarse legs: an infinite server, vectorised — no simulation event per box or batch.

A box ready to leave on a delay leg leaves at once and arrives after a transit drawn for
it; the boxes of one batch are handled in a few numpy operations. Used for stretches whose
capacity does not matter to the question (the Northern route beyond Dostyk, the deep-sea
route), so an uncongested route costs almost nothing to simulate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.model.random_streams import Sampler

if TYPE_CHECKING:
    from sim.model.corridor import CorridorModel
    from sim.model.node import NodeRuntime


class DelayLegRuntime:
    """A delay leg: boxes sent at their ready times reach the next node after a drawn delay."""

    def __init__(
        self, model: CorridorModel, leg_id: str, spec, origin: NodeRuntime, dest: NodeRuntime
    ) -> None:
        self.model = model
        self.id = leg_id
        self.spec = spec
        self.origin = origin
        self.dest = dest
        self.transit = Sampler(spec.transit_h, model.rng(f"delay:{leg_id}"))
        self.stage: int | None = None  # the route stage of the leg, if the same for every flow
        self.empties = False
        self.busy_until = 0.0  # the last arrival of a box sent so far, hours
        # what left when (for the outputs): departure times and TEU, one entry per batch
        self.sent_h: list[np.ndarray] = []
        self.sent_teu: list[np.ndarray] = []

    def send(self, idx: np.ndarray, ready: np.ndarray) -> None:
        """Boxes ``idx`` leave at ``ready`` (sorted) and are admitted at the next node."""
        if len(idx) == 0:
            return
        model = self.model
        table = model.table
        stage = table.stage[idx] if self.stage is None else self.stage
        table.depart_h[idx, stage] = ready
        arrive = ready + self.transit.many(len(idx))
        table.stage[idx] = stage + 1
        table.arrive_h[idx, stage + 1] = arrive
        teu = table.teu[idx]
        if self.origin.keeps_yard:  # boxes leave the yard (those that occupy it)
            occupying = teu if not self.origin.is_origin else np.where(stage > 0, teu, 0)
            self.origin.yard.release_at(ready, occupying, presorted=True)
        self.sent_h.append(ready)
        self.sent_teu.append(teu)
        self.busy_until = max(self.busy_until, float(arrive.max()))
        self.dest.admit_each(idx, arrive)

    def in_transit(self, now: float) -> bool:
        """Some box sent on this leg has not arrived by ``now``."""
        return now < self.busy_until
