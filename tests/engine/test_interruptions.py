"""Pause/resume with rewind, deferred pause, abort/stop/halt, the state machine, suspenders."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from acq import plans
from acq.devices import Signal, SoftBackend
from acq.engine import Msg, RunEngine, RunEngineInterrupted, SuspendFloor, TransitionError
from acq.loop import call_in_loop
from tests.engine.soft import Counter, SoftMotor, collect, events, stop_of, validate


def later(delay: float, fn: Any, *args: Any) -> threading.Timer:
    t = threading.Timer(delay, fn, args)
    t.start()
    return t


def step_plan(det: Counter, n: int, *, finalize: list[str] | None = None) -> Any:
    """``n`` checkpointed trigger-and-read steps of ``det`` in one run."""
    yield Msg("open_run", plan_name="steps")
    try:
        for _ in range(n):
            yield Msg("checkpoint")
            yield Msg("trigger", det, group="t")
            yield Msg("wait", None, group="t")
            yield Msg("create", None, name="primary")
            yield Msg("read", det)
            yield Msg("save")
        yield Msg("close_run")
    finally:
        if finalize is not None:
            yield Msg("null")
            finalize.append("cleanup ran")


def pause_after_event(RE: RunEngine, seq_num: int, *, defer: bool = False) -> None:
    """Request a pause from a subscriber as the event ``seq_num`` goes out (no timing involved)."""
    RE.subscribe(lambda n, d: RE.request_pause(defer) if d["seq_num"] == seq_num else None, "event")


def test_immediate_pause_rewinds_to_the_checkpoint_without_duplicating_readings() -> None:
    det = Counter("det", count_time=0.1)
    RE = RunEngine()
    docs = collect(RE)
    pause_after_event(RE, 2)  # lands in the wait for the third trigger
    with pytest.raises(RunEngineInterrupted, match="resume"):
        RE(step_plan(det, 5))
    assert RE.state == "paused"
    assert (det.triggers, len(events(docs))) == (3, 2)
    with pytest.raises(TransitionError, match="paused"):
        RE(step_plan(det, 1))
    RE.resume()
    assert RE.state == "idle"
    validate(docs)
    assert [e["seq_num"] for e in events(docs)] == [1, 2, 3, 4, 5]
    assert [e["data"]["det"] for e in events(docs)] == [1, 2, 4, 5, 6], "trigger 3 was interrupted and replayed"
    assert stop_of(docs)["exit_status"] == "success"


def test_deferred_pause_waits_for_the_next_checkpoint() -> None:
    det = Counter("det", count_time=0.05)
    RE = RunEngine()
    docs = collect(RE)
    pause_after_event(RE, 2, defer=True)
    with pytest.raises(RunEngineInterrupted):
        RE(step_plan(det, 4))
    assert det.triggers == len(events(docs)) == 2, "it paused at the checkpoint, nothing in flight"
    RE.resume()
    assert det.triggers == 4 and [e["data"]["det"] for e in events(docs)] == [1, 2, 3, 4]


def test_pause_message_and_non_rewindable_plans_resume_where_they_were() -> None:
    det = Counter("det")
    RE = RunEngine()
    docs = collect(RE)
    plan = [Msg("open_run"), Msg("rewindable", None, False), Msg("checkpoint"),
            Msg("trigger", det, group="t"), Msg("wait", None, group="t"), Msg("pause"),
            Msg("create", None, name="primary"), Msg("read", det), Msg("save"), Msg("close_run")]
    with pytest.raises(RunEngineInterrupted):
        RE(plan)
    RE.resume()
    assert det.triggers == 1 and [e["data"]["det"] for e in events(docs)] == [1]


@pytest.mark.parametrize(("verb", "exit_status"), [("abort", "abort"), ("stop", "success"), ("halt", "abort")])
def test_abort_stop_halt_from_pause(verb: str, exit_status: str) -> None:
    det = Counter("det", count_time=0.1)
    m = SoftMotor("m")
    RE = RunEngine()
    docs = collect(RE)
    cleanup: list[str] = []

    def plan() -> Any:
        yield Msg("stage", m)
        yield from step_plan(det, 20, finalize=cleanup)

    pause_after_event(RE, 2)
    with pytest.raises(RunEngineInterrupted):
        RE(plan())
    uids = getattr(RE, verb)()
    assert RE.state == "idle" and uids == (docs[0][1]["uid"],)
    validate(docs)
    stop = stop_of(docs)
    assert stop["exit_status"] == exit_status and stop["reason"]
    assert m.unstaged == 1, "staged devices are unstaged however the plan ends"
    assert cleanup == ([] if verb == "halt" else ["cleanup ran"]), "halt skips the plan's cleanup messages"
    assert len(events(docs)) < 20


def test_abort_while_running_from_another_thread() -> None:
    det = Counter("det", count_time=0.1)
    RE = RunEngine()
    docs = collect(RE)
    later(0.3, RE.abort, "operator said so")
    RE(step_plan(det, 50))
    assert stop_of(docs)["exit_status"] == "abort" and stop_of(docs)["reason"] == "operator said so"


def test_illegal_transitions_are_named() -> None:
    RE = RunEngine()
    for call, text in [(RE.resume, "idle"), (RE.abort, "idle"), (RE.stop, "idle"), (RE.halt, "idle"),
                       (RE.request_pause, "idle")]:
        with pytest.raises(TransitionError, match=text):
            call()
    with pytest.raises(TypeError, match="call it"):
        RE(step_plan)  # type: ignore[arg-type]


def test_a_suspender_on_beam_current_suspends_and_resumes_with_rewind() -> None:
    beam = Signal(SoftBackend(100.0), name="beam_current")
    shutter = Signal(SoftBackend(1), name="shutter")
    det = Counter("det", count_time=0.1)
    trigger_times: list[float] = []
    original = det.trigger

    def timed_trigger() -> Any:
        trigger_times.append(time.monotonic())
        return original()

    det.trigger = timed_trigger  # type: ignore[method-assign]
    susp = SuspendFloor(beam, 50.0, resume_thresh=80.0, sleep=0.3, poll_period=0.02,
                        pre_plan=lambda: iter([Msg("set", shutter, 0, group="s"), Msg("wait", None, group="s")]),
                        post_plan=lambda: iter([Msg("set", shutter, 1, group="s"), Msg("wait", None, group="s")]))
    RE = RunEngine()
    docs = collect(RE)
    RE.install_suspender(susp)
    shutter_log: list[Any] = []
    times: dict[str, float] = {}

    def drop() -> None:
        times["drop"] = time.monotonic()
        call_in_loop(beam.put(10.0))

    def partial() -> None:
        call_in_loop(beam.put(70.0))  # above the floor, below the resume threshold: still suspended
        shutter_log.append(call_in_loop(shutter.get_value()))

    def recover() -> None:
        times["recover"] = time.monotonic()
        call_in_loop(beam.put(100.0))

    later(0.35, drop)
    later(0.6, partial)
    later(0.8, recover)
    t0 = time.monotonic()
    RE(step_plan(det, 8))
    RE.remove_suspender(susp)
    assert time.monotonic() - t0 >= 0.8 + 0.3
    validate(docs)
    values = [e["data"]["det"] for e in events(docs)]
    assert len(values) == 8 and len(set(values)) == 8 and stop_of(docs)["exit_status"] == "success"
    assert det.triggers == 9, "the step interrupted by the beam drop was replayed once"
    assert shutter_log == [0], "the pre-plan closed the shutter while the beam was down"
    assert call_in_loop(shutter.get_value()) == 1, "the post-plan opened it again"
    quiet = [t for t in trigger_times if times["drop"] + 0.25 < t < times["recover"] + 0.3]
    assert quiet == [], "no triggers while suspended and settling"


def test_a_tripped_suspender_holds_a_plan_from_its_start() -> None:
    beam = Signal(SoftBackend(0.0), name="beam_current")
    det = Counter("det")
    RE = RunEngine()
    susp = SuspendFloor(beam, 50.0, poll_period=0.02)
    RE.install_suspender(susp)
    deadline = time.monotonic() + 10
    while not susp.tripped and time.monotonic() < deadline:
        time.sleep(0.01)
    later(0.4, lambda: call_in_loop(beam.put(100.0)))
    t0 = time.monotonic()
    RE(plans.count([det], num=2))
    assert time.monotonic() - t0 >= 0.35 and det.triggers == 2
    RE.clear_suspenders()


def test_pausing_while_suspended_waits_for_the_user_then_resumes() -> None:
    beam = Signal(SoftBackend(100.0), name="beam_current")
    det = Counter("det", count_time=0.05)
    RE = RunEngine()
    docs = collect(RE)
    susp = SuspendFloor(beam, 50.0, poll_period=0.02)
    RE.install_suspender(susp)
    RE.subscribe(lambda n, d: asyncio.ensure_future(beam.put(0.0)) if d["seq_num"] == 2 else None, "event")

    def pause_once_suspended() -> None:
        deadline = time.monotonic() + 10
        while not susp.tripped and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        RE.request_pause()

    later(0.0, pause_once_suspended)
    with pytest.raises(RunEngineInterrupted):
        RE(step_plan(det, 6))
    assert len(events(docs)) == 2
    assert RE.state == "paused"
    call_in_loop(beam.put(100.0))
    time.sleep(0.1)
    assert RE.state == "paused", "the beam's return does not undo the user's pause"
    RE.resume()
    RE.clear_suspenders()
    values = [e["data"]["det"] for e in events(docs)]
    assert len(values) == 6 == len(set(values)) and stop_of(docs)["exit_status"] == "success"


def test_a_paused_and_resumed_scan_is_stored_once_per_point(tmp_path: Any) -> None:
    from store import Catalog, Writer

    m, det = SoftMotor("m"), Counter("det", count_time=0.05)
    RE = RunEngine()
    RE.subscribe(Writer(tmp_path))
    pause_after_event(RE, 3)
    with pytest.raises(RunEngineInterrupted):
        RE(plans.scan([det], m, 0.0, 4.0, 5))
    RE.resume()
    ds = Catalog(tmp_path)[-1].stream("primary")
    assert ds["m"].values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    values = ds["det"].values.tolist()
    assert len(values) == 5 and values == sorted(set(values)), "no reading stored twice"
    assert values[-1] == det.triggers, "and the last one is the last trigger"


class _FlakySignal:
    """A beam-current signal whose reads first hang, then raise an odd error, then work."""

    name = "beam_current"

    def __init__(self) -> None:
        self.value: Any = 0.0
        self.reads = 0

    async def read(self) -> dict[str, Any]:
        self.reads += 1
        if self.reads == 2:
            await asyncio.sleep(3600)  # a read that never returns
        if self.reads == 3:
            return {}  # malformed: no reading at all
        return {self.name: {"value": self.value, "timestamp": time.time()}}


def test_a_suspender_outlives_hung_and_malformed_reads_and_still_releases() -> None:
    sig = _FlakySignal()
    det = Counter("det")
    RE = RunEngine()
    susp = SuspendFloor(sig, 50.0, poll_period=0.02, read_timeout=0.2)
    RE.install_suspender(susp)
    deadline = time.monotonic() + 10
    while sig.reads < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert susp.tripped and sig.reads >= 4, "the watch went on past the hung and the malformed read"
    sig.value = 100.0
    t0 = time.monotonic()
    RE(plans.count([det], num=1))
    assert det.triggers == 1 and time.monotonic() - t0 < 5
    RE.clear_suspenders()
