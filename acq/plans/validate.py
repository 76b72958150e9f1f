"""Argument checks that plans run before anything moves: clear errors naming the problem."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np


def name_of(obj: Any) -> str:
    """A device's name (or its repr)."""
    return str(getattr(obj, "name", None) or repr(obj))


def names(objs: Sequence[Any]) -> list[str]:
    """The names of ``objs``."""
    return [name_of(o) for o in objs]


def detectors(dets: Any) -> list[Any]:
    """A non-empty list of readable devices."""
    if not isinstance(dets, Sequence) or isinstance(dets, str):
        raise TypeError(f"detectors: give a list of detectors, got {dets!r}")
    out = list(dets)
    if not out:
        raise ValueError("detectors: give at least one detector")
    for d in out:
        if not callable(getattr(d, "read", None)):
            raise TypeError(f"detectors: {d!r} cannot be read (no read() method)")
    return out


def movable(obj: Any, what: str = "motor") -> Any:
    """A device with ``set()``."""
    if not callable(getattr(obj, "set", None)):
        raise TypeError(f"{what}: {obj!r} cannot be moved (no set() method)")
    return obj


def motors(objs: Sequence[Any]) -> list[Any]:
    """Distinct movable devices."""
    out = [movable(m) for m in objs]
    seen: set[int] = set()
    for m in out:
        if id(m) in seen:
            raise ValueError(f"motor {name_of(m)} appears twice; each motor may be scanned once")
        seen.add(id(m))
    return out


def positive_int(value: Any, what: str) -> int:
    """A positive integer (no bools, no floats)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def number(value: Any, what: str) -> float:
    """A finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return v


def positive(value: Any, what: str) -> float:
    """A finite number > 0."""
    v = number(value, what)
    if v <= 0:
        raise ValueError(f"{what} must be > 0, got {value!r}")
    return v


def number_list(values: Any, what: str) -> list[float]:
    """A non-empty list of finite numbers."""
    if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        raise TypeError(f"{what} must be a list of positions, got {values!r}")
    arr = list(np.asarray(values, dtype=object).ravel()) if isinstance(values, np.ndarray) else list(values)
    if not arr:
        raise ValueError(f"{what} is empty")
    return [number(v, f"{what}[{i}]") for i, v in enumerate(arr)]


def groups(args: Sequence[Any], size: int, pattern: str) -> list[tuple[Any, ...]]:
    """Split ``args`` into tuples of ``size`` (motor first), naming the expected pattern."""
    if not args or len(args) % size:
        raise ValueError(f"expected arguments as {pattern} (groups of {size}), got {len(args)} argument(s)")
    return [tuple(args[i:i + size]) for i in range(0, len(args), size)]


def within_limits(trajectory: Sequence[dict[Any, float]], offsets: dict[Any, float] | None = None) -> None:
    """Check every point against each motor's ``check_value`` (extremes first, so errors name them)."""
    if not trajectory:
        return
    for motor in trajectory[0]:
        check = getattr(motor, "check_value", None)
        if check is None:
            continue
        offset = (offsets or {}).get(motor, 0.0)
        column = [step[motor] + offset for step in trajectory]
        numeric = all(isinstance(p, int | float) for p in column)
        for p in [max(column), min(column)] if numeric else column:
            check(p)
