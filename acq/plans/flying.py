"""Plans that let hardware run on its own: fly scans and ramps."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from acq.engine.msg import Msg
from acq.plans import validate as v
from acq.plans.core import dimension_fields, pattern_md, start_md
from acq.plans.preprocessors import PlanLike, _gen, plan_mutator
from acq.plans.stubs import Plan, close_run, collect, complete, kickoff, open_run, sleep


class RampFail(RuntimeError):
    """A ramp did not finish within its timeout."""


def fly(flyers: Sequence[Any], *, md: dict[str, Any] | None = None) -> Plan:
    """Kick off every flyer, wait for each to complete, then collect their data, in one run."""
    if isinstance(flyers, str) or not isinstance(flyers, Sequence) or not flyers:
        raise ValueError(f"flyers: give a non-empty list of flyers, got {flyers!r}")
    for f in flyers:
        for method in ("kickoff", "complete"):
            if not callable(getattr(f, method, None)):
                raise TypeError(f"flyers: {f!r} cannot fly (no {method}() method)")
    meta = {"plan_name": "fly", "plan_type": "generator", "plan_args": {"flyers": list(map(repr, flyers))},
            "detectors": v.names(flyers), "hints": {}, **(md or {})}
    return _fly(list(flyers), meta)


def _fly(flyers: list[Any], meta: dict[str, Any]) -> Plan:
    uid = yield from open_run(meta)
    for f in flyers:
        yield from kickoff(f, wait=True)
    for f in flyers:
        yield from complete(f, wait=True)
    for f in flyers:
        yield from collect(f)
    yield from close_run()
    return uid


def fly_scan(detectors: Sequence[Any], motor: Any, start: float, stop: float, num: int, *, trigger_box: Any,
             velocity: float | None = None, exposure: float | None = None, stream: str = "primary",
             md: dict[str, Any] | None = None) -> Plan:
    """Fly ``motor`` from ``start`` to ``stop`` while ``trigger_box`` fires the cameras
    ``detectors`` at ``num`` equally spaced positions; one run, Bluesky's ``fly`` semantics
    (kickoff, complete, collect). The stream ``stream`` holds one event per trigger (the position
    the box captured) with the frames referenced from their HDF5 files.

    ``fly_scan([cam], sample_x, -2, 2, 41, trigger_box=pc, velocity=1.0, exposure=0.01)``
    """
    from acq.devices.flyscan import TriggeredFlyer

    dets = v.detectors(detectors)
    v.movable(motor)
    n = v.positive_int(num, "num")
    first, last = v.number(start, "start"), v.number(stop, "stop")
    flyer = TriggeredFlyer(trigger_box, motor, dets, first, last, n, velocity=velocity, exposure=exposure,
                           name=f"{v.name_of(trigger_box)}_flyer")
    args = {"num": n, "args": [v.name_of(motor), first, last]}
    meta = start_md("fly_scan", dets, [motor], n, {
        "detectors": list(map(repr, dets)), "motor": repr(motor), "start": first, "stop": last, "num": n,
        "trigger_box": repr(trigger_box), "velocity": velocity, "exposure": exposure}, md,
        **pattern_md("inner_product", args))
    meta["hints"]["dimensions"] = [[dimension_fields(motor), stream]]
    return _fly_scan(flyer, stream, meta)


def _fly_scan(flyer: Any, stream: str, meta: dict[str, Any]) -> Plan:
    uid = yield from open_run(meta)
    yield Msg("declare_stream", None, flyer, name=stream, collect=True)
    yield from kickoff(flyer, wait=True)
    yield from complete(flyer, wait=True)
    yield Msg("collect", flyer, name=stream)
    yield from close_run()
    return uid


def monitor_during_wrapper(plan: PlanLike, signals: Sequence[Any]) -> Plan:
    """Monitor ``signals`` (each into its own ``<name>_monitor`` stream) while the run is open."""
    monitoring = False

    def unmonitor_all() -> Plan:
        for sig in signals:
            yield Msg("unmonitor", sig)

    def monitor_all() -> Plan:
        for sig in signals:
            yield Msg("monitor", sig, name=f"{v.name_of(sig)}_monitor")

    def before(msg: Msg) -> Plan | None:
        nonlocal monitoring
        if msg.command == "close_run" and monitoring:
            monitoring = False
            return unmonitor_all()
        return None

    def after(msg: Msg) -> Plan | None:
        nonlocal monitoring
        if msg.command == "open_run":
            monitoring = True
            return monitor_all()
        return None

    return (yield from plan_mutator(plan, before, after))


def ramp_plan(go_plan: PlanLike, monitor_sig: Any, inner_plan_func: Callable[[], Plan], take_pre_data: bool = True,
              timeout: float | None = None, period: float | None = None, md: dict[str, Any] | None = None) -> Plan:
    """Start something slow with ``go_plan`` (it returns a status) and run ``inner_plan_func()``
    over and over (every ``period`` s at most) until it is done, monitoring ``monitor_sig``."""
    if not callable(inner_plan_func):
        raise TypeError(f"inner_plan_func must be callable, got {inner_plan_func!r}")
    if timeout is not None:
        v.positive(timeout, "timeout")
    if period is not None:
        v.positive(period, "period")
    meta = {"plan_name": "ramp_plan", "plan_type": "generator", **(md or {})}

    def polling() -> Plan:
        fail_time = None if timeout is None else time.time() + timeout
        if take_pre_data:
            yield from inner_plan_func()
        status = yield from _gen(go_plan)
        while not status.done:
            began = time.time()
            yield from inner_plan_func()
            if fail_time is not None and time.time() > fail_time:
                raise RampFail(f"the ramp did not finish within {timeout} s")
            if period is not None and began + period > time.time():
                yield from sleep(began + period - time.time())
        yield from inner_plan_func()

    def run() -> Plan:
        uid = yield from open_run(meta)
        yield from polling()
        yield from close_run()
        return uid

    return monitor_during_wrapper(run(), [monitor_sig])


ramp = ramp_plan
