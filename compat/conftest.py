"""Fixtures and hooks of the compat suite.

Fixtures
  ``broker``        one broker process per test module (2 partitions per topic,
                    auto-creation on), stopped with SIGTERM at the end of the module
  ``fresh_broker``  a broker process of the test's own, for tests that restart it
  ``topic``         a topic name no other test uses

Guards (autouse)
  Every compat test runs under a SIGALRM deadline (``COMPAT_TEST_TIMEOUT_S``,
  default 90 s) so that a hung client fails its test instead of hanging CI.
  ``@pytest.mark.apis("Produce", ...)`` makes a test fail at once, naming the
  API, when the broker does not advertise an API it needs, instead of waiting
  for the client's own timeouts.

The matrix
  ``@pytest.mark.feature(name)`` plus the test class's ``CLIENT`` key each
  outcome by (client, feature); features in the class's ``UNSUPPORTED`` are
  removed at collection and shown as n/a. At the end of a run that collected
  every compat module with no filter (``-k``, ``-m``, node ids, deselection),
  from a tree without uncommitted changes, the matrix is written to
  ``compat/MATRIX.md``, naming the commit; ``COMPAT_MATRIX=PATH`` writes it
  (to PATH) after any run, flagging uncommitted changes in its header.
"""

from __future__ import annotations

import os
import re
import signal
import uuid
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import pytest

# The suite's checks live outside test modules: have pytest explain their asserts.
pytest.register_assert_rewrite("compat.suite")

from compat.broker_process import BrokerProcess  # noqa: E402
from compat.features import FEATURES  # noqa: E402
from compat.matrix import Matrix, provenance, render  # noqa: E402
from compat.suite import NUM_PARTITIONS  # noqa: E402

COMPAT_DIR = Path(__file__).resolve().parent
MATRIX_PATH = COMPAT_DIR / "MATRIX.md"
TEST_TIMEOUT_S = float(os.environ.get("COMPAT_TEST_TIMEOUT_S", "90"))

API_KEYS = {
    "Produce": 0,
    "Fetch": 1,
    "ListOffsets": 2,
    "Metadata": 3,
    "OffsetCommit": 8,
    "OffsetFetch": 9,
    "FindCoordinator": 10,
    "JoinGroup": 11,
    "Heartbeat": 12,
    "LeaveGroup": 13,
    "SyncGroup": 14,
    "ApiVersions": 18,
    "CreateTopics": 19,
    "DeleteTopics": 20,
    "InitProducerId": 22,
    "OffsetForLeaderEpoch": 23,
}

_MATRIX = pytest.StashKey[Matrix]()
_DESELECTED = pytest.StashKey[int]()
# The brokers a test used, each with where its output stood when the test began.
_BROKERS = pytest.StashKey[list[tuple[BrokerProcess, int]]]()
_COMPLAINT = re.compile(r"\b(?:WARNING|ERROR|CRITICAL)\b.*|^\w*(?:Error|Exception)\b.*")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "feature(name): the compat feature (a row of compat/MATRIX.md) a test proves"
    )
    config.addinivalue_line(
        "markers", "apis(*names): Kafka APIs the broker must advertise for the test to run"
    )
    config.stash[_MATRIX] = Matrix()
    config.stash[_DESELECTED] = 0


# -- collection: the matrix's cells ------------------------------------------------


def _client_of(item: pytest.Item) -> str | None:
    cls = getattr(item, "cls", None)
    client = getattr(cls, "CLIENT", None)
    return client if isinstance(client, str) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    matrix = config.stash[_MATRIX]
    keep = []
    for item in items:
        client = _client_of(item)
        marker = item.get_closest_marker("feature")
        if client is None or marker is None:
            keep.append(item)
            continue
        feature = marker.args[0]
        if feature not in FEATURES:
            raise pytest.UsageError(
                f"{item.nodeid}: unknown feature {feature!r} (compat/features.py)"
            )
        cls = getattr(item, "cls", None)
        unsupported = getattr(cls, "UNSUPPORTED", {})
        if feature in unsupported:
            matrix.unsupported[(client, feature)] = unsupported[feature]
            continue
        matrix.add_test(client, feature, item.nodeid)
        keep.append(item)
        version_of = getattr(getattr(cls, "client", None), "version", None)
        if client not in matrix.versions and callable(version_of):
            try:
                matrix.versions[client] = str(version_of())
            except Exception as exc:
                matrix.versions[client] = f"(unknown: {exc})"
    items[:] = keep


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        config = items[0].config
        config.stash[_DESELECTED] = config.stash.get(_DESELECTED, 0) + len(items)


# -- reports -------------------------------------------------------------------------


def _reason(report: pytest.TestReport) -> str | None:
    longrepr = report.longrepr
    if longrepr is None:
        return None
    if isinstance(longrepr, tuple):  # skip: (file, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    return str(longrepr).strip().splitlines()[-1] if str(longrepr).strip() else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    reason = _reason(report)
    if report.failed:
        for proc, position in item.stash.get(_BROKERS, []):
            output = proc.output_since(position) or proc.output_tail()
            where = proc.bootstrap if proc.port else "(not started)"
            report.sections.append((f"broker {where}: output during the test", output))
            # The broker's own last complaint often says more than the client's error.
            complaints = [m[0] for m in map(_COMPLAINT.search, output.splitlines()) if m]
            if complaints:
                reason = f"{reason} [broker: {complaints[-1]}]"
    matrix = item.config.stash.get(_MATRIX, None)
    if matrix is not None:
        matrix.record(report.nodeid, report.when, report.outcome, reason)
    return report


def _full_run(session: pytest.Session) -> bool:
    config = session.config
    if config.option.keyword or config.option.markexpr or config.stash.get(_DESELECTED, 0):
        return False
    if any("::" in str(arg) for arg in config.args):
        return False
    on_disk = {p.name for p in COMPAT_DIR.glob("test_*.py")}
    collected = {item.path.name for item in session.items if item.path.parent == COMPAT_DIR}
    return bool(on_disk) and on_disk <= collected


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    matrix = session.config.stash.get(_MATRIX, None)
    if matrix is None or not (matrix.tests or matrix.unsupported):
        return
    target = os.environ.get("COMPAT_MATRIX")
    if not target and not _full_run(session):
        return
    path = Path(target) if target else MATRIX_PATH
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    made_at = provenance()
    if made_at is None:
        header = [f"Generated by the compat suite on {stamp}, outside a git checkout."]
    else:
        header = made_at.header(stamp)
        if made_at.dirty:
            if not target:  # MATRIX.md names a commit: only the code of that commit may fill it
                session.config.stash[_WRITTEN] = "nowhere: uncommitted changes in " + ", ".join(
                    made_at.dirty[:5]
                )
                return
            header.append("**Plus uncommitted changes in: " + ", ".join(made_at.dirty) + ".**")
    path.write_text(render(matrix, header))
    session.config.stash[_WRITTEN] = str(path)


_WRITTEN = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    matrix = terminalreporter.config.stash.get(_MATRIX, None)
    if matrix is None or not matrix.tests:
        return
    counts = ", ".join(f"{n} {k}" for k, n in sorted(matrix.counts().items()))
    where = terminalreporter.config.stash.get(_WRITTEN, None)
    suffix = f"; written to {where}" if where else " (partial run: matrix not written)"
    terminalreporter.write_line(f"compat matrix: {counts}{suffix}")


# -- fixtures ------------------------------------------------------------------------


def _new_broker(base: Path) -> BrokerProcess:
    # No initial rebalance delay: a group's first member is assigned at once,
    # as in Kafka's own test setups.
    return BrokerProcess(
        base / "data",
        num_partitions=NUM_PARTITIONS,
        overrides={"group.initial.rebalance.delay.ms": "0"},
    )


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    proc = _new_broker(tmp_path_factory.mktemp("broker"))
    try:
        proc.start()
        yield proc
        if proc.running():
            proc.stop()
    finally:
        proc.close()


@pytest.fixture
def fresh_broker(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[BrokerProcess]:
    proc = _new_broker(tmp_path)
    request.node.stash.setdefault(_BROKERS, []).append((proc, 0))
    try:
        proc.start()
        yield proc
    finally:
        proc.close()


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    client = _client_of(request.node) or "compat"
    test = getattr(request.node, "originalname", request.node.name)
    name = f"{client}.{test}.{uuid.uuid4().hex[:8]}"
    # Only '.' and '-': Kafka refuses names that collide once '.' becomes '_'.
    return re.sub(r"[^a-zA-Z0-9.-]", "-", name)[:200]


class CompatTestTimeout(Exception):
    """The per-test deadline of the compat suite passed."""


@pytest.fixture(autouse=True)
def _deadline() -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise CompatTestTimeout(
            f"compat test still running after {TEST_TIMEOUT_S:.0f} s (COMPAT_TEST_TIMEOUT_S)"
        )

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, TEST_TIMEOUT_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def _require_apis(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("apis")
    if marker is None:
        return
    name = "fresh_broker" if "fresh_broker" in request.fixturenames else "broker"
    proc: BrokerProcess = request.getfixturevalue(name)
    if name == "broker":
        brokers = request.node.stash.setdefault(_BROKERS, [])
        if all(used is not proc for used, _ in brokers):
            brokers.append((proc, proc.log_position()))
    if not proc.running():
        # A test before this one (a restart test that failed) left it stopped.
        proc.start()
    try:
        advertised = proc.api_versions()
    except (OSError, ValueError) as exc:
        pytest.fail(f"ApiVersions probe failed: {exc}\n{proc.output_tail()}", pytrace=False)
    missing = [api for api in marker.args if API_KEYS[api] not in advertised]
    if missing:
        pytest.fail(
            f"broker does not advertise {', '.join(missing)} "
            f"(advertised api keys: {sorted(advertised)})",
            pytrace=False,
        )
