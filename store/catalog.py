"""The catalog: find runs in a data directory by uid, uid prefix, scan_id or recency."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import xarray as xr

from store.netcdf import iter_documents, read_header


class Run:
    """One stored run: ``.metadata`` (start/stop), ``.stream(name)`` as xarray, ``.documents()``."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.metadata = {"start": header["start"], "stop": header["stop"]}
        self.streams = list(header["streams"])

    @property
    def uid(self) -> str:
        """The run's uid."""
        return str(self.metadata["start"]["uid"])

    def stream(self, name: str = "primary") -> xr.Dataset:
        """The stream ``name`` as a Dataset with a ``time`` dimension."""
        if name not in self.streams:
            raise KeyError(f"run {self.uid[:8]} has no stream {name!r} (streams: {self.streams})")
        return xr.open_dataset(self.path, group=name, decode_times=False).load()

    def documents(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The run's documents, as they were emitted."""
        return iter_documents(self.path)

    def __repr__(self) -> str:
        start = self.metadata["start"]
        return f"Run(scan_id={start.get('scan_id')}, uid={self.uid[:8]!r}, plan={start.get('plan_name')!r})"


class Catalog:
    """All runs in ``data_dir``: ``Catalog(d)[key]`` with a uid, uid prefix, scan_id or -1."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)

    def runs(self) -> list[Run]:
        """Every readable run, oldest first; unreadable files are reported and skipped."""
        found: list[Run] = []
        for path in sorted(self.data_dir.glob("*.nc")):
            try:
                found.append(Run(path, read_header(path)))
            except Exception as exc:  # a corrupt or foreign file must not break the catalog
                print(f"catalog: skipping {path.name}: {exc}", file=sys.stderr)
        found.sort(key=lambda r: (r.metadata["start"].get("time", 0), r.metadata["start"].get("scan_id", 0)))
        return found

    def __len__(self) -> int:
        return len(self.runs())

    def __getitem__(self, key: int | str) -> Run:
        runs = self.runs()
        if isinstance(key, int) or key.lstrip("-").isdigit():
            n = int(key)
            if n < 0:
                if -n > len(runs):
                    raise KeyError(f"only {len(runs)} runs in {self.data_dir}; {n} reaches past the first")
                return runs[n]
            matches = [r for r in runs if r.metadata["start"].get("scan_id") == n]
            if not matches:
                raise KeyError(f"no run with scan_id {n} in {self.data_dir}")
            return matches[-1]
        matches = [r for r in runs if r.uid.startswith(key)]
        if not matches:
            raise KeyError(f"no run with uid {key!r} in {self.data_dir}")
        if len(matches) > 1:
            raise KeyError(f"uid prefix {key!r} is ambiguous: " + ", ".join(r.uid for r in matches))
        return matches[0]
