"""The twin's short way through Channel Access for the requests a step scan makes.

A step scan makes, per point, a put with completion to a setpoint, a read of a detector and
gets the readback's monitor update; caproto serves each with its general machinery (a command
queue, the circuit's state machine, a task per write, numpy conversions, a context-wide and a
per-circuit queue for every monitor update). For the simple case — a scalar number channel
(``ChannelDouble``, ``ChannelInteger`` or ``ChannelShort`` with one element, no channel filter)
read or monitored as its native type or that type's ``DBR_TIME_*``, or a double written as
``DBR_DOUBLE`` — this module encodes and decodes the messages with ``struct`` and hands them to
the socket at once; the record logic stays caproto's (``getter``, ``write`` with its ``putter``,
alarms, fields, ``publish``). Anything else takes caproto's path unchanged.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterable
from typing import Any

from caproto import AccessRights, ChannelDouble, ChannelInteger, ChannelShort

HEADER = struct.Struct(">HHHHII")  # command, payload size, data type, data count, parameter 1, parameter 2
DOUBLE = struct.Struct(">d")

EVENT_ADD, READ_NOTIFY, WRITE_NOTIFY = 1, 15, 19
DBR_INT, DBR_LONG, DBR_DOUBLE = 1, 5, 6
DBR_TIME_INT, DBR_TIME_LONG, DBR_TIME_DOUBLE = 15, 19, 20
ECA_NORMAL = 1  # the status code a successful response carries
EXTENDED = 0xFFFF  # a payload size that announces an extended header
#: Payloads by DBR type: a native value padded to 8 bytes; a ``DBR_TIME_*`` is status, severity,
#: seconds, nanoseconds, the RISC pad, the value (as caproto's DBR structures lay them out).
_FORMATS = {DBR_INT: struct.Struct(">h6x"), DBR_LONG: struct.Struct(">i4x"), DBR_DOUBLE: DOUBLE,
            DBR_TIME_INT: struct.Struct(">hhIIxxh"), DBR_TIME_LONG: struct.Struct(">hhIIi"),
            DBR_TIME_DOUBLE: struct.Struct(">hhIIxxxxd")}
_TIME = (DBR_TIME_INT, DBR_TIME_LONG, DBR_TIME_DOUBLE)
#: The data types each kind of channel is served in here: its native type and its DBR_TIME_*.
_KINDS = ((ChannelDouble, (DBR_DOUBLE, DBR_TIME_DOUBLE)), (ChannelInteger, (DBR_LONG, DBR_TIME_LONG)),
          (ChannelShort, (DBR_INT, DBR_TIME_INT)))
_LEAN_TYPES = {"INT": DBR_INT, "LONG": DBR_LONG, "DOUBLE": DBR_DOUBLE, "TIME_INT": DBR_TIME_INT,
               "TIME_LONG": DBR_TIME_LONG, "TIME_DOUBLE": DBR_TIME_DOUBLE}  # subscription data types served here

#: Bytes a circuit's socket may hold unsent before monitor updates take caproto's queue again
#: (which drops the oldest updates for a client that does not keep up).
BACKLOG = 64 * 1024


def plain_filter(channel_filter: Any) -> bool:
    """No channel filter (``PV.{"ts":…}``, deadband, array or sync) on a channel or subscription."""
    return channel_filter.ts is None and channel_filter.dbnd is None and channel_filter.arr is None \
        and channel_filter.sync is None


def lean_types(entry: Any) -> tuple[int, ...]:
    """The data types ``entry`` (a served ``ChannelData``) is served in here: () if none."""
    if entry.max_length == 1:
        for kind, types in _KINDS:
            if isinstance(entry, kind):
                return types
    return ()


def lean_entry(entry: Any) -> bool:
    """Whether ``entry`` (a served ``ChannelData``) is a scalar number this module can serve."""
    return bool(lean_types(entry))


def can(entry: Any, right: AccessRights, circuit: Any) -> bool:
    """Whether the client of ``circuit`` has ``right`` on ``entry`` (caproto answers a refusal)."""
    return right in entry.check_access(circuit.client_hostname, circuit.client_username)


def value_payload(entry: Any, data_type: int) -> bytes:
    """``entry``'s value as a payload of ``data_type`` (one of ``lean_types(entry)``; the alarm is
    the channel's shared alarm, as caproto reports it)."""
    cast = float if data_type in (DBR_DOUBLE, DBR_TIME_DOUBLE) else int
    value = cast(entry._data["value"])
    if data_type not in _TIME:
        return _FORMATS[data_type].pack(value)
    stamp = entry._data["timestamp"]
    alarm = entry.alarm
    return _FORMATS[data_type].pack(int(alarm.status), int(alarm.severity), stamp.secondsSinceEpoch,
                                    stamp.nanoSeconds, value)


def read_response(entry: Any, data_type: int, ioid: int) -> bytes:
    """A ``ReadNotifyResponse`` with ``entry``'s value."""
    payload = value_payload(entry, data_type)
    return HEADER.pack(READ_NOTIFY, len(payload), data_type, 1, ECA_NORMAL, ioid) + payload


def write_response(native_type: int, count: int, ioid: int) -> bytes:
    """A successful ``WriteNotifyResponse``."""
    return HEADER.pack(WRITE_NOTIFY, 0, native_type, count, ECA_NORMAL, ioid)


def _to_subscribers(spec: Any, data_type: int, payload: bytes, subscriptions: Any,
                    messages: list[tuple[Any, bytes]]) -> bool:
    """Add an ``EventAddResponse`` with ``payload`` for every subscription of ``spec`` to
    ``messages``; False (and nothing added) unless all of them may take the lean way."""
    subs = subscriptions.get(spec, ())
    for sub in subs:
        circuit = sub.circuit
        if (int(sub.data_type) != data_type or sub.data_count > 1 or not getattr(circuit, "lean_monitors", False)
                or not circuit.ready_for_monitors() or not plain_filter(sub.channel_filter)):
            return False
    messages.extend((sub.circuit, HEADER.pack(EVENT_ADD, len(payload), data_type, 1, ECA_NORMAL, sub.subscriptionid)
                     + payload) for sub in subs)
    return True


def monitor_messages(update: Any, subscriptions: Any) -> list[tuple[Any, bytes]] | None:
    """``EventAddResponse`` bytes for every subscription ``update`` (caproto's
    ``SubscriptionUpdate`` from ``ChannelData.publish``) goes to, by circuit; None unless every
    one of them is a plain scalar number subscription on a lean circuit that keeps up (then
    caproto's queues carry the whole update, in order)."""
    values, metadata = update.values, update.metadata
    if len(values) != 1:
        return None
    messages: list[tuple[Any, bytes]] = []
    for spec in update.sub_specs:
        data_type = _LEAN_TYPES.get(spec.data_type_name)
        if data_type is None or not plain_filter(spec.channel_filter):
            return None
        payload = (bytes(metadata) if data_type in _TIME else b"") + values.tobytes()
        payload += b"\0" * (-len(payload) % 8)
        if len(payload) != _FORMATS[data_type].size or not _to_subscribers(spec, data_type, payload, subscriptions,
                                                                           messages):
            return None
    return messages


def publish_now(entry: Any) -> bool:
    """Post ``entry``'s current value and alarm to its subscribers at once, as
    ``ChannelData.publish(0)`` would through the queues; False (nothing posted) unless ``entry``
    is a lean scalar number and every subscription to it asks for one of its lean types and may
    take the lean way."""
    types = lean_types(entry)
    if not types:
        return False
    messages: list[tuple[Any, bytes]] = []
    for queue, syncs in entry._queues.items():
        if type(queue) is not MonitorQueue or not queue.empty():
            return False
        for sync, by_type in syncs.items():
            for type_name, specs in by_type.items():
                if not specs:
                    continue
                data_type = _LEAN_TYPES.get(type_name)
                if sync is not None or data_type not in types:
                    return False
                payload = value_payload(entry, data_type)
                for spec in specs:
                    if not plain_filter(spec.channel_filter) or not _to_subscribers(
                            spec, data_type, payload, queue.context.subscriptions, messages):
                        return False
    entry._content.clear()  # caproto's cache of converted values, as its publish clears it
    for circuit, data in messages:
        circuit.queue_out(data)
    return True


class MonitorQueue(asyncio.Queue):  # type: ignore[type-arg]
    """A server context's queue of monitor updates (``ChannelData.publish``), which hands an update
    of plain scalar numbers to the circuits at once when nothing waits before it."""

    def __init__(self, context: Any) -> None:
        super().__init__()
        self.context = context

    async def put(self, item: Any) -> None:
        """Post ``item`` now if it is lean, else queue it for caproto's subscription loop."""
        if item.sub is None and self.empty():
            messages = monitor_messages(item, self.context.subscriptions)
            if messages is not None:
                for circuit, data in messages:
                    circuit.queue_out(data)
                return
        self.put_nowait(item)


def requests(data: bytes) -> Iterable[tuple[int, int, int, int, int, int, int]]:
    """The complete messages at the start of ``data``: (offset of the payload, command, payload
    size, data type, data count, parameter 1, parameter 2); stops at an extended header or an
    incomplete message."""
    offset, end = 0, len(data)
    while offset + 16 <= end:
        command, size, data_type, count, p1, p2 = HEADER.unpack_from(data, offset)
        if size == EXTENDED or offset + 16 + size > end:
            return
        yield offset + 16, command, size, data_type, count, p1, p2
        offset += 16 + size
