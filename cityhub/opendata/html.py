"""Minimal HTML pages of the open views (OGC API's HTML conformance class, the /data page):
a title, links and tables, every value escaped. Pure."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;"
    "vertical-align:top;text-align:left}"
)


def text(value: Any) -> str:
    """A value as escaped text (objects as compact JSON)."""
    if isinstance(value, str):
        return html.escape(value)
    return html.escape(orjson.dumps(value).decode())


def page(title: str, body: str, lang: str = "en") -> str:
    return (
        f'<!doctype html><html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def links(items: Iterable[dict[str, str]]) -> str:
    rows = "".join(
        f'<li><a href="{html.escape(i["href"])}">{html.escape(i.get("title") or i["rel"])}</a>'
        f" ({html.escape(i['rel'])}, {html.escape(i['type'])})</li>"
        for i in items
    )
    return f"<ul>{rows}</ul>"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{text(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


__all__ = ["links", "page", "table", "text"]
