"""Codec benchmark: our generated codec against kafka-python's, same run.

Paths measured (each with a non-flexible and a flexible version):
- ProduceRequest decode: 1 topic, 1 partition, one 16 KiB record batch, as a
  whole request frame (header and body: what a broker decodes) and body only;
- FetchResponse encode: the same batch in 1 topic, 1 partition.

Ours decodes from a memoryview and yields the batch as a view (no copy), and
encodes to a list of buffers ready for one sendmsg (no join). kafka-python
decodes from bytes and encodes to one bytes object, which is what it would
put on the socket. Run: ``.venv/bin/python -m bench.bench_codec``.
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable

from kafka.protocol.consumer import FetchResponse as KFetchResponse
from kafka.protocol.producer import ProduceRequest as KProduceRequest

from broker.wire.codec import Writer
from broker.wire.generated import fetch_response, produce_request
from broker.wire.generated.fetch_response import (
    FetchableTopicResponse,
    FetchResponse,
    PartitionData,
)
from broker.wire.generated.produce_request import (
    PartitionProduceData,
    ProduceRequest,
    TopicProduceData,
)
from broker.wire.protocol import RequestHeader, decode_request, encode_request

BATCH = bytes(range(256)) * 64  # 16 KiB, opaque to both codecs


def _best(fn: Callable[[], object], number: int) -> float:
    """Best-of-5 seconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def produce_decode(version: int, number: int) -> tuple[float, float]:
    request = ProduceRequest(
        None,
        -1,
        30000,
        [TopicProduceData("bench-topic", partition_data=[PartitionProduceData(0, BATCH)])],
    )
    w = Writer()
    produce_request.ENCODERS[version](request, w)
    data = w.getvalue()
    view = memoryview(data)
    decode = produce_request.DECODERS[version]
    decoded, _ = decode(view, 0)
    records = decoded.topic_data[0].partition_data[0].records
    assert isinstance(records, memoryview) and records.tobytes() == BATCH
    assert KProduceRequest.decode(data, version=version).topic_data[0].name == "bench-topic"
    ours = _best(lambda: decode(view, 0), number)
    theirs = _best(lambda: KProduceRequest.decode(data, version=version), number)
    return ours, theirs


def produce_frame_decode(version: int, number: int) -> tuple[float, float]:
    """A whole request frame as a broker receives it: header, then body."""
    request = ProduceRequest(
        None,
        -1,
        30000,
        [TopicProduceData("bench-topic", partition_data=[PartitionProduceData(0, BATCH)])],
    )
    framed = encode_request(RequestHeader(0, version, 5, "producer-1"), request)
    frame = bytearray(framed[4:])
    assert decode_request(frame).body == decode_request(bytes(frame)).body
    k = KProduceRequest.decode(framed, version=version, header=True, framed=True)
    assert k.header.client_id == "producer-1"
    ours = _best(lambda: decode_request(frame), number)
    theirs = _best(
        lambda: KProduceRequest.decode(framed, version=version, header=True, framed=True), number
    )
    return ours, theirs


def fetch_encode(version: int, number: int) -> tuple[float, float]:
    response = FetchResponse(
        responses=[
            FetchableTopicResponse(
                topic="bench-topic",
                partitions=[PartitionData(0, 0, 100, 100, 0, records=memoryview(BATCH))],
            )
        ]
    )
    encode = fetch_response.ENCODERS[version]

    def ours() -> object:
        w = Writer()
        encode(response, w)
        return w.finish()

    expected = b"".join(ours())  # type: ignore[arg-type]
    k = KFetchResponse.decode(expected, version=version)  # the same message, as theirs
    k._header = None
    assert expected == bytes(k.encode(version=version))
    return _best(ours, number), _best(lambda: k.encode(version=version), number)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    rows = [
        ("ProduceRequest frame decode v7 (non-flexible)", produce_frame_decode(7, args.number)),
        ("ProduceRequest frame decode v9 (flexible)", produce_frame_decode(9, args.number)),
        ("ProduceRequest body-only decode v7", produce_decode(7, args.number)),
        ("ProduceRequest body-only decode v9", produce_decode(9, args.number)),
        ("FetchResponse encode v11 (non-flexible)", fetch_encode(11, args.number)),
        ("FetchResponse encode v12 (flexible)", fetch_encode(12, args.number)),
    ]
    print(f"{'path':46} {'ours us':>9} {'kafka-python us':>16} {'speed-up':>9}")
    for name, (ours, theirs) in rows:
        print(f"{name:46} {ours * 1e6:9.2f} {theirs * 1e6:16.2f} {theirs / ours:8.1f}x")


if __name__ == "__main__":
    main()
