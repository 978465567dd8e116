"""The HTTP floor: a bare ASGI app (no framework, no storage) under the same server as cityhub.

``GET`` answers 200 with a JSON body the size of a rendered bench entity; ``POST`` reads and
parses the JSON body and answers 201 with a Location header, as a create does. Whatever cityhub
does per request beyond this is what the suite's ratios measure.

    python3 -m uvicorn bench.floor:app --port 8010 --no-access-log
"""

from __future__ import annotations

from typing import Any

import orjson

_ENTITY = orjson.dumps(
    {
        "id": "urn:ngsi-ld:BenchEntity:floor",
        "type": "BenchEntity",
        "name": {"type": "Property", "value": "Name of my entity"},
        "ammonium": [
            {"type": "Property", "value": 12.5, "observedAt": "2026-11-01T12:00:00Z"},
            {"type": "Property", "value": 13.5, "observedAt": "2026-11-01T13:00:00Z"},
        ],
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127, 37]}},
    }
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json")]
    if scope["method"] == "GET":
        status, body = 200, _ENTITY
    else:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        try:
            doc = orjson.loads(b"".join(chunks))
            eid = doc.get("id", "x") if isinstance(doc, dict) else "batch"
            status, body = 201, b""
            headers.append((b"location", f"/ngsi-ld/v1/entities/{eid}".encode()))
        except orjson.JSONDecodeError:
            status, body = 400, b'{"type":"InvalidRequest"}'
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
