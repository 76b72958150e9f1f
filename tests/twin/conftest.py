"""Fixtures for the twin's tests: CA clients bound to twins in real processes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from scenarios.twin_process import TwinProcess, ca_environment
from tests.twin.ca import CA


@pytest.fixture(scope="module")
def ca(twin: Any) -> Iterator[CA]:
    """A CA client for the module's twin (the environment is the twin's)."""
    client = CA()
    yield client
    client.close()




@contextmanager
def serving(beamline: str, *, seed: int = 3, speed: float = 50.0) -> Iterator[tuple[TwinProcess, CA]]:
    """A twin of ``beamline`` in a subprocess and a CA client for it (environment restored after)."""
    with TwinProcess("demo", seed=seed, speed=speed, beamline=beamline) as proc, ca_environment(proc.env):
        client = CA()
        try:
            yield proc, client
        finally:
            client.close()
