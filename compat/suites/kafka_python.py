"""kafka-python's own integration tests (``test/integration`` of its sdist) against our broker.

Steps, each reused from the cache when its inputs did not change:

1. ``pip download --no-deps --no-binary :all: kafka-python==VERSION`` (the sdist,
   checked against a pinned sha256) and unpack it.
2. The sdist ships ``test/integration`` but not two files of its harness:
   the ``test/__init__.py`` package marker (without it ``import test`` finds the
   standard library's package) and ``test/service.py``, whose
   ``ExternalService`` the fixture wraps around a broker given by ``KAFKA_URI``.
   The runner writes a marker and a small stand-in of its own for that
   external case (no test file is touched).
3. A separate venv (``requirements-kafka-python.txt``: pytest, pytest-timeout,
   codecs); the client code is the sdist's own source tree.
4. A fresh broker (node id 0, as the fixture's broker has: CreatePartitions
   assignments name broker 0), ``KAFKA_URI`` pointing at it and
   ``KAFKA_VERSION`` set to what kafka-python infers from its ApiVersions.
5. ``pytest test/integration`` with a per-test deadline (pytest-timeout, signal
   method), short tracebacks, the ``n/a`` tests deselected, and our plugin
   writing each test's outcome.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from compat.suites import common
from compat.suites.common import Expectation, SuiteRun, SuiteSetupError, TestResult

NAME = "kafka-python"
VERSION = "3.0.12"
SDIST = f"kafka_python-{VERSION}.tar.gz"
SDIST_SHA256 = "4ccda3616b9aa5c353d74a97f2770d6cd1b950890d77ab0e8890e09a48eeed65"
REQUIREMENTS = common.SUITES_DIR / "requirements-kafka-python.txt"

# Settings of the fixture's own broker (kafka-python's servers/resources/default/
# kafka.properties) that the tests rely on, as our broker's options: test_group
# asks for 3 s sessions. Its other settings (offsets.commit.timeout.ms=500,
# log.cleaner.enable=false, replica.lag.*) have no counterpart here and no
# test depends on them.
BROKER_OVERRIDES = {
    "group.min.session.timeout.ms": "1000",
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.num.partitions": "2",
}

TEST_TIMEOUT_S = 60  # per test, pytest-timeout (signal method)
QUICK_TEST_TIMEOUT_S = 30  # --quick: tests that wait for a missing coordinator give up sooner
RUN_TIMEOUT_S = 30 * 60  # the whole pytest process
TEST_PREFIX = "test/integration/"

# Our stand-in for the harness module the sdist leaves out: only the external
# broker case is needed (the fixture never spawns a broker when KAFKA_URI is set).
_SERVICE_STANDIN = '''\
"""Stand-in written by raftbroker's compat/suites runner (not part of kafka-python).

The sdist omits this harness module. Only the external-broker case is served:
the fixture wraps a broker given by KAFKA_URI and never starts one itself.
"""


class ExternalService:
    def __init__(self, host, port):
        self.host = host
        self.port = port

    def start(self):
        pass

    def stop(self):
        pass

    def dump_logs(self):
        pass

    def wait_for(self, pattern, timeout=30):
        return True


class SpawnedService:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("compat/suites runs kafka-python's tests against an external broker only")
'''


def _prepare_sdist(cache: Path) -> Path:
    downloads = cache / "downloads"
    archive = downloads / SDIST
    if not archive.is_file() or common.sha256_of(archive) != SDIST_SHA256:
        downloads.mkdir(parents=True, exist_ok=True)
        common.check_call(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"kafka-python=={VERSION}",
                "-d",
                str(downloads),
            ],
            timeout_s=300,
            what="downloading the kafka-python sdist",
        )
    digest = common.sha256_of(archive)
    if digest != SDIST_SHA256:
        raise SuiteSetupError(f"{archive}: sha256 {digest}, expected {SDIST_SHA256}")
    root = cache / f"kafka_python-{VERSION}"
    stamp = cache / f"kafka_python-{VERSION}.unpacked"
    if not common.stamp_matches(stamp, SDIST_SHA256):
        with tarfile.open(archive) as tar:
            tar.extractall(cache, filter="data")
        stamp.write_text(SDIST_SHA256 + "\n")
    package = root / "test"
    (package / "__init__.py").touch()
    (package / "service.py").write_text(_SERVICE_STANDIN)
    (root / "kafka-root").mkdir(exist_ok=True)  # the fixture insists KAFKA_ROOT exists
    return root


def _prepare_venv(cache: Path) -> Path:
    venv = cache / "venv-kafka-python"
    python = venv / "bin" / "python"
    key = common.sha256_of(REQUIREMENTS) + " " + sys.version.split()[0]
    stamp = venv / ".compat-installed"
    if python.exists() and common.stamp_matches(stamp, key):
        return python
    common.check_call(
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        timeout_s=120,
        what="creating the kafka-python test venv",
    )
    common.check_call(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)],
        timeout_s=600,
        what="installing the kafka-python test requirements",
    )
    stamp.write_text(key + "\n")
    return python


def _collect(python: Path, root: Path, env: Mapping[str, str]) -> list[str]:
    """Every test id of the integration suite, in collection order."""
    done = subprocess.run(
        [str(python), "-m", "pytest", "--collect-only", "-q", "-o", "addopts=", "test/integration"],
        cwd=root,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    ids = [
        line.strip()[len(TEST_PREFIX) :]
        for line in done.stdout.splitlines()
        if line.strip().startswith(TEST_PREFIX) and "::" in line
    ]
    if not ids:
        raise SuiteSetupError(f"collecting kafka-python's tests found none:\n{done.stdout[-3000:]}")
    return ids


def run(
    *, quick: bool, expectations: Mapping[str, Expectation], only: Sequence[str] = ()
) -> SuiteRun:
    """Run the suite once; ``quick`` runs every test too, with a shorter per-test deadline."""
    cache = common.cache_dir()
    started = time.monotonic()
    root = _prepare_sdist(cache)
    python = _prepare_venv(cache)
    runs = cache / "runs" / NAME
    runs.mkdir(parents=True, exist_ok=True)
    tag = "-only" if only else ""  # a retry (--only) keeps the full run's log
    outcomes = runs / f"outcomes{tag}.jsonl"
    outcomes.unlink(missing_ok=True)
    info = common.RunInfo(
        suite=NAME,
        version=f"kafka-python {VERSION} sdist, test/integration",
        broker_version="?",
        quick=quick,
    )
    with (
        common.scratch_dir(NAME) as work,
        common.running_broker(work, node_id=0, overrides=BROKER_OVERRIDES) as broker,
    ):
        version = common.inferred_kafka_version(broker)
        info.broker_version = ".".join(map(str, version))
        env = common.python_env()
        env.update(
            KAFKA_URI=f"tcp://{broker.bootstrap}",
            KAFKA_VERSION=info.broker_version,
            KAFKA_ROOT=str(root / "kafka-root"),
            COMPAT_SUITES_OUTCOMES=str(outcomes),
        )
        known = _collect(python, root, env)
        timeout_s = QUICK_TEST_TIMEOUT_S if quick else TEST_TIMEOUT_S
        not_applicable = [
            t for t in known if _status(expectations, t) == "n/a" or not common.chosen(t, only)
        ]
        selected = [t for t in known if t not in not_applicable]
        cmd = [
            str(python),
            "-m",
            "pytest",
            "test/integration",
            "-p",
            "compat.suites.pytest_outcomes",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "-o",
            "log_level=WARNING",
            "-W",
            "ignore::DeprecationWarning",
            f"--timeout={timeout_s}",
            "--timeout-method=signal",
            "--tb=short",
            "-q",
            "-rfE",
            f"--junitxml={runs / f'junit{tag}.xml'}",
        ]
        for test in not_applicable:
            cmd += ["--deselect", TEST_PREFIX + test]
        finished = common.run_bounded(
            cmd, timeout_s=RUN_TIMEOUT_S, log_path=runs / f"pytest{tag}.log", cwd=root, env=env
        )
        if finished.returncode is None:
            info.notes.append(f"pytest was stopped at its {RUN_TIMEOUT_S} s deadline")
    results = _read_outcomes(outcomes)
    info.seconds = time.monotonic() - started
    info.notes.append(
        f"per-test deadline {timeout_s} s (pytest-timeout, signal method); "
        f"log: {_shown(runs / f'pytest{tag}.log')}"
    )
    return SuiteRun(info=info, results=results, selected=selected, known=known)


def _status(expectations: Mapping[str, Expectation], test: str) -> str:
    exp = expectations.get(test)
    return exp.status if exp else ""


def _read_outcomes(path: Path) -> dict[str, TestResult]:
    results: dict[str, TestResult] = {}
    if not path.is_file():
        return results
    for line in path.read_text().splitlines():
        doc = json.loads(line)
        name = str(doc["name"]).removeprefix(TEST_PREFIX)
        results[name] = TestResult(
            name=name,
            outcome=doc["outcome"],
            seconds=float(doc["seconds"]),
            detail=str(doc["detail"]),
            output=str(doc.get("output", "")),
        )
    return results


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(common.REPO_ROOT))
    except ValueError:
        return str(path)
