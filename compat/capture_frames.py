"""Capture the request frames that real Kafka clients send, as test fixtures.

Test tooling, not broker code, and not run in CI.  A tiny fake Kafka broker
listens on a free port on 127.0.0.1 and answers just enough for a producer to
deliver one message: ApiVersions, Metadata (one broker, itself; one topic
``frames`` with one partition led by broker 0), Produce (success, base offset
0) and InitProducerId.  Any other request gets its response type filled with
defaults.  All encoding and decoding uses kafka-python 3.0.12's own protocol
classes.  It advertises what Kafka 4.1 advertises, clamped to what
kafka-python can encode, so clients pick the versions they would pick against
a real 4.1 broker.

Each client (aiokafka, kafka-python, confluent-kafka, kcat, KafkaJS) produces
one keyed message with a header to ``frames`` against a fresh fake broker, and
every request frame it sent (the bytes after the 4-byte length prefix) is
written to ``<out>/<capture>.json`` as a list of objects with ``api_key``,
``api_version``, ``correlation_id``, ``client_id`` and ``hex``.  The capture
named after the client uses the client's default settings; ``<client>-idempotent``
turns idempotence on for the clients that leave it off by default (kafka-python
has it on), so InitProducerId and idempotent batches are captured too.  A full
run also writes ``<out>/README.md``, listing each client's version and the
(api_key, api_version) pairs it sent.

    .venv/bin/python -m compat.capture_frames --out tests/wire/frames
    .venv/bin/python -m compat.capture_frames --out /tmp/frames kcat kafkajs
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.metadata
import json
import logging
import os
import pkgutil
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import kafka.protocol
from kafka.protocol.api_message import ApiMessage
from kafka.protocol.broker_version_data import BROKER_API_VERSIONS
from kafka.protocol.metadata import (
    ApiVersionsRequest,
    ApiVersionsResponse,
    MetadataRequest,
    MetadataResponse,
)
from kafka.protocol.producer import (
    InitProducerIdRequest,
    InitProducerIdResponse,
    ProduceRequest,
    ProduceResponse,
)

from compat import tools

log = logging.getLogger("capture_frames")

TOPIC = "frames"
TOPIC_ID = uuid.UUID("5a6b2f1e-0c3d-4e5f-8a9b-1c2d3e4f5a6b")
CLUSTER_ID = "capture-frames-cluster"
BROKER_ID = 0
PRODUCER_ID = 4242
KEY = b"frame-key"
VALUE = b"frame-value"
HEADER = ("frame-header", b"header-value")

API_VERSIONS = 18
UNSUPPORTED_VERSION = 35
UNKNOWN_TOPIC_OR_PARTITION = 3
UNKNOWN_TOPIC_ID = 100

CLIENT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Frame:
    """One request frame as a client sent it (without the length prefix)."""

    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    hex: str


def _protocol_classes() -> tuple[dict[int, Any], dict[int, Any]]:
    """kafka-python's request and response classes, by API key."""
    for mod in pkgutil.walk_packages(kafka.protocol.__path__, "kafka.protocol."):
        if not any(part in mod.name for part in (".old", ".schemas", "generate_stubs")):
            importlib.import_module(mod.name)
    requests: dict[int, Any] = {}
    responses: dict[int, Any] = {}
    todo: list[Any] = [ApiMessage]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls is ApiMessage or cls._class_version is not None:
            continue
        table = requests if cls.type == "request" else responses
        table.setdefault(int(cls.API_KEY), cls)
    return requests, responses


REQUESTS, RESPONSES = _protocol_classes()


def advertised_versions() -> dict[int, tuple[int, int]]:
    """Kafka 4.1's ApiVersions, clamped to what kafka-python can encode."""
    out: dict[int, tuple[int, int]] = {}
    for key, (lo, hi) in sorted(BROKER_API_VERSIONS[(4, 1)].items()):
        req, resp = REQUESTS.get(key), RESPONSES.get(key)
        if req is None or resp is None:
            continue
        top = min(hi, int(req.max_version), int(resp.max_version))
        if lo <= top:
            out[key] = (lo, top)
    return out


ADVERTISED = advertised_versions()


def parse_request_header(frame: bytes) -> tuple[int, int, int, str | None]:
    """(api_key, api_version, correlation_id, client_id) of a request frame.

    Parsed by hand so that frames kafka-python cannot decode (an ApiVersions
    version newer than it knows) are still recorded.  Every request header
    version a client uses here (v1, v2) starts the same way, and client_id is
    never a compact string.
    """
    api_key, api_version, correlation_id, n = struct.unpack_from(">hhih", frame, 0)
    client_id = None if n < 0 else frame[10 : 10 + n].decode("utf-8", "replace")
    return api_key, api_version, correlation_id, client_id


def _api_versions_response(version: int) -> Any:
    if version > int(ApiVersionsRequest.max_version):
        # KIP-511: answer an unknown ApiVersions version with a v0 body saying
        # which versions we do support; the client retries with one of them.
        return ApiVersionsResponse[0](
            error_code=UNSUPPORTED_VERSION,
            api_keys=[ApiVersionsResponse.ApiVersion(API_VERSIONS, *ADVERTISED[API_VERSIONS])],
        )
    return ApiVersionsResponse[version](
        error_code=0,
        api_keys=[
            ApiVersionsResponse.ApiVersion(api_key=k, min_version=lo, max_version=hi)
            for k, (lo, hi) in ADVERTISED.items()
        ],
        throttle_time_ms=0,
    )


def _metadata_response(request: Any, version: int, port: int) -> Any:
    topic_cls = MetadataResponse.MetadataResponseTopic
    partition_cls = topic_cls.MetadataResponsePartition
    frames_topic = topic_cls(
        error_code=0,
        name=TOPIC,
        topic_id=TOPIC_ID,
        is_internal=False,
        partitions=[
            partition_cls(
                error_code=0,
                partition_index=0,
                leader_id=BROKER_ID,
                leader_epoch=0,
                replica_nodes=[BROKER_ID],
                isr_nodes=[BROKER_ID],
                offline_replicas=[],
            )
        ],
        authorized_operations=None,  # INT32_MIN: not requested
    )
    wanted = request.topics
    topics: list[Any] = []
    if wanted is None or (version == 0 and not wanted):
        topics.append(frames_topic)  # all topics
    else:
        for t in wanted:
            tid = getattr(t, "topic_id", None)
            if t.name == TOPIC or (t.name is None and tid == TOPIC_ID):
                topics.append(frames_topic)
            else:
                code = UNKNOWN_TOPIC_OR_PARTITION if t.name is not None else UNKNOWN_TOPIC_ID
                topics.append(topic_cls(error_code=code, name=t.name, topic_id=tid, partitions=[]))
    return MetadataResponse[version](
        throttle_time_ms=0,
        brokers=[
            MetadataResponse.MetadataResponseBroker(
                node_id=BROKER_ID, host="127.0.0.1", port=port, rack=None
            )
        ],
        cluster_id=CLUSTER_ID,
        controller_id=BROKER_ID,
        topics=topics,
        authorized_operations=None,  # INT32_MIN: not requested
        error_code=0,
    )


def _produce_response(request: Any, version: int) -> Any:
    topic_cls = ProduceResponse.TopicProduceResponse
    partition_cls = topic_cls.PartitionProduceResponse
    responses = []
    for t in request.topic_data:
        known = t.name == TOPIC if version < 13 else t.topic_id == TOPIC_ID
        responses.append(
            topic_cls(
                name=t.name,
                topic_id=t.topic_id,
                partition_responses=[
                    partition_cls(
                        index=p.index,
                        error_code=0 if known and p.index == 0 else UNKNOWN_TOPIC_OR_PARTITION,
                        base_offset=0,
                        log_append_time_ms=-1,
                        log_start_offset=0,
                        record_errors=[],
                        error_message=None,
                    )
                    for p in t.partition_data
                ],
            )
        )
    return ProduceResponse[version](responses=responses, throttle_time_ms=0)


def _init_producer_id_response(version: int) -> Any:
    return InitProducerIdResponse[version](
        throttle_time_ms=0,
        error_code=0,
        producer_id=PRODUCER_ID,
        producer_epoch=0,
        ongoing_txn_producer_id=-1,
        ongoing_txn_producer_epoch=-1,
    )


def respond(frame: bytes, port: int) -> bytes | None:
    """The framed response to one request frame, or None for no response."""
    api_key, version, correlation_id, _ = parse_request_header(frame)
    response: Any
    if api_key == API_VERSIONS:
        response = _api_versions_response(version)
    else:
        req_cls = REQUESTS.get(api_key)
        resp_cls = RESPONSES.get(api_key)
        if req_cls is None or resp_cls is None or not 0 <= version <= req_cls.max_version:
            log.warning("cannot answer api_key=%d v%d: closing", api_key, version)
            raise ConnectionAbortedError
        request = req_cls.decode(frame, version=version, header=True)
        if api_key == ProduceRequest.API_KEY:
            if request.acks == 0:
                return None
            response = _produce_response(request, version)
        elif api_key == MetadataRequest.API_KEY:
            response = _metadata_response(request, version, port)
        elif api_key == InitProducerIdRequest.API_KEY:
            response = _init_producer_id_response(version)
        else:
            log.warning("answering api_key=%d v%d with defaults", api_key, version)
            response = resp_cls[version]()
    response.with_header(correlation_id=correlation_id)
    return bytes(response.encode(header=True, framed=True))


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


class FakeBroker(socketserver.ThreadingTCPServer):
    """A one-node fake Kafka broker on 127.0.0.1 that records request frames."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.frames: list[Frame] = []
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, name="fake-broker", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def record(self, frame: bytes) -> None:
        api_key, api_version, correlation_id, client_id = parse_request_header(frame)
        with self.lock:
            self.frames.append(Frame(api_key, api_version, correlation_id, client_id, frame.hex()))

    def snapshot(self) -> list[Frame]:
        with self.lock:
            return list(self.frames)

    def __enter__(self) -> FakeBroker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join()


class _Handler(socketserver.BaseRequestHandler):
    server: FakeBroker

    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            while True:
                size = _recv_exactly(sock, 4)
                if size is None:
                    return
                (n,) = struct.unpack(">i", size)
                frame = _recv_exactly(sock, n)
                if frame is None:
                    return
                self.server.record(frame)
                out = respond(frame, self.server.port)
                if out is not None:
                    sock.sendall(out)
        except OSError:  # includes ConnectionError: the client went away
            return
        except Exception:
            log.exception("fake broker failed on a request; closing the connection")


# --- the clients ----------------------------------------------------------


def drive_kafka_python(bootstrap: str, idempotent: bool) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, request_timeout_ms=10_000, enable_idempotence=idempotent
    )
    try:
        future = producer.send(TOPIC, key=KEY, value=VALUE, headers=[HEADER])
        future.get(timeout=CLIENT_TIMEOUT_S)
        producer.flush(timeout=CLIENT_TIMEOUT_S)
    finally:
        producer.close(timeout=5)


def drive_aiokafka(bootstrap: str, idempotent: bool) -> None:
    from aiokafka import AIOKafkaProducer

    async def main() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, request_timeout_ms=10_000, enable_idempotence=idempotent
        )
        await producer.start()
        try:
            await asyncio.wait_for(
                producer.send_and_wait(TOPIC, key=KEY, value=VALUE, headers=[HEADER]),
                CLIENT_TIMEOUT_S,
            )
        finally:
            await producer.stop()

    asyncio.run(main())


def drive_confluent_kafka(bootstrap: str, idempotent: bool) -> None:
    from confluent_kafka import KafkaException, Producer

    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "message.timeout.ms": 20_000,
            "enable.idempotence": idempotent,
        }
    )
    producer.produce(TOPIC, key=KEY, value=VALUE, headers=[HEADER], on_delivery=on_delivery)
    if producer.flush(CLIENT_TIMEOUT_S) != 0 or errors:
        raise KafkaException(f"confluent-kafka delivery failed: {errors}")


def _run(cmd: list[str], stdin: bytes = b"", cwd: Path | None = None) -> None:
    env = dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1")
    proc = subprocess.run(
        cmd,
        input=stdin,
        capture_output=True,
        timeout=CLIENT_TIMEOUT_S + 10,
        cwd=cwd,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{cmd[0]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}"
        )


def drive_kcat(bootstrap: str, idempotent: bool) -> None:
    kcat = tools.kcat_path()
    if kcat is None:
        raise RuntimeError("kcat not found: run .ci/install-system")
    name, value = HEADER
    cmd = [kcat, "-P", "-b", bootstrap, "-t", TOPIC, "-K", ":", "-H", f"{name}={value.decode()}"]
    cmd += ["-X", "message.timeout.ms=20000", "-X", f"enable.idempotence={str(idempotent).lower()}"]
    _run(cmd, stdin=KEY + b":" + VALUE + b"\n")


def drive_kafkajs(bootstrap: str, idempotent: bool) -> None:
    node = tools.node_path()
    if node is None or tools.kafkajs_dir() is None:
        raise RuntimeError("node or KafkaJS missing: run .ci/install-system")
    name, value = HEADER
    script = tools.NODE_DIR / "produce.js"
    cmd = [node, str(script), bootstrap, TOPIC, KEY.decode(), VALUE.decode(), name, value.decode()]
    _run([*cmd, "idempotent"] if idempotent else cmd, cwd=tools.NODE_DIR)


def _dist_version(dist: str) -> str:
    return importlib.metadata.version(dist)


def _kcat_version() -> str:
    kcat = tools.kcat_path()
    if kcat is None:
        return "missing"
    out = subprocess.run([kcat, "-V"], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        words = line.replace(",", " ").split()
        if words[:1] == ["Version"] and "librdkafka" in words:
            return f"{words[1]} (librdkafka {words[words.index('librdkafka') + 1]})"
    return "?"


def _kafkajs_version() -> str:
    pkg = tools.kafkajs_dir()
    if pkg is None:
        return "missing"
    version = json.loads((pkg / "package.json").read_text())["version"]
    node = tools.node_path() or "node"
    node_v = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return f"{version} (node {node_v.stdout.strip()})"


def _confluent_version() -> str:
    import confluent_kafka

    librdkafka = confluent_kafka.libversion()[0]
    return f"{_dist_version('confluent-kafka')} (librdkafka {librdkafka})"


@dataclass(frozen=True)
class Client:
    drive: Callable[[str, bool], None]
    version: Callable[[], str]
    idempotent_by_default: bool


_CLIENTS = {
    "aiokafka": Client(drive_aiokafka, lambda: _dist_version("aiokafka"), False),
    "kafka-python": Client(drive_kafka_python, lambda: _dist_version("kafka-python"), True),
    "confluent-kafka": Client(drive_confluent_kafka, _confluent_version, False),
    "kcat": Client(drive_kcat, _kcat_version, False),
    "kafkajs": Client(drive_kafkajs, _kafkajs_version, False),
}

# Fixture name -> (client, idempotent).  Each client runs with its default
# settings; "-idempotent" runs also capture InitProducerId and idempotent
# Produce batches from the clients that do not do that by default.
CAPTURES: dict[str, tuple[str, bool]] = {}
for _name, _client in _CLIENTS.items():
    CAPTURES[_name] = (_name, _client.idempotent_by_default)
    if not _client.idempotent_by_default:
        CAPTURES[f"{_name}-idempotent"] = (_name, True)

REQUIRED_APIS = {API_VERSIONS: "ApiVersions", 3: "Metadata", 0: "Produce"}


@contextmanager
def _quiet_client_logs() -> Iterator[None]:
    names = ("kafka", "aiokafka")
    levels = [logging.getLogger(n).level for n in names]
    for n in names:
        logging.getLogger(n).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for n, level in zip(names, levels, strict=True):
            logging.getLogger(n).setLevel(level)


def capture(name: str) -> list[Frame]:
    """Run one capture against a fresh fake broker; return the frames sent."""
    client, idempotent = CAPTURES[name]
    with FakeBroker() as broker, _quiet_client_logs():
        _CLIENTS[client].drive(broker.bootstrap, idempotent)
        time.sleep(0.2)  # let any trailing request land
        frames = broker.snapshot()
    sent = {f.api_key for f in frames}
    if idempotent:
        required = {**REQUIRED_APIS, InitProducerIdRequest.API_KEY: "InitProducerId"}
    else:
        required = REQUIRED_APIS
    missing = [api for key, api in required.items() if key not in sent]
    if missing:
        raise RuntimeError(f"{name}: no {', '.join(missing)} request captured")
    return frames


def write_fixture(out_dir: Path, name: str, frames: list[Frame]) -> Path:
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps([asdict(f) for f in frames], indent=1) + "\n")
    return path


def summary(frames: list[Frame]) -> str:
    """The (api_key, api_version) pairs sent, as ``"0v7 3v5 18v0"``."""
    pairs = sorted({(f.api_key, f.api_version) for f in frames})
    return " ".join(f"{k}v{v}" for k, v in pairs)


def write_index(out_dir: Path, rows: list[tuple[str, str, list[Frame]]]) -> Path:
    """A README beside the fixtures: which client version sent what."""
    lines = [
        "# Request frames captured from real Kafka clients",
        "",
        "Generated by `.venv/bin/python -m compat.capture_frames --out tests/wire/frames`",
        "(see compat/README.md); do not edit by hand.  Each `<capture>.json` is a list of",
        "request frames in the order the fake broker received them (across all of the",
        "client's connections): `api_key`, `api_version`, `correlation_id`, `client_id`",
        "and `hex`, the frame without its 4-byte length prefix (request header + body).",
        "",
        "| capture | client version | (api_key)v(api_version) sent |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {version} | {summary(frames)} |" for name, version, frames in rows]
    path = out_dir / "README.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("tests/wire/frames"))
    parser.add_argument("captures", nargs="*", help=f"any of {', '.join(CAPTURES)} (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.captures) - set(CAPTURES))
    if unknown:
        parser.error(f"unknown capture(s): {', '.join(unknown)}")
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    selected: list[str] = args.captures or list(CAPTURES)
    rows: list[tuple[str, str, list[Frame]]] = []
    for name in selected:
        version = _CLIENTS[CAPTURES[name][0]].version()
        try:
            frames = capture(name)
        except Exception as exc:
            print(f"{name} {version}: FAILED: {exc}", file=sys.stderr)
            continue
        rows.append((name, version, frames))
        path = write_fixture(out_dir, name, frames)
        print(f"{name} {version}: {summary(frames)}  -> {path}")
    ok = len(rows) == len(selected)
    if ok and len(rows) == len(CAPTURES):
        print(f"index -> {write_index(out_dir, rows)}")
    elif ok:
        print("README.md not rewritten: it is written only when every capture runs")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
