"""Hypothesis strategies for what a hostile (or merely careless) caller sends the hub: entity
ids, attribute names and values, GeoJSON geometries, and query strings for every NGSI-LD URL
parameter (ETSI GS CIM 009 clause 6.3.20 lists them), each mixing plausible input with the
odd: unicode and control characters, huge and odd numbers, deep nesting, catastrophic regexes,
self-intersecting polygons, bad percent-encoding, repeated and unknown parameters.

Sizes are bounded so that a few hundred examples run in seconds.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

TYPES = ["Sensor", "AirQualityObserved", "T", "성남시설"]
NAMES = ["n", "s", "location", "rel", "name", "pm25", "observed"]
# the last id is long: a catastrophic idPattern (issue 22: ^(.+)+X$) backtracks for ages on it
SEED_IDS = [f"urn:ngsi-ld:Sensor:{tail}" for tail in ("fuzz:0", "fuzz:1", "a" * 40)]

_ODD_TEXT = [
    "성남시-정자동-🚗",
    "정자동",
    "🚗",
    "#",
    "?",
    "%2F",
    "%",
    "/",
    "..",
    " ",
    "\x00",
    "\n",
    "\u202e",
    "\ufeff",
    "\\",
    "'",
    '"',
    "<script>",
    "a" * 300,
    "",
]
# text of any Unicode character (no lone surrogates: they cannot be UTF-8), short
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
odd_text = _text | st.sampled_from(_ODD_TEXT)

# letters a city's ids are made of: Latin, digits, Hangul, an emoji, URI punctuation
_plain = st.text(st.sampled_from(list("abcXYZ019-_.:~가나성남시동구🚗é")), min_size=1, max_size=12)
# one_of picks a branch uniformly: plausible input is listed twice, so it is half or more of
# what is drawn and the hub's deeper code (queries, history, notifications) gets to run
entity_ids = st.one_of(
    st.builds(lambda t, tail: f"urn:ngsi-ld:{t}:{tail}", st.sampled_from(TYPES), _plain),
    st.builds(lambda t, tail: f"urn:ngsi-ld:{t}:{tail}", st.sampled_from(TYPES), _plain),
    st.builds(lambda t, tail: f"urn:ngsi-ld:{t}:{tail}", st.sampled_from(TYPES), odd_text),
    st.sampled_from(SEED_IDS),
    odd_text,
    st.builds(lambda s: f"urn:{s}", _text),
)
attribute_names = st.one_of(
    st.sampled_from(NAMES),
    st.sampled_from(NAMES),
    st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True),
    st.sampled_from(["온도", "미세먼지", "名前", "a.b", "a[0]", "a:b", "http://x.org/a"]),
    st.sampled_from(["id", "type", "@context", "@id", "createdAt", "modifiedAt", "scope"]),
    odd_text,
)
type_names = st.sampled_from(TYPES) | st.sampled_from(TYPES) | odd_text

ODD_NUMBERS: list[Any] = [
    2**53 + 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**30,
    10**400,
    1e308,
    -0.0,
    5e-324,
    1.7976931348623157e308,
    float("inf"),
    float("nan"),
]
numbers = (
    st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(ODD_NUMBERS)
)
_leaves = st.none() | st.booleans() | numbers | odd_text


def nested(depth: int, leaf: Any = 1) -> Any:
    """A value nested ``depth`` levels deep, objects and arrays alternating."""
    value = leaf
    for level in range(depth):
        value = {"a": value} if level % 2 else [value]
    return value


json_values = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=8,
) | st.builds(nested, st.integers(1, 1200))

_lon = st.floats(-180, 180, allow_nan=False)
_lat = st.floats(-90, 90, allow_nan=False)
coordinates = _lon | _lat | numbers
positions = st.one_of(
    st.tuples(_lon, _lat).map(list),
    st.lists(coordinates, max_size=4),
)
rings = st.one_of(
    st.lists(positions, min_size=3, max_size=6).map(lambda r: [*r, r[0]]),  # closed
    st.lists(positions, max_size=6),
)
BAD_GEOMETRIES: list[Any] = [
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},  # bow tie
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]},  # unclosed
    {"type": "Polygon", "coordinates": [[0, 0], [1, 0], [1, 1], [0, 0]]},  # one level short
    {"type": "Point", "coordinates": [[127.1, 37.4]]},
    {"type": "Point", "coordinates": []},
    {"type": "Point", "coordinates": [1e308, -1e308]},
    {"type": "Point", "coordinates": [200, 100]},
    {"type": "LineString", "coordinates": [[0, 0]]},
    {"type": "GeometryCollection", "geometries": [{"type": "GeometryCollection"}]},
    {"type": "Feature", "geometry": None},
    {"type": "Circle", "coordinates": [0, 0]},
]


def _geometry(kind: str, coords: Any) -> dict[str, Any]:
    return {"type": kind, "coordinates": coords}


_shapes = st.recursive(
    st.one_of(
        st.builds(_geometry, st.just("Point"), positions),
        st.builds(_geometry, st.sampled_from(["LineString", "MultiPoint"]), st.lists(positions)),
        st.builds(
            _geometry,
            st.sampled_from(["Polygon", "MultiLineString"]),
            st.lists(rings, max_size=2),
        ),
        st.builds(_geometry, st.just("MultiPolygon"), st.lists(st.lists(rings, max_size=2))),
        st.sampled_from(BAD_GEOMETRIES),
    ),
    lambda inner: st.builds(
        lambda gs: {"type": "GeometryCollection", "geometries": gs}, st.lists(inner, max_size=3)
    ),
    max_leaves=4,
)
geometries = _shapes | _shapes | json_values

_datetimes = st.one_of(
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.datetimes().map(lambda d: d.isoformat()),  # no time zone
    st.sampled_from(
        ["2026-11-01T09:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"]
        + ["2024-02-30T00:00:00Z", "2026-11-01T09:00:00+14:00", "yesterday", ""]
    ),
)


def _attribute(kind: str, payload: Any, meta: dict[str, Any]) -> dict[str, Any]:
    member = {
        "Property": "value",
        "GeoProperty": "value",
        "Relationship": "object",
        "LanguageProperty": "languageMap",
        "JsonProperty": "json",
        "ListProperty": "valueList",
        "VocabProperty": "vocab",
    }.get(kind, "value")
    return {"type": kind, member: payload, **meta}


_meta = st.fixed_dictionaries(
    {},
    optional={
        "observedAt": _datetimes,
        "unitCode": odd_text,
        "datasetId": entity_ids,
        "pm25": st.builds(lambda v: {"type": "Property", "value": v}, json_values),
    },
)
attributes = st.one_of(
    st.builds(_attribute, st.just("Property"), json_values, _meta),
    st.builds(_attribute, st.just("Property"), _leaves, _meta),
    st.builds(_attribute, st.just("Property"), _leaves, st.just({})),
    st.builds(_attribute, st.just("GeoProperty"), geometries, _meta),
    st.builds(_attribute, st.just("GeoProperty"), geometries, st.just({})),
    st.builds(_attribute, st.just("Relationship"), entity_ids | json_values, _meta),
    st.builds(
        _attribute,
        st.just("LanguageProperty"),
        st.dictionaries(odd_text, odd_text | json_values, max_size=3),
        _meta,
    ),
    st.builds(
        _attribute,
        st.sampled_from(["JsonProperty", "ListProperty", "VocabProperty", "Nonsense", ""]),
        json_values,
        _meta,
    ),
    json_values,  # a bare value: concise, or plain wrong
)
entities = st.builds(
    lambda eid, kind, attrs: {"id": eid, "type": kind, **attrs},
    entity_ids,
    type_names | st.lists(type_names, max_size=3) | st.sampled_from(TYPES),
    st.dictionaries(attribute_names, attributes, max_size=4),
)

# -- URL parameters ------------------------------------------------------------------------------

REGEXES = [
    "^(.+)+X$",
    "^(a+)+$",
    "(a|aa)+$",
    "(.*a){25}",
    "(x+x+)+y",
    "fuzz:[0-9]",
    "[",
    "(?P<n>a)(?P=n)",
    "(a)\\1",
    "(?=a)a",
    "\\",
    "a{1,100000}",
    ".*" * 20,
]
_regex_atoms = st.sampled_from(["a", ".", "+", "*", "(", ")", "|", "^", "$", "[0-9]", "\\d", "{2}"])
regexes = st.sampled_from(REGEXES) | st.lists(_regex_atoms, max_size=12).map("".join) | odd_text

_q_ops = st.sampled_from(["==", "!=", ">", ">=", "<", "<=", "~=", "!~="])
_q_values = st.one_of(
    numbers.map(str),
    odd_text.map(lambda s: '"' + s.replace('"', '\\"') + '"'),
    regexes.map(lambda s: '"' + s.replace('"', '\\"') + '"'),
    st.sampled_from(["1..5", "a,b", "2026-11-01T09:00:00Z", "true", "null", '"x"..'] + SEED_IDS),
)
_q_paths = st.one_of(
    st.sampled_from(NAMES),
    st.sampled_from(["s.x", "n[a]", "name.ko", "rel.n", "@id", "a[0][1]"]),
    attribute_names,
)
_q_terms = st.one_of(
    st.builds(lambda p, op, v: f"{p}{op}{v}", _q_paths, _q_ops, _q_values),
    _q_paths,
    st.builds(lambda p: f"!{p}", _q_paths),
)
q_texts = (
    st.recursive(
        _q_terms,
        lambda inner: st.one_of(
            st.builds(lambda a, op, b: f"{a}{op}{b}", inner, st.sampled_from([";", "|"]), inner),
            inner.map(lambda t: f"({t})"),
            inner.map(lambda t: f"(({t}"),
        ),
        max_leaves=5,
    )
    | odd_text
)

_names_lists = st.lists(attribute_names, max_size=4).map(",".join)
_type_queries = st.recursive(
    type_names,
    lambda inner: (
        st.builds(lambda a, op, b: f"{a}{op}{b}", inner, st.sampled_from([",", ";", "|"]), inner)
        | inner.map(lambda t: f"({t})")
    ),
    max_leaves=4,
)
_georels = (
    st.sampled_from(
        ["near;maxDistance==2000", "near;minDistance==10", "near;maxDistance==-1", "near"]
        + ["within", "contains", "intersects", "disjoint", "overlaps", "equals", "near;x==1", ""]
    )
    | odd_text
)
_ints = st.one_of(
    st.integers(-10, 2000).map(str),
    st.integers().map(str),
    st.sampled_from(["１", "٣", "1.5", "1e3", "", "-0", " 1", "0x10", "99999999999999999999"]),
    odd_text,
)
_durations = (
    st.sampled_from(
        ["PT0S", "PT1S", "P1D", "P1M", "P1Y2M3DT4H5M6.5S", "PT0.000001S", "P99999999D", "P", "PT"]
    )
    | odd_text
)
_dumps_json = st.builds(lambda v: __import__("json").dumps(v), geometries)

PARAMETERS: dict[str, st.SearchStrategy[str]] = {
    "id": st.lists(entity_ids, max_size=3).map(",".join),
    "idPattern": regexes,
    "type": _type_queries | odd_text,
    "attrs": _names_lists,
    "pick": _names_lists,
    "omit": _names_lists,
    "q": q_texts,
    "scopeQ": st.sampled_from(["/a", "/a/#", "/a/+/b", "/", "//", "#"]) | odd_text,
    "georel": _georels,
    "geometry": st.sampled_from(
        ["Point", "Polygon", "LineString", "MultiPolygon", "GeometryCollection"]
    )
    | odd_text,
    "coordinates": _dumps_json | odd_text,
    "geoproperty": attribute_names,
    "geometryProperty": attribute_names,
    "lang": st.sampled_from(["ko", "en", "*", "ko,en;q=0.5", "@none"]) | odd_text,
    "limit": _ints,
    "offset": _ints,
    "count": st.sampled_from(["true", "false", "TRUE", ""]) | odd_text,
    "options": st.sampled_from(
        ["keyValues", "concise", "sysAttrs", "temporalValues", "aggregatedValues"]
    )
    | odd_text,
    "format": st.sampled_from(["keyValues", "simplified", "normalized", "geojson"]) | odd_text,
    "details": st.sampled_from(["true", "false"]) | odd_text,
    "datasetId": entity_ids,
    "orderBy": _names_lists,
    "join": st.sampled_from(["inline", "flat", "@none"]) | odd_text,
    "joinLevel": _ints,
    "timerel": st.sampled_from(["before", "after", "between"]) | odd_text,
    "timeAt": _datetimes,
    "endTimeAt": _datetimes,
    "timeproperty": st.sampled_from(["observedAt", "createdAt", "modifiedAt"]) | odd_text,
    "lastN": _ints,
    "aggrMethods": st.lists(
        st.sampled_from(["totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev"])
        | odd_text,
        max_size=3,
    ).map(",".join),
    "aggrPeriodDuration": _durations,
    "deleteAll": st.sampled_from(["true", "false"]) | odd_text,
}
BAD_ENCODINGS = ["%ZZ", "%", "%E0%A4", "%C0%AF", "%FF", "%00", "%2", "+", "%25%", "&&", "=", "=="]


def _controls_quoted(text: str) -> str:
    """``text`` as it goes into a URL unencoded, but for control characters (which no HTTP
    client sends: httpx refuses them)."""
    return "".join(quote(c) if ord(c) < 32 or ord(c) == 127 else c for c in text)


@st.composite
def query_strings(draw: st.DrawFn) -> str:
    """A query string for the NGSI-LD API: known parameters with hostile values, now and then
    an unknown or repeated one, values unencoded, or broken percent-encoding."""
    names = draw(st.lists(st.sampled_from(sorted(PARAMETERS)), max_size=5))
    pairs = []
    for name in names:
        value = draw(PARAMETERS[name])
        style = draw(st.sampled_from(["quoted"] * 6 + ["raw", "bad", "repeated"]))
        if style == "raw":  # as a careless client writes it (httpx encodes what it must)
            pairs.append(f"{name}={_controls_quoted(value)}")
            continue
        text = quote(value, safe="")
        if style == "bad":
            text += draw(st.sampled_from(BAD_ENCODINGS))
        pairs.append(f"{name}={text}")
        if style == "repeated":
            pairs.append(f"{name}={quote(draw(PARAMETERS[name]), safe='')}")
    if draw(st.integers(0, 9)) == 0:
        pairs.append(f"{quote(draw(odd_text), safe='')}={quote(draw(odd_text), safe='')}")
    return "&".join(pairs)


# -- @context --------------------------------------------------------------------------------------

CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
_term_definitions = st.one_of(
    st.builds(lambda s: f"http://example.org/{s}", _plain),
    st.sampled_from(["@id", "@type", "@json", "@none", "@vocab", "x:y", "", "n", "@context"]),
    st.fixed_dictionaries(
        {"@id": st.sampled_from(["http://example.org/n", "@type", "@id", "n:", ""])},
        optional={
            "@type": st.sampled_from(["@id", "@json", "@vocab", "http://x.org/t", "5"]),
            "@container": st.sampled_from(["@list", "@set", "@language", "@index", "@graph"]),
            "@language": st.sampled_from(["ko", "", "x-bad"]),
            "@context": st.just({"m": "http://example.org/m"}),
        },
    ),
    st.builds(lambda iri: {"@reverse": iri}, st.just("http://example.org/r")),
    st.none(),
    _leaves,
)
_context_objects = st.dictionaries(
    attribute_names | st.sampled_from(["@vocab", "@base", "@language", "@version", "@protected"]),
    _term_definitions,
    max_size=4,
)
# inline only: a @context URL other than the core one would be fetched (503 without a network)
inline_contexts = st.one_of(
    _context_objects,
    st.lists(st.just(CORE_CONTEXT) | _context_objects | st.none(), max_size=3),
    st.just(CORE_CONTEXT),
)

# -- subscriptions -------------------------------------------------------------------------------

_names = st.lists(attribute_names, max_size=3)
#: what a subscription may carry besides its entities, q and geoQ (clause 5.2.12), hostile
subscription_extras = st.fixed_dictionaries(
    {},
    optional={
        "watchedAttributes": _names,
        "throttling": numbers,
        "expiresAt": _datetimes,
        "isActive": st.booleans() | _leaves,
        "lang": st.sampled_from(["ko", "en,ko", "*"]) | odd_text,
        "scopeQ": PARAMETERS["scopeQ"],
        "subscriptionName": odd_text,
        "description": odd_text,
        "jsonldContext": st.just(CORE_CONTEXT) | odd_text,
    },
)
notification_params = st.fixed_dictionaries(
    {},
    optional={
        "attributes": _names,
        "format": st.sampled_from(["normalized", "concise", "keyValues", "simplified"]) | odd_text,
        "sysAttrs": st.booleans() | _leaves,
        "showChanges": st.booleans() | _leaves,
        "join": st.sampled_from(["inline", "flat", "@none"]) | odd_text,
        "joinLevel": numbers,
    },
)
