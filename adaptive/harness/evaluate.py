"""Run agents side by side over seeded episodes on dask.distributed and write the report.

``evaluate(["gp-bo", "random"], factory, episodes=10, workers=2, out="report")`` starts an
embedded local cluster (``workers`` single-threaded worker processes, one torch thread each)
unless ``scheduler`` names an existing one, runs every (agent, seed) episode there, and
writes the CSV files, PNG plots and ``summary.json`` into ``out`` (see :mod:`adaptive.harness.report`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from adaptive.agents import AGENTS
from adaptive.harness.episode import EpisodeResult, run_episode
from adaptive.harness.report import write_report
from adaptive.harness.tasks import Environment


def _worker_setup() -> None:
    """One torch/BLAS thread per worker."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    from adaptive.agents.gp import one_thread

    one_thread()


def evaluate(agents: Sequence[str], factory: Callable[[int], Environment], *, episodes: int, workers: int = 1,
             scheduler: str | None = None, out: str | Path | None = None, first_seed: int = 0,
             budget: int | None = None, scenario: str | None = None, budgets: Mapping[str, int] | None = None,
             stop_at_target: bool = False, agent_options: Mapping[str, Mapping[str, Any]] | None = None,
             ) -> dict[str, Any]:
    """Every agent on seeds ``first_seed`` … ``first_seed + episodes - 1``; returns the summary.

    ``factory(seed)`` builds the environment (injected: analytic here, twin-backed from
    ``scenarios``). With ``scheduler`` (an address such as ``tcp://host:8786``) the episodes
    go to that cluster; otherwise an embedded ``LocalCluster`` of ``workers`` processes runs them.
    ``budgets`` gives some agents their own budget (e.g. random search a larger one, so that it
    has a median); ``stop_at_target`` ends each episode once it reaches the target;
    ``agent_options`` gives some agents constructor options over the task's (e.g. ``{"gp-bo":
    {"restart_after": 0}}``).
    """
    unknown = [a for a in agents if a not in AGENTS]
    if unknown:
        raise ValueError(f"unknown agent(s) {unknown}; known: {', '.join(AGENTS)}")
    if not agents:
        raise ValueError("give at least one agent")
    if episodes < 1 or workers < 1:
        raise ValueError(f"episodes and workers must be positive, got episodes={episodes}, workers={workers}")
    budgets = dict(budgets or {})
    stray = [a for a in budgets if a not in agents]
    if stray:
        raise ValueError(f"budgets name agent(s) {stray} that are not evaluated (agents: {list(agents)})")
    bad = {a: b for a, b in budgets.items() if isinstance(b, bool) or not isinstance(b, int) or b < 1}
    if bad:
        raise ValueError(f"budgets must be positive integers, got {bad}")
    per_agent = {a: budgets.get(a, budget) for a in agents}
    options = {a: dict(o) for a, o in (agent_options or {}).items()}
    stray = [a for a in options if a not in agents]
    if stray:
        raise ValueError(f"agent_options name agent(s) {stray} that are not evaluated (agents: {list(agents)})")
    results = _run_all(list(agents), factory, list(range(first_seed, first_seed + episodes)), workers,
                       scheduler, per_agent, stop_at_target, options)
    results.sort(key=lambda r: (list(agents).index(r.agent), r.seed))
    return write_report(results, out, scenario=scenario, workers=workers, scheduler=scheduler)


def _run_all(agents: list[str], factory: Callable[[int], Environment], seeds: list[int], workers: int,
             scheduler: str | None, budgets: dict[str, int | None], stop_at_target: bool,
             options: dict[str, dict[str, Any]]) -> list[EpisodeResult]:
    from distributed import Client, LocalCluster

    _worker_setup()
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0", host="127.0.0.1",
            silence_logs=40, env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
        client = Client(cluster)  # type: ignore[no-untyped-call]
    else:
        client = Client(scheduler)  # type: ignore[no-untyped-call]
    try:
        client.run(_worker_setup)
        # the slowest agents first, so the cluster's tail is short
        jobs = [(a, s) for a in sorted(agents, key=lambda a: a not in ("gp-bo", "gp-map")) for s in seeds]
        futures = [client.submit(run_episode, a, factory, s, budgets[a], agent_options=options.get(a),
                                 stop_at_target=stop_at_target,
                                 key=f"episode-{a}-{s}", pure=False)
                   for a, s in jobs]
        return list(client.gather(futures))  # type: ignore[no-untyped-call]
    finally:
        client.close()  # type: ignore[no-untyped-call]
        if cluster is not None:
            cluster.close()
