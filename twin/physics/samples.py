"""Samples: what the beam sees at the sample position, as a function of the axes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from twin.physics.clock import keyed_rng


@dataclass(frozen=True)
class GaussianPeak:
    """A peak in count rate along one axis (a diffraction peak, a beam profile)."""

    axis: str
    center: float
    sigma: float
    peak_rate: float
    background_rate: float

    def rate(self, positions: dict[str, float]) -> float:
        """Noise-free count rate (counts/s) at the given axis positions."""
        x = positions[self.axis]
        return self.background_rate + self.peak_rate * math.exp(
            -0.5 * ((x - self.center) / self.sigma) ** 2
        )

    def truth(self) -> dict[str, float]:
        """Ground truth that scenarios compare results with."""
        return {"center": self.center, "sigma": self.sigma, "peak_rate": self.peak_rate}


def make_sample(spec: dict[str, Any], seed: int) -> GaussianPeak:
    """Build the sample named by ``spec['kind']``; random parameters are drawn from ``seed``."""
    kind = spec.get("kind")
    if kind != "gaussian_peak":
        raise ValueError(f"physics.sample.kind: unknown sample kind {kind!r} (known: gaussian_peak)")
    lo, hi = (float(v) for v in spec.get("center_range", (0.0, 0.0)))
    if hi < lo:
        raise ValueError(f"physics.sample.center_range: low {lo} above high {hi}")
    center = float(keyed_rng(seed, "sample.center").uniform(lo, hi))
    return GaussianPeak(
        axis=str(spec["axis"]),
        center=center,
        sigma=float(spec.get("sigma", 1.0)),
        peak_rate=float(spec.get("peak_rate", 1e4)),
        background_rate=float(spec.get("background_rate", 0.0)),
    )
