"""Lazy attributes (iotagent-node-lib doc/devel/architecture.md "Lazy attributes": the agent
"will register itself in the Context Broker as a Context Provider for all the lazy measures of
that device"; doc/howto.md "IOTA With Lazy attributes"): a device's ``lazy`` attributes (its
own and its group's) are not pushed by the device but asked of it when someone reads them.

- **The registration.** A device with lazy attributes that can be asked (an ``endpoint``, or
  ``transport`` MQTT) gets, in its tenant, a context source registration (ETSI GS CIM 009
  clause 5.9.2) of its entity id and type with the lazy names, ``mode`` inclusive, the
  :data:`OPERATIONS` (reads, and the writes FIWARE's agent takes), whose endpoint is this
  hub's own agent:
  ``http://iot.cityhub.invalid/<apikey>/<device>/<key>``. A read of the entity (Retrieve
  Entity 5.7.1.4, Query Entities 5.7.2.4, by GET or by POST /entityOperations/query) is
  then forwarded by the hub's federation (``cityhub.federation``: the same matching,
  timeouts, circuit breaker, merge and ``NGSILD-Warning`` as any context source);
  :class:`LazyTransport`, the federation's HTTP transport, answers that host in-process
  (``.invalid`` never resolves: nothing goes on the network). ``key`` is a random secret
  kept in the device's document: a registration someone else writes cannot make the agent
  answer another tenant's device. Updating the device or its group updates the
  registration; deleting the device deletes it.
- **Asking the device.** Over HTTP as iotagent-node-lib's howto does: ``GET <endpoint>?k=
  <apikey>&i=<device>&q=<object_id>,...``. Over MQTT (FIWARE's agents define no lazy topic;
  iotagent-json's manual: lazy attributes are not implemented, its issue #89): published QoS
  1 on ``/<apikey>/<device>/lazy`` (``t,l``, or ``["t","l"]`` to a JSON device), answered on
  ``/ul|json/<apikey>/<device>/lazyexe`` (as commands use ``cmd`` and ``cmdexe``). The answer
  is the measures (``t|15|l|19.6``, ``{"t": 15, "l": 19.6}``, or the howto's ``15,19.6`` in
  the order asked), mapped as measures are (types, ``unitCode``, expressions) and answered,
  **not written**. No answer within ``iot_lazy_timeout`` seconds: 504; a device that cannot
  be reached or answers what is not measures: 502; the federation turns these into an
  ``NGSILD-Warning`` naming the device, and the entity is answered without the attribute.
- **Updates.** A write of a lazy attribute the federation forwards (Update Entity Attributes,
  Partial Attribute Update, Merge Entity, Replace Attribute) sends the device its new values
  (``GET <endpoint>?k=&i=&d=<values>``, or the ``lazy`` topic); an NGSI-LD Null is not sent.
- A query with ``q``, ``scopeQ``, ``csf`` or a geo-query is answered without the lazy
  values (they cannot be filtered here without asking every device).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, unquote

import httpx
import orjson

from cityhub.errors import BadRequestData, CityhubError, OperationNotSupported, ResourceNotFound
from cityhub.iot.commands import CommandTarget, Publish
from cityhub.iot.errors import LazyFailed, LazyTimeout, LazyUnavailable, WrongSyntax
from cityhub.iot.expressions import to_text
from cityhub.iot.measures import fragments, mapping_of
from cityhub.iot.ultralight import MeasureGroup, parse_ultralight
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.datetime import now_iso
from cityhub.ngsild.entity import expand_entity
from cityhub.ngsild.names import ATTRIBUTE_MEMBERS, is_null
from cityhub.ngsild.plain import plain_value
from cityhub.ngsild.registration import expand_registration
from cityhub.store.base import Document
from cityhub.store.iot import IotStore
from cityhub.store.registrations import RegistrationStore

log = logging.getLogger("cityhub.iot")

#: the host of the agent's own context source endpoint (RFC 2606: never resolves)
LAZY_HOST: Final = "iot.cityhub.invalid"
#: a device document's secret naming it in its registration's endpoint
KEY: Final = "lazy_key"
REGISTRATION_PREFIX: Final = "urn:ngsi-ld:ContextSourceRegistration:iot-lazy:"
#: reads (Retrieve, Query, a POST query) and writes (Update Entity Attributes 5.6.2, Partial
#: Attribute Update 5.6.4: PATCH .../attrs and .../attrs/{attrId}; Merge Entity 5.6.17: PATCH
#: /entities/{id}; Replace Attribute 5.6.19: PUT .../attrs/{attrId}), the writes
#: iotagent-node-lib's NGSI-LD context server takes (contextServer-NGSI-LD.js: PATCH and PUT
#: of .../attrs[/{attr}], PATCH of the entity)
OPERATIONS: Final = (
    "retrieveEntity", "queryEntity", "queryBatch", "updateEntity", "updateAttrs",
    "mergeEntity", "replaceAttrs",
)  # fmt: skip
#: the forwarded writes the agent takes: (method, path after /ngsi-ld/v1/entities/{id})
_WRITES: Final = {
    ("PATCH", ("attrs",)),
    ("PATCH", ("attrs", "*")),
    ("PATCH", ()),
    ("PUT", ("attrs", "*")),
}
#: query parameters a device's answer cannot be filtered by here
_FILTERS: Final = ("q", "scopeQ", "georel", "geometry", "coordinates", "csf")
_MAX_ANSWER: Final = 1_048_576
#: the members of a registration the agent keeps as the device asks (else it is updated)
_KEPT: Final = ("information", "endpoint", "tenant", "mode", "operations")
_PROBLEM = "application/problem+json"


def new_key() -> str:
    return secrets.token_hex(16)


def lazy_attributes(device: Document, group: Document | None) -> list[Document]:
    """The device's lazy attributes: its group's, then its own (by name, the device's win)."""
    attrs = {a["name"]: a for a in (group or {}).get("lazy", [])}
    attrs.update({a["name"]: a for a in device.get("lazy", [])})
    return list(attrs.values())


def how_asked(device: Document, group: Document | None) -> str | None:
    """``mqtt``, ``http``, or None for a device that cannot be asked (it polls)."""
    target = CommandTarget("", device, group, ())
    if str(target.setting("transport") or "").upper() == "MQTT":
        return "mqtt"
    return "http" if target.setting("endpoint") else None


def endpoint_of(device: Document, apikey: str) -> str:
    return (
        f"http://{LAZY_HOST}/{quote(apikey or '~', safe='')}/"
        f"{quote(device['device_id'], safe='')}/{device[KEY]}"
    )


def parse_answer(payload: bytes, asked: list[str]) -> tuple[dict[str, Any], bool]:
    """A device's answer: its values by object_id, and whether they are UltraLight text.

    Raises:
        WrongSyntax: not UTF-8, not a JSON object, UltraLight, or one value per name asked.
    """
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise WrongSyntax("the answer is not UTF-8 text") from None
    if text.startswith("{"):
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise WrongSyntax(f"the answer is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise WrongSyntax("the answer is not a JSON object")
        return body, False
    if "|" in text:
        values: dict[str, Any] = {}
        for group in parse_ultralight(text):
            values.update(group.values)
        return values, True
    parts = text.split(",") if text else []
    if len(parts) != len(asked):
        raise WrongSyntax(
            f"the answer {text[:80]!r} has {len(parts)} value(s) for the {len(asked)} asked "
            f"({', '.join(asked)})"
        )
    return dict(zip(asked, (p.strip() for p in parts), strict=True)), True


def _problem(exc: CityhubError) -> httpx.Response:
    body = {"type": exc.type_uri, "title": exc.title, "status": exc.status, "detail": exc.detail}
    return httpx.Response(
        exc.status, headers={"Content-Type": _PROBLEM}, content=orjson.dumps(body)
    )


def _expanded_body(fragment: Document, terms: TermMap) -> Document:
    """A compact entity fragment with every name expanded, so whatever @context the caller
    reads it with leaves them as they are."""
    out: Document = {"id": fragment["id"], "type": terms.expand(fragment["type"])}
    for name, inst in fragment.items():
        if name in ("id", "type"):
            continue
        out[terms.expand(name)] = {
            (k if k in ATTRIBUTE_MEMBERS else terms.expand(k)): v for k, v in inst.items()
        }
    return out


class LazyAttributes:
    """The registrations of lazy attributes and the reads they bring (one per app).

    Args:
        iot: where devices and groups are kept.
        registrations: where the registrations go (the device's tenant).
        term_map: the term map of a @context URL (None: the core context).
        agent_context: the @context device attribute names expand with (None: core).
        timeout: seconds a device has to answer.
    """

    def __init__(
        self,
        iot: IotStore,
        registrations: RegistrationStore,
        term_map: Callable[[str | None], Awaitable[TermMap]],
        agent_context: str | None = None,
        timeout: float = 3.0,
    ) -> None:
        self.iot = iot
        self.registrations = registrations
        self._term_map = term_map
        self._agent_context = agent_context
        self.timeout = timeout
        #: publish(topic, payload): the MQTT transport's, when it runs
        self.publish: Publish | None = None
        self._waiting: dict[tuple[str, str], list[asyncio.Future[bytes]]] = {}
        #: called with a registration's endpoint once it is written (the app closes the
        #: federation's circuit breaker of it: a re-provisioned device is asked afresh)
        self.registered: Callable[[str], None] | None = None
        self._http: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _group_of(self, tenant: str, device: Document) -> Document | None:
        if device.get("apikey"):
            found = await self.iot.find_group(device["apikey"], None)
            if found is not None and found[0] == tenant:
                return found[1]
        return None

    # ---- the registrations ------------------------------------------------------------------

    async def sync(self, tenant: str, device: Document, group: Document | None = None) -> None:
        """Make the device's registration what its lazy attributes ask for: created, updated,
        or deleted when it has none it can be asked for."""
        if group is None:
            group = await self._group_of(tenant, device)
        lazy = lazy_attributes(device, group)
        if not lazy or how_asked(device, group) is None or "entity_name" not in device:
            await self.forget(tenant, device)
            return
        if KEY not in device:  # provisioned before lazy attributes were answered
            key = new_key()
            changed = await self.iot.update_device(
                tenant, device["device_id"], device.get("apikey"), lambda d: {KEY: key, **d}
            )
            if changed is None:
                return
            device = changed
        terms = await self._term_map(self._agent_context)
        doc = self._registration(tenant, device, group, lazy, terms)
        reg_id = doc["id"]
        current = await self.registrations.get_registration(tenant, reg_id)
        if current is None:
            await self.registrations.create_registration(tenant, doc)
        elif any(current.get(k) != doc.get(k) for k in _KEPT):

            def change(before: Document, now: str) -> Document:
                return {**doc, "createdAt": before.get("createdAt"), "modifiedAt": now}

            await self.registrations.update_registration(tenant, reg_id, change)
        if self.registered is not None:
            self.registered(doc["endpoint"])

    def _registration(
        self,
        tenant: str,
        device: Document,
        group: Document | None,
        lazy: list[Document],
        terms: TermMap,
    ) -> Document:
        entity_type = device.get("entity_type") or (group or {}).get("entity_type") or "Thing"
        info: Document = {"entities": [{"id": device["entity_name"], "type": entity_type}]}
        props = [a["name"] for a in lazy if a.get("type") != "Relationship"]
        rels = [a["name"] for a in lazy if a.get("type") == "Relationship"]
        if props:
            info["propertyNames"] = props
        if rels:
            info["relationshipNames"] = rels
        apikey = device.get("apikey") or (group or {}).get("apikey") or ""
        body: Document = {
            "id": REGISTRATION_PREFIX + device[KEY],
            "type": "ContextSourceRegistration",
            "registrationName": f"IoT agent: the lazy attributes of device {device['device_id']}",
            "information": [info],
            "endpoint": endpoint_of(device, apikey),
            "mode": "inclusive",
            "operations": list(OPERATIONS),
        }
        if tenant:
            body["tenant"] = tenant
        return expand_registration(body, terms, datetime.now(UTC))

    async def forget(self, tenant: str, device: Document) -> None:
        """Delete the device's registration, if it has one (looked up first: most devices
        have none, and a read costs less than a write transaction)."""
        if KEY in device:
            reg_id = REGISTRATION_PREFIX + device[KEY]
            if await self.registrations.get_registration(tenant, reg_id) is not None:
                await self.registrations.delete_registration(tenant, reg_id)

    # ---- the reads the federation forwards (LazyTransport) ----------------------------------

    async def serve(self, request: httpx.Request) -> httpx.Response:
        """Answer a forwarded read: ``GET <endpoint>/ngsi-ld/v1/entities/{id}`` or
        ``.../entities?...``; errors as ProblemDetails, never an exception."""
        try:
            return await self._serve(request)
        except CityhubError as exc:
            if exc.status >= 500:
                log.warning("IoT lazy read %s: %s", request.url.path, exc.detail)
            return _problem(exc)

    async def _serve(self, request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        parts = [unquote(p) for p in raw.split("/")]
        # "", apikey, device, key, "ngsi-ld", "v1", then "entities"[, id] (Retrieve Entity,
        # Query Entities), "entityOperations", "query" (a POST query, queryBatch), or a write
        # of _WRITES: "entities", id[, "attrs"[, name]]
        path = (request.method, *parts[4:])
        one = len(path) == 5 and path[:4] == ("GET", "ngsi-ld", "v1", "entities")
        tail = tuple(p if i == 0 else "*" for i, p in enumerate(parts[8:]))
        write = path[1:4] == ("ngsi-ld", "v1", "entities") and len(path) >= 5
        write = write and (request.method, tail) in _WRITES
        if (
            not one
            and not write
            and path
            not in (
                ("GET", "ngsi-ld", "v1", "entities"),
                ("POST", "ngsi-ld", "v1", "entityOperations", "query"),
            )
        ):
            raise ResourceNotFound("the IoT agent answers reads and updates of lazy attributes")
        apikey, device_id, key = parts[1], parts[2], parts[3]
        tenant = request.headers.get("NGSILD-Tenant", "")
        device = await self.iot.get_device(tenant, device_id, None if apikey == "~" else apikey)
        if device is None or not secrets.compare_digest(str(device.get(KEY, "")), key):
            raise ResourceNotFound(f"no device {device_id!r} answers lazy attributes here")
        entity_id = device.get("entity_name", "")
        if (one or write) and parts[7] != entity_id:
            raise ResourceNotFound(f"device {device_id!r} is not entity {parts[7]}")
        if write:
            attribute = parts[9] if len(parts) > 9 and parts[9] else None
            await self._serve_write(request, tenant, device, attribute)
            return httpx.Response(204)
        link = _link_context(request.headers.get("Link"))
        if request.method == "POST":
            selected, attrs, context = _post_query(request.content, entity_id, link)
        else:
            params = request.url.params
            attrs = [a for a in params.get("attrs", "").split(",") if a]
            context = link
            selected = one or not (
                any(params.get(f) for f in _FILTERS)
                or (params.get("id") and entity_id not in params["id"].split(","))
            )
        if not selected:
            return self._json([], count=0)
        group = await self._group_of(tenant, device)
        lazy = lazy_attributes(device, group)
        agent_terms = await self._term_map(self._agent_context)
        wanted = lazy
        if attrs:
            caller = await self._term_map(context)
            asked = {caller.expand(a) for a in attrs}
            wanted = [a for a in lazy if agent_terms.expand(a["name"]) in asked]
        if not wanted:
            if one:
                raise ResourceNotFound(f"device {device_id!r} has none of the attributes asked")
            return self._json([], count=0)
        body = await self.read(tenant, device, group, wanted, agent_terms)
        return self._json(body if one else [body], count=1)

    async def _serve_write(
        self, request: httpx.Request, tenant: str, device: Document, attribute: str | None
    ) -> None:
        """A forwarded update of the device's lazy attributes (the body of PATCH .../attrs or
        of PATCH /entities/{id}, a fragment; of PATCH or PUT .../attrs/{attribute}, one
        attribute), sent to the device. A merge's ``urn:ngsi-ld:null`` (delete the attribute)
        is not sent: a device's attribute cannot be deleted.

        Raises:
            BadRequestData: the body is not JSON, or not an object of attributes.
            ResourceNotFound: it names none of the device's lazy attributes.
            LazyFailed: the device could not be reached or refused it.
        """
        try:
            body = orjson.loads(request.content)
        except orjson.JSONDecodeError:
            raise BadRequestData("an attribute update is a JSON object") from None
        if not isinstance(body, dict):
            raise BadRequestData("an attribute update is a JSON object")
        context = body.get("@context") or _link_context(request.headers.get("Link"))
        attrs = {attribute: body} if attribute is not None else body
        caller = await self._term_map(context)
        agent_terms = await self._term_map(self._agent_context)
        group = await self._group_of(tenant, device)
        lazy = {agent_terms.expand(a["name"]): a for a in lazy_attributes(device, group)}
        values: dict[str, Any] = {}
        deleted: list[str] = []
        for name, inst in attrs.items():
            found = lazy.get(caller.expand(name)) if name not in _NOT_ATTRIBUTES else None
            value = plain_value(inst, written=True)
            if found is not None and is_null(value):
                deleted.append(str(found["name"]))
            elif found is not None:
                values[str(found.get("object_id", found["name"]))] = value
        if not values and deleted:
            raise OperationNotSupported(
                f"device {device['device_id']!r} keeps {', '.join(deleted)}: an attribute of a "
                "device cannot be deleted (urn:ngsi-ld:null is not sent to it)"
            )
        if not values:
            raise ResourceNotFound(
                f"device {device['device_id']!r} has none of the attributes updated"
            )
        await self.write(device, group, values)

    async def write(self, device: Document, group: Document | None, values: Document) -> None:
        """Send new values of lazy attributes (by object_id) to the device: over HTTP as
        iotagent-node-lib's howto updates a lazy attribute (``GET <endpoint>?k=&i=&d=``, the
        values as the device sends measures: ``t|15|l|19.6``, or a JSON object to a JSON
        device), over MQTT on ``/<apikey>/<device>/lazy`` (the same payload; a read there is
        a list of names). Done once the device answered 2xx (HTTP) or the broker took it
        (MQTT, QoS 1).

        Raises:
            LazyFailed: it could not be sent, or the device refused it, in time.
        """
        target = CommandTarget("", device, group, ())
        payload = (
            orjson.dumps(values).decode()
            if target.json
            else "|".join(f"{name}|{to_text(value)}" for name, value in values.items())
        )
        name = f"device {device['device_id']!r}"
        how = how_asked(device, group)
        try:
            async with asyncio.timeout(self.timeout):
                if how == "mqtt":
                    await self._publish(device, group, payload.encode())
                elif how == "http":
                    await self._get(device, group, {"d": payload}, _MAX_ANSWER)
                else:
                    raise LazyUnavailable(
                        f"{name} cannot be sent {', '.join(values)}: it has no endpoint and "
                        "its transport is not MQTT"
                    )
        except TimeoutError:
            raise LazyTimeout(
                f"{name} did not take the update of {', '.join(values)} within "
                f"{self.timeout:g} s (setting iot_lazy_timeout)"
            ) from None

    @staticmethod
    def _json(body: Any, count: int) -> httpx.Response:
        headers = {"Content-Type": "application/json", "NGSILD-Results-Count": str(count)}
        return httpx.Response(200, headers=headers, content=orjson.dumps(body))

    async def read(
        self,
        tenant: str,
        device: Document,
        group: Document | None,
        lazy: list[Document],
        terms: TermMap,
    ) -> Document:
        """Ask the device for ``lazy`` and answer its entity with them (names expanded).

        Raises:
            LazyFailed: it could not be asked, did not answer in time, or answered what is
                not its measures.
        """
        asked = [str(a.get("object_id", a["name"])) for a in lazy]
        name = f"device {device['device_id']!r}"
        how = how_asked(device, group)
        try:
            async with asyncio.timeout(self.timeout):
                if how == "mqtt":
                    payload = await self._ask_mqtt(device, group, asked)
                elif how == "http":
                    payload = await self._ask_http(device, group, asked)
                else:
                    raise LazyUnavailable(
                        f"{name} cannot be asked for {', '.join(asked)}: it has no endpoint "
                        "and its transport is not MQTT"
                    )
        except TimeoutError:
            raise LazyTimeout(
                f"{name} did not answer the read of {', '.join(asked)} within "
                f"{self.timeout:g} s (setting iot_lazy_timeout)"
            ) from None
        try:
            values, text = parse_answer(payload, asked)
            mapping = dataclasses.replace(
                mapping_of(device, group or {}),
                attributes=lazy,
                static_attributes=[],
                explicit=[a["name"] for a in lazy],
            )
            main = fragments(mapping, MeasureGroup(values=values), now_iso(), text=text)[0]
            body = _expanded_body(main, terms)
            expand_entity(body, terms)  # what the federation will read must be NGSI-LD
        except CityhubError as exc:
            raise LazyFailed(f"{name} answered what is not its measures: {exc.detail}") from None
        return body

    async def _ask_http(self, device: Document, group: Document | None, asked: list[str]) -> bytes:
        return await self._get(device, group, {"q": ",".join(asked)}, _MAX_ANSWER)

    async def _get(
        self, device: Document, group: Document | None, query: dict[str, str], limit: int
    ) -> bytes:
        """``GET <endpoint>?k=<apikey>&i=<device>&<query>``: the device's answer (2xx).

        Raises:
            LazyFailed: not reached, another status, or more than ``limit`` bytes.
        """
        target = CommandTarget("", device, group, ())
        apikey = device.get("apikey") or (group or {}).get("apikey") or ""
        name = f"device {device['device_id']!r}"
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=None)
        params = {"k": apikey, "i": device["device_id"], **query}
        try:
            async with self._http.stream(
                "GET", str(target.setting("endpoint")), params=params
            ) as response:
                if response.status_code >= 300:
                    raise LazyFailed(f"{name} answered HTTP {response.status_code}")
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > limit:
                        raise LazyFailed(f"{name} answered more than {limit} bytes")
        except httpx.HTTPError as exc:
            raise LazyFailed(
                f"{name} could not be reached at its endpoint ({type(exc).__name__})"
            ) from None
        return bytes(data)

    async def _ask_mqtt(self, device: Document, group: Document | None, asked: list[str]) -> bytes:
        target = CommandTarget("", device, group, ())
        apikey = device.get("apikey") or (group or {}).get("apikey") or ""
        key = (apikey, device["device_id"])
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        try:
            payload = orjson.dumps(asked) if target.json else ",".join(asked).encode()
            await self._publish(device, group, payload)
            return await future
        finally:
            waiting = self._waiting.get(key, [])
            with contextlib.suppress(ValueError):
                waiting.remove(future)
            if not waiting:
                self._waiting.pop(key, None)

    async def _publish(self, device: Document, group: Document | None, payload: bytes) -> None:
        """Publish on the device's ``/<apikey>/<device>/lazy`` (QoS 1).

        Raises:
            LazyUnavailable: the MQTT transport is off or not connected.
        """
        if self.publish is None:
            raise LazyUnavailable(
                f"device {device['device_id']!r} is asked over MQTT and the MQTT transport is "
                "off (setting iot_mqtt_url)"
            )
        apikey = device.get("apikey") or (group or {}).get("apikey") or ""
        try:
            await self.publish(f"/{apikey}/{device['device_id']}/lazy", payload)
        except RuntimeError as exc:
            raise LazyUnavailable(f"device {device['device_id']!r}: {exc}") from None

    def answered(self, apikey: str, device_id: str, payload: bytes) -> bool:
        """A device's answer on ``.../lazyexe``: given to every read of it waiting here;
        False when none waits (answered too late, or asked by another worker)."""
        waiting = self._waiting.get((apikey, device_id), [])
        for future in waiting:
            if not future.done():
                future.set_result(payload)
        return bool(waiting)


#: members of an attribute update body that are not attributes
_NOT_ATTRIBUTES: Final = frozenset({"@context", "id", "type", "scope"})


def _post_query(content: bytes, entity_id: str, link: str | None) -> tuple[bool, list[str], Any]:
    """A forwarded ``POST /entityOperations/query`` body (clause 5.7.2.4 with the Query of
    clause 5.2.23): whether it selects the device's entity without a filter the agent cannot
    apply, the attribute names it asks for, and the @context they are in.

    Raises:
        BadRequestData: the body is not a JSON object.
    """
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise BadRequestData("a query is a JSON object (clause 5.2.23)")
    attrs = [a for a in body.get("attrs") or [] if isinstance(a, str)]
    context = body.get("@context", link)
    if any(body.get(f) for f in ("q", "geoQ", "scopeQ", "csf")):
        return False, attrs, context
    selectors = [e for e in body.get("entities") or [] if isinstance(e, dict)]
    ids = {e.get("id") for e in selectors}
    if selectors and None not in ids and entity_id not in ids:
        return False, attrs, context
    return True, attrs, context


def _link_context(header: str | None) -> str | None:
    """The @context URL of a forwarded request's ``Link`` header (the federation writes it
    as ``<url>; rel="..."``)."""
    if not header or not header.startswith("<"):
        return None
    return header[1 : header.index(">")] if ">" in header else None


class LazyTransport(httpx.AsyncBaseTransport):
    """The federation's transport: requests to :data:`LAZY_HOST` are answered by the agent
    in-process, every other one goes to ``network``."""

    def __init__(self, lazy: LazyAttributes, network: httpx.AsyncBaseTransport) -> None:
        self.lazy = lazy
        self.network = network

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == LAZY_HOST:
            return await self.lazy.serve(request)
        return await self.network.handle_async_request(request)

    async def aclose(self) -> None:
        await self.network.aclose()


__all__ = [
    "KEY",
    "LAZY_HOST",
    "LazyAttributes",
    "LazyTransport",
    "lazy_attributes",
    "new_key",
    "parse_answer",
]
