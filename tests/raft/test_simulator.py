"""The deterministic simulator: seeds pass, bugs are caught, replays are exact."""

from __future__ import annotations

import pytest

from broker.raft.sim import SimResult
from broker.raft.simulate import main, run_seed


def first_violation(bug: str, seeds: range, profile: str = "hostile") -> SimResult | None:
    for seed in seeds:
        result = run_seed(seed, nodes=3, steps=1000, bug=bug, profile=profile)
        if result.violation is not None:
            return result
    return None


def test_a_few_hundred_seeds_have_no_violation() -> None:
    failures = [
        (seed, result.violation)
        for seed in range(300)
        if (result := run_seed(seed, steps=1000)).violation is not None
    ]
    assert failures == []


def test_seeds_elect_leaders_and_commit() -> None:
    # Guard against a vacuous simulator: schedules must actually make progress.
    results = [run_seed(seed, steps=1000) for seed in range(20)]
    assert sum(r.leaders for r in results) >= 20
    assert sum(r.acked for r in results) >= 100
    assert all(r.recovery_rounds > 0 for r in results)


def test_catches_commit_without_own_epoch_rule() -> None:
    """Raft figure 8: a leader that commits entries of older epochs by
    counting replicas, before an entry of its own epoch, loses data."""
    result = first_violation("commit_old_epoch", range(300))
    assert result is not None
    assert result.violation is not None
    assert "committed" in result.violation or "lost" in result.violation


def test_catches_votes_that_are_not_persisted() -> None:
    result = first_violation("forget_vote", range(300))
    assert result is not None
    assert result.violation is not None
    assert result.violation.startswith("two leaders in epoch")


def first_caught(bug: str, seeds: range) -> SimResult | None:
    for seed in seeds:
        result = run_seed(seed, bug=bug)
        if result.violation is not None:
            return result
    return None


@pytest.mark.parametrize(
    ("bug", "expected", "seeds"),
    [
        # The livelock after a leader's death (a minority dead for good).
        ("prospective_follows_lost_leader", "liveness", 120),
        # The host steps between ready() and advance() (asynchronous fsync);
        # rarer: the vote must be lost to a crash and another candidate ask.
        ("live_ready", "two leaders", 300),
        # A pre-vote granted while following a live leader (one-way cut).
        ("prevote_grants_with_leader", "healthy leader", 120),
        # The voter set not cut back with the log.
        ("keep_voters_on_truncate", "voters", 120),
        # Frequent leader snapshots starve a chunked transfer (snapshot storm).
        ("snapshot_starve", "liveness", 120),
    ],
)
def test_hostile_fault_model_catches_the_review_bugs(bug: str, expected: str, seeds: int) -> None:
    result = first_caught(bug, range(seeds))
    assert result is not None, bug
    assert result.violation is not None and expected in result.violation


@pytest.mark.parametrize("bug", ["", "forget_vote"])
def test_a_seed_replays_exactly(bug: str) -> None:
    first = run_seed(7, steps=600, bug=bug, profile="hostile")
    second = run_seed(7, steps=600, bug=bug, profile="hostile")
    assert first.trace == second.trace
    assert first.violation == second.violation
    assert len(first.trace) > 50


def test_command_line_reports_seeds_and_violations(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seeds", "3", "--steps", "300"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "seeds=3 violations=0"


def test_command_line_fails_and_prints_replay(capsys: pytest.CaptureFixture[str]) -> None:
    failing = first_violation("forget_vote", range(300))
    assert failing is not None
    seed = failing.seed
    code = main(
        [
            *("--seeds", "1", "--first-seed", str(seed), "--nodes", "3", "--steps", "1000"),
            *("--bug", "forget_vote", "--profile", "hostile", "--tail", "5"),
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[-1] == "seeds=1 violations=1"
    assert out[0].startswith(f"seed={seed} step=")
    assert any(f"--first-seed {seed}" in line for line in out)


def test_failures_shrink_to_a_replayable_minimal_trace(
    capsys: pytest.CaptureFixture[str],
) -> None:
    failing = first_violation("forget_vote", range(300))
    assert failing is not None
    common = [
        *("--seeds", "1", "--first-seed", str(failing.seed), "--nodes", "3"),
        *("--steps", "1000", "--bug", "forget_vote", "--profile", "hostile"),
    ]
    assert main(common) == 1
    out = capsys.readouterr().out.splitlines()
    summary = next(line for line in out if "minimal trace:" in line)
    kept = int(summary.split("minimal trace:")[1].split()[0])
    assert kept < failing.steps
    replay = next(line for line in out if line.strip().startswith("replay:"))
    only = replay.split("--only-steps ")[1].split()[0]
    assert main([*common, "--only-steps", only]) == 1
    again = capsys.readouterr().out.splitlines()
    assert again[0].split("VIOLATION: ")[1].startswith("two leaders in epoch")
    assert again[-1] == "seeds=1 violations=1"


def test_partition_log_seeds_have_no_violation() -> None:
    """The core on the storage engine, crashes cutting files to their last
    fsync (``--log partition``)."""
    results = [run_seed(seed, log="partition") for seed in range(12)]
    assert [(r.seed, r.violation) for r in results if r.violation] == []
    assert sum(r.acked for r in results) >= 50


@pytest.mark.parametrize(
    ("bug", "expected", "profile", "seeds"),
    [
        ("forget_vote", "two leaders", "hostile", 40),  # first catch: seed 11
        ("keep_voters_on_truncate", "voters", "mixed", 60),  # first catch: seed 35
    ],
)
def test_partition_log_catches_bugs(bug: str, expected: str, profile: str, seeds: int) -> None:
    nodes = 3 if profile == "hostile" else None
    steps = 1000 if profile == "hostile" else 1500
    for seed in range(seeds):
        result = run_seed(seed, nodes, steps, bug, profile, log="partition")
        if result.violation is not None:
            assert expected in result.violation
            return
    pytest.fail(f"{bug} not caught in {seeds} partition-log seeds")


def test_command_line_runs_the_partition_log(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seeds", "2", "--log", "partition"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "seeds=2 violations=0"


@pytest.mark.parametrize("log", ["memory", "partition"])
def test_data_partition_seeds_have_no_violation(log: str) -> None:
    """No state machine; hosts delete prefixes, followers below the log start
    are reset with an empty snapshot there (``--data-partition``)."""
    seeds = range(40) if log == "memory" else range(8)
    results = [run_seed(seed, log=log, data_partition=True) for seed in seeds]
    assert [(r.seed, r.violation) for r in results if r.violation] == []
    resets = sum("installed snapshot" in line for r in results for line in r.trace)
    deletes = sum("delete records" in line for r in results for line in r.trace)
    assert deletes >= 10 and (log == "partition" or resets >= 5)


def test_data_partition_catches_a_core_that_ignores_the_log_start() -> None:
    for seed in range(60):  # first catches: seeds 9, 10, 17
        result = run_seed(seed, bug="ignore_log_start", data_partition=True)
        if result.violation is not None:
            assert "below log start" in result.violation
            return
    pytest.fail("ignore_log_start not caught")
