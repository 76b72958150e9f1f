"""``beamtwin list``: the shipped scenarios and beamlines."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the ``list`` subcommand."""
    p = sub.add_parser("list", help="list the shipped scenarios and beamlines")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Print each scenario with its beamline and description, then the beamline files."""
    import beamlines
    from scenarios import scenario as scenarios

    print("scenarios:")
    for name in scenarios.names():
        sc = scenarios.load(name)
        print(f"  {name:<16} beamline {sc.beamline.get('name', '?'):<10} {sc.description}")
    print("beamlines:")
    for name in beamlines.names():
        bl = beamlines.load(name)
        kind = "twin + devices" if isinstance(bl.get("physics"), dict) else "facility profile"
        print(f"  {name:<16} {kind}: {', '.join(bl['devices'])}")
    return 0
