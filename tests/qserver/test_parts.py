"""The queue server's parts on their own: SQLite persistence, validation, keys, spreadsheets, the fast lane."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qserver.auth import AuthError, Unauthenticated, Users
from qserver.db import QueueDB
from qserver.spreadsheet import read_items
from qserver.validate import ItemError, Validator

SNAPSHOT = {"devices": {"motor": {"kind": "motor", "limits": [-10.0, 10.0], "velocity": 5.0, "position": 0.0},
                        "det": {"kind": "scaler", "readings": ["det"], "count_time": 1.0}}}


def _item(uid: str, name: str = "count") -> dict[str, object]:
    return {"uid": uid, "name": name, "args": [["det"]], "kwargs": {}}


def test_queue_db_survives_reopening_with_order_history_and_version(tmp_path: Path) -> None:
    db = QueueDB(tmp_path / "q.sqlite")
    db.insert([_item("a"), _item("b"), _item("c")], None, "alice")
    db.insert([_item("x")], 1, "bob")
    db.move("c", 0, "alice")
    db.remove("b", "bob")
    db.replace({**_item("x"), "kwargs": {"num": 3}}, "carol")
    db.take_front(db.items[0], {"exec_id": "e1", "item": db.items[0]}, "server")
    db.finish({"exec_id": "e1", "item": _item("c"), "exit_status": "completed", "run_uids": ["r1"]}, None)
    version = db.version
    expected = [it["uid"] for it in db.items]
    db.conn.close()  # no orderly close of anything else: reopen from the file alone
    again = QueueDB(tmp_path / "q.sqlite")
    assert [it["uid"] for it in again.items] == expected == ["a", "x"]
    assert again.items[1]["kwargs"] == {"num": 3}
    assert again.version == version
    assert again.history()[0]["run_uids"] == ["r1"] and again.has_exec("e1")
    assert again.get("running") is None
    assert [(e["who"], e["action"]) for e in again.changes()][:5] == [
        ("alice", "add"), ("bob", "add"), ("alice", "move"), ("bob", "remove"), ("carol", "edit")]


def test_validator_names_the_bad_argument_and_estimates_time() -> None:
    v = Validator()
    v.snapshot = SNAPSHOT
    ok = v.check({"name": "scan", "args": [["det"], "motor", -2, 2, 5]})
    assert ok["devices"] == ["det", "motor"] and ok["estimate"] == pytest.approx(2 / 5 + 4 / 5 + 5 * 1.0)
    assert v.check({"name": "count", "args": [["det"]], "kwargs": {"num": 3, "delay": 0.5}})["estimate"] == 4.0
    assert v.check({"name": "mv", "args": ["motor", 3]})["estimate"] == pytest.approx(0.6)
    for raw, message in [
        ({"name": "scan", "args": [["det"], "motor", -2, 20, 5]}, "scan: motor: position 20.0 is outside the limits"),
        ({"name": "mv", "args": ["motor", -11]}, "mv: motor: position -11 is outside the limits"),
        ({"name": "count", "args": ["det"]}, "argument 'detectors': expected a list of device names"),
        ({"name": "count", "args": [["det"]], "kwargs": {"num": "3"}}, "argument 'num': expected an integer"),
        ({"name": "count", "args": [["det"]], "kwargs": {"delay": True}}, "argument 'delay'"),
        ({"name": "open_run"}, "unknown plan 'open_run'"),
        ({"name": "count", "args": {"a": 1}}, "args must be a JSON list"),
        ({"name": "count", "args": [["det"]], "plan": "x"}, "unknown item field(s) ['plan']"),
        ("count", "an item is a JSON object"),
    ]:
        with pytest.raises(ItemError) as err:
            v.check(raw)
        assert message in str(err.value), (raw, str(err.value))


def test_dry_run_seam_takes_a_plugged_in_function() -> None:
    calls = []

    def dry_run(name: str, args: list[object], kwargs: dict[str, object], snapshot: dict[str, object]) -> float:
        calls.append(name)
        raise ValueError("argument 'num': too many points for this detector")

    v = Validator(dry_run=dry_run)
    v.snapshot = SNAPSHOT
    with pytest.raises(ItemError, match="count: argument 'num': too many points"):
        v.check({"name": "count", "args": [["det"]], "kwargs": {"num": 10**6}})
    assert calls == ["count"]


def test_keys_are_stored_hashed_and_checked(tmp_path: Path) -> None:
    users = Users(tmp_path / "users.json")
    admin_key = users.ensure_admin(tmp_path / "admin.key")
    assert admin_key is not None and (tmp_path / "admin.key").stat().st_mode & 0o077 == 0
    assert users.ensure_admin(tmp_path / "admin.key") is None  # the second start keeps the first key
    users.add_group("stage", "user", plans=["count"], devices=["det"])
    key = users.add_user("sam", "stage")
    text = (tmp_path / "users.json").read_text()
    assert key not in text and admin_key not in text
    sam = Users(tmp_path / "users.json").authenticate(key)
    assert (sam.user, sam.group, sam.role) == ("sam", "stage", "user")
    sam.check_item("count", ["det"])
    with pytest.raises(AuthError, match="may not run plan 'scan'"):
        sam.check_item("scan", ["det"])
    with pytest.raises(AuthError, match=r"may not use device\(s\) \['motor'\]"):
        sam.check_item("count", ["motor"])
    with pytest.raises(AuthError, match="needs the admin role"):
        sam.require("admin")
    with pytest.raises(Unauthenticated, match="invalid API key"):
        users.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B"))
    with pytest.raises(ValueError, match="role must be one of"):
        users.add_group("x", "superuser")
    users.authenticate(key)
    users.add_group("stage", "user", plans=["count", "scan"], devices=["det"])  # a changed group applies at once
    users.authenticate(key).check_item("scan", ["det"])


def test_csv_batch_reads_columns_as_keyword_arguments(tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    path.write_text('plan,detectors,motor,start,stop,num,args\n'
                    'scan,"[""det""]",motor,-1,1.5,5,\n'
                    'count,,,,,,"[[""det""], 3]"\n'
                    'count,"[""det""]",,,,4,\n')
    assert read_items(path) == [
        # scan takes its motors as *args (Bluesky's signature): motor/start/stop become positional
        {"name": "scan", "args": [["det"], "motor", -1, 1.5], "kwargs": {"num": 5}},
        {"name": "count", "args": [["det"], 3], "kwargs": {}},
        {"name": "count", "args": [], "kwargs": {"detectors": ["det"], "num": 4}}]
    bad = tmp_path / "bad.csv"
    bad.write_text("name,num\ncount,3\n")
    with pytest.raises(ValueError, match="row 2: no 'plan' cell"):
        read_items(bad)


def test_a_repeated_item_is_checked_once_per_snapshot_and_errors_are_never_remembered() -> None:
    calls: list[str] = []

    def dry_run(name: str, args: list[object], kwargs: dict[str, object], snap: dict[str, object]) -> float:
        calls.append(name)
        if kwargs.get("num") == 0:
            raise ValueError("num must be positive")
        return 2.0

    v = Validator(dry_run=dry_run)
    v.snapshot = SNAPSHOT
    first = v.check({"name": "count", "args": [["det"]], "kwargs": {"num": 3}})
    second = v.check({"name": "count", "args": [["det"]], "kwargs": {"num": 3}})
    assert calls == ["count"] and first["uid"] != second["uid"]
    assert {k: v for k, v in first.items() if k != "uid"} == {k: v for k, v in second.items() if k != "uid"}
    with pytest.raises(ItemError, match=r"expected an integer, got 3\.0"):   # equal in Python, not the same item
        v.check({"name": "count", "args": [["det"]], "kwargs": {"num": 3.0}})
    v.check({"name": "count", "args": [["det"]], "kwargs": {"num": 4}})     # another value: checked again
    assert len(calls) == 2
    for _ in range(2):
        with pytest.raises(ItemError, match="num must be positive"):
            v.check({"name": "count", "args": [["det"]], "kwargs": {"num": 0}})
    assert len(calls) == 4
    v.snapshot = {"devices": {"motor": SNAPSHOT["devices"]["motor"]}}   # det gone: the same item now fails
    with pytest.raises(ItemError, match="no device 'det'"):
        v.check({"name": "count", "args": [["det"]], "kwargs": {"num": 3}})


def test_the_plans_dry_run_plugs_in_on_stand_in_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once acq.plans has ``dry_run(plan, snapshot)``, items are walked through it (here a small walker)."""
    import acq.plans as plan_module
    from qserver import validate

    walked: list[list[str]] = []

    class Result:
        duration = 12.5

    def dry_run(plan: object, snapshot: dict[str, object]) -> Result:
        assert isinstance(snapshot, dict) and snapshot["motor"] == {"position": 0.0, "velocity": 5.0}
        walked.append([m.command for m in plan])  # type: ignore[attr-defined]
        return Result()

    monkeypatch.setattr(plan_module, "dry_run", dry_run, raising=False)
    v = Validator()
    assert v.dry_run is validate.acq_dry_run
    v.snapshot = SNAPSHOT
    item = v.check({"name": "scan", "args": [["det"], "motor", -1, 1, 3]})
    assert item["estimate"] == 12.5 and walked[0].count("set") == 3
    with pytest.raises(ItemError, match=r"scan: motor: position 30.0 is outside the limits \[-10.0, 10.0\]"):
        v.check({"name": "scan", "args": [["det"], "motor", -1, 30, 3]})  # the plan's own check, on a stand-in


def test_the_fast_lane_answers_scripts_in_one_write_and_leaves_browsers_to_fastapi(tmp_path: Path) -> None:
    import asyncio

    import uvicorn

    from qserver.app import HOT, build_app
    from qserver.fastlane import fast_lane_protocol
    from qserver.manager import QueueManager
    from scenarios.twin_process import free_port

    manager = QueueManager(tmp_path)
    assert manager.admin_key is not None
    app = build_app(manager)
    through_fastapi: list[str] = []

    async def recording(scope: dict[str, object], receive: object, send: object) -> None:
        through_fastapi.append(f"{scope.get('method')} {scope.get('path')}")
        await app(scope, receive, send)  # type: ignore[arg-type]

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(recording, host="127.0.0.1", port=port, lifespan="off", log_level="warning",
                                           http=fast_lane_protocol(app.state.answer, HOT)))
    auth = f"Authorization: Bearer {manager.admin_key}\r\n"
    item = json.dumps({"item": {"name": "count", "args": [["det"]], "kwargs": {"num": 2}}})

    async def exchange(*requests: str) -> list[tuple[int, dict[str, str], dict[str, object]]]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answers = []
        for request in requests:  # one kept-alive connection, as scripts use
            writer.write(request.encode())
            head = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in head[1:] if line)
            body = await reader.readexactly(int(headers["content-length"]))
            answers.append((int(head[0].split()[1]), headers, json.loads(body)))
        writer.close()
        return answers

    async def main() -> list[tuple[int, dict[str, str], dict[str, object]]]:
        task = asyncio.ensure_future(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        try:
            return await exchange(
                f"GET /api/status HTTP/1.1\r\nHost: x\r\n{auth}\r\n",
                f"POST /api/queue/add HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {len(item)}\r\n\r\n{item}",
                f"GET /api/queue HTTP/1.1\r\nHost: x\r\nX-API-Key: {manager.admin_key}\r\n\r\n",
                "GET /api/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n\r\n",
                "POST /api/queue/add HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 5\r\n\r\n{nope",
                f"GET /api/status HTTP/1.1\r\nHost: x\r\nOrigin: http://elsewhere\r\n{auth}\r\n",
                f"GET /api/history HTTP/1.1\r\nHost: x\r\n{auth}\r\n")
        finally:
            server.should_exit = True
            await task

    status, added, queue, refused, garbage, browser, history = asyncio.run(main())
    assert through_fastapi == ["GET /api/status", "GET /api/history"]   # the browser's and the non-hot request
    assert status[0] == added[0] == queue[0] == browser[0] == history[0] == 200
    assert "server" not in status[1] and "server" in browser[1]          # one write, without uvicorn's headers
    assert browser[1]["access-control-allow-origin"] == "*"             # the browser got FastAPI's CORS middleware
    assert queue[2]["items"][0]["uid"] == added[2]["item"]["uid"] and queue[2]["version"] == added[2]["version"]
    assert browser[2]["items"] == 1 and status[2]["items"] == 0
    assert refused[0] == 401 and "invalid API key" in str(refused[2]["error"])
    assert garbage[0] == 400 and "not valid JSON" in str(garbage[2]["error"])
    manager.db.close()


def test_adds_survive_a_crash_in_the_journal_alone_and_replay_once(tmp_path: Path) -> None:
    db = QueueDB(tmp_path / "q.sqlite")
    db.insert([_item("a"), _item("b")], None, "alice")
    db.take_front(db.items[0], {"exec_id": "e1", "item": db.items[0]}, "server")  # applies a, b to SQLite
    db.insert([_item("c")], None, "bob")
    db.insert([_item("x")], 0, "carol", action="duplicate")                      # ahead of b: b's place moves
    db.insert([_item("d")], None, "bob")
    assert [p.version for p in db.pending] == [db.version - 2, db.version - 1, db.version]
    stored = db.conn.execute("SELECT uid FROM items ORDER BY pos").fetchall()
    assert stored == [("b",)]                     # c, x, d are in the journal only …
    version, expected = db.version, [it["uid"] for it in db.items]
    db.conn.close()                               # … when the process dies (no flush, no close)
    with (tmp_path / "q.sqlite-adds.jsonl").open("ab") as f:
        f.write(b'{"v": 99, "at": 0, "who": "eve", "items": [{"uid": "cut sh')  # a line cut short by the kill
    again = QueueDB(tmp_path / "q.sqlite")
    assert [it["uid"] for it in again.items] == expected == ["x", "b", "c", "d"]
    assert again.version == version
    assert [(e["who"], e["action"]) for e in again.changes()][-3:] == [
        ("bob", "add"), ("carol", "duplicate"), ("bob", "add")]
    again.insert([_item("g")], None, "bob")       # appended after the cut line was cut off
    again.conn.close()                            # replayed adds are in SQLite now: a third open adds none twice
    third = QueueDB(tmp_path / "q.sqlite")
    assert [it["uid"] for it in third.items] == [*expected, "g"] and third.version == version + 1
    assert [e["action"] for e in third.changes()].count("duplicate") == 1
    third.close()


def test_positions_stay_in_order_after_items_leave_the_front(tmp_path: Path) -> None:
    db = QueueDB(tmp_path / "q.sqlite")
    db.insert([_item("a"), _item("b"), _item("c")], None, "alice")
    for k in range(2):
        db.take_front(db.items[0], {"exec_id": f"e{k}", "item": db.items[0]}, "server")
    db.insert([_item("d")], None, "alice")
    db.insert([_item("e"), _item("f")], None, "alice")
    db.close()
    assert [it["uid"] for it in QueueDB(tmp_path / "q.sqlite").items] == ["c", "d", "e", "f"]
