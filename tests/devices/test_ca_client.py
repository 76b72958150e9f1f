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
