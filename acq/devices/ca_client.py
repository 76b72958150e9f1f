"""caproto's asyncio CA client context, writing each batch of requests to its socket in one piece.

caproto's client writes a request's header and payload with separate ``write`` calls; with
TCP_NODELAY (asyncio's default) each becomes its own segment, so the IOC wakes twice per put
or read and the client makes two system calls. Joining the buffers halves both; the bytes on
the wire are the same.

Responses take a shorter way to the requests waiting for them, too: caproto's receive loop hands
each decoded command to the circuit's command queue with ``run_coroutine_threadsafe`` (a task and
a wake-up of the loop through its self-pipe), even from the loop's own thread; here a command
received on the loop's thread goes into the queue at once, in the same order (the same for the
circuit's user callbacks: monitors, connection changes).

``read`` and ``write`` are caproto's ``PV.read``/``PV.write`` for a connected channel without the
two tasks each of those starts (``wait_for`` on the channel being ready, ``wait_for`` on the
response's event): the request goes out and a future waits for the response. A channel that is
not connected right now takes caproto's own path, with its waiting and retries."""

from __future__ import annotations

import asyncio
import struct
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import caproto as ca
from caproto.asyncio.client import Context, VirtualCircuitManager
from caproto.asyncio.utils import AsyncioQueue
from caproto.client.common import DeadCircuitError as DeadCircuitError


class LoopQueue(AsyncioQueue):  # type: ignore[misc]
    """caproto's queue, whose ``put`` from the queue's own loop thread is a plain ``put_nowait``."""

    def put(self, value: Any) -> None:
        """Queue ``value`` (at once from the loop's thread; through the loop from any other)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._queue.put_nowait(value)
        else:
            super().put(value)


HEADER = struct.Struct(">HHHHII")  # command, payload size, data type, data count, parameter 1, parameter 2
EVENT_ADD, READ_NOTIFY, WRITE_NOTIFY = 1, 15, 19
DBR_DOUBLE, DBR_TIME_DOUBLE = 6, 20
_TIME_OF = {1: 15, 5: 19, DBR_DOUBLE: DBR_TIME_DOUBLE}  # native INT, LONG, DOUBLE → their DBR_TIME_*
DOUBLE = struct.Struct(">d")
ECA_NORMAL = 1
#: DBR_TIME_* scalars decoded from the raw payload: type id → (payload size, value offset, format)
#: (TIME_SHORT 15, TIME_FLOAT 16, TIME_ENUM 17, TIME_LONG 19, TIME_DOUBLE 20; payloads padded to 8).
TIME_SCALARS = {15: (16, 14, ">h"), 16: (16, 12, ">f"), 17: (16, 14, ">H"), 19: (16, 12, ">i"),
                20: (24, 16, ">d")}
STAMP = struct.Struct(">hhII")  # status, severity, seconds since the EPICS epoch, nanoseconds
EPICS_EPOCH = 631152000  # seconds from the UNIX epoch to the EPICS epoch (1990-01-01)


@dataclass(slots=True)
class TimeScalar:
    """A ``DBR_TIME_*`` scalar as the lean receive path decodes it (what ``_reading`` needs)."""

    value: float | int
    timestamp: float
    severity: int

    @property
    def data(self) -> list[float | int]:
        """The value as caproto's responses give it (a sequence of one)."""
        return [self.value]


def time_scalar(data_type: int, data_count: int, payload: bytes | memoryview, offset: int = 0) -> TimeScalar | None:
    """Decode a ``DBR_TIME_*`` scalar payload starting at ``offset``, or None if it is not one."""
    shape = TIME_SCALARS.get(data_type) if data_count == 1 else None
    if shape is None or len(payload) - offset < shape[0]:
        return None
    return _scalar(shape[2], payload, offset, payload, offset + shape[1])


def response_scalar(resp: Any) -> TimeScalar | None:
    """A caproto response's ``DBR_TIME_*`` scalar, decoded from its buffers (time stamp, value) as
    the lean path decodes a payload (no numpy), or None if it is not one."""
    shape = TIME_SCALARS.get(int(resp.data_type)) if resp.data_count == 1 else None
    return None if shape is None else _scalar(shape[2], resp.buffers[0], 0, resp.buffers[1], 0)


def _scalar(fmt: str, stamp: Any, stamp_at: int, data: Any, data_at: int) -> TimeScalar:
    """The value in ``fmt`` at ``data[data_at:]`` with the time stamp at ``stamp[stamp_at:]``."""
    _status, severity, secs, nsec = STAMP.unpack_from(stamp, stamp_at)
    (value,) = struct.unpack_from(fmt, data, data_at)
    return TimeScalar(value, EPICS_EPOCH + secs + 1.e-6 * int(1.e-3 * nsec), severity)


#: Commands the receive loop handles itself: their handling only records the response and wakes
#: the waiting request (or queues a monitor's callbacks); anything else goes through the queue.
_AT_ONCE = (ca.ReadNotifyResponse, ca.WriteNotifyResponse, ca.EventAddResponse)


class CoalescingCircuitManager(VirtualCircuitManager):  # type: ignore[misc]
    """A circuit manager whose ``send`` writes all buffers of a call at once and whose received
    commands reach its command queue without a detour through the loop's self-pipe."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.command_queue = LoopQueue()
        self.user_callback_executor.callbacks = LoopQueue()  # its loop task has not run yet

    async def _transport_receive_loop(self, transport: Any) -> None:
        """caproto's receive loop, handling responses to reads and writes and monitor updates at once
        when nothing waits in the command queue before them (order kept); the rest is queued."""
        queue = self.command_queue
        if isinstance(getattr(transport, "reader", None), asyncio.StreamReader):
            self._take_at_arrival(transport.reader)
        while True:
            try:
                bytes_received = await transport.recv()
            except ca.CaprotoNetworkError:
                bytes_received = b""
            self.last_tcp_receipt = time.monotonic()
            if bytes_received and not self.circuit._data and queue._queue.empty():
                bytes_received = self._lean(bytes_received)
                if not bytes_received:
                    continue
            commands, _ = self.circuit.recv(bytes_received)
            for command in commands:
                if isinstance(command, _AT_ONCE) and queue._queue.empty():
                    try:
                        if not self._answer(command):
                            await self._process_command(command)  # never waits for these commands
                    except Exception:
                        self.log.exception("Circuit command evaluation failed: %r", command)
                else:
                    queue.put(command)
            if not bytes_received:
                break

    def _take_at_arrival(self, reader: asyncio.StreamReader) -> None:
        """Serve what ``_lean`` takes as the bytes arrive (in the protocol's ``data_received``),
        not one scheduler pass later in this loop; only while nothing waits before them (no bytes
        in the reader or the circuit's buffer, no command queued)."""
        feed = reader.feed_data
        queue = self.command_queue._queue

        def feed_lean(data: bytes) -> None:
            if data and not reader._buffer and not reader._eof and not self.circuit._data and queue.empty():  # type: ignore[attr-defined]
                self.last_tcp_receipt = time.monotonic()
                data = self._lean(data)
                if not data:
                    return
            feed(data)

        reader.feed_data = feed_lean  # type: ignore[method-assign,assignment]

    def _lean(self, data: bytes) -> bytes:
        """Hand the leading responses of ``data`` that a lean request waits for (read and write
        completions, ``DBR_TIME_*`` scalars) and the monitor updates a lean listener takes to them
        at once, decoded with ``struct``; the rest (from the first other message) is returned."""
        offset, end = 0, len(data)
        callbacks = self.user_callback_executor.callbacks._queue
        while offset + 16 <= end:
            command, size, data_type, count, p1, p2 = HEADER.unpack_from(data, offset)
            if size == 0xFFFF or offset + 16 + size > end:
                break
            if command == EVENT_ADD:
                sub = self.subscriptions.get(p2)
                hooks = getattr(sub, "lean_hooks", None)
                if (not hooks or p1 != ECA_NORMAL or not callbacks.empty() or hooks.keys() != sub.callbacks.keys()
                        or (reading := time_scalar(data_type, count, data, offset + 16)) is None):
                    break
                sub.lean_last, sub.most_recent_response = reading, None  # see ``lean_listen``
                for hook in list(hooks.values()):
                    try:
                        hook(reading)
                    except Exception:
                        self.log.exception("Monitor callback failed: %r", hook)
            elif command in (READ_NOTIFY, WRITE_NOTIFY) and p1 == ECA_NORMAL:
                info = self.ioids.get(p2)
                if info is None or type(info.get("event")) is not _Waiter or p2 not in self.circuit._ioids:
                    break
                if command == READ_NOTIFY:
                    reading = time_scalar(data_type, count, data, offset + 16)
                    if reading is None:
                        break
                    self._deliver(p2, info, reading)
                else:
                    self._deliver(p2, info, True)
            else:
                break
            offset += 16 + size
        return data[offset:]

    def _deliver(self, ioid: int, info: dict[str, Any], response: Any) -> None:
        """Record ``response`` for the lean request waiting with ``ioid`` and wake it."""
        del self.circuit._ioids[ioid], self.ioids[ioid]
        deadline = info["deadline"]
        if deadline is not None and time.monotonic() > deadline:
            self.log.warning("Ignoring late response with ioid=%d regarding PV named %s because it arrived %.3f "
                             "seconds after the deadline specified by the timeout.", ioid,
                             info["pv"].name, time.monotonic() - deadline)
            return
        info["response"] = response
        info["event"].set()

    def _answer(self, command: Any) -> bool:
        """Hand a read or write response to the lean request waiting for it (see ``request``), as
        caproto's command handling does; False if no lean request waits for it."""
        if isinstance(command, ca.EventAddResponse):
            return False
        info = self.ioids.get(command.ioid)
        if info is None or type(info.get("event")) is not _Waiter or command.ioid not in self.circuit._ioids:
            return False
        self._deliver(command.ioid, info, command)
        return True

    async def request(self, command: Any, channel: Any) -> None:
        """Send a read or a write with notification (a caproto command, or its bytes) on ``channel``
        (connected): what caproto's
        ``send`` does for it, without its state machine (the channel's state cannot change) and
        its log records; the response is matched by the ioid recorded here, as caproto records it."""
        if self.dead.is_set():
            raise DeadCircuitError()
        if isinstance(command, bytes):  # encoded here (see ``_lean_request``)
            self.circuit._ioids[HEADER.unpack_from(command)[5]] = channel
            data = command
        else:
            self.circuit._ioids[command.ioid] = channel
            data = b"".join((bytes(command.header), *(bytes(b) for b in command.buffers)))
        async with self._send_lock:
            self.transport.writer.write(data)
            await self.transport.writer.drain()

    async def send(self, *commands: Any, extra: Any = None) -> None:
        """Send ``commands`` (queued until the circuit connects, as caproto does)."""
        if self.dead.is_set():
            raise DeadCircuitError()
        if self.transport is None:
            self._send_on_connection.append((commands, extra))
            return
        buffers = self.circuit.send(*commands, extra=extra)
        async with self._send_lock:
            self.transport.writer.write(b"".join(bytes(b) for b in buffers))
            await self.transport.writer.drain()


class StateWatcher(Protocol):
    """What ``CoalescingContext.get_watched_pv`` tells of a PV's connection changes."""

    def _on_state(self, pv: Any, state: str) -> Awaitable[None]: ...


class CoalescingContext(Context):  # type: ignore[misc]
    """caproto's asyncio client ``Context`` with ``CoalescingCircuitManager`` circuits.

    Connection changes reach watchers through one callback per PV that the context owns. caproto
    holds each connection callback by a weak reference whose finaliser removes it from the PV's
    callback dict; when a watcher dies in the garbage collector while caproto copies that dict (the
    copy allocates, and may start a collection), the removal changes the dict under the copy and
    caproto's connect raises "dictionary changed size during iteration". The context lives as long
    as its loop, so its callback is never removed; the watchers are kept in a ``WeakSet``, which
    defers removals during iteration.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watchers: dict[tuple[str, int], weakref.WeakSet[StateWatcher]] = {}

    async def get_watched_pv(self, name: str, watcher: StateWatcher, timeout: float) -> Any:
        """caproto's PV ``name`` (made and searched for if new); ``watcher._on_state(pv, state)`` is
        awaited on each of its connection changes from now on, for as long as ``watcher`` lives."""
        key = (name, 0)
        watchers = self._watchers.get(key)
        if watchers is None:
            watchers = self._watchers[key] = weakref.WeakSet()
            (pv,) = await self.get_pvs(name, timeout=timeout, connection_state_callback=self._dispatch_state)
        else:
            (pv,) = await self.get_pvs(name, timeout=timeout)
        watchers.add(watcher)
        return pv

    async def _dispatch_state(self, pv: Any, state: str) -> None:
        for watcher in list(self._watchers.get((pv.name, pv.priority), ())):
            await watcher._on_state(pv, state)

    def get_circuit_manager(self, address: Any, priority: int) -> Any:
        """The circuit manager for ``(address, priority)``, made if needed (as caproto does)."""
        with self._lock_during_get_circuit_manager:
            cm = self.circuit_managers.get((address, priority), None)
            if cm is None or cm.dead.is_set():
                version = self.broadcaster.server_protocol_versions[address]
                circuit = ca.VirtualCircuit(our_role=ca.CLIENT, address=address, priority=priority,
                                            protocol_version=version)
                cm = CoalescingCircuitManager(self, circuit)
                self.circuit_managers[(address, priority)] = cm
            return cm


class _Waiter:
    """Stands in for the ``asyncio.Event`` caproto sets when a response (or the circuit's end) comes."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future

    def set(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


def _connected(pv: Any) -> Any:
    """The circuit manager of ``pv`` if its channel is ready to use right now, else None."""
    cm = pv.circuit_manager
    if (pv._idle or not isinstance(cm, CoalescingCircuitManager) or cm.dead.is_set()
            or not pv.channel_ready.is_set() or pv.channel is None):
        return None
    return cm


async def _exchange(cm: Any, pv: Any, ioid: int, command: Any, timeout: float | None, what: str) -> Any:
    """Send ``command`` and wait for the response with ``ioid`` (as caproto does, with one future)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    info = {"event": _Waiter(future), "pv": pv, "request": command,
            "deadline": None if timeout is None else time.monotonic() + timeout}
    cm.ioids[ioid] = info  # kept after a timeout: caproto recognises a late response by it and drops it
    await cm.request(command, pv.channel)
    if timeout is None:
        await future
    else:
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            host, port = cm.circuit.address
            raise ca.CaprotoTimeoutError(f"Server at {host}:{port} did not respond to the {what} of "
                                         f"{pv.name!r} within {float(timeout):.3} s") from None
    if "response" not in info:  # the circuit died while we waited
        raise DeadCircuitError()
    return info["response"]


def read_request(chan: Any, data_type: Any, ioid: int) -> Any:
    """A ``ReadNotifyRequest`` on ``chan``: its bytes for a scalar DOUBLE, LONG or INT read as
    "time" (what caproto's ``chan.read(...)`` encodes), else caproto's command."""
    time_type = _TIME_OF.get(int(chan.native_data_type)) if chan.native_data_count == 1 else None
    if data_type == "time" and time_type is not None:
        return HEADER.pack(READ_NOTIFY, 0, time_type, 0 if chan.protocol_version >= 13 else 1, chan.sid, ioid)
    return chan.read(ioid=ioid, data_type=data_type, data_count=None, notify=True)


def write_request(chan: Any, data: Any, ioid: int) -> bytes | None:
    """A ``WriteNotifyRequest`` of one number to a scalar double channel as bytes (what caproto's
    ``chan.write(...)`` encodes), or None for anything else."""
    if (chan.native_data_type == DBR_DOUBLE and chan.native_data_count == 1 and isinstance(data, list | tuple)
            and len(data) == 1 and type(data[0]) in (float, int)):
        return HEADER.pack(WRITE_NOTIFY, 8, DBR_DOUBLE, 1, chan.sid, ioid) + DOUBLE.pack(data[0])
    return None


async def read(pv: Any, *, data_type: Any = None, timeout: float | None = None) -> Any:
    """A fresh reading of ``pv`` (``PV.read(data_type=…, timeout=…)``)."""
    cm = _connected(pv)
    if cm is None:
        return await pv.read(data_type=data_type, timeout=timeout)
    ioid = cm._ioid_counter()
    command = read_request(pv.channel, data_type, ioid)
    return await _exchange(cm, pv, ioid, command, timeout, "read")


async def write(pv: Any, data: Any, *, wait: bool = True, timeout: float | None = None) -> Any:
    """Write ``data`` to ``pv``; with ``wait``, return the put completion (``PV.write``)."""
    cm = _connected(pv)
    if cm is None:
        return await pv.write(data, wait=wait, timeout=timeout)
    ioid = cm._ioid_counter()
    command = write_request(pv.channel, data, ioid) if wait else None
    if command is None:
        command = pv.channel.write(data, ioid=ioid, notify=wait, data_type=None, data_count=None)
    if not wait:
        await cm.send(command, extra={"pv": pv.name})
        return None
    return await _exchange(cm, pv, ioid, command, timeout, "write")


def lean_listen(sub: Any, token: Any, hook: Callable[[TimeScalar], None]) -> None:
    """Let the receive loop call ``hook`` with each ``DBR_TIME_*`` scalar update of the caproto
    subscription ``sub`` at once, instead of caproto's callback ``token`` (added by the caller with
    the same effect): used while every callback of ``sub`` has such a hook. ``hook`` gets the
    subscription's latest update now if the lean path took it."""
    hooks = sub.__dict__.setdefault("lean_hooks", {})
    hooks[token] = hook
    # A callback added to a subscription that is already running gets its latest update at once:
    # caproto sends its ``most_recent_response``, which the lean path sets to None when it takes an
    # update (it has no caproto response), keeping the update as ``lean_last`` for this.
    last = sub.__dict__.get("lean_last")
    if last is not None and sub.most_recent_response is None:
        hook(last)
