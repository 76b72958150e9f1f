"""Plans that choose their next point from the last readings, built on ``ask_tell_scan``.

``adaptive_scan`` (step size from the local slope) and ``tune_centroid`` (shrink the range
around the centroid) are suggesters — objects with ``ask``/``tell`` — driven by the same
per-event mechanism that adaptive agents use; there is no second steering loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from acq.plans import validate as v
from acq.plans.core import dimension_fields, start_md
from acq.plans.per_event import ask_tell_scan
from acq.plans.preprocessors import finalize_wrapper
from acq.plans.stubs import Plan, mv, position_of


class SlopeStepper:
    """Steps from ``start`` towards ``stop``, each step ``target_delta / |slope|`` within bounds.

    With ``backstep``, a step that proves too long (the new step is below ``threshold`` ×
    the old) is taken again, shorter, from the previous point.
    """

    def __init__(self, start: float, stop: float, min_step: float, max_step: float, target_delta: float,
                 backstep: bool, threshold: float = 0.8) -> None:
        self.next_pos, self.stop = start, stop
        self.min_step, self.max_step = min_step, max_step
        self.target_delta, self.backstep, self.threshold = target_delta, backstep, threshold
        self.step = (max_step - min_step) / 2
        self.sign = 1.0 if stop >= start else -1.0
        self.past: float | None = None

    def ask(self, n: int) -> list[list[float]]:
        """The next position, or nothing once past ``stop``."""
        return [[self.next_pos]] if self.next_pos * self.sign < self.stop * self.sign else []

    def tell(self, x: Any, y: Any) -> None:
        """Learn the reading ``y`` at ``x`` and choose the next step."""
        current = float(y)
        if self.past is None:
            self.past = current
            self.next_pos += self.step * self.sign
            return
        slope = abs(current - self.past) / self.step
        if slope:
            new = min(max(self.target_delta / slope, self.min_step), self.max_step)
        else:
            new = min(self.step * 1.1, self.max_step)
        if self.backstep and new < self.step * self.threshold:
            self.next_pos -= self.step * self.sign
            self.step = new
        else:
            self.past = current
            self.step = 0.2 * new + 0.8 * self.step
        self.next_pos += self.step * self.sign


def _adaptive(name: str, detectors: Sequence[Any], target_field: str, motor: Any, start: float, stop: float,
              min_step: float, max_step: float, target_delta: float, backstep: bool, threshold: float,
              md: dict[str, Any] | None, relative: bool) -> Plan:
    dets = v.detectors(detectors)
    v.movable(motor)
    if not isinstance(target_field, str):
        raise TypeError(f"target_field must be the name of a reading, got {target_field!r}")
    a, b = v.number(start, "start"), v.number(stop, "stop")
    lo, hi = v.positive(min_step, "min_step"), v.positive(max_step, "max_step")
    if lo > hi:
        raise ValueError(f"min_step ({min_step}) must not exceed max_step ({max_step})")
    v.positive(target_delta, "target_delta")
    v.number(threshold, "threshold")
    bound = 4 * (math.ceil(abs(b - a) / lo) + 2)
    plan_args = {"detectors": list(map(repr, dets)), "motor": repr(motor), "start": start, "stop": stop,
                 "min_step": min_step, "max_step": max_step, "target_field": target_field,
                 "target_delta": target_delta, "backstep": backstep, "threshold": threshold}
    meta = start_md(name, dets, [motor], None, plan_args, md, plan_pattern="adaptive")

    def run(offset: float) -> Plan:
        if relative:
            check = getattr(motor, "check_value", None)
            if check is not None:
                check(a + offset), check(b + offset)
        elif getattr(motor, "check_value", None) is not None:
            motor.check_value(a), motor.check_value(b)
        stepper = SlopeStepper(a + offset, b + offset, lo, hi, target_delta, bool(backstep), threshold)
        return (yield from ask_tell_scan(dets, [motor], stepper, reduce=[target_field], max_points=bound, md=meta))

    if not relative:
        return run(0.0)
    return _around(motor, run)


def _around(motor: Any, body: Any) -> Plan:
    """Read where ``motor`` is, run ``body(position)``, and move it back there however it ends."""
    home = yield from position_of(motor)
    return (yield from finalize_wrapper(body(home), lambda: mv(motor, home)))


def adaptive_scan(detectors: Sequence[Any], target_field: str, motor: Any, start: float, stop: float,
                  min_step: float, max_step: float, target_delta: float, backstep: bool,
                  threshold: float = 0.8, *, md: dict[str, Any] | None = None) -> Plan:
    """Scan from ``start`` to ``stop`` with steps that aim at a change of ``target_delta`` in
    ``target_field`` per step (Bluesky's ``adaptive_scan``)."""
    return _adaptive("adaptive_scan", detectors, target_field, motor, start, stop, min_step, max_step,
                     target_delta, backstep, threshold, md, False)


def rel_adaptive_scan(detectors: Sequence[Any], target_field: str, motor: Any, start: float, stop: float,
                      min_step: float, max_step: float, target_delta: float, backstep: bool,
                      threshold: float = 0.8, *, md: dict[str, Any] | None = None) -> Plan:
    """``adaptive_scan`` relative to where the motor is; it returns there at the end."""
    return _adaptive("rel_adaptive_scan", detectors, target_field, motor, start, stop, min_step, max_step,
                     target_delta, backstep, threshold, md, True)


class CentroidTuner:
    """Passes over a range; each pass shrinks the range ``step_factor`` times around the
    centroid of the signal, until the step is below ``min_step``."""

    def __init__(self, start: float, stop: float, num: int, min_step: float, step_factor: float,
                 snake: bool) -> None:
        self.start, self.stop, self.num = start, stop, num
        self.low, self.high = min(start, stop), max(start, stop)
        self.min_step, self.step_factor, self.snake = min_step, step_factor, snake
        self.step = (stop - start) / (num - 1)
        self.next_pos = start
        self.sum_i = self.sum_xi = 0.0
        self.peak: float | None = None
        self.done = False

    def ask(self, n: int) -> list[list[float]]:
        """The next position, or nothing once the step is fine enough."""
        if self.done or abs(self.step) < self.min_step or not self.low <= self.next_pos <= self.high:
            return []
        return [[self.next_pos]]

    def tell(self, x: Any, y: Any) -> None:
        """``y`` is (signal, motor readback)."""
        signal, position = float(y[0]), float(y[1])
        self.sum_i += signal
        self.sum_xi += position * signal
        self.next_pos += self.step
        if min(self.start, self.stop) <= self.next_pos <= max(self.start, self.stop):
            return
        if self.sum_i == 0:
            self.done = True
            return
        self.peak = self.sum_xi / self.sum_i
        self.sum_i = self.sum_xi = 0.0
        half = (self.stop - self.start) / self.step_factor / 2
        self.start = min(max(self.peak - half, self.low), self.high)
        self.stop = min(max(self.peak + half, self.low), self.high)
        if self.snake:
            self.start, self.stop = self.stop, self.start
        self.step = (self.stop - self.start) / (self.num - 1)
        self.next_pos = self.start


def tune_centroid(detectors: Sequence[Any], signal: str, motor: Any, start: float, stop: float, min_step: float,
                  num: int = 10, step_factor: float = 3.0, snake: bool = False, *,
                  md: dict[str, Any] | None = None) -> Plan:
    """Find the centroid of ``signal`` over ``motor`` by passes of shrinking range, then park
    the motor there (Bluesky's ``tune_centroid``)."""
    dets = v.detectors(detectors)
    v.movable(motor)
    a, b = v.number(start, "start"), v.number(stop, "stop")
    v.positive(min_step, "min_step")
    n = v.positive_int(num, "num")
    if n < 2:
        raise ValueError(f"num must be at least 2, got {num}")
    if v.number(step_factor, "step_factor") <= 1.0:
        raise ValueError(f"step_factor must be greater than 1.0, got {step_factor}")
    if a == b:
        raise ValueError("start and stop must differ")
    check = getattr(motor, "check_value", None)
    if check is not None:
        check(a), check(b)
    (field,) = dimension_fields(motor)[:1]
    plan_args = {"detectors": list(map(repr, dets)), "motor": repr(motor), "start": start, "stop": stop,
                 "num": num, "min_step": min_step, "step_factor": step_factor, "snake": snake, "signal": signal}
    meta = start_md("tune_centroid", dets, [motor], None, plan_args, md, plan_pattern="tune_centroid")
    tuner = CentroidTuner(a, b, n, float(min_step), float(step_factor), bool(snake))

    def reduce(readings: dict[str, Any]) -> tuple[Any, Any]:
        for key in (signal, field):
            if key not in readings:
                raise KeyError(f"tune_centroid: no reading {key!r}; the readings have {sorted(readings)}")
        return readings[signal]["value"], readings[field]["value"]

    def park() -> Plan:
        if tuner.peak is not None:
            yield from mv(motor, tuner.peak)

    bound = 64 * n
    return ask_tell_scan(dets, [motor], tuner, reduce=reduce, max_points=bound, md=meta, before_close=park)
