"""Status objects: awaitable, with callbacks, for anything that finishes later."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from acq.loop import get_loop, in_loop_thread


class Status:
    """The outcome of a ``set``/``trigger``: awaitable, takes callbacks, can be waited on.

    Wraps a coroutine (run as a task on the shared loop) or is finished by hand with
    ``set_finished()`` / ``set_exception()``.
    """

    def __init__(self, awaitable: Awaitable[Any] | None = None, *, name: str = "") -> None:
        self.name = name
        loop = get_loop()
        if awaitable is None:
            self._fut: asyncio.Future[Any] = loop.create_future()
        elif in_loop_thread():
            self._fut = asyncio.ensure_future(awaitable, loop=loop)
        else:  # made from another thread: start the work in the loop's thread, safely
            self._fut = loop.create_future()
            loop.call_soon_threadsafe(self._start, awaitable)
        self._callbacks: list[Callable[[Status], None]] = []
        self._fut.add_done_callback(self._run_callbacks)

    def _start(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)

        def copy(done: asyncio.Future[Any]) -> None:
            if self._fut.done():
                return
            if done.cancelled():
                self._fut.cancel()
            elif done.exception() is not None:
                self._fut.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                self._fut.set_result(done.result())

        task.add_done_callback(copy)
        self._fut.add_done_callback(lambda f: task.cancel() if f.cancelled() else None)

    @classmethod
    def finished(cls, name: str = "") -> Status:
        """A status that is already done and successful."""
        st = cls(name=name)
        st.set_finished()
        return st

    def _run_callbacks(self, _fut: asyncio.Future[Any]) -> None:
        for cb in self._callbacks:
            cb(self)

    def set_finished(self) -> None:
        """Mark the status done and successful (only from the loop's thread)."""
        if not self._fut.done():
            self._fut.set_result(None)

    def set_exception(self, exc: BaseException) -> None:
        """Mark the status failed with ``exc`` (only from the loop's thread)."""
        if not self._fut.done():
            self._fut.set_exception(exc)

    @property
    def done(self) -> bool:
        """Whether the operation has finished, successfully or not."""
        return self._fut.done()

    @property
    def success(self) -> bool:
        """Whether the operation finished without an error."""
        return self._fut.done() and not self._fut.cancelled() and self._fut.exception() is None

    def exception(self) -> BaseException | None:
        """The error the operation failed with, if any."""
        if not self._fut.done():
            return None
        if self._fut.cancelled():
            return asyncio.CancelledError(f"{self.name} cancelled")
        return self._fut.exception()

    def add_callback(self, callback: Callable[[Status], None]) -> None:
        """Call ``callback(status)`` once done (at once if done already)."""
        if self._fut.done():
            callback(self)
        else:
            self._callbacks.append(callback)

    def __await__(self) -> Generator[Any, None, None]:
        return self._fut.__await__()

    def wait(self, timeout: float | None = None) -> None:
        """Block (from outside the loop) until done; raise the operation's error."""
        async def _w() -> None:
            try:
                await asyncio.wait_for(asyncio.shield(self._fut), timeout)
            except TimeoutError:
                if self._fut.done():
                    raise
                raise TimeoutError(f"{self.name or 'status'} did not finish within {timeout} s") from None

        asyncio.run_coroutine_threadsafe(_w(), get_loop()).result()

    def __repr__(self) -> str:
        state = "done" if self.done else "pending"
        return f"Status({self.name!r}, {state}, success={self.success})"
