"""Run by test_sigint.py in a subprocess: a plan that the test interrupts with SIGINT."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from acq.engine import Msg, RunEngine, RunEngineInterrupted
from tests.engine.soft import Counter, collect, events, stop_of


def plan(det: Counter, mode: str) -> Any:
    yield Msg("open_run")
    for _ in range(6):
        yield Msg("checkpoint")
        yield Msg("trigger", det, group="t")
        yield Msg("wait", None, group="t")
        yield Msg("create", None, name="primary")
        yield Msg("read", det)
        yield Msg("save")
        if mode == "now":
            yield Msg("sleep", None, 30.0)
    yield Msg("close_run")


def main() -> None:
    mode = sys.argv[1]
    det = Counter("det", count_time=0.3)
    RE = RunEngine()
    docs = collect(RE)
    RE.subscribe(lambda n, d: print("EVENT", flush=True), "event")
    t0 = time.monotonic()
    try:
        RE(plan(det, mode))
        print("NOT PAUSED", flush=True)
        return
    except RunEngineInterrupted:
        paused = {"state": RE.state, "events": len(events(docs)), "triggers": det.triggers,
                  "after": time.monotonic() - t0}
    if mode == "deferred":
        RE.resume()
    else:
        RE.abort("Ctrl-C twice")
    print(json.dumps({"paused": paused, "state": RE.state, "triggers": det.triggers,
                      "values": [e["data"]["det"] for e in events(docs)], "stop": stop_of(docs)}), flush=True)


if __name__ == "__main__":
    main()
