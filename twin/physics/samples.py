"""Samples: what the beam sees at the sample position, as a function of the axes and the energy.

Every sample offers ``transmission(positions, energy)`` (the fraction of I0 reaching It) and
``signal(positions, energy)`` (the counter's rate in counts/s at the reference flux).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from twin.physics.clock import keyed_rng

#: K edges: element → (edge energy eV, μ/ρ just below at E0 cm²/g, exponent below,
#: μ/ρ just above at E0 cm²/g, exponent above, density g/cm³); μ/ρ(E) = A·(E/E0)^−p.
K_EDGES: dict[str, tuple[float, float, float, float, float, float]] = {
    "Mn": (6539.0, 58.03, 2.747, 452.24, 2.472, 7.21),
    "Fe": (7112.0, 53.19, 2.741, 408.07, 2.454, 7.86),
    "Co": (7709.0, 47.11, 2.736, 355.91, 2.475, 8.90),
    "Ni": (8333.0, 44.28, 2.743, 329.42, 2.477, 8.908),
    "Cu": (8979.0, 38.29, 2.740, 278.52, 2.351, 8.96),
    "Zn": (9659.0, 35.06, 2.732, 253.79, 2.461, 7.14),
    "Se": (12658.0, 23.18, 2.719, 158.89, 2.522, 4.81),
}
#: k (Å⁻¹) = sqrt(ETOK · (E − E0) / eV)
ETOK = 0.2624682843


class Sample(Protocol):
    """What every sample kind offers the beamline model."""

    def transmission(self, positions: dict[str, float], energy_kev: float) -> float:
        """Fraction of the incident flux transmitted."""
        ...

    def signal(self, positions: dict[str, float], energy_kev: float) -> float:
        """Counter rate (counts/s) at the reference flux."""
        ...

    def truth(self) -> dict[str, Any]:
        """Ground truth for scenarios."""
        ...


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

    def transmission(self, positions: dict[str, float], energy_kev: float) -> float:
        """A thin diffracting sample transmits everything (for the ion chambers)."""
        return 1.0

    def signal(self, positions: dict[str, float], energy_kev: float) -> float:
        """The peak's rate."""
        return self.rate(positions)

    def truth(self) -> dict[str, float]:
        """Ground truth that scenarios compare results with."""
        return {"center": self.center, "sigma": self.sigma, "peak_rate": self.peak_rate}


@dataclass(frozen=True)
class Shell:
    """One EXAFS scattering shell: N neighbours at R Å with disorder σ² Å²."""

    n: float
    r: float
    sigma2: float = 0.005


@dataclass(frozen=True)
class XafsEdge:
    """A foil of ``element`` ``thickness`` µm thick: a K edge with EXAFS oscillations.

    μ(E) = μ_below(E)·(1 − s) + μ_above(E)·s·(1 + χ(k)) with an arctan step s of width ``gamma``
    eV and χ(k) = Σ N·amp·sin(2kR + φ)·e^(−2σ²k²)/(kR²), switched on smoothly by
    1 − e^(−(k/onset)⁴) (the EXAFS formula holds well above the edge only; without the
    switch, sin(2kR)/k would put a jump of ~10× the edge step at E0).
    """

    element: str
    thickness_um: float
    shells: tuple[Shell, ...] = ()
    amplitude: float = 0.8
    phase: float = 0.0
    gamma: float = 1.5
    fluorescence_rate: float = 5e4
    onset: float = 1.5

    def __post_init__(self) -> None:
        if self.element not in K_EDGES:
            raise ValueError(f"physics.sample.element: no K-edge data for {self.element!r} "
                             f"(known: {', '.join(K_EDGES)})")

    @property
    def edge_ev(self) -> float:
        """K-edge energy (eV)."""
        return K_EDGES[self.element][0]

    def chi(self, k: np.ndarray) -> np.ndarray:
        """The EXAFS χ(k) (k in Å⁻¹)."""
        k = np.asarray(k, dtype=float)
        out = np.zeros_like(k)
        safe = np.maximum(k, 1e-6)
        for sh in self.shells:
            out += (sh.n * self.amplitude * np.sin(2 * safe * sh.r + self.phase)
                    * np.exp(-2 * sh.sigma2 * safe**2) / (safe * sh.r**2))
        return np.where(k > 0, out * (1.0 - np.exp(-((safe / self.onset) ** 4))), 0.0)

    def mu_rho(self, energy_ev: np.ndarray | float, exafs: bool = True) -> np.ndarray:
        """Mass attenuation μ/ρ (cm²/g) at ``energy_ev``."""
        e0, a_lo, p_lo, a_hi, p_hi, _ = K_EDGES[self.element]
        e = np.asarray(energy_ev, dtype=float)
        below = a_lo * (e / e0) ** -p_lo
        above = a_hi * (e / e0) ** -p_hi
        step = 0.5 + np.arctan((e - e0) / (self.gamma / 2)) / np.pi
        k = np.sqrt(ETOK * np.maximum(e - e0, 0.0))
        osc = 1.0 + (self.chi(k) if exafs else 0.0)
        return np.asarray(below * (1 - step) + above * step * osc)

    def mu_t(self, energy_ev: np.ndarray | float, exafs: bool = True) -> np.ndarray:
        """Absorption μ·t of the foil."""
        density = K_EDGES[self.element][5]
        return np.asarray(self.mu_rho(energy_ev, exafs) * density * self.thickness_um * 1e-4)

    def transmission(self, positions: dict[str, float], energy_kev: float) -> float:
        """I_t/I_0 = e^(−μt)."""
        return float(np.exp(-self.mu_t(energy_kev * 1e3)))

    def signal(self, positions: dict[str, float], energy_kev: float) -> float:
        """Fluorescence: what the edge (above the extrapolated pre-edge) absorbs."""
        e = energy_kev * 1e3
        e0, a_lo, p_lo, *_ = K_EDGES[self.element]
        pre = a_lo * (e / e0) ** -p_lo * K_EDGES[self.element][5] * self.thickness_um * 1e-4
        edge = max(float(self.mu_t(e)) - pre, 0.0)
        return self.fluorescence_rate * (1 - math.exp(-edge))

    def e0_ev(self) -> float:
        """E0 as XAFS defines it: the energy of the maximum of dμt/dE (on a 0.005 eV grid)."""
        e = np.arange(self.edge_ev - 20.0, self.edge_ev + 20.0, 0.005)
        return float(e[np.argmax(np.gradient(self.mu_t(e), e))])

    def edge_step(self) -> float:
        """The jump Δμt at E0: μt just above minus just below, without EXAFS (both extrapolated to E0)."""
        e0, a_lo, p_lo, a_hi, p_hi, density = K_EDGES[self.element]
        e = self.e0_ev()
        return float((a_hi * (e / e0) ** -p_hi - a_lo * (e / e0) ** -p_lo) * density * self.thickness_um * 1e-4)

    def truth(self) -> dict[str, Any]:
        """The edge (tabulated energy, E0 from the derivative, step Δμt) and the shells."""
        return {"element": self.element, "edge": "K", "edge_ev": self.edge_ev, "e0_ev": self.e0_ev(),
                "edge_step": self.edge_step(),
                "shells": [{"n": s.n, "r": s.r, "sigma2": s.sigma2} for s in self.shells]}


@dataclass(frozen=True)
class Map2D:
    """A 2-D sample over axes ``x``/``y``: Gaussian deposits of an element on a substrate, seen by
    the counter as fluorescence and by It as extra absorption."""

    x: str
    y: str
    blobs: tuple[tuple[float, float, float, float], ...] = field(default_factory=tuple)  # (x, y, size, amp)
    peak_rate: float = 2e4
    background_rate: float = 50.0
    mu_t: float = 0.2

    def concentration(self, xv: float, yv: float) -> float:
        """Relative amount of the element at (x, y), 0…~1."""
        return sum(a * math.exp(-0.5 * ((xv - bx) ** 2 + (yv - by) ** 2) / s**2) for bx, by, s, a in self.blobs)

    def concentrations(self, xv: np.ndarray, yv: np.ndarray) -> np.ndarray:
        """:meth:`concentration` at many points at once (arrays of one shape)."""
        out = np.zeros(np.broadcast(xv, yv).shape)
        for bx, by, s, a in self.blobs:
            out = out + a * np.exp(-0.5 * ((xv - bx) ** 2 + (yv - by) ** 2) / s**2)
        return out

    def signals(self, positions: dict[str, np.ndarray], energy_kev: float) -> np.ndarray:
        """:meth:`signal` at many points at once: ``positions`` maps the two axes to arrays."""
        return self.background_rate + self.peak_rate * self.concentrations(positions[self.x], positions[self.y])

    def transmission(self, positions: dict[str, float], energy_kev: float) -> float:
        """e^(−μt·c)."""
        return math.exp(-self.mu_t * self.concentration(positions[self.x], positions[self.y]))

    def signal(self, positions: dict[str, float], energy_kev: float) -> float:
        """Fluorescence from the deposit."""
        return self.background_rate + self.peak_rate * self.concentration(positions[self.x], positions[self.y])

    def truth(self) -> dict[str, Any]:
        """The deposits: (x, y, size, amplitude)."""
        return {"blobs": [list(b) for b in self.blobs]}


def _floats(spec: dict[str, Any], key: str, n: int, default: tuple[float, ...]) -> tuple[float, ...]:
    value = spec.get(key, default)
    if not isinstance(value, list | tuple) or len(value) != n:
        raise ValueError(f"physics.sample.{key} must be a list of {n} numbers, got {value!r}")
    return tuple(float(v) for v in value)


def make_sample(spec: dict[str, Any], seed: int) -> Sample:
    """Build the sample named by ``spec['kind']``; random parameters are drawn from ``seed``."""
    kind = spec.get("kind")
    if kind == "gaussian_peak":
        lo, hi = _floats(spec, "center_range", 2, (0.0, 0.0))
        if hi < lo:
            raise ValueError(f"physics.sample.center_range: low {lo} above high {hi}")
        if "axis" not in spec:
            raise ValueError("physics.sample.axis: missing")
        center = float(keyed_rng(seed, "sample.center").uniform(lo, hi))
        return GaussianPeak(axis=str(spec["axis"]), center=center, sigma=float(spec.get("sigma", 1.0)),
                            peak_rate=float(spec.get("peak_rate", 1e4)),
                            background_rate=float(spec.get("background_rate", 0.0)))
    if kind == "xafs_edge":
        shells = tuple(Shell(float(s["n"]), float(s["r"]), float(s.get("sigma2", 0.005)))
                       for s in spec.get("shells", []))
        return XafsEdge(element=str(spec.get("element", "Cu")), thickness_um=float(spec.get("thickness_um", 5.0)),
                        shells=shells, amplitude=float(spec.get("amplitude", 0.8)), onset=float(spec.get("onset", 1.5)),
                        fluorescence_rate=float(spec.get("fluorescence_rate", 5e4)))
    if kind == "map2d":
        for key in ("x", "y"):
            if key not in spec:
                raise ValueError(f"physics.sample.{key}: missing (the axis name)")
        x0, x1 = _floats(spec, "x_range", 2, (-5.0, 5.0))
        y0, y1 = _floats(spec, "y_range", 2, (-5.0, 5.0))
        n = int(spec.get("n_blobs", 4))
        rng = keyed_rng(seed, "sample.map2d")
        smin, smax = _floats(spec, "size_range", 2, (0.3, 1.5))
        blobs = tuple((float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1)), float(rng.uniform(smin, smax)),
                       float(rng.uniform(0.3, 1.0))) for _ in range(n))
        return Map2D(x=str(spec["x"]), y=str(spec["y"]), blobs=blobs,
                     peak_rate=float(spec.get("peak_rate", 2e4)),
                     background_rate=float(spec.get("background_rate", 50.0)),
                     mu_t=float(spec.get("mu_t", 0.2)))
    if kind == "phase_library":
        from twin.physics.phases import make_phase_library

        return make_phase_library(spec, seed)
    raise ValueError(f"physics.sample.kind: unknown sample kind {kind!r} "
                     "(known: gaussian_peak, xafs_edge, map2d, phase_library)")
