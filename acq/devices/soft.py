"""Soft devices for tests, dry runs and demos: no IOC, values computed in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from acq.devices._async import status_of
from acq.devices.backends import SoftBackend
from acq.devices.device import Device, Signal
from acq.devices.motor import Motor
from acq.engine.status import Status


class SoftDetector(Device):
    """A point detector whose trigger computes ``fn(*positions of motors)``.

    It reads as its value under its own name; ``count_time`` (config) is the time one
    trigger claims to take (a dry run uses it; the soft trigger itself is instant).
    """

    _named_as_parent = ("value",)

    def __init__(self, name: str, fn: Callable[..., Any], motors: Sequence[Motor] = (), *,
                 count_time: float = 0.0) -> None:
        self.value = Signal(SoftBackend(0.0, source=f"soft://{name}"), kind="hinted", read_only=True)
        self.count_time = Signal(SoftBackend(float(count_time), source=f"soft://{name}.count_time"),
                                 kind="config")
        super().__init__(name=name)
        self.fn = fn
        self.motors = list(motors)
        self.triggers = 0
        self.set_name(name)

    def trigger(self) -> Status:
        """Compute a new value from the motors' readbacks."""
        return status_of(self._measure(), f"trigger {self.name}")

    async def _measure(self) -> None:
        positions = await asyncio.gather(*(m.readback.get_value() for m in self.motors))
        self.triggers += 1
        backend = self.value.backend
        assert isinstance(backend, SoftBackend)
        backend.set_now(self.fn(*positions))
