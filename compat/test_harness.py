"""The compat harness itself: its checks catch what they must, the matrix, the process wrapper."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from compat.broker_process import REPO_ROOT, BrokerProcess, BrokerStartError
from compat.features import FEATURES
from compat.matrix import Matrix, render
from compat.suite import Message, Produced, Record, check_read_back

_SENT = [
    Message(p, f"k{i}".encode(), f"v{i}".encode(), (("h", b"x"), ("h", b"y")), 1000 + i)
    for i, p in enumerate([0, 1, 0, 1, 0])
]


def _produced(offsets: list[int | None]) -> Produced:
    return Produced(list(_SENT), offsets, 0, 0)


def _records(gap: int = 0) -> dict[int, list[Record]]:
    out: dict[int, list[Record]] = {0: [], 1: []}
    for m in _SENT:
        offset = gap + len(out[m.partition])
        out[m.partition].append(
            Record(m.partition, offset, m.key, m.value, m.headers, m.timestamp_ms or 0)
        )
    return out


def test_exact_read_back_passes_even_with_offset_gaps() -> None:
    check_read_back(_produced([0, 0, 1, 1, 2]), _records())
    # A control batch at offset 0 shifts every data offset.
    check_read_back(_produced([1, 1, 2, 2, 3]), _records(gap=1))
    check_read_back(_produced([None] * 5), _records(gap=1))  # acks=0


@pytest.mark.parametrize("damage", ["lose", "duplicate", "reorder", "header", "timestamp", "value"])
def test_damaged_read_back_fails(damage: str) -> None:
    records = _records()
    p0 = records[0]
    if damage == "lose":
        del p0[1]
    elif damage == "duplicate":
        p0.append(dataclasses.replace(p0[-1], offset=p0[-1].offset + 1))
    elif damage == "reorder":
        p0[0], p0[1] = dataclasses.replace(p0[1], offset=0), dataclasses.replace(p0[0], offset=1)
    elif damage == "header":
        p0[1] = dataclasses.replace(p0[1], headers=(("h", b"y"), ("h", b"x")))
    elif damage == "timestamp":
        p0[1] = dataclasses.replace(p0[1], timestamp_ms=p0[1].timestamp_ms + 1)
    elif damage == "value":
        p0[1] = dataclasses.replace(p0[1], value=b"other")
    with pytest.raises(AssertionError):
        check_read_back(_produced([0, 0, 1, 1, 2]), records)


def test_read_offsets_must_match_acknowledged_ones() -> None:
    with pytest.raises(AssertionError, match="acknowledged"):
        check_read_back(_produced([0, 0, 1, 1, 3]), _records())


def test_client_stamped_timestamps_must_fall_in_the_produce_window() -> None:
    unstamped = [dataclasses.replace(m, timestamp_ms=None) for m in _SENT]
    produced = Produced(unstamped, [None] * 5, started_ms=5_000, finished_ms=6_000)
    records = {
        p: [dataclasses.replace(r, timestamp_ms=5_500) for r in rs] for p, rs in _records().items()
    }
    check_read_back(produced, records, sets_timestamps=False)
    records[1][0] = dataclasses.replace(records[1][0], timestamp_ms=60_000)
    with pytest.raises(AssertionError, match="timestamp"):
        check_read_back(produced, records, sets_timestamps=False)


def test_matrix_cell_is_the_worst_outcome() -> None:
    m = Matrix()
    m.add_test("kcat", "produce-gzip", "a")
    m.add_test("kcat", "produce-gzip", "b")
    m.add_test("kcat", "metadata", "c")
    m.add_test("kcat", "acks-1", "d")
    m.unsupported[("kcat", "admin-create-topics")] = "no admin"
    for phase in ("setup", "call", "teardown"):
        m.record("a", phase, "passed", None)
        m.record("c", phase, "passed", None)
    m.record("b", "setup", "passed", None)
    m.record("b", "call", "failed", "AssertionError: boom")
    m.record("b", "teardown", "passed", None)
    m.record("c", "teardown", "failed", "broker did not stop")
    assert m.cell("kcat", "produce-gzip") == "FAIL"
    assert m.cell("kcat", "metadata") == "FAIL"
    assert m.cell("kcat", "acks-1") == "not run"
    assert m.cell("kcat", "admin-create-topics") == "n/a"
    assert m.cell("kafkajs", "metadata") == ""
    text = render(m, ["header"])
    assert "| produce-gzip | FAIL |" in text
    assert "- kcat, admin-create-topics: no admin" in text
    assert "- kcat, produce-gzip: AssertionError: boom" in text
    assert "- kcat, metadata: broker did not stop" in text


def test_skip_is_reported_with_its_reason() -> None:
    m = Matrix()
    m.add_test("kcat", "metadata", "a")
    m.record("a", "setup", "skipped", "kcat not found")
    assert m.cell("kcat", "metadata") == "skip"
    assert "- kcat, metadata: kcat not found" in render(m, [])


def test_broker_start_failure_carries_its_output(tmp_path: Path) -> None:
    proc = BrokerProcess(tmp_path / "data", overrides={"no.such.setting": "1"})
    try:
        with pytest.raises(BrokerStartError, match=r"no\.such\.setting"):
            proc.start()
        assert not proc.running()
    finally:
        proc.close()


def test_broker_stop_kill_restart_keep_the_address(tmp_path: Path) -> None:
    proc = BrokerProcess(tmp_path / "data")
    try:
        proc.start()
        address = proc.bootstrap
        assert 18 in proc.api_versions()  # ApiVersions
        proc.stop()  # SIGTERM: exit code 0, asserted by stop()
        assert not proc.running()
        proc.start()
        assert proc.bootstrap == address
        proc.kill()  # SIGKILL
        assert not proc.running()
        proc.start()
        assert proc.bootstrap == address
        assert 18 in proc.api_versions()
        assert proc.output_tail(lines=100_000).startswith(f"=== start {proc.starts}:")
    finally:
        proc.close()


def test_every_feature_is_documented() -> None:
    docs = (REPO_ROOT / "docs" / "compat.md").read_text()
    missing = [name for name in FEATURES if f"`{name}`" not in docs]
    assert not missing, f"features not described in docs/compat.md: {missing}"
