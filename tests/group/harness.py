"""An in-memory shell around one GroupCoordinator for tests.

It does what the Trio shell will do, synchronously: tokens are ints, every
``Respond`` is checked to be the first answer to its token and to encode at
the request's version, and every ``Persist`` is appended to an in-memory log
and acknowledged at once (or held, with ``auto_persist=False``, so a test can
acknowledge or fail it later).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from broker.group import (
    Effect,
    GroupConfig,
    GroupCoordinator,
    Persist,
    Record,
    Respond,
)
from broker.wire.codec import INT16, Writer
from broker.wire.generated import (
    consumer_protocol_subscription,
    delete_groups_response,
    heartbeat_response,
    join_group_response,
    leave_group_response,
    offset_commit_response,
    offset_delete_response,
    sync_group_response,
)
from broker.wire.generated.consumer_protocol_subscription import ConsumerProtocolSubscription
from broker.wire.generated.delete_groups_request import DeleteGroupsRequest
from broker.wire.generated.heartbeat_request import HeartbeatRequest
from broker.wire.generated.join_group_request import JoinGroupRequest, JoinGroupRequestProtocol
from broker.wire.generated.leave_group_request import LeaveGroupRequest, MemberIdentity
from broker.wire.generated.offset_commit_request import (
    OffsetCommitRequest,
    OffsetCommitRequestPartition,
    OffsetCommitRequestTopic,
)
from broker.wire.generated.offset_delete_request import (
    OffsetDeleteRequest,
    OffsetDeleteRequestPartition,
    OffsetDeleteRequestTopic,
)
from broker.wire.generated.offset_fetch_request import OffsetFetchRequest, OffsetFetchRequestTopic
from broker.wire.generated.offset_fetch_response import OffsetFetchResponse
from broker.wire.generated.sync_group_request import SyncGroupRequest, SyncGroupRequestAssignment

SESSION_MS = 10_000
REBALANCE_MS = 30_000
TEST_CONFIG = GroupConfig(initial_rebalance_delay_ms=0)

_RESPONSE_MODULES: dict[str, ModuleType] = {
    "JoinGroupResponse": join_group_response,
    "SyncGroupResponse": sync_group_response,
    "HeartbeatResponse": heartbeat_response,
    "LeaveGroupResponse": leave_group_response,
    "OffsetCommitResponse": offset_commit_response,
    "DeleteGroupsResponse": delete_groups_response,
    "OffsetDeleteResponse": offset_delete_response,
}


def subscription(*topics: str) -> bytes:
    """ConsumerProtocolSubscription v0 bytes, as a Java consumer sends them."""
    w = Writer()
    w.buf += INT16.pack(0)
    consumer_protocol_subscription.ENCODERS[0](ConsumerProtocolSubscription(topics=list(topics)), w)
    return w.getvalue()


def encode(response: Any, version: int) -> bytes:
    module = _RESPONSE_MODULES[type(response).NAME]
    w = Writer()
    module.ENCODERS[version](response, w)
    return w.getvalue()


@dataclass
class Shell:
    config: GroupConfig = TEST_CONFIG
    auto_persist: bool = True
    fail_next: int = 0  # with auto_persist: fail the next Persist with this error code
    now: int = 0
    coordinator: GroupCoordinator[int] = field(init=False)
    log: list[Record] = field(default_factory=list)
    held: list[Persist] = field(default_factory=list)
    answers: dict[int, Any] = field(default_factory=dict)  # GroupResponse, loosely typed
    versions: dict[int, int] = field(default_factory=dict)
    _tokens: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _suffixes: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.coordinator = GroupCoordinator(self.config, lambda: str(next(self._suffixes)))
        self.run(self.coordinator.load_complete(self.now))

    # -- plumbing -------------------------------------------------------------

    def run(self, effects: list[Effect[int]]) -> None:
        for effect in effects:
            if isinstance(effect, Respond):
                assert effect.token not in self.answers, f"token {effect.token} answered twice"
                encode(effect.response, self.versions[effect.token])
                self.answers[effect.token] = effect.response
            elif self.auto_persist:
                error, self.fail_next = self.fail_next, 0
                if error == 0:
                    self.log.extend(effect.records)
                self.run(self.coordinator.persisted(effect.persist_id, error, self.now))
            else:
                self.held.append(effect)

    def ack(self, error: int = 0) -> None:
        """Report the oldest held Persist: appended (0) or failed."""
        persist = self.held.pop(0)
        if error == 0:
            self.log.extend(persist.records)
        self.run(self.coordinator.persisted(persist.persist_id, error, self.now))

    def token(self, version: int) -> int:
        token = next(self._tokens)
        self.versions[token] = version
        return token

    def advance(self, ms: int) -> None:
        self.now += ms
        self.run(self.coordinator.tick(self.now))

    def answer(self, token: int) -> Any:
        return self.answers.get(token)

    # -- requests -------------------------------------------------------------

    def join(
        self,
        group: str = "g",
        member_id: str = "",
        *,
        version: int = 9,
        instance: str | None = None,
        protocols: list[tuple[str, bytes]] | None = None,
        protocol_type: str = "consumer",
        session: int = SESSION_MS,
        rebalance: int = REBALANCE_MS,
        client_id: str = "c",
    ) -> int:
        if protocols is None:
            protocols = [("range", subscription("t"))]
        request = JoinGroupRequest(
            group_id=group,
            session_timeout_ms=session,
            rebalance_timeout_ms=rebalance,
            member_id=member_id,
            group_instance_id=instance,
            protocol_type=protocol_type,
            protocols=[JoinGroupRequestProtocol(name=n, metadata=m) for n, m in protocols],
        )
        token = self.token(version)
        self.run(
            self.coordinator.join_group(
                token,
                request,
                version=version,
                client_id=client_id,
                client_host="/127.0.0.1",
                now_ms=self.now,
            )
        )
        return token

    def sync(
        self,
        group: str,
        member_id: str,
        generation: int,
        assignments: dict[str, bytes] | None = None,
        *,
        version: int = 5,
        instance: str | None = None,
        protocol_type: str | None = "consumer",
        protocol_name: str | None = "range",
    ) -> int:
        request = SyncGroupRequest(
            group_id=group,
            generation_id=generation,
            member_id=member_id,
            group_instance_id=instance,
            protocol_type=protocol_type,
            protocol_name=protocol_name,
            assignments=[
                SyncGroupRequestAssignment(member_id=m, assignment=a)
                for m, a in (assignments or {}).items()
            ],
        )
        token = self.token(version)
        self.run(self.coordinator.sync_group(token, request, version=version, now_ms=self.now))
        return token

    def heartbeat(
        self,
        group: str,
        member_id: str,
        generation: int,
        *,
        version: int = 4,
        instance: str | None = None,
    ) -> int:
        request = HeartbeatRequest(
            group_id=group,
            generation_id=generation,
            member_id=member_id,
            group_instance_id=instance,
        )
        token = self.token(version)
        self.run(self.coordinator.heartbeat(token, request, version=version, now_ms=self.now))
        return int(self.answers[token].error_code)

    def leave(
        self,
        group: str,
        *members: tuple[str, str | None],
        version: int = 5,
    ) -> Any:
        if version < 3:
            request = LeaveGroupRequest(group_id=group, member_id=members[0][0])
        else:
            request = LeaveGroupRequest(
                group_id=group,
                members=[MemberIdentity(member_id=m, group_instance_id=i) for m, i in members],
            )
        token = self.token(version)
        self.run(self.coordinator.leave_group(token, request, version=version, now_ms=self.now))
        return self.answers[token]

    def commit(
        self,
        group: str,
        offsets: dict[tuple[str, int], int],
        *,
        member_id: str = "",
        generation: int = -1,
        instance: str | None = None,
        version: int = 8,
        metadata: str | None = "",
        retention_ms: int = -1,
    ) -> int:
        topics: dict[str, list[OffsetCommitRequestPartition]] = {}
        for (topic, partition), offset in offsets.items():
            topics.setdefault(topic, []).append(
                OffsetCommitRequestPartition(
                    partition_index=partition,
                    committed_offset=offset,
                    committed_leader_epoch=3,
                    committed_metadata=metadata,
                )
            )
        request = OffsetCommitRequest(
            group_id=group,
            generation_id_or_member_epoch=generation,
            member_id=member_id,
            group_instance_id=instance,
            retention_time_ms=retention_ms,
            topics=[OffsetCommitRequestTopic(name=t, partitions=p) for t, p in topics.items()],
        )
        token = self.token(version)
        self.run(self.coordinator.offset_commit(token, request, version=version, now_ms=self.now))
        return token

    def commit_errors(self, token: int) -> dict[tuple[str, int], int]:
        response = self.answers[token]
        return {
            (t.name, p.partition_index): p.error_code for t in response.topics for p in t.partitions
        }

    def fetch(
        self,
        group: str,
        partitions: dict[str, list[int]] | None = None,
        *,
        version: int = 7,
        require_stable: bool = False,
    ) -> OffsetFetchResponse:
        topics = None
        if partitions is not None:
            topics = [
                OffsetFetchRequestTopic(name=t, partition_indexes=p) for t, p in partitions.items()
            ]
        request = OffsetFetchRequest(group_id=group, topics=topics, require_stable=require_stable)
        return self.coordinator.offset_fetch(request, version=version)

    def fetched(self, group: str, **kwargs: Any) -> dict[tuple[str, int], int]:
        response = self.fetch(group, **kwargs)
        return {
            (t.name, p.partition_index): p.committed_offset
            for t in response.topics
            for p in t.partitions
        }

    def delete_groups(self, *groups: str, version: int = 2) -> int:
        token = self.token(version)
        request = DeleteGroupsRequest(groups_names=list(groups))
        self.run(self.coordinator.delete_groups(token, request, version=version, now_ms=self.now))
        return token

    def offset_delete(self, group: str, partitions: dict[str, list[int]]) -> int:
        token = self.token(0)
        request = OffsetDeleteRequest(
            group_id=group,
            topics=[
                OffsetDeleteRequestTopic(
                    name=t, partitions=[OffsetDeleteRequestPartition(partition_index=i) for i in p]
                )
                for t, p in partitions.items()
            ],
        )
        self.run(self.coordinator.offset_delete(token, request, version=0, now_ms=self.now))
        return token

    # -- compound steps ---------------------------------------------------------

    def join_new(self, group: str = "g", **kwargs: Any) -> int:
        """A v4+ dynamic member's two JoinGroups: the first hands out the id."""
        first = self.join(group, **kwargs)
        response = self.answers[first]
        assert response.error_code == 79, response  # MEMBER_ID_REQUIRED
        return self.join(group, response.member_id, **kwargs)
