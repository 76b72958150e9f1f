"""Plain-PV devices: a setpoint/readback positioner and a point detector read on demand.

Not every axis is a motor record: a piezo stage or a closed-loop controller often serves a
setpoint PV whose put completes once the axis is there, and a readback PV (what ophyd's
``EpicsSignal(read_pv, write_pv=…)`` drives). A photodiode or an electrometer serves one
value (``EpicsSignalRO``). Both read the twin's physics fresh on every CA read, so a read
right after a completed put sees the new position.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from caproto.server import PVGroup, pvproperty

from twin.iocs.fields import TIMER_GRANULARITY, OwnLimitsDouble, post
from twin.iocs.startup import startup_done
from twin.physics import Axis, BeamlineModel, SimClock

#: Wall seconds between readback updates while a long move is under way.
UPDATE = 0.1


class Positioner(PVGroup):
    """``Pos-SP`` moves the axis (the put completes when it has arrived; a target beyond the soft
    limits is clamped to them, as an ``ao`` record's drive limits do, since a CA client cannot be
    told that a put failed); ``Pos-RB`` is where the axis is, fresh on every read."""

    setpoint = pvproperty(name="Pos-SP", value=0.0, precision=4, dtype=OwnLimitsDouble,
                          doc="target position; completes on arrival")
    readback = pvproperty(name="Pos-RB", value=0.0, precision=4, read_only=True, doc="position")

    def __init__(self, *args: Any, axis: Axis, clock: SimClock, egu: str = "mm", precision: int = 4,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.axis = axis
        self.clock = clock
        self.egu = egu
        self.places = precision

    @setpoint.startup
    async def setpoint(self, instance: Any, async_lib: Any) -> None:
        """Units, precision and the soft limits as control metadata; the setpoint where the axis is."""
        limits = {}
        if math.isfinite(self.axis.low_limit) and math.isfinite(self.axis.high_limit):
            limits = {"lower_ctrl_limit": self.axis.low_limit, "upper_ctrl_limit": self.axis.high_limit}
        here = self.axis.load_position(self.clock.now())
        for pv in (self.setpoint, self.readback):
            await pv.write_metadata(units=self.egu, precision=self.places, **limits)
            await post(pv, here)

    @setpoint.putter
    async def setpoint(self, instance: Any, value: float) -> float:
        """Move to ``value`` (clamped to the limits) and complete once there (a stepped clock jumps
        to the end); the setpoint holds the clamped value."""
        target = min(max(float(value), self.axis.low_limit), self.axis.high_limit)  # DRVL/DRVH clamp
        clock = self.clock
        self.axis.settle(clock.now())
        self.axis.start_move(target, clock.now())
        end = self.axis.end_time()
        clock.advance_to(end)
        while (now := clock.now()) < end:
            remaining = clock.wall_duration(end - now)
            if remaining < TIMER_GRANULARITY:
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(min(UPDATE, remaining))
                await post(self.readback, self.axis.load_position(clock.now()))
        self.axis.settle(clock.now())
        await post(self.readback, self.axis.load_position(clock.now()))
        return target

    @readback.getter
    async def readback(self, instance: Any) -> None:
        """Every read sees where the axis is at that moment."""
        await post(self.readback, self.axis.load_position(self.clock.now()))


class PointDetector(PVGroup):
    """``Rate-RB``: counts/s of one detector channel averaged over the last ``dwell`` simulated
    seconds, with counting noise, fresh on every read and published at 10 Hz for monitors."""

    rate = pvproperty(name="Rate-RB", value=0.0, precision=1, units="cts/s", read_only=True,
                      doc="count rate over the last dwell")

    def __init__(self, *args: Any, model: BeamlineModel, channel: str, dwell: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not dwell > 0:
            raise ValueError(f"point detector dwell must be > 0 s, got {dwell}")
        self.model = model
        self.channel = channel
        self.dwell = dwell

    def value(self) -> float:
        """The rate now: counts over the last dwell (noise keyed by the simulated time) per second.

        The dwell is short next to anything that changes the input (a move, the ring's decay), so
        the input rate is taken once, at its middle, not averaged as the scaler's longer counts are."""
        model = self.model
        t = model.clock.now()
        mid = t - self.dwell / 2
        detector = model.detector(self.channel)
        return detector.count(model.seed, model.input_rate(self.channel, mid), self.dwell, t, mid) / self.dwell

    @rate.startup
    async def rate(self, instance: Any, async_lib: Any) -> None:
        """Publish the rate every 0.1 s wall (what a monitor sees)."""
        await post(self.rate, self.value())
        startup_done()
        while True:
            await async_lib.library.sleep(UPDATE)
            await post(self.rate, self.value())

    @rate.getter
    async def rate(self, instance: Any) -> None:
        """Every read sees the rate of that moment."""
        await post(self.rate, self.value())
