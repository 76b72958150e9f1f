"""The scaler record as a detector: a preset-time count per trigger, named channels."""

from __future__ import annotations

from acq.devices._async import status_of
from acq.devices.backends import CABackend
from acq.devices.device import Device, Signal
from acq.devices.motor import BackendFactory
from acq.engine.status import Status


class Scaler(Device):
    """An EPICS scaler at ``prefix``; ``channels`` maps reading names to channel numbers.

    A channel named like the device itself reads under the device's name (``det``).
    Triggering puts CNT=1 and completes when the IOC says counting is done.
    """

    def __init__(self, prefix: str, channels: dict[str, int], name: str = "", *,
                 backend: BackendFactory = CABackend) -> None:
        self.prefix = prefix
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

    def trigger(self) -> Status:
        """Count for the preset time; the status finishes when counting is done."""
        return status_of(self.count.put(1, wait=True), f"count {self.name}")
