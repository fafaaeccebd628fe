"""aiokafka against the broker (AIOKafkaProducer, AIOKafkaConsumer by assign+seek, AIOKafkaAdminClient).

aiokafka is asyncio, the suite is synchronous: every adapter call runs its own
event loop (``asyncio.run``) under ``asyncio.timeout``, with the client
created, used and stopped inside it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import aiokafka
import aiokafka.errors
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from compat.suite import (
    GROUP_TIMEOUT_S,
    OP_TIMEOUT_S,
    Acks,
    Client,
    ClientError,
    ClientSuite,
    ClusterView,
    Message,
    Record,
)

T = TypeVar("T")


def _run(make: Callable[[], Awaitable[T]], timeout_s: float = OP_TIMEOUT_S + 5) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout_s):
            return await make()

    return asyncio.run(bounded())


def _common(bootstrap: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": bootstrap,
        "client_id": "compat-aiokafka",
        "request_timeout_ms": 10_000,
    }


def _raise_topic_errors(errors: Sequence[Sequence[Any]]) -> None:
    """``(topic, error_code, ...)`` entries of a Create/DeleteTopics response."""
    for entry in errors:
        code = entry[1]
        if code:
            raise ClientError(aiokafka.errors.for_code(code).message, repr(tuple(entry)))


def _record(r: Any) -> Record:
    return Record(r.partition, r.offset, r.key, r.value, tuple(r.headers or ()), r.timestamp)


async def _send_all(
    producer: AIOKafkaProducer, topic: str, messages: Sequence[Message]
) -> list[int | None]:
    """Send in order, wait for every ack; the offsets."""
    futures = [
        await producer.send(
            topic,
            m.value,
            key=m.key,
            partition=m.partition,
            timestamp_ms=m.timestamp_ms,
            headers=list(m.headers),
        )
        for m in messages
    ]
    results = await asyncio.gather(*futures)
    # acks=0: the future resolves to None (no response, no offset).
    return [None if md is None or md.offset < 0 else md.offset for md in results]


class AiokafkaClient(Client):
    def version(self) -> str:
        return str(aiokafka.__version__)

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
        async def go() -> list[int | None]:
            producer = AIOKafkaProducer(
                **_common(bootstrap),
                acks="all" if acks == "all" else int(acks),
                compression_type=None if codec == "none" else codec,
                enable_idempotence=idempotent,
                linger_ms=5,
            )
            await producer.start()
            try:
                return await _send_all(producer, topic, messages)
            finally:
                await producer.stop()

        return _run(go)

    def produce_around(
        self,
        bootstrap: str,
        topic: str,
        before: Sequence[Message],
        after: Sequence[Message],
        between: Callable[[], None],
    ) -> list[int | None]:
        async def go() -> list[int | None]:
            producer = AIOKafkaProducer(
                **_common(bootstrap), acks="all", enable_idempotence=True, linger_ms=5
            )
            await producer.start()
            try:
                offsets = await _send_all(producer, topic, before)
                await asyncio.to_thread(between)
                return offsets + await _send_all(producer, topic, after)
            finally:
                await producer.stop()

        return _run(go, 2 * OP_TIMEOUT_S + 30)

    async def _with_consumer(
        self, bootstrap: str, use: Callable[[AIOKafkaConsumer], Awaitable[T]]
    ) -> T:
        consumer = AIOKafkaConsumer(
            **_common(bootstrap),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=200,
        )
        await consumer.start()
        try:
            return await use(consumer)
        finally:
            await consumer.stop()

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
        got: dict[int, list[Record]] = {p: [] for p in start}

        async def read(consumer: AIOKafkaConsumer) -> None:
            tps = {p: TopicPartition(topic, p) for p in start}
            consumer.assign(list(tps.values()))
            for p, tp in tps.items():
                consumer.seek(tp, start[p])
            deadline = time.monotonic() + timeout_s
            pending = {p for p in start if counts[p] > 0}
            while pending and time.monotonic() < deadline:
                batches = await consumer.getmany(*[tps[p] for p in pending], timeout_ms=200)
                for tp, batch in batches.items():
                    got[tp.partition] += [_record(r) for r in batch]
                for p in list(pending):
                    if len(got[p]) >= counts[p]:
                        pending.discard(p)
                    elif stop_at_end:
                        high = consumer.highwater(tps[p])
                        if high is not None and await consumer.position(tps[p]) >= high:
                            pending.discard(p)

        _run(lambda: self._with_consumer(bootstrap, read), timeout_s + 10)
        return {p: records[: counts[p]] for p, records in got.items()}

    def fetch_around(
        self,
        bootstrap: str,
        topic: str,
        partition: int,
        first: int,
        second: int,
        between: Callable[[], None],
    ) -> list[Record]:
        got: list[Record] = []

        async def read(consumer: AIOKafkaConsumer) -> None:
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, 0)
            for want in (first, first + second):
                deadline = time.monotonic() + OP_TIMEOUT_S
                while len(got) < want and time.monotonic() < deadline:
                    for batch in (await consumer.getmany(tp, timeout_ms=200)).values():
                        got.extend(_record(r) for r in batch)
                if want == first:
                    await asyncio.to_thread(between)

        _run(lambda: self._with_consumer(bootstrap, read), 3 * OP_TIMEOUT_S + 30)
        return got

    def list_offsets(
        self, bootstrap: str, topic: str, partitions: Sequence[int]
    ) -> dict[int, tuple[int, int]]:
        tps = [TopicPartition(topic, p) for p in partitions]

        async def lookup(consumer: AIOKafkaConsumer) -> dict[int, tuple[int, int]]:
            low = await consumer.beginning_offsets(tps)
            high = await consumer.end_offsets(tps)
            return {tp.partition: (low[tp], high[tp]) for tp in tps}

        return _run(lambda: self._with_consumer(bootstrap, lookup))

    def offsets_for_times(
        self, bootstrap: str, topic: str, timestamps: Mapping[int, int]
    ) -> dict[int, int | None]:
        async def lookup(consumer: AIOKafkaConsumer) -> dict[int, int | None]:
            found = await consumer.offsets_for_times(
                {TopicPartition(topic, p): ts for p, ts in timestamps.items()}
            )
            return {
                tp.partition: (None if hit is None else hit.offset) for tp, hit in found.items()
            }

        return _run(lambda: self._with_consumer(bootstrap, lookup))

    async def _with_admin(
        self, bootstrap: str, use: Callable[[AIOKafkaAdminClient], Awaitable[T]]
    ) -> T:
        admin = AIOKafkaAdminClient(**_common(bootstrap))
        await admin.start()
        try:
            return await use(admin)
        finally:
            await admin.close()

    def cluster_view(self, bootstrap: str, topic: str) -> ClusterView:
        async def go() -> ClusterView:
            # A producer's metadata request auto-creates the topic.
            producer = AIOKafkaProducer(**_common(bootstrap))
            await producer.start()
            try:
                await producer.partitions_for(topic)
            finally:
                await producer.stop()

            async def describe(admin: AIOKafkaAdminClient) -> ClusterView:
                [described] = await admin.describe_topics([topic])
                cluster = await admin.describe_cluster()
                if described["error_code"]:
                    code = described["error_code"]
                    raise ClientError(aiokafka.errors.for_code(code).message, repr(described))
                return ClusterView(
                    brokers=frozenset(
                        (b["node_id"], b["host"], b["port"]) for b in cluster["brokers"]
                    ),
                    leaders={p["partition"]: p["leader"] for p in described["partitions"]},
                )

            return await self._with_admin(bootstrap, describe)

        return _run(go)

    def create_topic(self, bootstrap: str, topic: str, partitions: int) -> None:
        async def create(admin: AIOKafkaAdminClient) -> None:
            response = await admin.create_topics([NewTopic(topic, partitions, 1)])
            _raise_topic_errors(response.topic_errors)

        _run(lambda: self._with_admin(bootstrap, create))

    def delete_topic(self, bootstrap: str, topic: str) -> None:
        async def delete(admin: AIOKafkaAdminClient) -> None:
            response = await admin.delete_topics([topic])
            _raise_topic_errors(response.topic_error_codes)

        _run(lambda: self._with_admin(bootstrap, delete))

    def list_topics(self, bootstrap: str) -> set[str]:
        async def names(admin: AIOKafkaAdminClient) -> set[str]:
            return set(await admin.list_topics())

        return _run(lambda: self._with_admin(bootstrap, names))

    def consume_group(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        count: int,
        *,
        timeout_s: float = GROUP_TIMEOUT_S,
    ) -> list[Record]:
        async def go() -> list[Record]:
            consumer = AIOKafkaConsumer(
                topic,
                **_common(bootstrap),
                group_id=group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=200,
                session_timeout_ms=10_000,
                heartbeat_interval_ms=1_000,
            )
            await consumer.start()
            got: list[Record] = []
            try:
                deadline = time.monotonic() + timeout_s
                while len(got) < count and time.monotonic() < deadline:
                    for batch in (await consumer.getmany(timeout_ms=200)).values():
                        got += [_record(r) for r in batch]
                await consumer.commit()  # the positions after everything read
            finally:
                await consumer.stop()  # leaves the group
            return got

        return _run(go, timeout_s + 10)


class TestAiokafka(ClientSuite):
    CLIENT = "aiokafka"
    client: ClassVar[Client] = AiokafkaClient()
