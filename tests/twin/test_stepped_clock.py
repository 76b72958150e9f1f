"""The stepped (event-driven) clock over Channel Access: the same seed and the same puts give the
same readings, whatever the wall timing between them. Two twins in real processes each run the
same scan through our RunEngine and devices, one with wall-clock pauses between its points."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from acq import plans
from acq.devices import load_profile
from acq.engine import RunEngine
from acq.plans.stubs import one_nd_step, sleep
from scenarios.twin_process import TwinProcess
from tests.twin.ca import CA
from tests.twin.conftest import ca_environment

POINTS = 9


def _scan(twin: TwinProcess, pause: float) -> tuple[list[dict[str, Any]], float]:
    """The event data of a scan against ``twin`` (``pause`` wall seconds between points) and the
    twin's simulated time after it."""
    with ca_environment(twin.env):
        devices = load_profile("default")
        motor, det = devices["motor"], devices["det"]
        events: list[dict[str, Any]] = []
        RE = RunEngine()
        RE.subscribe(lambda name, doc: events.append(doc["data"]) if name == "event" else None)

        def step(detectors: Any, step: Any, pos_cache: Any) -> Any:
            if pause:
                yield from sleep(pause)
            return (yield from one_nd_step(detectors, step, pos_cache))

        RE(plans.mv(motor, -1.0))
        RE(plans.scan([det], motor, -1.0, 1.0, POINTS, per_step=step))
        ca = CA()
        try:
            sim_time = float(ca.get("BT:twin:SimTime-RB"))
            assert ca.string("BT:twin:Clock-RB") == twin.clock
        finally:
            ca.close()
    return events, sim_time


@pytest.fixture(scope="module")
def stepped() -> Iterator[TwinProcess]:
    """A twin on the stepped clock, seed 5."""
    with TwinProcess("demo", seed=5, speed=1.0, clock="stepped") as twin:
        yield twin


def test_same_seed_and_puts_give_identical_readings_on_the_stepped_clock(stepped: TwinProcess) -> None:
    first, t_first = _scan(stepped, pause=0.0)
    with TwinProcess("demo", seed=5, speed=1.0, clock="stepped") as again:
        time.sleep(0.5)  # wall time passing before the scan changes nothing
        second, t_second = _scan(again, pause=0.07)
    assert len(first) == len(second) == POINTS
    assert [e["det"] for e in first] == [e["det"] for e in second]
    assert len({e["det"] for e in first}) > 1, "the detector must see the scan (not a constant)"
    assert [e["motor"] for e in first] == [e["motor"] for e in second]
    assert t_first == t_second > 0


def test_a_stepped_clock_stands_still_until_a_count_or_advance_cmd(stepped: TwinProcess) -> None:
    with ca_environment(stepped.env):
        ca = CA()
        try:
            t0 = float(ca.get("BT:twin:SimTime-RB"))
            time.sleep(0.3)
            assert float(ca.get("BT:twin:SimTime-RB")) == t0, "a stepped clock stands still"
            ca.put("BT:twin:Advance-Cmd", 12.5)
            assert float(ca.get("BT:twin:SimTime-RB")) == pytest.approx(t0 + 12.5)
            ca.put("BT:sc1.TP", 2.0)
            ca.put("BT:sc1.CNT", 1, timeout=10)
            assert float(ca.get("BT:twin:SimTime-RB")) == pytest.approx(t0 + 14.5)
            ca.put("BT:m1.VELO", 1.0)
            ca.put("BT:m1.ACCL", 0.0)
            here = float(ca.get("BT:m1.RBV"))
            ca.put("BT:m1", here + 3.0, timeout=10)  # 3 mm at 1 mm/s: 3 simulated seconds, at once
            assert float(ca.get("BT:twin:SimTime-RB")) == pytest.approx(t0 + 17.5)
            assert float(ca.get("BT:m1.RBV")) == pytest.approx(here + 3.0)
        finally:
            ca.close()
