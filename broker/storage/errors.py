"""Kafka error codes raised by the storage layer.

The storage core reports a rejected append or read as a `KafkaStorageError`
carrying the Kafka error code a real broker would put in its response. The API
handlers catch it and write `error_code` into the partition's response; they
never need to parse the message.

Only the codes this package raises are named here (values from Kafka's
`org.apache.kafka.common.protocol.Errors`).
"""

from __future__ import annotations

from typing import Final

OFFSET_OUT_OF_RANGE: Final = 1
CORRUPT_MESSAGE: Final = 2
MESSAGE_TOO_LARGE: Final = 10
RECORD_LIST_TOO_LARGE: Final = 18
INVALID_TIMESTAMP: Final = 32
UNSUPPORTED_FOR_MESSAGE_FORMAT: Final = 43
KAFKA_STORAGE_ERROR: Final = 56
INVALID_RECORD: Final = 87

ERROR_NAMES: Final[dict[int, str]] = {
    OFFSET_OUT_OF_RANGE: "OFFSET_OUT_OF_RANGE",
    CORRUPT_MESSAGE: "CORRUPT_MESSAGE",
    MESSAGE_TOO_LARGE: "MESSAGE_TOO_LARGE",
    RECORD_LIST_TOO_LARGE: "RECORD_LIST_TOO_LARGE",
    INVALID_TIMESTAMP: "INVALID_TIMESTAMP",
    UNSUPPORTED_FOR_MESSAGE_FORMAT: "UNSUPPORTED_FOR_MESSAGE_FORMAT",
    KAFKA_STORAGE_ERROR: "KAFKA_STORAGE_ERROR",
    INVALID_RECORD: "INVALID_RECORD",
}


class KafkaStorageError(Exception):
    """A request the log refused, with the Kafka error code to answer it with."""

    def __init__(self, error_code: int, message: str) -> None:
        super().__init__(f"{ERROR_NAMES.get(error_code, error_code)}: {message}")
        self.error_code = error_code
        self.message = message


class LogStateError(Exception):
    """A broken invariant of the log itself (our bug, or a tampered directory)."""
