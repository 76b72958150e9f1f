"""Beamline files (YAML): ``devices`` (the profile acq loads) and ``physics`` (what the twin simulates).

This package holds data only and imports nothing of the project, so that ``acq`` (profiles),
``twin`` (physics) and ``scenarios`` can all read the same single source of PV prefixes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent


def names() -> list[str]:
    """The names of the beamline files shipped with beamtwin."""
    return sorted(p.stem for p in HERE.glob("*.yaml"))


def path(name_or_path: str | Path) -> Path:
    """The file of a shipped beamline (by name) or the given path, which must exist."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise FileNotFoundError(f"beamline file {candidate} does not exist")
        return candidate
    shipped = HERE / f"{name_or_path}.yaml"
    if not shipped.is_file():
        raise FileNotFoundError(f"no beamline named {str(name_or_path)!r} (shipped: {', '.join(names())})")
    return shipped


def read_mapping(p: Path, what: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping; errors name the file (``what`` says what it is)."""
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{p}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{p}: {what}")
    return data


def load(name_or_path: str | Path) -> dict[str, Any]:
    """Parse a beamline file; errors name the file and the bad field."""
    p = path(name_or_path)
    data = read_mapping(p, "a beamline file is a mapping with 'devices' (and 'physics')")
    devices = data.get("devices")
    if not isinstance(devices, dict) or not devices:
        raise ValueError(f"{p}: 'devices' must be a non-empty mapping of name → {{kind, prefix}}")
    for name, spec in devices.items():
        if not isinstance(spec, dict):
            raise ValueError(f"{p}: devices.{name} must be a mapping with 'kind' and 'prefix'")
        for key in ("kind", "prefix"):
            if not isinstance(spec.get(key), str) or not spec[key]:
                raise ValueError(f"{p}: devices.{name}.{key} must be a non-empty string")
    data["_hash"] = hashlib.sha256(p.read_bytes()).hexdigest()
    data["_path"] = str(p)
    return data
