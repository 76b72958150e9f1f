"""Wiring into experiments with the real engine and store: per event, per run, across runs, adjudication."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from acq import plans
from acq.engine import RunEngine
from adaptive.adjudication import Adjudicator
from adaptive.agents import ClusterAgent, GPBOAgent, GridAgent, RandomAgent, SlopeAgent, SobolAgent
from adaptive.harness.functions import phase_labels
from adaptive.harness.tasks import Phases
from adaptive.protocol import Agent, AgentError
from adaptive.wiring import Guarded, observations_from_catalog, reduce_field, run_campaign
from store import Catalog, Writer
from tests.adaptive.soft import SoftDetector, SoftMotor
from tests.conftest import validate_documents


def collect(RE: RunEngine) -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    RE.subscribe(lambda n, d: docs.append((n, d)))
    return docs


def test_per_event_steering_with_ask_tell_scan() -> None:
    m = SoftMotor("m", limits=(0.0, 10.0))
    det = SoftDetector("det", [m], lambda x: float(np.tanh(3 * (x[0] - 6.2))))
    agent = SlopeAgent([[0.0, 10.0]], target_delta=0.1, min_step=0.05, max_step=1.0)
    RE = RunEngine()
    docs = collect(RE)
    RE(plans.ask_tell_scan([det], [m], Guarded(agent), reduce=["det"], max_points=200))
    validate_documents(docs)
    xs = np.array([d["data"]["m"] for n, d in docs if n == "event"])
    assert len(xs) == len(agent.obs) < 120
    assert xs.max() == 10.0
    near_edge = np.sum(np.abs(xs - 6.2) < 0.5)
    assert near_edge >= 0.3 * len(xs), "the steps shrink where the signal changes"


class Faulty(Agent):
    name = "faulty"

    def _suggest(self, n: int) -> Any:
        if len(self.obs) >= 3:
            raise ZeroDivisionError("model blew up")
        return np.full((n, 1), float(len(self.obs)))


def test_an_agent_that_raises_ends_the_run_cleanly_with_a_clear_message() -> None:
    m = SoftMotor("m")
    det = SoftDetector("det", [m], lambda x: float(x[0]))
    RE = RunEngine()
    docs = collect(RE)
    guard = Guarded(Faulty([[0, 10]]))
    RE(plans.ask_tell_scan([det], [m], guard, reduce=["det"], max_points=10))
    assert docs[-1][1]["exit_status"] == "success" and docs[-1][1]["num_events"]["primary"] == 3
    assert guard.error == "agent 'faulty' raised in ask(1) after 3 point(s): ZeroDivisionError: model blew up"

    strict = Guarded(Faulty([[0, 10]]), on_error="raise")
    with pytest.raises(AgentError, match="agent 'faulty' raised in ask"):
        RE(plans.ask_tell_scan([det], [m], strict, reduce=["det"], max_points=10))
    assert docs[-1][1]["exit_status"] == "fail" and "model blew up" in docs[-1][1]["reason"]


def test_a_suggestion_beyond_the_motor_limits_is_refused_before_anything_moves() -> None:
    m = SoftMotor("m", limits=(0.0, 1.0))
    det = SoftDetector("det", [m], lambda x: float(x[0]))
    agent = GridAgent([[0.0, 2.0]], shape=[3])  # its grid reaches past the soft limit
    RE = RunEngine()
    docs = collect(RE)
    with pytest.raises(ValueError, match="outside the limits"):
        RE(plans.ask_tell_scan([det], [m], agent, reduce=["det"], max_points=5))
    assert [d["data"]["m"] for n, d in docs if n == "event"] == [0.0, 1.0]
    assert det.triggers == 2


def flux(x: np.ndarray) -> float:
    """Two coupled axes: the best b depends on a."""
    return float(np.exp(-((x[0] - 0.3) ** 2) / 0.05 - ((x[1] - 0.5 - 0.5 * x[0]) ** 2) / 0.02))


def campaign_parts() -> tuple[RunEngine, Any, list[tuple[str, dict[str, Any]]]]:
    a, b = SoftMotor("a"), SoftMotor("b")
    det = SoftDetector("det", [a, b], flux)
    RE = RunEngine()
    docs = collect(RE)

    def make_plan(params: np.ndarray) -> Any:
        if params[0] > 0.9:  # a region where the "beamline" faults
            raise RuntimeError("shutter closed")
        return plans.scan([det], a, float(params[0]), float(params[0]), 1, md={"b": float(params[1])}) \
            if False else _two_axis_count(det, a, b, params)

    return RE, make_plan, docs


def _two_axis_count(det: Any, a: Any, b: Any, params: np.ndarray) -> Any:
    yield from plans.mv(a, float(params[0]), b, float(params[1]))
    return (yield from plans.count([det], 2))


def test_per_run_campaign_records_every_decision_and_tells_failed_runs(tmp_path: Path) -> None:
    RE, make_plan, docs = campaign_parts()
    RE.subscribe(Writer(tmp_path))
    agent = Adjudicator({"bo": GPBOAgent([[0, 1], [0, 1]], seed=0, n_init=4, n_candidates=256),
                         "sobol": SobolAgent([[0, 1], [0, 1]], seed=0)}, policy="round_robin")
    agent.tell([0.95, 0.2], None, status="failed")  # told up front, as from an earlier session
    camp = run_campaign(RE, agent, make_plan, reduce_field("det", "mean"), max_runs=12,
                        converged=lambda ag: ag.report().get("best_y", 0) > 0.97)
    starts = [d for n, d in docs if n == "start"]
    assert len(starts) == sum(1 for r in camp.runs if "uids" in r)
    for start in starts:
        rec = start["adaptive"]
        assert set(rec["proposals"]) == {"bo", "sobol"} and rec["decision"] == [rec["params"]]
        assert rec["decided_for"][0] in ("bo", "sobol")
    # the stored runs carry the same audit trail
    stored = [r.metadata["start"]["adaptive"] for r in Catalog(tmp_path).runs()]
    assert [s["params"] for s in stored] == [s["adaptive"]["params"] for s in starts]
    assert {s["decided_for"][0] for s in stored} == {"bo", "sobol"}
    assert agent.report()["members"]["bo"]["n_told"] == len(camp.runs) + 1
    assert camp.stopped_because in ("converged", "budget of 12 runs")


def test_failed_and_faulting_runs_are_told_as_failed() -> None:
    RE, make_plan, _ = campaign_parts()
    agent = GridAgent([[0.5, 1.0], [0, 1]], shape=[2, 2])  # a = 1.0 faults
    camp = run_campaign(RE, agent, make_plan, reduce_field("det", "max"), max_runs=10)
    assert [r["status"] for r in camp.runs] == ["ok", "ok", "failed", "failed"]
    assert "shutter closed" in camp.runs[2]["error"]
    assert agent.report()["n_failed"] == 2 and camp.stopped_because == "the agent has nothing more to ask"


def test_a_stopped_campaign_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    def fresh() -> GPBOAgent:
        return GPBOAgent([[0, 1], [0, 1]], seed=4, n_init=3, n_candidates=256)

    RE, make_plan, _ = campaign_parts()
    whole = run_campaign(RE, fresh(), make_plan, reduce_field("det", "mean"), max_runs=6)
    ckpt = tmp_path / "agent.json"
    first = run_campaign(RE, fresh(), make_plan, reduce_field("det", "mean"), max_runs=4, checkpoint=ckpt)
    rest = run_campaign(RE, fresh(), make_plan, reduce_field("det", "mean"), max_runs=2, checkpoint=ckpt)
    assert [r["params"] for r in first.runs + rest.runs] == [r["params"] for r in whole.runs]


def test_adjudicator_deduplicates_and_logs() -> None:
    judge = Adjudicator({"a": GridAgent([[0, 1]], shape=[3]), "b": GridAgent([[0, 1]], shape=[5])})
    first = judge.ask(2)
    # round robin: a's 0.0, then b's 0.0 is a duplicate and b's next, 0.25, is taken
    assert first.ravel().tolist() == [0.0, 0.25]
    rec = judge.log[0]
    assert rec["proposals"] == {"a": [[0.0], [0.5]], "b": [[0.0], [0.25]]}
    assert rec["decided_for"] == ["a", "b"] and rec["duplicates"] == [{"member": "b", "point": [0.0]}]
    for x in first:
        judge.tell(x, 1.0)
    second = judge.ask(2)
    assert not set(second.ravel().tolist()) & {0.0, 0.25}
    assert judge.log[1]["decided_for"][0] == "b", "the turn rotates"

    prio = Adjudicator({"a": GridAgent([[0, 1]], shape=[3]), "b": GridAgent([[0, 1]], shape=[5])}, policy="priority")
    assert prio.ask(2).ravel().tolist() == [0.0, 0.5] and prio.log[0]["decided_for"] == ["a", "a"]
    with pytest.raises(ValueError, match="share one box"):
        Adjudicator({"a": GridAgent([[0, 1]], shape=[3]), "c": GridAgent([[0, 2]], shape=[3])})


def test_a_member_that_raises_does_not_stop_the_adjudicator() -> None:
    judge = Adjudicator({"bad": Faulty([[0, 10]]), "ok": RandomAgent([[0, 10]], seed=1)})
    for _ in range(6):
        for x in judge.ask(1):
            judge.tell(x, 1.0)
    assert any("model blew up" in rec["member_errors"].get("bad", "") for rec in judge.log)
    assert len(judge.obs) == 6


def test_cross_run_clustering_from_stored_runs(tmp_path: Path) -> None:
    """Runs of a sample library are stored as netCDF; an agent reads them back and labels the phases."""
    env = Phases(seed=1)
    x, y = SoftMotor("x"), SoftMotor("y")
    bins = [SoftDetector(f"q{i:03d}", [x, y], lambda p, i=i: float(env.evaluate(p)[i])) for i in range(0, 120, 6)]
    RE = RunEngine()
    RE.subscribe(Writer(tmp_path))
    chooser = ClusterAgent(env.bounds, candidates=env.library, n_clusters=3, seed=1)
    for pos in chooser.ask(30):
        RE(_measure_at(bins, x, y, pos), sample=f"lib-{pos[0]:.3f}-{pos[1]:.3f}")
    xs, ys, uids = observations_from_catalog(Catalog(tmp_path), ["x", "y"], [b.name for b in bins])
    assert len(uids) == 30 and xs.shape == (30, 2) and len(ys[0]) == 20
    agent = ClusterAgent(env.bounds, candidates=env.library, n_clusters=3, seed=1)
    agent.tell_many(xs, ys)
    from sklearn.metrics import adjusted_rand_score

    ari = adjusted_rand_score(phase_labels(xs, 1), agent.labels())
    assert ari >= 0.9, ari
    nxt = agent.ask(5)
    assert len(nxt) == 5 and not any(np.allclose(p, q) for p in nxt for q in xs)


def _measure_at(dets: list[Any], x: Any, y: Any, pos: np.ndarray) -> Any:
    yield from plans.mv(x, float(pos[0]), y, float(pos[1]))
    return (yield from plans.count([*dets, x, y], 1))
