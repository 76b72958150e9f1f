"""A motor record (EPICS ``motor``) served by caproto and driven by a physics ``Axis``."""

from __future__ import annotations

import asyncio
from typing import Any

from caproto.server import PVGroup, pvproperty
from caproto.server.server import PvpropertyDouble

from twin.physics import Axis, SimClock

#: Wall seconds between readback updates while a motor moves.
TICK = 0.02


class _MotorValue(PvpropertyDouble):
    """VAL as the motor record treats it: a put beyond HLM/LLM sets LVIO, not a CA error."""

    async def verify_value(self, value: Any) -> Any:
        if self.putter is not None:
            return await self.putter(self, value)
        return value


class MotorRecord(PVGroup):
    """One motor record at ``prefix``: ``prefix`` is VAL, ``prefix.RBV`` the readback, etc."""

    motor = pvproperty(
        value=0.0, name="", record="motor", precision=3, dtype=_MotorValue, doc="motor"
    )

    def __init__(self, *args: Any, axis: Axis, clock: SimClock, egu: str = "mm", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.axis = axis
        self.clock = clock
        self.egu = egu
        self._stop = asyncio.Event()
        self._move_lock = asyncio.Lock()

    @property
    def fields(self) -> Any:
        """The record's field PVs (caproto ``MotorFields``)."""
        return self.motor.field_inst

    @motor.startup
    async def motor(self, instance: Any, async_lib: Any) -> None:
        """Publish the initial state of the axis."""
        f = self.fields
        pos = self.axis.position(self.clock.now())
        await f.engineering_units.write(self.egu)
        await f.velocity.write(self.axis.velocity)
        await f.max_velocity.write(self.axis.velocity * 10)
        await f.seconds_to_velocity.write(self.axis.accel_time)
        await f.motor_step_size.write(1e-4)
        await f.retry_deadband.write(1e-4)
        await self._write_limits(self.axis.low_limit, self.axis.high_limit)
        await self._publish_position(pos)
        await instance.write(pos, verify_value=False)
        await f.done_moving_to_value.write(1)
        await f.motor_is_moving.write(0)

    async def _write_limits(self, low: float, high: float) -> None:
        f = self.fields
        await f.user_low_limit.write(low, verify_value=False)
        await f.user_high_limit.write(high, verify_value=False)
        await f.dial_low_limit.write(low, verify_value=False)
        await f.dial_high_limit.write(high, verify_value=False)
        for pv in (self.motor, f.user_readback_value):
            await pv.write_metadata(lower_ctrl_limit=low, upper_ctrl_limit=high,
                                    lower_disp_limit=low, upper_disp_limit=high)

    async def _publish_position(self, pos: float) -> None:
        f = self.fields
        await f.user_readback_value.write(pos)
        await f.dial_readback_value.write(pos)
        await f.raw_readback_value.write(round(pos / (f.motor_step_size.value or 1e-4)))

    @motor.putter
    async def motor(self, instance: Any, value: float) -> float:
        """A put to VAL: move in simulated time; the put completes when the move ends."""
        f = self.fields
        target = float(value)
        old = float(instance.value)
        if not self.axis.within_limits(target):
            await f.limit_violation.write(1)
            await f.done_moving_to_value.write(0)
            await f.done_moving_to_value.write(1)
            return old
        await f.limit_violation.write(0)
        async with self._move_lock:
            return await self._move(instance, target)

    async def _move(self, instance: Any, target: float) -> float:
        f = self.fields
        self._stop.clear()
        await instance.write(target, verify_value=False)
        await f.dial_desired_value.write(target)
        self.axis.velocity = float(f.velocity.value) or self.axis.velocity
        self.axis.accel_time = float(f.seconds_to_velocity.value)
        now = self.clock.now()
        profile = self.axis.start_move(target, now)
        await f.direction_of_travel.write(1 if target >= profile.start else 0)
        await f.done_moving_to_value.write(0)
        end = profile.t0 + profile.duration
        if profile.duration > 0:
            await f.motor_is_moving.write(1)
            while True:
                remaining = self.clock.wall_duration(end - self.clock.now())
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._stop.wait(), min(TICK, remaining))
                except TimeoutError:
                    await f.user_readback_value.write(self.axis.position(self.clock.now()))
                    continue
                here = self.axis.stop(self.clock.now())
                await self._publish_position(here)
                await instance.write(here, verify_value=False)
                await f.motor_is_moving.write(0)
                await f.done_moving_to_value.write(1)
                return here
        self.axis.settle(self.clock.now())
        await self._publish_position(self.axis.position(self.clock.now()))
        await f.motor_is_moving.write(0)
        await f.done_moving_to_value.write(1)
        return target

    @motor.fields.stop.putter
    async def motor(fields: Any, instance: Any, value: int) -> int:
        """STOP=1 halts the motion where it is; the field reads back 0."""
        ioc: MotorRecord = fields.parent.group
        if value:
            ioc._stop.set()
        return 0

    @motor.fields.velocity.putter
    async def motor(fields: Any, instance: Any, value: float) -> float:
        """VELO must be positive; it applies to the next move."""
        if not value > 0:
            raise ValueError(f"VELO must be > 0, got {value}")
        return value

    @motor.fields.user_high_limit.putter
    async def motor(fields: Any, instance: Any, value: float) -> float:
        """HLM: the soft high limit, also the ctrl limit of VAL and RBV."""
        ioc: MotorRecord = fields.parent.group
        ioc.axis.high_limit = float(value)
        await ioc._write_limits(ioc.axis.low_limit, float(value))
        return value

    @motor.fields.user_low_limit.putter
    async def motor(fields: Any, instance: Any, value: float) -> float:
        """LLM: the soft low limit, also the ctrl limit of VAL and RBV."""
        ioc: MotorRecord = fields.parent.group
        ioc.axis.low_limit = float(value)
        await ioc._write_limits(float(value), ioc.axis.high_limit)
        return value


__all__ = ["MotorRecord"]
