"""Deadlines for puts with completion: no ``set`` or ``trigger`` waits for ever.

A device estimates how long an operation should take from what it knows (a motor: distance /
VELO + acceleration; a scaler: its preset time) plus a margin. When that estimate runs out, the
device may look again with fresh values (``recheck``: someone changed VELO or TP behind its
back) and grant itself one extension; after that the put is abandoned and its status fails with
``PutTimeout`` naming the device, the PV and the value.
"""

from __future__ import annotations

import asyncio
import time
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
    ``ca://BT:m1``) did not finish…")."""
    task = asyncio.ensure_future(operation)
    start = time.monotonic()
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
        limit = timeout
        cause: BaseException | None = None
        if not done and recheck is not None:
            try:
                limit = max(timeout, await recheck())
            except Exception as exc:  # the IOC does not answer reads either: no extension
                cause = exc
            remaining = limit - (time.monotonic() - start)
            if remaining > 0:
                done, _ = await asyncio.wait({task}, timeout=remaining)
        if done:
            return task.result()
        message = (f"{device}: {what} ({pv}) did not finish within {limit:.3g} s; the IOC may have refused "
                   "the put without saying so, stopped answering, or the device is stuck")
        raise PutTimeout(message, device=device, pv=pv, value=value, timeout=limit) from cause
    finally:
        if not task.done():
            task.cancel()
