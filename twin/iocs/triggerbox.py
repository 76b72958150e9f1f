"""A position-compare trigger box (in the spirit of PandA/Zebra): armed with an axis, a start, a
step and a count, it fires the camera's external trigger as the axis passes each position and
records where (and when, in simulated time) each pulse was fired."""

from __future__ import annotations

import asyncio
from typing import Any

from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from twin.physics import Axis, SimClock

#: Wall seconds between looks at the axis while armed (crossings are found exactly in between).
POLL = 0.005
#: The most pulses one arming can record.
MAX_PULSES = 10000


def crossing_time(axis: Axis, level: float, t0: float, t1: float) -> float:
    """The simulated time in [t0, t1] at which the axis passes ``level`` (bisection)."""
    rising = axis.position(t1) >= axis.position(t0)
    lo, hi = t0, t1
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        here = axis.position(mid)
        if (here >= level) == rising:
            hi = mid
        else:
            lo = mid
    return hi


class TriggerBox(PVGroup):
    """``Axis-Sel``, ``Start-SP``, ``Step-SP`` (signed: its sign is the direction), ``Count-SP``;
    ``Arm-Cmd`` (put Arm: completes when every pulse has fired, or on Disarm); ``Armed-RB``,
    ``Captured-RB``, ``Positions-RB`` and ``Times-RB`` (simulated s) of the pulses."""

    axis_sel = pvproperty(name="Axis-Sel", value=0, dtype=ChannelType.ENUM, enum_strings=["-"],
                          doc="the axis whose position is compared")
    start = pvproperty(name="Start-SP", value=0.0, precision=4, doc="first trigger position")
    step = pvproperty(name="Step-SP", value=1.0, precision=4, doc="distance between triggers (signed)")
    count = pvproperty(name="Count-SP", value=1, dtype=ChannelType.LONG, doc="number of triggers")
    arm = pvproperty(name="Arm-Cmd", value=0, dtype=ChannelType.ENUM, enum_strings=["Disarm", "Arm"],
                     doc="arm; the put completes when all pulses have fired")
    armed = pvproperty(name="Armed-RB", value=0, dtype=ChannelType.ENUM, enum_strings=["No", "Yes"],
                       read_only=True, doc="armed")
    captured = pvproperty(name="Captured-RB", value=0, dtype=ChannelType.LONG, read_only=True,
                          doc="pulses fired so far")
    positions = pvproperty(name="Positions-RB", value=[0.0] * MAX_PULSES, max_length=MAX_PULSES,
                           dtype=ChannelType.DOUBLE, read_only=True, doc="axis position at each pulse")
    times = pvproperty(name="Times-RB", value=[0.0] * MAX_PULSES, max_length=MAX_PULSES,
                       dtype=ChannelType.DOUBLE, read_only=True, doc="simulated time of each pulse")

    def __init__(self, *args: Any, axes: dict[str, Axis], clock: SimClock, cameras: list[Any],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not axes:
            raise ValueError("a trigger box needs at least one axis")
        self.axes = axes
        self.clock = clock
        self.cameras = cameras
        self._disarm = asyncio.Event()

    @axis_sel.startup
    async def axis_sel(self, instance: Any, async_lib: Any) -> None:
        """Offer the wired axes as the menu."""
        await instance.write_metadata(enum_strings=list(self.axes))
        await instance.write(next(iter(self.axes)), verify_value=False)

    @arm.putter
    async def arm(self, instance: Any, value: Any) -> Any:
        """Arm: fire a pulse at each of Count positions from Start by Step as the axis passes them."""
        if value in (0, "Disarm"):
            self._disarm.set()
            return value
        if self.clock.stepped:
            raise ValueError("the trigger box needs the free-running clock: on a stepped clock a move "
                             "ends the moment it starts, so there is no motion to watch (serve --clock free)")
        n = int(self.count.value)
        step = float(self.step.value)
        if not 1 <= n <= MAX_PULSES or step == 0:
            raise ValueError(f"need 1 ≤ Count ≤ {MAX_PULSES} and a non-zero Step, got {n}, {step}")
        axis = self.axes[str(self.axis_sel.value)]
        targets = [float(self.start.value) + i * step for i in range(n)]
        self._disarm.clear()
        await self.captured.write(0, verify_value=False)
        await self.armed.write("Yes", verify_value=False)
        await instance.write("Arm", verify_value=False)
        positions: list[float] = []
        times: list[float] = []
        t_prev = self.clock.now()
        while len(positions) < n and not self._disarm.is_set():
            try:
                await asyncio.wait_for(self._disarm.wait(), POLL)
            except TimeoutError:
                pass
            t_now = self.clock.now()
            fired = len(positions)
            while len(positions) < n:
                target = targets[len(positions)]
                p_prev, p_now = axis.position(t_prev), axis.position(t_now)
                if not ((p_prev < target <= p_now) if step > 0 else (p_prev > target >= p_now)):
                    break
                t_hit = crossing_time(axis, target, t_prev, t_now)
                positions.append(axis.position(t_hit))
                times.append(t_hit)
                for cam in self.cameras:
                    cam.external_trigger(t_hit)
                t_prev = t_hit
            t_prev = t_now
            if len(positions) > fired:
                await self.captured.write(len(positions), verify_value=False)
                await self.positions.write(positions + [0.0] * (MAX_PULSES - len(positions)), verify_value=False)
                await self.times.write(times + [0.0] * (MAX_PULSES - len(times)), verify_value=False)
        await self.captured.write(len(positions), verify_value=False)
        await self.armed.write("No", verify_value=False)
        return "Disarm"
