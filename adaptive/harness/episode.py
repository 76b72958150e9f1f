"""One episode: an agent asks, the environment evaluates, the agent is told; errors traced."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from adaptive.agents import make_agent
from adaptive.agents.gp import one_thread
from adaptive.harness.tasks import Environment, Predict
from adaptive.protocol import Predictor


@dataclass
class EpisodeResult:
    """What one episode measured: the error trace, evaluations to target, latencies, wall time."""

    agent: str
    seed: int
    task: str
    target: float
    reference_points: int | None = None
    trace: list[tuple[int, float]] = field(default_factory=list)
    evals_to_target: int | None = None
    final_error: float = float("inf")
    n_evals: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    reconstruction: str | None = None  # "model": a map judged by the agent's own predict; "linear": by its data
    latencies: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def run_episode(agent_name: str, factory: Callable[[int], Environment], seed: int,
                budget: int | None = None, agent_options: dict[str, Any] | None = None,
                stop_at_target: bool = False) -> EpisodeResult:
    """Run ``agent_name`` against ``factory(seed)`` for the task's budget (or ``budget``).

    The agent gets the task's options (plus ``agent_options``) and the same seed. The error is the
    task's ``judge``: on a map, by the agent's own reconstruction when it offers ``predict``. An agent
    or environment that raises ends the episode; the result then carries the message. With
    ``stop_at_target`` the episode ends once the target is reached (the evaluations to target
    are the same; the final error and the trace stop there).
    """
    one_thread()
    t_start = time.perf_counter()
    env = factory(seed)
    result = EpisodeResult(agent=agent_name, seed=seed, task=env.name, target=float(env.target),
                           reference_points=env.reference_points)
    n_max = int(budget or env.budget)
    xs: list[np.ndarray[Any, Any]] = []
    ys: list[Any] = []
    try:
        agent = make_agent(agent_name, env.bounds, seed=seed, **{**env.agent_options(agent_name),
                                                                 **(agent_options or {})})
        predict: Predict | None = agent.predict if isinstance(agent, Predictor) else None
        if env.reconstructs:
            result.reconstruction = "linear" if predict is None else "model"
        for i in range(n_max):
            t0 = time.perf_counter()
            pts = agent.ask(1)
            result.latencies.append(time.perf_counter() - t0)
            if not len(pts):
                break
            x = pts[0]
            y = env.measure(x, agent.dwell(x))
            agent.tell(x, y)
            xs.append(x)
            ys.append(y)
            n = i + 1
            if n % env.error_every == 0 or n == n_max:
                _record(result, env, xs, ys, n, predict)
                if stop_at_target and result.evals_to_target is not None:
                    break
        if result.trace and result.trace[-1][0] != len(xs) and xs:
            _record(result, env, xs, ys, len(xs), predict)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
    try:
        if xs and result.error is None:
            result.metrics = env.metrics(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
    finally:
        env.close()
    result.n_evals = len(xs)
    result.wall_s = time.perf_counter() - t_start
    return result


def _record(result: EpisodeResult, env: Environment, xs: list[Any], ys: list[Any], n: int,
            predict: Predict | None) -> None:
    err = env.judge(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), predict)
    result.trace.append((n, err))
    result.final_error = err
    if result.evals_to_target is None and err < env.target:
        result.evals_to_target = n
