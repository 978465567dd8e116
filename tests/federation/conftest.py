"""The ``source`` fixture: the app's federation sends to a :class:`Source` instead of the
network (federation_timeout 0.5 s)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.federation.support import Source, federate


@pytest.fixture
def source(client: TestClient) -> Source:
    src = Source()
    federate(client, src, federation_timeout=0.5)
    return src
