"""Spiral scans over two motors: rings, Fermat's spiral, square spiral (and relative forms)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from acq.plans import trajectories as tr
from acq.plans import validate as v
from acq.plans.core import PerStep, pattern_md, start_md, step_run
from acq.plans.stubs import Plan


def _xy(x_motor: Any, y_motor: Any) -> list[Any]:
    return v.motors([x_motor, y_motor])


def _run(name: str, pattern: str, detectors: Sequence[Any], x_motor: Any, y_motor: Any, traj: tr.Trajectory,
         args: dict[str, Any], per_step: PerStep | None, md: dict[str, Any] | None, relative: bool) -> Plan:
    dets = v.detectors(detectors)
    if not traj:
        raise ValueError(f"{name}: these arguments give no points (is the range smaller than dr?)")
    plan_args = {"detectors": list(map(repr, dets)), "x_motor": repr(x_motor), "y_motor": repr(y_motor), **args,
                 "per_step": repr(per_step)}
    meta = start_md(name, dets, [x_motor, y_motor], len(traj), plan_args, md,
                    **pattern_md(pattern, {"x_motor": repr(x_motor), "y_motor": repr(y_motor), **args}))
    return step_run(dets, traj, meta, per_step=per_step, relative=relative)


def _round(name: str, pattern: str, detectors: Sequence[Any], x_motor: Any, y_motor: Any, x_start: float,
           y_start: float, x_range: float, y_range: float, dr: float, density: tuple[str, float],
           dr_y: float | None, tilt: float, per_step: PerStep | None, md: dict[str, Any] | None,
           relative: bool) -> Plan:
    """A round spiral (``tr.spiral`` or ``tr.spiral_fermat``, by ``pattern``); ``density`` is its
    (name, value) pair: ``nth`` points per ring step, or Fermat's ``factor``."""
    _xy(x_motor, y_motor)
    v.number(x_start, "x_start"), v.number(y_start, "y_start")
    v.positive(x_range, "x_range"), v.positive(y_range, "y_range")
    v.positive(dr, "dr"), v.positive(density[1], density[0]), v.number(tilt, "tilt")
    if dr_y is not None:
        v.positive(dr_y, "dr_y")
    trajectory = getattr(tr, pattern)
    traj = trajectory(x_motor, y_motor, x_start, y_start, x_range, y_range, dr, density[1], dr_y=dr_y, tilt=tilt)
    args = {"x_start": x_start, "y_start": y_start, "x_range": x_range, "y_range": y_range, "dr": dr,
            density[0]: density[1], "dr_y": dr_y, "tilt": tilt}
    return _run(name, pattern, detectors, x_motor, y_motor, traj, args, per_step, md, relative)


def spiral(detectors: Sequence[Any], x_motor: Any, y_motor: Any, x_start: float, y_start: float,
           x_range: float, y_range: float, dr: float, nth: float, *, dr_y: float | None = None,
           tilt: float = 0.0, per_step: PerStep | None = None, md: dict[str, Any] | None = None) -> Plan:
    """Rings ``dr`` apart with ``nth`` points per ring step, inside an ``x_range`` × ``y_range`` box."""
    return _round("spiral", "spiral", detectors, x_motor, y_motor, x_start, y_start, x_range, y_range, dr,
                  ("nth", nth), dr_y, tilt, per_step, md, False)


def rel_spiral(detectors: Sequence[Any], x_motor: Any, y_motor: Any, x_range: float, y_range: float,
               dr: float, nth: float, *, dr_y: float | None = None, tilt: float = 0.0,
               per_step: PerStep | None = None, md: dict[str, Any] | None = None) -> Plan:
    """``spiral`` around where the motors are; they return there at the end."""
    return _round("rel_spiral", "spiral", detectors, x_motor, y_motor, 0.0, 0.0, x_range, y_range, dr,
                  ("nth", nth), dr_y, tilt, per_step, md, True)


def spiral_fermat(detectors: Sequence[Any], x_motor: Any, y_motor: Any, x_start: float, y_start: float,
                  x_range: float, y_range: float, dr: float, factor: float, *, dr_y: float | None = None,
                  tilt: float = 0.0, per_step: PerStep | None = None, md: dict[str, Any] | None = None) -> Plan:
    """Fermat's spiral (even density) with ``dr/factor`` spacing inside the box."""
    return _round("spiral_fermat", "spiral_fermat", detectors, x_motor, y_motor, x_start, y_start, x_range,
                  y_range, dr, ("factor", factor), dr_y, tilt, per_step, md, False)


def rel_spiral_fermat(detectors: Sequence[Any], x_motor: Any, y_motor: Any, x_range: float, y_range: float,
                      dr: float, factor: float, *, dr_y: float | None = None, tilt: float = 0.0,
                      per_step: PerStep | None = None, md: dict[str, Any] | None = None) -> Plan:
    """``spiral_fermat`` around where the motors are; they return there at the end."""
    return _round("rel_spiral_fermat", "spiral_fermat", detectors, x_motor, y_motor, 0.0, 0.0, x_range,
                  y_range, dr, ("factor", factor), dr_y, tilt, per_step, md, True)


def _square(name: str, detectors: Sequence[Any], x_motor: Any, y_motor: Any, x_center: float, y_center: float,
            x_range: float, y_range: float, x_num: int, y_num: int, per_step: PerStep | None,
            md: dict[str, Any] | None, relative: bool) -> Plan:
    _xy(x_motor, y_motor)
    v.number(x_center, "x_center"), v.number(y_center, "y_center")
    v.positive(x_range, "x_range"), v.positive(y_range, "y_range")
    if v.positive_int(x_num, "x_num") < 2 or v.positive_int(y_num, "y_num") < 2:
        raise ValueError(f"x_num and y_num must be at least 2, got {x_num}, {y_num}")
    traj = tr.spiral_square(x_motor, y_motor, x_center, y_center, x_range, y_range, x_num, y_num)
    args = {"x_center": x_center, "y_center": y_center, "x_range": x_range, "y_range": y_range,
            "x_num": x_num, "y_num": y_num}
    return _run(name, "spiral_square", detectors, x_motor, y_motor, traj, args, per_step, md, relative)


def spiral_square(detectors: Sequence[Any], x_motor: Any, y_motor: Any, x_center: float, y_center: float,
                  x_range: float, y_range: float, x_num: int, y_num: int, *, per_step: PerStep | None = None,
                  md: dict[str, Any] | None = None) -> Plan:
    """Every point of an ``x_num`` × ``y_num`` grid, visited as a square spiral from the centre."""
    return _square("spiral_square", detectors, x_motor, y_motor, x_center, y_center, x_range, y_range,
                   x_num, y_num, per_step, md, False)


def rel_spiral_square(detectors: Sequence[Any], x_motor: Any, y_motor: Any, x_range: float, y_range: float,
                      x_num: int, y_num: int, *, per_step: PerStep | None = None,
                      md: dict[str, Any] | None = None) -> Plan:
    """``spiral_square`` around where the motors are; they return there at the end."""
    return _square("rel_spiral_square", detectors, x_motor, y_motor, 0.0, 0.0, x_range, y_range,
                   x_num, y_num, per_step, md, True)
