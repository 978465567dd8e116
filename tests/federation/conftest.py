"""The ``source`` fixture: the app's federation sends to a :class:`Source` instead of the
network (federation_timeout 0.5 s)."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from cityhub.federation import Federation
from tests.federation.support import Source


@pytest.fixture
def source(client: TestClient) -> Source:
    src = Source()
    app: Any = client.app
    settings = dataclasses.replace(app.state.settings, federation_timeout=0.5)
    app.state.federation = Federation(
        app.state.registrations, settings, transport=httpx.MockTransport(src)
    )
    return src
