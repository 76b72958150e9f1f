"""Every command the engine understands, one behaviour each, with soft devices."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from acq.engine import IllegalMessageSequence, Msg, RunEngine, SuspendFloor, WaitTimeout
from acq.engine.commands import COMMANDS
from tests.engine.soft import AreaDet, Counter, Flyer, PlainDet, SoftMotor, collect, events, stop_of, validate

ISSUE_COMMANDS = {"open_run", "close_run", "create", "save", "drop", "read", "set", "trigger", "wait", "sleep",
                  "checkpoint", "clear_checkpoint", "pause", "rewindable", "kickoff", "complete", "collect",
                  "stage", "unstage", "configure", "subscribe", "unsubscribe", "install_suspender",
                  "remove_suspender", "declare_stream", "monitor", "unmonitor", "null", "input", "locate",
                  "wait_for"}


def test_every_command_of_the_issue_is_built_in() -> None:
    assert ISSUE_COMMANDS <= set(RunEngine().commands) == set(COMMANDS)


def test_set_and_wait_run_a_group_concurrently() -> None:
    a, b = SoftMotor("a", move_time=0.3), SoftMotor("b", move_time=0.3)
    RE = RunEngine()
    RE([Msg("set", a, 1.0, group="g"), Msg("set", b, 2.0, group="g"), Msg("wait", None, group="g")])
    [(a_start, a_end)], [(b_start, b_end)] = a.move_times, b.move_times
    assert max(a_start, b_start) < min(a_end, b_end), "the two moves of one group ran one after the other"
    RE2 = RunEngine()

    def plan() -> Any:
        pos = yield Msg("locate", a, b, squeeze=True)
        assert [p["readback"] for p in pos] == [1.0, 2.0]
        one = yield Msg("locate", a)
        assert one == {"setpoint": 1.0, "readback": 1.0}

    RE2(plan())


def test_wait_timeout_names_the_device() -> None:
    slow = SoftMotor("slowpoke", move_time=5.0)
    with pytest.raises(WaitTimeout, match="slowpoke"):
        RunEngine()([Msg("set", slow, 1.0, group="g"), Msg("wait", None, group="g", timeout=0.2)])


def test_sleep_null_and_custom_commands() -> None:
    RE = RunEngine()
    t0 = time.perf_counter()
    RE([Msg("sleep", None, 0.2), Msg("null")])
    assert time.perf_counter() - t0 >= 0.2
    RE.register_command("double", lambda msg: 2 * msg.args[0])

    async def later(msg: Msg) -> int:
        await asyncio.sleep(0)
        return int(msg.args[0]) + 1

    RE.register_command("incr", later)
    out: list[Any] = []

    def plan() -> Any:
        out.append((yield Msg("double", None, 21)))
        out.append((yield Msg("incr", None, 41)))

    RE(plan())
    assert out == [42, 42]


def test_create_read_save_drop_and_their_illegal_orders() -> None:
    d = PlainDet("d")
    RE = RunEngine()
    docs = collect(RE)
    RE([Msg("open_run"), Msg("create", None, name="primary"), Msg("read", d), Msg("save"),
        Msg("create", None, name="primary"), Msg("read", d), Msg("drop"),
        Msg("create", None, name="primary"), Msg("read", d), Msg("save"), Msg("close_run")])
    validate(docs)
    assert [e["data"]["d"] for e in events(docs)] == [1.0, 3.0] and stop_of(docs)["num_events"] == {"primary": 2}
    for bad, why in [([Msg("open_run"), Msg("save")], "save without create"),
                     ([Msg("open_run"), Msg("drop")], "drop without create"),
                     ([Msg("create")], "needs an open run"),
                     ([Msg("open_run"), Msg("create"), Msg("create")], "create while the bundle"),
                     ([Msg("open_run"), Msg("create"), Msg("checkpoint")], "checkpoint inside"),
                     ([Msg("open_run"), Msg("open_run")], "open_run while a run is open"),
                     ([Msg("close_run")], "needs an open run"),
                     ([Msg("open_run"), Msg("create"), Msg("read", d), Msg("read", d)], "read twice")]:
        with pytest.raises(IllegalMessageSequence, match=why):
            RunEngine()(bad)


def test_stage_unstage_once_each_and_unstaged_at_the_end() -> None:
    m = SoftMotor("m")
    RE = RunEngine()
    RE([Msg("stage", m), Msg("stage", m), Msg("unstage", m), Msg("unstage", m)])
    assert (m.staged, m.unstaged) == (1, 1)
    RE([Msg("stage", m), Msg("null")])
    assert (m.staged, m.unstaged) == (2, 2), "the engine unstages what the plan left staged"
    RE([Msg("stage", PlainDet("no_stage"))])  # nothing to stage: a no-op, as in Bluesky


def test_configure_emits_a_new_descriptor_with_the_new_configuration() -> None:
    m = SoftMotor("m")
    RE = RunEngine()
    docs = collect(RE)

    def step() -> Any:
        yield Msg("create", None, name="primary")
        yield Msg("read", m)
        yield Msg("save")

    def plan() -> Any:
        yield Msg("open_run")
        yield from step()
        old, new = yield Msg("configure", m, 2.5)
        assert old["m_velocity"]["value"] == 1.0 and new["m_velocity"]["value"] == 2.5
        yield from step()
        yield Msg("close_run")

    RE(plan())
    validate(docs)
    descs = [d for n, d in docs if n == "descriptor"]
    assert [d["configuration"]["m"]["data"]["m_velocity"] for d in descs] == [1.0, 2.5]
    assert descs[0]["hints"]["m"] == {"fields": ["m"]}
    assert stop_of(docs)["num_events"] == {"primary": 2}


def test_declare_stream_monitor_unmonitor() -> None:
    m = SoftMotor("m")
    d = PlainDet("d")
    RE = RunEngine()
    docs = collect(RE)

    async def bump() -> None:
        for v in (1.0, 2.0):
            await asyncio.sleep(0.1)
            await m.readback.put(v)

    def plan() -> Any:
        yield Msg("open_run")
        desc = yield Msg("declare_stream", None, d, name="primary")
        assert desc["name"] == "primary" and "d" in desc["data_keys"]
        yield Msg("monitor", m, name="m_monitor", period=0.02)
        yield Msg("wait_for", None, [bump])
        yield Msg("sleep", None, 0.1)
        yield Msg("unmonitor", m)
        yield Msg("create", None, name="primary")
        yield Msg("read", d)
        yield Msg("save")
        yield Msg("close_run")

    RE(plan())
    validate(docs)
    assert [e["data"]["m"] for e in events(docs, "m_monitor")] == [0.0, 1.0, 2.0]
    assert stop_of(docs)["num_events"] == {"primary": 1, "m_monitor": 3}
    assert len([n for n, _ in docs if n == "descriptor"]) == 2


def test_kickoff_complete_collect_event_page_and_stream_assets() -> None:
    f = Flyer("fly", n=4)
    RE = RunEngine()
    docs = collect(RE)

    def plan() -> Any:
        yield Msg("open_run")
        yield Msg("kickoff", f, group="k")
        yield Msg("wait", None, group="k")
        yield Msg("complete", f, group="c")
        yield Msg("wait", None, group="c")
        payload = yield Msg("collect", f, name="fly")
        assert len(payload) == 4
        yield Msg("close_run")

    RE(plan())
    validate(docs)
    names = [n for n, _ in docs]
    assert names == ["start", "descriptor", "stream_resource", "stream_datum", "event_page", "stop"]
    desc = docs[1][1]
    page = dict(docs)["event_page"]
    assert page["seq_num"] == [1, 2, 3, 4] and page["data"]["fly_x"] == [0.0, 1.0, 2.0, 3.0]
    assert dict(docs)["stream_datum"]["descriptor"] == desc["uid"]
    assert dict(docs)["stream_resource"]["run_start"] == docs[0][1]["uid"]
    assert stop_of(docs)["num_events"] == {"fly": 4}


def test_resource_and_datum_come_before_the_event_that_refers_to_them() -> None:
    cam = AreaDet("cam")
    RE = RunEngine()
    docs = collect(RE)
    step = [Msg("create", None, name="primary"), Msg("read", cam), Msg("save")]
    RE([Msg("open_run"), *step, *step, Msg("close_run")])
    validate(docs)
    assert [n for n, _ in docs] == ["start", "descriptor", "resource", "datum", "event", "datum", "event", "stop"]
    ev = events(docs)
    assert ev[0]["filled"] == {"cam": False} and dict(docs)["resource"]["run_start"] == docs[0][1]["uid"]


def test_subscribe_unsubscribe_from_a_plan_last_only_for_the_plan() -> None:
    RE = RunEngine()
    seen: list[str] = []

    def plan() -> Any:
        token = yield Msg("subscribe", None, lambda n, d: seen.append(n), "start")
        yield Msg("open_run")
        yield Msg("close_run")
        yield Msg("unsubscribe", token=token)
        yield Msg("open_run")
        yield Msg("close_run")
        yield Msg("subscribe", None, lambda n, d: seen.append("late-" + n), "all")

    RE(plan())
    RE([Msg("open_run"), Msg("close_run")])
    assert seen == ["start"]


def test_input_rewindable_clear_checkpoint_wait_for() -> None:
    RE = RunEngine()
    RE.input_func = lambda prompt: f"answer to {prompt}"
    out: list[Any] = []

    async def ready() -> str:
        await asyncio.sleep(0.01)
        return "ok"

    def plan() -> Any:
        out.append((yield Msg("input", prompt="sample?")))
        out.append((yield Msg("rewindable", None, None)))
        out.append((yield Msg("rewindable", None, False)))
        yield Msg("checkpoint")
        yield Msg("clear_checkpoint")
        yield Msg("wait_for", None, [ready])

    RE(plan())
    assert out == ["answer to sample?", True, False]
    with pytest.raises(WaitTimeout):
        RE([Msg("wait_for", None, [lambda: asyncio.sleep(5)], timeout=0.1)])


def test_install_and_remove_suspender_from_a_plan() -> None:
    from acq.devices import Signal, SoftBackend

    beam = Signal(SoftBackend(100.0), name="beam")
    s = SuspendFloor(beam, 10.0)
    RE = RunEngine()
    RE([Msg("install_suspender", None, s), Msg("null")])
    assert RE.suspenders == [], "a plan's suspenders go when the plan ends"
    RE([Msg("install_suspender", None, s), Msg("remove_suspender", None, s)])
    assert RE.suspenders == []


def test_plain_value_fast_path_creates_no_tasks() -> None:
    d = PlainDet("d")
    RE = RunEngine()
    counts: list[int] = []

    def plan() -> Any:
        yield Msg("open_run")
        for _ in range(50):
            yield Msg("checkpoint")
            yield Msg("trigger", _Plain(), group="t")
            yield Msg("wait", None, group="t")
            yield Msg("create", None, name="primary")
            yield Msg("read", d)
            yield Msg("save")
        counts.append(len(asyncio.all_tasks()))
        yield Msg("close_run")

    def before() -> Any:
        counts.append(len(asyncio.all_tasks()))
        yield from plan()

    RE(before())
    assert counts[0] == counts[1]


class _Plain:
    name = "plain"

    def trigger(self) -> None:
        return None


def test_counter_and_failing_trigger() -> None:
    c = Counter("c", fail_on=2)
    RE = RunEngine()
    docs = collect(RE)
    step = [Msg("checkpoint"), Msg("trigger", c, group="t"), Msg("wait", None, group="t"),
            Msg("create", None, name="primary"), Msg("read", c), Msg("save")]
    with pytest.raises(RuntimeError, match="detector fault on trigger 2") as info:
        RE([Msg("open_run"), *step, *step, Msg("close_run")])
    assert any("trigger c" in note for note in info.value.__notes__)
    validate(docs)
    assert stop_of(docs)["exit_status"] == "fail" and "detector fault" in stop_of(docs)["reason"]


class ThreadStatus:
    """An ophyd-style status: finished by another thread, reports through add_callback."""

    def __init__(self, delay: float, error: Exception | None = None) -> None:
        self.done = False
        self.success = False
        self._error = error
        self._callbacks: list[Any] = []
        self._lock = threading.Lock()
        threading.Timer(delay, self._finish).start()

    def _finish(self) -> None:
        with self._lock:
            self.done, self.success = True, self._error is None
            callbacks, self._callbacks = self._callbacks, []
        for cb in callbacks:
            cb(self)

    def add_callback(self, cb: Any) -> None:
        with self._lock:
            if not self.done:
                self._callbacks.append(cb)
                return
        cb(self)

    def exception(self) -> Exception | None:
        return self._error


class ThreadedMotor:
    name = "tm"
    parent = None

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def set(self, value: float) -> ThreadStatus:
        return ThreadStatus(0.1, self.error)


def test_ophyd_style_statuses_from_other_threads() -> None:
    RE = RunEngine()
    t0 = time.perf_counter()
    RE([Msg("set", ThreadedMotor(), 1.0, group="g"), Msg("wait", None, group="g")])
    assert time.perf_counter() - t0 >= 0.1
    with pytest.raises(RuntimeError, match="stalled") as info:
        RE([Msg("set", ThreadedMotor(RuntimeError("stalled")), 1.0, group="g"), Msg("wait", None, group="g")])
    assert any("set tm" in note for note in info.value.__notes__)


def test_a_status_made_outside_the_loop_runs_in_it() -> None:
    m = SoftMotor("m", move_time=0.05)
    st = m.set(3.0)  # from the test's thread
    st.wait(5)
    assert st.done and st.success and st.exception() is None
    seen: list[bool] = []
    st.add_callback(lambda s: seen.append(s.success))
    assert seen == [True]


def test_a_device_without_the_method_gets_a_clear_error() -> None:
    with pytest.raises(TypeError, match="trigger: d cannot trigger"):
        RunEngine()([Msg("trigger", PlainDet("d"))])


def test_status_wait_timeout_names_the_operation() -> None:
    st = SoftMotor("slowpoke", move_time=5.0).set(1.0)
    with pytest.raises(TimeoutError, match=r"set slowpoke did not finish within 0\.1 s"):
        st.wait(0.1)
    assert not st.done
