"""Standard beamline devices: shutter, beam status, slits, mirror, monochromator energy.

PV prefixes come from the beamline file only; the field suffixes below are the defaults,
and a profile may override them (``fields:`` for shutter and beam status, ``axes:`` for
compound motor devices).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, ClassVar

from acq.devices._async import on_shared_loop, status_of
from acq.devices.backends import CABackend, DerivedBackend
from acq.devices.completion import DEFAULT_MARGIN, complete_within
from acq.devices.device import Device, Signal
from acq.devices.motor import BackendFactory, LimitError, Motor
from acq.engine.status import Status

#: h·c in eV·Å, for E = hc / λ.
HC_EV_ANGSTROM = 12398.419843320026


class Shutter(Device):
    """A shutter: ``set('open' | 'close')`` writes the command and waits for the status to agree.

    Fields (suffixes of ``prefix``): ``command`` (default ``Shutter-Cmd``, 1 = open, 0 =
    close) and ``status`` (default ``Shutter-RB``, 1 = open), as the twin's beam-status IOC
    serves them; it reads as its status under its own name.
    """

    _named_as_parent = ("status",)
    FIELDS: ClassVar[dict[str, str]] = {"command": "Shutter-Cmd", "status": "Shutter-RB"}
    STATES: ClassVar[dict[Any, int]] = {"open": 1, "close": 0, "closed": 0, 1: 1, 0: 0}

    def __init__(self, prefix: str, name: str = "", *, fields: dict[str, str] | None = None,
                 timeout: float = 10.0, backend: BackendFactory = CABackend) -> None:
        f = {**self.FIELDS, **(fields or {})}
        self.prefix = prefix
        self.timeout = timeout
        self.status = Signal(backend(prefix + f["status"]), kind="hinted", read_only=True)
        self.command = Signal(backend(prefix + f["command"]), kind="omitted")
        super().__init__(name=name)
        self.set_name(name)

    def check_value(self, value: Any) -> None:
        """Accept only 'open', 'close' (or 1, 0)."""
        if isinstance(value, str):
            value = value.lower()
        if value not in self.STATES:
            raise ValueError(f"{self.name}: a shutter is set to 'open' or 'close', not {value!r}")

    def set(self, value: Any) -> Status:
        """Open or close; the status finishes once the shutter reports the new state."""
        self.check_value(value)
        target = self.STATES[value.lower() if isinstance(value, str) else value]
        return status_of(self._actuate(target), f"{self.name} → {value}")

    async def _actuate(self, target: int) -> None:
        await complete_within(self.command.put(target, wait=True), self.timeout, device=self.name,
                              pv=self.command.source, value=target, what=f"the command {target}")
        deadline = time.monotonic() + self.timeout
        while int(await self.status.get_value()) != target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: still not {'open' if target else 'closed'} after {self.timeout} s")
            await asyncio.sleep(0.01)


class BeamStatus(Device):
    """The storage ring as seen by the beamline: current (mA), beam-available flag, and the
    time to the next top-up (s), as the twin's beam-status IOC serves them."""

    FIELDS: ClassVar[dict[str, str]] = {"current": "Current-RB", "available": "BeamAvailable-RB",
                                        "countdown": "TopUpCountdown-RB"}

    def __init__(self, prefix: str, name: str = "", *, fields: dict[str, str] | None = None,
                 backend: BackendFactory = CABackend) -> None:
        f = {**self.FIELDS, **(fields or {})}
        self.prefix = prefix
        self.current = Signal(backend(prefix + f["current"]), kind="hinted", read_only=True)
        self.available = Signal(backend(prefix + f["available"]), kind="normal", read_only=True)
        self.countdown = Signal(backend(prefix + f["countdown"]), kind="normal", read_only=True)
        super().__init__(name=name)
        self.set_name(name)

    @on_shared_loop
    async def beam_ok(self, min_current: float = 0.0) -> bool:
        """Whether beam is available with at least ``min_current`` mA."""
        avail, current = await asyncio.gather(self.available.get_value(), self.current.get_value())
        return bool(avail) and float(current) >= min_current


class MotorBundle(Device):
    """A compound device built from motor records at ``prefix + suffix``, one per axis."""

    AXES: ClassVar[dict[str, str]] = {}

    def __init__(self, prefix: str, name: str = "", *, axes: dict[str, str] | None = None,
                 timeout_margin: float = DEFAULT_MARGIN, backend: BackendFactory = CABackend) -> None:
        self.prefix = prefix
        chosen = {**self.AXES, **(axes or {})}
        if not chosen:
            raise ValueError(f"{type(self).__name__} {name or prefix}: give at least one axis")
        self.axis_names = list(chosen)
        for axis, suffix in chosen.items():
            if not axis.isidentifier():
                raise ValueError(f"axis name {axis!r} is not an identifier")
            setattr(self, axis, Motor(prefix + suffix, timeout_margin=timeout_margin, backend=backend))
        super().__init__(name=name)
        self.set_name(name)

    def axis(self, name: str) -> Motor:
        """The motor of axis ``name``."""
        if name not in self.axis_names:
            raise KeyError(f"{self.name} has no axis {name!r} (it has {self.axis_names})")
        motor: Motor = getattr(self, name)
        return motor

    @on_shared_loop
    async def connect(self, timeout: float = 5.0) -> None:
        """Connect every motor; cache their limits."""
        await super().connect(timeout)
        await asyncio.gather(*(self.axis(a).refresh_limits() for a in self.axis_names))


class Slits(MotorBundle):
    """Slits as gap and centre motors, horizontal and vertical."""

    AXES: ClassVar[dict[str, str]] = {"hgap": "hgap", "hcen": "hcen", "vgap": "vgap", "vcen": "vcen"}


class Mirror(MotorBundle):
    """A mirror on pitch, height and lateral motors."""

    AXES: ClassVar[dict[str, str]] = {"pitch": "pitch", "y": "y", "x": "x"}


class MonoEnergy(Device):
    """Monochromator energy (eV) as a pseudo-positioner over the Bragg-angle motor (degrees).

    ``E = hc / (2 d sin θ)`` for a crystal of lattice spacing ``d_spacing`` (Å; Si(111) by
    default). ``set(E)`` checks the angle against the Bragg motor's limits before moving;
    it reads as the energy under its own name, and the angle as ``<name>_bragg``.
    """

    _named_as_parent = ("energy",)

    def __init__(self, prefix: str, name: str = "", *, d_spacing: float = 3.1356, bragg: str = "bragg",
                 timeout_margin: float = DEFAULT_MARGIN, backend: BackendFactory = CABackend) -> None:
        if not d_spacing > 0:
            raise ValueError(f"mono {name or prefix}: d_spacing must be > 0 Å, got {d_spacing}")
        self.prefix = prefix
        self.d_spacing = float(d_spacing)
        self.bragg = Motor(prefix + bragg, timeout_margin=timeout_margin, backend=backend)
        self.energy = Signal(DerivedBackend(self.bragg.readback.backend, self.energy_of, units="eV",
                                            precision=2, name="energy"), kind="hinted", read_only=True)
        super().__init__(name=name)
        self.set_name(name)

    def energy_of(self, theta_deg: float) -> float:
        """Energy (eV) at Bragg angle ``theta_deg``."""
        s = math.sin(math.radians(float(theta_deg)))
        return HC_EV_ANGSTROM / (2 * self.d_spacing * s) if s > 0 else math.inf

    def angle_of(self, energy_ev: float) -> float:
        """Bragg angle (degrees) for ``energy_ev``; ``ValueError`` if the crystal cannot reach it."""
        e = float(energy_ev)
        ratio = HC_EV_ANGSTROM / (2 * self.d_spacing * e) if e > 0 else math.inf
        if not 0 < ratio < 1:
            emin = HC_EV_ANGSTROM / (2 * self.d_spacing)
            raise LimitError(f"{self.name}: {energy_ev} eV is below the crystal's minimum {emin:.1f} eV")
        return math.degrees(math.asin(ratio))

    @on_shared_loop
    async def connect(self, timeout: float = 5.0) -> None:
        """Connect the Bragg motor and cache its limits."""
        await super().connect(timeout)
        await self.bragg.refresh_limits()

    def check_value(self, value: float) -> None:
        """Raise ``LimitError`` if ``value`` eV needs an angle outside the Bragg motor's limits."""
        try:
            self.bragg.check_value(self.angle_of(value))
        except LimitError as exc:
            raise LimitError(f"{self.name}: {value} eV cannot be reached: {exc}") from None

    def set(self, value: float, timeout: float | None = None) -> Status:
        """Move to ``value`` eV by moving the Bragg angle."""
        self.check_value(value)
        return self.bragg.set(self.angle_of(value), timeout=timeout)

    @on_shared_loop
    async def locate(self) -> dict[str, Any]:
        """Setpoint and readback in eV."""
        where = await self.bragg.locate()
        return {k: self.energy_of(v) for k, v in where.items()}

    def stop(self, *, success: bool = False) -> Any:
        """Stop the Bragg motor."""
        return self.bragg.stop(success=success)
