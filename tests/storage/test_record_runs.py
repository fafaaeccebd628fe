"""The same-shape run patterns of record_check.py accept exactly what the field-by-field walk does."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.recordbatch import zigzag
from broker.storage import errors, record_check
from broker.storage.batch import validate_produce_records
from broker.storage.config import LogConfig
from broker.storage.record_check import walk_records
from tests.storage.test_record_validation import FRAMING, INNER, NOW, batch_of, code

ANY = (-(1 << 80), 1 << 80)


@pytest.fixture(autouse=True)
def compile_credit() -> None:
    """Every test may compile patterns (the budget is shared by the process)."""
    record_check._Budget.credit = record_check._CREDIT_MAX


def shaped(count: int, *, key: bytes | None = b"key", step: int = 1, header: bool = True) -> bytes:
    """``count`` records of one shape, timestampDelta ``i * step``, offsetDelta i."""
    out = b""
    for i in range(count):
        body = b"\x00" + zigzag(i * step) + zigzag(i)
        body += zigzag(-1) if key is None else zigzag(len(key)) + key
        body += zigzag(20) + b"v" * 20
        body += b"\x02" + zigzag(1) + b"h" + zigzag(-1) if header else b"\x00"
        out += zigzag(len(body)) + body
    return out


@pytest.mark.parametrize("defect", [*FRAMING, *((n, s, 1) for n, s in INNER)], ids=lambda d: d[0])
@pytest.mark.parametrize("before", [0, 17, 64, 130])
def test_a_defect_inside_a_run_is_found(defect: tuple[str, bytes, int], before: int) -> None:
    name, section, count = defect
    whole = shaped(before) + section + shaped(40)
    declared = before + count + 40
    exact = walk_records(whole, declared).problem
    assert exact is not None, name
    assert walk_records(whole, declared, delta_window=ANY).problem == exact, name


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=16, max_value=150),
    st.integers(min_value=0, max_value=100_000),
    st.binary(min_size=1, max_size=3),
    st.integers(min_value=-1, max_value=1),
    st.sampled_from([b"key", None, b""]),
    st.booleans(),
)
def test_runs_accept_what_the_walk_accepts(
    count: int, at: int, patch: bytes, count_delta: int, key: bytes | None, header: bool
) -> None:
    section = bytearray(shaped(count, key=key, step=97, header=header))
    at %= len(section)
    section[at : at + len(patch)] = patch
    declared = count + count_delta
    exact = walk_records(bytes(section), declared)
    fast = walk_records(bytes(section), declared, delta_window=ANY)
    assert fast.problem == exact.problem


def test_run_bounds_stay_inside_the_window() -> None:
    section = shaped(200, step=50)  # deltas up to 9,950: three-byte varints
    exact = walk_records(section, 200)
    assert exact == (None, 0, 199 * 50)
    for window in [(-10_000, 10_000), (0, 1 << 40), (-(1 << 20), 1 << 20)]:
        fast = walk_records(section, 200, delta_window=window)
        assert fast.problem is None
        assert window[0] <= fast.min_timestamp_delta <= 0
        assert 199 * 50 <= fast.max_timestamp_delta <= window[1]


def late(delta: int) -> bytes:
    """100 records of one shape, record 70 with timestampDelta ``delta``."""
    body = b"\x00" + zigzag(delta) + zigzag(70) + zigzag(3) + b"key" + zigzag(20) + b"v" * 20
    body += b"\x02" + zigzag(1) + b"h" + zigzag(-1)
    return batch_of(shaped(70) + zigzag(len(body)) + body + shaped(29), 100)


def test_one_out_of_range_timestamp_in_a_long_run_is_refused() -> None:
    hour = 3_600_000
    validate_produce_records(late(hour // 2), LogConfig(), NOW)
    after = LogConfig(message_timestamp_after_max_ms=hour)
    assert code(late(2 * hour), after) == errors.INVALID_TIMESTAMP
    before = LogConfig(message_timestamp_before_max_ms=hour)
    assert code(late(-2 * hour), before) == errors.INVALID_TIMESTAMP


def test_shapes_that_never_repeat_stop_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[bytes] = []
    real = re.compile

    def counting(pattern: bytes, flags: int = 0) -> object:
        compiled.append(pattern)
        return real(pattern, flags)

    monkeypatch.setattr(re, "compile", counting)
    record_check._patterns.clear()
    record_check._Budget.credit = record_check._COMPILE_COST
    for size in range(20):  # a new key size each batch: no pattern is used twice
        section = shaped(100, key=b"k" * (30 + size))
        assert walk_records(section, 100, delta_window=ANY).problem is None
    assert len(compiled) == 2  # the first shape's two; 19 x 100 records walked earn 118 < 2,000
