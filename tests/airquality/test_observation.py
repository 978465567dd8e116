"""From an AirQualityObserved entity (any vocabulary) to the attributes the CAI service writes."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.airquality.observation import (
    ADVICE_DATASET,
    assess_observation,
    observation_namespace,
    readings,
    split_iri,
)

SDM = "https://smartdatamodels.org/dataModel.Environment/"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
AT = "2026-12-06T09:00:00Z"


def observation(ns: str, **values: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for name, value in values.items():
        unit = None
        if isinstance(value, tuple):
            value, unit = value
        instance = {"type": "Property", "value": value, "observedAt": AT}
        if unit:
            instance["unitCode"] = unit
        attrs[ns + name] = [instance]
    return {
        "id": "urn:ngsi-ld:AirQualityObserved:x",
        "type": [ns + "AirQualityObserved"],
        "attrs": attrs,
    }


CLEAN = {"pm10": 20.0, "pm25": 25.0, "no2": 0.02, "o3": 0.02}
STEADY = {"pm10": [20.0] * 12, "pm25": [25.0] * 12}


def test_split_iri() -> None:
    assert split_iri(SDM + "pm25") == (SDM, "pm25")
    assert split_iri("urn:x:pm25") == ("urn:x:", "pm25")


@pytest.mark.parametrize("ns", [SDM, DEFAULT])
def test_the_index_is_written_in_the_observations_own_vocabulary(ns: str) -> None:
    attrs = assess_observation(observation(ns, **CLEAN), STEADY)
    assert attrs is not None
    assert attrs[ns + "airQualityIndex"][0]["value"] == 74  # PM2.5 25 governs
    assert attrs[ns + "airQualityIndex"][0]["observedAt"] == AT
    assert attrs[ns + "airQualityIndex"][0][ns + "governingPollutant"]["value"] == "pm25"
    assert attrs[ns + "airQualityLevel"][0]["value"] == "moderate"
    level_name = attrs[ns + "airQualityLevel"][0][ns + "levelName"]["languageMap"]
    assert level_name == {"ko": "보통", "en": "moderate"}
    assert attrs[ns + "airQualityIndexStatus"][0]["value"] == "computed"
    assert set(attrs[ns + "caiSubIndex"][0]["value"]) == {"pm10", "pm25", "no2", "o3"}
    who = attrs[ns + "whoGuideline"][0]["value"]["pm25"]
    assert (who["ratio"], who["exceeds"], who["valueAveraging"]) == (1.667, True, "24h")
    advice = attrs[ns + "healthAdvice"]
    assert [a["datasetId"] for a in advice] == [
        ADVICE_DATASET + "sensitiveGroups",
        ADVICE_DATASET + "generalPublic",
    ]
    assert all(set(a["languageMap"]) == {"ko", "en"} for a in advice)


def test_not_an_observation() -> None:
    entity = observation(SDM, **CLEAN)
    entity["type"] = [SDM + "WeatherObserved"]
    assert observation_namespace(entity) is None
    assert assess_observation(entity, STEADY) is None


def test_gases_in_mass_units_are_converted() -> None:
    found = readings(observation(SDM, no2=(37.64, "GQ"), co=(1.145, "GP"), o3=(30.0, "61")), SDM)
    assert found.values["no2"].value == pytest.approx(0.02)
    assert found.values["co"].value == pytest.approx(1.0)
    assert found.values["o3"].value == pytest.approx(0.03)


def test_what_cannot_be_used_is_reported_not_guessed() -> None:
    found = readings(observation(SDM, pm25=-5, pm10="high", no2=(1.0, "XYZ"), o3=1e400), SDM)
    assert found.values == {}
    assert set(found.problems) == {"pm25", "pm10", "no2", "o3"}
    assert "not a concentration" in found.problems["pm25"]
    assert "not a number" in found.problems["pm10"]
    assert "unitCode 'XYZ'" in found.problems["no2"]


def test_no_index_says_why() -> None:
    thin = {"pm10": [20.0] * 12, "pm25": [None] * 10 + [25.0, 25.0]}
    attrs = assess_observation(observation(SDM, **CLEAN), thin)
    assert attrs is not None
    assert SDM + "airQualityIndex" not in attrs and SDM + "healthAdvice" not in attrs
    status = attrs[SDM + "airQualityIndexStatus"][0]
    assert status["value"] == "notComputed"
    reason = status[SDM + "statusReason"]["value"]
    assert "missing: pm25" in reason and "too few hourly pm25 values" in reason
    # what was measured is still there
    assert "pm10" in attrs[SDM + "caiSubIndex"][0]["value"]


def test_missing_gases_give_no_index() -> None:
    attrs = assess_observation(observation(SDM, pm10=20.0, pm25=25.0), STEADY)
    assert attrs is not None
    reason = attrs[SDM + "airQualityIndexStatus"][0][SDM + "statusReason"]["value"]
    assert "missing: no2, o3" in reason
