"""ElectLeaders' per-partition answer (broker/api/elect_leaders.py): a success
is never reported for an election that did not happen."""

from __future__ import annotations

from broker.api.elect_leaders import PREFERRED, UNCLEAN, decide, needed
from broker.controller.image import PartitionImage
from broker.errors import ErrorCode


def part(replicas: tuple[int, ...], isr: tuple[int, ...], leader: int) -> PartitionImage:
    return PartitionImage(0, replicas, isr, leader, leader_epoch=3, partition_epoch=4)


def test_preferred_leader_already_leading_needs_no_election() -> None:
    p = part((1, 2, 3), (1, 2, 3), 1)
    assert not needed(PREFERRED, p)
    assert decide(PREFERRED, p)[0] == ErrorCode.ELECTION_NOT_NEEDED


def test_preferred_election_that_would_move_the_leader_is_refused_not_faked() -> None:
    p = part((1, 2, 3), (1, 2, 3), 2)
    assert needed(PREFERRED, p)
    code, message = decide(PREFERRED, p)
    assert code == ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE
    assert message is not None and "not implemented" in message


def test_preferred_replica_out_of_sync_is_named() -> None:
    code, message = decide(PREFERRED, part((1, 2, 3), (2, 3), 2))
    assert code == ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE
    assert message is not None and "not in the in-sync replicas" in message


def test_unclean_election_with_a_leader_is_not_needed_without_one_refused() -> None:
    assert decide(UNCLEAN, part((1, 2, 3), (2, 3), 2))[0] == ErrorCode.ELECTION_NOT_NEEDED
    leaderless = part((1, 2, 3), (1,), -1)
    assert needed(UNCLEAN, leaderless)
    code, message = decide(UNCLEAN, leaderless)
    assert code == ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE
    assert message is not None and "not implemented" in message


def test_unknown_partition_and_election_type() -> None:
    assert decide(PREFERRED, None)[0] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert decide(7, part((1,), (1,), 1))[0] == ErrorCode.INVALID_REQUEST
