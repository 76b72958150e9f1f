"""The main plans end to end over Channel Access against a twin IOC — on our RunEngine and on Bluesky's."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from acq import plans
from acq.devices import load_profile, soft_motor
from acq.engine import RunEngine
from acq.loop import call_in_loop
from scenarios import scenario as scenarios
from tests.conftest import validate_documents
from twin.physics import BeamlineModel

TWIN_SEED = 77
TWIN_SPEED = 50.0


@pytest.fixture(scope="module")
def devices(twin: Any) -> dict[str, Any]:
    devs = load_profile("default")
    call_in_loop(devs["det"].preset_time.put(0.2))
    return devs


@pytest.fixture(scope="module")
def truth(twin: Any) -> float:
    return float(BeamlineModel(scenarios.load("demo").beamline["physics"], seed=TWIN_SEED).truth()["center"])


def _run(RE: Any, plan: Any) -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    token = RE.subscribe(lambda n, d: docs.append((n, d)))
    try:
        RE(plan)
    finally:
        RE.unsubscribe(token)
    return docs


def _events(docs: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [d["data"] for n, d in docs if n == "event"]


def _deadband(motor: Any) -> float:
    return float(call_in_loop(motor.retry_deadband.get_value()))


def test_step_plans_over_ca(devices: dict[str, Any]) -> None:
    motor, det = devices["motor"], devices["det"]
    RE = RunEngine()
    tol = _deadband(motor)
    docs = _run(RE, plans.scan([det], motor, -2, 2, 5))
    validate_documents(docs)
    np.testing.assert_allclose([e["motor"] for e in _events(docs)], np.linspace(-2, 2, 5), atol=tol)
    docs = _run(RE, plans.list_scan([det], motor, [1.5, -0.5, 0.25]))
    np.testing.assert_allclose([e["motor"] for e in _events(docs)], [1.5, -0.5, 0.25], atol=tol)
    docs = _run(RE, plans.rel_scan([det], motor, -1, 1, 3))
    np.testing.assert_allclose([e["motor"] for e in _events(docs)], [-0.75, 0.25, 1.25], atol=tol)
    assert call_in_loop(motor.readback.get_value()) == pytest.approx(0.25, abs=tol), "rel_scan went home"
    soft = soft_motor("table", limits=(-1.0, 1.0))
    docs = _run(RE, plans.grid_scan([det], motor, 0, 1, 2, soft, -1, 1, 3, snake_axes=True))
    validate_documents(docs)
    got = [(round(e["motor"], 3), e["table"]) for e in _events(docs)]
    assert got == [(0, -1), (0, 0), (0, 1), (1, 1), (1, 0), (1, -1)]
    assert all(e["det"] > 0 for e in _events(docs))


def test_tune_centroid_over_ca_finds_the_true_peak(devices: dict[str, Any], truth: float) -> None:
    motor, det = devices["motor"], devices["det"]
    docs = _run(RunEngine(), plans.tune_centroid([det], "det", motor, -6, 6, 0.05, num=9, step_factor=3.0))
    validate_documents(docs)
    assert abs(call_in_loop(motor.readback.get_value()) - truth) < 0.3


def test_adaptive_scan_over_ca_crowds_the_peak(devices: dict[str, Any], truth: float) -> None:
    motor, det = devices["motor"], devices["det"]
    docs = _run(RunEngine(), plans.adaptive_scan([det], "det", motor, -6, 6, 0.1, 1.5, 300.0, True))
    validate_documents(docs)
    xs = np.array([e["motor"] for e in _events(docs)])
    near = np.sum(np.abs(xs - truth) < 1.6)
    assert near >= len(xs) / 3, f"{near} of {len(xs)} points within 2σ of the peak"


def test_bluesky_runengine_drives_our_devices(devices: dict[str, Any]) -> None:
    bluesky = pytest.importorskip("bluesky")
    import bluesky.plans as bp

    motor, det = devices["motor"], devices["det"]
    tol = _deadband(motor)
    RE = bluesky.RunEngine({})
    docs = _run(RE, bp.scan([det], motor, -3, 3, 13))
    validate_documents(docs)
    events = _events(docs)
    np.testing.assert_allclose([e["motor"] for e in events], np.linspace(-3, 3, 13), atol=tol)
    assert all(isinstance(e["det"], int) and e["det"] > 0 for e in events)
    descriptor = next(d for n, d in docs if n == "descriptor")
    assert descriptor["data_keys"]["motor"]["source"] == "ca://BT:m1.RBV"
    assert "motor_velocity" in descriptor["configuration"]["motor"]["data"]
    docs = _run(RE, bp.rel_scan([det], motor, -0.5, 0.5, 3))
    np.testing.assert_allclose([e["motor"] for e in _events(docs)], [2.5, 3.0, 3.5], atol=tol)
    assert call_in_loop(motor.readback.get_value()) == pytest.approx(3.0, abs=tol)
    docs = _run(RE, bp.adaptive_scan([det], "det", motor, -2, 2, 0.2, 1.0, 200.0, False))
    for e in _events(docs):
        assert e["motor"] == pytest.approx(e["motor_setpoint"], abs=tol), "no stale readbacks"
    # our plans on Bluesky's engine too
    docs = _run(RE, plans.grid_scan([det], motor, 0, 1, 2, soft_motor("t2"), 0, 1, 2))
    assert [round(e["motor"], 3) for e in _events(docs)] == [0, 0, 1, 1]


def test_ramp_plan_on_bluesky_monitors_while_a_slow_move_runs(devices: dict[str, Any]) -> None:
    bluesky = pytest.importorskip("bluesky")
    from acq.engine import Msg

    motor, det = devices["motor"], devices["det"]
    RE = bluesky.RunEngine({})
    call_in_loop(motor.velocity.put(0.5))  # 8 simulated s: 0.16 s of wall time
    try:
        RE(plans.mv(motor, 0.0))

        def go() -> Any:
            return (yield Msg("set", motor, 4.0))

        docs = _run(RE, plans.ramp_plan(go(), motor.readback, lambda: plans.trigger_and_read([det, motor]),
                                        period=0.005))
    finally:
        call_in_loop(motor.velocity.put(5.0))
    streams = {d["uid"]: d["name"] for n, d in docs if n == "descriptor"}
    by_stream: dict[str, list[Any]] = {}
    for n, d in docs:
        if n == "event":
            by_stream.setdefault(streams[d["descriptor"]], []).append(d["data"])
    assert len(by_stream["primary"]) >= 3 and by_stream["primary"][-1]["motor"] == pytest.approx(4.0, abs=1e-3)
    assert len(by_stream["motor_monitor"]) >= 2


def test_a_software_fly_scan_over_ca(devices: dict[str, Any]) -> None:
    bluesky = pytest.importorskip("bluesky")
    import bluesky.plans as bp
    from bluesky.protocols import Collectable, Flyable

    from acq.devices import MonitorFlyer

    motor = devices["motor"]
    flyer = MonitorFlyer("fly", motor, 0.0, 4.0, velocity=0.1)  # 40 simulated s: 0.8 s of wall time
    assert isinstance(flyer, Flyable) and isinstance(flyer, Collectable)
    docs = _run(bluesky.RunEngine({}), bp.fly([flyer]))
    validate_documents(docs)
    xs = [x for n, d in docs if n == "event_page" for x in d["data"]["motor"]]
    assert len(xs) >= 8 and xs[-1] == pytest.approx(4.0, abs=1e-3)
    assert all(b >= a for a, b in itertools.pairwise(xs)), "positions rise through the move"
    assert call_in_loop(motor.velocity.get_value()) == 5.0, "the velocity was restored"
    assert [m.command for m in plans.fly([flyer])] == ["open_run", "kickoff", "wait", "complete", "wait",
                                                       "collect", "close_run"]
