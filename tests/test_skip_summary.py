"""The end of a test run says what was skipped, by reason, and how to run it
(tests/skip_summary.py), even under ``-q`` (the project's addopts)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent

SAMPLE = """
import pytest

NO_BROKER = "the mosquitto binary is not installed (Debian package mosquitto)"


@pytest.mark.skipif(True, reason=NO_BROKER)
def test_mqtt_one():
    pass


@pytest.mark.skipif(True, reason=NO_BROKER)
def test_mqtt_two():
    pass


@pytest.fixture
def database():
    pytest.skip("PostgreSQL is not installed (no initdb; Debian: postgresql-15-postgis-3)")


def test_postgres(database):
    pass


def test_runs():
    assert True
"""


def _run(tmp_path: Path, source: str, *args: str) -> str:
    (tmp_path / "test_sample.py").write_text(source)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.skip_summary", "-p", "no:cacheprovider"]
        + [*args, "test_sample.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_skips_are_grouped_by_reason_with_how_to_run_them(tmp_path: Path) -> None:
    out = _run(tmp_path, SAMPLE, "-q")
    assert "skipped: 3 of 4 tests (75%), by reason" in out, out
    lines = out.split("by reason")[1].splitlines()
    broker = next(i for i, line in enumerate(lines) if "mosquitto binary" in line)
    assert lines[broker].split()[0] == "2"  # the larger group first, with its count
    assert "in test_sample.py" in lines[broker + 1]
    postgres = next(i for i, line in enumerate(lines) if "PostgreSQL is not installed" in line)
    assert lines[postgres].split()[0] == "1" and postgres > broker
    assert "To run them:" in out and "mosquitto postgresql-15-postgis-3" in out
    assert "CITYHUB_TEST_POSTGRES_URL" in out


def test_a_run_without_skips_says_so(tmp_path: Path) -> None:
    out = _run(tmp_path, "def test_runs():\n    assert True\n", "-q")
    assert "skipped: none (1 tests ran)" in out
    assert "by reason" not in out
