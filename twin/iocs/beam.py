"""Beam status (ring current, top-up countdown, shutter, beam available) and the twin-only fault PVs."""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Awaitable, Callable
from typing import Any

from caproto import AlarmSeverity, AlarmStatus, ChannelType
from caproto.server import PVGroup, pvproperty

from twin.iocs.startup import startup_done
from twin.physics import BeamlineModel

#: The exit code with which an IOC process asks its launcher to start it again (``Restart-Cmd``).
RESTART_EXIT_CODE = 75
#: Wall seconds between beam-status updates.
PERIOD = 0.2


class BeamStatus(PVGroup):
    """What a beamline sees of the machine: ``Current-RB`` (mA), ``TopUpCountdown-RB`` (s),
    ``BeamAvailable-RB`` (No/Yes), and its photon shutter ``Shutter-Cmd``/``Shutter-RB``."""

    current = pvproperty(name="Current-RB", value=0.0, precision=2, units="mA", read_only=True,
                         doc="stored current")
    countdown = pvproperty(name="TopUpCountdown-RB", value=0.0, precision=1, units="s", read_only=True,
                           doc="simulated seconds to the next injection")
    available = pvproperty(name="BeamAvailable-RB", value=0, dtype=ChannelType.ENUM, enum_strings=["No", "Yes"],
                           read_only=True, doc="usable beam")
    shutter_cmd = pvproperty(name="Shutter-Cmd", value=1, dtype=ChannelType.ENUM, enum_strings=["Close", "Open"],
                             doc="photon shutter; the put completes when it has moved")
    shutter_rb = pvproperty(name="Shutter-RB", value=1, dtype=ChannelType.ENUM, enum_strings=["Closed", "Open"],
                            read_only=True, doc="photon shutter state")

    def __init__(self, *args: Any, model: BeamlineModel, shutter_time: float = 0.5, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model = model
        self.shutter_time = shutter_time

    async def update(self) -> None:
        """Publish the beam status of this moment."""
        await self._update()

    async def _update(self) -> None:
        t = self.model.clock.now()
        ring = self.model.ring
        current = ring.current(t) if ring else 500.0
        countdown = ring.topup_countdown(t) if ring else math.inf
        available = (ring.beam_available(t) if ring else True) and self.model.shutter_open
        alarm = (AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM) if available or not self.model.shutter_open else (
            AlarmStatus.STATE, AlarmSeverity.MAJOR_ALARM)
        await self.current.write(current, verify_value=False, status=alarm[0], severity=alarm[1])
        await self.countdown.write(countdown if math.isfinite(countdown) else -1.0, verify_value=False)
        await self.available.write(int(available), verify_value=False)
        await self.shutter_rb.write(int(self.model.shutter_open), verify_value=False)

    @current.startup
    async def current(self, instance: Any, async_lib: Any) -> None:
        """Publish the beam status every PERIOD wall seconds."""
        await self.shutter_cmd.write(int(self.model.shutter_open), verify_value=False)
        await self._update()
        startup_done()
        while True:
            await async_lib.library.sleep(PERIOD)
            await self._update()

    @shutter_cmd.putter
    async def shutter_cmd(self, instance: Any, value: Any) -> Any:
        """Open/Close the shutter: it takes ``shutter_time`` simulated seconds."""
        want = value in (1, "Open")
        if want != self.model.shutter_open:
            clock = self.model.clock
            clock.advance_to(clock.now() + self.shutter_time)  # a stepped clock jumps to the end
            await asyncio.sleep(clock.wall_duration(self.shutter_time))
            self.model.shutter_open = want
            await self._update()
        return value


class Faults(PVGroup):
    """Faults on cue (twin-only, under ``physics.prefix``): ``Dump-Cmd`` (beam dump for N simulated
    s), ``{channel}:Saturate-Cmd`` and ``{channel}:NoiseBurst-Cmd`` (N s) for each detector channel."""

    dump = pvproperty(name="Dump-Cmd", value=0.0, precision=1, doc="put N: the beam dumps now for N simulated s")
    restart = pvproperty(name="Restart-Cmd", value=0, dtype=ChannelType.LONG,
                         doc="put 1: the IOC process exits at once, asking its launcher to start it again")

    def __init__(self, *args: Any, model: BeamlineModel, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model = model
        #: called after a fault changes the beam (the beam status republishes)
        self.on_change: Callable[[], Awaitable[None]] | None = None

    @restart.putter
    async def restart(self, instance: Any, value: int) -> int:
        """An IOC reboot: the process exits (code 75) just after the put completes."""
        if value:
            asyncio.get_running_loop().call_later(0.05, os._exit, RESTART_EXIT_CODE)
        return value

    @dump.putter
    async def dump(self, instance: Any, value: float) -> float:
        """A beam dump for ``value`` simulated seconds, starting now."""
        if self.model.ring is None:
            raise ValueError("this beamline has no physics.ring to dump")
        if value < 0:
            raise ValueError(f"dump duration must be ≥ 0, got {value}")
        self.model.ring.dump(self.model.clock.now(), float(value))
        if self.on_change is not None:
            await self.on_change()
        return value


def detector_faults(channel: str) -> type[PVGroup]:
    """A PVGroup class with ``Saturate-Cmd`` and ``NoiseBurst-Cmd`` for one detector channel."""

    class DetectorFaults(PVGroup):
        saturate = pvproperty(name="Saturate-Cmd", value=0.0, precision=1,
                              doc=f"put N: {channel} reads saturated for N simulated s")
        noise = pvproperty(name="NoiseBurst-Cmd", value=0.0, precision=1,
                           doc=f"put N: {channel} gets a burst of noise for N simulated s")
        noise_rate = pvproperty(name="NoiseRate-SP", value=1e5, doc="extra counts/s during a noise burst")

        def __init__(self, *args: Any, model: BeamlineModel, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.model = model

        @saturate.putter
        async def saturate(self, instance: Any, value: float) -> float:
            t = self.model.clock.now()
            self.model.detector(channel).forced_saturation.append((t, t + float(value)))
            return value

        @noise.putter
        async def noise(self, instance: Any, value: float) -> float:
            t = self.model.clock.now()
            self.model.detector(channel).noise.append((t, t + float(value), float(self.noise_rate.value)))
            return value

    DetectorFaults.__name__ = f"DetectorFaults_{channel}"
    return DetectorFaults
