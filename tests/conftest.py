"""Shared fixtures: a real twin IOC subprocess on a test-picked loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scenarios.twin_process import TwinProcess, ca_environment


@pytest.fixture(scope="module")
def twin(request: pytest.FixtureRequest) -> Iterator[TwinProcess]:
    """The default twin, served by ``beamtwin serve`` in a subprocess, with CA env set."""
    seed = getattr(request.module, "TWIN_SEED", 11)
    speed = getattr(request.module, "TWIN_SPEED", 50.0)
    with TwinProcess("demo", seed=seed, speed=speed) as proc, ca_environment(proc.env):
        yield proc


def run_cli(*args: str, timeout: float = 180.0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``beamtwin ARGS`` in a subprocess; if it overruns ``timeout``, fail with its output and a dump
    of every thread and task it was waiting in (SIGUSR1, see ``acq.loop.dump_state``)."""
    cmd = [sys.executable, "-m", "scenarios", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ) if env is None else env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(2.0)
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(args)} overran {timeout:g} s\n--- stdout\n{out[-6000:]}\n--- stderr\n{err[-20000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def assert_plot(stdout: str, data_dir: Path) -> Path:
    """The run printed ``plot: PATH``, and PATH is a real PNG image next to the data."""
    lines = [line for line in stdout.splitlines() if line.startswith("plot: ")]
    assert lines, "the run printed no 'plot:' line"
    path = Path(lines[-1].removeprefix("plot: ").strip())
    assert path.is_file() and path.resolve().is_relative_to(Path(data_dir).resolve()), path
    head = path.read_bytes()[:8]
    assert head == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000, f"{path} is not a drawn PNG"
    return path


def validate_documents(docs: list[tuple[str, dict[str, Any]]]) -> None:
    """Every document against the event-model schemas, and the references between them."""
    from event_model import DocumentNames, schema_validators

    for name, doc in docs:
        schema_validators[DocumentNames[name]].validate(doc)
    starts = [d for n, d in docs if n == "start"]
    stops = [d for n, d in docs if n == "stop"]
    assert len(starts) == 1 and len(stops) == 1, "one start and one stop per run"
    run_uid = starts[0]["uid"]
    assert docs[0][0] == "start" and docs[-1][0] == "stop"
    descriptors = {d["uid"]: d for n, d in docs if n == "descriptor"}
    assert all(d["run_start"] == run_uid for d in descriptors.values())
    assert stops[0]["run_start"] == run_uid
    per_stream: dict[str, list[int]] = {}
    for n, d in docs:
        if n == "event":
            assert d["descriptor"] in descriptors, "event refers to an emitted descriptor"
            stream = descriptors[d["descriptor"]]["name"]
            per_stream.setdefault(stream, []).append(d["seq_num"])
            keys = descriptors[d["descriptor"]]["data_keys"]  # STREAM: keys come through stream_datum only
            assert set(d["data"]) == {k for k, dk in keys.items() if dk.get("external") != "STREAM:"}
    for stream, seqs in per_stream.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"seq_num of {stream} runs 1…N"
        assert stops[0]["num_events"][stream] == len(seqs)
