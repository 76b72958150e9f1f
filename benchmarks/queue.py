"""Queue-server throughput and latency: ours, and bluesky-queueserver + Redis when installed, in one run.

Measures queue adds per second (one item per request: from one lean client process, from
four, through our Python client, and as one batch), latency from ``add`` to plan start and
to plan done for trivial plans (``count([det])``, one stored run, against the twin at speed
×1000, with where that time goes: add to the worker's start, to the run's start document,
to its stop document, to the server's "finished"; and ``mv`` to where the motor is, no run),
status requests per second with 50 concurrent clients in separate processes, and the time
to open the environment. The peer, when ``bluesky_queueserver`` is importable and
``redis-server`` is on PATH, is measured in the same run with its own 0MQ client (queue
autostart on, ophyd.sim devices). The last line is one JSON object.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow
# the standard library's ``queue``: take the folder off before importing anything else.
_here = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _here]
sys.path.insert(0, str(Path(_here).parent))

import contextlib  # noqa: E402
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
TRIVIAL: dict[str, Any] = {"name": "count", "args": [["det"]], "kwargs": {"num": 1}}  # one stored run
TRIVIAL_NO_RUN: dict[str, Any] = {"name": "mv", "args": ["motor", 0.0], "kwargs": {}}  # to where it is: no run
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
    connection from ``start_at`` for ``seconds``; prints how many succeeded. A lean client (one
    prebuilt request, a socket, the answer's length from its header), so that what is measured
    is the server: the peer's load client is as lean (a bare 0MQ REQ socket)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if what == "status":
        request = f"GET /api/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
    else:
        body = json.dumps({"item": TRIVIAL}).encode()
        request = (f"POST /api/queue/add HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    start_at = _barrier()
    while time.time() < start_at:
        time.sleep(0.001)
    n = errors = 0
    end = start_at + seconds
    buf = b""
    while time.time() < end:
        sock.sendall(request)
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, _, buf = buf.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(buf) < length:
            buf += sock.recv(65536)
        buf = buf[length:]
        if head.startswith(b"HTTP/1.1 200"):
            n += 1
        else:
            errors += 1
    print(json.dumps({"n": n, "errors": errors}))


def _load(url: str, key: str, n_clients: int, seconds: float, what: str) -> tuple[float, int]:
    """Requests per second from ``n_clients`` processes at once, and the number of errors."""
    return _run_load([sys.executable, __file__, "--load-client", url, key, str(seconds), what], n_clients, seconds)


class Ours:
    """Our queue server (with its worker) against a twin at speed ×1000."""

    label = "ours"

    def __enter__(self) -> Ours:
        from qserver import Client
        from scenarios.twin_process import TwinProcess, free_port

        self.tmp = Path(tempfile.mkdtemp(prefix="bench-queue-"))
        self.twin = TwinProcess("demo", seed=1, speed=1000.0).start()
        port = free_port()
        ready = self.tmp / "ready"
        self.server = subprocess.Popen(
            [sys.executable, "-m", "scenarios", "queue", "serve", "--state-dir", str(self.tmp / "s"), "--port",
             str(port), "--ready-file", str(ready), "--profile", "default"],
            env={**os.environ, **self.twin.env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        while not ready.exists():
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the queue server did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port}"
        self.key = (self.tmp / "s" / "admin.key").read_text().strip()
        self.c = Client(self.url, self.key)
        self.events: dict[str, dict[str, float]] = {}
        self.got = threading.Event()
        self.watcher: threading.Thread | None = None
        return self

    def _watch(self) -> None:
        from qserver import Client

        runs: dict[str, str] = {}  # run uid -> item uid
        try:
            for ev in Client(self.url, self.key).stream(timeout=600):
                if ev["type"] == "started":
                    self.events.setdefault(ev["uid"], {}).update(start=time.perf_counter(), worker_start=ev["time"])
                elif ev["type"] == "doc" and ev["name"] in ("start", "stop"):
                    doc = ev["doc"]
                    if ev["name"] == "start":
                        runs[doc["uid"]] = doc.get("qserver_item", "")
                    item = runs.get(doc["uid"] if ev["name"] == "start" else doc["run_start"], "")
                    self.events.setdefault(item, {})[f"run_{ev['name']}"] = doc["time"]
                elif ev["type"] == "finished":
                    self.events.setdefault(ev["item"]["uid"], {}).update(done=time.perf_counter(),
                                                                         done_wall=time.time())
                    self.got.set()
        except Exception:
            return

    def adds(self) -> dict[str, float]:
        """One item per request: our Python client; one and four lean client processes; one batch."""
        c, out = self.c, {}
        c.clear()
        t0 = time.perf_counter()
        for _ in range(N_ADDS):
            c.add(TRIVIAL["name"], TRIVIAL["args"], TRIVIAL["kwargs"])
        out["adds_per_s_python_client"] = N_ADDS / (time.perf_counter() - t0)
        c.clear()
        for n in (1, 4):
            rate, errors = _load(self.url, self.key, n, ADD_SECONDS, "add")
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
        return out

    def latency(self) -> dict[str, float]:
        """add → started and add → finished, timed on the event stream, queue kept alive."""
        c, out = self.c, {}
        if self.watcher is None or not self.watcher.is_alive():  # a listener too slow for the adds is dropped
            self.watcher = threading.Thread(target=self._watch, daemon=True)
            self.watcher.start()
            time.sleep(1.0)
        c.start(keep_alive=True)
        before = len(c.history())
        for label, plan in (("", TRIVIAL), ("_no_run", TRIVIAL_NO_RUN)):
            starts, dones = [], []
            parts: dict[str, list[float]] = {}
            for _ in range(N_LATENCY):
                self.got.clear()
                t0, wall0 = time.perf_counter(), time.time()
                uid = c.add(plan["name"], plan["args"], plan["kwargs"])["uid"]
                deadline = time.monotonic() + 30
                while "done" not in self.events.get(uid, {}):
                    if time.monotonic() > deadline:
                        raise TimeoutError("a trivial plan did not finish in 30 s")
                    self.got.wait(0.05)
                ev = self.events[uid]
                starts.append(ev["start"] - t0)
                dones.append(ev["done"] - t0)
                if "run_start" in ev and "run_stop" in ev:  # where the time goes (wall clocks of one machine)
                    for part, value in (("to_worker", ev["worker_start"] - wall0),
                                        ("worker_to_run_start", ev["run_start"] - ev["worker_start"]),
                                        ("run_start_to_stop", ev["run_stop"] - ev["run_start"]),
                                        ("stop_to_done", ev["done_wall"] - ev["run_stop"])):
                        parts.setdefault(part, []).append(value)
            out[f"add_to_start{label}_s"] = statistics.median(starts)
            out[f"add_to_done{label}_s"] = statistics.median(dones)
            for part, values in parts.items():
                out[f"done_part_{part}_s"] = statistics.median(values)
        hist = c.history()[before:]
        if sum(h["exit_status"] == "completed" for h in hist) != 2 * N_LATENCY:
            raise AssertionError(f"trivial plans did not all complete: {hist[-1]}")
        c.stop()
        return out

    def status(self) -> dict[str, float]:
        """GET /api/status from 50 client processes at once."""
        rate, errors = _load(self.url, self.key, N_CLIENTS, STATUS_SECONDS, "status")
        return {"status_per_s": rate, "status_errors": errors}

    def environment(self) -> dict[str, float]:
        """Close, then time opening the environment (worker start, devices connected, snapshot)."""
        self.c.close_environment()
        t0 = time.perf_counter()
        self.c.open_environment()
        return {"environment_open_s": time.perf_counter() - t0}

    def __exit__(self, *exc: object) -> None:
        self.c.close()
        self.server.terminate()
        try:
            self.server.wait(20)
        except subprocess.TimeoutExpired:
            self.server.kill()
        info = self.tmp / "s" / "worker.json"
        if info.exists():
            try:
                os.kill(int(json.loads(info.read_text())["pid"]), 9)
            except (ProcessLookupError, ValueError):
                pass
        self.twin.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


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


PEER_USER = {"user": "bench", "user_group": "primary"}
PEER_ITEM = {"item_type": "plan", "name": "count", "args": [["det"]], "kwargs": {"num": 1}}


def _peer_load(addr: str, n_clients: int, seconds: float, what: str) -> tuple[float, int]:
    """The peer's requests per second from ``n_clients`` processes at once, and the number of errors."""
    return _run_load([sys.executable, __file__, "--peer-load-client", addr, str(seconds), what], n_clients, seconds)


def _peer_load_client(addr: str, seconds: float, what: str) -> None:
    """One peer load process: 'status' or 'queue_item_add' over a bare 0MQ REQ socket with the
    JSON messages its own client sends (``{"method", "params"}``)."""
    import zmq

    sock = zmq.Context().socket(zmq.REQ)
    sock.RCVTIMEO = 30000
    sock.connect(addr)
    msg: dict[str, Any] = {"method": "status", "params": {}}
    if what == "add":
        msg = {"method": "queue_item_add", "params": {"item": PEER_ITEM, **PEER_USER}}
    start_at = _barrier()
    while time.time() < start_at:
        time.sleep(0.001)
    n = errors = 0
    end = start_at + seconds
    while time.time() < end:
        sock.send_json(msg)
        reply = sock.recv_json()
        if isinstance(reply, dict) and reply.get("success", True) is not False:
            n += 1
        else:
            errors += 1
    print(json.dumps({"n": n, "errors": errors}))


class Peer:
    """bluesky-queueserver's RE Manager + Redis, ophyd.sim devices, its own 0MQ client."""

    label = "peer"

    @staticmethod
    def missing() -> str | None:
        """Why the peer cannot run here, or None."""
        try:
            import bluesky_queueserver  # noqa: F401
        except ImportError:
            return "bluesky-queueserver is not installed (pip install '.[peer]')"
        if shutil.which("redis-server") is None:
            return "redis-server is not on PATH (Debian: apt-get install redis-server)"
        return None

    def __enter__(self) -> Peer:
        import bluesky_queueserver
        from bluesky_queueserver import ZMQCommSendThreads

        from scenarios.twin_process import free_port

        self.version = bluesky_queueserver.__version__
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-queue-peer-"))
        (self.tmp / "startup").mkdir()
        (self.tmp / "startup" / "00-startup.py").write_text(PEER_STARTUP)
        perms = self.tmp / "startup" / "user_group_permissions.yaml"
        perms.write_text(PEER_PERMISSIONS)
        rport, cport, iport = free_port(), free_port(), free_port()
        self.addr = f"tcp://127.0.0.1:{cport}"
        self.procs = [subprocess.Popen([str(shutil.which("redis-server")), "--port", str(rport), "--bind",
                                        "127.0.0.1", "--dir", str(self.tmp)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        time.sleep(0.5)
        self.procs.append(subprocess.Popen(
            [str(Path(sys.executable).parent / "start-re-manager"), "--redis-addr", f"127.0.0.1:{rport}",
             "--zmq-control-addr", self.addr, "--zmq-info-addr", f"tcp://127.0.0.1:{iport}",
             "--startup-dir", str(self.tmp / "startup"), "--user-group-permissions", str(perms),
             "--use-ipython-kernel", "OFF", "--zmq-publish-console", "OFF", "--console-output", "OFF", "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.comm = ZMQCommSendThreads(zmq_server_address=self.addr, timeout_recv=20000)
        self.user = PEER_USER
        self.item = PEER_ITEM
        deadline = time.monotonic() + 90
        while True:
            try:
                self.call("status")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.call("environment_open")
        self.wait(lambda s: s["worker_environment_exists"] and s["manager_state"] == "idle")
        return self

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        reply: dict[str, Any] = self.comm.send_message(method=method, params=params)
        if reply.get("success") is False:
            raise RuntimeError(f"{method}: {reply.get('msg')}")
        return reply

    def wait(self, pred: Any, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            st = self.call("status")
            if pred(st):
                return st
            if time.monotonic() > deadline:
                raise TimeoutError(f"peer status: {st}")
            time.sleep(0.001)

    def adds(self) -> dict[str, float]:
        """One item per request: its Python 0MQ client; one and four lean client processes; one batch."""
        out = {}
        self.call("queue_clear")
        t0 = time.perf_counter()
        for _ in range(N_ADDS // 2):
            self.call("queue_item_add", item=self.item, **self.user)
        out["adds_per_s_python_client"] = (N_ADDS // 2) / (time.perf_counter() - t0)
        self.call("queue_clear")
        for n in (1, 4):
            rate, errors = _peer_load(self.addr, n, ADD_SECONDS, "add")
            queued = self.call("status")["items_in_queue"]
            if errors or queued != round(rate * ADD_SECONDS):
                raise AssertionError(f"{errors} adds failed, or the queue lacks acknowledged adds")
            out["adds_per_s" if n == 1 else f"adds_per_s_{n}_clients"] = rate
            self.call("queue_clear")
        t0 = time.perf_counter()
        self.call("queue_item_add_batch", items=[self.item] * N_BATCH, **self.user)
        out["batch_adds_per_s"] = N_BATCH / (time.perf_counter() - t0)
        self.call("queue_clear")
        return out

    def latency(self) -> dict[str, float]:
        """add → running and add → in history, with queue autostart on (status polled every ms)."""
        self.call("queue_autostart", enable=True)
        starts, dones = [], []
        for _ in range(N_LATENCY // 2):
            n_hist = self.call("status")["items_in_history"]
            t0 = time.perf_counter()
            uid = self.call("queue_item_add", item=self.item, **self.user)["item"]["item_uid"]
            self.wait(lambda s, uid=uid, n=n_hist: s["running_item_uid"] == uid or s["items_in_history"] > n)
            starts.append(time.perf_counter() - t0)
            self.wait(lambda s, n=n_hist: s["items_in_history"] > n and s["manager_state"] == "idle")
            dones.append(time.perf_counter() - t0)
        self.call("queue_autostart", enable=False)
        return {"add_to_start_s": statistics.median(starts), "add_to_done_s": statistics.median(dones)}

    def status(self) -> dict[str, float]:
        """'status' from 50 client processes at once."""
        rate, errors = _peer_load(self.addr, N_CLIENTS, STATUS_SECONDS, "status")
        return {"status_per_s": rate, "status_errors": errors}

    def environment(self) -> dict[str, float]:
        """Close, then time opening its environment."""
        self.call("environment_close")
        self.wait(lambda s: not s["worker_environment_exists"] and s["manager_state"] == "idle", 30)
        t0 = time.perf_counter()
        self.call("environment_open")
        self.wait(lambda s: s["worker_environment_exists"] and s["manager_state"] == "idle")
        return {"environment_open_s": time.perf_counter() - t0}

    def __exit__(self, *exc: object) -> None:
        try:
            self.call("environment_close")
            self.wait(lambda s: not s["worker_environment_exists"], 20)
            self.call("manager_stop")
            self.procs[1].wait(10)
        except Exception:
            pass
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


METRICS = ("adds", "latency", "status", "environment")


def best(values: list[float], key: str) -> float:
    """The best of the rounds: the highest rate (``*_per_s``), the lowest time (``*_s``), the most errors."""
    if key.endswith("_s") and not key.endswith("_per_s"):
        return min(values)
    return max(values)


def measure(rounds: int = 3) -> dict[str, Any]:
    """Every metric on both sides, interleaved (ours, peer, ours, peer …), best of ``rounds``."""
    why = Peer.missing()
    figures: dict[str, Any] = {"ours": {}, "peer": {"skipped": why} if why else {}}
    runs: dict[str, dict[str, list[float]]] = {"ours": {}, "peer": {}}
    with contextlib.ExitStack() as stack:
        sides: list[Any] = [stack.enter_context(Ours())]
        if why is None:
            try:
                sides.append(stack.enter_context(Peer()))
                figures["peer"]["version"] = sides[-1].version
            except Exception as exc:  # the peer failing must not hide our figures
                figures["peer"] = {"skipped": f"the peer did not start: {type(exc).__name__}: {exc}"}
        for metric in METRICS:
            for _ in range(rounds):
                for side in list(sides):
                    try:
                        for k, v in getattr(side, metric)().items():
                            runs[side.label].setdefault(k, []).append(float(v))
                    except Exception as exc:
                        if side.label == "ours":
                            raise
                        figures["peer"] = {"skipped": f"the peer failed: {type(exc).__name__}: {exc}"}
                        sides.remove(side)
    for label, values in runs.items():
        if "skipped" not in figures[label]:
            figures[label].update({k: best(v, k) for k, v in values.items()})
    figures["per_round"] = {f"{label}_{k}": runs[label].get(k, []) for label in runs
                            for k in ("adds_per_s", "add_to_done_s", "status_per_s")}
    return figures


def main() -> int:
    """Measure ours and the peer side by side, print the figures; the last line is JSON.

    ``--rounds N`` (default 3): interleaved rounds per metric, the best of each side reported."""
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
    figures: dict[str, Any] = {"benchmark": "queue", "rounds": rounds, "machine_load": os.getloadavg()[0]}
    figures.update(measure(rounds))
    figures["machine_load_end"] = os.getloadavg()[0]
    o = figures["ours"]
    measured = "skipped" not in figures["peer"]
    ref = figures["peer"] if measured else PEERS_TARGETS
    figures["peer_reference"] = "measured in this run" if measured else "the issue's figures (0.0.25)"
    figures["ratios"] = {
        "adds_per_s": o["adds_per_s"] / ref["adds_per_s"],
        "adds_per_s_4_clients": o["adds_per_s_4_clients"] / ref.get("adds_per_s_4_clients", ref["adds_per_s"]),
        "adds_per_s_python_client": o["adds_per_s_python_client"] / ref.get("adds_per_s_python_client",
                                                                            ref["adds_per_s"]),
        "batch_adds_per_s": o["batch_adds_per_s"] / ref.get("batch_adds_per_s", ref["adds_per_s"]),
        "add_to_start_speedup": ref["add_to_start_s"] / o["add_to_start_s"],
        "add_to_done_speedup": ref["add_to_done_s"] / o["add_to_done_s"],
        "status_per_s": o["status_per_s"] / ref["status_per_s"],
        "environment_open_speedup": ref["environment_open_s"] / o["environment_open_s"],
    }
    figures["targets_met"] = {"adds_10x": figures["ratios"]["adds_per_s"] >= 10,
                              "add_to_done_under_50ms": o["add_to_done_s"] < 0.05,
                              "add_to_done_no_run_under_50ms": o["add_to_done_no_run_s"] < 0.05,
                              "status_at_least_peer": figures["ratios"]["status_per_s"] >= 1}
    for side in ("ours", "peer"):
        for k, v in figures[side].items():
            print(f"  {side} {k:>26}: {v:.4g}" if isinstance(v, float) else f"  {side} {k:>26}: {v}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--peer-load-client":
        _peer_load_client(sys.argv[2], float(sys.argv[3]), sys.argv[4])
        raise SystemExit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "--load-client":
        _load_client(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5])
        raise SystemExit(0)
    raise SystemExit(main())
