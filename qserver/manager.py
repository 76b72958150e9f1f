"""The queue manager: the editable queue, its control, the worker link and the live stream.

Runs on the server's event loop; every request is handled to its end before the next, so
edits never interleave. Each change is committed to SQLite before it is answered.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qserver import wire
from qserver.auth import Principal, Users
from qserver.db import Item, QueueDB
from qserver.validate import ItemError, Validator

STREAM_BUFFER = 2000
FLUSH_DELAY = 0.1  # seconds from an add to its journal line's transaction into SQLite (qserver.db)
FLUSH_DELAY_ENV = "BEAMTWIN_QUEUE_FLUSH_DELAY"  # overrides it (tests hold adds in the journal alone)


class Conflict(RuntimeError):
    """An edit based on an old queue version, or a control request that does not fit the state."""

    def __init__(self, message: str, state: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.state = state or {}


class QueueManager:
    """The queue, the worker link and the listeners of one server."""

    def __init__(self, state_dir: Path, *, profile: str = "default", data_dir: Path | None = None,
                 worker_env: dict[str, str] | None = None, validator: Validator | None = None,
                 suspend_settle: float = 1.0) -> None:
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.profile = profile
        self.data_dir = data_dir or state_dir / "data"
        self.worker_env = worker_env
        self.suspend_settle = suspend_settle
        self.db = QueueDB(state_dir / "queue.sqlite")
        self.users = Users(state_dir / "users.json")
        self.admin_key = self.users.ensure_admin(state_dir / "admin.key")
        self.validator = validator or Validator()
        self.validator.snapshot = self.db.get("snapshot") or {}
        self.queue_running = bool(self.db.get("queue_running", False))
        self.stop_pending = bool(self.db.get("stop_pending", False))
        self.loop_mode = bool(self.db.get("loop_mode", False))
        self.keep_alive = bool(self.db.get("keep_alive", False))
        self.running: dict[str, Any] | None = self.db.get("running")
        self.env = "closed"
        self.worker_state = "closed"
        self.worker_pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._standby: subprocess.Popen[bytes] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self._taps: list[Callable[[dict[str, Any]], None]] = []
        self._closing_env = False
        self.last_error = ""
        self.frame: dict[str, Any] | None = None  # the newest camera frame of the running plan
        self._status_key: tuple[Any, ...] | None = None
        self._status_body = b""
        self._flush_handle: asyncio.TimerHandle | None = None
        self.flush_delay = float(os.environ.get(FLUSH_DELAY_ENV, FLUSH_DELAY))

    # -- the stream ---------------------------------------------------------------------------------
    def listen(self) -> asyncio.Queue[dict[str, Any]]:
        """A new listener's queue of events (status, queue, console, doc)."""
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(STREAM_BUFFER)
        self._listeners.add(q)
        q.put_nowait({"type": "status", **self.status()})
        return q

    def tap(self, fn: Callable[[dict[str, Any]], None]) -> None:
        """Call ``fn(event)`` with every event, synchronously (an in-process listener: no task, no queue).
        ``fn`` must be quick and must not change the queue; an error in it is printed and ignored."""
        if fn not in self._taps:
            self._taps.append(fn)
            fn({"type": "status", **self.status()})

    def unlisten(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        """Forget a listener."""
        self._listeners.discard(q)

    def broadcast(self, event: dict[str, Any]) -> None:
        """Send ``event`` to every listener; a listener too slow to keep up is dropped, never waited for."""
        for fn in self._taps:
            try:
                fn(event)
            except Exception as exc:
                print(f"queue server: a listener failed on a {event.get('type')} event: {exc!r}", file=sys.stderr)
        for q in list(self._listeners):
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:
                self._listeners.discard(q)  # its stream notices and ends

    def _changed(self) -> None:
        if self._listeners or self._taps:
            self.broadcast({"type": "status", **self.status()})

    # -- reads -----------------------------------------------------------------------------------
    def status_body(self) -> bytes:
        """``status()`` as JSON bytes, encoded again only when something in it changed."""
        key = (self.db.version, self.queue_running, self.stop_pending, self.loop_mode, self.keep_alive, self.env,
               self.worker_state, self.worker_pid, id(self.running), self.last_error)
        if key != self._status_key:
            self._status_body = wire.dumps(self.status()).encode()
            self._status_key = key
        return self._status_body

    def status(self) -> dict[str, Any]:
        """The server's state in one small object."""
        est_total, est_unknown = self.db.estimates()
        return {"queue_running": self.queue_running, "stop_pending": self.stop_pending, "loop": self.loop_mode,
                "keep_alive": self.keep_alive,
                "environment": self.env, "worker": self.worker_state, "worker_pid": self.worker_pid,
                "running": self.running, "items": len(self.db.items), "version": self.db.version,
                "estimate_total": est_total, "estimate_unknown": est_unknown, "last_error": self.last_error}

    def queue(self) -> dict[str, Any]:
        """The queue with its version and the running item."""
        return {"version": self.db.version, "items": self.db.items, "running": self.running}

    # -- edits -----------------------------------------------------------------------------------
    def _check_version(self, version: Any) -> None:
        if version is not None and version != self.db.version:
            raise Conflict(f"the queue changed: your edit is based on version {version}, "
                           f"the queue is at version {self.db.version}; here is its current state",
                           self.queue())

    def _item(self, who: Principal, raw: Any, keep_uid: str | None = None) -> Item:
        item = self.validator.check(raw, keep_uid=keep_uid)
        who.check_item(item["name"], item["devices"])
        item["user"] = who.user
        item["added"] = time.time()
        return item

    def _position(self, pos: Any, before: Any, after: Any, exclude: str | None = None) -> int | None:
        if pos is None and before is None and after is None:
            return None
        given = [x for x in (pos, before, after) if x is not None]
        if len(given) > 1:
            raise ItemError("give at most one of pos, before_uid, after_uid")
        items = [it for it in self.db.items if it["uid"] != exclude]
        uids = [it["uid"] for it in items]
        if before is not None or after is not None:
            ref = before if before is not None else after
            if ref not in uids:
                raise KeyError(f"no item {ref!r} in the queue")
            return uids.index(ref) + (0 if before is not None else 1)
        if pos is None:
            return None
        if pos in ("front", "back"):
            return 0 if pos == "front" else len(items)
        if isinstance(pos, bool) or not isinstance(pos, int):
            raise ItemError(f"pos must be an integer, 'front' or 'back', got {pos!r}")
        return pos if pos >= 0 else max(0, len(items) + 1 + pos)

    def add(self, who: Principal, raw: Any, *, pos: Any = None, before_uid: Any = None, after_uid: Any = None,
            version: Any = None) -> dict[str, Any]:
        """Validate and insert one item; return it with the new version."""
        who.require("user")
        self._check_version(version)
        item = self._item(who, raw)
        at = self._position(pos, before_uid, after_uid)
        new_version = self.db.insert([item], at, who.user)
        self._after_edit()
        return {"version": new_version, "item": item}

    def add_batch(self, who: Principal, raws: Any, *, pos: Any = None, version: Any = None) -> dict[str, Any]:
        """Validate every item first; queue all of them or none (errors name the rows)."""
        who.require("user")
        self._check_version(version)
        if not isinstance(raws, list) or not raws:
            raise ItemError("items must be a non-empty JSON list")
        items, errors = [], []
        for i, raw in enumerate(raws):
            try:
                items.append(self._item(who, raw))
            except (ItemError, PermissionError) as exc:
                errors.append(f"item {i + 1}: {exc}")
        if errors:
            raise ItemError("nothing queued; " + "; ".join(errors))
        new_version = self.db.insert(items, self._position(pos, None, None), who.user, action="add_batch")
        self._after_edit()
        return {"version": new_version, "items": items}

    def move(self, who: Principal, uid: str, *, pos: Any = None, before_uid: Any = None, after_uid: Any = None,
             version: Any = None) -> dict[str, Any]:
        """Move item ``uid``."""
        who.require("user")
        self._check_version(version)
        self.db.index(uid)
        at = self._position(pos, before_uid, after_uid, exclude=uid)
        if at is None:
            raise ItemError("move needs pos, before_uid or after_uid")
        new_version = self.db.move(uid, at, who.user)
        self._after_edit()
        return {"version": new_version}

    def edit(self, who: Principal, uid: str, raw: Any, *, version: Any = None) -> dict[str, Any]:
        """Replace item ``uid`` by ``raw`` (validated), keeping its uid and place."""
        who.require("user")
        self._check_version(version)
        self.db.index(uid)
        item = self._item(who, raw, keep_uid=uid)
        new_version = self.db.replace(item, who.user)
        self._after_edit()
        return {"version": new_version, "item": item}

    def duplicate(self, who: Principal, uid: str, *, version: Any = None) -> dict[str, Any]:
        """A copy of item ``uid`` (new uid) right after it."""
        who.require("user")
        self._check_version(version)
        i = self.db.index(uid)
        src = self.db.items[i]
        item = self._item(who, {"name": src["name"], "args": src["args"], "kwargs": src["kwargs"]})
        new_version = self.db.insert([item], i + 1, who.user, action="duplicate")
        self._after_edit()
        return {"version": new_version, "item": item}

    def remove(self, who: Principal, uid: str, *, version: Any = None) -> dict[str, Any]:
        """Remove item ``uid``."""
        who.require("user")
        self._check_version(version)
        item, new_version = self.db.remove(uid, who.user)
        self._after_edit()
        return {"version": new_version, "item": item}

    def clear(self, who: Principal, *, version: Any = None) -> dict[str, Any]:
        """Empty the queue."""
        who.require("user")
        self._check_version(version)
        new_version = self.db.clear(who.user)
        self._after_edit()
        return {"version": new_version}

    def _flush_soon(self) -> None:
        """Apply journalled adds to SQLite shortly (at once when no event loop runs)."""
        if not self.db.pending or self._flush_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.db.flush()
            return
        self._flush_handle = loop.call_later(self.flush_delay, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        self.db.flush()

    def _after_edit(self) -> None:
        self._flush_soon()
        if self._listeners or self._taps:
            self.broadcast({"type": "queue", "version": self.db.version})
        self._changed()
        self._dispatch()

    # -- control -----------------------------------------------------------------------------------
    def _set_flags(self, who: str, action: str, **flags: Any) -> None:
        for key, value in flags.items():
            if key not in ("queue_running", "stop_pending", "loop_mode", "keep_alive"):
                raise KeyError(key)
            setattr(self, key, value)
            self.db._put(key, value)
        self.db.log(who, action, flags)
        self._changed()

    async def start(self, who: Principal, keep_alive: bool = False) -> dict[str, Any]:
        """Start executing the queue (opening the environment first if it is closed).

        With ``keep_alive`` the queue waits for new items when it runs dry (for agents that add
        one run at a time) instead of stopping.
        """
        who.require("user")
        if self.env == "closed":
            await self.open_environment(who)
        self._set_flags(who.user, "start", queue_running=True, stop_pending=False, keep_alive=bool(keep_alive))
        self._dispatch()
        return self.status()

    def stop(self, who: Principal, cancel: bool = False) -> dict[str, Any]:
        """Stop after the current item (or cancel that request)."""
        who.require("user")
        if cancel:
            self._set_flags(who.user, "stop_cancel", stop_pending=False)
        elif self.running is None:
            self._set_flags(who.user, "stop", queue_running=False, stop_pending=False, keep_alive=False)
        else:
            self._set_flags(who.user, "stop", stop_pending=True)
        return self.status()

    def set_loop(self, who: Principal, enabled: bool) -> dict[str, Any]:
        """Loop mode: a finished item goes back to the end of the queue."""
        who.require("user")
        self._set_flags(who.user, "loop", loop_mode=bool(enabled))
        return self.status()

    def control(self, who: Principal, cmd: str, **kw: Any) -> dict[str, Any]:
        """pause (deferred or immediate), resume, stop (success), abort, halt the running plan (the engine's own)."""
        who.require("user")
        if self.running is None or self._writer is None:
            raise Conflict(f"nothing is running to {cmd}", self.status())
        if cmd == "resume" and self.worker_state != "paused":
            raise Conflict("the plan is not paused", self.status())
        if cmd in ("abort", "halt", "stop"):
            self._set_flags(who.user, cmd, queue_running=False, stop_pending=False)
        else:
            self.db.log(who.user, cmd, kw)
        self._send({"cmd": cmd, **kw})
        return self.status()

    def execute(self, who: Principal, raw: Any) -> dict[str, Any]:
        """Run one item now, ahead of the queue (the worker must be idle)."""
        who.require("user")
        item = self._item(who, raw)
        if self.env != "open" or self._writer is None:
            raise Conflict("the environment is not open; open it first", self.status())
        if self.running is not None or self.worker_state != "idle":
            raise Conflict("the worker is busy; add the item at the front of the queue (pos 0) instead",
                           self.status())
        self._run_item(item, who.user, from_queue=False)
        return {"item": item, "status": self.status()}

    # -- dispatch ----------------------------------------------------------------------------------
    def _send(self, msg: dict[str, Any]) -> None:
        if self._writer is not None:
            self._writer.write(wire.dumps(msg).encode() + b"\n")

    def _run_item(self, item: Item, who: str, from_queue: bool) -> None:
        running = {"exec_id": uuid.uuid4().hex, "item": item, "started": time.time(), "from_queue": from_queue}
        self.db.take_front(item if from_queue else None, running, who)
        self.running = running
        self.worker_state = "running"
        self._send({"cmd": "run", "exec_id": running["exec_id"], "item": item})
        self.broadcast({"type": "queue", "version": self.db.version})
        self._changed()

    def _dispatch(self) -> None:
        if not self.queue_running or self.running is not None:
            return
        if self.env != "open" or self._writer is None or self.worker_state != "idle":
            return
        if not self.db.items and self.keep_alive and not self.stop_pending:
            return
        if self.stop_pending or not self.db.items:
            self._set_flags("server", "queue_stopped" if self.stop_pending else "queue_empty",
                            queue_running=False, stop_pending=False, keep_alive=False)
            return
        self._run_item(self.db.items[0], "server", from_queue=True)

    def _finish(self, result: dict[str, Any]) -> None:
        exec_id = result["exec_id"]
        running = self.running
        if self.db.has_exec(exec_id):
            self._send({"cmd": "ack", "exec_id": exec_id})
            return
        from_queue = bool(running and running.get("exec_id") == exec_id and running.get("from_queue"))
        record = {"exec_id": exec_id, "item": result["item"], "exit_status": result["exit_status"],
                  "reason": result.get("reason", ""), "run_uids": result.get("run_uids", []),
                  "started": result.get("started"), "finished": result.get("finished", time.time())}
        requeue = None
        if from_queue and self.loop_mode and record["exit_status"] == "completed":
            requeue = dict(result["item"])
        self.db.finish(record, requeue)
        if running is not None and running.get("exec_id") == exec_id:
            self.running = None
        self._send({"cmd": "ack", "exec_id": exec_id})
        self.broadcast({"type": "finished", **record})
        if self.stop_pending:
            self._set_flags("server", "queue_stopped", queue_running=False, stop_pending=False, keep_alive=False)
        self._changed()

    def _interrupt(self, exit_status: str, reason: str) -> None:
        running = self.running
        if running is None:
            return
        record = {"exec_id": running["exec_id"], "item": running["item"], "exit_status": exit_status,
                  "reason": reason, "run_uids": [], "started": running.get("started"), "finished": time.time()}
        self.db.finish(record, None)
        self.running = None
        self.broadcast({"type": "finished", **record})
        self._changed()

    # -- the worker ------------------------------------------------------------------------------------
    async def open_environment(self, who: Principal | None = None) -> dict[str, Any]:
        """Start a worker (or re-attach to one) and wait for its device snapshot."""
        user = who.user if who else "server"
        if who is not None:
            who.require("user")
        if self.env == "open":
            return self.status()
        if self.env == "opening":
            raise Conflict("the environment is already opening", self.status())
        self.env = "opening"
        self._changed()
        self.db.log(user, "open_environment", {"profile": self.profile})
        try:
            info = wire.read_worker_file(self.state_dir)
            alive = info is not None and wire.pid_alive(int(info["pid"]))
            if not alive and self.running is not None:
                pid = info["pid"] if info else "unknown"
                self._interrupt("interrupted", f"the worker (pid {pid}) died while no server was attached; "
                                               f"whether the plan finished is unknown")
            if info is None or not alive or not await self._attach(info):
                await self._spawn()
        except Exception as exc:
            self.env = "closed"
            self.worker_state = "closed"
            self.last_error = f"cannot open the environment: {exc}"
            self._changed()
            raise RuntimeError(self.last_error) from exc
        self._prepare_standby()
        return self.status()

    def _start_worker_process(self, standby: bool) -> subprocess.Popen[bytes]:
        log = (self.state_dir / "worker.log").open("ab")
        env = {**os.environ, **(self.worker_env or {})}
        try:
            return subprocess.Popen(
                [sys.executable, "-m", "qserver.worker", "--state-dir", str(self.state_dir), "--profile",
                 self.profile, "--data-dir", str(self.data_dir), "--suspend-settle", str(self.suspend_settle),
                 *(["--standby"] if standby else [])],
                stdin=subprocess.PIPE if standby else subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True)
        finally:
            log.close()

    def _prepare_standby(self) -> None:
        """A worker that has done its imports and waits: the next environment opens without that wait."""
        if self._standby is None or self._standby.poll() is not None:
            self._standby = self._start_worker_process(standby=True)

    def _drop_standby(self) -> None:
        standby, self._standby = self._standby, None
        if standby is not None and standby.poll() is None and standby.stdin is not None:
            standby.stdin.close()  # EOF: it exits without opening anything
            try:
                standby.wait(5)
            except subprocess.TimeoutExpired:
                standby.kill()

    async def _spawn(self, timeout: float = 60.0) -> None:
        (self.state_dir / wire.WORKER_FILE).unlink(missing_ok=True)
        standby, self._standby = self._standby, None
        if standby is not None and standby.poll() is None and standby.stdin is not None:
            standby.stdin.write(b"open\n")
            standby.stdin.close()
            self._proc = standby
        else:
            self._proc = self._start_worker_process(standby=False)
        deadline = time.monotonic() + timeout
        while True:
            info = wire.read_worker_file(self.state_dir)
            if info is not None and info.get("pid") == self._proc.pid:
                break
            if self._proc.poll() is not None:
                tail = (self.state_dir / "worker.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the worker exited with {self._proc.returncode}: {tail.strip()}")
            if time.monotonic() > deadline:
                self._proc.kill()
                raise TimeoutError(f"the worker did not open its environment within {timeout} s")
            await asyncio.sleep(0.02)
        if not await self._attach(info):
            raise RuntimeError("the worker started but refused the link")

    async def _attach(self, info: dict[str, Any]) -> bool:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", int(info["port"]), limit=wire.LINE_LIMIT)
            await wire.send(writer, {"token": info["token"]})
            hello = await asyncio.wait_for(wire.receive(reader), 10)
        except (OSError, TimeoutError, ValueError):
            return False
        if not hello or hello.get("t") != "hello":
            writer.close()
            return False
        self._writer = writer
        self.worker_pid = int(hello["pid"])
        self.snapshot(hello.get("snapshot") or {})
        self.env = "open"
        self.worker_state = hello.get("state", "idle")
        for result in hello.get("pending", []):
            self._finish(result)
        current = hello.get("current")
        if self.running is not None and (current is None or current["exec_id"] != self.running["exec_id"]):
            self._interrupt("interrupted", "the worker no longer runs this item (it ended while no server "
                                           "was attached and left no result)")
        if current is not None and self.running is None:
            self.running = {**current, "from_queue": False}
        self._reader_task = asyncio.ensure_future(self._read_worker(reader, writer))
        self.db.log("server", "worker_attached", {"pid": self.worker_pid, "state": self.worker_state})
        self._changed()
        self._dispatch()
        return True

    def snapshot(self, snap: dict[str, Any]) -> None:
        """Take the worker's device snapshot as the ground truth for validation."""
        self.validator.snapshot = snap
        self.db.set("snapshot", snap)

    async def _read_worker(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (msg := await wire.receive(reader)) is not None:
                self._on_worker(msg)
        except (ConnectionError, ValueError):
            pass
        if self._writer is writer:
            self._writer = None
            self._worker_lost()

    def _on_worker(self, msg: dict[str, Any]) -> None:
        t = msg.get("t")
        if t == "doc":
            self.broadcast({"type": "doc", "name": msg["name"], "doc": msg["doc"]})
        elif t == "console":
            self.broadcast({"type": "console", "line": msg["line"], "time": msg.get("time")})
        elif t == "state":
            self.worker_state = msg["state"]
            self._changed()
            self._dispatch()
        elif t == "done":
            self._finish(msg)
            self._dispatch()
        elif t == "refused":
            self._interrupt("failed", f"the worker refused the item: {msg.get('reason')}")
        elif t == "suspension":
            self.broadcast({"type": "suspension", **{k: v for k, v in msg.items() if k != "t"}})
        elif t == "frame":
            self.frame = msg
            self.broadcast({"type": "frame", **{k: v for k, v in msg.items() if k not in ("t", "data")}})
        elif t == "started":
            self.broadcast({"type": "started", "uid": msg.get("uid"), "time": msg.get("time")})

    def _worker_lost(self) -> None:
        how = "the worker process died"
        if self._proc is not None:
            try:
                code = self._proc.wait(2)
                how += f" (signal {-code})" if code < 0 else f" (exit status {code})"
            except subprocess.TimeoutExpired:
                how += " (it no longer answers)"
        if self._closing_env:
            how = "the environment was closed"
        self._interrupt("failed", how)
        self.env = "closed"
        self.worker_state = "closed"
        self.worker_pid = None
        self.last_error = "" if self._closing_env else how
        self._closing_env = False
        self.db.log("server", "worker_lost", {"reason": how})
        self._changed()

    async def close_environment(self, who: Principal, kill: bool = False) -> dict[str, Any]:
        """Stop the worker (refused while a plan runs, unless ``kill``)."""
        who.require("user")
        if self.env != "open":
            return self.status()
        if self.running is not None and not kill:
            raise Conflict("a plan is running: stop or abort it first (or close with kill)", self.status())
        self._closing_env = True
        self.db.log(who.user, "close_environment", {"kill": kill})
        pid = self.worker_pid
        if kill and pid is not None:
            os.kill(pid, signal.SIGKILL)
        else:
            self._send({"cmd": "close"})
        for _ in range(200):
            if self.env == "closed":
                break
            await asyncio.sleep(0.025)
        return self.status()

    async def shutdown(self, close_worker: bool = True) -> None:
        """Close the worker (if idle and asked to), any standby worker, and the database."""
        self._drop_standby()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if close_worker and self.env == "open" and self.running is None:
            self._closing_env = True
            self._send({"cmd": "close"})
            for _ in range(100):
                if self.env == "closed":
                    break
                await asyncio.sleep(0.02)
        self.db.close()

    # -- accounts and log ---------------------------------------------------------------------------------
    def add_group(self, who: Principal, name: str, role: str, plans: Any, devices: Any) -> dict[str, Any]:
        """Create or replace a group (admin)."""
        who.require("admin")
        group = self.users.add_group(name, role, plans, devices)
        self.db.log(who.user, "add_group", {"name": name, **group})
        return group

    def add_user(self, who: Principal, name: str, group: str) -> str:
        """Create a user and return its key, shown once (admin)."""
        who.require("admin")
        key = self.users.add_user(name, group)
        self.db.log(who.user, "add_user", {"name": name, "group": group})
        return key

    def clear_history(self, who: Principal) -> None:
        """Forget the history (admin)."""
        who.require("admin")
        self.db.clear_history(who.user)

