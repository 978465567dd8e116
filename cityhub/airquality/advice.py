"""Health advice per grade and group, in Korean and English (AirKorea's 국민행동요령,
DOMAIN.md §1.4), as the values of an NGSI-LD LanguageProperty (``{"ko": ..., "en": ...}``).

Groups: the general public (일반인) and sensitive groups (민감군: infants, children, older people,
pregnant women, people with respiratory or cardiovascular disease). The sentences are cityhub's
own wording of the published advice. Dashboards at schools and senior centres show the
sensitive-group line first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

GROUPS: tuple[str, ...] = ("generalPublic", "sensitiveGroups")

_NO_RESTRICTION = {
    "ko": "실외 활동에 제한이 없습니다.",
    "en": "No restriction on outdoor activity.",
}

_ADVICE: Mapping[tuple[str, str], Mapping[str, str]] = {
    ("good", "generalPublic"): _NO_RESTRICTION,
    ("good", "sensitiveGroups"): _NO_RESTRICTION,
    ("moderate", "generalPublic"): _NO_RESTRICTION,
    ("moderate", "sensitiveGroups"): {
        "ko": "특별한 제한은 없지만, 몸 상태에 따라 유의하여 활동하세요.",
        "en": "No special restriction, but take care according to how you feel.",
    },
    ("unhealthy", "generalPublic"): {
        "ko": "장시간 또는 무리한 실외 활동을 줄이세요. 눈이 아프거나 기침, 목 통증이 있으면 "
        "실외 활동을 피하세요.",
        "en": "Limit long or strenuous outdoor activity; anyone with sore eyes, a cough or a "
        "sore throat should avoid outdoor activity.",
    },
    ("unhealthy", "sensitiveGroups"): {
        "ko": "장시간 또는 무리한 실외 활동을 줄이세요. 천식이 있는 분은 실외에서 흡입기를 더 "
        "자주 사용해야 할 수 있습니다.",
        "en": "Limit long or strenuous outdoor activity; people with asthma may need their "
        "inhaler more often outdoors.",
    },
    ("veryUnhealthy", "generalPublic"): {
        "ko": "장시간 또는 무리한 실외 활동을 줄이세요. 기침이나 목 통증이 있으면 외출을 피하세요.",
        "en": "Limit long or strenuous outdoor activity; anyone with a cough or a sore throat "
        "should avoid going out.",
    },
    ("veryUnhealthy", "sensitiveGroups"): {
        "ko": "가능한 한 실내에 머무르세요. 실외 활동 전에는 의사와 상의하세요.",
        "en": "Stay indoors as far as possible; consult a doctor before outdoor activity.",
    },
}

#: ozone above 350: no outdoor physical activity for anyone (DOMAIN.md §1.4)
_OZONE_TOP = {
    "ko": "모든 사람은 실외 신체 활동을 하지 마세요.",
    "en": "No outdoor physical activity for anyone.",
}
#: NO2 and SO2 at unhealthy or worse: the advice names who it is for
_GAS_NOTE = {
    "ko": " (어린이와 천식 등 호흡기 질환이 있는 성인에게 특히 해당합니다.)",
    "en": " (This applies in particular to children and adults with respiratory disease "
    "such as asthma.)",
}


@dataclass(frozen=True)
class Advice:
    """The advice for one group: a LanguageProperty value, one sentence per language."""

    group: str
    grade: str
    text: Mapping[str, str]


def health_advice(
    grade: str, pollutant: str | None = None, index: int | None = None
) -> list[Advice]:
    """The advice for every group at a grade, sensitive groups first.

    Args:
        grade: ``good``, ``moderate``, ``unhealthy`` or ``veryUnhealthy``.
        pollutant: the governing pollutant, when the advice should say what it is about.
        index: the governing sub-index (ozone above 350 has advice of its own).

    Raises:
        KeyError: an unknown grade.
    """
    result = []
    for group in ("sensitiveGroups", "generalPublic"):
        text = dict(_ADVICE[(grade, group)])
        if pollutant == "o3" and index is not None and index > 350:
            text = dict(_OZONE_TOP)
        elif pollutant in ("no2", "so2") and grade in ("unhealthy", "veryUnhealthy"):
            text = {lang: sentence + _GAS_NOTE[lang] for lang, sentence in text.items()}
        result.append(Advice(group, grade, text))
    return result


__all__ = ["GROUPS", "Advice", "health_advice"]
