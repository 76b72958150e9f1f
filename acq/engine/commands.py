"""The engine's built-in commands: one handler per ``Msg.command``.

A handler returns the response for the plan, or a coroutine whose result is the response (only
when it must wait: plain values from devices take the synchronous fast path, with no task).
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any

from acq.engine.bundler import maybe_await, name_of
from acq.engine.errors import IllegalMessageSequence, WaitTimeout
from acq.engine.msg import Msg

if TYPE_CHECKING:
    from acq.engine.run_engine import RunEngine


def _done(status: Any) -> bool:
    done = getattr(status, "done", None)
    if done is None:
        return False
    return bool(done() if callable(done) else done)


def _failure(status: Any) -> BaseException | None:
    """The error of a finished status, if it failed."""
    exc_fn = getattr(status, "exception", None)
    if callable(exc_fn):
        try:
            exc = exc_fn()
        except asyncio.CancelledError as cancelled:
            return cancelled
        if exc is not None:
            return exc  # type: ignore[no-any-return]
    if getattr(status, "success", True) is False:
        return RuntimeError(f"{status!r} failed")
    return None


async def await_status(status: Any) -> Any:
    """Wait for our ``Status``, any awaitable, or an ophyd-style status with callbacks."""
    if status is None:
        return None
    if inspect.isawaitable(status):
        return await status
    if hasattr(status, "add_callback"):
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def resolve() -> None:
            if not fut.done():
                fut.set_result(None)

        status.add_callback(lambda _st: loop.call_soon_threadsafe(resolve))
        await fut
        exc = _failure(status)
        if exc is not None:
            raise exc
    return status


class _Handlers:
    """The built-in commands, bound to one RunEngine."""

    def __init__(self, re: RunEngine) -> None:
        self.re = re

    # -- runs and documents ----------------------------------------------------------------------
    def open_run(self, msg: Msg) -> str:
        return self.re.open_run(msg.run, msg.kwargs)

    def close_run(self, msg: Msg) -> str:
        self.re.run_for(msg).abandon()  # an unsaved bundle (a failed step) is dropped, as Bluesky does
        return self.re.finish_run(msg.run, msg.kwargs.get("exit_status") or "success",
                                  msg.kwargs.get("reason") or "")

    def create(self, msg: Msg) -> None:
        self.re.run_for(msg).create(msg.kwargs.get("name") or (msg.args[0] if msg.args else "primary"))

    def read(self, msg: Msg) -> Any:
        reading = msg.obj.read()
        if inspect.isawaitable(reading):
            return self._read_later(msg, reading)
        run = self.re._runs.get(msg.run)
        if run is not None and run.bundle_name is not None:
            run.add_reading(msg.obj, reading)
        return reading

    async def _read_later(self, msg: Msg, pending: Any) -> Any:
        reading = await pending
        run = self.re._runs.get(msg.run)
        if run is not None and run.bundle_name is not None:
            run.add_reading(msg.obj, reading)
        return reading

    def save(self, msg: Msg) -> Any:
        out = self.re.run_for(msg).save()
        if self.re._msg_cache is not None:
            self.re._msg_cache = []  # documents are never replayed: the rewind point moves here
        return out

    def drop(self, msg: Msg) -> None:
        self.re.run_for(msg).drop()

    async def declare_stream(self, msg: Msg) -> Any:
        objs = [o for o in (msg.obj, *msg.args) if o is not None]
        name = msg.kwargs.get("name", "primary")
        return await self.re.run_for(msg).declare_stream(name, objs, collect=bool(msg.kwargs.get("collect")))

    async def monitor(self, msg: Msg) -> None:
        name = msg.kwargs.get("name") or f"{name_of(msg.obj)}_monitor"
        await self.re.run_for(msg).monitor(msg.obj, name, float(msg.kwargs.get("period", 0.1)))

    def unmonitor(self, msg: Msg) -> None:
        self.re.run_for(msg).unmonitor(msg.obj)

    # -- devices ---------------------------------------------------------------------------
    def _group(self, msg: Msg, status: Any) -> None:
        groups = self.re._groups
        group = msg.kwargs.get("group")
        entry = (msg, status)
        if group in groups:
            groups[group].append(entry)
        else:
            groups[group] = [entry]

    def set(self, msg: Msg) -> Any:
        kwargs = msg.kwargs
        if "group" in kwargs:
            kwargs = {k: v for k, v in kwargs.items() if k != "group"}
        status = msg.obj.set(*msg.args, **kwargs)
        self.re._movers[id(msg.obj)] = msg.obj
        self._group(msg, status)
        return status

    def trigger(self, msg: Msg) -> Any:
        status = msg.obj.trigger()
        self._group(msg, status)
        return status

    def _flyer(self, msg: Msg, method: str) -> Any:
        kwargs = {k: v for k, v in msg.kwargs.items() if k != "group"}
        status = getattr(msg.obj, method)(*msg.args, **kwargs)
        self.re._movers[id(msg.obj)] = msg.obj
        self._group(msg, status)
        return status

    def kickoff(self, msg: Msg) -> Any:
        return self._flyer(msg, "kickoff")

    def complete(self, msg: Msg) -> Any:
        return self._flyer(msg, "complete")

    def prepare(self, msg: Msg) -> Any:
        return self._flyer(msg, "prepare")

    def wait(self, msg: Msg) -> Any:
        group = msg.kwargs.get("group", msg.args[0] if msg.args else None)
        entries = self.re._groups.pop(group, None)
        if not entries:
            return None
        timeout = msg.kwargs.get("timeout")
        if timeout is None and all(_done(st) for _, st in entries):
            for m, st in entries:  # the fast path: everything finished already
                exc = _failure(st)
                if exc is not None:
                    raise _named(exc, m)
            return None
        return self._wait_later(group, entries, timeout, msg.kwargs.get("error_on_timeout", True))

    async def _wait_later(self, group: Any, entries: list[tuple[Msg, Any]], timeout: float | None,
                          error_on_timeout: bool) -> None:
        async def one(m: Msg, st: Any) -> None:
            try:
                await await_status(st)
            except asyncio.CancelledError:
                if asyncio.current_task() is not None and asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise
                raise _named(RuntimeError("the operation was cancelled"), m) from None
            except Exception as exc:
                raise _named(exc, m) from None

        if timeout is None:
            for m, st in entries:
                await one(m, st)
            return
        tasks = [asyncio.ensure_future(one(m, st)) for m, st in entries]
        try:
            done, pending = await asyncio.wait(tasks, timeout=timeout)
        finally:
            for t in tasks:
                if not t.done():
                    t.cancel()
        for t in done:
            if t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
        if pending and error_on_timeout:
            late = [f"{m.command} {name_of(m.obj)}" for (m, _), t in zip(entries, tasks, strict=True) if t in pending]
            raise WaitTimeout(f"wait for group {group!r} timed out after {timeout} s; still pending: "
                              + ", ".join(late))

    async def sleep(self, msg: Msg) -> None:
        await asyncio.sleep(float(msg.args[0]))

    def stage(self, msg: Msg) -> Any:
        obj = msg.obj
        if not hasattr(obj, "stage") or any(o is obj for o in self.re._staged):
            return None  # as Bluesky: staging something that cannot be staged is a no-op
        self.re._staged.append(obj)
        return self._grouped_or_awaited(msg, obj.stage())

    def unstage(self, msg: Msg) -> Any:
        obj = msg.obj
        staged = self.re._staged
        for i, o in enumerate(staged):
            if o is obj:
                del staged[i]
                break
        else:
            return None
        return self._grouped_or_awaited(msg, obj.unstage())

    def _grouped_or_awaited(self, msg: Msg, result: Any) -> Any:
        """A status joins the message's group (for a later wait), or is awaited here."""
        if inspect.isawaitable(result) or hasattr(result, "add_callback"):
            if msg.kwargs.get("group") is not None:
                self._group(msg, result)
                return result
            return await_status(result)
        return result

    async def configure(self, msg: Msg) -> Any:
        for run in self.re._runs.values():
            if run.bundle_name is not None:
                raise IllegalMessageSequence(f"configure {name_of(msg.obj)} inside the open bundle "
                                             f"{run.bundle_name!r}; save or drop it first")
        result = await maybe_await(msg.obj.configure(*msg.args, **msg.kwargs))
        for run in self.re._runs.values():
            run.reconfigured(msg.obj)
        return result

    async def collect(self, msg: Msg) -> Any:
        objs = [o for o in (msg.obj, *msg.args) if o is not None]
        payload = await self.re.run_for(msg).collect(objs, msg.kwargs.get("name"))
        return payload if msg.kwargs.get("return_payload", True) else None

    async def locate(self, msg: Msg) -> Any:
        objs = [o for o in (msg.obj, *msg.args) if o is not None]
        out = []
        for obj in objs:
            if not hasattr(obj, "locate"):
                raise TypeError(f"locate: {name_of(obj)} cannot be located (no locate() method)")
            out.append(await maybe_await(obj.locate()))
        return out[0] if msg.kwargs.get("squeeze", True) and len(out) == 1 else out

    def stop(self, msg: Msg) -> Any:
        return maybe_await(msg.obj.stop(*msg.args, **msg.kwargs))

    # -- flow ------------------------------------------------------------------------------------
    def null(self, msg: Msg) -> None:
        return None

    def checkpoint(self, msg: Msg) -> None:
        re = self.re
        for run in re._runs.values():
            if run.bundle_name is not None:
                raise IllegalMessageSequence(f"checkpoint inside the open bundle {run.bundle_name!r} "
                                             f"(between create and save)")
        re._msg_cache = []
        if re._deferred_pause:
            re._deferred_pause = False
            re._pending = "pause"

    def clear_checkpoint(self, msg: Msg) -> None:
        self.re._msg_cache = None

    def rewindable(self, msg: Msg) -> bool:
        flag = msg.args[0] if msg.args else msg.kwargs.get("rewindable")
        if flag is not None:
            self.re._rewindable = bool(flag)
        return self.re._rewindable

    def pause(self, msg: Msg) -> None:
        defer = bool(msg.kwargs.get("defer", msg.args[0] if msg.args else False))
        if defer:
            self.re._deferred_pause = True
        else:
            self.re._pending = "pause"

    def subscribe(self, msg: Msg) -> int:
        fn = msg.args[0] if msg.args else msg.kwargs["func"]
        name = msg.args[1] if len(msg.args) > 1 else msg.kwargs.get("name", "all")
        token = self.re.subscribe(fn, name)
        self.re._plan_tokens.append(token)
        return token

    def unsubscribe(self, msg: Msg) -> None:
        token = msg.kwargs.get("token", msg.args[0] if msg.args else None)
        self.re.unsubscribe(token)  # type: ignore[arg-type]

    def install_suspender(self, msg: Msg) -> None:
        suspender = msg.args[0] if msg.args else msg.obj
        self.re.install_suspender(suspender)
        self.re._plan_suspenders.append(suspender)

    def remove_suspender(self, msg: Msg) -> None:
        suspender = msg.args[0] if msg.args else msg.obj
        self.re.remove_suspender(suspender)

    async def input(self, msg: Msg) -> str:
        prompt = msg.kwargs.get("prompt", msg.args[0] if msg.args else "")
        return await asyncio.get_running_loop().run_in_executor(None, self.re.input_func, prompt)

    async def wait_for(self, msg: Msg) -> None:
        factories = msg.args[0]
        futs = [asyncio.ensure_future(f()) for f in factories]
        done, pending = await asyncio.wait(futs, **msg.kwargs)
        for f in pending:
            f.cancel()
        for f in done:
            if f.exception() is not None:
                raise f.exception()  # type: ignore[misc]
        if pending:
            raise WaitTimeout(f"wait_for: {len(pending)} of {len(futs)} awaitable(s) still pending")


COMMANDS = ("open_run", "close_run", "create", "save", "drop", "read", "set", "trigger", "wait", "sleep",
            "checkpoint", "clear_checkpoint", "pause", "rewindable", "kickoff", "complete", "prepare",
            "collect", "stage", "unstage", "configure", "subscribe", "unsubscribe", "install_suspender",
            "remove_suspender", "declare_stream", "monitor", "unmonitor", "null", "input", "locate",
            "wait_for", "stop")


def install(re: RunEngine) -> None:
    """Register every built-in command on ``re``."""
    handlers = _Handlers(re)
    for name in COMMANDS:
        re.register_command(name, getattr(handlers, name))


def _named(exc: BaseException, msg: Msg) -> BaseException:
    """Prefix a device's error with the device and operation, so a timeout names its device."""
    if not getattr(exc, "_beamtwin_named", False):
        try:
            exc.add_note(f"({msg.command} {name_of(msg.obj)} did not complete)")
            exc._beamtwin_named = True  # type: ignore[attr-defined]
        except AttributeError:
            pass
    return exc
