"""Validation before queueing: plan name, arguments, device names and motor limits, and a time estimate.

Checks run against the device *snapshot* that the worker publishes when its environment
opens (names, kinds, limits, speeds, count times), so a typo fails at the desk.

The seam for the plans' own dry run: ``Validator(dry_run=fn)``. ``fn(plan_name, args,
kwargs, snapshot)`` returns the estimated duration in seconds (or raises ``ValueError``
naming the bad argument). When ``acq.plans`` offers ``dry_run(plan, snapshot)`` (the
devices-and-plans work), ``acq_dry_run`` is used by default: the plan is built on
``StandIn`` devices made from the snapshot and walked in memory. Until then
``basic_dry_run`` checks limits and estimates time for the step plans (count, scan, mv).
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import json
import os
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from acq import plans as plan_module

# Stubs and plans whose arguments cannot be written as JSON are not offered by the queue.
NOT_QUEUEABLE = frozenset({"open_run", "close_run", "stage", "unstage", "trigger_and_read", "ask_tell_scan",
                           "dry_run"})
# Parameters that take device names (resolved to devices in the worker).
DEVICE_PARAMS = {"detectors": "readable", "motors": "motor", "motor": "motor", "detector": "readable",
                 "device": "any", "devices": "any"}
Snapshot = dict[str, Any]
DryRun = Callable[[str, list[Any], dict[str, Any], Snapshot], float | None]


class ItemError(ValueError):
    """An item that cannot be queued; the message names the bad part."""


@functools.cache
def plan_catalogue() -> dict[str, Callable[..., Any]]:
    """The plans the queue offers, by name (read once: the catalogue is fixed at import)."""
    names = getattr(plan_module, "__all__", [n for n in dir(plan_module) if not n.startswith("_")])
    return {n: getattr(plan_module, n) for n in names
            if n not in NOT_QUEUEABLE and _is_plan(getattr(plan_module, n, None))}


def _is_plan(fn: Any) -> bool:
    """A generator function, or a function that checks its arguments and returns a generator."""
    if inspect.isgeneratorfunction(fn):
        return True
    if not inspect.isfunction(fn):
        return False
    try:
        returns = typing.get_type_hints(fn).get("return")
    except Exception:
        return False
    return typing.get_origin(returns) in (collections.abc.Generator, collections.abc.Iterator)


@functools.cache
def _signature(name: str) -> tuple[inspect.Signature, dict[str, Any]]:
    fn = plan_catalogue()[name]
    return inspect.signature(fn), typing.get_type_hints(fn)


def describe_plans() -> dict[str, dict[str, Any]]:
    """Each queueable plan's signature and first docstring line, for clients."""
    out = {}
    for name, fn in plan_catalogue().items():
        out[name] = {"signature": f"{name}{inspect.signature(fn)}",
                     "doc": (inspect.getdoc(fn) or "").splitlines()[0] if inspect.getdoc(fn) else ""}
    return out


def _check_type(value: Any, hint: Any, where: str) -> None:
    """Raise ``ItemError`` if the JSON ``value`` cannot be a ``hint``."""
    if hint is Any or hint is inspect.Parameter.empty:
        return
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        errors = []
        for alt in args:
            try:
                _check_type(value, alt, where)
                return
            except ItemError as exc:
                if alt is not type(None):  # "or null" goes without saying
                    errors.append(str(exc))
        raise ItemError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {hint}")
    if hint is type(None):
        if value is not None:
            raise ItemError(f"{where}: expected null, got {value!r}")
        return
    if hint is bool:
        if not isinstance(value, bool):
            raise ItemError(f"{where}: expected true or false, got {value!r}")
        return
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ItemError(f"{where}: expected an integer, got {value!r}")
        return
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ItemError(f"{where}: expected a number, got {value!r}")
        return
    if hint is str:
        if not isinstance(value, str):
            raise ItemError(f"{where}: expected a string, got {value!r}")
        return
    if origin in (list, tuple, Sequence, typing.Sequence) or hint in (list, tuple):
        if not isinstance(value, list):
            raise ItemError(f"{where}: expected a list, got {value!r}")
        if args and args[0] is not Ellipsis:
            for i, v in enumerate(value):
                _check_type(v, args[0], f"{where}[{i}]")
        return
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, dict):
            raise ItemError(f"{where}: expected an object, got {value!r}")


def _device_names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [n for v in value for n in _device_names(v)]
    return []


def _check_device(name: Any, role: str, devices: Mapping[str, Any], where: str) -> None:
    if not isinstance(name, str):
        raise ItemError(f"{where}: expected a device name, got {name!r}")
    if name not in devices:
        raise ItemError(f"{where}: no device {name!r} (devices: {sorted(devices)})")
    kind = devices[name].get("kind")
    if role == "motor" and kind != "motor":
        raise ItemError(f"{where}: {name!r} is a {kind}, not a motor")


def _check_limit(motor: Mapping[str, Any], name: str, value: Any, where: str) -> None:
    low, high = motor.get("limits") or (0.0, 0.0)
    if low == high == 0.0 or not isinstance(value, int | float):
        return
    if not low <= value <= high:
        raise ItemError(f"{where}: position {value} of {name!r} is outside its limits [{low}, {high}]")


def basic_dry_run(name: str, args: list[Any], kwargs: dict[str, Any], snapshot: Snapshot) -> float | None:
    """Limits and an estimate (seconds of device time) for the step plans; None when unknown."""
    devices = snapshot.get("devices", {})
    bound = _signature(name)[0].bind(*args, **kwargs)
    bound.apply_defaults()
    a = bound.arguments

    def count_time(dets: Any) -> float:
        return max([float(devices.get(d, {}).get("count_time") or 0.0) for d in _device_names(dets)] or [0.0])

    def travel(motor: str, frm: Any, to: float) -> float:
        dev = devices.get(motor, {})
        velocity = float(dev.get("velocity") or 0.0)
        start = dev.get("position") if frm is None else frm
        if velocity <= 0 or start is None:
            return 0.0
        return abs(float(to) - float(start)) / velocity

    if name == "scan":
        motor = devices.get(a["motor"], {})
        _check_limit(motor, a["motor"], a["start"], "argument 'start'")
        _check_limit(motor, a["motor"], a["stop"], "argument 'stop'")
        return float(travel(a["motor"], None, a["start"]) + travel(a["motor"], a["start"], a["stop"])
                     + a["num"] * count_time(a["detectors"]))
    if name == "count":
        num = a["num"] or 1
        return float(num * count_time(a["detectors"]) + (num - 1) * float(a["delay"] or 0.0))
    if name == "mv":
        pairs = list(a.get("args", ()))
        if len(pairs) % 2:
            raise ItemError("mv takes pairs of (motor, position)")
        longest = 0.0
        for i in range(0, len(pairs), 2):
            _check_device(pairs[i], "motor", devices, f"argument {i + 1}")
            _check_limit(devices[pairs[i]], pairs[i], pairs[i + 1], f"argument {i + 2}")
            longest = max(longest, travel(pairs[i], None, pairs[i + 1]))
        return longest
    return None


class StandIn:
    """A device made from its snapshot entry, for walking a plan without hardware.

    It has the shape plans check for (``name``, ``read``, ``trigger``; ``set`` and limits
    through ``check_value`` only where the snapshot says it is a motor) and holds no connection.
    """

    def __new__(cls, name: str, entry: Mapping[str, Any]) -> StandIn:
        if cls is StandIn and entry.get("kind") == "motor":
            return super().__new__(MotorStandIn)
        return super().__new__(cls)

    def __init__(self, name: str, entry: Mapping[str, Any]) -> None:
        self.name = name
        self.parent = None
        self.kind = entry.get("kind")
        self.limits = tuple(entry.get("limits") or (0.0, 0.0))
        self.hints = {"fields": list(entry.get("readings") or [name])}

    def check_value(self, value: float) -> None:
        """Raise ``ValueError`` if ``value`` lies outside the snapshot's limits."""
        low, high = self.limits
        if not low == high == 0.0 and not low <= float(value) <= high:
            raise ValueError(f"{self.name}: position {value} is outside the limits [{low}, {high}]")

    def read(self) -> dict[str, Any]:
        """Nothing to read: the dry run answers reads itself."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Nothing to describe."""
        return {}

    def trigger(self) -> None:
        """Nothing to trigger."""

    def __repr__(self) -> str:
        return self.name


class MotorStandIn(StandIn):
    """A motor's stand-in: it can be set, and refuses out-of-limit positions as the motor would."""

    def set(self, value: Any, **kwargs: Any) -> None:
        """Refuse out-of-limit positions."""
        self.check_value(float(value))


def acq_dry_run(name: str, args: list[Any], kwargs: dict[str, Any], snapshot: Snapshot) -> float | None:
    """The plans' own ``acq.plans.dry_run(plan, snapshot)``, on stand-ins for the snapshot's devices.

    Device names in the arguments become ``StandIn`` devices; the plan is built and walked
    in memory, so the plan's own argument checks run; returns its estimated duration.
    """
    walk: Any = getattr(plan_module, "dry_run", None)
    devices = snapshot.get("devices", {})
    standins = {n: StandIn(n, e) for n, e in devices.items()}
    sig, _ = _signature(name)
    bound = sig.bind(*args, **kwargs)

    def dev(value: Any) -> Any:
        if isinstance(value, str) and value in standins:
            return standins[value]
        if isinstance(value, list):
            return [dev(v) for v in value]
        return value

    for pname, value in list(bound.arguments.items()):
        if pname in DEVICE_PARAMS or sig.parameters[pname].kind is inspect.Parameter.VAR_POSITIONAL:
            bound.arguments[pname] = tuple(dev(v) for v in value) if isinstance(value, tuple) else dev(value)
    plan = plan_catalogue()[name](*bound.args, **bound.kwargs)
    walk_snapshot = {n: {k: v for k, v in e.items() if k in ("position", "velocity", "count_time")}
                     for n, e in devices.items()}
    result = walk(plan, walk_snapshot)
    duration = getattr(result, "duration", None)
    return None if duration is None else float(duration)


def _default_dry_run() -> DryRun:
    """The plans' own dry run once ``acq.plans`` has it (signature ``dry_run(plan, snapshot)``), else ours."""
    fn = getattr(plan_module, "dry_run", None)
    if callable(fn) and next(iter(inspect.signature(fn).parameters), None) == "plan":
        return acq_dry_run
    return basic_dry_run


MEMO_FIELDS = frozenset({"name", "args", "kwargs", "uid"})  # items with 'meta' are always checked in full
MEMO_SIZE = 4096


def new_uid() -> str:
    """A random (version 4) UUID as a string, as ``new_uid()`` gives but in a fifth of its time."""
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40
    b[8] = b[8] & 0x3F | 0x80
    x = b.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


class Validator:
    """Check items against the plan catalogue and a device snapshot; fill in uid and estimate."""

    def __init__(self, dry_run: DryRun | None = None) -> None:
        self.dry_run = dry_run or _default_dry_run()
        self._snapshot: Snapshot = {}
        self._memo: dict[str, tuple[list[str], float | None]] = {}

    @property
    def snapshot(self) -> Snapshot:
        """The worker's device snapshot that items are checked against (setting it forgets past checks)."""
        return self._snapshot

    @snapshot.setter
    def snapshot(self, value: Snapshot) -> None:
        self._snapshot = value
        self._memo = {}

    def check(self, raw: Any, *, keep_uid: str | None = None) -> dict[str, Any]:
        """A normalised item ``{uid, name, args, kwargs, devices, estimate}``; ``ItemError`` otherwise.

        An item equal to one that passed against the same snapshot is not checked again: its
        devices and estimate are remembered (queues repeat items: spreadsheets, agents, loops).
        """
        memo_key = None
        if isinstance(raw, dict) and raw.keys() <= MEMO_FIELDS:
            try:
                memo_key = json.dumps([raw.get("name"), raw.get("args", []), raw.get("kwargs", {})], sort_keys=True)
            except (TypeError, ValueError):
                memo_key = None
            known = self._memo.get(memo_key) if memo_key is not None else None
            if known is not None:
                return {"uid": keep_uid or new_uid(), "name": raw["name"], "args": raw.get("args", []),
                        "kwargs": raw.get("kwargs", {}), "devices": list(known[0]), "estimate": known[1]}
        item = self._check(raw, keep_uid)
        if memo_key is not None:
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[memo_key] = (list(item["devices"]), item["estimate"])
        return item

    def _check(self, raw: Any, keep_uid: str | None) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise ItemError(f"an item is a JSON object with 'name', 'args', 'kwargs'; got {raw!r}")
        unknown = set(raw) - {"name", "args", "kwargs", "uid", "meta"}
        if unknown:
            raise ItemError(f"unknown item field(s) {sorted(unknown)}; an item has name, args, kwargs")
        name = raw.get("name")
        args = raw.get("args", [])
        kwargs = raw.get("kwargs", {})
        catalogue = plan_catalogue()
        if not isinstance(name, str) or name not in catalogue:
            raise ItemError(f"unknown plan {name!r} (plans: {sorted(catalogue)})")
        if not isinstance(args, list):
            raise ItemError(f"{name}: args must be a JSON list, got {args!r}")
        if not isinstance(kwargs, dict):
            raise ItemError(f"{name}: kwargs must be a JSON object, got {kwargs!r}")
        sig, hints = _signature(name)
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise ItemError(f"{name}{sig}: {exc}") from None
        devices = self.snapshot.get("devices")
        used: list[str] = []
        for pname, value in bound.arguments.items():
            param = sig.parameters[pname]
            where = f"{name}: argument {pname!r}"
            role = DEVICE_PARAMS.get(pname)
            if role is not None:
                names = _device_names(value) if isinstance(value, list) or role in ("motor", "readable") else []
                if pname in ("detectors", "motors", "devices") and not isinstance(value, list):
                    raise ItemError(f"{where}: expected a list of device names, got {value!r}")
                used += names
                if devices is not None:
                    for n in names:
                        _check_device(n, role, devices, where)
                continue
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                used += [v for v in value if isinstance(v, str)]
                if devices is not None:
                    used_here = [v for v in value if isinstance(v, str)]
                    for v in used_here:
                        _check_device(v, "any", devices, where)
                continue
            _check_type(value, hints.get(pname, Any), where)
        estimate: float | None = None
        if devices is not None:
            try:
                estimate = self.dry_run(name, list(args), dict(kwargs), self.snapshot)
            except (ValueError, TypeError, KeyError) as exc:
                raise ItemError(f"{name}: {exc}") from None
        return {"uid": keep_uid or new_uid(), "name": name, "args": args, "kwargs": kwargs,
                "devices": sorted(set(used)), "estimate": estimate,
                **({"meta": raw["meta"]} if isinstance(raw.get("meta"), dict) else {})}
