"""An evaluation episode's twin start (``scenarios.envs.twin_runs.TwinRuns``): retried on a fresh
port with growing pauses; when every attempt fails, the error names each attempt's failure."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scenarios.envs.twin_runs import TwinRuns


def test_a_twin_that_never_starts_is_named_with_every_attempt(tmp_path: Path) -> None:
    runs = TwinRuns(str(tmp_path / "no-such-scenario.yaml"), "alignment", seed=7, speed=50.0, names=["det"])
    t0 = time.monotonic()
    with pytest.raises(RuntimeError) as info:
        runs._start(attempts=3, pause=0.2)
    message = str(info.value)
    assert "the twin (seed 7) did not start in 3 attempts" in message
    assert all(f"attempt {n}: RuntimeError: the twin exited with" in message for n in (1, 2, 3))
    assert "no-such-scenario" in message  # the IOC's own log says what was wrong
    assert time.monotonic() - t0 >= 0.2 + 0.4  # paused 0.2 s, then 0.4 s, between the attempts
    assert runs.twin is None
