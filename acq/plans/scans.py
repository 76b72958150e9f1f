"""Step scans with Bluesky's names and signatures: count, (rel_)scan, list, grid, log, scan_nd.

Every plan checks its arguments when called (types, lengths, limits), so a bad call fails
with a clear message before a run opens or anything moves; relative plans check limits as
soon as the motors' positions are read, still before the run opens.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from acq.engine.msg import Msg
from acq.plans import trajectories as tr
from acq.plans import validate as v
from acq.plans.core import PerStep, pattern_md, start_md, step_run
from acq.plans.stubs import Plan, close_run, one_shot, open_run, stage_all, unstage_all


def count(detectors: Sequence[Any], num: int | None = 1, delay: float | Sequence[float] | None = None, *,
          per_shot: PerStep | None = None, md: dict[str, Any] | None = None) -> Plan:
    """Take ``num`` readings of ``detectors`` (forever with None), ``delay`` seconds (or a list) apart."""
    dets = v.detectors(detectors)
    if num is not None:
        v.positive_int(num, "num")
    delays: list[float] | None = None
    if delay is not None and not isinstance(delay, int | float):
        delays = v.number_list(delay, "delay")
        if num is None or len(delays) != num - 1:
            raise ValueError(f"delay: give one delay per gap between readings ({(num or 0) - 1}), got {len(delays)}")
    elif delay is not None:
        v.number(delay, "delay")
    shot = per_shot or one_shot
    meta = start_md("count", dets, [], num, {"detectors": list(map(repr, dets)), "num": num, "delay": delay}, md)
    return _count(dets, num, delay, delays, shot, meta)


def _count(dets: list[Any], num: int | None, delay: Any, delays: list[float] | None, shot: PerStep,
           meta: dict[str, Any]) -> Plan:
    yield from stage_all(dets)
    uid = yield from open_run(meta)
    i = 0
    while num is None or i < num:
        if i:
            pause = delays[i - 1] if delays is not None else delay
            if pause:
                yield Msg("sleep", None, pause)
        yield from shot(dets)
        i += 1
    yield from close_run()
    yield from unstage_all(dets)
    return uid


def _md_args(groups: Sequence[tuple[Any, ...]]) -> list[Any]:
    return [repr(x) if i == 0 else (list(x) if isinstance(x, list | tuple | np.ndarray) else x)
            for g in groups for i, x in enumerate(g)]


def _inner(args: Sequence[Any], num: int | None) -> tuple[list[tuple[Any, ...]], int]:
    args = list(args)
    if num is None and len(args) % 3 == 1:
        num, args = args[-1], args[:-1]
    if num is None:
        raise ValueError("num: give the number of points (num=…)")
    n = v.positive_int(num, "num")
    groups = v.groups(args, 3, "motor, start, stop[, motor, start, stop…]")
    v.motors([g[0] for g in groups])
    for g in groups:
        v.number(g[1], f"{v.name_of(g[0])} start")
        v.number(g[2], f"{v.name_of(g[0])} stop")
    return groups, n


def _scan(name: str, detectors: Sequence[Any], args: Sequence[Any], num: int | None, per_step: PerStep | None,
          md: dict[str, Any] | None, relative: bool) -> Plan:
    dets = v.detectors(detectors)
    groups, n = _inner(args, num)
    motors = [g[0] for g in groups]
    traj = tr.inner_product(n, motors, [g[1] for g in groups], [g[2] for g in groups])
    md_args = _md_args(groups)
    meta = start_md(name, dets, motors, n, {"detectors": list(map(repr, dets)), "num": n, "args": md_args,
                                             "per_step": repr(per_step)}, md,
                    **pattern_md("inner_product", {"num": n, "args": md_args}))
    return step_run(dets, traj, meta, per_step=per_step, relative=relative)


def scan(detectors: Sequence[Any], *args: Any, num: int | None = None, per_step: PerStep | None = None,
         md: dict[str, Any] | None = None) -> Plan:
    """Move motors together from their starts to their stops in ``num`` points.

    ``scan([det], m1, 0, 1, m2, 5, 10, num=11)`` (or the number of points last:
    ``scan([det], m1, 0, 1, 11)``).
    """
    return _scan("scan", detectors, args, num, per_step, md, False)


def rel_scan(detectors: Sequence[Any], *args: Any, num: int | None = None, per_step: PerStep | None = None,
             md: dict[str, Any] | None = None) -> Plan:
    """``scan`` relative to where the motors are; they return there at the end."""
    return _scan("rel_scan", detectors, args, num, per_step, md, True)


def _lists(args: Sequence[Any]) -> list[tuple[Any, list[float]]]:
    groups = v.groups(list(args), 2, "motor, [positions][, motor, [positions]…]")
    v.motors([g[0] for g in groups])
    return [(g[0], v.number_list(g[1], f"{v.name_of(g[0])} positions")) for g in groups]


def _list_scan(name: str, detectors: Sequence[Any], args: Sequence[Any], per_step: PerStep | None,
               md: dict[str, Any] | None, relative: bool) -> Plan:
    dets = v.detectors(detectors)
    pairs = _lists(args)
    motors = [m for m, _ in pairs]
    traj = tr.zip_lists(motors, [p for _, p in pairs])
    md_args = _md_args(pairs)
    meta = start_md(name, dets, motors, len(traj), {"detectors": list(map(repr, dets)), "args": md_args,
                                                     "per_step": repr(per_step)}, md,
                    **pattern_md("inner_list_product", {"args": md_args}))
    return step_run(dets, traj, meta, per_step=per_step, relative=relative)


def list_scan(detectors: Sequence[Any], *args: Any, per_step: PerStep | None = None,
              md: dict[str, Any] | None = None) -> Plan:
    """Move motors together through position lists of equal length: ``list_scan([d], m, [1, 3, 2])``."""
    return _list_scan("list_scan", detectors, args, per_step, md, False)


def rel_list_scan(detectors: Sequence[Any], *args: Any, per_step: PerStep | None = None,
                  md: dict[str, Any] | None = None) -> Plan:
    """``list_scan`` relative to where the motors are; they return there at the end."""
    return _list_scan("rel_list_scan", detectors, args, per_step, md, True)


def _snakes(motors: Sequence[Any], snake_axes: bool | Sequence[Any] | None) -> list[bool]:
    if snake_axes is None or snake_axes is False:
        return [False] * len(motors)
    if snake_axes is True:
        return [False] + [True] * (len(motors) - 1)
    chosen = list(snake_axes)
    for m in chosen:
        if not any(m is x for x in motors):
            raise ValueError(f"snake_axes: {v.name_of(m)} is not one of the scanned motors")
    if chosen and any(m is motors[0] for m in chosen):
        raise ValueError(f"snake_axes: the first (slowest) motor {v.name_of(motors[0])} cannot snake")
    return [any(m is x for x in chosen) for m in motors]


def _grid_groups(args: Sequence[Any], snake_axes: Any) -> tuple[list[tuple[Any, ...]], list[bool]]:
    args = list(args)
    if len(args) >= 9 and (len(args) - 4) % 5 == 0 and all(isinstance(args[i], bool)
                                                             for i in range(8, len(args), 5)):
        if snake_axes not in (None, False):
            raise ValueError("give snaking either as booleans after each motor or as snake_axes, not both")
        groups = [tuple(args[:4])] + [tuple(args[i:i + 4]) for i in range(4, len(args), 5)]
        snakes = [False] + [bool(args[i + 4]) for i in range(4, len(args), 5)]
    else:
        groups = v.groups(args, 4, "motor, start, stop, num[, motor, start, stop, num…]")
        snakes = _snakes([g[0] for g in groups], snake_axes)
    v.motors([g[0] for g in groups])
    for m, a, b, n in groups:
        v.number(a, f"{v.name_of(m)} start")
        v.number(b, f"{v.name_of(m)} stop")
        v.positive_int(n, f"{v.name_of(m)} num")
    return groups, snakes


def _grid(name: str, detectors: Sequence[Any], args: Sequence[Any], snake_axes: Any, per_step: PerStep | None,
          md: dict[str, Any] | None, relative: bool) -> Plan:
    dets = v.detectors(detectors)
    groups, snakes = _grid_groups(args, snake_axes)
    motors = [g[0] for g in groups]
    traj = tr.outer_lists(motors, [np.linspace(a, b, n).tolist() for _, a, b, n in groups], snakes)
    md_args = _md_args(groups)
    shape = [int(g[3]) for g in groups]
    meta = start_md(name, dets, motors, len(traj),
                    {"detectors": list(map(repr, dets)), "args": md_args, "per_step": repr(per_step),
                     "snake_axes": [v.name_of(m) for m, s in zip(motors, snakes, strict=True) if s]}, md,
                    shape=shape, extents=[[float(g[1]), float(g[2])] for g in groups], snaking=snakes,
                    hints={"gridding": "rectilinear"},
                    **pattern_md("outer_product", {"args": md_args}))
    return step_run(dets, traj, meta, per_step=per_step, relative=relative)


def grid_scan(detectors: Sequence[Any], *args: Any, snake_axes: bool | Sequence[Any] | None = None,
              per_step: PerStep | None = None, md: dict[str, Any] | None = None) -> Plan:
    """Every combination of evenly spaced positions; the last motor moves fastest.

    ``grid_scan([d], m1, 0, 1, 3, m2, 0, 2, 5, snake_axes=True)``; ``snake_axes`` is True
    (all but the first), False/None, or a list of motors.
    """
    return _grid("grid_scan", detectors, args, snake_axes, per_step, md, False)


def rel_grid_scan(detectors: Sequence[Any], *args: Any, snake_axes: bool | Sequence[Any] | None = None,
                  per_step: PerStep | None = None, md: dict[str, Any] | None = None) -> Plan:
    """``grid_scan`` relative to where the motors are; they return there at the end."""
    return _grid("rel_grid_scan", detectors, args, snake_axes, per_step, md, True)


def _list_grid(name: str, detectors: Sequence[Any], args: Sequence[Any], snake_axes: Any,
               per_step: PerStep | None, md: dict[str, Any] | None, relative: bool) -> Plan:
    dets = v.detectors(detectors)
    pairs = _lists(args)
    motors = [m for m, _ in pairs]
    snakes = _snakes(motors, snake_axes)
    traj = tr.outer_lists(motors, [p for _, p in pairs], snakes)
    md_args = _md_args(pairs)
    meta = start_md(name, dets, motors, len(traj),
                    {"detectors": list(map(repr, dets)), "args": md_args, "per_step": repr(per_step),
                     "snake_axes": [v.name_of(m) for m, s in zip(motors, snakes, strict=True) if s]}, md,
                    shape=[len(p) for _, p in pairs], snaking=snakes,
                    **pattern_md("outer_list_product", {"args": md_args}))
    return step_run(dets, traj, meta, per_step=per_step, relative=relative)


def list_grid_scan(detectors: Sequence[Any], *args: Any, snake_axes: bool | Sequence[Any] | None = False,
                   per_step: PerStep | None = None, md: dict[str, Any] | None = None) -> Plan:
    """Every combination of the motors' position lists; the last motor moves fastest."""
    return _list_grid("list_grid_scan", detectors, args, snake_axes, per_step, md, False)


def rel_list_grid_scan(detectors: Sequence[Any], *args: Any, snake_axes: bool | Sequence[Any] | None = False,
                       per_step: PerStep | None = None, md: dict[str, Any] | None = None) -> Plan:
    """``list_grid_scan`` relative to where the motors are; they return there at the end."""
    return _list_grid("rel_list_grid_scan", detectors, args, snake_axes, per_step, md, True)


def _log(name: str, detectors: Sequence[Any], motor: Any, start: float, stop: float, num: int,
         per_step: PerStep | None, md: dict[str, Any] | None, relative: bool) -> Plan:
    dets = v.detectors(detectors)
    v.movable(motor)
    a, b = v.number(start, "start (a power of ten)"), v.number(stop, "stop (a power of ten)")
    n = v.positive_int(num, "num")
    traj = tr.zip_lists([motor], [np.logspace(a, b, n).tolist()])
    meta = start_md(name, dets, [motor], n, {"detectors": list(map(repr, dets)), "motor": repr(motor),
                                              "start": start, "stop": stop, "num": num,
                                              "per_step": repr(per_step)}, md,
                    **pattern_md("logspace", {"start": start, "stop": stop, "num": num}))
    return step_run(dets, traj, meta, per_step=per_step, relative=relative)


def log_scan(detectors: Sequence[Any], motor: Any, start: float, stop: float, num: int, *,
             per_step: PerStep | None = None, md: dict[str, Any] | None = None) -> Plan:
    """``num`` points from 10**start to 10**stop, evenly spaced in the logarithm."""
    return _log("log_scan", detectors, motor, start, stop, num, per_step, md, False)


def rel_log_scan(detectors: Sequence[Any], motor: Any, start: float, stop: float, num: int, *,
                 per_step: PerStep | None = None, md: dict[str, Any] | None = None) -> Plan:
    """``log_scan`` offsets from where the motor is; it returns there at the end."""
    return _log("rel_log_scan", detectors, motor, start, stop, num, per_step, md, True)


def scan_nd(detectors: Sequence[Any], cycler: Iterable[dict[Any, Any]], *, per_step: PerStep | None = None,
            md: dict[str, Any] | None = None) -> Plan:
    """One event per step of ``cycler``: any iterable of ``{motor: position}`` (e.g. a ``cycler``)."""
    dets = v.detectors(detectors)
    traj = tr.as_trajectory(cycler)
    if not traj:
        raise ValueError("scan_nd: the trajectory is empty")
    motors = v.motors(tr.motors_of(traj))
    for i, point in enumerate(traj):
        for m, p in point.items():
            v.number(p, f"step {i}: {v.name_of(m)}")
    meta = start_md("scan_nd", dets, motors, len(traj), {"detectors": list(map(repr, dets)),
                                                          "cycler": repr(cycler), "per_step": repr(per_step)}, md)
    return step_run(dets, traj, meta, per_step=per_step)
