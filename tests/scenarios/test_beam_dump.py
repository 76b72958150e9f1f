"""The beam-dump scenario: a scan through a beam dump and an IOC process killed and restarted
mid-scan suspends, resumes after refill (or reconnection) and settle, rewinds to the checkpoint
and stores exactly the planned points; the restarted IOC keeps its settings; each criterion can fail."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scenarios import scenario as scenarios
from scenarios.runner import Outcome, judge
from store import Catalog
from tests.conftest import run_ci_variant


@pytest.fixture(scope="module")
def dumped(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``beamtwin run beam-dump --ci`` once, over CA against a real twin subprocess."""
    return run_ci_variant(tmp_path_factory, "beam-dump")


def _outcome(data: Path, out: str) -> tuple[Outcome, scenarios.Scenario, float]:
    """The stored run, read back through the catalog, and what the run printed, as the judge sees them."""
    sc = scenarios.load("beam-dump").ci_variant()
    exp = sc.experiment
    run = Catalog(data)[-1]
    stored = [float(v) for v in run.stream("primary")["motor"].values]
    planned = [float(v) for v in np.linspace(exp["start"], exp["stop"], exp["num"])]
    redone = re.search(r"steps redone from a checkpoint: (\d+)", out)
    restarts = re.search(r"IOC restarts: (\d+), preset time after the restart: \[([^]]*)\] \(set: ([\d.]+)\)", out)
    assert redone and restarts, out
    outcome = Outcome(uids=(run.uid,), path=run.path, fit=None, truth={"x": 1},
                      details={"stored_positions": stored, "planned_positions": planned,
                               "suspensions": out.count("SUSPENDED:"), "resumptions": out.count("RESUMED:"),
                               "replayed_moves": int(redone[1]), "ioc_restarts": int(restarts[1]),
                               "presets_after_restart": [float(v) for v in restarts[2].split(",")],
                               "count_time": float(restarts[3])})
    return outcome, sc, (exp["stop"] - exp["start"]) / (exp["num"] - 1)


def test_scan_through_a_dump_suspends_resumes_and_stores_every_planned_point(
        dumped: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, data = dumped
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    dump, restart = out.index("FAULT: beam_dump"), out.index("FAULT: ioc_restart")
    assert dump < out.index("SUSPENDED:", dump) < out.index("RESUMED:", dump) < restart, out
    assert restart < out.index("SUSPENDED:", restart) < out.index("RESUMED:", restart), out
    why = out[out.index("SUSPENDED:", restart):].splitlines()[0]
    assert "lost connection to" in why or "None" in why, why  # the IOC's PVs went away
    for check in ("stored", "points_exact", "suspended", "resumed", "rewound", "ioc_restarted", "settings_kept",
                  "peak_center"):
        assert f"PASS {check}" in out, out
    sc = scenarios.load("beam-dump").ci_variant()
    exp = sc.experiment
    run = Catalog(data)[-1]
    ds = run.stream("primary")
    np.testing.assert_allclose(ds["motor"].values, np.linspace(exp["start"], exp["stop"], exp["num"]), atol=1e-3)
    assert run.metadata["stop"]["exit_status"] == "success"
    # the live table shows each point once: the rewound point was not emitted twice
    rows = [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("|") and "seq_num" not in line]
    assert rows == [str(i) for i in range(1, exp["num"] + 1)]


def test_each_criterion_fails_on_a_sabotaged_run(dumped: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, data = dumped
    assert done.returncode == 0, done.stdout + done.stderr
    good, sc, step = _outcome(data, done.stdout)
    judge(good, sc, step)
    criteria = ("points_exact", "suspended", "resumed", "rewound", "ioc_restarted", "settings_kept")
    assert all(good.checks[c] for c in criteria), good.checks

    sabotage: dict[str, Callable[[dict[str, Any]], object]] = {
        "points_exact": lambda d: d["stored_positions"].pop(5),               # a point lost
        "points_exact ": lambda d: d["stored_positions"].insert(5, d["stored_positions"][5]),  # one stored twice
        "points_exact  ": lambda d: d["stored_positions"].__setitem__(5, d["stored_positions"][5] + step / 2),
        "suspended": lambda d: d.update(suspensions=1),                       # one fault went unnoticed
        "resumed": lambda d: d.update(resumptions=1),                         # one suspension never ended
        "rewound": lambda d: d.update(replayed_moves=0),                      # interrupted steps not redone
        "ioc_restarted": lambda d: d.update(ioc_restarts=0),                  # the IOC never went away
        "settings_kept": lambda d: d.update(presets_after_restart=[1.0]),     # restarted with its defaults
    }
    for name, spoil in sabotage.items():
        bad = copy.deepcopy(good)
        bad.checks = {}
        spoil(bad.details)
        judge(bad, sc, step)
        assert not bad.checks[name.strip()], name
        assert not bad.ok


@pytest.mark.parametrize(("patch", "message"), [
    ({"faults": [{"kind": "meteor", "at_point": 3, "duration": 5}]}, "faults[0].kind"),
    ({"faults": [{"kind": "beam_dump", "at_point": 0, "duration": 5}]}, "faults[0].at_point"),
    ({"faults": [{"kind": "beam_dump", "at_point": 3}]}, "faults[0].duration"),
    ({"faults": [{"kind": "beam_dump", "at_point": 3, "after_s": 2, "duration": 5}]}, "exactly one of"),
    ({"faults": [{"kind": "beam_dump", "at_point": 3, "duration": 5, "when": 1}]}, "faults[0].when"),
    ({"suspenders": [{"kind": "floor", "device": "beam", "signal": "current"}]}, "suspenders[0].suspend_below"),
    ({"suspenders": [{"kind": "floor", "device": "beam", "signal": "current", "suspend_below": 400,
                      "resume_above": 300}]}, "suspenders[0].resume_above"),
    ({"suspenders": [{"kind": "bool_low", "device": "beam", "signal": "available", "settle": -1}]},
     "suspenders[0].settle"),
    ({"ci": {"faults": [{"kind": "beam_dump", "duration": 5}]}}, "ci.faults[0]"),
    ({"faults": [{"kind": "ioc_restart", "at_point": 3, "duration": 5}]}, "faults[0].duration: an ioc_restart"),
    ({"suspenders": [{"kind": "disconnected", "devices": []}]}, "suspenders[0].devices"),
    ({"suspenders": [{"kind": "disconnected", "devices": ["det"], "signal": "x"}]}, "suspenders[0].signal"),
])
def test_bad_fault_or_suspender_fields_are_named(tmp_path: Path, patch: dict[str, object], message: str) -> None:
    import yaml

    raw = yaml.safe_load((scenarios.LIBRARY / "beam-dump.yaml").read_text())
    raw.update(patch)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        scenarios.load(path)


def test_a_fault_that_cannot_be_struck_is_announced_and_handed_on() -> None:
    """An IOC that does not come back must end the run (the runner aborts it), not leave it waiting."""
    import io

    from scenarios.faults import FaultInjector, FaultSpec, SuspensionLog

    def strike(spec: FaultSpec) -> None:
        raise RuntimeError("the twin exited with 1")

    log, errors = SuspensionLog(io.StringIO()), []
    injector = FaultInjector([FaultSpec("ioc_restart", at_point=2)], strike, speed=1.0, log=log,
                             on_error=errors.append)
    injector("event", {})
    injector("event", {})
    injector.close()
    assert log.lines == ["FAULT: ioc_restart: the IOC process killed and started again (after point 2)",
                         "FAULT FAILED: ioc_restart: the twin exited with 1"]
    assert [str(e) for e in errors] == ["the twin exited with 1"]


def test_a_twin_that_dies_on_its_own_is_reported_but_not_one_being_restarted(tmp_path: Path) -> None:
    """The runner's watchdog turns a twin that exits mid-scan into an aborted run with the twin's
    own last words (a suspended scan would otherwise wait for it for ever)."""
    import threading
    import time
    from types import SimpleNamespace

    from scenarios.runner import TwinWatchdog

    log = tmp_path / "twin.log"
    log.write_text("twin ready: 316 PVs\nTraceback (most recent call last):\nRuntimeError: boom\n")
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    twin = SimpleNamespace(proc=proc, log_path=log)
    restarting = threading.Event()
    restarting.set()
    lost: list[str] = []
    dog = TwinWatchdog(twin, restarting, lost.append, period=0.02)
    try:
        time.sleep(0.3)
        assert lost == [], "an exit while an ioc_restart fault restarts the twin is expected"
        restarting.clear()
        deadline = time.monotonic() + 10
        while not lost and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        dog.close()
    assert len(lost) == 1 and "exited unexpectedly (code 3)" in lost[0] and "RuntimeError: boom" in lost[0]
