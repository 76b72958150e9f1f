"""Soft in-memory devices for wiring tests: motors and a detector computing an analytic signal."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from acq.devices import Device, Signal, SoftBackend
from acq.engine import Status


class SoftMotor(Device):
    """A motor whose readback follows its setpoint at once, with soft limits."""

    _named_as_parent = ("readback",)

    def __init__(self, name: str, limits: tuple[float, float] = (-1e9, 1e9)) -> None:
        self.readback = Signal(SoftBackend(0.0), kind="hinted")
        super().__init__(name)
        self.set_name(name)
        self.limits = limits

    def check_value(self, value: float) -> None:
        lo, hi = self.limits
        if not lo <= value <= hi:
            raise ValueError(f"{self.name}: {value} is outside the limits [{lo}, {hi}]")

    def set(self, value: float) -> Status:
        self.check_value(value)
        return self.readback.set(value)


class SoftDetector(Device):
    """A detector whose value is ``func(positions of motors)`` when triggered."""

    _named_as_parent = ("value",)

    def __init__(self, name: str, motors: Sequence[SoftMotor], func: Callable[[np.ndarray[Any, Any]], float]) -> None:
        self.value = Signal(SoftBackend(0.0), kind="hinted")
        super().__init__(name)
        self.set_name(name)
        self._motors = list(motors)
        self._func = func
        self.triggers = 0

    def trigger(self) -> Status:
        async def measure() -> None:
            x = np.array([await m.readback.get_value() for m in self._motors], dtype=float)
            self.triggers += 1
            await self.value.put(float(self._func(x)))

        return Status(measure())
