"""Our CA client context writes each request to its socket in one piece (caproto's writes a
request's header and payload separately: two segments, two wake-ups of the IOC per request)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from caproto.asyncio.client import Context

from acq.devices.ca_client import CoalescingContext
from scenarios.twin_process import TwinProcess

TWIN_SPEED = 1000.0


async def _writes_per_request(cls: type[Any], n: int = 20) -> tuple[float, list[float]]:
    """(socket writes per request, values read back) for ``n`` puts with completion + reads."""
    ctx = cls(timeout=10.0)
    try:
        sp, rb = await ctx.get_pvs("BT:m1", "BT:m1.RBV", timeout=10.0)
        await sp.wait_for_connection()
        await rb.wait_for_connection()
        writer = sp.circuit_manager.transport.writer
        assert rb.circuit_manager is sp.circuit_manager
        calls = 0
        original = writer.write

        def counting(data: bytes) -> None:
            nonlocal calls
            calls += 1
            original(data)

        writer.write = counting
        values = []
        try:
            for i in range(n):
                await sp.write([0.01 * (i % 5)], wait=True)
                values.append(float((await rb.read()).data[0]))
        finally:
            writer.write = original
        return calls / (2 * n), values
    finally:
        await ctx.disconnect()


def test_each_request_is_one_socket_write(twin: TwinProcess) -> None:
    ours, values = asyncio.run(_writes_per_request(CoalescingContext))
    theirs, _ = asyncio.run(_writes_per_request(Context))
    assert ours == 1.0, f"{ours} writes per request"
    assert theirs > 1.0, "caproto's own client splits requests (else this test shows nothing)"
    assert values == pytest.approx([0.01 * (i % 5) for i in range(20)], abs=1e-9), "puts and reads still work"


async def _tasks_per_request(lean: bool, n: int = 20) -> tuple[float, list[float]]:
    """(tasks started per put-with-completion + read, values read back), through ``ca_client``'s
    lean path or caproto's ``PV.read``/``PV.write``."""
    from acq.devices import ca_client

    ctx = CoalescingContext(timeout=10.0)
    loop = asyncio.get_running_loop()
    original = loop.create_task
    started = 0

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal started
        started += 1
        return original(*args, **kwargs)

    try:
        sp, rb = await ctx.get_pvs("BT:m1", "BT:m1.RBV", timeout=10.0)
        await sp.wait_for_connection()
        await rb.wait_for_connection()
        values = []
        loop.create_task = counting  # type: ignore[method-assign]
        try:
            for i in range(n):
                if lean:
                    await ca_client.write(sp, [0.01 * (i % 5)], timeout=10.0)
                    values.append(float((await ca_client.read(rb, data_type="time", timeout=10.0)).data[0]))
                else:
                    await sp.write([0.01 * (i % 5)], wait=True, timeout=10.0)
                    values.append(float((await rb.read(data_type="time", timeout=10.0)).data[0]))
        finally:
            loop.create_task = original  # type: ignore[method-assign]
        return started / n, values
    finally:
        await ctx.disconnect()


def test_lean_requests_start_no_task(twin: TwinProcess) -> None:
    lean, values = asyncio.run(_tasks_per_request(True))
    caprotos, _ = asyncio.run(_tasks_per_request(False))
    assert lean < 0.5, f"{lean} tasks per put + read"
    assert caprotos >= 2, "caproto's PV.read/PV.write start tasks (else this test shows nothing)"
    assert values == pytest.approx([0.01 * (i % 5) for i in range(20)], abs=1e-9), "the readback follows each put"


async def _late_completion() -> tuple[str, float]:
    """A put whose completion comes after its timeout, then a read on the same circuit."""
    from acq.devices import ca_client

    ctx = CoalescingContext(timeout=10.0)
    try:
        sp, velo, rb = await ctx.get_pvs("BT:m1", "BT:m1.VELO", "BT:m1.RBV", timeout=10.0)
        for pv in (sp, velo, rb):
            await pv.wait_for_connection()
        await ca_client.write(sp, [0.0], timeout=10.0)
        before = float((await ca_client.read(velo, timeout=10.0)).data[0])
        await ca_client.write(velo, [0.01], timeout=10.0)  # 1 mm: 100 simulated s, 0.1 s of wall time
        try:
            with pytest.raises(TimeoutError) as info:
                await ca_client.write(sp, [1.0], timeout=0.02)
            await asyncio.sleep(0.3)  # the late completion arrives and is dropped (caproto logs it)
            return str(info.value), float((await ca_client.read(rb, timeout=10.0)).data[0])
        finally:
            await ca_client.write(velo, [before], timeout=10.0)
            await ca_client.write(sp, [0.0], timeout=10.0)
    finally:
        await ctx.disconnect()


def test_a_lean_request_times_out_and_the_circuit_goes_on(twin: TwinProcess, caplog: pytest.LogCaptureFixture) -> None:
    message, readback = asyncio.run(_late_completion())
    assert "Ignoring late response" in caplog.text
    assert "BT:m1" in message and "write" in message
    assert readback == pytest.approx(1.0), "the move went on to its end; the next read on the circuit works"


@pytest.mark.parametrize(("data_type", "value"), [("TIME_DOUBLE", 1.2345678), ("TIME_FLOAT", 2.5), ("TIME_LONG", -42),
                                                  ("TIME_INT", -7), ("TIME_ENUM", 3), ("TIME_STRING", b"open")])
def test_readings_decode_as_caproto_decodes_them(data_type: str, value: Any) -> None:
    import time

    import caproto as ca

    from acq.devices.backends import Reading, _reading, _unpack

    dt = ca.ChannelType[data_type]
    md = ca.DBR_TYPES[dt](status=3, severity=2)
    md.stamp = ca.TimeStamp.from_unix_timestamp(time.time())
    sent = ca.ReadNotifyResponse(data=[value], metadata=md, data_type=dt, data_count=1, status=1, ioid=1)
    received = ca.ReadNotifyResponse.from_wire(sent.header, bytearray(b"".join(bytes(b) for b in sent.buffers)))
    caprotos = Reading(_unpack(received), received.metadata.timestamp, int(received.metadata.severity))
    ours = _reading(received)
    assert ours == caprotos and type(ours.value) is type(caprotos.value) and ours.severity == 2
