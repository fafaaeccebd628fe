"""kcat smoke checks: Debian's kcat (librdkafka 2.0.2) against a fresh broker.

kcat has no test suite of its own; these checks are the everyday commands:
list metadata (``-L``), produce and read back with every codec (``-z``),
headers, offset queries (``-Q``), an idempotent producer, a transactional
producer and a balanced consumer (``-G``). Each check is one test in
``expectations/kcat.txt`` and runs under its own deadline.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from compat import tools
from compat.suites import common
from compat.suites.common import Expectation, SuiteRun, SuiteSetupError, TestResult

NAME = "kcat"
CHECK_TIMEOUT_S = 45.0
COUNT = 200  # records per produce/consume check
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
# Our own checks: the -G consumer need not wait for the initial rebalance delay.
BROKER_OVERRIDES = {"group.initial.rebalance.delay.ms": "0"}


class CheckFailed(AssertionError):
    pass


class Kcat:
    def __init__(self, path: str, bootstrap: str) -> None:
        self.path = path
        self.bootstrap = bootstrap

    def __call__(
        self, args: Sequence[str], *, stdin: bytes = b"", timeout_s: float = 30.0
    ) -> subprocess.CompletedProcess[bytes]:
        cmd = [self.path, "-b", self.bootstrap, "-m", "10", "-X", "client.id=compat-suites", *args]
        try:
            done = subprocess.run(
                cmd, input=stdin, capture_output=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"kcat {' '.join(args)}: no exit within {timeout_s:.0f} s") from None
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip().splitlines()
            raise CheckFailed(
                f"kcat {' '.join(args)} exited {done.returncode}: {err[-1] if err else ''}"
            )
        return done

    def version(self) -> str:
        done = subprocess.run(
            [self.path, "-V"], capture_output=True, text=True, timeout=10, check=False
        )
        for line in (done.stdout + done.stderr).splitlines():
            if line.startswith("Version "):
                return line.split(" builtin.features")[0].removeprefix("Version ").rstrip(" (")
        return "unknown"


def _topic(label: str) -> str:
    return f"kcat-smoke-{label}-{uuid.uuid4().hex[:8]}"


def _records(tag: str) -> list[tuple[str, str]]:
    return [(f"k{i}", f"{tag}-value-{i}-" + "x" * (i % 50)) for i in range(COUNT)]


def _produce(kcat: Kcat, topic: str, records: Sequence[tuple[str, str]], *extra: str) -> None:
    data = "".join(f"{k}\t{v}\n" for k, v in records).encode()
    kcat(["-P", "-t", topic, "-K", "\t", "-X", "acks=all", *extra], stdin=data)


def _consume(kcat: Kcat, topic: str, *extra: str) -> list[dict[str, Any]]:
    done = kcat(["-C", "-t", topic, "-o", "beginning", "-e", "-J", *extra])
    return [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]


def _same_records(got: Sequence[Mapping[str, Any]], want: Sequence[tuple[str, str]]) -> None:
    pairs = sorted((str(doc.get("key")), str(doc.get("payload"))) for doc in got)
    if pairs != sorted(want):
        missing = len(set(want) - set(pairs))
        raise CheckFailed(f"read {len(got)} records, {missing} of {len(want)} produced missing")
    by_partition: dict[int, list[int]] = {}
    for doc in got:
        by_partition.setdefault(int(doc["partition"]), []).append(int(doc["offset"]))
    for partition, offsets in by_partition.items():
        if offsets != sorted(offsets) or len(set(offsets)) != len(offsets):
            raise CheckFailed(f"partition {partition}: offsets out of order or repeated")


def check_metadata_list(kcat: Kcat) -> None:
    topic = _topic("meta")
    _produce(kcat, topic, _records("meta")[:10])
    doc = json.loads(kcat(["-L", "-J"]).stdout)
    brokers = {str(b["name"]) for b in doc.get("brokers", [])}
    if not any(name.endswith(kcat.bootstrap.rsplit(":", 1)[1]) for name in brokers):
        raise CheckFailed(f"-L lists brokers {sorted(brokers)}, not {kcat.bootstrap}")
    topics = {t["topic"]: t for t in doc.get("topics", [])}
    if topic not in topics:
        raise CheckFailed(f"-L does not list topic {topic}")
    parts = topics[topic]["partitions"]
    if len(parts) != 4 or any(p.get("leader") is None for p in parts):
        raise CheckFailed(f"-L shows {topic} with partitions {parts}")


def _codec_check(codec: str) -> Callable[[Kcat], None]:
    def check(kcat: Kcat) -> None:
        topic = _topic(codec)
        records = _records(codec)
        extra = [] if codec == "none" else ["-z", codec]
        _produce(kcat, topic, records, "-X", "linger.ms=50", *extra)
        _same_records(_consume(kcat, topic), records)

    check.__doc__ = f"produce {COUNT} keyed records with -z {codec}, read them back"
    return check


def check_headers(kcat: Kcat) -> None:
    topic = _topic("headers")
    records = _records("headers")[:20]
    _produce(kcat, topic, records, "-H", "origin=kcat", "-H", "dup=1", "-H", "dup=2")
    got = _consume(kcat, topic)
    _same_records(got, records)
    for doc in got:
        if doc.get("headers") != ["origin", "kcat", "dup", "1", "dup", "2"]:
            raise CheckFailed(f"headers read back as {doc.get('headers')}")


def check_query_offsets(kcat: Kcat) -> None:
    topic = _topic("offsets")
    records = _records("offsets")[:30]
    _produce(kcat, topic, records, "-p", "0")
    offsets = []
    for when in ("-2", "-1"):  # earliest, latest: one query each (kcat keeps one per partition)
        out = kcat(["-Q", "-t", f"{topic}:0:{when}"]).stdout.decode()
        offsets += [int(line.rsplit(" ", 1)[1]) for line in out.splitlines() if " offset " in line]
    if offsets != [0, len(records)]:
        raise CheckFailed(f"-Q earliest, latest gave {offsets}, expected [0, {len(records)}]")


def check_idempotent_producer(kcat: Kcat) -> None:
    topic = _topic("idempotent")
    records = _records("idempotent")
    _produce(kcat, topic, records, "-X", "enable.idempotence=true")
    _same_records(_consume(kcat, topic), records)


def check_transactional_producer(kcat: Kcat) -> None:
    topic = _topic("txn")
    records = _records("txn")[:20]
    _produce(kcat, topic, records, "-X", f"transactional.id=compat-{uuid.uuid4().hex[:8]}")
    _same_records(_consume(kcat, topic, "-X", "isolation.level=read_committed"), records)


def check_group_consume(kcat: Kcat) -> None:
    topic = _topic("group")
    records = _records("group")[:40]
    _produce(kcat, topic, records)
    group = f"compat-kcat-{uuid.uuid4().hex[:8]}"
    done = kcat(
        ["-G", group, "-o", "beginning", "-c", str(len(records)), "-J", topic],
        timeout_s=CHECK_TIMEOUT_S - 10,
    )
    got = [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]
    _same_records(got, records)


CHECKS: dict[str, Callable[[Kcat], None]] = {
    "metadata_list": check_metadata_list,
    **{f"produce_consume_{codec}": _codec_check(codec) for codec in CODECS},
    "headers": check_headers,
    "query_offsets": check_query_offsets,
    "idempotent_producer": check_idempotent_producer,
    "transactional_producer": check_transactional_producer,
    "group_consume": check_group_consume,
}


def run(
    *, quick: bool, expectations: Mapping[str, Expectation], only: Sequence[str] = ()
) -> SuiteRun:
    """Every check, in both modes (they take seconds)."""
    path = tools.kcat_path()
    if path is None:
        raise SuiteSetupError("kcat not found (Debian: apt-get install kcat)")
    started = time.monotonic()
    info = common.RunInfo(suite=NAME, version="?", broker_version="?", quick=quick)
    results: dict[str, TestResult] = {}
    selected = [
        n
        for n in CHECKS
        if common.chosen(n, only) and not (n in expectations and expectations[n].status == "n/a")
    ]
    with (
        common.scratch_dir(NAME) as work,
        common.running_broker(work, overrides=BROKER_OVERRIDES) as broker,
    ):
        info.broker_version = ".".join(map(str, common.inferred_kafka_version(broker)))
        kcat = Kcat(path, broker.bootstrap)
        info.version = f"kcat {kcat.version()} (Debian package)"
        for name in selected:
            results[name] = _run_check(name, CHECKS[name], kcat)
    info.seconds = time.monotonic() - started
    return SuiteRun(info=info, results=results, selected=selected, known=list(CHECKS))


def _run_check(name: str, check: Callable[[Kcat], None], kcat: Kcat) -> TestResult:
    start = time.monotonic()
    try:
        check(kcat)
    except CheckFailed as exc:
        outcome: common.Outcome = "timeout" if "no exit within" in str(exc) else "fail"
        return TestResult(name, outcome, time.monotonic() - start, str(exc))
    except (ValueError, KeyError, TypeError) as exc:  # malformed kcat output
        return TestResult(name, "fail", time.monotonic() - start, f"{type(exc).__name__}: {exc}")
    return TestResult(name, "pass", time.monotonic() - start)
