"""Distributed operations as data (ETSI GS CIM 009 v1.8.1 clause 4.3.6, forwarding in clause
5.7.1.4 and 5.7.2.4): which registrations a request goes to, how entities from several
sources merge into one, the ``Via`` header's loop detection and the ``NGSILD-Warning``
header (clause 6.3.17).

Pure: no I/O. ``cityhub.federation`` sends the requests.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from cityhub.ngsild.entity import Entity

#: Modes this broker forwards reads to: all four (clause 4.3.6.2 additive registrations,
#: 4.3.6.3 proxied ones, whose registered data only their source holds).
FORWARDED_MODES: Final = frozenset({"inclusive", "auxiliary", "exclusive", "redirect"})
#: How much a source's attribute counts in a merge (:func:`rank`): an auxiliary source only
#: fills gaps, the broker and its inclusive sources are equals, a proxied (exclusive or
#: redirect) source holds the registered data and beats a copy the broker still has.
AUXILIARY: Final = 0
ADDITIVE: Final = 1
PROXIED: Final = 2
#: The named operation groups (clause 4.20, table 4.20-2).
OPERATION_GROUPS: Final[dict[str, frozenset[str]]] = {
    "federationOps": frozenset(
        """retrieveEntity queryEntity queryBatch retrieveEntityTypes retrieveEntityTypeDetails
        retrieveEntityTypeInfo retrieveAttrTypes retrieveAttrTypeDetails retrieveAttrTypeInfo
        createSubscription updateSubscription retrieveSubscription querySubscription
        deleteSubscription retrieveEntityMap updateEntityMap deleteEntityMap
        createEntityMapQueryEntity retrieveContextSourceIdentity""".split()
    ),
    "updateOps": frozenset("updateEntity updateAttrs replaceEntity replaceAttrs".split()),
    "retrieveOps": frozenset(("retrieveEntity", "queryEntity")),
    "redirectionOps": frozenset(
        """createEntity updateEntity appendAttrs updateAttrs deleteAttrs deleteEntity
        mergeEntity replaceEntity replaceAttrs retrieveEntity queryEntity purgeEntity
        retrieveEntityTypes retrieveEntityTypeDetails retrieveEntityTypeInfo retrieveAttrTypes
        retrieveAttrTypeDetails retrieveAttrTypeInfo retrieveEntityMap updateEntityMap
        deleteEntityMap createEntityMapQueryEntity retrieveContextSourceIdentity""".split()
    ),
}
#: Hops a request may have made (entries of its Via header) before this broker stops
#: forwarding it, whatever the loop detection says: the bound a federation of brokers whose
#: identities collide or change (several workers without ``federation_id``) still has.
MAX_HOPS: Final = 8
_HOST_NAME: Final = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
#: Warning codes of clause 6.3.17 (Table 6.3.17-1, the IANA HTTP warn-codes): 199 when no
#: response was received from the registration endpoint within the timeout or a registration
#: loop was detected; 111 when data was received in time but its payload was invalid (it is
#: not incorporated); 299 when the endpoint answered an error (a 404 is not abnormal: no
#: warning).
MISC_WARNING: Final = 199
REVALIDATION_FAILED: Final = 111
PERSISTENT_WARNING: Final = 299


def allows(doc: dict[str, Any], operation: str) -> bool:
    """Whether registration ``doc`` takes ``operation`` (its ``operations``, by default
    ``federationOps``, clause 5.2.9)."""
    ops = doc.get("operations") or ["federationOps"]
    return operation in ops or any(operation in OPERATION_GROUPS.get(g, ()) for g in ops)


def management(doc: dict[str, Any]) -> dict[str, Any]:
    """The registration's RegistrationManagementInfo (clause 5.2.34), or an empty one."""
    value = doc.get("management")
    return value if isinstance(value, dict) else {}


def local_only(doc: dict[str, Any]) -> bool:
    """Whether registration ``doc`` says ``management.localOnly``: "distributed operations
    associated to this Context Source Registration will act only on data held directly by
    the registered Context Source itself" (clause 5.2.34, see 4.3.6.4), so what is forwarded
    to it carries ``local=true`` (clause 6.3.18)."""
    return management(doc).get("localOnly") is True


def source_timeout(doc: dict[str, Any], ceiling: float) -> float:
    """Seconds a forwarded request to ``doc``'s source may take: its ``management.timeout``
    ("maximum period of time in milliseconds which may elapse before a forwarded request is
    assumed to have failed", clause 5.2.34) when it gives one, never more than ``ceiling``
    (the operator's ``federation_timeout``: a source never stalls the hub longer)."""
    value = management(doc).get("timeout")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return min(ceiling, value / 1000)
    return ceiling


def source_cooldown(doc: dict[str, Any]) -> float | None:
    """Seconds after a failure before ``doc``'s source is asked again: its
    ``management.cooldown`` in milliseconds (clause 5.2.34), None when it gives none."""
    value = management(doc).get("cooldown")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value) / 1000
    return None


def forwards_to(doc: dict[str, Any], operation: str) -> bool:
    """Whether a request for ``operation`` goes to the source ``doc`` registers."""
    return doc.get("mode", "inclusive") in FORWARDED_MODES and allows(doc, operation)


@dataclass(frozen=True)
class AllowedHosts:
    """The hosts registrations may send this broker to (``federation_allowed_hosts``): names,
    addresses and networks (CIDR), or ``*`` for any. Guards against server-side request
    forgery: a registration is data anyone with write access stores, and must not make the
    hub call into the city's own network."""

    names: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    any_host: bool = False

    @classmethod
    def parse(cls, text: str) -> AllowedHosts:
        """``text``: a comma-separated list.

        Raises:
            ValueError: an entry that is neither a host name, an address nor a network.
        """
        names: set[str] = set()
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        any_host = False
        for raw in text.split(","):
            item = raw.strip().lower()
            if not item:
                continue
            if item == "*":
                any_host = True
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if not _HOST_NAME.fullmatch(item):
                raise ValueError(
                    f"setting federation_allowed_hosts: {raw.strip()!r} is not a host name, "
                    "an address or a network such as 10.1.0.0/16"
                )
            names.add(item)
        return cls(frozenset(names), tuple(networks), any_host)

    def allow(self, endpoint: str) -> bool:
        """Whether ``endpoint`` (a registration's URL) is http(s) on an allowed host."""
        try:
            parts = urlsplit(endpoint)
            host = parts.hostname
            parts.port  # noqa: B018 (raises on a port that is not a number)
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not host:
            return False
        if self.any_host or host in self.names:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in net for net in self.networks)


def via_names(header: str | None) -> list[str]:
    """The received-by names of a ``Via`` header (RFC 9110 clause 7.6.3):
    ``1.1 name (comment), 1.1 other``."""
    if not header:
        return []
    names = []
    for entry in header.split(","):
        words = entry.split()
        if len(words) >= 2:
            names.append(words[1])
    return names


def is_loop(header: str | None, identity: str) -> bool:
    """Whether a request with this ``Via`` must not be forwarded again: it went through
    this broker already (loop detection, clause 4.3.6.5) or made :data:`MAX_HOPS` hops."""
    names = via_names(header)
    return identity in names or len(names) >= MAX_HOPS


def via_value(header: str | None, identity: str) -> str:
    """The ``Via`` of a forwarded request: the received one and this broker."""
    mine = f"1.1 {identity}"
    return f"{header}, {mine}" if header else mine


def warning(code: int, endpoint: str, text: str) -> str:
    """One ``NGSILD-Warning`` value (clause 6.3.17, the form of RFC 7234's Warning):
    ``199 host:port "text"``."""
    try:
        agent = urlsplit(endpoint).netloc.rpartition("@")[2] or "-"
    except ValueError:
        agent = "-"
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    # a header value: printable ASCII only (ids and hosts may be IRIs)
    return "".join(c if " " <= c <= "~" else "?" for c in f'{code} {agent} "{quoted}"')


def rank(doc: dict[str, Any]) -> int:
    """The merge rank of the source of registration ``doc`` (by its mode, clause 4.3.6)."""
    mode = doc.get("mode", "inclusive")
    return AUXILIARY if mode == "auxiliary" else ADDITIVE if mode == "inclusive" else PROXIED


@dataclass(frozen=True)
class Part:
    """One source's entity, for :func:`merge_entities`, with its source's :func:`rank`
    (:data:`ADDITIVE` for this broker)."""

    entity: Entity
    rank: int = ADDITIVE


def _stamp(instance: dict[str, Any]) -> tuple[str, str]:
    """What makes an instance more recent (clause 4.5.5: observedAt, then modifiedAt); ISO
    8601 UTC strings compare as times."""
    observed = instance.get("observedAt")
    modified = instance.get("modifiedAt")
    return (
        observed if isinstance(observed, str) else "",
        modified if isinstance(modified, str) else "",
    )


def _dataset(instance: dict[str, Any]) -> str:
    dataset = instance.get("datasetId")
    return dataset if isinstance(dataset, str) else "@none"


def merge_entities(parts: Sequence[Part]) -> Entity:
    """One entity from the same entity as several sources hold it (clause 4.3.6.2).

    Per attribute and datasetId: an instance of a higher rank wins (a proxied source's over
    the broker's, clause 4.3.6.3; an auxiliary source's only where no other part has one,
    4.3.6.2); among equals the most recent (``observedAt``, then ``modifiedAt``), the
    earlier part on a tie (the local one first). Types are the union; scope too.
    """
    first = parts[0].entity
    merged: Entity = {"id": first["id"], "type": []}
    chosen: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    order: list[tuple[str, str]] = []
    scope: list[str] = []
    for part in parts:
        ent = part.entity
        merged["type"] += [t for t in ent.get("type", ()) if t not in merged["type"]]
        scope += [s for s in ent.get("scope", ()) if s not in scope]
        for member in ("createdAt", "modifiedAt"):
            if member in ent and member not in merged:
                merged[member] = ent[member]
        for iri, instances in ent.get("attrs", {}).items():
            for inst in instances:
                key = (iri, _dataset(inst))
                held = chosen.get(key)
                if held is None:
                    chosen[key] = (part.rank, inst)
                    order.append(key)
                elif part.rank > held[0] or (
                    part.rank == held[0] and _stamp(inst) > _stamp(held[1])
                ):
                    chosen[key] = (part.rank, inst)
    attrs: dict[str, list[dict[str, Any]]] = {}
    for key in order:
        attrs.setdefault(key[0], []).append(chosen[key][1])
    merged["attrs"] = attrs
    if scope:
        merged["scope"] = scope
    return merged


def merge_lists(lists: Iterable[tuple[list[Entity], int]]) -> list[Entity]:
    """Entities of several sources (each list with its source's :func:`rank`) as one
    list: each id once, merged by :func:`merge_entities`, in the order ids first appear
    (the local list comes first)."""
    parts: dict[str, list[Part]] = {}
    for entities, source_rank in lists:
        for ent in entities:
            parts.setdefault(ent["id"], []).append(Part(ent, source_rank))
    out = []
    for group in parts.values():
        out.append(group[0].entity if len(group) == 1 else merge_entities(group))
    return out
