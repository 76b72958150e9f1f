"""Scenario files: which beamline, which experiment, which success criteria."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import beamlines
from scenarios.faults import FaultSpec, SuspenderSpec, parse_faults, parse_suspenders

LIBRARY = Path(__file__).parent / "library"
DEFAULT = "demo"


@dataclass
class Scenario:
    """A parsed, validated scenario file."""

    name: str
    path: Path
    beamline: dict[str, Any]
    experiment: dict[str, Any]
    success: dict[str, Any] = field(default_factory=dict)
    speed: float = 20.0
    seed: int = 0
    description: str = ""
    faults: list[FaultSpec] = field(default_factory=list)
    suspenders: list[SuspenderSpec] = field(default_factory=list)
    ci: dict[str, Any] = field(default_factory=dict)

    def ci_variant(self) -> Scenario:
        """The small variant the test suite runs: ``ci:`` overrides ``speed``, ``faults`` and
        fields of ``experiment`` and ``success`` (the scenario itself when it has no ``ci:``)."""
        return replace(self, experiment={**self.experiment, **self.ci.get("experiment", {})},
                       success={**self.success, **self.ci.get("success", {})},
                       speed=float(self.ci.get("speed", self.speed)),
                       faults=parse_faults(self.ci["faults"], "ci.faults") if "faults" in self.ci else self.faults)


def names() -> list[str]:
    """The scenarios shipped with beamtwin."""
    return sorted(p.stem for p in LIBRARY.glob("*.yaml"))


def load(name_or_path: str | Path | None = None) -> Scenario:
    """Load a shipped scenario by name, or a scenario file; errors name the bad field."""
    ref = str(name_or_path or DEFAULT)
    path = Path(ref) if ref.endswith((".yaml", ".yml")) else LIBRARY / f"{ref}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no scenario {ref!r} (shipped: {', '.join(names())})")
    raw = beamlines.read_mapping(path, "a scenario is a mapping with 'beamline' and 'experiment'")
    for key in ("beamline", "experiment"):
        if key not in raw:
            raise ValueError(f"{path}: field {key!r} is missing")
    experiment = raw["experiment"]
    if not isinstance(experiment, dict) or "plan" not in experiment:
        raise ValueError(f"{path}: experiment.plan is missing")
    speed = raw.get("speed", 20.0)
    if not isinstance(speed, int | float) or speed <= 0:
        raise ValueError(f"{path}: speed must be a positive number, got {speed!r}")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{path}: seed must be a non-negative integer, got {seed!r}")
    ci = raw.get("ci") or {}
    if not isinstance(ci, dict) or set(ci) - {"speed", "experiment", "faults", "success"}:
        raise ValueError(f"{path}: ci must be a mapping of speed, experiment, faults and success, got {ci!r}")
    for part in ("experiment", "success"):
        if not isinstance(ci.get(part, {}), dict):
            raise ValueError(f"{path}: ci.{part} must be a mapping of {part} fields")
    if not isinstance(raw.get("success") or {}, dict):
        raise ValueError(f"{path}: success must be a mapping of criteria")
    ci_speed = ci.get("speed", 1.0)
    if not isinstance(ci_speed, int | float) or ci_speed <= 0:
        raise ValueError(f"{path}: ci.speed must be a positive number, got {ci_speed!r}")
    try:
        faults = parse_faults(raw.get("faults"))
        suspenders = parse_suspenders(raw.get("suspenders"))
        parse_faults(ci.get("faults"), "ci.faults")
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return Scenario(
        name=str(raw.get("name", path.stem)),
        path=path,
        beamline=beamlines.load(raw["beamline"]),
        experiment=experiment,
        success=raw.get("success") or {},
        speed=float(speed),
        seed=seed,
        description=str(raw.get("description", "")),
        faults=faults,
        suspenders=suspenders,
        ci=ci,
    )
