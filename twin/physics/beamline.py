"""The beamline model: axes, a sample and detectors on one simulation clock."""

from __future__ import annotations

import math
from typing import Any

from twin.physics.clock import SimClock, keyed_rng
from twin.physics.motion import Axis
from twin.physics.samples import GaussianPeak, make_sample


def number(spec: dict[str, Any], key: str, default: float, where: str) -> float:
    """``spec[key]`` as a float (``default`` if absent); the error names ``where.key``."""
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}.{key} must be a number, got {value!r}")
    return float(value)


_AXIS_KEYS = {"position", "velocity", "accel_time", "low_limit", "high_limit", "low_switch", "high_switch",
              "home", "egu", "precision", "description"}


def make_axis(spec: Any, where: str) -> Axis:
    """An ``Axis`` from its beamline-file entry; errors name the field."""
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a mapping")
    unknown = set(spec) - _AXIS_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)} (known: {sorted(_AXIS_KEYS)})")
    axis = Axis(
        position=number(spec, "position", 0.0, where),
        velocity=number(spec, "velocity", 1.0, where),
        accel_time=number(spec, "accel_time", 0.2, where),
        low_limit=number(spec, "low_limit", -math.inf, where),
        high_limit=number(spec, "high_limit", math.inf, where),
        low_switch=number(spec, "low_switch", -math.inf, where),
        high_switch=number(spec, "high_switch", math.inf, where),
        home=number(spec, "home", 0.0, where),
    )
    if axis.velocity <= 0:
        raise ValueError(f"{where}.velocity must be > 0, got {axis.velocity}")
    if axis.accel_time < 0:
        raise ValueError(f"{where}.accel_time must be ≥ 0, got {axis.accel_time}")
    if axis.low_limit > axis.high_limit:
        raise ValueError(f"{where}: low_limit {axis.low_limit} above high_limit {axis.high_limit}")
    return axis


class BeamlineModel:
    """Everything the twin simulates, built from the ``physics`` section of a beamline file.

    The model is pure: callers pass simulated times in; nothing here sleeps or does I/O.
    """

    def __init__(self, physics: dict[str, Any], seed: int = 0, clock: SimClock | None = None) -> None:
        self.seed = int(seed)
        self.clock = clock or SimClock()
        self.axes: dict[str, Axis] = {}
        axes = physics.get("axes") or {}
        if not isinstance(axes, dict):
            raise ValueError("physics.axes must be a mapping of axis name → parameters")
        for name, spec in axes.items():
            self.axes[name] = make_axis(spec, f"physics.axes.{name}")
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
