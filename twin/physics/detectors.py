"""Detectors: ion chambers and a counter with Poisson statistics, dark current, dead time and
saturation, plus faults (forced saturation, noise bursts) in simulated time."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.physics.clock import keyed_rng

#: What a detector looks at: the beam before the sample, after it, or the sample's signal.
SEES = ("i0", "it", "signal")


@dataclass
class Detector:
    """One counting channel.

    ``gain`` converts its input to counts/s (photons → V2F counts for ion chambers; 1 for a
    counter looking at the sample's signal); ``dead_time`` (s) is non-paralyzable;
    ``max_rate`` (counts/s) is where it saturates (a V2F's top frequency, a counter's limit).
    """

    name: str
    sees: str = "signal"
    gain: float = 1.0
    dark_rate: float = 0.0
    dead_time: float = 0.0
    max_rate: float = math.inf
    noise: list[tuple[float, float, float]] = field(default_factory=list)  # (t0, t1, extra rate)
    forced_saturation: list[tuple[float, float]] = field(default_factory=list)

    def observed_rate(self, true_rate: float) -> float:
        """Mean recorded rate for a true rate: dead time n/(1+nτ), then the saturation ceiling."""
        n = max(true_rate, 0.0)
        m = n / (1.0 + n * self.dead_time) if self.dead_time > 0 else n
        return min(m, self.max_rate)

    def observed_rates(self, true_rates: np.ndarray) -> np.ndarray:
        """:meth:`observed_rate` of many true rates at once."""
        n = np.maximum(np.asarray(true_rates, dtype=float), 0.0)
        m = n / (1.0 + n * self.dead_time) if self.dead_time > 0 else n
        return np.asarray(np.minimum(m, self.max_rate), dtype=float)

    def saturated(self, true_rate: float, t: float) -> bool:
        """Whether the detector is at its ceiling at ``t``."""
        forced = any(a <= t < b for a, b in self.forced_saturation)
        return forced or max(true_rate, 0.0) * self.gain >= self.max_rate

    def extra_rate(self, t: float) -> float:
        """Noise-burst rate on top of the dark rate at ``t``."""
        return sum(r for a, b, r in self.noise if a <= t < b)

    def count(self, seed: int, mean_input: float, span: float, t_end: float, t_mid: float) -> int:
        """Recorded counts for ``mean_input`` (input rate averaged over ``span`` s), keyed by time."""
        if span <= 0:
            return 0
        if any(a <= t_mid < b for a, b in self.forced_saturation):
            return int(self.max_rate * span) if math.isfinite(self.max_rate) else 2**31 - 1
        true = mean_input * self.gain + self.dark_rate + self.extra_rate(t_mid)
        if self.observed_rate(true) >= self.max_rate:  # pinned at the ceiling: no noise left
            return min(int(self.max_rate * span), 2**31 - 1)
        mean = self.observed_rate(true) * span
        counts = int(keyed_rng(seed, self.name, t_end).poisson(mean))
        if math.isfinite(self.max_rate):
            counts = min(counts, int(self.max_rate * span))
        return min(counts, 2**31 - 1)


def make_detector(name: str, spec: Any) -> Detector:
    """A ``Detector`` from its beamline-file entry; errors name the field."""
    where = f"physics.detectors.{name}"
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a mapping")
    sees = spec.get("sees", "signal")
    if sees not in SEES:
        raise ValueError(f"{where}.sees must be one of {SEES}, got {sees!r}")
    values: dict[str, float] = {}
    for key, default in (("gain", 1.0), ("dark_rate", 0.0), ("dead_time", 0.0), ("max_rate", math.inf)):
        v = spec.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise ValueError(f"{where}.{key} must be a non-negative number, got {v!r}")
        values[key] = float(v)
    return Detector(name=name, sees=str(sees), gain=values["gain"], dark_rate=values["dark_rate"],
                    dead_time=values["dead_time"], max_rate=values["max_rate"])
