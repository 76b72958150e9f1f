"""Fixtures for the twin's tests: CA clients bound to twins in real processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from scenarios.twin_process import TwinProcess
from tests.twin.ca import CA

CA_KEYS = ("EPICS_CA_ADDR_LIST", "EPICS_CA_AUTO_ADDR_LIST", "EPICS_CA_SERVER_PORT", "EPICS_CA_MAX_ARRAY_BYTES")


@pytest.fixture(scope="module")
def ca(twin: Any) -> Iterator[CA]:
    """A CA client for the module's twin (the environment is the twin's)."""
    client = CA()
    yield client
    client.close()


@contextmanager
def ca_environment(env: dict[str, str]) -> Iterator[None]:
    """The ``EPICS_CA_*`` environment ``env`` inside the block, the previous one after it."""
    saved = {k: os.environ.get(k) for k in CA_KEYS}
    for k in CA_KEYS:
        os.environ.pop(k, None)
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def serving(beamline: str, *, seed: int = 3, speed: float = 50.0) -> Iterator[tuple[TwinProcess, CA]]:
    """A twin of ``beamline`` in a subprocess and a CA client for it (environment restored after)."""
    with TwinProcess("demo", seed=seed, speed=speed, beamline=beamline) as proc, ca_environment(proc.env):
        client = CA()
        try:
            yield proc, client
        finally:
            client.close()
