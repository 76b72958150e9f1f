"""The beamline model: axes, a sample and detectors on one simulation clock."""

from __future__ import annotations

import math
from typing import Any

from twin.physics.clock import SimClock, keyed_rng
from twin.physics.motion import Axis
from twin.physics.samples import GaussianPeak, make_sample


class BeamlineModel:
    """Everything the twin simulates, built from the ``physics`` section of a beamline file.

    The model is pure: callers pass simulated times in; nothing here sleeps or does I/O.
    """

    def __init__(self, physics: dict[str, Any], seed: int = 0, clock: SimClock | None = None) -> None:
        self.seed = int(seed)
        self.clock = clock or SimClock()
        self.axes: dict[str, Axis] = {}
        for name, spec in (physics.get("axes") or {}).items():
            self.axes[name] = Axis(
                position=float(spec.get("position", 0.0)),
                velocity=float(spec.get("velocity", 1.0)),
                accel_time=float(spec.get("accel_time", 0.2)),
                low_limit=float(spec.get("low_limit", -math.inf)),
                high_limit=float(spec.get("high_limit", math.inf)),
            )
        self.sample: GaussianPeak = make_sample(physics.get("sample") or {}, self.seed)
        if self.sample.axis not in self.axes:
            raise ValueError(f"physics.sample.axis: no axis named {self.sample.axis!r}")
        self.dark_rate = float((physics.get("detectors") or {}).get("dark_rate", 0.0))

    def positions(self, t: float) -> dict[str, float]:
        """Every axis position at simulated time ``t``."""
        return {name: axis.position(t) for name, axis in self.axes.items()}

    def rate(self, t: float) -> float:
        """Noise-free detector count rate (counts/s) at simulated time ``t``."""
        return self.sample.rate(self.positions(t)) + self.dark_rate

    def count(self, channel: str, t_start: float, t_end: float) -> int:
        """Poisson counts of ``channel`` integrated from ``t_start`` to ``t_end``.

        The rate is taken at the interval's midpoint; the random draw is keyed by
        (seed, channel, t_end), so the same commands give the same counts.
        """
        span = max(t_end - t_start, 0.0)
        mean = self.rate(0.5 * (t_start + t_end)) * span
        return int(keyed_rng(self.seed, channel, t_end).poisson(mean))

    def truth(self) -> dict[str, Any]:
        """Ground truth of the simulated sample."""
        return self.sample.truth()
