"""Twin-only PVs: the simulation clock, speed factor and seed, and per-axis twin controls.

None of these exist on a real beamline (they are never in a facility profile).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from twin.iocs.fields import post
from twin.iocs.startup import startup_done
from twin.physics import Axis, SimClock


class SimStatus(PVGroup):
    """Simulated time (``SimTime-RB``, fresh on every read), speed (``Speed-RB``/``Speed-SP``), ``Seed-RB``,
    the clock mode (``Clock-RB``) and, on a stepped clock, ``Advance-Cmd``."""

    sim_time = pvproperty(name="SimTime-RB", value=0.0, precision=6, read_only=True,
                          doc="simulated time, s")
    speed = pvproperty(name="Speed-RB", value=1.0, precision=2, read_only=True,
                       doc="simulated seconds per wall second")
    speed_sp = pvproperty(name="Speed-SP", value=1.0, precision=2,
                          doc="set the speed factor (> 0); takes effect at once")
    seed = pvproperty(name="Seed-RB", value=0, dtype=ChannelType.LONG, read_only=True,
                      doc="the twin's seed")
    clock_mode = pvproperty(name="Clock-RB", value="free", dtype=ChannelType.STRING, read_only=True,
                            doc="the clock mode: free (runs with the wall clock) or stepped (event-driven)")
    advance = pvproperty(name="Advance-Cmd", value=0.0, precision=6,
                         doc="stepped clock: advance simulated time by this many seconds (> 0)")

    def __init__(self, *args: Any, clock: SimClock, seed_value: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.seed_value = seed_value

    @sim_time.startup
    async def sim_time(self, instance: Any, async_lib: Any) -> None:
        """Publish the speed and seed once, then the simulated time every 0.1 s wall."""
        await self.speed.write(self.clock.speed)
        await self.speed_sp.write(self.clock.speed, verify_value=False)
        await self.seed.write(self.seed_value)
        await self.clock_mode.write(self.clock.mode)
        await instance.write(self.clock.now())
        startup_done()
        while True:
            await async_lib.library.sleep(0.1)
            await instance.write(self.clock.now())

    @sim_time.getter
    async def sim_time(self, instance: Any) -> float:
        """Every read sees the simulated time of that moment."""
        return self.clock.now()

    @advance.putter
    async def advance(self, instance: Any, value: float) -> float:
        """Move a stepped clock forward by ``value`` simulated seconds (e.g. to let a beam dump end)."""
        if not self.clock.stepped:
            raise ValueError("Advance-Cmd needs the stepped clock; the free-running clock advances by itself")
        if not value > 0:
            raise ValueError(f"advance by > 0 s, got {value}")
        self.clock.advance_to(self.clock.now() + float(value))
        await self.sim_time.write(self.clock.now())
        return value

    @speed_sp.putter
    async def speed_sp(self, instance: Any, value: float) -> float:
        """A new speed factor: moves and counts under way follow it from now on."""
        if not value > 0:
            raise ValueError(f"speed factor must be > 0, got {value}")
        self.clock.speed = float(value)
        await self.speed.write(float(value))
        return value


class AxisTwin(PVGroup):
    """Twin-side PVs of one axis (``{physics.prefix}{name}:``): last move's simulated times, faults."""

    move_start = pvproperty(name="MoveStart-RB", value=0.0, precision=6, read_only=True,
                            doc="simulated time at which the last move began (DMOV 1→0)")
    move_end = pvproperty(name="MoveEnd-RB", value=0.0, precision=6, read_only=True,
                          doc="simulated time at which the axis came to rest after the last move")
    stall = pvproperty(name="Stall-Cmd", value=0, dtype=ChannelType.ENUM, enum_strings=["Off", "On"],
                       doc="fault: the motor stalls where it is until set Off")

    limit_hit = pvproperty(name="LimitHit-Cmd", value=0, dtype=ChannelType.ENUM, enum_strings=["Off", "High", "Low"],
                           doc="fault: the high or low limit switch trips where the motor is; Off restores it")

    def __init__(self, *args: Any, axis: Axis, clock: SimClock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.axis = axis
        self.clock = clock
        #: called after a fault changes the axis (the motor record republishes its state)
        self.on_fault: Callable[[], Awaitable[None]] | None = None

    async def _changed(self) -> None:
        if self.on_fault is not None:
            await self.on_fault()

    async def record_move(self, t_start: float, t_end: float) -> None:
        """Called by the motor record when a move ends."""
        await post(self.move_start, t_start)
        await post(self.move_end, t_end)

    @stall.putter
    async def stall(self, instance: Any, value: Any) -> Any:
        """Stall On halts the axis at once and keeps it from moving; Off clears the fault."""
        if value in (1, "On"):
            self.axis.stall(self.clock.now())
        else:
            self.axis.clear_stall()
        await self._changed()
        return value

    @limit_hit.putter
    async def limit_hit(self, instance: Any, value: Any) -> Any:
        """High/Low trips that switch at the current position; Off puts the switches back."""
        which = {1: "high", 2: "low", "High": "high", "Low": "low"}.get(value)
        if which is None:
            self.axis.restore_switches()
        else:
            self.axis.trip_switch(which, self.clock.now())
        await self._changed()
        return value
