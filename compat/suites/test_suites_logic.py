"""The suite runners' own logic: expectation files, judging a run, parsing output.

Pure functions only; no broker, no download (the suites themselves run with
``python -m compat.suites.run``).
"""

from __future__ import annotations

import pytest

from compat.suites import common, librdkafka
from compat.suites.common import Expectation, ExpectationError, TestResult

FILE = """\
# a comment
pass t_ok
fail t_bad   groups: JoinGroup is not served
n/a  t_never needs a TLS listener
"""


def test_parse_expectations() -> None:
    exp = common.parse_expectations(FILE)
    assert list(exp) == ["t_ok", "t_bad", "t_never"]
    assert exp["t_bad"] == Expectation("t_bad", "fail", "groups: JoinGroup is not served")
    assert exp["t_bad"].feature == "groups"
    assert exp["t_never"].reason == "needs a TLS listener"


@pytest.mark.parametrize(
    "text",
    [
        "maybe t_x",  # unknown status
        "fail t_x",  # failure without a reason
        "fail t_x no feature prefix here",
        "n/a t_x",  # n/a without a reason
        "pass t_x\npass t_x",  # listed twice
        "pass",  # no test name
        "pass t_x | a signature",  # only expected failures have one
        "fail t_x groups: why |",  # an empty signature
    ],
)
def test_parse_expectations_rejects(text: str) -> None:
    with pytest.raises(ExpectationError):
        common.parse_expectations(text)


def _results(**outcomes: str) -> dict[str, TestResult]:
    return {name: TestResult(name, outcome) for name, outcome in outcomes.items()}  # type: ignore[arg-type]


def test_compare_agrees() -> None:
    exp = common.parse_expectations(FILE)
    results = _results(t_ok="pass", t_bad="timeout", t_never="skip")
    assert common.compare(exp, results, ["t_ok", "t_bad"]) == []
    # An n/a test that was not run at all agrees too.
    assert common.compare(exp, _results(t_ok="pass", t_bad="fail"), ["t_ok", "t_bad"]) == []


def test_compare_mismatches() -> None:
    exp = common.parse_expectations(FILE)
    results = _results(t_ok="fail", t_bad="pass", t_never="pass", t_new="fail")
    found = {m.name: m for m in common.compare(exp, results, ["t_ok", "t_bad"])}
    assert found["t_ok"].expected == "pass" and found["t_ok"].outcome == "fail"
    assert found["t_bad"].expected == "fail" and found["t_bad"].outcome == "pass"
    assert found["t_never"].outcome == "pass"  # n/a, yet it ran
    assert found["t_new"].expected == "(not in the file)"
    # A selected test that never reported is a mismatch; an unselected one is not.
    missing = common.compare(exp, {}, ["t_ok"])
    assert [(m.name, m.outcome) for m in missing] == [("t_ok", "not-run")]


SIGNED = """\
fail t_why  groups: commits to unknown topics succeed | UNKNOWN_TOPIC_OR_PART
fail t_sasl sasl: no SASL listener yet | Test requires SASL_PLAINTEXT
fail t_open transactions: no transaction coordinator
"""


def test_expected_failures_must_show_their_signature() -> None:
    exp = common.parse_expectations(SIGNED)
    assert exp["t_why"].reason == "groups: commits to unknown topics succeed"
    assert exp["t_why"].signature == "UNKNOWN_TOPIC_OR_PART"
    assert exp["t_open"].signature == ""
    names = ["t_why", "t_sasl", "t_open"]

    def outcomes(**given: tuple[str, str, str]) -> dict[str, TestResult]:
        return {
            name: TestResult(name, outcome, detail=detail, output=output)  # type: ignore[arg-type]
            for name, (outcome, detail, output) in given.items()
        }

    agreeing = outcomes(
        t_why=("fail", "expected UNKNOWN_TOPIC_OR_PART, not Success", ""),
        t_sasl=("skip", "Test requires SASL_PLAINTEXT or SASL_SSL, got plaintext", ""),
        t_open=("timeout", "anything", ""),
    )
    assert common.compare(exp, agreeing, names) == []
    # The signature may be in the test's output rather than its first line.
    in_output = outcomes(
        t_why=("fail", "assertion failed", "Commit result: UNKNOWN_TOPIC_OR_PART"),
        t_sasl=("skip", "", "Test requires SASL_PLAINTEXT or SASL_SSL"),
        t_open=("fail", "", ""),
    )
    assert common.compare(exp, in_output, names) == []
    wrong = outcomes(
        t_why=("fail", "Connection refused", ""),
        t_sasl=("skip", "skipped for another reason", ""),
        t_open=("skip", "", ""),
    )
    found = {m.name: m for m in common.compare(exp, wrong, names)}
    assert found["t_why"].expected == "fail showing 'UNKNOWN_TOPIC_OR_PART'"
    assert found["t_sasl"].outcome == "skip"
    assert found["t_open"].expected == "fail"  # a skip needs a signature to count
    assert [r.name for r in agreeing.values() if common.waiting(exp, r)] == names
    assert [r.name for r in wrong.values() if common.waiting(exp, r)] == ["t_why"]


def test_updated_expectations_keeps_reasons() -> None:
    exp = common.parse_expectations(FILE)
    results = _results(t_ok="fail", t_bad="fail", t_new="pass", t_local="skip")
    results["t_ok"].detail = "AssertionError: boom"
    rows = common.updated_expectations(
        exp, results, ["t_ok", "t_bad", "t_never", "t_new", "t_local"], {"t_local": "local"}
    )
    by = {e.name: e for e in rows}
    assert by["t_ok"] == Expectation("t_ok", "fail", "TODO: AssertionError: boom")
    assert by["t_bad"] == exp["t_bad"]
    assert by["t_never"] == exp["t_never"]
    assert by["t_new"] == Expectation("t_new", "pass")
    assert by["t_local"] == Expectation("t_local", "n/a", "local")
    # An expected failure that no longer shows its signature needs a new reason.
    signed = common.parse_expectations(SIGNED)
    failed = _results(t_why="fail", t_sasl="skip")
    failed["t_why"].detail = "something else broke"
    failed["t_sasl"].detail = "Test requires SASL_PLAINTEXT or SASL_SSL, got plaintext"
    again = {e.name: e for e in common.updated_expectations(signed, failed, ["t_why", "t_sasl"])}
    assert again["t_why"] == Expectation("t_why", "fail", "TODO: something else broke")
    assert again["t_sasl"] == signed["t_sasl"]
    rows.append(signed["t_sasl"])
    # What it renders parses back to the same thing.
    text = common.render_expectations("header", rows)
    assert list(common.parse_expectations(text).values()) == rows


TABLE = """\
struct test tests[] = {
    {.name = "<MAIN>", .flags = TEST_F_LOCAL},
    _TEST(0001_alpha, 0),
    _TEST(0002_beta,
          TEST_F_LOCAL,
          /* a comment, with (parentheses) */
          TEST_BRKVER(0, 11, 0, 0)),
    _TEST(0003_gamma, TEST_F_SOCKEM, TEST_BRKVER(0, 9, 0, 0), .scenario = "noautocreate"),
    _TEST(8000_manual, TEST_F_MANUAL),
    {NULL}};
"""


def test_parse_test_table() -> None:
    tests = librdkafka.parse_test_table(TABLE)
    assert [t.name for t in tests] == ["0001_alpha", "0002_beta", "0003_gamma", "8000_manual"]
    assert [t.needs_broker for t in tests] == [True, False, True, False]
    assert tests[2].scenarios == ("noautocreate",)
    assert tests[2].flags == frozenset({"TEST_F_SOCKEM"})
    assert tests[0].scenarios == ("default",)


def test_parse_output() -> None:
    log = "\n".join(
        [
            "[0001_alpha  /  0.000s] ================= Running test 0001_alpha =================",
            "[0001_alpha  /  1.500s] \x1b[32m================= Test 0001_alpha PASSED =================\x1b[0m",
            "[0003_gamma  /  0.000s] ================= Running test 0003_gamma =================",
            '\x1b[31m### Test "0003_gamma (sub:12)" failed at 0003.c:40:f() at now: ###',
            "expected 3 messages, got 2",
            "[0004_delta  /  0.000s] SKIPPING TEST: needs a SASL listener",
            "[0004_delta  /  0.000s] ================= Test 0004_delta SKIPPED =================",
            '### Test "<MAIN>" failed at test.c:1:w() at now: ###',
            "2 thread(s) still active in librdkafka",
        ]
    )
    results, started, main_failure = librdkafka.parse_output(log)
    assert results["0001_alpha"].outcome == "pass"
    assert results["0001_alpha"].seconds == 1.5
    assert results["0003_gamma"].outcome == "fail"
    assert results["0003_gamma"].detail.startswith("expected 3 messages, got 2")
    assert results["0004_delta"].outcome == "skip"
    assert results["0004_delta"].detail == "needs a SASL listener"
    assert results["0004_delta"].output.splitlines() == [
        "SKIPPING TEST: needs a SASL listener",
        "================= Test 0004_delta SKIPPED =================",
    ]
    assert started == {"0001_alpha", "0003_gamma"}
    assert main_failure == "2 thread(s) still active in librdkafka"


def test_librdkafka_broker_keeps_kafkas_initial_rebalance_delay() -> None:
    """trivup leaves group.initial.rebalance.delay.ms at Kafka's 3000 and
    0118_commit_rebalance depends on it: with 0 its first consumer is alone in
    the first generation in about 1 run of 3 and the test fails."""
    for scenario in ("default", "noautocreate"):
        settings = common.broker_settings(librdkafka.broker_overrides(scenario))
        assert settings.get("group.initial.rebalance.delay.ms", "3000") == "3000"
    assert librdkafka.broker_overrides("noautocreate")["auto.create.topics.enable"] == "false"
