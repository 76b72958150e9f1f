"""A hardware-triggered fly scan: a trigger box fires cameras as a motor sweeps past positions.

``kickoff`` parks the motor a run-up before the first position, arms every camera (external
trigger, ``Multiple`` images, an HDF5 file through ``HDF1:`` for exactly ``num`` frames) and the
trigger box, and starts the sweep at the fly velocity. ``complete`` waits for the sweep, every
pulse and every frame. ``collect`` gives one event per trigger (the motor position the box
captured, the box's time of the pulse); the frames stay in their files and are referenced by
``stream_resource``/``stream_datum`` documents whose ``seq_nums`` are those events, as
ophyd-async's StandardFlyer with HDF writers does.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from acq.devices._async import on_shared_loop, status_of
from acq.devices.areadetector import AreaDetector
from acq.devices.device import Device, Readings
from acq.devices.motor import Motor
from acq.devices.triggerbox import TriggerBox
from acq.engine.status import Status


class TriggeredFlyer(Device):
    """Fly ``motor`` through ``num`` equally spaced positions from ``start`` to ``stop``; the
    ``box`` fires ``cameras`` at each. ``velocity`` (the motor's own if None) and ``exposure``
    (each camera's AcquireTime if None) are checked against the trigger period before anything
    moves. ``timeout``: seconds to wait for the last pulses and frames after the sweep."""

    def __init__(self, box: TriggerBox, motor: Motor, cameras: Sequence[AreaDetector], start: float, stop: float,
                 num: int, *, velocity: float | None = None, exposure: float | None = None, name: str = "",
                 timeout: float = 30.0) -> None:
        super().__init__(name=name or f"{box.name}_flyer")
        if isinstance(num, bool) or not isinstance(num, int | np.integer) or num < 2:
            raise ValueError(f"num: need at least 2 trigger positions, got {num!r}")
        self.begin, self.end, self.num = float(start), float(stop), int(num)
        if self.begin == self.end:
            raise ValueError(f"start and stop are both {start}: a fly scan needs a distance to fly")
        for what, value in (("velocity", velocity), ("exposure", exposure)):
            if value is not None and not float(value) > 0:
                raise ValueError(f"{what} must be positive, got {value!r}")
        if not cameras:
            raise ValueError("cameras: give at least one area detector for the trigger box to fire")
        box.axis_entry(motor.name)  # wired?
        motor.check_value(self.begin)
        motor.check_value(self.end)
        self.box, self.motor, self.cameras = box, motor, list(cameras)
        self.velocity = None if velocity is None else float(velocity)
        self.exposure = None if exposure is None else float(exposure)
        self.timeout = timeout
        self.step = (self.end - self.begin) / (self.num - 1)
        self._move: Status | None = None
        self._armed: asyncio.Task[None] | None = None
        self._acquiring: list[asyncio.Task[None]] = []
        self._saved_velocity: float | None = None
        self._pulse_times: list[float] = []
        self._lock = threading.Lock()
        self._emitted = 0
        self._positions = self._times = np.zeros(0)

    def children(self) -> Iterator[tuple[str, Device]]:
        return iter(())  # the box, motor and cameras belong to the beamline, not to the flyer

    # -- flying -----------------------------------------------------------------------------
    def kickoff(self) -> Status:
        """Park, arm the cameras and the box, start the sweep; done once the motor is on its way."""
        return status_of(self._kickoff(), f"kickoff {self.name}")

    async def _plan_motion(self) -> tuple[float, float, float]:
        """(velocity, first, last): the sweep from a run-up before ``start`` to one after ``stop``."""
        velocity = self.velocity or float(await self.motor.velocity.get_value())
        accel = float(await self.motor.acceleration_time.get_value())
        period = abs(self.step) / velocity
        for cam in self.cameras:
            exposure = self.exposure or float(await cam.acquire_time.get_value())
            if exposure >= period:
                raise ValueError(f"{cam.name}: exposure {exposure:g} s does not fit between triggers "
                                 f"{period:g} s apart ({abs(self.step):g} {self.motor.name} at {velocity:g}/s)")
        run_up = velocity * max(accel, 0.0) + abs(self.step) / 2
        direction = 1.0 if self.step > 0 else -1.0
        first, last = self.begin - direction * run_up, self.end + direction * run_up
        await self.motor.refresh_limits()
        self.motor.check_value(first)
        self.motor.check_value(last)
        return velocity, first, last

    async def _kickoff(self) -> None:
        velocity, first, last = await self._plan_motion()  # every check before anything moves
        await self.motor.set(first)
        self._saved_velocity = float(await self.motor.velocity.get_value())
        await self.motor.velocity.put(velocity)
        try:
            self._acquiring = [await cam.arm_external(self.num, self.exposure) for cam in self.cameras]
            await self.box.setup(self.motor.name, self.begin, self.step, self.num)
            with self._lock:
                self._pulse_times, self._emitted = [], 0
            self._positions = self._times = np.zeros(0)
            self._armed = await self.box.arm_and_wait(self.timeout)
            self.box.captured.subscribe(self._on_pulses)  # armed: the count is back at 0
        except BaseException:
            await self._abandon()
            raise
        self._move = self.motor.set(last)

    def _on_pulses(self, readings: Readings) -> None:
        """Note the wall time at which the box reported each new pulse."""
        reading = readings[self.box.captured.name]
        with self._lock:
            n = int(reading["value"])
            if n < len(self._pulse_times):  # a fresh arming counts from 0
                return
            self._pulse_times.extend([float(reading["timestamp"])] * (n - len(self._pulse_times)))

    def complete(self) -> Status:
        """Done when the sweep has ended and every pulse and every frame has been written."""
        return status_of(self._complete(), f"complete {self.name}")

    async def _complete(self) -> None:
        if self._move is None or self._armed is None:
            raise RuntimeError(f"{self.name}: complete() before kickoff()")
        try:
            await self._move
            try:
                await asyncio.wait_for(asyncio.shield(self._armed), self.timeout)
            except TimeoutError:
                fired = int(await self.box.captured.get_value())
                raise RuntimeError(f"{self.name}: the trigger box fired {fired} of {self.num} pulses: the sweep "
                                   f"did not pass every position from {self.begin} to {self.end}") from None
            for cam in self.cameras:
                written = await cam.wait_written(self.num, self.timeout)
                if written < self.num:
                    raise RuntimeError(f"{cam.name}: wrote {written} of {self.num} frames "
                                       f"({self.num} triggers fired) within {self.timeout} s")
            await asyncio.wait_for(asyncio.gather(*self._acquiring), self.timeout)
            self._positions, self._times = await self.box.pulses()
        except BaseException:
            await self._abandon()
            raise
        finally:
            await self._restore()

    async def _abandon(self) -> None:
        """Disarm the box and the cameras after a failure (the files keep what they hold)."""
        with contextlib.suppress(Exception):
            await self.box.disarm()
        for cam in self.cameras:
            with contextlib.suppress(Exception):
                await cam.disarm()
        await self._restore()

    async def _restore(self) -> None:
        self.box.captured.clear_sub(self._on_pulses)
        self._move = None
        if self._saved_velocity is not None:
            saved, self._saved_velocity = self._saved_velocity, None
            await self.motor.velocity.put(saved)

    def stop(self, *, success: bool = False) -> None:
        """Halt the sweep (the engine calls this on abort)."""
        self.motor.motor_stop.set(1, wait=False)

    # -- data -------------------------------------------------------------------------------
    @on_shared_loop
    async def describe_collect(self) -> Readings:
        """Data keys of one event per trigger: the captured position, the pulse time, each camera's frame."""
        motor_key = (await self.motor.readback.describe())[self.motor.name]
        keys: Readings = {
            self.motor.name: {**motor_key, "source": f"ca://{self.box.prefix}Positions-RB"},
            f"{self.box.name}_time": {"source": f"ca://{self.box.prefix}Times-RB", "dtype": "number", "shape": [],
                                      "units": "s"},
        }
        for cam in self.cameras:
            image = (await cam.describe())[cam.image_key]
            keys[cam.image_key] = image
        return keys

    def collect_asset_docs(self, index: int | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """Each camera's ``stream_resource`` and ``stream_datum`` for the frames not yet collected
        (the engine numbers them as the events ``collect()`` gives next)."""
        for cam in self.cameras:
            yield from cam.collect_asset_docs(index)

    def get_index(self) -> int:
        """Frames written by every camera so far in this flight."""
        return min(cam.get_index() for cam in self.cameras)

    def collect(self) -> Iterator[dict[str, Any]]:
        """One event per trigger not yet collected: ``{motor: position, box_time: t}``."""
        positions, times = self._positions, self._times
        with self._lock:
            stamps = list(self._pulse_times)
        first = self._emitted
        n = min(len(positions), self.get_index())
        now = time.time()
        for i in range(first, n):
            stamp = stamps[i] if i < len(stamps) else now
            yield {"time": stamp,
                   "data": {self.motor.name: float(positions[i]), f"{self.box.name}_time": float(times[i])},
                   "timestamps": {self.motor.name: stamp, f"{self.box.name}_time": stamp}}
        self._emitted = max(n, first)
