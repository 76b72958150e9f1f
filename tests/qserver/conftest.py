"""Queue-server fixtures: a real ``beamtwin queue serve`` process against the module's twin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qserver import Client
from scenarios.twin_process import TwinProcess, free_port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class QueueServer:
    """``beamtwin queue serve --profile P`` in a subprocess, on a free port, with its own state dir."""

    def __init__(self, state_dir: Path, twin: TwinProcess | None = None, profile: str = "default") -> None:
        self.state_dir = state_dir
        self.profile = profile
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready = state_dir.parent / f"{state_dir.name}.ready"
        self.env = {**os.environ, **(twin.env if twin else {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = state_dir.parent / f"{state_dir.name}.server.log"

    def start(self, timeout: float = 60.0) -> QueueServer:
        """Start and wait for the ready file."""
        self.ready.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "scenarios", "queue", "serve", "--state-dir", str(self.state_dir),
                 "--port", str(self.port), "--ready-file", str(self.ready), "--profile", self.profile],
                stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while not self.ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"queue server exited {self.proc.returncode}:\n{self.log.read_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"queue server not ready:\n{self.log.read_text()}")
            time.sleep(0.05)
        return self

    @property
    def admin_key(self) -> str:
        """The admin key written on first start."""
        return (self.state_dir / "admin.key").read_text().strip()

    def client(self, key: str | None = None) -> Client:
        """A client with ``key`` (default: admin)."""
        return Client(self.url, key or self.admin_key)

    def worker_pid(self) -> int | None:
        """The worker's pid from its file."""
        try:
            return int(json.loads((self.state_dir / "worker.json").read_text())["pid"])
        except (OSError, ValueError):
            return None

    def kill(self) -> None:
        """SIGKILL the server (not its worker)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """Terminate the server, then any worker it left."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        pid = self.worker_pid()
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def qs(twin: TwinProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QueueServer]:
    """One queue server (with an open environment) for the whole module."""
    server = QueueServer(tmp_path_factory.mktemp("qs") / "state", twin).start()
    yield server
    server.stop()


@pytest.fixture
def admin(qs: QueueServer) -> Iterator[Client]:
    """An admin client on an idle, empty queue."""
    c = qs.client()
    if c.status()["worker"] == "paused":  # a test that failed mid-pause: its plan would wait for ever
        c.abort()
    c.wait(lambda s: s["running"] is None, timeout=60)
    if c.status()["queue_running"]:
        c.stop()
    c.clear()
    c.loop(False)
    yield c
    c.close()


def long_count(seconds: float = 6.0) -> dict[str, object]:
    """A count that takes about ``seconds`` of wall time (mostly its delays)."""
    return {"name": "count", "args": [["det"]], "kwargs": {"num": max(2, int(seconds / 0.05)), "delay": 0.05}}
