"""Autosave: the settings clients change (offsets, limits, speeds, presets, file paths) and the
motors' dial positions are saved every ``PERIOD`` wall seconds and restored when the IOC process
starts again, as EPICS autosave and a motor controller's retained position do."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from caproto.server import PVGroup

from twin.iocs.camera import _CameraLogic
from twin.iocs.motor import MotorRecord
from twin.iocs.scaler import ScalerRecord

#: Wall seconds between saves.
PERIOD = 0.5
#: Motor fields saved, in the order they are restored (DIR and OFF before anything in user units).
MOTOR_FIELDS = ("MRES", "PREC", "VMAX", "VBAS", "VELO", "ACCL", "RDBD", "DIR", "FOFF", "OFF", "DHLM", "DLLM")
SCALER_FIELDS = (".TP", ".TP1", ".CONT")
CAMERA_PVS = ("cam1:AcquireTime", "cam1:AcquirePeriod", "cam1:NumImages", "cam1:ImageMode", "cam1:TriggerMode",
              "HDF1:FilePath", "HDF1:FileName", "HDF1:FileTemplate", "HDF1:FileNumber", "HDF1:AutoIncrement",
              "HDF1:FileWriteMode")


def _field(pvdb: dict[str, Any], name: str) -> Any:
    if name in pvdb:
        return pvdb[name]
    record, _, field = name.rpartition(".")
    return pvdb[record].fields[field]


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


class Autosave:
    """Saves and restores the settings of ``groups`` in ``directory/autosave.json``."""

    def __init__(self, directory: Path, groups: list[PVGroup], pvdb: dict[str, Any]) -> None:
        self.path = Path(directory) / "autosave.json"
        self.pvdb = pvdb
        self.names: list[str] = []
        self.motors: list[MotorRecord] = []
        for g in groups:
            if isinstance(g, MotorRecord):
                self.motors.append(g)
                self.names += [f"{g.prefix}.{f}" for f in MOTOR_FIELDS]
            elif isinstance(g, ScalerRecord):
                self.names += [f"{g.prefix}{f}" for f in SCALER_FIELDS]
            elif isinstance(g, _CameraLogic):
                self.names += [f"{g.prefix}{p}" for p in CAMERA_PVS]

    def snapshot(self) -> dict[str, Any]:
        """The current settings and dial positions."""
        values = {n: _plain(_field(self.pvdb, n).value) for n in self.names}
        positions = {m.prefix: m.axis.position(m.clock.now()) for m in self.motors
                     if not m.axis.moving(m.clock.now())}
        return {"values": values, "positions": positions}

    def save(self, data: dict[str, Any]) -> None:
        """Write ``data`` atomically."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)

    async def restore(self) -> int:
        """Put the saved settings back through the records' own logic; return how many."""
        if not self.path.is_file():
            return 0
        data = json.loads(self.path.read_text())
        restored = 0
        for motor in self.motors:
            if motor.prefix in data.get("positions", {}):
                motor.axis.redefine(float(data["positions"][motor.prefix]), motor.clock.now())
        for name in self.names:
            if name in data.get("values", {}):
                pv = _field(self.pvdb, name)
                value = data["values"][name]
                await pv.write(value)
                restored += 1
        for motor in self.motors:
            await motor.resync()
        return restored

    async def run(self) -> None:
        """Save whenever the settings changed, every PERIOD wall seconds, until cancelled."""
        last: dict[str, Any] | None = None
        while True:
            await asyncio.sleep(PERIOD)
            now = self.snapshot()
            if last is not None and not now["positions"]:
                now["positions"] = last["positions"]
            if now != last:
                self.save(now)
                last = now
