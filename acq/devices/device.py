"""``Signal`` and ``Device``: typed, named, composable, with swappable backends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

from acq.devices._async import call_on_loop, finished, on_shared_loop, status_of
from acq.devices.backends import Backend, Metadata, Reading, SoftBackend
from acq.devices.completion import DEFAULT_MARGIN, complete_within
from acq.engine.status import Status

KINDS = ("hinted", "normal", "config", "omitted")

Readings = dict[str, dict[str, Any]]


class ConnectionFailed(TimeoutError):
    """Some signals did not connect; ``failures`` maps each device name to its failed sources."""

    def __init__(self, message: str, failures: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.failures = failures


class Device:
    """A named tree of signals and sub-devices; children are found among its attributes.

    A child's name is ``f"{parent.name}_{attribute}"`` (the data key), its ``dotted_name`` the
    attribute path ``parent.attribute`` (``walk("a.b")`` finds it); a child whose attribute is in
    ``_named_as_parent`` takes the parent's own name (so a motor's readback reads as
    ``motor``). ``kind`` decides where a signal appears: ``hinted`` and ``normal`` in
    ``read()``, ``config`` in ``read_configuration()``, ``omitted`` nowhere; ``hinted``
    fields are also named in ``hints``.
    """

    _named_as_parent: tuple[str, ...] = ()

    def __init__(self, name: str = "", kind: str = "normal") -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.name = name
        self.kind = kind
        self.parent: Device | None = None
        #: this device's attribute on its parent ("" at the top)
        self.attr_name = ""

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
            child.attr_name = attr
            child.set_name(name if attr in self._named_as_parent else f"{name}_{attr}")

    @property
    def dotted_name(self) -> str:
        """The attribute path from the top device, as Python spells it: ``mirror.pitch.readback``."""
        if self.parent is None:
            return self.name
        return f"{self.parent.dotted_name}.{self.attr_name}"

    def walk(self, path: str) -> Device:
        """The child at the dotted attribute ``path`` below this device (``"pitch.readback"``)."""
        node: Device = self
        for i, part in enumerate(path.split(".") if path else []):
            child = dict(node.children()).get(part)
            if child is None:
                where = ".".join([self.name, *path.split(".")[:i]])
                raise AttributeError(f"{where} has no child {part!r} (has: {', '.join(a for a, _ in node.children())})")
            node = child
        return node

    def signals(self) -> Iterator[Signal]:
        """Every signal below this device, depth first."""
        for _, child in self.children():
            if isinstance(child, Signal):
                yield child
            else:
                yield from child.signals()

    @on_shared_loop
    async def connect(self, timeout: float = 5.0) -> None:
        """Connect every signal at once; the error lists every one that failed."""
        sigs = list(self.signals())
        results = await asyncio.gather(*(s.connect(timeout) for s in sigs), return_exceptions=True)
        bad = [(s, r) for s, r in zip(sigs, results, strict=True) if isinstance(r, BaseException)]
        if bad:
            raise ConnectionFailed(
                f"{self.name}: {len(bad)} of {len(sigs)} PV(s) failed: " + "; ".join(str(r) for _, r in bad),
                {self.name: [s.source for s, _ in bad]})

    def _of_kinds(self, kinds: tuple[str, ...]) -> list[Signal]:
        return [s for s in self.signals() if s.kind in kinds]

    @on_shared_loop
    async def read(self) -> Readings:
        """Readings of the hinted and normal signals."""
        return await _read_all(self._of_kinds(("hinted", "normal")))

    @on_shared_loop
    async def describe(self) -> Readings:
        """Data keys of what ``read()`` returns."""
        return await _describe_all(self._of_kinds(("hinted", "normal")))

    @on_shared_loop
    async def read_configuration(self) -> Readings:
        """Readings of the configuration signals."""
        return await _read_all(self._of_kinds(("config",)))

    @on_shared_loop
    async def describe_configuration(self) -> Readings:
        """Data keys of what ``read_configuration()`` returns."""
        return await _describe_all(self._of_kinds(("config",)))

    def stage(self) -> Status:
        """Prepare for a run (nothing to do by default)."""
        return finished(f"stage {self.name}")

    def unstage(self) -> Status:
        """Undo ``stage()`` (nothing to do by default)."""
        return finished(f"unstage {self.name}")

    @property
    def hints(self) -> dict[str, list[str]]:
        """The fields worth plotting: ``{'fields': [...]}``."""
        return {"fields": [s.name for s in self._of_kinds(("hinted",))]}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


async def _read_all(sigs: list[Signal]) -> Readings:
    """Read ``sigs``: concurrently across IOC connections, one after another within one.

    caproto's asyncio server leaves Nagle's algorithm on, so a second response on the
    same TCP connection waits for the client's delayed ACK (about 40 ms); one round trip
    per PV is far cheaper than that.
    """
    if len(sigs) == 1:
        return await sigs[0]._read()
    lanes: dict[int, list[Signal]] = {}
    for s in sigs:
        circuit = getattr(s.backend, "circuit", None)
        lanes.setdefault(id(s) if circuit is None else id(circuit), []).append(s)

    async def lane(group: list[Signal]) -> Readings:
        part: Readings = {}
        for s in group:
            part.update(await s._read())
        return part

    out: Readings = {}
    for part in await asyncio.gather(*(lane(g) for g in lanes.values())):
        out.update(part)
    return out


async def _describe_all(sigs: list[Signal]) -> Readings:
    out: Readings = {}
    for part in await asyncio.gather(*(s._describe() for s in sigs)):
        out.update(part)
    return out


Callback = Callable[[Readings], None]


class Signal(Device):
    """One value behind a backend: read, describe, monitor, and (unless read-only) set.

    With ``write_backend`` it is a setpoint/readback pair: ``set`` writes the setpoint
    (with completion) while ``read`` reports the readback. A ``set`` whose put has not completed
    after ``put_timeout`` s fails with ``PutTimeout``.
    """

    #: Seconds ``set`` waits for the put's completion unless told otherwise.
    put_timeout: float = DEFAULT_MARGIN

    def __init__(self, backend: Backend | None = None, *, write_backend: Backend | None = None,
                 name: str = "", kind: str = "normal", read_only: bool = False) -> None:
        super().__init__(name=name, kind=kind)
        self.backend: Backend = backend if backend is not None else SoftBackend()
        self.write_backend: Backend | None = None if read_only else (write_backend or self.backend)
        self._meta: Metadata | None = None
        self._subs: dict[Callback, Callable[[Reading], None]] = {}

    @property
    def source(self) -> str:
        """Where the value lives, e.g. ``ca://BT:m1.RBV``."""
        return self.backend.source

    @property
    def read_only(self) -> bool:
        """Whether this signal refuses writes."""
        return self.write_backend is None

    @property
    def connected(self) -> bool:
        """Whether every backend can be reached right now."""
        return self.backend.connected and (self.write_backend is None or self.write_backend.connected)

    def children(self) -> Iterator[tuple[str, Device]]:
        return iter(())

    def signals(self) -> Iterator[Signal]:
        yield self

    @on_shared_loop
    async def connect(self, timeout: float = 5.0) -> None:
        """Connect the backend(s) and fetch the metadata, all within ``timeout`` each (an IOC that has just
        answered a loaded machine's search may take longer than a read's usual timeout to answer the first read)."""
        if self.write_backend is not None and self.write_backend is not self.backend:
            await asyncio.gather(self.backend.connect(timeout), self.write_backend.connect(timeout))
        else:
            await self.backend.connect(timeout)
        self._meta = await self.backend.metadata(timeout)

    async def _read(self) -> Readings:
        r = await self.backend.get()
        return {self.name: {"value": r.value, "timestamp": r.timestamp, "alarm_severity": r.severity}}

    @on_shared_loop
    async def read(self) -> Readings:
        """``{name: {'value', 'timestamp', 'alarm_severity'}}`` (always a fresh reading)."""
        return await self._read()

    @on_shared_loop
    async def get_value(self) -> Any:
        """The current value alone."""
        return (await self.backend.get()).value

    @on_shared_loop
    async def get_setpoint(self) -> Any:
        """The value of the setpoint (the readback's for a plain signal)."""
        return (await (self.write_backend or self.backend).get()).value

    @on_shared_loop
    async def metadata(self) -> Metadata:
        """Type, shape, units, precision and limits (cached after the first call)."""
        if self._meta is None:
            self._meta = await self.backend.metadata()
        return self._meta

    async def _describe(self) -> Readings:
        md = self._meta or await self.metadata()
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

    @on_shared_loop
    async def describe(self) -> Readings:
        """The event-model data key: source, dtype, shape, units, precision, limits."""
        return await self._describe()

    def _writer(self) -> Backend:
        if self.write_backend is None:
            raise PermissionError(f"{self.name} ({self.source}) is read-only")
        return self.write_backend

    def set(self, value: Any, wait: bool = True, timeout: float | None = None) -> Status:
        """Write ``value``; the status finishes when the write has completed, or fails with
        ``PutTimeout`` after ``timeout`` s (default ``put_timeout``)."""
        writer = self._writer()
        if not wait or isinstance(writer, SoftBackend):  # a soft write completes at once
            return status_of(writer.put(value, wait, timeout), f"set {self.name}")
        limit = self.put_timeout if timeout is None else timeout
        return status_of(complete_within(writer.put(value, True, None), limit, device=self.name, pv=writer.source,
                                         value=value, what=f"the put of {value!r}"), f"set {self.name}")

    @on_shared_loop
    async def put(self, value: Any, wait: bool = True, timeout: float | None = None) -> None:
        """Write ``value`` and, with ``wait``, return once it has completed."""
        await self._writer().put(value, wait, timeout)

    @on_shared_loop
    async def locate(self) -> dict[str, Any]:
        """``{'setpoint', 'readback'}`` (Bluesky's Locatable)."""
        readback = (await self.backend.get()).value
        setpoint = readback if self.write_backend in (None, self.backend) else await self.get_setpoint()
        return {"setpoint": setpoint, "readback": readback}

    def subscribe(self, function: Callback) -> None:
        """Call ``function({name: reading})`` now and on every change (a CA monitor)."""

        def listener(r: Reading) -> None:
            function({self.name: {"value": r.value, "timestamp": r.timestamp, "alarm_severity": r.severity}})

        self._subs[function] = listener
        call_on_loop(lambda: self.backend.subscribe(listener))

    def clear_sub(self, function: Callback) -> None:
        """Stop calling ``function``."""
        listener = self._subs.pop(function, None)
        if listener is not None:
            call_on_loop(lambda: self.backend.unsubscribe(listener))

    @property
    def hints(self) -> dict[str, list[str]]:
        return {"fields": [self.name] if self.kind == "hinted" else []}
