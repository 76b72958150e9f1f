"""The scripted contract: ``beamtwin queue serve`` without --profile starts the default twin and uses it."""

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

from qserver import Client
from scenarios.twin_process import free_port
from tests.qserver.conftest import _alive


def _serve(state: Path, ready: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    ready.unlink(missing_ok=True)
    server = subprocess.Popen([sys.executable, "-m", "scenarios", "queue", "serve", "--state-dir", str(state),
                               "--port", str(port), "--ready-file", str(ready)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while not ready.exists():
        assert server.poll() is None and time.monotonic() < deadline, "the server did not become ready"
        time.sleep(0.05)
    return server


def test_serve_without_profile_runs_the_default_twin_and_cleans_up(tmp_path: Path) -> None:
    state, ready, port = tmp_path / "state", tmp_path / "ready", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPICS_CA_")}
    server = _serve(state, ready, port, env)
    try:
        assert ready.read_text().strip() == f"http://127.0.0.1:{port}"
        assert (state / "admin.key").stat().st_mode & 0o077 == 0
        url, key = f"http://127.0.0.1:{port}", (state / "admin.key").read_text().strip()
        cli_env = {**env, "BEAMTWIN_QUEUE_URL": url, "BEAMTWIN_QUEUE_KEY": key}
        tail = subprocess.Popen([sys.executable, "-m", "scenarios", "queue", "tail", "--timeout", "60"],
                                env=cli_env, stdout=subprocess.PIPE, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in tail.stdout or ()], daemon=True).start()

        def wait_for(prefix: str) -> None:
            deadline = time.monotonic() + 60
            while not lines.get(timeout=max(0.01, deadline - time.monotonic())).startswith(prefix):
                pass

        wait_for("-- following")
        out = subprocess.run([sys.executable, "-m", "scenarios", "queue", "add", "scan",
                              "--args", '[["det"], "motor", -1, 1, 5]'], env=cli_env, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        c = Client(url, key)
        assert {"det", "motor"} <= set(c.devices()["devices"])  # the default twin's point detector and motor
        c.start()
        wait_for("-- started")                      # a client following the console …
        tail.send_signal(signal.SIGKILL)            # … crashes: the acquisition does not notice
        tail.wait(10)
        c.wait_idle(timeout=60)
        hist = c.history()
        assert hist[-1]["exit_status"] == "completed" and len(hist[-1]["run_uids"]) == 1
        twin_pid = json.loads((state / "twin.json").read_text())["pid"]
        worker_pid = json.loads((state / "worker.json").read_text())["pid"]
        c.close()
        server.kill()                               # SIGKILL: the twin and the worker live on …
        server.wait(10)
        server = _serve(state, ready, port, env)    # … and the restarted server adopts both
        with Client(url, key) as again:
            assert again.status()["worker_pid"] == worker_pid and again.status()["environment"] == "open"
            assert json.loads((state / "twin.json").read_text())["pid"] == twin_pid
            assert again.history()[-1]["exit_status"] == "completed"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    assert server.returncode == 0
    for _ in range(100):
        if not _alive(twin_pid) and not _alive(worker_pid):
            break
        time.sleep(0.05)
    assert not _alive(twin_pid) and not _alive(worker_pid), "serve left its twin or worker behind"
