"""The motor record as a device: set with put-completion, limits checked before moving."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from acq.devices._async import on_shared_loop, status_of
from acq.devices.backends import Backend, CABackend, SoftBackend
from acq.devices.completion import DEFAULT_MARGIN, complete_within, deadline
from acq.devices.device import Device, Signal
from acq.engine.status import Status

BackendFactory = Callable[[str], Backend]

#: Seconds a move may take when the motor reports no usable speed (VELO ≤ 0), before the margin.
UNKNOWN_SPEED_ESTIMATE = 60.0


class LimitError(ValueError):
    """A requested position lies outside a motor's soft limits."""


class MoveFailed(RuntimeError):
    """A move whose put completed but whose motor did not get there (a stall, a limit switch)."""


# motor record MSTA bits a finished move is judged by (drvMotor.h)
MSTA_PLUS_LS, MSTA_SLIP_STALL, MSTA_PROBLEM, MSTA_MINUS_LS = 1 << 2, 1 << 6, 1 << 9, 1 << 13


def check_position(name: str, value: Any, limits: tuple[float, float] | None) -> None:
    """Raise naming ``name`` if ``value`` is not a number (``TypeError``), is NaN (``ValueError``) or
    lies outside ``limits`` (``LimitError``; None or (0, 0): no limits, as in the motor record)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: position {value!r} is not a number") from None
    if v != v:
        raise ValueError(f"{name}: position is NaN")
    if limits is None or limits[0] == limits[1] == 0.0:
        return
    low, high = limits
    if not low <= v <= high:
        raise LimitError(f"{name}: position {value} is outside the limits [{low}, {high}]")


class Motor(Device):
    """An EPICS motor record at ``prefix``: reads as its readback, moves with put-completion.

    ``put_completion=False`` falls back to watching DMOV (done moving) after a plain put,
    for IOCs whose motor record does not complete puts. ``backend`` makes the backend of
    each field from its PV name (Channel Access by default; see ``soft_motor``).

    Every move has a deadline: ``|target - position| / VELO + 2·ACCL + timeout_margin`` seconds
    (at least 5 s; VELO and ACCL as read at connect, the position the last target reached);
    when it passes, VELO, ACCL and RBV are read again and the move gets one extension if they
    say so, then its status fails with ``PutTimeout``. ``timeout`` fixes the deadline instead.

    ``monitor_readback=True`` keeps RBV, VAL, LVIO and MSTA current by CA monitors, so a move and its
    reading cost one put with completion and no reads: for a motor record that posts them before
    its put completes (as an IOC does, and the twin).
    """

    _named_as_parent = ("readback",)

    def __init__(self, prefix: str, name: str = "", *, put_completion: bool = True, timeout: float | None = None,
                 timeout_margin: float = DEFAULT_MARGIN, monitor_readback: bool = False,
                 backend: BackendFactory = CABackend) -> None:
        if timeout is not None and not timeout > 0:
            raise ValueError(f"motor {name or prefix}: timeout must be > 0 s, got {timeout}")
        if not timeout_margin >= 0:
            raise ValueError(f"motor {name or prefix}: timeout_margin must be ≥ 0 s, got {timeout_margin}")
        self.prefix = prefix
        self.put_completion = put_completion
        self.timeout = timeout
        self.timeout_margin = float(timeout_margin)
        self._speed: tuple[float, float] = (0.0, 0.0)  # VELO, ACCL as last read
        self._position: float | None = None  # where the last move ended (None: unknown, read RBV)
        self.readback = Signal(backend(f"{prefix}.RBV"), kind="hinted", read_only=True)
        self.setpoint = Signal(backend(prefix), kind="normal")
        self.velocity = Signal(backend(f"{prefix}.VELO"), kind="config")
        self.acceleration_time = Signal(backend(f"{prefix}.ACCL"), kind="config")
        self.high_limit = Signal(backend(f"{prefix}.HLM"), kind="config")
        self.low_limit = Signal(backend(f"{prefix}.LLM"), kind="config")
        self.retry_deadband = Signal(backend(f"{prefix}.RDBD"), kind="config")
        self.units = Signal(backend(f"{prefix}.EGU"), kind="omitted")
        self.done_moving = Signal(backend(f"{prefix}.DMOV"), kind="omitted", read_only=True)
        self.motor_stop = Signal(backend(f"{prefix}.STOP"), kind="omitted")
        self.limit_violation = Signal(backend(f"{prefix}.LVIO"), kind="omitted", read_only=True)
        self.status_bits = Signal(backend(f"{prefix}.MSTA"), kind="omitted", read_only=True)
        self.monitor_readback = monitor_readback
        if monitor_readback:  # what every move reads after its completion, kept current by CA monitors
            for signal in (self.readback, self.setpoint, self.limit_violation, self.status_bits):
                if isinstance(signal.backend, CABackend):
                    signal.backend.monitor = True
        super().__init__(name=name)
        self._limits: tuple[float, float] = (0.0, 0.0)
        self.set_name(name)

    @on_shared_loop
    async def connect(self, timeout: float = 5.0) -> None:
        """Connect every field and cache the soft limits."""
        await super().connect(timeout)
        await self.refresh_limits()

    @on_shared_loop
    async def refresh_limits(self) -> tuple[float, float]:
        """Read LLM/HLM again (they may change at any time on the IOC), and VELO/ACCL for deadlines."""
        low, high, velo, accl = await asyncio.gather(self.low_limit.get_value(), self.high_limit.get_value(),
                                                     self.velocity.get_value(), self.acceleration_time.get_value())
        self._limits = (float(low), float(high))
        self._speed = (float(velo), float(accl))
        return self._limits

    def move_estimate(self, distance: float, velocity: float, acceleration_time: float) -> float:
        """Seconds a move of ``distance`` should take: at speed, plus ramping up and down."""
        travel = abs(distance) / velocity if velocity > 0 else UNKNOWN_SPEED_ESTIMATE
        return travel + 2 * max(acceleration_time, 0.0)

    async def move_timeout(self, value: float) -> float:
        """The deadline (s) of a move to ``value`` from where the motor is thought to be."""
        if self.timeout is not None:
            return self.timeout
        if self._position is None:
            self._position = float(await self.readback.get_value())
        return deadline(self.move_estimate(value - self._position, *self._speed), self.timeout_margin)

    async def _fresh_timeout(self, value: float, started: float) -> float:
        """A second deadline (s from the start) from fresh VELO, ACCL and RBV: the time gone by plus
        what is left of the move."""
        velo, accl, here = await asyncio.gather(self.velocity.get_value(), self.acceleration_time.get_value(),
                                                self.readback.get_value())
        self._speed = (float(velo), float(accl))
        left = self.move_estimate(value - float(here), *self._speed)
        return time.monotonic() - started + deadline(left, self.timeout_margin)

    @property
    def limits(self) -> tuple[float, float]:
        """(low, high) soft limits; (0, 0) means none, as in the motor record."""
        return self._limits

    def check_value(self, value: float) -> None:
        """Raise ``LimitError`` naming the motor if ``value`` lies outside its limits."""
        check_position(self.name, value, self._limits)

    def set(self, value: float, timeout: float | None = None) -> Status:
        """Move to ``value``; the status finishes when the motor record's put completes, or fails
        with ``PutTimeout`` once ``timeout`` s (default: the computed deadline) have passed."""
        self.check_value(value)
        return status_of(self._move(float(value), timeout), f"move {self.name}")

    async def _move(self, value: float, timeout: float | None) -> None:
        move = self.setpoint.put(value, wait=True) if self.put_completion else self._move_by_dmov(value)
        if isinstance(self.setpoint.write_backend, SoftBackend):  # a soft move ends at once
            await move
        else:
            await self._move_within(move, value, timeout)
        lvio, msta = await asyncio.gather(self.limit_violation.get_value(), self.status_bits.get_value())
        if lvio:
            raise LimitError(f"{self.name}: the IOC refused {value} (LVIO): limits are {await self.refresh_limits()}")
        if int(msta) & (MSTA_SLIP_STALL | MSTA_PROBLEM | MSTA_PLUS_LS | MSTA_MINUS_LS):
            await self._judge_end(value, int(msta))
        self._position = value

    async def _judge_end(self, value: float, msta: int) -> None:
        """Raise ``MoveFailed`` if the move ended short of ``value`` on a stall or a limit switch
        (MSTA), as ophyd fails an EpicsMotor move that ends in alarm; a motor resting on a switch
        at its target is fine."""
        here, rdbd = (float(v) for v in await asyncio.gather(self.readback.get_value(),
                                                               self.retry_deadband.get_value()))
        self._position = None
        why = ("the motor stalled" if msta & (MSTA_SLIP_STALL | MSTA_PROBLEM)
               else "it hit the high limit switch" if msta & MSTA_PLUS_LS else "it hit the low limit switch")
        if msta & (MSTA_SLIP_STALL | MSTA_PROBLEM) or abs(here - value) > max(abs(rdbd), 1e-9):
            raise MoveFailed(f"{self.name}: the move to {value} ended at {here}: {why} (MSTA {msta:#06x})")
        self._position = value

    async def _move_within(self, move: Coroutine[Any, Any, None], value: float, timeout: float | None) -> None:
        """Await ``move`` until its deadline (``timeout`` or the computed one, extended once)."""
        started = time.monotonic()
        try:
            limit = timeout if timeout is not None else await self.move_timeout(value)
        except BaseException:
            move.close()
            raise
        recheck = None if timeout is not None or self.timeout is not None else (
            lambda: self._fresh_timeout(value, started))
        self._position = None  # unknown until the move ends
        await complete_within(move, limit - (time.monotonic() - started), device=self.name,
                              pv=self.setpoint.source, value=value, what=f"the move to {value}",
                              recheck=recheck)

    async def _move_by_dmov(self, value: float) -> None:
        """Put without completion, then wait for DMOV to drop (or the move to be tiny) and rise."""
        await self.setpoint.put(value, wait=False)
        started = False
        t0 = time.monotonic()
        while True:
            done = int(await self.done_moving.get_value())
            if not done:
                started = True
            elif started or time.monotonic() - t0 > 0.05:
                return
            await asyncio.sleep(0.005)

    @on_shared_loop
    async def stop(self, *, success: bool = False) -> None:
        """Halt the motion at once."""
        await self.motor_stop.put(1, wait=False)

    @on_shared_loop
    async def locate(self) -> dict[str, Any]:
        """``{'setpoint', 'readback'}`` as Bluesky's Locatable protocol says."""
        sp, rb = await asyncio.gather(self.setpoint.get_value(), self.readback.get_value())
        return {"setpoint": sp, "readback": rb}

    @property
    def position(self) -> float:
        """The readback, read now (blocking; for scripts and ophyd-style plans)."""
        from acq.loop import call_in_loop

        return float(call_in_loop(self.readback.get_value()))


def soft_motor(name: str, position: float = 0.0, *, limits: tuple[float, float] = (0.0, 0.0),
               velocity: float = 1.0, acceleration_time: float = 0.0, egu: str = "mm") -> Motor:
    """A motor over soft in-memory fields whose readback follows its setpoint at once."""
    values: dict[str, Any] = {"": position, ".RBV": position, ".VELO": velocity, ".ACCL": acceleration_time,
                              ".HLM": limits[1], ".LLM": limits[0], ".RDBD": 0.0, ".EGU": egu,
                              ".DMOV": 1, ".STOP": 0, ".LVIO": 0, ".MSTA": 0}
    made: dict[str, SoftBackend] = {}

    def factory(pv: str) -> Backend:
        field = pv[len(name):]
        backend = SoftBackend(values[field], source=f"soft://{pv}", units=egu if field in ("", ".RBV") else None)
        made[field] = backend
        return backend

    motor = Motor(name, name, backend=factory)
    readback = made[".RBV"]
    made[""].on_put = readback.set_now
    motor._limits = limits
    motor._speed = (velocity, acceleration_time)
    return motor
