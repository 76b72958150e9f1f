"""Per-event edge scan vs a 0.5 eV fixed-step scan on the twin's Cu K edge (issue 7's edge target).

For each seed: the slope agent steps through the scenario ``xafs-edge``'s search range (per
event, until it has nothing more to ask); a 0.5 eV fixed-step scan covers the same range on
a twin of the same seed. Both are reduced the same way (E0 = maximum of the derivative, edge
step from the pre-/post-edge lines) and compared with the twin's truth. Target: the adaptive
scan's E0 and step errors no worse than the fixed scan's, with ≤ 50 % of its points.

    python -P benchmarks/xafs_edge.py [--seeds 10] [--ca 2]

``--ca N`` also runs N seeds full stack (twin subprocess, devices over CA). The last line is
one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from adaptive.agents import make_agent
from scenarios.envs.xafs_edge import XafsEdgeEnv, fixed_step_points


def slope_episode(env: XafsEdgeEnv, seed: int) -> dict[str, Any]:
    """The slope agent against ``env`` until it stops asking; its errors and point count."""
    agent = make_agent("slope", env.bounds, seed=seed, **env.agent_options("slope"))
    xs, ys = [], []
    t0 = time.perf_counter()
    for _ in range(env.budget):
        pts = agent.ask(1)
        if not len(pts):
            break
        y = env.evaluate(pts[0])
        agent.tell(pts[0], y)
        xs.append(pts[0])
        ys.append(y)
    X, Y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    return {"points": len(xs), "e0_error": env.error(X, Y), "step_error": env.edge_step_error(X, Y),
            "wall_s": time.perf_counter() - t0}


def fixed_episode(env: XafsEdgeEnv) -> dict[str, Any]:
    """The 0.5 eV fixed-step scan against ``env``."""
    pts = fixed_step_points(env.xp)[:, None]
    Y = np.array([env.evaluate(p) for p in pts])
    return {"points": len(pts), "e0_error": env.error(pts, Y), "step_error": env.edge_step_error(pts, Y)}


def main() -> None:
    """Run the comparison and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--ca", type=int, default=0, help="seeds to run full stack over CA too")
    args = ap.parse_args()
    rows = []
    for seed in range(args.seeds):
        env = XafsEdgeEnv(seed=seed, mode="direct", target=0.0)
        slope, fixed = slope_episode(env, seed), fixed_episode(XafsEdgeEnv(seed=seed, mode="direct", target=0.0))
        rows.append({"seed": seed, "mode": "direct", "slope": slope, "fixed": fixed})
        print(f"seed {seed}: slope {slope['points']} pts E0 err {slope['e0_error']:.3f} eV step err "
              f"{slope['step_error']:.4f} | fixed {fixed['points']} pts E0 err {fixed['e0_error']:.3f} step err "
              f"{fixed['step_error']:.4f}", flush=True)
    for seed in range(args.ca):
        env = XafsEdgeEnv(seed=seed, mode="ca", target=0.0)
        try:
            slope = slope_episode(env, seed)
        finally:
            env.close()
        rows.append({"seed": seed, "mode": "ca", "slope": slope})
        print(f"seed {seed} over CA: slope {slope['points']} pts E0 err {slope['e0_error']:.3f} eV step err "
              f"{slope['step_error']:.4f}, {slope['points'] / slope['wall_s']:.1f} points/s", flush=True)

    def med(mode: str, who: str, key: str) -> float | None:
        vals = [r[who][key] for r in rows if r["mode"] == mode and who in r]
        return float(np.median(vals)) if vals else None

    direct = [r for r in rows if r["mode"] == "direct"]
    figures = {
        "seeds": args.seeds,
        "slope_points_median": med("direct", "slope", "points"),
        "fixed_points": direct[0]["fixed"]["points"] if direct else None,
        "points_fraction_median": float(np.median([r["slope"]["points"] / r["fixed"]["points"] for r in direct])),
        "slope_e0_error_median_ev": med("direct", "slope", "e0_error"),
        "fixed_e0_error_median_ev": med("direct", "fixed", "e0_error"),
        "slope_step_error_median": med("direct", "slope", "step_error"),
        "fixed_step_error_median": med("direct", "fixed", "step_error"),
        "seeds_slope_e0_at_least_as_precise": sum(r["slope"]["e0_error"] <= r["fixed"]["e0_error"] for r in direct),
        "seeds_slope_step_at_least_as_precise": sum(r["slope"]["step_error"] <= r["fixed"]["step_error"]
                                                    for r in direct),
        "ca_seeds": args.ca,
        "ca_slope_points_median": med("ca", "slope", "points"),
        "ca_slope_e0_error_median_ev": med("ca", "slope", "e0_error"),
        "ca_slope_step_error_median": med("ca", "slope", "step_error"),
    }
    f = figures
    f["target_met"] = bool(f["points_fraction_median"] <= 0.5
                           and f["slope_e0_error_median_ev"] <= f["fixed_e0_error_median_ev"]
                           and f["slope_step_error_median"] <= f["fixed_step_error_median"])
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
