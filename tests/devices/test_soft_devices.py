"""Signals and devices over soft backends: kinds, describe, monitors, pairs, pseudo-positioners."""

from __future__ import annotations

import math
from typing import Any

import pytest

from acq.devices import (
    BeamStatus,
    Device,
    LimitError,
    Mirror,
    MonoEnergy,
    Shutter,
    Signal,
    Slits,
    SoftBackend,
    SoftDetector,
    soft_motor,
)
from acq.devices.device import ConnectionFailed
from acq.loop import call_in_loop


class Box(Device):
    def __init__(self, name: str) -> None:
        self.x = Signal(SoftBackend(1.5, units="mm", precision=3, limits=(-5.0, 5.0)), kind="hinted")
        self.gain = Signal(SoftBackend(7), kind="config")
        self.raw = Signal(SoftBackend("secret"), kind="omitted")
        self.note = Signal(SoftBackend("hello"), kind="normal")
        super().__init__(name)
        self.set_name(name)


def test_kinds_decide_read_configuration_and_hints() -> None:
    box = Box("box")
    assert set(call_in_loop(box.read())) == {"box_x", "box_note"}
    assert set(call_in_loop(box.read_configuration())) == {"box_gain"}
    assert box.hints == {"fields": ["box_x"]}
    reading = call_in_loop(box.read())["box_x"]
    assert reading["value"] == 1.5 and reading["alarm_severity"] == 0 and reading["timestamp"] > 0


def test_describe_carries_units_precision_limits_dtype_shape_source() -> None:
    box = Box("box")
    key = call_in_loop(box.describe())["box_x"]
    assert key["dtype"] == "number" and key["shape"] == [] and key["units"] == "mm"
    assert key["precision"] == 3 and key["limits"] == {"control": {"low": -5.0, "high": 5.0}}
    assert key["source"].startswith("soft://")
    assert call_in_loop(box.describe())["box_note"]["dtype"] == "string"
    assert call_in_loop(box.describe_configuration())["box_gain"]["dtype"] == "integer"


def test_setpoint_readback_pair_and_read_only() -> None:
    readback, setpoint = SoftBackend(0.0), SoftBackend(0.0)
    pair = Signal(readback, write_backend=setpoint, name="pair")
    pair.set(3.0).wait(2)
    assert call_in_loop(pair.get_setpoint()) == 3.0
    assert call_in_loop(pair.get_value()) == 0.0, "the readback is not the setpoint"
    assert call_in_loop(pair.locate()) == {"setpoint": 3.0, "readback": 0.0}
    ro = Signal(SoftBackend(1.0), name="ro", read_only=True)
    with pytest.raises(PermissionError, match=r"ro .* is read-only"):
        ro.set(2.0)


def test_monitor_calls_back_now_and_on_change_until_cleared() -> None:
    sig = Signal(SoftBackend(1.0), name="s")
    seen: list[Any] = []

    def cb(readings: dict[str, Any]) -> None:
        seen.append(readings["s"]["value"])

    sig.subscribe(cb)
    call_in_loop(sig.put(2.0))
    call_in_loop(sig.put(3.0))
    sig.clear_sub(cb)
    call_in_loop(sig.put(4.0))
    assert seen == [1.0, 2.0, 3.0]


def test_soft_motor_moves_checks_limits_and_locates() -> None:
    m = soft_motor("m", 1.0, limits=(-2.0, 2.0), velocity=2.0)
    m.set(1.5).wait(2)
    assert call_in_loop(m.read())["m"]["value"] == 1.5
    assert call_in_loop(m.locate()) == {"setpoint": 1.5, "readback": 1.5}
    with pytest.raises(LimitError, match=r"m: position 3\.0 is outside the limits \[-2\.0, 2\.0\]"):
        m.set(3.0)
    with pytest.raises(TypeError, match="not a number"):
        m.check_value("far")  # type: ignore[arg-type]
    assert m.hints == {"fields": ["m"]}
    assert set(call_in_loop(m.read_configuration())) >= {"m_velocity", "m_high_limit", "m_low_limit"}


def test_soft_detector_follows_its_motor() -> None:
    m = soft_motor("m")
    det = SoftDetector("det", lambda x: 10 - x * x, [m], count_time=0.5)
    m.set(2.0).wait(2)
    det.trigger().wait(2)
    assert call_in_loop(det.read()) ["det"]["value"] == 6.0
    assert call_in_loop(det.read_configuration())["det_count_time"]["value"] == 0.5


def _soft(pv: str) -> SoftBackend:
    return SoftBackend(0.0, source=f"soft://{pv}")


def test_shutter_waits_for_its_status() -> None:
    backends: dict[str, SoftBackend] = {}

    def factory(pv: str) -> SoftBackend:
        backends[pv] = SoftBackend(0, source=f"soft://{pv}")
        return backends[pv]

    sh = Shutter("X:sh:", name="shutter", backend=factory, timeout=0.3)
    backends["X:sh:Shutter-Cmd"].on_put = backends["X:sh:Shutter-RB"].set_now  # the IOC follows the command
    sh.set("open").wait(2)
    assert call_in_loop(sh.read())["shutter"]["value"] == 1
    backends["X:sh:Shutter-Cmd"].on_put = None  # stuck: the status never agrees
    with pytest.raises(TimeoutError, match="shutter: still not closed"):
        sh.set("close").wait(2)
    with pytest.raises(ValueError, match="'open' or 'close'"):
        sh.set("ajar")


def test_beam_status_reports_beam_ok() -> None:
    made: dict[str, SoftBackend] = {}

    def factory(pv: str) -> SoftBackend:
        made[pv] = SoftBackend(1 if pv.endswith("Available-RB") else 350.0, source=f"soft://{pv}")
        return made[pv]

    ring = BeamStatus("X:ring:", name="ring", backend=factory)
    assert call_in_loop(ring.beam_ok(300.0)) and not call_in_loop(ring.beam_ok(400.0))
    made["X:ring:BeamAvailable-RB"].set_now(0)
    assert not call_in_loop(ring.beam_ok())
    assert set(call_in_loop(ring.read())) == {"ring_current", "ring_available", "ring_countdown"}


def test_slits_and_mirror_are_built_from_motors() -> None:
    slits = Slits("X:s1:", name="s1", backend=_soft)
    assert slits.axis("hgap").prefix == "X:s1:hgap"
    assert set(call_in_loop(slits.read())) >= {"s1_hgap", "s1_hcen", "s1_vgap", "s1_vcen"}
    mirror = Mirror("X:m1:", name="m1", backend=_soft, axes={"bend": "bend"})
    assert mirror.axis_names == ["pitch", "y", "x", "bend"]
    with pytest.raises(KeyError, match="m1 has no axis 'roll'"):
        mirror.axis("roll")


def test_mono_energy_is_a_pseudo_positioner_over_bragg() -> None:
    made: dict[str, SoftBackend] = {}

    def factory(pv: str) -> SoftBackend:
        made[pv] = SoftBackend(0 if pv.endswith((".LVIO", ".MSTA")) else 10.0, source=f"soft://{pv}")
        return made[pv]

    mono = MonoEnergy("X:mono:", name="mono", backend=factory)
    made["X:mono:bragg"].on_put = made["X:mono:bragg.RBV"].set_now
    mono.bragg._limits = (5.0, 30.0)
    theta = mono.angle_of(8000.0)
    assert math.isclose(mono.energy_of(theta), 8000.0)
    mono.set(8000.0).wait(2)
    reading = call_in_loop(mono.read())
    assert math.isclose(reading["mono"]["value"], 8000.0) and math.isclose(reading["mono_bragg"]["value"], theta)
    assert call_in_loop(mono.describe())["mono"]["units"] == "eV"
    with pytest.raises(LimitError, match=r"mono: 2000\.0 eV cannot be reached"):
        mono.set(2000.0)  # needs more than 30°
    with pytest.raises(LimitError, match="below the crystal's minimum"):
        mono.set(1000.0)


def test_connection_failures_name_every_source() -> None:
    class Never(SoftBackend):
        async def connect(self, timeout: float) -> None:
            raise TimeoutError(f"PV {self.source} did not connect within {timeout} s")

    class Pair(Device):
        def __init__(self) -> None:
            self.a = Signal(Never(source="ca://A"))
            self.b = Signal(SoftBackend(0.0))
            self.c = Signal(Never(source="ca://C"))
            super().__init__("pair")
            self.set_name("pair")

    with pytest.raises(ConnectionFailed, match=r"pair: 2 of 3 PV") as info:
        call_in_loop(Pair().connect(0.1))
    assert info.value.failures == {"pair": ["ca://A", "ca://C"]}


def test_dotted_names_follow_the_attribute_path_and_walk_finds_children() -> None:
    from acq.devices.device import Device
    from acq.devices.motor import soft_motor

    class Stage(Device):
        def __init__(self, name: str) -> None:
            super().__init__(name=name)
            self.x = soft_motor("x")
            self.y = soft_motor("y")
            self.set_name(name)

    stage = Stage("stage")
    assert stage.x.readback.name == "stage_x"  # the data key: a motor's readback reads as the motor
    assert stage.x.velocity.name == "stage_x_velocity"
    assert stage.dotted_name == "stage"
    assert stage.x.readback.dotted_name == "stage.x.readback"
    assert stage.walk("y.velocity") is stage.y.velocity
    assert stage.walk("") is stage
    with pytest.raises(AttributeError, match=r"stage\.y has no child 'speed'"):
        stage.walk("y.speed")
