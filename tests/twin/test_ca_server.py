"""The twin's CA server: monitor updates of a move reach the client before the put's completion.

An IOC posts a record's monitors while it processes, before the put callback completes; clients
(ophyd's EpicsMotor, our monitored signals) rely on it to read the end of a move from their
monitor caches. caproto batches monitor updates (10 ms by default) but sends completions at
once; the twin's server flushes queued updates before each completion instead of sleeping."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from scenarios.twin_process import TwinProcess

TWIN_SPEED = 1000.0
MOVES = 60


async def _stale_after_completion(n: int) -> list[tuple[str, float, Any]]:
    """Move the motor ``n`` times with completion; list every monitor that was stale when a put
    completed: (PV, commanded position, cached value)."""
    from caproto.asyncio.client import Context

    ctx = Context(timeout=10.0)
    try:
        sp, rbv, dmov, s1 = await ctx.get_pvs("BT:m1", "BT:m1.RBV", "BT:m1.DMOV", "BT:sc1.T", timeout=10.0)
        cnt, tp = await ctx.get_pvs("BT:sc1.CNT", "BT:sc1.TP", timeout=10.0)
        for pv in (sp, rbv, dmov, s1, cnt, tp):
            await pv.wait_for_connection()
        subs = {name: pv.subscribe(data_type="time") for name, pv in (("RBV", rbv), ("DMOV", dmov), ("T", s1))}
        def ignore(*_: Any) -> None:
            pass

        # a subscription starts with its first callback; caproto holds callbacks weakly
        tokens = {name: sub.add_callback(ignore) for name, sub in subs.items()}
        await sp.write([0.0], wait=True)
        await asyncio.sleep(0.2)
        stale: list[tuple[str, float, Any]] = []
        for i in range(n):
            target = round(0.01 * (i % 7 + 1), 4)
            await sp.write([target], wait=True)
            for name, want in (("RBV", target), ("DMOV", 1)):
                got = subs[name].most_recent_response.data[0]
                if abs(got - want) > 1e-6:
                    stale.append((name, target, got))
        # a count: the elapsed time T is posted before CNT's completion
        for preset in (0.2, 0.3, 0.2, 0.3):
            await tp.write([preset], wait=True)
            await cnt.write([1], wait=True)
            got = subs["T"].most_recent_response.data[0]
            if abs(got - preset) > 1e-6:
                stale.append(("T", preset, got))
        for name, sub in subs.items():  # before ``ignore`` goes (caproto would not await it then)
            await sub.remove_callback(tokens[name])
        return stale
    finally:
        await ctx.disconnect()


def test_monitors_of_a_move_arrive_before_its_put_completion(twin: TwinProcess) -> None:
    stale = asyncio.run(_stale_after_completion(MOVES))
    assert not stale, f"{len(stale)} monitor(s) still stale when the put completed, e.g. {stale[:5]}"


def test_advance_cmd_is_refused_on_the_free_running_clock(twin: TwinProcess) -> None:
    from tests.twin.ca import CA

    ca = CA()
    try:
        assert ca.string("BT:twin:Clock-RB") == "free"
        with pytest.raises(Exception):  # noqa: B017 - the IOC refuses the put
            ca.put("BT:twin:Advance-Cmd", 1.0, timeout=1.0)
        assert ca.get("BT:twin:Advance-Cmd") == 0.0
    finally:
        ca.close()
