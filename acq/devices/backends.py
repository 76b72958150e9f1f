"""Signal backends: where a signal's value lives (Channel Access, or soft in memory)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol

import numpy as np

#: Seconds a read (or a write without completion) may take before it fails.
DEFAULT_TIMEOUT = 2.0


class DisconnectedError(ConnectionError):
    """A PV's IOC does not answer (it is gone, or never came)."""


class PutTimeout(TimeoutError, ConnectionError):
    """A put with completion did not complete by its deadline (the IOC refused it silently, hangs,
    or the motion never ends). ``device``, ``pv``, ``value`` and ``timeout`` say which.

    It is also a ``ConnectionError``: like an IOC that went away, it suspends a plan while a
    suspender is tripped (a beam dump, a lost IOC) and fails it otherwise.
    """

    def __init__(self, message: str, *, device: str = "", pv: str = "", value: Any = None,
                 timeout: float = 0.0) -> None:
        super().__init__(message)
        self.device, self.pv, self.value, self.timeout = device, pv, value, timeout


@dataclass
class Reading:
    """A value with its timestamp and alarm severity (0 none, 1 minor, 2 major, 3 invalid)."""

    value: Any
    timestamp: float
    severity: int = 0


@dataclass
class Metadata:
    """What the control layer says about a value: type, shape, units, precision, limits."""

    dtype: str
    shape: list[int]
    units: str | None = None
    precision: int | None = None
    limits: tuple[float, float] | None = None
    enum_strings: tuple[str, ...] | None = None


Listener = Callable[[Reading], None]


class Backend(Protocol):
    """The transport behind a ``Signal``."""

    source: str

    @property
    def connected(self) -> bool:
        """Whether the value can be reached right now."""

    async def connect(self, timeout: float) -> None:
        """Connect; raise ``TimeoutError`` naming the source if it does not answer in time."""

    async def get(self) -> Reading:
        """A fresh reading."""

    async def put(self, value: Any, wait: bool, timeout: float | None) -> None:
        """Write ``value``; with ``wait``, return once the write has completed."""

    async def metadata(self, timeout: float | None = None) -> Metadata:
        """Type, shape, units, precision and limits (``timeout``: for a round trip, else the backend's own)."""

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(reading)`` now and on every change (a monitor)."""

    def unsubscribe(self, listener: Listener) -> None:
        """Stop calling ``listener``."""


def dtype_of(value: Any) -> tuple[str, list[int]]:
    """The event-model dtype and shape of a Python or numpy value."""
    if isinstance(value, str):
        return "string", []
    if isinstance(value, bool | np.bool_):
        return "boolean", []
    if isinstance(value, int | np.integer):
        return "integer", []
    if isinstance(value, float | np.floating):
        return "number", []
    arr = np.asarray(value)
    return "array", list(arr.shape)


class SoftBackend:
    """A value held in memory: for unit tests, simulated devices and derived values.

    ``on_put`` (if given) is called with every written value, e.g. to make a soft motor's
    readback follow its setpoint.
    """

    connected = True

    def __init__(self, initial: Any = 0.0, *, units: str | None = None, precision: int | None = None,
                 limits: tuple[float, float] | None = None, source: str | None = None,
                 on_put: Callable[[Any], None] | None = None) -> None:
        self.source = source or f"soft://{id(self):x}"
        self._reading = Reading(initial, time.time())
        self._meta = Metadata(*dtype_of(initial), units=units, precision=precision, limits=limits)
        self._listeners: list[Listener] = []
        self.on_put = on_put

    async def connect(self, timeout: float) -> None:
        return None

    async def get(self) -> Reading:
        return self._reading

    def set_now(self, value: Any, severity: int = 0) -> None:
        """Change the value at once (synchronously) and tell the listeners."""
        self._reading = Reading(value, time.time(), severity)
        for listener in list(self._listeners):
            listener(self._reading)

    async def put(self, value: Any, wait: bool, timeout: float | None) -> None:
        self.set_now(value)
        if self.on_put is not None:
            self.on_put(value)

    async def metadata(self, timeout: float | None = None) -> Metadata:
        return self._meta

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)
        listener(self._reading)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)


_DTYPES = {"DOUBLE": "number", "FLOAT": "number", "LONG": "integer", "INT": "integer",
           "SHORT": "integer", "CHAR": "integer", "STRING": "string", "ENUM": "integer"}


class CABackend:
    """A PV over Channel Access through caproto's asyncio client (one shared context).

    ``string=True`` treats a CHAR waveform as one long string (areaDetector file paths).
    With ``monitor=True`` the PV is monitored from connection on and ``get()`` returns the
    latest update the IOC pushed (no round trip), as ophyd's ``auto_monitor``: for passive
    values (a ring current, a free-running detector), never for a readback that must
    reflect a just-completed put.

    The connection is watched: while the IOC is gone every read and write fails at once
    with ``DisconnectedError`` naming the PV (a write waiting for completion fails when the
    connection drops); caproto searches again in the background, and once the IOC is back
    the same backend works again, monitors included.
    """

    _contexts: ClassVar[dict[tuple[int, str, str], Any]] = {}

    def __init__(self, pvname: str, *, timeout: float = DEFAULT_TIMEOUT, monitor: bool = False,
                 string: bool = False) -> None:
        self.pvname = pvname
        self.monitor = monitor
        self.string = string
        self._fresh = False
        self.source = f"ca://{pvname}"
        self.timeout = timeout
        self._pv: Any = None
        self._up = False
        self._writers: set[asyncio.Task[Any]] = set()
        self._dropped: set[asyncio.Task[Any]] = set()
        self._listeners: list[Listener] = []
        self._sub: Any = None
        self._last: Reading | None = None  # the latest monitor update

    @classmethod
    def context(cls) -> Any:
        """The caproto client context of the running loop and CA environment (made on first use).

        A context is kept per ``EPICS_CA_ADDR_LIST``/``EPICS_CA_SERVER_PORT``, so a process
        that talks to a new twin (another port) gets fresh channels.
        """
        from acq.devices.ca_client import CoalescingContext as Context

        key = (id(asyncio.get_running_loop()), os.environ.get("EPICS_CA_ADDR_LIST", ""),
               os.environ.get("EPICS_CA_SERVER_PORT", ""))
        ctx = cls._contexts.get(key)
        if ctx is None:
            ctx = cls._contexts[key] = Context()
        return ctx

    @property
    def connected(self) -> bool:
        return self._up

    @property
    def circuit(self) -> Any:
        """The CA virtual circuit (one TCP connection to one IOC) this PV uses, or None."""
        return None if self._pv is None else self._pv.circuit_manager

    async def _on_state(self, pv: Any, state: str) -> None:  # caproto runs async callbacks on the loop
        self._up = state == "connected"
        if not self._up:
            self._fresh = False
            for task in self._writers:  # writes waiting for completion will never complete
                self._dropped.add(task)
                task.cancel()

    async def connect(self, timeout: float) -> None:
        if self._pv is not None:
            if not self._up:
                await self._wait_up(timeout)
            return
        pv = await self.context().get_watched_pv(self.pvname, self, timeout)
        self._pv = pv
        await self._wait_up(timeout)
        if self.monitor and self._sub is None:
            self._monitor(pv)

    def _monitor(self, pv: Any) -> None:
        """Subscribe to ``pv``'s time-stamped updates (taken at once by the lean receive path)."""
        from acq.devices import ca_client

        self._sub = pv.subscribe(data_type="time")
        token = self._sub.add_callback(self._on_update)
        ca_client.lean_listen(self._sub, token, self._on_lean_update)

    async def _wait_up(self, timeout: float) -> None:
        try:
            await self._pv.wait_for_connection(timeout=timeout)
        except Exception as exc:
            raise TimeoutError(f"PV {self.pvname} did not connect within {timeout} s") from exc
        self._up = True

    def _ready(self) -> Any:
        if self._pv is None:
            raise RuntimeError(f"PV {self.pvname} is not connected; call connect() first")
        if not self._up:
            raise DisconnectedError(f"PV {self.pvname} is disconnected: its IOC does not answer "
                                    "(it reconnects by itself when the IOC returns)")
        return self._pv

    def _failed(self, action: str, exc: BaseException) -> DisconnectedError:
        return DisconnectedError(f"PV {self.pvname}: {action} failed: {exc}")

    async def get(self) -> Reading:
        from acq.devices import ca_client  # caproto loads only once CA is used

        pv = self._ready()
        if self._fresh and self._last is not None:
            return replace(self._last)
        try:
            resp = await ca_client.read(pv, data_type="time", timeout=self.timeout)
        except (TimeoutError, OSError, ca_client.DeadCircuitError) as exc:
            raise self._failed("read", exc) from exc
        return self._decode(_reading(resp))

    def _decode(self, reading: Reading) -> Reading:
        if self.string and not isinstance(reading.value, str):
            raw = bytes(np.atleast_1d(np.asarray(reading.value, dtype=np.uint8)))
            reading.value = raw.split(b"\0", 1)[0].decode(errors="replace")
        return reading

    async def put(self, value: Any, wait: bool, timeout: float | None) -> None:
        from acq.devices import ca_client

        pv = self._ready()
        if self.string and isinstance(value, str):
            data: Any = np.frombuffer(value.encode() + b"\0", dtype=np.uint8)
        else:
            data = value if isinstance(value, list | tuple | np.ndarray) else [value]
        if not wait:
            await ca_client.write(pv, data, wait=False, timeout=self.timeout)
            return
        circuit = pv.circuit_manager
        task = asyncio.current_task()
        assert task is not None
        self._writers.add(task)
        try:
            await ca_client.write(pv, data, wait=True, timeout=timeout)
        except asyncio.CancelledError:
            if task not in self._dropped:
                raise
            task.uncancel()
            raise self._dropped_while_writing(value) from None
        except Exception as exc:
            if not self._up or (circuit is not None and circuit.dead.is_set()):
                raise self._dropped_while_writing(value) from exc
            if isinstance(exc, TimeoutError) and timeout is not None:
                raise PutTimeout(f"PV {self.pvname}: the put of {value!r} did not complete within {timeout:.3g} s",
                                 pv=self.pvname, value=value, timeout=timeout) from exc
            if isinstance(exc, TimeoutError | OSError):
                raise self._failed(f"write of {value!r}", exc) from exc
            raise
        finally:
            self._writers.discard(task)
            self._dropped.discard(task)

    def _dropped_while_writing(self, value: Any) -> DisconnectedError:
        return DisconnectedError(f"PV {self.pvname}: the connection dropped while writing {value!r} "
                                 "(the IOC is gone; completion unknown)")

    async def metadata(self, timeout: float | None = None) -> Metadata:
        pv = self._ready()
        resp = await pv.read(data_type="control", timeout=self.timeout if timeout is None else timeout)
        md = resp.metadata
        native = pv.channel.native_data_type.name
        dtype = _DTYPES.get(native, "number")
        count = pv.channel.native_data_count
        shape = [count] if count > 1 and dtype != "string" else []
        if shape:
            dtype = "array"
        if self.string:
            dtype, shape = "string", []
        units = getattr(md, "units", None)
        if isinstance(units, bytes):
            units = units.decode()
        lo, hi = getattr(md, "lower_ctrl_limit", 0), getattr(md, "upper_ctrl_limit", 0)
        enums = getattr(md, "enum_strings", None)
        return Metadata(
            dtype=dtype, shape=shape, units=units or None,
            precision=getattr(md, "precision", None),
            limits=(float(lo), float(hi)) if lo != hi else None,
            enum_strings=tuple(s.decode() if isinstance(s, bytes) else s for s in enums) if enums else None,
        )

    async def _on_update(self, sub: Any, resp: Any) -> None:
        self._update(_reading(resp))

    def _on_lean_update(self, value: Any) -> None:
        self._update(Reading(value.value, value.timestamp, value.severity))

    def _update(self, reading: Reading) -> None:
        self._fresh = self.monitor and self._up
        self._last = reading = self._decode(reading)
        for listener in list(self._listeners):
            listener(replace(reading))

    def subscribe(self, listener: Listener) -> None:
        pv = self._ready() if self._pv is None else self._pv
        self._listeners.append(listener)
        if self._sub is None:
            self._monitor(pv)
        elif self._last is not None:
            listener(replace(self._last))

    def unsubscribe(self, listener: Listener) -> None:
        # The CA subscription itself stays (clearing it races with a new subscriber on the
        # same caproto Subscription); with no listener its updates go nowhere.
        if listener in self._listeners:
            self._listeners.remove(listener)


def _reading(resp: Any) -> Reading:
    from acq.devices.ca_client import TimeScalar, response_scalar

    # one number with its time stamp: decoded by the lean receive path, or here from caproto's buffers
    scalar = resp if type(resp) is TimeScalar else response_scalar(resp)
    if scalar is not None:
        return Reading(scalar.value, scalar.timestamp, scalar.severity)
    return Reading(_unpack(resp), resp.metadata.timestamp, int(resp.metadata.severity))


def _unpack(resp: Any) -> Any:
    data = resp.data
    if resp.data_type.name.endswith("STRING"):
        first = data[0] if len(data) else b""
        return first.decode() if isinstance(first, bytes) else str(first)
    if len(data) == 1:
        return data[0].item() if hasattr(data[0], "item") else data[0]
    return np.asarray(data)


class DerivedBackend:
    """A read-only value computed from another backend's (e.g. energy from a Bragg angle)."""

    def __init__(self, source: Backend, forward: Callable[[Any], Any], *, units: str | None = None,
                 precision: int | None = None, name: str = "derived") -> None:
        self.inner = source
        self.forward = forward
        self.source = f"{name}({source.source})"
        self._units = units
        self._precision = precision
        self._wrapped: dict[Listener, Listener] = {}

    @property
    def connected(self) -> bool:
        return self.inner.connected

    async def connect(self, timeout: float) -> None:
        await self.inner.connect(timeout)

    async def get(self) -> Reading:
        r = await self.inner.get()
        return Reading(self.forward(r.value), r.timestamp, r.severity)

    async def put(self, value: Any, wait: bool, timeout: float | None) -> None:
        raise PermissionError(f"{self.source} is derived and read-only")

    async def metadata(self, timeout: float | None = None) -> Metadata:
        r = await self.get()
        return Metadata(*dtype_of(r.value), units=self._units, precision=self._precision)

    def subscribe(self, listener: Listener) -> None:
        def derived(r: Reading) -> None:
            listener(Reading(self.forward(r.value), r.timestamp, r.severity))

        self._wrapped[listener] = derived
        self.inner.subscribe(derived)

    def unsubscribe(self, listener: Listener) -> None:
        derived = self._wrapped.pop(listener, None)
        if derived is not None:
            self.inner.unsubscribe(derived)
