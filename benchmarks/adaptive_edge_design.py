"""The edge task judged on its design: E0 and edge-step RMS errors over fresh noise draws on the points
the slope agent chose, divided by those of the 0.5 eV fixed-step scan (401 points) on the same draws.

One noise realisation per seed (what ``beamtwin evaluate --scenario edge`` scores) makes the per-seed
verdict a coin toss near a ratio of 1; re-drawing the noise on the chosen points measures how precise
the design itself is. Agents: the slope scan with the window fill (the task's default options) and
the slope scan alone (no ``budget``/``windows``). Usage: ``python -P benchmarks/adaptive_edge_design.py
[--seeds 10] [--first-seed 0] [--draws 30]``; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import numpy as np

from adaptive.agents import SlopeAgent
from adaptive.harness.tasks import Edge1D, edge_design_rms


def scan(env: Edge1D, seed: int, fill: bool) -> np.ndarray[Any, Any]:
    """The points the slope agent measures on ``env`` (with or without the window fill)."""
    opts = env.agent_options("slope")
    if not fill:
        opts = {k: v for k, v in opts.items() if k not in ("budget", "windows")}
    agent = SlopeAgent(env.bounds, seed=seed, **opts)
    xs: list[float] = []
    while len(xs) < env.budget and len(pts := agent.ask(1)):
        xs.append(float(pts[0][0]))
        agent.tell(pts[0], env.evaluate(pts[0]))
    return np.array(xs)


def main() -> None:
    """Measure every seed and print the figures."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--draws", type=int, default=30)
    args = p.parse_args()
    ref_x = np.arange(8900.0, 9100.0 + 1e-9, 0.5)
    rows: dict[str, list[tuple[int, float, float]]] = {"slope+fill": [], "slope": []}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        env = Edge1D(seed=seed)
        ref_e0, ref_step = edge_design_rms(ref_x, env, args.draws, [seed, 99])
        for name, fill in (("slope+fill", True), ("slope", False)):
            x = scan(env, seed, fill)
            e0, step = edge_design_rms(x, env, args.draws, [seed, 99])
            rows[name].append((len(x), e0 / ref_e0, step / ref_step))
    figures: dict[str, Any] = {"benchmark": "adaptive_edge_design", "seeds": args.seeds, "draws": args.draws,
                               "load_average_1min": os.getloadavg()[0]}
    for name, r in rows.items():
        a = np.array(r)
        figures[name] = {"points_median": float(np.median(a[:, 0])), "points_max": int(a[:, 0].max()),
                         "e0_rms_ratio": {"median": float(np.median(a[:, 1])), "max": float(a[:, 1].max())},
                         "step_rms_ratio": {"median": float(np.median(a[:, 2])), "max": float(a[:, 2].max())},
                         "per_seed": [[int(n), round(e, 3), round(s, 3)] for n, e, s in r]}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
