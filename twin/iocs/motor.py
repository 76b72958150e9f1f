"""A motor record (EPICS ``motor``) served by caproto and driven by a physics ``Axis``.

The axis works in dial coordinates; the record maps them to user coordinates as the real
record does: ``user = dial·(DIR Pos: +1, Neg: −1) + OFF``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

from caproto import AlarmSeverity, AlarmStatus
from caproto.server import PVGroup, pvproperty

from twin.iocs.fields import TIMER_GRANULARITY, OwnLimitsDouble, post, wait_wall
from twin.physics import Axis, SimClock

#: Wall seconds between readback updates while a motor moves.
TICK = 0.02

# MSTA bits (motor record, drvMotor.h)
MSTA_DIRECTION = 1 << 0
MSTA_DONE = 1 << 1
MSTA_PLUS_LS = 1 << 2
MSTA_HOMELS = 1 << 3
MSTA_POSITION = 1 << 5
MSTA_SLIP_STALL = 1 << 6
MSTA_HOME = 1 << 7
MSTA_PRESENT = 1 << 8
MSTA_PROBLEM = 1 << 9
MSTA_MOVING = 1 << 10
MSTA_GAIN_SUPPORT = 1 << 11
MSTA_MINUS_LS = 1 << 13
MSTA_HOMED = 1 << 14

SPMG_STOP, SPMG_PAUSE, SPMG_MOVE, SPMG_GO = range(4)

MoveHook = Callable[[float, float], Awaitable[None]]


#: VAL as the motor record treats it: a put beyond HLM/LLM sets LVIO, not a CA error.
_MotorValue = OwnLimitsDouble


def _enum_index(value: Any, strings: tuple[str, ...]) -> int:
    if isinstance(value, str):
        return strings.index(value)
    return int(value)


class MotorRecord(PVGroup):
    """One motor record at ``prefix``: ``prefix`` is VAL, ``prefix.RBV`` the readback, etc."""

    motor = pvproperty(
        value=0.0, name="", record="motor", precision=3, dtype=_MotorValue, doc="motor"
    )

    def __init__(self, *args: Any, axis: Axis, clock: SimClock, egu: str = "mm", precision: int = 3,
                 description: str = "", on_move: MoveHook | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.axis = axis
        self.clock = clock
        self.egu = egu
        self.precision = precision
        self.description = description
        self.on_move = on_move
        self._wake = asyncio.Event()
        self._move_lock = asyncio.Lock()
        self._homed = False
        self._moving_task: asyncio.Task[Any] | None = None
        self._jog_task: asyncio.Task[Any] | None = None
        self._generation = 0  # counts requests and stops: retries belong to one request

    @property
    def fields(self) -> Any:
        """The record's field PVs (caproto ``MotorFields``)."""
        return self.motor.field_inst

    # -- coordinates -------------------------------------------------------------------------
    @property
    def sign(self) -> float:
        """+1 when DIR is Pos, −1 when Neg."""
        return -1.0 if _enum_index(self.fields.user_direction.value, ("Pos", "Neg")) else 1.0

    @property
    def offset(self) -> float:
        """OFF, the user offset."""
        return float(self.fields.user_offset.value)

    def to_user(self, dial: float) -> float:
        """User coordinate of dial position ``dial``."""
        return self.sign * dial + self.offset

    def to_dial(self, user: float) -> float:
        """Dial coordinate of user position ``user``."""
        return (user - self.offset) * self.sign

    def _mres(self) -> float:
        return abs(float(self.fields.motor_step_size.value)) or 1e-4

    def _eres(self) -> float:
        return abs(float(self.fields.encoder_step_size.value)) or self._mres()

    def _use_encoder(self) -> bool:
        return _enum_index(self.fields.use_encoder_if_present.value, ("No", "Yes")) == 1

    def readback_dial(self, t: float) -> float:
        """The dial readback at ``t``: the encoder on the load (quantised to ERES) if UEIP is Yes,
        else the motor's own position."""
        if self._use_encoder():
            return round(self.axis.load_position(t) / self._eres()) * self._eres()
        return self.axis.position(t)

    def _spmg(self) -> int:
        return _enum_index(self.fields.stop_pause_move_go.value, ("Stop", "Pause", "Move", "Go"))

    # -- publishing ---------------------------------------------------------------------------
    @motor.startup
    async def motor(self, instance: Any, async_lib: Any) -> None:
        """Publish the initial state of the axis."""
        f = self.fields
        await post(f.engineering_units, self.egu)
        await post(f.description, self.description)
        await post(f.velocity, self.axis.velocity)
        await post(f.max_velocity, self.axis.velocity * 10)
        await post(f.base_velocity, 0.0)
        await post(f.seconds_to_velocity, self.axis.accel_time)
        await post(f.motor_step_size, 1e-4)
        await post(f.retry_deadband, 1e-4)
        await post(f.encoder_step_size, 1e-4)
        await post(f.stop_pause_move_go, "Go")
        await post(f.enable_control, "Enable")
        await post(f.display_precision, self.precision)
        await self._apply_precision(self.precision)
        await self._publish_limits()
        pos = self.to_user(self.axis.position(self.clock.now()))
        await post(instance, pos)
        await post(f.dial_desired_value, self.to_dial(pos))
        await self._publish_state(self.clock.now())

    async def _apply_precision(self, prec: int) -> None:
        f = self.fields
        for pv in (self.motor, f.user_readback_value, f.dial_readback_value, f.dial_desired_value,
                   f.user_offset, f.user_high_limit, f.user_low_limit, f.dial_high_limit, f.dial_low_limit,
                   f.velocity, f.max_velocity, f.base_velocity, f.retry_deadband, f.difference_dval_drbv):
            await pv.write_metadata(precision=prec, units=self.egu if pv is not f.velocity else f"{self.egu}/s")

    async def _publish_limits(self) -> None:
        """Write DHLM/DLLM from the axis and HLM/LLM in user coordinates; set VAL/RBV ctrl limits."""
        f = self.fields
        dlo, dhi = self.axis.low_limit, self.axis.high_limit
        ulo, uhi = sorted((self.to_user(dlo), self.to_user(dhi)))
        await post(f.dial_low_limit, dlo)
        await post(f.dial_high_limit, dhi)
        await post(f.user_low_limit, ulo)
        await post(f.user_high_limit, uhi)
        for pv in (self.motor, f.user_readback_value):
            await pv.write_metadata(lower_ctrl_limit=ulo, upper_ctrl_limit=uhi,
                                    lower_disp_limit=ulo, upper_disp_limit=uhi)

    async def _set_alarm(self, status: AlarmStatus, severity: AlarmSeverity) -> None:
        """The record's alarm: on VAL and every field (as EPICS reports it), and in STAT/SEVR.

        Field writes skip caproto's verification, which would reset the shared field alarm.
        """
        f = self.fields
        if f.user_readback_value.alarm.severity == severity and f.user_readback_value.alarm.status == status:
            return
        await self.motor.alarm.write(status=status, severity=severity)  # STAT/SEVR follow this one
        await f.user_readback_value.alarm.write(status=status, severity=severity)

    def _msta(self, t: float, moving: bool) -> int:
        ax = self.axis
        bits = MSTA_PRESENT | MSTA_GAIN_SUPPORT
        if self.fields.direction_of_travel.value:
            bits |= MSTA_DIRECTION
        bits |= MSTA_MOVING if moving else MSTA_DONE
        if ax.on_high_switch(t):
            bits |= MSTA_PLUS_LS
        if ax.on_low_switch(t):
            bits |= MSTA_MINUS_LS
        if abs(ax.position(t) - ax.home) < self._mres():
            bits |= MSTA_HOMELS
        if self._homed:
            bits |= MSTA_HOMED
        if ax.stalled or ax.halt_reason == "stall":
            bits |= MSTA_SLIP_STALL | MSTA_PROBLEM
        return bits

    async def _publish_position(self, t: float) -> None:
        """RBV/DRBV/RRBV/DIFF from the readback source (UEIP), RMP from the motor, REP from the encoder."""
        f = self.fields
        steps = round(self.axis.position(t) / self._mres())
        encoder = round(self.axis.load_position(t) / self._eres())
        dial = self.readback_dial(t)
        await post(f.raw_motor_position, steps)
        await post(f.raw_encoder_position, encoder)
        await post(f.user_readback_value, self.to_user(dial))
        await post(f.dial_readback_value, dial)
        await post(f.raw_readback_value, encoder if self._use_encoder() else steps)
        await post(f.difference_dval_drbv, float(f.dial_desired_value.value) - dial)

    async def _publish_state(self, t: float) -> None:
        """Positions, switches, MSTA and alarms at rest."""
        f = self.fields
        await self._publish_position(t)
        hls, lls = self.axis.on_high_switch(t), self.axis.on_low_switch(t)
        # the record's HLS/LLS are in user direction
        if self.sign < 0:
            hls, lls = lls, hls
        await post(f.user_high_limit_switch, int(hls))
        await post(f.user_low_limit_switch, int(lls))
        await post(f.motor_status, self._msta(t, moving=False))
        if self.axis.halt_reason == "stall":
            await self._set_alarm(AlarmStatus.STATE, AlarmSeverity.MAJOR_ALARM)
        elif hls or lls:
            await self._set_alarm(AlarmStatus.HWLIMIT, AlarmSeverity.MAJOR_ALARM)
        else:
            await self._set_alarm(AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM)

    async def _pulse_dmov(self) -> None:
        """DMOV 1→0→1: a request that ends at once (a null move, a refused or held one)."""
        dmov = self.fields.done_moving_to_value
        await dmov.write(0, verify_value=False)
        await dmov.write(1, verify_value=False)

    # -- motion -------------------------------------------------------------------------------
    async def _run(self, start: Callable[[float], object], velocity: float | None = None,
                   accel_time: float | None = None) -> tuple[float, float]:
        """Start motion with ``start(now)`` (at VELO/ACCL unless given) and follow it in simulated
        time until it ends; returns the simulated (start, rest) times. DMOV stays 0: the caller
        ends the whole request (backlash, retries included) with ``_finish``."""
        f = self.fields
        self._wake.clear()
        t_start = self.clock.now()
        velo = velocity or float(f.velocity.value) or self.axis.velocity
        vmax, vbas = float(f.max_velocity.value), float(f.base_velocity.value)
        if vmax > 0:
            velo = min(velo, vmax)
        self.axis.velocity = max(velo, vbas)
        accl = float(f.seconds_to_velocity.value) if accel_time is None else accel_time
        self.axis.accel_time = max(accl, 0.0)
        start(t_start)
        await self._set_alarm(AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM)
        await post(f.done_moving_to_value, 0)
        end_dial = self.axis.position(self.axis.end_time()) if self.axis.moving(t_start) else None
        if end_dial is not None:
            # TDIR is the raw (dial) direction, as in the record
            await post(f.direction_of_travel, int(end_dial >= self.axis.position(t_start)))
            await post(f.motor_is_moving, 1)
            await post(f.motor_status, self._msta(t_start, moving=True))
            while True:
                self.clock.advance_to(self.axis.end_time())  # a stepped clock jumps to the end
                now = self.clock.now()
                remaining = self.clock.wall_duration(self.axis.end_time() - now)
                if remaining <= 0:
                    break
                if await wait_wall(self._wake, min(TICK, remaining)):
                    self._wake.clear()
                if remaining >= TIMER_GRANULARITY:  # a tick, not a mere yield: readbacks follow
                    await self._publish_position(self.clock.now())
        t_now = self.clock.now()
        # the simulated moment the axis came to rest (DMOV reports it a scheduling delay later)
        t_rest = min(self.axis.end_time(), t_now) if end_dial is not None else t_start
        self.axis.settle(t_now)
        await post(f.motor_is_moving, 0)
        await self._publish_state(t_now)
        return t_start, t_rest

    async def _finish(self, t_start: float, t_rest: float) -> None:
        """The request is over: DMOV 1 (after the readbacks), and the twin's move record."""
        await post(self.fields.done_moving_to_value, 1)
        if self.on_move is not None:
            await self.on_move(t_start, t_rest)

    async def _retry(self, dial: float, generation: int) -> float:
        """The record's retries: while the readback misses DVAL by more than RDBD, move the motor
        by the error again, at most RTRY times (RCNT counts them; MISS when they run out).
        Only an encoder (UEIP) on a load with mechanical play can miss; returns the simulated time
        the last retry came to rest (-inf if none was needed: the move's own rest time stands)."""
        f = self.fields
        count, missed, t_rest = 0, 0, -math.inf
        deadband = max(float(f.retry_deadband.value), 0.5 * self._mres())
        # a STOP, a pause or a newer request (a new generation) ends the retries
        while self.axis.halt_reason == "" and generation == self._generation:
            error = dial - self.readback_dial(self.clock.now())
            if abs(error) <= deadband:
                break
            target = round((self.axis.position(self.clock.now()) + error) / self._mres()) * self._mres()
            if count >= int(f.max_retry_count.value) or not self.axis.within_limits(target):
                missed = 1
                break
            count += 1
            _, t_rest = await self._run(lambda t, x=target: self.axis.start_move(x, t))
        await post(f.retry_count, count)
        await post(f.ran_out_of_retries, missed)
        return t_rest

    async def _halted_at_val(self) -> None:
        """After a stop, VAL and DVAL follow the position where the motor came to rest."""
        here = self.axis.position(self.clock.now())
        await post(self.motor, self.to_user(here))
        await post(self.fields.dial_desired_value, here)

    async def request(self, user_target: float) -> float:
        """A new user target (VAL, DVAL or a resumed move); returns what VAL becomes."""
        f = self.fields
        self._generation += 1
        generation = self._generation
        old = float(self.motor.value)
        set_mode = _enum_index(f.set_use_switch.value, ("Use", "Set")) == 1
        if set_mode:
            return await self._calibrate(user_target)
        spmg = self._spmg()
        if spmg == SPMG_STOP:
            await self._pulse_dmov()
            return old
        dial = self.to_dial(user_target)
        mres = self._mres()
        dial = round(dial / mres) * mres
        if not self.axis.within_limits(dial):
            await post(f.limit_violation, 1)
            await self._pulse_dmov()
            return old
        await post(f.limit_violation, 0)
        await post(f.dial_desired_value, dial)
        if spmg == SPMG_PAUSE:
            await self._pulse_dmov()
            return user_target
        if self.axis.moving(self.clock.now()):
            self.axis.stop(self.clock.now())
            self._wake.set()
        async with self._move_lock:
            await post(self.motor, user_target)
            here = self.axis.position(self.clock.now())
            if abs(dial - here) <= max(float(f.retry_deadband.value), 0.5 * mres):
                await self._pulse_dmov()
                await self._publish_state(self.clock.now())
            else:
                bdst = float(f.bl_distance.value)
                if bdst != 0 and abs(dial - here) > abs(bdst):
                    # backlash takeout: go to DVAL − BDST, then approach in the BDST direction at BVEL
                    t_start, t_rest = await self._run(lambda t: self.axis.start_move(dial - bdst, t))
                    if self.axis.halt_reason == "":
                        bvel = float(f.bl_velocity.value) or None
                        _, t_rest = await self._run(lambda t: self.axis.start_move(dial, t), velocity=bvel)
                else:
                    t_start, t_rest = await self._run(lambda t: self.axis.start_move(dial, t))
                t_rest = max(t_rest, await self._retry(dial, generation))
                if self.axis.halt_reason:  # halted on a switch or by a stall: VAL follows RBV
                    await self._halted_at_val()
                    user_target = float(self.motor.value)
                await self._finish(t_start, t_rest)
            if self._spmg() == SPMG_MOVE:
                await post(f.stop_pause_move_go, "Pause")
        return user_target

    async def _calibrate(self, user_target: float) -> float:
        """SET mode: a new VAL redefines the position (OFF if FOFF is Variable, else the dial)."""
        f = self.fields
        now = self.clock.now()
        dial = self.axis.position(now)
        frozen = _enum_index(f.offset_freeze_switch.value, ("Variable", "Frozen")) == 1
        if frozen:
            new_dial = self.to_dial(user_target)
            shift = new_dial - dial
            self.axis.redefine(new_dial, now)
            self.axis.low_limit += shift
            self.axis.high_limit += shift
            await post(f.dial_desired_value, new_dial)
        else:
            await post(f.user_offset, user_target - self.sign * dial)
        await self._publish_limits()
        await self._pulse_dmov()
        await self._publish_state(now)
        return user_target

    async def _user_frame_changed(self) -> None:
        """OFF or DIR changed: VAL, RBV and HLM/LLM follow (the dial stays)."""
        f = self.fields
        await self._publish_limits()
        await post(self.motor, self.to_user(float(f.dial_desired_value.value)))
        await self._publish_state(self.clock.now())

    async def resync(self) -> None:
        """After a restore: limits, VAL and the readbacks follow the axis and the frame fields."""
        await self._publish_limits()
        here = self.axis.position(self.clock.now())
        await post(self.motor, self.to_user(here))
        await post(self.fields.dial_desired_value, here)
        await self._publish_state(self.clock.now())

    async def refresh(self) -> None:
        """Something outside the record (a fault) changed the axis: wake the move, or republish."""
        if self.axis.moving(self.clock.now()) or self._move_lock.locked():
            self._wake.set()
        else:
            await self._publish_state(self.clock.now())

    async def halt(self) -> None:
        """STOP: brake now; VAL becomes the position the motor stops at."""
        self._generation += 1
        now = self.clock.now()
        if self.axis.moving(now):
            self.axis.stop(now)
            self._wake.set()
            async with self._move_lock:
                pass
        await self._halted_at_val()

    async def home(self, forward: bool) -> None:
        """HOMF/HOMR: move to the home switch, then declare it the home position."""
        f = self.fields
        now = self.clock.now()
        target = self.axis.home
        here = self.axis.position(now)
        if (target > here) != forward and abs(target - here) > self._mres():
            # searching away from the switch: run to the soft limit in that direction first
            target = self.axis.high_limit if forward else self.axis.low_limit
        async with self._move_lock:
            t_start, t_rest = await self._run(lambda t: self.axis.start_move(target, t))
            off_home = abs(self.axis.position(self.clock.now()) - self.axis.home) > self._mres()
            if self.axis.halt_reason == "" and off_home:
                _, t_rest = await self._run(lambda t: self.axis.start_move(self.axis.home, t))
            if self.axis.halt_reason == "":
                self._homed = True
            await self._halted_at_val()
            await self._publish_state(self.clock.now())
            await self._finish(t_start, t_rest)
        await post(f.home_forward, 0)
        await post(f.home_reverse, 0)

    async def tweak(self, sign: int) -> None:
        """TWF/TWR: move by ±TWV from VAL (a request like a VAL put; completes when it ends)."""
        await self.request(float(self.motor.value) + sign * float(self.fields.tweak_step_size.value))

    def jog(self, forward: bool, on: bool) -> bool:
        """JOGF/JOGR 1 starts a jog towards the soft limit at JVEL (accelerating at JAR, else over
        ACCL), 0 brakes it; returns False when a jog start is ignored (the motor is busy)."""
        now = self.clock.now()
        if not on:
            self._generation += 1
            if self._jog_task is not None and not self._jog_task.done() and self.axis.moving(now):
                self.axis.stop(now)
                self._wake.set()
            return True
        if self._move_lock.locked() or self.axis.moving(now):
            return False
        self._jog_task = asyncio.create_task(self._jog(forward))
        return True

    async def _jog(self, forward: bool) -> None:
        f = self.fields
        dial_forward = forward == (self.sign > 0)
        target = self.axis.high_limit if dial_forward else self.axis.low_limit
        velo = float(f.jog_velocity.value) or float(f.velocity.value)
        jar = float(f.jog_accel.value)
        async with self._move_lock:
            t_start, t_rest = await self._run(lambda t: self.axis.start_move(target, t), velocity=velo,
                                              accel_time=velo / jar if jar > 0 else None)
            await self._halted_at_val()
            await post(f.jog_motor_forward if forward else f.jog_motor_reverse, 0)
            await self._finish(t_start, t_rest)

    # -- puts ---------------------------------------------------------------------------------
    @motor.putter
    async def motor(self, instance: Any, value: float) -> float:
        """A put to VAL: move in simulated time; the put completes when the move ends."""
        return await self.request(float(value))

    @motor.fields.dial_desired_value.putter
    async def motor(fields: Any, instance: Any, value: float) -> float:
        """DVAL: the target in dial coordinates; moves like VAL."""
        ioc: MotorRecord = fields.parent.group
        await ioc.request(ioc.to_user(float(value)))
        return float(ioc.fields.dial_desired_value.value)

    @motor.fields.stop.putter
    async def motor(fields: Any, instance: Any, value: int) -> int:
        """STOP=1 brakes the motion; the field reads back 0."""
        ioc: MotorRecord = fields.parent.group
        if value:
            await ioc.halt()
        return 0

    @motor.fields.stop_pause_move_go.putter
    async def motor(fields: Any, instance: Any, value: Any) -> Any:
        """SPMG: Stop brakes and VAL := RBV; Pause brakes and keeps VAL; Move/Go resume to VAL."""
        ioc: MotorRecord = fields.parent.group
        mode = _enum_index(value, ("Stop", "Pause", "Move", "Go"))
        if mode == SPMG_STOP:
            await ioc.halt()
        elif mode == SPMG_PAUSE:
            ioc._generation += 1
            now = ioc.clock.now()
            if ioc.axis.moving(now):
                ioc.axis.stop(now)
                ioc._wake.set()
        else:
            target = float(ioc.motor.value)
            here = ioc.to_user(ioc.axis.position(ioc.clock.now()))
            if abs(target - here) > max(float(ioc.fields.retry_deadband.value), ioc._mres()):
                await post(instance, value)
                ioc._moving_task = asyncio.create_task(ioc.request(target))
        return value

    @motor.fields.home_forward.putter
    async def motor(fields: Any, instance: Any, value: int) -> int:
        """HOMF=1: home search forward; the put completes when homed."""
        ioc: MotorRecord = fields.parent.group
        if value:
            await ioc.home(forward=True)
        return 0

    @motor.fields.home_reverse.putter
    async def motor(fields: Any, instance: Any, value: int) -> int:
        """HOMR=1: home search in reverse; the put completes when homed."""
        ioc: MotorRecord = fields.parent.group
        if value:
            await ioc.home(forward=False)
        return 0

    @motor.fields.velocity.putter
    async def motor(fields: Any, instance: Any, value: float) -> float:
        """VELO must be positive; clipped to [VBAS, VMAX]; it applies to the next move."""
        ioc: MotorRecord = fields.parent.group
        if not value > 0:
            raise ValueError(f"VELO must be > 0, got {value}")
        vmax, vbas = float(ioc.fields.max_velocity.value), float(ioc.fields.base_velocity.value)
        if vmax > 0:
            value = min(value, vmax)
        return max(value, vbas)

    @motor.fields.base_velocity.putter
    async def motor(fields: Any, instance: Any, value: float) -> float:
        """VBAS: the base speed, ≥ 0."""
        if value < 0:
            raise ValueError(f"VBAS must be ≥ 0, got {value}")
        return value

    @motor.fields.seconds_to_velocity.putter
    async def motor(fields: Any, instance: Any, value: float) -> float:
        """ACCL: seconds to reach VELO, ≥ 0."""
        if value < 0:
            raise ValueError(f"ACCL must be ≥ 0, got {value}")
        return value

    @motor.fields.motor_step_size.putter
    async def motor(fields: Any, instance: Any, value: float) -> float:
        """MRES: the step size; targets are rounded to it."""
        if value == 0 or not math.isfinite(value):
            raise ValueError(f"MRES must be non-zero, got {value}")
        return value

    @motor.fields.display_precision.putter
    async def motor(fields: Any, instance: Any, value: int) -> int:
        """PREC: the display precision of VAL, RBV and the other position fields."""
        ioc: MotorRecord = fields.parent.group
        await ioc._apply_precision(int(value))
        return value

    @motor.fields.tweak_motor_forward.putter
    async def motor(fields: Any, instance: Any, value: int) -> int:
        """TWF=1: tweak forward by TWV; the put completes when the move ends; reads back 0."""
        if value:
            await fields.parent.group.tweak(+1)
        return 0

    @motor.fields.tweak_motor_reverse.putter
    async def motor(fields: Any, instance: Any, value: int) -> int:
        """TWR=1: tweak in reverse by TWV; the put completes when the move ends; reads back 0."""
        if value:
            await fields.parent.group.tweak(-1)
        return 0

    @motor.fields.jog_motor_forward.putter
    async def motor(fields: Any, instance: Any, value: int) -> int:
        """JOGF: 1 jogs forward (towards the user high limit) until set to 0 or the limit is reached."""
        return int(bool(value)) if fields.parent.group.jog(True, bool(value)) else 0

    @motor.fields.jog_motor_reverse.putter
    async def motor(fields: Any, instance: Any, value: int) -> int:
        """JOGR: 1 jogs in reverse (towards the user low limit) until set to 0 or the limit is reached."""
        return int(bool(value)) if fields.parent.group.jog(False, bool(value)) else 0

    @motor.fields.user_offset.putter
    async def motor(fields: Any, instance: Any, value: float) -> float:
        """OFF: user = dial·DIR + OFF; VAL, RBV, HLM and LLM follow."""
        ioc: MotorRecord = fields.parent.group
        await post(instance, value)
        await ioc._user_frame_changed()
        return value

    @motor.fields.user_direction.putter
    async def motor(fields: Any, instance: Any, value: Any) -> Any:
        """DIR Pos/Neg: the sign between dial and user; VAL, RBV, HLM and LLM follow."""
        ioc: MotorRecord = fields.parent.group
        await post(instance, value)
        await ioc._user_frame_changed()
        return value

    @motor.fields.user_high_limit.putter
    async def motor(fields: Any, instance: Any, value: float) -> float:
        """HLM: the soft high limit in user units (DHLM or DLLM follows with DIR)."""
        ioc: MotorRecord = fields.parent.group
        if ioc.sign > 0:
            ioc.axis.high_limit = ioc.to_dial(float(value))
        else:
            ioc.axis.low_limit = ioc.to_dial(float(value))
        await ioc._publish_limits()
        return value

    @motor.fields.user_low_limit.putter
    async def motor(fields: Any, instance: Any, value: float) -> float:
        """LLM: the soft low limit in user units (DLLM or DHLM follows with DIR)."""
        ioc: MotorRecord = fields.parent.group
        if ioc.sign > 0:
            ioc.axis.low_limit = ioc.to_dial(float(value))
        else:
            ioc.axis.high_limit = ioc.to_dial(float(value))
        await ioc._publish_limits()
        return value

    @motor.fields.dial_high_limit.putter
    async def motor(fields: Any, instance: Any, value: float) -> float:
        """DHLM: the soft high limit in dial units."""
        ioc: MotorRecord = fields.parent.group
        ioc.axis.high_limit = float(value)
        await ioc._publish_limits()
        return value

    @motor.fields.dial_low_limit.putter
    async def motor(fields: Any, instance: Any, value: float) -> float:
        """DLLM: the soft low limit in dial units."""
        ioc: MotorRecord = fields.parent.group
        ioc.axis.low_limit = float(value)
        await ioc._publish_limits()
        return value


__all__ = ["MotorRecord"]
