"""Run-engine throughput: ours vs Bluesky's RunEngine with ophyd-async soft signals, in one run.

Measures null messages/s, ``count`` events/s and ``scan`` points/s with soft in-memory devices
on our engine, then the same plans on Bluesky 1.15's RunEngine with ophyd-async soft signals
(when the ``peer`` extra is installed), and prints the ratios. Every document is collected
during the timed loop and validated against the event-model schemas after it. The last line
is one JSON object.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

Docs = list[tuple[str, dict[str, Any]]]

N_NULL = 200_000
N_COUNT = 5_000
N_SCAN = 3_000
N_PEER_COUNT = 1_500
N_PEER_SCAN = 1_000


def validate(docs: Docs, expect_events: int) -> None:
    """Every document against event-model's schemas; the stop's num_events matches the events."""
    from event_model import DocumentNames, schema_validators

    for name, doc in docs:
        schema_validators[DocumentNames[name]].validate(doc)
    events = sum(1 for n, _ in docs if n == "event")
    stops = [d for n, d in docs if n == "stop"]
    if events != expect_events or len(stops) != 1 or stops[0]["num_events"].get("primary") != expect_events:
        raise AssertionError(f"expected {expect_events} events, got {events} (stop: {stops})")
    if stops[0]["exit_status"] != "success":
        raise AssertionError(f"the run did not succeed: {stops[0]}")


def timed(run: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def ours() -> dict[str, float]:
    from acq import plans
    from acq.devices import Signal, SoftBackend
    from acq.engine import Msg, RunEngine
    from acq.loop import call_in_loop

    det = Signal(SoftBackend(1.0), name="det", kind="hinted")
    det2 = Signal(SoftBackend(2.0), name="det2")
    motor = Signal(SoftBackend(0.0), name="motor", kind="hinted")

    async def connect() -> None:
        for s in (det, det2, motor):
            await s.connect()

    call_in_loop(connect())
    RE = RunEngine()
    docs: Docs = []
    RE.subscribe(lambda n, d: docs.append((n, d)))
    RE([Msg("null")] * 1000)  # warm up
    t_null = timed(lambda: RE([Msg("null")] * N_NULL))
    RE(plans.count([det, det2], num=100))
    docs.clear()
    t_count = timed(lambda: RE(plans.count([det, det2], num=N_COUNT)))
    validate(docs, N_COUNT)
    docs.clear()
    t_scan = timed(lambda: RE(plans.scan([det], motor, 0.0, 10.0, N_SCAN)))
    validate(docs, N_SCAN)
    return {"null_msgs_per_s": N_NULL / t_null, "count_events_per_s": N_COUNT / t_count,
            "scan_points_per_s": N_SCAN / t_scan}


def peers() -> dict[str, float] | None:
    try:
        import bluesky
        import bluesky.plans as bp
        from bluesky import RunEngine as BlueskyRunEngine
        from bluesky.run_engine import call_in_bluesky_event_loop
        from bluesky.utils import Msg as BMsg
        from ophyd_async.core import soft_signal_rw
    except ImportError as exc:
        print(f"peers not installed ({exc}); `make bench` installs them", file=sys.stderr)
        return None
    det = soft_signal_rw(float, 1.0, name="det")
    det2 = soft_signal_rw(float, 2.0, name="det2")
    motor = soft_signal_rw(float, 0.0, name="motor")
    RE = BlueskyRunEngine({})
    for s in (det, det2, motor):
        call_in_bluesky_event_loop(s.connect())
    docs: Docs = []
    RE.subscribe(lambda n, d: docs.append((n, d)))
    RE([BMsg("null")] * 1000)
    n_null = N_NULL // 10
    t_null = timed(lambda: RE([BMsg("null")] * n_null))
    RE(bp.count([det, det2], num=50))
    docs.clear()
    t_count = timed(lambda: RE(bp.count([det, det2], num=N_PEER_COUNT)))
    validate(docs, N_PEER_COUNT)
    docs.clear()
    t_scan = timed(lambda: RE(bp.scan([det], motor, 0.0, 10.0, N_PEER_SCAN)))
    validate(docs, N_PEER_SCAN)
    print(f"peer: bluesky {bluesky.__version__}", file=sys.stderr)
    return {"peer_null_msgs_per_s": n_null / t_null, "peer_count_events_per_s": N_PEER_COUNT / t_count,
            "peer_scan_points_per_s": N_PEER_SCAN / t_scan}


def main() -> None:
    out: dict[str, Any] = {k: round(v, 1) for k, v in ours().items()}
    peer = peers()
    if peer is not None:
        out.update({k: round(v, 1) for k, v in peer.items()})
        out["ratio_null"] = round(out["null_msgs_per_s"] / out["peer_null_msgs_per_s"], 2)
        out["ratio_count"] = round(out["count_events_per_s"] / out["peer_count_events_per_s"], 2)
        out["ratio_scan"] = round(out["scan_points_per_s"] / out["peer_scan_points_per_s"], 2)
        out["target_met"] = out["ratio_count"] >= 10 and out["ratio_scan"] >= 10
    else:
        out["target_met"] = False
    for key, value in out.items():
        print(f"{key:>26}: {value}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
