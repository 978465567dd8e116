"""A pytest plugin (loaded by tests/conftest.py): the end of every run says what was skipped,
grouped by reason, and how to run it.

Tests that need a real Mosquitto, PostgreSQL with PostGIS, wrk or GDAL skip when these are
missing (each with a reason naming what to install); pytest's own report lists skips only
under ``-rs``, and the project runs with ``-q``. This summary prints with any verbosity.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

HOW_TO_RUN = (
    "To run them: apt-get install mosquitto postgresql-15-postgis-3 wrk gdal-bin (as .ci/run "
    "does), or set "
    "CITYHUB_TEST_POSTGRES_URL to a PostgreSQL with PostGIS; then run scripts/test again."
)
_OUTCOMES = ("passed", "failed", "skipped", "xfailed", "xpassed")


Report = pytest.TestReport | pytest.CollectReport


def _reason(report: Report) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def skip_groups(reports: list[Report]) -> dict[str, list[str]]:
    """The skipped tests' node ids by skip reason, the largest group first."""
    groups: dict[str, list[str]] = defaultdict(list)
    for report in reports:
        groups[_reason(report)].append(report.nodeid)
    return dict(sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])))


def _where(nodeids: list[str]) -> str:
    files = sorted({nodeid.split("::")[0] for nodeid in nodeids})
    shown = ", ".join(files[:4])
    more = f" and {len(files) - 4} more files" if len(files) > 4 else ""
    return f"in {shown}{more}"


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    stats = terminalreporter.stats
    skipped = [r for r in stats.get("skipped", []) if isinstance(r, Report)]
    ran = sum(len(stats.get(outcome, [])) for outcome in _OUTCOMES)
    if not skipped:
        terminalreporter.write_line(f"skipped: none ({ran} tests ran)")
        return
    share = f"{len(skipped) * 100 // max(ran, 1)}%"
    terminalreporter.write_sep("=", f"skipped: {len(skipped)} of {ran} tests ({share}), by reason")
    for reason, nodeids in skip_groups(skipped).items():
        terminalreporter.write_line(f"{len(nodeids):>5}  {reason}")
        terminalreporter.write_line(f"       {_where(nodeids)}")
    terminalreporter.write_line(HOW_TO_RUN)
