"""Beamline profiles: the ``devices`` section of a beamline file, loaded as connected devices."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import beamlines
from acq.devices.device import Device
from acq.devices.motor import Motor
from acq.devices.scaler import Scaler
from acq.loop import call_in_loop


def _make(name: str, spec: dict[str, Any]) -> Device:
    kind = spec["kind"]
    if kind == "motor":
        return Motor(spec["prefix"], name=name)
    if kind == "scaler":
        channels = spec.get("channels") or {name: 2}
        if not isinstance(channels, dict):
            raise ValueError(f"devices.{name}.channels must map reading names to channel numbers")
        return Scaler(spec["prefix"], {str(k): int(v) for k, v in channels.items()}, name=name)
    raise ValueError(f"devices.{name}.kind: unknown device kind {kind!r} (known: motor, scaler)")


def make_devices(profile: dict[str, Any]) -> dict[str, Device]:
    """Unconnected devices for every entry of a parsed beamline file's ``devices``."""
    return {name: _make(name, spec) for name, spec in profile["devices"].items()}


async def connect_all(devices: dict[str, Device], timeout: float) -> None:
    """Connect every device at once; the error names each device and PV that failed."""
    results = await asyncio.gather(*(d.connect(timeout) for d in devices.values()), return_exceptions=True)
    failed = [str(r) for r in results if isinstance(r, BaseException)]
    if failed:
        raise TimeoutError("devices failed to connect:\n  " + "\n  ".join(failed))


def load_profile(name_or_path: str | Path = "default", timeout: float = 5.0) -> dict[str, Device]:
    """Connected devices of a beamline profile (a shipped name or a YAML path).

    Talks Channel Access to whatever the ``EPICS_CA_*`` environment points at.
    """
    devices = make_devices(beamlines.load(name_or_path))
    call_in_loop(connect_all(devices, timeout))
    return devices
