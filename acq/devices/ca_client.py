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
import time
from typing import Any

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
        while True:
            try:
                bytes_received = await transport.recv()
            except ca.CaprotoNetworkError:
                bytes_received = b""
            self.last_tcp_receipt = time.monotonic()
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

    def _answer(self, command: Any) -> bool:
        """Hand a read or write response to the lean request waiting for it (see ``request``), as
        caproto's command handling does; False if no lean request waits for it."""
        if isinstance(command, ca.EventAddResponse):
            return False
        info = self.ioids.get(command.ioid)
        if info is None or type(info.get("event")) is not _Waiter or command.ioid not in self.circuit._ioids:
            return False
        del self.circuit._ioids[command.ioid], self.ioids[command.ioid]
        deadline = info["deadline"]
        if deadline is not None and time.monotonic() > deadline:
            self.log.warning("Ignoring late response with ioid=%d regarding PV named %s because it arrived %.3f "
                             "seconds after the deadline specified by the timeout.", command.ioid,
                             info["pv"].name, time.monotonic() - deadline)
            return True
        info["response"] = command
        info["event"].set()
        return True

    async def request(self, command: Any, channel: Any) -> None:
        """Send a read or a write with notification on ``channel`` (connected): what caproto's
        ``send`` does for it, without its state machine (the channel's state cannot change) and
        its log records; the response is matched by the ioid recorded here, as caproto records it."""
        if self.dead.is_set():
            raise DeadCircuitError()
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


class CoalescingContext(Context):  # type: ignore[misc]
    """caproto's asyncio client ``Context`` with ``CoalescingCircuitManager`` circuits."""

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


async def read(pv: Any, *, data_type: Any = None, timeout: float | None = None) -> Any:
    """A fresh reading of ``pv`` (``PV.read(data_type=…, timeout=…)``)."""
    cm = _connected(pv)
    if cm is None:
        return await pv.read(data_type=data_type, timeout=timeout)
    ioid = cm._ioid_counter()
    command = pv.channel.read(ioid=ioid, data_type=data_type, data_count=None, notify=True)
    return await _exchange(cm, pv, ioid, command, timeout, "read")


async def write(pv: Any, data: Any, *, wait: bool = True, timeout: float | None = None) -> Any:
    """Write ``data`` to ``pv``; with ``wait``, return the put completion (``PV.write``)."""
    cm = _connected(pv)
    if cm is None:
        return await pv.write(data, wait=wait, timeout=timeout)
    ioid = cm._ioid_counter()
    command = pv.channel.write(data, ioid=ioid, notify=wait, data_type=None, data_count=None)
    if not wait:
        await cm.send(command, extra={"pv": pv.name})
        return None
    return await _exchange(cm, pv, ioid, command, timeout, "write")
