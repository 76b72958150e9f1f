"""Walk a plan without hardware: its messages, points, positions and an estimated duration."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from acq.engine.msg import Msg
from acq.plans.validate import name_of

Snapshot = Mapping[str, Mapping[str, Any]]


class _Done:
    """A finished status, as the dry run answers every set/trigger/kickoff/complete."""

    done = True
    success = True

    def add_callback(self, callback: Callable[[Any], None]) -> None:
        callback(self)

    def exception(self) -> None:
        return None

    def __await__(self) -> Any:
        return iter(())


@dataclass
class DryRun:
    """What a plan would do.

    ``messages``: every message it yielded; ``num_points``: events in the primary stream;
    ``positions``: for each primary event, ``{motor name: position}`` of the moved devices
    it read; ``duration``: estimated seconds (moves at each motor's speed, triggers at each
    detector's count time, sleeps); ``streams``: events per stream; ``start``: the start
    documents' metadata; ``warnings``: what the estimate could not account for.
    """

    messages: list[Msg] = field(default_factory=list)
    num_points: int = 0
    positions: list[dict[str, Any]] = field(default_factory=list)
    duration: float = 0.0
    streams: dict[str, int] = field(default_factory=dict)
    start: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Walker:
    def __init__(self, snapshot: Snapshot, max_messages: int) -> None:
        self.snap = {k: dict(v) for k, v in snapshot.items()}
        self.max_messages = max_messages
        self.out = DryRun()
        self.pos: dict[str, Any] = {}
        self.groups: dict[Any, float] = {}
        self.moved: set[str] = set()
        self.bundle: tuple[str, list[Any]] | None = None
        self.uids = itertools.count(1)

    def _state(self, obj: Any) -> dict[str, Any]:
        return self.snap.setdefault(name_of(obj), {})

    def position(self, obj: Any) -> Any:
        name = name_of(obj)
        if name not in self.pos:
            self.pos[name] = self._state(obj).get("position", self._state(obj).get("value", 0.0))
        return self.pos[name]

    def _warn(self, text: str) -> None:
        if text not in self.out.warnings:
            self.out.warnings.append(text)

    def _add(self, group: Any, seconds: float) -> None:
        if group is None:
            self.out.duration += seconds
        else:
            self.groups[group] = max(self.groups.get(group, 0.0), seconds)

    def set(self, msg: Msg) -> Any:
        obj, target = msg.obj, msg.args[0]
        name = name_of(obj)
        here = self.position(obj)
        state = self._state(obj)
        seconds = 0.0
        if isinstance(target, int | float) and isinstance(here, int | float) and target != here:
            velocity = state.get("velocity")
            if velocity:
                seconds = abs(target - here) / float(velocity) + float(state.get("acceleration_time", 0.0))
            else:
                self._warn(f"{name}: no velocity in the snapshot; its moves count as instant")
        self.pos[name] = target
        parent = getattr(obj, "parent", None)
        if parent is not None and name.endswith(("_preset_time", "_count_time")):
            self._state(parent)["count_time"] = target  # a detector's count time, set by the plan
        else:
            self.moved.add(name)
        self._add(msg.kwargs.get("group"), seconds)
        return _Done()

    def trigger(self, msg: Msg) -> Any:
        state = self._state(msg.obj)
        seconds = state.get("count_time")
        if seconds is None:
            self._warn(f"{name_of(msg.obj)}: no count_time in the snapshot; its triggers count as instant")
        self._add(msg.kwargs.get("group"), float(seconds or 0.0))
        return _Done()

    def wait(self, msg: Msg) -> None:
        group = msg.kwargs.get("group", msg.args[0] if msg.args else None)
        self.out.duration += self.groups.pop(group, 0.0)

    def read(self, msg: Msg) -> dict[str, Any]:
        obj = msg.obj
        fields = list((getattr(obj, "hints", None) or {}).get("fields") or []) or [name_of(obj)]
        value = self.position(obj)
        reading = {f: {"value": self._state(obj).get(f, value), "timestamp": self.out.duration} for f in fields}
        if self.bundle is not None:
            self.bundle[1].append(obj)
        return reading

    def handle(self, msg: Msg) -> Any:
        self.out.messages.append(msg)
        if len(self.out.messages) > self.max_messages:
            raise RuntimeError(f"dry run: the plan yielded more than {self.max_messages} messages "
                               "(endless? pass max_messages=…)")
        cmd = msg.command
        if cmd in ("set", "trigger", "wait", "read"):
            return getattr(self, cmd)(msg)
        if cmd in ("kickoff", "complete"):
            self._warn(f"{name_of(msg.obj)}: fly scans take an unknown time")
            return _Done()
        if cmd == "sleep":
            self.out.duration += float(msg.args[0])
        elif cmd == "open_run":
            self.out.start.append(dict(msg.kwargs))
            return f"dry-run-{next(self.uids)}"
        elif cmd == "create":
            self.bundle = (msg.kwargs.get("name") or (msg.args[0] if msg.args else "primary"), [])
        elif cmd == "save" and self.bundle is not None:
            stream, objs = self.bundle
            self.out.streams[stream] = self.out.streams.get(stream, 0) + 1
            if stream == "primary":
                self.out.num_points += 1
                self.out.positions.append({name_of(o): self.pos[name_of(o)] for o in objs
                                           if name_of(o) in self.moved})
            self.bundle = None
        elif cmd == "drop":
            self.bundle = None
        elif cmd == "locate":
            here = self.position(msg.obj)
            return {"setpoint": here, "readback": here}
        elif cmd == "collect":
            return []
        return None


def dry_run(plan: Iterable[Msg] | Callable[[], Iterable[Msg]], snapshot: Snapshot | None = None, *,
            max_messages: int = 1_000_000) -> DryRun:
    """Walk ``plan`` (a plan, or a callable that makes one) answering every message in memory.

    ``snapshot`` maps device names to what is known about them: ``position`` (motors; 0 if
    missing), ``velocity`` and ``acceleration_time`` (for move times), ``count_time`` (per
    trigger), and values for detector fields (``{"det": {"det": 1200}}``). Nothing touches
    hardware; argument errors raise just as a real run would, before anything moves.
    """
    walker = _Walker(snapshot or {}, max_messages)
    gen = plan() if callable(plan) and not inspect.isgenerator(plan) else plan
    it = iter(gen)  # type: ignore[arg-type]
    send = getattr(it, "send", None)
    response: Any = None
    while True:
        try:
            msg = send(response) if send is not None else next(it)
        except StopIteration:
            break
        response = walker.handle(msg)
    walker.out.duration += sum(walker.groups.values())
    return walker.out


def snapshot_of(devices: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A snapshot for ``dry_run`` read from connected devices (positions, speeds, count times)."""
    from acq.loop import call_in_loop

    async def read() -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, dev in devices.items():
            state: dict[str, Any] = {}
            for attr, key in (("readback", "position"), ("velocity", "velocity"),
                              ("acceleration_time", "acceleration_time"), ("preset_time", "count_time"),
                              ("count_time", "count_time")):
                sig = getattr(dev, attr, None)
                if sig is not None and hasattr(sig, "get_value"):
                    state[key] = await sig.get_value()
            out[str(getattr(dev, "name", name))] = state
        return out

    return call_in_loop(read())
