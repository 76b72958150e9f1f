"""Shared fixtures: a real twin IOC subprocess on a test-picked loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from scenarios.twin_process import TwinProcess, ca_environment, free_port


@pytest.fixture(scope="module")
def twin(request: pytest.FixtureRequest) -> Iterator[TwinProcess]:
    """The default twin, served by ``beamtwin serve`` in a subprocess, with CA env set."""
    seed = getattr(request.module, "TWIN_SEED", 11)
    speed = getattr(request.module, "TWIN_SPEED", 50.0)
    with TwinProcess("demo", seed=seed, speed=speed) as proc, ca_environment(proc.env):
        yield proc


def run_cli(*args: str, timeout: float = 180.0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``beamtwin ARGS`` in a subprocess of its own session; if it overruns ``timeout``, fail with its
    output and a dump of every thread and task it was waiting in (SIGUSR1, see ``acq.loop.dump_state``).

    Output goes to files, not pipes, so a process it leaves behind cannot hold the test up; any such
    process (e.g. a twin IOC that outlived its run) is killed and fails the test."""
    cmd = [sys.executable, "-m", "scenarios", *args]
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        # a CA repeater port of its own: a repeater the run spawned (caproto's sync client does, and it
        # outlives its parent holding the parent's output) shows as left behind, never masked by one
        # that already runs on the host
        run_env = {**(dict(os.environ) if env is None else env), "EPICS_CA_REPEATER_PORT": str(free_port())}
        proc = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, text=True, start_new_session=True, env=run_env)
        overran = False
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            overran = True
            proc.send_signal(signal.SIGUSR1)
            time.sleep(2.0)
        else:  # its twin IOCs stop with it: give them a moment to go
            deadline = time.monotonic() + 5.0
            while _session_members(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        left = _kill_session(proc.pid)
        proc.wait()
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    if overran:
        pytest.fail(f"{' '.join(args)} overran {timeout:g} s\n--- stdout\n{out[-6000:]}\n--- stderr\n{err[-20000:]}")
    if left:
        pytest.fail(f"{' '.join(args)} left processes running after it ended: {left}\n--- stdout\n{out[-3000:]}"
                    f"\n--- stderr\n{err[-6000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def run_ci_variant(tmp_path_factory: pytest.TempPathFactory, scenario: str,
                   timeout: float = 180.0) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``beamtwin run SCENARIO --ci`` once into a fresh data directory (over CA against a real twin
    subprocess): what it printed, and the directory."""
    data = tmp_path_factory.mktemp(scenario)
    return run_cli("run", scenario, "--ci", "--data-dir", str(data), timeout=timeout), data


def _session_members(sid: int) -> list[int]:
    """The live processes of session ``sid`` other than its leader."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # state, ppid, pgrp, session, …
            pid = int(stat.parent.name)
        except (OSError, ValueError, IndexError):
            continue
        if len(fields) > 3 and int(fields[3]) == sid and pid != sid and fields[0] != "Z":
            members.append(pid)
    return members


def _kill_session(sid: int) -> list[str]:
    """SIGKILL every process of session ``sid``; return the command lines of those but its leader
    (processes that outlived the leader, or would have)."""
    left = []
    for pid in _session_members(sid):
        try:
            left.append(Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip())
            os.kill(pid, signal.SIGKILL)
        except OSError:
            continue
    try:
        os.killpg(sid, signal.SIGKILL)
    except OSError:
        pass
    return left


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


@contextmanager
def frozen(twin: TwinProcess) -> Iterator[None]:
    """The twin's process stopped (SIGSTOP) for the block: its sockets stay open, nothing answers."""
    assert twin.proc is not None
    pid = twin.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "the condition", *,
               every: float = 0.01) -> Any:
    """Poll ``predicate`` every ``every`` s until it returns something true (returned), failing after
    ``timeout`` s: for what a test would otherwise give a fixed sleep, which a loaded machine can outrun."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
    return result
