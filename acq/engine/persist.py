"""Small state files: the last scan_id and the user metadata (``RE.md``), kept across restarts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


class ScanIdFile:
    """The last scan_id, kept in a small file so that it persists across restarts."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.value = 0
        if path is not None and path.exists():
            self.value = int(json.loads(path.read_text())["scan_id"])

    def next(self) -> int:
        """The next scan_id (written to the file before it is used)."""
        self.value += 1
        if self.path is not None:
            _write_json(self.path, {"scan_id": self.value})
        return self.value


class PersistentDict(dict[str, Any]):
    """A dict of JSON values that rewrites its file on every change (``RE.md`` with a state_dir)."""

    def __init__(self, path: Path, initial: dict[str, Any] | None = None) -> None:
        super().__init__(json.loads(path.read_text()) if path.exists() else {})
        self.path = path
        if initial:
            self.update(initial)

    def _save(self) -> None:
        _write_json(self.path, dict(self))

    @staticmethod
    def _check(key: str, value: Any) -> None:
        """Refuse, naming the key, a value that JSON cannot hold."""
        try:
            json.dumps(value)
        except TypeError as exc:
            raise TypeError(f"RE.md[{key!r}]: only JSON values can be persisted ({exc})") from None

    def __setitem__(self, key: str, value: Any) -> None:
        self._check(key, value)
        super().__setitem__(key, value)
        self._save()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._save()

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Update several keys at once (one write)."""
        for key, value in dict(*args, **kwargs).items():
            self._check(key, value)
            super().__setitem__(key, value)
        self._save()

    def pop(self, key: str, *default: Any) -> Any:  # type: ignore[override]
        """Remove ``key`` and return its value."""
        value = super().pop(key, *default)
        self._save()
        return value

    def setdefault(self, key: str, default: Any = None) -> Any:
        """``md[key]``, set to ``default`` first if missing."""
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self) -> None:
        """Remove every key."""
        super().clear()
        self._save()
