"""Environment factories for ``beamtwin evaluate --scenario S``.

The analytic tasks (``hartmann6`` and the direct-mode stand-ins ``map2d``, ``edge``,
``phases``) come from ``adaptive.harness.tasks``; twin-backed factories (full stack over CA,
or direct calls into the twin's physics) are added here once the twin's optics, XAFS edge,
diffraction and 2-D map samples exist. A factory is a picklable ``seed -> Environment``.
"""

from __future__ import annotations

from typing import Any

SCENARIOS: dict[str, str] = {
    "hartmann6": "the 6-D Hartmann function (noise-free), simple regret < 0.1; no twin",
    "map2d": "analytic 2-D map with a sharp boundary (stand-in for the twin's map sample), direct mode",
    "edge": "analytic absorption edge (stand-in for the twin's XAFS edge), direct mode",
    "phases": "analytic phase library with diffraction-like patterns (stand-in for the twin's), direct mode",
}


def scenario_factory(name: str) -> Any:
    """The environment factory of the evaluation scenario ``name``."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown evaluation scenario {name!r}; known: {', '.join(SCENARIOS)}")
    from adaptive.harness.tasks import task_factory

    return task_factory(name)
