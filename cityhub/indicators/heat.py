"""Apparent temperature as the Korea Meteorological Administration computes it in summer, from
air temperature and relative humidity. Pure.

KMA's heat-wave warnings (폭염특보) have been based on the daily maximum *apparent* temperature
(체감온도) since 2020 (trial) and 2023 (official), at 33 °C (advisory) and 35 °C (warning)
(DOMAIN.md 4.6). KMA's summer apparent temperature (기상자료개방포털, "체감온도" 산출식,
revised 2022) is a fit on the wet-bulb temperature::

    AT = -0.2442 + 0.55399 Tw + 0.45535 Ta - 0.0022 Tw² + 0.00278 Tw Ta + 3.0

with Ta the air temperature (°C) and Tw the wet-bulb temperature from Stull's empirical formula
(R. Stull, "Wet-bulb temperature from relative humidity and air temperature", J. Appl. Meteor.
Climatol. 50, 2011, doi:10.1175/JAMC-D-11-0143.1), RH in percent::

    Tw = Ta atan(0.151977 (RH + 8.313659)^0.5) + atan(Ta + RH) - atan(RH - 1.676331)
         + 0.00391838 RH^1.5 atan(0.023101 RH) - 4.686035

The fit makes the apparent temperature equal the air temperature at about 55 % humidity (35 °C
at 55 % gives 35.0; at 30 % 32.0; at 80 % 37.2). KMA uses it from May to September and the wind
chill in the cold months; the heat indicator applies it all year, since only summer air reaches
33 °C apparent.
"""

from __future__ import annotations

import math

#: the heat indicator's threshold: KMA's heat-wave advisory (폭염주의보) level
HEAT_APPARENT_C = 33.0


def wet_bulb_stull(temp_c: float, rh_percent: float) -> float:
    """Wet-bulb temperature (°C) by Stull (2011), at sea-level pressure."""
    rh = rh_percent
    return (
        temp_c * math.atan(0.151977 * math.sqrt(rh + 8.313659))
        + math.atan(temp_c + rh)
        - math.atan(rh - 1.676331)
        + 0.00391838 * math.pow(rh, 1.5) * math.atan(0.023101 * rh)
        - 4.686035
    )


def apparent_temperature_kma(temp_c: float, rh_percent: float) -> float:
    """KMA's summer apparent temperature (°C) from air temperature (°C) and relative humidity
    (percent, 0-100)."""
    tw = wet_bulb_stull(temp_c, rh_percent)
    return (
        -0.2442 + 0.55399 * tw + 0.45535 * temp_c - 0.0022 * tw * tw + 0.00278 * tw * temp_c + 3.0
    )


__all__ = ["HEAT_APPARENT_C", "apparent_temperature_kma", "wet_bulb_stull"]
