"""Idempotent producer sequence rules."""

from __future__ import annotations

from broker.errors import ErrorCode
from broker.producer_state import ProducerStateManager


def test_first_batch_of_an_unknown_producer_takes_any_sequence() -> None:
    # As Kafka 4.1 does (compat/test_kafka_differential.py::test_produce): the
    # partition has no state to check a new producer id against.
    state = ProducerStateManager()
    assert state.check(1, 0, 5, 5).error == ErrorCode.NONE
    assert state.check(1, 0, 0, 4).error == ErrorCode.NONE
    state.update(1, 0, 5, 5, 0, 0)
    # from then on the sequence must follow on
    assert state.check(1, 0, 7, 7).error == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert state.check(1, 0, 6, 6).error == ErrorCode.NONE


def test_duplicates_of_the_last_five_batches_are_recognised() -> None:
    state = ProducerStateManager()
    for i in range(7):
        state.update(1, 0, i * 2, i * 2 + 1, 100 + i * 2, 101 + i * 2)
    dup = state.check(1, 0, 8, 9)
    assert dup.error == ErrorCode.NONE and dup.duplicate_of is not None
    assert dup.duplicate_of.first_offset == 108
    # batch 0 (seq 0-1) fell out of the window of five: now out of order
    assert state.check(1, 0, 0, 1).error == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert state.check(1, 0, 14, 14).error == ErrorCode.NONE
    assert state.check(1, 0, 15, 15).error == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


def test_epochs_fence_and_reset_sequences() -> None:
    state = ProducerStateManager()
    state.update(1, 3, 0, 9, 0, 9)
    assert state.check(1, 2, 10, 10).error == ErrorCode.INVALID_PRODUCER_EPOCH
    assert state.check(1, 4, 10, 10).error == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert state.check(1, 4, 0, 0).error == ErrorCode.NONE


def test_sequence_wraps_at_int32() -> None:
    state = ProducerStateManager()
    state.update(1, 0, 2**31 - 2, 2**31 - 1, 0, 1)
    assert state.check(1, 0, 0, 3).error == ErrorCode.NONE


def test_truncation_forgets_batches_above_the_offset() -> None:
    state = ProducerStateManager()
    state.update(1, 0, 0, 0, 0, 0)
    state.update(1, 0, 1, 1, 1, 1)
    state.truncate_to(1)
    assert state.check(1, 0, 1, 1).duplicate_of is None
    state.truncate_to(0)
    assert 1 not in state.producers
