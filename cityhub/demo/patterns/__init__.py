"""Pure daily and seasonal patterns of the demo city (``shared/DOMAIN.md`` section 4).

Every function maps (seed, simulated time, the asset's parameters) to a value, with no state: the
same seed gives the same reading for the same sensor at the same time, during the backfill and
live alike, so tests can check the daily and seasonal shapes directly. Times are aware
``datetime`` objects; the patterns follow Korean local time (UTC+9).
"""
