"""Forwarding writes to context sources (ETSI GS CIM 009 v1.8.1 clause 4.3.6 and the
distributed behaviour of the provision operations, clauses 5.6.1.4 to 5.6.19.4).

:func:`plan` finds the registrations a write matches and splits it
(``cityhub.ngsild.distribution``): exclusive and redirect registrations take their
attributes away from this broker, inclusive ones receive what is left as well. :func:`send`
sends each part to its source in parallel, through :meth:`Federation.exchange` (the same
timeout, concurrency limit, allowed hosts, ``Via`` and headers as reads), and reads each answer
as a :class:`PartResult`: a success, or a ProblemDetails for the part that failed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from cityhub.errors import LoopDetected
from cityhub.federation.service import Ask, Federation
from cityhub.ngsild.distribution import Part, Plan, plan_write
from cityhub.ngsild.federation import is_loop
from cityhub.ngsild.registration_query import RegistrationQuery

#: RFC 9457: a problem that is only its HTTP status.
PLAIN_PROBLEM: Final = "about:blank"
_TEXT_LIMIT: Final = 500
_PROXIED: Final = frozenset({"exclusive", "redirect"})


@dataclass(frozen=True)
class Forward:
    """The request a part becomes: method, path under the source's NGSI-LD API, query
    parameters and body (None: no body)."""

    method: str
    path: str
    params: Sequence[tuple[str, str]] = ()
    body: Any = None


@dataclass
class PartResult:
    """What became of one part of a distributed write."""

    part: Part
    ok: bool
    problem: dict[str, Any] | None = None
    #: attributes a source's 207 UpdateResult says were not updated: (name, reason)
    not_updated: list[tuple[str, str]] = field(default_factory=list)
    warning: str | None = None


async def plan(
    federation: Federation,
    ask: Ask,
    operation: str,
    entity_id: str,
    attrs: Sequence[str],
    types: Callable[[], Any],
) -> Plan | None:
    """The parts of a write, or None when no registration takes any of it (the write is
    this broker's alone). ``types`` (awaitable) gives the entity's types, asked only when a
    registration matches the id (a registration by type needs them).

    Raises:
        LoopDetected: the write came back here (``Via``) and one exclusive or redirect
            registration holds all of it.
    """
    looped = not ask.local and is_loop(ask.via, federation.identity)
    query = RegistrationQuery(ids=(entity_id,), attrs=tuple(attrs))
    docs = await federation.matching(dataclasses.replace(ask, via=None) if looped else ask, query)
    if not docs:
        return None
    found = plan_write(docs, operation, entity_id, await types(), attrs)
    if looped:
        # clause 6.3.17: "in the case of an exclusive or redirect registration, where all of
        # the data is held outside of the Context Broker and held in a single registered
        # source" that leads back here, 508; otherwise the looping registrations drop out of
        # the matching (Table 6.3.18-2) and the write is this broker's
        proxied = [p for p in found.parts if p.registration.get("mode") in _PROXIED]
        if not found.local and len(found.parts) == 1 and proxied:
            raise LoopDetected(
                f"this {operation} came back to this broker ({federation.identity} is in its "
                f"Via header): registration {proxied[0].registration_id} "
                f"({proxied[0].registration.get('mode')}) holds all of its data and leads back "
                "here"
            )
        return None
    return found if found.parts else None


def problem_of(status: int, detail: str, data: bytes = b"") -> dict[str, Any]:
    """The source's ProblemDetails when it sent one (its members that are text or the
    status), else one made of the status."""
    try:
        body = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        body = None
    problem: dict[str, Any] = {"type": PLAIN_PROBLEM, "title": f"HTTP {status}", "status": status}
    if isinstance(body, dict):
        for key in ("type", "title", "detail"):
            if isinstance(body.get(key), str):
                problem[key] = body[key][:_TEXT_LIMIT]
    problem.setdefault("detail", detail)
    return problem


def _partial(data: bytes) -> list[tuple[str, str]]:
    """The notUpdated of a source's 207 UpdateResult (clause 5.2.18), as far as it is one."""
    try:
        body = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        return []
    items = body.get("notUpdated") if isinstance(body, dict) else None
    out = []
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and isinstance(item.get("attributeName"), str):
            reason = item.get("reason")
            out.append(
                (item["attributeName"], reason[:_TEXT_LIMIT] if isinstance(reason, str) else "")
            )
    return out


async def _one(
    federation: Federation, ask: Ask, part: Part, forward: Forward, operation: str
) -> PartResult:
    doc = part.registration
    name = f"context source {doc['id']}"
    if not part.supported:
        return PartResult(
            part,
            ok=False,
            problem={
                "type": "https://uri.etsi.org/ngsi-ld/errors/Conflict",
                "title": "Conflict",
                "status": 409,
                "detail": f"registration {doc['id']} holds this data ({doc.get('mode')}) but "
                f"does not take {operation} (its operations); nothing was sent to it",
            },
        )
    got = await federation.exchange(
        doc, ask, forward.method, forward.path, forward.params, forward.body
    )
    if got.warning is not None:
        status = 504 if got.timed_out else 502
        return PartResult(
            part,
            ok=False,
            problem=problem_of(status, got.warning.split(" ", 2)[2].strip('"')),
            warning=got.warning,
        )
    if got.status == 207:
        missing = _partial(got.data)
        return PartResult(
            part,
            ok=False,
            problem=problem_of(207, f"{name} did part of the {operation}", got.data),
            not_updated=missing,
        )
    if 200 <= got.status < 300:
        return PartResult(part, ok=True)
    return PartResult(
        part,
        ok=False,
        problem=problem_of(got.status, f"{name} answered HTTP {got.status}", got.data),
    )


async def send(
    federation: Federation,
    ask: Ask,
    found: Plan,
    operation: str,
    forward: Callable[[Part], Forward],
) -> list[PartResult]:
    """Each part of ``found`` sent to its source in parallel; the results in the parts'
    order."""
    return list(
        await asyncio.gather(
            *(_one(federation, ask, part, forward(part), operation) for part in found.parts)
        )
    )
