"""The agent-campaign experiment of a scenario file: which axes in which box, which channel, which budget.

Shared by the scenario runner's experiments (``plan: align`` / ``plan: map``) and the
evaluation environments, so that both read one validated description; errors name the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adaptive.agents import AGENTS


@dataclass(frozen=True)
class CampaignSpec:
    """An agent steering ``axes`` (motor → (low, high)) by the ``channel`` of ``detector``."""

    axes: dict[str, tuple[float, float]]
    detector: str
    channel: str
    budget: int
    agent: str
    count_time: float = 1.0
    agent_options: dict[str, Any] = field(default_factory=dict)
    camera: str | None = None

    @property
    def names(self) -> list[str]:
        """The steered motors, in the agent's coordinate order."""
        return list(self.axes)

    @property
    def bounds(self) -> list[list[float]]:
        """The search box as the agents take it."""
        return [list(b) for b in self.axes.values()]


def _number(exp: dict[str, Any], key: str, where: str, *, positive: bool = True) -> float:
    value = exp.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or (positive and value <= 0):
        raise ValueError(f"{where}.{key} must be a positive number, got {value!r}")
    return float(value)


def parse_campaign(exp: dict[str, Any], where: str = "experiment", *, min_axes: int = 1,
                   devices: dict[str, Any] | None = None) -> CampaignSpec:
    """Validate an agent-campaign experiment; ``devices`` (the beamline's) checks the names."""
    axes_raw = exp.get("axes")
    if not isinstance(axes_raw, dict) or len(axes_raw) < min_axes:
        raise ValueError(f"{where}.axes must map at least {min_axes} motor name(s) to [low, high], got {axes_raw!r}")
    axes: dict[str, tuple[float, float]] = {}
    for name, box in axes_raw.items():
        if (not isinstance(box, list | tuple) or len(box) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in box) or box[0] >= box[1]):
            raise ValueError(f"{where}.axes.{name} must be [low, high] with low < high, got {box!r}")
        axes[str(name)] = (float(box[0]), float(box[1]))
    for key in ("detector", "channel", "agent"):
        if not isinstance(exp.get(key), str) or not exp[key]:
            raise ValueError(f"{where}.{key} must be a non-empty string, got {exp.get(key)!r}")
    if exp["agent"] not in AGENTS:
        raise ValueError(f"{where}.agent: unknown agent {exp['agent']!r} (known: {', '.join(AGENTS)})")
    budget = exp.get("budget")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"{where}.budget must be a positive integer (points measured), got {budget!r}")
    options = exp.get("agent_options") or {}
    if not isinstance(options, dict):
        raise ValueError(f"{where}.agent_options must be a mapping of agent constructor options")
    camera = exp.get("camera")
    if camera is not None and (not isinstance(camera, str) or not camera):
        raise ValueError(f"{where}.camera must be the name of an area_detector device, got {camera!r}")
    known = {"plan", "axes", "detector", "channel", "agent", "budget", "agent_options", "count_time", "camera"}
    unknown = set(exp) - known
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)} (known: {sorted(known)})")
    spec = CampaignSpec(axes=axes, detector=exp["detector"], channel=exp["channel"], budget=budget,
                        agent=exp["agent"], count_time=_number({"count_time": exp.get("count_time", 1.0)},
                                                                "count_time", where),
                        agent_options=dict(options), camera=camera)
    if devices is not None:
        for name in [*spec.names, spec.detector, *([camera] if camera else [])]:
            if name not in devices:
                raise ValueError(f"{where}: device {name!r} is not in the beamline (has: {sorted(devices)})")
        channels = (devices[spec.detector].get("channels") or {})
        if spec.channel not in channels:
            raise ValueError(f"{where}.channel: {spec.detector!r} has no channel {spec.channel!r} "
                             f"(has: {sorted(channels)})")
    return spec
