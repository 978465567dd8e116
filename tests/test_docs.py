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


def test_readme_names_every_component_ci_installs_for_the_tests() -> None:
    """The tests that need a real component skip without it; the README's testing section names
    each Debian package .ci/run installs, so a reader can run them too."""
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    install = next(line for line in ci.splitlines() if "apt-get install" in line)
    packages = [w for w in install.split("install", 1)[1].split() if not w.startswith(("-", ">"))]
    assert "mosquitto" in packages and "postgresql-15-postgis-3" in packages
    testing = README.split("\n## Testing\n")[1].split("\n## ")[0]
    for package in packages:
        assert f"`{package}`" in testing, f"{package} (installed by .ci/run) is not in ## Testing"
