"""Hartmann6 yardstick: GP-BO against Sobol and random search, 10 seeds, 10 Sobol points in the budget.

Target (issue 7): GP-BO reaches simple regret < 0.1 in a median of ≤ 30 evaluations, and in every
seed within 60. Usage: ``python benchmarks/adaptive_hartmann6.py [--episodes 10] [--seeds START]
[--workers 2] [--out DIR]`` (seeds ``START`` … ``START + episodes − 1``; 0–9 are the issue's, 100–109
and 200–209 held out); the last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile

from adaptive.harness import evaluate, task_factory


def main() -> None:
    """Run the agents side by side and print the figures."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seeds", type=int, default=0, help="the first seed (default 0)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--budget", type=int, default=60)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="bench-hartmann6-")
    summary = evaluate(["gp-bo", "sobol", "random"], task_factory("hartmann6"), episodes=args.episodes,
                       workers=args.workers, out=out, budget=args.budget, scenario="hartmann6",
                       first_seed=args.seeds)
    import csv

    with open(f"{out}/episodes.csv") as f:
        rows = list(csv.DictReader(f))
    per_seed = {a: [int(r["evals_to_target"]) if r["evals_to_target"] else None for r in rows if r["agent"] == a]
                for a in summary["agents"]}
    gp = summary["agents"]["gp-bo"]
    figures = {
        "benchmark": "adaptive_hartmann6", "report": out, "budget": args.budget, "episodes": args.episodes,
        "first_seed": args.seeds,
        "evals_to_target": {a: s["evals_to_target"] for a, s in summary["agents"].items()},
        "evals_to_target_per_seed": per_seed,
        "final_regret_median": {a: s["final_regret"]["median"] for a, s in summary["agents"].items()},
        "gp_bo_latency_s": gp["suggestion_latency_s"],
        "target_median_le_30": gp["evals_to_target"]["median"] is not None and gp["evals_to_target"]["median"] <= 30,
        "target_every_seed_within_60": gp["evals_to_target"]["reached"] == args.episodes
        and (gp["evals_to_target"]["max"] or 1e9) <= 60,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
