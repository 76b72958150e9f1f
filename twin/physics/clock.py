"""The simulation clock and the keyed random numbers that make the twin deterministic."""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable

import numpy as np

#: The clock modes: ``free`` runs with the wall clock; ``stepped`` moves only when told.
CLOCK_MODES = ("free", "stepped")


class SimClock:
    """Simulated time that runs ``speed`` times faster than the wall clock, or in steps.

    Simulated time starts at 0 when the clock is made. ``wall`` is injectable so that
    tests (and the physics) can drive time by hand.

    A ``stepped`` clock is event-driven: simulated time stands still until something calls
    ``advance_to`` (a move or a count that takes simulated time jumps the clock to its end at
    once), so the simulated moment of every event depends only on the events before it,
    never on wall timing; waits take no wall time (``wall_duration`` is 0) and the speed
    factor does not apply. On a free-running clock ``advance_to`` does nothing: time flows.
    """

    def __init__(self, speed: float = 1.0, wall: Callable[[], float] = time.monotonic, *,
                 mode: str = "free") -> None:
        if not speed > 0:
            raise ValueError(f"speed factor must be > 0, got {speed!r}")
        if mode not in CLOCK_MODES:
            raise ValueError(f"clock mode must be one of {CLOCK_MODES}, got {mode!r}")
        self.mode = mode
        self._wall = wall
        self._speed = float(speed)
        self._wall0 = wall()
        self._sim0 = 0.0

    @property
    def stepped(self) -> bool:
        """Whether simulated time moves only by ``advance_to`` (event-driven)."""
        return self.mode == "stepped"

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f"speed factor must be > 0, got {value!r}")
        now_sim = self.now()
        self._wall0 = self._wall()
        self._sim0 = now_sim
        self._speed = float(value)

    def started_at(self, wall0: float) -> None:
        """Count simulated time from the wall instant ``wall0`` (simulated time 0 then), e.g. an
        epoch that several processes share so that their clocks agree."""
        self._wall0, self._sim0 = float(wall0), 0.0

    def state(self) -> tuple[float, float, float]:
        """(speed, wall instant, simulated time at that instant): all it takes to copy the clock."""
        return (self._speed, self._wall0, self._sim0)

    def set_state(self, state: tuple[float, float, float]) -> None:
        """Take another clock's ``state()`` (same wall clock)."""
        self._speed, self._wall0, self._sim0 = (float(v) for v in state)

    def now(self) -> float:
        """The current simulated time in seconds."""
        if self.stepped:
            return self._sim0
        return self._sim0 + (self._wall() - self._wall0) * self._speed

    def advance_to(self, sim_time: float) -> None:
        """Stepped clock: jump forward to ``sim_time`` (never back). Free-running: nothing."""
        if self.stepped and sim_time > self._sim0:
            self._sim0 = float(sim_time)

    def wall_duration(self, sim_seconds: float) -> float:
        """Wall-clock seconds that ``sim_seconds`` of simulated time take (none when stepped)."""
        if self.stepped:
            return 0.0
        return max(0.0, sim_seconds) / self._speed


@functools.lru_cache(maxsize=1024)
def _channel_key(channel: str) -> int:
    return int.from_bytes(hashlib.blake2b(channel.encode(), digest_size=8).digest(), "little")


def keyed_rng(seed: int, channel: str, sim_time: float = 0.0) -> np.random.Generator:
    """A generator keyed by (seed, channel, simulated time), so extra reads shift nothing.

    Simulated time is keyed at microsecond resolution.
    """
    tick = round(sim_time * 1e6)
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, _channel_key(channel), tick & 0xFFFFFFFFFFFF])
