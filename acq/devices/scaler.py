"""The scaler record as a detector: a preset-time count per trigger, named channels."""

from __future__ import annotations

from acq.devices.backends import CABackend
from acq.devices.device import Device, Signal
from acq.engine.status import Status


class Scaler(Device):
    """An EPICS scaler at ``prefix``; ``channels`` maps reading names to channel numbers.

    A channel named like the device itself reads under the device's name (``det``).
    """

    def __init__(self, prefix: str, channels: dict[str, int], name: str = "") -> None:
        self.prefix = prefix
        self.count = Signal(CABackend(f"{prefix}.CNT"), kind="omitted")
        self.preset_time = Signal(CABackend(f"{prefix}.TP"), kind="config")
        self.elapsed_time = Signal(CABackend(f"{prefix}.T"), kind="normal")
        self.channel_names = list(channels)
        for chan, number in channels.items():
            if not chan.isidentifier():
                raise ValueError(f"scaler channel name {chan!r} is not an identifier")
            setattr(self, chan, Signal(CABackend(f"{prefix}.S{int(number)}"), kind="hinted"))
        super().__init__(name=name)
        self.set_name(name)

    def set_name(self, name: str) -> None:
        """Name the device; a channel named like the device reads under the device's name."""
        super().set_name(name)
        if name in self.channel_names:
            getattr(self, name).set_name(name)

    def trigger(self) -> Status:
        """Count for the preset time; the status finishes when counting is done."""
        return Status(self.count.put(1, wait=True), name=f"count {self.name}")
