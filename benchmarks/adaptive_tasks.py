"""Agents on the direct-mode stand-ins for the twin's tasks (analytic; the twin-backed ones come later).

- ``map2d``: normalised RMSE of the map (linear interpolation of the data, 100×100 grid, against
  the noise-free truth; this stand-in keeps the linear rule for every design, see ``Map2D``). Target:
  the error of a 30×30 raster (900 points) with ≤ 25% of its points (225), and better than Sobol at
  the same budget. Agents: gp-map, sobol, grid.
- ``edge``: E0 (maximum of the derivative) and edge-step errors, each over a 0.5 eV fixed-step
  scan's RMS error (401 points); error = the worse ratio, target 1 with ≤ 50% of the points.
  Agents: slope, grid (200-point raster), sobol.
- ``phases``: 1 − adjusted Rand index of the phase labels over a 400-sample library.
  Target: ARI ≥ 0.9. Agents: cluster, random, sobol.

Usage: ``python benchmarks/adaptive_tasks.py [--episodes 5] [--workers 2] [--tasks map2d,edge,phases]``;
the last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile

from adaptive.harness import evaluate, task_factory

AGENTS = {"map2d": ["gp-map", "sobol", "grid"], "edge": ["slope", "grid", "sobol"],
          "phases": ["cluster", "random", "sobol"]}


def main() -> None:
    """Evaluate each task's agents side by side and print the figures."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--tasks", default="map2d,edge,phases")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="bench-adaptive-tasks-")
    figures: dict[str, object] = {"benchmark": "adaptive_tasks", "report": out, "episodes": args.episodes}
    for task in args.tasks.split(","):
        summary = evaluate(AGENTS[task], task_factory(task), episodes=args.episodes, workers=args.workers,
                           out=f"{out}/{task}", scenario=task)
        factory = task_factory(task)
        figures[task] = {
            "reference_error_per_seed": [
                {"e0_rms_ev": env.ref_e0_error, "step_rms": env.ref_step_error} if hasattr(env, "ref_e0_error")
                else env.target for env in (factory(s) for s in range(args.episodes))],
            "metrics": {a: s.get("metrics", {}) for a, s in summary["agents"].items()},
            "agents": {a: {"evals_to_target": s["evals_to_target"], "final_error": s["final_regret"],
                           "evaluations": s["evaluations"]["median"],
                           "latency_median_s": s["suggestion_latency_s"]["median"]}
                       for a, s in summary["agents"].items()}}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
