"""The physics models alone, each against an independent computation: numerical integration,
Monte Carlo, or tabulated data (xraydb's edge energies, attenuation and Darwin widths)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xraydb
from scipy.constants import c, e, h
from scipy.integrate import quad
from scipy.optimize import brentq

from twin.physics import (
    DCM,
    BeamlineModel,
    Detector,
    Mirror,
    StorageRing,
    XafsEdge,
    bragg_angle,
    bragg_energy,
    keyed_rng,
    slit_transmission,
)
from twin.physics.samples import Shell, make_sample


@pytest.mark.parametrize(("low", "high", "centre", "sigma"), [(-1, 1, 0, 1), (-0.2, 0.5, 0.1, 0.3), (2, 3, 0, 1),
                                                                (-5, 5, 0, 0.5)])
def test_slit_transmission_is_the_integral_of_the_gaussian(low: float, high: float, centre: float,
                                                           sigma: float) -> None:
    pdf = lambda x: math.exp(-0.5 * ((x - centre) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))  # noqa: E731
    expected, _ = quad(pdf, low, high)
    assert slit_transmission(low, high, centre, sigma) == pytest.approx(expected, abs=1e-9)
    assert slit_transmission(1.0, 1.0, 0.0, 1.0) == 0.0


@pytest.mark.parametrize("energy_ev", [5000.0, 8000.0, 12000.0, 20000.0])
def test_bragg_energy_and_angle_against_xraydb_and_a_numerical_solve(energy_ev: float) -> None:
    theta = bragg_angle(energy_ev / 1e3)
    assert theta == pytest.approx(math.degrees(xraydb.darwin_width(energy_ev, "Si", (1, 1, 1)).theta), abs=0.01)
    wavelength = h * c / (energy_ev * e) * 1e10  # Å
    solved = brentq(lambda th: 2 * 3.1356 * math.sin(math.radians(th)) - wavelength, 1.0, 89.0)
    assert theta == pytest.approx(solved, abs=1e-6)
    assert bragg_energy(theta) == pytest.approx(energy_ev / 1e3, rel=1e-9)


@pytest.mark.parametrize("energy_ev", [8000.0, 12000.0, 20000.0])
def test_dcm_widths_against_xraydb(energy_ev: float) -> None:
    dcm = DCM()
    dw = xraydb.darwin_width(energy_ev, "Si", (1, 1, 1))
    assert dcm.darwin_width(energy_ev / 1e3) == pytest.approx(dw.theta_fwhm * 1e6, rel=0.03)
    # two-crystal throughput vs detuning: half maximum at the rocking curve's half width
    half = dw.rocking_theta_fwhm * 1e6 / 2
    ratio = dcm.transmission(energy_ev / 1e3, half) / dcm.transmission(energy_ev / 1e3, 0.0)
    assert ratio == pytest.approx(0.5, abs=0.06)
    assert dcm.bandwidth(energy_ev / 1e3) * energy_ev == pytest.approx(dw.energy_fwhm, rel=0.05)


def test_dcm_detuning_is_the_overlap_of_two_rocking_curves() -> None:
    dcm = DCM()
    w = dcm.darwin_width(10.0)
    sig = w / (2 * math.sqrt(2 * math.log(2)))
    curve = lambda x: math.exp(-0.5 * (x / sig) ** 2)  # noqa: E731
    for detune in (0.0, 10.0, 25.0, 50.0):
        overlap, _ = quad(lambda x, d=detune: curve(x) * curve(x - d), -10 * w, 10 * w)
        peak, _ = quad(lambda x: curve(x) ** 2, -10 * w, 10 * w)
        assert dcm.transmission(10.0, detune) / dcm.transmission(10.0, 0.0) == pytest.approx(overlap / peak, rel=1e-6)


def test_mirror_pitch_moves_the_spot_by_twice_the_angle() -> None:
    m = Mirror(distance=12.0, nominal_pitch=3.0)
    for dtheta_mrad in (-0.2, 0.05, 0.3):
        geometric = 12.0e3 * math.tan(2 * dtheta_mrad * 1e-3)  # mm
        assert m.spot_shift(3.0 + dtheta_mrad) == pytest.approx(geometric, rel=1e-4)
    assert m.reflect(m.cutoff(3.0) - 3.0, 3.0) > 0.85 and m.reflect(m.cutoff(3.0) + 3.0, 3.0) < 0.01


@pytest.mark.parametrize("element", ["Fe", "Ni", "Cu", "Zn"])
def test_xafs_edge_position_and_jump_against_xraydb(element: str) -> None:
    sample = XafsEdge(element=element, thickness_um=5.0)
    e0 = xraydb.xray_edge(element, "K").energy
    energies = np.arange(e0 - 60, e0 + 60, 0.1)
    mu = sample.mu_rho(energies, exafs=False)
    assert energies[np.argmax(np.gradient(mu, energies))] == pytest.approx(e0, abs=1.0)
    for offset in (-300.0, -100.0, 50.0, 300.0, 800.0):
        assert float(sample.mu_rho(e0 + offset, exafs=False)) == pytest.approx(
            float(xraydb.mu_elam(element, e0 + offset)), rel=0.03)
    jump = float(sample.mu_rho(e0 + 30, exafs=False) - sample.mu_rho(e0 - 30, exafs=False))
    assert jump == pytest.approx(float(xraydb.mu_elam(element, e0 + 30) - xraydb.mu_elam(element, e0 - 30)), rel=0.03)
    density = xraydb.atomic_density(element)
    it_over_i0 = sample.transmission({}, (e0 + 100) / 1e3)
    assert it_over_i0 == pytest.approx(math.exp(-float(xraydb.mu_elam(element, e0 + 100)) * density * 5e-4), rel=0.03)


def test_exafs_oscillates_with_the_shell_distance() -> None:
    sample = XafsEdge(element="Cu", thickness_um=5.0, shells=(Shell(12, 2.55, 0.003),))
    k = np.linspace(2.0, 14.0, 2048)
    energies = sample.edge_ev + k**2 / 0.2624682843
    mu = sample.mu_rho(energies)
    chi = mu / sample.mu_rho(energies, exafs=False) - 1
    r = np.linspace(0.5, 6.0, 1101)
    ft = np.abs([np.trapezoid(chi * k * np.exp(-2j * k * rr), k) for rr in r])
    assert r[np.argmax(ft)] == pytest.approx(2.55, abs=0.05)


def test_counts_are_poisson_with_the_right_mean_and_variance() -> None:
    det = Detector(name="ct", dark_rate=20.0)
    rate, span = 380.0, 0.5
    counts = np.array([det.count(3, rate, span, t_end=1.0 + 0.01 * i, t_mid=0.0) for i in range(4000)])
    lam = (rate + 20.0) * span
    assert counts.mean() == pytest.approx(lam, abs=4 * math.sqrt(lam / len(counts)))
    assert counts.var(ddof=1) == pytest.approx(lam, rel=0.1)


def test_dead_time_against_an_event_by_event_simulation() -> None:
    tau, true_rate, span = 2e-6, 2e5, 0.2
    rng = np.random.default_rng(1)
    arrivals = np.cumsum(rng.exponential(1 / true_rate, int(true_rate * span * 1.2)))
    arrivals = arrivals[arrivals < span]
    recorded, busy_until = 0, -1.0
    for t in arrivals:  # a non-paralyzable counter ignores arrivals while busy
        if t >= busy_until:
            recorded += 1
            busy_until = t + tau
    det = Detector(name="ct", dead_time=tau)
    assert det.observed_rate(true_rate) * span == pytest.approx(recorded, rel=0.01)


def test_saturation_clips_at_the_ceiling() -> None:
    det = Detector(name="i0", gain=1.0, max_rate=1e6)
    assert det.count(0, 5e6, 1.0, 1.0, 0.5) == 1_000_000
    assert det.saturated(5e6, 0.0) and not det.saturated(1e5, 0.0)


def test_ring_top_up_sawtooth_and_dumps() -> None:
    ring = StorageRing(nominal=500.0, band=0.005, lifetime=3 * 3600.0)
    t = np.arange(0.0, 3600.0, 0.5)
    current = np.array([ring.current(x) for x in t])
    assert current.min() >= 500 * 0.995 - 1e-9 and current.max() <= 500 * 1.005 + 1e-9
    injections = int(np.sum(np.diff(current) > 0))
    # the time to decay from 502.5 to 497.5 mA, solved numerically from dI/dt = −I/τ
    period = brentq(lambda s: 502.5 * math.exp(-s / (3 * 3600.0)) - 497.5, 1.0, 1e5)
    assert injections == int(3600.0 / period)
    ring.dump(1000.0, 30.0)
    assert ring.current(1010.0) == 0.0 and not ring.beam_available(1010.0)
    assert ring.topup_countdown(1010.0) == pytest.approx(20.0)
    assert ring.current(1031.0) == pytest.approx(502.5, rel=1e-4) and ring.beam_available(1031.0)


def test_random_dumps_follow_the_seed() -> None:
    a = StorageRing(dump_rate=2.0, seed=5).dumps[:5]
    assert a == StorageRing(dump_rate=2.0, seed=5).dumps[:5] != StorageRing(dump_rate=2.0, seed=6).dumps[:5]
    gaps = np.diff([d[0] for d in StorageRing(dump_rate=2.0, seed=5).dumps])
    assert np.mean(gaps) == pytest.approx(1800.0, rel=0.1)


XAFS_PHYSICS = {
    "axes": {"theta": {"position": bragg_angle(8.9), "velocity": 0.5, "low_limit": 3, "high_limit": 30},
             "pitch2": {"position": 0.0}, "mpitch": {"position": 3.0}},
    "ring": {"nominal": 500.0},
    "optics": {"dcm": {"theta": "theta", "pitch2": "pitch2"}, "mirror": {"pitch": "mpitch"}},
    "sample": {"kind": "xafs_edge", "element": "Cu", "thickness_um": 6.0, "shells": [{"n": 12, "r": 2.55}]},
    "detectors": {"I0": {"sees": "i0", "gain": 1e-4}, "It": {"sees": "it", "gain": 1e-4},
                  "If": {"sees": "signal", "dark_rate": 5.0}},
}


def test_the_chain_gives_an_edge_in_it_over_i0() -> None:
    model = BeamlineModel(XAFS_PHYSICS, seed=1)
    ratio = []
    for energy in (8.9, 9.1):
        model.axes["theta"].redefine(bragg_angle(energy), 0.0)
        ratio.append(model.input_rate("It", 0.0) / model.input_rate("I0", 0.0))
    mu = [-math.log(x) for x in ratio]
    expected = [float(xraydb.mu_elam("Cu", e)) * xraydb.atomic_density("Cu") * 6e-4 for e in (8900.0, 9100.0)]
    assert mu[0] == pytest.approx(expected[0], rel=0.03)
    assert mu[1] == pytest.approx(expected[1], rel=0.15)  # EXAFS wiggles on top of the tabulated value
    model.axes["pitch2"].redefine(200.0, 0.0)  # a detuned second crystal passes almost nothing
    assert model.input_rate("I0", 0.0) < 1e-3 * ratio[0] * 1e12


def test_counts_scale_with_ring_current_and_time() -> None:
    physics = dict(XAFS_PHYSICS, ring={"nominal": 500.0, "dumps": [[100.0, 50.0]]})
    model = BeamlineModel(physics, seed=2)
    full = model.input_rate("I0", 10.0)
    assert model.input_rate("I0", 120.0) == 0.0  # during the dump
    assert model.input_rate("I0", 10.0) == pytest.approx(full)
    assert model.ring is not None and full == pytest.approx(model.input_rate("I0", 10.0))
    c1 = np.mean([model.count("I0", 0.0 + i, 1.0 + i) for i in range(20)])
    c2 = np.mean([model.count("I0", 0.0 + i, 2.0 + i) for i in range(20)])
    assert c2 / c1 == pytest.approx(2.0, rel=0.02)


def test_same_seed_same_numbers() -> None:
    a, b, other = (BeamlineModel(XAFS_PHYSICS, seed=s) for s in (4, 4, 5))
    seq = [(ch, 0.1 * i, 0.1 * i + 0.5) for i in range(5) for ch in ("I0", "It", "If")]
    assert [a.count(*x) for x in seq] == [b.count(*x) for x in seq] != [other.count(*x) for x in seq]
    b.count("I0", 7.0, 8.0)  # an extra read elsewhere shifts nothing
    assert [a.count(*x) for x in seq] == [b.count(*x) for x in seq]


def test_map_sample_varies_over_x_and_y_and_follows_the_seed() -> None:
    spec = {"kind": "map2d", "x": "sx", "y": "sy", "n_blobs": 3}
    s1, s2 = make_sample(spec, 1), make_sample(spec, 1)
    assert s1 == s2 and s1 != make_sample(spec, 2)
    bx, by, _, _ = s1.truth()["blobs"][0]
    at_blob = s1.signal({"sx": bx, "sy": by}, 10.0)
    far = s1.signal({"sx": 50.0, "sy": 50.0}, 10.0)
    assert at_blob > 5 * far and s1.transmission({"sx": bx, "sy": by}, 10.0) < 1.0


def test_keyed_rng_depends_on_time() -> None:
    assert keyed_rng(1, "x", 1.0).random() != keyed_rng(1, "x", 1.000001).random()


@pytest.mark.parametrize(("physics", "field"), [
    ({"axes": {"m": {"velocity": "fast"}}, "sample": {"kind": "gaussian_peak", "axis": "m"}},
     "physics.axes.m.velocity"),
    ({"axes": {"m": {}}, "sample": {"kind": "gaussian_peak", "axis": "n"}}, "physics.sample.axis"),
    ({"axes": {"m": {}}, "sample": {"kind": "gaussian_peak", "axis": "m"}, "optics": {"dcm": {"theta": "q"}}},
     "physics.optics.dcm.theta"),
    ({"axes": {"m": {}}, "sample": {"kind": "gaussian_peak", "axis": "m"}, "ring": {"lifetim": 3}}, "physics.ring"),
    ({"axes": {"m": {}}, "sample": {"kind": "xafs_edge", "element": "Xx"}}, "physics.sample.element"),
    ({"axes": {"m": {}}, "sample": {"kind": "gaussian_peak", "axis": "m"}, "detectors": {"d": {"sees": "x"}}},
     "physics.detectors.d.sees"),
])
def test_bad_physics_names_the_field(physics: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        BeamlineModel(physics)


def test_clipped_centre_and_mirror_footprint_against_monte_carlo() -> None:
    from twin.physics.optics import clipped_centre

    rng = np.random.default_rng(1)
    y = rng.normal(0.3, 0.2, size=400_000)
    for lo, hi in ((-0.1, 0.2), (0.25, 0.9), (0.5, 0.6)):
        inside = y[(y > lo) & (y < hi)]
        assert clipped_centre(lo, hi, 0.3, 0.2) == pytest.approx(inside.mean(), abs=3e-3)
    assert clipped_centre(-1.0, 1.0, 0.0, 0.1) == pytest.approx(0.0, abs=1e-12)
    m = Mirror(length=100.0, offset=0.05)  # 100 mm at 3 mrad: a 0.3 mm high window around +0.05 mm
    assert m.acceptance(0.05, 0.01, 3.0) == pytest.approx(1.0)
    assert m.acceptance(0.05 + 0.15, 1e-4, 3.0) == pytest.approx(0.5, abs=1e-3)
    assert m.acceptance(0.05, 0.1, 4.0) > m.acceptance(0.05, 0.1, 2.0)  # steeper: a taller footprint
    assert Mirror().acceptance(5.0, 0.1, 3.0) == 1.0  # no length: no footprint limit
    assert DCM().deflection(10.0) == pytest.approx(0.02)  # 2δ, in mrad
