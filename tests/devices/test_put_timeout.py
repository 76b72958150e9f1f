"""Every put with completion has a deadline: a refused put or a hung IOC fails the plan, never hangs it.

Real processes over CA: the twin's TP refuses values ≤ 0 (caproto's client ignores the error
response, so the put never completes), and a SIGSTOPped twin is an IOC that stops answering
mid-scan. Each test checks the error (``PutTimeout``, naming device, PV and value) and that it
came within the deadline the device computed, not after a hang.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest

from acq.devices import Motor, PutTimeout, Scaler, load_profile, make_devices, soft_motor
from acq.devices.completion import deadline
from acq.engine import RunEngine, SuspendFloor
from acq.loop import call_in_loop
from acq.plans import scan
from acq.plans.stubs import mv
from scenarios.twin_process import TwinProcess
from tests.conftest import frozen

TWIN_SPEED = 50.0


def test_a_refused_put_fails_with_put_timeout_naming_device_pv_and_value(twin: TwinProcess) -> None:
    det = load_profile("default")["det"]
    assert isinstance(det, Scaler)
    before = call_in_loop(det.preset_time.get_value())
    t0 = time.monotonic()
    status = det.preset_time.set(-1.0, timeout=1.0)  # the IOC's TP refuses values ≤ 0
    with pytest.raises(PutTimeout) as err:
        status.wait(30)
    elapsed = time.monotonic() - t0
    assert 0.9 < elapsed < 10, elapsed
    text = str(err.value)
    assert "det_preset_time" in text and "BT:sc1.TP" in text and "-1.0" in text
    assert err.value.value == -1.0 and err.value.timeout == 1.0
    assert call_in_loop(det.preset_time.get_value()) == before  # refused: nothing changed


def test_a_move_into_a_hung_ioc_fails_the_plan_within_its_deadline(twin: TwinProcess) -> None:
    motor = load_profile("default")["motor"]
    assert isinstance(motor, Motor)
    motor.set(0.0).wait(10)  # the motor knows where it is
    motor.timeout_margin = 1.0
    velo, accl = motor._speed
    expected = deadline(abs(1.0 - 0.0) / velo + 2 * accl, 1.0)
    RE = RunEngine()
    t0 = time.monotonic()
    with frozen(twin), pytest.raises(PutTimeout) as err:
        RE(mv(motor, 1.0))
    elapsed = time.monotonic() - t0
    # the computed deadline, then the fresh reads of VELO/ACCL/RBV fail (2 s CA timeout): no extension
    assert expected - 0.1 < elapsed < expected + 8, (elapsed, expected)
    text = str(err.value)
    assert "motor" in text and "BT:m1" in text and "1.0" in text
    assert err.value.device == "motor" and err.value.value == 1.0
    motor.set(0.5).wait(15)  # the IOC answers again: the motor moves as before
    assert abs(call_in_loop(motor.readback.get_value()) - 0.5) < 0.01


def test_a_count_on_a_hung_ioc_fails_within_preset_time_plus_margin(twin: TwinProcess) -> None:
    det = load_profile("default")["det"]
    assert isinstance(det, Scaler)
    det.timeout_margin = 1.0
    t0 = time.monotonic()
    with frozen(twin):
        status = det.trigger()
        with pytest.raises(PutTimeout) as err:
            status.wait(60)
    elapsed = time.monotonic() - t0
    assert elapsed < deadline(det._preset, 1.0) + 8, elapsed
    assert "det" in str(err.value) and "BT:sc1.CNT" in str(err.value)
    det.trigger().wait(15)  # and counts again once the IOC is back


def test_a_hung_ioc_with_a_tripped_suspender_suspends_the_scan_and_it_resumes(twin: TwinProcess) -> None:
    devices = load_profile("default")
    motor, det, beam = devices["motor"], devices["det"], devices["beam"]
    assert isinstance(motor, Motor) and isinstance(det, Scaler)
    motor.set(0.0).wait(10)
    motor.timeout_margin = det.timeout_margin = 1.0
    sus = SuspendFloor(beam.current, 1.0, poll_period=0.1)  # type: ignore[attr-defined]
    RE = RunEngine()
    docs: list[tuple[str, dict[str, Any]]] = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    RE.install_suspender(sus)
    assert twin.proc is not None
    pid = twin.proc.pid
    outage = 6.0  # longer than the move's deadline plus the failed fresh reads
    os.kill(pid, signal.SIGSTOP)
    waker = threading.Timer(outage, os.kill, (pid, signal.SIGCONT))
    waker.start()
    t0 = time.monotonic()
    try:
        RE(scan([det], motor, 0.0, 1.0, 3))
    finally:
        waker.cancel()
        os.kill(pid, signal.SIGCONT)
        RE.clear_suspenders()
    assert time.monotonic() - t0 >= outage, "the plan waited out the hung IOC"
    stop = next(doc for name, doc in docs if name == "stop")
    assert stop["exit_status"] == "success", stop
    assert [doc["data"]["motor"] for name, doc in docs if name == "event"] == pytest.approx([0.0, 0.5, 1.0], abs=0.01)


def test_a_timeout_is_also_a_connection_error_for_the_engine_suspenders() -> None:
    exc = PutTimeout("m: the move to 1 (ca://X) did not finish within 3 s", device="m", pv="ca://X", value=1,
                     timeout=3.0)
    assert isinstance(exc, TimeoutError) and isinstance(exc, ConnectionError)


def test_the_move_deadline_follows_distance_velocity_and_acceleration() -> None:
    m = soft_motor("m", 0.0, velocity=2.0, acceleration_time=0.5)
    assert call_in_loop(m.move_timeout(8.0)) == pytest.approx(8 / 2 + 2 * 0.5 + 10.0)
    m.timeout_margin = 0.0
    assert call_in_loop(m.move_timeout(0.001)) == pytest.approx(1.0005)  # no margin asked: none added
    m.timeout = 42.0
    assert call_in_loop(m.move_timeout(8.0)) == 42.0


def test_profile_deadline_options_are_checked_and_passed() -> None:
    spec = {"devices": {"m": {"kind": "motor", "prefix": "X:m", "timeout_margin": 3},
                        "d": {"kind": "scaler", "prefix": "X:sc", "timeout": 7.5},
                        "p": {"kind": "positioner", "prefix": "X:p:", "timeout": 4}}}
    devices = make_devices(spec)
    assert devices["m"].timeout_margin == 3.0  # type: ignore[attr-defined]
    assert devices["d"].timeout == 7.5  # type: ignore[attr-defined]
    assert devices["p"].put_timeout == 4.0  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"devices\.m\.timeout_margin"):
        make_devices({"devices": {"m": {"kind": "motor", "prefix": "X:m", "timeout_margin": "soon"}}})
