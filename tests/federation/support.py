"""What the federation tests share: a context source played by an ``httpx.MockTransport``
(:class:`Source`, installed by the ``source`` fixture of conftest.py) and small builders."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import httpx
from starlette.testclient import TestClient

from cityhub.federation import Federation

BASE = "/ngsi-ld/v1"
VEHICLE = "urn:ngsi-ld:Vehicle:"
REG = "urn:ngsi-ld:ContextSourceRegistration:src"


def federate(client: TestClient, source: Source, **settings: Any) -> None:
    """Make the app's federation send to ``source`` instead of the network, with ``settings``
    changed from the app's."""
    app: Any = client.app
    changed = dataclasses.replace(app.state.settings, **settings)
    app.state.federation = Federation(
        app.state.registrations,
        changed,
        transport=httpx.MockTransport(source),
        contexts=app.state.contexts.term_map,
    )


class Source:
    """A context source: records what it is asked and answers with ``answer``."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answer: Callable[[httpx.Request], httpx.Response] = lambda r: httpx.Response(404)
        self.hang = False

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.hang:
            await asyncio.Event().wait()  # never answers: the hub's timeout must end it
        return self.answer(request)


def register(client: TestClient, n: int = 1, **members: Any) -> None:
    body = {
        "id": f"{REG}{n}",
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "Vehicle"}]}],
        "endpoint": "http://127.0.0.1:1026",
        **members,
    }
    r = client.post(f"{BASE}/csourceRegistrations", json=body)
    assert r.status_code == 201, r.text


def vehicle(suffix: str, **attrs: Any) -> dict[str, Any]:
    return {"id": VEHICLE + suffix, "type": "Vehicle", **attrs}


def prop(value: Any, **members: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **members}


def create(client: TestClient, body: dict[str, Any]) -> None:
    r = client.post(f"{BASE}/entities", json=body)
    assert r.status_code == 201, r.text


def ok(body: Any, count: int | None = None) -> Callable[[httpx.Request], httpx.Response]:
    headers = {"NGSILD-Results-Count": str(count)} if count is not None else {}
    return lambda r: httpx.Response(200, json=body, headers=headers)
