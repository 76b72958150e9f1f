"""A device whose IOC goes away mid-plan: with a suspender that sees the outage the engine suspends,
rewinds to the checkpoint and resumes when the IOC is back; without one the plan fails as before.
Also: an interruption whose cancellation a device swallowed is still delivered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from acq.devices import Device, DisconnectedError, Signal, SoftBackend
from acq.engine import Msg, RunEngine, RunEngineInterrupted, Status, SuspendDisconnected, SuspendFloor
from acq.loop import call_in_loop
from tests.engine.soft import collect, events, stop_of, validate
from tests.engine.test_interruptions import step_plan


class SoftIOC:
    """An IOC that can go away for ``outage`` seconds (``crash``) and come back by itself."""

    def __init__(self) -> None:
        self.up = True
        self.crashes = 0

    def crash(self, outage: float) -> None:
        """Go away now; come back after ``outage`` s (call from the loop)."""
        self.up = False
        self.crashes += 1
        asyncio.get_running_loop().call_later(outage, setattr, self, "up", True)


class IOCBackend(SoftBackend):
    """A soft value served by ``ioc``: unreachable (``DisconnectedError``) while it is down."""

    def __init__(self, ioc: SoftIOC, initial: Any = 0.0) -> None:
        super().__init__(initial)
        self.ioc = ioc

    @property  # type: ignore[override]  # a soft backend's plain attribute becomes the IOC's state
    def connected(self) -> bool:
        return self.ioc.up

    def _check(self) -> None:
        if not self.ioc.up:
            raise DisconnectedError(f"PV {self.source} is disconnected: its IOC does not answer")

    async def get(self) -> Any:
        self._check()
        return await super().get()

    async def put(self, value: Any, wait: bool, timeout: float | None) -> None:
        self._check()
        await super().put(value, wait, timeout)


class IOCCounter(Device):
    """A counter on ``ioc``; its ``crash_on``-th trigger crashes the IOC mid-count (the count
    fails with ``DisconnectedError`` at once, before any suspender can have looked)."""

    _named_as_parent = ("value",)

    def __init__(self, name: str, ioc: SoftIOC, *, crash_on: int | None = None, outage: float = 0.5) -> None:
        self.value = Signal(IOCBackend(ioc, 0), kind="hinted")
        super().__init__(name)
        self.set_name(name)
        self.ioc, self.crash_on, self.outage = ioc, crash_on, outage
        self.triggers = 0

    def trigger(self) -> Status:
        self.triggers += 1
        n = self.triggers

        async def count() -> None:
            await asyncio.sleep(0.01)
            if n == self.crash_on:
                self.ioc.crash(self.outage)
            await self.value.put(n)  # raises DisconnectedError while the IOC is down

        return Status(count(), name=f"trigger {self.name}")


class IOCMotor(Device):
    """A motor on ``ioc`` whose ``stop()`` fails while the IOC is down (as a CA put would)."""

    _named_as_parent = ("readback",)

    def __init__(self, name: str, ioc: SoftIOC) -> None:
        self.readback = Signal(IOCBackend(ioc, 0.0), kind="hinted")
        super().__init__(name)
        self.set_name(name)
        self.moves: list[float] = []

    def set(self, value: float) -> Status:
        self.moves.append(value)
        return Status(self.readback.put(value), name=f"set {self.name}")

    async def stop(self, *, success: bool = False) -> None:
        await self.readback.put(await self.readback.get_value())


def scan_plan(det: IOCCounter, motor: IOCMotor, n: int) -> Any:
    """``n`` checkpointed points: move, count, read both."""
    yield Msg("open_run", plan_name="scan")
    for i in range(n):
        yield Msg("checkpoint")
        yield Msg("set", motor, float(i), group="m")
        yield Msg("wait", None, group="m")
        yield Msg("trigger", det, group="t")
        yield Msg("wait", None, group="t")
        yield Msg("create", None, name="primary")
        yield Msg("read", motor)
        yield Msg("read", det)
        yield Msg("save")
    yield Msg("close_run")


def _episodes(sus: Any) -> list[str]:
    """Record each suspension and resumption through the suspender's pre/post plans."""
    log: list[str] = []

    def note(what: str) -> Iterator[Msg]:
        log.append(what)
        yield from ()

    sus.pre_plan = lambda: note("suspended")
    sus.post_plan = lambda: note("resumed")
    return log


def test_an_ioc_lost_mid_scan_suspends_rewinds_and_resumes_when_it_is_back() -> None:
    ioc = SoftIOC()
    det, motor = IOCCounter("det", ioc, crash_on=4, outage=0.6), IOCMotor("motor", ioc)
    # the suspender looks only every 0.3 s: the DisconnectedError reaches the engine first
    sus = SuspendDisconnected(det, motor, sleep=0.2, poll_period=0.3)
    episodes = _episodes(sus)
    RE = RunEngine()
    docs = collect(RE)
    RE.install_suspender(sus)
    t0 = time.monotonic()
    try:
        RE(scan_plan(det, motor, 6))
    finally:
        RE.clear_suspenders()
    validate(docs)
    assert stop_of(docs)["exit_status"] == "success", stop_of(docs)["reason"]
    assert time.monotonic() - t0 >= 0.6 + 0.2, "it waited for the IOC and the settle time"
    rows = [(e["seq_num"], e["data"]["motor"]) for e in events(docs)]
    assert rows == [(i + 1, float(i)) for i in range(6)], "each point once, in order, none lost"
    assert ioc.crashes == 1 and det.triggers == 7, "the crashed point was counted again"
    assert motor.moves == [0.0, 1.0, 2.0, 3.0, 3.0, 4.0, 5.0], "rewound to the checkpoint: the move replayed"
    assert episodes == ["suspended", "resumed"]
    assert "lost connection to" in sus.justification


def test_a_suspender_whose_own_signal_is_unreachable_covers_the_outage() -> None:
    ioc = SoftIOC()
    beam = Signal(IOCBackend(ioc, 500.0), name="beam_current")  # served by the same IOC
    det, motor = IOCCounter("det", ioc, crash_on=2, outage=0.4), IOCMotor("motor", ioc)
    sus = SuspendFloor(beam, 400.0, sleep=0.1, poll_period=0.3)
    episodes = _episodes(sus)
    RE = RunEngine()
    docs = collect(RE)
    RE.install_suspender(sus)
    try:
        RE(scan_plan(det, motor, 4))
    finally:
        RE.clear_suspenders()
    assert stop_of(docs)["exit_status"] == "success", stop_of(docs)["reason"]
    assert [e["data"]["motor"] for e in events(docs)] == [0.0, 1.0, 2.0, 3.0]
    assert episodes == ["suspended", "resumed"]


def test_without_a_tripped_suspender_a_lost_connection_fails_the_plan() -> None:
    ioc = SoftIOC()
    det, motor = IOCCounter("det", ioc, crash_on=2, outage=30.0), IOCMotor("motor", ioc)
    RE = RunEngine()
    RE.disconnect_grace = 30.0
    docs = collect(RE)
    t0 = time.monotonic()
    with pytest.raises(DisconnectedError, match="disconnected"):
        RE(scan_plan(det, motor, 4))
    assert time.monotonic() - t0 < 10.0, "no suspenders: no waiting for one to trip"
    assert stop_of(docs)["exit_status"] == "fail"

    # a suspender that stays clear (its beam is fine, on another IOC) does not excuse the outage
    ioc.up = True
    other = SoftIOC()
    beam = Signal(IOCBackend(other, 500.0), name="beam_current")
    det = IOCCounter("det", ioc, crash_on=2, outage=30.0)
    RE = RunEngine()
    RE.disconnect_grace = 0.3
    docs = collect(RE)
    RE.install_suspender(SuspendFloor(beam, 400.0, poll_period=0.02))
    t0 = time.monotonic()
    try:
        with pytest.raises(DisconnectedError, match="disconnected"):
            RE(scan_plan(det, motor, 4))
    finally:
        RE.clear_suspenders()
    assert time.monotonic() - t0 >= 0.3, "it gave the suspenders the grace period"
    assert stop_of(docs)["exit_status"] == "fail" and "DisconnectedError" in stop_of(docs)["reason"]


class Swallower(Device):
    """A detector whose count swallows a cancellation and finishes normally, as Python 3.11's
    ``asyncio.wait_for`` does when the result arrives in the same loop pass as the cancellation."""

    _named_as_parent = ("value",)

    def __init__(self, name: str, count_time: float) -> None:
        self.value = Signal(SoftBackend(0), kind="hinted")
        super().__init__(name)
        self.set_name(name)
        self.count_time = count_time
        self.triggers = 0
        self.swallowed = 0

    def trigger(self) -> Status:
        self.triggers += 1
        n = self.triggers

        async def count() -> None:
            try:
                await asyncio.sleep(self.count_time)
            except asyncio.CancelledError:
                self.swallowed += 1
            await self.value.put(n)

        return Status(count(), name=f"trigger {self.name}")


def test_an_interruption_whose_cancellation_a_device_swallowed_is_still_delivered() -> None:
    det = Swallower("det", count_time=0.2)
    RE = RunEngine()
    docs = collect(RE)
    RE.subscribe(lambda n, d: asyncio.get_running_loop().call_later(0.05, RE.request_pause)
                 if d["seq_num"] == 1 else None, "event")  # lands mid-count
    with pytest.raises(RunEngineInterrupted):
        RE(step_plan(det, 4))  # type: ignore[arg-type]
    assert det.swallowed == 1 and RE.state == "paused", "the pause was not lost with the cancellation"
    RE.resume()
    assert stop_of(docs)["exit_status"] == "success"
    assert [e["data"]["det"] for e in events(docs)] == [1, 3, 4, 5], "the swallowed step was rewound and redone"

    # and a suspender keeps working after such a swallow (the engine was not left half-interrupted)
    beam = Signal(SoftBackend(500.0), name="beam_current")
    det = Swallower("det", count_time=0.15)
    RE = RunEngine()
    docs = collect(RE)
    sus = SuspendFloor(beam, 400.0, sleep=0.1, poll_period=0.02)
    episodes = _episodes(sus)
    RE.install_suspender(sus)
    drops = {1: 0.0, 3: 0.0}

    def dump_after(name: str, doc: dict[str, Any]) -> None:
        if doc["seq_num"] in drops:
            asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(beam.put(0.0)))
            asyncio.get_running_loop().call_later(0.3, lambda: asyncio.ensure_future(beam.put(500.0)))

    RE.subscribe(dump_after, "event")
    try:
        RE(step_plan(det, 5))  # type: ignore[arg-type]
    finally:
        RE.clear_suspenders()
    assert stop_of(docs)["exit_status"] == "success"
    assert det.swallowed == 2, "both beam drops landed mid-count"
    assert episodes == ["suspended", "resumed"] * 2, "the second drop suspended too"
    assert len(events(docs)) == 5


def test_suspend_disconnected_checks_its_arguments_and_names_what_is_lost() -> None:
    with pytest.raises(ValueError, match="at least one"):
        SuspendDisconnected()
    with pytest.raises(TypeError, match="connected"):
        SuspendDisconnected(42)
    ioc = SoftIOC()
    det = IOCCounter("det", ioc)
    sus = SuspendDisconnected(det)
    assert repr(sus) == "SuspendDisconnected(det)"
    assert call_in_loop(sus._value()) == []
    ioc.up = False
    lost = call_in_loop(sus._value())
    assert len(lost) == 1 and sus.should_suspend(lost)
    assert sus.describe_trip(lost).startswith("lost connection to soft://")
