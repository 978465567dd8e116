"""The one id check (cityhub/ngsild/ids.py): ids are URIs, and URIs include IRIs (ETSI GS CIM
009 V1.8.1 clause 5.2.1, Annex A; RFC 3987 section 2.2); anything else is BadRequestData
with a detail that names the id and what is wrong."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityhub.errors import BadRequestData
from cityhub.ngsild.ids import MAX_ID_LENGTH, check_id, id_problem, id_segment, is_id

VALID = [
    "urn:ngsi-ld:AirQualityObserved:Jeongja-dong",
    "urn:ngsi-ld:T2:성남시-정자동-🚗",  # clause 5.2.1: IRIs, Unicode beyond ASCII
    "urn:ngsi-ld:Person:🧑\u200d💻",  # an emoji ZWJ sequence (U+200D is a ucschar)
    "urn:x:a#b",
    "urn:x:a?b",
    "urn:x:a%2Fb",  # a percent-encoded octet is part of the id, never decoded
    "urn:x:a/b",
    "urn:x:a/attrs/b",
    "urn:x:!$&'()*+,;=:@~._-",
    "https://example.org/things/1?x=1#here",
    "https://example.org",
    "http://[::1]:8080/notify",
    "http://user@example.org:8080/x",
    "http://x/?q=\ue000",  # private-use characters: in a query only
]


@pytest.mark.parametrize("value", VALID)
def test_valid_ids(value: str) -> None:
    assert id_problem(value) is None
    assert check_id(value, "entity id") == value


INVALID = [
    ("urn:x:a\x00b", "control character (U+0000) at position 7"),
    ("urn:x:a\x1fb", "control character (U+001F)"),
    ("urn:x:a\x7fb", "control character (U+007F)"),
    ("urn:x:\x85", "control character (U+0085)"),
    ("urn:x:a b", "space (U+0020) at position 7"),
    ("urn:x:a\tb", "control character (U+0009)"),
    ("urn:x:\u3000", "space (U+3000)"),
    ("urn:x:\u202eevil", "bidirectional formatting character (U+202E)"),  # RFC 3987 4.1
    ("urn:x:a%zz", "'%' at position 7 that does not start a percent-encoded octet"),
    ("urn:x:100%", "'%' at position 9"),
    ("urn:x:a<b", "'<' (U+003C) at position 7"),
    ("urn:x:a\\b", "'\\\\' (U+005C)"),
    ('urn:x:a"b', "'\"' (U+0022)"),
    ("urn:x:a{b}", "'{' (U+007B)"),
    ("urn:x:a|b", "'|' (U+007C)"),
    ("urn:x:a^b", "'^' (U+005E)"),
    ("urn:x:a`b", "'`' (U+0060)"),
    ("urn:x:\ud800", "U+D800"),  # a lone surrogate
    ("urn:x:\ufffe", "U+FFFE"),  # a noncharacter
    ("urn:x:a#b#c", "'#' twice"),
    ("urn:x:a[1]", "'[' or ']' outside an IP-literal host"),
    ("urn:x:\ue000", "private-use character U+E000"),
    ("http://a:b:c/x", "authority 'a:b:c'"),
    ("http://[::1/x", "authority '[::1'"),
    ("noscheme", "has no scheme"),
    ("1urn:x", "has no scheme"),
    ("urn:", "nothing after its scheme urn:"),
    ("", "is empty"),
    (5, "is a number, not a string"),
    (None, "is null, not a string"),
    (["urn:x:1"], "is an array, not a string"),
    ({"id": "urn:x:1"}, "is an object, not a string"),
]


@pytest.mark.parametrize(("value", "reason"), INVALID)
def test_invalid_ids_name_the_id_and_the_reason(value: object, reason: str) -> None:
    problem = id_problem(value)
    assert problem is not None and reason in problem, problem
    with pytest.raises(BadRequestData) as info:
        check_id(value, "entity id")
    assert info.value.detail.startswith("entity id must be a URI")
    assert reason in info.value.detail
    assert (repr(value) if isinstance(value, str) else "the value") in info.value.detail


def test_length_is_counted_in_the_uri_form() -> None:
    """RFC 3987 section 3.1: a Hangul syllable is three UTF-8 octets, nine URI characters."""
    ascii_id = "urn:x:" + "a" * (MAX_ID_LENGTH - 6)
    assert is_id(ascii_id) and not is_id(ascii_id + "a")
    korean = "urn:x:" + "가" * ((MAX_ID_LENGTH - 6) // 9)
    assert is_id(korean) and not is_id(korean + "가")
    problem = id_problem(korean + "가")
    assert problem is not None and f"at most {MAX_ID_LENGTH}" in problem


def test_a_long_id_is_shortened_in_the_detail() -> None:
    with pytest.raises(BadRequestData) as info:
        check_id("urn:x:" + "a" * 5000, "entity id")
    assert len(info.value.detail) < 400


def test_hostile_ids_are_checked_in_linear_time() -> None:
    """No backtracking: the longest id that reaches every check is refused quickly."""
    import time

    hostile = [
        "http://" + "a" * (MAX_ID_LENGTH - 8) + "]",
        "http://" + "a@" * 1000 + "x",
        "urn:" + "%2F" * 680 + "%",
        "urn:x:" + "가" * 220 + "[",
    ]
    start = time.perf_counter()
    for value in hostile * 10:
        assert not is_id(value)
    assert time.perf_counter() - start < 0.5


def test_id_segment_encodes_everything_outside_pchar() -> None:
    """RFC 3986 sections 2.1 and 3.3: '/', '?', '#', '%' and non-ASCII become %XX (UTF-8)."""
    assert id_segment("urn:ngsi-ld:Vehicle:A4567") == "urn:ngsi-ld:Vehicle:A4567"
    assert id_segment("urn:x:a/b?c#d%2F") == "urn:x:a%2Fb%3Fc%23d%252F"
    assert id_segment("urn:x:성남") == "urn:x:%EC%84%B1%EB%82%A8"
    assert id_segment("urn:x:!$&'()*+,;=:@") == "urn:x:!$&'()*+,;=:@"


_PIECES = st.one_of(
    st.sampled_from(list("aZ09-._~!$&'()*+,;=:@/?#")),
    st.sampled_from(["%2F", "%23", "%25", "%e2%82%ac", "성남시", "🚗", "é"]),
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    st.characters(),
)


@given(st.lists(_PIECES, max_size=12).map(lambda p: "urn:ngsi-ld:T:" + "".join(p)))
def test_every_accepted_id_survives_its_path_segment(value: str) -> None:
    """Whatever the check accepts, one decoding of its segment gives it back, the segment is
    ASCII with no delimiter left in it, and the check never raises anything but BadRequestData."""
    if not is_id(value):
        with pytest.raises(BadRequestData):
            check_id(value, "id")
        return
    segment = id_segment(value)
    assert segment.isascii()
    assert not any(c in segment for c in "/?#")
    assert unquote(segment, errors="strict") == value
