"""KafkaJS against the broker, through ``compat/node/kafkajs_client.js`` (JSON in, JSON out).

Each adapter call is one node process running one KafkaJS operation (see the
script's header). KafkaJS has no public assign()/seek() outside consumer
groups, so reading goes through the Cluster/Broker/Batch layer its consumer
is built on. Snappy, LZ4 and ZSTD need codecs KafkaJS does not ship:
``compat/node/codecs.js`` registers them (kafkajs-snappy, and our own small
codecs over the pure-JS lz4js and the WebAssembly zstd-codec, all pinned in
``compat/node/package.json``).
"""

from __future__ import annotations

import base64
import json
import select
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from compat import tools
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

SCRIPT = tools.NODE_DIR / "kafkajs_client.js"
_ACKS = {"0": 0, "1": 1, "all": -1}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def _node() -> str:
    node = tools.require_tool("node", tools.node_path())
    tools.require_tool("kafkajs", tools.kafkajs_dir())
    return node


def _request(bootstrap: str, op: str, **args: Any) -> bytes:
    return (json.dumps({"op": op, "brokers": [bootstrap], **args}) + "\n").encode()


def _response(stdout: bytes, stderr: bytes) -> Any:
    """The script's last stdout line: the result, or the Kafka error raised."""
    lines = stdout.decode().strip().splitlines()
    if not lines:
        raise RuntimeError(f"node {SCRIPT.name} answered nothing: {stderr.decode()}")
    response: dict[str, Any] = json.loads(lines[-1])
    if "error" in response:
        error = response["error"]
        raise ClientError(error.get("type"), f"{error.get('name')}: {error.get('message')}")
    return response["ok"]


def _call(bootstrap: str, op: str, timeout_s: float = OP_TIMEOUT_S + 10, **args: Any) -> Any:
    done = subprocess.run(
        [_node(), str(SCRIPT)],
        input=_request(bootstrap, op, **args),
        capture_output=True,
        cwd=tools.NODE_DIR,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"node {SCRIPT.name} {op} exited {done.returncode}: {done.stderr.decode()}"
        )
    return _response(done.stdout, done.stderr)


def _call_around(request: bytes, between: Callable[[], None]) -> Any:
    """Run a two-phase op: once the script reports its first phase on a line,
    run ``between()`` and tell it to go on; the final response."""
    proc = subprocess.Popen(
        [_node(), str(SCRIPT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tools.NODE_DIR,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(request)
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], OP_TIMEOUT_S + 10)
        # The script writes its phase report and waits for us, so this reads
        # exactly one line, and communicate() below misses nothing.
        first = proc.stdout.readline() if ready else b""
        if not first:
            proc.kill()
            _, stderr = proc.communicate()
            raise RuntimeError(f"node {SCRIPT.name}: no first phase: {stderr.decode()}")
        # The first line is the phase report, or already the final (error) response.
        if b'"ok"' not in first and b'"error"' not in first:
            between()
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
            last, stderr = proc.communicate(timeout=OP_TIMEOUT_S + 10)
        else:
            last, stderr = first, b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return _response(last, stderr)


def _wire(m: Message) -> dict[str, Any]:
    return {
        "partition": m.partition,
        "key": None if m.key is None else _b64(m.key),
        "value": None if m.value is None else _b64(m.value),
        "headers": [[name, _b64(value)] for name, value in m.headers],
        "timestamp": m.timestamp_ms,
    }


def _record(r: dict[str, Any]) -> Record:
    return Record(
        int(r["partition"]),
        int(r["offset"]),
        _unb64(r["key"]),
        _unb64(r["value"]),
        tuple((name, base64.b64decode(value)) for name, value in r["headers"]),
        int(r["timestamp"]),
    )


class KafkaJSClient(Client):
    # fetchTopicOffsetsByTimestamp answers the latest offset, not "none", past the end.
    past_end_offset = "latest"

    def version(self) -> str:
        found = tools.kafkajs_dir()
        if found is None:
            return "(not installed)"
        return str(json.loads((found / "package.json").read_text())["version"])

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
        offsets = _call(
            bootstrap,
            "produce",
            topic=topic,
            acks=_ACKS[acks],
            compression=codec,
            idempotent=idempotent,
            messages=[_wire(m) for m in messages],
        )
        return [None if off is None else int(off) for off in offsets]

    def produce_around(
        self,
        bootstrap: str,
        topic: str,
        before: Sequence[Message],
        after: Sequence[Message],
        between: Callable[[], None],
    ) -> list[int | None]:
        request = _request(
            bootstrap,
            "produce_around",
            topic=topic,
            acks=-1,
            compression="none",
            before=[_wire(m) for m in before],
            after=[_wire(m) for m in after],
        )
        offsets = _call_around(request, between)
        return [None if off is None else int(off) for off in offsets]

    def fetch_around(
        self,
        bootstrap: str,
        topic: str,
        partition: int,
        first: int,
        second: int,
        between: Callable[[], None],
    ) -> list[Record]:
        request = _request(
            bootstrap,
            "fetch_around",
            topic=topic,
            partition=partition,
            offset="0",
            first=first,
            second=second,
            timeoutMs=int(OP_TIMEOUT_S * 1000),
        )
        return [_record(r) for r in _call_around(request, between)]

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
        got = _call(
            bootstrap,
            "fetch",
            timeout_s=timeout_s + 10,
            topic=topic,
            offsets={str(p): str(off) for p, off in start.items()},
            counts={str(p): n for p, n in counts.items()},
            stopAtEnd=stop_at_end,
            timeoutMs=int(timeout_s * 1000),
        )
        return {int(p): [_record(r) for r in records] for p, records in got.items()}

    def list_offsets(
        self, bootstrap: str, topic: str, partitions: Sequence[int]
    ) -> dict[int, tuple[int, int]]:
        found = _call(bootstrap, "list_offsets", topic=topic)
        by_partition = {int(o["partition"]): (int(o["low"]), int(o["high"])) for o in found}
        return {p: by_partition[p] for p in partitions}

    def offsets_for_times(
        self, bootstrap: str, topic: str, timestamps: Mapping[int, int]
    ) -> dict[int, int | None]:
        # One timestamp for all partitions per call in KafkaJS: one call per
        # distinct timestamp.
        out: dict[int, int | None] = {}
        for ts in sorted(set(timestamps.values())):
            found = _call(bootstrap, "offsets_by_time", topic=topic, timestamp=str(ts))
            for entry in found:
                p = int(entry["partition"])
                if timestamps.get(p) == ts:
                    offset = int(entry["offset"])
                    out[p] = None if offset < 0 else offset
        return out

    def cluster_view(self, bootstrap: str, topic: str) -> ClusterView:
        found = _call(bootstrap, "metadata", topic=topic)
        return ClusterView(
            brokers=frozenset((b["nodeId"], b["host"], b["port"]) for b in found["brokers"]),
            leaders={p["partition"]: p["leader"] for p in found["partitions"]},
        )

    def create_topic(self, bootstrap: str, topic: str, partitions: int) -> None:
        created = _call(
            bootstrap, "create_topics", topics=[{"topic": topic, "partitions": partitions}]
        )
        if created is False:  # KafkaJS's answer to TOPIC_ALREADY_EXISTS
            raise ClientError("TOPIC_ALREADY_EXISTS", "createTopics resolved to false")

    def delete_topic(self, bootstrap: str, topic: str) -> None:
        # KafkaJS retries UNKNOWN_TOPIC_OR_PARTITION; one retry is enough to see it.
        _call(bootstrap, "delete_topics", topics=[topic], retries=1)

    def list_topics(self, bootstrap: str) -> set[str]:
        return set(_call(bootstrap, "list_topics"))

    def consume_group(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        count: int,
        *,
        timeout_s: float = GROUP_TIMEOUT_S,
    ) -> list[Record]:
        got = _call(
            bootstrap,
            "consume_group",
            timeout_s=timeout_s + 10,
            topic=topic,
            group=group,
            count=count,
            timeoutMs=int(timeout_s * 1000),
        )
        return [_record(r) for r in got]


class TestKafkaJS(ClientSuite):
    CLIENT = "kafkajs"
    client: ClassVar[Client] = KafkaJSClient()
