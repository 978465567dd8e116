"""The public landing page ``/data`` (issue 19 item 6), in Korean and English: every published
dataset with its licence, attribution, a map preview and the links to its open views. Pure:
from the publications and a few of each one's geometries.

The map preview is a small SVG drawn here from the features' coordinates (points as dots,
lines and areas as outlines, in an equirectangular frame around them): no tiles, no script,
nothing fetched from elsewhere.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cityhub.opendata import html as pages
from cityhub.opendata.rules import Publication

WIDTH, HEIGHT = 240, 160
_LABELS = {
    "ko": {
        "title": "공공데이터",
        "intro": "이 허브가 공개하는 데이터입니다. 누구나 내려받아 쓸 수 있으며, 각 데이터셋의 "
        "이용허락 조건과 출처 표시를 따라 주세요.",
        "licence": "이용허락",
        "attribution": "출처",
        "items": "지도·표 (OGC API)",
        "history": "어제 이력",
        "api": "오픈 API (data.go.kr 방식)",
        "catalog": "카탈로그 (DCAT-AP)",
        "none": "아직 공개된 데이터가 없습니다.",
        "other": "English",
    },
    "en": {
        "title": "Open data",
        "intro": "The data this hub publishes. Anyone may download and use it under each "
        "dataset's licence, crediting its source.",
        "licence": "Licence",
        "attribution": "Attribution",
        "items": "Map and table (OGC API)",
        "history": "Yesterday's history",
        "api": "Open API (data.go.kr style)",
        "catalog": "Catalogue (DCAT-AP)",
        "none": "Nothing is published yet.",
        "other": "한국어",
    },
}


def _positions(value: Any) -> Iterable[tuple[float, float]]:
    if (
        isinstance(value, list | tuple)
        and len(value) >= 2
        and all(isinstance(v, int | float) for v in value[:2])
    ):
        yield float(value[0]), float(value[1])
    elif isinstance(value, list | tuple):
        for member in value:
            yield from _positions(member)


def _lines(geometry: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """A geometry's outlines (a point is a line of one position)."""
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "Point":
        return [list(_positions(coords))]
    if kind in ("LineString", "MultiPoint"):
        return [list(_positions(coords))]
    if kind in ("Polygon", "MultiLineString"):
        return [list(_positions(ring)) for ring in coords or []]
    if kind == "MultiPolygon":
        return [list(_positions(ring)) for polygon in coords or [] for ring in polygon]
    return []


Frame = tuple[float, float, float, float]


def frame_of(geometries: Iterable[dict[str, Any]]) -> Frame | None:
    """The west, east, south, north around the geometries (None: none)."""
    points = [p for g in geometries for line in _lines(g) for p in line]
    if not points:
        return None
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return min(xs), max(xs), min(ys), max(ys)


def svg_preview(geometries: Sequence[dict[str, Any]], frame: Frame | None = None) -> str:
    """A small SVG map of the geometries in ``frame`` (default: around them; the landing page
    gives every dataset the same, so their maps line up), "" when there are none."""
    lines = [line for g in geometries for line in _lines(g) if line]
    if not lines:
        return ""
    west, east, south, north = frame or frame_of(geometries) or (0.0, 1.0, 0.0, 1.0)
    span = max(east - west, north - south, 1e-6)
    scale = min((WIDTH - 10) / span, (HEIGHT - 10) / span)

    def at(x: float, y: float) -> str:
        return f"{5 + (x - west) * scale:.1f},{HEIGHT - 5 - (y - south) * scale:.1f}"

    shapes = []
    for line in lines:
        if len(line) == 1:
            shapes.append(f'<circle r="2" transform="translate({at(*line[0])})"/>')
        else:
            points = " ".join(at(x, y) for x, y in line)
            shapes.append(f'<polyline fill="none" points="{points}"/>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" style="background:#f4f6f8" fill="#1565c0" stroke="#1565c0" '
        f'stroke-width="0.8">{"".join(shapes)}</svg>'
    )


def landing_page(
    base: str,
    publications: Sequence[Publication],
    previews: dict[str, str],
    lang: str = "ko",
    now: datetime | None = None,
) -> str:
    """The page: a section per published dataset."""
    labels = _LABELS["en" if lang == "en" else "ko"]
    other = "en" if lang != "en" else "ko"
    yesterday = ((now or datetime.now(UTC)).astimezone(UTC).date() - timedelta(days=1)).isoformat()
    parts = [
        f'<p>{html.escape(labels["intro"])} <a href="{base}/data?lang={other}">'
        f"{html.escape(labels['other'])}</a></p>",
        f'<p><a href="{base}/catalog.jsonld">{html.escape(labels["catalog"])}</a>: '
        f'<a href="{base}/catalog.jsonld">JSON-LD</a> · <a href="{base}/catalog.ttl">Turtle</a>'
        f' · <a href="{base}/catalog.rdf">RDF/XML</a> · <a href="{base}/ogcapi/">OGC API</a></p>',
    ]
    if not publications:
        parts.append(f"<p>{html.escape(labels['none'])}</p>")
    for p in publications:
        name = html.escape(p.name)
        links = [
            (f"{base}/ogcapi/collections/{p.name}/items?f=html", labels["items"]),
            (f"{base}/opendata/{p.name}.csv", "CSV"),
            (f"{base}/opendata/{p.name}.geojson", "GeoJSON"),
            (f"{base}/opendata/{p.name}.parquet", "Parquet"),
            (f"{base}/data/api/{p.name}?resultType=json", labels["api"]),
        ]
        if p.history:
            links.append((f"{base}/opendata/{p.name}/history/{yesterday}.csv", labels["history"]))
        anchors = " · ".join(
            f'<a href="{html.escape(url)}">{html.escape(text)}</a>' for url, text in links
        )
        attribution = (
            f"<br>{html.escape(labels['attribution'])}: {html.escape(p.attribution)}"
            if p.attribution
            else ""
        )
        parts.append(
            f'<section id="{name}"><h2>{html.escape(p.title)} <small>({name})</small></h2>'
            f"{previews.get(p.name, '')}"
            f"<p>{html.escape(p.description)}</p>"
            f'<p>{html.escape(labels["licence"])}: <a href="{html.escape(p.license_url)}">'
            f"{html.escape(p.license)}</a>{attribution}</p><p>{anchors}</p></section>"
        )
    return pages.page(labels["title"], "".join(parts), lang="en" if lang == "en" else "ko")


__all__ = ["frame_of", "landing_page", "svg_preview"]
