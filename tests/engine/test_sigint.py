"""Ctrl-C: SIGINT to a real subprocess running a plan (first = deferred pause, second = pause now)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_and_interrupt(mode: str, signals: int, gap: float) -> dict[str, Any]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.engine.sigint_plan", mode], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the first event: the plan is under way
        assert line.strip() == "EVENT", line + (proc.stderr.read() if proc.stderr else "")
        time.sleep(0.1)
        for _ in range(signals):
            proc.send_signal(signal.SIGINT)
            time.sleep(gap)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    lines = [x for x in out.strip().splitlines() if x != "EVENT"]
    result: dict[str, Any] = json.loads(lines[-1])
    result["stderr"] = err
    return result


def test_first_ctrl_c_pauses_at_the_next_checkpoint_then_resumes() -> None:
    r = run_and_interrupt("deferred", signals=1, gap=0.0)
    assert "pausing at the next checkpoint" in r["stderr"]
    assert r["paused"]["state"] == "paused"
    assert r["paused"]["events"] == r["paused"]["triggers"] >= 1, "paused between steps, nothing replayed"
    assert r["values"] == [1, 2, 3, 4, 5, 6] and r["triggers"] == 6
    assert r["stop"]["exit_status"] == "success" and r["state"] == "idle"


def test_second_ctrl_c_pauses_now_even_inside_a_long_sleep() -> None:
    r = run_and_interrupt("now", signals=2, gap=0.2)
    assert "pausing now" in r["stderr"]
    assert r["paused"]["after"] < 10, "the 30 s sleep was interrupted"
    assert r["stop"]["exit_status"] == "abort" and r["stop"]["reason"] == "Ctrl-C twice"
    assert r["values"] == [1] and r["state"] == "idle"
