"""Cross-run phase mapping on the twin's sample library (issue 7's phase target: ARI ≥ 0.9).

For each seed (the twin's phase boundaries are drawn from it) every agent chooses up to the
scenario ``phase-library``'s budget of spots (40 of the 10×10 library), each measured as a 2θ
pattern on the physics model (direct mode); the labels of the whole library are then
predicted by clustering and compared with the twin's truth (adjusted Rand index).

    python -P benchmarks/phase_library.py [--seeds 5] [--agents cluster,random,grid]

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from adaptive.harness import run_episode
from scenarios.envs.phase_library import PhaseLibraryFactory


def main() -> None:
    """Run the agents and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--agents", default="cluster,random,grid")
    args = ap.parse_args()
    figures: dict[str, object] = {"seeds": args.seeds}
    for agent in args.agents.split(","):
        results = [run_episode(agent, PhaseLibraryFactory(mode="direct"), seed) for seed in range(args.seeds)]
        errors = [r.error for r in results if r.error]
        if errors:
            raise SystemExit(f"{agent}: {errors[0]}")
        ari = [1.0 - r.final_error for r in results]
        reached = [r.evals_to_target for r in results if r.evals_to_target is not None]
        print(f"{agent}: ARI {[round(a, 3) for a in ari]}, ARI ≥ 0.9 reached after {reached} spots", flush=True)
        figures[agent] = {"ari_median": float(np.median(ari)), "ari_min": float(min(ari)),
                          "seeds_ari_0_9": sum(a >= 0.9 for a in ari), "spots": results[0].n_evals,
                          "spots_to_ari_0_9_median": float(np.median(reached)) if reached else None}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
