"""The dashboard's routes: the page at ``/``, its static files, and the live feed.

- ``GET /``: the control tower's page (HTML; the settings the browser needs travel inside it
  as a JSON block, so the page makes no extra request for them);
- ``GET /dashboard/static/{path}``: its files (``cityhub.dashboard.assets``);
- ``GET /dashboard/feed?tenant=T``: the tenant's changes as Server-Sent Events
  (``cityhub.dashboard.feed``; the page reads it with ``fetch`` and the caller's
  ``Authorization`` header when access control is on; the tenant is a parameter).

Everything else the page shows it reads from the NGSI-LD API under ``/ngsi-ld/v1``, as any
client would.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cityhub import __version__
from cityhub.airquality.cai import GRADE_NAMES_KO, GRADES, SCALES
from cityhub.airquality.who import GUIDELINES
from cityhub.api.guard import access_of
from cityhub.api.home import hub_root
from cityhub.api.negotiation import checked_tenant
from cityhub.api.routing import Route
from cityhub.dashboard.assets import LIBRARIES, Asset, load_assets
from cityhub.dashboard.feed import ChangeFeed, FeedFull, Subscriber
from cityhub.errors import CityhubError, ResourceNotFound, StoreUnavailable
from cityhub.settings import Settings, time_zone_of

API = "/ngsi-ld/v1"
#: the languages of the dashboard's labels (static/i18n.js)
LANGUAGES = ("ko", "en")
STATIC = "/dashboard/static/"
IMMUTABLE = "public, max-age=31536000, immutable"
_ASSET_REF = re.compile(r"\{\{asset:([A-Za-z0-9_./-]+)\}\}")


class TooManyFeeds(StoreUnavailable):
    """The hub serves ``dashboard_max_streams`` live feeds already: a 503 with
    ``Retry-After`` (the page tries again by itself, backing off)."""

    title = "Service unavailable"


def browser_config(settings: Settings) -> dict[str, Any]:
    """What the page needs to know that the API does not say: where things are, the city's
    time zone and language, the base map, and the air-quality scales it colours by."""
    scales = {
        name: {
            "unit": scale.unit,
            "bands": [[float(lo), float(hi)] for lo, hi in scale.bands],
        }
        for name, scale in SCALES.items()
    }
    who = {
        name: {"level": g.level, "unit": g.unit, "averaging": g.averaging}
        for name, g in GUIDELINES.items()
    }
    return {
        "version": __version__,
        "api": API,
        "feed": "/dashboard/feed",
        "indicators": "/indicators",
        "timeZone": settings.time_zone,
        "language": settings.dashboard_language,
        "baseMap": {
            "url": settings.dashboard_base_map_url,
            "attribution": settings.dashboard_base_map_attribution,
        },
        "airQuality": {
            "grades": list(GRADES),
            "gradeNamesKo": dict(GRADE_NAMES_KO),
            "scales": scales,
            "who": who,
        },
        "libraries": LIBRARIES,
    }


def _csp(settings: Settings) -> str:
    images = "'self' data:"
    if settings.dashboard_base_map_url:
        parts = urlsplit(settings.dashboard_base_map_url.replace("{", "").replace("}", ""))
        if parts.scheme and parts.netloc:
            images += f" {parts.scheme}://{parts.netloc.split('@')[-1]}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {images}; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    )


@dataclass
class Dashboard:
    """The dashboard of one app: its files, its page and its feed."""

    settings: Settings
    feed: ChangeFeed
    assets: dict[str, Asset]
    page: Asset
    csp: str

    @classmethod
    def build(cls, settings: Settings) -> Dashboard:
        """The dashboard for ``settings``.

        Raises:
            ValueError: ``time_zone`` is no IANA time zone this machine knows, or
                ``dashboard_language`` is neither ko nor en.
        """
        time_zone_of(settings.time_zone)
        if settings.dashboard_language not in LANGUAGES:
            raise ValueError(
                f"setting dashboard_language: {settings.dashboard_language!r} is not one of "
                + ", ".join(LANGUAGES)
            )
        assets = load_assets()
        template = assets.pop("index.html").body.decode()

        def versioned(match: re.Match[str]) -> str:
            name = match.group(1)
            return f"{STATIC}{name}?v={assets[name].version}"

        config = orjson.dumps(browser_config(settings)).decode().replace("<", "\\u003c")
        html = _ASSET_REF.sub(versioned, template)
        html = html.replace("{{config}}", config).replace("{{lang}}", settings.dashboard_language)
        body = html.encode()
        page = Asset(body, "text/html; charset=utf-8", f'"{hashlib.sha256(body).hexdigest()[:16]}"')
        return cls(
            settings,
            ChangeFeed(max_streams=settings.dashboard_max_streams),
            assets,
            page,
            _csp(settings),
        )

    # ---- handlers ----------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        if "text/html" not in request.headers.get("accept", ""):
            return await hub_root(request)  # curl, scripts: the JSON home document
        headers = {
            "Cache-Control": "no-cache",
            "Content-Security-Policy": self.csp,
            "Vary": "Accept",
        }
        return _serve(request, self.page, headers)

    async def static(self, request: Request) -> Response:
        asset = self.assets.get(request.path_params.get("path", ""))
        if asset is None:
            raise ResourceNotFound(f"the dashboard has no file {request.url.path!r}")
        fresh = request.query_params.get("v") == asset.version
        return _serve(request, asset, {"Cache-Control": IMMUTABLE if fresh else "no-cache"})

    async def live(self, request: Request) -> Response:
        tenant = checked_tenant(request.query_params.get("tenant", ""), "the tenant parameter")
        if request.method == "HEAD":  # the headers a GET would have, and no endless body
            return Response(media_type="text/event-stream", headers={"Cache-Control": "no-store"})
        access = access_of(request)
        narrowed = access.permitted("read") is not None
        try:
            sub = self.feed.subscribe(tenant, access.reads if narrowed else None)
        except FeedFull:
            raise TooManyFeeds(
                f"the hub serves {self.feed.max_streams} live dashboard feeds already "
                "(dashboard_max_streams); the page tries again on its own",
                retry_after=10,
            ) from None
        recheck = None
        if access.enforced:
            control = request.app.state.access
            authorization = request.headers.get("authorization")

            async def recheck(sub: Subscriber) -> bool:
                # the caller's access as it is now: a revoked key ends the stream, changed
                # permissions narrow what follows
                try:
                    now = await control.authorize(tenant, authorization)
                except CityhubError:
                    return False
                if not now.may("read"):
                    return False
                sub.reads = now.reads if now.permitted("read") is not None else None
                return True

        return StreamingResponse(
            self.feed.stream(sub, recheck=recheck),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    def routes(self) -> list[Route]:
        return [
            Route("/", self.index, methods=["GET", "HEAD"]),
            Route(STATIC + "{path:path}", self.static, methods=["GET", "HEAD"]),
            # the folder itself: a 404 here, not the router's redirect to the form with a
            # slash, which the front takes off again (a redirect loop)
            Route(STATIC.rstrip("/"), self.static, methods=["GET", "HEAD"]),
            Route("/dashboard/feed", self.live, methods=["GET"]),
        ]


def _serve(request: Request, asset: Asset, headers: dict[str, str]) -> Response:
    headers = {**headers, "ETag": asset.etag, "X-Content-Type-Options": "nosniff"}
    match = request.headers.get("if-none-match")
    if match is not None and asset.etag in {m.strip() for m in match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


__all__ = ["Dashboard", "TooManyFeeds", "browser_config"]
