"""A scaler record (EPICS ``scaler``): preset-time counting of the twin's detector channels."""

from __future__ import annotations

import asyncio
from typing import Any

from caproto import AlarmSeverity, AlarmStatus, ChannelType
from caproto.server import PVGroup, SubGroup, pvproperty

from twin.iocs.fields import TIMER_GRANULARITY, post, wait_wall
from twin.iocs.startup import startup_done
from twin.physics import BeamlineModel

#: The number of channels the record serves (S1 is the clock), as many as clients expect.
NCH = 32
#: The time-base frequency of channel 1, Hz.
FREQ = 1e7
#: Wall seconds between count updates while counting (the record's display rate, 10 Hz).
UPDATE = 0.1


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

        @pr.putter
        async def pr(self, instance: Any, value: int) -> int:
            """PR1 is the preset in time-base counts (TP follows it); other presets are stored."""
            if n == 1:
                if not value > 0:
                    raise ValueError(f"PR1 must be > 0, got {value}")
                await self.parent.tp.write(value / float(self.parent.freq.value), verify_value=False)
            return value

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
    tp1 = pvproperty(name=".TP1", value=1.0, precision=3, doc="auto-count time, s")
    dly1 = pvproperty(name=".DLY1", value=0.0, precision=3, doc="auto-count delay, s")
    dly = pvproperty(name=".DLY", value=0.0, precision=3, doc="delay before counting, s (not simulated)")
    rate = pvproperty(name=".RATE", value=10.0, precision=1, doc="display update rate, Hz")
    rat1 = pvproperty(name=".RAT1", value=10.0, precision=1, doc="auto-count display update rate, Hz")
    t = pvproperty(name=".T", value=0.0, precision=3, read_only=True, doc="elapsed time, s")
    freq = pvproperty(name=".FREQ", value=FREQ, doc="time-base frequency, Hz")
    nch = pvproperty(name=".NCH", value=NCH, dtype=ChannelType.LONG, read_only=True,
                     doc="number of channels")
    egu = pvproperty(name=".EGU", value="cts", dtype=ChannelType.STRING, doc="units")
    desc = pvproperty(name=".DESC", value="twin scaler", dtype=ChannelType.STRING, doc="description")

    for _n in range(1, NCH + 1):  # S1…S32, NM1…NM32, PR1…PR32, G1…G32
        locals()[f"ch{_n}"] = SubGroup(_channel_group(_n), prefix="")
    del _n

    def __init__(self, *args: Any, model: BeamlineModel, channels: dict[int, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model = model
        self.channels = {int(k): str(v) for k, v in channels.items()}
        bad = [k for k in self.channels if not 2 <= k <= NCH]
        if bad:
            raise ValueError(f"scaler channels must be 2…{NCH}, got {bad}")
        self._abort = asyncio.Event()
        self._busy = asyncio.Lock()

    def _ch(self, n: int) -> Any:
        return getattr(self, f"ch{n}")

    @cnt.startup
    async def cnt(self, instance: Any, async_lib: Any) -> None:
        """Name the channels as the beamline file says."""
        await self._ch(1).nm.write("clock")
        for n, name in self.channels.items():
            await self._ch(n).nm.write(name)

    def _gates(self) -> dict[int, int]:
        """Channels ≥ 2 gated (G=Y) with a preset count: counting stops when one reaches it."""
        return {n: int(self._ch(n).pr.value) for n in self.channels
                if self._ch(n).g.value in ("Y", 1) and int(self._ch(n).pr.value) > 0}

    def _preset_hit(self, gates: dict[int, int], t0: float, t1: float) -> tuple[float, int] | None:
        """The earliest (simulated time, channel) in (t0, t1] at which a gated channel reaches its preset."""
        best: tuple[float, int] | None = None
        for n, preset in gates.items():
            name = self.channels[n]
            if self.model.count(name, t0, t1) < preset:
                continue
            lo, hi = t0, t1
            for _ in range(40):
                mid = 0.5 * (lo + hi)
                if self.model.count(name, t0, mid) >= preset:
                    hi = mid
                else:
                    lo = mid
            if best is None or hi < best[0]:
                best = (hi, n)
        return best

    async def _count(self, preset: float) -> None:
        """Count ``preset`` simulated seconds (less if aborted, or once a gated channel reaches its
        preset), updating S1…Sn as it goes."""
        clock = self.model.clock
        t0 = clock.now()
        gates = self._gates()
        for n in range(1, NCH + 1):
            await post(self._ch(n).s, 0)
        if clock.stepped:  # the count takes no wall time: the clock jumps to its end
            hit = self._preset_hit(gates, t0, t0 + preset) if gates else None
            t_stop, stopped_by = hit if hit is not None else (t0 + preset, 0)
            clock.advance_to(t_stop)
        else:
            t_stop, stopped_by = await self._follow(t0, preset, gates)
        await self._publish(t0, t_stop)
        if stopped_by:
            await self._ch(stopped_by).s.write(gates[stopped_by], verify_value=False)

    async def _follow(self, t0: float, preset: float, gates: dict[int, int]) -> tuple[float, int]:
        """Follow a count on the free-running clock, publishing as it goes; returns (the simulated
        time it stopped, the gated channel that stopped it or 0)."""
        clock = self.model.clock
        while True:
            now = min(clock.now(), t0 + preset)
            hit = self._preset_hit(gates, t0, now) if gates else None
            if hit is not None:
                return hit
            target = t0 + preset
            for n, pr in gates.items():  # wake up near the expected preset crossing
                r = self.model.rate(now, self.channels[n])
                if r > 0:
                    target = min(target, max(t0 + pr / r, now + 1e-3))
            remaining = clock.wall_duration(target - clock.now())
            if clock.now() >= t0 + preset:
                return t0 + preset, 0
            if await wait_wall(self._abort, min(UPDATE, remaining)):
                return min(clock.now(), t0 + preset), 0
            if remaining >= TIMER_GRANULARITY:  # a display update, not a mere yield
                await self._publish(t0, min(clock.now(), t0 + preset))

    async def _publish(self, t0: float, t1: float) -> None:
        elapsed = t1 - t0
        saturated = False
        await post(self._ch(1).s, round(elapsed * float(self.freq.value)))
        for n, name in self.channels.items():
            await post(self._ch(n).s, self.model.count(name, t0, t1))
            saturated = saturated or self.model.saturated(name, t1)
        await self.t.write(elapsed, verify_value=False)
        status, severity = ((AlarmStatus.HIHI, AlarmSeverity.MAJOR_ALARM) if saturated
                            else (AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM))
        await self.val.write(elapsed, verify_value=False, status=status, severity=severity)

    @cnt.putter
    async def cnt(self, instance: Any, value: Any) -> str:
        """CNT=1 counts for TP simulated seconds; the put completes when counting ends."""
        if value in (0, "Done"):
            self._abort.set()
            return "Done"
        self._abort.clear()
        await instance.write("Count", verify_value=False)
        async with self._busy:
            await self._count(float(self.tp.value))
        return "Done"

    @cont.startup
    async def cont(self, instance: Any, async_lib: Any) -> None:
        """AutoCount: while not counting on demand, count TP1 s repeatedly (after DLY1 s)."""
        startup_done()  # nothing to publish first
        while True:
            # on a stepped clock a free-running count would drive simulated time: it idles
            auto = instance.value in (1, "AutoCount") and not self.model.clock.stepped
            if auto and not self._busy.locked():
                async with self._busy:
                    await self._count(float(self.tp1.value))
                await asyncio.sleep(self.model.clock.wall_duration(float(self.dly1.value)) + 0.01)
            else:
                await asyncio.sleep(0.05)

    @tp.putter
    async def tp(self, instance: Any, value: float) -> float:
        """TP must be positive; PR1 follows it (in time-base counts)."""
        if not value > 0:
            raise ValueError(f"TP must be > 0, got {value}")
        await self._ch(1).pr.write(round(value * float(self.freq.value)), verify_value=False)
        return value

    @freq.putter
    async def freq(self, instance: Any, value: float) -> float:
        """FREQ: the time base (Hz); PR1 follows TP."""
        if not value > 0:
            raise ValueError(f"FREQ must be > 0, got {value}")
        await self._ch(1).pr.write(round(float(self.tp.value) * value), verify_value=False)
        return value
