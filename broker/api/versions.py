"""What Apache Kafka 4.1 advertises in ApiVersions, and how we derive ours.

The table below is a fact about Kafka 4.1 (api key: min, max), as captured
from a real broker's ApiVersions response. We advertise Kafka's minimum (never
a higher one: librdkafka quietly stops compressing when Produce's minimum is
above 0) and the lower of Kafka's maximum and the highest version we
implement. A test checks the table against the capture kafka-python ships.
"""

from __future__ import annotations

KAFKA_4_1: dict[int, tuple[int, int]] = {
    0: (0, 13), 1: (4, 18), 2: (1, 10), 3: (0, 13), 8: (2, 9), 9: (1, 9), 10: (0, 6),
    11: (0, 9), 12: (0, 4), 13: (0, 5), 14: (0, 5), 15: (0, 6), 16: (0, 5), 17: (0, 1),
    18: (0, 4), 19: (2, 7), 20: (1, 6), 21: (0, 2), 22: (0, 5), 23: (2, 4), 24: (0, 5),
    25: (0, 4), 26: (0, 5), 27: (1, 1), 28: (0, 5), 29: (1, 3), 30: (1, 3), 31: (1, 3),
    32: (1, 4), 33: (0, 2), 34: (1, 2), 35: (1, 4), 36: (0, 2), 37: (0, 3), 38: (1, 3),
    39: (1, 2), 40: (1, 2), 41: (1, 3), 42: (0, 2), 43: (0, 2), 44: (0, 1), 45: (0, 1),
    46: (0, 0), 47: (0, 0), 48: (0, 1), 49: (0, 1), 50: (0, 0), 51: (0, 0), 55: (0, 2),
    57: (0, 2), 60: (0, 2), 61: (0, 0), 64: (0, 0), 65: (0, 0), 66: (0, 2), 68: (0, 1),
    69: (0, 1), 74: (0, 1), 75: (0, 0), 76: (1, 1), 77: (1, 1), 78: (1, 1), 79: (1, 1),
    80: (0, 0), 81: (0, 0), 83: (0, 0), 84: (0, 0), 85: (0, 0), 86: (0, 0), 87: (0, 0),
    90: (0, 0), 91: (0, 0), 92: (0, 0),
}  # fmt: skip


def advertised_range(api_key: int, impl_min: int, impl_max: int) -> tuple[int, int]:
    """The (min, max) we put in ApiVersions for an API we implement."""
    kafka = KAFKA_4_1.get(api_key)
    if kafka is None:
        return impl_min, impl_max
    return kafka[0], min(kafka[1], impl_max)
