"""caproto's asyncio CA client context, writing each batch of requests to its socket in one piece.

caproto's client writes a request's header and payload with separate ``write`` calls; with
TCP_NODELAY (asyncio's default) each becomes its own segment, so the IOC wakes twice per put
or read and the client makes two system calls. Joining the buffers halves both; the bytes on
the wire are the same.

Responses take a shorter way to the requests waiting for them, too: caproto's receive loop hands
each decoded command to the circuit's command queue with ``run_coroutine_threadsafe`` (a task and
a wake-up of the loop through its self-pipe), even from the loop's own thread; here a command
received on the loop's thread goes into the queue at once, in the same order."""

from __future__ import annotations

import asyncio
from typing import Any

import caproto as ca
from caproto.asyncio.client import Context, VirtualCircuitManager
from caproto.asyncio.utils import AsyncioQueue
from caproto.client.common import DeadCircuitError


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


class CoalescingCircuitManager(VirtualCircuitManager):  # type: ignore[misc]
    """A circuit manager whose ``send`` writes all buffers of a call at once and whose received
    commands reach its command queue without a detour through the loop's self-pipe."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.command_queue = LoopQueue()

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
