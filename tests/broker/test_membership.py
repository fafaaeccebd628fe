"""The controller's broker membership logic, sans-I/O, under a fake clock.

Each step feeds a request and a time to :class:`ClusterMembership` and
replays the records it returns into the image, as the shell does after the
append: the offsets are the log's.
"""

from __future__ import annotations

import uuid
from typing import Any

from broker.controller.image import MetadataImage, replay
from broker.controller.membership import ClusterMembership
from broker.controller.records import decode_record, encode_record
from broker.errors import ErrorCode
from broker.wire.generated.broker_heartbeat_request import BrokerHeartbeatRequest
from broker.wire.generated.broker_registration_change_record import (
    BrokerRegistrationChangeRecord,
)
from broker.wire.generated.broker_registration_request import (
    BrokerRegistrationRequest,
    Listener,
)
from broker.wire.generated.fence_broker_record import FenceBrokerRecord
from broker.wire.generated.unfence_broker_record import UnfenceBrokerRecord

CLUSTER = "test-cluster"
TIMEOUT = 9000


class Cluster:
    """A metadata log of one controller: an image and the next offset."""

    def __init__(self) -> None:
        self.membership = ClusterMembership(CLUSTER, TIMEOUT)
        self.image = MetadataImage()
        self.next_offset = 0
        self.now = 1_000_000

    def apply(self, records: list[Any]) -> None:
        for record in records:
            # Through the log's encoding, as the quorum stores them.
            record = decode_record(encode_record(record))
            self.image = replay(self.image, self.next_offset, record)
            self.next_offset += 1

    def register(self, broker_id: int, incarnation: uuid.UUID, **fields: Any) -> Any:
        request = BrokerRegistrationRequest(
            broker_id=broker_id,
            cluster_id=fields.pop("cluster_id", CLUSTER),
            incarnation_id=incarnation,
            listeners=[Listener("PLAINTEXT", "localhost", 9000 + broker_id, 0)],
            rack=None,
            **fields,
        )
        outcome = self.membership.register(self.image, request, self.next_offset, self.now)
        self.apply(outcome.records)
        return outcome

    def heartbeat(self, broker_id: int, epoch: int, offset: int | None = None, **flags: Any) -> Any:
        request = BrokerHeartbeatRequest(
            broker_id=broker_id,
            broker_epoch=epoch,
            current_metadata_offset=self.image.offset if offset is None else offset,
            **flags,
        )
        outcome = self.membership.heartbeat(self.image, request, self.now)
        self.apply(outcome.records)
        if outcome.begins_controlled_shutdown:
            self.membership.shutdown_recorded(broker_id, self.image.offset)
        return outcome

    def tick(self, ms: int) -> list[Any]:
        self.now += ms
        records = self.membership.expire(self.image, self.now)
        self.apply(records)
        return records

    def unfenced(self) -> list[int]:
        return sorted(b.broker_id for b in self.image.brokers.values() if not b.fenced)


def joined(cluster: Cluster, broker_id: int, incarnation: uuid.UUID | None = None) -> int:
    """Register and heartbeat until unfenced: the broker epoch."""
    outcome = cluster.register(broker_id, incarnation or uuid.uuid4())
    assert outcome.error == ErrorCode.NONE
    epoch = cluster.image.brokers[broker_id].epoch
    assert cluster.heartbeat(broker_id, epoch).is_fenced is False
    return epoch


def test_registration_is_fenced_and_its_offset_is_the_epoch() -> None:
    c = Cluster()
    c.apply([BrokerRegistrationChangeRecord()])  # something before: offset 0 is taken
    outcome = c.register(2, uuid.uuid4())
    assert outcome.error == ErrorCode.NONE
    broker = c.image.brokers[2]
    assert broker.epoch == 1 and outcome.records[0].broker_epoch == 1
    assert broker.fenced and c.unfenced() == []
    assert broker.endpoints == (("PLAINTEXT", "localhost", 9002),)


def test_heartbeat_unfences_only_once_caught_up() -> None:
    c = Cluster()
    c.register(2, uuid.uuid4())
    epoch = c.image.brokers[2].epoch
    behind = c.heartbeat(2, epoch, offset=epoch - 1)
    assert (behind.is_caught_up, behind.is_fenced, behind.records) == (False, True, [])
    wants_fence = c.heartbeat(2, epoch, offset=epoch, want_fence=True)
    assert (wants_fence.is_caught_up, wants_fence.is_fenced) == (True, True)
    caught_up = c.heartbeat(2, epoch, offset=epoch)
    assert (caught_up.is_caught_up, caught_up.is_fenced, caught_up.should_shut_down) == (
        True,
        False,
        False,
    )
    assert c.unfenced() == [2]
    # Steady state: nothing more to write.
    assert c.heartbeat(2, epoch).records == []


def test_broker_is_fenced_after_the_session_timeout_and_returns() -> None:
    c = Cluster()
    epoch = joined(c, 2)
    joined(c, 3)
    assert c.tick(TIMEOUT - 1) == []
    c.heartbeat(3, c.image.brokers[3].epoch)  # 3 keeps heartbeating, 2 stopped
    assert c.membership.next_deadline(c.image) == c.now + 1
    fenced = c.tick(1)
    assert [(r.broker_id, r.fenced) for r in fenced] == [(2, 1)]
    assert c.unfenced() == [3]
    assert c.membership.next_deadline(c.image) == c.now + TIMEOUT - 1
    # It comes back with the same epoch, and is unfenced once caught up.
    back = c.heartbeat(2, epoch)
    assert (back.error, back.is_fenced) == (ErrorCode.NONE, False)
    assert c.unfenced() == [2, 3]


def test_stale_and_unknown_epochs() -> None:
    c = Cluster()
    incarnation = uuid.uuid4()
    old = joined(c, 2, incarnation)
    new = joined(c, 2, incarnation)  # the same process again, after a lost answer
    assert new > old
    assert c.heartbeat(2, old).error == ErrorCode.STALE_BROKER_EPOCH
    assert c.heartbeat(7, 0).error == ErrorCode.STALE_BROKER_EPOCH
    assert c.heartbeat(2, new).error == ErrorCode.NONE


def test_another_incarnation_is_refused_while_the_session_lives_then_replaces_it() -> None:
    c = Cluster()
    first = uuid.uuid4()
    c.register(2, first)
    epoch = c.image.brokers[2].epoch
    c.heartbeat(2, epoch)
    other = c.register(2, uuid.uuid4())
    assert other.error == ErrorCode.DUPLICATE_BROKER_REGISTRATION and other.records == []
    # The same process retrying is welcome: a new epoch.
    assert c.register(2, first).error == ErrorCode.NONE
    epoch = c.image.brokers[2].epoch
    c.heartbeat(2, epoch)
    # A restart after a clean shutdown names its previous epoch.
    restarted = uuid.uuid4()
    assert c.register(2, restarted, previous_broker_epoch=epoch).error == ErrorCode.NONE
    assert c.image.brokers[2].incarnation_id == restarted
    epoch = c.image.brokers[2].epoch
    c.heartbeat(2, epoch)
    # A crashed process's registration is replaced once its session ran out
    # (even before the fencing timer has fired).
    c.now += TIMEOUT
    crashed_replacement = uuid.uuid4()
    assert c.register(2, crashed_replacement).error == ErrorCode.NONE
    assert c.image.brokers[2].incarnation_id == crashed_replacement
    assert c.image.brokers[2].fenced


def test_registration_for_another_cluster_is_refused() -> None:
    c = Cluster()
    outcome = c.register(2, uuid.uuid4(), cluster_id="elsewhere")
    assert outcome.error == ErrorCode.INCONSISTENT_CLUSTER_ID
    assert c.image.brokers == {}


def test_controlled_shutdown_alone_is_immediate_and_fences() -> None:
    c = Cluster()
    epoch = joined(c, 1)
    answer = c.heartbeat(1, epoch, want_shut_down=True)
    assert (answer.should_shut_down, answer.is_fenced) == (True, True)
    assert c.image.brokers[1].fenced and c.image.brokers[1].in_controlled_shutdown


def test_controlled_shutdown_waits_for_the_other_brokers_to_catch_up() -> None:
    c = Cluster()
    epoch = joined(c, 1)
    other = joined(c, 2)
    answer = c.heartbeat(1, epoch, want_shut_down=True)
    assert (answer.should_shut_down, answer.is_fenced) == (False, False)
    shutdown_offset = c.image.offset
    assert c.image.brokers[1].in_controlled_shutdown and not c.image.brokers[1].fenced
    c.heartbeat(2, other, offset=shutdown_offset - 1)
    assert c.heartbeat(1, epoch, want_shut_down=True).should_shut_down is False
    c.heartbeat(2, other, offset=shutdown_offset)
    done = c.heartbeat(1, epoch, want_shut_down=True)
    assert (done.should_shut_down, done.is_fenced) == (True, True)
    assert c.unfenced() == [2]


def test_a_fenced_broker_asking_to_shut_down_may_go_at_once() -> None:
    c = Cluster()
    c.register(2, uuid.uuid4())
    answer = c.heartbeat(2, c.image.brokers[2].epoch, want_shut_down=True)
    assert (answer.should_shut_down, answer.records) == (True, [])


def test_a_new_controller_gives_every_unfenced_broker_a_fresh_session() -> None:
    c = Cluster()
    joined(c, 2)
    c.now += 5 * TIMEOUT
    c.membership.reset(c.image, c.now)
    assert c.tick(TIMEOUT - 1) == []
    assert [r.broker_id for r in c.tick(1)] == [2]


def test_legacy_fence_and_unfence_records_replay() -> None:
    c = Cluster()
    epoch = joined(c, 2)
    c.apply([FenceBrokerRecord(id_=2, epoch=epoch)])
    assert c.unfenced() == []
    c.apply([UnfenceBrokerRecord(id_=2, epoch=epoch - 1)])  # another epoch: no effect
    assert c.unfenced() == []
    c.apply([UnfenceBrokerRecord(id_=2, epoch=epoch)])
    assert c.unfenced() == [2]
