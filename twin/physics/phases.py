"""A combinatorial sample library: crystalline phases spread over a wafer, seen by powder diffraction.

The wafer lies on a stage (axes ``x``, ``y``); a point detector on a 2θ arm (axis ``axis``,
degrees) counts the diffracted intensity. Across the wafer the phase changes at two curved
boundaries whose positions are drawn from the seed; within ``mixing`` (a fraction of the
wafer's width) of a boundary both phases are present. Each phase is a cubic lattice (sc,
bcc or fcc) with lattice constant ``a`` (Å): its allowed reflections hkl sit at
2θ = 2·asin(λ/2d), d = a/√(h²+k²+l²), with multiplicity × Lorentz-polarisation intensities
and Gaussian peaks of ``width`` degrees FWHM. Pure numpy, deterministic under the seed.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from twin.physics.clock import keyed_rng
from twin.physics.optics import HC

LATTICES = ("sc", "bcc", "fcc")


def _allowed(lattice: str, h: int, k: int, m: int) -> bool:
    if lattice == "bcc":
        return (h + k + m) % 2 == 0
    if lattice == "fcc":
        return len({h % 2, k % 2, m % 2}) == 1
    return True


@dataclass(frozen=True)
class Phase:
    """A cubic crystalline phase."""

    name: str
    lattice: str
    a: float

    def reflections(self, energy_kev: float, two_theta_max: float = 120.0) -> list[tuple[float, float]]:
        """(2θ degrees, relative intensity) of every allowed reflection below ``two_theta_max``."""
        return _reflections(self, float(energy_kev), float(two_theta_max))


@functools.lru_cache(maxsize=64)
def _reflections(phase: Phase, energy_kev: float, two_theta_max: float) -> list[tuple[float, float]]:
    wavelength = HC / energy_kev
    counts: dict[int, int] = {}
    for h, k, m in itertools.product(range(-6, 7), repeat=3):
        n = h * h + k * k + m * m
        if n and _allowed(phase.lattice, h, k, m):
            counts[n] = counts.get(n, 0) + 1  # multiplicity of the {hkl} family
    out = []
    for n, mult in sorted(counts.items()):
        s = wavelength * math.sqrt(n) / (2 * phase.a)
        if s >= 1:
            break
        theta = math.asin(s)
        two_theta = math.degrees(2 * theta)
        if two_theta > two_theta_max:
            break
        lp = (1 + math.cos(2 * theta) ** 2) / (math.sin(theta) ** 2 * math.cos(theta))
        out.append((two_theta, mult * lp))
    top = max((i for _, i in out), default=1.0)
    return [(tt, i / top) for tt, i in out]


@dataclass(frozen=True)
class PhaseLibrary:
    """Phases over a wafer (see the module docstring); ``signal`` is the detector's rate in counts/s."""

    axis: str
    x: str
    y: str
    phases: tuple[Phase, ...]
    boundaries: tuple[float, float]  # in the wafer's normalised coordinate u ∈ [0, 1]
    wave: tuple[float, float]        # (amplitude, phase) of the boundaries' curvature
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    width: float = 0.6
    mixing: float = 0.02
    peak_rate: float = 5e3
    background_rate: float = 50.0

    def _u(self, xv: ArrayLike, yv: ArrayLike) -> np.ndarray[Any, Any]:
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        u = (np.asarray(xv, dtype=float) - x0) / (x1 - x0)
        v = (np.asarray(yv, dtype=float) - y0) / (y1 - y0)
        return np.asarray(u + self.wave[0] * np.sin(3.0 * v + self.wave[1]))

    def fractions(self, xv: ArrayLike, yv: ArrayLike) -> np.ndarray[Any, Any]:
        """Phase fractions (…, n_phases) at positions: smooth steps across the boundaries."""
        u = self._u(xv, yv)
        steps = [1.0 / (1.0 + np.exp(-np.clip((u - b) / self.mixing, -60, 60))) for b in self.boundaries]
        out = [1.0 - steps[0]]
        for i in range(len(steps) - 1):
            out.append(steps[i] - steps[i + 1])
        out.append(steps[-1])
        return np.stack(out, axis=-1)

    def labels(self, xv: ArrayLike, yv: ArrayLike) -> np.ndarray[Any, Any]:
        """The majority phase (index into ``phases``) at positions."""
        return np.asarray(np.argmax(self.fractions(xv, yv), axis=-1))

    def pattern(self, two_theta: ArrayLike, xv: float, yv: float, energy_kev: float) -> np.ndarray[Any, Any]:
        """Noise-free count rate over ``two_theta`` at wafer position (xv, yv)."""
        tt = np.asarray(two_theta, dtype=float)
        sigma = self.width / (2 * math.sqrt(2 * math.log(2)))
        rate = np.full(tt.shape, self.background_rate)
        for f, phase in zip(self.fractions(xv, yv), self.phases, strict=True):
            if f < 1e-6:
                continue
            for centre, intensity in phase.reflections(energy_kev):
                rate = rate + self.peak_rate * f * intensity * np.exp(-0.5 * ((tt - centre) / sigma) ** 2)
        return rate

    def transmission(self, positions: dict[str, float], energy_kev: float) -> float:
        """A thin film transmits (almost) everything."""
        return 1.0

    def signal(self, positions: dict[str, float], energy_kev: float) -> float:
        """The diffracted rate at the arm's 2θ and the stage's position."""
        return float(self.pattern(positions[self.axis], positions[self.x], positions[self.y], energy_kev))

    def truth(self) -> dict[str, Any]:
        """The phases, the boundaries (normalised coordinate) and their curvature."""
        return {"phases": [{"name": p.name, "lattice": p.lattice, "a": p.a} for p in self.phases],
                "boundaries": list(self.boundaries), "wave": list(self.wave),
                "x_range": list(self.x_range), "y_range": list(self.y_range)}


DEFAULT_PHASES = ({"name": "alpha", "lattice": "fcc", "a": 3.615}, {"name": "beta", "lattice": "bcc", "a": 2.866},
                  {"name": "gamma", "lattice": "sc", "a": 3.35})


def make_phase_library(spec: dict[str, Any], seed: int) -> PhaseLibrary:
    """A ``PhaseLibrary`` from ``physics.sample`` (kind ``phase_library``); errors name the field."""
    for key in ("axis", "x", "y"):
        if key not in spec:
            raise ValueError(f"physics.sample.{key}: missing (the axis name)")
    raw = spec.get("phases", DEFAULT_PHASES)
    if not isinstance(raw, list | tuple) or len(raw) != 3:
        raise ValueError("physics.sample.phases must list 3 phases (name, lattice, a)")
    phases = []
    for i, p in enumerate(raw):
        if not isinstance(p, dict) or p.get("lattice") not in LATTICES:
            raise ValueError(f"physics.sample.phases[{i}].lattice must be one of {LATTICES}, got {p!r}")
        a = p.get("a")
        if isinstance(a, bool) or not isinstance(a, int | float) or a <= 0:
            raise ValueError(f"physics.sample.phases[{i}].a must be a positive lattice constant (Å), got {a!r}")
        phases.append(Phase(str(p.get("name", f"phase{i}")), str(p["lattice"]), float(a)))
    ranges = []
    for key in ("x_range", "y_range"):
        value = spec.get(key, (-5.0, 5.0))
        if not isinstance(value, list | tuple) or len(value) != 2 or not float(value[0]) < float(value[1]):
            raise ValueError(f"physics.sample.{key} must be [low, high] with low < high, got {value!r}")
        ranges.append((float(value[0]), float(value[1])))
    numbers: dict[str, float] = {}
    for key, default in (("width", 0.6), ("mixing", 0.02), ("peak_rate", 5e3), ("background_rate", 50.0)):
        v = spec.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0 or (key in ("width", "mixing") and v == 0):
            raise ValueError(f"physics.sample.{key} must be a positive number, got {v!r}")
        numbers[key] = float(v)
    rng = keyed_rng(seed, "sample.phases")
    first = float(rng.uniform(0.28, 0.40))
    second = float(rng.uniform(0.60, 0.72))
    wave = (float(rng.uniform(0.05, 0.12)), float(rng.uniform(0, 2 * math.pi)))
    return PhaseLibrary(axis=str(spec["axis"]), x=str(spec["x"]), y=str(spec["y"]), phases=tuple(phases),
                        boundaries=(first, second), wave=wave, x_range=ranges[0], y_range=ranges[1], **numbers)
