"""A pytest plugin that writes one JSON line per test to ``$COMPAT_SUITES_OUTCOMES``.

Loaded into a client's own pytest run (``-p compat.suites.pytest_outcomes``)
so that the runner learns each test's node id, outcome, first line of
failure and its report (for signature checks) without parsing terminal output. A test's outcome combines its
phases: a failing setup, call or teardown makes it ``fail`` (``timeout`` when
pytest-timeout stopped it), a skip in any phase ``skip``, else ``pass``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

_ENV = "COMPAT_SUITES_OUTCOMES"
OUTPUT_CHARS = 20_000  # of a failure's report, kept for the runner's signature checks
_state: dict[str, dict[str, Any]] = {}


def _first_line(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    text = str(crash.message) if crash is not None else str(longrepr)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _state.setdefault(
        report.nodeid,
        {"name": report.nodeid, "outcome": "pass", "seconds": 0.0, "detail": "", "output": ""},
    )
    entry["seconds"] += report.duration
    if report.skipped and entry["outcome"] == "pass":
        entry["outcome"] = "skip"
        entry["detail"] = _first_line(report)
    elif report.failed and entry["outcome"] in ("pass", "skip"):
        detail = _first_line(report)
        timed_out = "Timeout" in detail and ("pytest-timeout" in detail or ">" in detail)
        entry["outcome"] = "timeout" if timed_out else "fail"
        entry["detail"] = (f"in {report.when}: " if report.when != "call" else "") + detail
    if report.failed or report.skipped:
        entry["output"] = (entry["output"] + report.longreprtext)[:OUTPUT_CHARS]
    if report.when == "teardown":
        _write(_state.pop(report.nodeid))


def _write(entry: dict[str, Any]) -> None:
    path = os.environ.get(_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")
