"""The shared piece of live consumers: follow one stream of a run, column by column."""

from __future__ import annotations

from typing import Any


class StreamCollector:
    """Collect the values of ``fields`` from the events of ``stream``; subclasses react.

    Hooks: ``on_start()``, ``on_descriptor(doc)``, ``on_event(doc)``, ``on_stop(doc)``.
    """

    def __init__(self, fields: list[str] | None = None, stream: str = "primary") -> None:
        self.fields = fields
        self.stream = stream
        self.start_doc: dict[str, Any] = {}
        self.columns: dict[str, list[Any]] = {}
        self._descriptors: set[str] = set()

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self.start_doc = doc
            self.columns = {f: [] for f in self.fields or []}
            self._descriptors = set()
            self.on_start()
        elif name == "descriptor" and doc.get("name") == self.stream:
            self._descriptors.add(doc["uid"])
            self.on_descriptor(doc)
        elif name == "event" and doc["descriptor"] in self._descriptors:
            data = doc["data"]
            for f in self.fields if self.fields is not None else list(data):
                if f in data:
                    self.columns.setdefault(f, []).append(data[f])
            self.on_event(doc)
        elif name == "stop" and doc.get("run_start") == self.start_doc.get("uid"):
            self.on_stop(doc)

    def on_start(self) -> None:
        """A run started."""

    def on_descriptor(self, doc: dict[str, Any]) -> None:
        """A descriptor of the followed stream arrived."""

    def on_event(self, doc: dict[str, Any]) -> None:
        """An event of the followed stream arrived (its values are in ``columns``)."""

    def on_stop(self, doc: dict[str, Any]) -> None:
        """The run stopped."""
