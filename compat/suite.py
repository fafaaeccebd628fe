"""What every client must do against the broker: one suite, one adapter per client.

Each ``compat/test_<client>.py`` defines a ``Client`` adapter that drives one
real Kafka client (a Python library, or a subprocess: kcat, node) and a test
class ``class Test<Client>(ClientSuite)`` that plugs it in. The tests here are
written once, in terms of the adapter, so every client is held to the same
checks; what a client cannot do at all is listed in the class's
``UNSUPPORTED`` (feature -> reason), which removes those tests and shows
"n/a" in the matrix instead.

Adapters are deliberately thin: each call opens the client, does one thing
with the client's own public API (unless the adapter says otherwise) and
closes it, with a timeout on every blocking call. Kafka errors come back as
``ClientError`` carrying the Kafka error name (``TOPIC_ALREADY_EXISTS``), so
the suite can assert on them whatever the client's exception types are.

Data: records are keyed, carry headers (including a repeated header name)
and explicit CreateTime timestamps, spread over two partitions. Timestamps
start at "now" and grow by a second per record: a leader-change control batch
written when the partition was created is older than all of them, and they
stay well inside Kafka's default bound for future timestamps (one hour).
"""

from __future__ import annotations

import abc
import dataclasses
import random
import string
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeVar

import pytest

from compat.broker_process import BrokerProcess
from compat.features import CODECS

Acks = Literal["0", "1", "all"]
Header = tuple[str, bytes]

NUM_PARTITIONS = 2
OP_TIMEOUT_S = 15.0  # one client operation (produce, fetch, admin call)
GROUP_TIMEOUT_S = 30.0  # join, read, commit and leave a consumer group


class ClientError(Exception):
    """A Kafka error reported by the client, by its Kafka name (or None)."""

    def __init__(self, error: str | None, detail: str) -> None:
        super().__init__(f"{error}: {detail}")
        self.error = error
        self.detail = detail


@dataclass(frozen=True)
class Message:
    """A record to produce."""

    partition: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...]
    timestamp_ms: int | None  # None: the client stamps it


@dataclass(frozen=True)
class Record:
    """A record read back."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...]
    timestamp_ms: int


@dataclass(frozen=True)
class ClusterView:
    brokers: frozenset[tuple[int, str, int]]  # (node id, host, port)
    leaders: Mapping[int, int]  # partition -> leader node id


class Client(abc.ABC):
    """One Kafka client, driven through its own API. Every call is bounded."""

    # What the client can express; the suite adapts its data and checks.
    sets_timestamps: ClassVar[bool] = True  # per-record CreateTime on produce
    per_message_headers: ClassVar[bool] = True  # else one header set per produce call
    binary_safe: ClassVar[bool] = True  # keys/values may be arbitrary bytes
    reports_offsets: ClassVar[bool] = True  # produce() learns each record's offset
    # What the client's timestamp lookup answers past the last record: Kafka
    # says "no offset" (None); KafkaJS substitutes the latest offset.
    past_end_offset: ClassVar[Literal["none", "latest"]] = "none"

    @abc.abstractmethod
    def version(self) -> str:
        """The client's version, for the matrix."""

    @abc.abstractmethod
    def produce(
        self,
        bootstrap: str,
        topic: str,
        messages: Sequence[Message],
        *,
        codec: str = "none",
        acks: Acks = "all",
        idempotent: bool = False,
    ) -> list[int | None]:
        """Send all messages in order, wait for the acks; offsets (None when unknown)."""

    @abc.abstractmethod
    def fetch(
        self,
        bootstrap: str,
        topic: str,
        start: Mapping[int, int],
        counts: Mapping[int, int],
        *,
        stop_at_end: bool = False,
        timeout_s: float = OP_TIMEOUT_S,
    ) -> dict[int, list[Record]]:
        """Assign the partitions, seek each to ``start[p]``, read up to ``counts[p]``.

        Stops early at the partition's end (high watermark) when ``stop_at_end``.
        """

    @abc.abstractmethod
    def list_offsets(
        self, bootstrap: str, topic: str, partitions: Sequence[int]
    ) -> dict[int, tuple[int, int]]:
        """``{partition: (earliest, latest)}``."""

    @abc.abstractmethod
    def offsets_for_times(
        self, bootstrap: str, topic: str, timestamps: Mapping[int, int]
    ) -> dict[int, int | None]:
        """``{partition: first offset with timestamp >= timestamps[p], or None}``."""

    @abc.abstractmethod
    def cluster_view(self, bootstrap: str, topic: str) -> ClusterView:
        """Metadata as a producer asks for it (auto-creating the topic)."""

    @abc.abstractmethod
    def create_topic(self, bootstrap: str, topic: str, partitions: int) -> None:
        """Admin CreateTopics; raises ClientError on a Kafka error."""

    @abc.abstractmethod
    def delete_topic(self, bootstrap: str, topic: str) -> None:
        """Admin DeleteTopics; raises ClientError on a Kafka error."""

    @abc.abstractmethod
    def list_topics(self, bootstrap: str) -> set[str]:
        """Names of all topics (a Metadata request for all topics)."""

    @abc.abstractmethod
    def produce_around(
        self,
        bootstrap: str,
        topic: str,
        before: Sequence[Message],
        after: Sequence[Message],
        between: Callable[[], None],
    ) -> list[int | None]:
        """One idempotent acks=all producer sends ``before``, waits for their acks
        (where the client can), calls ``between()``, then sends ``after``; the
        offsets of all, in order (None when unknown)."""

    @abc.abstractmethod
    def fetch_around(
        self,
        bootstrap: str,
        topic: str,
        partition: int,
        first: int,
        second: int,
        between: Callable[[], None],
    ) -> list[Record]:
        """One consumer assigned to ``partition`` from offset 0 reads ``first``
        records, ``between()`` runs, the same consumer reads ``second`` more."""

    @abc.abstractmethod
    def consume_group(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        count: int,
        *,
        timeout_s: float = GROUP_TIMEOUT_S,
    ) -> list[Record]:
        """Join ``group`` subscribed to ``topic`` (from the earliest offset when the
        group has none), read ``count`` records, commit their offsets, leave."""


# -- data ----------------------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


_FILLER = b"the quick brown fox jumps over the lazy dog 0123456789 "


def make_messages(
    client: Client,
    label: str,
    count: int,
    *,
    partitions: Sequence[int] = tuple(range(NUM_PARTITIONS)),
    base_ms: int | None = None,
    step_ms: int = 1000,
) -> list[Message]:
    """``count`` distinct keyed records, round-robin over ``partitions``.

    Values vary in length (and so in compressibility); for clients that take
    arbitrary bytes they include bytes that are not UTF-8. Headers: a
    per-record id, then one name repeated with two values, and every third
    record has none, all within what the client can express. Timestamps are
    ``step_ms`` apart from ``base_ms`` (default: now).
    """
    base = now_ms() if base_ms is None else base_ms
    out = []
    for i in range(count):
        value = f"{label}/{i}:".encode() + _FILLER * (1 + (i * 7) % 5)
        if client.binary_safe:
            value += bytes([0, 255, i % 256, 128])
        if client.per_message_headers:
            headers: tuple[Header, ...] = (
                ()
                if i % 3 == 2
                else (("record-id", f"{label}-{i}".encode()), ("dup", b"one"), ("dup", b"two"))
            )
        else:
            headers = (("record-id", label.encode()), ("dup", b"one"), ("dup", b"two"))
        out.append(
            Message(
                partition=partitions[i % len(partitions)],
                key=f"{label}-key-{i}".encode(),
                value=value,
                headers=headers,
                timestamp_ms=base + step_ms * i if client.sets_timestamps else None,
            )
        )
    return out


def split_by_partition(records: Iterable[Record]) -> dict[int, list[Record]]:
    """Records as a group consumer delivers them (partitions interleaved), per partition."""
    out: dict[int, list[Record]] = defaultdict(list)
    for r in records:
        out[r.partition].append(r)
    return dict(out)


def by_partition(messages: Iterable[Message]) -> dict[int, list[Message]]:
    out: dict[int, list[Message]] = defaultdict(list)
    for m in messages:
        out[m.partition].append(m)
    return dict(out)


@dataclass
class Produced:
    """What a produce call sent and what the client reported back."""

    messages: list[Message]
    offsets: list[int | None]
    started_ms: int
    finished_ms: int

    def partitions(self) -> dict[int, list[tuple[Message, int | None]]]:
        out: dict[int, list[tuple[Message, int | None]]] = defaultdict(list)
        for m, off in zip(self.messages, self.offsets, strict=True):
            out[m.partition].append((m, off))
        return dict(out)


def produce(
    client: Client,
    bootstrap: str,
    topic: str,
    messages: list[Message],
    *,
    codec: str = "none",
    acks: Acks = "all",
    idempotent: bool = False,
) -> Produced:
    started = now_ms()
    offsets = client.produce(
        bootstrap, topic, messages, codec=codec, acks=acks, idempotent=idempotent
    )
    finished = now_ms()
    assert len(offsets) == len(messages), "the adapter must report one offset per message"
    if acks != "0" and client.reports_offsets:
        missing = [i for i, off in enumerate(offsets) if off is None]
        assert not missing, f"acks={acks}: no offset acknowledged for messages {missing}"
    return Produced(messages, offsets, started, finished)


# -- checks ----------------------------------------------------------------------


def expected_view(
    m: Message,
) -> tuple[bytes | None, bytes | None, tuple[Header, ...], int | None]:
    return (m.key, m.value, m.headers, m.timestamp_ms)


def record_view(
    r: Record, sets_timestamps: bool
) -> tuple[bytes | None, bytes | None, tuple[Header, ...], int | None]:
    return (r.key, r.value, r.headers, r.timestamp_ms if sets_timestamps else None)


def check_read_back(
    produced: Produced, records: Mapping[int, Sequence[Record]], *, sets_timestamps: bool = True
) -> None:
    """Everything produced is read back once, in order, exactly as sent.

    Offsets must increase (control batches may leave gaps) and equal the
    acknowledged ones where the client reported them. Without explicit
    timestamps, each CreateTime must fall within the produce call (+-1 s).
    """
    for partition, sent in sorted(produced.partitions().items()):
        got = list(records.get(partition, []))
        assert [record_view(r, sets_timestamps) for r in got] == [
            expected_view(m) for m, _ in sent
        ], f"partition {partition}: records read back differ from those produced"
        offsets = [r.offset for r in got]
        assert offsets == sorted(set(offsets)), f"partition {partition}: offsets {offsets}"
        acked = [off for _, off in sent]
        if all(off is not None for off in acked):
            assert offsets == acked, f"partition {partition}: read offsets != acknowledged"
        if not sets_timestamps:
            # The client stamped CreateTime itself while we waited for it.
            for r in got:
                assert (
                    produced.started_ms - 1000 <= r.timestamp_ms <= produced.finished_ms + 1000
                ), (
                    f"partition {partition} offset {r.offset}: timestamp {r.timestamp_ms} "
                    f"outside [{produced.started_ms}, {produced.finished_ms}]"
                )


def read_all(
    client: Client, bootstrap: str, topic: str, produced: Produced, *, extra: int = 0
) -> dict[int, list[Record]]:
    """Read each partition from offset 0; ``extra`` > 0 also proves nothing follows."""
    counts = {p: len(sent) + extra for p, sent in produced.partitions().items()}
    return client.fetch(
        bootstrap,
        topic,
        dict.fromkeys(counts, 0),
        counts,
        stop_at_end=extra > 0,
    )


T = TypeVar("T")


def eventually(
    probe: Callable[[], T],
    ok: Callable[[T], bool],
    *,
    timeout_s: float = 10.0,
    interval_s: float = 0.25,
    what: str = "condition",
) -> T:
    """Call ``probe`` until ``ok`` holds of its result (bounded); the last result."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
        except ClientError as exc:
            last_error = exc
        else:
            if ok(value):
                return value
            last_error = None
        if time.monotonic() >= deadline:
            detail = f"; last error: {last_error}" if last_error else f"; last value: {value!r}"
            raise AssertionError(f"{what} not reached in {timeout_s:.0f} s{detail}")
        time.sleep(interval_s)


# -- the suite -------------------------------------------------------------------


def _codec_params() -> list[object]:
    return [
        pytest.param(codec, marks=pytest.mark.feature(f"produce-{codec}"), id=codec)
        for codec in CODECS
    ]


def _acks_params() -> list[object]:
    return [
        pytest.param(acks, marks=pytest.mark.feature(f"acks-{acks}"), id=f"acks-{acks}")
        for acks in ("0", "1", "all")
    ]


class ClientSuite:
    """The compat tests; subclasses set ``CLIENT``, ``client`` and ``UNSUPPORTED``."""

    CLIENT: ClassVar[str]
    client: ClassVar[Client]
    UNSUPPORTED: ClassVar[Mapping[str, str]] = {}

    @pytest.mark.feature("metadata")
    @pytest.mark.apis("Metadata")
    def test_metadata(self, broker: BrokerProcess, topic: str) -> None:
        view = eventually(
            lambda: self.client.cluster_view(broker.bootstrap, topic),
            lambda v: (
                set(v.leaders) == set(range(NUM_PARTITIONS))
                and all(leader >= 0 for leader in v.leaders.values())
            ),
            what=f"{topic} with {NUM_PARTITIONS} partitions that all have leaders",
        )
        assert dict(view.leaders) == dict.fromkeys(range(NUM_PARTITIONS), broker.node_id)
        assert (broker.node_id, broker.host, broker.port) in view.brokers

    @pytest.mark.parametrize("codec", _codec_params())
    @pytest.mark.apis("Metadata", "Produce", "Fetch")
    def test_produce_codec(self, broker: BrokerProcess, topic: str, codec: str) -> None:
        messages = make_messages(self.client, f"codec-{codec}", 12)
        produced = produce(self.client, broker.bootstrap, topic, messages, codec=codec)
        self._check(produced, read_all(self.client, broker.bootstrap, topic, produced))

    @pytest.mark.parametrize("acks", _acks_params())
    @pytest.mark.apis("Metadata", "Produce", "Fetch")
    def test_acks(self, broker: BrokerProcess, topic: str, acks: Acks) -> None:
        messages = make_messages(self.client, f"acks-{acks}", 6)
        produced = produce(self.client, broker.bootstrap, topic, messages, acks=acks)
        self._check(produced, read_all(self.client, broker.bootstrap, topic, produced))

    @pytest.mark.feature("produce-idempotent")
    @pytest.mark.apis("Metadata", "Produce", "Fetch", "InitProducerId")
    def test_idempotent(self, broker: BrokerProcess, topic: str) -> None:
        messages = make_messages(self.client, "idempotent", 10)
        produced = produce(self.client, broker.bootstrap, topic, messages, idempotent=True)
        records = read_all(self.client, broker.bootstrap, topic, produced, extra=1)
        self._check(produced, records)

    @pytest.mark.feature("fetch-seek")
    @pytest.mark.apis("Metadata", "Produce", "Fetch")
    def test_fetch_seek(self, broker: BrokerProcess, topic: str) -> None:
        # One produce call: the records share a batch, so the seek lands inside it.
        messages = make_messages(self.client, "seek", 10, partitions=[0])
        produced = produce(self.client, broker.bootstrap, topic, messages)
        records = read_all(self.client, broker.bootstrap, topic, produced)[0]
        assert len(records) == len(messages)
        for index in (4, 9):
            got = self.client.fetch(
                broker.bootstrap, topic, {0: records[index].offset}, {0: len(messages) - index}
            )[0]
            assert [r.offset for r in got] == [r.offset for r in records[index:]]
            assert [record_view(r, True) for r in got] == [
                record_view(r, True) for r in records[index:]
            ]

    @pytest.mark.feature("list-offsets")
    @pytest.mark.apis("Metadata", "Produce", "Fetch", "ListOffsets")
    def test_list_offsets(self, broker: BrokerProcess, topic: str) -> None:
        produced = produce(
            self.client, broker.bootstrap, topic, make_messages(self.client, "list", 7)
        )
        records = read_all(self.client, broker.bootstrap, topic, produced)
        offsets = self.client.list_offsets(broker.bootstrap, topic, sorted(records))
        for partition, got in records.items():
            earliest, latest = offsets[partition]
            assert earliest == 0, f"partition {partition}: earliest offset of a new topic"
            assert latest == got[-1].offset + 1, f"partition {partition}: latest offset"

    @pytest.mark.feature("offsets-for-times")
    @pytest.mark.apis("Metadata", "Produce", "Fetch", "ListOffsets")
    def test_offsets_for_times(self, broker: BrokerProcess, topic: str) -> None:
        produced = produce(
            self.client, broker.bootstrap, topic, make_messages(self.client, "times", 10)
        )
        records = read_all(self.client, broker.bootstrap, topic, produced)
        latest = {p: got[-1].offset + 1 for p, got in records.items()}

        def expected(partition: int, ts: int) -> int | None:
            for r in records[partition]:
                if r.timestamp_ms >= ts:
                    return r.offset
            return latest[partition] if self.client.past_end_offset == "latest" else None

        def targets(got: list[Record]) -> list[int]:
            mid = got[len(got) // 2].timestamp_ms
            return [
                got[0].timestamp_ms - 500,  # before everything: the first record
                mid,  # exactly a record's timestamp
                mid - 1,  # between two records: the later one
                got[-1].timestamp_ms,  # the last record
                got[-1].timestamp_ms + 1,  # past the end: no offset
            ]

        per_partition = {p: targets(got) for p, got in records.items()}
        for round_ in range(5):
            query = {p: ts[round_] for p, ts in per_partition.items()}
            answer = self.client.offsets_for_times(broker.bootstrap, topic, query)
            want = {p: expected(p, ts) for p, ts in query.items()}
            assert answer == want, f"lookup of timestamps {query}"

    @pytest.mark.feature("admin-create-topics")
    @pytest.mark.apis("Metadata", "CreateTopics")
    def test_admin_create_topics(self, broker: BrokerProcess, topic: str) -> None:
        self.client.create_topic(broker.bootstrap, topic, 3)
        eventually(
            lambda: self.client.list_topics(broker.bootstrap),
            lambda names: topic in names,
            what=f"{topic} listed",
        )
        view = eventually(
            lambda: self.client.cluster_view(broker.bootstrap, topic),
            lambda v: len(v.leaders) == 3 and all(leader >= 0 for leader in v.leaders.values()),
            what=f"{topic} with 3 partitions that all have leaders",
        )
        assert set(view.leaders) == {0, 1, 2}
        with pytest.raises(ClientError) as info:
            self.client.create_topic(broker.bootstrap, topic, 3)
        assert info.value.error == "TOPIC_ALREADY_EXISTS"

    @pytest.mark.feature("admin-delete-topics")
    @pytest.mark.apis("Metadata", "CreateTopics", "DeleteTopics")
    def test_admin_delete_topics(self, broker: BrokerProcess, topic: str) -> None:
        self.client.create_topic(broker.bootstrap, topic, 1)
        eventually(
            lambda: self.client.list_topics(broker.bootstrap),
            lambda names: topic in names,
            what=f"{topic} listed after creation",
        )
        self.client.delete_topic(broker.bootstrap, topic)
        eventually(
            lambda: self.client.list_topics(broker.bootstrap),
            lambda names: topic not in names,
            what=f"{topic} gone after deletion",
        )
        with pytest.raises(ClientError) as info:
            self.client.delete_topic(broker.bootstrap, topic)
        assert info.value.error == "UNKNOWN_TOPIC_OR_PARTITION"

    @pytest.mark.feature("null-and-empty")
    @pytest.mark.apis("Metadata", "Produce", "Fetch")
    def test_null_and_empty(self, broker: BrokerProcess, topic: str) -> None:
        base = now_ms()
        shapes: list[tuple[bytes | None, bytes | None]] = [
            (None, b"value-without-key"),
            (b"tombstone-key", None),  # a tombstone: null value
            (b"", b""),  # empty is not null
            (b"key", b"value"),
        ]
        messages = [
            Message(
                partition=0,
                key=key,
                value=value,
                headers=(("empty-header", b""), ("h", b"x")),
                timestamp_ms=base + 1000 * i if self.client.sets_timestamps else None,
            )
            for i, (key, value) in enumerate(shapes)
        ]
        produced = produce(self.client, broker.bootstrap, topic, messages)
        self._check(produced, read_all(self.client, broker.bootstrap, topic, produced, extra=1))

    @pytest.mark.feature("fetch-many")
    @pytest.mark.apis("Metadata", "Produce", "Fetch")
    def test_fetch_many(self, broker: BrokerProcess, topic: str) -> None:
        # ~1.3 MB in one partition: many producer batches, several fetches of
        # at most the clients' default 1 MiB per partition.
        messages = make_messages(self.client, "many", 5000, partitions=[0], step_ms=1)
        produced = produce(self.client, broker.bootstrap, topic, messages, codec="none")
        self._check(produced, read_all(self.client, broker.bootstrap, topic, produced, extra=1))

    @pytest.mark.feature("produce-large")
    @pytest.mark.apis("Metadata", "Produce", "Fetch")
    def test_produce_large(self, broker: BrokerProcess, topic: str) -> None:
        rng = random.Random(20261126)
        size = 900_000  # under every client's default 1 MB request/message limit
        if self.client.binary_safe:
            big = rng.randbytes(size)
        else:
            big = "".join(rng.choices(string.ascii_letters, k=size)).encode()
        base = now_ms()
        messages = [
            Message(0, b"small-before", b"before", (("h", b"1"),), base),
            Message(0, b"large", big, (("h", b"1"),), base + 1000),
            Message(0, b"small-after", b"after", (("h", b"1"),), base + 2000),
        ]
        if not self.client.sets_timestamps:
            messages = [dataclasses.replace(m, timestamp_ms=None) for m in messages]
        produced = produce(self.client, broker.bootstrap, topic, messages)
        self._check(produced, read_all(self.client, broker.bootstrap, topic, produced, extra=1))

    @pytest.mark.feature("consumer-group")
    @pytest.mark.apis(
        "Metadata",
        "Produce",
        "Fetch",
        "FindCoordinator",
        "JoinGroup",
        "SyncGroup",
        "Heartbeat",
        "LeaveGroup",
        "OffsetCommit",
        "OffsetFetch",
    )
    def test_consumer_group(self, broker: BrokerProcess, topic: str) -> None:
        group = f"{topic}.group"
        first = produce(
            self.client, broker.bootstrap, topic, make_messages(self.client, "group-1", 6)
        )
        got = self.client.consume_group(broker.bootstrap, topic, group, 6)
        self._check(first, split_by_partition(got))
        # The group committed: a new member resumes after what was read.
        second = produce(
            self.client,
            broker.bootstrap,
            topic,
            make_messages(
                self.client, "group-2", 4, base_ms=_after(first.messages[-1].timestamp_ms)
            ),
        )
        got = self.client.consume_group(broker.bootstrap, topic, group, 4)
        self._check(second, split_by_partition(got))

    @pytest.mark.feature("restart-producer")
    @pytest.mark.apis("Metadata", "Produce", "Fetch", "InitProducerId")
    def test_producer_across_restart(self, broker: BrokerProcess, topic: str) -> None:
        messages = make_messages(self.client, "around", 12, partitions=[0])
        before, after = messages[:6], messages[6:]
        started = now_ms()
        offsets = self.client.produce_around(broker.bootstrap, topic, before, after, broker.restart)
        produced = Produced(before + after, offsets, started, now_ms())
        self._check(produced, read_all(self.client, broker.bootstrap, topic, produced, extra=1))

    @pytest.mark.feature("restart-consumer")
    @pytest.mark.apis("Metadata", "Produce", "Fetch", "ListOffsets")
    def test_consumer_across_restart(self, broker: BrokerProcess, topic: str) -> None:
        messages = make_messages(self.client, "consumed", 12, partitions=[0])
        first = produce(self.client, broker.bootstrap, topic, messages[:6])
        later: list[Produced] = []

        def restart_and_produce() -> None:
            broker.restart()
            later.append(produce(self.client, broker.bootstrap, topic, messages[6:]))

        records = self.client.fetch_around(broker.bootstrap, topic, 0, 6, 6, restart_and_produce)
        [second] = later
        both = Produced(
            messages, first.offsets + second.offsets, first.started_ms, second.finished_ms
        )
        self._check(both, {0: records})

    # The restart tests restart the module's broker (one start less per test
    # than a broker of their own, which matters on 2 cores); they come last
    # in the class, and a broker they leave stopped is started again by the
    # next test's API check.

    @pytest.mark.feature("restart-sigterm")
    @pytest.mark.apis("Metadata", "Produce", "Fetch")
    def test_restart_sigterm(self, broker: BrokerProcess, topic: str) -> None:
        self._survives_restart(broker, topic, hard=False)

    @pytest.mark.feature("restart-sigkill")
    @pytest.mark.apis("Metadata", "Produce", "Fetch")
    def test_restart_sigkill(self, broker: BrokerProcess, topic: str) -> None:
        self._survives_restart(broker, topic, hard=True)

    def _check(self, produced: Produced, records: Mapping[int, Sequence[Record]]) -> None:
        check_read_back(produced, records, sets_timestamps=self.client.sets_timestamps)

    def _survives_restart(self, broker: BrokerProcess, topic: str, *, hard: bool) -> None:
        """acks=all records survive a restart: all there, once each, in order."""
        first = produce(
            self.client, broker.bootstrap, topic, make_messages(self.client, "before", 8)
        )
        broker.restart(hard=hard)  # SIGTERM (exit code 0 asserted) or SIGKILL
        records = read_all(self.client, broker.bootstrap, topic, first, extra=1)
        self._check(first, records)

        # The restarted broker appends new writes after the recovered ones.
        second = produce(
            self.client,
            broker.bootstrap,
            topic,
            make_messages(self.client, "after", 6, base_ms=_after(first.messages[-1].timestamp_ms)),
        )
        both = Produced(
            first.messages + second.messages,
            first.offsets + second.offsets,
            first.started_ms,
            second.finished_ms,
        )
        self._check(both, read_all(self.client, broker.bootstrap, topic, both, extra=1))


def _after(timestamp_ms: int | None) -> int | None:
    return None if timestamp_ms is None else timestamp_ms + 1000
