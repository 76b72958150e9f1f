"""A camera's image of the beam spot: a Gaussian on a pixel grid, Poisson noise, background,
bit-depth clipping. Pure: the random draw is keyed by (seed, channel, simulated time)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.physics.clock import keyed_rng
from twin.physics.optics import GaussianBeam


@dataclass(frozen=True)
class CameraModel:
    """A screen camera: ``pixel`` mm per pixel, ``efficiency`` counts per photon, a ``background``
    of counts/pixel/s, and ``bits`` of depth (pixels clip at 2**bits − 1). ``behind_sample``: the
    screen sits downstream of the sample and sees the beam the sample transmits (else the beam
    arriving at the sample)."""

    width: int = 128
    height: int = 96
    pixel: float = 0.01
    efficiency: float = 1e-6
    background: float = 20.0
    bits: int = 12
    behind_sample: bool = False

    @property
    def max_value(self) -> int:
        """The brightest pixel value."""
        return int(2**self.bits - 1)

    def expected(self, beam: GaussianBeam, exposure: float, size_x: int, size_y: int) -> np.ndarray:
        """Mean counts per pixel (float, shape (size_y, size_x)) for ``exposure`` s of ``beam``."""
        x = (np.arange(size_x) - (size_x - 1) / 2) * self.pixel
        y = (np.arange(size_y) - (size_y - 1) / 2) * self.pixel
        sx, sy = max(beam.sx, self.pixel / 4), max(beam.sy, self.pixel / 4)
        gx = np.exp(-0.5 * ((x - beam.x) / sx) ** 2) * self.pixel / (sx * np.sqrt(2 * np.pi))
        gy = np.exp(-0.5 * ((y - beam.y) / sy) ** 2) * self.pixel / (sy * np.sqrt(2 * np.pi))
        photons = beam.flux * exposure * np.outer(gy, gx)
        return np.asarray(photons * self.efficiency + self.background * exposure)

    def frame(self, beam: GaussianBeam, exposure: float, size_x: int, size_y: int, seed: int, channel: str,
              t: float) -> np.ndarray:
        """One image: Poisson counts around ``expected``, clipped to the bit depth (uint16)."""
        mean = self.expected(beam, exposure, size_x, size_y)
        counts = keyed_rng(seed, channel, t).poisson(mean)
        return np.asarray(np.clip(counts, 0, self.max_value).astype(np.uint16))
