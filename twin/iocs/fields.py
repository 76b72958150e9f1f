"""Writing a record's fields from the IOC side, as a record process posts them, and waiting
short wall times without the event loop's timer granularity."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from caproto import ChannelDouble, ChannelInteger, ChannelShort, TimeStamp
from caproto.server.server import PvpropertyDouble

from twin.iocs.lean_ca import publish_now

#: epoll sleeps in whole milliseconds, rounded up: a timer wakes up to this much late.
EPOLL_ROUNDING = 1e-3
#: Wall waits shorter than this yield to the event loop instead of arming a timer, and longer
#: ones arm it ``EPOLL_ROUNDING`` early: the end of a move or a count is seen within a
#: scheduling pass, not up to a millisecond late (at ×500 a millisecond is 6 % of a 17 ms move).
TIMER_GRANULARITY = 2 * EPOLL_ROUNDING

class OwnLimitsDouble(PvpropertyDouble):  # type: ignore[misc]
    """A double whose putter alone judges a value against its control limits (a motor record's VAL
    sets LVIO, an ``ao`` clamps to its drive limits): caproto would refuse it with a CA error that
    its own asyncio client never reports, leaving a put with completion waiting for ever."""

    async def verify_value(self, value: Any) -> Any:
        if self.putter is not None:
            return await self.putter(self, value)
        return value


_NUMERIC = ((ChannelDouble, float), (ChannelInteger, int), (ChannelShort, int))


async def post(pv: Any, value: Any) -> None:
    """Write ``value`` to the field ``pv`` if it changed, as a record posts monitors only for the
    fields a process changed. Skips caproto's verification, which would run the field's putter
    (and reset a record's shared field alarm).

    A scalar number on a plain numeric field takes a short path (value, timestamp, monitors),
    which is what caproto's ``write`` does for it after its general checks, at a fifth of the cost;
    the monitor updates of a scalar double go straight to lean subscribers (``lean_ca.publish_now``)."""
    if pv.value == value:
        return
    if getattr(pv, "field_inst", None) is None and not pv._fill_at_next_write and pv.max_length == 1:
        for kind, cast in _NUMERIC:
            if isinstance(pv, kind) and isinstance(value, int | float):
                pv._data["value"] = cast(value)
                pv._data["timestamp"] = TimeStamp.from_unix_timestamp(time.time())
                if not publish_now(pv):
                    await pv.publish(0)
                return
    await pv.write(value, verify_value=False)


async def wait_wall(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` (wall) for ``event``; True if it was set. Waits below the timer
    granularity only yield once, so the caller re-checks the (simulated) time sooner; longer ones
    may end up to ``EPOLL_ROUNDING`` early (never late by the timer's rounding)."""
    if event.is_set():
        return True
    if seconds < TIMER_GRANULARITY:
        await asyncio.sleep(0)
        return event.is_set()
    try:
        await asyncio.wait_for(event.wait(), seconds - EPOLL_ROUNDING)
        return True
    except TimeoutError:
        return False
