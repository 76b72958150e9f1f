"""A twin IOC never outlives the process that launched it (its launcher SIGKILLed included)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

LAUNCHER = """
import sys, time
from scenarios.twin_process import TwinProcess
twin = TwinProcess("demo", speed=50.0).start()
print(twin.proc.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_twin_exits_when_its_launcher_is_killed() -> None:
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER], stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ))
    assert launcher.stdout is not None
    twin_pid = int(launcher.stdout.readline())
    try:
        assert _alive(twin_pid)
        time.sleep(1.0)
        assert _alive(twin_pid), "the twin should serve while its launcher lives"
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
        deadline = time.monotonic() + 15
        while _alive(twin_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(twin_pid), "the twin outlived its launcher"
    finally:
        if _alive(twin_pid):
            os.kill(twin_pid, signal.SIGKILL)
