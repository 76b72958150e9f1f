"""The run engine with soft in-memory devices: messages, documents, failures."""

from __future__ import annotations

from typing import Any

import pytest

from acq import plans
from acq.devices import Device, Signal, SoftBackend
from acq.engine import Msg, RunEngine, Status, UnknownCommand
from tests.conftest import validate_documents


class SoftMotor(Device):
    _named_as_parent = ("readback",)

    def __init__(self, name: str) -> None:
        self.readback = Signal(SoftBackend(0.0), kind="hinted")
        super().__init__(name)
        self.set_name(name)

    def set(self, value: float) -> Status:
        return self.readback.set(value)


class SoftDet(Device):
    _named_as_parent = ("value",)

    def __init__(self, name: str, motor: SoftMotor) -> None:
        self.value = Signal(SoftBackend(0.0), kind="hinted")
        super().__init__(name)
        self.set_name(name)
        self.motor = motor

    def trigger(self) -> Status:
        async def measure() -> None:
            x = await self.motor.readback.get_value()
            await self.value.put(10.0 - (x - 1.0) ** 2)

        return Status(measure())

    def children(self) -> Any:
        return ((a, c) for a, c in super().children() if a != "motor")


def _collect(RE: RunEngine) -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    RE.subscribe(lambda n, d: docs.append((n, d)))
    return docs


def test_scan_with_soft_devices() -> None:
    m = SoftMotor("m")
    d = SoftDet("d", m)
    RE = RunEngine(md={"operator": "test"})
    docs = _collect(RE)
    uids = RE(plans.scan([d], m, 0.0, 2.0, 5), sample="Si")
    validate_documents(docs)
    start = docs[0][1]
    assert uids == (start["uid"],)
    assert start["operator"] == "test" and start["sample"] == "Si" and start["plan_name"] == "scan"
    events = [doc for n, doc in docs if n == "event"]
    assert [e["data"]["m"] for e in events] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert [e["data"]["d"] for e in events] == [9.0, 9.75, 10.0, 9.75, 9.0]


def test_scan_ids_persist_across_engines(tmp_path: Any) -> None:
    m = SoftMotor("m")
    RE1 = RunEngine(state_dir=tmp_path)
    first = _collect(RE1)
    RE1(plans.count([m]))
    RE2 = RunEngine(state_dir=tmp_path)
    second = _collect(RE2)
    RE2(plans.count([m]))
    assert second[0][1]["scan_id"] == first[0][1]["scan_id"] + 1


def test_a_failing_plan_closes_the_run_with_fail() -> None:
    m = SoftMotor("m")

    def broken() -> Any:
        yield Msg("open_run")
        yield from plans.trigger_and_read([m])
        raise RuntimeError("sample fell off")

    RE = RunEngine()
    docs = _collect(RE)
    with pytest.raises(RuntimeError, match="sample fell off"):
        RE(broken())
    stop = docs[-1][1]
    assert docs[-1][0] == "stop" and stop["exit_status"] == "fail" and "sample fell off" in stop["reason"]
    validate_documents(docs)
    assert RE.state == "idle"


def test_unknown_command_is_thrown_into_the_plan() -> None:
    RE = RunEngine()
    with pytest.raises(UnknownCommand, match="'frobnicate'"):
        RE(iter([Msg("frobnicate")]))
    seen: list[Msg] = []
    RE.register_command("frobnicate", lambda msg: seen.append(msg) or 42)

    def plan() -> Any:
        result = yield Msg("frobnicate", None, 1, x=2)
        assert result == 42

    RE(plan())
    assert seen[0].args == (1,) and seen[0].kwargs == {"x": 2}


def test_illegal_sequences_are_named() -> None:
    RE = RunEngine()
    with pytest.raises(RuntimeError, match="save without create"):
        RE(iter([Msg("open_run"), Msg("save")]))


class _Bisect:
    """A tiny suggester: walks towards the larger reading, halving the step."""

    def __init__(self) -> None:
        self.x = 0.0
        self.step = 1.0
        self.seen: list[tuple[float, float]] = []

    def ask(self, n: int) -> Any:
        if len(self.seen) >= 2:
            (x0, y0), (x1, y1) = self.seen[-2:]
            self.x = x1 + (self.step if (y1 >= y0) == (x1 >= x0) else -self.step)
            self.step /= 2
        elif self.seen:
            self.x = self.seen[-1][0] + self.step
        return [[self.x]]

    def tell(self, x: Any, y: Any) -> None:
        self.seen.append((float(x[0]), float(y)))


def test_ask_tell_scan_steers_every_event() -> None:
    m = SoftMotor("m")
    d = SoftDet("d", m)
    RE = RunEngine()
    docs = _collect(RE)
    agent = _Bisect()
    RE(plans.ask_tell_scan([d], [m], agent, reduce=["d"], max_points=8))
    validate_documents(docs)
    xs = [doc["data"]["m"] for n, doc in docs if n == "event"]
    assert xs == [x for x, _ in agent.seen] and len(xs) == 8
    assert abs(xs[-1] - 1.0) < 0.2, "it homed in on the peak at 1.0"


class _Dwelling(_Bisect):
    """A suggester that asks for a longer count time at every other point."""

    def dwell(self, x: Any) -> float:
        return 3.0 if len(self.seen) % 2 else 1.0


def test_ask_tell_scan_sets_the_count_time_the_suggester_asks_for() -> None:
    m = SoftMotor("m")
    d = SoftDet("d", m)
    preset = Signal(SoftBackend(0.0), kind="hinted")
    preset.set_name("preset")
    RE = RunEngine()
    docs = _collect(RE)
    RE(plans.ask_tell_scan([d, preset], [m], _Dwelling(), reduce=["d"], max_points=5, count_time=(preset, 0.1)))
    counted = [doc["data"]["preset"] for n, doc in docs if n == "event"]
    assert counted == pytest.approx([0.1, 0.3, 0.1, 0.3, 0.1])
    RE(plans.ask_tell_scan([d, preset], [m], _Bisect(), reduce=["d"], max_points=3, count_time=(preset, 0.2)))
    assert [doc["data"]["preset"] for n, doc in docs if n == "event"][5:] == pytest.approx([0.2] * 3)
    with pytest.raises(ValueError, match="base count time must be > 0"):
        RE(plans.ask_tell_scan([d], [m], _Bisect(), reduce=["d"], max_points=3, count_time=(preset, 0.0)))
