"""The scaler record, the beam status and faults on cue, over Channel Access only."""

from __future__ import annotations

import time

import pytest
from caproto import AlarmSeverity

from scenarios import scenario as scenarios
from tests.twin.ca import CA
from twin.physics import BeamlineModel

TWIN_SEED = 21
TWIN_SPEED = 50.0
S = "BT:sc1"


@pytest.fixture(scope="module")
def at_peak(ca: CA) -> float:
    """Park the motor on the sample's peak (the twin's truth under its seed)."""
    centre = float(BeamlineModel(scenarios.load("demo").beamline["physics"], seed=TWIN_SEED).truth()["center"])
    ca.put("BT:m1", centre, timeout=30)
    return centre


def _count(ca: CA, tp: float) -> int:
    ca.put(f"{S}.TP", tp)
    ca.put(f"{S}.CNT", 1, timeout=30)
    return int(ca.get(f"{S}.S2"))


def test_counts_scale_with_count_time(ca: CA, at_peak: float) -> None:
    one = sum(_count(ca, 1.0) for _ in range(4))
    four = _count(ca, 4.0)
    assert one > 40_000
    assert four / one == pytest.approx(1.0, rel=0.03)
    assert ca.get(f"{S}.T") == pytest.approx(4.0, rel=0.02)
    assert ca.get(f"{S}.S1") == pytest.approx(4.0 * ca.get(f"{S}.FREQ"), rel=0.02)


def test_count_put_completes_after_tp_over_speed(ca: CA, at_peak: float) -> None:
    ca.put(f"{S}.TP", 25.0)  # 0.5 s wall at ×50
    t0 = time.monotonic()
    ca.put(f"{S}.CNT", 1, timeout=30)
    wall = time.monotonic() - t0
    assert 0.45 < wall < 1.5
    assert ca.string(f"{S}.CNT") == "Done"


def test_presets_follow_each_other(ca: CA) -> None:
    ca.put(f"{S}.TP", 2.0)
    assert ca.get(f"{S}.PR1") == 2.0 * ca.get(f"{S}.FREQ")
    ca.put(f"{S}.PR1", int(5e6))
    assert ca.get(f"{S}.TP") == pytest.approx(0.5)
    assert ca.get(f"{S}.NM2") == "det" and ca.get(f"{S}.NM1") == "clock"


def test_counts_follow_the_ring_current_through_a_dump(ca: CA, at_peak: float) -> None:
    assert ca.get("BT:beam:Current-RB") == pytest.approx(500.0, rel=0.006)
    with_beam = _count(ca, 1.0)
    ca.put("BT:twin:Dump-Cmd", 100.0)  # 100 simulated s: 2 s wall
    assert ca.get("BT:beam:Current-RB") == 0.0
    ca.wait_for("BT:beam:BeamAvailable-RB", lambda v: v == 0, timeout=2)
    assert ca.read("BT:beam:Current-RB").metadata.severity == AlarmSeverity.MAJOR_ALARM
    dumped = _count(ca, 1.0)
    assert dumped < 30 < with_beam / 100  # only the detector's dark counts are left
    ca.wait_for("BT:beam:BeamAvailable-RB", lambda v: v == 1, timeout=10)
    assert _count(ca, 1.0) == pytest.approx(with_beam, rel=0.05)
    assert 0 < ca.get("BT:beam:TopUpCountdown-RB") < 300


def test_the_shutter_cuts_the_beam(ca: CA, at_peak: float) -> None:
    ca.put("BT:beam:Shutter-Cmd", "Close", timeout=10)
    assert ca.string("BT:beam:Shutter-RB") == "Closed" and ca.get("BT:beam:BeamAvailable-RB") == 0
    assert _count(ca, 1.0) < 30
    ca.put("BT:beam:Shutter-Cmd", "Open", timeout=10)
    assert ca.string("BT:beam:Shutter-RB") == "Open" and _count(ca, 1.0) > 10_000


def test_saturation_and_noise_bursts_on_cue(ca: CA, at_peak: float) -> None:
    normal = _count(ca, 1.0)
    ca.put("BT:twin:det:Saturate-Cmd", 20.0)
    saturated = ca.read(f"{S}.S2")
    ca.put(f"{S}.CNT", 1, timeout=30)
    saturated = ca.read(f"{S}")
    assert ca.get(f"{S}.S2") > 100 * normal
    assert saturated.metadata.severity == AlarmSeverity.MAJOR_ALARM
    time.sleep(0.5)  # past the 20 simulated s
    ca.put("BT:twin:det:NoiseRate-SP", 1e6)
    ca.put("BT:twin:det:NoiseBurst-Cmd", 20.0)
    noisy = _count(ca, 1.0)
    assert noisy > normal + 5e5
    time.sleep(0.5)
    assert _count(ca, 1.0) == pytest.approx(normal, rel=0.05)
    assert ca.read(f"{S}").metadata.severity == AlarmSeverity.NO_ALARM


def test_autocount_updates_without_a_trigger(ca: CA, at_peak: float) -> None:
    ca.put(f"{S}.TP1", 5.0)
    ca.put(f"{S}.CONT", "AutoCount")
    seen, stop = ca.monitor(f"{S}.S2")
    time.sleep(1.0)
    stop()
    ca.put(f"{S}.CONT", "OneShot")
    assert len({v for _, v in seen}) >= 3


def test_limit_switch_fault_halts_a_move(ca: CA) -> None:
    ca.put("BT:m1", -4.0, timeout=30)
    ca.put("BT:m1.VELO", 0.1)  # slow: the fault lands mid-move even on a loaded machine
    done = ca.put_async("BT:m1", 4.0)
    ca.wait_for("BT:m1.RBV", lambda v: v > -3.0)
    ca.put("BT:twin:motor:LimitHit-Cmd", "High")
    assert done.wait(5)
    rbv = ca.read("BT:m1.RBV")
    assert rbv.data[0] < 3.0 and rbv.metadata.severity == AlarmSeverity.MAJOR_ALARM
    assert ca.get("BT:m1.HLS") == 1
    ca.put("BT:twin:motor:LimitHit-Cmd", "Off")
    ca.put("BT:m1.VELO", 5.0)
    ca.put("BT:m1", 0.0, timeout=30)
    assert ca.get("BT:m1.HLS") == 0 and ca.read("BT:m1.RBV").metadata.severity == AlarmSeverity.NO_ALARM


def test_a_gated_preset_count_stops_the_count(ca: CA, at_peak: float) -> None:
    rate = _count(ca, 10.0) / 10.0  # counts per simulated second on the peak (±1% Poisson, not ±3%)
    ca.put(f"{S}.PR2", 5000)
    ca.put(f"{S}.G2", "Y")
    try:
        ca.put(f"{S}.TP", 100.0)
        ca.put(f"{S}.CNT", 1, timeout=30)
        assert ca.get(f"{S}.S2") == 5000
        assert ca.get(f"{S}.T") == pytest.approx(5000 / rate, rel=0.05)
    finally:
        ca.put(f"{S}.G2", "N")
