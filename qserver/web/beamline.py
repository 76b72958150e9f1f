"""The beamline panel: beam status and every device's readback, read over Channel Access by the server.

The devices are the profile's own (``acq.devices.load_profile``), read through their
``read()``. A beamline file with a ``physics`` section is simulated by the twin, whose
extra PVs (under ``physics.prefix`` and ``physics.beam_status.prefix``) are read too, and
whose scripted faults are offered as buttons; only PVs that answer are shown, so a
facility profile (no ``physics``) shows no twin controls.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import beamlines
from acq.devices import load_profile
from acq.devices.backends import CABackend
from acq.devices.device import Signal
from acq.loop import get_loop

RETRY = 10.0  # seconds before reconnecting after a failure
CACHE = 0.3  # seconds a reading is reused for concurrent viewers

# Twin beam-status PVs (suffixes of the beam_status device's prefix), by what the panel calls them.
TWIN_BEAM = {"ring_current": "Current-RB", "beam_available": "BeamAvailable-RB", "shutter": "Shutter-RB",
             "topup_countdown": "TopUpCountdown-RB"}
TWIN_CLOCK = {"sim_time": "SimTime-RB", "speed": "Speed-RB", "seed": "Seed-RB"}


@dataclass(frozen=True)
class Fault:
    """One scripted fault of the twin: the PV to write, the value that triggers it, what it does."""

    key: str
    label: str
    pv: str
    value: Any
    help: str


def twin_faults(beamline: dict[str, Any]) -> list[Fault]:
    """The fault PVs a twin of ``beamline`` may serve (those that answer are offered)."""
    physics = beamline.get("physics") or {}
    prefix = physics.get("prefix")
    if not prefix:
        return []
    faults = [Fault("beam_dump", "Beam dump (30 s)", f"{prefix}Dump-Cmd", 30.0,
                    "the ring loses its beam for 30 simulated seconds"),
              Fault("ioc_restart", "IOC restart", f"{prefix}Restart-Cmd", 1,
                    "the twin's IOC process exits and its launcher starts it again (its PVs vanish meanwhile)")]
    for name, spec in (beamline.get("devices") or {}).items():
        if spec.get("kind") == "motor":
            faults.append(Fault(f"{name}_stall", f"Stall {name}", f"{prefix}{name}:Stall-Cmd", 1,
                                f"{name} stalls where it is"))
            faults.append(Fault(f"{name}_unstall", f"Release {name}", f"{prefix}{name}:Stall-Cmd", 0,
                                f"{name} moves again"))
            faults.append(Fault(f"{name}_limit", f"Trip {name} high limit", f"{prefix}{name}:LimitHit-Cmd", 1,
                                f"{name}'s high limit switch trips where it is"))
            faults.append(Fault(f"{name}_limit_off", f"Restore {name} limits", f"{prefix}{name}:LimitHit-Cmd", 0,
                                f"{name}'s limit switches are back where they belong"))
        if spec.get("kind") == "scaler":
            for ch in (spec.get("channels") or {}):
                faults.append(Fault(f"{ch}_saturate", f"Saturate {ch} (10 s)", f"{prefix}{ch}:Saturate-Cmd", 10.0,
                                    f"{ch} reads saturated for 10 simulated seconds"))
                faults.append(Fault(f"{ch}_noise", f"Noise burst on {ch} (10 s)", f"{prefix}{ch}:NoiseBurst-Cmd",
                                    10.0, f"{ch} gets a burst of noise for 10 simulated seconds"))
    return faults


async def _on_ca_loop(coro: Any, timeout: float) -> Any:
    return await asyncio.wait_for(asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, get_loop())), timeout)


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


class BeamlinePanel:
    """Connects lazily on the first request, then serves cached readings."""

    def __init__(self, profile: str) -> None:
        self.profile = profile
        self.devices: dict[str, Any] | None = None
        self.extras: dict[str, Signal] = {}
        self.faults: list[Fault] = []
        self.missing_faults: list[str] = []
        self.notes: list[str] = []
        self.error = ""
        self._failed_at = 0.0
        self._lock = asyncio.Lock()
        self._cache: tuple[float, dict[str, Any]] | None = None
        self.is_twin = False
        self._fault_signals: dict[str, Signal] = {}

    async def _connect(self) -> None:
        beamline = beamlines.load(self.profile)
        self.is_twin = isinstance(beamline.get("physics"), dict)
        self.devices = await asyncio.to_thread(load_profile, self.profile)
        if not self.is_twin:
            self.notes = ["a facility profile (no physics section): no twin controls"]
            return
        physics = beamline["physics"]
        wanted: dict[str, str] = {}
        beam_prefix = next((spec["prefix"] for spec in beamline["devices"].values()
                            if spec.get("kind") == "beam_status"), None)
        beam_prefix = beam_prefix or (physics.get("beam_status") or {}).get("prefix")
        if beam_prefix:
            wanted.update({k: f"{beam_prefix}{v}" for k, v in TWIN_BEAM.items()})
        if physics.get("prefix"):
            wanted.update({k: f"{physics['prefix']}{v}" for k, v in TWIN_CLOCK.items()})
        signals = {k: Signal(CABackend(pv), name=k) for k, pv in wanted.items()}
        candidates = twin_faults(beamline)
        fault_signals = {f.pv: Signal(CABackend(f.pv), name=f.key) for f in candidates}

        async def alive(sig: Signal) -> bool:
            try:
                await _on_ca_loop(sig.connect(1.0), 3.0)
                return True
            except Exception:
                return False

        ok = await asyncio.gather(*(alive(s) for s in [*signals.values(), *fault_signals.values()]))
        names = [*signals, *fault_signals]
        up = {n for n, good in zip(names, ok, strict=True) if good}
        self.extras = {k: s for k, s in signals.items() if k in up}
        self.faults = [f for f in candidates if f.pv in up]
        self.missing_faults = sorted({f.pv for f in candidates if f.pv not in up})
        self._fault_signals = {pv: s for pv, s in fault_signals.items() if pv in up}
        self.notes = []
        absent = [wanted[k] for k in wanted if k not in up]
        if not beam_prefix:
            self.notes.append("this twin's beamline file has no beam_status device: "
                              "no ring current, shutter or beam-available PVs to show")
        if absent:
            self.notes.append("not served by this twin: " + ", ".join(absent))
        if self.missing_faults:
            self.notes.append("fault PVs not served by this twin (no button): " + ", ".join(self.missing_faults))

    async def ready(self) -> bool:
        """Connect if not yet (retrying after failures); whether the devices are there."""
        async with self._lock:
            if self.devices is None and time.monotonic() - self._failed_at > RETRY:
                try:
                    await self._connect()
                    self.error = ""
                except Exception as exc:
                    self.devices = None
                    self.error = f"cannot reach the beamline: {type(exc).__name__}: {exc}"
                    self._failed_at = time.monotonic()
        return self.devices is not None

    async def _read(self) -> dict[str, Any]:
        assert self.devices is not None
        names = list(self.devices)
        results = await asyncio.gather(*(_on_ca_loop(self.devices[n].read(), 3.0) for n in names),
                                       *(_on_ca_loop(s.read(), 3.0) for s in self.extras.values()),
                                       return_exceptions=True)
        devices: list[dict[str, Any]] = []
        for name, res in zip(names, results[:len(names)], strict=True):
            kind = type(self.devices[name]).__name__.lower()
            if isinstance(res, BaseException):
                devices.append({"name": name, "kind": kind, "error": f"{type(res).__name__}: {res}"})
            else:
                devices.append({"name": name, "kind": kind,
                                "readings": {k: _plain(v["value"]) for k, v in res.items()}})
        beam: dict[str, Any] = {}
        out: dict[str, Any] = {"devices": devices, "beam": beam}
        for key, res in zip(self.extras, results[len(names):], strict=True):
            beam[key] = None if isinstance(res, BaseException) else _plain(next(iter(res.values()))["value"])
        return out

    async def state(self) -> dict[str, Any]:
        """Readings of every device and the beam, the twin's fault buttons, and notes on what is absent."""
        if not await self.ready():
            return {"error": self.error, "devices": [], "beam": {}, "faults": [], "twin": False, "notes": []}
        now = time.monotonic()
        if self._cache is None or now - self._cache[0] > CACHE:
            self._cache = (now, await self._read())
        return {**self._cache[1], "error": "", "twin": self.is_twin, "notes": self.notes,
                "faults": [{"key": f.key, "label": f.label, "help": f.help, "pv": f.pv} for f in self.faults]}

    async def trigger(self, key: str) -> dict[str, Any]:
        """Write fault ``key``'s PV."""
        if not await self.ready():
            raise RuntimeError(self.error)
        fault = next((f for f in self.faults if f.key == key), None)
        if fault is None:
            raise KeyError(f"no twin fault {key!r} here (faults: {[f.key for f in self.faults]})")
        await _on_ca_loop(self._fault_signals[fault.pv].put(fault.value, wait=True), 10.0)
        self._cache = None
        return {"ok": True, "fault": fault.key, "pv": fault.pv, "value": fault.value}
