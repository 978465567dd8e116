"""A pytest plugin for ``scripts/test-at --each``: before each test, the faked wall clock (the
offset libfaketime reads from ``FAKETIME_TIMESTAMP_FILE``, shared by every process the tests
start) jumps forward to ``CITYHUB_TEST_CLOCK_LEAD`` seconds before the next instant of a
series: ``CITYHUB_TEST_CLOCK_START``, then one hour, day or month later each (a month: the
same time on the month's first day when the start is a first, else on its last day), so every
test runs across one. The clock only moves forward."""

from __future__ import annotations

import calendar
import os
import time
from datetime import UTC, datetime, timedelta

import pytest


class _Jumps:
    def __init__(self) -> None:
        self.file = os.environ["FAKETIME_TIMESTAMP_FILE"]
        self.start = datetime.fromisoformat(os.environ["CITYHUB_TEST_CLOCK_START"])
        self.start = self.start.replace(tzinfo=UTC)
        self.each = os.environ.get("CITYHUB_TEST_CLOCK_EACH", "day")
        if self.each not in ("hour", "day", "month"):
            raise pytest.UsageError(f"--each takes hour, day or month, not {self.each!r}")
        self.lead = float(os.environ.get("CITYHUB_TEST_CLOCK_LEAD", "1.5"))
        with open(self.file) as f:
            self.offset = float(f.read().split()[0])
        self.k = 0

    def boundary(self, k: int) -> datetime:
        if self.each == "hour":
            return self.start + timedelta(hours=k)
        if self.each == "day":
            return self.start + timedelta(days=k)
        months = self.start.month - 1 + k
        year, month = self.start.year + months // 12, months % 12 + 1
        day = 1 if self.start.day == 1 else calendar.monthrange(year, month)[1]
        return self.start.replace(year=year, month=month, day=day)

    def next(self) -> None:
        real = time.time() - self.offset  # the faked clock less the offset in force
        while True:
            target = self.boundary(self.k).timestamp() - self.lead
            self.k += 1
            if target - real > self.offset + 0.5:
                break
        self.offset = target - real
        with open(self.file + ".next", "w") as f:
            f.write(f"{self.offset:+.6f}\n")
        os.replace(self.file + ".next", self.file)  # readers see the old or the new, whole


_jumps: _Jumps | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _jumps
    _jumps = _Jumps()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if _jumps is not None:
        _jumps.next()
        print(f"\n[{datetime.now(UTC):%Y-%m-%d %H:%M:%S.%f} UTC] {item.nodeid}", end=" ")
