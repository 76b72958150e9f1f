"""A signal's connect gives its first round trip (the metadata read) the connect's whole timeout, not a
read's usual 2 s: an IOC that has just answered a loaded machine's search may be slow to answer the
first read (CI, session 5: a twin thawed after 6.5 s answered the reads of 21 PVs in over 2 s)."""

from __future__ import annotations

import os
import signal
import threading
import time

from acq.devices import CABackend, Signal
from acq.devices.backends import DEFAULT_TIMEOUT
from acq.loop import call_in_loop
from scenarios.twin_process import TwinProcess
from tests.conftest import frozen

PV = "BT:m1.EGU"
THAW_AFTER = DEFAULT_TIMEOUT + 1.5  # seconds: past a read's usual timeout


def test_connect_waits_for_the_first_read_as_long_as_for_the_connection(twin: TwinProcess) -> None:
    first = Signal(CABackend(PV), name="first")
    call_in_loop(first.connect(5.0))  # the channel is up: a new signal on it goes straight to its read
    assert twin.proc is not None
    with frozen(twin):
        thaw = threading.Timer(THAW_AFTER, os.kill, (twin.proc.pid, signal.SIGCONT))
        thaw.start()
        t0 = time.monotonic()
        try:
            second = Signal(CABackend(PV), name="second")
            call_in_loop(second.connect(THAW_AFTER + 20.0))
        finally:
            thaw.cancel()
        waited = time.monotonic() - t0
    assert waited >= THAW_AFTER - 0.1, waited  # its read was answered only after the thaw
    assert call_in_loop(second.describe())["second"] == call_in_loop(first.describe())["first"]
