"""GP-BO suggestion latency with 200 observations in 4-D, one worker (one torch thread).

Target (issue 7): median ≤ 0.3 s and 95th percentile ≤ 0.5 s per suggestion. The agent is told
200 points of a smooth 4-D function, then asked ``--asks`` times, each suggestion told before the
next (so the model holds 200 … 200 + asks − 1 observations). Wall-clock and CPU time are both
reported, with the load average: on a shared machine the wall clock measures the neighbours too.
``--rounds`` (3) repeats on the next seeds. Run with ``python -P`` (``benchmarks/queue.py`` would
shadow the standard ``queue``). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from adaptive.agents import GPBOAgent
from adaptive.agents.gp import one_thread


def objective(x: np.ndarray) -> float:
    """A smooth 4-D test function with coupled axes."""
    return float(np.sin(3 * x[0]) * np.cos(2 * x[1]) + (x[2] - 0.5 * x[3]) ** 2)


def one_round(observations: int, asks: int, seed: int, **options: Any) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of ``asks`` suggestions, the model holding ``observations`` and more."""
    rng = np.random.default_rng(seed)
    agent = GPBOAgent([[0.0, 1.0]] * 4, seed=seed, n_init=10, **options)
    x0 = rng.random((observations, 4))
    agent.tell_many(x0, [objective(x) for x in x0])
    agent.ask(1)  # warm-up (imports, first-call overheads, the first fit is cold); not counted
    agent.pending.clear()
    lat, cpu = [], []
    for _ in range(asks):
        t0, c0 = time.perf_counter(), time.process_time()
        x = agent.ask(1)[0]
        lat.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        agent.tell(x, objective(x))
    return lat, cpu


def main() -> None:
    """Measure and print the latency figures (pooled over the rounds, and per round)."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--observations", type=int, default=200)
    p.add_argument("--asks", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=3, help="rounds on seeds seed, seed+1, … (pooled)")
    p.add_argument("--fast-refit-after", type=int, default=None,
                   help="GP-BO's fast_refit_after (default: the agent's; a huge value turns the fast refit off)")
    args = p.parse_args()
    one_thread()
    lat: list[float] = []
    cpu: list[float] = []
    rounds = []
    loads = []
    for r in range(args.rounds):
        opts = {} if args.fast_refit_after is None else {"fast_refit_after": args.fast_refit_after}
        lr, cr = one_round(args.observations, args.asks, args.seed + r, **opts)
        loads.append(os.getloadavg()[0])
        rounds.append({"median_s": float(np.median(lr)), "p95_s": float(np.percentile(lr, 95)),
                       "cpu_median_s": float(np.median(cr)), "cpu_p95_s": float(np.percentile(cr, 95)),
                       "load_average_1min": loads[-1]})
        lat += lr
        cpu += cr
    arr = np.array(lat)
    cpu_arr = np.array(cpu)
    print(json.dumps({"benchmark": "adaptive_latency", "observations": args.observations, "dims": 4,
                      "asks": args.asks, "rounds": args.rounds,
                      "fast_refit_after": args.fast_refit_after, "median_s": float(np.median(arr)),
                      "p95_s": float(np.percentile(arr, 95)), "max_s": float(arr.max()),
                      "cpu_median_s": float(np.median(cpu_arr)), "cpu_p95_s": float(np.percentile(cpu_arr, 95)),
                      "load_average_1min": float(np.mean(loads)), "per_round": rounds,
                      "target_median_le_0.3": bool(np.median(arr) <= 0.3),
                      "target_p95_le_0.5": bool(np.percentile(arr, 95) <= 0.5)}))


if __name__ == "__main__":
    main()
