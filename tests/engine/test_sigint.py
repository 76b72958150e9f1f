"""Ctrl-C: SIGINT to a real subprocess running a plan (first = deferred pause, second = pause now)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_and_interrupt(mode: str, signals: int) -> dict[str, Any]:
    """Run the plan in a subprocess; once it has an event, Ctrl-C it ``signals`` times, each after
    the engine said it took the one before (two SIGINTs that arrive before the process runs are
    one signal: the kernel and Python keep a pending flag per signal, not a count)."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.engine.sigint_plan", mode], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    err_lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: [err_lines.put(x) for x in proc.stderr or ()], daemon=True)
    reader.start()
    err: list[str] = []
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the first event: the plan is under way
        assert line.strip() == "EVENT", line
        for n in range(1, signals + 1):
            proc.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 30
            while sum(x.startswith("Ctrl-C") for x in err) < n:  # the engine's answer to this Ctrl-C
                try:
                    err.append(err_lines.get(timeout=max(0.01, deadline - time.monotonic())))
                except queue.Empty:
                    pytest.fail(f"the engine did not answer Ctrl-C number {n}: {''.join(err)}")
        out = proc.stdout.read()
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    while not err_lines.empty():
        err.append(err_lines.get())
    assert proc.returncode == 0, "".join(err)
    lines = [x for x in out.strip().splitlines() if x != "EVENT"]
    result: dict[str, Any] = json.loads(lines[-1])
    result["stderr"] = "".join(err)
    return result


def test_first_ctrl_c_pauses_at_the_next_checkpoint_then_resumes() -> None:
    r = run_and_interrupt("deferred", signals=1)
    assert "pausing at the next checkpoint" in r["stderr"]
    assert r["paused"]["state"] == "paused"
    assert r["paused"]["events"] == r["paused"]["triggers"] >= 1, "paused between steps, nothing replayed"
    assert r["values"] == [1, 2, 3, 4, 5, 6] and r["triggers"] == 6
    assert r["stop"]["exit_status"] == "success" and r["state"] == "idle"


def test_second_ctrl_c_pauses_now_even_inside_a_long_sleep() -> None:
    r = run_and_interrupt("now", signals=2)
    assert "pausing now" in r["stderr"]
    assert r["paused"]["after"] < 10, "the 30 s sleep was interrupted"
    assert r["stop"]["exit_status"] == "abort" and r["stop"]["reason"] == "Ctrl-C twice"
    assert r["values"] == [1] and r["state"] == "idle"
