"""Exporters: small document consumers, one module per format (the "suitcases").

Each exporter is built with a destination, takes ``(name, doc)`` calls like any subscriber,
and ``close()`` returns the files it wrote. A new format is one module added to ``EXPORTERS``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol, TextIO

from store.export.csv import CsvPerStream
from store.export.jsonl import JsonLines
from store.export.xdi import Xdi


class Exporter(Protocol):
    """A document consumer that writes a format."""

    def __call__(self, name: str, doc: dict[str, Any]) -> None: ...

    def close(self) -> list[Path]: ...


FILE_EXPORTERS: dict[str, Any] = {"csv": CsvPerStream, "xdi": Xdi}
FORMATS = ["jsonl", *FILE_EXPORTERS]


def export(documents: Iterable[tuple[str, dict[str, Any]]], fmt: str, *, out_dir: Path | None = None,
           stream: TextIO | None = None) -> list[Path]:
    """Feed a run's documents to the ``fmt`` exporter; return the files written (none for a stream)."""
    exporter: Exporter
    if fmt == "jsonl":
        if out_dir is not None:
            exporter = JsonLines(out_dir=out_dir)
        else:
            exporter = JsonLines(stream=stream)
    elif fmt in FILE_EXPORTERS:
        exporter = FILE_EXPORTERS[fmt](out_dir or Path("."))
    else:
        raise ValueError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    try:
        for name, doc in documents:
            exporter(name, doc)
    finally:
        paths = exporter.close()
    return paths


__all__ = ["FORMATS", "CsvPerStream", "Exporter", "JsonLines", "Xdi", "export"]
