"""The queue server against real processes: server + worker + twin IOCs, several clients at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import Workbook

from qserver import Client, QueueError
from store import Catalog
from tests.conftest import wait_until
from tests.qserver.conftest import QueueServer, long_count

SCAN = {"name": "scan", "args": [["det"], "motor", -1.0, 1.0, 3], "kwargs": {}}


def _wait_running(c: Client, state: str = "running", timeout: float = 30.0) -> dict[str, Any]:
    return c.wait(lambda s: s["running"] is not None and s["worker"] == state, timeout)


def test_bad_items_are_refused_with_clear_messages_and_nothing_queued(qs: QueueServer, admin: Client) -> None:
    cases = [
        ({"name": "scann", "args": [["det"], "motor", -1, 1, 3]}, "unknown plan 'scann'"),
        ({"name": "scan", "args": [["det"], "motor", -1, 1]}, "scan: num: give the number of points"),
        ({"name": "scan", "args": [["det"], "motor", -1, 1, 2.5]}, "scan: num must be a positive integer, got 2.5"),
        ({"name": "count", "args": [["det"]], "kwargs": {"nmu": 3}}, "unexpected keyword argument 'nmu'"),
        ({"name": "scan", "args": [["det"], "motor", -1, 50, 3]}, "motor: position 50.0 is outside the limits"),
        ({"name": "scan", "args": [["dett"], "motor", -1, 1, 3]}, "no device 'dett'"),
        ({"name": "scan", "args": [["det"], "det", -1, 1, 3]}, "det cannot be moved (no set() method)"),
    ]
    for item, expected in cases:
        with pytest.raises(QueueError) as err:
            admin.add(item["name"], item["args"], item.get("kwargs"))
        assert err.value.status == 400 and expected in str(err.value), (item, str(err.value))
    with pytest.raises(QueueError, match="limits"):
        admin.add_batch([SCAN, SCAN, {"name": "scan", "args": [["det"], "motor", -1, 99, 3]}])
    r = httpx.post(f"{qs.url}/api/queue/add", content=b"{not json", headers={"Authorization": f"Bearer {qs.admin_key}"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    r = httpx.post(f"{qs.url}/api/queue/add", json={"item": SCAN})
    assert r.status_code == 401 and "no API key" in r.json()["error"]
    r = httpx.get(f"{qs.url}/api/queue", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and "invalid API key" in r.json()["error"]
    assert admin.items() == []
    assert httpx.get(f"{qs.url}/").status_code == 200  # the dashboard's place


def test_spreadsheet_of_twenty_plans_queued_and_run(qs: QueueServer, admin: Client, tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["plan", "detectors", "motor", "start", "stop", "num"])
    for i in range(20):
        if i % 2:
            ws.append(["count", '["det"]', None, None, None, 2])
        else:
            ws.append(["scan", '["det"]', "motor", -1 - i * 0.1, 1 + i * 0.1, 3])
    path = tmp_path / "plans.xlsx"
    wb.save(path)
    items = admin.add_file(str(path))
    assert len(items) == 20 and [it["name"] for it in admin.items()] == ["scan", "count"] * 10
    assert admin.status()["estimate_total"] > 0
    before = len(admin.history())
    admin.start()
    admin.wait_idle(timeout=120)
    done = admin.history()[before:]
    assert [h["item"]["uid"] for h in done] == [it["uid"] for it in items]
    assert all(h["exit_status"] == "completed" and len(h["run_uids"]) == 1 for h in done), done
    catalog = Catalog(qs.state_dir / "data")
    stored = {r.uid for r in catalog.runs()}
    assert {h["run_uids"][0] for h in done} <= stored
    assert catalog[done[0]["run_uids"][0]].metadata["start"]["qserver_item"] == items[0]["uid"]


def test_two_clients_edit_while_a_plan_runs(qs: QueueServer, admin: Client) -> None:
    alice = admin
    bob = qs.client()
    running = alice.add(**_call(long_count(3.0)))
    a = alice.add(**_call(SCAN))
    b = alice.add("count", [["det"]], {"num": 2})
    alice.start()
    _wait_running(alice)
    version = alice.queue()["version"]
    c = bob.add("count", [["det"]], {"num": 1}, before=a["uid"])       # bob inserts at the front
    with pytest.raises(QueueError) as stale:                             # alice still holds the old version
        alice.move(b["uid"], pos=0, version=version)
    assert stale.value.status == 409 and "version" in str(stale.value)
    assert [it["uid"] for it in stale.value.state["items"]] == [c["uid"], a["uid"], b["uid"]]
    fresh = stale.value.state["version"]
    alice.move(b["uid"], pos=0, version=fresh)
    bob.edit(a["uid"], "scan", [["det"], "motor", -2.0, 2.0, 3])
    dup = bob.duplicate(c["uid"])
    alice.remove(dup["uid"])
    assert [it["uid"] for it in alice.items()] == [b["uid"], c["uid"], a["uid"]]
    assert alice.status()["running"]["item"]["uid"] == running["uid"]
    alice.wait_idle(timeout=60)
    hist = alice.history()[-4:]
    assert [h["item"]["uid"] for h in hist] == [running["uid"], b["uid"], c["uid"], a["uid"]]
    assert all(h["exit_status"] == "completed" for h in hist)
    assert hist[-1]["item"]["args"][2:4] == [-2.0, 2.0]  # bob's edit ran
    who = {(e["who"], e["action"]) for e in alice.log(200)}
    assert {("admin", "move"), ("admin", "edit"), ("admin", "duplicate"), ("admin", "remove")} <= who
    bob.close()


def _call(item: dict[str, Any]) -> dict[str, Any]:
    return {"name": item["name"], "args": item["args"], "kwargs": item.get("kwargs", {})}


def test_restricted_group_and_observer(qs: QueueServer, admin: Client) -> None:
    admin.add_group("sample", "user", plans=["count", "scan"], devices=["det"])
    admin.add_group("watchers", "observer", plans=[], devices=[])
    key = admin.add_user("sam", "sample")
    watcher_key = admin.add_user("wendy", "watchers")
    assert key not in (qs.state_dir / "users.json").read_text()  # stored hashed only
    assert oct((qs.state_dir / "users.json").stat().st_mode & 0o777) == "0o600"
    assert oct((qs.state_dir / "admin.key").stat().st_mode & 0o777) == "0o600"
    with qs.client(key) as sam, qs.client(watcher_key) as wendy:
        with pytest.raises(QueueError) as plan_refused:
            sam.add("mv", ["motor", 1.0])
        assert plan_refused.value.status == 403 and "may not run plan 'mv'" in str(plan_refused.value)
        with pytest.raises(QueueError) as device_refused:
            sam.add(**_call(SCAN))
        assert device_refused.value.status == 403 and "may not use device(s) ['motor']" in str(device_refused.value)
        ok = sam.add("count", [["det"]], {"num": 1})
        assert ok["user"] == "sam"
        assert [it["uid"] for it in wendy.items()] == [ok["uid"]]
        with pytest.raises(QueueError) as read_only:
            wendy.remove(ok["uid"])
        assert read_only.value.status == 403 and "observer" in str(read_only.value)
        with pytest.raises(QueueError) as not_admin:
            sam.add_user("eve", "admin")
        assert not_admin.value.status == 403
    assert admin.items()[0]["uid"] == ok["uid"]
    assert any(e["who"] == "sam" and e["action"] == "add" for e in admin.log())


def test_pause_resume_abort_and_stream(qs: QueueServer, admin: Client) -> None:
    """The engine's own pauses: deferred at the next checkpoint, immediate at once with a rewind."""
    events: list[dict[str, Any]] = []
    watcher = threading.Thread(target=lambda: _collect(qs.client(), events, 60), daemon=True)
    watcher.start()
    deadline = time.monotonic() + 30
    while not events:  # the stream's first event (the status): following before anything runs
        assert time.monotonic() < deadline, "the stream did not answer"
        time.sleep(0.02)

    def points() -> list[int]:
        return [e["doc"]["seq_num"] for e in events if e["type"] == "doc" and e["doc"].get("seq_num")
                and e["name"] == "event"]

    def wait_points(n: int, timeout: float = 30.0) -> float:
        deadline = time.monotonic() + timeout
        while len(points()) < n:
            assert time.monotonic() < deadline, f"no event {n} in {timeout} s: {points()}"
            time.sleep(0.02)
        return time.monotonic()

    item = admin.add("count", [["det"]], {"num": 4, "delay": 3.0})   # a checkpoint, a point, 3 s, …
    admin.add(**_call(SCAN))
    admin.start()
    wait_points(1)
    admin.pause()                                  # deferred: at the next checkpoint, after the 3 s delay
    admin.wait(lambda s: s["worker"] == "paused", 15)
    time.sleep(0.5)
    assert points() == [1]                         # paused at the checkpoint before point 2: nothing moves
    admin.resume()
    wait_points(2)
    admin.pause(immediate=True)                    # immediate: the 3 s delay is interrupted …
    admin.wait(lambda s: s["worker"] == "paused", 15)
    assert points() == [1, 2]

    def paused_lines() -> list[float]:  # the worker's clock when it said it paused
        return [e["time"] for e in list(events) if e["type"] == "console" and e["line"].startswith("paused")]

    wait_until(lambda: len(paused_lines()) >= 2, 15.0, "the worker to say it paused again")
    second = next(e["doc"] for e in list(events) if e["type"] == "doc" and e["name"] == "event"
                  and e["doc"]["seq_num"] == 2)
    assert paused_lines()[1] - second["time"] < 3.0, "the pause cut the 3 s delay after point 2 short"
    resumed = time.monotonic()
    admin.resume()                                 # … and replayed from the last checkpoint on resume
    t3 = wait_points(3)
    assert t3 - resumed > 2.0, "resume went on where the delay was cut instead of rewinding"
    admin.abort()
    admin.wait_idle(timeout=30)
    last = admin.history()[-1]
    assert last["item"]["uid"] == item["uid"] and last["exit_status"] == "aborted" and last["run_uids"]
    assert len(admin.items()) == 1  # the queue stopped after the abort
    run = Catalog(qs.state_dir / "data")[last["run_uids"][0]]
    assert run.metadata["stop"]["exit_status"] == "abort"
    assert list(run.stream("primary")["seq_num"].values) == [1, 2, 3] == points()   # none lost, none twice
    names = {e.get("name") for e in events if e["type"] == "doc"}
    assert {"start", "descriptor", "event", "stop"} <= names
    assert any(e["type"] == "console" for e in events)
    assert any(e["type"] == "status" and e["worker"] == "paused" for e in events)


def test_stop_ends_the_plan_as_a_success_and_stops_the_queue(qs: QueueServer, admin: Client) -> None:
    item = admin.add("count", [["det"]], {"num": 3, "delay": 5.0})
    waiting = admin.add("count", [["det"]], {"num": 1})
    admin.start()
    _wait_running(admin)
    time.sleep(0.5)
    admin.stop_plan()
    admin.wait_idle(timeout=15)
    last = admin.history()[-1]
    assert last["item"]["uid"] == item["uid"] and last["exit_status"] == "stopped"
    assert Catalog(qs.state_dir / "data")[last["run_uids"][0]].metadata["stop"]["exit_status"] == "success"
    assert [it["uid"] for it in admin.items()] == [waiting["uid"]]


def _collect(client: Client, out: list[dict[str, Any]], seconds: float) -> None:
    t0 = time.monotonic()
    try:
        for ev in client.stream(timeout=seconds):
            out.append(ev)
            if time.monotonic() - t0 > seconds:
                return
    except httpx.HTTPError:
        return


def test_execute_now_loop_mode_and_stop_after_current(qs: QueueServer, admin: Client) -> None:
    first = admin.add("count", [["det"]], {"num": 1})
    second = admin.add("count", [["det"]], {"num": 2})
    admin.execute("count", [["det"]], {"num": 1})        # ahead of the queue, which stays as it was
    admin.wait(lambda s: s["running"] is None, 30)
    assert admin.history()[-1]["item"]["kwargs"] == {"num": 1}
    assert [it["uid"] for it in admin.items()] == [first["uid"], second["uid"]]
    admin.loop(True)
    admin.start()
    admin.wait(lambda s: sum(h["item"]["uid"] == first["uid"] for h in admin.history()) >= 2, 60)
    admin.stop()
    admin.wait_idle(timeout=30)
    assert {it["uid"] for it in admin.items()} == {first["uid"], second["uid"]}  # looped back, same uids
    admin.loop(False)
    admin.clear()
    admin.add(**_call(long_count(1.5)))
    after = admin.add("count", [["det"]], {"num": 1})
    admin.start()
    _wait_running(admin)
    admin.stop()                                    # after the current item
    admin.wait_idle(timeout=30)
    assert [it["uid"] for it in admin.items()] == [after["uid"]]


def test_cli_add_ls_json_and_history(qs: QueueServer, admin: Client) -> None:
    env = {**os.environ, "BEAMTWIN_QUEUE_URL": qs.url, "BEAMTWIN_QUEUE_KEY": qs.admin_key}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "scenarios", "queue", *args], env=env, capture_output=True,
                              text=True, timeout=60)

    out = cli("add", "scan", "--args", '[["det"], "motor", -1, 1, 3]')
    assert out.returncode == 0, out.stderr
    uid = out.stdout.strip()
    assert cli("add", "count", "--args", '[["det"]]', "--kwargs", '{"num": 2}', "--before", uid).returncode == 0
    listed = json.loads(cli("ls", "--json").stdout)
    assert [it["name"] for it in listed] == ["count", "scan"]
    assert all({"uid", "name", "args", "kwargs"} <= set(it) for it in listed)
    bad = cli("add", "scan", "--args", "[garbage")
    assert bad.returncode != 0 and "--args is not valid JSON" in bad.stderr
    refused = cli("add", "scan", "--args", '[["det"], "motor", -1, 99, 3]')
    assert refused.returncode == 1 and "outside the limits" in refused.stderr
    assert cli("move", uid, "--pos", "0").returncode == 0
    assert json.loads(cli("ls", "--json").stdout)[0]["uid"] == uid
    assert cli("start").returncode == 0
    admin.wait_idle(timeout=60)
    hist = json.loads(cli("history", "--json").stdout)
    assert hist[-1]["exit_status"] == "completed"
    assert json.loads(cli("status", "--json").stdout)["environment"] == "open"


def test_halt_stops_the_plan_and_the_queue(qs: QueueServer, admin: Client) -> None:
    item = admin.add(**_call(long_count(6.0)))
    waiting = admin.add("count", [["det"]], {"num": 1})
    with pytest.raises(QueueError, match="nothing is running to halt"):
        admin.halt()
    journals = qs.state_dir / "data" / ".journal"
    before = set(journals.glob("*"))
    admin.start()
    _wait_running(admin)
    deadline = time.monotonic() + 30  # the plan has opened its run (its journal exists): a halt ends that run
    while not set(journals.glob("*")) - before and time.monotonic() < deadline:
        time.sleep(0.02)
    t0 = time.monotonic()
    admin.halt()
    admin.wait_idle(timeout=15)
    assert time.monotonic() - t0 < 4.0                     # well before the 6 s plan would end
    last = admin.history()[-1]
    assert last["item"]["uid"] == item["uid"] and last["exit_status"] == "halted"
    assert [it["uid"] for it in admin.items()] == [waiting["uid"]]
    assert Catalog(qs.state_dir / "data")[last["run_uids"][0]].metadata["stop"]["exit_status"] == "abort"
