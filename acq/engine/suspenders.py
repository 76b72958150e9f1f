"""Suspenders: pause a plan while a signal is out of bounds (beam down, shutter closed), then resume.

A suspender watches its signal on the shared loop. When the condition trips during a plan the
engine interrupts it, rewinds to the last checkpoint, runs the optional ``pre_plan``, waits
until the condition has cleared and stayed clear for ``sleep`` seconds (the settle time), runs
the optional ``post_plan`` and replays the plan from the checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from acq.engine.bundler import maybe_await, name_of

log = logging.getLogger(__name__)

PlanFactory = Callable[[], Iterable[Any]] | Iterable[Any] | None


class Suspender:
    """Base class: subclasses say when to suspend and when the condition has cleared."""

    def __init__(self, signal: Any, *, sleep: float = 0.0, pre_plan: PlanFactory = None,
                 post_plan: PlanFactory = None, tripped_message: str = "", poll_period: float = 0.05,
                 read_timeout: float = 5.0) -> None:
        if sleep < 0:
            raise ValueError(f"sleep (the settle time) must be >= 0, got {sleep}")
        if read_timeout <= 0:
            raise ValueError(f"read_timeout must be > 0 s, got {read_timeout}")
        self.signal = signal
        self.sleep = float(sleep)
        self.pre_plan = pre_plan
        self.post_plan = post_plan
        self.tripped_message = tripped_message
        self.poll_period = poll_period
        #: seconds a read of the signal may take before it counts as unreadable (tripped)
        self.read_timeout = float(read_timeout)
        self.tripped = False
        self.justification = ""
        self._released = asyncio.Event()
        self._released.set()
        self._task: asyncio.Task[None] | None = None
        self._on_trip: Callable[[Suspender], None] | None = None
        self._monitoring = False

    # -- the condition ---------------------------------------------------------------------
    def should_suspend(self, value: Any) -> bool:
        """Whether ``value`` should suspend the plan."""
        raise NotImplementedError

    def should_resume(self, value: Any) -> bool:
        """Whether ``value`` lets a suspended plan resume (after the settle time)."""
        return not self.should_suspend(value)

    def describe_trip(self, value: Any) -> str:
        """Why it tripped, for logs and errors."""
        return f"{name_of(self.signal)} = {value!r}"

    # -- watching ----------------------------------------------------------------------------
    def start(self, on_trip: Callable[[Suspender], None]) -> None:
        """Start watching (on the running loop); call ``on_trip(self)`` whenever it trips."""
        self._on_trip = on_trip
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch(), name=f"suspender {self!r}")
            self._monitor()

    def _monitor(self) -> None:
        """Also trip on the signal's monitor updates, at once (as Bluesky's suspenders, which
        subscribe): a beam dump then interrupts the step it happens in, not one polling period
        later when that step's reading, counted without beam, may have been saved already."""
        subscribe = getattr(self.signal, "subscribe", None)
        if subscribe is None or self._monitoring:
            return
        try:
            subscribe(self._on_update)
        except Exception as exc:  # e.g. not connected yet: polling alone will do
            log.info("suspender %r polls only (cannot monitor its signal: %s)", self, exc)
        else:
            self._monitoring = True

    def _on_update(self, readings: dict[str, Any]) -> None:
        if self.tripped or self._task is None:
            return
        try:
            value = self._pick(readings)
            tripping = self.should_suspend(value)
        except Exception:
            return  # the polling loop judges what a monitor update cannot tell
        if tripping:
            self._trip(value)

    def _trip(self, value: Any) -> None:
        self.tripped = True
        self.justification = self.tripped_message or self.describe_trip(value)
        self._released.clear()
        log.warning("suspending: %s", self.justification)
        if self._on_trip is not None:
            self._on_trip(self)

    def stop(self) -> None:
        """Stop watching and release anyone waiting."""
        if self._monitoring:
            self._monitoring = False
            try:
                self.signal.clear_sub(self._on_update)
            except Exception as exc:
                log.info("suspender %r: could not stop monitoring: %s", self, exc)
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.tripped = False
        self._released.set()

    async def wait_released(self) -> None:
        """Return once the condition has cleared and settled."""
        await self._released.wait()

    async def _value(self) -> Any:
        # a read that never returns must not freeze the watch: past the deadline it counts as unreadable
        return self._pick(await asyncio.wait_for(maybe_await(self.signal.read()), self.read_timeout))

    def _pick(self, reading: dict[str, Any]) -> Any:
        """The signal's value in a ``read()``-shaped mapping."""
        name = getattr(self.signal, "name", None)
        entry = reading[name] if name in reading else next(iter(reading.values()))
        return entry["value"]

    async def _watch(self) -> None:
        ok_since: float | None = None
        while True:
            try:
                ok_since = await self._check(ok_since)
            except Exception:  # the watch must outlive any error, or a tripped plan waits forever
                log.exception("suspender %r: error while watching; watching on", self)
            await asyncio.sleep(self.poll_period)

    async def _check(self, ok_since: float | None) -> float | None:
        """One look at the signal: trip, count the settle time, or release; the new ``ok_since``."""
        loop = asyncio.get_running_loop()
        try:
            value = await self._value()
        except Exception as exc:  # an unreadable signal is a tripped suspender
            if not self.tripped:  # once an episode, not every poll of an outage
                log.warning("suspender %r cannot read its signal: %r", self, exc)
            value = None
            tripping = True
        else:
            tripping = self.should_suspend(value)
        if tripping:
            ok_since = None
            if not self.tripped:
                self._trip(value)
        elif self.tripped and self.should_resume(value):
            now = loop.time()
            ok_since = now if ok_since is None else ok_since
            if now - ok_since >= self.sleep:
                self.tripped = False
                ok_since = None
                self._released.set()
                log.warning("resuming: %s is back (%r)", name_of(self.signal), value)
        else:
            ok_since = None
        return ok_since

    def __repr__(self) -> str:
        return f"{type(self).__name__}({name_of(self.signal)})"


class SuspendBoolHigh(Suspender):
    """Suspend while the signal is true (e.g. a beam-dump flag)."""

    def should_suspend(self, value: Any) -> bool:
        return bool(value)


class SuspendBoolLow(Suspender):
    """Suspend while the signal is false (e.g. a shutter-open flag)."""

    def should_suspend(self, value: Any) -> bool:
        return not bool(value)


class _Threshold(Suspender):
    def __init__(self, signal: Any, suspend_thresh: float, *, resume_thresh: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(signal, **kwargs)
        self.suspend_thresh = float(suspend_thresh)
        self.resume_thresh = float(suspend_thresh if resume_thresh is None else resume_thresh)


class SuspendFloor(_Threshold):
    """Suspend when the signal falls below ``suspend_thresh`` (beam current low); resume above
    ``resume_thresh`` (defaults to ``suspend_thresh``)."""

    def __init__(self, signal: Any, suspend_thresh: float, *, resume_thresh: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(signal, suspend_thresh, resume_thresh=resume_thresh, **kwargs)
        if self.resume_thresh < self.suspend_thresh:
            raise ValueError(f"resume_thresh {self.resume_thresh} must be >= suspend_thresh {self.suspend_thresh}")

    def should_suspend(self, value: Any) -> bool:
        return value is None or float(value) < self.suspend_thresh

    def should_resume(self, value: Any) -> bool:
        return value is not None and float(value) >= self.resume_thresh

    def describe_trip(self, value: Any) -> str:
        return f"{name_of(self.signal)} = {value!r} < {self.suspend_thresh}"


class SuspendCeil(_Threshold):
    """Suspend when the signal rises above ``suspend_thresh``; resume below ``resume_thresh``."""

    def __init__(self, signal: Any, suspend_thresh: float, *, resume_thresh: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(signal, suspend_thresh, resume_thresh=resume_thresh, **kwargs)
        if self.resume_thresh > self.suspend_thresh:
            raise ValueError(f"resume_thresh {self.resume_thresh} must be <= suspend_thresh {self.suspend_thresh}")

    def should_suspend(self, value: Any) -> bool:
        return value is None or float(value) > self.suspend_thresh

    def should_resume(self, value: Any) -> bool:
        return value is not None and float(value) <= self.resume_thresh

    def describe_trip(self, value: Any) -> str:
        return f"{name_of(self.signal)} = {value!r} > {self.suspend_thresh}"



class SuspendDisconnected(Suspender):
    """Suspend while any signal of ``devices`` has lost its connection (an IOC rebooting); resume
    once every one is connected again and has stayed so for ``sleep`` seconds.

    ``devices`` are devices (every signal below them is watched) or signals, anything with a
    ``connected`` property. While it is tripped, the engine turns a connection error from a
    device into a suspension (rewinding to the checkpoint) instead of failing the plan.
    """

    def __init__(self, *devices: Any, sleep: float = 0.0, pre_plan: PlanFactory = None,
                 post_plan: PlanFactory = None, tripped_message: str = "", poll_period: float = 0.05,
                 read_timeout: float = 5.0) -> None:
        if not devices:
            raise ValueError("SuspendDisconnected needs at least one device or signal to watch")
        for dev in devices:
            if not hasattr(dev, "connected") and not hasattr(dev, "signals"):
                raise TypeError(f"SuspendDisconnected: {dev!r} has neither 'connected' nor 'signals()'")
        super().__init__(devices, sleep=sleep, pre_plan=pre_plan, post_plan=post_plan,
                         tripped_message=tripped_message, poll_period=poll_period, read_timeout=read_timeout)

    def _watched(self) -> list[Any]:
        out: list[Any] = []
        for dev in self.signal:
            out.extend(dev.signals() if hasattr(dev, "signals") else [dev])
        return out

    async def _value(self) -> list[str]:
        """The sources (PVs) that are disconnected right now."""
        return [str(getattr(s, "source", None) or name_of(s)) for s in self._watched() if not s.connected]

    def should_suspend(self, value: Any) -> bool:
        return value is None or bool(value)

    def describe_trip(self, value: Any) -> str:
        if not value:
            return f"cannot tell whether {self._names()} are connected"
        shown = ", ".join(value[:3]) + (f" and {len(value) - 3} more" if len(value) > 3 else "")
        return f"lost connection to {shown}"

    def _names(self) -> str:
        return ", ".join(name_of(d) for d in self.signal)

    def __repr__(self) -> str:
        return f"SuspendDisconnected({self._names()})"


def plan_of(factory: PlanFactory) -> Iterable[Any] | None:
    """A pre/post plan from a generator function, a plan, or None."""
    if factory is None:
        return None
    if callable(factory):
        return factory()
    return factory
