"""Source and optics: an undulator-like Gaussian source, slits, a double-crystal monochromator,
a focusing mirror and a shutter. Pure functions of axis positions and energy."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.special import erf

#: h·c in keV·Å.
HC = 12.398419843320026
#: Si(111) lattice spacing, Å.
SI111_D = 3.1356


def bragg_angle(energy_kev: float, d: float = SI111_D) -> float:
    """Bragg angle (degrees) that selects ``energy_kev`` from planes of spacing ``d`` (first order)."""
    s = HC / (2 * d * energy_kev)
    if not 0 < s <= 1:
        raise ValueError(f"{energy_kev} keV cannot be reflected by d = {d} Å")
    return math.degrees(math.asin(s))


def bragg_energy(theta_deg: float, d: float = SI111_D) -> float:
    """Energy (keV) selected at Bragg angle ``theta_deg`` (degrees)."""
    s = math.sin(math.radians(theta_deg))
    if s <= 0:
        raise ValueError(f"Bragg angle must be > 0°, got {theta_deg}")
    return HC / (2 * d * s)


@dataclass(frozen=True)
class GaussianBeam:
    """A beam at one plane: photons/s and, per direction, centre and rms size (mm)."""

    flux: float
    x: float
    y: float
    sx: float
    sy: float


@dataclass(frozen=True)
class UndulatorSource:
    """Source size and divergence (rms, mm and mrad), and flux per mA in the DCM's bandwidth
    around ``energy`` with a broad spectral envelope (``peak`` keV, rms ``width`` keV)."""

    sx: float = 0.03
    sy: float = 0.005
    divx: float = 0.02
    divy: float = 0.01
    flux_per_ma: float = 2e10
    peak: float = 10.0
    width: float = 6.0

    def beam_at(self, distance: float, current_ma: float, energy_kev: float) -> GaussianBeam:
        """The beam ``distance`` m downstream (sizes add in quadrature with divergence·distance)."""
        spectrum = math.exp(-0.5 * ((energy_kev - self.peak) / self.width) ** 2)
        return GaussianBeam(
            flux=self.flux_per_ma * current_ma * spectrum,
            x=0.0, y=0.0,
            sx=math.hypot(self.sx, self.divx * distance),
            sy=math.hypot(self.sy, self.divy * distance),
        )


def slit_transmission(low: float, high: float, centre: float, sigma: float) -> float:
    """Fraction of a Gaussian (``centre``, rms ``sigma``) passing between blades at ``low`` and ``high``."""
    if high <= low:
        return 0.0
    r2s = math.sqrt(2.0) * sigma
    return float(0.5 * (erf((high - centre) / r2s) - erf((low - centre) / r2s)))


def clipped_centre(low: float, high: float, centre: float, sigma: float) -> float:
    """Centroid of a Gaussian (``centre``, rms ``sigma``) cut to [``low``, ``high``] (the gap's
    middle when almost nothing passes)."""
    if high <= low:
        return 0.5 * (low + high)
    a, b = (low - centre) / sigma, (high - centre) / sigma
    mass = 0.5 * (erf(b / math.sqrt(2.0)) - erf(a / math.sqrt(2.0)))
    if mass < 1e-12:
        return 0.5 * (low + high)
    pdf = (math.exp(-0.5 * a * a) - math.exp(-0.5 * b * b)) / math.sqrt(2 * math.pi)
    return float(min(max(centre + sigma * pdf / mass, low), high))


def through_slits(beam: GaussianBeam, hcen: float, hsize: float, vcen: float, vsize: float) -> GaussianBeam:
    """The beam after a pair of slit pairs (centre/size per direction); the size clips to the gap
    and an off-centre gap moves the centroid to the middle of what passes."""
    th = slit_transmission(hcen - hsize / 2, hcen + hsize / 2, beam.x, beam.sx)
    tv = slit_transmission(vcen - vsize / 2, vcen + vsize / 2, beam.y, beam.sy)
    # rms of a uniformly filled gap is size/√12: a Gaussian clipped by a narrow gap is no wider
    sx = min(beam.sx, max(hsize, 0.0) / math.sqrt(12)) if hsize < 4 * beam.sx else beam.sx
    sy = min(beam.sy, max(vsize, 0.0) / math.sqrt(12)) if vsize < 4 * beam.sy else beam.sy
    x = clipped_centre(hcen - hsize / 2, hcen + hsize / 2, beam.x, beam.sx) if hsize < 1e3 else beam.x
    y = clipped_centre(vcen - vsize / 2, vcen + vsize / 2, beam.y, beam.sy) if vsize < 1e3 else beam.y
    return GaussianBeam(beam.flux * th * tv, x, y, max(sx, 1e-6), max(sy, 1e-6))


@dataclass(frozen=True)
class DCM:
    """A Si(111) double-crystal monochromator: Bragg's law, a rocking curve of FWHM
    ``darwin_8kev`` µrad at 8 keV (Si(111): 36.4) scaling with tan θ, and a peak reflectivity per crystal.
    A second crystal detuned by δ µrad deflects the exit beam by 2δ; at ``distance`` m upstream
    of the sample that moves the spot (0: no geometry, the spot stays put). The crystals are
    parallel at a fine-pitch reading of ``offset`` µrad (the model subtracts it)."""

    d: float = SI111_D
    darwin_8kev: float = 36.4
    reflectivity: float = 0.95
    distance: float = 0.0
    offset: float = 0.0  # µrad: the fine-pitch reading at which the crystals are parallel

    def darwin_width(self, energy_kev: float) -> float:
        """Rocking-curve FWHM (µrad) at ``energy_kev``."""
        t8 = math.tan(math.radians(bragg_angle(8.0, self.d)))
        return self.darwin_8kev * math.tan(math.radians(bragg_angle(energy_kev, self.d))) / t8

    def bandwidth(self, energy_kev: float) -> float:
        """Relative bandwidth ΔE/E = ω·cot θ."""
        theta = math.radians(bragg_angle(energy_kev, self.d))
        return self.darwin_width(energy_kev) * 1e-6 / math.tan(theta)

    def transmission(self, energy_kev: float, mismatch_urad: float) -> float:
        """Throughput of both crystals with the second detuned by ``mismatch_urad``: the overlap of
        two rocking curves (Gaussian, FWHM ω each) is a Gaussian of FWHM √2·ω."""
        w = math.sqrt(2.0) * self.darwin_width(energy_kev)
        return self.reflectivity**2 * math.exp(-4 * math.log(2) * (mismatch_urad / w) ** 2)

    def deflection(self, mismatch_urad: float) -> float:
        """Exit-beam angle change (mrad) for a second crystal detuned by ``mismatch_urad``."""
        return 2e-3 * mismatch_urad


@dataclass(frozen=True)
class Mirror:
    """A focusing mirror at ``distance`` m from the sample: a pitch change Δθ (mrad) moves the spot
    by 2·D·Δθ; the reflectivity falls off above the cut-off energy ``k_cut / pitch`` (keV). A mirror of
    ``length`` mm (0: unlimited) at pitch θ intercepts a vertical window L·θ high around its
    centre at ``offset`` mm: a beam that misses it, or overfills it at grazing pitch, is lost."""

    distance: float = 10.0
    nominal_pitch: float = 3.0
    k_cut: float = 41.0
    reflectivity: float = 0.9
    edge_width: float = 0.5
    focus: float = 0.1
    length: float = 0.0
    offset: float = 0.0

    def cutoff(self, pitch_mrad: float) -> float:
        """Cut-off energy (keV) at ``pitch_mrad``."""
        return self.k_cut / max(pitch_mrad, 1e-6)

    def reflect(self, energy_kev: float, pitch_mrad: float) -> float:
        """Reflectivity at ``energy_kev`` and ``pitch_mrad`` (a smooth Fermi cut-off)."""
        z = (energy_kev - self.cutoff(pitch_mrad)) / self.edge_width
        return self.reflectivity / (1.0 + math.exp(min(z, 700.0)))

    def acceptance(self, y: float, sigma: float, pitch_mrad: float) -> float:
        """Fraction of a beam at height ``y`` (mm, rms ``sigma``) that the mirror's footprint intercepts."""
        if self.length <= 0:
            return 1.0
        half = 0.5e-3 * self.length * max(pitch_mrad, 0.0)  # mm·mrad → mm
        return slit_transmission(self.offset - half, self.offset + half, y, sigma)

    def spot_shift(self, pitch_mrad: float) -> float:
        """Vertical spot displacement (mm) at the sample: 2·D·Δθ."""
        return 2.0 * self.distance * (pitch_mrad - self.nominal_pitch)  # m·mrad = mm


__all__ = ["DCM", "HC", "SI111_D", "GaussianBeam", "Mirror", "UndulatorSource", "bragg_angle", "bragg_energy",
           "clipped_centre", "slit_transmission", "through_slits"]
