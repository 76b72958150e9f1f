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

And two shortcuts, about CPU:

- A read or a write request on a created channel, and its response, skip caproto's per-circuit
  state machine, which would only record (then drop) the request's ioid — a created channel's
  state cannot change by a read or a write.
- Scalar numbers take ``twin.iocs.lean_ca``'s short way: reads (native or ``DBR_TIME_*``) and, for
  doubles, writes with completion as ``DBR_DOUBLE`` are decoded and answered by the circuit's receive loop
  (no command queue), and their monitor updates go straight to the circuits' sockets (no
  context and circuit queues). Bytes bound for one circuit within one scheduler pass leave in
  one send, so a put completion travels with the monitor updates its put caused, after them.

Everything else takes caproto's path.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import caproto as ca
from caproto.asyncio.server import Context, VirtualCircuit
from caproto.server.common import DisconnectedCircuit, LoopExit

from twin.iocs import lean_ca
from twin.iocs.startup import tracked, wait_started

#: Scheduler passes a put completion waits at most for queued monitors to go out; each pass
#: lets every ready task run once (a flush takes two or three), so this bound is only reached
#: if a circuit's socket stops draining (a stuck client), when waiting longer would not help.
FLUSH_PASSES = 100


#: Requests (and their responses) that take the short way past the circuit's state machine.
_LEAN_REQUESTS = (ca.ReadNotifyRequest, ca.WriteNotifyRequest)
_LEAN_RESPONSES = (ca.ReadNotifyResponse, ca.WriteNotifyResponse)


class TwinCircuit(VirtualCircuit):  # type: ignore[misc]
    """A circuit whose monitor sender sends what has queued at once and tells when it is idle."""

    #: reads and writes of scalar doubles are served by the receive loop (``lean_ca``)
    lean_requests = True
    #: monitor updates of plain scalar doubles may go straight to this circuit's socket
    lean_monitors = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sending = False
        self._out: list[bytes] = []  # lean messages waiting for the end of this scheduler pass
        self._lean: dict[int, tuple[Any, Any]] = {}  # sid → (channel, its ChannelData if lean, else None)

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

    def ready_for_monitors(self) -> bool:
        """Whether a monitor update may go to the socket at once: events on, no update waiting in
        caproto's queue (order), and the client keeps up (else caproto's queue drops old ones)."""
        return (self.connected and self.events_on.is_set() and self.idle
                and self.client.writer.transport.get_write_buffer_size() < lean_ca.BACKLOG)

    def queue_out(self, data: bytes) -> None:
        """Send ``data`` at the end of this scheduler pass, with whatever else is bound here by then."""
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush_out)
        self._out.append(data)

    def _flush_out(self, *more: bytes) -> None:
        data = b"".join((*self._out, *more))
        self._out.clear()
        if data and self.connected:
            if self.context.before_send is not None:
                self.context.before_send()
            self.client.writer.write(data)

    async def _send_buffers(self, *buffers: Any) -> None:
        """Send ``buffers`` after the lean messages waiting (one stream, in order)."""
        if self._out:
            self._flush_out()
        await super()._send_buffers(*buffers)

    async def recv(self) -> None:
        """caproto's receive step, serving the leading lean requests of what arrived at once."""
        try:
            data = await self.client.recv(4096)
        except OSError:
            data = b""
        if data and self.lean_requests and self.connected and self.command_queue.empty():
            if self.circuit._data:  # the start of a message that caproto kept (e.g. a header sent alone)
                data, self.circuit._data = bytes(self.circuit._data) + data, bytearray()
            data = await self._serve_lean(data)
            if not data:
                return
        commands, _ = self.circuit.recv(data)
        for c in commands:
            try:
                self.command_queue.put_nowait(c)
            except asyncio.QueueFull:  # as caproto: a client we cannot keep up with is disconnected
                self.log.warning("Circuit %r has a large backlog of received commands; disconnecting it", self)
                await self._on_disconnect()
                raise DisconnectedCircuit() from None
        if not data:
            await self._on_disconnect()
            raise DisconnectedCircuit()

    async def _serve_lean(self, data: bytes) -> bytes:
        """Serve the lean requests at the start of ``data``; the rest (from the first other
        message, or an incomplete one) is returned for caproto."""
        done = 0
        for start, command, size, data_type, count, sid, ioid in lean_ca.requests(data):
            if command == lean_ca.READ_NOTIFY:
                served = await self._lean_read(data_type, count, sid, ioid)
            elif command == lean_ca.WRITE_NOTIFY:
                served = self._lean_write(data, start, size, data_type, count, sid, ioid)
            else:
                served = False
            if not served:
                break
            done = start + size
        return data[done:]

    def _lean_channel(self, sid: int) -> tuple[Any, Any]:
        """The channel ``sid`` and its ChannelData if lean (else None for either)."""
        chan = self.circuit.channels_sid.get(sid)
        if chan is None:
            return None, None
        hit = self._lean.get(sid)
        if hit is None or hit[0] is not chan:
            entry = None
            if lean_ca.plain_filter(chan.channel_filter) and not chan.name.endswith("$"):
                entry = self.context[chan.name]
                entry = entry if lean_ca.lean_entry(entry) else None
            hit = self._lean[sid] = (chan, entry)
        return hit

    def _lean_served(self, sid: int, data_type: int, right: Any) -> tuple[Any, Any]:
        """The channel ``sid`` and its ChannelData if the short way may serve ``data_type`` with the
        access ``right`` on it now (else None for the ChannelData)."""
        chan, entry = self._lean_channel(sid)
        if (entry is None or data_type not in lean_ca.lean_types(entry) or entry._fill_at_next_write
                or not lean_ca.can(entry, right, self)):
            return chan, None
        return chan, entry

    async def _lean_read(self, data_type: int, count: int, sid: int, ioid: int) -> bool:
        if count > 1 or not self.write_event.is_set():
            return False
        chan, entry = self._lean_served(sid, data_type, ca.AccessRights.READ)
        if entry is None:
            return False
        try:
            if entry.getter is not None:  # as caproto's pvproperty read: the getter, then the value
                value = await entry.getter(entry)
                if value is not None:
                    await entry.write(value)
            response = lean_ca.read_response(entry, data_type, ioid)
        except Exception as ex:
            self.log.exception("Server failed to process command (%r): read", chan.name)
            await self.send(ca.ErrorResponse(ca.ReadNotifyRequest(data_type, count, sid, ioid), chan.cid,
                                             status=ca.CAStatus.ECA_INTERNAL,
                                             error_message=f"Python exception: {type(ex).__name__} {ex}"))
            return True
        self._flush_out(response)
        return True

    def _lean_write(self, data: bytes, start: int, size: int, data_type: int, count: int, sid: int,
                    ioid: int) -> bool:
        if data_type != lean_ca.DBR_DOUBLE or count != 1 or size < 8:
            return False
        chan, entry = self._lean_served(sid, lean_ca.DBR_DOUBLE, ca.AccessRights.WRITE)
        if entry is None:
            return False
        (value,) = lean_ca.DOUBLE.unpack_from(data, start)
        self.write_event.clear()  # as caproto: reads wait (briefly) for a write under way
        self.tasks.create(self._lean_put(chan, entry, value, sid, ioid))
        return True

    async def _lean_put(self, chan: Any, entry: Any, value: float, sid: int, ioid: int) -> None:
        """caproto's write with completion: write (putter, fields, monitors), then the completion
        once the monitor updates queued before it have gone out."""
        try:
            await entry.write(value)
        except Exception as ex:
            self.log.exception("Invalid write request by %s (%s): %r", self.client_username,
                               self.client_hostname, value)
            request = ca.WriteNotifyRequest([value], ca.ChannelType.DOUBLE, 1, sid, ioid)
            await self.send(ca.ErrorResponse(request, chan.cid, status=ca.CAStatus.ECA_PUTFAIL,
                                             error_message=f"Python exception: {type(ex).__name__} {ex}"))
        else:
            await self.context.flush_monitors()
            self._flush_out(lean_ca.write_response(int(chan.native_data_type), entry.length, ioid))
        finally:
            self.write_event.set()

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
        self.subscription_queue = lean_ca.MonitorQueue(self)
        self._open = asyncio.Event()
        #: called before anything is sent to a client (a split twin publishes its state changes)
        self.before_send: Callable[[], None] | None = None
        self._started: dict[str, asyncio.Event] = {}

    @property
    def startup_methods(self) -> dict[str, Any]:
        """caproto's startup hooks, each telling :meth:`started` when its initial state is out
        (``twin.iocs.startup``); periodic scan hooks publish nothing first."""
        hooks: dict[str, Any] = super().startup_methods
        out = {}
        for name, hook in hooks.items():
            if name.endswith(".server_scan"):
                out[name] = hook
                continue
            done = self._started.setdefault(name, asyncio.Event())
            out[name] = tracked(hook, done)
        return out

    async def started(self, timeout: float) -> list[str]:
        """Wait until every record's startup hook has published its initial state (at most
        ``timeout`` s); the hooks that have not."""
        return await wait_started(self._started, timeout)

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
