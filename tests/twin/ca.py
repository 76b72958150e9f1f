"""A small Channel Access client for the twin's tests (caproto's threading client)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from caproto.threading.client import PV, Context


class CA:
    """Reads, puts with completion and monitors over CA to whatever the environment points at."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.ctx = Context()
        self.timeout = timeout
        self._pvs: dict[str, PV] = {}
        self._callbacks: list[Callable[..., None]] = []

    def pv(self, name: str) -> PV:
        """A connected PV (cached)."""
        if name not in self._pvs:
            (pv,) = self.ctx.get_pvs(name, timeout=self.timeout)
            pv.wait_for_connection(timeout=self.timeout)
            self._pvs[name] = pv
        return self._pvs[name]

    def get(self, name: str, form: str = "time") -> Any:
        """Value of ``name`` (a scalar for scalars, a str for strings and enums)."""
        return self.value(self.read(name, form))

    def read(self, name: str, form: str = "time", as_string: bool = False) -> Any:
        """The full response (``.data``, ``.metadata``)."""
        pv = self.pv(name)
        dtype = None
        if as_string:
            from caproto import ChannelType

            dtype = ChannelType.STRING
        return pv.read(data_type=form if dtype is None else dtype, timeout=self.timeout)

    @staticmethod
    def value(resp: Any) -> Any:
        data = resp.data
        if len(data) == 1:
            v = data[0]
            return v.decode() if isinstance(v, bytes) else v
        return data

    def string(self, name: str) -> str:
        """The value as the record's string (enum strings for enums, char waveforms decoded)."""
        from caproto import ChannelType

        if self.pv(name).channel.native_data_type == ChannelType.CHAR:
            raw = self.read(name, "native").data
            return bytes(raw).split(b"\0", 1)[0].decode()
        return str(self.value(self.read(name, as_string=True)))

    def put(self, name: str, value: Any, wait: bool = True, timeout: float | None = None) -> None:
        """Put, by default with completion (waits for the IOC's callback)."""
        from caproto import ChannelType

        pv = self.pv(name)
        dtype = ChannelType.STRING if isinstance(value, str) else None
        if isinstance(value, str) and pv.channel.native_data_type == ChannelType.CHAR:
            value, dtype = list(value.encode() + b"\0"), ChannelType.CHAR
        pv.write(value if isinstance(value, list | tuple) else [value], wait=wait,
                            timeout=timeout or self.timeout, data_type=dtype)

    def put_async(self, name: str, value: Any, timeout: float = 60.0) -> threading.Event:
        """Put with completion in the background; the event is set when the IOC completes it."""
        done = threading.Event()
        self.pv(name).write([value], wait=False, callback=lambda *_: done.set())
        return done

    def monitor(self, name: str) -> tuple[list[tuple[float, Any]], Callable[[], None]]:
        """Collect (server timestamp, value) of every update of ``name``; returns (list, stop)."""
        got: list[tuple[float, Any]] = []
        sub = self.pv(name).subscribe(data_type="time")

        def cb(sub: Any, resp: Any) -> None:
            got.append((resp.metadata.timestamp, self.value(resp)))

        sub.add_callback(cb)
        self._callbacks.append(cb)  # caproto holds callbacks weakly
        time.sleep(0.05)

        def stop() -> None:
            time.sleep(0.1)  # let updates in flight arrive
            sub.clear()

        return got, stop

    def wait_for(self, name: str, pred: Callable[[Any], bool], timeout: float = 10.0) -> Any:
        """Poll ``name`` until ``pred(value)`` holds (riding out a reconnection); return the value."""
        deadline = time.monotonic() + timeout
        v: Any = None
        while True:
            try:
                v = self.get(name)
            except Exception:  # the IOC may be restarting: keep polling
                v = None
            else:
                if pred(v):
                    return v
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} stayed at {v!r}")
            time.sleep(0.02)

    def close(self) -> None:
        """Disconnect."""
        self.ctx.disconnect(wait=False)
