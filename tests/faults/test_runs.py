"""The fault suite's CI subset: real 3-node clusters, fixed seeds, short runs.

* the queue workload (idempotent acks=all producers, an ``assign`` consumer,
  a group member committing) under kills, a majority/minority split, a
  paused node and an isolated controller: valid;
* the metadata workload (topic creates through random nodes) under the same:
  valid;
* the mutant: a ``write.caching=true`` topic under power losses loses its
  unflushed writes, which its own row allows and the default row's promise
  (nothing acknowledged is lost) does not: held to the default row, the
  checker reports it. The run's directory replays to the same schedule.
"""

from __future__ import annotations

from pathlib import Path

from faults import nemesis
from faults.runner import Options, replay_options, run

FAULTS = ["kill", "partition-majority", "pause", "isolate-controller", "kill-majority"]


def test_queue_under_faults_is_valid(tmp_path: Path) -> None:
    verdict = run(Options(seed=11, time_s=16, kinds=FAULTS), tmp_path)
    assert verdict["valid"] is True, verdict
    assert verdict["faults"], "no fault was injected"
    assert verdict["stats"]["acknowledged"] > 100


def test_metadata_under_faults_is_valid(tmp_path: Path) -> None:
    verdict = run(Options(seed=12, time_s=12, workload="metadata", kinds=FAULTS), tmp_path)
    assert verdict["valid"] is True, verdict
    assert verdict["stats"]["acknowledged"] > 0


def test_unflushed_writes_lost_to_power_loss_are_caught(tmp_path: Path) -> None:
    options = Options(
        seed=13, time_s=9, row="write-caching", check_as="default", kinds=["power-loss"]
    )
    verdict = run(options, tmp_path)
    assert verdict["valid"] is False, verdict
    assert {"lost", "inconsistent-offsets"} & set(verdict["violations"]), verdict
    assert [f["kind"] for f in verdict["faults"]] == ["power-loss"]
    replay = replay_options(Path(verdict["dir"]))
    assert replay.schedule == nemesis.generate(13, 9, 3, ("power-loss",))
    assert (replay.row, replay.check_as) == ("write-caching", "default")


def test_a_seed_gives_one_schedule() -> None:
    assert nemesis.generate(7, 60, 5) == nemesis.generate(7, 60, 5)
    assert nemesis.generate(7, 60, 5) != nemesis.generate(8, 60, 5)
    for fault in nemesis.generate(3, 300, 3):
        assert fault["kind"] in nemesis.KINDS
        assert fault["at"] + fault["duration"] <= 300
