"""A position-compare trigger box (PandA/Zebra-like) as a device.

Armed with an axis, a first position, a signed step and a count, the box fires its outputs (a
camera's external trigger) as the axis passes each position, and records the axis position and
its own clock's time at every pulse. PVs below the prefix: ``Axis-Sel`` (menu of axes),
``Start-SP``, ``Step-SP``, ``Count-SP``, ``Arm-Cmd`` (a put of Arm completes when every pulse has
fired), ``Armed-RB``, ``Captured-RB``, ``Positions-RB`` and ``Times-RB`` (arrays).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence

import numpy as np

from acq.devices._async import on_shared_loop
from acq.devices.backends import CABackend
from acq.devices.device import Device, Signal
from acq.devices.motor import BackendFactory


class TriggerBox(Device):
    """The box at ``prefix``; ``axes`` maps motor device names to entries of its ``Axis-Sel`` menu
    (a list means the entries are the motor names themselves)."""

    def __init__(self, prefix: str, name: str = "", *, axes: Mapping[str, str] | Sequence[str] = (),
                 backend: BackendFactory = CABackend) -> None:
        self.prefix = prefix
        self.axes: dict[str, str] = dict(axes) if isinstance(axes, Mapping) else {str(a): str(a) for a in axes}
        self.axis = Signal(backend(prefix + "Axis-Sel"), kind="config")
        self.start = Signal(backend(prefix + "Start-SP"), kind="config")
        self.step = Signal(backend(prefix + "Step-SP"), kind="config")
        self.count = Signal(backend(prefix + "Count-SP"), kind="config")
        self.arm = Signal(backend(prefix + "Arm-Cmd"), kind="omitted")
        self.armed = Signal(backend(prefix + "Armed-RB"), kind="omitted", read_only=True)
        self.captured = Signal(backend(prefix + "Captured-RB"), kind="normal", read_only=True)
        self.positions = Signal(backend(prefix + "Positions-RB"), kind="omitted", read_only=True)
        self.times = Signal(backend(prefix + "Times-RB"), kind="omitted", read_only=True)
        super().__init__(name=name)
        self.set_name(name)

    def axis_entry(self, motor_name: str) -> str:
        """The ``Axis-Sel`` entry wired to the motor named ``motor_name``; a clear error if none."""
        if motor_name not in self.axes:
            raise ValueError(f"{self.name}: motor {motor_name!r} is not wired to this trigger box "
                             f"(wired: {sorted(self.axes) or 'none'}; the profile's 'axes' of {self.name})")
        return self.axes[motor_name]

    @on_shared_loop
    async def setup(self, motor_name: str, start: float, step: float, count: int) -> None:
        """Select the axis and write the pulse positions (``count`` from ``start`` by ``step``)."""
        entry = self.axis_entry(motor_name)
        choices = (await self.axis.metadata()).enum_strings or ()
        if entry not in choices:
            raise ValueError(f"{self.name}: the box offers axes {list(choices)}, not {entry!r}")
        await asyncio.gather(self.axis.put(choices.index(entry)), self.start.put(float(start)),
                             self.step.put(float(step)), self.count.put(int(count)))

    @on_shared_loop
    async def arm_and_wait(self, timeout: float) -> asyncio.Task[None]:
        """Arm; return once the box says Armed, with the task of the Arm put (done when every
        pulse has fired, or on disarm)."""
        done = asyncio.ensure_future(self.arm.put(1, wait=True, timeout=None))
        deadline = time.monotonic() + timeout
        while int(await self.armed.get_value()) != 1:
            if done.done():
                done.result()  # the box refused: raise its error
                break
            if time.monotonic() > deadline:
                done.cancel()
                raise TimeoutError(f"{self.name}: not armed within {timeout} s (Armed-RB)")
            await asyncio.sleep(0.002)
        return done

    @on_shared_loop
    async def disarm(self) -> None:
        """Stop firing at once."""
        await self.arm.put(0, wait=False)

    @on_shared_loop
    async def pulses(self) -> tuple[np.ndarray, np.ndarray]:
        """The (positions, times) of the pulses fired since the last arming."""
        n = int(await self.captured.get_value())
        positions, times = await asyncio.gather(self.positions.get_value(), self.times.get_value())
        return np.asarray(positions, dtype=float)[:n], np.asarray(times, dtype=float)[:n]
