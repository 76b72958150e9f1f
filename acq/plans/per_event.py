"""Per-event steering: after every event, ask a suggester for the next point.

The one mechanism behind ``adaptive_scan`` and the adaptive agents: anything with
``ask(n) -> points`` and ``tell(x, y)`` (the agent protocol) can steer a run point by point.
``acq`` knows no agent classes; it only calls these two methods.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from acq.engine.msg import Msg
from acq.plans.stubs import Plan, close_run, mv, open_run, stage_all, trigger_and_read, unstage_all


class Suggester(Protocol):
    """What per-event steering needs: the ``ask``/``tell`` half of the agent protocol."""

    def ask(self, n: int) -> Any:
        """Up to ``n`` next points, shape (n, len(motors)); empty when done."""

    def tell(self, x: Any, y: Any) -> None:
        """Report the measured ``y`` at the point ``x``."""


Reduce = Callable[[dict[str, Any]], Any]


def reduce_fields(fields: Sequence[str]) -> Reduce:
    """A reducer that takes the values of ``fields`` from an event's readings."""
    names = list(fields)

    def reduce(readings: dict[str, Any]) -> Any:
        missing = [f for f in names if f not in readings]
        if missing:
            raise KeyError(f"the readings have no field(s) {missing}; they have {sorted(readings)}")
        values = [readings[f]["value"] for f in names]
        return values[0] if len(values) == 1 else values

    return reduce


def ask_tell_scan(detectors: Sequence[Any], motors: Sequence[Any], suggester: Suggester, *,
                  reduce: Reduce | Sequence[str], max_points: int, md: dict[str, Any] | None = None,
                  before_close: Callable[[], Plan] | None = None,
                  count_time: tuple[Any, float] | None = None) -> Plan:
    """One run in which ``suggester`` chooses every next point from the events so far.

    Each step: ``ask(1)``; stop when it returns no point or after ``max_points``; move the
    ``motors`` there; trigger and read; ``tell(point, reduce(readings))``. Every suggestion
    is checked against the motors' limits before anything moves. ``before_close`` (if
    given) runs inside the run after the last point (e.g. to park on a found peak).
    ``count_time`` = (signal, seconds): before each point the signal (e.g. a scaler's preset
    time) is set to seconds × ``suggester.dwell(point)`` (× 1 when the suggester has no ``dwell``),
    a put only when it changes.
    """
    if count_time is not None and not count_time[1] > 0:
        raise ValueError(f"count_time: the base count time must be > 0 s, got {count_time[1]!r}")
    dwell = getattr(suggester, "dwell", None)
    counting = None
    if not isinstance(max_points, int) or max_points < 1:
        raise ValueError(f"max_points must be a positive integer, got {max_points!r}")
    motors = list(motors)
    if not motors:
        raise ValueError("motors: give at least one motor to steer")
    reducer = reduce if callable(reduce) else reduce_fields(reduce)
    names = [str(getattr(m, "name", m)) for m in motors]
    start_md = {
        "plan_name": "ask_tell_scan",
        "plan_args": {"detectors": list(map(repr, detectors)), "motors": list(map(repr, motors)),
                      "suggester": repr(suggester), "max_points": max_points},
        "detectors": [str(getattr(d, "name", d)) for d in detectors],
        "motors": names,
        "num_points": max_points,
        "plan_type": "generator",
        "plan_pattern": "adaptive",
        "hints": {"dimensions": [[[n], "primary"] for n in names]},
        **(md or {}),
    }
    devices = [*detectors, *motors]
    yield from stage_all(devices)
    uid = yield from open_run(start_md)
    for _ in range(max_points):
        points = np.atleast_2d(np.asarray(suggester.ask(1), dtype=float))
        if points.size == 0:
            break
        point = points[0]
        if point.shape != (len(motors),):
            raise ValueError(f"the suggester asked for a point of shape {point.shape}; "
                             f"{len(motors)} motor(s) need shape ({len(motors)},)")
        for motor, value in zip(motors, point, strict=True):
            check = getattr(motor, "check_value", None)
            if check is not None:
                check(float(value))
        yield Msg("checkpoint")
        for motor, value in zip(motors, point, strict=True):
            yield Msg("set", motor, float(value), group="ask-tell-move")
        yield Msg("wait", None, group="ask-tell-move")
        if count_time is not None:
            seconds = count_time[1] * (float(dwell(point)) if dwell is not None else 1.0)
            if seconds != counting:
                yield from mv(count_time[0], seconds)
                counting = seconds
        readings = yield from trigger_and_read([*detectors, *motors])
        suggester.tell(point, reducer(readings))
    if before_close is not None:
        yield from before_close()
    yield from close_run()
    yield from unstage_all(devices)
    return uid
