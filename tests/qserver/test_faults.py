"""Faults with real processes: the worker killed mid-plan, the server SIGKILLed and restarted, both dead."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from qserver import Client
from scenarios import scenario as scenarios
from scenarios.twin_process import TwinProcess
from store import Catalog
from tests.qserver.conftest import QueueServer, _alive, long_count
from twin.physics import BeamlineModel

TWIN_SEED = 5


def _started(c: Client, uid: str, timeout: float = 30.0) -> None:
    c.wait(lambda s: s["running"] is not None and s["running"]["item"]["uid"] == uid and s["worker"] == "running",
           timeout)


def test_worker_killed_mid_plan_then_the_queue_continues(twin: TwinProcess, tmp_path: Path) -> None:
    qs = QueueServer(tmp_path / "state", twin).start()
    try:
        c = qs.client()
        victim = c.add(**long_count(8.0))
        nxt = c.add("count", [["det"]], {"num": 2})
        c.start()
        _started(c, victim["uid"])
        journals = qs.state_dir / "data" / ".journal"
        deadline = time.monotonic() + 20
        while not list(journals.glob("*.jsonl")) and time.monotonic() < deadline:
            time.sleep(0.05)                                  # the victim's run has begun
        pid = qs.worker_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        st = c.wait(lambda s: s["environment"] == "closed", 15)
        assert "signal 9" in st["last_error"]
        failed = c.history()[-1]
        assert failed["item"]["uid"] == victim["uid"] and failed["exit_status"] == "failed"
        assert "worker process died (signal 9)" in failed["reason"]
        assert [it["uid"] for it in c.items()] == [nxt["uid"]]   # the rest of the queue is intact
        c.open_environment()                                      # restart the worker: the queue goes on
        c.wait_idle(timeout=30)
        assert c.history()[-1]["item"]["uid"] == nxt["uid"] and c.history()[-1]["exit_status"] == "completed"
        assert qs.worker_pid() not in (None, pid)
        # the new worker made the killed run's file from its journal: its events so far are kept
        (run,) = [r for r in Catalog(qs.state_dir / "data").runs()
                  if r.metadata["start"].get("qserver_item") == victim["uid"]]
        assert run.metadata["stop"] is None and run.entry.exit_status == "incomplete"
    finally:
        qs.stop()


def test_server_sigkilled_and_restarted_reattaches_to_the_running_worker(twin: TwinProcess, tmp_path: Path) -> None:
    qs = QueueServer(tmp_path / "state", twin).start()
    try:
        c = qs.client()
        running = c.add(**long_count(6.0))
        queued = [c.add("count", [["det"]], {"num": 1 + i}) for i in range(3)]
        c.start()
        _started(c, running["uid"])
        pid = qs.worker_pid()
        qs.kill()
        assert pid is not None and _alive(pid)             # the plan keeps running without a server
        qs.start()
        c = qs.client()
        st = c.status()
        assert st["worker_pid"] == pid, st                     # re-attached, no second worker
        assert st["running"]["item"]["uid"] == running["uid"] and st["worker"] == "running"
        assert [it["uid"] for it in c.items()] == [q["uid"] for q in queued]   # nothing queued was lost
        c.wait_idle(timeout=60)
        hist = c.history()
        assert [h["item"]["uid"] for h in hist] == [running["uid"], *(q["uid"] for q in queued)]
        assert all(h["exit_status"] == "completed" for h in hist), hist
        assert len(hist[0]["run_uids"]) == 1
    finally:
        qs.stop()


def test_server_and_worker_both_killed_records_the_item_interrupted(twin: TwinProcess, tmp_path: Path) -> None:
    qs = QueueServer(tmp_path / "state", twin).start()
    try:
        c = qs.client()
        victim = c.add(**long_count(8.0))
        kept = c.add("count", [["det"]], {"num": 1})
        c.start()
        _started(c, victim["uid"])
        pid = qs.worker_pid()
        assert pid is not None
        qs.kill()
        os.kill(pid, signal.SIGKILL)
        qs.start()
        c = qs.client()
        c.wait_idle(timeout=30)                                 # the queue was running: it resumes
        hist = c.history()
        assert [h["item"]["uid"] for h in hist] == [victim["uid"], kept["uid"]]
        assert hist[0]["exit_status"] == "interrupted" and f"worker (pid {pid}) died" in hist[0]["reason"]
        assert hist[1]["exit_status"] == "completed"
    finally:
        qs.stop()


def test_agent_process_steers_a_campaign_through_the_queue(twin: TwinProcess, tmp_path: Path) -> None:
    qs = QueueServer(tmp_path / "state", twin).start()
    try:
        admin = qs.client()
        admin.add_group("agents", "user", plans=["scan"], devices=["det", "motor"])
        key = admin.add_user("refiner", "agents")
        admin.start(keep_alive=True)                           # wait for the agent's items
        env = {**os.environ, "BEAMTWIN_QUEUE_URL": qs.url, "BEAMTWIN_QUEUE_KEY": key}
        out = subprocess.run([sys.executable, "-m", "qserver.agent", "--data-dir", str(qs.state_dir / "data"),
                              "--rounds", "3", "--num", "13", "--timeout", "30"],
                             env=env, capture_output=True, text=True, timeout=90)
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout.strip().splitlines()[-1])
        hist = admin.history()
        assert len(hist) == 3 and all(h["item"]["user"] == "refiner" for h in hist)
        widths = [h["range"][1] - h["range"][0] for h in report["history"]]
        assert widths[0] > widths[1] > widths[2]               # each run narrower than the one before
        truth = BeamlineModel(scenarios.load("demo").beamline["physics"], seed=TWIN_SEED).truth()
        assert abs(report["center"] - truth["center"]) < 0.3, (report, truth)
        assert any(e["who"] == "refiner" and e["action"] == "add" for e in admin.log())
        time.sleep(0.1)
    finally:
        qs.stop()


def test_adds_acknowledged_only_in_the_journal_survive_a_server_sigkill(twin: TwinProcess, tmp_path: Path) -> None:
    qs = QueueServer(tmp_path / "state", twin)
    qs.env["BEAMTWIN_QUEUE_FLUSH_DELAY"] = "600"  # the adds stay in the journal, not yet in SQLite, till the kill
    qs.start()
    try:
        c = qs.client()
        first = c.add("count", [["det"]], {"num": 1})
        c.move(first["uid"], pos=0)                    # any other change applies the journal: 'first' is in SQLite
        added = [c.add("count", [["det"]], {"num": 2 + i}) for i in range(60)]
        ahead = c.add("count", [["det"]], {"num": 99}, pos=1)
        qs.kill()
        db = sqlite3.connect(qs.state_dir / "queue.sqlite")
        assert db.execute("SELECT uid FROM items").fetchall() == [(first["uid"],)]  # the rest: the journal alone
        db.close()
        qs.start()
        c = qs.client()
        want = [first["uid"], ahead["uid"], *(a["uid"] for a in added)]
        assert [it["uid"] for it in c.items()] == want
        assert [it["kwargs"]["num"] for it in c.items()][:3] == [1, 99, 2]
        qs.kill()                                       # replayed into SQLite once: a second crash changes nothing
        qs.start()
        assert [it["uid"] for it in qs.client().items()] == want
    finally:
        qs.stop()
