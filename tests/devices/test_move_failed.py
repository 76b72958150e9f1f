"""A move whose put completes short of its target (a stall, a limit switch) fails, naming why."""

from __future__ import annotations

from typing import Any

import pytest

from acq import plans
from acq.devices import Motor, MoveFailed
from acq.engine import RunEngine
from acq.loop import call_in_loop

TWIN_SEED = 3


@pytest.fixture(params=[False, True], ids=["reads", "monitors"])
def motor(twin: Any, request: pytest.FixtureRequest) -> Any:
    """The twin's motor, reading RBV/LVIO/MSTA after each move, or taking them from CA monitors."""
    m = Motor("BT:m1", name="motor", monitor_readback=request.param)
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


def test_a_put_the_ioc_refuses_fails_and_the_next_move_passes(twin: Any, motor: Any) -> None:
    """The IOC's HLM is lowered behind the device's back: the move passes the device's own limit
    check, the motor record refuses it (LVIO), and the next move within the limits succeeds (with
    monitors: LVIO's update to 0 arrives before that move's completion)."""
    from acq.devices import LimitError

    high = float(call_in_loop(motor.high_limit.get_value()))
    call_in_loop(motor.high_limit.put(1.0, wait=True))
    try:
        with pytest.raises(LimitError, match=r"motor: the IOC refused 2.0 \(LVIO\)"):
            RunEngine()(plans.mv(motor, 2.0))
        for target in (0.5, 0.75):
            RunEngine()(plans.mv(motor, target))
            assert float(call_in_loop(motor.readback.get_value())) == pytest.approx(target, abs=1e-3)
    finally:
        call_in_loop(motor.high_limit.put(high, wait=True))
        call_in_loop(motor.refresh_limits())


def test_a_monitored_motor_moves_without_reads(twin: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``monitor_readback`` a move and its reading read nothing from the IOC: RBV, VAL, LVIO and
    MSTA come from monitors, posted before the completion (each event's readback is its point)."""
    from acq.devices import Signal, SoftBackend, ca_client

    m = Motor("BT:m1", name="motor", monitor_readback=True)
    call_in_loop(m.connect())
    RunEngine()(plans.mv(m, 0.0))
    reads: list[str] = []
    fresh_read = ca_client.read

    async def counted(pv: Any, **kwargs: Any) -> Any:
        reads.append(pv.name)
        return await fresh_read(pv, **kwargs)

    monkeypatch.setattr(ca_client, "read", counted)
    docs: list[tuple[str, dict[str, Any]]] = []
    RE = RunEngine()
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    targets = [0.01, 0.02, 0.5, 0.2, 0.0]
    RE(plans.list_scan([Signal(SoftBackend(1.0), name="d", kind="hinted")], m, targets))
    assert [d["data"]["motor"] for n, d in docs if n == "event"] == pytest.approx(targets, abs=1e-6)
    per_move = [name for name in reads if name in ("BT:m1", "BT:m1.RBV", "BT:m1.LVIO", "BT:m1.MSTA")]
    assert not per_move, f"read from the IOC during the scan: {per_move}"
    assert len(reads) <= 5, f"only the configuration (VELO, ACCL, HLM, LLM, RDBD) is read once: {reads}"
