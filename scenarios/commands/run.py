"""``beamtwin run [SCENARIO]``: a scenario end to end."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the ``run`` subcommand."""
    run = sub.add_parser("run", help="run a scenario end to end (default: demo)",
                         description="Start the twin, run the scenario's experiment, store and fit the data. "
                                     "Exit status 0 only when the run succeeded and met its criteria.")
    run.add_argument("scenario", nargs="?", default=None, help="scenario name or YAML file (default: demo)")
    run.add_argument("--data-dir", default="beamtwin-data", help="where runs are stored (default: ./beamtwin-data)")
    run.add_argument("--speed", type=float, default=None, help="simulation speed factor (default: the scenario's)")
    run.add_argument("--seed", type=int, default=None, help="twin seed (default: the scenario's)")
    run.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run the scenario and print where the data are and whether it met its criteria."""
    from scenarios.runner import run_scenario

    outcome = run_scenario(args.scenario, data_dir=args.data_dir, speed=args.speed, seed=args.seed)
    print(f"stored: {outcome.path}")
    if outcome.fit is not None:
        print(f"fitted peak centre: {outcome.fit['center']:.4f} (true {outcome.truth['center']:.4f}, "
              f"|error| {outcome.details['center_error']:.4f} ≤ {outcome.details['tolerance']:.4f}?)")
    for name, ok in outcome.checks.items():
        print(f"  {'PASS' if ok else 'FAIL'} {name}")
    return 0 if outcome.ok else 1
