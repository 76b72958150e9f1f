"""Build the twin's IOCs from a beamline description and serve them on loopback."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

from caproto.server import PVGroup

from twin.iocs.autosave import Autosave
from twin.iocs.beam import RESTART_EXIT_CODE, BeamStatus, Faults, detector_faults
from twin.iocs.camera import CameraTwin, camera_class
from twin.iocs.cluster import Cluster, shared_epoch
from twin.iocs.motor import MotorRecord
from twin.iocs.positioner import PointDetector, Positioner
from twin.iocs.scaler import ScalerRecord
from twin.iocs.simstatus import AxisTwin, SimStatus
from twin.iocs.triggerbox import TriggerBox
from twin.physics import BeamlineModel, SimClock
from twin.physics.camera import CameraModel

LOOPBACK = "127.0.0.1"
#: Wall seconds the records' startup hooks get at most to publish their initial state before
#: the IOC answers anyway (and autosave restores over them), naming the hooks that did not.
STARTUP_TIMEOUT = 10.0


__all__ = ["LOOPBACK", "RESTART_EXIT_CODE", "build_iocs", "client_environment", "cluster_environment",
           "ioc_groups", "serve_async"]


def _beam_status(physics: dict[str, Any], devices: dict[str, str], model: BeamlineModel) -> BeamStatus | None:
    """The beam-status IOC (ring current, top-up, shutter, beam available), if anything asks for it.

    A ``beam_status`` or ``shutter`` device names its prefix (both are served by this one IOC,
    so they must share it); ``physics.beam_status.prefix`` serves it without a device.
    """
    beam = physics.get("beam_status")
    if beam is not None and (not isinstance(beam, dict) or not beam.get("prefix")):
        raise ValueError("physics.beam_status.prefix: missing (the PV prefix of the beam status)")
    prefixes = set(devices.values()) | ({str(beam["prefix"])} if beam else set())
    if len(prefixes) > 1:
        raise ValueError("beam_status and shutter are one IOC in the twin: give them one prefix, "
                         f"got {sorted(prefixes)}")
    return BeamStatus(prefix=prefixes.pop(), model=model) if prefixes else None


def build_iocs(beamline: dict[str, Any], *, seed: int = 0, speed: float = 1.0,
               clock: str = "free", devices: Collection[str] | None = None,
               twin_wide: bool = True) -> tuple[BeamlineModel, list[PVGroup]]:
    """The physics model and one PVGroup per device of ``beamline`` (the parsed YAML file);
    ``clock`` is the simulation clock's mode (``free`` or ``stepped``, see ``SimClock``).

    ``devices`` serves only those devices (one IOC of a split beamline, see ``ioc_groups``);
    ``twin_wide`` serves the twin-wide PVs (simulated time, speed, seed, beam dump, restart)."""
    physics = beamline.get("physics")
    if not isinstance(physics, dict):
        raise ValueError("beamline file: 'physics' section missing: a facility profile cannot be simulated")
    model = BeamlineModel(physics, seed=seed, clock=SimClock(speed, mode=clock))
    groups: list[PVGroup] = []
    owner: dict[int, str] = {}  # id(group) → the device it serves ("" for twin-wide PVs)

    def add(device: str, *new: PVGroup) -> None:
        for group in new:
            groups.append(group)
            owner[id(group)] = device

    boxes: list[tuple[str, dict[str, Any]]] = []
    cameras: dict[str, Any] = {}
    beam_prefixes: dict[str, str] = {}
    beam_devices: list[str] = []
    sim_prefix = physics.get("prefix")
    for name, spec in (beamline.get("devices") or {}).items():
        kind, prefix = spec.get("kind"), spec.get("prefix")
        if not prefix:
            raise ValueError(f"devices.{name}.prefix: missing")
        if kind == "motor":
            if name not in model.axes:
                raise ValueError(f"devices.{name}: no physics.axes.{name} to drive this motor")
            axis_spec = physics["axes"][name]
            hook = None
            if sim_prefix:
                twin_pvs = AxisTwin(prefix=f"{sim_prefix}{name}:", axis=model.axes[name], clock=model.clock)
                add(name, twin_pvs)
                hook = twin_pvs.record_move
            record = MotorRecord(prefix=prefix, axis=model.axes[name], clock=model.clock,
                                 egu=str(axis_spec.get("egu", "mm")), precision=int(axis_spec.get("precision", 3)),
                                 description=str(axis_spec.get("description", name)), on_move=hook)
            if sim_prefix:
                twin_pvs.on_fault = record.refresh
            add(name, record)
        elif kind == "positioner":
            axis_name = str(spec.get("axis", name))
            if axis_name not in model.axes:
                raise ValueError(f"devices.{name}: no physics.axes.{axis_name} to drive this positioner")
            axis_spec = physics["axes"][axis_name]
            add(name, Positioner(prefix=prefix, axis=model.axes[axis_name], clock=model.clock,
                                     egu=str(axis_spec.get("egu", "mm")), precision=int(axis_spec.get("precision", 4))))
        elif kind == "point_detector":
            dwell = spec.get("dwell", 1e-3)
            if isinstance(dwell, bool) or not isinstance(dwell, int | float) or not dwell > 0:
                raise ValueError(f"devices.{name}.dwell must be a number of seconds > 0, got {dwell!r}")
            add(name, PointDetector(prefix=prefix, model=model, channel=str(spec.get("channel", name)),
                                        dwell=float(dwell)))
        elif kind == "scaler":
            channels = {int(n): str(ch) for ch, n in (spec.get("channels") or {}).items()}
            add(name, ScalerRecord(prefix=prefix, model=model, channels=channels))
            for ch in channels.values():
                model.detector(ch)  # made now, so every process of a split twin has it
            if sim_prefix:
                add(name, *(detector_faults(ch)(prefix=f"{sim_prefix}{ch}:", model=model) for ch in channels.values()))
        elif kind == "trigger_box":
            boxes.append((name, spec))
        elif kind in ("beam_status", "shutter"):
            beam_prefixes.setdefault(kind, str(prefix))
            beam_devices.append(name)
        elif kind == "area_detector":
            cam = make_camera(spec, f"devices.{name}")
            ioc = camera_class(cam.width, cam.height)(prefix=prefix, model=model, camera=cam, channel=name)
            add(name, ioc)
            cameras[name] = ioc
            if sim_prefix:
                add(name, CameraTwin(prefix=f"{sim_prefix}{name}:", camera=ioc))
        else:
            raise ValueError(f"devices.{name}.kind: the twin cannot simulate kind {kind!r} "
                             "(known: area_detector, beam_status, motor, point_detector, positioner, scaler, shutter, "
                             "trigger_box)")
    for name, spec in boxes:
        axes = spec.get("axes") or []
        missing = [a for a in axes if a not in model.axes]
        if not axes or missing:
            raise ValueError(f"devices.{name}.axes: need a list of axes from physics.axes, unknown: {missing}")
        wired = spec.get("cameras") or []
        unknown = [c for c in wired if c not in cameras]
        if unknown:
            raise ValueError(f"devices.{name}.cameras: no area_detector device named {unknown}")
        add(name, TriggerBox(prefix=spec["prefix"], axes={a: model.axes[a] for a in axes}, clock=model.clock,
                             cameras=[cameras[c] for c in wired]))
    status = _beam_status(physics, beam_prefixes, model)
    if status is not None:
        add(beam_devices[0] if beam_devices else "", status)
    if sim_prefix:
        add("", SimStatus(prefix=str(sim_prefix), clock=model.clock, seed_value=seed))
        faults = Faults(prefix=str(sim_prefix), model=model)
        faults.on_change = status.update if status is not None else None
        add("", faults)
    if devices is not None:
        strangers = set(devices) - set(beamline.get("devices") or {})
        if strangers:
            raise ValueError(f"no device(s) {sorted(strangers)} in this beamline")
        served = set(devices) | set(beam_devices if set(beam_devices) & set(devices) else ())
        groups = [g for g in groups if owner[id(g)] in served or (twin_wide and owner[id(g)] == "")]
    elif not twin_wide:
        groups = [g for g in groups if owner[id(g)] != ""]
    return model, groups


def ioc_groups(beamline: dict[str, Any]) -> dict[str, list[str]]:
    """The IOC processes a split twin serves the beamline as: IOC name → device names.

    From the beamline file's ``iocs`` section (``name: [device, …]``, every device in exactly
    one), else one IOC per device (devices sharing a PV prefix together, named after the
    first). The twin-wide PVs (``physics.prefix``: time, speed, seed, dump, restart) go with
    the first IOC. A trigger box must share its IOC with the cameras it fires."""
    devices = beamline.get("devices") or {}
    spec = beamline.get("iocs")
    if spec is None:
        by_prefix: dict[str, list[str]] = {}
        for name, dev in devices.items():
            by_prefix.setdefault(str(dev.get("prefix")), []).append(name)
        groups = {names[0]: names for names in by_prefix.values()}
    else:
        if not isinstance(spec, dict) or not spec:
            raise ValueError("iocs: must be a non-empty mapping of IOC name → list of device names")
        groups = {}
        seen: dict[str, str] = {}
        for ioc, names in spec.items():
            if not isinstance(ioc, str) or not ioc.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"iocs.{ioc}: an IOC name is letters, digits, '_' and '-'")
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                raise ValueError(f"iocs.{ioc}: must be a non-empty list of device names")
            for n in names:
                if n not in devices:
                    raise ValueError(f"iocs.{ioc}: no device named {n!r} (devices: {', '.join(devices)})")
                if n in seen:
                    raise ValueError(f"iocs.{ioc}: device {n!r} is served by iocs.{seen[n]} already")
                seen[n] = ioc
            groups[ioc] = list(names)
        left = [n for n in devices if n not in seen]
        if left:
            raise ValueError(f"iocs: device(s) {left} are in no IOC")
    where = {n: ioc for ioc, names in groups.items() for n in names}
    for name, dev in devices.items():
        others = [n for n, d in devices.items() if d.get("prefix") == dev.get("prefix") and where[n] != where[name]]
        if others and dev.get("kind") in ("beam_status", "shutter"):
            raise ValueError(f"iocs: {name} and {others[0]} share the prefix {dev.get('prefix')!r}: put them "
                             "in one IOC")
        for cam in dev.get("cameras") or [] if dev.get("kind") == "trigger_box" else []:
            if where.get(cam) != where[name]:
                raise ValueError(f"iocs: trigger box {name} fires camera {cam}: put them in one IOC")
    return groups


def owned_state(beamline: dict[str, Any], devices: Collection[str], twin_wide: bool) -> set[str]:
    """The model state (``twin.iocs.cluster.state_keys``) that the IOC serving ``devices``
    changes, and so publishes to the other IOCs of a split twin."""
    owned = {"clock", "ring"} if twin_wide else set()
    for name in devices:
        spec = beamline["devices"][name]
        if spec.get("kind") == "motor":
            owned.add(f"axis:{name}")
        elif spec.get("kind") == "positioner":
            owned.add(f"axis:{spec.get('axis', name)}")
        elif spec.get("kind") == "scaler":
            owned |= {f"detector:{ch}" for ch in (spec.get("channels") or {})}
        elif spec.get("kind") in ("beam_status", "shutter"):
            owned.add("shutter")
    if twin_wide and not any(beamline["devices"][n].get("kind") in ("beam_status", "shutter")
                             for n in beamline["devices"]):
        owned.add("shutter")  # a physics.beam_status without a device is twin-wide
    return owned


def make_camera(spec: dict[str, Any], where: str) -> CameraModel:
    """The camera model of an ``area_detector`` device (its optional ``sensor`` mapping)."""
    sensor = spec.get("sensor") or {}
    if not isinstance(sensor, dict):
        raise ValueError(f"{where}.sensor must be a mapping")
    known = {"width", "height", "pixel", "efficiency", "background", "bits", "behind_sample"}
    unknown = set(sensor) - known
    if unknown:
        raise ValueError(f"{where}.sensor: unknown field(s) {sorted(unknown)} (known: {sorted(known)})")
    try:
        cam = CameraModel(**sensor)
    except TypeError as exc:
        raise ValueError(f"{where}.sensor: {exc}") from exc
    if not 1 <= cam.bits <= 15 or cam.width < 1 or cam.height < 1:
        raise ValueError(f"{where}.sensor: need 1 ≤ bits ≤ 15 and a positive width and height")
    return cam


def pvdb_of(groups: list[PVGroup]) -> dict[str, Any]:
    """Merge the PV databases of ``groups``, refusing duplicate PV names."""
    pvdb: dict[str, Any] = {}
    for group in groups:
        clash = pvdb.keys() & group.pvdb.keys()
        if clash:
            raise ValueError(f"PV names served twice: {sorted(clash)[:5]}")
        pvdb.update(group.pvdb)
        for name, pv in group.pvdb.items():
            # a record's VAL is reachable as NAME and NAME.VAL, as on a real IOC
            record = getattr(pv, "field_inst", None) is not None or (isinstance(group, ScalerRecord)
                                                                     and name == group.prefix)
            if record and "." not in name:
                pvdb[f"{name}.VAL"] = pv
    return pvdb


def served_names(pvdb: dict[str, Any]) -> list[str]:
    """Every PV name a client can connect to: records and each of their fields."""
    names: list[str] = []
    for name, pv in pvdb.items():
        names.append(name)
        fields = getattr(pv, "fields", None) or {}
        names.extend(f"{name}.{field}" for field in fields if "." not in name and f"{name}.{field}" not in pvdb)
    return names


def client_environment(port: int, host: str = LOOPBACK) -> dict[str, str]:
    """The ``EPICS_CA_*`` settings a client needs to reach a twin on ``host:port``."""
    return {
        "EPICS_CA_ADDR_LIST": f"{host}:{port}",
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_SERVER_PORT": str(port),
        "EPICS_CA_MAX_ARRAY_BYTES": str(64 * 1024 * 1024),
    }


def cluster_environment(ports: list[int], host: str = LOOPBACK) -> dict[str, str]:
    """The ``EPICS_CA_*`` settings a client needs to reach several twin IOC processes at once,
    one port each (a client searches every ``host:port`` of the address list)."""
    return {
        "EPICS_CA_ADDR_LIST": " ".join(f"{host}:{p}" for p in ports),
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_MAX_ARRAY_BYTES": str(64 * 1024 * 1024),
    }


def server_environment(port: int, host: str = LOOPBACK) -> dict[str, str]:
    """The ``EPICS_CAS_*`` settings that pin a caproto server to ``host:port``."""
    return {
        "EPICS_CA_SERVER_PORT": str(port),
        "EPICS_CAS_INTF_ADDR_LIST": host,
        "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
        "EPICS_CAS_BEACON_ADDR_LIST": host,
        **{k: v for k, v in client_environment(port, host).items() if k != "EPICS_CA_SERVER_PORT"},
    }


async def _check_every_pv(names: list[str], timeout: float) -> None:
    """Read every PV over Channel Access; raise naming the ones that did not answer."""
    from caproto.asyncio.client import Context

    ctx = Context(timeout=timeout)
    try:
        pvs = await ctx.get_pvs(*names, timeout=timeout)
        results = await asyncio.gather(*(pv.read(timeout=timeout) for pv in pvs), return_exceptions=True)
        dead = [pv.name for pv, r in zip(pvs, results, strict=True) if isinstance(r, BaseException)]
        if dead:
            raise RuntimeError(f"{len(dead)} PVs did not answer: {dead[:10]}")
    finally:
        await ctx.disconnect()


async def serve_async(
    beamline: dict[str, Any],
    *,
    port: int,
    host: str = LOOPBACK,
    seed: int = 0,
    speed: float = 1.0,
    ready_file: Path | None = None,
    allow_network: bool = False,
    autosave_dir: Path | None = None,
    clock: str = "free",
    ioc: str | None = None,
    cluster_dir: Path | None = None,
) -> None:
    """Serve the twin until cancelled; write the PV names to ``ready_file`` once all answer.

    With ``autosave_dir``, settings saved there by an earlier run are restored first, and the
    current ones are saved there as they change. ``clock="stepped"`` serves on an event-driven
    clock: the same seed and the same sequence of puts give the same readings.

    ``ioc`` serves one IOC of a split beamline (``ioc_groups``), sharing the physics with the
    other IOC processes through ``cluster_dir`` (``twin.iocs.cluster``)."""
    if host != LOOPBACK and not allow_network:
        raise ValueError(f"refusing to serve on {host}: the twin binds {LOOPBACK} unless told otherwise")
    if ready_file is not None and ready_file.exists():
        raise FileExistsError(f"ready file {ready_file} exists already")
    os.environ.update(server_environment(port, host))
    # With no CA repeater on loopback every beacon is refused; that is harmless noise.
    logging.getLogger("caproto").setLevel(logging.CRITICAL)
    from twin.iocs.ca_server import TwinContext

    cluster: Cluster | None = None
    if ioc is None:
        model, groups = build_iocs(beamline, seed=seed, speed=speed, clock=clock)
    else:
        split = ioc_groups(beamline)
        if ioc not in split:
            raise ValueError(f"no IOC named {ioc!r} in this beamline (IOCs: {', '.join(split)})")
        if cluster_dir is None:
            raise ValueError("serving one IOC of a split beamline needs a cluster directory")
        if clock != "free":
            raise ValueError("a split twin runs on the free clock (the stepped clock lives in one process)")
        twin_wide = ioc == next(iter(split))
        model, groups = build_iocs(beamline, seed=seed, speed=speed, devices=split[ioc], twin_wide=twin_wide)
        model.clock.started_at(shared_epoch(cluster_dir))
        cluster = Cluster(cluster_dir, ioc, model, owned_state(beamline, split[ioc], twin_wide))
        pending: set[asyncio.Future[None]] = set()
        status = next((g for g in groups if isinstance(g, BeamStatus)), None)
        if status is not None:
            def republish(keys: set[str], status: BeamStatus = status) -> None:
                if keys & {"ring", "shutter"}:  # a dump or the shutter, changed by another IOC
                    update = asyncio.ensure_future(status.update())
                    pending.add(update)
                    update.add_done_callback(pending.discard)
            cluster.on_apply = republish
    pvdb = pvdb_of(groups)
    names = served_names(pvdb)

    if autosave_dir is not None:
        autosave_dir.mkdir(parents=True, exist_ok=True)
    autosave = Autosave(autosave_dir, groups, pvdb) if autosave_dir is not None else None
    tasks: list[asyncio.Task[None]] = []

    async def announce(async_lib: Any) -> None:
        # Searches and circuits are held until here (TwinContext.open): the records' own startup
        # hooks first, then autosave's restore, so no client ever sees a default it replaces.
        if cluster is not None:
            await cluster.start()  # the other IOCs' state before anything is served
        late = await ctx.started(STARTUP_TIMEOUT)
        if late:
            print(f"twin: startup hooks still publishing after {STARTUP_TIMEOUT:g} s: {', '.join(late)}",
                  file=sys.stderr, flush=True)
        if autosave is not None:
            restored = await autosave.restore()
            if restored:
                print(f"twin: restored {restored} settings from {autosave.path}", file=sys.stderr, flush=True)
            tasks.append(asyncio.create_task(autosave.run()))
        if cluster is not None:
            cluster.go_live()
            ctx.before_send = cluster.publish
        ctx.open()
        await _check_every_pv(names, timeout=10.0)
        if ready_file is not None:
            tmp = ready_file.with_name(ready_file.name + ".tmp")
            tmp.write_text("\n".join(names) + "\n")
            tmp.replace(ready_file)
        print(f"twin ready: {len(names)} PVs on {host}:{port}", file=sys.stderr, flush=True)

    ctx = TwinContext(pvdb, [host])
    await ctx.run(startup_hook=announce)
