"""``beamtwin run [SCENARIO]``: a scenario end to end."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the ``run`` subcommand."""
    run = sub.add_parser("run", help="run a scenario end to end (default: demo)",
                         description="Start the twin, run the scenario's experiment, store and fit the data. "
                                     "Exit status 0 only when the run succeeded and met its criteria; "
                                     "1 when it ran but missed them; 2 for bad input.")
    run.add_argument("scenario", nargs="?", default=None, help="scenario name or YAML file (default: demo)")
    run.add_argument("--data-dir", default="beamtwin-data", help="where runs are stored (default: ./beamtwin-data)")
    run.add_argument("--speed", type=float, default=None, help="simulation speed factor (default: the scenario's)")
    run.add_argument("--seed", type=int, default=None, help="twin seed (default: the scenario's)")
    run.add_argument("--profile", default=None,
                     help="beamline profile for the devices (name or YAML), e.g. a facility profile")
    run.add_argument("--no-twin", action="store_true",
                     help="start no twin: talk to the IOCs the EPICS_CA_* environment names (the real beamline)")
    run.add_argument("--ci", action="store_true", help="run the scenario's small CI-sized variant (its ci: section)")
    run.add_argument("--live-plot", action="store_true",
                     help="step scans: also show the points in a matplotlib window as they arrive (needs a display)")
    run.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run the scenario and print where the data are and whether it met its criteria."""
    from scenarios.runner import run_scenario

    outcome = run_scenario(args.scenario, data_dir=args.data_dir, speed=args.speed, seed=args.seed,
                           no_twin=args.no_twin, profile=args.profile, ci=args.ci, live_plot=args.live_plot)
    print(f"stored: {outcome.path}")
    if outcome.plot is not None:
        print(f"plot: {outcome.plot}")
    if outcome.fit is not None:
        line = f"fitted peak centre: {outcome.fit['center']:.4f}"
        if "center" in outcome.truth:
            line += (f" (true {outcome.truth['center']:.4f}, |error| {outcome.details['center_error']:.4f}"
                     f" ≤ {outcome.details['tolerance']:.4f}?)")
        print(line)
    if "suspensions" in outcome.details and (outcome.details["suspensions"] or outcome.details["faults_struck"]):
        print(f"faults struck: {outcome.details['faults_struck']}, suspensions: {outcome.details['suspensions']}, "
              f"resumptions: {outcome.details['resumptions']}, points stored/planned: "
              f"{len(outcome.details.get('stored_positions', []))}/{len(outcome.details['planned_positions'])}, "
              f"steps redone from a checkpoint: {outcome.details.get('replayed_moves', 0)}")
    if outcome.details.get("ioc_restarts"):
        print(f"IOC restarts: {outcome.details['ioc_restarts']}, preset time after the restart: "
              f"{outcome.details['presets_after_restart']} (set: {outcome.details['count_time']})")
    for line in outcome.details.get("report", []):
        print(line)
    for name, ok in outcome.checks.items():
        print(f"  {'PASS' if ok else 'FAIL'} {name}")
    return 0 if outcome.ok else 1
