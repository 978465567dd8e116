"""The city's working days: weekdays that are not public holidays.

The travel-time index is an indicator of the commuting peaks (DOMAIN.md 6.2 item 3, 4.2), and a
weekday that is a public holiday has none: Chuseok's three days, an election day or a
substitute holiday would otherwise pull the index down as if traffic had improved. The
calendars come from the ``holidays`` package (lunar holidays, substitute days and one-off
holidays such as election days included), chosen by the setting ``holidays_country``.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import date

import holidays


def public_holidays(country: str) -> Container[date]:
    """The public holidays of ``country``: an ISO 3166-1 code such as ``KR``, optionally with
    a subdivision after a hyphen (``US-CA``); empty: none (every weekday works).

    Raises:
        ValueError: a country or subdivision the ``holidays`` package does not know.
    """
    name = country.strip()
    if not name:
        return frozenset()
    code, _, subdivision = name.partition("-")
    try:
        return holidays.country_holidays(code.upper(), subdiv=subdivision or None)
    except NotImplementedError:
        raise ValueError(
            f"setting holidays_country: {country!r} is not a country whose public holidays "
            "are known (an ISO 3166-1 code such as KR; empty for none)"
        ) from None


def is_workday(day: date, holidays_: Container[date]) -> bool:
    """Whether ``day`` is a weekday (Monday to Friday) that is not a public holiday."""
    return day.weekday() < 5 and day not in holidays_


__all__ = ["is_workday", "public_holidays"]
