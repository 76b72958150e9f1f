"""Beamline profiles: the ``devices`` section of a beamline file, loaded as connected devices."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import beamlines
from acq.devices.areadetector import AreaDetector
from acq.devices.device import ConnectionFailed, Device
from acq.devices.motor import Motor
from acq.devices.plain import PointDetector, Positioner
from acq.devices.scaler import Scaler
from acq.devices.standard import BeamStatus, Mirror, MonoEnergy, Shutter, Slits
from acq.devices.triggerbox import TriggerBox
from acq.loop import call_in_loop


def _str_map(name: str, spec: dict[str, Any], key: str) -> dict[str, str] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"devices.{name}.{key} must be a mapping of names to PV suffixes")
    return {str(k): str(v) for k, v in value.items()}


def _seconds(name: str, spec: dict[str, Any], key: str) -> dict[str, float]:
    """``{key: seconds}`` if the profile gives ``key`` (a number ≥ 0), else nothing (the device's default)."""
    if spec.get(key) is None:
        return {}
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"devices.{name}.{key} must be a number of seconds ≥ 0, got {value!r}")
    return {key: float(value)}


def _deadlines(name: str, spec: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The completion deadline options of a device (``timeout``, ``timeout_margin``) its profile gives."""
    return {k: v for key in keys for k, v in _seconds(name, spec, key).items()}


def _monitor_readback(name: str, spec: dict[str, Any]) -> bool:
    monitor = spec.get("monitor_readback", False)
    if not isinstance(monitor, bool):
        raise ValueError(f"devices.{name}.monitor_readback must be true or false, got {monitor!r}")
    return monitor


def _motor(name: str, spec: dict[str, Any]) -> Device:
    return Motor(spec["prefix"], name=name, put_completion=bool(spec.get("put_completion", True)),
                 monitor_readback=_monitor_readback(name, spec), **_deadlines(name, spec, "timeout", "timeout_margin"))


def _scaler(name: str, spec: dict[str, Any]) -> Device:
    channels = spec.get("channels") or {name: 2}
    if not isinstance(channels, dict):
        raise ValueError(f"devices.{name}.channels must map reading names to channel numbers")
    return Scaler(spec["prefix"], {str(k): int(v) for k, v in channels.items()}, name=name,
                  **_deadlines(name, spec, "timeout", "timeout_margin"))


def _positioner(name: str, spec: dict[str, Any]) -> Device:
    return Positioner(spec["prefix"], name=name, fields=_str_map(name, spec, "fields"),
                      monitor_readback=_monitor_readback(name, spec),
                      **_deadlines(name, spec, "timeout"))


def _trigger_box(name: str, spec: dict[str, Any]) -> Device:
    axes = spec.get("axes") or []
    if not isinstance(axes, list | dict):
        raise ValueError(f"devices.{name}.axes must list the motors wired to the box (or map them to its axis names)")
    return TriggerBox(spec["prefix"], name=name, axes={str(k): str(v) for k, v in axes.items()}
                      if isinstance(axes, dict) else [str(a) for a in axes])


def _mono(name: str, spec: dict[str, Any]) -> Device:
    return MonoEnergy(spec["prefix"], name=name, d_spacing=float(spec.get("d_spacing", 3.1356)),
                      bragg=str(spec.get("bragg", "bragg")), **_deadlines(name, spec, "timeout_margin"))


KINDS: dict[str, Callable[[str, dict[str, Any]], Device]] = {
    "motor": _motor,
    "scaler": _scaler,
    "shutter": lambda n, s: Shutter(s["prefix"], name=n, fields=_str_map(n, s, "fields"),
                                    **_deadlines(n, s, "timeout")),
    "beam_status": lambda n, s: BeamStatus(s["prefix"], name=n, fields=_str_map(n, s, "fields")),
    "slits": lambda n, s: Slits(s["prefix"], name=n, axes=_str_map(n, s, "axes"),
                                **_deadlines(n, s, "timeout_margin")),
    "mirror": lambda n, s: Mirror(s["prefix"], name=n, axes=_str_map(n, s, "axes"),
                                  **_deadlines(n, s, "timeout_margin")),
    "mono": _mono,
    "area_detector": lambda n, s: AreaDetector(s["prefix"], name=n, write_path=s.get("write_path")),
    "trigger_box": _trigger_box,
    "positioner": _positioner,
    "point_detector": lambda n, s: PointDetector(s["prefix"], name=n, fields=_str_map(n, s, "fields")),
}


def _make(name: str, spec: dict[str, Any]) -> Device:
    make = KINDS.get(spec["kind"])
    if make is None:
        raise ValueError(f"devices.{name}.kind: unknown device kind {spec['kind']!r} (known: {', '.join(KINDS)})")
    return make(name, spec)


def make_devices(profile: dict[str, Any]) -> dict[str, Device]:
    """Unconnected devices for every entry of a parsed beamline file's ``devices``."""
    return {name: _make(name, spec) for name, spec in profile["devices"].items()}


async def connect_all(devices: dict[str, Device], timeout: float) -> None:
    """Connect every device at once; the error names each device and every PV that failed."""
    results = await asyncio.gather(*(d.connect(timeout) for d in devices.values()), return_exceptions=True)
    failures: dict[str, list[str]] = {}
    lines: list[str] = []
    for name, r in zip(devices, results, strict=True):
        if isinstance(r, ConnectionFailed):
            failures.update(r.failures)
            lines.append(str(r))
        elif isinstance(r, BaseException):
            failures[name] = [f"{type(r).__name__}: {r}"]
            lines.append(f"{name}: {type(r).__name__}: {r}")
    if failures:
        raise ConnectionFailed(f"{len(failures)} of {len(devices)} device(s) failed to connect:\n  "
                               + "\n  ".join(lines), failures)


def load_profile(name_or_path: str | Path = "default", timeout: float = 5.0) -> dict[str, Device]:
    """Connected devices of a beamline profile (a shipped name or a YAML path).

    Talks Channel Access to whatever the ``EPICS_CA_*`` environment points at. If any PV
    does not connect within ``timeout`` seconds, raises ``ConnectionFailed`` (a
    ``TimeoutError``) listing every failed PV by device (``.failures``).
    """
    devices = make_devices(beamlines.load(name_or_path))
    call_in_loop(connect_all(devices, timeout))
    return devices
