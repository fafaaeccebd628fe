"""librdkafka's own regression tests (``tests/`` of its source) against our broker.

The source comes from the npm package ``@confluentinc/kafka-javascript``,
which bundles librdkafka (``deps/librdkafka``, tests included). Steps, each
reused from the cache while its inputs are unchanged:

1. ``npm pack`` the pinned package (checked against a pinned sha256) and unpack
   only ``deps/librdkafka``.
2. ``./configure`` with the smallest feature set that still runs every test
   that can apply here (``CONFIGURE_FLAGS``: no SASL/GSSAPI or libcurl; OpenSSL,
   zlib and zstd from the system, lz4 built in; RapidJSON for the tests that
   check statistics), then ``make libs`` and ``make -C tests build`` (the
   ``test-runner`` binary), at ``nice`` and ``-j2``.
3. The list of tests is the runner's own table in ``tests/test.c``.
4. Each test number runs in its own ``test-runner`` process (``TESTS=NNNN``,
   ``-L`` to leave out the tests that need no broker, ``-p1`` one at a time,
   ``-Q`` quick mode), under a deadline, against a fresh broker;
   ``TEST_KAFKA_VERSION`` is what kafka-python infers from our ApiVersions.
   Tests of the ``noautocreate`` scenario run against a second broker started
   with ``auto.create.topics.enable=false``. ``KAFKA_PATH`` points at our
   stand-ins for ``kafka-topics.sh`` and ``kafka-acls.sh`` (``kafka_tools.py``).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tarfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from compat.suites import common, kafka_tools
from compat.suites.common import Expectation, SuiteRun, SuiteSetupError, TestResult

NAME = "librdkafka"
NPM_PACKAGE = "@confluentinc/kafka-javascript"
NPM_VERSION = "1.10.1"
NPM_TARBALL = f"confluentinc-kafka-javascript-{NPM_VERSION}.tgz"
NPM_SHA256 = "ada7d703bb1d3237e2292bfabf438d663b6160c9f1ac2a2406b5dc4257c81b66"
LIBRDKAFKA_VERSION = "2.15.1"  # what that package bundles (src/rdkafka.h)
_BUNDLED = "package/deps/librdkafka/"

CONFIGURE_FLAGS = (
    "--disable-gssapi",  # no libsasl2: our broker has no SASL yet
    "--disable-curl",  # no libcurl: only OIDC and telemetry need it
    "--disable-lz4-ext",  # lz4 from librdkafka's own copy
    "--enable-ssl",  # libssl-dev: 0064_interceptors checks a client-side SSL setting
    "--enable-zlib",  # gzip: zlib1g-dev (required, not "try")
    "--enable-zstd",  # zstd: libzstd-dev (required, not "try")
)
# Header-only, found by configure when present: without it four C++ tests
# (0053_stats, 0098, 0101, 0110) skip themselves. Required, so that every
# machine runs the same tests.
RAPIDJSON_HEADER = Path("/usr/include/rapidjson/schema.h")
APT_PACKAGES = "build-essential pkg-config libssl-dev zlib1g-dev libzstd-dev rapidjson-dev npm"
BUILD_TIMEOUT_S = 40 * 60
PROCESS_TIMEOUT_S = 300  # one test-runner process (one test number)
QUICK_PROCESS_TIMEOUT_S = 120
# All test processes together (a broker that hangs must not cost 116 deadlines):
# past it, the remaining test numbers are not started (their tests: not-run).
RUN_TIMEOUT_S = 60 * 60
QUICK_RUN_TIMEOUT_S = 10 * 60
# trivup's broker keeps Kafka's group.initial.rebalance.delay.ms (3000), and
# tests rely on it: 0118_commit_rebalance needs its two consumers, subscribed
# together, in one first generation (with 0 ms the one that joins first gets
# every partition, is revoked by the second's join and its revoke callback's
# commit, from a live member, rightly succeeds). So no override here.
BROKER_OVERRIDES: dict[str, str] = {}
# Test numbers run without -Q (upstream's full mode) because they skip
# themselves in quick mode: 0082_fetch_max_bytes ("Test skipped due to quick
# mode"). Everything else runs quick, as upstream's CI does.
FULL_MODE = frozenset({"0082"})

# The --quick subset (about 90 s): produce (acks, batches, sizes, ordering,
# partitioner, null and empty values, headers, timestamps), every codec,
# consume (batches, events, offset resets, lookups by time, lag), topic admin
# (many topics, added partitions, configs through the kafka-topics.sh
# stand-in), idempotence, consumer groups (balanced, static, cooperative,
# commits), 0030 (offset commits; it waited for OffsetCommit to refuse
# unknown topics) and 0081, which waits for ACLs.
QUICK = tuple(
    [
        "0001",
        "0002",
        "0003",
        "0005",
        "0007",
        "0008",
        "0012",
        "0013",
        "0017",
        "0018",
        "0021",
        "0022",
        "0030",
        "0031",
        "0034",
        "0039",
        "0040",
        "0042",
        "0044",
        "0048",
        "0052",
        "0054",
        "0056",
        "0061",
        "0063",
        "0070",
        "0073",
        "0081",
        "0090",
        "0099",
        "0102",
        "0112",
        "0113",
        "0118",
        "0130",
    ]
)

OUTPUT_LINES = 5000  # of a test's own output kept for signature checks
_ANSI = re.compile(r"\x1b\[[0-9;]*m|\x1b\(B")
_PREFIX = re.compile(r"^\[(?P<name>[^\s/]+)\s*/\s*(?P<secs>[\d.]+)s\]")
_RUNNING = re.compile(r"=+ Running test (?P<name>\S+) =+")
_DONE = re.compile(r"=+ Test (?P<name>\S+) (?P<state>PASSED|FAILED|SKIPPED) =+")
_FAILED_AT = re.compile(r'^### Test "(?P<name>[^" ]+)[^"]*" failed at (?P<where>\S+)')
_SKIPPING = re.compile(r"SKIPPING TEST: (?P<reason>.*)$")
_SUMMARY = re.compile(
    r"^\|\s*(?P<name>\S+)\s+\|\s+(?P<state>PASSED|FAILED|SKIPPED|RUNNING|DNS)\s+\|"
    r"\s+(?P<secs>[\d.]+)s\s*\|\s*(?P<rest>.*)$"
)


@dataclass(frozen=True)
class TestDef:
    __test__ = False  # not a pytest test class

    name: str
    flags: frozenset[str]  # TEST_F_* names
    scenarios: tuple[str, ...]  # "default" unless the table says otherwise

    @property
    def number(self) -> str:
        return self.name[:4]

    @property
    def needs_broker(self) -> bool:
        return not self.flags & {"TEST_F_LOCAL", "TEST_F_MANUAL"}


def parse_test_table(source: str) -> list[TestDef]:
    """The ``tests[]`` table of librdkafka's ``tests/test.c``, in order."""
    start = source.index("struct test tests[] = {")
    end = source.index("{NULL}", start)
    body = re.sub(r"/\*.*?\*/", "", source[start:end], flags=re.S)
    body = re.sub(r"//[^\n]*", "", body)
    out: list[TestDef] = []
    for match in re.finditer(r"_TEST\(", body):
        depth, i = 1, match.end()
        while depth and i < len(body):
            depth += {"(": 1, ")": -1}.get(body[i], 0)
            i += 1
        args = body[match.end() : i - 1]
        name, _, rest = args.partition(",")
        flags_text, _, extra = rest.partition(",")
        scenario = re.search(r'\.scenario\s*=\s*"([^"]*)"', extra)
        out.append(
            TestDef(
                name=name.strip(),
                flags=frozenset(re.findall(r"TEST_F_[A-Z0-9_]+", flags_text)),
                scenarios=tuple(scenario.group(1).split(",")) if scenario else ("default",),
            )
        )
    return out


# -- fetching and building -----------------------------------------------------------


def _fetch(cache: Path) -> Path:
    downloads = cache / "downloads"
    archive = downloads / NPM_TARBALL
    if not archive.is_file() or common.sha256_of(archive) != NPM_SHA256:
        downloads.mkdir(parents=True, exist_ok=True)
        npm = shutil.which("npm")
        if npm is None:
            raise SuiteSetupError("npm not found (Debian: apt-get install npm)")
        common.check_call(
            [npm, "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--silent"],
            timeout_s=600,
            what=f"npm pack {NPM_PACKAGE}@{NPM_VERSION}",
            cwd=downloads,
        )
    digest = common.sha256_of(archive)
    if digest != NPM_SHA256:
        raise SuiteSetupError(f"{archive}: sha256 {digest}, expected {NPM_SHA256}")
    src = cache / f"librdkafka-{LIBRDKAFKA_VERSION}"
    stamp = cache / f"librdkafka-{LIBRDKAFKA_VERSION}.unpacked"
    if not common.stamp_matches(stamp, NPM_SHA256):
        shutil.rmtree(src, ignore_errors=True)
        with tarfile.open(archive) as tar:
            members = []
            for member in tar.getmembers():
                if not member.name.startswith(_BUNDLED):
                    continue
                member.name = member.name[len(_BUNDLED) :]
                if member.name:
                    members.append(member)
            tar.extractall(src, members=members, filter="data")
        for script in ("configure", "lds-gen.py", "tests/run-test.sh"):
            path = src / script
            if path.exists():
                path.chmod(0o755)
        stamp.write_text(NPM_SHA256 + "\n")
    return src


def _build(src: Path) -> Path:
    runner = src / "tests" / "test-runner"
    key = f"{NPM_SHA256} {' '.join(CONFIGURE_FLAGS)} rapidjson"
    stamp = src / ".compat-built"
    if runner.exists() and common.stamp_matches(stamp, key):
        return runner
    missing = [tool for tool in ("cc", "c++", "make", "pkg-config") if shutil.which(tool) is None]
    if not RAPIDJSON_HEADER.is_file():
        missing.append(str(RAPIDJSON_HEADER))
    if missing:
        raise SuiteSetupError(
            f"missing {', '.join(missing)}; Debian: apt-get install {APT_PACKAGES}"
        )
    stamp.unlink(missing_ok=True)
    nice = ["nice", "-n", "10"]
    deadline = time.monotonic() + BUILD_TIMEOUT_S
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    steps = [
        (["bash", "./configure", *CONFIGURE_FLAGS], "configure librdkafka"),
        ([*nice, "make", "-j2", "libs"], "build librdkafka"),
        ([*nice, "make", "-j2", "-C", "tests", "build"], "build librdkafka's test-runner"),
    ]
    for cmd, what in steps:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SuiteSetupError(f"the librdkafka build took over {BUILD_TIMEOUT_S} s")
        print(f"librdkafka: {what} ...", flush=True)
        common.check_call(cmd, timeout_s=left, what=what, cwd=src, env=env)
    stamp.write_text(key + "\n")
    return runner


# -- running ---------------------------------------------------------------------------


def parse_output(text: str) -> tuple[dict[str, TestResult], set[str], str]:
    """Per-test results of one test-runner process, the tests it started, and
    the reason ``<MAIN>`` failed (empty when it did not)."""
    results: dict[str, TestResult] = {}
    started: set[str] = set()
    seconds: dict[str, float] = {}
    skip_reason: dict[str, str] = {}
    output: dict[str, list[str]] = {}
    main_failure = ""
    lines = _ANSI.sub("", text).splitlines()
    for i, line in enumerate(lines):
        prefix = _PREFIX.match(line)
        if prefix:
            name = prefix.group("name")
            said = output.setdefault(name, [])
            if len(said) < OUTPUT_LINES:
                said.append(line[prefix.end() :].strip())
            seconds[name] = max(seconds.get(name, 0.0), float(prefix.group("secs")))
            skipping = _SKIPPING.search(line)
            if skipping:
                skip_reason.setdefault(name, skipping.group("reason").strip())
        if m := _RUNNING.search(line):
            started.add(m.group("name"))
        elif m := _FAILED_AT.match(line):
            name = m.group("name")
            reason = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if name == "<MAIN>":
                main_failure = main_failure or reason
                continue
            outcome: common.Outcome = "timeout" if "timed out" in reason else "fail"
            if name not in results or results[name].outcome == "pass":
                results[name] = TestResult(name, outcome, detail=f"{reason} ({m.group('where')})")
        elif m := _DONE.search(line):
            name, state = m.group("name"), m.group("state")
            if name in results:
                continue
            if state == "PASSED":
                results[name] = TestResult(name, "pass")
            elif state == "SKIPPED":
                results[name] = TestResult(name, "skip", detail=skip_reason.get(name, ""))
            else:
                results[name] = TestResult(name, "fail", detail="failed (no reason printed)")
        elif m := _SUMMARY.match(line):
            name, state = m.group("name"), m.group("state")
            if name == "<MAIN>" or name in results:
                continue
            if state == "SKIPPED":
                results[name] = TestResult(name, "skip", detail=m.group("rest").strip())
            elif state == "PASSED":
                results[name] = TestResult(name, "pass")
            elif state == "FAILED":
                results[name] = TestResult(name, "fail", detail=m.group("rest").strip())
    for name, result in results.items():
        result.seconds = seconds.get(name, 0.0)
        result.output = "\n".join(output.get(name, ()))
    return results, started, main_failure


def _run_group(
    runner: Path,
    number: str,
    scenario: str,
    *,
    bootstrap: str,
    kafka_version: str,
    timeout_s: float,
    log_dir: Path,
    kafka_path: Path,
) -> tuple[dict[str, TestResult], float]:
    tests_dir = runner.parent
    conf = log_dir / f"test-{scenario}.conf"
    conf.write_text(f"bootstrap.servers={bootstrap}\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}  # CI changes its timeouts
    env.update(
        TESTS=number,
        TEST_KAFKA_VERSION=kafka_version,
        RDKAFKA_TEST_CONF=str(conf),
        LD_LIBRARY_PATH=os.pathsep.join(str(tests_dir.parent / d) for d in ("src", "src-cpp")),
        RDKAFKA_GITVER=f"v{LIBRDKAFKA_VERSION}",
        KAFKA_PATH=str(kafka_path),  # our stand-ins for kafka-topics.sh, kafka-acls.sh
        BROKERS=bootstrap,
    )
    mode = [] if number in FULL_MODE else ["-Q"]
    cmd = [str(runner), *mode, "-L", "-p1", "-s", scenario]
    suffix = "" if scenario == "default" else f"-{scenario}"
    log = log_dir / f"{number}{suffix}.log"
    finished = common.run_bounded(cmd, timeout_s=timeout_s, log_path=log, cwd=tests_dir, env=env)
    for stats in tests_dir.glob("stats_*.json"):
        stats.unlink(missing_ok=True)
    results, started, main_failure = parse_output(log.read_text(errors="replace"))
    if finished.returncode is None:
        for name in started - results.keys():
            results[name] = TestResult(
                name, "timeout", finished.seconds, f"killed at the {timeout_s:.0f} s deadline"
            )
    elif finished.returncode != 0 and main_failure:
        # Tests that passed but left the client unable to shut down in time:
        # the runner fails the whole process; count it against them.
        for result in results.values():
            if result.outcome == "pass":
                result.outcome = "fail"
                result.detail = f"passed, then the runner failed: {main_failure}"
    elif finished.returncode not in (0, None) and not any(
        r.outcome in common.FAILING for r in results.values()
    ):
        for name in started - results.keys():
            results[name] = TestResult(
                name, "fail", finished.seconds, f"test-runner exited {finished.returncode}"
            )
    return results, finished.seconds


def broker_overrides(scenario: str) -> dict[str, str]:
    """Our broker's options for a scenario (on top of ``common.BASE_OVERRIDES``)."""
    overrides = dict(BROKER_OVERRIDES)
    if scenario == "noautocreate":
        overrides["auto.create.topics.enable"] = "false"
    return overrides


def _merge(into: dict[str, TestResult], more: Mapping[str, TestResult]) -> None:
    rank = {"not-run": 0, "skip": 1, "pass": 2, "timeout": 3, "fail": 4}
    for name, result in more.items():
        if name not in into or rank[result.outcome] > rank[into[name].outcome]:
            into[name] = result


def _groups(
    tests: Iterable[TestDef], expectations: Mapping[str, Expectation], numbers: set[str] | None
) -> list[tuple[str, str]]:
    """(scenario, test number) pairs to run: numbers with a test we expect to run."""
    out: list[tuple[str, str]] = []
    for test in tests:
        if not test.needs_broker or (numbers is not None and test.number not in numbers):
            continue
        exp = expectations.get(test.name)
        if exp is not None and exp.status == "n/a":
            continue
        for scenario in test.scenarios[:1]:
            if (scenario, test.number) not in out:
                out.append((scenario, test.number))
    return out


def run(
    *, quick: bool, expectations: Mapping[str, Expectation], only: Sequence[str] = ()
) -> SuiteRun:
    cache = common.cache_dir()
    started = time.monotonic()
    src = _fetch(cache)
    runner = _build(src)
    tests = parse_test_table((src / "tests" / "test.c").read_text())
    known = [t.name for t in tests]
    numbers = set(QUICK) if quick else None
    if only:
        picked = {t.number for t in tests if common.chosen(t.name, only)}
        numbers = picked if numbers is None else numbers & picked
    groups = _groups(tests, expectations, numbers)
    selected = [
        t.name
        for t in tests
        if (t.scenarios[0], t.number) in groups
        and not (expectations.get(t.name) and expectations[t.name].status == "n/a")
    ]
    info = common.RunInfo(
        suite=NAME,
        version=f"librdkafka {LIBRDKAFKA_VERSION} tests/ (from npm {NPM_PACKAGE}@{NPM_VERSION}),"
        f" configure {' '.join(CONFIGURE_FLAGS)}",
        broker_version="?",
        quick=quick,
    )
    log_dir = cache / "runs" / NAME
    if not only:  # a retry (--only) keeps the logs of the other tests
        shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    timeout_s = QUICK_PROCESS_TIMEOUT_S if quick else PROCESS_TIMEOUT_S
    run_deadline = time.monotonic() + (QUICK_RUN_TIMEOUT_S if quick else RUN_TIMEOUT_S)
    kafka_path = kafka_tools.write_bin_dir(cache / "kafka-tools", sys.executable)
    results: dict[str, TestResult] = {}
    for scenario in dict.fromkeys(s for s, _ in groups):
        overrides = broker_overrides(scenario)
        with (
            common.scratch_dir(f"{NAME}-{scenario}") as work,
            common.running_broker(work, overrides=overrides) as broker,
        ):
            version = common.inferred_kafka_version(broker)
            info.broker_version = ".".join(map(str, version))
            kafka_version = ".".join(map(str, (*version, 0, 0)[:3]))
            for group_scenario, number in groups:
                left = run_deadline - time.monotonic()
                if group_scenario != scenario or left < 5:
                    continue
                found, seconds = _run_group(
                    runner,
                    number,
                    scenario,
                    bootstrap=broker.bootstrap,
                    kafka_version=kafka_version,
                    timeout_s=min(timeout_s, left),
                    log_dir=log_dir,
                    kafka_path=kafka_path,
                )
                _merge(results, {k: v for k, v in found.items() if k in known})
                print(f"librdkafka: {number} ({scenario}) {seconds:.0f} s: " + _brief(found))
    info.seconds = time.monotonic() - started
    if time.monotonic() >= run_deadline - 5:
        info.notes.append("the run reached its overall deadline; later test numbers did not start")
    info.notes.append(
        f"one test-runner process per test number (`-Q -L -p1`), deadline {timeout_s} s; "
        f"logs: compat/suites/.cache/runs/{NAME}/"
    )
    not_applicable = {
        t.name: "manual: upstream runs it only by hand"
        if "TEST_F_MANUAL" in t.flags
        else "local: needs no broker (librdkafka alone or its mock cluster)"
        for t in tests
        if not t.needs_broker
    }
    return SuiteRun(
        info=info, results=results, selected=selected, known=known, not_applicable=not_applicable
    )


def _brief(found: Mapping[str, TestResult]) -> str:
    return ", ".join(f"{name} {r.outcome}" for name, r in sorted(found.items())) or "no result"
