"""Motion of one axis: trapezoidal velocity profiles in simulated time, limits, switches, stops."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Protocol


class Trajectory(Protocol):
    """A motion segment in simulated time: where and how fast at ``t``, and when it ends."""

    @property
    def t0(self) -> float:
        """Simulated start time."""
        ...

    @property
    def duration(self) -> float:
        """Simulated seconds the segment lasts."""
        ...

    def position(self, t: float) -> float:
        """Position at simulated time ``t``."""
        ...

    def velocity_at(self, t: float) -> float:
        """Signed speed at simulated time ``t``."""
        ...


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

    @functools.cached_property  # a frozen profile: its duration never changes (asked many times a move)
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


@dataclass(frozen=True)
class Deceleration:
    """Braking from signed speed ``v0`` at ``start`` with constant deceleration ``accel`` (EGU/s²)."""

    start: float
    v0: float
    accel: float
    t0: float

    @property
    def duration(self) -> float:
        """Simulated seconds until standstill."""
        return 0.0 if math.isinf(self.accel) else abs(self.v0) / self.accel

    def position(self, t: float) -> float:
        """Position at simulated time ``t``."""
        dt = min(max(t - self.t0, 0.0), self.duration)
        sign = 1.0 if self.v0 >= 0 else -1.0
        return self.start + sign * (abs(self.v0) * dt - 0.5 * (0.0 if math.isinf(self.accel) else self.accel) * dt * dt)

    def velocity_at(self, t: float) -> float:
        """Signed speed at simulated time ``t``."""
        dt = t - self.t0
        if dt <= 0.0 or dt >= self.duration:
            return 0.0
        sign = 1.0 if self.v0 >= 0 else -1.0
        return sign * (abs(self.v0) - self.accel * dt)


def _crossing(traj: Trajectory, level: float, rising: bool) -> float | None:
    """Earliest simulated time at which the monotonic ``traj`` reaches ``level``, if it does."""
    t_end = traj.t0 + traj.duration
    end = traj.position(t_end)
    if (rising and end < level) or (not rising and end > level):
        return None
    lo, hi = traj.t0, t_end
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        here = traj.position(mid)
        if (here >= level) if rising else (here <= level):
            hi = mid
        else:
            lo = mid
    return hi


class Axis:
    """One motor axis in simulated (dial) coordinates: a position, a trajectory, limits, switches.

    ``low_limit``/``high_limit`` are the soft limits (a target beyond them is refused);
    ``low_switch``/``high_switch`` the hardware limit switches (motion halts on them);
    a stalled axis stops where it is and goes nowhere until ``clear_stall``.
    """

    def __init__(
        self,
        position: float = 0.0,
        velocity: float = 1.0,
        accel_time: float = 0.2,
        low_limit: float = -math.inf,
        high_limit: float = math.inf,
        low_switch: float = -math.inf,
        high_switch: float = math.inf,
        home: float = 0.0,
        backlash: float = 0.0,
    ) -> None:
        self.backlash = abs(backlash)
        self.velocity = velocity
        self.accel_time = accel_time
        self.low_limit = low_limit
        self.high_limit = high_limit
        self.low_switch = low_switch
        self.high_switch = high_switch
        self.home = home
        self.stalled = False
        self._switches = (low_switch, high_switch)
        self._rest = position
        self._load_rest = position
        self._traj: Trajectory | None = None
        self._halt: tuple[float, float, str] | None = None
        self._past: tuple[Trajectory, tuple[float, float, str] | None, float] | None = None
        self.halt_reason = ""

    def within_limits(self, target: float) -> bool:
        """Whether ``target`` lies inside the soft limits."""
        return self.low_limit <= target <= self.high_limit

    def end_time(self) -> float:
        """Simulated time at which the current motion ends (−inf at rest)."""
        if self._traj is None:
            return -math.inf
        if self._halt is not None:
            return self._halt[0]
        return self._traj.t0 + self._traj.duration

    def position(self, t: float) -> float:
        """Position at simulated time ``t``."""
        if self._traj is None:
            if self._past is not None and t < self._past[2]:  # during the last move, settled since
                traj, halt, _ = self._past
                return halt[1] if halt is not None and t >= halt[0] else traj.position(t)
            return self._rest
        if self._halt is not None and t >= self._halt[0]:
            return self._halt[1]
        return self._traj.position(t)

    def velocity_at(self, t: float) -> float:
        """Signed speed at simulated time ``t``."""
        if self._traj is None or t >= self.end_time():
            return 0.0
        return self._traj.velocity_at(t)

    def moving(self, t: float) -> bool:
        """Whether the axis is in motion at simulated time ``t``."""
        return self._traj is not None and t < self.end_time()

    def load_position(self, t: float) -> float:
        """Where the load (what the beam sees) is at ``t``: with mechanical backlash (a play of
        ``b``) the load stays put until the motor has taken up the play, then trails it by ``b/2``."""
        motor = self.position(t)
        if self.backlash == 0:
            return motor
        half = self.backlash / 2
        return min(max(self._load_rest, motor - half), motor + half)

    def _begin(self, traj: Trajectory) -> None:
        if self._traj is not None:
            self._load_rest = self.load_position(traj.t0)
        self._traj = traj
        self._halt = None
        self.halt_reason = ""
        end = traj.position(traj.t0 + traj.duration)
        start = traj.position(traj.t0)
        if end > start and end >= self.high_switch:
            hit = _crossing(traj, self.high_switch, rising=True)
            if hit is not None:
                self._halt = (hit, self.high_switch, "high_switch")
        elif end < start and end <= self.low_switch:
            hit = _crossing(traj, self.low_switch, rising=False)
            if hit is not None:
                self._halt = (hit, self.low_switch, "low_switch")

    def start_move(self, target: float, t: float) -> MoveProfile:
        """Begin a move to ``target`` at simulated time ``t`` and return its profile."""
        if not self.within_limits(target):
            raise ValueError(
                f"target {target} outside limits [{self.low_limit}, {self.high_limit}]"
            )
        if self.velocity <= 0:
            raise ValueError(f"velocity must be > 0, got {self.velocity}")
        start = self.position(t)
        profile = MoveProfile(start, target, self.velocity, self.accel_time, t)
        self._begin(profile)
        if self.stalled:
            self._halt = (t, start, "stall")
            self.halt_reason = "stall"
        return profile

    def stop(self, t: float) -> float:
        """Brake from simulated time ``t`` with the axis' acceleration; return the simulated end time."""
        v = self.velocity_at(t)
        here = self.position(t)
        if v == 0.0:
            self.settle(t)
            self._rest = here
            self._traj = None
            return t
        accel = math.inf if self.accel_time <= 0 else self.velocity / self.accel_time
        self._begin(Deceleration(here, v, accel, t))
        return self.end_time()

    def stall(self, t: float) -> None:
        """A stall fault: halt at once where the axis is; later moves go nowhere until cleared."""
        self.stalled = True
        here = self.position(t)
        if self.moving(t) and self._traj is not None:
            self._halt = (t, here, "stall")
        self.halt_reason = "stall"

    def trip_switch(self, which: str, t: float) -> None:
        """A limit-switch fault: the ``high`` or ``low`` switch trips where the axis is now;
        motion towards it halts at once. ``restore_switches`` undoes it."""
        if which not in ("high", "low"):
            raise ValueError(f"which switch: 'high' or 'low', not {which!r}")
        here = self.position(t)
        v = self.velocity_at(t)
        if which == "high":
            self.high_switch = here
        else:
            self.low_switch = here
        if self.moving(t) and ((which == "high" and v > 0) or (which == "low" and v < 0)):
            self._halt = (t, here, f"{which}_switch")

    def restore_switches(self) -> None:
        """Put the limit switches back where the beamline file has them."""
        self.low_switch, self.high_switch = self._switches

    def clear_stall(self) -> None:
        """End a stall fault."""
        self.stalled = False

    def settle(self, t: float) -> None:
        """Forget a finished move once simulated time ``t`` is past it (the halt reason stays)."""
        if self._traj is not None and not self.moving(t):
            self._load_rest = self.load_position(t)
            reason = self._halt[2] if self._halt is not None else ""
            self._rest = self.position(t)
            self._past = (self._traj, self._halt, self.end_time())  # a past time still has its position
            self._traj = None
            self._halt = None
            self.halt_reason = reason

    def redefine(self, position: float, t: float) -> None:
        """Declare the current (resting) position to be ``position`` without moving (SET, homing)."""
        self.settle(t)
        self._past = None  # positions before the redefinition were in another frame
        self._load_rest += position - self._rest
        self._rest = position

    def on_high_switch(self, t: float) -> bool:
        """Whether the high limit switch is active at ``t``."""
        return self.position(t) >= self.high_switch

    def on_low_switch(self, t: float) -> bool:
        """Whether the low limit switch is active at ``t``."""
        return self.position(t) <= self.low_switch
