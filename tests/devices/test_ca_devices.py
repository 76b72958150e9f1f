"""Devices over Channel Access against a real twin IOC subprocess."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from acq.devices import CABackend, ConnectionFailed, Motor, Scaler, Signal, load_profile
from acq.loop import call_in_loop
from tests.conftest import wait_until

TWIN_SPEED = 50.0


@pytest.fixture(scope="module")
def devices(twin: Any) -> dict[str, Any]:
    return load_profile("default")


@pytest.fixture
def slow(devices: dict[str, Any]) -> Any:
    """The motor at 0.1 mm/s (30 simulated s for 3 mm: 0.6 s of wall time at speed 50)."""
    motor = devices["motor"]
    velocity = call_in_loop(motor.velocity.get_value())
    call_in_loop(motor.velocity.put(0.1))
    yield motor
    call_in_loop(motor.velocity.put(velocity))


def test_describe_reports_what_the_ioc_says(devices: dict[str, Any]) -> None:
    motor, det = devices["motor"], devices["det"]
    keys = call_in_loop(motor.describe())
    assert keys["motor"]["source"] == "ca://BT:m1.RBV" and keys["motor"]["dtype"] == "number"
    assert keys["motor"]["shape"] == [] and keys["motor"]["limits"] == {"control": {"low": -10.0, "high": 10.0}}
    prec = Signal(CABackend("BT:m1.PREC"), name="prec")
    call_in_loop(prec.connect(5.0))
    assert keys["motor_setpoint"]["precision"] == call_in_loop(prec.get_value()) >= 0, "PREC as the IOC says"
    conf = call_in_loop(motor.describe_configuration())
    assert conf["motor_velocity"]["source"] == "ca://BT:m1.VELO"
    assert call_in_loop(det.describe())["det"] == {"source": "ca://BT:sc1.S2", "dtype": "integer", "shape": []}
    assert call_in_loop(det.describe_configuration())["det_preset_time"]["precision"] == 3
    assert det.hints == {"fields": ["det"]} and motor.hints == {"fields": ["motor"]}


def test_readings_carry_timestamps_and_severity(devices: dict[str, Any]) -> None:
    reading = call_in_loop(devices["motor"].read())["motor"]
    assert abs(reading["timestamp"] - time.time()) < 3600 and reading["alarm_severity"] == 0
    assert set(call_in_loop(devices["motor"].read_configuration())) == {
        "motor_velocity", "motor_acceleration_time", "motor_high_limit", "motor_low_limit", "motor_retry_deadband"}


def test_a_monitor_sees_the_motion_and_stops_when_cleared(slow: Any) -> None:
    motor = slow
    motor.set(0.0).wait(30)
    seen: list[float] = []
    lock = threading.Lock()

    def cb(readings: dict[str, Any]) -> None:
        with lock:
            seen.append(readings["motor"]["value"])

    def last() -> float | None:
        with lock:
            return seen[-1] if seen else None

    motor.readback.subscribe(cb)
    motor.set(3.0).wait(30)
    wait_until(lambda: last() == pytest.approx(3.0, abs=1e-3), what="the monitor to report the end of the move")
    motor.readback.clear_sub(cb)
    with lock:
        during = list(seen)
    assert during[-1] == pytest.approx(3.0, abs=1e-3)
    assert any(0.0 < v < 3.0 for v in during), f"intermediate positions were seen: {during}"
    motor.set(2.9).wait(30)
    time.sleep(0.2)
    assert len(seen) == len(during), "no callbacks after clear_sub"


def test_setpoint_readback_signal_with_put_completion(twin: Any) -> None:
    pair = Signal(CABackend("BT:m1.RBV"), write_backend=CABackend("BT:m1"), name="pair")
    call_in_loop(pair.connect(5.0))
    pair.set(-1.25).wait(10)
    assert call_in_loop(pair.get_value()) == pytest.approx(-1.25, abs=1e-3), "readback arrived with completion"
    assert call_in_loop(pair.locate())["setpoint"] == -1.25


def test_motor_without_put_completion_waits_on_dmov(twin: Any) -> None:
    m = Motor("BT:m1", name="m_dmov", put_completion=False)
    call_in_loop(m.connect(5.0))
    m.set(2.0).wait(10)
    assert call_in_loop(m.readback.get_value()) == pytest.approx(2.0, abs=1e-3)
    assert call_in_loop(m.done_moving.get_value()) == 1


def test_stop_halts_a_move(slow: Any) -> None:
    motor = slow
    motor.set(0.0).wait(30)
    status = motor.set(8.0)  # 80 simulated s: 1.6 s of wall time for the stop to land in
    wait_until(lambda: call_in_loop(motor.readback.get_value()) > 0.05, what="the move to start")
    call_in_loop(motor.stop())
    status.wait(10)
    here = call_in_loop(motor.readback.get_value())
    assert 0.05 < here < 8.0, f"stopped part way, at {here}"


def test_scaler_counts_for_its_preset(devices: dict[str, Any]) -> None:
    det = devices["det"]
    assert isinstance(det, Scaler)
    call_in_loop(det.preset_time.put(0.25))
    det.trigger().wait(10)
    reading = call_in_loop(det.read())
    assert reading["det_elapsed_time"]["value"] == pytest.approx(0.25, abs=1e-6)
    assert reading["det"]["value"] > 0


def test_bluesky_protocols_are_satisfied_by_shape(devices: dict[str, Any]) -> None:
    protocols = pytest.importorskip("bluesky.protocols")
    motor, det = devices["motor"], devices["det"]
    for proto in ("Readable", "Movable", "Stageable", "Configurable", "Locatable", "Stoppable", "HasHints"):
        assert isinstance(motor, getattr(protocols, proto)), proto
    for proto in ("Readable", "Triggerable", "Stageable", "Configurable", "HasHints"):
        assert isinstance(det, getattr(protocols, proto)), proto
    assert isinstance(motor.readback, protocols.Subscribable)


def test_load_profile_lists_every_failed_pv_by_device(twin: Any, tmp_path: Path) -> None:
    profile = tmp_path / "broken.yaml"
    profile.write_text("devices:\n"
                       "  motor: {kind: motor, prefix: 'BT:m1'}\n"
                       "  ghost: {kind: motor, prefix: 'NOPE:m9'}\n"
                       "  phantom: {kind: scaler, prefix: 'NOPE:sc9', channels: {phantom: 2, other: 3}}\n")
    t0 = time.monotonic()
    with pytest.raises(ConnectionFailed, match="2 of 3 device") as info:
        load_profile(profile, timeout=1.0)
    assert time.monotonic() - t0 < 4.0
    failures = info.value.failures
    assert set(failures) == {"ghost", "phantom"}
    assert "ca://NOPE:m9.RBV" in failures["ghost"] and len(failures["ghost"]) == 12  # every field, MSTA too
    assert set(failures["phantom"]) == {"ca://NOPE:sc9.CNT", "ca://NOPE:sc9.TP", "ca://NOPE:sc9.T",
                                        "ca://NOPE:sc9.S2", "ca://NOPE:sc9.S3"}


def test_a_monitored_pv_reads_the_latest_update_without_a_round_trip(devices: dict[str, Any]) -> None:
    det = devices["det"]
    watched = Signal(CABackend("BT:sc1.S2", monitor=True), name="watched", read_only=True)
    call_in_loop(watched.connect(5.0))
    for _ in range(3):
        det.trigger().wait(10)
        fresh = call_in_loop(det.read())["det"]["value"]
        deadline = time.monotonic() + 2.0
        while call_in_loop(watched.get_value()) != fresh and time.monotonic() < deadline:
            time.sleep(0.01)
        assert call_in_loop(watched.get_value()) == fresh
    backend = watched.backend
    assert isinstance(backend, CABackend) and backend._fresh, "served from the monitor"
