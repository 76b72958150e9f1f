"""The twin-backed side of ``beamtwin queue serve``: start (or adopt) the twin, hand its CA settings over.

``qserver`` never imports ``twin``; this module starts the twin in a subprocess and gives
the queue server only the ``EPICS_CA_*`` settings its worker needs. The twin's pid and port
are kept in ``D/twin.json`` so that a server killed with SIGKILL and restarted adopts the
twin that its still-running worker talks to, instead of starting a second one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from qserver.wire import pid_alive
from scenarios.twin_process import TwinProcess
from twin.iocs.server import client_environment

TWIN_FILE = "twin.json"


class QueueTwin:
    """``with QueueTwin(state_dir, scenario) as env:`` — the CA environment of a running twin."""

    def __init__(self, state_dir: Path, scenario: str = "demo", *, speed: float | None = None,
                 seed: int | None = None) -> None:
        self.state_dir = state_dir
        self.scenario = scenario
        self.speed = speed
        self.seed = seed
        self.proc: TwinProcess | None = None
        self.adopted_pid: int | None = None

    def __enter__(self) -> dict[str, str]:
        path = self.state_dir / TWIN_FILE
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            info = None
        if info and info.get("scenario") == self.scenario and pid_alive(int(info["pid"])):
            self.adopted_pid = int(info["pid"])
            return client_environment(int(info["port"]))
        from scenarios import scenario as scenarios

        sc = scenarios.load(self.scenario)
        self.proc = TwinProcess(self.scenario, seed=sc.seed if self.seed is None else self.seed,
                                speed=sc.speed if self.speed is None else self.speed,
                                exit_with_parent=False).start()  # a restarted server adopts it
        assert self.proc.proc is not None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"pid": self.proc.proc.pid, "port": self.proc.port, "scenario": self.scenario}))
        return self.proc.env

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc._tmp.cleanup()
        elif self.adopted_pid is not None and pid_alive(self.adopted_pid):
            os.kill(self.adopted_pid, 15)
        (self.state_dir / TWIN_FILE).unlink(missing_ok=True)
