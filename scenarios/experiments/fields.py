"""Typed reading of a scenario's ``experiment`` mapping; every error names the bad field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

_MISSING = object()


class Fields:
    """``Fields(raw, "experiment", path).number("start")``: the value, or a ``ValueError`` that
    names ``experiment.start`` (and the scenario file) and says what was expected."""

    def __init__(self, raw: Any, where: str, path: str | Path = "") -> None:
        self.where = where
        self.path = str(path)
        if not isinstance(raw, dict):
            self.fail(where, f"must be a mapping, got {raw!r}")
        self.raw: dict[str, Any] = raw

    def fail(self, name: str, problem: str) -> NoReturn:
        """Raise the error for field ``name``."""
        prefix = f"{self.path}: " if self.path else ""
        raise ValueError(f"{prefix}{name} {problem}")

    def value(self, key: str, default: Any = _MISSING) -> Any:
        """The raw value of ``key`` (``default`` if absent; an error naming the field if required)."""
        if key in self.raw:
            return self.raw[key]
        if default is _MISSING:
            self.fail(f"{self.where}.{key}", "is missing")
        return default

    def only(self, *known: str) -> None:
        """Reject fields other than ``known`` (a misspelt field is an error, not a default)."""
        extra = sorted(set(self.raw) - set(known))
        if extra:
            self.fail(f"{self.where}.{extra[0]}", f"is not a known field (known: {', '.join(sorted(known))})")

    def number(self, key: str, default: Any = _MISSING, *, positive: bool = False) -> float:
        """A number (``positive``: > 0)."""
        value = self.value(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or (positive and value <= 0):
            self.fail(f"{self.where}.{key}", f"must be a {'positive ' if positive else ''}number, got {value!r}")
        return float(value)

    def integer(self, key: str, default: Any = _MISSING, *, minimum: int = 1) -> int:
        """An integer ≥ ``minimum``."""
        value = self.value(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(f"{self.where}.{key}", f"must be an integer ≥ {minimum}, got {value!r}")
        return int(value)

    def text(self, key: str, default: Any = _MISSING) -> str:
        """A non-empty string."""
        value = self.value(key, default)
        if not isinstance(value, str) or not value:
            self.fail(f"{self.where}.{key}", f"must be a non-empty string, got {value!r}")
        return str(value)

    def span(self, key: str, default: Any = _MISSING) -> tuple[float, float]:
        """``[low, high]`` with low < high."""
        value = self.value(key, default)
        if (not isinstance(value, list | tuple) or len(value) != 2
                or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value) or value[0] >= value[1]):
            self.fail(f"{self.where}.{key}", f"must be [low, high] with low < high, got {value!r}")
        return float(value[0]), float(value[1])

    def sub(self, key: str, default: Any = _MISSING) -> Fields:
        """The mapping under ``key``."""
        return Fields(self.value(key, default), f"{self.where}.{key}", self.path)
