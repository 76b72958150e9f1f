"""A move whose put completes short of its target (a stall, a limit switch) fails, naming why."""

from __future__ import annotations

from typing import Any

import pytest

from acq import plans
from acq.devices import Motor, MoveFailed
from acq.engine import RunEngine
from acq.loop import call_in_loop

TWIN_SEED = 3


@pytest.fixture()
def motor(twin: Any) -> Any:
    m = Motor("BT:m1", name="motor")
    call_in_loop(m.connect())
    call_in_loop(m.velocity.put(0.5))
    call_in_loop(m.setpoint.put(0.0, wait=True))
    yield m
    twin.fault("stall", "motor", "Off")
    twin.fault("limit", "motor", "Off")
    call_in_loop(m.velocity.put(5.0))


def test_a_stalled_move_fails_with_the_motor_and_where_it_stopped(twin: Any, motor: Any) -> None:
    twin.fault("stall", "motor", "On")
    with pytest.raises(MoveFailed, match=r"motor: the move to 3.0 ended at .*: the motor stalled"):
        RunEngine()(plans.mv(motor, 3.0))
    twin.fault("stall", "motor", "Off")
    RunEngine()(plans.mv(motor, 0.5))  # the motor moves again once the fault clears
    assert float(call_in_loop(motor.readback.get_value())) == pytest.approx(0.5, abs=1e-3)


def test_a_move_cut_short_by_a_limit_switch_fails(twin: Any, motor: Any) -> None:
    twin.fault("limit", "motor", "High")
    with pytest.raises(MoveFailed, match=r"motor: the move to 2.0 ended at .*: it hit the high limit switch"):
        RunEngine()(plans.mv(motor, 2.0))


def test_an_ordinary_move_passes_the_status_check(twin: Any, motor: Any) -> None:
    RunEngine()(plans.mv(motor, 0.25))
    assert float(call_in_loop(motor.readback.get_value())) == pytest.approx(0.25, abs=1e-3)
