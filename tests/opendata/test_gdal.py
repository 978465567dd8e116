"""GDAL reads the open data of a served hub (issue 19 "checked by"): its OGC API - Features
driver (OAPIF) lists the collections and reads every published type with a bbox (``-spat``);
unpublished types never appear. Skipped, with the reason, where gdal-bin is not installed."""

from __future__ import annotations

import re

from tests.opendata.served import needs_gdal, ogr, served_city  # noqa: F401 (fixture)

pytestmark = needs_gdal


def _features(listing: str) -> list[str]:
    return re.findall(r"^OGRFeature\(\w+\):", listing, re.MULTILINE)


def test_gdal_lists_the_published_collections(served_city: str) -> None:  # noqa: F811
    listing = ogr("ogrinfo", "-ro", "-q", f"OAPIF:{served_city}/ogcapi/")
    assert "AirQualityObserved" in listing
    assert "OffStreetParking" in listing
    assert "Camera" not in listing


def test_gdal_reads_every_published_type_with_a_bbox(served_city: str) -> None:  # noqa: F811
    source = f"OAPIF:{served_city}/ogcapi/"
    everything = ogr("ogrinfo", "-ro", "-al", source, "AirQualityObserved")
    assert len(_features(everything)) == 5
    assert "secretNote" not in everything
    assert "pm25 (Real) = 55.5" in everything or "pm25 (Real) = 55.500" in everything
    seongnam = ogr(
        "ogrinfo", "-ro", "-al", "-spat", "127.05", "37.30", "127.20", "37.45", source,
        "AirQualityObserved",
    )  # fmt: skip
    assert len(_features(seongnam)) == 4
    assert "AirQualityObserved:3" not in seongnam  # Seoul, outside the box
    parking = ogr(
        "ogrinfo", "-ro", "-al", "-spat", "127.0", "37.3", "127.2", "37.5", source,
        "OffStreetParking",
    )  # fmt: skip
    assert len(_features(parking)) == 1
    assert "availableSpotNumber (Integer) = 7" in parking


def test_gdal_cannot_open_an_unpublished_type(served_city: str) -> None:  # noqa: F811
    import subprocess

    done = subprocess.run(
        ["ogrinfo", "-ro", "-al", f"OAPIF:{served_city}/ogcapi/", "Camera"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "rtsp" not in done.stdout + done.stderr
