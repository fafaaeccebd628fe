"""What the three suite runners share: expectations, outcomes, results, brokers.

A *suite* is a client's own test suite (or our kcat smoke list) run unchanged
against a fresh broker process. Each test ends with one *outcome*:

  ``pass``     it passed
  ``fail``     it failed (an assertion, an error in setup or teardown, a crash)
  ``timeout``  it was still running at its deadline and was stopped
  ``skip``     the suite itself skipped it
  ``not-run``  it was selected but never reported (its process died first)

and ``expectations/<suite>.txt`` says, per test, ``pass``, ``fail`` (with the
broker feature it waits for) or ``n/a`` (why it can never apply to this
broker). An expected failure may also name its *signature*, text the failure
must show (``fail <test> feature: why | <signature>``): then it must fail
showing it, or skip itself saying it (a test that skips when the broker lacks
the feature it tests, e.g. a SASL test without a SASL listener, waits for that
feature too). A run *agrees* with the file when every expected pass passed, every
expected failure still fails (or times out) for the reason its signature
names, and every ``n/a`` test was skipped or not run. Anything else is a *mismatch* and makes the runner exit non-zero:
a regression, a test that now passes (so the file must say so), a test that
the file does not know, or one the file lists that did not report.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from compat.broker_process import REPO_ROOT as REPO_ROOT
from compat.broker_process import BrokerProcess
from compat.matrix import provenance

SUITES_DIR = Path(__file__).resolve().parent
EXPECTATIONS_DIR = SUITES_DIR / "expectations"
RESULTS_DIR = SUITES_DIR / "results"

Status = Literal["pass", "fail", "n/a"]
Outcome = Literal["pass", "fail", "timeout", "skip", "not-run"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "n/a")
FAILING: frozenset[str] = frozenset({"fail", "timeout"})

# A reason for an expected failure starts with the feature it waits for.
_FEATURE = re.compile(r"^(?P<feature>[A-Za-z0-9][A-Za-z0-9 ._/+-]*?):\s+\S")


def cache_dir() -> Path:
    """Where suites are downloaded and built: gitignored, reused between runs.

    ``COMPAT_SUITES_CACHE`` moves it (e.g. outside a fresh CI clone, so that
    the librdkafka build survives between runs).
    """
    override = os.environ.get("COMPAT_SUITES_CACHE")
    path = Path(override) if override else SUITES_DIR / ".cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- expectations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    name: str
    status: Status
    reason: str = ""
    signature: str = ""  # text an expected failure must show ("" = not checked)

    def shows_signature(self, result: TestResult) -> bool:
        return bool(self.signature) and (
            self.signature in result.detail or self.signature in result.output
        )

    @property
    def feature(self) -> str:
        """The feature an expected failure waits for (its reason's ``feature:`` prefix)."""
        match = _FEATURE.match(self.reason)
        return match.group("feature") if match else ""


class ExpectationError(ValueError):
    """The expectations file does not parse; the message names file and line."""


def parse_expectations(text: str, source: str = "<text>") -> dict[str, Expectation]:
    """Lines ``<status> <test> [reason]``; ``#`` starts a comment line.

    ``fail`` needs a reason of the form ``feature: why``, optionally followed
    by `` | signature``; ``n/a`` needs a reason.
    """
    out: dict[str, Expectation] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        where = f"{source}:{lineno}"
        if len(parts) < 2:
            raise ExpectationError(f"{where}: expected '<status> <test> [reason]': {raw!r}")
        status, name = parts[0], parts[1]
        reason = parts[2].strip() if len(parts) > 2 else ""
        reason, bar, signature = (part.strip() for part in reason.partition("|"))
        if status not in STATUSES:
            raise ExpectationError(f"{where}: status must be one of {STATUSES}, got {status!r}")
        if status == "fail" and not _FEATURE.match(reason):
            raise ExpectationError(f"{where}: 'fail' needs a reason 'feature: why' ({name})")
        if status == "n/a" and not reason:
            raise ExpectationError(f"{where}: 'n/a' needs a reason ({name})")
        if bar and (status != "fail" or not signature):
            raise ExpectationError(f"{where}: only 'fail' takes a '| signature', non-empty")
        if name in out:
            raise ExpectationError(f"{where}: {name} is listed twice")
        out[name] = Expectation(name, status, reason, signature)
    return out


def load_expectations(suite: str) -> dict[str, Expectation]:
    path = EXPECTATIONS_DIR / f"{suite}.txt"
    return parse_expectations(path.read_text(), str(path.relative_to(REPO_ROOT)))


def render_expectations(header: str, entries: Iterable[Expectation]) -> str:
    rows = list(entries)
    width = max((len(e.name) for e in rows), default=0)
    lines = [f"# {line}".rstrip() for line in header.strip().splitlines()]
    for e in rows:
        reason = f"{e.reason} | {e.signature}" if e.signature else e.reason
        lines.append(f"{e.status:<4} {e.name:<{width}} {reason}".rstrip())
    return "\n".join(lines) + "\n"


# -- results -----------------------------------------------------------------------------


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class

    name: str
    outcome: Outcome
    seconds: float = 0.0
    detail: str = ""  # first line of the failure or skip reason
    output: str = ""  # what the test printed, where the runner can tell (for signatures)


@dataclass(frozen=True)
class Mismatch:
    name: str
    expected: str
    outcome: str
    detail: str

    def line(self) -> str:
        text = f"{self.name}: expected {self.expected}, got {self.outcome}"
        return f"{text} ({self.detail})" if self.detail else text


def compare(
    expectations: Mapping[str, Expectation],
    results: Mapping[str, TestResult],
    selected: Iterable[str],
) -> list[Mismatch]:
    """Mismatches between the file and a run of the tests in ``selected``.

    ``results`` may hold tests outside ``selected`` (a process ran more than
    asked): those count only when the file does not know them.
    """
    out: list[Mismatch] = []
    wanted = set(selected)
    for name in sorted(wanted | set(results)):
        exp = expectations.get(name)
        res = results.get(name)
        if exp is None:
            if res is not None:
                out.append(Mismatch(name, "(not in the file)", res.outcome, res.detail))
            continue
        outcome: str = res.outcome if res is not None else "not-run"
        detail = res.detail if res is not None else ""
        if exp.status == "n/a":
            if outcome in ("pass", "fail", "timeout"):
                out.append(Mismatch(name, "n/a (skipped or not run)", outcome, detail))
            continue
        if name not in wanted:
            continue
        if exp.status == "pass" and outcome != "pass":
            out.append(Mismatch(name, "pass", outcome, detail))
        elif exp.status == "fail":
            if res is not None and outcome in ("fail", "timeout", "skip") and exp.signature:
                if not exp.shows_signature(res):
                    out.append(Mismatch(name, f"fail showing '{exp.signature}'", outcome, detail))
            elif outcome not in FAILING:
                out.append(Mismatch(name, "fail", outcome, detail))
    return out


def waiting(expectations: Mapping[str, Expectation], result: TestResult) -> bool:
    """A result that counts as an expected failure: failed, timed out, or
    skipped itself showing its expectation's signature."""
    exp = expectations.get(result.name)
    if result.outcome in FAILING:
        return True
    return (
        result.outcome == "skip"
        and exp is not None
        and exp.status == "fail"
        and exp.shows_signature(result)
    )


def updated_expectations(
    expectations: Mapping[str, Expectation],
    results: Mapping[str, TestResult],
    order: Sequence[str],
    not_applicable: Mapping[str, str] | None = None,
) -> list[Expectation]:
    """The file rewritten to what this run saw, keeping reasons that still hold.

    A test that newly fails gets the reason ``TODO: <what the run said>``,
    which a person must replace by the feature it waits for.
    """
    out: list[Expectation] = []
    for name in order:
        exp = expectations.get(name)
        res = results.get(name)
        if res is None or res.outcome in ("skip", "not-run"):
            if exp is not None:
                out.append(exp)
            elif not_applicable and name in not_applicable:
                out.append(Expectation(name, "n/a", not_applicable[name]))
            elif res is not None:
                out.append(Expectation(name, "n/a", f"TODO: skipped by the suite: {res.detail}"))
            continue
        if res.outcome == "pass":
            out.append(Expectation(name, "pass"))
        elif (
            exp is not None
            and exp.status == "fail"
            and (not exp.signature or exp.shows_signature(res))
        ):
            out.append(exp)
        else:
            out.append(Expectation(name, "fail", f"TODO: {one_line(res.detail)[:150]}"))
    return out


def one_line(text: str) -> str:
    return " ".join(text.split())


# -- the report ------------------------------------------------------------------------


@dataclass
class RunInfo:
    suite: str
    version: str  # what ran: suite and client versions
    broker_version: str  # what the client infers from our ApiVersions
    quick: bool
    started: float = field(default_factory=time.time)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def git_head() -> str:
    """The commit the run was made at (full hash) and any uncommitted change."""
    made_at = provenance(REPO_ROOT)
    if made_at is None:
        return "unknown"
    head = f"{made_at.commit} {made_at.subject}"
    if made_at.dirty:
        head += " (plus uncommitted changes in " + ", ".join(made_at.dirty[:5]) + ")"
    return head


def counts(
    expectations: Mapping[str, Expectation], results: Mapping[str, TestResult]
) -> dict[str, int]:
    by: dict[str, int] = {"pass": 0, "fail": 0, "timeout": 0, "skip": 0, "not-run": 0}
    for res in results.values():
        by[res.outcome] = by.get(res.outcome, 0) + 1
    by["n/a"] = sum(1 for e in expectations.values() if e.status == "n/a")
    return by


def render_report(
    info: RunInfo,
    expectations: Mapping[str, Expectation],
    results: Mapping[str, TestResult],
    mismatches: Sequence[Mismatch],
) -> str:
    stamp = datetime.fromtimestamp(info.started, UTC).strftime("%Y-%m-%d %H:%M UTC")
    c = counts(expectations, results)
    ran = c["pass"] + c["fail"] + c["timeout"]
    lines = [
        f"# {info.suite}: client test suite against raftbroker",
        "",
        f"Generated by `python -m compat.suites.run --suite {info.suite}"
        f"{' --quick' if info.quick else ''}` on {stamp}, at commit `{git_head()}`.",
        "",
        f"- suite: {info.version}",
        f"- broker version the client infers from our ApiVersions: {info.broker_version}",
        f"- run: {'quick subset' if info.quick else 'full'}, {info.seconds:.0f} s",
        f"- outcomes: **{c['pass']} passed** of {ran} run, {c['fail']} failed, "
        f"{c['timeout']} timed out, {c['skip']} skipped by the suite, {c['not-run']} not run; "
        f"{c['n/a']} tests are n/a for this broker",
        f"- against `compat/suites/expectations/{info.suite}.txt`: "
        + ("agrees" if not mismatches else f"**{len(mismatches)} mismatches**"),
    ]
    lines += [f"- {note}" for note in info.notes]
    if mismatches:
        lines += [
            "",
            "## Mismatches",
            "",
            "| test | expected | got | detail |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| `{m.name}` | {m.expected} | {m.outcome} | {_cell(m.detail)} |" for m in mismatches
        ]
    failing = [r for r in results.values() if waiting(expectations, r)]
    if failing:
        lines += [
            "",
            "## Failing tests, by the feature they wait for",
            "",
            "A skip here is a test that skipped itself for want of the feature. "
            "*checked*: the failure showed the signature its expectation names "
            "(— when the expectation names none).",
            "",
            "| feature | test | outcome | checked | what the run said |",
            "|---|---|---|---|---|",
        ]

        def feature_of(r: TestResult) -> str:
            exp = expectations.get(r.name)
            return (exp.feature if exp else "") or "(unexpected)"

        def checked(r: TestResult) -> str:
            exp = expectations.get(r.name)
            if exp is None or not exp.signature:
                return "—"
            return "yes" if exp.shows_signature(r) else "**no**"

        for r in sorted(failing, key=lambda r: (feature_of(r), r.name)):
            lines.append(
                f"| {feature_of(r)} | `{r.name}` | {r.outcome} | {checked(r)} "
                f"| {_cell(r.detail, 160)} |"
            )
    passed = sorted(r.name for r in results.values() if r.outcome == "pass")
    if passed:
        lines += ["", f"## Passing tests ({len(passed)})", ""]
        lines += [f"- `{name}`" for name in passed]
    return "\n".join(lines) + "\n"


def _cell(text: str, limit: int = 200) -> str:
    text = one_line(text).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- brokers -----------------------------------------------------------------------------


class SuiteBroker(BrokerProcess):
    """A broker process that also advertises its listener explicitly.

    Kafka's own test fixtures set ``advertised.listeners``; the suites read it
    back through DescribeConfigs as a static broker setting.
    """

    def command(self, port: int) -> list[str]:
        cmd = super().command(port)
        if "advertised.listeners" not in self.overrides:
            cmd += ["--override", f"advertised.listeners=PLAINTEXT://{self.host}:{port}"]
        return cmd


# What Kafka's own test clusters (kafka-python's fixture, librdkafka's trivup
# "default" scenario) both configure, as our broker's options. Anything else is
# the suite's own (``group.initial.rebalance.delay.ms``: kafka-python's fixture
# sets 0, trivup keeps Kafka's 3000 and librdkafka's tests rely on it).
BASE_OVERRIDES: dict[str, str] = {
    "auto.create.topics.enable": "true",
    "delete.topic.enable": "true",
}


def broker_settings(overrides: Mapping[str, str]) -> dict[str, str]:
    """The options a suite's broker starts with: the base ones, then the suite's."""
    return {**BASE_OVERRIDES, **overrides}


@contextlib.contextmanager
def running_broker(
    workdir: Path,
    *,
    node_id: int = 1,
    num_partitions: int = 4,
    overrides: Mapping[str, str] | None = None,
) -> Iterator[SuiteBroker]:
    """A fresh broker process on 127.0.0.1 with its data under ``workdir``."""
    broker = SuiteBroker(
        workdir / "data",
        node_id=node_id,
        num_partitions=num_partitions,
        overrides=broker_settings(overrides or {}),
    )
    try:
        broker.start()
        yield broker
        if not broker.running():
            print(
                "warning: the broker exited during the run:\n" + broker.output_tail(),
                file=sys.stderr,
            )
            return
        try:
            broker.stop()
        except AssertionError as exc:  # BrokerStopError: report it, keep the results
            print(f"warning: {exc}", file=sys.stderr)
    finally:
        broker.close()


def inferred_kafka_version(broker: BrokerProcess) -> tuple[int, ...]:
    """The Kafka version kafka-python infers from this broker's ApiVersions."""
    from kafka.protocol.broker_version_data import infer_broker_version_from_api_versions

    version = infer_broker_version_from_api_versions(broker.api_versions())
    return tuple(int(part) for part in version)


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"compat-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- processes ---------------------------------------------------------------------------


@dataclass
class Finished:
    returncode: int | None  # None: killed at the deadline
    seconds: float


def run_bounded(
    cmd: Sequence[str],
    *,
    timeout_s: float,
    log_path: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Finished:
    """Run ``cmd`` in its own process group, output to ``log_path``; kill it at the deadline."""
    start = time.monotonic()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code: int | None = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            _kill_group(proc)
    return Finished(code, time.monotonic() - start)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group ``proc`` leads (it and whatever it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


def check_call(cmd: Sequence[str], *, timeout_s: float, what: str, **kwargs: object) -> None:
    """Run a preparation step; fail with its output's tail when it fails."""
    done = subprocess.run(
        list(cmd),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise SuiteSetupError(f"{what} failed ({' '.join(cmd)}), exit {done.returncode}:\n{tail}")


class SuiteSetupError(RuntimeError):
    """A suite could not be fetched, built or started; no test ran."""


@dataclass
class SuiteRun:
    """What one suite's run produced, for ``run.py`` to judge and report."""

    info: RunInfo
    results: dict[str, TestResult]
    selected: list[str]  # the tests this run set out to run
    known: list[str]  # every test of the suite, in the suite's order
    # Tests the runner itself knows can never apply (e.g. librdkafka's local
    # tests), with the reason ``--update`` writes for them.
    not_applicable: dict[str, str] = field(default_factory=dict)


def chosen(name: str, only: Sequence[str]) -> bool:
    """Whether ``--only`` (name prefixes; empty: everything) picks test ``name``."""
    return not only or any(name.startswith(prefix) for prefix in only)


def sha256_of(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def stamp_matches(stamp: Path, key: str) -> bool:
    return stamp.is_file() and stamp.read_text().strip() == key


def python_env() -> dict[str, str]:
    """This environment with the repository importable (for ``-p compat.suites...``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env
