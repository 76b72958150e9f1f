"""Motion of one axis: trapezoidal velocity profiles in simulated time, limits, stops."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class MoveProfile:
    """A trapezoidal (or triangular) move from ``start`` to ``target`` beginning at ``t0``.

    ``velocity`` is the plateau speed (EGU/s), ``accel_time`` the time to reach it (the
    motor record's ACCL), both in simulated time.
    """

    start: float
    target: float
    velocity: float
    accel_time: float
    t0: float

    @property
    def distance(self) -> float:
        """Absolute distance travelled."""
        return abs(self.target - self.start)

    def _shape(self) -> tuple[float, float, float]:
        """(acceleration, ramp time, peak speed) of the profile."""
        d = self.distance
        v = self.velocity
        ta = max(self.accel_time, 0.0)
        if ta == 0.0:
            return math.inf, 0.0, v
        a = v / ta
        if a * ta * ta >= d:  # triangular: never reaches the plateau
            ramp = math.sqrt(d / a)
            return a, ramp, a * ramp
        return a, ta, v

    @property
    def duration(self) -> float:
        """Simulated seconds the move takes."""
        d = self.distance
        if d == 0.0:
            return 0.0
        a, ramp, vpeak = self._shape()
        if math.isinf(a):
            return d / self.velocity
        cruise = (d - vpeak * ramp) / vpeak
        return 2 * ramp + max(cruise, 0.0)

    def position(self, t: float) -> float:
        """Position at simulated time ``t``."""
        dt = t - self.t0
        if dt <= 0.0:
            return self.start
        total = self.duration
        if dt >= total:
            return self.target
        a, ramp, vpeak = self._shape()
        sign = 1.0 if self.target >= self.start else -1.0
        if math.isinf(a):
            s = vpeak * dt
        elif dt < ramp:
            s = 0.5 * a * dt * dt
        elif dt <= total - ramp:
            s = 0.5 * a * ramp * ramp + vpeak * (dt - ramp)
        else:
            left = total - dt
            s = self.distance - 0.5 * a * left * left
        return self.start + sign * s

    def velocity_at(self, t: float) -> float:
        """Signed speed at simulated time ``t``."""
        dt = t - self.t0
        total = self.duration
        if dt <= 0.0 or dt >= total:
            return 0.0
        a, ramp, vpeak = self._shape()
        sign = 1.0 if self.target >= self.start else -1.0
        if math.isinf(a):
            return sign * vpeak
        if dt < ramp:
            return sign * a * dt
        if dt > total - ramp:
            return sign * a * (total - dt)
        return sign * vpeak


class Axis:
    """One motor axis in simulated time: a position, an optional move, limits."""

    def __init__(
        self,
        position: float = 0.0,
        velocity: float = 1.0,
        accel_time: float = 0.2,
        low_limit: float = -math.inf,
        high_limit: float = math.inf,
    ) -> None:
        self.velocity = velocity
        self.accel_time = accel_time
        self.low_limit = low_limit
        self.high_limit = high_limit
        self._rest = position
        self._move: MoveProfile | None = None

    def within_limits(self, target: float) -> bool:
        """Whether ``target`` lies inside the soft limits."""
        return self.low_limit <= target <= self.high_limit

    def position(self, t: float) -> float:
        """Position at simulated time ``t``."""
        if self._move is None:
            return self._rest
        return self._move.position(t)

    def moving(self, t: float) -> bool:
        """Whether the axis is in motion at simulated time ``t``."""
        return self._move is not None and t < self._move.t0 + self._move.duration

    def start_move(self, target: float, t: float) -> MoveProfile:
        """Begin a move to ``target`` at simulated time ``t`` and return its profile."""
        if not self.within_limits(target):
            raise ValueError(
                f"target {target} outside limits [{self.low_limit}, {self.high_limit}]"
            )
        if self.velocity <= 0:
            raise ValueError(f"velocity must be > 0, got {self.velocity}")
        start = self.position(t)
        self._move = MoveProfile(start, target, self.velocity, self.accel_time, t)
        return self._move

    def stop(self, t: float) -> float:
        """Halt at simulated time ``t`` where the axis is (no deceleration yet); return it."""
        here = self.position(t)
        self._rest = here
        self._move = None
        return here

    def settle(self, t: float) -> None:
        """Forget a finished move once simulated time ``t`` is past it."""
        if self._move is not None and not self.moving(t):
            self._rest = self._move.target
            self._move = None
