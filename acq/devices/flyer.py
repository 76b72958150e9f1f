"""A software fly scan: move a motor through a range and keep every monitor update meanwhile.

No trigger hardware is needed: the IOC pushes each new readback (and any other monitored
signal) while the motor moves; ``collect()`` returns one event per update of the first
signal, with the latest value of the others. Flyable and collectable as Bluesky says
(``kickoff``/``complete``/``describe_collect``/``collect``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from acq.devices._async import on_shared_loop, status_of
from acq.devices.device import Device, Readings, Signal
from acq.devices.motor import Motor
from acq.engine.status import Status


class MonitorFlyer(Device):
    """Fly ``motor`` from ``start`` to ``stop`` (at ``velocity`` if given), recording ``signals``.

    ``signals`` defaults to the motor's readback; the first one paces the events.
    """

    def __init__(self, name: str, motor: Motor, start: float, stop: float, *,
                 signals: Sequence[Signal] | None = None, velocity: float | None = None) -> None:
        super().__init__(name=name)
        self.motor = motor
        self.start, self.stop = float(start), float(stop)
        self.velocity = velocity
        self.watched = list(signals) if signals else [motor.readback]
        self._rows: list[dict[str, Any]] = []
        self._latest: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._move: Status | None = None
        self._saved_velocity: float | None = None
        self._callbacks: list[Any] = []

    def children(self) -> Iterator[tuple[str, Device]]:
        return iter(())  # the motor belongs to the beamline, not to the flyer

    def kickoff(self) -> Status:
        """Go to ``start``, then start the move to ``stop``; done once the move has begun."""
        self.motor.check_value(self.start)
        self.motor.check_value(self.stop)
        return status_of(self._kickoff(), f"kickoff {self.name}")

    async def _kickoff(self) -> None:
        await self.motor.set(self.start)
        if self.velocity is not None:
            self._saved_velocity = float(await self.motor.velocity.get_value())
            await self.motor.velocity.put(self.velocity)
        with self._lock:
            self._rows, self._latest = [], {}
        for i, sig in enumerate(self.watched):
            cb = self._recorder(sig, pace=i == 0)
            self._callbacks.append((sig, cb))
            sig.subscribe(cb)
        self._move = self.motor.set(self.stop)

    def _recorder(self, sig: Signal, pace: bool) -> Any:
        def record(readings: Readings) -> None:
            with self._lock:
                self._latest.update(readings)
                if pace and len(self._latest) == len(self.watched):
                    reading = readings[sig.name]
                    self._rows.append({"time": reading["timestamp"],
                                       "data": {k: r["value"] for k, r in self._latest.items()},
                                       "timestamps": {k: r["timestamp"] for k, r in self._latest.items()}})

        return record

    def complete(self) -> Status:
        """Done when the motor has arrived at ``stop`` (monitors stop then)."""
        return status_of(self._complete(), f"complete {self.name}")

    async def _complete(self) -> None:
        if self._move is None:
            raise RuntimeError(f"{self.name}: complete() before kickoff()")
        try:
            await self._move
        finally:
            await asyncio.sleep(0.05)  # let the last monitor updates in
            for sig, cb in self._callbacks:
                sig.clear_sub(cb)
            self._callbacks = []
            self._move = None
            if self._saved_velocity is not None:
                await self.motor.velocity.put(self._saved_velocity)
                self._saved_velocity = None

    @on_shared_loop
    async def describe_collect(self) -> dict[str, Readings]:
        """``{name: data keys}``: one stream named after the flyer."""
        keys: Readings = {}
        for sig in self.watched:
            keys.update(await sig.describe())
        return {self.name: keys}

    def collect(self) -> Iterator[dict[str, Any]]:
        """The recorded events (``data``, ``timestamps``, ``time``), each once."""
        with self._lock:
            rows, self._rows = self._rows, []
        yield from rows
