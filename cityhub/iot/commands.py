"""Commands to devices (iotagent-node-lib doc/api.md "Command execution"; iotagent-ul
"Commands Syntax"): an update of a command attribute of a device's entity, through the NGSI-LD
API, sends the command to the device, and ``<cmd>_status``/``<cmd>_info`` follow it.

- A device's commands are its ``commands`` and its group's. When it is provisioned, its entity
  gets each command attribute (value ``""``) with ``<cmd>_status`` ``UNKNOWN`` and
  ``<cmd>_info`` ``""``, so the NGSI-LD update operations (which need the attribute) apply.
- A committed change of such an attribute to a value other than ``""`` (the store's listener,
  after the commit) sends it: over MQTT on ``/<apikey>/<device>/cmd`` when the device's (or
  group's) ``transport`` is MQTT, else by HTTP POST to its ``endpoint``; a device with neither
  polls: its next request with ``getCmd=1`` gets the commands waiting (``DELIVERED``). The
  payload is UltraLight (``<device>@<cmd>|<value>``) or, for a device whose ``protocol`` or
  ``payloadType`` names JSON, ``{"<cmd>": <value>}``. ``<cmd>_status`` becomes ``PENDING``.
- The device answers on ``/ul|json/<apikey>/<device>/cmdexe`` (MQTT), ``POST
  /iot/json/commands?k=&i=`` or ``POST /iot/d?k=&i=`` with ``<device>@<cmd>|<result>`` (HTTP),
  or in the body of its answer to the HTTP push: ``<cmd>_status`` becomes ``OK`` and
  ``<cmd>_info`` the result. No answer within ``iot_command_timeout`` seconds: ``EXPIRED``. A
  device that cannot be reached (HTTP error, MQTT off): ``ERROR`` with the reason.

Which entities carry commands is an index kept in memory: loaded when the hub starts, updated by
this process's provisioning and autoprovisioning, reloaded every ``refresh_seconds`` (so a device
provisioned through another worker is seen within that time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from cityhub.errors import CityhubError
from cityhub.iot.expression_functions import TRANSFORMS
from cityhub.iot.expressions import Evaluator, ExpressionError, parse, to_text
from cityhub.iot.ingest import Ingestor
from cityhub.iot.measures import instance, mapping_of
from cityhub.ngsild.datetime import parse_datetime
from cityhub.ngsild.entity import Terms, expand_entity
from cityhub.store.base import Change, Document
from cityhub.store.iot import IotStore

log = logging.getLogger("cityhub.iot")

PENDING, DELIVERED, OK, ERROR = "PENDING", "DELIVERED", "OK", "ERROR"
_EVALUATOR = Evaluator(TRANSFORMS)
EXPIRED, UNKNOWN = "EXPIRED", "UNKNOWN"


class Publish(Protocol):
    """publish(topic, payload, qos=1, retain=False): the MQTT transport's, when it runs."""

    def __call__(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> Awaitable[None]: ...


@dataclass(frozen=True)
class CommandTarget:
    """A device that takes commands, as the index keeps it."""

    tenant: str
    device: Document
    group: Document | None
    commands: tuple[str, ...]  # command names

    @property
    def entity_id(self) -> str:
        entity_id: str = self.device["entity_name"]
        return entity_id

    def setting(self, key: str) -> Any:
        return self.device.get(key, (self.group or {}).get(key))

    @property
    def json(self) -> bool:
        """Whether the device takes JSON commands: its ``protocol`` or ``payloadType`` names
        JSON, or its group's resource is the JSON agent's (``/iot/json``: iotagent-json sends
        JSON whatever ``protocol`` says, as in FIWARE's JSON tutorial)."""
        if str((self.group or {}).get("resource") or "").startswith("/iot/json"):
            return True
        kind = f"{self.setting('protocol') or ''} {self.setting('payloadType') or ''}".lower()
        return "json" in kind


def command_names(device: Document, group: Document | None) -> tuple[str, ...]:
    names = [c["name"] for c in (group or {}).get("commands", [])]
    names += [c["name"] for c in device.get("commands", []) if c["name"] not in names]
    return tuple(names)


def command_definition(target: CommandTarget, name: str) -> Document:
    """The command's definition: the device's, else its group's."""
    for source in (target.device, target.group or {}):
        for command in source.get("commands", []):
            if command.get("name") == name:
                return dict(command)
    return {"name": name}


def _expression_payload(target: CommandTarget, name: str, value: Any, expression: str) -> Any:
    """What a command's ``expression`` makes of its value (iotagent-json docs/usermanual.md
    "Commands transformations": the device's id, type, entity_name, service, subservice, its
    static attributes and the command, by name).

    Raises:
        ValueError: the expression fails or gives nothing.
    """
    mapping = mapping_of(target.device, target.group or {})
    context: Document = {**mapping.context.pop("staticAttributes"), **mapping.context}
    context["type"] = mapping.entity_type
    context[name] = value
    try:
        result = _EVALUATOR.evaluate(parse(expression), context)
    except (ExpressionError, CityhubError) as exc:
        raise ValueError(f"the expression of command {name} failed: {exc}") from None
    if result is None:
        raise ValueError(f"the expression of command {name} gave nothing (null)")
    return result


def _hex_bytes(payload: Any, name: str) -> bytes:
    """``binaryfromhex``: hex text as its bytes (up to the first pair that is not hex, as
    Node's ``Buffer.from(text, "hex")``), or an array's numbers as bytes."""
    if isinstance(payload, str):
        out = bytearray()
        for i in range(0, len(payload) - 1, 2):
            try:
                out.append(int(payload[i : i + 2], 16))
            except ValueError:
                break
        return bytes(out)
    if isinstance(payload, list):
        try:
            return bytes(int(float(to_text(x))) & 0xFF for x in payload)
        except ValueError:
            pass
    raise ValueError(f"command {name}: binaryfromhex needs hex text or an array of numbers")


def serialized(payload: Any, payload_type: str | None, name: str) -> bytes:
    """A JSON command's payload as its ``payloadType`` says (iotagent-json
    lib/commandHandler.js, docs/usermanual.md "Commands transformations"): ``json`` (the
    default) JSON text, ``text`` the value as text, ``binaryfromstring`` the bytes of its
    text, ``binaryfromhex`` the bytes hex text spells, ``binaryfromjson`` the bytes of its
    JSON.

    Raises:
        ValueError: ``binaryfromhex`` of what is neither text nor an array of numbers.
    """
    kind = (payload_type or "json").lower()
    if kind in ("binaryfromstring", "text"):
        return to_text(payload).encode()
    if kind == "binaryfromhex":
        return _hex_bytes(payload, name)
    return orjson.dumps(payload)


def command_payload(
    target: CommandTarget, name: str, value: Any
) -> tuple[bytes, str, dict[str, str]]:
    """The command as the device reads it, its media type, and the extra headers of an HTTP
    push. A JSON device's command is ``{"<cmd>": <value>}``, or what the command's
    ``expression`` makes of it, serialized as its ``payloadType`` says, sent with its
    ``contentType`` and ``headers``.

    Raises:
        ValueError: the command's expression or payloadType cannot make its payload.
    """
    if target.json:
        definition = command_definition(target, name)
        payload: Any = {name: value}
        if definition.get("expression"):
            payload = _expression_payload(target, name, value, definition["expression"])
        body = serialized(payload, definition.get("payloadType"), name)
        media = definition.get("contentType") or "application/json"
        return body, media, dict(definition.get("headers") or {})
    if isinstance(value, dict):
        text = "|".join(f"{k}={to_text(v)}" for k, v in value.items())
    else:
        text = to_text(value)
    return f"{target.device['device_id']}@{name}|{text}".encode(), "text/plain", {}


def parse_results(payload: bytes) -> dict[str, Any]:
    """A device's command results: ``<device>@<cmd>|<result>`` lines (``#`` separated too) or
    a JSON object ``{"<cmd>": <result>}``; {} when neither."""
    text = payload.decode("utf-8", errors="replace").strip()
    if text.startswith("{"):
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError:
            return {}
        return dict(body) if isinstance(body, dict) else {}
    results: dict[str, Any] = {}
    for part in text.replace("\n", "#").split("#"):
        head, bar, result = part.strip().partition("|")
        _, at, name = head.partition("@")
        if at and bar and name:
            results[name] = result
    return results


def is_command_result(payload: str) -> bool:
    """Whether an UltraLight body is a command result (``dev@cmd|result``), not measures."""
    head = payload.strip().split("|", 1)[0]
    return "@" in head and bool(parse_results(payload.encode()))


class Commands:
    """Sends commands and tracks their status.

    Args:
        iot: where devices and groups are kept.
        ingestor: writes the status attributes (through the store's write path).
        terms: the core @context's term map.
        timeout: seconds a device has to answer a command (then ``EXPIRED``).
    """

    def __init__(
        self,
        iot: IotStore,
        ingestor: Ingestor,
        terms: Callable[[], Awaitable[Terms]],
        timeout: float = 60.0,
        refresh_seconds: float = 30.0,
    ) -> None:
        self.iot = iot
        self.ingestor = ingestor
        self._terms = terms
        self.timeout = timeout
        self.refresh_seconds = refresh_seconds
        self.publish: Publish | None = None
        self._index: dict[tuple[str, str], CommandTarget] = {}
        self._loaded_at = -1e9
        self._pending: dict[tuple[str, str, str], asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: entities whose command attributes provisioning is writing now (their "" is no
        #: invocation; a client that writes "" invokes, as FIWARE's MQTT tutorial does)
        self._provisioning: dict[tuple[str, str], int] = {}
        self._http: httpx.AsyncClient | None = None
        self._term_map: Terms | None = None
        self._reloading = False

    async def start(self) -> None:
        self._http = httpx.AsyncClient(timeout=10.0)
        self._term_map = await self._terms()
        await self.reload()
        await self._resume_expiry()

    @property
    def expiring(self) -> int:
        """How many commands wait for their device's answer here (an expiry timer each)."""
        return len(self._pending)

    async def _resume_expiry(self) -> None:
        """Give the commands a previous process left ``PENDING`` or ``DELIVERED`` their
        expiry timer again: due ``timeout`` seconds after their status was written (the
        entity keeps when), so a restart neither loses nor prolongs them."""
        loop = asyncio.get_running_loop()
        now = time.time()
        for target in list(self._index.values()):
            try:
                written = await self._status_times(target)
            except CityhubError as exc:
                log.warning("IoT commands of %s not resumed: %s", target.entity_id, exc)
                continue
            for name, at in written.items():
                key = (target.tenant, target.entity_id, name)
                if key in self._pending:
                    continue
                delay = max(0.0, at + self.timeout - now)
                self._pending[key] = loop.call_later(delay, self._due, target, name)

    def _due(self, target: CommandTarget, name: str) -> None:
        self._spawn(self._expire(target, name))

    async def _status_times(self, target: CommandTarget) -> dict[str, float]:
        """The commands of ``target`` waiting for an answer, and when (epoch seconds) their
        status was written."""
        entity = await self.ingestor.store.get_entity(target.tenant, target.entity_id)
        terms = self._term_map
        if entity is None or terms is None:
            return {}
        out: dict[str, float] = {}
        for name in target.commands:
            inst = (entity["attrs"].get(terms.expand(f"{name}_status")) or [{}])[0]
            if inst.get("value") not in (PENDING, DELIVERED):
                continue
            try:
                out[name] = parse_datetime(inst.get("modifiedAt"), "modifiedAt").timestamp()
            except CityhubError:
                out[name] = time.time()  # no time kept: a whole timeout from now
        return out

    async def stop(self) -> None:
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._http is not None:
            await self._http.aclose()

    # ---- the index of entities that take commands -------------------------------------------

    async def reload(self) -> None:
        """Rebuild the index from every device (and its group)."""
        self._reloading = True
        try:
            await self._reload()
        finally:
            self._reloading = False
            self._loaded_at = time.monotonic()

    async def _reload(self) -> None:
        index: dict[tuple[str, str], CommandTarget] = {}
        groups: dict[str, Document | None] = {}
        for tenant, device in await self.iot.all_devices():
            apikey = device.get("apikey") or ""
            if apikey not in groups:
                found = await self.iot.find_group(apikey, None) if apikey else None
                groups[apikey] = found[1] if found and found[0] == tenant else None
            self._add(index, tenant, device, groups[apikey])
        self._index = index

    @staticmethod
    def _add(
        index: dict[tuple[str, str], CommandTarget],
        tenant: str,
        device: Document,
        group: Document | None,
    ) -> CommandTarget | None:
        names = command_names(device, group)
        if not names or "entity_name" not in device:
            index.pop((tenant, device.get("entity_name", "")), None)
            return None
        target = CommandTarget(tenant, device, group, names)
        index[(tenant, target.entity_id)] = target
        return target

    async def provisioned(self, tenant: str, device: Document, group: Document | None) -> None:
        """A device was provisioned or changed here: index it, and give its entity the
        command attributes (without sending anything)."""
        target = self._add(self._index, tenant, device, group)
        if target is None:
            return
        fragment: Document = {"id": target.entity_id, "type": device.get("entity_type") or "Thing"}
        for name in target.commands:
            fragment[name] = {"type": "Property", "value": ""}
            fragment[f"{name}_status"] = {"type": "Property", "value": UNKNOWN}
            fragment[f"{name}_info"] = {"type": "Property", "value": ""}
        # and its static attributes, as FIWARE's agents create the entity of a provisioned
        # device (a device that only takes commands sends no measure that would bring them)
        for static in mapping_of(device, group or {}).static_attributes:
            with contextlib.suppress(CityhubError):  # refused with the measures, counted there
                fragment[static["name"]] = instance(
                    static["name"], static["type"], static["value"], static.get("metadata")
                )
        terms = await self._terms()
        key = (tenant, target.entity_id)
        self._provisioning[key] = self._provisioning.get(key, 0) + 1
        try:
            await self.ingestor.submit(tenant, [expand_entity(fragment, terms)])
        finally:
            self._provisioning[key] -= 1
            if not self._provisioning[key]:
                del self._provisioning[key]

    def forget(self, tenant: str, entity_id: str) -> None:
        self._index.pop((tenant, entity_id), None)

    # ---- invocations ----------------------------------------------------------------------------

    def on_commit(self, changes: list[Change]) -> None:
        """The store's listener: command attributes updated to a value start a command."""
        if not self._reloading and time.monotonic() - self._loaded_at >= self.refresh_seconds:
            self._reloading = True
            self._spawn(self.reload())
        if not self._index:
            return
        for change in changes:
            target = self._index.get((change.tenant, change.entity_id))
            if target is None or change.after is None:
                continue
            self._invocations(target, change)

    def _invocations(self, target: CommandTarget, change: Change) -> None:
        assert change.after is not None
        after = change.after["attrs"]
        before = (change.before or {"attrs": {}})["attrs"]
        terms = self._term_map
        if terms is None:
            return
        for name in target.commands:
            iri = terms.expand(name)
            if iri not in after:
                continue
            new = after[iri][0] if after[iri] else None
            old = before.get(iri, [None])[0] if before.get(iri) else None
            if new is None or new.get("value") is None:
                continue
            if new.get("value") == "" and (change.tenant, change.entity_id) in self._provisioning:
                continue  # the attribute as provisioning writes it, no invocation
            if old is not None and old.get("modifiedAt") == new.get("modifiedAt"):
                continue
            self._spawn(self.send(target, name, new.get("value")))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _status(self, target: CommandTarget, name: str, status: str, info: Any) -> None:
        fragment: Document = {
            "id": target.entity_id,
            "type": target.device.get("entity_type") or "Thing",
            f"{name}_status": {"type": "Property", "value": status},
        }
        if info is not None:
            fragment[f"{name}_info"] = {"type": "Property", "value": info}
        terms = await self._terms()
        try:
            await self.ingestor.submit(target.tenant, [expand_entity(fragment, terms)])
        except CityhubError as exc:
            log.warning("IoT command %s of %s: status not written: %s", name, target.entity_id, exc)

    async def send(self, target: CommandTarget, name: str, value: Any) -> None:
        """Send one command and track it."""
        key = (target.tenant, target.entity_id, name)
        await self._status(target, name, PENDING, None)
        transport = str(target.setting("transport") or "").upper()
        try:
            payload, media, headers = command_payload(target, name, value)
            if transport == "MQTT":
                if self.publish is None:
                    raise RuntimeError("the MQTT transport is off (setting iot_mqtt_url)")
                apikey = target.device.get("apikey") or (target.group or {}).get("apikey", "")
                options = command_definition(target, name).get("mqtt") or {}
                await self.publish(
                    f"/{apikey}/{target.device['device_id']}/cmd",
                    payload,
                    qos=options.get("qos", 1),
                    retain=options.get("retain", False),
                )
            elif target.setting("endpoint"):
                answered = await self._push(
                    str(target.setting("endpoint")), payload, {**headers, "Content-Type": media}
                )
                if name in answered:
                    await self._status(target, name, OK, answered[name])
                    return
            # else: a polling device takes it with its next request (getCmd=1, :meth:`poll`)
        except (RuntimeError, ValueError, httpx.HTTPError) as exc:
            await self._status(target, name, ERROR, str(exc) or type(exc).__name__)
            return
        loop = asyncio.get_running_loop()
        old = self._pending.pop(key, None)
        if old is not None:
            old.cancel()
        self._pending[key] = loop.call_later(
            self.timeout, lambda: self._spawn(self._expire(target, name))
        )

    async def _push(self, endpoint: str, payload: bytes, headers: dict[str, str]) -> dict[str, Any]:
        assert self._http is not None
        r = await self._http.post(endpoint, content=payload, headers=headers)
        if r.status_code >= 300:
            raise RuntimeError(f"the device answered {r.status_code}")
        return parse_results(r.content)

    async def _statuses(self, target: CommandTarget) -> dict[str, tuple[Any, Any]]:
        """Each command's (status, value) as the entity holds them now (another worker may
        have sent, delivered or seen the answer of a command)."""
        entity = await self.ingestor.store.get_entity(target.tenant, target.entity_id)
        terms = self._term_map
        if entity is None or terms is None:
            return {}
        attrs = entity["attrs"]

        def value(name: str) -> Any:
            instances = attrs.get(terms.expand(name)) or [{}]
            return instances[0].get("value")

        return {n: (value(f"{n}_status"), value(n)) for n in target.commands}

    async def _expire(self, target: CommandTarget, name: str) -> None:
        if self._pending.pop((target.tenant, target.entity_id, name), None) is None:
            return
        status = (await self._statuses(target)).get(name, (None, None))[0]
        if status in (PENDING, DELIVERED):  # not answered through another worker meanwhile
            await self._status(target, name, EXPIRED, "no answer from the device in time")

    async def poll(self, tenant: str, device: Document) -> list[tuple[str, Any]]:
        """The commands waiting for a polling device (``getCmd=1``), as (name, value), now
        marked ``DELIVERED``."""
        target = self._index.get((tenant, device.get("entity_name", "")))
        if target is None:
            return []
        waiting = [
            (name, value)
            for name, (status, value) in (await self._statuses(target)).items()
            if status == PENDING
        ]
        for name, _ in waiting:
            await self._status(target, name, DELIVERED, None)
        return waiting

    async def results(self, tenant: str, device: Document, results: dict[str, Any]) -> bool:
        """A device's answers (``cmdexe``); False when the device takes no command of them."""
        target = self._index.get((tenant, device.get("entity_name", "")))
        if target is None:
            return False
        known = False
        for name, result in results.items():
            if name not in target.commands:
                continue
            known = True
            handle = self._pending.pop((tenant, target.entity_id, name), None)
            if handle is not None:
                handle.cancel()
            await self._status(target, name, OK, result)
        return known


__all__ = [
    "DELIVERED",
    "ERROR",
    "EXPIRED",
    "OK",
    "PENDING",
    "CommandTarget",
    "Commands",
    "command_definition",
    "command_payload",
    "is_command_result",
    "parse_results",
    "serialized",
]
