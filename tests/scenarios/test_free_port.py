"""Twin ports come from outside the kernel's ephemeral range, so no client socket can take one
between the check and the twin's bind (a twin whose UDP port is held exits at once)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from scenarios.twin_process import TwinProcess, _bindable, free_port
from twin.iocs.server import LOOPBACK


def test_ports_are_free_and_outside_the_ephemeral_range() -> None:
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = {free_port() for _ in range(50)}
    assert len(ports) > 40  # spread, not one port over and over
    for port in ports:
        assert not low <= port <= high, (port, low, high)
        assert _bindable(port)


def test_a_port_held_by_a_client_socket_is_not_bindable() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind((LOOPBACK, 0))  # as a CA client's UDP socket: a kernel-chosen ephemeral port
        port = held.getsockname()[1]
        assert not _bindable(port)
        with pytest.raises(RuntimeError, match="the twin exited"):
            TwinProcess("demo", port=port, ready_timeout=60).start()
    assert _bindable(port)
