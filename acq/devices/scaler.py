"""The scaler record as a detector: a preset-time count per trigger, named channels."""

from __future__ import annotations

from acq.devices._async import on_shared_loop, status_of
from acq.devices.backends import CABackend
from acq.devices.completion import DEFAULT_MARGIN, complete_within, deadline
from acq.devices.device import Device, Signal
from acq.devices.motor import BackendFactory
from acq.engine.status import Status


class Scaler(Device):
    """An EPICS scaler at ``prefix``; ``channels`` maps reading names to channel numbers.

    A channel named like the device itself reads under the device's name (``det``).
    Triggering puts CNT=1 and completes when the IOC says counting is done, within
    ``TP + timeout_margin`` s (TP as read at connect; read again once before giving up) or
    ``timeout`` s if given; otherwise its status fails with ``PutTimeout``.
    """

    def __init__(self, prefix: str, channels: dict[str, int], name: str = "", *, timeout: float | None = None,
                 timeout_margin: float = DEFAULT_MARGIN, backend: BackendFactory = CABackend) -> None:
        if timeout is not None and not timeout > 0:
            raise ValueError(f"scaler {name or prefix}: timeout must be > 0 s, got {timeout}")
        if not timeout_margin >= 0:
            raise ValueError(f"scaler {name or prefix}: timeout_margin must be ≥ 0 s, got {timeout_margin}")
        self.prefix = prefix
        self.timeout = timeout
        self.timeout_margin = float(timeout_margin)
        self._preset = 0.0  # TP as last read
        self.count = Signal(backend(f"{prefix}.CNT"), kind="omitted")
        self.preset_time = Signal(backend(f"{prefix}.TP"), kind="config")
        self.elapsed_time = Signal(backend(f"{prefix}.T"), kind="normal", read_only=True)
        if not channels:
            raise ValueError(f"scaler {name or prefix}: give at least one channel")
        self.channel_names = list(channels)
        for chan, number in channels.items():
            if not chan.isidentifier():
                raise ValueError(f"scaler channel name {chan!r} is not an identifier")
            if hasattr(self, chan):
                raise ValueError(f"scaler channel name {chan!r} clashes with a field of the scaler")
            setattr(self, chan, Signal(backend(f"{prefix}.S{int(number)}"), kind="hinted", read_only=True))
        super().__init__(name=name)
        self.set_name(name)

    def set_name(self, name: str) -> None:
        """Name the device; a channel named like the device reads under the device's name."""
        super().set_name(name)
        if name in self.channel_names:
            getattr(self, name).set_name(name)

    @on_shared_loop
    async def connect(self, timeout: float = 5.0) -> None:
        """Connect every channel and note the preset time (for the trigger's deadline)."""
        await super().connect(timeout)
        self._preset = float(await self.preset_time.get_value())

    def trigger(self) -> Status:
        """Count for the preset time; the status finishes when counting is done (or fails with
        ``PutTimeout`` once the deadline has passed)."""
        return status_of(self._count(), f"count {self.name}")

    async def _fresh_timeout(self) -> float:
        self._preset = float(await self.preset_time.get_value())
        return deadline(self._preset, self.timeout_margin)

    async def _count(self) -> None:
        fixed = self.timeout is not None
        limit = self.timeout if self.timeout is not None else deadline(self._preset, self.timeout_margin)
        await complete_within(self.count.put(1, wait=True), limit, device=self.name, pv=self.count.source, value=1,
                              what="counting", recheck=None if fixed else self._fresh_timeout)
