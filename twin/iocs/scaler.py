"""A scaler record (EPICS ``scaler``): preset-time counting of the twin's detector channels."""

from __future__ import annotations

import asyncio
from typing import Any

from caproto import ChannelType
from caproto.server import PVGroup, SubGroup, pvproperty

from twin.physics import BeamlineModel

#: The number of channels the record serves (S1 is the clock).
NCH = 8
#: The time-base frequency of channel 1, Hz.
FREQ = 1e7


def _channel_group(n: int) -> type[PVGroup]:
    """A PVGroup with S{n}, NM{n}, PR{n}, G{n} for one channel (names joined without ':')."""

    class Channel(PVGroup):
        s = pvproperty(name=f".S{n}", value=0, dtype=ChannelType.LONG, read_only=True,
                       doc=f"counts of channel {n}")
        nm = pvproperty(name=f".NM{n}", value="", dtype=ChannelType.STRING,
                        doc=f"name of channel {n}")
        pr = pvproperty(name=f".PR{n}", value=0, dtype=ChannelType.LONG, doc=f"preset of channel {n}")
        g = pvproperty(name=f".G{n}", value=0, dtype=ChannelType.ENUM, enum_strings=["N", "Y"],
                       doc=f"gate of channel {n}")

    Channel.__name__ = f"ScalerChannel{n}"
    return Channel


class ScalerRecord(PVGroup):
    """A scaler record at ``prefix``; ``channels`` maps channel numbers (2…8) to names."""

    val = pvproperty(name="", value=0.0, read_only=True, doc="result")
    cnt = pvproperty(name=".CNT", value=0, dtype=ChannelType.ENUM, enum_strings=["Done", "Count"],
                     doc="count: put 1 to count for TP; completes when done")
    cont = pvproperty(name=".CONT", value=0, dtype=ChannelType.ENUM,
                      enum_strings=["OneShot", "AutoCount"], doc="count mode")
    tp = pvproperty(name=".TP", value=1.0, precision=3, doc="preset time, s")
    t = pvproperty(name=".T", value=0.0, precision=3, read_only=True, doc="elapsed time, s")
    freq = pvproperty(name=".FREQ", value=FREQ, doc="time-base frequency, Hz")
    nch = pvproperty(name=".NCH", value=NCH, dtype=ChannelType.LONG, read_only=True,
                     doc="number of channels")
    egu = pvproperty(name=".EGU", value="cts", dtype=ChannelType.STRING, doc="units")
    desc = pvproperty(name=".DESC", value="twin scaler", dtype=ChannelType.STRING, doc="description")

    ch1 = SubGroup(_channel_group(1), prefix="")
    ch2 = SubGroup(_channel_group(2), prefix="")
    ch3 = SubGroup(_channel_group(3), prefix="")
    ch4 = SubGroup(_channel_group(4), prefix="")
    ch5 = SubGroup(_channel_group(5), prefix="")
    ch6 = SubGroup(_channel_group(6), prefix="")
    ch7 = SubGroup(_channel_group(7), prefix="")
    ch8 = SubGroup(_channel_group(8), prefix="")

    def __init__(self, *args: Any, model: BeamlineModel, channels: dict[int, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model = model
        self.channels = {int(k): str(v) for k, v in channels.items()}
        bad = [k for k in self.channels if not 2 <= k <= NCH]
        if bad:
            raise ValueError(f"scaler channels must be 2…{NCH}, got {bad}")
        self._abort = asyncio.Event()

    def _ch(self, n: int) -> Any:
        return getattr(self, f"ch{n}")

    @cnt.startup
    async def cnt(self, instance: Any, async_lib: Any) -> None:
        """Name the channels as the beamline file says."""
        await self._ch(1).nm.write("clock")
        for n, name in self.channels.items():
            await self._ch(n).nm.write(name)

    @cnt.putter
    async def cnt(self, instance: Any, value: Any) -> str:
        """CNT=1 counts for TP simulated seconds; the put completes when counting ends."""
        if value in (0, "Done"):
            self._abort.set()
            return "Done"
        self._abort.clear()
        await instance.write("Count", verify_value=False)
        preset = float(self.tp.value)
        clock = self.model.clock
        t0 = clock.now()
        for n in range(1, NCH + 1):
            await self._ch(n).s.write(0)
        try:
            await asyncio.wait_for(self._abort.wait(), clock.wall_duration(preset))
        except TimeoutError:
            pass
        t1 = min(clock.now(), t0 + preset)
        elapsed = t1 - t0
        await self._ch(1).s.write(round(elapsed * float(self.freq.value)))
        for n, name in self.channels.items():
            await self._ch(n).s.write(self.model.count(name, t0, t1))
        await self.t.write(elapsed)
        await self.val.write(elapsed)
        return "Done"

    @tp.putter
    async def tp(self, instance: Any, value: float) -> float:
        """TP must be positive; PR1 follows it (in time-base counts)."""
        if not value > 0:
            raise ValueError(f"TP must be > 0, got {value}")
        await self._ch(1).pr.write(round(value * float(self.freq.value)))
        return value
