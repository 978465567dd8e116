"""The default rules (DOMAIN.md §6.3), on in every tenant until the tenant changes them.

Each is an ordinary rule with an id under ``urn:ngsi-ld:AlertRule:cityhub:default:``: a tenant
overrides one by creating an ``AlertRule`` entity with the same id (``"enabled": false``
switches it off), and adds its own under any other id.

Thresholds: the PM and ozone triggers are DOMAIN.md §1.2's (marked there as widely published,
to be verified before production); the release levels (``exitThreshold``: a PM2.5 advisory ends
below 35, a PM10 one below 80) are AirKorea's practice as commonly quoted, equally to be
verified. "≥ 75 for 2 h" reads as two consecutive hourly values: a reading stands for the hour
before it (``cityhub.alerts.episode.READING_SPAN``), so ``enterAfter`` is 7200.
"""

from __future__ import annotations

from typing import Any

from cityhub.airquality.advice import health_advice
from cityhub.alerts.rules import Rule, parse_rule

PREFIX = "urn:ngsi-ld:AlertRule:cityhub:default:"
_HOUR = 3600


def _sensitive(grade: str) -> dict[str, str]:
    return dict(health_advice(grade)[0].text)  # sensitive groups come first


_AQ = "AirQualityObserved"
_RAIN_ADVICE = {
    "ko": "하천변 산책로와 지하차도를 피하세요.",
    "en": "Keep away from riverside walkways and underpasses.",
}
_ENV = {"category": "environment", "subCategory": "airPollution"}

_DEFAULTS: dict[str, dict[str, Any]] = {
    "pm25-advisory": {
        **_ENV,
        "ruleKind": "threshold",
        "entityType": _AQ,
        "watchedAttribute": "pm25",
        "operator": ">=",
        "threshold": 75,
        "exitThreshold": 35,
        "enterAfter": 2 * _HOUR,
        "exitAfter": _HOUR,
        "severity": "high",
        "title": {"ko": "초미세먼지(PM2.5) 주의보", "en": "PM2.5 advisory"},
        "advice": _sensitive("veryUnhealthy"),
    },
    "pm25-warning": {
        **_ENV,
        "ruleKind": "threshold",
        "entityType": _AQ,
        "watchedAttribute": "pm25",
        "operator": ">=",
        "threshold": 150,
        "exitThreshold": 75,
        "enterAfter": 2 * _HOUR,
        "exitAfter": _HOUR,
        "severity": "critical",
        "title": {"ko": "초미세먼지(PM2.5) 경보", "en": "PM2.5 warning"},
        "advice": _sensitive("veryUnhealthy"),
    },
    "pm10-advisory": {
        **_ENV,
        "ruleKind": "threshold",
        "entityType": _AQ,
        "watchedAttribute": "pm10",
        "operator": ">=",
        "threshold": 150,
        "exitThreshold": 80,
        "enterAfter": 2 * _HOUR,
        "exitAfter": _HOUR,
        "severity": "high",
        "title": {"ko": "미세먼지(PM10) 주의보", "en": "PM10 advisory"},
        "advice": _sensitive("unhealthy"),
    },
    "pm10-warning": {
        **_ENV,
        "ruleKind": "threshold",
        "entityType": _AQ,
        "watchedAttribute": "pm10",
        "operator": ">=",
        "threshold": 300,
        "exitThreshold": 150,
        "enterAfter": 2 * _HOUR,
        "exitAfter": _HOUR,
        "severity": "critical",
        "title": {"ko": "미세먼지(PM10) 경보", "en": "PM10 warning"},
        "advice": _sensitive("veryUnhealthy"),
    },
    "ozone-advisory": {
        **_ENV,
        "ruleKind": "threshold",
        "entityType": _AQ,
        "watchedAttribute": "o3",
        "operator": ">=",
        "threshold": 0.12,
        "severity": "high",
        "title": {"ko": "오존 주의보", "en": "Ozone advisory"},
        "advice": _sensitive("unhealthy"),
    },
    "asian-dust": {
        "ruleKind": "ratio",
        "entityType": _AQ,
        "watchedAttribute": "pm10",
        "operator": ">=",
        "threshold": 150,
        "ratioAttribute": "pm25",
        "ratioBelow": 0.35,
        "category": "weather",
        "subCategory": "dust",
        "severity": "medium",
        "title": {"ko": "황사", "en": "Asian dust"},
        "advice": _sensitive("unhealthy"),
    },
    "cai-unhealthy": {
        **_ENV,
        "ruleKind": "threshold",
        "entityType": _AQ,
        "watchedAttribute": "airQualityIndex",
        "operator": ">",
        "threshold": 100,
        "enterAfter": 2 * _HOUR,
        "exitAfter": 3 * _HOUR,
        "severity": "medium",
        "title": {"ko": "통합대기환경지수 나쁨", "en": "Air quality unhealthy (CAI)"},
        "advice": _sensitive("unhealthy"),
    },
    "cai-very-unhealthy": {
        **_ENV,
        "ruleKind": "threshold",
        "entityType": _AQ,
        "watchedAttribute": "airQualityIndex",
        "operator": ">",
        "threshold": 250,
        "enterAfter": 2 * _HOUR,
        "exitAfter": 3 * _HOUR,
        "severity": "high",
        "title": {"ko": "통합대기환경지수 매우나쁨", "en": "Air quality very unhealthy (CAI)"},
        "advice": _sensitive("veryUnhealthy"),
    },
    "flood-alert-level": {
        "ruleKind": "threshold",
        "entityType": "FloodMonitoring",
        "watchedAttribute": "currentLevel",
        "operator": ">=",
        "thresholdAttribute": "alertLevel",
        "category": "naturalDisaster",
        "subCategory": "floodRisk",
        "severity": "high",
        "exitAfter": 1800,
        "title": {"ko": "하천 수위 주의 (산책로 통제)", "en": "Flood alert level (close walkways)"},
    },
    "flood-danger-level": {
        "ruleKind": "threshold",
        "entityType": "FloodMonitoring",
        "watchedAttribute": "currentLevel",
        "operator": ">=",
        "thresholdAttribute": "dangerLevel",
        "category": "naturalDisaster",
        "subCategory": "flood",
        "severity": "critical",
        "exitAfter": 1800,
        "title": {"ko": "하천 수위 위험 (대피)", "en": "Flood danger level (evacuate)"},
    },
    "water-rising-fast": {
        "ruleKind": "rateOfChange",
        "entityType": "FloodMonitoring",
        "watchedAttribute": "currentLevel",
        "operator": ">=",
        "threshold": 0.5,
        "exitAfter": 1800,
        "category": "naturalDisaster",
        "subCategory": "floodRisk",
        "severity": "medium",
        "title": {
            "ko": "수위 급상승 (시간당 0.5 m 이상)",
            "en": "Water rising fast (0.5 m an hour)",
        },
    },
    "waste-container-full": {
        "ruleKind": "threshold",
        "entityType": "WasteContainer",
        "watchedAttribute": "fillingLevel",
        "operator": ">=",
        "threshold": 0.9,
        "thresholdAttribute": "binFullnessThreshold",
        "enterAfter": 1800,
        "category": "environment",
        "subCategory": "wasteContainerFull",
        "severity": "low",
        "title": {"ko": "쓰레기통 가득 참", "en": "Waste container full"},
    },
    "waste-container-fire": {
        "ruleKind": "threshold",
        "entityType": "WasteContainer",
        "watchedAttribute": "status",
        "operator": "==",
        "threshold": "burning",
        "category": "environment",
        "subCategory": "wasteContainerFire",
        "severity": "critical",
        "title": {"ko": "쓰레기통 화재", "en": "Waste container on fire"},
    },
    "parking-full": {
        "ruleKind": "threshold",
        "entityType": "OffStreetParking",
        "watchedAttribute": "occupancy",
        "operator": ">=",
        "threshold": 0.95,
        "enterAfter": 900,
        "category": "traffic",
        "subCategory": "parkingFull",
        "severity": "informational",
        "title": {"ko": "주차장 만차", "en": "Car park full"},
    },
    "congestion": {
        "ruleKind": "threshold",
        "entityType": "TrafficFlowObserved",
        "watchedAttribute": "averageVehicleSpeed",
        "operator": "<=",
        "threshold": 15,
        "exitThreshold": 20,
        "enterAfter": 900,
        "category": "traffic",
        "subCategory": "trafficJam",
        "severity": "low",
        "title": {"ko": "교통 정체", "en": "Traffic jam"},
    },
    "streetlight-fault": {
        "ruleKind": "threshold",
        "entityType": "Streetlight",
        "watchedAttribute": "status",
        "operator": "!=",
        "threshold": "ok",
        "category": "security",
        "subCategory": "streetlightFault",
        "severity": "medium",
        "title": {"ko": "가로등 고장", "en": "Streetlight fault"},
    },
    "device-offline": {
        "ruleKind": "deviceOffline",
        "entityType": "Device",
        "reportAttribute": "dateLastValueReported",
        "expectedInterval": _HOUR,
        "intervalFactor": 3,
    },
    "battery-low": {"ruleKind": "batteryLow", "entityType": "Device"},
    "pm25-stuck": {"ruleKind": "stuckValue", "entityType": _AQ, "watchedAttribute": "pm25"},
    "pm25-range": {
        "ruleKind": "outOfRange",
        "entityType": _AQ,
        "watchedAttribute": "pm25",
        "minimum": 0,
        "maximum": 1000,
    },
    "pm10-range": {
        "ruleKind": "outOfRange",
        "entityType": _AQ,
        "watchedAttribute": "pm10",
        "minimum": 0,
        "maximum": 2000,
    },
    "temperature-range": {
        "ruleKind": "outOfRange",
        "entityType": "WeatherObserved",
        "watchedAttribute": "temperature",
        "minimum": -50,
        "maximum": 60,
    },
    # weather over hours and days (window rules): the rain of 3 and 12 hours, the 24-hour
    # maximum apparent / minimum temperature held for 36 hours, which takes the heat (cold)
    # on two days: one hot afternoon keeps the 24-hour maximum up for some 24-30 hours
    **{
        f"heavy-rain-{level}-{hours}h": {
            "ruleKind": "window",
            "entityType": "WeatherObserved",
            "watchedAttribute": "precipitation",
            "aggregate": "sum",
            "window": hours * _HOUR,
            "operator": ">=",
            "threshold": amount,
            "category": "weather",
            "subCategory": "rainfall",
            "severity": severity,
            "title": {
                "ko": f"호우{'주의보' if level == 'advisory' else '경보'} ({hours}시간 강수량)",
                "en": f"Heavy rain {level} ({hours}-hour rainfall)",
            },
            "advice": _RAIN_ADVICE,
        }
        for level, severity, by_hours in (
            ("advisory", "medium", ((3, 60), (12, 110))),
            ("warning", "high", ((3, 90), (12, 180))),
        )
        for hours, amount in by_hours
    },
    **{
        f"heat-wave-{level}": {
            "ruleKind": "window",
            "entityType": "WeatherObserved",
            "watchedAttribute": "feelsLikeTemperature",
            "aggregate": "max",
            "window": 24 * _HOUR,
            "operator": ">=",
            "threshold": threshold,
            "enterAfter": 36 * _HOUR,
            "category": "weather",
            "subCategory": "heatWave",
            "severity": severity,
            "title": {
                "ko": f"폭염{'주의보' if level == 'advisory' else '경보'}",
                "en": f"Heat wave {level}",
            },
            "advice": {
                "ko": "무더위쉼터를 여세요. 홀로 사는 어르신의 안부를 확인하세요.",
                "en": "Open the heat shelters; check on older people living alone.",
            },
        }
        for level, severity, threshold in (("advisory", "medium", 33), ("warning", "high", 35))
    },
    **{
        f"cold-wave-{level}": {
            "ruleKind": "window",
            "entityType": "WeatherObserved",
            "watchedAttribute": "temperature",
            "aggregate": "min",
            "window": 24 * _HOUR,
            "operator": "<=",
            "threshold": threshold,
            "enterAfter": 36 * _HOUR,
            "category": "weather",
            "subCategory": "coldWave",
            "severity": severity,
            "title": {
                "ko": f"한파{'주의보' if level == 'advisory' else '경보'}",
                "en": f"Cold wave {level}",
            },
            "advice": {
                "ko": "한파쉼터를 여세요. 홀로 사는 어르신의 안부를 확인하세요.",
                "en": "Open the warming shelters; check on older people living alone.",
            },
        }
        for level, severity, threshold in (("advisory", "medium", -12), ("warning", "high", -15))
    },
}


def default_documents() -> dict[str, dict[str, Any]]:
    """Rule id -> the default's members (a copy, as an AlertRule entity would carry them)."""
    return {PREFIX + name: dict(doc) for name, doc in _DEFAULTS.items()}


def default_rules() -> list[Rule]:
    """The default rules, parsed."""
    return [parse_rule(rule_id, doc) for rule_id, doc in default_documents().items()]


__all__ = ["PREFIX", "default_documents", "default_rules"]
