"""Start and stop the twin IOC as a real subprocess on a free loopback port."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from twin.iocs.server import LOOPBACK, RESTART_EXIT_CODE, client_environment, cluster_environment

CA_KEYS = ("EPICS_CA_ADDR_LIST", "EPICS_CA_AUTO_ADDR_LIST", "EPICS_CA_SERVER_PORT", "EPICS_CA_MAX_ARRAY_BYTES")


@contextmanager
def ca_environment(env: dict[str, str]) -> Iterator[None]:
    """The ``EPICS_CA_*`` environment ``env`` inside the block, the previous one after it."""
    saved = {k: os.environ.get(k) for k in CA_KEYS}
    os.environ.update(env)  # set before any is removed: caproto's threads read these at any moment
    for k in CA_KEYS:
        if k not in env:
            os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


#: Seconds a client gives the devices to connect to a twin that it started: the twin answered
#: every PV before it said ready, so a slow connect means a loaded machine, not a missing IOC.
OWN_TWIN_CONNECT_TIMEOUT = 30.0


#: Where ``free_port`` looks first: below the kernel's ephemeral range (see ``_outside_ephemeral``).
PORT_FLOOR = 20000


def _bindable(port: int) -> bool:
    """Whether ``port`` on loopback can be bound now, for TCP and for UDP (no socket holds it)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind((LOOPBACK, port))
            udp.bind((LOOPBACK, port))
    except OSError:
        return False
    return True


def _outside_ephemeral() -> range:
    """Ports the kernel never hands to a socket bound to port 0 (a client's local port): from
    ``PORT_FLOOR`` up to its ephemeral range, else above it; empty if the range leaves no room."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return range(0)
    if low - PORT_FLOOR >= 1000:
        return range(PORT_FLOOR, low)
    return range(high + 1, 65536) if 65535 - high >= 1000 else range(0)


def free_port() -> int:
    """A port that is free on loopback for both TCP and UDP.

    Chosen outside the kernel's ephemeral range where there is one: a port from that range can be
    taken, between this check and the twin's bind, by any client socket the kernel gives a local
    port (a CA client's UDP socket holds one for its whole life), and a twin whose UDP bind fails
    exits at once (seen as lost evaluation episodes under load)."""
    candidates = _outside_ephemeral()
    for _ in range(200 if candidates else 0):
        port = random.choice(candidates)
        if _bindable(port):
            return port
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((LOOPBACK, 0))
            port = int(tcp.getsockname()[1])
        if _bindable(port):
            return port
    raise RuntimeError("no free loopback port found")


class TwinProcess:
    """``with TwinProcess(scenario_ref, seed=…, speed=…) as twin:`` serves until the block ends.

    ``twin.env`` holds the ``EPICS_CA_*`` settings a client needs; ``twin.pvs`` the served PVs.
    ``beamline=`` serves another beamline file than the scenario's; ``autosave=True`` keeps the
    settings across ``restart()`` (an IOC reboot on the same port); ``supervise=True`` starts
    the IOC again whenever it exits asking for it (the ``Restart-Cmd`` fault PV);
    ``clock="stepped"`` serves on the event-driven clock (``beamtwin serve --clock stepped``);
    the IOC exits when this process is gone unless ``exit_with_parent=False`` (a queue server's
    twin, which a restarted server adopts).

    ``split=True`` serves the beamline as several IOC processes (``twin.iocs.server.ioc_groups``),
    each on its own port (``ports=``, else free ones), sharing one physics model: ``twin.iocs``
    maps each IOC's name to its own ``TwinProcess``, ``twin.env`` lists every port,
    ``restart(ioc)`` / ``kill(ioc)`` act on one IOC. ``ioc=`` and ``cluster=`` launch one IOC
    of a split beamline (what ``split=True`` does for each).
    """

    def __init__(self, scenario: str = "demo", *, seed: int = 0, speed: float = 20.0,
                 port: int | None = None, ready_timeout: float = 60.0, beamline: str | None = None,
                 autosave: bool = False, supervise: bool = False, clock: str = "free",
                 split: bool = False, ports: list[int] | None = None, ioc: str | None = None,
                 cluster: Path | None = None, autosave_dir: Path | None = None,
                 exit_with_parent: bool = True) -> None:
        self.scenario = scenario
        self.clock = clock
        self.exit_with_parent = exit_with_parent
        self.supervise = supervise
        self.restarts = 0
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.autosave = autosave or autosave_dir is not None
        self.beamline = beamline
        self.seed = seed
        self.speed = speed
        self.ready_timeout = ready_timeout
        self.ioc = ioc
        self.cluster = cluster
        self._tmp = tempfile.TemporaryDirectory(prefix="beamtwin-twin-")
        self.autosave_dir = autosave_dir or Path(self._tmp.name)
        self.ready_file = Path(self._tmp.name) / "ready"
        self.log_path = Path(self._tmp.name) / "twin.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.pvs: list[str] = []
        self.iocs: dict[str, TwinProcess] = {}
        self.port: int = port or 0
        if split:
            from twin.iocs.server import ioc_groups

            names = list(ioc_groups(self._beamline()))
            if ports is not None and len(ports) != len(names):
                raise ValueError(f"{len(names)} IOCs ({', '.join(names)}) need {len(names)} ports, got {len(ports)}")
            chosen = ports or ([port] if port else []) + [free_port() for _ in names[1 if port else 0:]]
            shared = Path(self._tmp.name) / "cluster"
            for name, p in zip(names, chosen, strict=True):
                self.iocs[name] = TwinProcess(scenario, seed=seed, speed=speed, port=p, ready_timeout=ready_timeout,
                                              beamline=beamline, supervise=supervise, ioc=name, cluster=shared,
                                              exit_with_parent=exit_with_parent,
                                              autosave_dir=self.autosave_dir / name if self.autosave else None)
        self.port = next(iter(self.iocs.values())).port if self.iocs else port or free_port()

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        """The IOC process (of a split twin: the first IOC's, which serves the twin-wide PVs)."""
        if self.iocs:
            return next(iter(self.iocs.values())).proc
        return self._proc

    @proc.setter
    def proc(self, value: subprocess.Popen[bytes] | None) -> None:
        self._proc = value

    @property
    def ports(self) -> list[int]:
        """Every IOC process's port."""
        return [t.port for t in self.iocs.values()] if self.iocs else [self.port]

    @property
    def env(self) -> dict[str, str]:
        """The CA client environment for this twin (every IOC's port for a split one)."""
        return cluster_environment(self.ports) if self.iocs else client_environment(self.port)

    def start(self) -> TwinProcess:
        """Launch ``beamtwin serve`` (each IOC, if split) and wait until every PV answers."""
        self._stopping.clear()
        return self._start()

    def _start(self) -> TwinProcess:
        """Launch the IOC (unless it runs) and wait until every PV answers; a ``stop()`` meanwhile
        (e.g. a restart racing the run's end) kills what was launched."""
        if self.iocs:
            try:
                for member in self.iocs.values():
                    member._launch()
                for member in self.iocs.values():
                    member.start()
            except BaseException:
                self.stop()
                raise
            self.pvs = [pv for member in self.iocs.values() for pv in member.pvs]
            return self
        if self._proc is None or self._proc.poll() is not None:
            self._launch()
        deadline = time.monotonic() + self.ready_timeout
        proc = self._proc
        assert proc is not None
        while not self.ready_file.exists():
            if proc.poll() is not None:
                self._proc = None
                raise RuntimeError(f"the twin exited with {proc.returncode}:\n{self.log_path.read_text()}")
            if self._stopping.is_set() or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                self._proc = None
                if self._stopping.is_set():
                    raise RuntimeError("the twin was stopped while it started")
                raise TimeoutError(f"the twin was not ready within {self.ready_timeout} s")
            time.sleep(0.05)
        self.pvs = self.ready_file.read_text().split()
        if self.supervise and (self._watcher is None or not self._watcher.is_alive()):
            self._watcher = threading.Thread(target=self._watch, name="twin-supervisor", daemon=True)
            self._watcher.start()
        return self

    def _launch(self) -> None:
        """Start the ``beamtwin serve`` process (without waiting for it)."""
        cmd = [sys.executable, "-m", "scenarios", "serve", self.scenario, "--port", str(self.port),
               "--ready-file", str(self.ready_file), "--seed", str(self.seed), "--speed", str(self.speed)]
        if self.beamline:
            cmd += ["--beamline", self.beamline]
        if self.clock != "free":
            cmd += ["--clock", self.clock]
        if self.autosave:
            cmd += ["--autosave-dir", str(self.autosave_dir)]
        if self.ioc is not None:
            cmd += ["--ioc", self.ioc, "--cluster", str(self.cluster)]
        if self.exit_with_parent:
            cmd += ["--parent-pid", str(os.getpid())]
        self.ready_file.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())

    def _beamline(self) -> dict[str, Any]:
        import beamlines
        from scenarios import scenario as scenarios

        return beamlines.load(self.beamline) if self.beamline else scenarios.load(self.scenario).beamline

    def _watch(self) -> None:
        """Start the IOC again (same port) each time it exits with the restart code."""
        while not self._stopping.is_set():
            proc = self.proc
            if proc is not None and proc.poll() == RESTART_EXIT_CODE and not self._stopping.is_set():
                self.restarts += 1
                self.proc = None
                self._start()
            time.sleep(0.05)

    def stop(self) -> None:
        """Terminate the twin process (every IOC process of a split twin)."""
        for member in self.iocs.values():
            member.stop()
        self._stopping.set()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=self.ready_timeout)
            self._watcher = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def fault(self, kind: str, target: str = "", value: float | str = 1.0) -> None:
        """A fault on cue, through the twin's fault PVs: ``dump`` (value: simulated seconds),
        ``stall`` (target: axis; value On/Off), ``limit`` (target: axis; value High/Low/Off),
        ``saturate`` and ``noise`` (target: detector channel; value: simulated seconds),
        ``drop_frames`` (target: camera; value: frames). For an IOC restart, ``restart()``."""
        from caproto.sync.client import write

        suffix = {"dump": "Dump-Cmd", "stall": "Stall-Cmd", "limit": "LimitHit-Cmd", "saturate": "Saturate-Cmd",
                  "noise": "NoiseBurst-Cmd", "drop_frames": "DropFrames-Cmd"}.get(kind)
        if suffix is None:
            raise ValueError(f"unknown fault {kind!r} (known: dump, stall, limit, saturate, noise, drop_frames)")
        if kind != "dump" and not target:
            raise ValueError(f"fault {kind!r} needs a target (an axis, a detector channel or a camera)")
        prefix = self._physics_prefix()
        name = f"{prefix}{target + ':' if kind != 'dump' else ''}{suffix}"
        with ca_environment(self.env):
            write(name, value, notify=True, timeout=10, repeater=False)  # no repeater: it would outlive us

    def _physics_prefix(self) -> str:
        prefix = (self._beamline().get("physics") or {}).get("prefix")
        if not prefix:
            raise ValueError("this beamline has no physics.prefix: no twin-only fault PVs")
        return str(prefix)

    def kill(self, ioc: str | None = None) -> None:
        """SIGKILL the IOC process (of a split twin: the one named ``ioc``), without a restart."""
        if self.iocs:
            if ioc not in self.iocs:
                raise ValueError(f"no IOC named {ioc!r} (IOCs: {', '.join(self.iocs)})")
            self.iocs[ioc].kill()
            return
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def restart(self, ioc: str | None = None) -> TwinProcess:
        """Kill the IOC process and start it again on the same port (an IOC reboot); for a split
        twin, the IOC named ``ioc`` (all of them, one after another, if None)."""
        if self.iocs:
            for name in [ioc] if ioc is not None else list(self.iocs):
                if name not in self.iocs:
                    raise ValueError(f"no IOC named {name!r} (IOCs: {', '.join(self.iocs)})")
                self.iocs[name].restart()
            self.restarts += 1
            self.pvs = [pv for member in self.iocs.values() for pv in member.pvs]
            return self
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.restarts += 1
        return self._start()

    def __enter__(self) -> TwinProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        for member in self.iocs.values():
            member._tmp.cleanup()
        self._tmp.cleanup()
