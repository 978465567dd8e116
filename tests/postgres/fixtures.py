"""pytest fixtures for the PostgreSQL store (imported by tests/conftest.py).

``postgres_server`` (session): the base URL of a PostgreSQL with PostGIS, from
``CITYHUB_TEST_POSTGRES_URL`` or a throwaway cluster; the test is skipped, with the reason,
when neither is possible. ``postgres_url`` (per test): a URL whose tables live in a schema of
their own, dropped after the test.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from tests.postgres import server

_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    url = os.environ.get(server.ENV_URL)
    cluster = None
    if not url:
        reason = server.unavailable_reason()
        if reason is not None:
            pytest.skip(reason)
        try:
            cluster = server.start_cluster()
        except RuntimeError as exc:
            pytest.skip(f"could not start a throwaway PostgreSQL: {exc}")
        url = cluster.url
    try:
        pytest.importorskip("asyncpg", reason="asyncpg is not installed (extra: postgres)")
        server.run(url, "CREATE EXTENSION IF NOT EXISTS postgis")
        yield url
    finally:
        if cluster is not None:
            cluster.stop()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    name = f"cityhub_test_{os.getpid()}_{next(_counter)}"
    with server.throwaway_schema(postgres_server, name) as url:
        yield url
