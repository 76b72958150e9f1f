"""Concurrent reads on one CA circuit are not held back by Nagle's algorithm.

With Nagle on in the server, the second of two responses written back to back waits for the
client's delayed ACK (40 ms on Linux), so a pair of concurrent reads takes ~44 ms instead of a
few. The twin sets TCP_NODELAY on its circuits; this measures it over real CA."""

from __future__ import annotations

import asyncio
import statistics
import time

from scenarios.twin_process import TwinProcess

PAIRS = 30
DELAYED_ACK_S = 0.040


async def _medians(names: tuple[str, str]) -> tuple[float, float]:
    """(median seconds of a concurrent pair of reads, median seconds of a single read)."""
    from caproto.asyncio.client import Context

    ctx = Context(timeout=5.0)
    try:
        a, b = await ctx.get_pvs(*names, timeout=5.0)
        await a.wait_for_connection()
        await b.wait_for_connection()
        pairs, singles = [], []
        for _ in range(PAIRS):
            t0 = time.perf_counter()
            await asyncio.gather(a.read(timeout=5.0), b.read(timeout=5.0))
            pairs.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            await a.read(timeout=5.0)
            singles.append(time.perf_counter() - t0)
        return statistics.median(pairs), statistics.median(singles)
    finally:
        await ctx.disconnect()


def test_concurrent_reads_on_one_circuit_do_not_wait_for_delayed_ack(twin: TwinProcess) -> None:
    names = ("BT:m1.RBV", "BT:sc1.S2")
    assert all(name in twin.pvs for name in names)
    pair, single = asyncio.run(_medians(names))
    # a pair costs about two single reads; a Nagle stall adds the whole delayed-ACK time on top
    # (the bound scales with the machine's load through ``single`` and stays below that stall)
    assert pair < 2 * single + DELAYED_ACK_S / 2, (
        f"median concurrent pair {pair * 1e3:.1f} ms vs single read {single * 1e3:.1f} ms: "
        "responses wait for the client's delayed ACK (TCP_NODELAY off on the server's circuit?)")
