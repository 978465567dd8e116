"""The gap, honestly (issue 16 deliverable 4), pure: pooled zone values with a bootstrap
interval over districts, no ranking where the data is too thin, differences from the
reference zone called clear only when their interval leaves out zero."""

from __future__ import annotations

from cityhub.indicators.catalogue import BY_NAME
from cityhub.indicators.gap import CSV_COLUMNS, MIN_DISTRICTS, District, compare, csv_rows
from cityhub.indicators.tally import Tally

PARKING = BY_NAME["parkingPressure"]


def district(zone: str, n: int, num: float, den: float, sensors: int = 1) -> District:
    tally = Tally(num=num, den=den, expected=int(den), reporting=int(den), sensors=sensors)
    return District(f"urn:{zone}:{n}", f"{zone} {n}", zone, tally)


def zones(report: dict) -> dict:  # type: ignore[type-arg]
    return {z["zone"]: z for z in report["zones"]}


def test_pooled_values_intervals_ranking_and_a_clear_difference() -> None:
    old = [district("old-downtown", i, num, 24) for i, num in enumerate((20, 22, 18, 21))]
    new = [district("new-town-1990s", i, num, 24) for i, num in enumerate((2, 3, 1, 4))]
    report = compare(PARKING, old + new)
    z = zones(report)
    assert z["old-downtown"]["value"] == round(81 / 96, 6)
    assert z["new-town-1990s"]["value"] == round(10 / 96, 6)
    for row in z.values():
        low, high = row["interval"]["low"], row["interval"]["high"]
        assert low <= row["value"] <= high and row["enoughData"]
    assert report["ranking"] == ["old-downtown", "new-town-1990s"]  # higher is worse
    assert report["reference"] == "old-downtown"
    (diff,) = report["differences"]
    assert diff["zone"] == "new-town-1990s" and diff["clear"] is True
    assert diff["minusReference"] == round(10 / 96 - 81 / 96, 6)
    assert diff["interval"]["high"] < 0
    # the same input gives the same answer (a fixed seed)
    assert compare(PARKING, old + new) == report


def test_thin_data_is_not_ranked_and_says_why() -> None:
    old = [district("old-downtown", i, 10, 24) for i in range(MIN_DISTRICTS)]
    thin = [district("peri-urban", 0, 1, 24), district("peri-urban", 1, 0, 0, sensors=0)]
    report = compare(PARKING, old + thin)
    peri = zones(report)["peri-urban"]
    assert peri["enoughData"] is False and peri["interval"] is None
    assert {r["threshold"] for r in peri["notEnough"]} == {"minDistricts", "minSensors"}
    assert all(r["why"] for r in peri["notEnough"])
    assert report["ranking"] is None
    assert "fewer than two zones" in report["rankingWithheld"]
    assert report["differences"][0]["clear"] is False
    assert report["thresholds"]["minDistricts"] == MIN_DISTRICTS


def test_overlapping_zones_are_not_a_clear_difference_and_low_coverage_withholds() -> None:
    a = [district("old-downtown", i, num, 24) for i, num in enumerate((2, 20, 5, 18))]
    b = [district("new-town-2000s", i, num, 24) for i, num in enumerate((3, 19, 6, 17))]
    report = compare(PARKING, a + b)
    assert report["differences"][0]["clear"] is False
    sparse = [
        District(
            f"urn:s:{i}",
            "s",
            "peri-urban",
            Tally(num=1, den=2, expected=24, reporting=2, sensors=2),
        )
        for i in range(4)
    ]
    z = zones(compare(PARKING, a + sparse))["peri-urban"]
    assert [r["threshold"] for r in z["notEnough"]] == ["minCoverage"]


def test_an_indicator_without_a_direction_is_never_ranked_and_csv_has_a_row_per_zone() -> None:
    cai = BY_NAME["caiGradeDistribution"]
    rows = []
    for zone in ("old-downtown", "new-town-1990s"):
        for i in range(3):
            t = Tally(
                den=10, expected=10, reporting=10, sensors=1, parts={"good": 7, "unhealthy": 3}
            )
            rows.append(District(f"urn:{zone}:{i}", "x", zone, t))
    report = compare(cai, rows)
    assert report["ranking"] is None and "direction" in report["rankingWithheld"]
    assert zones(report)["old-downtown"]["value"] == 0.3  # share unhealthy or worse
    table = csv_rows({**report, "frequency": "daily", "level": "dong", "period": None})
    assert len(table) == 2 and all(len(r) == len(CSV_COLUMNS) for r in table)


def test_districts_a_neighbours_sensor_stands_in_for_are_not_new_evidence() -> None:
    exposure = BY_NAME["pm25ExposureWho"]

    def d(zone: str, n: int, num: float, estimated: float) -> District:
        t = Tally(num=num, den=100, expected=1, reporting=1, sensors=1, estimated=estimated)
        return District(f"urn:{zone}:{n}", "x", zone, t)

    old = [d("old-downtown", i, 50, 0) for i in range(3)]
    old += [d("old-downtown", 10 + i, 100, 100) for i in range(5)]  # all borrowed
    z = zones(compare(exposure, old))["old-downtown"]
    assert z["districtsMeasured"] == 3 and z["districtsWithData"] == 8
    assert z["value"] == 0.5  # the measured districts'
    assert z["valueWithEstimates"] == round(650 / 800, 6)
    thin = [d("peri-urban", 0, 50, 0)] + [d("peri-urban", i, 60, 100) for i in range(1, 4)]
    z = zones(compare(exposure, old + thin))["peri-urban"]
    assert "minDistricts" in [r["threshold"] for r in z["notEnough"]]
