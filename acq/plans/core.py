"""The engine of every step plan: a validated trajectory, start metadata, one event per step."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from acq.engine.msg import Msg
from acq.plans import validate
from acq.plans.preprocessors import finalize_wrapper
from acq.plans.stubs import Plan, close_run, one_nd_step, open_run, position_of, short_uid, stage_all, unstage_all
from acq.plans.trajectories import Trajectory, motors_of

PerStep = Callable[..., Plan]


def dimension_fields(motor: Any) -> list[str]:
    """The fields that stand for ``motor`` on a plot axis (its hints, else its name)."""
    fields = (getattr(motor, "hints", None) or {}).get("fields") or []
    return list(fields) or [validate.name_of(motor)]


def start_md(plan_name: str, detectors: Sequence[Any], motors: Sequence[Any], num_points: int | None,
             plan_args: dict[str, Any], md: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """The start document's plan metadata, as Bluesky users expect; ``md`` wins over defaults."""
    out: dict[str, Any] = {
        "plan_name": plan_name,
        "plan_type": "generator",
        "plan_args": plan_args,
        "detectors": validate.names(detectors),
        "num_points": num_points,
        "num_intervals": None if num_points is None else num_points - 1,
        **extra,
    }
    if motors:  # as Bluesky: a plan that moves nothing (count) has no 'motors' key
        out["motors"] = validate.names(motors)
    user = dict(md or {})
    hints = {**out.pop("hints", {}), **(user.pop("hints", None) or {})}
    out.update(user)
    dims = [[dimension_fields(m), "primary"] for m in motors] if motors else [[["time"], "primary"]]
    hints.setdefault("dimensions", dims)
    out["hints"] = hints
    return out


def pattern_md(pattern: str, args: dict[str, Any]) -> dict[str, Any]:
    """``plan_pattern`` keys naming the trajectory function and its arguments."""
    return {"plan_pattern": pattern, "plan_pattern_module": "acq.plans.trajectories", "plan_pattern_args": args}


def per_step_nd(per_step: PerStep | None) -> PerStep:
    """``per_step`` as ``f(detectors, step, pos_cache)``; a one-motor ``f(detectors, motor, step)`` is adapted."""
    if per_step is None:
        return one_nd_step
    if not callable(per_step):
        raise TypeError(f"per_step must be callable, got {per_step!r}")
    params = list(inspect.signature(per_step).parameters)
    if "motor" in params and "pos_cache" not in params:

        def adapted(detectors: Sequence[Any], step: dict[Any, Any], pos_cache: dict[Any, Any]) -> Plan:
            ((motor, pos),) = step.items()
            return (yield from per_step(detectors, motor, pos))

        return adapted
    return per_step


def step_run(detectors: Sequence[Any], trajectory: Trajectory, md: dict[str, Any], *,
             per_step: PerStep | None = None, relative: bool = False) -> Plan:
    """Stage, open a run, take one event per step of ``trajectory``, close, unstage.

    Absolute trajectories are checked against the motors' limits now, before the plan
    exists; relative ones as soon as the motors' positions have been read, before the
    run opens; relative plans move the motors back where they started, however they end.
    """
    step = per_step_nd(per_step)
    motors = motors_of(trajectory)
    if not relative:
        validate.within_limits(trajectory)
        return _run(detectors, trajectory, md, step, motors)
    return _relative(detectors, trajectory, md, step, motors)


def _run(detectors: Sequence[Any], trajectory: Trajectory, md: dict[str, Any], per_step: PerStep,
         motors: list[Any]) -> Plan:
    devices = [*detectors, *motors]
    yield from stage_all(devices)
    uid = yield from open_run(md)
    pos_cache: dict[Any, Any] = {}
    for point in trajectory:
        yield from per_step(detectors, point, pos_cache)
    yield from close_run()
    yield from unstage_all(devices)
    return uid


def _relative(detectors: Sequence[Any], trajectory: Trajectory, md: dict[str, Any], per_step: PerStep,
              motors: list[Any]) -> Plan:
    home: dict[Any, Any] = {}
    for m in motors:
        home[m] = yield from position_of(m)
    validate.within_limits(trajectory, home)
    shifted = [{m: p + home[m] for m, p in point.items()} for point in trajectory]

    def back() -> Plan:
        group = short_uid("reset")
        for m, pos in home.items():
            yield Msg("set", m, pos, group=group)
        yield Msg("wait", None, group=group)

    return (yield from finalize_wrapper(_run(detectors, shifted, md, per_step, motors), back))
