"""Step plans: count and scan, with Bluesky's names, signatures and start metadata."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from acq.engine.msg import Msg
from acq.plans.stubs import Plan, close_run, open_run, stage_all, trigger_and_read, unstage_all


def _names(objs: Sequence[Any]) -> list[str]:
    return [str(getattr(o, "name", o)) for o in objs]


def _check_detectors(detectors: Sequence[Any]) -> list[Any]:
    dets = list(detectors)
    if not dets:
        raise ValueError("detectors: give at least one detector")
    for d in dets:
        if not hasattr(d, "read"):
            raise TypeError(f"detectors: {d!r} cannot be read (no read() method)")
    return dets


def _check_positions(motor: Any, positions: Sequence[float]) -> None:
    """Check the extreme positions first, so the error names the farthest one out."""
    check = getattr(motor, "check_value", None)
    if check is not None and len(positions):
        for p in (max(positions), min(positions)):
            check(p)


def count(detectors: Sequence[Any], num: int | None = 1, delay: float | None = None, *,
          md: dict[str, Any] | None = None) -> Plan:
    """Take ``num`` readings of ``detectors``, ``delay`` seconds apart."""
    dets = _check_detectors(detectors)
    if num is not None and (not isinstance(num, int) or num < 1):
        raise ValueError(f"num must be a positive integer (or None for forever), got {num!r}")
    start_md = {
        "plan_name": "count",
        "plan_args": {"detectors": list(map(repr, dets)), "num": num, "delay": delay},
        "detectors": _names(dets),
        "num_points": num,
        "num_intervals": (num - 1) if num else None,
        "plan_type": "generator",
        "hints": {"dimensions": [[["time"], "primary"]]},
        **(md or {}),
    }
    yield from stage_all(dets)
    uid = yield from open_run(start_md)
    i = 0
    while num is None or i < num:
        if i and delay:
            yield Msg("sleep", None, delay)
        yield Msg("checkpoint")
        yield from trigger_and_read(dets)
        i += 1
    yield from close_run()
    yield from unstage_all(dets)
    return uid


def scan(detectors: Sequence[Any], motor: Any, start: float, stop: float, num: int, *,
         md: dict[str, Any] | None = None) -> Plan:
    """Step ``motor`` from ``start`` to ``stop`` in ``num`` points, reading ``detectors`` at each."""
    dets = _check_detectors(detectors)
    if not isinstance(num, int) or num < 1:
        raise ValueError(f"num must be a positive integer, got {num!r}")
    if not hasattr(motor, "set"):
        raise TypeError(f"motor: {motor!r} cannot be moved (no set() method)")
    positions = np.linspace(start, stop, num).tolist()
    _check_positions(motor, positions)
    motor_names = _names([motor])
    start_md = {
        "plan_name": "scan",
        "plan_args": {"detectors": list(map(repr, dets)), "motor": repr(motor), "start": start,
                      "stop": stop, "num": num},
        "detectors": _names(dets),
        "motors": motor_names,
        "num_points": num,
        "num_intervals": num - 1,
        "plan_type": "generator",
        "plan_pattern": "inner_product",
        "plan_pattern_module": "acq.plans",
        "plan_pattern_args": {"num": num, "args": [repr(motor), start, stop]},
        "hints": {"dimensions": [[motor_names, "primary"]]},
        **(md or {}),
    }
    devices = [*dets, motor]
    yield from stage_all(devices)
    uid = yield from open_run(start_md)
    for pos in positions:
        yield Msg("checkpoint")
        yield Msg("set", motor, pos, group="scan-move")
        yield Msg("wait", None, group="scan-move")
        yield from trigger_and_read([*dets, motor])
    yield from close_run()
    yield from unstage_all(devices)
    return uid
