"""Queue-server throughput and latency: ours, and bluesky-queueserver + Redis when installed, in one run.

Measures queue adds per second (one item per request: from one lean client process, from
four, through our Python client, and as one batch), latency from ``add`` to plan start and
to plan done for trivial plans (``count([det])``, one stored run, against the twin at speed
×1000; and ``mv`` to where the motor is, no run), status requests per second with 50
concurrent clients in separate processes, and the time to open the environment. The peer,
when ``bluesky_queueserver`` is importable and ``redis-server`` is on PATH, is measured in
the same run with its own 0MQ client (queue autostart on, ophyd.sim devices). The last line
is one JSON object.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow
# the standard library's ``queue``: take the folder off before importing anything else.
_here = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _here]
sys.path.insert(0, str(Path(_here).parent))

import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

N_ADDS = 1000
N_BATCH = 2000
N_LATENCY = 20
N_CLIENTS = 50
STATUS_SECONDS = 4.0
ADD_SECONDS = 3.0
TRIVIAL = {"name": "count", "args": [["det"]], "kwargs": {"num": 1}}        # one event, one stored run
TRIVIAL_NO_RUN = {"name": "mv", "args": ["motor", 0.0], "kwargs": {}}     # a move to where it is: no run
PEERS_TARGETS = {"adds_per_s": 300.0, "add_to_start_s": 0.008, "add_to_done_s": 0.50, "status_per_s": 4300.0,
                 "environment_open_s": 1.7}  # bluesky-queueserver 0.0.25 as measured in the issue


def _barrier() -> float:
    """In a load process: say ready, then read the common start time from the parent."""
    print("ready", flush=True)
    return float(sys.stdin.readline())


def _run_load(cmd: list[str], n_clients: int, seconds: float) -> tuple[float, int]:
    """Start ``n_clients`` load processes, wait until each is ready, start them at once, sum their counts."""
    procs = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(n_clients)]
    for p in procs:
        assert p.stdout is not None
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError("a load client failed to start")
    start_at = time.time() + 0.5
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(f"{start_at}\n")
        p.stdin.flush()
    results = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    return sum(r["n"] for r in results) / seconds, sum(r["errors"] for r in results)


def _load_client(url: str, key: str, seconds: float, what: str) -> None:
    """One load process: ``status`` (GET /api/status) or ``add`` (POST an item) on a kept-alive
    connection from ``start_at`` for ``seconds``; prints how many succeeded."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    body = json.dumps({"item": TRIVIAL})
    start_at = _barrier()
    while time.time() < start_at:
        time.sleep(0.001)
    n = errors = 0
    end = start_at + seconds
    while time.time() < end:
        if what == "status":
            conn.request("GET", "/api/status", headers=headers)
        else:
            conn.request("POST", "/api/queue/add", body=body, headers=headers)
        r = conn.getresponse()
        r.read()
        if r.status == 200:
            n += 1
        else:
            errors += 1
    print(json.dumps({"n": n, "errors": errors}))


def _load(url: str, key: str, n_clients: int, seconds: float, what: str) -> tuple[float, int]:
    """Requests per second from ``n_clients`` processes at once, and the number of errors."""
    return _run_load([sys.executable, __file__, "--load-client", url, key, str(seconds), what], n_clients, seconds)


def ours() -> dict[str, Any]:
    """Start a twin (×1000) and a queue server, and measure."""
    from qserver import Client
    from scenarios.twin_process import TwinProcess, free_port

    tmp = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    out: dict[str, Any] = {}
    with TwinProcess("demo", seed=1, speed=1000.0) as twin:
        port = free_port()
        ready = tmp / "ready"
        env = {**os.environ, **twin.env}
        server = subprocess.Popen([sys.executable, "-m", "scenarios", "queue", "serve", "--state-dir", str(tmp / "s"),
                                   "--port", str(port), "--ready-file", str(ready), "--profile", "default"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not ready.exists():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the queue server did not start")
                time.sleep(0.05)
            url = f"http://127.0.0.1:{port}"
            key = (tmp / "s" / "admin.key").read_text().strip()
            c = Client(url, key)

            # adds: one item per request; through our Python client, then from lean client processes
            t0 = time.perf_counter()
            for _ in range(N_ADDS):
                c.add(TRIVIAL["name"], TRIVIAL["args"], TRIVIAL["kwargs"])
            out["adds_per_s_python_client"] = N_ADDS / (time.perf_counter() - t0)
            c.clear()
            for n in (1, 4):
                rate, errors = _load(url, key, n, ADD_SECONDS, "add")
                if errors or len(c.items()) != round(rate * ADD_SECONDS):
                    raise AssertionError(f"{errors} adds failed, or the queue lacks acknowledged adds")
                out["adds_per_s" if n == 1 else f"adds_per_s_{n}_clients"] = rate
                c.clear()
            t0 = time.perf_counter()
            c.add_batch([TRIVIAL] * N_BATCH)
            out["batch_adds_per_s"] = N_BATCH / (time.perf_counter() - t0)
            if len(c.items()) != N_BATCH:
                raise AssertionError("not every batch item was queued")
            c.clear()

            # latency add → start → done, timed on the event stream
            events: dict[str, dict[str, float]] = {}
            got = threading.Event()

            def watch() -> None:
                try:
                    for ev in Client(url, key).stream(timeout=120):
                        if ev["type"] == "started":
                            events.setdefault(ev["uid"], {})["start"] = time.perf_counter()
                        elif ev["type"] == "finished":
                            events.setdefault(ev["item"]["uid"], {})["done"] = time.perf_counter()
                            got.set()
                except Exception:
                    return

            threading.Thread(target=watch, daemon=True).start()
            time.sleep(0.5)
            c.start(keep_alive=True)
            for label, plan in (("", TRIVIAL), ("_no_run", TRIVIAL_NO_RUN)):
                starts, dones = [], []
                for _ in range(N_LATENCY):
                    got.clear()
                    t0 = time.perf_counter()
                    uid = c.add(plan["name"], plan["args"], plan["kwargs"])["uid"]
                    if not got.wait(30):
                        raise TimeoutError("a trivial plan did not finish in 30 s")
                    while "done" not in events.get(uid, {}):
                        time.sleep(0.001)
                    starts.append(events[uid]["start"] - t0)
                    dones.append(events[uid]["done"] - t0)
                out[f"add_to_start{label}_s"] = statistics.median(starts)
                out[f"add_to_done{label}_s"] = statistics.median(dones)
            hist = c.history()
            if sum(h["exit_status"] == "completed" for h in hist) != 2 * N_LATENCY:
                raise AssertionError(f"trivial plans did not all complete: {hist[-1]}")
            c.stop()

            out["status_per_s"], out["status_errors"] = _load(url, key, N_CLIENTS, STATUS_SECONDS, "status")

            opens = []
            for _ in range(3):
                c.close_environment()
                t0 = time.perf_counter()
                c.open_environment()
                opens.append(time.perf_counter() - t0)
            out["environment_open_s"] = statistics.median(opens)
            c.close()
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
            info = tmp / "s" / "worker.json"
            if info.exists():
                try:
                    os.kill(int(json.loads(info.read_text())["pid"]), 9)
                except (ProcessLookupError, ValueError):
                    pass
            shutil.rmtree(tmp, ignore_errors=True)
    return out


PEER_STARTUP = """
from bluesky import RunEngine
from ophyd.sim import det, motor
from bluesky.plans import count, scan
RE = RunEngine({})
"""
PEER_PERMISSIONS = """
user_groups:
  root:
    allowed_plans: [null]
    forbidden_plans: [":^_"]
    allowed_devices: [null]
    forbidden_devices: [":^_:?.*"]
    allowed_functions: [null]
    forbidden_functions: [":^_"]
  primary:
    allowed_plans: [":.*"]
    forbidden_plans: [null]
    allowed_devices: [":?.*:depth=5"]
    forbidden_devices: [null]
    allowed_functions: [null]
    forbidden_functions: [null]
"""


def _peer_load_client(addr: str, seconds: float) -> None:
    """One peer load process: 'status' requests over its 0MQ API."""
    from bluesky_queueserver import ZMQCommSendThreads

    comm = ZMQCommSendThreads(zmq_server_address=addr, timeout_recv=30000)
    start_at = _barrier()
    while time.time() < start_at:
        time.sleep(0.001)
    n = errors = 0
    end = start_at + seconds
    while time.time() < end:
        try:
            comm.send_message(method="status")
            n += 1
        except Exception:
            errors += 1
    print(json.dumps({"n": n, "errors": errors}))


def peer() -> dict[str, Any]:
    """bluesky-queueserver + Redis measured the same way, if both are installed; else why not."""
    try:
        from bluesky_queueserver import ZMQCommSendThreads
    except ImportError:
        return {"skipped": "bluesky-queueserver is not installed (pip install '.[peer]')"}
    redis = shutil.which("redis-server")
    manager = Path(sys.executable).parent / "start-re-manager"
    if redis is None:
        return {"skipped": "redis-server is not on PATH (Debian: apt-get install redis-server)"}
    from scenarios.twin_process import free_port

    tmp = Path(tempfile.mkdtemp(prefix="bench-queue-peer-"))
    (tmp / "startup").mkdir()
    (tmp / "startup" / "00-startup.py").write_text(PEER_STARTUP)
    (tmp / "startup" / "user_group_permissions.yaml").write_text(PEER_PERMISSIONS)
    rport, cport, iport = free_port(), free_port(), free_port()
    addr = f"tcp://127.0.0.1:{cport}"
    procs = [subprocess.Popen([redis, "--port", str(rport), "--bind", "127.0.0.1", "--dir", str(tmp)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    out: dict[str, Any] = {"version": __import__("bluesky_queueserver").__version__}
    try:
        time.sleep(0.5)
        procs.append(subprocess.Popen(
            [str(manager), "--redis-addr", f"127.0.0.1:{rport}", "--zmq-control-addr", addr,
             "--zmq-info-addr", f"tcp://127.0.0.1:{iport}", "--startup-dir", str(tmp / "startup"),
             "--user-group-permissions", str(tmp / "startup" / "user_group_permissions.yaml"),
             "--use-ipython-kernel", "OFF", "--zmq-publish-console", "OFF", "--console-output", "OFF", "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        comm = ZMQCommSendThreads(zmq_server_address=addr, timeout_recv=20000)
        user = {"user": "bench", "user_group": "primary"}

        def call(method: str, **params: Any) -> dict[str, Any]:
            reply: dict[str, Any] = comm.send_message(method=method, params=params)
            if reply.get("success") is False:
                raise RuntimeError(f"{method}: {reply.get('msg')}")
            return reply

        def wait(pred: Any, timeout: float = 60.0) -> dict[str, Any]:
            deadline = time.monotonic() + timeout
            while True:
                st = call("status")
                if pred(st):
                    return st
                if time.monotonic() > deadline:
                    raise TimeoutError(f"peer status: {st}")
                time.sleep(0.001)

        deadline = time.monotonic() + 60
        while True:
            try:
                call("status")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        item = {"item_type": "plan", "name": "count", "args": [["det"]], "kwargs": {"num": 1}}
        t0 = time.perf_counter()
        call("environment_open")
        wait(lambda s: s["worker_environment_exists"] and s["manager_state"] == "idle")
        out["environment_open_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(N_ADDS // 2):
            call("queue_item_add", item=item, **user)
        out["adds_per_s"] = (N_ADDS // 2) / (time.perf_counter() - t0)  # its Python 0MQ client, sequential
        t0 = time.perf_counter()
        call("queue_item_add_batch", items=[item] * N_BATCH, **user)
        out["batch_adds_per_s"] = N_BATCH / (time.perf_counter() - t0)
        call("queue_clear")
        call("queue_autostart", enable=True)
        starts, dones = [], []
        for _ in range(N_LATENCY // 2):
            n_hist = call("status")["items_in_history"]
            t0 = time.perf_counter()
            uid = call("queue_item_add", item=item, **user)["item"]["item_uid"]
            wait(lambda s, uid=uid, n=n_hist: s["running_item_uid"] == uid or s["items_in_history"] > n)
            starts.append(time.perf_counter() - t0)
            wait(lambda s, n=n_hist: s["items_in_history"] > n and s["manager_state"] == "idle")
            dones.append(time.perf_counter() - t0)
        call("queue_autostart", enable=False)
        out["add_to_start_s"] = statistics.median(starts)
        out["add_to_done_s"] = statistics.median(dones)
        out["status_per_s"], out["status_errors"] = _run_load(
            [sys.executable, __file__, "--peer-load-client", addr, str(STATUS_SECONDS)], N_CLIENTS, STATUS_SECONDS)
        try:
            call("environment_close")
            wait(lambda s: not s["worker_environment_exists"], 20)
            call("manager_stop")
        except Exception:
            pass
    finally:
        for p in reversed(procs):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
            if p is procs[0]:
                break
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> int:
    """Measure ours (and the peer), print the figures; the last line is JSON."""
    figures: dict[str, Any] = {"benchmark": "queue", "ours": ours()}
    try:
        figures["peer"] = peer()
    except Exception as exc:  # the peer failing must not hide our figures
        figures["peer"] = {"skipped": f"the peer failed: {type(exc).__name__}: {exc}"}
    o = figures["ours"]
    ref = figures["peer"] if "skipped" not in figures["peer"] else PEERS_TARGETS
    figures["peer_reference"] = "measured in this run" if ref is figures["peer"] else "the issue's figures (0.0.25)"
    figures["ratios"] = {
        "adds_per_s": o["adds_per_s"] / ref["adds_per_s"],
        "add_to_done_speedup": ref["add_to_done_s"] / o["add_to_done_s"],
        "status_per_s": o["status_per_s"] / ref["status_per_s"],
        "environment_open_speedup": ref["environment_open_s"] / o["environment_open_s"],
    }
    figures["targets_met"] = {"adds_10x": figures["ratios"]["adds_per_s"] >= 10,
                              "add_to_done_under_50ms": o["add_to_done_s"] < 0.05,
                              "status_at_least_peer": figures["ratios"]["status_per_s"] >= 1}
    for k, v in o.items():
        print(f"  ours {k:>22}: {v:.4g}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--peer-load-client":
        _peer_load_client(sys.argv[2], float(sys.argv[3]))
        raise SystemExit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "--load-client":
        _load_client(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5])
        raise SystemExit(0)
    raise SystemExit(main())
