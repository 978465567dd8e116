"""The dashboard's routes: the page at ``/`` for browsers (the JSON home document for others),
its static files with their content types and caching, no way out of the file table, and the
live feed's refusals (a bad tenant, too many feeds)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cityhub.dashboard.assets import load_assets
from tests.conftest import make_client

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _config(page: str) -> dict[str, object]:
    found = re.search(r'<script id="cityhub-config" type="application/json">(.*?)</script>', page)
    assert found is not None
    config: dict[str, object] = json.loads(found.group(1))
    return config


def test_a_browser_gets_the_page_with_its_settings(tmp_path: Path) -> None:
    with make_client(tmp_path, time_zone="Europe/Madrid", dashboard_language="en") as client:
        page = client.get("/", headers=HTML)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"] == "no-cache" and page.headers["etag"]
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "Accept" in page.headers["vary"]
        assert '<html lang="en">' in page.text
        config = _config(page.text)
        assert config["timeZone"] == "Europe/Madrid" and config["language"] == "en"
        assert config["api"] == "/ngsi-ld/v1" and config["feed"] == "/dashboard/feed"
        quality = config["airQuality"]
        assert isinstance(quality, dict)
        assert quality["scales"]["pm25"]["bands"][1] == [16.0, 35.0]  # Korean PM2.5 "moderate"
        assert quality["who"]["pm25"]["level"] == 15.0
        # no CDN: every script and stylesheet is the hub's own
        refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert refs and all(r.startswith(("/dashboard/static/", "#", "data:")) for r in refs), refs
        again = client.get("/", headers={**HTML, "If-None-Match": page.headers["etag"]})
        assert again.status_code == 304 and again.content == b""


def test_the_page_names_its_files_by_version_and_they_are_cached_for_good(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        page = client.get("/", headers=HTML).text
        refs = re.findall(r'(?:src|href)="(/dashboard/static/[^"?]+)\?v=([0-9a-f]{16})"', page)
        names = {ref.rsplit("/", 1)[1] for ref, _ in refs}
        assert {"leaflet.js", "leaflet.css", "style.css", "app.js"} <= names
        for ref, version in refs:
            answer = client.get(f"{ref}?v={version}")
            assert answer.status_code == 200, ref
            assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert answer.headers["etag"] == f'"{version}"'
            assert answer.headers["x-content-type-options"] == "nosniff"
        js = client.get("/dashboard/static/app.js")
        assert js.headers["content-type"] == "text/javascript; charset=utf-8"
        assert js.headers["cache-control"] == "no-cache"  # no version named: revalidate
        stale = client.get("/dashboard/static/app.js?v=0000000000000000")
        assert stale.headers["cache-control"] == "no-cache"
        css = client.get("/dashboard/static/leaflet/leaflet.css")
        assert css.headers["content-type"] == "text/css; charset=utf-8"
        png = client.get("/dashboard/static/leaflet/images/layers.png")
        assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
        module = client.get("/dashboard/static/i18n.js")
        assert module.status_code == 200 and "export const LABELS" in module.text
        unchanged = client.get(
            "/dashboard/static/app.js", headers={"If-None-Match": js.headers["etag"]}
        )
        assert unchanged.status_code == 304
        assert client.head("/dashboard/static/app.js").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/static/../../settings.py",
        "/dashboard/static/%2e%2e/%2e%2e/settings.py",
        "/dashboard/static/..%2f..%2fsettings.py",
        "/dashboard/static/%2fetc%2fpasswd",
        "/dashboard/static//etc/passwd",
        "/dashboard/static/leaflet/../../routes.py",
        "/dashboard/static/../assets.py",
        "/dashboard/static/index.html",  # the template is served as the page only
        "/dashboard/static/",
        "/dashboard/static/app.js%00.png",
        "/dashboard/static/APP.JS",
    ],
)
def test_no_file_outside_the_table(tmp_path: Path, path: str) -> None:
    with make_client(tmp_path) as client:
        answer = client.get(path)
        assert answer.status_code == 404, (path, answer.text[:200])
        problem = answer.json()
        assert problem["status"] == 404 and problem["detail"]
        assert "import" not in answer.text and "root:" not in answer.text


def test_the_table_holds_only_the_dashboards_files() -> None:
    names = set(load_assets())
    assert "app.js" in names and "leaflet/leaflet.js" in names
    assert all(".." not in n and not n.startswith("/") for n in names)
    assert not any(n.endswith(".py") for n in names)


def test_others_get_the_home_document_at_the_root(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        for accept in ("*/*", "application/json"):
            answer = client.get("/", headers={"Accept": accept})
            assert answer.status_code == 200
            assert answer.json()["api"] == "/ngsi-ld/v1"


def test_without_the_dashboard_the_root_is_the_home_document(tmp_path: Path) -> None:
    with make_client(tmp_path, dashboard=False) as client:
        answer = client.get("/", headers=HTML)
        assert answer.headers["content-type"] == "application/json"
        assert client.get("/dashboard/static/app.js").status_code == 404
        assert client.get("/dashboard/feed").status_code == 404


def test_a_base_map_is_allowed_by_the_pages_policy(tmp_path: Path) -> None:
    url = "https://tiles.city.example/base/{z}/{x}/{y}.png"
    with make_client(tmp_path, dashboard_base_map_url=url) as client:
        page = client.get("/", headers=HTML)
        assert (
            "img-src 'self' data: https://tiles.city.example;"
            in (page.headers["content-security-policy"])
        )
        assert _config(page.text)["baseMap"] == {"url": url, "attribution": ""}
    with make_client(tmp_path) as client:
        policy = client.get("/", headers=HTML).headers["content-security-policy"]
        assert "img-src 'self' data:;" in policy  # no base map: no other origin


def test_the_feed_refuses_a_bad_tenant(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        answer = client.get("/dashboard/feed", params={"tenant": "../x"})
        assert answer.status_code == 400
        assert "tenant parameter" in answer.json()["detail"]


def test_one_feed_too_many_is_a_503_that_says_to_retry(tmp_path: Path) -> None:
    with make_client(tmp_path, dashboard_max_streams=0) as client:
        answer = client.get("/dashboard/feed")
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "10"
        assert "dashboard_max_streams" in answer.json()["detail"]


def test_an_unknown_time_zone_stops_the_hub_before_it_starts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="time_zone"):
        make_client(tmp_path, time_zone="Mars/Olympus")


def test_the_client_fixture_serves_the_page_on_every_backend(client: TestClient) -> None:
    assert client.get("/", headers=HTML).status_code == 200


def test_head_on_the_feed_answers_its_headers_and_ends(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        answer = client.head("/dashboard/feed")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        assert client.app.state.dashboard.feed.open_streams == 0  # type: ignore[attr-defined]
