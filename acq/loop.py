"""The one asyncio event loop that the engine and the devices share, run in a daemon thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def get_loop() -> asyncio.AbstractEventLoop:
    """The shared event loop, started on first use in a daemon thread named ``beamtwin-loop``."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="beamtwin-loop", daemon=True)
            thread.start()
            _loop = loop
        return _loop


def in_loop_thread() -> bool:
    """Whether the caller runs in the shared loop's thread."""
    try:
        return asyncio.get_running_loop() is _loop
    except RuntimeError:
        return False


def call_in_loop(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the shared loop from another thread and wait for its result."""
    if in_loop_thread():
        coro.close()
        raise RuntimeError("call_in_loop() blocks; from inside the loop, await the coroutine instead")
    return asyncio.run_coroutine_threadsafe(coro, get_loop()).result(timeout)


def dump_state(file: Any = None) -> None:
    """Print every thread's stack and every task of the shared loop (what a hung process waits on)."""
    import faulthandler
    import sys

    out = file or sys.stderr
    out.flush()
    faulthandler.dump_traceback(file=out, all_threads=True)
    loop = _loop
    if loop is None:
        return
    for task in list(asyncio.all_tasks(loop)):
        print(f"--- task {task.get_name()}: {task!r}", file=out)
        task.print_stack(file=out)
    out.flush()


def dump_state_on(signum: int) -> None:
    """On signal ``signum`` (e.g. SIGUSR1), print :func:`dump_state` to stderr and go on."""
    import signal

    signal.signal(signum, lambda _sig, _frame: dump_state())
