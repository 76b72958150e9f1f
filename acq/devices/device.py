"""``Signal`` and ``Device``: typed, named, composable, with swappable backends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from acq.devices.backends import Backend, Metadata, SoftBackend
from acq.engine.status import Status

KINDS = ("hinted", "normal", "config", "omitted")


class Device:
    """A named tree of signals and sub-devices; children are found among its attributes.

    A child's name is ``f"{parent.name}_{attribute}"``; a child whose attribute is in
    ``_named_as_parent`` takes the parent's own name (so a motor's readback reads as
    ``motor``).
    """

    _named_as_parent: tuple[str, ...] = ()

    def __init__(self, name: str = "", kind: str = "normal") -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.name = name
        self.kind = kind
        self.parent: Device | None = None

    def children(self) -> Iterator[tuple[str, Device]]:
        """(attribute, child) pairs in definition order."""
        for attr, value in vars(self).items():
            if attr != "parent" and isinstance(value, Device):
                yield attr, value

    def set_name(self, name: str) -> None:
        """Name this device and, recursively, its children."""
        self.name = name
        for attr, child in self.children():
            child.parent = self
            child.set_name(name if attr in self._named_as_parent else f"{name}_{attr}")

    def signals(self) -> Iterator[Signal]:
        """Every signal below this device, depth first."""
        for _, child in self.children():
            if isinstance(child, Signal):
                yield child
            else:
                yield from child.signals()

    async def connect(self, timeout: float = 5.0) -> None:
        """Connect every signal at once; the error lists every one that failed."""
        sigs = list(self.signals())
        results = await asyncio.gather(*(s.connect(timeout) for s in sigs), return_exceptions=True)
        failed = [f"{s.name} ({s.source}): {r}" for s, r in zip(sigs, results, strict=True)
                  if isinstance(r, BaseException)]
        if failed:
            raise TimeoutError(f"{self.name}: {len(failed)} signal(s) failed to connect: " + "; ".join(failed))

    def _of_kinds(self, kinds: tuple[str, ...]) -> list[Signal]:
        return [s for s in self.signals() if s.kind in kinds]

    async def read(self) -> dict[str, dict[str, Any]]:
        """Readings of the hinted and normal signals."""
        return await _read_all(self._of_kinds(("hinted", "normal")))

    async def describe(self) -> dict[str, dict[str, Any]]:
        """Data keys of what ``read()`` returns."""
        return await _describe_all(self._of_kinds(("hinted", "normal")))

    async def read_configuration(self) -> dict[str, dict[str, Any]]:
        """Readings of the configuration signals."""
        return await _read_all(self._of_kinds(("config",)))

    async def describe_configuration(self) -> dict[str, dict[str, Any]]:
        """Data keys of what ``read_configuration()`` returns."""
        return await _describe_all(self._of_kinds(("config",)))

    @property
    def hints(self) -> dict[str, list[str]]:
        """The fields worth plotting: ``{'fields': [...]}``."""
        return {"fields": [s.name for s in self._of_kinds(("hinted",))]}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


async def _read_all(sigs: list[Signal]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if len(sigs) == 1:
        return await sigs[0].read()
    for part in await asyncio.gather(*(s.read() for s in sigs)):
        out.update(part)
    return out


async def _describe_all(sigs: list[Signal]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for part in await asyncio.gather(*(s.describe() for s in sigs)):
        out.update(part)
    return out


class Signal(Device):
    """One value behind a backend: read, describe, set (with completion), get."""

    def __init__(self, backend: Backend | None = None, *, name: str = "", kind: str = "normal") -> None:
        super().__init__(name=name, kind=kind)
        self.backend: Backend = backend if backend is not None else SoftBackend()
        self._meta: Metadata | None = None

    @property
    def source(self) -> str:
        """Where the value lives, e.g. ``ca://BT:m1.RBV``."""
        return self.backend.source

    def children(self) -> Iterator[tuple[str, Device]]:
        return iter(())

    def signals(self) -> Iterator[Signal]:
        yield self

    async def connect(self, timeout: float = 5.0) -> None:
        """Connect the backend and fetch its metadata."""
        await self.backend.connect(timeout)
        self._meta = await self.backend.metadata()

    async def read(self) -> dict[str, dict[str, Any]]:
        """``{name: {'value', 'timestamp', 'alarm_severity'}}``."""
        r = await self.backend.get()
        return {self.name: {"value": r.value, "timestamp": r.timestamp, "alarm_severity": r.severity}}

    async def get_value(self) -> Any:
        """The current value alone."""
        return (await self.backend.get()).value

    async def metadata(self) -> Metadata:
        """Type, shape, units, precision and limits (cached after the first call)."""
        if self._meta is None:
            self._meta = await self.backend.metadata()
        return self._meta

    async def describe(self) -> dict[str, dict[str, Any]]:
        """The event-model data key of this signal."""
        md = await self.metadata()
        key: dict[str, Any] = {"source": self.source, "dtype": md.dtype, "shape": list(md.shape)}
        if md.units:
            key["units"] = md.units
        if md.precision is not None:
            key["precision"] = md.precision
        if md.limits is not None:
            key["limits"] = {"control": {"low": md.limits[0], "high": md.limits[1]}}
        if md.enum_strings:
            key["choices"] = list(md.enum_strings)
        return {self.name: key}

    def set(self, value: Any, wait: bool = True, timeout: float | None = None) -> Status:
        """Write ``value``; the status finishes when the write has completed."""
        return Status(self.backend.put(value, wait, timeout), name=f"set {self.name}")

    async def put(self, value: Any, wait: bool = True, timeout: float | None = None) -> None:
        """Write ``value`` and, with ``wait``, return once it has completed."""
        await self.backend.put(value, wait, timeout)

    @property
    def hints(self) -> dict[str, list[str]]:
        return {"fields": [self.name] if self.kind == "hinted" else []}
