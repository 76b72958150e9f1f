"""Compatibility with the real thing: Bluesky's plans, stubs and preprocessors on our engine,
and our plans yielding the same messages, positions and start keys as Bluesky's."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import Any

import bluesky
import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp
import pytest
from bluesky.utils import Msg as BlueskyMsg

from acq import plans
from acq.devices import Signal, SoftBackend
from acq.engine import RunEngine
from tests.engine.soft import Counter, Flyer, SoftMotor, collect, events, stop_of, validate


def test_the_peer_is_bluesky_1_15() -> None:
    assert bluesky.__version__.startswith("1.15"), bluesky.__version__


def record(plan: Generator[Any, Any, Any], out: list[Any]) -> Generator[Any, Any, Any]:
    """Pass ``plan`` through unchanged, keeping every message it yields."""
    response = None
    while True:
        try:
            msg = plan.send(response)
        except StopIteration as stop:
            return stop.value
        out.append(msg)
        response = yield msg


PLANS: dict[str, Callable[[SoftMotor, Counter], Any]] = {
    "count": lambda m, d: bp.count([d], num=3),
    "count delay": lambda m, d: bp.count([d], num=2, delay=0.01),
    "scan": lambda m, d: bp.scan([d], m, 0, 1, 3),
    "rel_scan": lambda m, d: bp.rel_scan([d], m, -1, 1, 3),
    "list_scan": lambda m, d: bp.list_scan([d], m, [0.5, 1.5]),
    "grid_scan": lambda m, d: bp.grid_scan([d], m, 0, 1, 2),
    "log_scan": lambda m, d: bp.log_scan([d], m, 1, 10, 3),
    "inner_product_scan": lambda m, d: bp.inner_product_scan([d], 3, m, 0, 1),
    "baseline_wrapper": lambda m, d: bpp.baseline_wrapper(bp.count([d], 2), [m]),
    "finalize_wrapper": lambda m, d: bpp.finalize_wrapper(bp.count([d], 2), bps.mv(m, 7)),
    "relative_set_wrapper": lambda m, d: bpp.relative_set_wrapper(bp.list_scan([d], m, [0, 1])),
    "pchain": lambda m, d: bpp.pchain(bp.count([d]), bp.count([d])),
    "repeat": lambda m, d: bpp.run_wrapper(bps.repeat(lambda: bps.trigger_and_read([d]), num=3)),
}


@pytest.mark.parametrize("name", list(PLANS))
def test_bluesky_plans_run_unchanged(name: str) -> None:
    m, d = SoftMotor("m"), Counter("det")
    RE = RunEngine()
    docs = collect(RE)
    msgs: list[Any] = []
    uids = RE(record(PLANS[name](m, d), msgs))
    assert msgs and all(type(x) is BlueskyMsg for x in msgs), "Bluesky's own Msg objects went through"
    assert len(uids) == sum(1 for n, _ in docs if n == "start") >= 1
    validate(docs)
    assert all(doc["exit_status"] == "success" for n, doc in docs if n == "stop")
    assert events(docs), "it produced events"


def test_bluesky_stubs_move_read_locate_and_wait() -> None:
    m = SoftMotor("m", move_time=0.01)
    RE = RunEngine()
    out: list[Any] = []

    def plan() -> Any:
        yield from bps.mv(m, 2.0)
        yield from bps.mvr(m, 0.5)
        out.append((yield from bps.rd(m)))
        out.append((yield from bps.locate(m)))
        yield from bps.abs_set(m, 4.0, group="g")
        yield from bps.wait(group="g")
        yield from bps.sleep(0.01)
        yield from bps.checkpoint()
        yield from bps.null()
        out.append((yield from bps.input_plan("ok? ")))

    RE.input_func = lambda prompt: "yes"
    RE(plan())
    assert out == [2.5, {"setpoint": 2.5, "readback": 2.5}, "yes"]
    assert RE([]) == ()


def test_bluesky_fly_stubs_and_monitor_wrapper() -> None:
    f = Flyer("fly", n=3)
    beam = Signal(SoftBackend(1.0), name="beam")
    RE = RunEngine()
    docs = collect(RE)

    def fly() -> Any:
        yield from bps.open_run()
        yield from bps.kickoff(f, wait=True)
        yield from bps.complete(f, wait=True)
        yield from bps.collect(f, name="fly")
        yield from bps.close_run()

    RE(bpp.monitor_during_wrapper(fly(), [beam]))
    validate(docs)
    names = [n for n, _ in docs]
    assert "event_page" in names and "stream_resource" in names and "stream_datum" in names
    assert stop_of(docs)["num_events"]["fly"] == 3 and stop_of(docs)["num_events"]["beam_monitor"] >= 1


def _steps(msgs: list[Any]) -> list[tuple[Any, ...]]:
    """The operations a plan asked for: commands, device names and arguments (group labels and
    default wait options aside; repeated checkpoints are one checkpoint)."""
    out: list[tuple[Any, ...]] = []
    for msg in msgs:
        step = (msg.command, getattr(msg.obj, "name", msg.obj), tuple(float(a) for a in msg.args),
                msg.kwargs.get("name") if msg.command == "create" else None)
        if step[0] == "checkpoint" and out and out[-1][0] == "checkpoint":
            continue
        out.append(step)
    return out


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


@pytest.mark.parametrize(("ours", "theirs"), [
    (lambda m, d: plans.count([d], num=3), lambda m, d: bp.count([d], num=3)),
    (lambda m, d: plans.scan([d], m, -1.0, 2.0, 7), lambda m, d: bp.scan([d], m, -1.0, 2.0, 7)),
], ids=["count", "scan"])
def test_our_plans_match_bluesky_message_for_message(ours: Any, theirs: Any) -> None:
    results = []
    for make in (ours, theirs):
        m, d = SoftMotor("m"), Counter("det")
        RE = RunEngine()
        docs = collect(RE)
        msgs: list[Any] = []
        RE(record(make(m, d), msgs))
        start = docs[0][1]
        results.append((_steps(msgs), [e["data"] for e in events(docs)], start))
    (our_steps, our_data, our_start), (their_steps, their_data, their_start) = results
    assert our_steps == their_steps
    assert our_data == their_data, "the same positions and readings"
    assert set(their_start) <= set(our_start), f"missing start keys: {set(their_start) - set(our_start)}"
    for key in ("plan_name", "detectors", "motors", "num_points", "num_intervals", "plan_pattern", "hints"):
        assert _plain(our_start.get(key)) == _plain(their_start.get(key)), key


def test_ophyd_async_soft_signals_on_our_engine() -> None:
    from ophyd_async.core import soft_signal_rw

    from acq.loop import call_in_loop

    det = soft_signal_rw(float, 3.0, name="det", units="counts")
    m = soft_signal_rw(float, 0.0, name="m")

    async def connect() -> None:
        await det.connect()
        await m.connect()

    call_in_loop(connect())
    RE = RunEngine()
    docs = collect(RE)
    RE(bp.scan([det], m, 0, 1, 3))
    validate(docs)
    assert [e["data"] for e in events(docs)] == [{"det": 3.0, "m": 0.0}, {"det": 3.0, "m": 0.5},
                                                 {"det": 3.0, "m": 1.0}]
    desc = next(d for n, d in docs if n == "descriptor")
    assert desc["data_keys"]["det"]["units"] == "counts"


def test_monitor_follows_an_ophyd_async_signal_by_subscription() -> None:
    from ophyd_async.core import soft_signal_rw

    from acq.loop import call_in_loop

    beam = soft_signal_rw(float, 100.0, name="beam")
    call_in_loop(beam.connect())
    RE = RunEngine()
    docs = collect(RE)

    async def wobble() -> None:
        for v in (90.0, 80.0, 70.0):
            await beam.set(v)

    def plan() -> Any:
        yield from bps.open_run()
        yield from bps.monitor(beam, name="beam_monitor")
        yield from bps.wait_for([wobble])
        yield from bps.unmonitor(beam)
        yield from bps.wait_for([lambda: beam.set(10.0)])
        yield from bps.close_run()

    RE(plan())
    validate(docs)
    assert [e["data"]["beam"] for e in events(docs, "beam_monitor")] == [100.0, 90.0, 80.0, 70.0]


def test_more_bluesky_stubs_and_wrappers() -> None:
    from acq.engine import RunEngineInterrupted, SuspendFloor

    m, d = SoftMotor("m"), Counter("det")
    beam = Signal(SoftBackend(100.0), name="beam")
    RE = RunEngine()
    docs = collect(RE)
    starts: list[str] = []

    def plan() -> Any:
        yield from bps.open_run(md={"purpose": "stubs"})
        yield from bps.stage(m)
        yield from bps.declare_stream(d, m, name="primary")
        yield from bps.configure(m, 2.0)
        yield from bps.create("primary")
        yield from bps.read(d)
        yield from bps.drop()
        yield from bps.deferred_pause()
        yield from bps.checkpoint()
        yield from bps.trigger_and_read([d, m])
        yield from bps.unstage(m)
        yield from bps.close_run()

    wrapped = bpp.suspend_wrapper(bpp.subs_wrapper(plan(), {"start": [lambda n, doc: starts.append(doc["purpose"])]}),
                                  SuspendFloor(beam, 10.0))
    with pytest.raises(RunEngineInterrupted):
        RE(wrapped)
    assert RE.state == "paused"
    RE.resume()
    validate(docs)
    assert starts == ["stubs"] and RE.suspenders == []
    assert (m.staged, m.unstaged) == (1, 1)
    descs = [doc for n, doc in docs if n == "descriptor"]
    assert [x["configuration"]["m"]["data"]["m_velocity"] for x in descs] == [1.0, 2.0]
    assert stop_of(docs)["num_events"] == {"primary": 1}


def test_bluesky_callbacks_consume_our_documents(capsys: pytest.CaptureFixture[str]) -> None:
    from bluesky.callbacks import LiveTable
    from event_model import RunRouter

    m, d = SoftMotor("m"), Counter("det")
    RE = RunEngine()
    RE.subscribe(LiveTable(["m", "det"]))
    seen: list[str] = []

    def factory(name: str, doc: dict[str, Any]) -> tuple[list[Any], list[Any]]:
        return [lambda n, doc: seen.append(n if n != "event_page" else f"event x{len(doc['seq_num'])}")], []

    RE.subscribe(RunRouter([factory]))
    RE(plans.scan([d], m, 0.0, 2.0, 3))
    table = capsys.readouterr().out
    assert all(f"{v:.3f}" in table or f"{v}" in table for v in (0.0, 1.0, 2.0)), table
    assert seen == ["start", "descriptor", "event x1", "event x1", "event x1", "stop"]


def test_a_failing_subscriber_fails_the_run() -> None:
    RE = RunEngine()
    docs = collect(RE)

    def broken(name: str, doc: dict[str, Any]) -> None:
        if name == "event":
            raise ValueError("consumer broke")

    RE.subscribe(broken)
    with pytest.raises(ValueError, match="consumer broke"):
        RE(bp.count([Counter("det")], 2))
    assert stop_of(docs)["exit_status"] == "fail" and "consumer broke" in stop_of(docs)["reason"]


def test_msg_has_bluesky_shape_and_our_plans_run_on_bluesky() -> None:
    from bluesky import RunEngine as BlueskyRunEngine
    from bluesky.run_engine import call_in_bluesky_event_loop
    from ophyd_async.core import soft_signal_rw

    from acq.engine import Msg

    assert Msg._fields == BlueskyMsg._fields == ("command", "obj", "args", "kwargs", "run")
    assert tuple(Msg("set", "m", 1.0, group="g")) == tuple(BlueskyMsg("set", "m", 1.0, group="g"))
    det = soft_signal_rw(float, 2.0, name="det")
    m = soft_signal_rw(float, 0.0, name="m")
    RE = BlueskyRunEngine({}, call_returns_result=False)
    for sig in (det, m):
        call_in_bluesky_event_loop(sig.connect())
    docs: list[tuple[str, dict[str, Any]]] = []
    RE.subscribe(lambda n, d: docs.append((n, d)))
    RE(plans.scan([det], m, 0.0, 1.0, 3))
    validate(docs)
    assert [e["data"]["m"] for e in events(docs)] == [0.0, 0.5, 1.0]
