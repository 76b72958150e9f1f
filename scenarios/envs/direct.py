"""Direct mode: the twin's physics model driven without IOCs, with the twin's own timeline.

``DirectBeamline(physics, seed)`` moves axes and counts channels the way the IOCs do (a move
takes its simulated time, a count integrates the rate over its interval with Poisson noise
keyed by the simulated time), but as plain calls: no process, no Channel Access.
"""

from __future__ import annotations

from typing import Any

from twin.physics import BeamlineModel


class DirectBeamline:
    """Axes and counters of one beamline's physics on a private simulated clock."""

    def __init__(self, physics: dict[str, Any], seed: int) -> None:
        self.model = BeamlineModel(physics, seed=seed)
        self.t = 0.0

    def move(self, **targets: float) -> None:
        """Move the named axes together and wait until all have stopped."""
        for name, value in targets.items():
            self.model.axes[name].start_move(float(value), self.t)
        end = max((self.model.axes[n].end_time() for n in targets), default=self.t)
        self.t = max(self.t, end) + 1e-3
        for name in targets:
            self.model.axes[name].settle(self.t)

    def count(self, channels: list[str], seconds: float) -> dict[str, int]:
        """Counts of ``channels`` over the next ``seconds`` (one gate for all)."""
        t0, self.t = self.t, self.t + seconds
        return {ch: self.model.count(ch, t0, self.t) for ch in channels}
