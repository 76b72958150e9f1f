"""An IOC that disappears makes reads and writes fail clearly; when it returns, devices recover."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from acq.devices import DisconnectedError, load_profile
from acq.loop import call_in_loop
from scenarios.twin_process import TwinProcess
from tests.conftest import wait_until


@pytest.fixture
def ca_env() -> Iterator[None]:
    keys = ("EPICS_CA_ADDR_LIST", "EPICS_CA_AUTO_ADDR_LIST", "EPICS_CA_SERVER_PORT", "EPICS_CA_MAX_ARRAY_BYTES")
    saved = {k: os.environ.get(k) for k in keys}
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _until(fn: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except DisconnectedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_devices_fail_clearly_then_recover_when_the_ioc_returns(ca_env: None) -> None:
    first = TwinProcess("demo", seed=3, speed=50.0).start()
    try:
        os.environ.update(first.env)
        devices = load_profile("default")
        motor, det = devices["motor"], devices["det"]
        motor.set(1.0).wait(10)
        seen: list[float] = []
        lock = threading.Lock()

        def cb(readings: dict[str, Any]) -> None:
            with lock:
                seen.append(readings["motor"]["value"])

        motor.readback.subscribe(cb)
        call_in_loop(motor.velocity.put(0.05))
        moving = motor.set(5.0)  # a long move (80 simulated s) still going when the IOC dies
        time.sleep(0.2)
    finally:
        first.stop()

    with pytest.raises(DisconnectedError, match=r"BT:m1: the connection dropped while writing 5\.0"):
        moving.wait(10)
    t0 = time.monotonic()
    with pytest.raises(DisconnectedError, match=r"PV BT:m1\.RBV is disconnected"):
        call_in_loop(motor.read())
    with pytest.raises(DisconnectedError, match=r"BT:sc1\.CNT is disconnected"):
        det.trigger().wait(10)
    assert time.monotonic() - t0 < 2.0, "failures are immediate, not timeouts"
    assert not motor.readback.connected

    with TwinProcess("demo", seed=3, speed=50.0, port=first.port):
        reading = _until(lambda: call_in_loop(motor.read()), 30.0)
        assert reading["motor"]["value"] == 0.0, "a fresh IOC starts at 0"
        with lock:
            before = len(seen)
        motor.set(2.0).wait(10)
        det.trigger().wait(10)
        assert call_in_loop(det.read())["det"]["value"] > 0

        def resumed() -> bool:
            with lock:
                return len(seen) > before and seen[-1] == pytest.approx(2.0, abs=1e-3)

        wait_until(resumed, what="the monitor to resume and report the move to 2.0")
        motor.readback.clear_sub(cb)
