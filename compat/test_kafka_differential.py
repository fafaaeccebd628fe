"""Differential tests: the same requests to our broker and to Apache Kafka 4.1.2.

Each test sends a scripted set of requests for one API, edge cases included,
to both brokers (one-node Kafka started for the module, our broker from the
suite's ``broker`` fixture, both with 2 partitions per topic and topic
auto-creation on), encoded by our generated codec at the highest version both
support, and compares the decoded responses field by field after
``compat.kafka.differential.normalise`` (ids, addresses, throttle times,
error message texts, batch framing). Differences that remain are either
fixed or applied here as a named ``known`` normalisation that
``docs/compat.md`` lists with its reason.
"""

from __future__ import annotations

import struct
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from broker.recordbatch import build_batch
from broker.wire.generated.api_versions_request import ApiVersionsRequest
from broker.wire.generated.create_topics_request import (
    CreatableTopic,
    CreatableTopicConfig,
    CreateTopicsRequest,
)
from broker.wire.generated.delete_records_request import (
    DeleteRecordsPartition,
    DeleteRecordsRequest,
    DeleteRecordsTopic,
)
from broker.wire.generated.delete_topics_request import DeleteTopicsRequest, DeleteTopicState
from broker.wire.generated.describe_configs_request import (
    DescribeConfigsRequest,
    DescribeConfigsResource,
)
from broker.wire.generated.fetch_request import FetchPartition, FetchRequest, FetchTopic
from broker.wire.generated.find_coordinator_request import FindCoordinatorRequest
from broker.wire.generated.join_group_request import JoinGroupRequest, JoinGroupRequestProtocol
from broker.wire.generated.list_offsets_request import (
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsTopic,
)
from broker.wire.generated.metadata_request import MetadataRequest, MetadataRequestTopic
from broker.wire.generated.offset_commit_request import (
    OffsetCommitRequest,
    OffsetCommitRequestPartition,
    OffsetCommitRequestTopic,
)
from broker.wire.generated.offset_fetch_request import (
    OffsetFetchRequest,
    OffsetFetchRequestGroup,
    OffsetFetchRequestTopics,
)
from broker.wire.generated.produce_request import (
    PartitionProduceData,
    ProduceRequest,
    TopicProduceData,
)
from compat.broker_process import BrokerProcess, request_api_versions
from compat.kafka.cluster import KafkaCluster
from compat.kafka.differential import Duo, Plain, drop_keys
from compat.kafka.fixtures import kafka

__all__ = ["kafka"]

# Error codes (Kafka's Errors) the tests name.
NONE = 0
OFFSET_OUT_OF_RANGE = 1
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10
INVALID_TOPIC_EXCEPTION = 17
INVALID_REQUIRED_ACKS = 21
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
INVALID_TIMESTAMP = 32
UNSUPPORTED_VERSION = 35
TOPIC_ALREADY_EXISTS = 36
INVALID_PARTITIONS = 37
INVALID_REPLICATION_FACTOR = 38
INVALID_CONFIG = 40
INVALID_REQUEST = 42
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
MEMBER_ID_REQUIRED = 79
UNKNOWN_TOPIC_ID = 100

API = {
    "Produce": 0,
    "Fetch": 1,
    "ListOffsets": 2,
    "Metadata": 3,
    "OffsetCommit": 8,
    "OffsetFetch": 9,
    "FindCoordinator": 10,
    "JoinGroup": 11,
    "ApiVersions": 18,
    "CreateTopics": 19,
    "DeleteTopics": 20,
    "DeleteRecords": 21,
    "DescribeConfigs": 32,
}


@pytest.fixture(scope="module")
def versions(broker: BrokerProcess, kafka: KafkaCluster) -> dict[str, int]:
    """The highest version of each API that both brokers advertise."""
    ours = broker.api_versions()
    theirs = request_api_versions("127.0.0.1", kafka.nodes[0].port, 5.0)
    out = {}
    for name, key in API.items():
        if key in ours and key in theirs:
            out[name] = min(ours[key][1], theirs[key][1])
    return out


@pytest.fixture
def duo(broker: BrokerProcess, kafka: KafkaCluster) -> Iterator[Duo]:
    pair = Duo(("127.0.0.1", broker.port or 0), ("127.0.0.1", kafka.nodes[0].port))
    try:
        yield pair
    finally:
        pair.close()


@pytest.fixture
def name(topic: str) -> str:
    return topic.replace(".", "-")


def _create(duo: Duo, versions: dict[str, int], *topics: CreatableTopic) -> Plain:
    """CreateTopics on both; then waits until both serve every created partition.

    Kafka answers CreateTopics once the controller has committed the topic;
    its broker learns of it a moment later (asynchronously), so requests sent
    right away could see UNKNOWN_TOPIC_OR_PARTITION there.
    """
    response = duo.same(CreateTopicsRequest(topics=list(topics), timeout_ms=30_000),
                        versions["CreateTopics"], known=_create_topics_known)  # fmt: skip
    created = [t["name"] for t in response["topics"] if t["error_code"] == NONE]
    if created:
        _wait_served(duo, created)
    return response


def _wait_served(duo: Duo, topics: list[str], timeout_s: float = 30.0) -> None:
    request = MetadataRequest(
        topics=[MetadataRequestTopic(name=t) for t in topics], allow_auto_topic_creation=False
    )
    deadline = time.monotonic() + timeout_s
    for client in (duo.ours, duo.kafka):
        while True:
            metadata = client.send(request, 1)
            if all(
                t.error_code == NONE
                and t.partitions
                and all(p.leader_id >= 0 for p in t.partitions)
                for t in metadata.topics
            ):
                break
            assert time.monotonic() < deadline, f"{topics} not served: {metadata}"
            time.sleep(0.05)


# Our own topic configs (docs/configuration.md), and what Kafka 4.1's ELR
# bootstrap sets cluster-wide (min.insync.replicas as DYNAMIC_DEFAULT_BROKER_CONFIG).
OUR_EXTENSIONS = frozenset({"acks.min", "write.caching"})


def _create_topics_known(response: Plain) -> Plain:
    for t in response["topics"]:
        if not t["configs"]:
            continue
        t["configs"] = [
            {**c, "config_source": "<source>"} if c["name"] == "min.insync.replicas" else c
            for c in t["configs"]
            if c["name"] not in OUR_EXTENSIONS
        ]
    return response


def _batch(
    values: list[bytes],
    timestamp: int,
    *,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
) -> bytes:
    return build_batch(
        [(b"k%d" % i, v) for i, v in enumerate(values)],
        timestamp=timestamp,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
    )


def _produce(topic: str, partition: int, records: bytes, acks: int = -1) -> ProduceRequest:
    return ProduceRequest(
        acks=acks,
        timeout_ms=10_000,
        topic_data=[
            TopicProduceData(
                name=topic, partition_data=[PartitionProduceData(index=partition, records=records)]
            )
        ],
    )


def _setup_produce(duo: Duo, request: ProduceRequest) -> Plain:
    """A produce that sets a test up, on both: retried while a broker answers
    NOT_LEADER_OR_FOLLOWER (Kafka, for a moment after it created the topic)."""
    deadline = time.monotonic() + 15
    for client in (duo.ours, duo.kafka):
        while True:
            errors = [
                p.error_code
                for t in client.send(request, 12).responses
                for p in t.partition_responses
            ]
            if errors != [6] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert errors == [NONE], errors


def _partition_errors(response: Plain) -> list[int]:
    return [p["error_code"] for t in response["responses"] for p in t["partition_responses"]]


# -- ApiVersions ------------------------------------------------------------------------


def test_api_versions(broker: BrokerProcess, kafka: KafkaCluster, duo: Duo) -> None:
    ours = broker.api_versions()
    theirs = request_api_versions("127.0.0.1", kafka.nodes[0].port, 5.0)
    for key, (low, high) in ours.items():
        assert key in theirs, f"we advertise api key {key}, Kafka 4.1 does not"
        assert low == theirs[key][0], f"api key {key}: min v{low}, Kafka's v{theirs[key][0]}"
        assert high <= theirs[key][1], f"api key {key}: max v{high} above Kafka's"
    # A version above what the broker knows: UNSUPPORTED_VERSION, answered in v0 (KIP-511).
    # Request header v2 (tagged fields after the client id), as for every flexible version.
    frame = struct.pack(">hhih", 18, 127, 7, 4) + b"diff" + b"\0"
    answers = []
    for client in (duo.ours, duo.kafka):
        raw = client.send_raw(struct.pack(">i", len(frame)) + frame)
        correlation_id, error_code = struct.unpack_from(">ih", raw)
        answers.append((correlation_id, error_code))
    assert answers == [(7, UNSUPPORTED_VERSION)] * 2
    plain_v3 = duo.send(ApiVersionsRequest(client_software_name="diff",
                                           client_software_version="1"), 3)  # fmt: skip
    assert plain_v3.ours["error_code"] == plain_v3.kafka["error_code"] == NONE


# -- Metadata ---------------------------------------------------------------------------


def test_metadata(duo: Duo, versions: dict[str, int], name: str) -> None:
    v = versions["Metadata"]
    _create(duo, versions, CreatableTopic(name=name, num_partitions=2, replication_factor=1))
    known = _metadata_known
    response = duo.same(MetadataRequest(topics=[MetadataRequestTopic(name=name)]), v, known=known)
    [topic] = response["topics"]
    assert (topic["error_code"], len(topic["partitions"])) == (NONE, 2)
    # Unknown, without auto-creation; names that cannot be topics.
    response = duo.same(
        MetadataRequest(
            topics=[
                MetadataRequestTopic(name=name + "-missing"),
                MetadataRequestTopic(name="bad name!"),
                MetadataRequestTopic(name="x" * 250),
            ],
            allow_auto_topic_creation=False,
        ),
        v,
        known=known,
    )
    assert [t["error_code"] for t in response["topics"]] == [
        UNKNOWN_TOPIC_OR_PARTITION,
        INVALID_TOPIC_EXCEPTION,
        INVALID_TOPIC_EXCEPTION,
    ]
    # A topic id nobody has.
    response = duo.same(
        MetadataRequest(topics=[MetadataRequestTopic(topic_id=uuid.uuid4(), name=None)]),
        v,
        known=known,
    )
    assert [t["error_code"] for t in response["topics"]] == [UNKNOWN_TOPIC_ID]
    # Auto-creation by Metadata. Known difference: Kafka creates the topic in the
    # background and answers UNKNOWN_TOPIC_OR_PARTITION until its broker has it;
    # ours creates it before answering and returns it (clients retry on both).
    auto = duo.send(MetadataRequest(topics=[MetadataRequestTopic(name=name + "-auto")]), v)
    assert auto.kafka["topics"][0]["error_code"] in (UNKNOWN_TOPIC_OR_PARTITION, 5)
    assert auto.ours["topics"][0]["error_code"] == NONE
    _wait_served(duo, [name + "-auto"])
    duo.same(MetadataRequest(topics=[MetadataRequestTopic(name=name + "-auto")]), v, known=known)


def _by_name(field: str) -> Callable[[Plain], Plain]:
    """Kafka answers some multi-topic requests in no particular order: sort by name."""

    def known(response: Plain) -> Plain:
        response[field] = sorted(response[field], key=lambda t: str(t["name"]))
        return response

    return known


def _metadata_known(response: Plain) -> Plain:
    """Kafka lists a topic's partitions in no particular order; ours by index."""
    for t in response["topics"]:
        t["partitions"] = sorted(t["partitions"], key=lambda p: p["partition_index"])
    return response


# -- CreateTopics / DeleteTopics -------------------------------------------------------


def test_create_topics(duo: Duo, versions: dict[str, int], name: str) -> None:
    response = _create(
        duo,
        versions,
        CreatableTopic(name=name, num_partitions=3, replication_factor=1,
                       configs=[CreatableTopicConfig("retention.ms", "12345")]),
        CreatableTopic(name=name + "-zero", num_partitions=0, replication_factor=1),
        CreatableTopic(name=name + "-rf", num_partitions=1, replication_factor=3),
        CreatableTopic(name=name + "-cfg", num_partitions=1, replication_factor=1,
                       configs=[CreatableTopicConfig("retention.ms", "soon")]),
        CreatableTopic(name=name + "-key", num_partitions=1, replication_factor=1,
                       configs=[CreatableTopicConfig("no.such.config", "1")]),
        CreatableTopic(name="bad name!", num_partitions=1, replication_factor=1),
        CreatableTopic(name=name + "-defaults", num_partitions=-1, replication_factor=-1),
    )  # fmt: skip
    assert [t["error_code"] for t in response["topics"]] == [
        NONE,
        INVALID_PARTITIONS,
        INVALID_REPLICATION_FACTOR,
        INVALID_CONFIG,
        INVALID_CONFIG,
        INVALID_TOPIC_EXCEPTION,
        NONE,
    ]
    again = _create(
        duo, versions, CreatableTopic(name=name, num_partitions=3, replication_factor=1)
    )
    assert [t["error_code"] for t in again["topics"]] == [TOPIC_ALREADY_EXISTS]
    validate_only = duo.same(
        CreateTopicsRequest(
            topics=[CreatableTopic(name=name + "-dry", num_partitions=2, replication_factor=1)],
            timeout_ms=30_000,
            validate_only=True,
        ),
        versions["CreateTopics"],
        known=_create_topics_known,
    )
    assert [t["error_code"] for t in validate_only["topics"]] == [NONE]
    listed = duo.same(MetadataRequest(topics=[MetadataRequestTopic(name=name + "-dry")],
                                      allow_auto_topic_creation=False), versions["Metadata"])  # fmt: skip
    assert [t["error_code"] for t in listed["topics"]] == [UNKNOWN_TOPIC_OR_PARTITION]


def test_delete_topics(duo: Duo, versions: dict[str, int], name: str) -> None:
    _create(duo, versions, CreatableTopic(name=name, num_partitions=1, replication_factor=1))
    v = versions["DeleteTopics"]
    response = duo.same(
        DeleteTopicsRequest(
            topics=[
                DeleteTopicState(name=name),
                DeleteTopicState(name=name + "-missing"),
            ],
            topic_names=[name, name + "-missing"],
            timeout_ms=30_000,
        ),
        v,
        known=_by_name("responses"),
    )
    assert [r["error_code"] for r in response["responses"]] == [NONE, UNKNOWN_TOPIC_OR_PARTITION]
    if v >= 6:
        by_id = duo.same(
            DeleteTopicsRequest(
                topics=[DeleteTopicState(name=None, topic_id=uuid.uuid4())], timeout_ms=30_000
            ),
            v,
        )
        assert [r["error_code"] for r in by_id["responses"]] == [UNKNOWN_TOPIC_ID]


# -- Produce ----------------------------------------------------------------------------


def test_produce(duo: Duo, versions: dict[str, int], name: str) -> None:
    v = min(versions["Produce"], 12)  # by name (13 addresses topics by id only)
    _create(duo, versions, CreatableTopic(name=name, num_partitions=2, replication_factor=1))
    now = int(time.time() * 1000)
    _setup_produce(duo, _produce(name, 1, _batch([b"first"], now)))  # both ready
    ok = duo.same(_produce(name, 0, _batch([b"a", b"b", b"c"], now)), v)
    assert _partition_errors(ok) == [NONE]
    assert ok["responses"][0]["partition_responses"][0]["base_offset"] == 0
    again = duo.same(_produce(name, 0, _batch([b"d"], now), acks=1), v)
    assert again["responses"][0]["partition_responses"][0]["base_offset"] == 3

    cases = {
        "unknown topic": (_produce(name + "-missing", 0, _batch([b"x"], now)),
                          UNKNOWN_TOPIC_OR_PARTITION),
        "unknown partition": (_produce(name, 9, _batch([b"x"], now)), UNKNOWN_TOPIC_OR_PARTITION),
        "acks=2": (_produce(name, 0, _batch([b"x"], now), acks=2), INVALID_REQUIRED_ACKS),
        "far future": (_produce(name, 0, _batch([b"x"], now + 7_200_000)), INVALID_TIMESTAMP),
        "too large": (_produce(name, 1, _batch([b"x" * 1_100_000], now)), MESSAGE_TOO_LARGE),
        "bad crc": (_produce(name, 1, _corrupt(_batch([b"x"], now))), CORRUPT_MESSAGE),
    }  # fmt: skip
    got = {}
    for label, (request, _expected) in cases.items():
        got[label] = _partition_errors(duo.same(request, v))
    assert got == {label: [expected] for label, (_r, expected) in cases.items()}
    # The first batch of a producer id the broker has no state for may start at
    # any sequence (its state may have expired, KIP-360); the next must follow.
    fresh = _produce(name, 1, _batch([b"x"], now, producer_id=4242, producer_epoch=0,
                                      base_sequence=5))  # fmt: skip
    assert _partition_errors(duo.same(fresh, v)) == [NONE]
    skipped = _produce(name, 1, _batch([b"y"], now, producer_id=4242, producer_epoch=0,
                                        base_sequence=7))  # fmt: skip
    assert _partition_errors(duo.same(skipped, v)) == [OUT_OF_ORDER_SEQUENCE_NUMBER]
    # acks=0 gets no response; the connection stays usable.
    for client in (duo.ours, duo.kafka):
        client.send(_produce(name, 1, _batch([b"fire-and-forget"], now), acks=0), v,
                    expect_response=False)  # fmt: skip
    after = duo.same(_produce(name, 1, _batch([b"after"], now)), v)
    assert after["responses"][0]["partition_responses"][0]["base_offset"] == 3
    if versions["Produce"] >= 13:
        by_id = duo.same(_produce(name, 0, _batch([b"x"], now)), 13)  # no id: unknown
        assert _partition_errors(by_id) == [UNKNOWN_TOPIC_ID]


def _corrupt(batch: bytes) -> bytes:
    return batch[:-1] + bytes([batch[-1] ^ 0xFF])


# -- Fetch and ListOffsets -------------------------------------------------------------


def _fetch(
    topic: str, partition: int, offset: int, *, topic_id: uuid.UUID | None = None
) -> FetchRequest:
    return FetchRequest(
        replica_id=-1,
        max_wait_ms=0,
        min_bytes=0,
        max_bytes=1 << 20,
        isolation_level=0,
        topics=[
            FetchTopic(
                topic=topic,
                topic_id=topic_id or uuid.UUID(int=0),
                partitions=[FetchPartition(partition=partition, fetch_offset=offset,
                                           partition_max_bytes=1 << 20)],
            )
        ],
    )  # fmt: skip


def test_fetch(duo: Duo, versions: dict[str, int], name: str) -> None:
    _create(duo, versions, CreatableTopic(name=name, num_partitions=1, replication_factor=1))
    now = int(time.time() * 1000)
    _setup_produce(duo, _produce(name, 0, _batch([b"a", b"b", b"c"], now)))
    _setup_produce(duo, _produce(name, 0, _batch([b"d", b"e"], now + 1)))
    v = min(versions["Fetch"], 12)  # by name (13+ addresses topics by id only)
    whole = duo.same(_fetch(name, 0, 0), v)
    [partition] = whole["responses"][0]["partitions"]
    assert partition["error_code"] == NONE
    assert (partition["high_watermark"], partition["log_start_offset"]) == (5, 0)
    assert [r[0] for r in partition["records"]] == [0, 1, 2, 3, 4]
    # Inside the first batch: both return the whole batch from its base offset.
    inside = duo.same(_fetch(name, 0, 1), v)
    assert inside["responses"][0]["partitions"][0]["records"][0][0] == 0
    at_end = duo.same(_fetch(name, 0, 5), v)
    assert at_end["responses"][0]["partitions"][0]["records"] in (None, [])
    beyond = duo.same(_fetch(name, 0, 6), v)
    assert beyond["responses"][0]["partitions"][0]["error_code"] == OFFSET_OUT_OF_RANGE
    unknown = duo.same(_fetch(name + "-missing", 0, 0), v)
    assert unknown["responses"][0]["partitions"][0]["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
    if versions["Fetch"] >= 13:
        by_id = duo.same(_fetch("", 0, 0, topic_id=uuid.uuid4()), versions["Fetch"])
        assert by_id["responses"][0]["partitions"][0]["error_code"] == UNKNOWN_TOPIC_ID


def _partitions_sorted(response: Plain) -> Plain:
    for t in response["topics"]:
        t["partitions"] = sorted(t["partitions"], key=lambda p: p["partition_index"])
    return response


def _list_offsets(topic: str, *partitions: tuple[int, int, int]) -> ListOffsetsRequest:
    return ListOffsetsRequest(
        replica_id=-1,
        topics=[
            ListOffsetsTopic(
                name=topic,
                partitions=[
                    ListOffsetsPartition(partition_index=p, timestamp=ts, current_leader_epoch=e)
                    for p, ts, e in partitions
                ],
            )
        ],
    )


def test_list_offsets(duo: Duo, versions: dict[str, int], name: str) -> None:
    _create(duo, versions, CreatableTopic(name=name, num_partitions=2, replication_factor=1))
    base = int(time.time() * 1000) - 60_000
    for stamp, values in ((base, [b"a", b"b"]), (base + 50, [b"c"]), (base + 20, [b"d", b"e"])):
        _setup_produce(duo, _produce(name, 0, _batch(values, stamp)))
    v = versions["ListOffsets"]
    probes = [
        (0, -2, -1),  # earliest
        (0, -1, -1),  # latest
        (0, -3, -1),  # max timestamp: the first record carrying it
        (0, base + 10, -1),  # first at or after: offset 2
        (0, base + 51, -1),  # past every record
        (1, -1, -1),  # an empty partition
        (0, -1, 0),  # the right leader epoch
        (0, -1, 7),  # a leader epoch from the future
        (9, -1, -1),  # no such partition
    ]
    got = []
    for probe in probes:
        [p] = duo.same(_list_offsets(name, probe), v)["topics"][0]["partitions"]
        got.append((p["error_code"], p["offset"], p["timestamp"]))
    # A partition twice in one request: answered once, INVALID_REQUEST (Kafka
    # orders the answers its own way: compared by partition).
    duplicate = duo.same(
        _list_offsets(name, (0, -1, -1), (1, -1, -1), (0, -2, -1)), v, known=_partitions_sorted
    )
    assert [(p["partition_index"], p["error_code"]) for p in
            duplicate["topics"][0]["partitions"]] == [(0, INVALID_REQUEST), (1, NONE)]  # fmt: skip
    assert got == [
        (NONE, 0, -1),
        (NONE, 5, -1),
        (NONE, 2, base + 50),
        (NONE, 2, base + 50),
        (NONE, -1, -1),
        (NONE, 0, -1),
        (NONE, 5, -1),
        (75, -1, -1),  # UNKNOWN_LEADER_EPOCH (ahead of the broker's)
        (UNKNOWN_TOPIC_OR_PARTITION, -1, -1),
    ]
    missing = duo.same(_list_offsets(name + "-missing", (0, -1, -1)), v)
    assert missing["topics"][0]["partitions"][0]["error_code"] == UNKNOWN_TOPIC_OR_PARTITION


def test_list_offsets_after_delete_records(duo: Duo, versions: dict[str, int], name: str) -> None:
    """DeleteRecords moves the log start offset; ListOffsets then answers from it.

    Known difference (docs/compat.md): MAX_TIMESTAMP. Kafka answers from its
    segment's max-timestamp entry, which DeleteRecords leaves alone: a record
    below the log start offset that no fetch can return. Ours answers the
    record with the largest timestamp among those still in the log."""
    _create(duo, versions, CreatableTopic(name=name, num_partitions=1, replication_factor=1))
    base = int(time.time() * 1000) - 60_000
    for stamp, values in ((base + 50, [b"a", b"b"]), (base, [b"c"]), (base + 10, [b"d"])):
        _setup_produce(duo, _produce(name, 0, _batch(values, stamp)))
    deleted = duo.same(
        DeleteRecordsRequest(
            topics=[DeleteRecordsTopic(name, [DeleteRecordsPartition(0, 2)])], timeout_ms=30_000
        ),
        versions["DeleteRecords"],
    )
    assert deleted["topics"][0]["partitions"][0]["low_watermark"] == 2
    v = versions["ListOffsets"]
    got = []
    for probe in ((0, -2, -1), (0, -1, -1), (0, base, -1), (0, base + 50, -1)):
        [p] = duo.same(_list_offsets(name, probe), v)["topics"][0]["partitions"]
        got.append((p["error_code"], p["offset"], p["timestamp"]))
    # earliest, latest; by time: the first record at or after, from the log start on
    assert got == [(NONE, 2, -1), (NONE, 4, -1), (NONE, 2, base), (NONE, -1, -1)]
    pair = duo.send(_list_offsets(name, (0, -3, -1)), v)
    [ours], [theirs] = pair.ours["topics"][0]["partitions"], pair.kafka["topics"][0]["partitions"]
    assert (ours["offset"], ours["timestamp"]) == (3, base + 10)
    assert (theirs["offset"], theirs["timestamp"]) == (0, base + 50)


# -- DescribeConfigs ----------------------------------------------------------------------


def _describe_known(response: Plain) -> Plain:
    """Documented differences: our extension configs; Kafka's ELR min.insync.replicas
    source; synonym lists (docs/compat.md)."""
    for result in response["results"]:
        result["configs"] = sorted(result["configs"], key=lambda c: str(c["name"]))
        result["configs"] = [
            {**c, "config_source": "<source>"} if c["name"] == "min.insync.replicas" else c
            for c in result["configs"]
            if c["name"] not in OUR_EXTENSIONS
        ]
    return drop_keys(response, frozenset({"synonyms", "documentation"}))


def test_describe_configs(duo: Duo, versions: dict[str, int], name: str) -> None:
    _create(duo, versions, CreatableTopic(name=name, num_partitions=1, replication_factor=1,
                                          configs=[CreatableTopicConfig("retention.ms", "5000")]))  # fmt: skip
    v = versions["DescribeConfigs"]
    everything = duo.same(
        DescribeConfigsRequest(
            resources=[DescribeConfigsResource(resource_type=2, resource_name=name,
                                               configuration_keys=None)],
            include_synonyms=True,
        ),
        v,
        known=_describe_known,
    )  # fmt: skip
    configs = {c["name"]: c for c in everything["results"][0]["configs"]}
    assert (configs["retention.ms"]["value"], configs["retention.ms"]["config_source"]) == (
        "5000",
        1,
    )
    some = duo.same(
        DescribeConfigsRequest(
            resources=[
                DescribeConfigsResource(resource_type=2, resource_name=name,
                                        configuration_keys=["segment.bytes", "no.such"]),
                DescribeConfigsResource(resource_type=2, resource_name=name + "-missing",
                                        configuration_keys=None),
            ],
        ),
        v,
        known=_describe_known,
    )  # fmt: skip
    assert [r["error_code"] for r in some["results"]] == [NONE, UNKNOWN_TOPIC_OR_PARTITION]
    assert [c["name"] for c in some["results"][0]["configs"]] == ["segment.bytes"]


# -- Groups: FindCoordinator, OffsetCommit/OffsetFetch, JoinGroup ------------------------


@pytest.fixture(scope="module")
def group_coordinators(kafka: KafkaCluster) -> None:
    """Kafka creates __consumer_offsets on the first FindCoordinator (ours at start-up):
    wait until Kafka's coordinator is there before comparing."""
    from compat.kafka.wire_client import WireClient

    deadline = time.monotonic() + 30
    with WireClient("127.0.0.1", kafka.nodes[0].port) as client:
        while True:
            response = client.send(FindCoordinatorRequest(key_type=0, coordinator_keys=["w"]), 4)
            if response.coordinators[0].error_code == NONE:
                return
            assert time.monotonic() < deadline, "Kafka's group coordinator never became available"
            time.sleep(0.1)


@pytest.mark.usefixtures("group_coordinators")
def test_find_coordinator(duo: Duo, versions: dict[str, int], name: str) -> None:
    v = versions["FindCoordinator"]
    response = duo.same(FindCoordinatorRequest(key_type=0, coordinator_keys=[name]), v)
    assert [(c["error_code"], c["node_id"]) for c in response["coordinators"]] == [(NONE, 1)]
    bad = duo.same(FindCoordinatorRequest(key_type=9, coordinator_keys=[name]), v)
    assert [c["error_code"] for c in bad["coordinators"]] == [INVALID_REQUEST]


@pytest.mark.usefixtures("group_coordinators")
def test_offset_commit_and_fetch(duo: Duo, versions: dict[str, int], name: str) -> None:
    _create(duo, versions, CreatableTopic(name=name, num_partitions=2, replication_factor=1))
    group = name + "-g"
    commit_v = min(versions["OffsetCommit"], 9)  # v10 addresses topics by id
    fetch_v = min(versions["OffsetFetch"], 9)

    def commit(generation: int, member: str) -> Plain:
        return duo.same(_commit_request(group, name, commit_v, generation, member), commit_v)

    def errors(response: Plain) -> list[int]:
        return [p["error_code"] for t in response["topics"] for p in t["partitions"]]

    assert errors(commit(-1, "")) == [NONE]  # a simple (standalone) consumer's commit
    assert errors(commit(3, "someone")) == [UNKNOWN_MEMBER_ID]  # no such group, no member
    missing = duo.same(_commit_request(group, name + "-missing", commit_v), commit_v)
    assert errors(missing) == [UNKNOWN_TOPIC_OR_PARTITION]
    fetched = duo.same(
        OffsetFetchRequest(groups=[OffsetFetchRequestGroup(group_id=group, topics=[
            OffsetFetchRequestTopics(name=name, partition_indexes=[0, 1])])]),
        fetch_v,
    )  # fmt: skip
    [g] = fetched["groups"]
    assert [(p["committed_offset"], p["metadata"]) for p in g["topics"][0]["partitions"]] == [
        (7, "m"),
        (-1, ""),
    ]
    nobody = duo.same(
        OffsetFetchRequest(groups=[OffsetFetchRequestGroup(group_id=group + "-none", topics=None)]),
        fetch_v,
    )
    assert nobody["groups"][0]["error_code"] == NONE and nobody["groups"][0]["topics"] == []


def _commit_request(
    group: str, topic: str, version: int, generation: int = -1, member: str = ""
) -> OffsetCommitRequest:
    return OffsetCommitRequest(
        group_id=group,
        generation_id_or_member_epoch=generation,
        member_id=member,
        topics=[OffsetCommitRequestTopic(name=topic, partitions=[
            OffsetCommitRequestPartition(partition_index=0, committed_offset=7,
                                         committed_metadata="m")])],
    )  # fmt: skip


def _join(
    group: str, member: str = "", *, session_ms: int = 10_000, proto: str = "consumer"
) -> JoinGroupRequest:
    return JoinGroupRequest(
        group_id=group,
        session_timeout_ms=session_ms,
        rebalance_timeout_ms=10_000,
        member_id=member,
        protocol_type=proto,
        protocols=[JoinGroupRequestProtocol(name="range", metadata=b"\0\0\0\0\0\0\0\0\0\0")],
    )  # fmt: skip


@pytest.mark.usefixtures("group_coordinators")
def test_join_group_errors(duo: Duo, versions: dict[str, int], name: str) -> None:
    v = versions["JoinGroup"]
    cases = {
        "empty group id": (_join(""), INVALID_GROUP_ID),
        "session too short": (_join(name, session_ms=1), INVALID_SESSION_TIMEOUT),
        "session too long": (_join(name, session_ms=10_000_000), INVALID_SESSION_TIMEOUT),
        "unknown member": (_join(name, "nobody"), UNKNOWN_MEMBER_ID),
        "first join": (_join(name), MEMBER_ID_REQUIRED if v >= 4 else NONE),
    }
    got = {label: duo.same(request, v)["error_code"] for label, (request, _e) in cases.items()}
    assert got == {label: expected for label, (_r, expected) in cases.items()}
