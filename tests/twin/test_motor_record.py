"""The motor record over Channel Access only: fields, coordinates, limits, switches, STOP, SPMG, alarms."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from caproto import AlarmSeverity, AlarmStatus

from tests.twin.ca import CA

TWIN_SPEED = 50.0
M = "BT:m1"


@pytest.fixture(autouse=True)
def home_state(ca: CA) -> Iterator[None]:
    """Each test starts (and leaves) the motor at 0 with default frame, limits, speed and modes."""
    yield
    ca.put("BT:twin:motor:Stall-Cmd", "Off")
    for field, value in (("SPMG", "Go"), ("SET", "Use"), ("FOFF", "Variable"), ("DIR", "Pos"), ("OFF", 0.0),
                         ("DHLM", 10.0), ("DLLM", -10.0), ("VELO", 5.0), ("ACCL", 0.1), ("PREC", 4)):
        ca.put(f"{M}.{field}", value)
    ca.put(M, 0.0, timeout=30)


def test_rbv_precision_and_ctrl_limits_follow_prec_and_hlm(ca: CA) -> None:
    meta = ca.read(f"{M}.RBV", "control").metadata
    assert meta.precision == 4 and meta.units == b"mm"
    assert (meta.lower_ctrl_limit, meta.upper_ctrl_limit) == (-10.0, 10.0)
    ca.put(f"{M}.PREC", 2)
    ca.put(f"{M}.HLM", 7.5)
    for name in (M, f"{M}.RBV"):
        meta = ca.read(name, "control").metadata
        assert meta.precision == 2 and meta.upper_ctrl_limit == 7.5
    assert ca.get(f"{M}.DHLM") == 7.5


def test_enum_menus_use_the_records_strings(ca: CA) -> None:
    for field, strings in (("FOFF", ["Variable", "Frozen"]), ("SET", ["Use", "Set"]), ("DIR", ["Pos", "Neg"]),
                           ("SPMG", ["Stop", "Pause", "Move", "Go"])):
        meta = ca.read(f"{M}.{field}", "control").metadata
        assert [s.decode() for s in meta.enum_strings] == strings
    assert ca.string(f"{M}.SPMG") == "Go" and ca.string(f"{M}.DIR") == "Pos"


def test_put_with_callback_completes_at_the_end_of_the_move(ca: CA) -> None:
    dmov, stop = ca.monitor(f"{M}.DMOV")
    ca.put(M, 4.0, timeout=30)
    stop()
    assert ca.get(f"{M}.RBV") == pytest.approx(4.0, abs=1e-4)
    assert ca.get(f"{M}.DMOV") == 1 and ca.get(f"{M}.MOVN") == 0 and ca.get(f"{M}.TDIR") == 1
    values = [v for _, v in dmov]
    assert values[-2:] == [0, 1]
    msta = ca.get(f"{M}.MSTA")
    assert msta & 2 and not msta & 1024  # DONE, not MOVING


def test_null_move_pulses_dmov(ca: CA) -> None:
    here = ca.get(f"{M}.RBV")
    dmov, stop = ca.monitor(f"{M}.DMOV")
    ca.put(M, here, timeout=10)
    time.sleep(0.1)
    stop()
    assert [v for _, v in dmov][-3:] == [1, 0, 1]


def test_put_beyond_limits_sets_lvio_and_does_not_move(ca: CA) -> None:
    ca.put(M, 1.0, timeout=10)
    ca.put(M, 11.0, timeout=10)
    assert ca.get(f"{M}.LVIO") == 1
    assert ca.get(f"{M}.RBV") == pytest.approx(1.0) and ca.get(M) == pytest.approx(1.0)
    ca.put(M, 2.0, timeout=10)
    assert ca.get(f"{M}.LVIO") == 0 and ca.get(f"{M}.RBV") == pytest.approx(2.0)


def test_stop_brakes_and_val_follows_rbv(ca: CA) -> None:
    ca.put(f"{M}.VELO", 0.1)  # 10 mm at 0.1 mm/s: 100 s simulated, 2 s wall
    done = ca.put_async(M, -9.0)
    ca.wait_for(f"{M}.RBV", lambda v: v < -1.0)
    ca.put(f"{M}.STOP", 1)
    assert done.wait(5), "the put completes once the motor has stopped"
    rbv = ca.get(f"{M}.RBV")
    assert -8.0 < rbv < -1.0
    assert ca.get(M) == pytest.approx(rbv, abs=1e-3) and ca.get(f"{M}.DMOV") == 1 and ca.get(f"{M}.STOP") == 0


def test_offset_direction_and_dial(ca: CA) -> None:
    ca.put(M, 2.0, timeout=10)
    ca.put(f"{M}.OFF", 1.5)
    assert ca.get(f"{M}.RBV") == pytest.approx(3.5) and ca.get(f"{M}.DRBV") == pytest.approx(2.0)
    assert (ca.get(f"{M}.LLM"), ca.get(f"{M}.HLM")) == (pytest.approx(-8.5), pytest.approx(11.5))
    ca.put(f"{M}.DIR", "Neg")  # user = −dial + OFF
    assert ca.get(f"{M}.RBV") == pytest.approx(-0.5)
    assert (ca.get(f"{M}.LLM"), ca.get(f"{M}.HLM")) == (pytest.approx(-8.5), pytest.approx(11.5))
    ca.put(M, 0.5, timeout=10)  # dial −(0.5 − 1.5) = 1.0
    assert ca.get(f"{M}.DRBV") == pytest.approx(1.0) and ca.get(f"{M}.DVAL") == pytest.approx(1.0)
    ca.put(f"{M}.DVAL", 3.0, timeout=10)
    assert ca.get(f"{M}.RBV") == pytest.approx(-1.5)


def test_set_mode_redefines_without_moving(ca: CA) -> None:
    ca.put(M, 2.0, timeout=10)
    ca.put(f"{M}.SET", "Set")
    ca.put(M, 5.0, timeout=10)  # FOFF Variable: the offset changes
    assert ca.get(f"{M}.OFF") == pytest.approx(3.0) and ca.get(f"{M}.DRBV") == pytest.approx(2.0)
    assert ca.get(f"{M}.RBV") == pytest.approx(5.0)
    ca.put(f"{M}.FOFF", "Frozen")
    ca.put(M, 4.0, timeout=10)  # FOFF Frozen: the dial is redefined
    assert ca.get(f"{M}.OFF") == pytest.approx(3.0) and ca.get(f"{M}.DRBV") == pytest.approx(1.0)
    ca.put(f"{M}.SET", "Use")
    ca.put(f"{M}.FOFF", "Variable")
    ca.put(f"{M}.OFF", 0.0)
    ca.put(f"{M}.SET", "Set")
    ca.put(M, 2.0, timeout=10)  # back to dial == user == the physical position
    ca.put(f"{M}.SET", "Use")
    assert ca.get(f"{M}.OFF") == pytest.approx(1.0) or ca.get(f"{M}.DRBV") == pytest.approx(1.0)


def test_limit_switch_halts_the_move_with_a_major_alarm(ca: CA) -> None:
    ca.put(f"{M}.HLM", 15.0)  # the soft limit beyond the switch at 12
    ca.put(M, 14.0, timeout=30)
    resp = ca.read(f"{M}.RBV")
    assert resp.data[0] == pytest.approx(12.0)
    assert resp.metadata.severity == AlarmSeverity.MAJOR_ALARM and resp.metadata.status == AlarmStatus.HWLIMIT
    assert ca.get(f"{M}.HLS") == 1 and ca.get(f"{M}.MSTA") & 4
    ca.put(M, 0.0, timeout=30)  # moving off the switch clears the alarm
    resp = ca.read(f"{M}.RBV")
    assert resp.metadata.severity == AlarmSeverity.NO_ALARM and ca.get(f"{M}.HLS") == 0


def test_stall_fault_stops_the_motor_and_raises_an_alarm(ca: CA) -> None:
    ca.put(f"{M}.VELO", 0.1)  # slow: the fault lands mid-move even on a loaded machine
    done = ca.put_async(M, 5.0)
    ca.wait_for(f"{M}.RBV", lambda v: v > 1.0)
    ca.put("BT:twin:motor:Stall-Cmd", "On")
    assert done.wait(5)
    rbv = ca.read(f"{M}.RBV")
    assert rbv.data[0] < 4.0 and rbv.metadata.severity == AlarmSeverity.MAJOR_ALARM
    assert ca.get(f"{M}.MSTA") & (1 << 6) and ca.get(f"{M}.MSTA") & (1 << 9)
    ca.put(M, 0.0, timeout=10)  # a stalled motor goes nowhere
    assert ca.get(f"{M}.RBV") == pytest.approx(rbv.data[0], abs=1e-3)


def test_spmg_pause_then_go_resumes_and_stop_cancels(ca: CA) -> None:
    ca.put(f"{M}.VELO", 0.1)  # slow: the fault lands mid-move even on a loaded machine
    done = ca.put_async(M, 6.0)
    ca.wait_for(f"{M}.RBV", lambda v: v > 1.0)
    ca.put(f"{M}.SPMG", "Pause")
    assert done.wait(5)
    paused = ca.get(f"{M}.RBV")
    assert paused < 6.0 and ca.get(M) == pytest.approx(6.0)
    ca.put(f"{M}.VELO", 5.0)
    ca.put(f"{M}.SPMG", "Go")
    ca.wait_for(f"{M}.DMOV", lambda v: v == 1 and abs(ca.get(f"{M}.RBV") - 6.0) < 1e-3, timeout=10)
    ca.put(f"{M}.SPMG", "Stop")
    ca.put(M, 2.0, timeout=10)  # ignored in Stop
    assert ca.get(f"{M}.RBV") == pytest.approx(6.0) and ca.get(M) == pytest.approx(6.0)


def test_velocity_is_clipped_to_vmax_and_mres_rounds_targets(ca: CA) -> None:
    ca.put(f"{M}.VMAX", 8.0)
    ca.put(f"{M}.VELO", 20.0)
    assert ca.get(f"{M}.VELO") == 8.0
    ca.put(f"{M}.VMAX", 50.0)
    ca.put(f"{M}.MRES", 0.01)
    ca.put(M, 1.234, timeout=10)
    assert ca.get(f"{M}.DRBV") == pytest.approx(1.23) and ca.get(f"{M}.RRBV") == 123
    ca.put(f"{M}.MRES", 1e-4)


def test_home_forward_finds_the_home_switch(ca: CA) -> None:
    ca.put(M, -3.0, timeout=10)
    ca.put(f"{M}.HOMF", 1, timeout=30)
    assert ca.get(f"{M}.RBV") == pytest.approx(0.0, abs=1e-3)
    assert ca.get(f"{M}.HOMF") == 0 and ca.get(f"{M}.MSTA") & (1 << 14)


def test_backlash_takeout_approaches_in_the_bdst_direction(ca: CA) -> None:
    ca.put(M, 3.0, timeout=10)
    ca.put(f"{M}.BDST", 0.5)
    ca.put(f"{M}.BVEL", 1.0)
    rbv, stop = ca.monitor(f"{M}.RBV")
    ca.put(M, 1.0, timeout=30)
    stop()
    ca.put(f"{M}.BDST", 0.0)
    values = [v for _, v in rbv]
    assert min(values) == pytest.approx(0.5, abs=1e-3) and values[-1] == pytest.approx(1.0)
    assert ca.get(f"{M}.VELO") == 5.0
