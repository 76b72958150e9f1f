"""Twin-only PVs: the simulation clock, speed factor and seed (never in a facility profile)."""

from __future__ import annotations

from typing import Any

from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from twin.physics import SimClock


class SimStatus(PVGroup):
    """Publishes simulated time (``SimTime-RB``), speed factor (``Speed-RB``) and ``Seed-RB``."""

    sim_time = pvproperty(name="SimTime-RB", value=0.0, precision=3, read_only=True,
                          doc="simulated time, s")
    speed = pvproperty(name="Speed-RB", value=1.0, precision=2, read_only=True,
                       doc="simulated seconds per wall second")
    seed = pvproperty(name="Seed-RB", value=0, dtype=ChannelType.LONG, read_only=True,
                      doc="the twin's seed")

    def __init__(self, *args: Any, clock: SimClock, seed_value: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.seed_value = seed_value

    @sim_time.startup
    async def sim_time(self, instance: Any, async_lib: Any) -> None:
        """Publish the speed and seed once, then the simulated time every 0.1 s wall."""
        await self.speed.write(self.clock.speed)
        await self.seed.write(self.seed_value)
        while True:
            await instance.write(self.clock.now())
            await async_lib.library.sleep(0.1)
