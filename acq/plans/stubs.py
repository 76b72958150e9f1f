"""Plan stubs: the small steps that plans are made of (Bluesky's names and signatures)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import Any

from acq.engine.msg import Msg

Plan = Generator[Msg, Any, Any]

_uids = itertools.count()


def short_uid(label: str) -> str:
    """A process-unique group name, e.g. ``set-17``."""
    return f"{label}-{next(_uids)}"


def open_run(md: dict[str, Any] | None = None) -> Plan:
    """Open a run with start-document metadata ``md``; return its uid."""
    return (yield Msg("open_run", **(md or {})))


def close_run(exit_status: str | None = None, reason: str | None = None) -> Plan:
    """Close the open run."""
    return (yield Msg("close_run", exit_status=exit_status, reason=reason))


def stage(obj: Any) -> Plan:
    """Stage a device."""
    return (yield Msg("stage", obj))


def unstage(obj: Any) -> Plan:
    """Unstage a device."""
    return (yield Msg("unstage", obj))


def sleep(time: float) -> Plan:
    """Wait ``time`` seconds (the engine stays responsive)."""
    return (yield Msg("sleep", None, time))


def checkpoint() -> Plan:
    """Mark a safe point to resume from."""
    return (yield Msg("checkpoint"))


def _pairs(args: Sequence[Any], what: str) -> list[tuple[Any, Any]]:
    if not args or len(args) % 2:
        raise ValueError(f"{what} takes pairs of (device, position), got {len(args)} argument(s)")
    pairs = list(zip(args[::2], args[1::2], strict=True))
    for obj, _ in pairs:
        if not callable(getattr(obj, "set", None)):
            raise TypeError(f"{what}: {obj!r} cannot be moved (no set() method)")
    return pairs


def _check(obj: Any, value: Any) -> None:
    check = getattr(obj, "check_value", None)
    if check is not None:
        check(value)


def mv(*args: Any, group: str | None = None, **kwargs: Any) -> Plan:
    """Move ``mv(m1, 1, m2, 2)`` all at once and wait for every one (limits checked first)."""
    pairs = _pairs(args, "mv")
    for obj, value in pairs:
        _check(obj, value)
    group = group or short_uid("mv")
    statuses = []
    for obj, value in pairs:
        statuses.append((yield Msg("set", obj, value, group=group, **kwargs)))
    yield Msg("wait", None, group=group)
    return tuple(statuses)


def position_of(obj: Any) -> Plan:
    """Read ``obj`` and return its position (its one hinted field, else its first field)."""
    reading = yield Msg("read", obj)
    if not reading:
        return 0.0
    fields = list((getattr(obj, "hints", None) or {}).get("fields", []))
    key = fields[0] if len(fields) == 1 and fields[0] in reading else next(iter(reading))
    return reading[key]["value"]


def mvr(*args: Any, group: str | None = None, **kwargs: Any) -> Plan:
    """Move each device by a relative amount: ``mvr(m1, 0.5)``."""
    pairs = _pairs(args, "mvr")
    absolute: list[Any] = []
    for obj, delta in pairs:
        here = yield from position_of(obj)
        absolute += [obj, here + delta]
    return (yield from mv(*absolute, group=group, **kwargs))


def trigger(obj: Any, *, group: str | None = None, wait: bool = False) -> Plan:
    """Trigger ``obj`` (and wait for it with ``wait``)."""
    status = yield Msg("trigger", obj, group=group)
    if wait:
        yield Msg("wait", None, group=group)
    return status


def trigger_and_read(devices: Sequence[Any], name: str = "primary") -> Plan:
    """Trigger every triggerable device, wait, then read them all into one event."""
    devices = list(dict.fromkeys(devices))
    group = short_uid("trigger")
    triggered = False
    for obj in devices:
        if hasattr(obj, "trigger"):
            yield Msg("trigger", obj, group=group)
            triggered = True
    if triggered:
        yield Msg("wait", None, group=group)
    yield Msg("create", None, name=name)
    readings: dict[str, Any] = {}
    for obj in devices:
        readings.update((yield Msg("read", obj)) or {})
    yield Msg("save", None)
    return readings


TakeReading = Callable[[Sequence[Any]], Plan]


def one_shot(detectors: Sequence[Any], take_reading: TakeReading | None = None) -> Plan:
    """One event of ``detectors`` (the step of ``count``)."""
    yield Msg("checkpoint")
    return (yield from (take_reading or trigger_and_read)(list(detectors)))


def one_1d_step(detectors: Sequence[Any], motor: Any, step: Any, take_reading: TakeReading | None = None) -> Plan:
    """Move one motor to ``step``, then read the detectors and the motor."""
    group = short_uid("set")
    yield Msg("checkpoint")
    yield Msg("set", motor, step, group=group)
    yield Msg("wait", None, group=group)
    return (yield from (take_reading or trigger_and_read)([*detectors, motor]))


def move_per_step(step: dict[Any, Any], pos_cache: dict[Any, Any]) -> Plan:
    """Move the motors of ``step`` that are not there yet (``pos_cache`` remembers), together."""
    yield Msg("checkpoint")
    group = short_uid("set")
    for motor, pos in step.items():
        if pos_cache.get(motor, _NOWHERE) == pos:
            continue
        yield Msg("set", motor, pos, group=group)
        pos_cache[motor] = pos
    yield Msg("wait", None, group=group)


_NOWHERE = object()


def one_nd_step(detectors: Sequence[Any], step: dict[Any, Any], pos_cache: dict[Any, Any],
                take_reading: TakeReading | None = None) -> Plan:
    """Move to ``step`` (only the motors that change), then read the detectors and motors."""
    yield from move_per_step(step, pos_cache)
    return (yield from (take_reading or trigger_and_read)([*detectors, *step]))


def repeat(plan: Callable[[], Plan], num: int | None = 1, delay: float | Sequence[float] | None = None) -> Plan:
    """Run ``plan()`` ``num`` times (forever with None), ``delay`` seconds (or a list) apart."""
    if num is not None and (isinstance(num, bool) or not isinstance(num, int) or num < 1):
        raise ValueError(f"num must be a positive integer (or None for forever), got {num!r}")
    if not callable(plan):
        raise TypeError(f"repeat needs a callable that returns a plan, got {plan!r}")
    delays: Iterable[float | None]
    if delay is None or isinstance(delay, int | float):
        delays = itertools.repeat(delay)
    else:
        delays = list(delay)
        if num is None or len(delays) != num - 1:
            raise ValueError(f"delay: give one delay per gap ({(num or 0) - 1}), got {len(delays)}")
        delays = itertools.chain(delays, [None])
    results = []
    count = itertools.count() if num is None else range(num)
    for i, pause in zip(count, delays, strict=False):
        yield Msg("checkpoint")
        results.append((yield from plan()))
        if pause and (num is None or i < num - 1):
            yield Msg("sleep", None, pause)
    return results


def kickoff(obj: Any, *, group: str | None = None, wait: bool = False) -> Plan:
    """Start a fly scan on ``obj``."""
    status = yield Msg("kickoff", obj, group=group)
    if wait:
        yield Msg("wait", None, group=group)
    return status


def complete(obj: Any, *, group: str | None = None, wait: bool = False) -> Plan:
    """Tell ``obj`` to finish its fly scan."""
    status = yield Msg("complete", obj, group=group)
    if wait:
        yield Msg("wait", None, group=group)
    return status


def collect(obj: Any, *, stream: bool = False) -> Plan:
    """Collect the data ``obj`` took while flying."""
    return (yield Msg("collect", obj, stream=stream))


def _each_then_wait(command: str, devices: Iterable[Any]) -> Plan:
    """``command`` every device once, in one group; wait for it if any returned a status."""
    group = short_uid(command)
    statuses = False
    for obj in dict.fromkeys(devices):
        ret = yield Msg(command, obj, group=group)
        statuses = statuses or hasattr(ret, "add_callback")
    if statuses:
        yield Msg("wait", None, group=group)


def stage_all(devices: Iterable[Any]) -> Plan:
    """Stage every device once, as Bluesky does (the engine skips those that cannot be staged)."""
    yield from _each_then_wait("stage", devices)


def unstage_all(devices: Iterable[Any]) -> Plan:
    """Unstage every device once, in reverse order (the engine skips those that cannot be)."""
    yield from _each_then_wait("unstage", reversed(list(dict.fromkeys(devices))))
