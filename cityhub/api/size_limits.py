"""Request and response size limits per caller (issue 20 item 4), applied by the access guard
to every caller but a hub administrator while access control is on: a tenant's
``maxRequestBytes`` / ``maxResponseBytes``, else the hub's ``caller_max_request_bytes`` /
``caller_max_response_bytes`` (0: no limit beyond ``max_body_bytes``).

- A request body over the limit is 413 (``Content-Length`` read first; a body sent without it
  is counted as it arrives and refused once past the limit, before the route parses it).
- An answer to a read (a write's answer reports what was done, so it is never held back)
  whose ``Content-Length`` is over the limit is not sent: the caller gets 403
  ``TooManyResults`` instead (clause 6.3.2 table 6.3.2-1: "would return too many results"),
  saying to ask for a smaller page. Answers streamed without a length (the dashboard's live
  feed) are not limited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.types import Message, Receive, Send

from cityhub.errors import PayloadTooLarge, TooManyResults
from cityhub.settings import Settings


def caller_limits(settings: Settings, tenant_settings: Mapping[str, Any]) -> tuple[int, int]:
    """(request, response) byte limits of a tenant's callers; 0: none."""
    request = tenant_settings.get("maxRequestBytes", settings.caller_max_request_bytes)
    response = tenant_settings.get("maxResponseBytes", settings.caller_max_response_bytes)
    return int(request or 0), int(response or 0)


def _length(headers: Any) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


def limited(
    scope: Mapping[str, Any], receive: Receive, send: Send, request_limit: int, response_limit: int
) -> tuple[Receive, Send]:
    """``receive`` and ``send`` that hold a request and its answer to these limits.

    Raises:
        PayloadTooLarge: (at once) the request's Content-Length is over ``request_limit``.
    """
    if request_limit:
        declared = _length(scope.get("headers", ()))
        if declared is not None and declared > request_limit:
            raise PayloadTooLarge(
                f"the body is {declared} bytes; this caller may send at most {request_limit} "
                "(the tenant's maxRequestBytes or the hub's caller_max_request_bytes)"
            )
    received = 0

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > request_limit:
                raise PayloadTooLarge(
                    f"the body is over {request_limit} bytes, the most this caller may send "
                    "(the tenant's maxRequestBytes or the hub's caller_max_request_bytes)"
                )
        return message

    async def limited_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            length = _length(message.get("headers", ()))
            if length is not None and length > response_limit and message["status"] < 400:
                # raised before anything is sent: the front renders it instead
                raise TooManyResults(
                    f"the answer is {length} bytes, more than this caller may receive "
                    f"({response_limit}: the tenant's maxResponseBytes or the hub's "
                    "caller_max_response_bytes); ask for a smaller page (limit), fewer "
                    "attributes (pick, attrs) or a narrower query"
                )
        await send(message)

    return (
        limited_receive if request_limit else receive,
        limited_send if response_limit else send,
    )


__all__ = ["caller_limits", "limited"]
