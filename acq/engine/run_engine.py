"""The RunEngine: executes plans (generators of ``Msg``) and emits event-model documents.

States: ``idle`` → ``running`` ⇄ ``paused`` → ``idle``. ``RE(plan)`` blocks the caller while
the plan runs as one task on the shared loop; it returns the run uids, or raises
``RunEngineInterrupted`` when the engine pauses (then ``resume()``, ``abort()``, ``stop()`` or
``halt()``). An immediate pause (or a suspender) interrupts the current message and, on resume,
replays the messages since the last checkpoint; a deferred pause waits for the next checkpoint.
Documents already emitted are never emitted twice: a ``save`` moves the rewind point.
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import logging
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import CoroutineType, FrameType
from typing import Any

from acq.engine import commands
from acq.engine import documents as docs
from acq.engine.bundler import RunBundle, maybe_await, name_of
from acq.engine.errors import (
    IllegalMessageSequence,
    RequestAbort,
    RequestHalt,
    RequestStop,
    RunEngineInterrupted,
    TransitionError,
    UnknownCommand,
)
from acq.engine.msg import Msg
from acq.engine.persist import PersistentDict, ScanIdFile
from acq.engine.suspenders import Suspender, plan_of
from acq.loop import get_loop, in_loop_thread

Subscriber = Callable[[str, dict[str, Any]], Any]
Handler = Callable[[Msg], Any]

_YIELD_EVERY = 256  # messages between forced loop iterations on the all-synchronous fast path

log = logging.getLogger(__name__)


def _as_generator(plan: Iterable[Msg]) -> Iterator[Msg]:
    for msg in plan:  # noqa: UP028 (``yield from`` would pass send() values to a plain iterator)
        yield msg


class RunEngine:
    """Run plans: ``RE = RunEngine(); RE.subscribe(print); RE(plan)``.

    ``md`` is user metadata merged into every start document. With ``state_dir`` the
    last scan_id (``scan_id.json``) and ``RE.md`` (``md.json``) persist across restarts.

    A connection error from a device (``ConnectionError``, e.g. an IOC that went away) while a
    suspender is tripped, or trips within ``disconnect_grace`` seconds of it, suspends the plan
    and rewinds it to the last checkpoint instead of failing it: an IOC restart is waited out
    like a beam dump. Without a tripped suspender the error reaches the plan as any other.
    """

    #: Seconds a connection error waits for a suspender to trip before it reaches the plan.
    disconnect_grace = 2.0
    #: Called with every message before it is processed, replayed ones included (as Bluesky's).
    msg_hook: Callable[[Msg], Any] | None = None

    def __init__(self, md: dict[str, Any] | None = None, *, state_dir: str | Path | None = None) -> None:
        state = Path(state_dir) if state_dir else None
        self._md: dict[str, Any] = PersistentDict(state / "md.json", md) if state else dict(md or {})
        self._scan_ids = ScanIdFile(state / "scan_id.json" if state else None)
        self._subscribers: dict[int, tuple[str, Subscriber]] = {}
        self._dispatch: list[tuple[str, Subscriber]] = []
        self._next_token = 0
        self.input_func: Callable[[str], str] = builtins.input
        self.suspenders: list[Suspender] = []
        self._state = "idle"
        self._handlers: dict[str, Handler] = {}
        self._reset_plan_state()
        self._task: asyncio.Task[tuple[str, ...]] | None = None
        self._blocker: concurrent.futures.Future[tuple[str, tuple[str, ...]]] = concurrent.futures.Future()
        commands.install(self)

    def _reset_plan_state(self) -> None:
        self._runs: dict[Any, RunBundle] = {}
        self._run_uids: list[str] = []
        self._call_md: dict[str, Any] = {}
        self._staged: list[Any] = []
        self._groups: dict[Any, list[tuple[Msg, Any]]] = {}
        self._movers: dict[int, Any] = {}
        self._msg_cache: list[Msg] | None = None
        self._rewindable = True
        self._replay: deque[Msg] = deque()
        self._deferred_pause = False
        self._pending: str | None = None
        self._cancel_kind: str | None = None
        self._parked: asyncio.Future[str] | None = None
        self._parking = False
        self._queued: str | None = None
        self._trip_seen: asyncio.Future[None] | None = None
        self._interruptible = False
        self._exit_status: tuple[str, str] | None = None
        self._plan_tokens: list[int] = []
        self._plan_suspenders: list[Suspender] = []
        self._sigints = 0
        self._exit_reason = ""

    # -- metadata ----------------------------------------------------------------------------
    @property
    def md(self) -> dict[str, Any]:
        """User metadata merged into every start document (persisted with a state_dir)."""
        return self._md

    @md.setter
    def md(self, value: dict[str, Any]) -> None:
        self._md.clear()
        self._md.update(value)

    @property
    def state(self) -> str:
        """``idle``, ``running`` or ``paused``."""
        return self._state

    # -- subscriptions -------------------------------------------------------------------
    def subscribe(self, fn: Subscriber, name: str = "all") -> int:
        """Call ``fn(name, doc)`` for every document (or only documents called ``name``)."""
        if not callable(fn):
            raise TypeError(f"subscribe: {fn!r} is not callable (expected fn(name, doc))")
        token = self._next_token
        self._next_token += 1
        self._subscribers[token] = (name, fn)
        self._dispatch = list(self._subscribers.values())
        return token

    def unsubscribe(self, token: int) -> None:
        """Stop the subscription ``token``."""
        self._subscribers.pop(token, None)
        self._dispatch = list(self._subscribers.values())

    def emit(self, name: str, doc: dict[str, Any]) -> None:
        """Send one document to every subscriber."""
        for wanted, fn in self._dispatch:
            if wanted == "all" or wanted == name:
                fn(name, doc)

    def register_command(self, name: str, handler: Handler) -> None:
        """Teach the engine a command: ``handler(msg)`` returns the response, or a coroutine
        (an ``async def`` handler) whose result is the response."""
        self._handlers[name] = handler

    def unregister_command(self, name: str) -> None:
        """Forget the command ``name``."""
        del self._handlers[name]

    @property
    def commands(self) -> list[str]:
        """The commands the engine understands."""
        return sorted(self._handlers)

    # -- suspenders --------------------------------------------------------------------------
    def install_suspender(self, suspender: Suspender) -> None:
        """Watch ``suspender`` from now on (it suspends any plan while tripped)."""
        if not isinstance(suspender, Suspender):
            raise TypeError(f"install_suspender: {suspender!r} is not a Suspender")
        if suspender not in self.suspenders:
            self.suspenders.append(suspender)
            self._in_loop(suspender.start, self._suspender_tripped)

    def remove_suspender(self, suspender: Suspender) -> None:
        """Stop watching ``suspender``."""
        if suspender in self.suspenders:
            self.suspenders.remove(suspender)
            self._in_loop(suspender.stop)

    def clear_suspenders(self) -> None:
        """Remove every suspender."""
        for s in list(self.suspenders):
            self.remove_suspender(s)

    def _in_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        if in_loop_thread():
            fn(*args)
        else:
            get_loop().call_soon_threadsafe(fn, *args)

    def _suspender_tripped(self, suspender: Suspender) -> None:
        seen = self._trip_seen
        if seen is not None and not seen.done():
            seen.set_result(None)
        if self._state == "running" and self._interruptible:
            self._interrupt("suspend")

    # -- running (caller's side) ------------------------------------------------------------
    def __call__(self, plan: Iterable[Msg], **md: Any) -> tuple[str, ...]:
        """Run ``plan`` to its end and return the uids of the runs it opened."""
        if in_loop_thread():
            raise RuntimeError("RE(plan) blocks; from inside the event loop use `await RE.run(plan)`")
        self._begin(plan)
        self._blocker = concurrent.futures.Future()
        get_loop().call_soon_threadsafe(self._start_task, plan, md)
        return self._block()

    async def run(self, plan: Iterable[Msg], **md: Any) -> tuple[str, ...]:
        """Run ``plan`` on the running loop (waits through pauses until resumed or aborted)."""
        self._begin(plan)
        self._blocker = concurrent.futures.Future()
        self._start_task(plan, md)
        assert self._task is not None
        return await asyncio.shield(self._task)

    def _begin(self, plan: Any) -> None:
        if self._state != "idle":
            raise TransitionError(f"the RunEngine is {self._state}; "
                                  + ("call RE.resume(), RE.abort(), RE.stop() or RE.halt() first"
                                     if self._state == "paused" else "it runs one plan at a time"))
        if callable(plan) and not hasattr(plan, "__iter__"):
            raise TypeError(f"RE(plan): {plan!r} is a function, not a plan; call it: RE(plan(...))")
        if not hasattr(plan, "__iter__") and not hasattr(plan, "__next__"):
            raise TypeError(f"RE(plan): a plan is an iterable of Msg, got {type(plan).__name__}")
        self._state = "running"

    def _start_task(self, plan: Iterable[Msg], md: dict[str, Any]) -> None:
        self._task = get_loop().create_task(self._execute(plan, md), name="RunEngine plan")
        self._task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[tuple[str, ...]]) -> None:
        blocker = self._blocker
        if blocker.done():
            return
        if task.cancelled():
            blocker.set_exception(RunEngineInterrupted("the plan's task was cancelled"))
        elif task.exception() is not None:
            blocker.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            blocker.set_result(("done", task.result()))

    def _notify_paused(self) -> None:
        if not self._blocker.done():
            self._blocker.set_result(("paused", tuple(self._run_uids)))

    def _block(self) -> tuple[str, ...]:
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, self._on_sigint) if main else None
        try:
            blocker = self._blocker
            while not blocker.done():
                concurrent.futures.wait([blocker], timeout=0.5)
            kind, uids = blocker.result()
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
        if kind == "paused":
            raise RunEngineInterrupted(
                "the RunEngine is paused: RE.resume() to go on (from the last checkpoint), "
                "RE.stop() (success), RE.abort() or RE.halt()")
        return uids

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self._sigints += 1
        defer = self._sigints == 1
        if defer:
            print("Ctrl-C: pausing at the next checkpoint; Ctrl-C again to pause now", file=sys.stderr)
        else:
            print("Ctrl-C: pausing now", file=sys.stderr)
        get_loop().call_soon_threadsafe(self._pause_in_loop, defer)

    # -- interruptions (any thread) -------------------------------------------------------------
    def request_pause(self, defer: bool = False) -> None:
        """Pause now (rewinding to the last checkpoint on resume), or at the next checkpoint."""
        if self._state == "idle":
            raise TransitionError("request_pause: the RunEngine is idle (no plan to pause)")
        self._in_loop(self._pause_in_loop, defer)

    def resume(self) -> tuple[str, ...]:
        """Resume a paused plan from its last checkpoint; block until it ends or pauses again."""
        return self._decide("resume", "resume")

    def abort(self, reason: str = "") -> tuple[str, ...]:
        """End the plan; its runs close with ``exit_status='abort'``; cleanup messages still run."""
        self._exit_reason = reason or "aborted by the user"
        return self._decide("abort", "abort")

    def stop(self) -> tuple[str, ...]:
        """End the plan; its runs close with ``exit_status='success'``; cleanup messages still run."""
        return self._decide("stop", "stop")

    def halt(self) -> tuple[str, ...]:
        """End the plan at once, without running its cleanup messages (runs close as ``abort``)."""
        return self._decide("halt", "halt")

    def _decide(self, kind: str, verb: str) -> tuple[str, ...]:
        if self._state == "idle":
            raise TransitionError(f"{verb}: the RunEngine is idle, not paused")
        if kind == "resume" and self._state != "paused":
            raise TransitionError(f"resume: the RunEngine is {self._state}, not paused")
        if in_loop_thread():
            self._interrupt(kind)
            return tuple(self._run_uids)
        if self._state == "running":  # called from another thread while RE(plan) blocks
            get_loop().call_soon_threadsafe(self._interrupt, kind)
            return tuple(self._run_uids)
        self._blocker = concurrent.futures.Future()
        self._sigints = 0
        get_loop().call_soon_threadsafe(self._interrupt, kind)
        return self._block()

    def _pause_in_loop(self, defer: bool) -> None:
        if self._state != "running":
            return
        if defer:
            self._deferred_pause = True
        else:
            self._interrupt("pause")

    def _interrupt(self, kind: str) -> None:
        """In the loop: deliver ``kind`` (pause/suspend/resume/abort/stop/halt) to the plan's task."""
        parked = self._parked
        if parked is not None:
            if not parked.done():
                parked.set_result(kind)
            return
        if self._parking:  # between interruption and parking (stopping movers, a pre/post plan)
            if self._queued not in ("abort", "stop", "halt"):
                self._queued = kind
            return
        if not self._interruptible or self._task is None or kind == "resume":
            return
        ending = kind in ("abort", "stop", "halt")
        if ending or (self._rewindable and self._msg_cache is not None):
            if self._cancel_kind is None or ending:
                first = self._cancel_kind is None
                self._cancel_kind = kind
                if first:
                    self._task.cancel()
        else:
            self._pending = kind  # not rewindable: pause after the current message

    # -- running (the plan's task) -------------------------------------------------------------
    async def _execute(self, plan: Iterable[Msg], md: dict[str, Any]) -> tuple[str, ...]:
        self._reset_plan_state()
        self._call_md = md
        gen: Any = plan if hasattr(plan, "send") and hasattr(plan, "throw") else _as_generator(plan)
        failure: BaseException | None = None
        exit_status, reason = "success", ""
        try:
            if any(s.tripped for s in self.suspenders):
                self._pending = "suspend"
            self._interruptible = True
            await self._drive(gen)
        except RequestHalt:
            try:
                gen.close()
            except RuntimeError:
                pass  # the plan tried to yield cleanup messages: a halt does not run them
        except (RequestAbort, RequestStop):
            pass
        except BaseException as exc:
            failure = exc
            exit_status, reason = "fail", f"{type(exc).__name__}: {exc}"
        finally:
            self._interruptible = False
        if self._exit_status is not None:
            exit_status, reason = self._exit_status
        try:
            await self._cleanup(exit_status, reason)
        except Exception as exc:
            if failure is None:
                raise
            failure.add_note(str(exc))  # the plan's own error says what went wrong first
        finally:
            self._state = "idle"
        if failure is not None:
            raise failure
        return tuple(self._run_uids)

    async def _drive(self, gen: Any) -> None:
        send = gen.send
        throw = gen.throw
        handlers = self._handlers
        replay = self._replay
        response: Any = None
        error: BaseException | None = None
        count = 0
        while True:
            if self._pending is not None:
                kind, self._pending = self._pending, None
                error = await self._park(kind, rewind=False)
            try:
                if error is not None:
                    exc, error = error, None
                    msg = throw(exc)
                elif replay:
                    msg = replay.popleft()
                else:
                    msg = send(response)
            except StopIteration:
                return
            cache = self._msg_cache
            if cache is not None:
                cache.append(msg)
            if self.msg_hook is not None:
                self.msg_hook(msg)
            try:
                handler = handlers[msg.command]
            except KeyError:
                error = UnknownCommand(f"unknown command {msg.command!r} in {msg!r}; "
                                       f"register it with RE.register_command()")
                continue
            except AttributeError:
                error = TypeError(f"a plan must yield Msg objects, got {msg!r}")
                continue
            awaited = False
            try:
                response = handler(msg)
                if type(response) is CoroutineType:
                    awaited = True
                    response = await response
                else:
                    count += 1
                    if count >= _YIELD_EVERY:
                        count = 0
                        await asyncio.sleep(0)
            except asyncio.CancelledError as exc:
                cancel_kind = self._cancel_kind
                task = self._task
                if cancel_kind is None:
                    if task is not None and task.cancelling():
                        raise
                    response, error = None, _in_context(RuntimeError(f"{msg.command} was cancelled"), msg, exc)
                    continue
                self._cancel_kind = None
                if task is not None:
                    task.uncancel()
                response = None
                error = await self._park(cancel_kind, rewind=True)
            except Exception as exc:
                response = None
                if (self._cancel_kind is None and isinstance(exc, ConnectionError)
                        and await self._connection_lost_suspends(exc, msg)):
                    queued = self._queued if self._queued in ("abort", "stop", "halt") else "suspend"
                    error = await self._park(queued, rewind=True)
                else:
                    error = _in_context(exc, msg)
            if awaited and self._cancel_kind is not None:  # the interruption wins; the message is replayed
                response, error = None, await self._interruption_missed()

    async def _interruption_missed(self) -> BaseException | None:
        """Deliver an interruption whose cancellation the message's handler did not raise.

        A handler can swallow the cancellation (Python 3.11's ``asyncio.wait_for``, used by caproto
        for every read and write, returns the result when it arrives in the same loop pass as the
        cancellation) or replace it by its own error; then the interruption is still pending here,
        and every later one would be ignored while it is: it is delivered now, with the rewind."""
        try:
            await asyncio.sleep(0)  # a cancellation still on its way lands here, not in a later await
        except asyncio.CancelledError:
            pass
        kind, self._cancel_kind = self._cancel_kind, None
        if self._task is not None:
            self._task.uncancel()
        return await self._park(kind or "suspend", rewind=True)

    async def _connection_lost_suspends(self, exc: BaseException, msg: Msg) -> bool:
        """Whether the connection error ``exc`` becomes a suspension: the plan can rewind, and a
        suspender is tripped or trips within ``disconnect_grace`` s (it may notice a moment later
        than the device did). Interruptions meanwhile queue as while parking."""
        if not (self.suspenders and self._rewindable and self._msg_cache is not None):
            return False
        if not any(s.tripped for s in self.suspenders):
            self._parking = True
            self._queued = None
            self._trip_seen = seen = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait([seen], timeout=self.disconnect_grace)
            finally:
                self._trip_seen = None
                self._parking = False
        if any(s.tripped for s in self.suspenders):
            where = f" on {name_of(msg.obj)}" if msg.obj is not None else ""
            log.warning("%s%s lost its connection (%s): suspending until the suspenders clear", msg.command, where, exc)
            return True
        if self._queued is not None:  # a pause or an ending asked for while we waited
            self._pending, self._queued = self._queued, None
        return False

    async def _park(self, kind: str, *, rewind: bool) -> BaseException | None:
        """Handle an interruption: ``None`` means go on; otherwise the exception to throw in."""
        self._parking = True
        self._queued = None
        try:
            return await self._park_here(kind, rewind)
        finally:
            self._parking = False

    async def _park_here(self, kind: str, rewind: bool) -> BaseException | None:
        if rewind:
            for run in self._runs.values():
                run.abandon()
            self._groups.clear()
            await self._stop_movers(quiet=True)
            self._replay.extend(self._msg_cache or ())
            self._msg_cache = [] if self._msg_cache is not None else None
        while True:
            if kind == "resume" and any(s.tripped for s in self.suspenders):
                kind = "suspend"
            if kind == "resume":
                return None
            if kind == "pause":
                self._state = "paused"
                self._notify_paused()
                kind = await self._wait_parked()
                self._state = "running"
            elif kind == "suspend":
                kind = await self._suspended()
            else:
                self._replay.clear()
                return self._ending(kind)

    async def _wait_parked(self, *others: asyncio.Future[Any]) -> str:
        if self._queued is not None:
            kind, self._queued = self._queued, None
            return kind
        loop = asyncio.get_running_loop()
        self._parked = parked = loop.create_future()
        try:
            if others:
                await asyncio.wait([parked, *others], return_when=asyncio.FIRST_COMPLETED)
                return parked.result() if parked.done() else "released"
            return str(await parked)
        finally:
            self._parked = None

    async def _suspended(self) -> str:
        tripped = [s for s in self.suspenders if s.tripped]
        if not tripped:
            return "resume"
        for s in tripped:
            pre = plan_of(s.pre_plan)
            if pre is not None:
                await self._run_subplan(pre)
        waiter = asyncio.ensure_future(asyncio.gather(*(s.wait_released() for s in tripped)))
        try:
            kind = await self._wait_parked(waiter)
        finally:
            waiter.cancel()
            waiter.add_done_callback(lambda f: None if f.cancelled() else f.exception())
        if kind != "released":
            return kind
        for s in tripped:
            post = plan_of(s.post_plan)
            if post is not None:
                await self._run_subplan(post)
        return "resume"

    async def _run_subplan(self, plan: Iterable[Msg]) -> None:
        gen: Any = plan if hasattr(plan, "send") else _as_generator(plan)
        response: Any = None
        while True:
            try:
                msg = gen.send(response)
            except StopIteration:
                return
            response = await maybe_await(self._handlers[msg.command](msg))

    def _ending(self, kind: str) -> BaseException:
        for run in self._runs.values():
            run.abandon()
        if kind == "abort":
            self._exit_status = ("abort", self._exit_reason or "aborted")
            return RequestAbort(self._exit_status[1])
        if kind == "stop":
            self._exit_status = ("success", "stopped by the user")
            return RequestStop("stopped by the user")
        self._exit_status = ("abort", "halted by the user")
        raise RequestHalt("halted")

    async def _stop_movers(self, *, quiet: bool = False) -> None:
        """Stop everything the plan moved; with ``quiet`` (an interruption, which may be an IOC
        gone away) a mover that cannot be stopped is logged rather than raised, as Bluesky does."""
        movers, self._movers = list(self._movers.values()), {}
        for obj in movers:
            stop = getattr(obj, "stop", None)
            if stop is None:
                continue
            try:
                try:
                    await maybe_await(stop(success=True))
                except TypeError:
                    await maybe_await(stop())
            except Exception as exc:
                if not quiet:
                    raise
                log.warning("could not stop %s while interrupting the plan: %s", name_of(obj), exc)

    async def _cleanup(self, exit_status: str, reason: str) -> None:
        """Always runs: close open runs, stop monitors, unstage, stop movers, drop plan-level state."""
        errors: list[str] = []
        for key in list(self._runs):
            self.finish_run(key, exit_status, reason)
        staged, self._staged = self._staged, []
        for obj in reversed(staged):
            try:
                await commands.await_status(await maybe_await(obj.unstage()))
            except Exception as exc:
                errors.append(f"unstage {name_of(obj)}: {exc}")
        if exit_status != "success":
            try:
                await self._stop_movers()
            except Exception as exc:
                errors.append(f"stop: {exc}")
        for token in self._plan_tokens:
            self.unsubscribe(token)
        for s in self._plan_suspenders:
            self.remove_suspender(s)
        self._groups.clear()
        self._movers.clear()
        if errors:
            raise RuntimeError("cleanup after the plan failed: " + "; ".join(errors))

    # -- runs (used by the command handlers) -------------------------------------------------------
    def open_run(self, key: Any, md: dict[str, Any]) -> str:
        """Emit a start document for a new run keyed ``key``; return its uid."""
        if key in self._runs:
            raise IllegalMessageSequence("open_run while a run is open; close it first"
                                         if key is None else f"open_run: the run {key!r} is already open")
        start = docs.start_doc(self._scan_ids.next(), {**self._md, **self._call_md, **md})
        self._runs[key] = RunBundle(start, self.emit)
        self._run_uids.append(start["uid"])
        self.emit("start", start)
        return str(start["uid"])

    def run_for(self, msg: Msg) -> RunBundle:
        """The open run that ``msg`` addresses."""
        try:
            return self._runs[msg.run]
        except KeyError:
            raise IllegalMessageSequence(f"{msg.command!r} needs an open run (open_run first)"
                                         if msg.run is None else
                                         f"{msg.command!r}: no open run {msg.run!r}") from None

    def finish_run(self, key: Any, exit_status: str, reason: str) -> str:
        """Emit the stop document of the run ``key``."""
        run = self._runs.pop(key)
        run.stop_monitors()
        self.emit("stop", run.stop_doc(exit_status, reason))
        return run.uid


def _in_context(exc: BaseException, msg: Msg, cause: BaseException | None = None) -> BaseException:
    """Name the message (and device) an error happened in, once."""
    method = {"read": "read", "set": "set", "trigger": "trigger", "kickoff": "kickoff", "complete": "complete",
              "configure": "configure", "prepare": "prepare"}.get(msg.command)
    if isinstance(exc, AttributeError) and method and msg.obj is not None and not hasattr(msg.obj, method):
        return TypeError(f"{msg.command}: {name_of(msg.obj)} cannot {method} (it has no {method}() method)")
    if cause is not None:
        exc.__cause__ = cause
    if not getattr(exc, "_beamtwin_noted", False):
        where = f" on {name_of(msg.obj)}" if msg.obj is not None else ""
        exc.add_note(f"(raised while the RunEngine ran {msg.command!r}{where})")
        try:
            exc._beamtwin_noted = True  # type: ignore[attr-defined]
        except AttributeError:
            pass
    return exc
