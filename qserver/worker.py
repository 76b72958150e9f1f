"""The worker process: owns the RunEngine and the devices, runs one queue item at a time.

Started by the server (``python -m qserver.worker``) in its own session, so it outlives a
server that dies: it keeps running its plan, keeps finished results until a server
acknowledges them, and lets a restarted server re-attach through ``D/worker.json``.

Pause, resume, stop, abort and halt are the engine's own: a deferred pause takes effect at
the plan's next checkpoint, an immediate one at once, and resuming after it rewinds to the
last checkpoint (``RunEngine.request_pause``/``resume``). The engine's state is reported
to the server as the worker's (``running``, ``paused``, ``suspended``). When the profile has
a beam-status device, a suspender on its beam-available flag suspends any plan while the
beam is down; suspensions are reported as they start and end, and camera frames of the
running plan are reported as they come (``qserver.frames``).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import secrets
import sys
import time
import traceback
from collections.abc import Generator
from pathlib import Path
from typing import Any

from acq.devices import AreaDetector, BeamStatus, Motor, Scaler, load_profile
from acq.engine import RunEngine, TransitionError
from acq.engine.suspenders import SuspendBoolLow, Suspender
from acq.loop import call_in_loop, get_loop
from qserver import wire
from qserver.frames import FrameGrabber
from qserver.validate import DEVICE_PARAMS, plan_catalogue
from store import Catalog, Writer


def resolve(name: str, args: list[Any], kwargs: dict[str, Any], devices: dict[str, Any]) -> Any:
    """The plan generator for an item, device names replaced by the devices."""
    fn = plan_catalogue()[name]
    sig = inspect.signature(fn)
    bound = sig.bind(*args, **kwargs)

    def dev(value: Any) -> Any:
        if isinstance(value, str):
            if value not in devices:
                raise ValueError(f"no device {value!r}")
            return devices[value]
        if isinstance(value, list):
            return [dev(v) for v in value]
        return value

    for pname, value in list(bound.arguments.items()):
        if pname in DEVICE_PARAMS:
            bound.arguments[pname] = dev(value)
        elif sig.parameters[pname].kind is inspect.Parameter.VAR_POSITIONAL:
            bound.arguments[pname] = tuple(devices.get(v, v) if isinstance(v, str) else v for v in value)
    return fn(*bound.args, **bound.kwargs)


class _Console:
    """Documents as console lines for the stream: one per run start and stop, one per event.

    (Line-oriented rather than ``acq.callbacks.LiveTable``'s table, and without importing
    the callbacks package, whose fitting pulls in scipy: the environment opens faster.)
    """

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.streams: dict[str, str] = {}

    def _line(self, text: str) -> None:
        self.worker.post({"t": "console", "line": text, "time": time.time()})

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self.streams = {}
            self._line(f"Run {doc.get('scan_id')} ({doc['uid'][:8]}) {doc.get('plan_name', '')} started")
        elif name == "descriptor":
            self.streams[doc["uid"]] = doc.get("name", "primary")
        elif name == "event":
            values = " ".join(f"{k}={_fmt(v)}" for k, v in doc["data"].items())
            self._line(f"  {self.streams.get(doc['descriptor'], '?')} {doc['seq_num']:>4}: {values}")
        elif name == "stop":
            reason = f" ({doc['reason']})" if doc.get("reason") else ""
            self._line(f"Run {doc['run_start'][:8]} {doc.get('exit_status')}{reason}, "
                       f"events: {doc.get('num_events', {})}")


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


class Worker:
    """One environment: devices of ``profile``, a RunEngine storing runs in ``data_dir``."""

    def __init__(self, state_dir: Path, profile: str, data_dir: Path, suspend_settle: float = 1.0) -> None:
        self.state_dir = state_dir
        self.profile = profile
        self.data_dir = data_dir
        self.suspend_settle = suspend_settle
        self.token = secrets.token_hex(16)
        self.state = "opening"
        self.current: dict[str, Any] | None = None
        self.pending: dict[str, dict[str, Any]] = {}
        self._run_task: asyncio.Future[None] | None = None
        self._stop_reason = ""
        self._writer: asyncio.StreamWriter | None = None
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._closed = asyncio.Event()
        self.devices: dict[str, Any] = {}
        self.snapshot: dict[str, Any] = {}
        # Owned by the engine's loop (only touched there): which item the engine runs, and
        # requests that came before it started.
        self._engine_exec: str | None = None
        self._early: dict[str, str] = {}  # exec_id -> 'deferred' | 'immediate' | an ending command
        self._suspended: list[Suspender] = []

    # -- messages to the server ----------------------------------------------------------------
    def post(self, msg: dict[str, Any]) -> None:
        """Queue a message for the server (safe from any thread)."""
        self.loop.call_soon_threadsafe(self._outbox.put_nowait, msg)

    def _set_state(self, state: str) -> None:
        self.state = state
        self.post({"t": "state", "state": state})

    def _console(self, line: str) -> None:
        self.post({"t": "console", "line": line, "time": time.time()})

    async def _sender(self) -> None:
        while True:
            msg = await self._outbox.get()
            writer = self._writer
            if writer is None:
                continue  # no server attached: live documents and lines go nowhere; results stay pending
            try:
                writer.write(wire.dumps(msg).encode() + b"\n")
                if self._outbox.empty():
                    await writer.drain()
            except (ConnectionError, RuntimeError):
                self._writer = None

    # -- environment -----------------------------------------------------------------------------
    def _open(self) -> None:
        self.devices = load_profile(self.profile)
        snap: dict[str, Any] = {}
        for name, device in self.devices.items():
            if isinstance(device, Motor):
                snap[name] = {"kind": "motor", "limits": list(device.limits),
                              "velocity": float(call_in_loop(device.velocity.get_value())),
                              "position": float(call_in_loop(device.readback.get_value())),
                              "egu": str(call_in_loop(device.units.get_value()))}
            elif isinstance(device, Scaler):
                snap[name] = {"kind": "scaler", "readings": list(device.channel_names),
                              "count_time": float(call_in_loop(device.preset_time.get_value()))}
            else:
                snap[name] = {"kind": type(device).__name__.lower()}
        self.snapshot = {"profile": self.profile, "devices": snap, "time": time.time()}
        self.RE = RunEngine(md={"qserver": True, "profile": self.profile}, state_dir=self.data_dir)
        for path in Catalog(self.data_dir).recover():  # runs that a killed worker left as journals only
            print(f"worker: recovered {path.name} from its journal", flush=True)
        self.RE.subscribe(Writer(self.data_dir, convert_after_stop=True))  # 'done' once the journal is fsync'd
        self.RE.subscribe(_Console(self))
        self.RE.subscribe(lambda name, doc: self.post({"t": "doc", "name": name, "doc": doc}))
        cameras = [d for d in self.devices.values() if isinstance(d, AreaDetector)]
        if cameras:
            self.RE.subscribe(FrameGrabber(cameras, self.post))
        for device in self.devices.values():
            if isinstance(device, BeamStatus):
                self.RE.install_suspender(self._beam_suspender(device))

    def _beam_suspender(self, beam: BeamStatus) -> Suspender:
        """Suspend while ``beam`` says no beam; report each suspension and its end to the server."""
        sus = SuspendBoolLow(beam.available, sleep=self.suspend_settle, poll_period=0.1,
                             tripped_message=f"{beam.name}: beam not available")

        def pre() -> Any:
            self._suspension(sus, True)
            yield from ()

        def post() -> Any:
            self._suspension(sus, False)
            yield from ()

        sus.pre_plan, sus.post_plan = pre, post
        return sus

    def _suspension(self, sus: Suspender, begins: bool) -> None:
        """Runs in the engine's loop: a suspension begins (``pre_plan``) or ends (``post_plan``)."""
        active = bool(self._suspended)
        if begins and sus not in self._suspended:
            self._suspended.append(sus)
        elif not begins and sus in self._suspended:
            self._suspended.remove(sus)
        if active == bool(self._suspended):
            return
        exec_id = (self.current or {}).get("exec_id")
        if begins:
            self.post({"t": "suspension", "state": "suspended", "justification": sus.justification,
                       "settle": self.suspend_settle, "exec_id": exec_id, "time": time.time()})
            self._console(f"SUSPENDED: {sus.justification}; waiting for it to clear "
                          f"(then {self.suspend_settle:g} s to settle)")
            self._set_state("suspended")
        else:
            self.post({"t": "suspension", "state": "resumed", "justification": sus.justification,
                       "exec_id": exec_id, "time": time.time()})
            self._console("RESUMED: the suspension cleared; rewinding to the last checkpoint")
            self._set_state("running")

    # -- running ---------------------------------------------------------------------------------
    async def _engine_run(self, exec_id: str, plan: Any, md: dict[str, Any]) -> tuple[str, ...]:
        """In the engine's loop: run ``plan``, reporting the engine's pauses as the worker's state."""
        watcher = asyncio.get_running_loop().create_task(self._watch_engine())
        try:
            return await self.RE.run(self._begun(exec_id, plan), **md)
        finally:
            self._engine_exec = None
            self._early.pop(exec_id, None)
            watcher.cancel()

    def _begun(self, exec_id: str, plan: Any) -> Generator[Any, Any, Any]:
        """``plan``, first taking the requests that came before the engine asked for its first message
        (before then the engine would drop them: it resets its plan state when it starts)."""
        self._engine_exec = exec_id
        early = self._early.pop(exec_id, None)
        if early is not None:
            self._engine_request(exec_id, early)
        return (yield from plan)

    async def _watch_engine(self) -> None:
        """In the engine's loop: report the engine's pauses and resumptions as the worker's state."""
        seen = "running"
        while True:
            await asyncio.sleep(0.01)
            state = self.RE.state
            if state != seen and state in ("running", "paused"):
                seen = state
                if state == "paused":
                    self._console("paused: resume goes on from the last checkpoint")
                self._set_state("suspended" if state == "running" and self._suspended else state)

    def _engine_request(self, exec_id: str, what: str) -> None:
        """In the engine's loop: pause (deferred/immediate), resume, stop, abort or halt item ``exec_id``."""
        if self._engine_exec != exec_id:
            if (self.current or {}).get("exec_id") == exec_id and what != "resume":
                self._early[exec_id] = what  # the plan has not started yet
            return
        RE = self.RE
        try:
            if what in ("deferred", "immediate"):
                RE.request_pause(defer=what == "deferred")
            elif what == "resume":
                RE.resume()
            elif what == "stop":
                self._stop_reason = "stopped"
                RE.stop()
            elif what == "halt":
                self._stop_reason = "halted"
                RE.halt()
            else:
                self._stop_reason = "aborted"
                RE.abort("aborted on request")
        except TransitionError:
            pass  # the plan ended meanwhile

    async def _run(self, exec_id: str, item: dict[str, Any]) -> None:
        started = self.current["started"] if self.current else time.time()
        self._stop_reason = ""
        self._set_state("running")
        self.post({"t": "started", "exec_id": exec_id, "uid": item["uid"], "time": started})
        uids: tuple[str, ...] = ()
        reason = ""
        try:
            plan = resolve(item["name"], item.get("args", []), item.get("kwargs", {}), self.devices)
            md = {"qserver_item": item["uid"], "qserver_user": item.get("user", "")}
            fut = asyncio.run_coroutine_threadsafe(self._engine_run(exec_id, plan, md), get_loop())
            uids = await asyncio.wrap_future(fut)
            status = self._stop_reason or "completed"
            if self._stop_reason:
                reason = f"{status} on request"
        except asyncio.CancelledError:
            status = self._stop_reason or "aborted"
            reason = f"{status} on request"
        except Exception as exc:  # (a plan that fails while being stopped is recorded as stopped)
            status = self._stop_reason or "failed"
            reason = f"{type(exc).__name__}: {exc}"
            self._console(traceback.format_exc(limit=3))
        run_uids = list(uids) or list(self.RE._run_uids)
        result = {"exec_id": exec_id, "item": item, "exit_status": status, "reason": reason,
                  "run_uids": run_uids, "started": started, "finished": time.time()}
        self.pending[exec_id] = result
        self.current = None
        self._set_state("idle")
        self.post({"t": "done", **result})

    def _request(self, what: str) -> None:
        """Hand a control request for the current item to the engine's loop."""
        if self.current is not None:
            get_loop().call_soon_threadsafe(self._engine_request, self.current["exec_id"], what)

    async def _halt(self) -> None:
        for device in self.devices.values():
            if isinstance(device, Motor):
                try:
                    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(device.stop(), get_loop()))
                except Exception as exc:  # keep halting the others
                    self._console(f"halt: {device.name}: {exc}")
        self._request("halt")

    # -- the link ----------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = await asyncio.wait_for(wire.receive(reader), 5)
        except (TimeoutError, ValueError, ConnectionError):
            writer.close()
            return
        if not first or first.get("token") != self.token:
            writer.close()
            return
        old, self._writer = self._writer, writer
        if old is not None:
            old.close()
        await wire.send(writer, {"t": "hello", "pid": os.getpid(), "state": self.state, "current": self.current,
                                 "snapshot": self.snapshot, "pending": list(self.pending.values())})
        try:
            while (msg := await wire.receive(reader)) is not None:
                await self._command(msg)
        except (ConnectionError, ValueError):
            pass
        finally:
            if self._writer is writer:
                self._writer = None

    async def _command(self, msg: dict[str, Any]) -> None:
        cmd = msg.get("cmd")
        if cmd == "run":
            if self.current is None:
                self.current = {"exec_id": msg["exec_id"], "item": msg["item"], "started": time.time()}
                self._run_task = asyncio.ensure_future(self._run(msg["exec_id"], msg["item"]))
            else:
                self.post({"t": "refused", "exec_id": msg["exec_id"], "reason": "the worker is busy"})
        elif cmd == "ack":
            self.pending.pop(msg.get("exec_id", ""), None)
        elif cmd == "pause":
            self._request("immediate" if msg.get("immediate") else "deferred")
        elif cmd in ("resume", "abort", "stop"):
            self._request(cmd)
        elif cmd == "halt":
            await self._halt()
        elif cmd == "close":
            if self.current is None:
                self._closed.set()

    async def main(self) -> int:
        """Open the environment, serve the link until asked to close."""
        self.loop = asyncio.get_running_loop()
        sender = asyncio.ensure_future(self._sender())
        await asyncio.to_thread(self._open)
        self.state = "idle"
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=wire.LINE_LIMIT)
        port = server.sockets[0].getsockname()[1]
        info = {"pid": os.getpid(), "port": port, "token": self.token, "profile": self.profile}
        path = self.state_dir / wire.WORKER_FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
        os.replace(tmp, path)
        await self._closed.wait()
        server.close()
        sender.cancel()
        if (wire.read_worker_file(self.state_dir) or {}).get("pid") == os.getpid():
            path.unlink(missing_ok=True)
        return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m qserver.worker --state-dir D --profile P [--data-dir X]``."""
    p = argparse.ArgumentParser(prog="qserver.worker")
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--profile", default="default")
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--suspend-settle", type=float, default=1.0,
                   help="seconds of good beam before a suspended plan resumes")
    p.add_argument("--standby", action="store_true",
                   help="import everything, then wait for a line on stdin before opening (EOF: exit)")
    a = p.parse_args(argv)
    if a.standby and not sys.stdin.readline():
        return 0
    try:
        return asyncio.run(Worker(a.state_dir, a.profile, a.data_dir, a.suspend_settle).main())
    except Exception as exc:
        print(f"qserver worker: cannot open the environment: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
