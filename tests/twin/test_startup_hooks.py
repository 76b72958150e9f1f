"""An IOC opens once its records' startup hooks have published their initial state, however long
that takes, and not a fixed time after start (``twin.iocs.startup``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from caproto.server import PVGroup, pvproperty

from scenarios.twin_process import free_port
from twin.iocs.ca_server import TwinContext
from twin.iocs.startup import startup_done, tracked, wait_started

SLOW = 0.6  # longer than the fixed 0.2 s hold this replaced


class Slow(PVGroup):  # type: ignore[misc]
    """A value published late by a hook that then goes on publishing, and one set by a hook that returns."""

    level = pvproperty(value=0.0, name="level")
    units = pvproperty(value=0, name="units")

    @level.startup
    async def level(self, instance: Any, async_lib: Any) -> None:
        await asyncio.sleep(SLOW)
        await instance.write(42.0)
        startup_done()
        while True:
            await asyncio.sleep(0.05)
            await instance.write(43.0)

    @units.startup
    async def units(self, instance: Any, async_lib: Any) -> None:
        await asyncio.sleep(SLOW / 2)
        await instance.write(7)


def test_the_ioc_opens_after_every_startup_hook_has_published(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPICS_CA_SERVER_PORT", str(free_port()))
    monkeypatch.setenv("EPICS_CA_REPEATER_PORT", str(free_port()))
    group = Slow(prefix="T:")
    seen: dict[str, Any] = {}

    async def main() -> None:
        ctx = TwinContext(group.pvdb, ["127.0.0.1"])
        t0 = time.monotonic()

        async def announce(async_lib: Any) -> None:
            seen["late"] = await ctx.started(10.0)
            seen["after"] = time.monotonic() - t0
            seen["level"], seen["units"] = group.level.value, group.units.value
            ctx.open()

        server = asyncio.create_task(ctx.run(startup_hook=announce))
        while "after" not in seen and not server.done():
            await asyncio.sleep(0.02)
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)

    asyncio.run(main())
    assert seen["late"] == []
    assert seen["after"] >= SLOW
    assert seen["after"] < SLOW + 5.0  # the looping hook said it was done: no waiting for a timeout
    assert (seen["level"], seen["units"]) == (42.0, 7)


def test_a_hook_that_never_says_is_named_and_a_failed_one_does_not_hold_the_ioc() -> None:
    async def main() -> list[str]:
        done = {name: asyncio.Event() for name in ("silent", "failed", "returns")}

        async def silent(async_lib: Any) -> None:
            await asyncio.sleep(60)

        async def failed(async_lib: Any) -> None:
            raise RuntimeError("broken record")

        async def returns(async_lib: Any) -> None:
            await asyncio.sleep(0.01)

        tasks = [asyncio.create_task(tracked(h, done[h.__name__])(None)) for h in (silent, failed, returns)]
        late = await wait_started(done, timeout=0.3)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return late

    assert asyncio.run(main()) == ["silent"]
