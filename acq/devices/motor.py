"""The motor record as a device: set with put-completion, limits checked before moving."""

from __future__ import annotations

from typing import Any

from acq.devices.backends import CABackend
from acq.devices.device import Device, Signal
from acq.engine.status import Status


class LimitError(ValueError):
    """A requested position lies outside a motor's soft limits."""


class Motor(Device):
    """An EPICS motor record at ``prefix``: reads as its readback, moves with put-completion."""

    _named_as_parent = ("readback",)

    def __init__(self, prefix: str, name: str = "") -> None:
        self.prefix = prefix
        self.readback = Signal(CABackend(f"{prefix}.RBV"), kind="hinted")
        self.setpoint = Signal(CABackend(prefix), kind="normal")
        self.velocity = Signal(CABackend(f"{prefix}.VELO"), kind="config")
        self.acceleration_time = Signal(CABackend(f"{prefix}.ACCL"), kind="config")
        self.high_limit = Signal(CABackend(f"{prefix}.HLM"), kind="config")
        self.low_limit = Signal(CABackend(f"{prefix}.LLM"), kind="config")
        self.units = Signal(CABackend(f"{prefix}.EGU"), kind="omitted")
        self.done_moving = Signal(CABackend(f"{prefix}.DMOV"), kind="omitted")
        self.motor_stop = Signal(CABackend(f"{prefix}.STOP"), kind="omitted")
        self.limit_violation = Signal(CABackend(f"{prefix}.LVIO"), kind="omitted")
        super().__init__(name=name)
        self._limits: tuple[float, float] = (0.0, 0.0)
        self.set_name(name)

    async def connect(self, timeout: float = 5.0) -> None:
        """Connect every field and cache the soft limits."""
        await super().connect(timeout)
        await self.refresh_limits()

    async def refresh_limits(self) -> tuple[float, float]:
        """Read LLM/HLM again (they may change at any time on the IOC)."""
        low = float(await self.low_limit.get_value())
        high = float(await self.high_limit.get_value())
        self._limits = (low, high)
        return self._limits

    @property
    def limits(self) -> tuple[float, float]:
        """(low, high) soft limits; (0, 0) means none, as in the motor record."""
        return self._limits

    def check_value(self, value: float) -> None:
        """Raise ``LimitError`` naming the motor if ``value`` lies outside its limits."""
        low, high = self._limits
        if low == high == 0.0:
            return
        if not low <= float(value) <= high:
            raise LimitError(f"{self.name}: position {value} is outside the limits [{low}, {high}]")

    def set(self, value: float, timeout: float | None = None) -> Status:
        """Move to ``value``; the status finishes when the motor record's put completes."""
        self.check_value(value)
        return Status(self._move(float(value), timeout), name=f"move {self.name}")

    async def _move(self, value: float, timeout: float | None) -> None:
        await self.setpoint.put(value, wait=True, timeout=timeout)
        if await self.limit_violation.get_value():
            raise LimitError(f"{self.name}: the IOC refused {value} (LVIO): limits are {await self.refresh_limits()}")

    async def stop(self, success: bool = False) -> None:
        """Halt the motion at once."""
        await self.motor_stop.put(1, wait=False)

    async def locate(self) -> dict[str, Any]:
        """``{'setpoint', 'readback'}`` as Bluesky's Locatable protocol says."""
        return {"setpoint": await self.setpoint.get_value(), "readback": await self.readback.get_value()}
