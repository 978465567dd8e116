"""@context resolution into term maps: expansion, compaction, precedence, CURIEs, nesting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityhub.errors import BadRequestData, LdContextNotAvailable
from cityhub.ngsild.context import (
    CORE_CONTEXT_URL,
    DEFAULT_VOCAB,
    MAX_CONTEXT_DEPTH,
    TermMap,
    build_term_map,
    core_context_document,
    is_core_context_url,
    remote_urls,
)

NGSI = "https://uri.etsi.org/ngsi-ld/"
SUITE_URL = "http://ctx.example/suite.jsonld"
SUITE = {
    "@context": {
        "almostFull": "https://ngsi-ld-test-suite/context#almostFull",
        "Building": "https://ngsi-ld-test-suite/context#Building",
    }
}


def core_only() -> TermMap:
    return build_term_map(None, {})


# -- built-in core contexts ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        CORE_CONTEXT_URL,
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.3.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld",
        "http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
    ],
)
def test_core_urls_resolve_from_built_in_copies(url: str) -> None:
    assert is_core_context_url(url)
    doc = core_context_document(url)
    assert doc is not None and doc["@context"]["@vocab"] == DEFAULT_VOCAB
    assert remote_urls(url, {}) == []
    assert build_term_map(url, {}).expand("location") == NGSI + "location"


def test_unversioned_and_v16_urls_map_to_18_and_17() -> None:
    plain = core_context_document("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld")
    assert plain is core_context_document(CORE_CONTEXT_URL)
    v16 = core_context_document("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld")
    assert v16 is core_context_document(
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld"
    )


def test_non_existing_core_url_is_not_built_in() -> None:
    url = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-non-existing.jsonld"
    assert not is_core_context_url(url)
    assert remote_urls(url, {}) == [url]
    with pytest.raises(LdContextNotAvailable):
        build_term_map(url, {})


# -- expansion -------------------------------------------------------------------------------


def test_core_terms_and_default_vocab() -> None:
    terms = core_only()
    assert terms.expand("location") == NGSI + "location"
    assert terms.expand("observedAt") == NGSI + "observedAt"
    assert terms.expand("temperature") == DEFAULT_VOCAB + "temperature"
    assert terms.expand("Point") == "https://purl.org/geojson/vocab#Point"
    assert terms.expand("description") == "http://purl.org/dc/terms/description"
    # "attributeCount": "attributeCount" in core 1.8 means the vocabulary-relative IRI
    assert terms.expand("attributeCount") == DEFAULT_VOCAB + "attributeCount"
    assert terms.context_value == CORE_CONTEXT_URL
    assert terms.vocab == DEFAULT_VOCAB


def test_absolute_iris_blank_nodes_and_core_curies() -> None:
    terms = core_only()
    assert terms.expand("http://example.org/speed") == "http://example.org/speed"
    assert terms.expand("urn:ngsi-ld:attr:speed") == "urn:ngsi-ld:attr:speed"
    assert terms.expand("_:b0") == "_:b0"
    assert terms.expand("ngsi-ld:default-context/speed") == DEFAULT_VOCAB + "speed"
    assert terms.expand("geojson:Point") == "https://purl.org/geojson/vocab#Point"


def test_user_terms_strings_objects_and_curies() -> None:
    context = {
        "ex": "http://example.org/",
        "temp": "ex:temp",
        "speed": {"@id": "http://example.org/speed"},
        "state": {"@id": "ex:state", "@type": "@vocab"},
        "owner": {"@id": "ex:owner", "@type": "@id"},
        "prefixed:term": {"@type": "@id"},
    }
    terms = build_term_map(context, {})
    assert terms.expand("temp") == "http://example.org/temp"
    assert terms.expand("speed") == "http://example.org/speed"
    assert terms.expand("state") == "http://example.org/state"
    assert terms.expand("ex:other") == "http://example.org/other"
    assert terms.expand("unknown") == DEFAULT_VOCAB + "unknown"
    assert terms.expand("prefixed:term") == "prefixed:term"
    assert terms.context_value == context


def test_terms_may_use_prefixes_defined_later_in_the_same_object() -> None:
    terms = build_term_map({"temp": "ex:temp", "ex": "http://example.org/"}, {})
    assert terms.expand("temp") == "http://example.org/temp"


def test_core_prefixes_are_usable_in_user_contexts() -> None:
    terms = build_term_map({"alias": "ngsi-ld:location2"}, {})
    assert terms.expand("alias") == NGSI + "location2"


def test_only_prefix_terms_expand_curies() -> None:
    # JSON-LD 1.1: a simple term is a prefix only if its IRI ends in a gen-delim character
    context = {
        "noDelim": "http://example.org/thing",
        "forced": {"@id": "http://e.org/x", "@prefix": True},
    }
    terms = build_term_map(context, {})
    assert terms.expand("noDelim:a") == "noDelim:a"
    assert terms.expand("forced:a") == "http://e.org/xa"


def test_term_with_missing_id_uses_the_user_vocab_else_the_default() -> None:
    assert build_term_map({"bare": {"@type": "@id"}}, {}).expand("bare") == DEFAULT_VOCAB + "bare"
    with_vocab = build_term_map({"@vocab": "http://voc.example/", "bare": {"@type": "@id"}}, {})
    assert with_vocab.expand("bare") == "http://voc.example/bare"
    assert with_vocab.expand("rel") == DEFAULT_VOCAB + "rel"  # the core's @vocab comes last


def test_relative_vocab_extends_the_current_one() -> None:
    terms = build_term_map([{"@vocab": "http://voc.example/"}, {"@vocab": "sub/", "t": {}}], {})
    assert terms.expand("t") == "http://voc.example/sub/t"


def test_keyword_aliases_stay_keywords() -> None:
    terms = build_term_map({"id": "@id", "kind": "@type", "odd": "@notAKeyword"}, {})
    assert terms.expand("id") == "@id"
    assert terms.expand("kind") == "@type"
    assert terms.expand("odd") == DEFAULT_VOCAB + "odd"


# -- precedence ------------------------------------------------------------------------------


def test_core_terms_are_protected_and_win_silently() -> None:
    terms = build_term_map(
        {"location": "http://example.org/location", "observedAt": {"@id": "http://example.org/at"}},
        {},
    )
    assert terms.expand("location") == NGSI + "location"
    assert terms.expand("observedAt") == NGSI + "observedAt"
    assert terms.compact(NGSI + "location") == "location"
    assert terms.compact("http://example.org/location") == "http://example.org/location"


def test_later_user_contexts_override_earlier_ones() -> None:
    first = {"@context": {"speed": "http://first.example/speed"}}
    terms = build_term_map(
        ["http://a.example/ctx", {"speed": "http://second.example/speed"}],
        {"http://a.example/ctx": first},
    )
    assert terms.expand("speed") == "http://second.example/speed"


def test_null_term_falls_back_to_default_expansion() -> None:
    first = {"@context": {"speed": "http://first.example/speed"}}
    terms = build_term_map(
        ["http://a.example/ctx", {"speed": None}], {"http://a.example/ctx": first}
    )
    assert terms.expand("speed") == DEFAULT_VOCAB + "speed"
    nulled = build_term_map({"speed": {"@id": None}}, {})
    assert nulled.expand("speed") == DEFAULT_VOCAB + "speed"


def test_null_context_resets_user_terms_but_not_the_core() -> None:
    terms = build_term_map([{"speed": "http://e.org/speed"}, None], {})
    assert terms.expand("speed") == DEFAULT_VOCAB + "speed"
    assert terms.expand("location") == NGSI + "location"


def test_core_url_inside_user_array_is_harmless() -> None:
    terms = build_term_map([SUITE_URL, CORE_CONTEXT_URL], {SUITE_URL: SUITE})
    assert terms.expand("almostFull") == "https://ngsi-ld-test-suite/context#almostFull"
    assert terms.sources == (SUITE_URL, CORE_CONTEXT_URL)


# -- compaction ------------------------------------------------------------------------------


def test_compaction_order_term_vocab_curie_iri() -> None:
    terms = build_term_map([SUITE_URL, {"ex": "http://example.org/"}], {SUITE_URL: SUITE})
    assert terms.compact("https://ngsi-ld-test-suite/context#almostFull") == "almostFull"
    assert terms.compact(DEFAULT_VOCAB + "speed") == "speed"
    # the vocabulary-relative name would expand to the suite's IRI, so a CURIE it is (ETSI 001_05)
    assert terms.compact(DEFAULT_VOCAB + "almostFull") == "ngsi-ld:default-context/almostFull"
    assert terms.compact("http://example.org/a") == "ex:a"
    assert terms.compact("http://elsewhere.example/a") == "http://elsewhere.example/a"
    assert terms.compact(NGSI + "location") == "location"


def test_compaction_prefers_the_shortest_then_least_user_term() -> None:
    terms = build_term_map(
        {
            "speedy": "http://e.org/speed",
            "speed": "http://e.org/speed",
            "sped": "http://e.org/speed",
        },
        {},
    )
    assert terms.compact("http://e.org/speed") == "sped"


def test_compaction_prefers_core_terms_for_core_iris() -> None:
    terms = build_term_map({"loc": NGSI + "location"}, {})
    assert terms.expand("loc") == NGSI + "location"
    assert terms.compact(NGSI + "location") == "location"


def test_compaction_picks_the_shortest_curie() -> None:
    terms = build_term_map({"long": "http://e.org/", "s": "http://e.org/ns/"}, {})
    assert terms.compact("http://e.org/ns/x") == "s:x"


def test_coercion_reports_the_type_mapping() -> None:
    terms = build_term_map(
        {
            "ex": "http://example.org/",
            "state": {"@id": "ex:state", "@type": "@vocab"},
            "raw": {"@id": "ex:raw", "@type": "@json"},
            "when": {"@id": "ex:when", "@type": "DateTime"},
        },
        {},
    )
    assert terms.coercion("http://example.org/state") == "@vocab"
    assert terms.coercion("http://example.org/raw") == "@json"
    assert terms.coercion("http://example.org/when") == NGSI + "DateTime"
    assert terms.coercion(NGSI + "observedAt") == NGSI + "DateTime"
    assert terms.coercion(NGSI + "hasObject") == "@id"
    assert terms.coercion(NGSI + "hasVocab") == "@vocab"
    assert terms.coercion(DEFAULT_VOCAB + "speed") is None


IRIS = st.one_of(
    st.text(st.sampled_from("abcXYZ09_-"), min_size=1, max_size=12).map(
        lambda s: DEFAULT_VOCAB + s
    ),
    st.text(st.sampled_from("abc/#:"), min_size=1, max_size=12).map(lambda s: "http://e.org/" + s),
    st.text(st.sampled_from("abc:"), min_size=1, max_size=12).map(lambda s: "urn:x:" + s),
    st.text(st.sampled_from("abcdeAt"), min_size=1, max_size=10).map(lambda s: NGSI + s),
)


@given(IRIS)
def test_compact_then_expand_round_trips(iri: str) -> None:
    terms = build_term_map(
        [SUITE_URL, {"e": "http://e.org/", "ex": "http://e.org/a", "a": "http://e.org/a"}],
        {SUITE_URL: SUITE},
    )
    assert terms.expand(terms.compact(iri)) == iri


# -- remote and nested contexts ----------------------------------------------------------------


def test_remote_urls_lists_missing_documents_level_by_level() -> None:
    outer = {"@context": ["http://b.example/inner", {"x": "http://e.org/x"}]}
    inner = {"@context": {"y": "http://e.org/y"}}
    value = ["http://a.example/outer", CORE_CONTEXT_URL]
    assert remote_urls(value, {}) == ["http://a.example/outer"]
    docs: dict[str, object] = {"http://a.example/outer": outer}
    assert remote_urls(value, docs) == ["http://b.example/inner"]
    docs["http://b.example/inner"] = inner
    assert remote_urls(value, docs) == []
    terms = build_term_map(value, docs)
    assert terms.expand("y") == "http://e.org/y"
    assert terms.sources == ("http://a.example/outer", "http://b.example/inner", CORE_CONTEXT_URL)


def test_relative_urls_resolve_against_the_including_document() -> None:
    outer = {"@context": ["inner.jsonld"]}
    inner = {"@context": {"y": "http://e.org/y"}}
    docs = {"http://a.example/dir/outer": outer, "http://a.example/dir/inner.jsonld": inner}
    assert remote_urls("/dir/outer", {}, base="http://a.example/x") == [
        "http://a.example/dir/outer"
    ]
    terms = build_term_map("/dir/outer", docs, base="http://a.example/x")
    assert terms.expand("y") == "http://e.org/y"
    assert terms.context_value == "/dir/outer"


def test_import_merges_a_remote_object() -> None:
    docs = {"http://a.example/base": {"@context": {"x": "http://e.org/x", "y": "http://e.org/y"}}}
    value = {"@import": "http://a.example/base", "y": "http://other.example/y"}
    assert remote_urls(value, {}) == ["http://a.example/base"]
    terms = build_term_map(value, docs)
    assert terms.expand("x") == "http://e.org/x"
    assert terms.expand("y") == "http://other.example/y"


def test_cycles_are_reported() -> None:
    docs = {
        "http://a.example/1": {"@context": "http://a.example/2"},
        "http://a.example/2": {"@context": ["http://a.example/1"]},
    }
    assert remote_urls("http://a.example/1", docs) == []
    with pytest.raises(BadRequestData, match="cycle"):
        build_term_map("http://a.example/1", docs)


def test_depth_is_capped() -> None:
    docs = {
        f"http://a.example/{i}": {"@context": f"http://a.example/{i + 1}"}
        for i in range(MAX_CONTEXT_DEPTH + 2)
    }
    assert remote_urls("http://a.example/0", docs) == []
    with pytest.raises(BadRequestData, match="nested"):
        build_term_map("http://a.example/0", docs)


def test_a_diamond_is_not_a_cycle() -> None:
    docs = {
        "http://a.example/top": {"@context": ["http://a.example/l", "http://a.example/r"]},
        "http://a.example/l": {"@context": "http://a.example/shared"},
        "http://a.example/r": {"@context": "http://a.example/shared"},
        "http://a.example/shared": {"@context": {"s": "http://e.org/s"}},
    }
    assert build_term_map("http://a.example/top", docs).expand("s") == "http://e.org/s"


# -- malformed contexts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        42,
        [True],
        {"t": 3},
        {"t": ["http://e.org/t"]},
        {"t": {"@id": 5}},
        {"t": {"@id": "http://e.org/t", "@type": 1}},
        {"t": {"@id": "http://e.org/t", "@container": "list"}},
        {"t": {"@id": "http://e.org/t", "bogus": 1}},
        {"t": {"@id": "http://e.org/t", "@prefix": "yes"}},
        {"@version": 1.0},
        {"@vocab": 7},
        {"@vocab": "relative"},
        {"@import": 5},
        {"a": "b:x", "b": "a:y"},
    ],
)
def test_malformed_contexts_are_bad_request_data(value: object) -> None:
    with pytest.raises(BadRequestData):
        remote_urls(value, {})
        build_term_map(value, {})


def test_cyclic_term_definitions_are_reported() -> None:
    with pytest.raises(BadRequestData, match="cyclic"):
        build_term_map({"a": "b", "b": "a"}, {})


def test_a_remote_document_without_context_member_is_rejected() -> None:
    with pytest.raises(BadRequestData, match='"@context"'):
        build_term_map("http://a.example/x", {"http://a.example/x": {"terms": {}}})


def test_expansion_cache_is_one_lookup_for_seen_names() -> None:
    terms = core_only()
    first = terms.expand("someAttribute")
    assert terms.expand("someAttribute") is first
    assert terms.compact(first) is terms.compact(first)


@pytest.mark.parametrize("url", ["", "http://a b", "http://a/<x>", "x" * 3000])
def test_unusable_url_strings_are_bad_request_data(url: str) -> None:
    with pytest.raises(BadRequestData, match="not a @context URL"):
        remote_urls([url], {})
