"""NGSI-LD error types, one class each (ETSI GS CIM 009 v1.8.1, clause 5.5.2 and table 6.3.2-1).

Code raises these; ``cityhub.api.problem`` renders every one as an ``application/problem+json``
ProblemDetails body. Nothing else renders errors.

    CityhubError
     ├── InvalidRequest            400  request syntax: bad JSON, bad parameter, bad header
     ├── BadRequestData            400  well-formed request whose content is wrong
     ├── ResourceNotFound          404
     ├── NonexistentTenant         404
     ├── AlreadyExists             409
     ├── OperationNotSupported     422
     ├── TooComplexQuery           403
     ├── TooManyResults            403
     ├── LdContextNotAvailable     503
     ├── StoreUnavailable          503  the store cannot serve now (disk full, read-only,
     │                                  unreachable, busy); with Retry-After
     ├── NoMultiTenantSupport      501
     ├── NotAcceptable             406  (HTTP status only; the spec defines no error type URI)
     ├── UnsupportedMediaType      415  (idem)
     ├── MethodNotAllowed          405  (idem)
     ├── PayloadTooLarge           413  (idem)
     ├── UriTooLong                414  (idem)
     ├── Unauthorized              401  access control: no or no valid credentials
     ├── Forbidden                 403  access control: the caller may not do this
     ├── TooManyRequests           429  access control: a key's rate or daily quota; Retry-After
 ├── LoopDetected              508  a distributed operation came back to this broker (Via)
     └── InternalError             500
"""

from __future__ import annotations

from typing import Any, ClassVar

_NGSI_LD_ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"


class CityhubError(Exception):
    """Base of every error cityhub renders as ProblemDetails.

    Args:
        detail: what went wrong, written for the person who sent the request.
        **extra: extra members for the ProblemDetails body (for example ``attributes``).
    """

    type_uri: ClassVar[str] = _NGSI_LD_ERRORS + "InternalError"
    title: ClassVar[str] = "Internal error"
    status: ClassVar[int] = 500

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """The ProblemDetails body (RFC 9457 members plus NGSI-LD's error type URI)."""
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            body["instance"] = instance
        body.update(self.extra)
        return body


class InvalidRequest(CityhubError):
    type_uri = _NGSI_LD_ERRORS + "InvalidRequest"
    title = "Invalid request"
    status = 400


class BadRequestData(CityhubError):
    type_uri = _NGSI_LD_ERRORS + "BadRequestData"
    title = "Bad request data"
    status = 400


class ResourceNotFound(CityhubError):
    type_uri = _NGSI_LD_ERRORS + "ResourceNotFound"
    title = "Resource not found"
    status = 404


class NonexistentTenant(CityhubError):
    type_uri = _NGSI_LD_ERRORS + "NonexistentTenant"
    title = "Nonexistent tenant"
    status = 404


class AlreadyExists(CityhubError):
    type_uri = _NGSI_LD_ERRORS + "AlreadyExists"
    title = "Already exists"
    status = 409


class OperationNotSupported(CityhubError):
    type_uri = _NGSI_LD_ERRORS + "OperationNotSupported"
    title = "Operation not supported"
    status = 422


class TooComplexQuery(CityhubError):
    type_uri = _NGSI_LD_ERRORS + "TooComplexQuery"
    title = "Too complex query"
    status = 403


class TooManyResults(CityhubError):
    type_uri = _NGSI_LD_ERRORS + "TooManyResults"
    title = "Too many results"
    status = 403


class LdContextNotAvailable(CityhubError):
    type_uri = _NGSI_LD_ERRORS + "LdContextNotAvailable"
    title = "@context not available"
    status = 503


class StoreUnavailable(CityhubError):
    """The store cannot carry out the request now: its disk is full, it is read-only, it
    cannot be reached or it is busy. The condition is the operator's to fix and the hub
    recovers by itself; the client is told to retry after ``retry_after`` seconds (the
    response's ``Retry-After`` header). The spec has no error type for it: its type is
    InternalError's, with 503 (RFC 9110 section 15.6.4).

    Args:
        detail: what happened, for the client (no file paths or host names).
        retry_after: seconds after which a retry may succeed.
    """

    type_uri = _NGSI_LD_ERRORS + "InternalError"
    title = "Store unavailable"
    status = 503

    def __init__(self, detail: str, retry_after: int = 30, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after


class NoMultiTenantSupport(CityhubError):
    type_uri = _NGSI_LD_ERRORS + "NoMultiTenantSupport"
    title = "No multi-tenant support"
    status = 501


class NotAcceptable(CityhubError):
    type_uri = _NGSI_LD_ERRORS + "InvalidRequest"
    title = "Not acceptable"
    status = 406


class UnsupportedMediaType(CityhubError):
    type_uri = _NGSI_LD_ERRORS + "InvalidRequest"
    title = "Unsupported media type"
    status = 415


class MethodNotAllowed(CityhubError):
    type_uri = _NGSI_LD_ERRORS + "InvalidRequest"
    title = "Method not allowed"
    status = 405


class PayloadTooLarge(CityhubError):
    type_uri = _NGSI_LD_ERRORS + "BadRequestData"
    title = "Payload too large"
    status = 413


class UriTooLong(CityhubError):
    type_uri = _NGSI_LD_ERRORS + "InvalidRequest"
    title = "URI too long"
    status = 414


#: RFC 9457 clause 4.2.1: a problem with no meaning beyond its HTTP status (NGSI-LD defines no
#: error type for authentication, authorization or quotas)
_HTTP_ONLY = "about:blank"


class Unauthorized(CityhubError):
    """No credentials, or credentials that prove nothing (unknown, expired or revoked key;
    a token whose signature, issuer, audience or time does not hold). Rendered with a
    ``WWW-Authenticate`` header (RFC 9110 clause 11.6.1)."""

    type_uri = _HTTP_ONLY
    title = "Unauthorized"
    status = 401


class Forbidden(CityhubError):
    """The caller is known and may not do this here (no permission)."""

    type_uri = _HTTP_ONLY
    title = "Forbidden"
    status = 403


class TooManyRequests(CityhubError):
    """A key's request rate or daily quota is spent; ``retry_after`` seconds until it is not.

    Args:
        detail: what was spent.
        retry_after: whole seconds for the Retry-After header.
    """

    type_uri = _HTTP_ONLY
    title = "Too many requests"
    status = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class LoopDetected(CityhubError):
    """A distributed operation whose data one exclusive or redirect registration holds came
    back to this broker: its ``Via`` names it (ETSI GS CIM 009 clause 6.3.17: 508 Loop
    Detected, RFC 5842 clause 7.2). The spec defines no error type URI for it."""

    type_uri = _HTTP_ONLY
    title = "Loop detected"
    status = 508


class InternalError(CityhubError):
    type_uri = _NGSI_LD_ERRORS + "InternalError"
    title = "Internal error"
    status = 500


__all__ = [
    "AlreadyExists",
    "BadRequestData",
    "CityhubError",
    "Forbidden",
    "InternalError",
    "InvalidRequest",
    "LdContextNotAvailable",
    "LoopDetected",
    "MethodNotAllowed",
    "NoMultiTenantSupport",
    "NonexistentTenant",
    "NotAcceptable",
    "OperationNotSupported",
    "PayloadTooLarge",
    "ResourceNotFound",
    "StoreUnavailable",
    "TooComplexQuery",
    "TooManyRequests",
    "TooManyResults",
    "Unauthorized",
    "UnsupportedMediaType",
    "UriTooLong",
]
