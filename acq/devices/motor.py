"""The motor record as a device: set with put-completion, limits checked before moving."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from acq.devices._async import on_shared_loop, status_of
from acq.devices.backends import Backend, CABackend, SoftBackend
from acq.devices.device import Device, Signal
from acq.engine.status import Status

BackendFactory = Callable[[str], Backend]


class LimitError(ValueError):
    """A requested position lies outside a motor's soft limits."""


def check_position(name: str, value: Any, limits: tuple[float, float] | None) -> None:
    """Raise naming ``name`` if ``value`` is not a number (``TypeError``), is NaN (``ValueError``) or
    lies outside ``limits`` (``LimitError``; None or (0, 0): no limits, as in the motor record)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: position {value!r} is not a number") from None
    if v != v:
        raise ValueError(f"{name}: position is NaN")
    if limits is None or limits[0] == limits[1] == 0.0:
        return
    low, high = limits
    if not low <= v <= high:
        raise LimitError(f"{name}: position {value} is outside the limits [{low}, {high}]")


class Motor(Device):
    """An EPICS motor record at ``prefix``: reads as its readback, moves with put-completion.

    ``put_completion=False`` falls back to watching DMOV (done moving) after a plain put,
    for IOCs whose motor record does not complete puts. ``backend`` makes the backend of
    each field from its PV name (Channel Access by default; see ``soft_motor``).
    """

    _named_as_parent = ("readback",)

    def __init__(self, prefix: str, name: str = "", *, put_completion: bool = True,
                 backend: BackendFactory = CABackend) -> None:
        self.prefix = prefix
        self.put_completion = put_completion
        self.readback = Signal(backend(f"{prefix}.RBV"), kind="hinted", read_only=True)
        self.setpoint = Signal(backend(prefix), kind="normal")
        self.velocity = Signal(backend(f"{prefix}.VELO"), kind="config")
        self.acceleration_time = Signal(backend(f"{prefix}.ACCL"), kind="config")
        self.high_limit = Signal(backend(f"{prefix}.HLM"), kind="config")
        self.low_limit = Signal(backend(f"{prefix}.LLM"), kind="config")
        self.retry_deadband = Signal(backend(f"{prefix}.RDBD"), kind="config")
        self.units = Signal(backend(f"{prefix}.EGU"), kind="omitted")
        self.done_moving = Signal(backend(f"{prefix}.DMOV"), kind="omitted", read_only=True)
        self.motor_stop = Signal(backend(f"{prefix}.STOP"), kind="omitted")
        self.limit_violation = Signal(backend(f"{prefix}.LVIO"), kind="omitted", read_only=True)
        super().__init__(name=name)
        self._limits: tuple[float, float] = (0.0, 0.0)
        self.set_name(name)

    @on_shared_loop
    async def connect(self, timeout: float = 5.0) -> None:
        """Connect every field and cache the soft limits."""
        await super().connect(timeout)
        await self.refresh_limits()

    @on_shared_loop
    async def refresh_limits(self) -> tuple[float, float]:
        """Read LLM/HLM again (they may change at any time on the IOC)."""
        low, high = await asyncio.gather(self.low_limit.get_value(), self.high_limit.get_value())
        self._limits = (float(low), float(high))
        return self._limits

    @property
    def limits(self) -> tuple[float, float]:
        """(low, high) soft limits; (0, 0) means none, as in the motor record."""
        return self._limits

    def check_value(self, value: float) -> None:
        """Raise ``LimitError`` naming the motor if ``value`` lies outside its limits."""
        check_position(self.name, value, self._limits)

    def set(self, value: float, timeout: float | None = None) -> Status:
        """Move to ``value``; the status finishes when the motor record's put completes."""
        self.check_value(value)
        return status_of(self._move(float(value), timeout), f"move {self.name}")

    async def _move(self, value: float, timeout: float | None) -> None:
        if self.put_completion:
            await self.setpoint.put(value, wait=True, timeout=timeout)
        else:
            await self._move_by_dmov(value, timeout)
        if await self.limit_violation.get_value():
            raise LimitError(f"{self.name}: the IOC refused {value} (LVIO): limits are {await self.refresh_limits()}")

    async def _move_by_dmov(self, value: float, timeout: float | None) -> None:
        """Put without completion, then wait for DMOV to drop (or the move to be tiny) and rise."""
        await self.setpoint.put(value, wait=False)
        deadline = None if timeout is None else time.monotonic() + timeout
        started = False
        t0 = time.monotonic()
        while True:
            done = int(await self.done_moving.get_value())
            if not done:
                started = True
            elif started or time.monotonic() - t0 > 0.05:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: the move to {value} did not finish within {timeout} s")
            await asyncio.sleep(0.005)

    @on_shared_loop
    async def stop(self, *, success: bool = False) -> None:
        """Halt the motion at once."""
        await self.motor_stop.put(1, wait=False)

    @on_shared_loop
    async def locate(self) -> dict[str, Any]:
        """``{'setpoint', 'readback'}`` as Bluesky's Locatable protocol says."""
        sp, rb = await asyncio.gather(self.setpoint.get_value(), self.readback.get_value())
        return {"setpoint": sp, "readback": rb}

    @property
    def position(self) -> float:
        """The readback, read now (blocking; for scripts and ophyd-style plans)."""
        from acq.loop import call_in_loop

        return float(call_in_loop(self.readback.get_value()))


def soft_motor(name: str, position: float = 0.0, *, limits: tuple[float, float] = (0.0, 0.0),
               velocity: float = 1.0, acceleration_time: float = 0.0, egu: str = "mm") -> Motor:
    """A motor over soft in-memory fields whose readback follows its setpoint at once."""
    values: dict[str, Any] = {"": position, ".RBV": position, ".VELO": velocity, ".ACCL": acceleration_time,
                              ".HLM": limits[1], ".LLM": limits[0], ".RDBD": 0.0, ".EGU": egu,
                              ".DMOV": 1, ".STOP": 0, ".LVIO": 0}
    made: dict[str, SoftBackend] = {}

    def factory(pv: str) -> Backend:
        field = pv[len(name):]
        backend = SoftBackend(values[field], source=f"soft://{pv}", units=egu if field in ("", ".RBV") else None)
        made[field] = backend
        return backend

    motor = Motor(name, name, backend=factory)
    readback = made[".RBV"]
    made[""].on_put = readback.set_now
    motor._limits = limits
    return motor
