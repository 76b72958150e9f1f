"""``beamtwin evaluate --agent A [--agent B …] --scenario S --episodes N --workers W --out DIR``."""

from __future__ import annotations

import argparse
import json
from typing import Any

# the agents' command-line names (adaptive.agents.AGENTS; listed here so that the CLI starts without torch)
AGENT_NAMES = ["gp-bo", "gp-map", "slope", "cluster", "grid", "random", "sobol", "coordinate"]


def register(sub: Any) -> None:
    """Add the ``evaluate`` subcommand."""
    from scenarios.adaptive_tasks import SCENARIOS

    p = sub.add_parser(
        "evaluate", help="run agents side by side on seeded episodes and write a report",
        description="Run every agent on episodes 0…N-1 of the scenario in parallel on dask.distributed "
                    "(an embedded local cluster unless --scheduler is given), then write CSV files, PNG plots "
                    "and summary.json into --out. Scenarios: "
                    + "; ".join(f"{k}: {v}" for k, v in SCENARIOS.items()))
    p.add_argument("--agent", action="append", required=True, choices=AGENT_NAMES, dest="agents",
                   help="an agent to evaluate (repeat for several)")
    p.add_argument("--scenario", required=True, help=f"evaluation scenario ({', '.join(SCENARIOS)})")
    p.add_argument("--episodes", type=int, default=10, help="episodes (seeds) per agent (default 10)")
    p.add_argument("--workers", type=int, default=1, help="worker processes of the local cluster (default 1)")
    p.add_argument("--scheduler", default=None, help="address of an existing dask scheduler (tcp://host:port)")
    p.add_argument("--out", default="evaluation", help="report directory (default ./evaluation)")
    p.add_argument("--budget", type=int, default=None, help="evaluations per episode (default: the scenario's)")
    p.add_argument("--agent-budget", action="append", default=[], metavar="AGENT=N",
                   help="an agent's own evaluations per episode (repeatable; e.g. random=400)")
    p.add_argument("--stop-at-target", action="store_true",
                   help="end each episode once it reaches the target (evaluations to target unchanged)")
    p.add_argument("--first-seed", type=int, default=0, help="seed of the first episode (default 0)")
    p.add_argument("--direct", action="store_true",
                   help="twin-backed scenarios: call the physics model directly instead of the full stack over CA")
    p.set_defaults(func=main)


def parse_budgets(items: list[str], agents: list[str]) -> dict[str, int]:
    """``["random=400"]`` → ``{"random": 400}``; errors name the item (an agent not evaluated too)."""
    out: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"--agent-budget takes AGENT=N with N a positive integer, got {item!r}")
        if name not in agents:
            raise ValueError(f"--agent-budget {item!r}: agent {name!r} is not evaluated (--agent: {agents})")
        out[name] = int(value)
    return out


def main(args: argparse.Namespace) -> int:
    """Run the evaluation and print each agent's headline figures."""
    from adaptive.harness import evaluate
    from scenarios.adaptive_tasks import scenario_factory

    if args.episodes < 1 or args.workers < 1:
        raise ValueError(f"--episodes and --workers must be positive (got {args.episodes}, {args.workers})")
    if args.budget is not None and args.budget < 1:
        raise ValueError(f"--budget must be positive, got {args.budget}")
    budgets = parse_budgets(args.agent_budget, args.agents)
    factory = scenario_factory(args.scenario, direct=args.direct)
    summary = evaluate(args.agents, factory, episodes=args.episodes, workers=args.workers, scheduler=args.scheduler,
                       out=args.out, first_seed=args.first_seed, budget=args.budget, scenario=args.scenario,
                       budgets=budgets, stop_at_target=args.stop_at_target)
    for name, s in summary["agents"].items():
        e = s["evals_to_target"]
        print(f"{name:8s} evals to target median {e['median']} (q1 {e['q1']}, q3 {e['q3']}; "
              f"reached {e['reached']}/{e['episodes']}), final error median {s['final_regret']['median']}, "
              f"latency median {s['suggestion_latency_s']['median']:.4f} s"
              + (" (map judged by the agent's own model)" if s.get("reconstruction") == "model" else ""))
        if s["metrics"]:  # e.g. xafs-edge: the agent's E0/step errors beside the 0.5 eV scan's on the same twins
            print("  " + ", ".join(f"{k} rms {m['rms']:.4g}" if m["rms"] is not None else f"{k} rms n/a"
                                   for k, m in s["metrics"].items()))
        for f in s["failed_episodes"]:
            print(f"  seed {f['seed']} failed: {f['error']}")
    print(f"report: {args.out}/summary.json")
    print(json.dumps({"agents": {k: v["evals_to_target"] for k, v in summary["agents"].items()}}))
    return 0 if not any(s["failed_episodes"] for s in summary["agents"].values()) else 1
