"""caproto's asyncio CA server, as the twin serves it: Nagle off, monitors before put completions,
nothing answered before the IOC is ready.

Three departures from caproto's defaults:

- Hooks: ``before_send`` runs before every send to a client (``twin.iocs.cluster``).
- No search reply and no circuit before ``open()``: searches and TCP connections that arrive
  earlier are held (not dropped) and answered once the IOC is ready, so a client that
  reconnects at once after a restart never sees the defaults that autosave is about to
  replace (an EPICS IOC answers only after iocInit, which runs after autosave's pass 0/1).

- TCP_NODELAY on every circuit. caproto makes its listening sockets with protocol 0, so
  asyncio does not set TCP_NODELAY on the connections they accept; then a response written
  right after another waits for the client's delayed ACK (40 ms on Linux), and two concurrent
  reads on one circuit take ~44 ms. Accepted sockets inherit the option from the listener.
- Monitor updates go out as soon as they are queued, and a put completion
  (``WriteNotifyResponse``) is sent only once every update queued before it has been sent.
  caproto holds updates back for ``HIGH_LOAD_TIMEOUT`` (10 ms) to batch them and sends put
  completions at once, so a client could see a move complete before the readbacks of its
  end — an IOC posts a record's monitors before the put callback. Updates still travel in
  batches: whatever has queued up by the time the circuit's sender runs goes out in one send.

And one shortcut, about CPU: a read or a write request on a created channel, and its response,
skip caproto's per-circuit state machine, which would only record (then drop) the request's ioid
— a created channel's state cannot change by a read or a write. Everything else takes caproto's
path.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import caproto as ca
from caproto.asyncio.server import Context, VirtualCircuit
from caproto.server.common import DisconnectedCircuit, LoopExit

#: Scheduler passes a put completion waits at most for queued monitors to go out; each pass
#: lets every ready task run once (a flush takes two or three), so this bound is only reached
#: if a circuit's socket stops draining (a stuck client), when waiting longer would not help.
FLUSH_PASSES = 100


#: Requests (and their responses) that take the short way past the circuit's state machine.
_LEAN_REQUESTS = (ca.ReadNotifyRequest, ca.WriteNotifyRequest)
_LEAN_RESPONSES = (ca.ReadNotifyResponse, ca.WriteNotifyResponse)


class TwinCircuit(VirtualCircuit):  # type: ignore[misc]
    """A circuit whose monitor sender sends what has queued at once and tells when it is idle."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sending = False

    @property
    def idle(self) -> bool:
        """No monitor update is waiting in this circuit or being written to its socket."""
        return not self.sending and self.subscription_queue.empty()

    async def subscription_queue_loop(self) -> None:
        """Send each batch of queued updates as soon as it is there (no batching delay)."""
        self.events_on.set()
        queue: asyncio.Queue[Any] = self.subscription_queue
        while True:
            try:
                refs = [await queue.get()]
            except asyncio.CancelledError:
                break
            self.sending = True
            try:
                while not queue.empty():
                    refs.append(queue.get_nowait())
                # an expired weak reference is an update dropped for a slow client (caproto's
                # backlog quota); a cancelled subscription must get no update after its cancel
                live = {sub.subscriptionid for subs in self.subscriptions.values() for sub in subs}
                commands = [c for c in (ref() for ref in refs) if c is not None and c.subscriptionid in live]
                if commands:
                    await self.send(*commands)
            except DisconnectedCircuit:
                await self._on_disconnect()
                self.circuit.disconnect()
                await self.context.circuit_disconnected(self)
                break
            finally:
                self.sending = False

    async def send(self, *commands: Any) -> None:
        """Send ``commands``; a put completion first lets the queued monitor updates go out."""
        if any(isinstance(c, ca.WriteNotifyResponse) for c in commands):
            await self.context.flush_monitors()
        if self.context.before_send is not None:
            self.context.before_send()
        if len(commands) == 1 and type(commands[0]) in _LEAN_RESPONSES and self.connected:
            command = commands[0]
            if self.circuit._ioids.pop(command.ioid, None) is not None:  # a request taken the short way
                try:
                    await self._send_buffers(bytes(command.header), *(bytes(b) for b in command.buffers))
                except (OSError, ca.CaprotoNetworkError) as ex:
                    raise DisconnectedCircuit(f"Circuit disconnected: {ex}") from ex
                return
        await super().send(*commands)

    async def _command_queue_iteration(self, command: Any) -> Any:
        """caproto's, but a read or write request on a created channel skips the state machine."""
        if type(command) in _LEAN_REQUESTS:
            chan = self.circuit.channels_sid.get(command.sid)
            if chan is not None:
                self.circuit._ioids[command.ioid] = chan  # what the state machine records
                try:
                    return await self._process_command(command)
                except Exception as ex:  # as caproto answers a request that failed
                    if not self.connected:
                        raise LoopExit("Server error after client disconnection") from ex
                    self.log.exception("Server failed to process command (%r): %s", chan.name, command)
                    return [ca.ErrorResponse(command, chan.cid, status=ca.CAStatus.ECA_INTERNAL,
                                             error_message=f"Python exception: {type(ex).__name__} {ex}")]
        return await super()._command_queue_iteration(command)


class TwinContext(Context):  # type: ignore[misc]
    """caproto's asyncio server context with ``TwinCircuit`` circuits and Nagle off."""

    CircuitClass = TwinCircuit

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open = asyncio.Event()
        #: called before anything is sent to a client (a split twin publishes its state changes)
        self.before_send: Callable[[], None] | None = None

    def open(self) -> None:
        """Start answering searches and circuits (those held so far first)."""
        self._open.set()

    @property
    def is_open(self) -> bool:
        """Whether the IOC answers yet."""
        return self._open.is_set()

    async def _broadcaster_recv_datagram(self, bytes_received: bytes, address: Any) -> None:
        """A search (or any datagram) waits until the IOC is open."""
        await self._open.wait()
        await super()._broadcaster_recv_datagram(bytes_received, address)

    async def tcp_handler(self, client: Any, addr: Any) -> None:
        """A circuit is served once the IOC is open."""
        await self._open.wait()
        await super().tcp_handler(client, addr)

    async def server_accept_loop(self, sock: socket.socket) -> None:
        """Listen on ``sock`` with TCP_NODELAY (inherited by the circuits it accepts)."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await super().server_accept_loop(sock)

    def monitors_flushed(self) -> bool:
        """No monitor update waits anywhere: not in the context's queue nor in any circuit."""
        return self.subscription_queue.empty() and all(
            getattr(c, "idle", True) for c in self.circuits)

    async def flush_monitors(self) -> None:
        """Yield to the monitor senders until every update queued so far has been sent."""
        for _ in range(FLUSH_PASSES):
            if self.monitors_flushed():
                return
            await asyncio.sleep(0)
