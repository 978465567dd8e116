"""Distributed writes in the entity routes (ETSI GS CIM 009 v1.8.1 clause 4.3.6, clauses
5.6.x.4): a write some registrations match is split (``cityhub.federation.writes``), each part
sent to its source while the part left for this broker is written here, and the answers
become one response.

- every part succeeded: the operation's own success (201 or 204);
- the write had one part only (a proxied registration took all of it) and it failed: that
  part's error, with the source's status;
- otherwise, some part failed: **207** with, for Update and Append Attributes, an
  UpdateResult (clause 5.2.18) whose ``notUpdated`` names the registration of each attribute
  a source did not take, and for the other operations a BatchOperationResult (clause 5.2.16)
  with one BatchEntityError per failed part (``registrationId`` for a source's).

A source that could not be asked or did not answer adds an ``NGSILD-Warning`` (clause
6.3.17).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response

from cityhub.api import negotiation as neg
from cityhub.api.federated import ask_of, warning_headers
from cityhub.api.guard import access_of
from cityhub.errors import CityhubError
from cityhub.federation import writes
from cityhub.federation.writes import Forward, PartResult
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.distribution import Part, Plan
from cityhub.ngsild.federation import allows
from cityhub.ngsild.names import ENTITY_MEMBERS
from cityhub.ngsild.ops import UpdateResult
from cityhub.ngsild.registration_query import RegistrationQuery

__all__ = ["Forward", "entity_path", "purge", "subset", "write"]


def entity_path(entity_id: str, tail: str = "") -> str:
    """``/entities/{id}{tail}`` with the id quoted as a path segment (its colons kept)."""
    return "/entities/" + quote(entity_id, safe=":") + tail


def subset(body: Any, terms: TermMap, attrs: frozenset[str] | None) -> Any:
    """The caller's body with only the attributes ``attrs`` (IRIs; None: all of them), its
    entity members (id, type, scope, @context) kept: what a source receives, in the caller's
    own terms (the source reads them with the same @context)."""
    if attrs is None or not isinstance(body, dict):
        return body
    return {
        key: value
        for key, value in body.items()
        if key in ENTITY_MEMBERS or key == "@context" or terms.expand(key) in attrs
    }


async def write(
    request: Request,
    tenant: str,
    operation: str,
    entity_id: str,
    attrs: Sequence[str],
    *,
    types: Callable[[], Awaitable[Sequence[str]]],
    forward: Callable[[Part], Forward],
    local: Callable[[frozenset[str]], Awaitable[UpdateResult | None]],
    success: Callable[[UpdateResult | None], Response],
    update_result: bool = False,
) -> Response | None:
    """A write of ``operation`` on ``entity_id`` (touching ``attrs``; none: the whole
    entity) distributed to the registrations that match it, or None when none does (the
    route writes here alone, as without federation).

    Args:
        types: the entity's types, asked when a registration matches its id.
        forward: the request a part becomes.
        local: this broker's part, given the attributes left to it.
        success: the answer when every part succeeded, given what ``local`` returned.
        update_result: answer a partial success with an UpdateResult (Update and Append
            Attributes) rather than a BatchOperationResult.

    Raises:
        CityhubError: the local part failed and it was the only part.
    """
    federation = request.app.state.federation
    narrowed = access_of(request).permitted("write") is not None
    ask = ask_of(request, tenant, narrowed=narrowed)
    found = await writes.plan(federation, ask, operation, entity_id, attrs, types)
    if found is None:
        return None

    async def run_local() -> tuple[UpdateResult | None, CityhubError | None]:
        if not found.local:
            return None, None
        try:
            return await local(found.local_attrs), None
        except CityhubError as exc:
            return None, exc

    (result, error), parts = await asyncio.gather(
        run_local(), writes.send(federation, ask, found, operation, forward)
    )
    return _answer(entity_id, found, result, error, parts, success, update_result)


def _answer(
    entity_id: str,
    found: Plan,
    result: UpdateResult | None,
    error: CityhubError | None,
    parts: list[PartResult],
    success: Callable[[UpdateResult | None], Response],
    update_result: bool,
) -> Response:
    headers = warning_headers([p.warning for p in parts if p.warning])
    failed = [p for p in parts if not p.ok]
    if not failed and error is None and not (result and result.not_updated):
        return success(result)
    if len(parts) == 1 and not found.local and failed and failed[0].problem:
        problem = failed[0].problem
        status = int(problem.get("status", 502))
        if status >= 400:
            return Response(
                orjson.dumps(problem),
                status_code=status,
                media_type="application/json",
                headers=headers,
            )
    body = (
        _update_result(found, result, error, parts)
        if update_result
        else _batch_result(entity_id, error, parts, found.local)
    )
    return neg.json_response(body, status=207, headers=headers)


def _update_result(
    found: Plan, result: UpdateResult | None, error: CityhubError | None, parts: list[PartResult]
) -> dict[str, Any]:
    updated = list(result.updated) if result else []
    not_updated: list[dict[str, Any]] = (
        [{"attributeName": iri, "reason": reason} for iri, reason in (result.not_updated or ())]
        if result
        else []
    )
    if error is not None:
        not_updated += [
            {"attributeName": iri, "reason": error.detail} for iri in sorted(found.local_attrs)
        ]
    for done in parts:
        names = sorted(done.part.attrs or ())
        if done.ok:
            updated += [n for n in names if n not in updated]
            continue
        reg = done.part.registration_id
        problem = done.problem or {}
        missing = done.not_updated
        if missing:
            not_updated += [
                {"attributeName": n, "reason": r, "registrationId": reg} for n, r in missing
            ]
            updated += [n for n in names if n not in {m for m, _ in missing}]
        else:
            reason = str(problem.get("detail", ""))
            not_updated += [
                {"attributeName": n, "reason": reason, "registrationId": reg} for n in names
            ]
    return {"updated": updated, "notUpdated": not_updated}


def _batch_result(
    entity_id: str, error: CityhubError | None, parts: list[PartResult], local: bool
) -> dict[str, Any]:
    errors: list[dict[str, Any]] = []
    if error is not None:
        errors.append({"entityId": entity_id, "error": error.to_problem()})
    for done in parts:
        if not done.ok:
            errors.append(
                {
                    "entityId": entity_id,
                    "registrationId": done.part.registration_id,
                    "error": done.problem,
                }
            )
    succeeded = any(p.ok for p in parts) or (local and error is None)
    return {"success": [entity_id] if succeeded else [], "errors": errors}


async def purge(
    request: Request,
    tenant: str,
    ids: Sequence[str],
    types: Sequence[str],
    id_pattern: str | None,
    local: Callable[[], Awaitable[None]],
) -> Response | None:
    """Purge Entities distributed (clause 5.6.21.4 with 4.3.6): the caller's purge, as it
    asked it, goes to every registration of its entities (by id, idPattern, type) that takes
    ``purgeEntity`` (an auxiliary one never; a proxied one without it is a Conflict) and runs
    here too. 204 when every part succeeded, else 207 with one error per failed part (its
    ``registrationId``); None when no registration matches."""
    federation = request.app.state.federation
    ask = ask_of(request, tenant, narrowed=access_of(request).permitted("write") is not None)
    docs = await federation.matching(
        ask, RegistrationQuery(ids=tuple(ids), types=tuple(types), id_pattern=id_pattern)
    )
    parts = [
        Part(d, None, allows(d, "purgeEntity"))
        for d in docs
        if d.get("mode", "inclusive") != "auxiliary"
        and (allows(d, "purgeEntity") or d.get("mode", "inclusive") != "inclusive")
    ]
    if not parts:
        return None
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "local"]
    forward = Forward("DELETE", "/entities", params)

    async def run_local() -> CityhubError | None:
        try:
            await local()
        except CityhubError as exc:
            return exc
        return None

    found = Plan(parts=parts)
    error, results = await asyncio.gather(
        run_local(), writes.send(federation, ask, found, "purgeEntity", lambda _: forward)
    )
    headers = warning_headers([r.warning for r in results if r.warning])
    errors: list[dict[str, Any]] = [{"error": error.to_problem()}] if error is not None else []
    errors += [
        {"registrationId": r.part.registration_id, "error": r.problem} for r in results if not r.ok
    ]
    if not errors:
        return Response(status_code=204, headers=headers)
    return neg.json_response({"success": [], "errors": errors}, status=207, headers=headers)
