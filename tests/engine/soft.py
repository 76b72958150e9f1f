"""Soft in-memory devices for the engine's tests (no IOC: the engine's own behaviour is under test)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from acq.devices import Device, Signal, SoftBackend
from acq.engine import Msg, RunEngine, Status

Docs = list[tuple[str, dict[str, Any]]]


def collect(RE: RunEngine) -> Docs:
    """Every document the engine emits, in order."""
    docs: Docs = []
    RE.subscribe(lambda n, d: docs.append((n, d)))
    return docs


def validate(docs: Docs) -> None:
    """Every document against event-model's schemas."""
    from event_model import DocumentNames, schema_validators

    for name, doc in docs:
        schema_validators[DocumentNames[name]].validate(doc)


def events(docs: Docs, stream: str = "primary") -> list[dict[str, Any]]:
    """The events of ``stream``."""
    uids = {d["uid"] for n, d in docs if n == "descriptor" and d["name"] == stream}
    return [d for n, d in docs if n == "event" and d["descriptor"] in uids]


def stop_of(docs: Docs) -> dict[str, Any]:
    """The (last) stop document."""
    return [d for n, d in docs if n == "stop"][-1]


class SoftMotor(Device):
    """A motor that takes ``move_time`` seconds to get anywhere; can be stopped; can be located."""

    _named_as_parent = ("readback",)

    def __init__(self, name: str, move_time: float = 0.0) -> None:
        self.readback = Signal(SoftBackend(0.0), kind="hinted")
        self.velocity = Signal(SoftBackend(1.0), kind="config")
        super().__init__(name)
        self.set_name(name)
        self.move_time = move_time
        self.move_times: list[tuple[float, float]] = []  # (start, end) of each move, time.monotonic()
        self.stops = 0
        self.staged = 0
        self.unstaged = 0

    def set(self, value: float) -> Status:
        async def move() -> None:
            started = time.monotonic()
            if self.move_time:
                await asyncio.sleep(self.move_time)
            await self.readback.put(value)
            self.move_times.append((started, time.monotonic()))

        return Status(move(), name=f"set {self.name}")

    def stop(self, *, success: bool = False) -> None:
        self.stops += 1

    def stage(self) -> list[Any]:
        self.staged += 1
        return [self]

    def unstage(self) -> list[Any]:
        self.unstaged += 1
        return [self]

    async def locate(self) -> dict[str, float]:
        value = await self.readback.get_value()
        return {"setpoint": value, "readback": value}

    async def configure(self, velocity: float) -> tuple[dict[str, Any], dict[str, Any]]:
        before = await self.read_configuration()
        await self.velocity.put(velocity)
        return before, await self.read_configuration()


class Counter(Device):
    """A detector whose every trigger takes ``count_time`` and increments its value by one."""

    _named_as_parent = ("value",)

    def __init__(self, name: str, count_time: float = 0.0, fail_on: int | None = None) -> None:
        self.value = Signal(SoftBackend(0), kind="hinted")
        super().__init__(name)
        self.set_name(name)
        self.count_time = count_time
        self.triggers = 0
        self.fail_on = fail_on

    def trigger(self) -> Status:
        self.triggers += 1
        n = self.triggers

        async def count() -> None:
            if self.count_time:
                await asyncio.sleep(self.count_time)
            if self.fail_on is not None and n >= self.fail_on:
                raise RuntimeError(f"{self.name}: detector fault on trigger {n}")
            await self.value.put(n)

        return Status(count(), name=f"trigger {self.name}")


class PlainDet:
    """A detector with synchronous methods (the fast path): plain dicts, no awaitables."""

    parent = None

    def __init__(self, name: str) -> None:
        self.name = name
        self.n = 0

    def read(self) -> dict[str, Any]:
        self.n += 1
        return {self.name: {"value": float(self.n), "timestamp": 1.0e9 + self.n}}

    def describe(self) -> dict[str, Any]:
        return {self.name: {"source": "plain", "dtype": "number", "shape": []}}


class AreaDet(PlainDet):
    """A detector writing frames to files: a resource once, then a datum per reading."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.resource = {"uid": str(uuid.uuid4()), "spec": "NPY_SEQ", "root": "/tmp",
                         "resource_path": "frames", "resource_kwargs": {}, "path_semantics": "posix"}
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._resource_sent = False

    def read(self) -> dict[str, Any]:
        self.n += 1
        datum_id = f"{self.resource['uid']}/{self.n}"
        if not self._resource_sent:
            self._pending.append(("resource", self.resource))
            self._resource_sent = True
        self._pending.append(("datum", {"datum_id": datum_id, "resource": self.resource["uid"],
                                        "datum_kwargs": {"index": self.n}}))
        return {self.name: {"value": datum_id, "timestamp": 1.0e9 + self.n}}

    def describe(self) -> dict[str, Any]:
        return {self.name: {"source": "file", "dtype": "array", "shape": [4, 4], "external": "FILESTORE:"}}

    def collect_asset_docs(self) -> Any:
        pending, self._pending = self._pending, []
        yield from pending


class Flyer:
    """A flyer (kickoff/complete/collect) that also writes a stream resource for its frames."""

    parent = None

    def __init__(self, name: str, n: int = 4) -> None:
        self.name = name
        self.n = n
        self.sr_uid = str(uuid.uuid4())
        self.kicked = False

    def kickoff(self) -> Status:
        self.kicked = True
        return Status.finished()

    def complete(self) -> Status:
        async def run() -> None:
            await asyncio.sleep(0.01)

        return Status(run())

    def describe_collect(self) -> dict[str, Any]:
        return {f"{self.name}_x": {"source": "fly", "dtype": "number", "shape": []},
                f"{self.name}_img": {"source": "fly", "dtype": "array", "shape": [2, 2], "external": "STREAM:"}}

    def collect(self) -> list[dict[str, Any]]:
        return [{"time": 1.0e9 + i, "data": {f"{self.name}_x": float(i), f"{self.name}_img": i},
                 "timestamps": {f"{self.name}_x": 1.0e9 + i, f"{self.name}_img": 1.0e9 + i}}
                for i in range(self.n)]

    def collect_asset_docs(self) -> Any:
        yield "stream_resource", {"uid": self.sr_uid, "data_key": f"{self.name}_img", "mimetype": "application/x-hdf5",
                                  "uri": "file://localhost/tmp/fly.h5", "parameters": {"dataset": "/img"}}
        yield "stream_datum", {"uid": f"{self.sr_uid}/0", "stream_resource": self.sr_uid, "descriptor": "",
                               "indices": {"start": 0, "stop": self.n}, "seq_nums": {"start": 1, "stop": self.n + 1}}


def null_plan(n: int) -> list[Msg]:
    """``n`` null messages."""
    return [Msg("null")] * n
