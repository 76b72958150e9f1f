"""Signal backends: where a signal's value lives (Channel Access, or soft in memory)."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np


@dataclass
class Reading:
    """A value with its timestamp and alarm severity."""

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


class Backend(Protocol):
    """The transport behind a ``Signal``."""

    source: str

    async def connect(self, timeout: float) -> None:
        """Connect; raise ``TimeoutError`` naming the source if it does not answer in time."""

    async def get(self) -> Reading:
        """A fresh reading."""

    async def put(self, value: Any, wait: bool, timeout: float | None) -> None:
        """Write ``value``; with ``wait``, return once the write has completed."""

    async def metadata(self) -> Metadata:
        """Type, shape, units, precision and limits."""


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
    """A value held in memory: for unit tests, simulated devices and derived values."""

    def __init__(self, initial: Any = 0.0, *, units: str | None = None, precision: int | None = None,
                 limits: tuple[float, float] | None = None) -> None:
        self.source = f"soft://{id(self):x}"
        self._reading = Reading(initial, time.time())
        self._meta = Metadata(*dtype_of(initial), units=units, precision=precision, limits=limits)

    async def connect(self, timeout: float) -> None:
        return None

    async def get(self) -> Reading:
        return self._reading

    async def put(self, value: Any, wait: bool, timeout: float | None) -> None:
        self._reading = Reading(value, time.time())

    async def metadata(self) -> Metadata:
        return self._meta


_DTYPES = {"DOUBLE": "number", "FLOAT": "number", "LONG": "integer", "INT": "integer",
           "SHORT": "integer", "CHAR": "integer", "STRING": "string", "ENUM": "integer"}


class CABackend:
    """A PV over Channel Access through caproto's asyncio client (one shared context)."""

    _contexts: ClassVar[dict[tuple[int, str, str], Any]] = {}

    def __init__(self, pvname: str) -> None:
        self.pvname = pvname
        self.source = f"ca://{pvname}"
        self._pv: Any = None

    @classmethod
    def context(cls) -> Any:
        """The caproto client context of the running loop and CA environment (made on first use).

        A context is kept per ``EPICS_CA_ADDR_LIST``/``EPICS_CA_SERVER_PORT``, so a process
        that talks to a new twin (another port) gets fresh channels.
        """
        from caproto.asyncio.client import Context

        key = (id(asyncio.get_running_loop()), os.environ.get("EPICS_CA_ADDR_LIST", ""),
               os.environ.get("EPICS_CA_SERVER_PORT", ""))
        ctx = cls._contexts.get(key)
        if ctx is None:
            ctx = cls._contexts[key] = Context()
        return ctx

    async def connect(self, timeout: float) -> None:
        (pv,) = await self.context().get_pvs(self.pvname, timeout=timeout)
        try:
            await pv.wait_for_connection(timeout=timeout)
        except Exception as exc:
            raise TimeoutError(f"PV {self.pvname} did not connect within {timeout} s") from exc
        self._pv = pv

    def _connected(self) -> Any:
        if self._pv is None:
            raise RuntimeError(f"PV {self.pvname} is not connected; call connect() first")
        return self._pv

    async def get(self) -> Reading:
        resp = await self._connected().read(data_type="time")
        return Reading(_unpack(resp), resp.metadata.timestamp, int(resp.metadata.severity))

    async def put(self, value: Any, wait: bool, timeout: float | None) -> None:
        data = value if isinstance(value, list | tuple | np.ndarray) else [value]
        await self._connected().write(data, wait=wait, timeout=timeout)

    async def metadata(self) -> Metadata:
        pv = self._connected()
        resp = await pv.read(data_type="control")
        md = resp.metadata
        native = pv.channel.native_data_type.name
        dtype = _DTYPES.get(native, "number")
        count = pv.channel.native_data_count
        shape = [count] if count > 1 and dtype != "string" else []
        if shape:
            dtype = "array"
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


def _unpack(resp: Any) -> Any:
    data = resp.data
    if resp.data_type.name.endswith("STRING"):
        first = data[0] if len(data) else b""
        return first.decode() if isinstance(first, bytes) else str(first)
    if len(data) == 1:
        return data[0].item() if hasattr(data[0], "item") else data[0]
    return np.asarray(data)
