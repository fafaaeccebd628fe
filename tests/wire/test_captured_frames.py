"""Request frames captured from real clients decode to what the clients sent.

The fixtures in tests/wire/frames were recorded from aiokafka, kafka-python,
confluent-kafka (librdkafka 2.16), kcat (librdkafka 2.0) and KafkaJS; see
compat/README.md. Every frame must decode completely, re-encode to the same
bytes, and carry the values each client is known to send.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from broker.wire.codec import Writer
from broker.wire.protocol import decode_request, request_module

FRAMES = Path(__file__).parent / "frames"


def _frames() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(FRAMES.glob("*.json")):
        for i, frame in enumerate(json.loads(path.read_text())):
            out.append((f"{path.stem}-{i}-k{frame['api_key']}v{frame['api_version']}", frame))
    return out


CAPTURED = _frames()


def test_every_client_was_captured() -> None:
    clients = {name.split("-")[0] for name, _ in CAPTURED}
    assert {"aiokafka", "kafka", "confluent", "kcat", "kafkajs"} <= clients
    keys = {(name.split("-")[0], f["api_key"]) for name, f in CAPTURED}
    for client in ("aiokafka", "kafka", "confluent", "kcat", "kafkajs"):
        assert {(client, 18), (client, 3), (client, 0)} <= keys


@pytest.mark.parametrize(("name", "frame"), CAPTURED, ids=[n for n, _ in CAPTURED])
def test_captured_frame_decodes_and_reencodes(name: str, frame: dict[str, Any]) -> None:
    raw = bytes.fromhex(frame["hex"])
    request = decode_request(raw)
    assert request.header.api_key == frame["api_key"]
    assert request.header.api_version == frame["api_version"]
    assert request.header.correlation_id == frame["correlation_id"]
    assert request.header.client_id == frame["client_id"]
    module = request_module(frame["api_key"])
    assert module is not None
    w = Writer()
    module.ENCODERS[frame["api_version"]](request.body, w)
    assert raw.endswith(w.getvalue())
    if frame["api_key"] == 0:
        (topic,) = request.body.topic_data
        (partition,) = topic.partition_data
        records = partition.records
        assert isinstance(records, memoryview)  # no copy: a view into the frame
        assert records.obj is not None
        assert bytes(records[16:17]) == b"\x02"  # record batch magic v2
        assert topic.name == "frames"
    if frame["api_key"] == 3 and frame["api_version"] >= 1 and request.body.topics:
        assert [t.name for t in request.body.topics] == ["frames"]
