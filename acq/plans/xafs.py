"""XAFS scans as beamline scientists run them: energy regions around an absorption edge.

Regions before and around the edge step in eV; the EXAFS region steps evenly in the
photoelectron wavenumber k (Å⁻¹), with count times growing as kʷ so that the weaker
oscillations far from the edge get the statistics they need. The undulator gap can track
the monochromator energy point by point, and each event carries the transmission
normalised by I0 as a derived field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from acq.devices.backends import SoftBackend
from acq.devices.device import Signal
from acq.engine.msg import Msg
from acq.plans import validate as v
from acq.plans.core import dimension_fields, start_md
from acq.plans.stubs import Plan, close_run, open_run, short_uid, stage_all, unstage_all

#: E − E0 = K_TO_EV · k² (eV, k in Å⁻¹): ħ²/2mₑ.
K_TO_EV = 3.80998212


def k_of(delta_e: float) -> float:
    """Wavenumber (Å⁻¹) of a photoelectron ``delta_e`` eV above the edge."""
    return math.sqrt(max(delta_e, 0.0) / K_TO_EV)


def e_of(k: float) -> float:
    """Energy above the edge (eV) of wavenumber ``k`` (Å⁻¹)."""
    return K_TO_EV * k * k


@dataclass(frozen=True)
class Region:
    """``start``…``stop`` by ``step`` with ``count_time`` s per point; ``unit`` "eV" (relative
    to the edge) or "k" (Å⁻¹, count time scaled by (k/start)**k_weight)."""

    start: float
    stop: float
    step: float
    count_time: float
    unit: str = "eV"


def _region(i: int, r: Any) -> Region:
    if isinstance(r, Region):
        reg = r
    elif isinstance(r, Sequence) and not isinstance(r, str) and len(r) in (4, 5):
        reg = Region(*r)
    else:
        raise TypeError(f"regions[{i}]: give (start, stop, step, count_time[, 'eV'|'k']), got {r!r}")
    for field in ("start", "stop"):
        v.number(getattr(reg, field), f"regions[{i}].{field}")
    v.positive(reg.step, f"regions[{i}].step")
    v.positive(reg.count_time, f"regions[{i}].count_time")
    if reg.unit not in ("eV", "k"):
        raise ValueError(f"regions[{i}].unit must be 'eV' or 'k', got {reg.unit!r}")
    if reg.stop <= reg.start:
        raise ValueError(f"regions[{i}]: stop ({reg.stop}) must be above start ({reg.start})")
    if reg.unit == "k" and reg.start <= 0:
        raise ValueError(f"regions[{i}]: a k region starts above k = 0, got {reg.start}")
    return reg


def xafs_points(e0: float, regions: Sequence[Any], k_weight: float = 0.0,
                max_count_time: float | None = None) -> list[tuple[float, float]]:
    """(energy eV, count time s) of every point, regions in order, no point repeated."""
    regs = [_region(i, r) for i, r in enumerate(regions)]
    if not regs:
        raise ValueError("regions: give at least one region")
    points: list[tuple[float, float]] = []
    last = -math.inf
    for i, reg in enumerate(regs):
        grid = np.arange(reg.start, reg.stop + reg.step / 2, reg.step)
        for x in grid:
            if reg.unit == "eV":
                energy, t = e0 + float(x), reg.count_time
            else:
                energy = e0 + e_of(float(x))
                t = reg.count_time * (float(x) / reg.start) ** k_weight
            if max_count_time is not None:
                t = min(t, max_count_time)
            if energy <= last + 1e-9:
                if i and x == grid[0] and abs(energy - last) < 1e-6:
                    continue  # a region that starts where the last one stopped
                raise ValueError(f"regions[{i}] goes back to {energy:.2f} eV, below the previous point")
            points.append((energy, t))
            last = energy
    return points


def xafs_scan(detectors: Sequence[Any], energy: Any, e0: float, regions: Sequence[Any], *,
              count_time: Any = None, k_weight: float = 2.0, max_count_time: float | None = None,
              gap: Any = None, gap_of: Callable[[float], float] | None = None,
              i0: str | None = None, normalise: Sequence[str] = (), md: dict[str, Any] | None = None) -> Plan:
    """Step ``energy`` through the regions around the edge ``e0`` (eV), one event per point.

    ``count_time``: a settable signal (e.g. the scaler's ``preset_time``) set to each
    point's count time. ``gap``/``gap_of``: a movable that moves with the energy to
    ``gap_of(E)``. ``i0`` and ``normalise``: reading names; each event also carries
    ``<name>_norm = <name> / <i0>`` for every name in ``normalise``.
    """
    dets = v.detectors(detectors)
    v.movable(energy, "energy")
    e0 = v.number(e0, "e0")
    if count_time is not None:
        v.movable(count_time, "count_time")
    if (gap is None) != (gap_of is None):
        raise ValueError("gap and gap_of go together: the gap moves to gap_of(energy)")
    if gap is not None:
        v.movable(gap, "gap")
        if not callable(gap_of):
            raise TypeError(f"gap_of must be callable, got {gap_of!r}")
    if normalise and not i0:
        raise ValueError("normalise needs i0, the reading to divide by")
    points = xafs_points(e0, regions, float(k_weight), max_count_time)
    for e, _ in points:
        check = getattr(energy, "check_value", None)
        if check is not None:
            check(e)
    gaps = [float(gap_of(e)) for e, _ in points] if gap_of is not None else []
    if gap is not None and getattr(gap, "check_value", None) is not None:
        for g in (min(gaps), max(gaps)):
            gap.check_value(g)
    derived = [Signal(SoftBackend(0.0, source=f"derived://{n}/{i0}"), name=f"{n}_norm", kind="hinted",
                      read_only=True) for n in normalise]
    motors = [energy] + ([gap] if gap is not None else [])
    plan_args = {"detectors": list(map(repr, dets)), "energy": repr(energy), "e0": e0,
                 "regions": [list(_region(i, r).__dict__.values()) for i, r in enumerate(regions)],
                 "k_weight": k_weight, "max_count_time": max_count_time, "gap": repr(gap) if gap else None,
                 "i0": i0, "normalise": list(normalise)}
    meta = start_md("xafs_scan", dets, motors, len(points), plan_args, md, plan_pattern="xafs_regions",
                    e0=e0, hints={"dimensions": [[dimension_fields(energy), "primary"]]})
    return _xafs(dets, energy, points, count_time, gap, gaps, i0, list(zip(normalise, derived, strict=True)), meta)


def _xafs(dets: list[Any], energy: Any, points: list[tuple[float, float]], count_time: Any, gap: Any,
          gaps: list[float], i0: str | None, derived: list[tuple[str, Signal]], meta: dict[str, Any]) -> Plan:
    devices = list(dict.fromkeys([*dets, energy, *([gap] if gap is not None else []),
                                  *([count_time] if count_time is not None else [])]))
    yield from stage_all(devices)
    uid = yield from open_run(meta)
    last_time: float | None = None
    for i, (e, t) in enumerate(points):
        yield Msg("checkpoint")
        group = short_uid("xafs")
        yield Msg("set", energy, e, group=group)
        if gap is not None:
            yield Msg("set", gap, gaps[i], group=group)
        if count_time is not None and t != last_time:
            yield Msg("set", count_time, t, group=group)
            last_time = t
        yield Msg("wait", None, group=group)
        trig = short_uid("trigger")
        for d in dets:
            if hasattr(d, "trigger"):
                yield Msg("trigger", d, group=trig)
        yield Msg("wait", None, group=trig)
        yield Msg("create", None, name="primary")
        readings: dict[str, Any] = {}
        for obj in [*dets, energy, *([gap] if gap is not None else [])]:
            readings.update((yield Msg("read", obj)) or {})
        for name, sig in derived:
            backend = sig.backend
            assert isinstance(backend, SoftBackend)
            num, den = readings.get(name), readings.get(i0 or "")
            if num is None or den is None:
                raise KeyError(f"xafs_scan: cannot normalise {name!r} by {i0!r}: the readings have {sorted(readings)}")
            backend.set_now(float(num["value"]) / float(den["value"]) if den["value"] else math.nan)
            yield Msg("read", sig)
        yield Msg("save")
    yield from close_run()
    yield from unstage_all(devices)
    return uid
