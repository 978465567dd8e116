"""Distributed batch operations (ETSI GS CIM 009 v1.8.1 clause 4.3.6; the distributed
behaviour of 5.6.7.4 Batch Entity Creation, 5.6.8.4 Upsert, 5.6.9.4 Update, 5.6.10.4 Delete,
5.6.20.4 Merge): each entity of the batch is split over the registrations that match it as
the single-entity operation would be (``cityhub.ngsild.distribution``); each source receives
**one** batch request with its parts of every entity, the part left for this broker runs as
a local batch, and the answer is one BatchOperationResult (clause 5.2.16): an entity
succeeded when all its parts did; each failed part is a BatchEntityError, with the
``registrationId`` of the source's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from cityhub.api import negotiation as neg
from cityhub.api.distributed import subset
from cityhub.api.federated import ask_of, warning_headers
from cityhub.api.guard import access_of
from cityhub.federation import Ask, Federation
from cityhub.federation.writes import problem_of
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.distribution import Part, Plan, plan_write
from cityhub.ngsild.registration_query import RegistrationQuery
from cityhub.provision import BatchItem, BatchResult
from cityhub.store.base import EntityQuery

#: The batch operations' names (clause 4.20, table 4.20-1) by their path.
BATCH_OPERATIONS = {
    "create": "createBatch",
    "upsert": "upsertBatch",
    "update": "updateBatch",
    "merge": "mergeBatch",
    "delete": "deleteBatch",
}


@dataclass
class _Source:
    doc: dict[str, Any]
    positions: list[int] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)


def _entity_errors(data: bytes) -> dict[str, dict[str, Any]] | None:
    """A source's 207 BatchOperationResult: its errors by entity id (None: not one)."""
    try:
        body = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        return None
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return None
    out = {}
    for item in errors:
        if isinstance(item, dict) and isinstance(item.get("entityId"), str):
            raw = item.get("error")
            status = raw.get("status") if isinstance(raw, dict) else None
            out[item["entityId"]] = problem_of(
                status if isinstance(status, int) else 400,
                "the context source did not do this entity",
                orjson.dumps(raw) if isinstance(raw, dict) else b"",
            )
    return out


async def _send(
    federation: Federation,
    request_ask: Ask,
    source: _Source,
    path: str,
    params: Sequence[tuple[str, str]],
    ids: list[str],
) -> tuple[dict[str, dict[str, Any]], str | None, set[str]]:
    """One batch to one source: the problem of each of its entities that failed, the
    source's warning when it did not answer, and the entities it says it created (its 201:
    the ids its array lists, or all of them when it sent none; clauses 5.6.7.4, 5.6.8.4)."""
    doc = source.doc
    got = await federation.exchange(doc, request_ask, "POST", path, params, source.bodies)
    if got.warning is not None:
        status = 504 if got.timed_out else 502
        problem = problem_of(status, got.warning.split(" ", 2)[2].strip('"'))
        return {i: problem for i in ids}, got.warning, set()
    if got.status in (200, 201, 204):
        return {}, None, _created(got.data, ids) if got.status == 201 else set()
    if got.status == 207:
        found = _entity_errors(got.data)
        if found is not None:
            return {i: p for i, p in found.items() if i in ids}, None, set()
    problem = problem_of(
        got.status, f"context source {doc['id']} answered HTTP {got.status}", got.data
    )
    return {i: problem for i in ids}, None, set()


def _created(data: bytes, ids: list[str]) -> set[str]:
    try:
        body = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, list) and all(isinstance(i, str) for i in body):
        return {i for i in body if i in ids}
    return set(ids)


async def batch(
    request: Request,
    tenant: str,
    kind: str,
    items: list[BatchItem],
    raws: list[Any],
    terms: list[TermMap],
    run_local: Callable[[list[BatchItem]], Awaitable[BatchResult]],
    *,
    params: Sequence[tuple[str, str]] = (),
    created_status: bool = False,
) -> Response | None:
    """A batch of ``kind`` (create, upsert, update, merge, delete) distributed to the
    registrations its entities match, or None when none matches (the route runs it here
    alone). ``raws`` and ``terms`` are each item's body and terms, in the items' order."""
    federation: Federation = request.app.state.federation
    operation = BATCH_OPERATIONS[kind]
    ask = ask_of(request, tenant, narrowed=access_of(request).permitted("write") is not None)
    valid = [(pos, eid, ent) for pos, (eid, ent, err) in enumerate(items) if err is None and eid]
    ids = tuple(dict.fromkeys(eid for _, eid, _ in valid))
    if not ids:
        return None
    docs = await federation.matching(ask, RegistrationQuery(ids=ids))
    if not docs:
        return None
    stored: dict[str, list[str]] = {}
    if kind not in ("create", "upsert"):
        found = await request.app.state.store.query_entities(
            tenant, EntityQuery(ids=ids, limit=len(ids))
        )
        stored = {e["id"]: list(e["type"]) for e in found.entities}
    plans: dict[int, Plan] = {}
    for pos, eid, ent in valid:
        assert ent is not None
        types = ent.get("type") or stored.get(eid, [])
        plans[pos] = plan_write(docs, operation, eid, types, list(ent.get("attrs", {})))
    if not any(p.parts for p in plans.values()):
        return None
    return await _run(
        federation, ask, kind, operation, items, raws, terms, plans, run_local, params,
        created_status,
    )  # fmt: skip


async def _run(
    federation: Federation,
    ask: Ask,
    kind: str,
    operation: str,
    items: list[BatchItem],
    raws: list[Any],
    terms: list[TermMap],
    plans: dict[int, Plan],
    run_local: Callable[[list[BatchItem]], Awaitable[BatchResult]],
    params: Sequence[tuple[str, str]],
    created_status: bool,
) -> Response:
    sources: dict[str, _Source] = {}
    refused: list[tuple[str, Part]] = []
    local_items: list[BatchItem] = []
    for pos, item in enumerate(items):
        plan = plans.get(pos)
        if plan is None:
            local_items.append(item)  # an invalid entity: the local batch reports it
            continue
        eid, ent, _ = item
        assert eid is not None and ent is not None
        for part in plan.parts:
            if not part.supported:
                refused.append((eid, part))
                continue
            source = sources.setdefault(part.registration_id, _Source(part.registration))
            source.positions.append(pos)
            body = raws[pos] if kind == "delete" else subset(raws[pos], terms[pos], part.attrs)
            source.bodies.append(body)
        if plan.local:
            attrs = ent.get("attrs", {})
            kept = {k: v for k, v in attrs.items() if k in plan.local_attrs or not plan.parts}
            local_items.append((eid, {**ent, "attrs": kept} if "attrs" in ent else ent, None))
    path = f"/entityOperations/{kind}"
    sends = [
        _send(federation, ask, s, path, params, [str(items[p][0]) for p in s.positions])
        for s in sources.values()
    ]
    local_run = run_local(local_items) if local_items else _empty()
    local, answers = await asyncio.gather(local_run, asyncio.gather(*sends))
    errors: list[dict[str, Any]] = [
        {"entityId": eid, "error": exc.to_problem()} for eid, exc in local.errors
    ]
    for eid, part in refused:
        errors.append(
            {
                "entityId": eid,
                "registrationId": part.registration_id,
                "error": {
                    "type": "https://uri.etsi.org/ngsi-ld/errors/Conflict",
                    "title": "Conflict",
                    "status": 409,
                    "detail": f"registration {part.registration_id} holds this data but does "
                    f"not take {operation} (its operations); nothing was sent to it",
                },
            }
        )
    warnings = []
    made: set[str] = set()
    for source, (failed, warning, created_there) in zip(sources.values(), answers, strict=True):
        made |= created_there
        if warning:
            warnings.append(warning)
        for eid, problem in failed.items():
            errors.append({"entityId": eid, "registrationId": source.doc["id"], "error": problem})
    failed_ids = {e["entityId"] for e in errors}
    done = [eid for eid, _, err in items if err is None and eid and eid not in failed_ids]
    done = list(dict.fromkeys(done))
    headers = warning_headers(warnings)
    if errors:
        body = {"success": done, "errors": errors}
        return neg.json_response(body, status=207, headers=headers)
    if created_status:
        created = [i for i in done if i in set(local.created) | made]
        if created:
            return neg.json_response(created, status=201, headers=headers)
    return Response(status_code=204, headers=headers)


async def _empty() -> BatchResult:
    return BatchResult()


__all__ = ["BATCH_OPERATIONS", "batch"]
