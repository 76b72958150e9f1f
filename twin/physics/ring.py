"""The storage ring: current with decay and top-up, scheduled, random and on-cue beam dumps."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from twin.physics.clock import keyed_rng

#: How far ahead random dumps are drawn (simulated seconds); beyond it the ring runs clean.
DUMP_HORIZON = 30 * 24 * 3600.0


@dataclass
class StorageRing:
    """Top-up operation: the current decays with ``lifetime`` and is refilled to ``nominal·(1+band)``
    whenever it falls to ``nominal·(1−band)`` (a sawtooth); after a dump it is 0 for ``refill_time``.

    ``dumps`` are (start, duration) pairs in simulated seconds: scheduled ones from the beamline
    file, random ones drawn from ``dump_rate`` (per hour) under the seed, and any added on cue.
    """

    nominal: float = 500.0
    band: float = 0.005
    lifetime: float = 3 * 3600.0
    refill_time: float = 600.0
    dump_rate: float = 0.0
    seed: int = 0
    dumps: list[tuple[float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.nominal < 0 or not 0 <= self.band < 1 or self.lifetime <= 0:
            raise ValueError("physics.ring: need nominal ≥ 0, 0 ≤ band < 1, lifetime > 0")
        if self.dump_rate > 0:
            rng = keyed_rng(self.seed, "ring.dumps")
            t = 0.0
            while True:
                t += float(rng.exponential(3600.0 / self.dump_rate))
                if t > DUMP_HORIZON:
                    break
                self.dumps.append((t, self.refill_time))
        self.dumps.sort()

    @property
    def period(self) -> float:
        """Simulated seconds between top-up injections."""
        return self.lifetime * math.log((1 + self.band) / (1 - self.band)) if self.band > 0 else math.inf

    def dump(self, t: float, duration: float) -> None:
        """A beam dump on cue at simulated time ``t`` lasting ``duration`` s, then refill."""
        if duration < 0:
            raise ValueError(f"dump duration must be ≥ 0, got {duration}")
        self.dumps.append((t, duration))
        self.dumps.sort()

    def _last_refill(self, t: float) -> tuple[float, bool]:
        """(simulated time the current cycle began, whether ``t`` lies inside a dump)."""
        start = 0.0
        for t_dump, duration in self.dumps:
            if t_dump > t:
                break
            if t < t_dump + duration:
                return t_dump, True
            start = t_dump + duration
        return start, False

    def current(self, t: float) -> float:
        """Stored current (mA) at simulated time ``t``."""
        since, dumped = self._last_refill(t)
        if dumped:
            return 0.0
        top = self.nominal * (1 + self.band)
        if self.band <= 0:
            return self.nominal * math.exp(-(t - since) / self.lifetime)
        phase = math.fmod(t - since, self.period)
        return top * math.exp(-phase / self.lifetime)

    def topup_countdown(self, t: float) -> float:
        """Simulated seconds until the next injection (or the end of a dump)."""
        since, dumped = self._last_refill(t)
        if dumped:
            end = next(td + d for td, d in self.dumps if td <= t < td + d)
            return end - t
        if self.band <= 0:
            return math.inf
        return self.period - math.fmod(t - since, self.period)

    def beam_available(self, t: float, threshold: float = 0.1) -> bool:
        """Whether there is usable beam: the current above ``threshold`` of nominal."""
        return self.current(t) > threshold * self.nominal
