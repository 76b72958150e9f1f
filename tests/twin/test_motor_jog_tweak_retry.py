"""Motor record fields over CA: tweak (TWF/TWR/TWV), jog (JOGF/JOGR/JVEL/JAR), retries
(RTRY/RCNT/RDBD/MISS) with an encoder (UEIP/ERES/REP/RMP) on a stage with mechanical play,
DMOV held through a multi-part move, and VAL following RBV when a limit switch halts a move."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.twin.ca import CA
from tests.twin.conftest import serving

TWIN_SPEED = 50.0
M = "BT:m1"
X = "BTM:x"  # the mapping beamline's sample x: 5 µm of mechanical play


@pytest.fixture(autouse=True)
def home_state(ca: CA) -> Iterator[None]:
    """Each test leaves the motor at 0 with default limits and speeds."""
    yield
    for field, value in (("JOGF", 0), ("JOGR", 0), ("DHLM", 10.0), ("DLLM", -10.0), ("VELO", 5.0),
                         ("ACCL", 0.1), ("BDST", 0.0)):
        ca.put(f"{M}.{field}", value)
    ca.wait_for(f"{M}.DMOV", lambda v: v == 1)
    ca.put(M, 0.0, timeout=30)


def test_tweak_moves_val_by_twv_and_reads_back_zero(ca: CA) -> None:
    ca.put(M, 1.0, timeout=10)
    ca.put(f"{M}.TWV", 0.25)
    ca.put(f"{M}.TWF", 1, timeout=10)
    assert ca.get(f"{M}.RBV") == pytest.approx(1.25) and ca.get(M) == pytest.approx(1.25)
    assert ca.get(f"{M}.TWF") == 0
    ca.put(f"{M}.TWR", 1, timeout=10)
    ca.put(f"{M}.TWR", 1, timeout=10)
    assert ca.get(f"{M}.RBV") == pytest.approx(0.75) and ca.get(M) == pytest.approx(0.75)
    ca.put(f"{M}.TWV", 20.0)
    ca.put(f"{M}.TWF", 1, timeout=10)  # beyond HLM: refused like a VAL put
    assert ca.get(f"{M}.LVIO") == 1 and ca.get(f"{M}.RBV") == pytest.approx(0.75)


def test_jog_runs_until_released_and_stops_at_the_soft_limit(ca: CA) -> None:
    ca.put(f"{M}.JVEL", 0.2)  # 10 mm take 50 simulated s: 1 s of wall time at speed 50
    ca.put(f"{M}.JOGF", 1)
    ca.wait_for(f"{M}.RBV", lambda v: v > 0.3)
    assert ca.get(f"{M}.JOGF") == 1 and ca.get(f"{M}.DMOV") == 0
    ca.put(f"{M}.JOGF", 0)
    ca.wait_for(f"{M}.DMOV", lambda v: v == 1)
    here = ca.get(f"{M}.RBV")
    assert 0.3 < here < 9.5 and ca.get(M) == pytest.approx(here), "released: VAL follows RBV"
    ca.put(f"{M}.JVEL", 5.0)
    ca.put(f"{M}.JOGR", 1)
    ca.wait_for(f"{M}.JOGR", lambda v: v == 0, timeout=20)
    ca.wait_for(f"{M}.DMOV", lambda v: v == 1)
    assert ca.get(f"{M}.RBV") == pytest.approx(-10.0) and ca.get(M) == pytest.approx(-10.0)


def test_dmov_stays_low_through_backlash_takeout(ca: CA) -> None:
    ca.put(M, 3.0, timeout=10)
    ca.put(f"{M}.BDST", 0.5)
    dmov, stop = ca.monitor(f"{M}.DMOV")
    ca.put(M, 1.0, timeout=30)
    stop()
    assert [v for _, v in dmov] == [1, 0, 1], "one 1→0→1 for the whole two-part move"


def test_val_follows_rbv_when_a_limit_switch_halts_the_move(ca: CA) -> None:
    ca.put(f"{M}.HLM", 15.0)  # the soft limit beyond the switch at 12
    ca.put(M, 14.0, timeout=30)
    assert ca.get(f"{M}.RBV") == pytest.approx(12.0) and ca.get(M) == pytest.approx(12.0)
    assert ca.get(f"{M}.HLS") == 1
    ca.put(M, 0.0, timeout=30)  # straight back off the switch
    assert ca.get(f"{M}.RBV") == pytest.approx(0.0) and ca.get(f"{M}.HLS") == 0


def test_encoder_on_a_stage_with_play_needs_retries() -> None:
    with serving("mapping") as (_, ca):
        assert ca.get(f"{X}.UEIP") == 0 or ca.string(f"{X}.UEIP") == "No"
        ca.put(X, 1.0, timeout=30)
        # motor readback: exact, the play is invisible, no retry
        assert ca.get(f"{X}.RBV") == pytest.approx(1.0, abs=1e-9) and ca.get(f"{X}.RCNT") == 0
        assert ca.get(f"{X}.RMP") == 10000
        ca.put(f"{X}.UEIP", "Yes")
        ca.put(f"{X}.ERES", 1e-4)
        ca.put(f"{X}.RDBD", 1e-4)
        time.sleep(0.1)
        ca.put(X, 2.0, timeout=30)  # from below: the load trails the motor by half the play
        assert ca.get(f"{X}.RCNT") >= 1 and ca.get(f"{X}.MISS") == 0
        assert ca.get(f"{X}.RBV") == pytest.approx(2.0, abs=1e-4)
        assert ca.get(f"{X}.REP") * 1e-4 == pytest.approx(ca.get(f"{X}.DRBV"), abs=1e-9)
        assert ca.get(f"{X}.RMP") * 1e-4 == pytest.approx(2.0 + 0.0025, abs=2e-4), "the motor overshoots by the lag"
        ca.put(f"{X}.RTRY", 0)
        ca.put(X, 1.0, timeout=30)  # reversing: the play opens the other way, and no retries allowed
        assert ca.get(f"{X}.RCNT") == 0 and ca.get(f"{X}.MISS") == 1
        assert abs(ca.get(f"{X}.DIFF")) == pytest.approx(0.0025, abs=2e-4)
