"""Identifiers: the one check for entity, subscription and registration ids (and every other
URI a client sends), and their form as a URL path segment.

What the spec says (ETSI GS CIM 009 V1.8.1):

- Entities, Subscriptions and Context Source Registrations are identified by URIs (Annex A.1,
  A.2; the ``id`` members of clauses 5.2.4, 5.2.9 and 5.2.12 are URIs).
- "URI" includes IRIs as defined by IETF RFC 3987, "which extends the use of characters to
  Unicode characters beyond the ASCII character set" (clause 5.2.1): ``urn:ngsi-ld:Park:성남시``
  is a valid id.
- An operation given an id that is not a URI raises BadRequestData (the behaviour of each
  operation in clauses 5.6-5.11, e.g. 5.6.1.4 Create Entity, 5.7.1.4 Retrieve Entity,
  5.8.1.4 Create Subscription).

So :func:`check_id` accepts exactly the absolute IRIs of RFC 3987 section 2.2 (scheme ``:``
then ihier-part, optional query and fragment), with these limits:

- no control characters (C0, DEL, C1), no whitespace of any script (RFC 3987 section 2.2
  leaves them out of ``ucschar``, except the Unicode spaces, which RFC 3987 section 6.4 warns
  against and the hub refuses so that two ids never differ by an invisible space);
- no bidirectional formatting characters (RFC 3987 section 4.1: IRIs MUST NOT contain them);
- every ``%`` starts a percent-encoded octet ``%XX`` (RFC 3986 section 2.1);
- at most :data:`MAX_ID_LENGTH` characters once mapped to a URI (RFC 3987 section 3.1: each
  non-ASCII character counts as its percent-encoded UTF-8 octets), so that the id's URL, which
  carries it in that form, stays within what HTTP servers and clients accept in a request line.

An id is opaque: the hub compares ids as strings and never normalizes them (RFC 3987 section
5.3.1, simple string comparison), so ``urn:x:a%2Fb`` and ``urn:x:a/b`` are two ids.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from cityhub.errors import BadRequestData

#: Longest id accepted, in characters of its URI form (RFC 3987 section 3.1 mapping).
MAX_ID_LENGTH = 2048

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")  # RFC 3986 section 3.1
_SUB_DELIMS = "!$&'()*+,;="
# The patterns are literals (tests/ngsild/test_regex.py: no computed pattern reaches re).
# RFC 3987 section 2.2: iprivate, in a query only
_PRIVATE = re.compile("[\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd]")
# host and port of an authority (RFC 3986 section 3.2.2-3.2.3; ireg-name of RFC 3987)
_HOST_PORT = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|\[[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+\]"
    r"|[^:@\[\]]*)"
    r"(?::[0-9]*)?"
)
# What most ids are (urn:ngsi-ld:Type:local): nothing left to look at.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?!//)[A-Za-z0-9\-._~!$&'()*+,;=:@/]+")
_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# a character that no part of an IRI has: not iunreserved (ALPHA DIGIT -._~ ucschar),
# reserved, '%' or iprivate (RFC 3987 section 2.2)
_OUTSIDE_IRI = re.compile(
    "[^A-Za-z0-9\\-._~"
    "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef"
    "\U00010000-\U0001fffd\U00020000-\U0002fffd\U00030000-\U0003fffd"
    "\U00040000-\U0004fffd\U00050000-\U0005fffd\U00060000-\U0006fffd"
    "\U00070000-\U0007fffd\U00080000-\U0008fffd\U00090000-\U0009fffd"
    "\U000a0000-\U000afffd\U000b0000-\U000bfffd\U000c0000-\U000cfffd"
    "\U000d0000-\U000dfffd\U000e1000-\U000efffd"
    "!$&'()*+,;=:@/?#%\\[\\]"
    "\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd]"
)
# pchar of RFC 3986 section 3.3 minus "/": what an id keeps unencoded as one path segment
_SEGMENT_SAFE = "-._~" + _SUB_DELIMS + ":@"


def _uri_length(value: str) -> int:
    """Length of the id once mapped to a URI (RFC 3987 section 3.1: each octet of a non-ASCII
    character's UTF-8 becomes %XX, three characters)."""
    if value.isascii():
        return len(value)
    octets = value.encode("utf-8", "surrogatepass")
    return len(octets) + 2 * (len(octets) - len(octets.translate(None, _HIGH_OCTETS)))


_HIGH_OCTETS = bytes(range(0x80, 0x100))


def _name(char: str) -> str:
    return f"U+{ord(char):04X}"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "an array" if isinstance(value, list) else "an object"


def _short(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 120 else shown[:100] + "..."


def id_problem(value: Any) -> str | None:
    """Why ``value`` is not an NGSI-LD id (an absolute IRI within the limits above), or None
    when it is one. The reason is a phrase to follow the id in a detail."""
    if not isinstance(value, str):
        return f"is {_json_kind(value)}, not a string"
    if _PLAIN.fullmatch(value) and len(value) <= MAX_ID_LENGTH:
        return None
    if not value:
        return "is empty"
    length = _uri_length(value)
    if length > MAX_ID_LENGTH:
        return (
            f"is {length} characters long as a URI (non-ASCII characters count as their "
            f"percent-encoded UTF-8); at most {MAX_ID_LENGTH} are accepted"
        )
    bad = _FORBIDDEN.search(value)
    if bad:
        char = bad.group()
        if char < "\x20" or "\x7f" <= char <= "\x9f":
            what = "a control character"
        elif char.isspace():
            what = "a space"
        else:
            what = "a bidirectional formatting character"
        return f"contains {what} ({_name(char)}) at position {bad.start()}"
    scheme = _SCHEME.match(value)
    if scheme is None:
        return "has no scheme: a URI starts with one, such as urn: or https:"
    if scheme.end() == len(value):
        return f"has nothing after its scheme {scheme.group()}"
    percent = _BAD_PERCENT.search(value)
    if percent:
        return (
            f"has a '%' at position {percent.start()} that does not start a percent-encoded "
            "octet (% then two hex digits, such as %2F)"
        )
    outside = _OUTSIDE_IRI.search(value)
    if outside:
        return (
            f"contains {outside.group()!r} ({_name(outside.group())}) at position "
            f"{outside.start()}, which a URI cannot contain"
        )
    return _structure_problem(value[scheme.end() :])


def _structure_problem(rest: str) -> str | None:
    """What is wrong with the part after the scheme, whose characters are all IRI characters:
    ``#`` once at most, private-use characters only in the query, ``[`` and ``]`` only around
    an IP-literal host (RFC 3987 section 2.2)."""
    rest, hash_sign, fragment = rest.partition("#")
    if "#" in fragment:
        return "contains '#' twice; a URI has at most one fragment"
    hier, _, query = rest.partition("?")
    private = _PRIVATE.search(hier + hash_sign + fragment)
    if private:
        return (
            f"contains the private-use character {_name(private.group())}, which a URI "
            "has only in its query"
        )
    if "[" in query + fragment:
        return "contains '[' or ']' outside an IP-literal host (RFC 3986 section 3.2.2)"
    path = hier
    if hier.startswith("//"):
        authority, slash, path = hier[2:].partition("/")
        host_port = authority.rpartition("@")[2]
        if "@" in authority.rpartition("@")[0] or not _HOST_PORT.fullmatch(host_port):
            return f"has an authority {_short(authority)} that is not [userinfo@]host[:port]"
        path = slash + path
    if "[" in path or "]" in path:
        return "contains '[' or ']' outside an IP-literal host (RFC 3986 section 3.2.2)"
    return None


def is_id(value: Any) -> bool:
    """True for a string :func:`check_id` accepts."""
    return id_problem(value) is None


def check_id(value: Any, what: str) -> str:
    """``value`` when it is a valid id (or other absolute URI), else BadRequestData.

    Args:
        value: what the client sent.
        what: the member or parameter, for the detail ("entity id", "datasetId", ...).

    Raises:
        BadRequestData: the detail names the value and what is wrong with it.
    """
    problem = id_problem(value)
    if problem is None:
        return str(value)
    # a non-string is named by its kind only: the repr of a hostile nested value could be
    # megabytes, or recurse past Python's limit
    shown = _short(value) if isinstance(value, str) else "the value"
    raise BadRequestData(
        f"{what} must be a URI (for example urn:ngsi-ld:Thing:1); {shown} {problem}"
    )


def id_segment(value: str) -> str:
    """The id as one URL path segment: percent-encoded per RFC 3986 sections 2.1 and 3.3
    (every character outside pchar, including '/', '?', '#' and '%', becomes %XX of its UTF-8
    octets, as RFC 3987 section 3.1 maps non-ASCII characters), so that a server decoding
    the segment once gets the id back exactly."""
    return quote(value, safe=_SEGMENT_SAFE)


__all__ = ["MAX_ID_LENGTH", "check_id", "id_problem", "id_segment", "is_id"]
