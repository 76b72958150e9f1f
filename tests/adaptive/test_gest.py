"""gest-api adapters both ways, and Xopt 3 driving our agent (and our harness driving Xopt's generator)."""

from __future__ import annotations

import numpy as np
import pytest
from gest_api.vocs import VOCS

from adaptive.gest import AgentGenerator, GeneratorAgent
from adaptive.harness.functions import hartmann6


def vocs() -> VOCS:
    return VOCS(variables={"a": [0.0, 1.0], "b": [-1.0, 1.0]}, objectives={"f": "MINIMIZE"})


def f(a: float, b: float) -> float:
    return (a - 0.3) ** 2 + (b - 0.2) ** 2


def test_agent_generator_speaks_the_standard() -> None:
    gen = AgentGenerator(vocs(), "sobol", seed=1)
    assert gen.returns_id
    points = gen.suggest(3)
    assert [set(p) for p in points] == [{"a", "b", "_id"}] * 3
    assert len({p["_id"] for p in points}) == 3
    assert all(0 <= p["a"] <= 1 and -1 <= p["b"] <= 1 for p in points)
    results = [{**p, "f": f(p["a"], p["b"])} for p in points]
    results[1]["f"] = float("nan")  # an evaluation that failed
    gen.ingest(results)
    gen.ingest([{"a": 0.5, "b": 0.5, "f": 1.0}])  # outside data, no _id
    rep = gen.agent.report()
    assert (rep["n_ok"], rep["n_failed"], rep["n_pending"]) == (3, 1, 0)
    with pytest.raises(ValueError, match=r"_id value\(s\) \[99\] were not issued"):
        gen.ingest([{"a": 0.1, "b": 0.1, "f": 0.0, "_id": 99}])
    gen.finalize()


def test_vocs_it_cannot_map_is_refused() -> None:
    with pytest.raises(ValueError, match="exactly one objective"):
        AgentGenerator(VOCS(variables={"a": [0.0, 1.0]}, objectives={"f": "MINIMIZE", "g": "MAXIMIZE"}))
    with pytest.raises(ValueError, match="only continuous variables"):
        AgentGenerator(VOCS(variables={"a": {0, 1}}, objectives={"f": "MINIMIZE"}))


def test_xopt_runs_our_gp_bo() -> None:
    from xopt import Evaluator, Xopt
    from xopt.stopping_conditions import MaxEvaluationsCondition

    gen = AgentGenerator(vocs(), "gp-bo", seed=0, n_init=5, n_candidates=512)
    X = Xopt(generator=gen, evaluator=Evaluator(function=lambda d: {"f": f(d["a"], d["b"])}),
             stopping_condition=MaxEvaluationsCondition(max_evaluations=15))
    X.run()
    assert len(X.data) == 15
    assert float(X.data["f"].min()) < 1e-3
    # Xopt deep-copies the generator it is given: its copy holds the data
    assert X.generator.agent.report()["n_ok"] == 15 and X.generator.agent.report()["n_pending"] == 0


def test_an_xopt_generator_runs_as_our_agent() -> None:
    from xopt.generators.random import RandomGenerator

    six = VOCS(variables={f"x{i}": [0.0, 1.0] for i in range(6)}, objectives={"y": "MINIMIZE"})
    agent = GeneratorAgent(RandomGenerator(vocs=six), seed=0)
    for _ in range(4):
        for x in agent.ask(2):
            agent.tell(x, float(hartmann6(x)[0]))
    agent.tell(agent.ask(1)[0], None, status="failed")
    assert agent.report()["n_ok"] == 8 and agent.report()["n_failed"] == 1
    assert len(agent.generator.data) == 9
    assert np.isnan(agent.generator.data["y"].iloc[-1])
