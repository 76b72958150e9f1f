"""The ask/tell loop the agent tests share."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from adaptive.protocol import Agent


def ask_tell(objective: Callable[[np.ndarray], float], agent: Agent, n: int) -> np.ndarray:
    """Ask ``agent`` for one point at a time, ``n`` times, telling it ``objective`` there; the points asked."""
    xs = []
    for _ in range(n):
        x = agent.ask(1)[0]
        agent.tell(x, objective(x))
        xs.append(x)
    return np.array(xs)
