"""UltraLight 2.0 measure payloads (iotagent-ul docs/usermanual.md "Measure Payload Syntax")."""

from __future__ import annotations

import pytest

from cityhub.iot.errors import WrongSyntax
from cityhub.iot.ultralight import parse_ultralight


def test_pairs_groups_and_timestamps() -> None:
    (g,) = parse_ultralight("t|15|k|abc")
    assert g.values == {"t": "15", "k": "abc"} and g.timestamp is None
    groups = parse_ultralight("gps|1.2/3.4#t|10")
    assert [g.values for g in groups] == [{"gps": "1.2/3.4"}, {"t": "10"}]
    (g,) = parse_ultralight("2016-06-13T00:35:30Z|lle|100")
    assert g.timestamp == "2016-06-13T00:35:30Z" and g.values == {"lle": "100"}


@pytest.mark.parametrize(
    "payload",
    ["", "   ", "t", "t|1|h", "|1", "t|1##h|2", "2016-06-13T00:35:30Z", "notatime|t|1", "#"],
)
def test_malformed(payload: str) -> None:
    with pytest.raises(WrongSyntax) as info:
        parse_ultralight(payload)
    assert info.value.detail


def test_too_many_groups() -> None:
    with pytest.raises(WrongSyntax):
        parse_ultralight("#".join(["t|1"] * 1001))
