"""Fixtures for the twin's tests: a CA client bound to the module's twin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.twin.ca import CA


@pytest.fixture(scope="module")
def ca(twin: Any) -> Iterator[CA]:
    """A CA client for the module's twin (the environment is the twin's)."""
    client = CA()
    yield client
    client.close()
