"""Per-event edge scan vs a 0.5 eV fixed-step scan on the twin's Cu K edge (issue 7's edge target).

For each seed (a twin with its own noise): the slope agent steps through the scenario
``xafs-edge``'s search range per event, with the evaluation environment's options; a 0.5 eV
fixed-step scan covers the same range on a twin of the same seed. Both are reduced the same way
(E0 = maximum of the derivative, edge step = post- minus pre-edge line at E0) and compared with
the twin's truth.

The criterion ("as precisely as a 0.5 eV fixed-step scan with ≤ 50 % of its points"), judged
over all seeds together because one noise draw per seed makes a per-seed verdict a coin toss:

- E0: the RMS over seeds of (E0 found − E0 true) of the slope scan ≤ that of the 0.5 eV scan;
- edge step: the RMS over seeds of (step found / step true − 1) of the slope scan ≤ that of the
  0.5 eV scan (judged separately from E0);
- points: every slope scan measures ≤ 50 % of the 0.5 eV scan's points.

The slope agent runs with the evaluation environment's options: the per-event scan, then what its
budget (the scenario's ``max_points``, half the 0.5 eV scan) leaves goes into the edge step's pre-
and post-edge windows. The scan alone (no window fill) is judged the same way beside it
(``direct_scan_only``).

Medians of the absolute errors and the mean (bias) are printed beside the RMS.

    python -P benchmarks/xafs_edge.py [--seeds 20] [--first-seed 0] [--jobs 2] [--ca 3]

The seeds run in the physics model (direct mode, ``--jobs`` processes); ``--ca N`` also runs the
slope scan on N of them full stack (twin subprocess, devices over CA, our RunEngine), compared
with the same seed's 0.5 eV scan. The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from adaptive.agents import make_agent
from scenarios.envs.xafs_edge import XafsEdgeEnv, edge_criterion


def slope_scan(env: XafsEdgeEnv, fill: bool = True) -> dict[str, Any]:
    """The slope agent against ``env`` until it stops asking (``fill``: with the environment's window
    fill, else the scan alone); its signed errors and point count."""
    opts = env.agent_options("slope")
    if not fill:
        opts = {k: v for k, v in opts.items() if k not in ("budget", "windows")}
    agent = make_agent("slope", env.bounds, seed=env.seed, **opts)
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
    e0, step = env.edge_errors(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
    return {"points": len(xs), "e0_error_ev": e0, "step_error": step, "wall_s": time.perf_counter() - t0}


def direct_seed(seed: int) -> dict[str, Any]:
    """Both designs on the physics model of ``seed`` (the environment measures the 0.5 eV scan)."""
    env = XafsEdgeEnv(seed=seed, mode="direct")
    assert env.reference is not None and env.reference_points is not None
    e0, step = env.reference
    scan_only = slope_scan(XafsEdgeEnv(seed=seed, mode="direct", target=0.0), fill=False)
    return {"seed": seed, "slope": slope_scan(env), "scan_only": scan_only,
            "fixed": {"points": env.reference_points, "e0_error_ev": e0, "step_error": step}}


def ca_seed(seed: int) -> dict[str, Any]:
    """The slope scan full stack over CA on a twin of ``seed`` (and that seed's 0.5 eV scan, direct)."""
    env = XafsEdgeEnv(seed=seed, mode="ca")
    try:
        slope = slope_scan(env)
    finally:
        env.close()
    assert env.reference is not None and env.reference_points is not None
    e0, step = env.reference
    return {"seed": seed, "slope": slope, "fixed": {"points": env.reference_points, "e0_error_ev": e0,
                                                    "step_error": step}}


def line(row: dict[str, Any], how: str) -> str:
    """One seed's result as a line."""
    def part(name: str, r: dict[str, Any]) -> str:
        return f"{name} {r['points']} pts E0 {r['e0_error_ev']:+.4f} eV step {r['step_error']:+.5f}"

    designs = [("slope", "slope"), ("scan_only", "scan only"), ("fixed", "0.5 eV scan")]
    return f"seed {row['seed']} {how}: " + " | ".join(part(label, row[k]) for k, label in designs if k in row)


def main() -> None:
    """Run the comparison and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="processes for the direct-mode seeds")
    ap.add_argument("--ca", type=int, default=0, help="seeds (the first N) to run full stack over CA too")
    args = ap.parse_args()
    if args.seeds < 1 or args.jobs < 1 or args.ca < 0:
        raise SystemExit("--seeds and --jobs must be positive, --ca not negative")
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = []
        for row in pool.map(direct_seed, seeds):
            rows.append(row)
            print(line(row, "direct"), flush=True)
    ca_rows = []
    for seed in seeds[:args.ca]:
        ca_rows.append(ca_seed(seed))
        print(line(ca_rows[-1], "over CA"), flush=True)
    figures: dict[str, Any] = {"benchmark": "xafs_edge", "seeds": seeds, "direct": edge_criterion(rows),
                               "direct_scan_only": edge_criterion([{**r, "slope": r["scan_only"]} for r in rows])}
    if ca_rows:
        figures["ca"] = {**edge_criterion(ca_rows), "per_seed": [
            {"seed": r["seed"], "points": r["slope"]["points"], "e0_error_ev": r["slope"]["e0_error_ev"],
             "step_error": r["slope"]["step_error"]} for r in ca_rows]}
    figures.update({"wall_s": round(time.perf_counter() - t0, 1),
                    "load_average_1min": {"start": load0, "end": os.getloadavg()[0]}})
    d = figures["direct"]
    print(f"over {len(rows)} seeds: E0 RMS slope {d['e0_rms_ev']['slope']:.4f} vs 0.5 eV scan "
          f"{d['e0_rms_ev']['fixed']:.4f} eV; step RMS {d['step_rms']['slope']:.5f} vs {d['step_rms']['fixed']:.5f}; "
          f"points ≤ {d['points_fraction_max']:.2f} of the scan's; met: {d['met']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
