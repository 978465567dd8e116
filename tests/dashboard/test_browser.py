"""The control tower in a real headless Chromium (Debian's ``chromium``, driven by Playwright):
the 50 dong render, a PM2.5 spike posted through the API turns its marker to the worst class
within seconds, a new critical alert flashes, acknowledging and closing write the Alert back,
a history chart has a point per hour, the language switch changes every label, the phone
layout has no horizontal scroll, and the screen comes back by itself after the hub restarts.

Screenshots of the wall (1920x1080) and phone (390x844) layouts are written to
``build/screenshots/`` (docs/dashboard.md). Skipped, with the reason, without Chromium or
Playwright; never downloads a browser.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest

from cityhub.alerts.defaults import default_rules
from cityhub.demo.city import build_city
from cityhub.indicators import INDICATORS
from tests.dashboard.hub import ROOT, Hub, free_port

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(
        sync_playwright is None,
        reason="the dashboard's browser tests need playwright (pip install -e '.[dev]')",
    ),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason="the dashboard's browser tests need Debian's chromium (apt-get install chromium)",
    ),
]

SHOTS = ROOT / "build" / "screenshots"
V1 = "/ngsi-ld/v1"
TENANT = {"NGSILD-Tenant": "seongnam"}
WORST = "#d7191c"


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _city_entities(now: datetime) -> tuple[list[dict[str, Any]], list[str]]:
    """The demo city's districts and its six air-quality stations (PM2.5 10: good)."""
    city = build_city()
    areas = [a.static_entity() for a in city.assets if a.entity_type == "AdministrativeArea"]
    stations = [
        a.static_entity()
        for a in city.assets
        if a.entity_type == "AirQualityObserved" and "airkorea" in a.id
    ]
    for s in stations:
        s.pop("refDevice", None)
        s["pm25"] = {"type": "Property", "value": 10, "unitCode": "GQ", "observedAt": _iso(now)}
    return areas + stations, [s["id"] for s in stations]


def _alert(eid: str, source: dict[str, Any], severity: str, now: datetime) -> dict[str, Any]:
    return {
        "id": eid,
        "type": "Alert",
        "category": {"type": "Property", "value": "environment"},
        "subCategory": {"type": "Property", "value": "airPollution"},
        "severity": {"type": "Property", "value": severity},
        "alertSource": {"type": "Relationship", "object": source["id"]},
        "dateIssued": {"type": "Property", "value": {"@type": "DateTime", "@value": _iso(now)}},
        "description": {
            "type": "LanguageProperty",
            "languageMap": {"ko": f"미세먼지 {severity} 경보", "en": f"PM2.5 {severity} alert"},
        },
        "location": source["location"],
    }


#: the fixture's daily PM2.5-over-WHO KPIs: per zone, how many dong are measured by a sensor of
#: their own (the others take a neighbour's), and the hours above of the first measured one
KPI_ZONES = {
    "old-downtown": (6, 10),
    "new-town-1990s": (6, 4),
    "new-town-2000s": (3, 2),
    "peri-urban": (1, 8),
}
THIN = 0.3  # the coverage of one 1990s new-town dong: drawn faded and dashed


def _kpi(
    area: dict[str, Any], hours: float, sensors: int, coverage: float | None, start: datetime
) -> dict[str, Any]:
    """A daily ``pm25ExposureWho`` KeyPerformanceIndicator of a dong as the indicator service
    writes it (docs/indicators.md): the value with what it rests on as sub-properties."""
    population = area["electors"]["value"]
    end = start + timedelta(days=1)
    expected = sensors * 24
    rests_on = {
        "numerator": population * hours,
        "denominator": population * 24,
        "population": population,
        "populationSource": "electors",
        "sensors": sensors,
        "sensorHoursExpected": expected,
        "sensorHoursReported": round(expected * (coverage or 0)),
        "badReadings": 0,
        "estimatedShare": 0.0 if sensors else 1.0,
        "hoursIncluded": 24,
    }
    if coverage is not None:
        rests_on["dataCoverage"] = coverage
    kpi_value = {"type": "Property", "value": hours, "observedAt": _iso(end)}
    kpi_value.update({k: {"type": "Property", "value": v} for k, v in rests_on.items()})
    suffix = area["id"].removeprefix("urn:ngsi-ld:AdministrativeArea:")
    return {
        "id": f"urn:ngsi-ld:KeyPerformanceIndicator:pm25ExposureWho:daily:{suffix}",
        "type": "KeyPerformanceIndicator",
        "indicator": {"type": "Property", "value": "pm25ExposureWho"},
        "calculationFrequency": {"type": "Property", "value": "daily"},
        "calculationPeriod": {"type": "Property", "value": {"from": _iso(start), "to": _iso(end)}},
        "kpiValue": kpi_value,
        "kpiUnit": {"type": "Property", "value": "hours per resident"},
        "area": {"type": "Property", "value": area["name"]["languageMap"]["en"]},
        "refAdministrativeArea": {"type": "Relationship", "object": area["id"]},
        "administrativeLevel": {"type": "Property", "value": "dong"},
        "cityhubZone": area["cityhubZone"],
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [127.1, 37.4]},
        },
    }


def _kpis(
    areas: list[dict[str, Any]], now: datetime
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """One KPI per dong: measured dong with hours rising from the zone's first value, the others
    estimated from a neighbour; the peri-urban zone too thin to rank. Also the dong of note:
    the worst, the best and the thin one."""
    start = (now - timedelta(days=1)).replace(hour=15, minute=0, second=0, microsecond=0)
    out, seen = [], {zone: 0 for zone in KPI_ZONES}
    notable: dict[str, str] = {}
    for area in sorted(areas, key=lambda a: a["id"]):
        if area.get("administrativeLevel", {}).get("value") != "dong":
            continue
        zone = area["cityhubZone"]["value"]
        measured, first = KPI_ZONES[zone]
        i = seen[zone]
        seen[zone] += 1
        if i < measured:
            coverage = THIN if (zone == "new-town-1990s" and i == 1) else 0.9
            out.append(_kpi(area, first + i, 1, coverage, start))
            if zone == "old-downtown" and i == measured - 1:
                notable["worst"] = area["id"]  # 15 hours: the most
            if zone == "new-town-2000s" and i == 0:
                notable["best"] = area["id"]  # 2 hours: the least
            if coverage == THIN:
                notable["thin"] = area["id"]
        else:
            out.append(_kpi(area, first + 1, 0, None, start))
    return out, notable


#: bins spread over the city: more than a layer shows point by point at city zoom
DENSE = 600


def _bins(now: datetime) -> list[dict[str, Any]]:
    side = int(DENSE**0.5) + 1
    return [
        {
            "id": f"urn:ngsi-ld:WasteContainer:dense:{n}",
            "type": "WasteContainer",
            "fillingLevel": {"type": "Property", "value": 0.2, "observedAt": _iso(now)},
            "location": {
                "type": "GeoProperty",
                "value": {
                    "type": "Point",
                    "coordinates": [
                        round(127.06 + 0.1 * (n % side) / side, 6),
                        round(37.36 + 0.09 * (n // side) / side, 6),
                    ],
                },
            },
        }
        for n in range(DENSE)
    ]


class City:
    """A hub with the Seongnam districts, six stations, one open alert, some history and the
    districts' daily PM2.5 KPIs."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.api = httpx.Client(base_url=hub.url + V1, headers=TENANT, timeout=30)
        now = datetime.now(UTC)
        entities, self.stations = _city_entities(now)
        self.by_id = {e["id"]: e for e in entities}
        for start in range(0, len(entities), 20):
            answer = self.api.post("/entityOperations/upsert", json=entities[start : start + 20])
            assert answer.status_code in (201, 204), answer.text
        self.alert = "urn:ngsi-ld:Alert:test:open-1"
        first = self.by_id[self.stations[0]]
        assert self.api.post("/entities", json=_alert(self.alert, first, "high", now)).is_success
        # an alert closed yesterday: not on the screen, and not even read (the page asks the hub
        # for open alerts only)
        self.closed_alert = "urn:ngsi-ld:Alert:test:closed-1"
        closed = _alert(self.closed_alert, first, "critical", now - timedelta(days=2))
        closed["validTo"] = {
            "type": "Property",
            "value": {"@type": "DateTime", "@value": _iso(now - timedelta(days=1))},
        }
        assert self.api.post("/entities", json=closed).is_success
        # five earlier hours of PM2.5 for the second station: with the creation's value, six
        # hourly periods in the last two days
        history = [
            {"type": "Property", "value": 20 + i, "observedAt": _iso(now - timedelta(hours=i))}
            for i in range(1, 6)
        ]
        second = quote(self.stations[1], safe=":")
        answer = self.api.post(f"/temporal/entities/{second}/attrs", json={"pm25": history})
        assert answer.status_code == 204, answer.text
        self.bins = _bins(now)
        for start in range(0, len(self.bins), 200):
            answer = self.api.post("/entityOperations/upsert", json=self.bins[start : start + 200])
            assert answer.status_code in (201, 204), answer.text
        areas = [e for e in entities if e["type"] == "AdministrativeArea"]
        kpis, self.kpi_dong = _kpis(areas, now)
        for start in range(0, len(kpis), 25):
            answer = self.api.post("/entityOperations/upsert", json=kpis[start : start + 25])
            assert answer.status_code in (201, 204), answer.text

    def page_url(self) -> str:
        return f"{self.hub.url}/?tenant=seongnam"


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    where = tmp_path_factory.mktemp("tower")
    # The fixture writes the districts' daily KPIs as the indicator service would; the hub's own
    # indicator service would recompute the same entities from the stations' readings (a day of
    # six stations: too thin to rank) and replace them, so it is off here. The alert engine,
    # which the alert tests need, stays on.
    (where / "cityhub.toml").write_text("[cityhub]\nindicators_service = false\n")
    hub = Hub(f"sqlite:///{where / 'hub.db'}", free_port(), where)
    city = None
    try:
        city = City(hub)
        yield city
    finally:
        if city is not None:
            city.api.close()
        hub.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert sync_playwright is not None
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _open(
    browser: Browser, url: str, width: int, height: int, requested: list[str] | None = None
) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport={"width": width, "height": height})
    if requested is not None:
        page.on("request", lambda r: requested.append(unquote(r.url)))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
    page.wait_for_selector("#live[data-state=live]", timeout=10_000)
    return page, errors


def _marker(eid: str) -> str:
    return f'path[data-entity="{eid}"]'


def test_the_wall_screen_draws_the_50_dong_and_the_stations(city: City, browser: Browser) -> None:
    requested: list[str] = []
    page, errors = _open(browser, city.page_url(), 1920, 1080, requested)
    assert page.locator("path[data-level=dong]").count() == 50
    assert page.locator("path[data-level=gu]").count() == 3
    for eid in city.stations:
        assert page.get_attribute(_marker(eid), "data-class") in ("0", "3")
    assert page.locator("#alert-list li.alert").count() >= 1
    assert page.locator(f'li.alert[data-alert="{city.closed_alert}"]').count() == 0
    alert_reads = [u for u in requested if "type=Alert" in u]
    assert alert_reads and all("q=!validTo|validTo>" in u for u in alert_reads), alert_reads
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "wall-1920x1080.png"))
    assert errors == [], errors  # no script error, nothing the page's CSP refused
    page.close()


def test_a_pm25_spike_turns_the_marker_to_the_worst_class_within_seconds(
    city: City, browser: Browser
) -> None:
    page, _ = _open(browser, city.page_url(), 1920, 1080)
    eid = city.stations[2]
    assert page.get_attribute(_marker(eid), "data-class") == "0"  # PM2.5 10: good
    started = time.monotonic()
    spike = {"pm25": {"type": "Property", "value": 180, "unitCode": "GQ"}}
    assert city.api.patch(f"/entities/{eid}/attrs", json=spike).status_code == 204
    page.wait_for_selector(f'{_marker(eid)}[data-class="3"]', timeout=5_000)
    elapsed = time.monotonic() - started
    assert page.get_attribute(_marker(eid), "fill") == WORST
    assert elapsed < 5, elapsed
    page.close()


def test_the_hubs_alert_engine_raises_an_alert_on_screen_and_acknowledge_writes_it_back(
    city: City, browser: Browser
) -> None:
    """A PM2.5 spike posted through the API (a new station: hourly readings of 180, 185 and
    190, so the default rule pm25-warning, >= 150 for 2 h, holds: docs/alerts.md) raises an
    Alert by the hub's own alert engine, which the screen lists first, flashes and announces
    within seconds; Acknowledge writes ``acknowledged`` to that Alert, and the engine's next update
    of it (a higher peak) keeps it."""
    page, errors = _open(browser, city.page_url() + "&lang=en", 1920, 1080)
    now = datetime.now(UTC)
    station = dict(city.by_id[city.stations[3]])
    eid = "urn:ngsi-ld:AirQualityObserved:test:spike-1"
    station.update(
        id=eid,
        name={"type": "LanguageProperty", "languageMap": {"ko": "급등 측정소", "en": "Spike"}},
        pm25={
            "type": "Property",
            "value": 180,
            "unitCode": "GQ",
            "observedAt": _iso(now - timedelta(hours=2)),
        },
    )
    assert city.api.post("/entities", json=station).status_code == 201
    page.wait_for_selector(f'{_marker(eid)}[data-class="3"]', timeout=10_000)
    for value, hours_ago in ((185, 1), (190, 0)):
        reading = {
            "type": "Property",
            "value": value,
            "observedAt": _iso(now - timedelta(hours=hours_ago)),
        }
        answer = city.api.patch(f"/entities/{eid}/attrs", json={"pm25": reading})
        assert answer.status_code == 204, answer.text
    # the engine's alert, not one the test wrote: found by its source
    handle = page.wait_for_function(
        """eid => [...window.cityhub.alerts.values()]
                 .find(a => a.alertSource === eid && a.severity === 'critical')?.id""",
        arg=eid,
        timeout=30_000,
    )
    alert = handle.json_value()
    stored = city.api.get(f"/entities/{quote(alert, safe=':')}", params={"options": "keyValues"})
    assert stored.json()["data"]["rule"] == "urn:ngsi-ld:AlertRule:cityhub:default:pm25-warning"
    item = f'li.alert[data-alert="{alert}"]'
    page.wait_for_selector(f"{item}.new[data-severity=critical]")
    assert page.locator("#alert-list li.alert").first.get_attribute("data-alert") == alert
    assert "critical" in page.inner_text("#alert-announce")
    assert "190" in page.inner_text(item)  # the engine's description, in English

    page.click(f"{item} button[data-action=acknowledge]")
    page.wait_for_selector(f'{item}[data-acknowledged="true"]')
    path = f"/entities/{quote(alert, safe=':')}"
    assert city.api.get(path, params={"options": "keyValues"}).json()["acknowledged"] is True
    # observed after the 190 (readings carry whole seconds, and all of this can take less than
    # one: a reading no newer than the last one the engine applied is late and changes nothing)
    later = max(datetime.now(UTC), now + timedelta(seconds=1))
    higher = {"pm25": {"type": "Property", "value": 250, "observedAt": _iso(later)}}
    assert city.api.patch(f"/entities/{eid}/attrs", json=higher).status_code == 204
    page.wait_for_function(  # the engine's update reaches the screen, still acknowledged
        "([id, v]) => JSON.stringify(window.cityhub.alerts.get(id)?.data || {}).includes(v)",
        arg=[alert, "250"],
        timeout=30_000,
    )
    kept = city.api.get(path, params={"options": "keyValues"}).json()
    assert kept["acknowledged"] is True and kept["data"]["peak"] == 250, kept
    assert page.get_attribute(item, "data-acknowledged") == "true"
    assert errors == [], errors
    page.close()


def test_acknowledge_and_close_are_written_back_to_the_alert(city: City, browser: Browser) -> None:
    page, _ = _open(browser, city.page_url(), 1920, 1080)
    item = f'li.alert[data-alert="{city.alert}"]'
    page.click(f"{item} button[data-action=acknowledge]")
    page.wait_for_selector(f'{item}[data-acknowledged="true"]')
    stored = city.api.get(f"/entities/{city.alert}", params={"options": "keyValues"}).json()
    assert stored["acknowledged"] is True
    page.click(f"{item} button[data-action=close]")
    page.wait_for_selector(item, state="detached")
    stored = city.api.get(f"/entities/{city.alert}", params={"options": "keyValues"}).json()
    assert "validTo" in stored
    page.close()


def test_the_history_chart_has_a_point_per_hour(city: City, browser: Browser) -> None:
    page, _ = _open(browser, city.page_url(), 1920, 1080)
    page.click(_marker(city.stations[1]))
    page.wait_for_selector("#chart[data-points]")
    page.wait_for_function("() => document.querySelector('#chart').dataset.points === '6'")
    assert page.locator("#chart svg circle").count() == 6
    assert "pm25" in page.inner_text("#history-attr")
    page.click("#history button[data-period=day]")
    page.wait_for_function("() => Number(document.querySelector('#chart').dataset.points) <= 2")
    assert page.get_attribute("#history button[data-period=day]", "aria-pressed") == "true"
    page.close()


def test_the_language_switch_changes_every_label(city: City, browser: Browser) -> None:
    page, _ = _open(browser, city.page_url() + "&lang=ko", 1920, 1080)
    page.evaluate("localStorage.clear()")
    labels = "Array.from(document.querySelectorAll('[data-i18n]'), n => n.textContent)"
    if page.get_attribute("html", "lang") != "ko":
        page.click("#lang")
    korean = page.evaluate(labels)
    layers_ko = page.inner_text("#layers")
    page.click("#lang")
    assert page.get_attribute("html", "lang") == "en"
    english = page.evaluate(labels)
    assert len(korean) == len(english) >= 15
    same = [(k, e) for k, e in zip(korean, english, strict=True) if k == e]
    assert same == [], same
    assert page.inner_text("h1").startswith("Seongnam-si Control tower")  # the city's own name
    assert "Air quality" in page.inner_text("#layers") and "대기질" in layers_ko
    assert page.inner_text("#lang") == "한국어"
    page.close()


def test_the_phone_layout_has_no_horizontal_scroll(city: City, browser: Browser) -> None:
    page, errors = _open(browser, city.page_url(), 390, 844)
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width
    assert page.locator("path[data-level=dong]").count() == 50
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "phone-390x844.png"), full_page=True)
    # a published indicator's choropleth and the zones' gap fit the phone too
    page.click("#layers-box summary")  # closed on a phone: the map first
    page.select_option("#choropleth", "kpi:pm25ExposureWho")
    page.wait_for_selector('#compare[data-loaded="kpi:pm25ExposureWho"]', timeout=10_000)
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width
    page.screenshot(path=str(SHOTS / "phone-indicator-390x844.png"), full_page=True)
    assert errors == [], errors
    page.close()


def test_the_screen_comes_back_after_the_hub_restarts(tmp_path: Path, browser: Browser) -> None:
    port = free_port()
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(store, port, tmp_path)
    closing: list[httpx.Client] = []
    try:
        entities, stations = _city_entities(datetime.now(UTC))
        api = httpx.Client(base_url=hub.url + V1, timeout=30)
        closing.append(api)
        assert api.post("/entityOperations/upsert", json=entities[-6:]).status_code == 201
        page, _ = _open(browser, hub.url + "/", 1280, 800)
        hub.stop()
        page.wait_for_selector("#live[data-state=reconnecting]", timeout=10_000)
        hub = Hub(store, port, tmp_path)
        page.wait_for_selector("#live[data-state=live]", timeout=20_000)
        spike = {"pm25": {"type": "Property", "value": 90}}
        assert api.patch(f"/entities/{stations[0]}/attrs", json=spike).status_code == 204
        page.wait_for_selector(f'{_marker(stations[0])}[data-class="3"]', timeout=5_000)
        page.close()
    finally:
        for client in closing:
            client.close()
        hub.kill()


def test_the_district_choropleth_and_the_zone_comparison(city: City, browser: Browser) -> None:
    page, errors = _open(browser, city.page_url(), 1920, 1080)
    page.select_option("#choropleth", "pm25")
    ramp = ("#2c7bb6", "#abd9e9", "#fdae61", "#d7191c")
    fills = page.eval_on_selector_all(
        "path[data-level=dong]", "nodes => nodes.map(n => n.getAttribute('fill'))"
    )
    coloured = [f for f in fills if f in ramp]
    assert 4 <= len(coloured) <= 6, fills  # the six stations' dong (two may share one)
    zones = page.locator("#compare-body tbody tr")
    assert zones.count() >= 3  # old downtown, 1990s and 2000s new towns, peri-urban
    old_downtown = page.locator("#compare-body tbody tr", has_text="구도심")
    assert "±" in old_downtown.inner_text()  # two dong there: a mean with its interval
    assert errors == [], errors
    page.close()


def test_every_label_exists_in_both_languages(city: City, browser: Browser) -> None:
    """static/i18n.js: Korean and English hold the same keys at every depth (a key only one
    language has shows its raw name to the other's readers), and no label is empty."""
    page, _ = _open(browser, city.page_url(), 1280, 800)
    tree = page.evaluate(
        """async () => {
            const { LABELS } = await import('/dashboard/static/i18n.js');
            const walk = (v, at) => typeof v === 'object' && v !== null
                ? Object.entries(v).flatMap(([k, w]) => walk(w, at + '.' + k))
                : [[at, String(v)]];
            const pairs = Object.entries(LABELS).map(([lang, v]) => [lang, walk(v, '')]);
            return Object.fromEntries(pairs);
        }"""
    )
    page.close()
    assert set(tree) == {"ko", "en"}
    keys = {lang: {k for k, _ in pairs} for lang, pairs in tree.items()}
    assert keys["ko"] - keys["en"] == set() and keys["en"] - keys["ko"] == set()
    assert len(keys["ko"]) > 50
    empty = [(lang, k) for lang, pairs in tree.items() for k, v in pairs if not v.strip()]
    assert empty == []


def test_the_alert_engines_categories_are_named_in_both_languages(
    city: City, browser: Browser
) -> None:
    """Every category and subCategory the default alert rules write (docs/alerts.md) has a
    Korean and an English name on screen; a city's own code shows as it is. An open alert
    (environment / airPollution) reads so in each language."""
    eid = "urn:ngsi-ld:Alert:test:categories-1"  # its own: other tests close the fixture's
    first = city.by_id[city.stations[0]]
    assert city.api.post("/entities", json=_alert(eid, first, "low", datetime.now(UTC))).is_success
    page, _ = _open(browser, city.page_url() + "&lang=en", 1920, 1080)
    rules = default_rules()
    named = page.evaluate(
        """async ([cats, subs]) => {
            const { codeLabel } = await import('/dashboard/static/i18n.js');
            const out = {};
            for (const lang of ['ko', 'en']) {
                out[lang] = [...cats.map(c => [c, codeLabel(lang, 'categories', c)]),
                             ...subs.map(c => [c, codeLabel(lang, 'subCategories', c)])];
            }
            out.own = codeLabel('ko', 'subCategories', 'cityOwnCode');
            return out;
        }""",
        [sorted({r.category for r in rules}), sorted({r.sub_category for r in rules})],
    )
    for lang in ("ko", "en"):
        unnamed = [code for code, shown in named[lang] if shown == code]
        assert unnamed == [], (lang, unnamed)
    assert named["own"] == "cityOwnCode"
    item = f'li.alert[data-alert="{eid}"]'
    assert "Environment / air pollution" in page.inner_text(item)
    page.click("#lang")
    assert "환경 / 대기오염" in page.inner_text(item)
    page.close()


def test_every_indicator_of_the_catalogue_has_its_labels_in_both_languages(
    city: City, browser: Browser
) -> None:
    """Every indicator the city services publish (cityhub/indicators/catalogue.py) has its unit
    (``kpiUnits``) and its kind's gap measure (``measures``) in Korean and English: without
    them the legend and the comparison show the raw English of GET /indicators to Korean
    readers. The indicator's own name comes in both languages from the catalogue's ``title``."""
    page, _ = _open(browser, city.page_url(), 1280, 800)
    labels = page.evaluate("""async () => (await import('/dashboard/static/i18n.js')).LABELS""")
    page.close()
    missing = [
        (lang, table, key)
        for lang in ("ko", "en")
        for indicator in INDICATORS
        for table, key in (("kpiUnits", indicator.name), ("measures", indicator.kind))
        if not str(labels[lang][table].get(key, "")).strip()
    ]
    assert missing == []
    assert all(i.title["ko"].strip() and i.title["en"].strip() for i in INDICATORS)


RAMP = ("#2c7bb6", "#abd9e9", "#fdae61", "#d7191c")


def test_the_districts_coloured_by_a_published_indicator_and_the_gap(
    city: City, browser: Browser
) -> None:
    """Any indicator the city services publish (KeyPerformanceIndicator per dong) colours the
    districts, with its unit, classes and coverage in the legend; the zones' comparison comes
    from GET /indicators/gap with each 95 % interval drawn, and a zone too thin to rank says so."""
    page, errors = _open(browser, city.page_url() + "&lang=en", 1920, 1080)
    names = page.eval_on_selector_all("#choropleth option", "os => os.map(o => o.value)")
    assert "kpi:pm25ExposureWho" in names and "kpi:parkingPressure" in names  # GET /indicators
    page.select_option("#choropleth", "kpi:pm25ExposureWho")
    page.wait_for_selector('#compare[data-loaded="kpi:pm25ExposureWho"]', timeout=10_000)

    fills = page.eval_on_selector_all(
        "path[data-level=dong]", "nodes => nodes.map(n => n.getAttribute('fill'))"
    )
    assert len(fills) == 50 and all(f in RAMP for f in fills), fills  # every dong has a KPI
    dong = 'path[data-district="{}"]'
    assert page.get_attribute(dong.format(city.kpi_dong["worst"]), "fill") == RAMP[3]
    assert page.get_attribute(dong.format(city.kpi_dong["best"]), "fill") == RAMP[0]
    thin = dong.format(city.kpi_dong["thin"])
    assert page.get_attribute(thin, "data-coverage") == str(THIN)
    assert page.get_attribute(thin, "stroke-dasharray")  # faded and dashed, not colour alone
    legend = page.inner_text("#kpi-legend")
    assert "hours per resident" in legend and "2.0 – 5.3" in legend, (
        legend
    )  # unit, classes (2..15 h)
    assert "districts with data 50/50" in legend and "1 under 50 % coverage" in legend, legend

    gap = httpx.get(
        city.hub.url + "/indicators/gap",
        params={"indicator": "pm25ExposureWho"},
        headers=TENANT,
    ).json()
    by_zone = {z["zone"]: z for z in gap["zones"]}
    assert gap["ranking"] == ["old-downtown", "new-town-1990s", "new-town-2000s"]
    row = '#compare-body tr[data-zone="{}"]'
    for zone in ("old-downtown", "new-town-1990s", "new-town-2000s"):
        assert page.get_attribute(row.format(zone), "data-ranked") == "true"
        drawn = page.locator(row.format(zone) + " line.ci-range")
        interval = by_zone[zone]["interval"]
        assert float(drawn.get_attribute("data-low")) == interval["low"]
        assert float(drawn.get_attribute("data-high")) == interval["high"]
        x1, x2 = (float(drawn.get_attribute(a)) for a in ("x1", "x2"))
        assert x1 < x2  # an interval, drawn as one
    assert "1 / 3" in page.inner_text(row.format("old-downtown"))  # the worst first
    peri = row.format("peri-urban")
    assert page.get_attribute(peri, "data-ranked") == "false"
    assert "not ranked: too thin" in page.inner_text(peri)
    assert page.locator(peri + " line.ci-range").count() == 0  # no interval from one dong
    assert "fewer than 3 sensors" in page.inner_text(peri)

    page.click("#lang")  # and in Korean
    assert "순위 없음: 자료 부족" in page.inner_text(peri)
    assert "주민 1인당 시간" in page.inner_text("#kpi-legend")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "wall-indicator-1920x1080.png"))
    assert errors == [], errors
    page.close()


def test_with_access_control_on_the_screen_asks_for_a_key_and_keeps_it_out_of_urls(
    tmp_path: Path, browser: Browser
) -> None:
    """With access control on, the page asks for an API key (the hub answers 401), then reads
    the API and the live feed with it in the Authorization header (the feed with fetch: an
    EventSource cannot send one), never in a URL; a key narrowed to air-quality entities (which
    may not list every type: GET /types is 403) still gets its stations, live."""
    hub = Hub(f"sqlite:///{tmp_path / 'hub.db'}", free_port(), tmp_path)
    try:
        admin_key = httpx.post(f"{hub.url}/admin/keys", json={"name": "ops", "admin": True})
        admin = {"Authorization": f"Bearer {admin_key.json()['key']}"}
        assert httpx.post(
            f"{hub.url}/admin/tenants", json={"name": "seongnam"}, headers=admin
        ).is_success
        key = httpx.post(
            f"{hub.url}/admin/keys", json={"name": "tower", "tenant": "seongnam"}, headers=admin
        ).json()["key"]
        permission = {
            "tenant": "seongnam",
            "action": "read",
            "target": {"type": "AirQualityObserved"},
            "assignee": {"key": key.split("_")[1]},
        }
        assert httpx.post(f"{hub.url}/admin/permissions", json=permission, headers=admin).is_success
        entities, stations = _city_entities(datetime.now(UTC))
        with httpx.Client(base_url=hub.url + V1, headers={**admin, **TENANT}) as api:
            answer = api.post("/entityOperations/upsert", json=entities[-6:])
            assert answer.status_code == 201, answer.text

            page = browser.new_page(viewport={"width": 1280, "height": 800})
            urls: list[str] = []
            feed_auth: list[str | None] = []
            page.on("request", lambda r: urls.append(r.url))
            page.on(
                "request",
                lambda r: (
                    feed_auth.append(r.headers.get("authorization"))
                    if "/dashboard/feed" in r.url
                    else None
                ),
            )
            page.goto(f"{hub.url}/?tenant=seongnam&lang=en")
            page.wait_for_selector("#signin:not([hidden])", timeout=20_000)
            assert page.get_attribute("#credential", "type") == "password"
            page.fill("#credential", key)
            page.click("#signin button[type=submit]")
            page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
            page.wait_for_selector("#live[data-state=live]", timeout=10_000)
            assert page.is_hidden("#signin") and page.is_visible("#signout")
            for eid in stations:
                assert page.get_attribute(_marker(eid), "data-class") == "0"
            spike = {"pm25": {"type": "Property", "value": 180}}
            assert api.patch(f"/entities/{stations[0]}/attrs", json=spike).status_code == 204
            page.wait_for_selector(f'{_marker(stations[0])}[data-class="3"]', timeout=5_000)
            assert feed_auth and all(a == f"Bearer {key}" for a in feed_auth), feed_auth
            secret = key.split("_")[2]
            assert not [u for u in urls if secret in u]  # never in a URL
            assert secret not in hub.output()  # nor in the hub's log
            page.close()
    finally:
        hub.kill()


def test_the_open_data_page_opens_in_korean_like_the_control_tower(
    city: City, browser: Browser
) -> None:
    """/data opens in the city's language, as the control tower does (dashboard_language,
    Korean by default), though Chromium asks for English (Accept-Language: en-US); its link
    switches to English."""
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="en-US")
    requested: list[str | None] = []
    page.on("request", lambda r: requested.append(r.headers.get("accept-language")))
    page.goto(city.hub.url + "/data")
    assert requested and (requested[0] or "").startswith("en")  # the browser prefers English
    assert page.get_attribute("html", "lang") == "ko"
    assert "공공데이터" in page.inner_text("body")
    page.click('a[href$="/data?lang=en"]')
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "en"
    page.goto(city.page_url())  # and the control tower, in the same browser
    page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
    assert page.get_attribute("html", "lang") == "ko"
    page.close()


def test_dense_points_are_counted_in_cells_at_city_zoom_and_drawn_one_by_one_zoomed_in(
    city: City, browser: Browser
) -> None:
    """600 bins at city zoom are cells with their counts (all of them counted once), coloured
    by their worst bin, live; the six stations stay markers; zoomed in, each bin is a marker."""
    page, errors = _open(browser, city.page_url() + "&lang=en", 1920, 1080)
    bins = 'path[data-entity^="urn:ngsi-ld:WasteContainer:dense"]'
    cells = ".ch-cluster[data-type=WasteContainer]"
    assert page.locator(bins).count() == 0
    counts = page.eval_on_selector_all(cells, "ns => ns.map(n => Number(n.dataset.count))")
    assert sum(counts) == DENSE and 1 < len(counts) <= DENSE / 4, counts
    assert page.locator(f'{cells}[data-class="0"]').count() == len(counts)  # 0.2: all good
    for eid in city.stations:
        assert page.locator(_marker(eid)).count() == 1
    one = city.bins[17]
    full = {"fillingLevel": {"type": "Property", "value": 0.97}}
    assert city.api.patch(f"/entities/{one['id']}/attrs", json=full).status_code == 204
    page.wait_for_selector(f'{cells}[data-class="3"]', timeout=5_000)
    assert page.locator(f'{cells}[data-class="3"]').count() == 1
    label = page.get_attribute(f'{cells}[data-class="3"]', "aria-label") or ""
    assert "Bins" in label and "worst: Danger" in label, label
    lng, lat = one["location"]["value"]["coordinates"]
    page.evaluate(f"window.cityhub.map.setView([{lat}, {lng}], 16)")
    page.wait_for_selector(f'{_marker(one["id"])}[data-class="3"]', timeout=5_000)
    assert page.locator(cells).count() == 0
    assert page.locator(bins).count() == DENSE  # one by one (Leaflet draws those out of view too)
    assert errors == [], errors
    page.close()
