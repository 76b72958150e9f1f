"""One open run: its descriptors, event bundles, asset documents, collections and monitors."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

from acq.engine import documents as docs
from acq.engine.errors import IllegalMessageSequence

Emit = Callable[[str, dict[str, Any]], None]


async def maybe_await(value: Any) -> Any:
    """``await value`` if it is awaitable, else ``value`` itself."""
    if inspect.isawaitable(value):
        return await value
    return value


def name_of(obj: Any) -> str:
    """A device's name (or its repr when it has none)."""
    return str(getattr(obj, "name", obj))


class _Stream:
    """A descriptor and what is needed to write events against it fast."""

    __slots__ = ("desc", "external", "keys", "uid")

    def __init__(self, desc: dict[str, Any]) -> None:
        self.desc = desc
        self.uid: str = desc["uid"]
        # keys whose data come as stream_datum documents (``external: "STREAM:"``) are never in events
        events = {k: dk for k, dk in desc["data_keys"].items()
                  if not str(dk.get("external", "")).startswith("STREAM:")}
        self.keys = frozenset(events)
        self.external = tuple(k for k, dk in events.items() if dk.get("external"))


class RunBundle:
    """The documents of one open run, emitted through ``emit(name, doc)`` in event-model order."""

    def __init__(self, start: dict[str, Any], emit: Emit) -> None:
        self.start = start
        self.uid: str = start["uid"]
        self.emit = emit
        self.streams: dict[str, _Stream] = {}
        self.num_events: dict[str, int] = {}
        self.bundle_name: str | None = None
        self.bundle: dict[str, dict[str, Any]] = {}
        self.bundle_objs: list[Any] = []
        self.pending_assets: list[tuple[str, dict[str, Any]]] = []
        self.config_cache: dict[int, dict[str, Any]] = {}
        self.resources: set[str] = set()
        self.monitors: dict[int, asyncio.Task[None]] = {}

    # -- bundles (create / read / save / drop) ------------------------------------------------
    def create(self, name: str) -> None:
        """Open an event bundle for the stream ``name``."""
        if self.bundle_name is not None:
            raise IllegalMessageSequence(f"create while the bundle {self.bundle_name!r} is open; save or drop it")
        self.bundle_name = name
        self.bundle = {}
        self.bundle_objs = []

    def add_reading(self, obj: Any, reading: dict[str, Any]) -> None:
        """Add ``obj``'s reading (and its pending asset documents) to the open bundle."""
        if self.bundle_name is None:
            return
        clash = self.bundle.keys() & reading.keys()
        if clash:
            raise IllegalMessageSequence(f"{sorted(clash)} read twice in one event (read {name_of(obj)} once)")
        self.bundle.update(reading)
        self.bundle_objs.append(obj)
        collect_assets = getattr(obj, "collect_asset_docs", None)
        if collect_assets is not None:
            self.pending_assets.extend(collect_assets())

    def drop(self) -> None:
        """Discard the open bundle."""
        if self.bundle_name is None:
            raise IllegalMessageSequence("drop without create")
        self.abandon()

    def abandon(self) -> None:
        """Forget any open bundle (on pause: its messages are replayed from the checkpoint)."""
        self.bundle_name = None
        self.bundle = {}
        self.bundle_objs = []
        self.pending_assets = []

    def save(self) -> Any:
        """Emit the open bundle as one event (its descriptor first, if new): sync when possible."""
        name = self.bundle_name
        if name is None:
            raise IllegalMessageSequence("save without create")
        stream = self.streams.get(name)
        if stream is not None and stream.keys == self.bundle.keys():
            self._emit_event(stream)
            return None
        return self._save_new_descriptor(name)

    async def _save_new_descriptor(self, name: str) -> None:
        stream = self.streams.get(name)
        if stream is not None:
            raise IllegalMessageSequence(
                f"stream {name!r} was described with {sorted(stream.keys)} but this event has "
                f"{sorted(self.bundle)}; read the same devices into every event of a stream")
        stream = await self.describe(name, self.bundle_objs, collect=False)
        self._emit_event(stream)

    def _emit_event(self, stream: _Stream) -> None:
        name = stream.desc["name"]
        seq = self.num_events.get(name, 0) + 1
        self._flush_assets(stream.uid, seq)
        self.num_events[name] = seq
        bundle = self.bundle
        self.emit("event", {
            "uid": docs.new_uid(),
            "time": time.time(),
            "descriptor": stream.uid,
            "seq_num": seq,
            "data": {k: r["value"] for k, r in bundle.items()},
            "timestamps": {k: r["timestamp"] for k, r in bundle.items()},
            "filled": {k: False for k in stream.external},
        })
        self.bundle_name = None
        self.bundle = {}
        self.bundle_objs = []

    # -- descriptors ------------------------------------------------------------------------
    async def describe(self, name: str, objs: list[Any], *, collect: bool) -> _Stream:
        """Describe ``objs`` (their configuration and hints too) as the stream ``name``; emit it."""
        data_keys: dict[str, Any] = {}
        object_keys: dict[str, list[str]] = {}
        configuration: dict[str, Any] = {}
        hints: dict[str, Any] = {}
        for obj in objs:
            oname = name_of(obj)
            if collect:
                desc = await maybe_await(obj.describe_collect())
                if desc and all(isinstance(v, dict) and "dtype" not in v for v in desc.values()):
                    desc = desc.get(name, {})  # the old per-stream form {stream: {key: data_key}}
            else:
                desc = await maybe_await(obj.describe())
            for key, dk in desc.items():
                data_keys[key] = {**dk, "object_name": oname}
            object_keys[oname] = list(desc)
            configuration[oname] = await self._configuration(obj)
            obj_hints = getattr(obj, "hints", None)
            if obj_hints:
                hints[oname] = obj_hints
        desc_doc = docs.descriptor_doc(self.uid, name, data_keys, object_keys, configuration, hints)
        stream = _Stream(desc_doc)
        self.streams[name] = stream
        self.emit("descriptor", desc_doc)
        return stream

    async def _configuration(self, obj: Any) -> dict[str, Any]:
        cached = self.config_cache.get(id(obj))
        if cached is not None:
            return cached
        conf_reader = getattr(obj, "read_configuration", None)
        if conf_reader is None:
            conf: dict[str, Any] = {}
            conf_desc: dict[str, Any] = {}
        else:
            conf = await maybe_await(conf_reader())
            conf_desc = await maybe_await(obj.describe_configuration())
        out = {
            "data": {k: r["value"] for k, r in conf.items()},
            "timestamps": {k: r["timestamp"] for k, r in conf.items()},
            "data_keys": conf_desc,
        }
        self.config_cache[id(obj)] = out
        return out

    def reconfigured(self, obj: Any) -> None:
        """``obj`` was configured: streams that read it get a fresh descriptor on their next event."""
        self.config_cache.pop(id(obj), None)
        oname = name_of(obj)
        for name, stream in list(self.streams.items()):
            if oname in stream.desc["object_keys"]:
                del self.streams[name]

    async def declare_stream(self, name: str, objs: list[Any], *, collect: bool) -> dict[str, Any]:
        """Describe a stream up front (``declare_stream``); return its descriptor."""
        if name in self.streams:
            raise IllegalMessageSequence(f"stream {name!r} is already declared in this run")
        return (await self.describe(name, objs, collect=collect)).desc

    # -- asset documents ------------------------------------------------------------------------
    def _flush_assets(self, descriptor: str, seq: int) -> None:
        pending, self.pending_assets = self.pending_assets, []
        for kind, doc in pending:
            self.emit_asset(kind, doc, descriptor, seq)

    def emit_asset(self, kind: str, doc: dict[str, Any], descriptor: str | None, seq: int | None = None) -> int:
        """Emit a resource, datum, stream_resource or stream_datum, filling in run/descriptor uids.

        A stream_datum whose ``seq_nums`` the device left 0–0 (as Bluesky asks) gets the events
        its frames belong to, from ``seq`` on, as Bluesky's RunEngine does. Returns its width.
        """
        if kind in ("resource", "stream_resource"):
            if doc["uid"] in self.resources:
                return 0
            self.resources.add(doc["uid"])
            doc = {**doc, "run_start": self.uid}
        elif kind == "stream_datum":
            width = int(doc["indices"]["stop"]) - int(doc["indices"]["start"])
            if descriptor is not None and not doc.get("descriptor"):
                doc = {**doc, "descriptor": descriptor}
            if seq is not None and doc.get("seq_nums") in (None, {"start": 0, "stop": 0}):
                doc = {**doc, "seq_nums": {"start": seq, "stop": seq + width}}
            self.emit(kind, doc)
            return width
        self.emit(kind, doc)
        return 0

    # -- flyers (collect) ----------------------------------------------------------------------
    async def collect(self, objs: list[Any], name: str | None) -> list[dict[str, Any]]:
        """Collect what ``objs`` acquired: asset documents, then events as event pages."""
        payload: list[dict[str, Any]] = []
        for obj in objs:
            stream_name = name or name_of(obj)
            width = 0
            if hasattr(obj, "collect_asset_docs"):
                stream = self.streams.get(stream_name)
                if stream is None:
                    stream = await self.describe(stream_name, [obj], collect=True)
                seq = self.num_events.get(stream_name, 0) + 1
                index = await maybe_await(obj.get_index()) if hasattr(obj, "get_index") else None
                assets = obj.collect_asset_docs(index) if index is not None else obj.collect_asset_docs()
                if hasattr(assets, "__aiter__"):
                    async for kind, doc in assets:
                        width = max(width, self.emit_asset(kind, doc, stream.uid, seq))
                else:
                    for kind, doc in assets:
                        width = max(width, self.emit_asset(kind, doc, stream.uid, seq))
            events = list(await maybe_await(obj.collect())) if hasattr(obj, "collect") else []
            if not events:
                if width:  # frames without events (a detector writing stream assets): they are the events
                    self.num_events[stream_name] = self.num_events.get(stream_name, 0) + width
                continue
            stream = self.streams.get(stream_name)
            if stream is None:
                stream = await self.describe(stream_name, [obj], collect=True)
            first = self.num_events.get(stream_name, 0) + 1
            seq_nums = list(range(first, first + len(events)))
            self.num_events[stream_name] = seq_nums[-1]
            self.emit("event_page", docs.event_page_doc(stream.uid, seq_nums, events, stream.external))
            payload.extend(events)
        return payload

    # -- monitors ----------------------------------------------------------------------------
    async def monitor(self, obj: Any, name: str, period: float) -> None:
        """Emit an event in stream ``name`` now and whenever ``obj``'s reading changes.

        Devices with Bluesky's ``Subscribable`` shape (``subscribe(fn)``/``clear_sub(fn)``,
        ``fn(reading)``) push their updates; anything else readable is polled every ``period`` s.
        """
        key = id(obj)
        if key in self.monitors:
            raise IllegalMessageSequence(f"{name_of(obj)} is already monitored in this run")
        stream = self.streams.get(name) or await self.describe(name, [obj], collect=False)
        loop = asyncio.get_running_loop()
        if hasattr(obj, "subscribe") and hasattr(obj, "clear_sub"):
            def pushed(reading: dict[str, Any], *args: Any, **kwargs: Any) -> None:
                if key not in self.monitors:
                    return
                try:
                    running = asyncio.get_running_loop()
                except RuntimeError:
                    running = None
                if running is loop:
                    self.bundle_save_direct(stream, reading)
                else:
                    loop.call_soon_threadsafe(pushed, reading)

            async def hold() -> None:
                try:
                    await asyncio.Event().wait()
                finally:
                    obj.clear_sub(pushed)

            self.monitors[key] = loop.create_task(hold(), name=f"monitor {name_of(obj)}")
            obj.subscribe(pushed)
            return

        async def poll() -> None:
            last: Any = None
            while True:
                reading = await maybe_await(obj.read())
                values = [(k, r["value"]) for k, r in reading.items()]
                if repr(values) != repr(last):
                    last = values
                    self.bundle_save_direct(stream, reading)
                await asyncio.sleep(period)

        self.monitors[key] = loop.create_task(poll(), name=f"monitor {name_of(obj)}")

    def bundle_save_direct(self, stream: _Stream, reading: dict[str, Any]) -> None:
        """Emit one event of ``reading`` in ``stream`` outside the create/save bundle."""
        name = stream.desc["name"]
        seq = self.num_events.get(name, 0) + 1
        self.num_events[name] = seq
        self.emit("event", {
            "uid": docs.new_uid(), "time": time.time(), "descriptor": stream.uid, "seq_num": seq,
            "data": {k: r["value"] for k, r in reading.items()},
            "timestamps": {k: r["timestamp"] for k, r in reading.items()},
            "filled": {k: False for k in stream.external},
        })

    def unmonitor(self, obj: Any) -> None:
        """Stop monitoring ``obj``."""
        task = self.monitors.pop(id(obj), None)
        if task is None:
            raise IllegalMessageSequence(f"unmonitor {name_of(obj)}: it is not monitored")
        task.cancel()

    def stop_monitors(self) -> None:
        """Stop every monitor (the run is closing)."""
        for task in self.monitors.values():
            task.cancel()
        self.monitors.clear()

    # -- the end ---------------------------------------------------------------------------------
    def stop_doc(self, exit_status: str, reason: str) -> dict[str, Any]:
        """The stop document (every stream that was described counts, even with no events)."""
        counts = {name: self.num_events.get(name, 0) for name in self.streams}
        counts.update(self.num_events)
        return docs.stop_doc(self.uid, exit_status, reason, counts)
