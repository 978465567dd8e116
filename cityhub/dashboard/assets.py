"""The dashboard's static files: its own (``cityhub/dashboard/static``) and Leaflet's built files
from the ``xstatic-leaflet`` package (PyPI), read once when the app is built.

Files are served from a table keyed by their URL path, never by joining a URL onto a
directory, so no request can name a file outside it (``..``, ``%2e%2e``, absolute paths and
the like are simply not keys). Each file has an ETag (a hash of its bytes); a URL that
carries the current hash as ``?v=`` is cached by browsers for a year (``immutable``), any
other asks them to revalidate (``no-cache``, 304 when unchanged). The page names its files
with ``?v=``, so a new version of the hub is picked up on the next load.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import xstatic.pkg.leaflet

STATIC = Path(__file__).parent / "static"

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}

#: Leaflet's files the dashboard uses, by their path inside the package's data folder
LEAFLET_FILES = ("leaflet.js", "leaflet.css", "images/layers.png", "images/layers-2x.png")


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str  # quoted, as in the header

    @property
    def version(self) -> str:
        return self.etag.strip('"')


def _asset(path: Path) -> Asset:
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:16]
    return Asset(body, CONTENT_TYPES[path.suffix], f'"{digest}"')


def load_assets() -> dict[str, Asset]:
    """Every file the dashboard serves, by its path under ``/dashboard/static/``."""
    assets: dict[str, Asset] = {}
    for path in sorted(STATIC.rglob("*")):
        if path.is_file() and path.suffix in CONTENT_TYPES:
            assets[path.relative_to(STATIC).as_posix()] = _asset(path)
    leaflet = Path(xstatic.pkg.leaflet.BASE_DIR)
    for name in LEAFLET_FILES:
        assets["leaflet/" + name] = _asset(leaflet / name)
    return assets


#: the library versions the dashboard ships, for the page's "about" line and the docs
LIBRARIES = {"leaflet": str(xstatic.pkg.leaflet.VERSION)}

__all__ = ["CONTENT_TYPES", "LIBRARIES", "Asset", "load_assets"]
