"""When an IOC's records have published their initial state: the startup hooks say so.

caproto runs every record's startup hook as a task. Some publish their initial values and
return; others publish and then go on publishing forever (the ring current, a rate, the
simulated time). The IOC answers clients only once every hook has published (``TwinContext``
holds searches until then), so a hook that loops calls :func:`startup_done` before its loop,
and one that returns is done when it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any

_DONE: ContextVar[asyncio.Event | None] = ContextVar("twin_startup_done", default=None)

Hook = Callable[[Any], Coroutine[Any, Any, Any]]


def startup_done() -> None:
    """Called from a startup hook that goes on running: its initial state is published."""
    event = _DONE.get()
    if event is not None:
        event.set()


def tracked(hook: Hook, done: asyncio.Event) -> Hook:
    """``hook`` (a caproto startup method) that sets ``done`` when it calls :func:`startup_done`
    or returns (or fails: a failed hook must not hold the IOC closed forever)."""

    async def run(async_lib: Any) -> Any:
        _DONE.set(done)  # this task's own context: the hook's startup_done() finds it
        try:
            return await hook(async_lib)
        finally:
            done.set()

    return run


async def wait_started(done: dict[str, asyncio.Event], timeout: float) -> list[str]:
    """Wait until every hook in ``done`` has published (at most ``timeout`` s); the names of those
    that have not."""
    pending = [e.wait() for e in done.values() if not e.is_set()]
    if pending:
        try:
            await asyncio.wait_for(asyncio.gather(*pending), timeout)
        except TimeoutError:
            pass
    return sorted(name for name, e in done.items() if not e.is_set())
