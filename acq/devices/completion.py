"""Deadlines for puts with completion: no ``set`` or ``trigger`` waits for ever.

A device estimates how long an operation should take from what it knows (a motor: distance /
VELO + acceleration; a scaler: its preset time) plus a margin. When that estimate runs out, the
device may look again with fresh values (``recheck``: someone changed VELO or TP behind its
back) and grant itself one extension; after that the put is abandoned and its status fails with
``PutTimeout`` naming the device, the PV and the value.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from acq.devices.backends import PutTimeout

#: Seconds added to every estimate (ophyd-async adds its DEFAULT_TIMEOUT of 10 s the same way).
DEFAULT_MARGIN = 10.0
#: A deadline is never shorter than this (scheduling, CA round trips, a loaded machine).
MIN_TIMEOUT = 5.0


def deadline(estimate: float, margin: float) -> float:
    """``estimate + margin`` seconds, at least ``MIN_TIMEOUT`` (or ``margin`` if smaller: explicit
    small margins are honoured, e.g. in tests)."""
    return max(estimate + margin, min(MIN_TIMEOUT, margin))


async def complete_within(operation: Awaitable[Any], timeout: float, *, device: str, pv: str, value: Any,
                          what: str, recheck: Callable[[], Awaitable[float]] | None = None) -> Any:
    """Await ``operation`` (a put with completion) for ``timeout`` s; then, with ``recheck``, ask it
    for a fresh total deadline (seconds from the start) and wait until that one; then cancel the
    operation and raise ``PutTimeout`` ("``device``: ``what`` (``pv``, a source such as
    ``ca://BT:m1``) did not finish…").

    The operation runs in the caller's task (no task of its own per put): timers cancel that task
    when the deadline has passed, and the cancellation becomes the ``PutTimeout``."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None, "complete_within runs in a task"
    start = loop.time()
    state: dict[str, Any] = {"limit": timeout, "cause": None, "expired": False, "checking": None}

    def expire() -> None:
        state["expired"] = True
        task.cancel()

    async def look_again() -> None:
        assert recheck is not None
        try:
            state["limit"] = max(timeout, await recheck())
        except Exception as exc:  # the IOC does not answer reads either: no extension
            state["cause"] = exc
        timer[0] = loop.call_later(max(state["limit"] - (loop.time() - start), 0.0), expire)

    def first_deadline() -> None:
        if recheck is None:
            expire()
        else:
            state["checking"] = loop.create_task(look_again())

    timer = [loop.call_later(timeout, first_deadline)]
    try:
        return await operation
    except asyncio.CancelledError:
        if not state["expired"]:
            raise
        task.uncancel()
        message = (f"{device}: {what} ({pv}) did not finish within {state['limit']:.3g} s; the IOC may have "
                   "refused the put without saying so, stopped answering, or the device is stuck")
        raise PutTimeout(message, device=device, pv=pv, value=value, timeout=state["limit"]) from state["cause"]
    finally:
        timer[0].cancel()
        checking = state["checking"]
        if checking is not None and not checking.done():
            checking.cancel()
