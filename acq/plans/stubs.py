"""Plan stubs: the small steps that plans are made of."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from typing import Any

from acq.engine.msg import Msg

Plan = Generator[Msg, Any, Any]


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


def mv(*args: Any, group: str | None = None) -> Plan:
    """Move ``mv(m1, 1, m2, 2)`` all at once and wait for every one."""
    if len(args) % 2:
        raise ValueError("mv takes pairs of (device, position)")
    group = group or f"mv-{id(args)}"
    for obj, value in zip(args[::2], args[1::2], strict=True):
        yield Msg("set", obj, value, group=group)
    yield Msg("wait", None, group=group)


def trigger_and_read(devices: Sequence[Any], name: str = "primary") -> Plan:
    """Trigger every triggerable device, wait, then read them all into one event."""
    devices = list(dict.fromkeys(devices))
    group = f"trigger-{id(devices)}"
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


def stage_all(devices: Iterable[Any]) -> Plan:
    """Stage every device (as Bluesky does; the engine skips those that cannot be staged)."""
    for obj in devices:
        yield Msg("stage", obj)


def unstage_all(devices: Iterable[Any]) -> Plan:
    """Unstage every device in reverse order (the engine skips those that cannot be unstaged)."""
    for obj in reversed(list(devices)):
        yield Msg("unstage", obj)
