"""The RunEngine: executes plans (generators of ``Msg``) and emits event-model documents."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acq.engine import documents as docs
from acq.engine.msg import Msg
from acq.loop import call_in_loop, in_loop_thread

Subscriber = Callable[[str, dict[str, Any]], Any]
Handler = Callable[[Msg], Any]


class IllegalMessageSequence(RuntimeError):
    """A plan yielded a message that makes no sense where it stands (e.g. save without create)."""


class UnknownCommand(KeyError):
    """A plan yielded a message whose command the engine does not know."""


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _name_of(obj: Any) -> str:
    return str(getattr(obj, "name", obj))


@dataclass
class _Run:
    """The state of the open run."""

    start: dict[str, Any]
    descriptors: dict[tuple[str, frozenset[str]], dict[str, Any]] = field(default_factory=dict)
    seq: dict[str, int] = field(default_factory=dict)
    bundle_name: str | None = None
    bundle: dict[str, dict[str, Any]] = field(default_factory=dict)
    bundle_objs: list[Any] = field(default_factory=list)
    described: dict[int, dict[str, Any]] = field(default_factory=dict)


class _ScanIdFile:
    """The last scan_id, kept in a small file so that it persists across restarts."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._value = 0
        if path is not None and path.exists():
            self._value = int(json.loads(path.read_text())["scan_id"])

    def next(self) -> int:
        self._value += 1
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"scan_id": self._value}))
            os.replace(tmp, self.path)
        return self._value


class RunEngine:
    """Run plans: ``RE = RunEngine(); RE.subscribe(print); RE(plan)``.

    ``md`` is user metadata merged into every start document. With ``state_dir`` the
    last scan_id is kept in ``state_dir/scan_id.json`` and persists across restarts.
    """

    def __init__(self, md: dict[str, Any] | None = None, *, state_dir: str | Path | None = None) -> None:
        self.md: dict[str, Any] = dict(md or {})
        self._scan_ids = _ScanIdFile(Path(state_dir) / "scan_id.json" if state_dir else None)
        self._subscribers: dict[int, tuple[str, Subscriber]] = {}
        self._next_token = 0
        self._run: _Run | None = None
        self._run_uids: list[str] = []
        self._staged: list[Any] = []
        self._groups: dict[Any, list[Any]] = {}
        self.state = "idle"
        self._handlers: dict[str, Handler] = {
            "open_run": self._open_run,
            "close_run": self._close_run,
            "create": self._create,
            "read": self._read,
            "save": self._save,
            "drop": self._drop,
            "set": self._set,
            "trigger": self._trigger,
            "wait": self._wait,
            "sleep": self._sleep,
            "checkpoint": self._noop,
            "clear_checkpoint": self._noop,
            "null": self._noop,
            "stage": self._stage,
            "unstage": self._unstage,
        }

    # -- subscriptions -------------------------------------------------------------------
    def subscribe(self, fn: Subscriber, name: str = "all") -> int:
        """Call ``fn(name, doc)`` for every document (or only documents called ``name``)."""
        token = self._next_token
        self._next_token += 1
        self._subscribers[token] = (name, fn)
        return token

    def unsubscribe(self, token: int) -> None:
        """Stop the subscription ``token``."""
        self._subscribers.pop(token, None)

    def emit(self, name: str, doc: dict[str, Any]) -> None:
        """Send one document to every subscriber."""
        for wanted, fn in list(self._subscribers.values()):
            if wanted == "all" or wanted == name:
                fn(name, doc)

    def register_command(self, name: str, handler: Handler) -> None:
        """Teach the engine a custom command: ``handler(msg)`` returns a value or awaitable."""
        self._handlers[name] = handler

    @property
    def commands(self) -> list[str]:
        """The commands the engine understands."""
        return sorted(self._handlers)

    # -- running -------------------------------------------------------------------------
    def __call__(self, plan: Iterable[Msg], **md: Any) -> tuple[str, ...]:
        """Run ``plan`` to its end and return the uids of the runs it opened."""
        if self.state != "idle":
            raise RuntimeError(f"the RunEngine is {self.state}; it can run one plan at a time")
        if in_loop_thread():
            raise RuntimeError("RE(plan) blocks; from inside the event loop use `await RE.run(plan)`")
        return call_in_loop(self.run(plan, **md))

    async def run(self, plan: Iterable[Msg], **md: Any) -> tuple[str, ...]:
        """Run ``plan`` on the running loop (the coroutine behind ``RE(plan)``)."""
        self.state = "running"
        self._run_uids = []
        self._call_md = md
        gen = iter(plan)
        try:
            await self._drive(gen)
        except BaseException as exc:
            if self._run is not None:
                self._finish_run("abort" if isinstance(exc, asyncio.CancelledError) else "fail",
                                 f"{type(exc).__name__}: {exc}")
            raise
        finally:
            await self._cleanup()
            self.state = "idle"
        if self._run is not None:
            self._finish_run("success", "")
        return tuple(self._run_uids)

    async def _drive(self, gen: Any) -> None:
        send = getattr(gen, "send", None)
        throw = getattr(gen, "throw", None)
        response: Any = None
        error: BaseException | None = None
        handlers = self._handlers
        while True:
            try:
                if error is not None:
                    if throw is None:
                        raise error
                    msg = throw(error)
                    error = None
                elif send is not None:
                    msg = send(response)
                else:
                    msg = next(gen)
            except StopIteration:
                return
            try:
                handler = handlers[msg.command]
            except KeyError:
                error = UnknownCommand(f"unknown command {msg.command!r} in {msg!r}; "
                                       f"register it with RE.register_command()")
                continue
            try:
                response = handler(msg)
                if inspect.isawaitable(response):
                    response = await response
            except Exception as exc:
                response = None
                error = exc

    async def _cleanup(self) -> None:
        staged, self._staged = self._staged, []
        for obj in reversed(staged):
            await _maybe_await(obj.unstage())
        self._groups.clear()

    # -- run documents ----------------------------------------------------------------------
    def _open_run(self, msg: Msg) -> str:
        if self._run is not None:
            raise IllegalMessageSequence("open_run while a run is open; close it first")
        md = {**self.md, **self._call_md, **msg.kwargs}
        start = docs.start_doc(self._scan_ids.next(), md)
        self._run = _Run(start=start)
        self._run_uids.append(start["uid"])
        self.emit("start", start)
        return str(start["uid"])

    def _finish_run(self, exit_status: str, reason: str) -> str:
        run = self._run
        assert run is not None
        self._run = None
        stop = docs.stop_doc(run.start["uid"], exit_status, reason, run.seq)
        self.emit("stop", stop)
        return str(run.start["uid"])

    def _close_run(self, msg: Msg) -> str:
        if self._run is None:
            raise IllegalMessageSequence("close_run with no open run")
        return self._finish_run(msg.kwargs.get("exit_status") or "success", msg.kwargs.get("reason") or "")

    def _create(self, msg: Msg) -> None:
        run = self._require_run(msg)
        if run.bundle_name is not None:
            raise IllegalMessageSequence(f"create while the bundle {run.bundle_name!r} is open; save or drop it")
        run.bundle_name = msg.kwargs.get("name") or (msg.args[0] if msg.args else "primary")
        run.bundle = {}
        run.bundle_objs = []

    async def _read(self, msg: Msg) -> dict[str, Any]:
        reading: dict[str, Any] = await _maybe_await(msg.obj.read())
        run = self._run
        if run is not None and run.bundle_name is not None:
            run.bundle.update(reading)
            run.bundle_objs.append(msg.obj)
        return reading

    async def _save(self, msg: Msg) -> None:
        run = self._require_run(msg)
        if run.bundle_name is None:
            raise IllegalMessageSequence("save without create")
        name = run.bundle_name
        key = (name, frozenset(run.bundle))
        desc = run.descriptors.get(key)
        if desc is None:
            desc = await self._describe(run, name)
            run.descriptors[key] = desc
            self.emit("descriptor", desc)
        seq = run.seq.get(name, 0) + 1
        run.seq[name] = seq
        self.emit("event", docs.event_doc(desc["uid"], seq, run.bundle))
        run.bundle_name = None
        run.bundle = {}
        run.bundle_objs = []

    async def _describe(self, run: _Run, stream: str) -> dict[str, Any]:
        data_keys: dict[str, Any] = {}
        object_keys: dict[str, list[str]] = {}
        configuration: dict[str, Any] = {}
        hints: dict[str, Any] = {}
        for obj in run.bundle_objs:
            desc = await _maybe_await(obj.describe())
            name = _name_of(obj)
            for key, dk in desc.items():
                data_keys[key] = {**dk, "object_name": name}
            object_keys[name] = list(desc)
            conf_reader = getattr(obj, "read_configuration", None)
            if conf_reader is not None:
                conf = await _maybe_await(conf_reader())
                conf_desc = await _maybe_await(obj.describe_configuration())
                configuration[name] = {
                    "data": {k: r["value"] for k, r in conf.items()},
                    "timestamps": {k: r["timestamp"] for k, r in conf.items()},
                    "data_keys": conf_desc,
                }
            obj_hints = getattr(obj, "hints", None)
            if obj_hints:
                hints[name] = obj_hints
        return docs.descriptor_doc(run.start["uid"], stream, data_keys, object_keys, configuration, hints)

    def _drop(self, msg: Msg) -> None:
        run = self._require_run(msg)
        if run.bundle_name is None:
            raise IllegalMessageSequence("drop without create")
        run.bundle_name = None
        run.bundle = {}
        run.bundle_objs = []

    def _require_run(self, msg: Msg) -> _Run:
        if self._run is None:
            raise IllegalMessageSequence(f"{msg.command!r} needs an open run (open_run first)")
        return self._run

    # -- devices ----------------------------------------------------------------------------
    def _add_to_group(self, msg: Msg, status: Any) -> None:
        group = msg.kwargs.get("group")
        if group is not None:
            self._groups.setdefault(group, []).append(status)

    def _set(self, msg: Msg) -> Any:
        kwargs = {k: v for k, v in msg.kwargs.items() if k != "group"}
        status = msg.obj.set(*msg.args, **kwargs)
        self._add_to_group(msg, status)
        return status

    def _trigger(self, msg: Msg) -> Any:
        status = msg.obj.trigger()
        self._add_to_group(msg, status)
        return status

    async def _wait(self, msg: Msg) -> None:
        group = msg.kwargs.get("group", msg.args[0] if msg.args else None)
        statuses = self._groups.pop(group, [])
        for status in statuses:
            await _await_status(status)

    async def _sleep(self, msg: Msg) -> None:
        await asyncio.sleep(float(msg.args[0]))

    def _noop(self, msg: Msg) -> None:
        return None

    async def _stage(self, msg: Msg) -> Any:
        result = await _maybe_await(msg.obj.stage())
        if inspect.isawaitable(result) or hasattr(result, "add_callback"):
            await _await_status(result)
        self._staged.append(msg.obj)
        return result

    async def _unstage(self, msg: Msg) -> Any:
        if msg.obj in self._staged:
            self._staged.remove(msg.obj)
        result = await _maybe_await(msg.obj.unstage())
        if hasattr(result, "add_callback"):
            await _await_status(result)
        return result


async def _await_status(status: Any) -> None:
    """Wait for our ``Status``, any awaitable, or an ophyd-style status with callbacks."""
    if status is None:
        return
    if inspect.isawaitable(status):
        await status
        return
    if hasattr(status, "add_callback"):
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def resolve() -> None:
            if not fut.done():
                fut.set_result(None)

        def done(st: Any) -> None:
            loop.call_soon_threadsafe(resolve)

        status.add_callback(done)
        await fut
        exc = status.exception() if callable(getattr(status, "exception", None)) else None
        if exc is not None:
            raise exc
        if getattr(status, "success", True) is False:
            raise RuntimeError(f"{status!r} failed")
