"""caproto's asyncio CA client context, writing each batch of requests to its socket in one piece.

caproto's client writes a request's header and payload with separate ``write`` calls; with
TCP_NODELAY (asyncio's default) each becomes its own segment, so the IOC wakes twice per put
or read and the client makes two system calls. Joining the buffers halves both; the bytes on
the wire are the same."""

from __future__ import annotations

from typing import Any

import caproto as ca
from caproto.asyncio.client import Context, VirtualCircuitManager
from caproto.client.common import DeadCircuitError


class CoalescingCircuitManager(VirtualCircuitManager):  # type: ignore[misc]
    """A circuit manager whose ``send`` writes all buffers of a call at once."""

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
