"""Run Kafka clients' own test suites against fresh broker processes.

    python -m compat.suites.run [--suite kafka-python|librdkafka|kcat ...] [--quick] [--update]

Each suite is fetched at a pinned version into the cache dir
(``compat/suites/.cache``, or ``$COMPAT_SUITES_CACHE``), run against a broker
process of its own, and its per-test outcomes are checked against
``compat/suites/expectations/<suite>.txt``. The report goes to
``compat/suites/results/<suite>.md`` (``<suite>-quick.md`` for ``--quick``).

Exit status: 0 when every suite agrees with its file; 1 when a test expected
to pass did not, a test expected to fail passed, or a test is missing from the
file or from the run; 2 when a suite could not be set up (download, build).
``--update`` rewrites the files to what the run saw, keeping the reasons of
tests whose status did not change; newly failing tests get a ``TODO:`` reason
that a person must replace by the feature they wait for.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType

from compat.suites import common, kafka_python, kcat, librdkafka
from compat.suites.common import Expectation, SuiteRun, SuiteSetupError

SUITES: dict[str, ModuleType] = {
    kcat.NAME: kcat,
    kafka_python.NAME: kafka_python,
    librdkafka.NAME: librdkafka,
}

HEADERS = {
    kcat.NAME: """\
kcat smoke checks (compat/suites/kcat.py) against raftbroker.
<status> <check> [reason]; status pass | fail | n/a. A failure's reason starts
with the broker feature it waits for ("groups: ..."); n/a says why the check
can never apply. python -m compat.suites.run --suite kcat --update rewrites
the statuses from a run and keeps these reasons.
""",
    kafka_python.NAME: """\
kafka-python 3.0.12 test/integration (its sdist) against raftbroker, per test.
<status> <test id under test/integration> [reason]; status pass | fail | n/a.
A failure's reason starts with the broker feature it waits for; n/a says why
the test can never apply here (n/a tests are deselected).
python -m compat.suites.run --suite kafka-python --update rewrites the statuses.
""",
    librdkafka.NAME: """\
librdkafka 2.15.1 tests/ (bundled in npm @confluentinc/kafka-javascript 1.10.1)
against raftbroker, per test of the test-runner's table (tests/test.c).
<status> <test> [reason]; status pass | fail | n/a. A failure's reason starts
with the broker feature it waits for, then optionally " | <signature>": text
the failure (or the test's self-skip) must show; n/a says why the test can
never apply (local tests need no broker and are not run).
python -m compat.suites.run --suite librdkafka --update rewrites the statuses.
""",
}


def _status(expectations: Mapping[str, Expectation], name: str) -> str:
    exp = expectations.get(name)
    return exp.status if exp else ""


def _retry(
    name: str,
    quick: bool,
    expectations: Mapping[str, Expectation],
    run: SuiteRun,
    tests: Sequence[str],
    runner: Callable[..., SuiteRun],
) -> list[common.Mismatch]:
    """Run the tests that disagreed with the file once more, against a fresh broker.

    A test that agrees on the retry takes the retry's outcome and is reported
    as flaky; one that disagrees again is a mismatch.
    """
    print(f"{name}: retrying {len(tests)} test(s) that disagree with the file: {', '.join(tests)}")
    try:
        again = runner(quick=quick, expectations=expectations, only=tuple(tests))
    except (SuiteSetupError, OSError) as exc:
        run.info.notes.append(f"the retry of {', '.join(tests)} could not run: {exc}")
        return common.compare(expectations, run.results, run.selected)
    run.info.seconds += again.info.seconds
    flaky = []
    for test in tests:
        first = run.results.get(test)
        second = again.results.get(test)
        if second is None:
            continue
        run.results[test] = second
        if not common.compare(expectations, {test: second}, [test]):
            was = f"{first.outcome}: {first.detail}" if first else "not-run"
            flaky.append(f"`{test}` (first run {common.one_line(was)[:160]})")
    if flaky:
        run.info.notes.append("flaky, agreed with the file only on a retry: " + "; ".join(flaky))
    return common.compare(expectations, run.results, run.selected)


def _run_suite(
    name: str, quick: bool, update: bool, only: Sequence[str], runner: Callable[..., SuiteRun]
) -> tuple[int, int, int]:
    """Run one suite; return (agreeing tests, mismatches, setup failures)."""
    path = common.EXPECTATIONS_DIR / f"{name}.txt"
    expectations: Mapping[str, Expectation] = (
        common.load_expectations(name) if path.exists() else {}
    )
    print(f"== {name}{' (quick)' if quick else ''}", flush=True)
    try:
        run = runner(quick=quick, expectations=expectations, only=only)
    except (SuiteSetupError, OSError) as exc:
        print(f"{name}: setup failed: {exc}", file=sys.stderr, flush=True)
        return 0, 0, 1
    mismatches = common.compare(expectations, run.results, run.selected)
    retry = [m.name for m in mismatches if _status(expectations, m.name) in ("pass", "fail")]
    if retry:
        mismatches = _retry(name, quick, expectations, run, retry, runner)
    if update:
        entries = common.updated_expectations(
            expectations, run.results, run.known, run.not_applicable
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(common.render_expectations(HEADERS[name], entries))
        expectations = common.load_expectations(name)
        mismatches = common.compare(expectations, run.results, run.selected)
        print(f"{name}: rewrote {path.relative_to(common.REPO_ROOT)}")
    report = common.render_report(run.info, expectations, run.results, mismatches)
    suffix = "-only" if only else "-quick" if quick else ""
    out = common.RESULTS_DIR / f"{name}{suffix}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    c = common.counts(expectations, run.results)
    print(
        f"{name}: {c['pass']} passed, {c['fail']} failed, {c['timeout']} timed out, "
        f"{c['skip']} skipped, {c['n/a']} n/a in {run.info.seconds:.0f} s; "
        f"report {out.relative_to(common.REPO_ROOT)}",
        flush=True,
    )
    for m in mismatches:
        print(f"  MISMATCH {m.line()}", flush=True)
    agreeing = len({*run.selected, *run.results}) - len(mismatches)
    return agreeing, len(mismatches), 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m compat.suites.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--suite",
        action="append",
        choices=list(SUITES),
        help="suite to run (repeatable; default: all, in the order kcat, kafka-python, librdkafka)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="the fast subset (librdkafka: QUICK test numbers)"
    )
    parser.add_argument(
        "--update", action="store_true", help="rewrite the expectation files from this run"
    )
    parser.add_argument(
        "--only",
        default="",
        metavar="PREFIX[,PREFIX...]",
        help="only the tests whose names start so (librdkafka: their whole test numbers run)",
    )
    args = parser.parse_args(argv)
    names = args.suite or list(SUITES)
    start = time.monotonic()
    agreeing = mismatched = broken = 0
    for name in names:
        only = tuple(p for p in args.only.split(",") if p)
        a, m, b = _run_suite(name, args.quick, args.update, only, SUITES[name].run)
        agreeing, mismatched, broken = agreeing + a, mismatched + m, broken + b
    elapsed = time.monotonic() - start
    print(f"compat suites: {', '.join(names)} in {elapsed:.0f} s")
    # The closing line counts expectation checks: a test that fails as its
    # file expects is a check that passed.
    print(f"suites: {agreeing} passed, {mismatched + broken} failed")
    if broken:
        return 2
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
