"""Environment factories for ``beamtwin evaluate --scenario S``.

The analytic tasks (``hartmann6`` and the direct-mode stand-ins ``map2d``, ``edge``,
``phases``) come from ``adaptive.harness.tasks``; the twin-backed factories (full stack over
CA, or direct calls into the twin's physics) live in ``scenarios.envs``. A factory is a
picklable ``seed -> Environment``.
"""

from __future__ import annotations

from typing import Any

SCENARIOS: dict[str, str] = {
    "hartmann6": "the 6-D Hartmann function (noise-free), simple regret < 0.1; no twin",
    "map2d": "analytic 2-D map with a sharp boundary (stand-in for the twin's map sample), direct mode",
    "edge": "analytic absorption edge (stand-in for the twin's XAFS edge), direct mode",
    "phases": "analytic phase library with diffraction-like patterns (stand-in for the twin's), direct mode",
    "xafs-edge": "the twin's Cu K edge (scenario xafs-edge): |E0 found - E0 true| vs a 0.5 eV scan's; full stack "
                 "over CA (--direct: the physics model)",
    "phase-library": "the twin's phase library (scenario phase-library): 1 - ARI of the phase labels, target 0.1; "
                     "full stack over CA (--direct: the physics model)",
    "alignment": "the twin's 4 coupled optics axes (scenario alignment): evaluations to 95 % of the true optimum "
                 "flux; full stack over CA (--direct: the physics model)",
    "sample-map": "the twin's 2-D map sample (scenario sample-map): map error vs a 30×30 raster's; full stack "
                  "over CA (--direct: the physics model)",
}

#: twin-backed evaluation scenarios: name → "module:factory class" (the factory takes mode=ca|direct)
TWIN_FACTORIES: dict[str, str] = {
    "xafs-edge": "scenarios.envs.xafs_edge:XafsEdgeFactory",
    "phase-library": "scenarios.envs.phase_library:PhaseLibraryFactory",
    "alignment": "scenarios.envs.alignment:AlignmentFactory",
    "sample-map": "scenarios.envs.sample_map:SampleMapFactory",
}


def scenario_factory(name: str, *, direct: bool = False) -> Any:
    """The environment factory of the evaluation scenario ``name`` (twin-backed ones over CA,
    or with ``direct`` on the physics model)."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown evaluation scenario {name!r}; known: {', '.join(SCENARIOS)}")
    if name in TWIN_FACTORIES:
        import importlib

        module, cls = TWIN_FACTORIES[name].split(":")
        return getattr(importlib.import_module(module), cls)(scenario=name, mode="direct" if direct else "ca")
    from adaptive.harness.tasks import task_factory

    return task_factory(name)
