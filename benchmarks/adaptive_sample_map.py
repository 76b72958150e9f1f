"""The twin's sample-map task judged per seed: map error at 225 points for gp-map, Sobol and a 15×15
grid, the target (a 30×30 raster's error on the same twin), and how many points gp-map needs to reach it.

The error of every design is the same rule: the linear interpolation of its measured values on the
100×100 grid, RMSE against the twin's noise-free map over the map's range (``SampleMapEnv.error``).
Beside the measured figures, ``graded_gain`` is the asymptotic best error ratio of any linear map on
an optimally graded (isotropic) mesh over a uniform one with the same number of points,
``sqrt(A² ∫|H|² / (∫|H|^⅔)³)`` from the truth's Hessian H: reaching a 900-point raster with 225
points needs about 4 (a quarter of the points, error ∝ 1/N), so seeds whose deposits are large and
cover much of the box (gain < 4) leave little room to any adaptive design. ``--mode ca`` runs the
full stack over Channel Access (a twin per seed). Usage: ``python -P benchmarks/adaptive_sample_map.py
[--seeds 5] [--first-seed 0] [--mode direct|ca] [--every 5] [--workers 2] [--agent-options JSON]``;
the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from adaptive.agents import GPMapAgent, make_agent
from scenarios.envs.sample_map import SampleMapEnv

AGENTS = ("gp-map", "sobol", "grid")


def graded_gain(env: SampleMapEnv, n: int = 401) -> float:
    """sqrt(A² ∫|H|² / (∫|H|^⅔)³) of the truth's concentration on an n×n grid (see the module docstring)."""
    (x0, x1), (y0, y1) = env.bounds
    gx, gy = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    X, Y = np.meshgrid(gx, gy, indexing="ij")
    blobs = env.model.sample.truth()["blobs"]
    c = sum(a * np.exp(-0.5 * ((X - bx) ** 2 + (Y - by) ** 2) / s**2) for bx, by, s, a in blobs)
    hx, hy = gx[1] - gx[0], gy[1] - gy[0]
    cx, cy = np.gradient(c, hx, axis=0), np.gradient(c, hy, axis=1)
    cxx, cyy, cxy = np.gradient(cx, hx, axis=0), np.gradient(cy, hy, axis=1), np.gradient(cx, hy, axis=1)
    h = np.sqrt(cxx**2 + cyy**2 + 2 * cxy**2)
    area, da = (x1 - x0) * (y1 - y0), hx * hy
    return float(np.sqrt(area**2 * np.sum(h**2) * da / (np.sum(h ** (2 / 3)) * da) ** 3))


def campaign(name: str, env: SampleMapEnv, seed: int, every: int, options: dict[str, Any]) -> dict[str, Any]:
    """Run agent ``name`` for the budget (``options`` over the scenario's); its error every ``every`` points,
    points to reach the target and its suggestion latency."""
    agent = make_agent(name, env.bounds, seed=seed, **{**env.agent_options(name), **options})
    xs: list[Any] = []
    ys: list[float] = []
    trace: dict[int, float] = {}
    latency: list[float] = []
    t0 = time.perf_counter()
    while len(xs) < env.budget:
        t_ask = time.perf_counter()
        pts = agent.ask(1)
        latency.append(time.perf_counter() - t_ask)
        if not len(pts):
            break
        y = env.evaluate(pts[0])
        agent.tell(pts[0], y)
        xs.append(pts[0])
        ys.append(y)
        if (name == "gp-map" and len(xs) % every == 0) or len(xs) == env.budget:
            trace[len(xs)] = env.error(np.asarray(xs), np.asarray(ys))
    reach = next((n for n, e in sorted(trace.items()) if e < env.target), None)
    extra: dict[str, float] = {}
    if isinstance(agent, GPMapAgent):  # another rule beside the linear map: the GP's own mean as the map
        extra["error_gp_mean"] = float(np.sqrt(np.mean((agent.predict(env.grid)[0] - env.truth) ** 2))
                                       / np.ptp(env.truth))
    return {"error": trace[max(trace)], **extra, "points": len(xs), "points_to_target": reach,
            "wall_s": round(time.perf_counter() - t0, 1),
            "latency_s": {"median": round(float(np.median(latency)), 4),
                          "p95": round(float(np.percentile(latency, 95)), 4)}}


def measure_seed(seed: int, mode: str, every: int, options: dict[str, Any]) -> dict[str, Any]:
    """Every agent on ``seed`` (a fresh twin each), the raster's error and the seed's deposits."""
    row: dict[str, Any] = {"seed": seed}
    for name in AGENTS:
        env = SampleMapEnv(seed=seed, mode=mode)
        try:
            row[name] = campaign(name, env, seed, every, options if name == "gp-map" else {})
        finally:
            env.close()
    row["raster30_error"] = env.target
    row["blob_sizes"] = [round(b[2], 2) for b in env.model.sample.truth()["blobs"]]
    row["graded_gain"] = round(graded_gain(env), 2)
    return row


def main() -> None:
    """Measure every seed and print the figures."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--mode", choices=("direct", "ca"), default="direct")
    p.add_argument("--every", type=int, default=5, help="gp-map's error is computed every this many points")
    p.add_argument("--workers", type=int, default=1, help="seeds measured in parallel (one process each)")
    p.add_argument("--agent-options", type=json.loads, default={},
                   help="JSON object of gp-map options over the scenario's own (to measure alternatives)")
    args = p.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(seed, args.mode, args.every, args.agent_options) for seed in seeds]
    per_seed: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max(1, args.workers), mp_context=multiprocessing.get_context("spawn")) as pool:
        for row in pool.map(measure_seed, *zip(*jobs, strict=True)):
            per_seed.append(row)
            g, target = row["gp-map"], row["raster30_error"]
            print(f"seed {row['seed']}: gp-map {g['error']:.4f} (reaches {target:.4f} at {g['points_to_target']}; "
                  f"ratio {g['error'] / target:.3f}; its GP mean {g['error_gp_mean']:.4f}), "
                  f"sobol {row['sobol']['error']:.4f}, "
                  f"grid 15x15 {row['grid']['error']:.4f}, graded-mesh gain {row['graded_gain']}", flush=True)
    reached = [r["gp-map"]["points_to_target"] for r in per_seed]
    print(json.dumps({
        "benchmark": "adaptive_sample_map", "mode": args.mode, "load": os.getloadavg()[0],
        "agent_options": args.agent_options, "first_seed": args.first_seed,
        "gp_map_reached": sum(r is not None for r in reached), "seeds": len(per_seed),
        "median_error_225": {a: float(np.median([r[a]["error"] for r in per_seed])) for a in AGENTS},
        "median_raster30_error": float(np.median([r["raster30_error"] for r in per_seed])),
        "median_ratio_to_raster30": float(np.median([r["gp-map"]["error"] / r["raster30_error"] for r in per_seed])),
        "median_gp_mean_ratio_to_raster30": float(np.median([r["gp-map"]["error_gp_mean"] / r["raster30_error"]
                                                              for r in per_seed])),
        "gp_map_latency_s": {"median": float(np.median([r["gp-map"]["latency_s"]["median"] for r in per_seed])),
                             "p95": float(np.max([r["gp-map"]["latency_s"]["p95"] for r in per_seed]))},
        "per_seed": per_seed}))


if __name__ == "__main__":
    main()
