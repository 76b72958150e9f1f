"""The twin's lean CA paths (``twin.iocs.lean_ca``) answer exactly as caproto's own paths do.

The IOC runs in this process (its own loop in a thread, real sockets on loopback), so a test can
switch the lean paths off (``TwinCircuit.lean_requests``/``lean_monitors``) to get caproto's answer
to the same request, count which way requests took, and set alarms on the served channels. The
clients are caproto's asyncio client (what the benchmark's raw floor uses) and ours."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import caproto as ca
import pytest
from caproto.asyncio.client import Context

import beamlines
from scenarios.twin_process import free_port
from twin.iocs import ca_server, lean_ca
from twin.iocs.server import serve_async

SP, RB, RATE = "BTS:stage:Pos-SP", "BTS:stage:Pos-RB", "BTS:diode:Rate-RB"
SEED = "BTS:twin:Seed-RB"  # a LONG


class Served:
    """The stage twin served on its own loop in a thread of this process."""

    def __init__(self, ready: Path) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="lean-ioc", daemon=True).start()
        port = free_port()
        self.task = asyncio.run_coroutine_threadsafe(
            serve_async(beamlines.load("stage"), port=port, seed=3, speed=1000.0, ready_file=ready), self.loop)
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert not self.task.done(), self.task.exception()
            assert time.monotonic() < deadline, "the in-process twin did not get ready"
            time.sleep(0.05)
        self.context = next(c for c in _contexts() if c.port == port)

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on the IOC's loop."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def entry(self, name: str) -> Any:
        """The served ChannelData of PV ``name``."""
        return self.context[name]

    def close(self) -> None:
        self.task.cancel()
        time.sleep(0.2)
        self.loop.call_soon_threadsafe(self.loop.stop)


def _contexts() -> list[Any]:
    import gc

    return [o for o in gc.get_objects() if isinstance(o, ca_server.TwinContext)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # serve_async sets the server's CA environment and quiets caproto's logger: both are put back
    saved, level = dict(os.environ), logging.getLogger("caproto").level
    served = Served(tmp_path_factory.mktemp("lean") / "ready")
    try:
        yield served
    finally:
        served.close()
        os.environ.clear()
        os.environ.update(saved)
        logging.getLogger("caproto").setLevel(level)


class Counts:
    """How many requests and monitor updates took each way (wraps the circuit's methods)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lean_read = self.lean_put = self.lean_post = self.queued = 0
        cls = ca_server.TwinCircuit
        for method, counter in (("_lean_read", "lean_read"), ("_lean_put", "lean_put")):
            monkeypatch.setattr(cls, method, self._count(getattr(cls, method), counter))
        monkeypatch.setattr(cls, "queue_out", self._count(cls.queue_out, "lean_post"))
        original = lean_ca.MonitorQueue.put_nowait

        def queued(queue: Any, item: Any) -> None:
            self.queued += 1
            original(queue, item)

        monkeypatch.setattr(lean_ca.MonitorQueue, "put_nowait", queued)

    def _count(self, fn: Callable[..., Any], counter: str) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            setattr(self, counter, getattr(self, counter) + 1)
            return fn(*args, **kwargs)

        return counted


def _lean(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    monkeypatch.setattr(ca_server.TwinCircuit, "lean_requests", on)
    monkeypatch.setattr(ca_server.TwinCircuit, "lean_monitors", on)


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


async def _reads(names: list[str], forms: tuple[str, ...] = ("time", "native")) -> list[tuple[Any, ...]]:
    """(PV, form, value, status, severity, timestamp) of a read of each PV in each form, on a new circuit."""
    ctx = Context(timeout=10.0)
    try:
        pvs = await ctx.get_pvs(*names, timeout=10.0)
        for pv in pvs:  # every channel created first: a request behind a queued one takes caproto's way
            await pv.wait_for_connection()
        out = []
        for pv in pvs:
            for form in forms:
                resp = await pv.read(data_type=form, timeout=10.0)
                md = resp.metadata
                out.append((pv.name, form, float(resp.data[0]), getattr(md, "status", None),
                            getattr(md, "severity", None), getattr(md, "timestamp", None)))
        return out
    finally:
        await ctx.disconnect()


def test_lean_reads_answer_as_caproto(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    counts = Counts(monkeypatch)
    lean = _run(_reads([RB, SP, SEED]))
    assert counts.lean_read == 6, "the reads took the lean way"
    _lean(monkeypatch, False)
    theirs = _run(_reads([RB, SP, SEED]))
    assert counts.lean_read == 6, "switched off, caproto answered"
    assert lean == theirs, "the lean answers (value, alarm, time stamp) equal caproto's"


def test_lean_reads_and_monitors_carry_the_alarm(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = served.entry(RB)

    async def alarm(status: Any, severity: Any) -> None:
        await entry.alarm.write(status=status, severity=severity)

    async def read_and_watch() -> tuple[list[tuple[Any, ...]], Any]:
        ctx = Context(timeout=10.0)
        try:
            (pv,) = await ctx.get_pvs(RB, timeout=10.0)
            await pv.wait_for_connection()
            got: list[Any] = []
            sub = pv.subscribe(data_type="time")

            def keep(_sub: Any, resp: Any) -> None:
                got.append(resp)

            token = sub.add_callback(keep)  # caproto holds callbacks weakly: ``keep`` lives as long as this frame
            for _ in range(100):
                if got:
                    break
                await asyncio.sleep(0.02)
            served.call(alarm(ca.AlarmStatus.HIHI, ca.AlarmSeverity.MAJOR_ALARM))
            for _ in range(100):
                if len(got) > 1:
                    break
                await asyncio.sleep(0.02)
            resp = await pv.read(data_type="time", timeout=10.0)
            update = got[-1].metadata
            await sub.remove_callback(token)  # before ``keep`` goes (caproto would not await it then)
            return [(resp.metadata.status, resp.metadata.severity, float(resp.data[0]))], (
                update.status, update.severity)
        finally:
            await ctx.disconnect()

    counts = Counts(monkeypatch)
    try:
        (read,), update = _run(read_and_watch())
        assert counts.lean_read == 1 and counts.lean_post >= 1, "the read and the alarm's update took the lean way"
        assert read[:2] == (ca.AlarmStatus.HIHI, ca.AlarmSeverity.MAJOR_ALARM)
        assert update == (ca.AlarmStatus.HIHI, ca.AlarmSeverity.MAJOR_ALARM)
        served.call(alarm(ca.AlarmStatus.NO_ALARM, ca.AlarmSeverity.NO_ALARM))
        _lean(monkeypatch, False)
        served.call(alarm(ca.AlarmStatus.HIHI, ca.AlarmSeverity.MAJOR_ALARM))
        (theirs,), their_update = _run(read_and_watch())
        assert (theirs, their_update) == (read, update), "caproto's way says the same"
    finally:
        served.call(alarm(ca.AlarmStatus.NO_ALARM, ca.AlarmSeverity.NO_ALARM))


async def _moves(targets: list[float], *, rb_name: str = RB) -> list[tuple[float, float, float]]:
    """Put each target with completion while monitoring the readback; (target, the readback's
    latest update received when the put completed, a read of the setpoint right after)."""
    ctx = Context(timeout=10.0)
    try:
        sp, rb = await ctx.get_pvs(SP, rb_name, timeout=10.0)
        await sp.wait_for_connection()
        await rb.wait_for_connection()
        got: list[float] = []
        sub = rb.subscribe(data_type="time")

        def keep(_sub: Any, resp: Any) -> None:
            got.append(float(resp.data[0]))

        token = sub.add_callback(keep)  # caproto holds callbacks weakly: ``keep`` lives as long as this frame
        await sp.write([-1.0], wait=True, timeout=10.0)
        await asyncio.sleep(0.1)
        out = []
        for x in targets:
            await sp.write([x], wait=True, timeout=10.0)
            # what the client had received when the completion came (its callbacks run later, in a task)
            received = float(sub.most_recent_response.data[0])
            out.append((x, received, float((await sp.read(data_type="time", timeout=10.0)).data[0])))
        await sub.remove_callback(token)  # before ``keep`` goes (caproto would not await it then)
        return out
    finally:
        await ctx.disconnect()


def test_lean_put_completes_after_the_readback_monitor(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    counts = Counts(monkeypatch)
    targets = [round(0.01 * (i % 9) + 0.001 * i, 6) for i in range(40)]
    seen = _run(_moves(targets))
    # (the first put, right after the subscription request, may queue behind it on caproto's way)
    assert counts.lean_put >= len(targets) and counts.lean_post >= len(targets), "puts and updates went lean"
    stale = [(x, rb) for x, rb, _ in seen if rb != pytest.approx(x, abs=1e-12)]
    assert not stale, f"the readback's update came after the put completion: {stale[:3]}"
    assert [sp for _, _, sp in seen] == pytest.approx(targets, abs=1e-12), "the setpoint holds each target"


def test_a_filtered_monitor_takes_caprotos_way_and_its_filter_applies(served: Served,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    counts = Counts(monkeypatch)
    # a deadband of 0.5 mm: moves of 0.01 post nothing; the jumps to ±1 do
    seen = _run(_moves([0.0, 0.01, 0.02, 1.0, 1.01], rb_name=RB + '.{"dbnd":{"abs":0.5}}'))
    assert counts.queued > 0, "the filtered subscription's updates went through caproto's queue"
    assert [round(rb, 6) for _, rb, _ in seen] == [0.0, 0.0, 0.0, 1.0, 1.0]


def test_requests_the_lean_path_does_not_serve_still_work(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    counts = Counts(monkeypatch)

    async def other_requests() -> tuple[float, float, str]:
        ctx = Context(timeout=10.0)
        try:
            sp, rb = await ctx.get_pvs(SP, RB, timeout=10.0)
            await sp.wait_for_connection()
            await rb.wait_for_connection()
            await sp.write(["0.25"], data_type=ca.ChannelType.STRING, wait=True, timeout=10.0)  # a string put
            after_string = float((await rb.read(timeout=10.0)).data[0])
            await sp.write([0.5], data_type=ca.ChannelType.FLOAT, wait=True, timeout=10.0)  # a FLOAT put
            ctrl = await sp.read(data_type="control", timeout=10.0)  # a CTRL read
            refused = ""
            try:
                await rb.write([3.0], wait=True, timeout=2.0)  # read-only: caproto refuses it
            except Exception as exc:  # whatever caproto raises for the refusal
                refused = type(exc).__name__
            return after_string, float(ctrl.data[0]), refused or "accepted"
        finally:
            await ctx.disconnect()

    after_string, ctrl_value, refused = _run(other_requests())
    assert counts.lean_put == 0, "string and FLOAT puts took caproto's way"
    assert after_string == pytest.approx(0.25) and ctrl_value == pytest.approx(0.5)
    assert refused != "accepted"
    assert float(served.entry(RB).value) == pytest.approx(0.5), "the refused put changed nothing"


def test_lean_encoders_match_caprotos_messages() -> None:
    from caproto import ChannelDouble

    from twin.iocs import lean_ca

    entry = ChannelDouble(value=-2.5, timestamp=1.7e9 + 0.123456, precision=3)
    entry.alarm._data.update(status=ca.AlarmStatus.LOLO, severity=ca.AlarmSeverity.MINOR_ALARM)
    md = ca.DBR_TYPES[ca.ChannelType.TIME_DOUBLE](status=ca.AlarmStatus.LOLO, severity=ca.AlarmSeverity.MINOR_ALARM)
    md.stamp = entry.epics_timestamp

    def wire(cmd: Any) -> bytes:
        return bytes(cmd.header) + b"".join(bytes(b) for b in cmd.buffers)

    theirs = ca.ReadNotifyResponse(data=[-2.5], metadata=md, data_type=ca.ChannelType.TIME_DOUBLE, data_count=1,
                                   status=1, ioid=77)
    assert lean_ca.read_response(entry, lean_ca.DBR_TIME_DOUBLE, 77) == wire(theirs)
    theirs = ca.ReadNotifyResponse(data=[-2.5], metadata=None, data_type=ca.ChannelType.DOUBLE, data_count=1,
                                   status=1, ioid=78)
    assert lean_ca.read_response(entry, lean_ca.DBR_DOUBLE, 78) == wire(theirs)
    assert lean_ca.write_response(6, 1, 79) == wire(ca.WriteNotifyResponse(ca.ChannelType.DOUBLE, 1, 1, 79))



@pytest.mark.parametrize(("kind", "value"), [("Integer", -123456), ("Short", -321), ("Double", 4.75)])
def test_lean_encoders_match_caprotos_for_each_number_kind(kind: str, value: float) -> None:
    from twin.iocs import lean_ca

    entry = getattr(ca, f"Channel{kind}")(value=value, timestamp=1.7e9 + 0.5)
    entry.alarm._data.update(status=ca.AlarmStatus.HIGH, severity=ca.AlarmSeverity.MAJOR_ALARM)
    native, timed = lean_ca.lean_types(entry)
    md = ca.DBR_TYPES[ca.ChannelType(timed)](status=ca.AlarmStatus.HIGH, severity=ca.AlarmSeverity.MAJOR_ALARM)
    md.stamp = entry.epics_timestamp
    for data_type, metadata in ((native, None), (timed, md)):
        theirs = ca.ReadNotifyResponse(data=[value], metadata=metadata, data_type=ca.ChannelType(data_type),
                                       data_count=1, status=1, ioid=5)
        assert lean_ca.read_response(entry, data_type, 5) == bytes(theirs.header) + b"".join(
            bytes(b) for b in theirs.buffers), ca.ChannelType(data_type).name
