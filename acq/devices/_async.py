"""Run device coroutines on the shared loop, whichever loop or thread calls them."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from acq.engine.status import Status
from acq.loop import get_loop, in_loop_thread

P = ParamSpec("P")
T = TypeVar("T")


def on_shared_loop(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Make an async device method usable from any loop (e.g. Bluesky's RunEngine's own).

    Channel Access objects belong to the shared loop; a call from another loop hops there
    and back. From the shared loop it costs one extra frame.
    """

    @functools.wraps(fn)
    async def inner(*args: P.args, **kwargs: P.kwargs) -> T:
        loop = get_loop()
        if in_loop_thread():
            return await fn(*args, **kwargs)
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), loop))

    return inner


def status_of(awaitable: Awaitable[Any], name: str) -> Status:
    """A ``Status`` for ``awaitable``, created safely from any thread."""
    loop = get_loop()
    if in_loop_thread():
        return Status(awaitable, name=name)

    async def make() -> Status:
        return Status(awaitable, name=name)

    return asyncio.run_coroutine_threadsafe(make(), loop).result()


def finished(name: str) -> Status:
    """A status that is already done and successful."""

    async def nothing() -> None:
        return None

    return status_of(nothing(), name)


def call_on_loop(fn: Callable[[], T]) -> T:
    """Call the plain function ``fn`` in the shared loop's thread (at once if already there)."""
    loop = get_loop()
    if in_loop_thread():
        return fn()

    async def call() -> T:
        return fn()

    return asyncio.run_coroutine_threadsafe(call(), loop).result()
