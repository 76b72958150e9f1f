"""Devices that are plain PVs: a setpoint/readback positioner and a point detector.

``Positioner`` is ophyd's ``EpicsSignal(read_pv, write_pv=…, put_complete=True)``: ``set``
writes the setpoint and finishes with the put's completion, ``read`` reports the readback
(a fresh CA read each time, or with ``monitor_readback`` the latest update of a CA monitor, as
ophyd's ``auto_monitor``). ``PointDetector`` is ``EpicsSignalRO``: one value, read fresh.
"""

from __future__ import annotations

from typing import Any, ClassVar

from acq.devices._async import on_shared_loop
from acq.devices.backends import CABackend
from acq.devices.device import Signal
from acq.devices.motor import BackendFactory, check_position
from acq.engine.status import Status


class Positioner(Signal):
    """A setpoint/readback pair at ``prefix + fields['setpoint']`` / ``prefix + fields['readback']``
    (defaults ``Pos-SP`` / ``Pos-RB``, as the twin serves them). Targets are checked against the
    setpoint's control limits (when the IOC gives any) before anything moves. A move that has not
    completed after ``timeout`` s (it knows no speed to estimate from) fails with ``PutTimeout``.

    With ``monitor_readback`` the readback is kept current by a CA monitor and a read costs no
    round trip. Only for IOCs that post the readback's monitor before the put completion (the
    twin does, and sends queued monitors before a put completion on the same connection), so a
    read right after ``set`` finishes sees the position after the move; an IOC whose readback
    lags its put completion needs fresh reads (the default)."""

    #: Seconds a move may take unless the profile says ``timeout``.
    DEFAULT_TIMEOUT = 30.0

    FIELDS: ClassVar[dict[str, str]] = {"setpoint": "Pos-SP", "readback": "Pos-RB"}

    def __init__(self, prefix: str, name: str = "", *, fields: dict[str, str] | None = None,
                 timeout: float = DEFAULT_TIMEOUT, backend: BackendFactory = CABackend,
                 monitor_readback: bool = False) -> None:
        if not timeout > 0:
            raise ValueError(f"positioner {name or prefix}: timeout must be > 0 s, got {timeout}")
        f = {**self.FIELDS, **(fields or {})}
        self.prefix = prefix
        self.put_timeout = float(timeout)
        self._limits: tuple[float, float] | None = None
        readback = backend(prefix + f["readback"])
        if monitor_readback and isinstance(readback, CABackend):  # other backends read without a round trip
            readback.monitor = True
        self.monitor_readback = monitor_readback
        super().__init__(readback, write_backend=backend(prefix + f["setpoint"]), name=name, kind="hinted")

    @on_shared_loop
    async def connect(self, timeout: float = 5.0) -> None:
        """Connect both PVs and fetch the setpoint's limits."""
        await super().connect(timeout)
        assert self.write_backend is not None
        self._limits = (await self.write_backend.metadata(timeout)).limits

    @property
    def limits(self) -> tuple[float, float] | None:
        """The setpoint's control limits (low, high), if the IOC sets any."""
        return self._limits

    def check_value(self, value: Any) -> None:
        """Raise ``LimitError`` naming the positioner if ``value`` lies outside its limits."""
        check_position(self.name, value, self._limits)

    def set(self, value: Any, wait: bool = True, timeout: float | None = None) -> Status:
        """Move to ``value`` (checked against the limits first); the status finishes on arrival,
        or fails with ``PutTimeout`` after ``timeout`` s (default: the device's ``timeout``, kept as
        ``put_timeout``)."""
        self.check_value(value)
        return super().set(value, wait, timeout)


class PointDetector(Signal):
    """One readable value at ``prefix + fields['value']`` (default ``Rate-RB``), read fresh."""

    FIELDS: ClassVar[dict[str, str]] = {"value": "Rate-RB"}

    def __init__(self, prefix: str, name: str = "", *, fields: dict[str, str] | None = None,
                 backend: BackendFactory = CABackend) -> None:
        f = {**self.FIELDS, **(fields or {})}
        self.prefix = prefix
        super().__init__(backend(prefix + f["value"]), name=name, kind="hinted", read_only=True)
