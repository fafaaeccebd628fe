"""A broker process: its services, its listeners, its shutdown.

The node owns the metadata quorum (one voter for now), the controller
operations, the partitions it hosts and the network server. Handlers reach
these through the node; each piece keeps its own state.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import uuid
from types import ModuleType
from typing import Any

import trio

from broker.api import (
    alter_configs,
    alter_partition,
    alter_user_scram_credentials,
    api_versions,
    begin_quorum_epoch,
    broker_heartbeat,
    broker_registration,
    consumer_group_describe,
    consumer_group_heartbeat,
    create_partitions,
    create_topics,
    delete_groups,
    delete_records,
    delete_topics,
    describe_client_quotas,
    describe_cluster,
    describe_configs,
    describe_groups,
    describe_log_dirs,
    describe_producers,
    describe_quorum,
    describe_topic_partitions,
    describe_user_scram_credentials,
    elect_leaders,
    end_quorum_epoch,
    fetch,
    fetch_snapshot,
    find_coordinator,
    heartbeat,
    incremental_alter_configs,
    init_producer_id,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    list_partition_reassignments,
    metadata,
    offset_commit,
    offset_delete,
    offset_fetch,
    offset_for_leader_epoch,
    produce,
    sasl_authenticate,
    sasl_handshake,
    sync_group,
    vote,
)
from broker.api.registry import ApiTable
from broker.clock import Clock, SystemClock
from broker.config import BrokerConfig
from broker.controller import topic_configs
from broker.controller.channel import ControllerChannel, ControllerUnavailable
from broker.controller.controller import Controller, TopicResult, TopicSpec
from broker.controller.image import MetadataImage
from broker.controller.membership_service import MembershipService
from broker.controller.quorum import MetadataQuorum, cluster_id
from broker.errors import ErrorCode
from broker.groups import GroupService
from broker.lifecycle import BrokerLifecycle, RegistrationError
from broker.net.server import Server, StartupError
from broker.observability.metrics import BrokerMetrics
from broker.partitions import Partition, ReplicaManager
from broker.replication import forward, meta
from broker.replication.leadership import LeaderEpochs, LeaderReporter
from broker.replication.metadata_quorum import RaftMetadataQuorum
from broker.replication.partition_groups import PartitionGroups
from broker.wire.generated.broker_registration_request import (
    Listener,
)
from broker.wire.generated.partition_record import PartitionRecord

log = logging.getLogger(__name__)

HANDLERS: list[ModuleType] = [
    api_versions,
    # security (broker/security)
    sasl_handshake,
    sasl_authenticate,
    describe_user_scram_credentials,
    alter_user_scram_credentials,
    describe_client_quotas,
    metadata,
    produce,
    fetch,
    list_offsets,
    offset_for_leader_epoch,
    init_producer_id,
    create_topics,
    delete_topics,
    create_partitions,
    describe_configs,
    alter_configs,
    incremental_alter_configs,
    describe_cluster,
    describe_topic_partitions,
    delete_records,
    describe_log_dirs,
    list_partition_reassignments,
    elect_leaders,
    describe_producers,
    find_coordinator,
    join_group,
    sync_group,
    heartbeat,
    leave_group,
    offset_commit,
    offset_delete,
    offset_fetch,
    describe_groups,
    list_groups,
    delete_groups,
    # the controller quorum (broker/replication)
    vote,
    begin_quorum_epoch,
    end_quorum_epoch,
    fetch_snapshot,
    describe_quorum,
    broker_registration,
    broker_heartbeat,
    alter_partition,
    consumer_group_heartbeat,
    consumer_group_describe,
]


class Node:
    def __init__(self, config: BrokerConfig, clock: Clock | None = None) -> None:
        self.config = config
        # The shell's one clock (broker/clock.py): every wall-clock read goes through it.
        self.clock: Clock = clock or SystemClock()
        self.node_id = config.node_id
        voters = config.quorum_voters
        # More than one voter, or voters that are other nodes (this one is a
        # broker-only observer): the metadata log is Raft-replicated (docs/cluster.md).
        self.replicated = set(voters) != {self.node_id}
        self.apis = ApiTable(HANDLERS)
        forward.install(self.apis)
        self.metrics = BrokerMetrics(config["metrics.port"] >= 0, HANDLERS)
        self.controller = Controller(
            self.node_id,
            config["num.partitions"],
            config["default.replication.factor"],
            random_index=random.randrange,
        )
        self.quorum: MetadataQuorum
        if self.replicated:
            self.cluster_id = meta.resolve(
                config.data_dir, self.node_id, config["cluster.id"], voters
            )
            self.quorum = RaftMetadataQuorum(
                config.data_dir, self.clock, self.node_id, voters, self.cluster_id
            )
        else:
            self.cluster_id = cluster_id(config.data_dir, self.node_id, config["cluster.id"])
            self.quorum = MetadataQuorum(config.data_dir, self.clock, self.node_id)
        self.replicas = ReplicaManager(config, self.clock)
        # Replicated partitions: leaders report to the controller (AlterPartition).
        self.reporter = LeaderReporter(self)
        self.leader_epochs = LeaderEpochs()
        if not self.replicated:
            # Replicated: the image is empty until the quorum has caught up (run()).
            self.replicas.reconcile(self.quorum.image, keep=frozenset({self.quorum.directory.name}))
            self.replicas.load(self.quorum.image)
        if isinstance(self.quorum, RaftMetadataQuorum):
            # Partitions with several replicas are Raft groups in the quorum's driver.
            self.replicas.groups = PartitionGroups(
                self.quorum.driver, self.quorum.peers.index, self.clock.now_ms, self.reporter.poke
            )
            self.controller.max_replication_factor = len(voters)
        self.quorum.listeners.append(self.replicas.on_image)
        self.quorum.listeners.append(self._image_changed)
        self._producer_ids: tuple[int, int] = (0, 0)  # next, end of block
        self._producer_ids_lock = trio.Lock()
        # Topic creation and deletion validate against the image and append
        # what they decided with no other decision in between (issue 11).
        self._topics_lock = trio.Lock()
        self.groups = GroupService(self)
        # Membership: the controller's side (registrations, heartbeats,
        # fencing) and this broker's (its registration and heartbeats).
        self.channel = ControllerChannel(self)
        self.membership = MembershipService(self)
        self.lifecycle = BrokerLifecycle(self)
        self.server = Server(
            self.apis,
            self,
            max_frame_bytes=config["socket.request.max.bytes"],
            idle_timeout_s=config["connections.max.idle.ms"] / 1000,
            max_connections=config["max.connections"],
            request_timeout_s=config["request.receive.timeout.ms"] / 1000,
            queued_max_request_bytes=config["queued.max.request.bytes"],
        )

    async def _image_changed(self, _old: MetadataImage, _new: MetadataImage) -> None:
        self.reporter.poke()  # a leader the image does not name reports again

    @property
    def image(self) -> MetadataImage:
        return self.quorum.image

    def advertised_endpoint(self) -> tuple[str, int]:
        """(host, port) clients reach this node at, as its registration says."""
        broker = self.image.brokers.get(self.node_id)
        if broker is not None and broker.endpoints:
            _name, host, port = broker.endpoints[0]
            return host, port
        _name, host, port = self.config.advertised_listeners[0]
        return host or "localhost", port

    async def run(
        self, *, task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        addresses = [(host, port) for _name, host, port in self.config.listeners]
        async with trio.open_nursery() as nursery:
            await nursery.start(self.quorum.run)
            bound = await nursery.start(self.server.serve, addresses)
            if self.replicated:
                # One listener carries the quorum's traffic too: serve it now
                # (until caught up, clients see the metadata replayed so far),
                # and join the cluster in the background (a signal may stop
                # a node that waits for a quorum).
                self.server.ready.set()
                task_status.started(bound)
                await self._catch_up()
            nursery.start_soon(self.membership.run)
            await self.register(bound)
            nursery.start_soon(self.lifecycle.run)
            await nursery.start(self.groups.run)
            nursery.start_soon(self.replicas.run_flusher)
            if self.replicated:
                nursery.start_soon(self.reporter.run)
            nursery.start_soon(self._housekeeping)
            self.server.ready.set()
            log.info("node %d of cluster %s listening on %s", self.node_id, self.cluster_id, bound)
            if not self.replicated:
                task_status.started(bound)

    async def _catch_up(self) -> None:
        """Replicated: wait until this node has replayed the committed metadata
        log, then delete the partition directories it does not claim."""
        while not self.quorum.caught_up.is_set():
            with trio.move_on_after(10):
                await self.quorum.caught_up.wait()
            if not self.quorum.caught_up.is_set():
                log.warning("node %d: waiting for the controller quorum", self.node_id)
        self.replicas.reconcile(self.quorum.image, keep=frozenset({self.quorum.directory.name}))

    async def register(self, bound: list[tuple[str, int]]) -> None:
        """Register this broker with the active controller (BrokerRegistration
        through the controller channel, a direct call when this node is the
        controller) and wait until it is unfenced."""
        listeners = []
        for (name, host, port), (_bhost, bport) in zip(
            self.config.advertised_listeners, bound + bound[-1:] * 10, strict=False
        ):
            listeners.append(Listener(name, host or "localhost", port or bport, 0))
        try:
            await self.lifecycle.register(listeners)
        except (RegistrationError, ControllerUnavailable) as exc:
            # A full disk. If the last registration says the same, serve
            # under it (reads work; writes answer KAFKA_STORAGE_ERROR).
            previous = self.image.brokers.get(self.node_id)
            storage = (
                isinstance(exc, RegistrationError)
                and exc.error_code == ErrorCode.KAFKA_STORAGE_ERROR
            )
            same = previous is not None and list(previous.endpoints) == [
                (x.name, x.host, x.port) for x in listeners
            ]
            if not (storage and same):
                raise StartupError(f"broker {self.node_id} cannot join the cluster: {exc}") from exc
            assert previous is not None
            self.lifecycle.broker_epoch = previous.epoch
            log.error("cannot record this start in the metadata log (%s): serving as before", exc)

    async def controlled_shutdown(self) -> None:
        """SIGTERM: ask the controller for a controlled shutdown and wait for
        its go-ahead, at most ``shutdown.timeout.ms``."""
        await self.lifecycle.controlled_shutdown(self.config["shutdown.timeout.ms"] / 1000)

    async def _housekeeping(self) -> None:
        """Time-based flushes every few seconds; retention every
        ``log.retention.check.interval.ms``, as Kafka's log manager (its
        first check one interval after start: a client writing records with
        old timestamps reads them back before the first check, as on Kafka)."""
        retention_s = self.config["log.retention.check.interval.ms"] / 1000
        tick_s = min(retention_s, 5.0)
        next_retention = trio.current_time() + retention_s
        while True:
            await trio.sleep(tick_s)
            retention_due = trio.current_time() >= next_retention
            if retention_due:
                next_retention = trio.current_time() + retention_s
            for part in list(self.replicas.partitions.values()):
                try:
                    # Under the lock: a flush in a worker thread may be using
                    # the files of the segments retention deletes.
                    async with part.append_lock:
                        now = self.clock.now_ms()
                        if retention_due:
                            part.log.delete_old_segments(now, part.high_watermark)
                        if part.log.flush_interval_elapsed(now):
                            await part.flush()
                except Exception:
                    log.exception("housekeeping of %s-%d failed", part.topic, part.index)

    # -- operations handlers call -------------------------------------------------

    async def create_topics(self, specs: list[TopicSpec]) -> MetadataImage:
        if isinstance(self.quorum, RaftMetadataQuorum):
            # Auto-creation and __consumer_offsets: through the active controller.
            async def local() -> Any:
                return await self.create_topics_results(specs, validate_only=False)

            request = forward.create_topics_request(specs)
            await forward.to_controller(
                self.quorum, 19, forward.CREATE_TOPICS_VERSION, request, local
            )
            return self.image
        await self.create_topics_results(specs, validate_only=False)
        return self.image

    async def create_topics_results(
        self, specs: list[TopicSpec], *, validate_only: bool
    ) -> list[TopicResult]:
        async with self._topics_lock:
            results, records = self.controller.create_topics(self.image, specs)
            results, records = self.refuse_unhostable(results, records)
            if not validate_only:
                await self.quorum.append(records)
            return results

    def refuse_unhostable(
        self, results: list[TopicResult], records: list[Any]
    ) -> tuple[list[TopicResult], list[Any]]:
        """CreateTopics/CreatePartitions (and auto-creation): refuse, before
        anything is committed, partitions this node could not open (see
        `ReplicaManager.hosting_error`); POLICY_VIOLATION names the limit."""
        new = sum(
            1
            for record in records
            if isinstance(record, PartitionRecord) and self.node_id in record.replicas
        )
        problem = self.replicas.hosting_error(new)
        if problem is None:
            return results, records
        log.warning("refused to create %d partitions: %s", new, problem)
        refused = [
            dataclasses.replace(r, error=ErrorCode.POLICY_VIOLATION, message=problem)
            if r.error == ErrorCode.NONE
            else r
            for r in results
        ]
        return refused, []

    async def delete_topics(self, names: list[str], ids: list[uuid.UUID]) -> list[TopicResult]:
        async with self._topics_lock:
            results, records = self.controller.delete_topics(self.image, names, ids)
            await self.quorum.append(records)
            return results

    async def next_producer_id(self) -> int:
        # One allocation at a time: requests arriving while a block is written
        # to the metadata log would otherwise each allocate from the same image
        # and hand out the same ids.
        async with self._producer_ids_lock:
            next_id, end = self._producer_ids
            if next_id >= end:
                first, records = self.controller.allocate_producer_ids(
                    self.image, self.image.offset
                )
                await self.quorum.append(records)
                next_id, end = first, self.image.next_producer_id
            self._producer_ids = (next_id + 1, end)
            return next_id

    def topic_config(self, own: dict[str, str]) -> dict[str, str]:
        defaults = dict(self.config.values)
        defaults["retention_ms"] = self.config.retention_ms
        defaults["segment_ms"] = self.config.segment_ms
        return topic_configs.effective(own, defaults)

    def needs_fsync(self, part: Partition, acks: int) -> bool:
        topic = self.image.topics.get(part.topic)
        configs = topic.configs if topic is not None else {}
        return acks == -1 and configs.get("write.caching", "false") != "true"

    async def shutdown(self) -> None:
        self.replicas.close()
        if self.replicated and self.quorum.log.flushing:
            self.quorum.log.abandon()  # cancelled during an fsync: recovery redoes it
            return
        try:
            self.quorum.close()
        except OSError as exc:
            # A full disk: the checkpoints could not be written; what was
            # fsynced stays and the next start recovers the rest.
            self.quorum.log.abandon()
            log.error("metadata log not closed cleanly: %s", exc)
            return
        log.info("node %d stopped cleanly", self.node_id)
