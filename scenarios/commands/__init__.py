"""One module per ``beamtwin`` subcommand; each has ``register(subparsers)``.

A module sets ``func`` on its parser (``parser.set_defaults(func=...)``); ``func(args)``
returns the exit status. Add a new command by adding its module name to ``MODULES``.
"""

MODULES = [
    "scenarios.commands.run",
    "scenarios.commands.serve",
    "scenarios.commands.export",
    "scenarios.commands.listing",
    "scenarios.commands.check",
    "scenarios.commands.runs",
    "scenarios.commands.replay",
    "scenarios.commands.evaluate",
    "scenarios.commands.queue",
]
