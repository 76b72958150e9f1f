"""The beamline model: axes, a sample and detectors on one simulation clock."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from twin.physics.clock import SimClock, keyed_rng
from twin.physics.detectors import Detector, make_detector
from twin.physics.motion import Axis
from twin.physics.optics import DCM, GaussianBeam, Mirror, UndulatorSource, bragg_energy, through_slits
from twin.physics.ring import StorageRing
from twin.physics.samples import Sample, make_sample


def number(spec: dict[str, Any], key: str, default: float, where: str) -> float:
    """``spec[key]`` as a float (``default`` if absent); the error names ``where.key``."""
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}.{key} must be a number, got {value!r}")
    return float(value)


_AXIS_KEYS = {"position", "velocity", "accel_time", "low_limit", "high_limit", "low_switch", "high_switch",
              "home", "backlash", "egu", "precision", "description"}


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
        backlash=number(spec, "backlash", 0.0, where),
    )
    if axis.velocity <= 0:
        raise ValueError(f"{where}.velocity must be > 0, got {axis.velocity}")
    if axis.accel_time < 0:
        raise ValueError(f"{where}.accel_time must be ≥ 0, got {axis.accel_time}")
    if axis.low_limit > axis.high_limit:
        raise ValueError(f"{where}: low_limit {axis.low_limit} above high_limit {axis.high_limit}")
    return axis


def _section(physics: dict[str, Any], key: str) -> dict[str, Any]:
    value = physics.get(key) or {}
    if not isinstance(value, dict):
        raise ValueError(f"physics.{key} must be a mapping")
    return value


def _kwargs(spec: dict[str, Any], where: str, known: dict[str, float]) -> dict[str, float]:
    unknown = set(spec) - set(known)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)} (known: {sorted(known)})")
    return {k: number(spec, k, d, where) for k, d in known.items()}


@dataclass(frozen=True)
class BeamState:
    """The beam at the sample at one simulated time."""

    current: float
    energy: float
    beam: GaussianBeam
    shutter_open: bool


class BeamlineModel:
    """Everything the twin simulates, built from the ``physics`` section of a beamline file.

    The chain is ring → source → slits → DCM → mirror → shutter → sample → detectors; every
    part but the axes and the sample is optional. The model is pure: callers pass simulated
    times in; nothing here sleeps or does I/O.
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
        ring = _section(physics, "ring")
        self.ring = StorageRing(**_kwargs({k: v for k, v in ring.items() if k != "dumps"}, "physics.ring", {
            "nominal": 500.0, "band": 0.005, "lifetime": 3 * 3600.0, "refill_time": 600.0, "dump_rate": 0.0}),
            seed=self.seed, dumps=[(float(a), float(b)) for a, b in ring.get("dumps", [])]) if ring else None
        source = dict(_section(physics, "source"))
        #: source → sample distance (m); 0: offsets upstream do not travel to the sample (no geometry)
        self.sample_distance = number(source, "sample_distance", 0.0, "physics.source")
        source.pop("sample_distance", None)
        self.source = UndulatorSource(**_kwargs(source, "physics.source", {
            "sx": 0.03, "sy": 0.005, "divx": 0.02, "divy": 0.01, "flux_per_ma": 2e10, "peak": 10.0, "width": 6.0}))
        optics = _section(physics, "optics")
        unknown = set(optics) - {"slits", "dcm", "mirror", "shutter", "exit_slits"}
        if unknown:
            raise ValueError(f"physics.optics: unknown part(s) {sorted(unknown)} "
                             "(known: dcm, exit_slits, mirror, shutter, slits)")
        self.optics_axes: dict[str, str] = {}
        self.slits = self._axes_of(optics.get("slits"), "physics.optics.slits", ("hcen", "hsize", "vcen", "vsize"))
        self.slit_distance = number(optics.get("slits") or {}, "distance", 20.0, "physics.optics.slits")
        dcm = optics.get("dcm")
        #: misalignments drawn from the seed (``offset_range``): the DCM's parallel setting (µrad)
        #: and the mirror's height (mm), part of the twin's truth
        self.misalignment: dict[str, float] = {}
        self.dcm = DCM(**_kwargs(self._offset(dcm, "dcm", ("theta", "pitch2")), "physics.optics.dcm",
                                 {"d": 3.1356, "darwin_8kev": 36.4, "reflectivity": 0.95, "distance": 0.0,
                                  "offset": 0.0})
                       ) if dcm else None
        self.dcm_axes = self._axes_of(dcm, "physics.optics.dcm", ("theta", "pitch2"))
        mirror = optics.get("mirror")
        self.mirror = Mirror(**_kwargs(self._offset(mirror, "mirror", ("pitch",)), "physics.optics.mirror", {
            "distance": 10.0, "nominal_pitch": 3.0, "k_cut": 41.0, "reflectivity": 0.9, "edge_width": 0.5,
            "focus": 0.1, "length": 0.0, "offset": 0.0})) if mirror else None
        self.mirror_axes = self._axes_of(mirror, "physics.optics.mirror", ("pitch",))
        exit_slits = optics.get("exit_slits")
        self.exit_slits: dict[str, str | float] = self._settings_of(
            exit_slits, "physics.optics.exit_slits", ("hcen", "hsize", "vcen", "vsize"))
        self.shutter_open = bool((optics.get("shutter") or {}).get("open", True))
        self.energy_kev = number(physics, "energy", 10.0, "physics")
        sample = _section(physics, "sample")
        self.sample: Sample = make_sample(sample, self.seed)
        for key in ("axis", "x", "y"):
            if key in sample and sample[key] not in self.axes:
                raise ValueError(f"physics.sample.{key}: no axis named {sample[key]!r}")
        dets = dict(_section(physics, "detectors"))
        self.detectors: dict[str, Detector] = {}
        legacy_dark = float(dets.pop("dark_rate", 0.0)) if "dark_rate" in dets else 0.0
        for name, spec in dets.items():
            self.detectors[name] = make_detector(name, spec)
        self._legacy_dark = legacy_dark
        self.reference_flux = self._flux_reference()

    def _axes_of(self, spec: Any, where: str, keys: tuple[str, ...]) -> dict[str, str]:
        if spec is None:
            return {}
        if not isinstance(spec, dict):
            raise ValueError(f"{where} must be a mapping")
        out: dict[str, str] = {}
        for key in keys:
            if key in spec:
                if spec[key] not in self.axes:
                    raise ValueError(f"{where}.{key}: no axis named {spec[key]!r} in physics.axes")
                out[key] = str(spec[key])
        return out

    def _offset(self, spec: dict[str, Any], part: str, axes: tuple[str, ...]) -> dict[str, Any]:
        """``spec`` without its axis names, its ``offset`` drawn from ``offset_range`` under the seed."""
        out = {k: v for k, v in spec.items() if k not in axes}
        if "offset_range" in out:
            lo, hi = _pair(out.pop("offset_range"), f"physics.optics.{part}.offset_range")
            out["offset"] = float(keyed_rng(self.seed, f"{part}.offset").uniform(lo, hi))
            self.misalignment[f"{part}_offset"] = out["offset"]
        return out

    def _settings_of(self, spec: Any, where: str, keys: tuple[str, ...]) -> dict[str, str | float]:
        """Each of ``keys``: an axis name (the setting follows that axis) or a fixed number."""
        if spec is None:
            return {}
        if not isinstance(spec, dict):
            raise ValueError(f"{where} must be a mapping")
        unknown = set(spec) - set(keys)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {sorted(unknown)} (known: {sorted(keys)})")
        out: dict[str, str | float] = {}
        for key, value in spec.items():
            if isinstance(value, str):
                if value not in self.axes:
                    raise ValueError(f"{where}.{key}: no axis named {value!r} in physics.axes")
                out[key] = value
            else:
                out[key] = number(spec, key, 0.0, where)
        return out

    def _flux_reference(self) -> float:
        """Flux at the sample with the nominal current, the initial axes and the shutter open."""
        positions = self.positions(0.0)
        state = self._beam(positions, self.ring.nominal if self.ring else 500.0, True)
        return state.beam.flux or 1.0

    def detector(self, channel: str) -> Detector:
        """The detector named ``channel`` (a plain counter on the sample's signal if undeclared)."""
        if channel not in self.detectors:
            self.detectors[channel] = Detector(name=channel, dark_rate=self._legacy_dark)
        return self.detectors[channel]

    def positions(self, t: float) -> dict[str, float]:
        """Every axis position at simulated time ``t`` as the beam sees it (the load, after backlash)."""
        return {name: axis.load_position(t) for name, axis in self.axes.items()}

    def energy(self, positions: dict[str, float]) -> float:
        """Photon energy (keV): from the DCM's Bragg angle, else the fixed ``physics.energy``."""
        if "theta" in self.dcm_axes and self.dcm is not None:
            return bragg_energy(max(positions[self.dcm_axes["theta"]], 1e-3), self.dcm.d)
        return self.energy_kev

    def _beam(self, positions: dict[str, float], current: float, shutter_open: bool) -> BeamState:
        energy = self.energy(positions)
        beam = self.source.beam_at(self.slit_distance, current, energy)
        if self.slits:
            p = {k: positions[a] for k, a in self.slits.items()}
            beam = through_slits(beam, p.get("hcen", 0.0), p.get("hsize", 1e3), p.get("vcen", 0.0),
                                 p.get("vsize", 1e3))
        flux, x, y, sx, sy = beam.flux, beam.x, beam.y, beam.sx, beam.sy
        ray = _Ray(self.sample_distance, self.slit_distance, y, sy)
        if self.dcm is not None:
            detune = (positions[self.dcm_axes["pitch2"]] if "pitch2" in self.dcm_axes else 0.0) - self.dcm.offset
            flux *= self.dcm.transmission(energy, detune)
            ray.deflect(self.dcm.distance, self.dcm.deflection(detune))
        if self.mirror is not None:
            pitch = positions[self.mirror_axes["pitch"]] if "pitch" in self.mirror_axes else self.mirror.nominal_pitch
            if ray.live:
                flux *= self.mirror.acceptance(ray.height(self.mirror.distance), ray.size(self.mirror.distance), pitch)
            flux *= self.mirror.reflect(energy, pitch)
            ray.deflect(self.mirror.distance, self.mirror.spot_shift(pitch) / max(self.mirror.distance, 1e-9))
            sy = min(sy, self.mirror.focus)
        y = ray.height(0.0)
        if self.exit_slits:
            s = {k: positions[v] if isinstance(v, str) else v for k, v in self.exit_slits.items()}
            after = through_slits(GaussianBeam(flux, x, y, sx, sy), s.get("hcen", 0.0), s.get("hsize", 1e3),
                                  s.get("vcen", 0.0), s.get("vsize", 1e3))
            flux, x, y, sx, sy = after.flux, after.x, after.y, after.sx, after.sy
        if not shutter_open:
            flux = 0.0
        return BeamState(current, energy, GaussianBeam(flux, x, y, sx, sy), shutter_open)

    def flux_at(self, positions: dict[str, float]) -> float:
        """Noise-free photon flux at the sample with the axes at ``positions`` (the rest where they
        start), the nominal current and the shutter open: what alignment maximises."""
        current = self.ring.nominal if self.ring else 500.0
        return self._beam({**self.positions(0.0), **positions}, current, True).beam.flux

    def measure_at(self, channel: str, positions: dict[str, float], count_time: float, key: float) -> int:
        """Counts of ``channel`` in ``count_time`` s with the axes held at ``positions`` (nominal
        current): the direct-mode measurement, its Poisson noise keyed by (seed, channel, ``key``)."""
        rate = self.input_rate_at(channel, positions)
        return self.detector(channel).count(self.seed, rate, count_time, key, key - count_time / 2)

    def beam(self, t: float) -> BeamState:
        """The beam at the sample at simulated time ``t``."""
        current = self.ring.current(t) if self.ring else 500.0
        return self._beam(self.positions(t), current, self.shutter_open)

    def transmitted_beam(self, t: float) -> GaussianBeam:
        """The beam downstream of the sample at simulated time ``t`` (flux × the sample's transmission)."""
        state = self.beam(t)
        kept = self.sample.transmission(self.positions(t), state.energy)
        return replace(state.beam, flux=state.beam.flux * kept)

    def input_rate(self, channel: str, t: float) -> float:
        """What detector ``channel`` sees at ``t`` before its gain, noise and dead time."""
        return self._input(channel, self.positions(t), self.beam(t))

    def input_rate_at(self, channel: str, positions: dict[str, float]) -> float:
        """What ``channel`` sees with the axes at ``positions`` (the rest where they start), the
        nominal current and the shutter open: the noise-free ground truth of a measurement."""
        full = {**self.positions(0.0), **positions}
        return self._input(channel, full, self._beam(full, self.ring.nominal if self.ring else 500.0, True))

    def beam_axes(self) -> set[str]:
        """The axes that the beam at the sample depends on (slits, DCM, mirror, exit slits)."""
        exit_axes = {v for v in self.exit_slits.values() if isinstance(v, str)}
        return {*self.slits.values(), *self.dcm_axes.values(), *self.mirror_axes.values(), *exit_axes}

    def input_rates_at(self, channel: str, names: Sequence[str], points: ArrayLike) -> np.ndarray:
        """:meth:`input_rate_at` at many ``points`` (n, len(names)) over the axes ``names``. In one
        pass when the beam does not depend on those axes and the sample evaluates arrays (a map's
        stage under a fixed beam); otherwise one call per point."""
        pts = np.asarray(points, dtype=float).reshape(-1, len(names))
        signals = getattr(self.sample, "signals", None)
        if self.detector(channel).sees != "signal" or signals is None or self.beam_axes() & set(names):
            return np.array([self.input_rate_at(channel, dict(zip(names, map(float, p), strict=True)))
                             for p in pts], dtype=float)
        full = self.positions(0.0)
        state = self._beam(full, self.ring.nominal if self.ring else 500.0, True)
        arrays = {**{k: np.full(len(pts), v) for k, v in full.items()},
                  **{name: pts[:, i] for i, name in enumerate(names)}}
        return np.asarray(signals(arrays, state.energy), dtype=float) * state.beam.flux / self.reference_flux

    def _input(self, channel: str, positions: dict[str, float], state: BeamState) -> float:
        det = self.detector(channel)
        if det.sees == "i0":
            return state.beam.flux
        if det.sees == "it":
            return state.beam.flux * self.sample.transmission(positions, state.energy)
        return self.sample.signal(positions, state.energy) * state.beam.flux / self.reference_flux

    def rate(self, t: float, channel: str = "det") -> float:
        """Noise-free recorded rate (counts/s) of ``channel`` at simulated time ``t``."""
        det = self.detector(channel)
        return det.observed_rate(self.input_rate(channel, t) * det.gain + det.dark_rate + det.extra_rate(t))

    def count(self, channel: str, t_start: float, t_end: float) -> int:
        """Counts of ``channel`` from ``t_start`` to ``t_end``: the input rate averaged over the
        interval (Simpson's rule on 9 points, so moves and ring changes during a count are seen),
        then dead time, Poisson noise keyed by (seed, channel, t_end) and saturation."""
        span = max(t_end - t_start, 0.0)
        if span == 0:
            return 0
        n = 8
        h = span / n
        ys = [self.input_rate(channel, t_start + i * h) for i in range(n + 1)]
        mean = (ys[0] + ys[-1] + 4 * sum(ys[1:-1:2]) + 2 * sum(ys[2:-1:2])) * h / 3 / span
        return self.detector(channel).count(self.seed, mean, span, t_end, 0.5 * (t_start + t_end))

    def saturated(self, channel: str, t: float) -> bool:
        """Whether ``channel`` is saturated at ``t``."""
        return self.detector(channel).saturated(self.input_rate(channel, t), t)

    def truth(self) -> dict[str, Any]:
        """Ground truth of the simulated sample (and the optics' drawn misalignments, if any)."""
        truth = self.sample.truth()
        return {**truth, "misalignment": dict(self.misalignment)} if self.misalignment else truth


def _pair(value: Any, where: str) -> tuple[float, float]:
    if (not isinstance(value, list | tuple) or len(value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value) or value[0] > value[1]):
        raise ValueError(f"{where} must be [low, high] with low ≤ high, got {value!r}")
    return float(value[0]), float(value[1])


class _Ray:
    """The beam's vertical centroid along the beamline, as a ray from the source through the slits'
    centroid, bent by the DCM and the mirror. Distances are metres upstream of the sample; heights mm.
    Without a source → sample distance there is no geometry: only the bends move the spot."""

    def __init__(self, sample_distance: float, slit_distance: float, y_slit: float, sy_slit: float) -> None:
        self.live = sample_distance > slit_distance > 0
        self.y_slit, self.sy_slit = y_slit, sy_slit
        self.source_z = sample_distance
        self.slit_from_source = slit_distance
        self.bends: list[tuple[float, float]] = []  # (upstream distance, angle in mrad)

    def deflect(self, distance: float, angle_mrad: float) -> None:
        """A bend of ``angle_mrad`` at ``distance`` m upstream of the sample."""
        self.bends.append((distance, angle_mrad))

    def height(self, distance: float) -> float:
        """Centroid height (mm) at ``distance`` m upstream of the sample."""
        bent = sum(a * (d - distance) for d, a in self.bends if d > distance)
        if not self.live:
            return self.y_slit + bent
        return self.y_slit * (self.source_z - distance) / self.slit_from_source + bent

    def size(self, distance: float) -> float:
        """rms size (mm) at ``distance``: the bundle through the slits opens as seen from the source."""
        if not self.live:
            return self.sy_slit
        return self.sy_slit * (self.source_z - distance) / self.slit_from_source
