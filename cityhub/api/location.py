"""``201 Created`` with the new resource's ``Location``: the one place a route builds one.

The id goes into the URL as one path segment, percent-encoded (RFC 3986 sections 2.1 and 3.3;
non-ASCII characters as their UTF-8 octets, RFC 3987 section 3.1: ``cityhub.ngsild.ids``), so
the header is ASCII whatever the id (``urn:ngsi-ld:Park:성남시``) and a client that follows it
reaches the same resource: ``#``, ``?``, ``/`` and ``%`` in an id cannot end the path, start a
query or fragment, or be decoded twice. The router matches such paths on their raw form
(``cityhub.api.routing``), so ``%2F`` in a segment stays part of the id.
"""

from __future__ import annotations

from starlette.responses import Response

from cityhub.api.negotiation import TENANT_HEADER
from cityhub.ngsild.ids import id_segment


class SpelledName(bytes):
    """A header name that keeps its spelling on the wire and equals its every other spelling.

    uvicorn's httptools protocol writes ``name.lower()`` for each response header; this
    name's ``lower()`` is itself, so it goes out as spelled, at no cost to other headers (h11
    keeps spellings too, but serves fewer requests a second). It compares (and hashes) as its
    lower-case form, as header names do (RFC 9110 clause 5.1), so code that looks a response
    header up by its lower-case raw name (Starlette's ``Headers``, the audit log) still finds it.
    """

    __slots__ = ()

    def lower(self) -> SpelledName:
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, bytes) and bytes.lower(self) == bytes.lower(other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(bytes.lower(self))


#: ``Location`` as the ETSI suite spells it (see :func:`created`).
LOCATION = SpelledName(b"Location")


def location(collection: str, resource_id: str) -> str:
    """The URL path of ``resource_id`` in ``collection`` (a path such as
    ``/ngsi-ld/v1/entities``)."""
    return f"{collection.rstrip('/')}/{id_segment(resource_id)}"


def created(collection: str, resource_id: str, tenant: str = "") -> Response:
    """201 with ``Location`` (clause 6.4.3.1 for entities;
    6.8.3.1, 6.10.3.1 and the other creation bindings alike) and the
    ``NGSILD-Tenant`` the request named (clause 6.3.14).

    The name goes out as ``Location``, not lower-cased (:data:`LOCATION`): HTTP names are
    case-insensitive, but the ETSI suite looks the header up case-sensitively (033_11).
    """
    response = Response(status_code=201)
    url = location(collection, resource_id)
    response.raw_headers.append((LOCATION, url.encode("ascii")))
    if tenant:
        response.headers[TENANT_HEADER] = tenant
    return response


__all__ = ["LOCATION", "SpelledName", "created", "location"]
