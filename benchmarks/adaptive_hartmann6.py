"""Hartmann6 yardstick: GP-BO against plain BoTorch, Ax, Sobol and random search, 10 seeds, 10 Sobol starts.

Target (issue 7): GP-BO reaches simple regret < 0.1 in a median of ≤ 30 evaluations, and in every
seed within 60. The peers, in the same run (``--peer``, repeatable; default all that are installed):
- ``botorch-logei``, plain BoTorch (the ``peer`` extra): SingleTaskGP with BoTorch's defaults (the
  dimension-scaled log-normal lengthscale prior of Hvarfner et al. 2024, fitted noise, inputs
  normalised, outputs standardised) fitted by maximum marginal likelihood,
  qLogNoisyExpectedImprovement, ``optimize_acqf`` (512 raw samples, 10 L-BFGS-B restarts), started
  from the same 10 scrambled-Sobol points as our GP-BO on each seed, so that per-seed figures compare
  the optimisers alone;
- ``ax-same-starts``, Ax 1.3 (the ``bench`` extra) through ``ax.api.Client`` with its recommended
  ("fast") Bayesian-optimisation step, from the same 10 Sobol points attached as completed trials;
- ``ax-default``, Ax's default generation strategy from scratch, its initialisation (the centre and
  Sobol) set to 10 trials seeded by the episode's seed;
- ``gp-bo-ax-starts`` (not in the default set), our GP-BO unchanged, told ``ax-default``'s initial
  design first: the design's share of Ax's figures.
Usage: ``python -P benchmarks/adaptive_hartmann6.py [--episodes 10] [--first-seed 0] [--workers 2]
[--gp-option restart_after=0 …] [--peer botorch-logei --peer ax-same-starts …] [--no-peer] [--out DIR]``
(seeds 0–9 are the issue's, 100–109 and 200–209 held out); the last line printed is one JSON object
with the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from scipy.stats import qmc

from adaptive.harness import evaluate, task_factory
from adaptive.harness.functions import HARTMANN6_MIN, hartmann6

PEERS = ("botorch-logei", "ax-same-starts", "ax-default", "gp-bo-ax-starts")
Propose = Callable[[np.ndarray, np.ndarray], np.ndarray]


def sobol_starts(seed: int, n_init: int = 10) -> np.ndarray:
    """The ``n_init`` scrambled-Sobol points (n, 6) that our GP-BO starts from on ``seed``."""
    with warnings.catch_warnings():  # 10 is not a power of 2: the same points as the agent's anyway
        warnings.simplefilter("ignore", UserWarning)
        return np.asarray(qmc.Sobol(6, scramble=True, seed=seed).random(n_init), dtype=float)


def _episode(seed: int, x: np.ndarray, propose: Propose, budget: int, n_init: int, target: float,
             stop_at_target: bool) -> dict[str, Any]:
    """Evaluate hartmann6 on the starts ``x`` then on ``propose(x, y)`` until the budget (or the target):
    evaluations to regret < ``target`` (None if not within ``budget``), the final regret and the median
    latency (s) of the suggestions after the first ``n_init`` evaluations."""
    y = hartmann6(x) if len(x) else np.zeros(0)
    lat: list[float] = []
    reached = None
    for i in range(len(y), budget + 1):
        if len(y) and reached is None and float(np.min(y) - HARTMANN6_MIN) < target:
            reached = i
            if stop_at_target:
                break
        if i == budget:
            break
        t0 = time.perf_counter()
        xn = propose(x, y)
        if i >= n_init:
            lat.append(time.perf_counter() - t0)
        x = np.concatenate([x, xn]) if len(x) else xn
        y = np.concatenate([y, hartmann6(xn)])
    return {"seed": seed, "evals_to_target": reached, "final_regret": float(np.min(y) - HARTMANN6_MIN),
            "latency_median_s": float(np.median(lat)) if lat else 0.0}


def botorch_episode(seed: int, budget: int = 60, n_init: int = 10, target: float = 0.1, num_restarts: int = 10,
                    raw_samples: int = 512, stop_at_target: bool = True) -> dict[str, Any]:
    """One seeded plain-BoTorch run from our GP-BO's Sobol starts (the figures of ``_episode``)."""
    import torch
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize
    from botorch.optim.optimize import optimize_acqf
    from gpytorch.mlls import ExactMarginalLogLikelihood

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    bounds = torch.tensor([[0.0] * 6, [1.0] * 6], dtype=torch.float64)

    def propose(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        tx = torch.as_tensor(x, dtype=torch.float64)
        ty = -torch.as_tensor(y, dtype=torch.float64).unsqueeze(-1)  # BoTorch maximises
        model = SingleTaskGP(tx, ty, input_transform=Normalize(6), outcome_transform=Standardize(1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        acq = qLogNoisyExpectedImprovement(model, X_baseline=tx, prune_baseline=True)
        cand, _ = optimize_acqf(acq, bounds=bounds, q=1, num_restarts=num_restarts, raw_samples=raw_samples)
        return np.asarray(cand.detach().numpy(), dtype=float)

    return _episode(seed, sobol_starts(seed, n_init), propose, budget, n_init, target, stop_at_target)


def _ax_client(seed: int, n_init: int, own_init: bool) -> tuple[Any, list[str]]:
    """An ``ax.api.Client`` minimising hartmann6 on [0, 1]^6, seeded by ``seed``; with ``own_init`` its
    default generation strategy, initialisation (the centre, then Ax's Sobol) set to ``n_init`` trials."""
    import logging

    from ax.api.client import Client
    from ax.api.configs import RangeParameterConfig
    from ax.utils.common.logger import set_stderr_log_level

    set_stderr_log_level(logging.ERROR)  # Ax logs every trial at INFO
    names = [f"x{i}" for i in range(6)]
    client = Client(random_seed=seed)
    client.configure_experiment(parameters=[RangeParameterConfig(name=n, bounds=(0.0, 1.0), parameter_type="float")
                                            for n in names])
    client.configure_optimization(objective="-hartmann6")  # minimise
    if own_init:
        client.configure_generation_strategy(initialization_budget=n_init, initialization_random_seed=seed)
    return client, names


def ax_starts(seed: int, n_init: int = 10) -> np.ndarray:
    """Ax's own initial design on ``seed`` (the points ``ax-default`` starts from), (n_init, 6)."""
    client, names = _ax_client(seed, n_init, own_init=True)
    x = np.zeros((0, 6))
    for _ in range(n_init):
        ((index, params),) = client.get_next_trials(max_trials=1).items()
        x = np.concatenate([x, [[float(params[n]) for n in names]]])
        client.complete_trial(index, raw_data={"hartmann6": float(hartmann6(x[-1])[0])})
    return x


def gp_bo_ax_starts_episode(seed: int, budget: int = 60, n_init: int = 10, target: float = 0.1,
                            stop_at_target: bool = True) -> dict[str, Any]:
    """Our GP-BO with the task's options, unchanged, told Ax's initial design on ``seed`` first (so it
    draws no Sobol points of its own): the design's share of ``ax-default``'s figures."""
    from adaptive.agents import make_agent
    from adaptive.agents.gp import one_thread

    one_thread()
    x0 = ax_starts(seed, n_init)
    env = task_factory("hartmann6")(seed)  # the task's bounds and GP-BO options, as evaluate() gives them
    agent = make_agent("gp-bo", env.bounds, seed=seed, **env.agent_options("gp-bo"))
    for xi, yi in zip(x0, hartmann6(x0), strict=True):
        agent.tell(xi, float(yi))

    def propose(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if len(y) > n_init:
            agent.tell(x[-1], float(y[-1]))
        return np.atleast_2d(np.asarray(agent.ask(1), dtype=float))

    return _episode(seed, x0, propose, budget, n_init, target, stop_at_target)


def ax_episode(seed: int, budget: int = 60, n_init: int = 10, target: float = 0.1, same_starts: bool = True,
               stop_at_target: bool = True) -> dict[str, Any]:
    """One seeded Ax run through its ``ax.api.Client``, Ax's recommended setup ("fast": its default
    modular-BoTorch model and acquisition). ``same_starts``: our GP-BO's Sobol starts attached as
    completed trials, then Ax's Bayesian-optimisation step only; otherwise Ax's default generation
    strategy from scratch, its initialisation (the centre, then its own Sobol) ``n_init`` trials seeded
    by ``seed``. The figures of ``_episode`` plus the number of trials Ax generated without its model."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    client, names = _ax_client(seed, n_init, own_init=not same_starts)
    x0 = sobol_starts(seed, n_init) if same_starts else np.zeros((0, 6))
    for row in x0:
        index = client.attach_trial(parameters={n: float(v) for n, v in zip(names, row, strict=True)})
        client.complete_trial(index, raw_data={"hartmann6": float(hartmann6(row)[0])})
    if same_starts:  # no initialisation of Ax's own: its model from the first suggestion
        client.configure_generation_strategy(initialization_budget=0, initialize_with_center=False)
    pending: list[int] = []
    nodes: list[str] = []

    def propose(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if pending:
            client.complete_trial(pending.pop(), raw_data={"hartmann6": float(y[-1])})
        ((index, params),) = client.get_next_trials(max_trials=1).items()
        pending.append(index)
        nodes.append(str(client._experiment.trials[index].generator_runs[0]._generation_node_name))
        return np.array([[float(params[n]) for n in names]])

    out = _episode(seed, x0, propose, budget, n_init, target, stop_at_target)
    out["ax_nodes"] = {n: nodes.count(n) for n in dict.fromkeys(nodes)}
    return out


def peer_episode(peer: str, seed: int, budget: int) -> dict[str, Any]:
    """One episode of the named peer (one of ``PEERS``)."""
    if peer == "botorch-logei":
        return botorch_episode(seed, budget)
    if peer in ("ax-same-starts", "ax-default"):
        return ax_episode(seed, budget, same_starts=peer == "ax-same-starts")
    if peer == "gp-bo-ax-starts":
        return gp_bo_ax_starts_episode(seed, budget)
    raise ValueError(f"unknown peer {peer!r}: one of {', '.join(PEERS)}")


def _ax_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("ax") is not None


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--gp-option takes KEY=VALUE (a JSON value), got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _median(evals: list[int | None]) -> float | None:
    """The median of evaluations to target, unreached seeds counted as later than any (None if most are)."""
    ranked = sorted(e if e is not None else float("inf") for e in evals)
    med = float(np.median(ranked)) if ranked else float("inf")
    return med if np.isfinite(med) else None


def main() -> None:
    """Run the agents side by side and print the figures."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--budget", type=int, default=60)
    p.add_argument("--gp-option", type=_option, action="append", default=[],
                   help="a GP-BO option over the task's, KEY=VALUE (e.g. restart_after=0); repeatable")
    p.add_argument("--peer", action="append", choices=PEERS, default=None,
                   help="a peer to run beside our agents; repeatable (default: botorch-logei, and ax-same-starts "
                        "and ax-default if ax-platform is installed)")
    p.add_argument("--no-peer", action="store_true", help="skip the peers")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    peers: list[str] = [] if args.no_peer else (args.peer or [
        "botorch-logei", *(("ax-same-starts", "ax-default") if _ax_installed() else ())])
    if any("ax-" in a for a in peers) and not _ax_installed():
        p.error("the Ax peers need ax-platform (pip install -e '.[bench]')")
    out = args.out or tempfile.mkdtemp(prefix="bench-hartmann6-")
    gp_options = dict(args.gp_option)
    seeds = list(range(args.first_seed, args.first_seed + args.episodes))
    summary = evaluate(["gp-bo", "sobol", "random"], task_factory("hartmann6"), episodes=args.episodes,
                       first_seed=args.first_seed, workers=args.workers, out=out, budget=args.budget,
                       scenario="hartmann6", agent_options={"gp-bo": gp_options})
    with open(f"{out}/episodes.csv") as f:
        rows = list(csv.DictReader(f))
    per_seed: dict[str, list[int | None]] = {
        a: [int(r["evals_to_target"]) if r["evals_to_target"] else None for r in rows if r["agent"] == a]
        for a in summary["agents"]}
    final_regret_per_seed: dict[str, list[float]] = {
        a: [float(r["final_error"]) for r in rows if r["agent"] == a] for a in summary["agents"]}
    results: dict[str, list[dict[str, Any]]] = {}
    t0 = time.perf_counter()
    if peers:
        jobs = [(a, s) for a in peers for s in seeds]
        with ProcessPoolExecutor(args.workers) as pool:
            done = list(pool.map(peer_episode, [a for a, _ in jobs], [s for _, s in jobs],
                                 [args.budget] * len(jobs)))
        for (a, _), r in zip(jobs, done, strict=True):
            results.setdefault(a, []).append(r)
    peer_wall = time.perf_counter() - t0
    for a, rs in results.items():
        per_seed[a] = [r["evals_to_target"] for r in rs]
        final_regret_per_seed[a] = [r["final_regret"] for r in rs]
    medians = {a: _median(v) for a, v in per_seed.items()}
    reached = {a: sum(e is not None for e in v) for a, v in per_seed.items()}
    peer_latency = {a: float(np.median([r["latency_median_s"] for r in rs])) for a, rs in results.items()}
    gp = summary["agents"]["gp-bo"]
    gp_evals = per_seed["gp-bo"]
    figures = {
        "benchmark": "adaptive_hartmann6", "report": out, "budget": args.budget, "episodes": args.episodes,
        "seeds": seeds, "gp_bo_options": gp_options,
        "evals_to_target": {a: s["evals_to_target"] for a, s in summary["agents"].items()},
        "evals_to_target_per_seed": per_seed,
        "median_evals_unreached_as_never": medians, "reached": reached,
        "final_regret_median": {a: float(np.median(v)) for a, v in final_regret_per_seed.items()},
        "final_regret_per_seed": final_regret_per_seed,
        "gp_bo_latency_s": gp["suggestion_latency_s"],
        "peer_latency_median_s": peer_latency,
        "peer_latency_median_s_per_seed": {a: [r["latency_median_s"] for r in rs] for a, rs in results.items()},
        "ax_nodes_per_seed": {a: [r["ax_nodes"] for r in rs] for a, rs in results.items() if a.startswith("ax-")},
        "peer_wall_s": peer_wall, "load_avg_at_end": list(os.getloadavg()),
        "target_median_le_30": medians["gp-bo"] is not None and medians["gp-bo"] <= 30,
        "target_every_seed_within_60": all(e is not None and e <= 60 for e in gp_evals),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
