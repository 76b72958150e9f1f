"""Connecting a scenario's devices: patient with the twin the run started, quick with a real beamline.

The twin answered every PV before it said ready, so a connect that is slow there means a loaded
machine (session 3 saw a whole run fail at load ~26 when its 21 PVs took over 5 s); against a real
beamline (``--no-twin``) a dead IOC must be named within the profile's usual 5 s. A SIGSTOPped twin
is the slow machine here: it answers once it is continued.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import beamlines
from acq.devices import ConnectionFailed
from scenarios.runner import connect_profile
from scenarios.twin_process import OWN_TWIN_CONNECT_TIMEOUT, TwinProcess
from tests.conftest import frozen

THAW_AFTER = 6.5  # seconds: longer than the profile's 5 s, well inside OWN_TWIN_CONNECT_TIMEOUT


def test_devices_wait_for_a_slow_own_twin_but_not_for_a_dead_beamline(twin: TwinProcess) -> None:
    device_file = beamlines.load("default")
    assert twin.proc is not None
    pid = twin.proc.pid
    failures: list[BaseException] = []

    def no_twin() -> None:
        t0 = time.monotonic()
        try:
            connect_profile(device_file, {"simulated": False})
        except ConnectionFailed as exc:
            failures.append(exc)
            assert time.monotonic() - t0 < THAW_AFTER, "the real-beamline connect waited past its 5 s"

    assert OWN_TWIN_CONNECT_TIMEOUT > 2 * THAW_AFTER
    with frozen(twin):
        thaw = threading.Timer(THAW_AFTER, os.kill, (pid, signal.SIGCONT))
        thaw.start()
        quick = threading.Thread(target=no_twin)
        quick.start()
        t0 = time.monotonic()
        try:
            devices = connect_profile(device_file, {"simulated": True})
        finally:
            thaw.cancel()
            quick.join()
        waited = time.monotonic() - t0
    assert waited >= THAW_AFTER - 0.1, waited  # it connected only once the twin answered again
    assert {"motor", "det"} <= set(devices)
    assert len(failures) == 1 and "motor" in str(failures[0]), failures
