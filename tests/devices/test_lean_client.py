"""Our CA client's lean paths (``acq.devices.ca_client``) against a twin IOC: requests encoded with
``struct`` are caproto's bytes, responses and monitor updates decoded with ``struct`` say what
caproto's decoding says, and monitored backends see every update at once, in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from acq.devices import CABackend, ca_client
from acq.devices.backends import _reading
from acq.devices.ca_client import CoalescingContext
from scenarios.twin_process import TwinProcess

TWIN_SPEED = 1000.0


def _wire(command: Any) -> bytes:
    return bytes(command.header) + b"".join(bytes(b) for b in command.buffers)


async def _encodings_and_readings() -> tuple[list[tuple[bytes, bytes]], list[tuple[Any, Any]]]:
    ctx = CoalescingContext(timeout=10.0)
    try:
        sp, rbv, msta, lvio = await ctx.get_pvs("BT:m1", "BT:m1.RBV", "BT:m1.MSTA", "BT:m1.LVIO", timeout=10.0)
        for pv in (sp, rbv, msta, lvio):
            await pv.wait_for_connection()
        chan = sp.channel
        pairs = [(ca_client.read_request(pv.channel, "time", 41), _wire(pv.channel.read(ioid=41, data_type="time",
                                                                                        notify=True)))
                 for pv in (sp, msta, lvio)]  # a DOUBLE, a LONG, a SHORT
        pairs += [(ca_client.write_request(chan, [0.125], 42) or b"", _wire(chan.write([0.125], ioid=42, notify=True))),
                  (ca_client.write_request(chan, (3,), 43) or b"", _wire(chan.write([3.0], ioid=43, notify=True)))]
        await ca_client.write(sp, [0.125], timeout=10.0)
        readings = []
        for pv in (sp, rbv, msta, lvio):
            lean = await ca_client.read(pv, data_type="time", timeout=10.0)
            theirs = await pv.read(data_type="time", timeout=10.0)
            readings.append((type(lean).__name__, _reading(lean), _reading(theirs)))
        return pairs, readings
    finally:
        await ctx.disconnect()


def test_lean_requests_and_responses_are_caprotos(twin: TwinProcess) -> None:
    pairs, readings = asyncio.run(_encodings_and_readings())
    for ours, theirs in pairs:
        assert ours == theirs
    for kind, lean, theirs in readings:
        assert kind == "TimeScalar", "the read took the lean way"
        assert lean == theirs, "value, time stamp and severity decode alike"
    assert readings[1][1].value == pytest.approx(0.125)


def test_write_request_leaves_other_writes_to_caproto() -> None:
    class Chan:
        native_data_type, native_data_count, sid = 6, 1, 9

    assert ca_client.write_request(Chan(), [True], 1) is None, "a bool is not sent as a number"
    assert ca_client.write_request(Chan(), ["1.0"], 1) is None
    assert ca_client.write_request(Chan(), [1.0, 2.0], 1) is None
    Chan.native_data_type = 5  # LONG
    assert ca_client.write_request(Chan(), [1.0], 1) is None


async def _monitored(n: int) -> tuple[list[float], list[float], list[float], int]:
    """Two monitored backends of one PV (one caproto subscription) and a move per step: what each
    saw right after each put completed, and how many updates took the lean way."""
    a, b = CABackend("BT:m1.RBV", monitor=True), CABackend("BT:m1.RBV", monitor=True)
    sp = CABackend("BT:m1")
    for backend in (a, b, sp):
        await backend.connect(10.0)
    assert a._sub is b._sub, "the two backends share caproto's subscription"
    lean_calls = 0
    hooks = a._sub.lean_hooks

    def counting(hook: Any) -> Any:
        def counted(value: Any) -> None:
            nonlocal lean_calls
            lean_calls += 1
            hook(value)

        return counted

    for token in list(hooks):
        hooks[token] = counting(hooks[token])
    got_a, got_b, targets = [], [], []
    for i in range(n):
        target = round(0.01 * (i % 5 + 1) + 0.001 * i, 6)
        await sp.put(target, True, 10.0)
        got_a.append((await a.get()).value)
        got_b.append((await b.get()).value)
        targets.append(target)
    return got_a, got_b, targets, lean_calls


def test_monitored_backends_see_each_update_at_once(twin: TwinProcess) -> None:
    from acq.loop import call_in_loop

    got_a, got_b, targets, lean_calls = call_in_loop(_monitored(15))
    assert got_a == pytest.approx(targets, abs=1e-9), "each monitored value is the end of its move"
    assert got_b == pytest.approx(targets, abs=1e-9)
    assert lean_calls >= 2 * len(targets), "the updates reached both backends the lean way"


async def _late_subscriber() -> tuple[float, Any, bool]:
    a, sp = CABackend("BT:m1.RBV", monitor=True), CABackend("BT:m1")
    for backend in (a, sp):
        await backend.connect(10.0)
    await sp.put(0.031, True, 10.0)
    await sp.put(0.047, True, 10.0)  # updates taken the lean way: caproto's most_recent_response is gone
    late = CABackend("BT:m1.RBV", monitor=True)
    await late.connect(10.0)  # joins a's caproto subscription
    assert late._sub is a._sub
    return (await a.get()).value, late._last, late._fresh


def test_a_late_monitor_on_a_running_subscription_starts_from_the_latest_update(twin: TwinProcess) -> None:
    from acq.loop import call_in_loop

    latest, late_first, fresh = call_in_loop(_late_subscriber())
    assert latest == pytest.approx(0.047, abs=1e-9)
    assert late_first is not None and late_first.value == pytest.approx(0.047, abs=1e-9), \
        "the late backend starts from the latest update (not none, not an older one)"
    assert fresh, "so its reads need no round trip"
