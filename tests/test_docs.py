"""Every setting is documented in the README's settings table (datasette's docs-test idea)."""

from __future__ import annotations

from pathlib import Path

from cityhub.settings import SETTINGS

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme() -> None:
    for s in SETTINGS:
        row = f"| {s.name} | `{s.env}` |"
        assert row in README, f"setting {s.name} is missing from the README table"


def test_readme_first_screen_has_the_two_commands() -> None:
    first = README.split("\n## ")[0]
    assert "cityhub serve" in first
    assert "scripts/test" in first
