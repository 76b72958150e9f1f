"""Trajectories: the points a step plan visits, as lists of ``{motor: position}`` steps.

Cycler-like, without the dependency: a trajectory is any iterable of dicts with the same
keys, so a ``cycler.Cycler`` (what Bluesky's ``scan_nd`` takes) works wherever one does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

Step = dict[Any, float]
Trajectory = list[Step]


def as_trajectory(steps: Iterable[dict[Any, Any]]) -> Trajectory:
    """A list of steps from any iterable of dicts (e.g. a ``cycler``); checks the keys agree."""
    out = [dict(s) for s in steps]
    if out:
        keys = set(out[0])
        for i, s in enumerate(out):
            if set(s) != keys:
                raise ValueError(f"trajectory step {i} moves {sorted(map(_label, s))}, "
                                 f"but step 0 moves {sorted(map(_label, keys))}")
    return out


def _label(obj: Any) -> str:
    return str(getattr(obj, "name", obj))


def motors_of(trajectory: Trajectory) -> list[Any]:
    """The motors a trajectory moves, in the order of its first step."""
    return list(trajectory[0]) if trajectory else []


def zip_lists(motors: Sequence[Any], positions: Sequence[Sequence[float]]) -> Trajectory:
    """Move all ``motors`` together through their position lists (Bluesky's inner list product)."""
    lengths = {len(p) for p in positions}
    if len(lengths) > 1:
        raise ValueError("every motor needs the same number of positions; got "
                         + ", ".join(f"{_label(m)}: {len(p)}" for m, p in zip(motors, positions, strict=True)))
    n = lengths.pop() if lengths else 0
    return [{m: float(p[i]) for m, p in zip(motors, positions, strict=True)} for i in range(n)]


def inner_product(num: int, motors: Sequence[Any], starts: Sequence[float], stops: Sequence[float]) -> Trajectory:
    """``num`` evenly spaced points, every motor from its start to its stop together."""
    return zip_lists(motors, [np.linspace(a, b, num).tolist() for a, b in zip(starts, stops, strict=True)])


def outer_lists(motors: Sequence[Any], positions: Sequence[Sequence[float]],
                snake: Sequence[bool] | None = None) -> Trajectory:
    """Every combination of the motors' positions; the last motor moves fastest.

    ``snake[i]`` reverses axis ``i`` on every other pass of the axes before it (the first
    axis never snakes).
    """
    snake = list(snake) if snake is not None else [False] * len(motors)
    out: Trajectory = [{}]
    for axis, (motor, pos) in enumerate(zip(motors, positions, strict=True)):
        grown: Trajectory = []
        for i, head in enumerate(out):
            seq = list(pos)[::-1] if snake[axis] and i % 2 else list(pos)
            grown.extend({**head, motor: float(p)} for p in seq)
        out = grown
    return out if motors else []


def spiral(x_motor: Any, y_motor: Any, x_start: float, y_start: float, x_range: float, y_range: float,
           dr: float, nth: float, *, dr_y: float | None = None, tilt: float = 0.0) -> Trajectory:
    """Rings of radius ``k·dr`` with ``k·nth`` points each, kept inside the (tilted) rectangle."""
    aspect = 1.0 if dr_y is None else dr_y / dr
    half_x, half_y = x_range / 2, y_range / (2 * aspect)
    rings = 1 + int(math.hypot(half_x, half_y) / dr)
    cot = math.tan(tilt + math.pi / 2)
    out: Trajectory = []
    for ring in range(1, rings + 2):
        radius = ring * dr
        count = int(ring * nth)
        step = 2 * math.pi / (ring * nth)
        for k in range(count):
            x = radius * math.cos(k * step)
            y = radius * math.sin(k * step) * aspect
            if abs(x - (y / aspect) / cot) <= half_x and abs(y / aspect) <= half_y:
                out.append({x_motor: x_start + x, y_motor: y_start + y})
    return out


#: The golden angle in radians, as the Fermat spiral uses it (137.508°).
GOLDEN_ANGLE = math.radians(137.508)


def spiral_fermat(x_motor: Any, y_motor: Any, x_start: float, y_start: float, x_range: float, y_range: float,
                  dr: float, factor: float, *, dr_y: float | None = None, tilt: float = 0.0) -> Trajectory:
    """Fermat's spiral: point ``k`` at radius ``√k·dr/factor``, angle ``k`` golden angles."""
    aspect = 1.0 if dr_y is None else dr_y / dr
    half_x, half_y = x_range / 2, y_range / (2 * aspect)
    cot = math.tan(tilt + math.pi / 2)
    count = int((1.5 * math.hypot(half_x, half_y) / (dr / factor)) ** 2)
    out: Trajectory = []
    for k in range(1, count):
        radius = math.sqrt(k) * dr / factor
        x = radius * math.cos(GOLDEN_ANGLE * k)
        y = radius * math.sin(GOLDEN_ANGLE * k) * aspect
        if abs(x - (y / aspect) / cot) <= half_x and abs(y) <= half_y:
            out.append({x_motor: x_start + x, y_motor: y_start + y})
    return out


def spiral_square(x_motor: Any, y_motor: Any, x_center: float, y_center: float, x_range: float,
                  y_range: float, x_num: int, y_num: int) -> Trajectory:
    """A square spiral over an ``x_num`` × ``y_num`` grid, from the centre outwards."""
    xs = np.linspace(x_center - x_range / 2, x_center + x_range / 2, x_num)
    ys = np.linspace(y_center - y_range / 2, y_center + y_range / 2, y_num)
    i, j = (x_num - 1) // 2, y_num // 2
    out: Trajectory = [{x_motor: float(xs[i]), y_motor: float(ys[j])}]
    moves = [(1, 0), (0, -1), (-1, 0), (0, 1)]
    leg, turn = 1, 0
    total = x_num * y_num
    while len(out) < total:
        for _ in range(2):
            dx, dy = moves[turn % 4]
            for _ in range(leg):
                i, j = i + dx, j + dy
                if 0 <= i < x_num and 0 <= j < y_num:
                    out.append({x_motor: float(xs[i]), y_motor: float(ys[j])})
            turn += 1
        leg += 1
    return out
