"""One beamline served by several IOC processes that share one consistent physics model.

How the processes agree: every process builds the same deterministic model (same beamline
file, same seed), and simulated time is derived from one wall-clock epoch shared through the
cluster directory (``CLOCK_MONOTONIC`` is host-wide), so the ring, the samples and the keyed
noise agree without any traffic. What commands change (a motor's trajectory, a stall, the
shutter, a dump, a detector fault, the speed factor) is *owned* by the one process that serves
the PV changing it; the owner sends that piece of state to its peers over Unix datagram
sockets in the cluster directory, and the peers overwrite their copy.

Why this and not one physics process with thin IOCs: no IOC waits on another for a reading
(a detector IOC integrates the motors' trajectories itself, so counts during a move see it),
and killing any one IOC leaves the others answering with the whole model.

Causality: an owner publishes what changed before it sends anything to a client (every
circuit send calls ``publish``), and a datagram on a Unix socket is in the peer's queue when
``sendto`` returns. A client that saw a move start (or end) and then asks another IOC for a
count reaches it after the move's state did; the peer applies datagrams from a reader
callback, before the request's coroutine runs. A full republish every ``FULL_PERIOD`` repairs
a dropped datagram; a (re)started process asks its peers for their state (``hello``) and
waits for it, up to ``JOIN_TIMEOUT``, before it answers any client.

The cluster directory must be private to the user (it is made 0700): messages are pickles.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twin.physics import BeamlineModel

#: Wall seconds between checks for changed state (besides the check before every send: a change
#: that no client hears of, e.g. a put without completion, reaches the peers within this).
PERIOD = 0.02
#: Wall seconds between full republishes of everything a process owns.
FULL_PERIOD = 1.0
#: Wall seconds a (re)started process waits for its peers' state before it answers clients.
JOIN_TIMEOUT = 5.0

Getter = Callable[[], Any]
Setter = Callable[[Any], None]


def shared_epoch(directory: Path) -> float:
    """The ``time.monotonic()`` instant at which simulated time is 0 for the whole cluster:
    written once by the first process to start (atomically), read by every other and by a
    restarted one, so all clocks agree."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / "epoch"
    tmp = directory / f"epoch.{os.getpid()}.tmp"
    tmp.write_text(repr(time.monotonic()))
    try:
        os.link(tmp, path)  # fails if another process wrote it first
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return float(path.read_text())


def state_keys(model: BeamlineModel) -> dict[str, tuple[Getter, Setter]]:
    """Every piece of the model that commands change, as key → (get state, set state)."""
    keys: dict[str, tuple[Getter, Setter]] = {}
    for name, axis in model.axes.items():
        keys[f"axis:{name}"] = _whole(axis)
    keys["clock"] = (model.clock.state, model.clock.set_state)
    keys["shutter"] = (lambda: model.shutter_open, lambda s: setattr(model, "shutter_open", s))
    if model.ring is not None:
        keys["ring"] = _lists(model.ring, "dumps")
    for channel, det in model.detectors.items():
        keys[f"detector:{channel}"] = _lists(det, "noise", "forced_saturation")
    return keys


def _whole(obj: Any) -> tuple[Getter, Setter]:
    """Get and set every attribute of ``obj`` (an axis: trajectory, rest, faults, switches)."""
    def get() -> dict[str, Any]:
        return dict(vars(obj))

    def put(state: dict[str, Any]) -> None:
        vars(obj).clear()
        vars(obj).update(state)
    return get, put


def _lists(obj: Any, *names: str) -> tuple[Getter, Setter]:
    """Get and set the list attributes ``names`` of ``obj`` in place."""
    def get() -> list[list[Any]]:
        return [list(getattr(obj, n)) for n in names]

    def put(state: list[list[Any]]) -> None:
        for n, items in zip(names, state, strict=True):
            getattr(obj, n)[:] = items
    return get, put


class Cluster:
    """This process's part of a split twin: publishes the state it owns, applies its peers'."""

    def __init__(self, directory: Path, name: str, model: BeamlineModel, owned: set[str]) -> None:
        self.directory = Path(directory)
        self.name = name
        self.keys = state_keys(model)
        self.owned = owned & self.keys.keys()
        #: called with the keys just taken from a peer (e.g. to republish the beam status)
        self.on_apply: Callable[[set[str]], None] | None = None
        self.received: set[str] = set()
        self._sent: dict[str, bytes] = {}
        self._sock: socket.socket | None = None
        self._live = False
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def path(self) -> Path:
        """This process's socket."""
        return self.directory / f"{self.name}.sock"

    def _peers(self) -> list[Path]:
        return [p for p in self.directory.glob("*.sock") if p != self.path]

    async def start(self) -> None:
        """Bind, ask the peers for their state and wait for it (up to ``JOIN_TIMEOUT``). Nothing
        is published before ``go_live`` (after autosave has restored what this process owns)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(self.path))
        sock.setblocking(False)
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._drain)
        self._send(("hello", self.name))
        deadline = time.monotonic() + JOIN_TIMEOUT
        missing = self.keys.keys() - self.owned - self.received
        while missing and time.monotonic() < deadline and self._peers():
            await asyncio.sleep(0.01)
            missing = self.keys.keys() - self.owned - self.received
        if missing and self._peers():
            print(f"twin ioc {self.name}: no state yet from peers for {sorted(missing)}", file=sys.stderr,
                  flush=True)

    def go_live(self) -> None:
        """Publish everything this process owns, then every change (see ``publish``)."""
        self._live = True
        self.publish(full=True)
        self._tasks.append(asyncio.create_task(self._publisher()))

    async def _publisher(self) -> None:
        last_full = time.monotonic()
        while True:
            await asyncio.sleep(PERIOD)
            full = time.monotonic() - last_full >= FULL_PERIOD
            if full:
                last_full = time.monotonic()
            self.publish(full=full)

    def publish(self, full: bool = False) -> None:
        """Send the owned state that changed since it was last sent (all of it if ``full``)."""
        if self._sock is None or not self._live:
            return
        changed: dict[str, Any] = {}
        for key in self.owned:
            state = self.keys[key][0]()
            blob = pickle.dumps(state)
            if full or self._sent.get(key) != blob:
                self._sent[key] = blob
                changed[key] = state
        if changed:
            self._send(("state", self.name, changed))

    def _send(self, message: Any, to: list[Path] | None = None) -> None:
        assert self._sock is not None
        data = pickle.dumps(message)
        for peer in self._peers() if to is None else to:
            with contextlib.suppress(OSError):  # a dead peer (refused) or a full queue (repaired later)
                self._sock.sendto(data, str(peer))

    def _drain(self) -> None:
        """Apply every datagram waiting (a reader callback: before any request coroutine runs)."""
        assert self._sock is not None
        while True:
            try:
                data = self._sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                return
            message = pickle.loads(data)
            if message[0] == "hello":
                self._sent.clear()  # the newcomer gets everything
                self.publish(full=True)
            elif message[0] == "state":
                applied = {key for key in message[2] if key in self.keys and key not in self.owned}
                for key in applied:
                    self.keys[key][1](message[2][key])
                self.received |= applied
                if applied and self.on_apply is not None:
                    self.on_apply(applied)

    def close(self) -> None:
        """Stop publishing and unbind."""
        for task in self._tasks:
            task.cancel()
        if self._sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
            self.path.unlink(missing_ok=True)
