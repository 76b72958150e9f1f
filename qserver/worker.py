"""The worker process: owns the RunEngine and the devices, runs one queue item at a time.

Started by the server (``python -m qserver.worker``) in its own session, so it outlives a
server that dies: it keeps running its plan, keeps finished results until a server
acknowledges them, and lets a restarted server re-attach through ``D/worker.json``.

Pause and resume are the worker's own: every plan is wrapped so that it passes a
``qs_pause_point`` message after each checkpoint (deferred pause) and before each message
(immediate pause); abort and halt go through the engine's own ``abort()``/``halt()``, which
close the open run with exit status ``abort``.
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

from acq.devices import Motor, Scaler, load_profile
from acq.engine import Msg, RunEngine, TransitionError
from acq.loop import call_in_loop, get_loop
from qserver import wire
from qserver.validate import DEVICE_PARAMS, plan_catalogue
from store import Writer

PAUSE_POINT = "qs_pause_point"


def with_pause_points(plan: Any) -> Generator[Msg, Any, Any]:
    """``plan`` with a pause point before every message and a deferred one after every checkpoint."""
    it = iter(plan)
    reply: Any = None
    error: BaseException | None = None
    while True:
        yield Msg(PAUSE_POINT, deferred=False)
        try:
            msg = it.throw(error) if error is not None else it.send(reply)
        except StopIteration as stop:
            return stop.value
        error = None
        try:
            reply = yield msg
        except GeneratorExit:
            it.close()
            raise
        except BaseException as exc:
            error, reply = exc, None
            continue
        if msg.command == "checkpoint":
            yield Msg(PAUSE_POINT, deferred=True)


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

    def __init__(self, state_dir: Path, profile: str, data_dir: Path) -> None:
        self.state_dir = state_dir
        self.profile = profile
        self.data_dir = data_dir
        self.token = secrets.token_hex(16)
        self.state = "opening"
        self.current: dict[str, Any] | None = None
        self.pending: dict[str, dict[str, Any]] = {}
        self.pause_request: str | None = None
        self._resume: asyncio.Event | None = None
        self._task: asyncio.Task[Any] | None = None
        self._run_task: asyncio.Future[None] | None = None
        self._stop_reason = ""
        self._writer: asyncio.StreamWriter | None = None
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._closed = asyncio.Event()
        self.devices: dict[str, Any] = {}
        self.snapshot: dict[str, Any] = {}

    # -- messages to the server ----------------------------------------------------------------
    def post(self, msg: dict[str, Any]) -> None:
        """Queue a message for the server (safe from any thread)."""
        self.loop.call_soon_threadsafe(self._outbox.put_nowait, msg)

    def _set_state(self, state: str) -> None:
        self.state = state
        self.post({"t": "state", "state": state})

    async def _sender(self) -> None:
        while True:
            msg = await self._outbox.get()
            writer = self._writer
            if writer is None:
                continue  # no server attached: live documents and lines go nowhere; results stay pending
            try:
                await wire.send(writer, msg)
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
        self.RE.subscribe(Writer(self.data_dir))
        self.RE.subscribe(_Console(self))
        self.RE.subscribe(lambda name, doc: self.post({"t": "doc", "name": name, "doc": doc}))
        self.RE.register_command(PAUSE_POINT, self._pause_point)

    async def _pause_point(self, msg: Msg) -> None:
        """Runs in the engine's loop: hold here while a pause is requested."""
        mode = self.pause_request
        if mode is None or (mode == "deferred" and not msg.kwargs.get("deferred")):
            return
        self.pause_request = None
        self._resume = asyncio.Event()
        self._set_state("paused")
        self.post({"t": "console", "line": f"paused ({mode})", "time": time.time()})
        await self._resume.wait()
        self._resume = None
        self._set_state("running")

    # -- running ---------------------------------------------------------------------------------
    async def _engine_run(self, plan: Any, md: dict[str, Any]) -> tuple[str, ...]:
        self._task = asyncio.current_task()
        return await self.RE.run(with_pause_points(plan), **md)

    async def _run(self, exec_id: str, item: dict[str, Any]) -> None:
        started = time.time()
        self.current = {"exec_id": exec_id, "item": item, "started": started}
        self._stop_reason = ""
        self.pause_request = None
        self._set_state("running")
        self.post({"t": "started", "exec_id": exec_id, "uid": item["uid"], "time": started})
        uids: tuple[str, ...] = ()
        reason = ""
        try:
            plan = resolve(item["name"], item.get("args", []), item.get("kwargs", {}), self.devices)
            md = {"qserver_item": item["uid"], "qserver_user": item.get("user", "")}
            fut = asyncio.run_coroutine_threadsafe(self._engine_run(plan, md), get_loop())
            uids = await asyncio.wrap_future(fut)
            status = self._stop_reason or "completed"
            if self._stop_reason:
                reason = f"{status} on request"
        except asyncio.CancelledError:
            status = self._stop_reason or "aborted"
            reason = f"{status} on request"
        except Exception as exc:
            status = "failed"
            reason = f"{type(exc).__name__}: {exc}"
            self.post({"t": "console", "line": traceback.format_exc(limit=3), "time": time.time()})
        self._task = None
        run_uids = list(uids) or list(self.RE._run_uids)
        result = {"exec_id": exec_id, "item": item, "exit_status": status, "reason": reason,
                  "run_uids": run_uids, "started": started, "finished": time.time()}
        self.pending[exec_id] = result
        self.current = None
        self._set_state("idle")
        self.post({"t": "done", **result})

    def _cancel(self, why: str) -> None:
        """End the running plan through the engine: its run closes with ``exit_status='abort'``."""
        if self._task is None:
            return
        self._stop_reason = why
        try:
            if why == "halted":
                self.RE.halt()
            else:
                self.RE.abort(f"{why} on request")
        except TransitionError:
            pass  # the plan ended meanwhile

    async def _halt(self) -> None:
        for device in self.devices.values():
            if isinstance(device, Motor):
                try:
                    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(device.stop(), get_loop()))
                except Exception as exc:  # keep halting the others
                    self.post({"t": "console", "line": f"halt: {device.name}: {exc}", "time": time.time()})
        self._cancel("halted")

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
                self._run_task = asyncio.ensure_future(self._run(msg["exec_id"], msg["item"]))
            else:
                self.post({"t": "refused", "exec_id": msg["exec_id"], "reason": "the worker is busy"})
        elif cmd == "ack":
            self.pending.pop(msg.get("exec_id", ""), None)
        elif cmd == "pause":
            if self.current is not None:
                self.pause_request = "immediate" if msg.get("immediate") else "deferred"
        elif cmd == "resume":
            event = self._resume
            if event is not None:
                get_loop().call_soon_threadsafe(event.set)
        elif cmd in ("abort", "stop"):
            self._cancel("aborted")
            if self._resume is not None:
                get_loop().call_soon_threadsafe(self._resume.set)
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
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
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
    p.add_argument("--standby", action="store_true",
                   help="import everything, then wait for a line on stdin before opening (EOF: exit)")
    a = p.parse_args(argv)
    if a.standby and not sys.stdin.readline():
        return 0
    try:
        return asyncio.run(Worker(a.state_dir, a.profile, a.data_dir).main())
    except Exception as exc:
        print(f"qserver worker: cannot open the environment: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
