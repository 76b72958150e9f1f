"""Preprocessors: wrap a plan to add baseline readings, relative moves, cleanup, subscriptions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from acq.engine.msg import Msg
from acq.plans.stubs import Plan, position_of, short_uid, trigger_and_read

PlanLike = Plan | Iterable[Msg]
FinalPlan = Callable[[], PlanLike] | PlanLike


def _gen(plan: PlanLike) -> Plan:
    if hasattr(plan, "send") and hasattr(plan, "throw"):
        return plan  # type: ignore[return-value]

    def walk() -> Plan:
        result = None
        for msg in plan:
            result = yield msg
        return result

    return walk()


def finalize_wrapper(plan: PlanLike, final_plan: FinalPlan) -> Plan:
    """Run ``final_plan`` after ``plan`` however it ends (success, error, abort)."""
    try:
        return (yield from _gen(plan))
    finally:
        final = final_plan() if callable(final_plan) else final_plan
        yield from _gen(final)


def plan_mutator(plan: PlanLike, before: Callable[[Msg], Plan | None] | None = None,
                 after: Callable[[Msg], Plan | None] | None = None) -> Plan:
    """Pass ``plan`` through, letting ``before(msg)`` insert a sub-plan ahead of any message
    and ``after(msg)`` one right after it (before its response goes back to the plan).

    The ``before`` sub-plan's return value replaces the message if it is a ``Msg`` (else the
    message goes out unchanged); responses and errors flow back to the plan.
    """
    gen = _gen(plan)
    response: Any = None
    error: BaseException | None = None
    while True:
        try:
            msg = gen.throw(error) if error is not None else gen.send(response)
        except StopIteration as stop:
            return stop.value
        error = None
        inserted = before(msg) if before is not None else None
        if inserted is not None:
            replacement = yield from inserted
            if isinstance(replacement, Msg):
                msg = replacement
        try:
            response = yield msg
        except BaseException as exc:  # thrown in by the engine: hand it to the plan
            error, response = exc, None
            continue
        appended = after(msg) if after is not None else None
        if appended is not None:
            yield from appended


def relative_set_wrapper(plan: PlanLike, devices: Sequence[Any] | None = None) -> Plan:
    """Treat every ``set`` on ``devices`` (all moved devices with None) as relative to where
    each was when first moved."""
    initial: dict[Any, Any] = {}
    chosen = None if devices is None else list(devices)

    def before(msg: Msg) -> Plan | None:
        if msg.command != "set" or (chosen is not None and msg.obj not in chosen):
            return None

        def rewrite() -> Plan:
            if msg.obj not in initial:
                initial[msg.obj] = yield from position_of(msg.obj)
            return msg._replace(args=(initial[msg.obj] + msg.args[0], *msg.args[1:]))

        return rewrite()

    return (yield from plan_mutator(plan, before))


def reset_positions_wrapper(plan: PlanLike, devices: Sequence[Any] | None = None) -> Plan:
    """Move every device that ``plan`` moved (of ``devices``) back where it started, at the end."""
    initial: dict[Any, Any] = {}
    chosen = None if devices is None else list(devices)

    def before(msg: Msg) -> Plan | None:
        if msg.command != "set" or msg.obj in initial or (chosen is not None and msg.obj not in chosen):
            return None

        def stash() -> Plan:
            initial[msg.obj] = yield from position_of(msg.obj)

        return stash()

    def back() -> Plan:
        group = short_uid("reset")
        for obj, pos in initial.items():
            yield Msg("set", obj, pos, group=group)
        yield Msg("wait", None, group=group)

    return (yield from finalize_wrapper(plan_mutator(plan, before), back))


def baseline_wrapper(plan: PlanLike, devices: Sequence[Any], name: str = "baseline") -> Plan:
    """Read ``devices`` into the stream ``name`` right after ``open_run`` and before ``close_run``."""
    devs = list(devices)
    if not devs:
        return (yield from _gen(plan))

    def before(msg: Msg) -> Plan | None:
        if msg.command == "close_run":
            return trigger_and_read(devs, name=name)
        return None

    def after(msg: Msg) -> Plan | None:
        if msg.command == "open_run":
            return trigger_and_read(devs, name=name)
        return None

    return (yield from plan_mutator(plan, before, after))


def subs_wrapper(plan: PlanLike, subs: Callable[..., Any] | Sequence[Callable[..., Any]]
                 | dict[str, Callable[..., Any] | Sequence[Callable[..., Any]]]) -> Plan:
    """Subscribe callbacks for the plan's duration: a function, a list, or ``{doc name: fns}``."""
    if callable(subs):
        pairs = [("all", subs)]
    elif isinstance(subs, dict):
        pairs = [(n, f) for n, fs in subs.items() for f in ([fs] if callable(fs) else fs)]
    else:
        pairs = [("all", f) for f in subs]
    tokens: list[Any] = []

    def unsubscribe() -> Plan:
        for token in tokens:
            yield Msg("unsubscribe", token=token)

    def body() -> Plan:
        for name, fn in pairs:
            tokens.append((yield Msg("subscribe", None, fn, name)))
        return (yield from _gen(plan))

    return (yield from finalize_wrapper(body(), unsubscribe))


def stage_wrapper(plan: PlanLike, devices: Sequence[Any]) -> Plan:
    """Stage ``devices`` before ``plan`` and unstage them after, however it ends."""
    from acq.plans.stubs import stage_all, unstage_all

    def body() -> Plan:
        yield from stage_all(devices)
        return (yield from _gen(plan))

    return (yield from finalize_wrapper(body(), lambda: unstage_all(devices)))


def run_wrapper(plan: PlanLike, md: dict[str, Any] | None = None) -> Plan:
    """Wrap ``plan`` in open_run/close_run (closing with the error if it fails)."""
    uid = yield Msg("open_run", **(md or {}))
    try:
        yield from _gen(plan)
    except BaseException as exc:
        yield Msg("close_run", exit_status="fail", reason=f"{type(exc).__name__}: {exc}")
        raise
    yield Msg("close_run", exit_status=None, reason=None)
    return uid
