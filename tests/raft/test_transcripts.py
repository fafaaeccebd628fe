"""Run every transcript under tests/raft/testdata.

``pytest tests/raft --rewrite`` (or RAFT_REWRITE=1) regenerates the expected
output; review the diff before committing it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from tests.raft.transcript import run_file

TESTDATA = Path(__file__).parent / "testdata"
FILES = sorted(TESTDATA.glob("*.txt"))


def test_there_are_transcripts() -> None:
    assert len(FILES) >= 7


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(path: Path, request: pytest.FixtureRequest) -> None:
    text = path.read_text()
    actual = run_file(text)
    rewrite = os.environ.get("RAFT_REWRITE") == "1"
    with contextlib.suppress(ValueError):  # option unknown if conftest.py loaded late
        rewrite = rewrite or bool(request.config.getoption("--rewrite"))
    if rewrite:
        path.write_text(actual)
        return
    assert actual == text
