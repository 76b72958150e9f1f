"""A scenario's faults (what strikes the twin, and when) and suspenders (what pauses the plan).

YAML shapes (times in simulated seconds)::

    faults:
      - {kind: beam_dump, at_point: 12, duration: 120}   # after the 12th stored point
      - {kind: beam_dump, after_s: 30, duration: 60}     # 30 s after the run starts
      - {kind: ioc_restart, at_point: 20}                # the IOC process killed and started again
    suspenders:
      - {kind: floor, device: beam, signal: current, suspend_below: 400, resume_above: 450, settle: 20}
      - {kind: bool_low, device: beam, signal: available, settle: 20}
      - {kind: disconnected, devices: [motor, det, beam], settle: 10}   # while any PV of them is gone

An ``ioc_restart`` kills the twin's IOC process (SIGKILL) and starts it again on the same port;
the twin then runs with autosave, so the restarted IOC keeps the settings clients made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from acq.engine.suspenders import SuspendBoolLow, SuspendDisconnected, Suspender, SuspendFloor

FAULT_KINDS = ("beam_dump", "ioc_restart")
SUSPENDER_KINDS = ("floor", "bool_low", "disconnected")


@dataclass(frozen=True)
class FaultSpec:
    """One fault: ``kind`` strikes after stored point ``at_point`` or ``after_s`` simulated s."""

    kind: str
    duration: float = 0.0
    at_point: int | None = None
    after_s: float | None = None


@dataclass(frozen=True)
class SuspenderSpec:
    """One suspender on ``device.signal`` (or, ``disconnected``, on the connections of ``devices``);
    ``settle`` is simulated seconds of good beam (or connection) before resuming."""

    kind: str
    device: str = ""
    signal: str = ""
    settle: float = 0.0
    suspend_below: float | None = None
    resume_above: float | None = None
    devices: tuple[str, ...] = ()


def _number(item: dict[str, Any], key: str, where: str, *, minimum: float = 0.0) -> float:
    value = item[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ValueError(f"{where}.{key} must be a number ≥ {minimum:g}, got {value!r}")
    return float(value)


def _items(raw: Any, field_name: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(i, dict) for i in raw):
        raise ValueError(f"{field_name} must be a list of mappings, got {raw!r}")
    return raw


def _unknown(item: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(item) - allowed)
    if extra:
        raise ValueError(f"{where}.{extra[0]} is not a known field (known: {', '.join(sorted(allowed))})")


def parse_faults(raw: Any, field_name: str = "faults") -> list[FaultSpec]:
    """Validate a ``faults:`` list; errors name the bad field (``faults[0].duration``)."""
    out = []
    for i, item in enumerate(_items(raw, field_name)):
        where = f"{field_name}[{i}]"
        _unknown(item, {"kind", "duration", "at_point", "after_s"}, where)
        kind = item.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"{where}.kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
        if kind == "ioc_restart":
            if "duration" in item:
                raise ValueError(f"{where}.duration: an ioc_restart has none (the IOC is down as long as "
                                 f"its process takes to start again)")
            duration = 0.0
        elif "duration" not in item:
            raise ValueError(f"{where}.duration is missing (simulated seconds the beam stays down)")
        else:
            duration = _number(item, "duration", where)
        if ("at_point" in item) == ("after_s" in item):
            raise ValueError(f"{where}: give exactly one of at_point or after_s")
        at_point = None
        if "at_point" in item:
            at_point = item["at_point"]
            if isinstance(at_point, bool) or not isinstance(at_point, int) or at_point < 1:
                raise ValueError(f"{where}.at_point must be a positive integer, got {at_point!r}")
        after_s = _number(item, "after_s", where) if "after_s" in item else None
        out.append(FaultSpec(kind=kind, duration=duration, at_point=at_point, after_s=after_s))
    return out


def parse_suspenders(raw: Any, field_name: str = "suspenders") -> list[SuspenderSpec]:
    """Validate a ``suspenders:`` list; errors name the bad field (``suspenders[1].suspend_below``)."""
    out = []
    for i, item in enumerate(_items(raw, field_name)):
        where = f"{field_name}[{i}]"
        kind = item.get("kind")
        if kind not in SUSPENDER_KINDS:
            raise ValueError(f"{where}.kind must be one of {', '.join(SUSPENDER_KINDS)}, got {kind!r}")
        allowed = {"kind", "devices", "settle"} if kind == "disconnected" else {"kind", "device", "signal", "settle"}
        if kind == "floor":
            allowed |= {"suspend_below", "resume_above"}
        _unknown(item, allowed, where)
        settle = _number(item, "settle", where) if "settle" in item else 0.0
        if kind == "disconnected":
            devices = item.get("devices")
            if not isinstance(devices, list) or not devices or not all(isinstance(d, str) and d for d in devices):
                raise ValueError(f"{where}.devices must be a non-empty list of device names, got {devices!r}")
            out.append(SuspenderSpec(kind=kind, settle=settle, devices=tuple(devices)))
            continue
        for key in ("device", "signal"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise ValueError(f"{where}.{key} must name a device{' signal' if key == 'signal' else ''}, "
                                 f"got {item.get(key)!r}")
        below = above = None
        if kind == "floor":
            if "suspend_below" not in item:
                raise ValueError(f"{where}.suspend_below is missing")
            below = _number(item, "suspend_below", where)
            above = _number(item, "resume_above", where) if "resume_above" in item else below
            if above < below:
                raise ValueError(f"{where}.resume_above ({above:g}) must be ≥ suspend_below ({below:g})")
        out.append(SuspenderSpec(kind=kind, device=item["device"], signal=item["signal"], settle=settle,
                                 suspend_below=below, resume_above=above))
    return out


@dataclass
class SuspensionLog:
    """Counts and announces suspensions and resumptions (through the suspenders' pre/post plans)."""

    out: TextIO
    suspended: int = 0
    resumed: int = 0
    lines: list[str] = field(default_factory=list)
    active: list[Suspender] = field(default_factory=list)

    def say(self, line: str) -> None:
        """Print one line at once (the live table goes on around it)."""
        self.lines.append(line)
        self.out.write(line + "\n")
        self.out.flush()

    def hooks(self, suspender: Suspender, settle: float) -> tuple[Callable[[], Iterator[Any]],
                                                                   Callable[[], Iterator[Any]]]:
        """A ``pre_plan`` and ``post_plan`` for ``suspender``: one suspension (and one resumption)
        is counted and printed per episode, however many suspenders trip in it."""

        def pre() -> Iterator[Any]:
            if suspender not in self.active:
                self.active.append(suspender)
                if len(self.active) == 1:
                    self.suspended += 1
                    self.say(f"SUSPENDED: {suspender.justification}; waiting for it to clear "
                             f"(then {settle:g} s to settle)")
                else:
                    self.say(f"  also: {suspender.justification}")
            yield from ()

        def post() -> Iterator[Any]:
            if suspender in self.active:
                self.active.remove(suspender)
                if not self.active:
                    self.resumed += 1
                    self.say("RESUMED: all clear and settled; rewinding to the last checkpoint")
            yield from ()

        return pre, post


def build_suspenders(specs: list[SuspenderSpec], devices: dict[str, Any], *, speed: float,
                     log: SuspensionLog) -> list[Suspender]:
    """Suspenders on the profile's devices; ``settle`` turns into wall seconds at ``speed``."""
    built: list[Suspender] = []
    for i, spec in enumerate(specs):
        where = f"suspenders[{i}]"
        sleep = spec.settle / speed
        sus: Suspender
        if spec.kind == "disconnected":
            missing = [d for d in spec.devices if d not in devices]
            if missing:
                raise ValueError(f"{where}.devices: {missing[0]!r} is not in the profile (has: {sorted(devices)})")
            sus = SuspendDisconnected(*(devices[d] for d in spec.devices), sleep=sleep)
            sus.pre_plan, sus.post_plan = log.hooks(sus, spec.settle)
            built.append(sus)
            continue
        if spec.device not in devices:
            raise ValueError(f"{where}.device {spec.device!r} is not in the profile (has: {sorted(devices)})")
        signal = getattr(devices[spec.device], spec.signal, None)
        if signal is None or not hasattr(signal, "read"):
            raise ValueError(f"{where}.signal: device {spec.device!r} has no signal {spec.signal!r}")
        if spec.kind == "floor":
            assert spec.suspend_below is not None
            sus = SuspendFloor(signal, spec.suspend_below, resume_thresh=spec.resume_above, sleep=sleep)
        else:
            sus = SuspendBoolLow(signal, sleep=sleep)
        sus.pre_plan, sus.post_plan = log.hooks(sus, spec.settle)
        built.append(sus)
    return built


class FaultInjector:
    """A document subscriber that strikes each fault on cue through ``strike(spec)`` (in a thread,
    so the engine's loop never waits on it); ``after_s`` counts simulated seconds at ``speed``.
    A strike that fails (an IOC that does not come back) is announced and passed to ``on_error``
    (e.g. to abort the run, which would otherwise wait for that IOC for ever)."""

    def __init__(self, specs: list[FaultSpec], strike: Callable[[FaultSpec], None], *, speed: float,
                 log: SuspensionLog, on_error: Callable[[BaseException], object] | None = None) -> None:
        self.specs = specs
        self.strike = strike
        self.speed = speed
        self.log = log
        self.on_error = on_error
        self.errors: list[BaseException] = []
        self.points = 0
        self.fired: list[FaultSpec] = []
        self.timers: list[threading.Timer] = []
        self.threads: list[threading.Thread] = []

    def _fire(self, spec: FaultSpec) -> None:
        self.fired.append(spec)
        when = f"after point {spec.at_point}" if spec.at_point is not None else f"after {spec.after_s:g} s"
        what = ("the IOC process killed and started again" if spec.kind == "ioc_restart"
                else f"for {spec.duration:g} s")
        self.log.say(f"FAULT: {spec.kind}: {what} ({when})")
        try:
            self.strike(spec)
        except Exception as exc:
            self.errors.append(exc)
            self.log.say(f"FAULT FAILED: {spec.kind}: {exc}")
            if self.on_error is not None:
                self.on_error(exc)

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            for spec in self.specs:
                if spec.after_s is not None:
                    timer = threading.Timer(spec.after_s / self.speed, self._fire, (spec,))
                    timer.daemon = True
                    timer.start()
                    self.timers.append(timer)
        elif name == "event":
            self.points += 1
            for spec in self.specs:
                if spec.at_point == self.points:
                    thread = threading.Thread(target=self._fire, args=(spec,), daemon=True)
                    thread.start()
                    self.threads.append(thread)

    def close(self) -> None:
        """Cancel faults that have not struck; wait for those under way."""
        for timer in self.timers:
            timer.cancel()
        for thread in self.threads:
            thread.join(timeout=30)


def points_exact(stored: Any, planned: Any, step: float) -> bool:
    """Whether the stored positions are the planned ones, one for one and in order (none lost,
    none duplicated): equal length and each within 1 % of a step of its planned position."""
    import numpy as np

    got, want = np.asarray(stored, dtype=float), np.asarray(planned, dtype=float)
    if got.shape != want.shape:
        return False
    return bool(np.all(np.abs(got - want) <= 0.01 * abs(step) + 1e-9))
