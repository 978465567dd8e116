"""The demo city: Seongnam's 54 districts and a few hundred assets placed inside them, as
Smart Data Models entities (DOMAIN.md section 6.1). The layout is fixed (its own seed), so ids and
places are the same on every run; only the readings depend on the simulator's seed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from cityhub.demo.geography import Geography
from cityhub.demo.layout import build_assets
from cityhub.demo.model import Asset


@dataclass
class City:
    """The demo city's assets."""

    geography: Geography
    assets: list[Asset]
    by_id: dict[str, Asset] = field(init=False)
    by_kind: dict[str, list[Asset]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {a.id: a for a in self.assets}
        self.by_kind = {}
        for a in self.assets:
            self.by_kind.setdefault(a.kind, []).append(a)

    @property
    def live(self) -> list[Asset]:
        """The assets that report readings (not districts, roads, devices or static places)."""
        return [a for a in self.assets if a.kind not in ("static", "device")]

    def counts(self) -> Counter[str]:
        """How many entities of each type."""
        return Counter(a.entity_type for a in self.assets)


def build_city(geography: Geography | None = None) -> City:
    """The demo city: every district and asset, in a fixed layout."""
    geo = geography or Geography.load()
    return City(geo, build_assets(geo))
