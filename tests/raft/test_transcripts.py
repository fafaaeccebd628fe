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


def test_leader_change_transcript_catches_commit_without_own_epoch_rule() -> None:
    """The transcript pins the rule: with the rule removed (a test-only flag)
    the leader commits x on its own before the LEADER_CHANGE record."""
    text = (TESTDATA / "leader_change.txt").read_text()
    buggy = text.replace(
        "cluster voters=1,2,3 max_fetch_records=1",
        "cluster voters=1,2,3 max_fetch_records=1 inject_bug=commit_old_epoch",
    )
    assert buggy != text
    actual = run_file(buggy)
    assert actual != buggy
    assert "2->3 FetchResponse leader=2 epoch=2 hw=2" in actual
    assert "2->3 FetchResponse leader=2 epoch=2 hw=2" not in text


def test_durability_transcript_catches_forgotten_votes() -> None:
    text = (TESTDATA / "durability.txt").read_text()
    buggy = text.replace(
        "cluster voters=1,2,3 pre_vote=false",
        "cluster voters=1,2,3 pre_vote=false inject_bug=forget_vote",
    )
    assert buggy != text
    actual = run_file(buggy)
    assert "3->2 VoteResponse granted=True leader=-1 epoch=1" in actual
    assert "3->2 VoteResponse granted=True" not in text
