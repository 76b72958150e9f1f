"""The trapezoidal move, checked against numerical integration of its own velocity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from twin.physics import Axis, MoveProfile, SimClock, keyed_rng


@pytest.mark.parametrize(("distance", "velocity", "accel"), [(10.0, 2.0, 0.5), (0.01, 2.0, 0.5), (3.0, 1.0, 0.0),
                                                               (-4.0, 3.0, 0.2)])
def test_position_is_the_integral_of_velocity(distance: float, velocity: float, accel: float) -> None:
    m = MoveProfile(start=1.0, target=1.0 + distance, velocity=velocity, accel_time=accel, t0=2.0)
    for frac in (0.1, 0.37, 0.5, 0.8, 1.0):
        t = m.t0 + frac * m.duration
        integral, _ = quad(m.velocity_at, m.t0, t, limit=200, points=[m.t0 + accel, m.t0 + m.duration - accel])
        assert m.position(t) == pytest.approx(m.start + integral, abs=1e-9)
    assert m.position(m.t0 + m.duration + 1) == m.target


def test_duration_of_a_trapezoid() -> None:
    # 10 mm at 2 mm/s with 0.5 s ramps: 0.5 mm in each ramp, 9 mm cruising (4.5 s), total 5.5 s
    assert MoveProfile(0.0, 10.0, 2.0, 0.5, 0.0).duration == pytest.approx(5.5)


def test_axis_refuses_targets_beyond_limits() -> None:
    ax = Axis(low_limit=-1.0, high_limit=1.0)
    with pytest.raises(ValueError, match="outside limits"):
        ax.start_move(2.0, 0.0)


def test_clock_speed_and_keyed_randoms() -> None:
    now = [100.0]
    clock = SimClock(speed=50.0, wall=lambda: now[0])
    now[0] += 2.0
    assert clock.now() == pytest.approx(100.0)
    assert clock.wall_duration(10.0) == pytest.approx(0.2)
    a = keyed_rng(3, "det", 1.5).poisson(100.0, 5)
    keyed_rng(3, "other", 1.5).poisson(100.0, 5)  # an extra draw elsewhere shifts nothing
    assert np.array_equal(a, keyed_rng(3, "det", 1.5).poisson(100.0, 5))
    assert not np.array_equal(a, keyed_rng(4, "det", 1.5).poisson(100.0, 5))


def test_a_past_position_survives_the_move_settling() -> None:
    # the trigger box and the camera ask where the axis was at an earlier simulated time
    axis = Axis(position=0.0, velocity=1.0, accel_time=0.1)
    axis.start_move(2.0, t=10.0)
    during = [axis.position(t) for t in (10.5, 11.0, 12.0)]
    axis.settle(20.0)
    assert [axis.position(t) for t in (10.5, 11.0, 12.0)] == during
    assert axis.position(25.0) == 2.0 and not axis.moving(25.0)
    axis.redefine(5.0, 30.0)  # SET: another frame; the past is the resting position in it
    assert axis.position(11.0) == 5.0
