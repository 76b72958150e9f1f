"""The axis model alone: braking, limit switches and stalls against independent computations."""

from __future__ import annotations

import pytest
from scipy.integrate import quad

from twin.physics import Axis


def test_stop_brakes_over_v_squared_over_2a() -> None:
    ax = Axis(position=0.0, velocity=2.0, accel_time=0.5)  # a = 4 mm/s²
    ax.start_move(100.0, 0.0)
    ax.stop(10.0)  # cruising at 2 mm/s
    here = 0.5 * 4 * 0.5**2 + 2.0 * (10.0 - 0.5)
    end = ax.end_time()
    assert end == pytest.approx(10.5)
    assert ax.position(end) == pytest.approx(here + 2.0**2 / (2 * 4.0))
    travelled, _ = quad(ax.velocity_at, 10.0, end)
    assert ax.position(end) - ax.position(10.0) == pytest.approx(travelled, abs=1e-9)
    ax.settle(end + 1)
    assert not ax.moving(end + 1)


def test_high_switch_halts_the_move_where_it_is() -> None:
    ax = Axis(position=0.0, velocity=1.0, accel_time=0.0, high_switch=3.0)
    ax.start_move(5.0, 0.0)
    assert ax.end_time() == pytest.approx(3.0)  # 3 mm at 1 mm/s
    assert ax.position(10.0) == 3.0 and ax.on_high_switch(10.0)
    ax.settle(10.0)
    assert ax.halt_reason == "high_switch"
    ax.start_move(1.0, 10.0)  # moving off the switch is allowed
    assert ax.position(20.0) == 1.0 and not ax.on_high_switch(20.0)


def test_a_stalled_axis_goes_nowhere() -> None:
    ax = Axis(position=0.0, velocity=1.0, accel_time=0.0)
    ax.start_move(5.0, 0.0)
    ax.stall(2.0)
    assert ax.position(9.0) == pytest.approx(2.0)
    ax.settle(9.0)
    ax.start_move(0.0, 9.0)
    assert ax.position(20.0) == pytest.approx(2.0) and ax.halt_reason == "stall"
    ax.clear_stall()
    ax.start_move(0.0, 20.0)
    assert ax.position(30.0) == 0.0


def test_backlash_leaves_the_load_behind_by_the_play() -> None:
    ax = Axis(position=0.0, velocity=1.0, accel_time=0.0, backlash=0.1)
    ax.start_move(5.0, 0.0)
    assert ax.load_position(0.02) == 0.0  # the play is being taken up: the load has not moved
    ax.settle(10.0)
    assert ax.position(10.0) == 5.0 and ax.load_position(10.0) == pytest.approx(4.95)
    ax.start_move(3.0, 10.0)
    assert ax.load_position(10.05) == pytest.approx(4.95)  # reversing: the play again first
    ax.settle(20.0)
    assert ax.load_position(20.0) == pytest.approx(3.05)
    ax.start_move(2.0, 20.0)  # onwards in the same direction: no new play
    ax.settle(30.0)
    assert ax.load_position(30.0) == pytest.approx(2.05)
