"""The Trio shell around the Raft core: one task owns every group of a node.

Theory of operation
-------------------
A node runs one :class:`RaftDriver` task. It owns the node's Raft groups
(today only ``__cluster_metadata-0``): their :class:`~broker.raft.RaftNode`,
their log and their election store. Nothing else touches them; other tasks
talk to the driver through its inbox:

* :meth:`RaftDriver.request` -- an inbound Raft request from a peer (the
  handlers in broker/api/ call it), waiting for the core's answers;
* :meth:`RaftDriver.deliver` -- responses to our own requests (the peer
  clients call it);
* :meth:`RaftDriver.propose` -- a local proposal (the metadata quorum).

Each round: step every inbound item, tick the groups whose tick is due, then
for as long as a group has a Ready: persist the election states that changed
(one worker-thread call writes every changed ``quorum-state`` file and runs
every log's fsync), send the messages (requests to the peer clients, batched
per peer by the transport; answers to the waiting handler, matched by
(source, correlation id)), hand committed entries to the group's ``on_commit``
and ``advance``. While the worker thread runs, nothing is stepped (the inbox
fills), so the storage engine never sees a truncation during its flush.

Long poll: the leader's answer to a Fetch that brings nothing new (no
records, no divergence, no snapshot, a high watermark the fetcher already
knows) is parked, not sent, up to the fetch's max wait. When the group's log
end or high watermark moves, the parked fetch is stepped again and answered
with what is new. An idle cluster therefore exchanges one fetch per follower
per max wait, and a commit reaches followers in one round trip.

Time: the driver ticks every ``tick_ms`` of ``trio.current_time()`` (so
trio.testing.MockClock drives it in tests); the core's timeouts are in ticks
(:data:`CLUSTER_RAFT_CONFIG`).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from broker.raft import Envelope, RaftConfig, RaftLog, RaftNode, Ready, Role
from broker.raft.messages import (
    NONE,
    REQUEST_TYPES,
    FetchResponse,
    Message,
)
from broker.replication.election_store import ElectionStore
from broker.replication.wire import GroupId

log = logging.getLogger(__name__)

TICK_MS = 50
CLUSTER_RAFT_CONFIG = RaftConfig(
    election_timeout=6,  # 300-600 ms
    fetch_timeout=12,  # 600 ms without the leader: stand for election
    request_timeout=6,  # > the leader's long poll (200 ms) plus a round trip
    begin_quorum_retry=4,
    fetch_backoff=1,
    max_fetch_records=64,
)
MAX_PARK_MS = 200
REQUEST_WAIT_S = 1.0
"""How long a handler waits for the core's answer to an inbound request."""


class Transport(Protocol):
    """Where the driver's outbound requests go (broker/replication/peers.py)."""

    def send(self, destination: int, items: Sequence[tuple[GroupId, Envelope]]) -> None:
        """Queue requests for ``destination``; never blocks, may drop."""
        ...


class NotLeader(Exception):
    def __init__(self, leader_id: int | None) -> None:
        super().__init__(f"not the leader (leader {leader_id})")
        self.leader_id = leader_id


@dataclass(slots=True)
class Group:
    group_id: GroupId
    node: RaftNode
    log: RaftLog
    store: ElectionStore
    on_commit: Callable[[Ready], None]
    flush_in_thread: bool = True
    changed: trio.Event = field(default_factory=trio.Event)
    """Set (and replaced) whenever the role, leader or high watermark moves."""
    on_change: Callable[[], None] | None = None
    """Called (in the driver task) whenever ``changed`` is set."""
    _seen: tuple[Any, ...] = ()


@dataclass(slots=True)
class _Exchange:
    """One inbound wire request: the answers it waits for, by correlation id."""

    expected: int
    answers: dict[int, tuple[GroupId, Message]] = field(default_factory=dict)
    done: trio.Event = field(default_factory=trio.Event)
    max_wait_s: float = 0.0

    def answer(self, correlation_id: int, group: GroupId, message: Message) -> None:
        self.answers[correlation_id] = (group, message)
        if len(self.answers) >= self.expected:
            self.done.set()


@dataclass(slots=True)
class _Parked:
    group: Group
    request: Envelope
    held: Envelope
    exchange: _Exchange
    deadline: float
    end_offset: int
    high_watermark: int


@dataclass(slots=True)
class _Inbound:
    source: int
    items: list[tuple[GroupId, Message]]
    exchange: _Exchange
    correlation_ids: list[int]


@dataclass(slots=True)
class _Responses:
    source: int
    items: list[tuple[GroupId, Envelope]]


@dataclass(slots=True)
class _Call:
    group: GroupId
    fn: Callable[[RaftNode], Any]
    result: list[Any]
    done: trio.Event


@dataclass(slots=True)
class _Propose:
    group: GroupId
    payload: bytes
    result: list[Any]
    done: trio.Event


class RaftDriver:
    def __init__(
        self,
        node_id: int,
        transport: Transport,
        *,
        tick_ms: int = TICK_MS,
    ) -> None:
        self.node_id = node_id
        self.transport = transport
        self.tick_s = tick_ms / 1000
        self.groups: dict[GroupId, Group] = {}
        self._send, self._inbox = trio.open_memory_channel[Any](math.inf)
        self._pending: dict[tuple[int, int], tuple[Group, _Exchange, Envelope]] = {}
        self._parked: list[_Parked] = []
        self._hw_told: dict[tuple[GroupId, int], int] = {}
        self._next_local = 1
        self.rounds = 0

    @property
    def max_fetch_records(self) -> int:
        return CLUSTER_RAFT_CONFIG.max_fetch_records

    # ------------------------------------------------------------ set-up

    def add_group(
        self,
        group_id: GroupId,
        log_: RaftLog,
        store: ElectionStore,
        voters: Sequence[int],
        on_commit: Callable[[Ready], None],
        *,
        config: RaftConfig = CLUSTER_RAFT_CONFIG,
        rng: random.Random | None = None,
        flush_in_thread: bool = True,
    ) -> Group:
        incarnation = store.open_incarnation()
        state = store.state
        if state is not None and state.epoch < log_.last_epoch:
            # The log holds a later epoch than the state file (a lost or
            # restored file): never go back to an earlier epoch.
            from broker.raft.types import ElectionState

            state = ElectionState(log_.last_epoch, None, None)
        node = RaftNode(
            self.node_id,
            log_,
            voters,
            rng or random.Random(),
            config,
            state,
            incarnation=incarnation,
        )
        group = Group(group_id, node, log_, store, on_commit, flush_in_thread)
        self.groups[group_id] = group
        return group

    # ------------------------------------------------------------ other tasks

    async def request(
        self, source: int, items: list[tuple[GroupId, Message]], max_wait_ms: int = 0
    ) -> list[tuple[GroupId, Message]]:
        """Step an inbound request's messages; the core's answers, in order
        (a group that did not answer in time is left out)."""
        if not items:
            return []
        exchange = _Exchange(len(items), max_wait_s=min(max_wait_ms, MAX_PARK_MS) / 1000)
        ids = []
        for _ in items:
            ids.append(self._next_local)
            self._next_local += 1
        self._send.send_nowait(_Inbound(source, items, exchange, ids))
        with trio.move_on_after(REQUEST_WAIT_S + exchange.max_wait_s):
            await exchange.done.wait()
        return [exchange.answers[c] for c in ids if c in exchange.answers]

    def deliver(self, source: int, items: list[tuple[GroupId, Envelope]]) -> None:
        """Responses from ``source`` to requests this node sent."""
        if items:
            self._send.send_nowait(_Responses(source, items))

    async def propose(self, group_id: GroupId, payload: bytes) -> tuple[int, int]:
        """Append ``payload`` on the leader: (offset, epoch). Raises
        :class:`NotLeader`. Returns once appended, not committed."""
        item = _Propose(group_id, payload, [], trio.Event())
        self._send.send_nowait(item)
        await item.done.wait()
        outcome = item.result[0]
        if isinstance(outcome, NotLeader):
            raise outcome
        return outcome  # type: ignore[no-any-return]

    async def call(self, group_id: GroupId, fn: Callable[[RaftNode], Any]) -> Any:
        """Run ``fn(core)`` in the driver task, between two steps (a data
        partition's produce: its checks and its proposal with no step in
        between); its result. Raises :class:`NotLeader` for an unknown group."""
        item = _Call(group_id, fn, [], trio.Event())
        self._send.send_nowait(item)
        await item.done.wait()
        outcome = item.result[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def remove_group(self, group_id: GroupId) -> None:
        """Forget a group (its topic was deleted); late messages for it are dropped."""
        self.groups.pop(group_id, None)
        self._parked = [p for p in self._parked if p.group.group_id != group_id]

    # ------------------------------------------------------------ the task

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        for group in self.groups.values():
            self._elect_sole_voter(group)
        await self._process()
        task_status.started()
        next_tick = trio.current_time() + self.tick_s
        while True:
            batch: list[Any] = []
            with trio.move_on_at(next_tick):
                batch.append(await self._inbox.receive())
            while True:
                try:
                    batch.append(self._inbox.receive_nowait())
                except trio.WouldBlock:
                    break
            for item in batch:
                self._handle(item)
            now = trio.current_time()
            if now >= next_tick:
                for group in self.groups.values():
                    group.node.tick()
                next_tick += self.tick_s
                if next_tick <= now:  # late (a long fsync): do not tick in a burst
                    next_tick = now + self.tick_s
            await self._process()

    def _elect_sole_voter(self, group: Group) -> None:
        """A quorum of one elects itself at once (no need to wait out a timeout)."""
        node = group.node
        if node.voters.latest != frozenset({self.node_id}):
            return
        for _ in range(4 * node.config.election_timeout + 4):
            if node.role is Role.LEADER:
                return
            node.tick()

    def _handle(self, item: Any) -> None:
        if isinstance(item, _Inbound):
            for (group_id, message), correlation_id in zip(
                item.items, item.correlation_ids, strict=True
            ):
                group = self.groups.get(group_id)
                if group is None:
                    # Not (or no longer) here: the request does not wait for
                    # it (its sender's core times out and resends).
                    item.exchange.expected -= 1
                    if len(item.exchange.answers) >= item.exchange.expected:
                        item.exchange.done.set()
                    continue
                env = Envelope(item.source, self.node_id, correlation_id, message)
                self._pending[(item.source, correlation_id)] = (group, item.exchange, env)
                group.node.step(env)
        elif isinstance(item, _Responses):
            for group_id, env in item.items:
                group = self.groups.get(group_id)
                if group is not None and env.destination == self.node_id:
                    group.node.step(env)
        elif isinstance(item, _Call):
            group = self.groups.get(item.group)
            try:
                if group is None:
                    raise NotLeader(None)
                item.result.append(item.fn(group.node))
            except Exception as exc:  # handed to the caller
                item.result.append(exc)
            item.done.set()
        elif isinstance(item, _Propose):
            group = self.groups.get(item.group)
            if group is None:
                item.result.append(NotLeader(None))
            else:
                result = group.node.propose(item.payload)
                if result.error_code != NONE:
                    item.result.append(NotLeader(group.node.known_leader()))
                else:
                    item.result.append((result.offset, result.epoch))
            item.done.set()

    async def _process(self) -> None:
        """Work through every group's Ready (and the parked fetches they
        unblock) until none has anything left to do."""
        while True:
            self._wake_parked()
            readies = [
                (group, group.node.ready())
                for group in self.groups.values()
                if group.node.has_ready()
            ]
            if not readies:
                self._notify_changes()
                return
            self.rounds += 1
            await self._persist(readies)
            for group, rd in readies:
                self._route(group, rd.messages)
            for group, rd in readies:
                if rd.committed or rd.installed_snapshot is not None:
                    group.on_commit(rd)
                group.node.advance(rd)
            self._notify_changes()

    async def _persist(self, readies: list[tuple[Group, Ready]]) -> None:
        states = [(g, rd.election_state) for g, rd in readies if rd.election_state is not None]
        flushes = [g for g, rd in readies if rd.flush_offset is not None]
        if not states and not flushes:
            return
        threaded = [g for g in flushes if g.flush_in_thread and hasattr(g.log, "begin_flush")]
        inline = [g for g in flushes if g not in threaded]
        pendings = [(g, g.log.begin_flush()) for g in threaded]  # type: ignore[attr-defined]

        def work() -> None:
            for group, state in states:
                assert state is not None
                group.store.write(state)
            for _group, pending in pendings:
                pending.run()

        try:
            if any(g.flush_in_thread for g, _ in states) or pendings:
                await trio.to_thread.run_sync(work)
            else:
                work()
        except BaseException:
            for group, pending in pendings:
                group.log.abort_flush(pending)  # type: ignore[attr-defined]
            raise
        for group, pending in pendings:
            group.log.end_flush(pending)  # type: ignore[attr-defined]
        for group in inline:
            group.log.flush()

    def _route(self, group: Group, messages: list[Envelope]) -> None:
        outbound: dict[int, list[tuple[GroupId, Envelope]]] = {}
        for env in messages:
            if isinstance(env.message, REQUEST_TYPES):
                outbound.setdefault(env.destination, []).append((group.group_id, env))
                continue
            pending = self._pending.pop((env.destination, env.correlation_id), None)
            if pending is None:
                continue  # the handler gave up waiting
            _group, exchange, request = pending
            if self._should_park(group, env, exchange, request):
                continue
            self._answer(group, env, exchange)
        for destination, items in outbound.items():
            self.transport.send(destination, items)

    def _answer(self, group: Group, env: Envelope, exchange: _Exchange) -> None:
        message = env.message
        if isinstance(message, FetchResponse) and message.error_code == NONE:
            self._hw_told[(group.group_id, env.destination)] = message.high_watermark
        exchange.answer(env.correlation_id, group.group_id, message)

    def _should_park(
        self, group: Group, env: Envelope, exchange: _Exchange, request: Envelope
    ) -> bool:
        message = env.message
        if (
            not isinstance(message, FetchResponse)
            or exchange.max_wait_s <= 0
            or message.error_code != NONE
            or message.records
            or message.diverging_epoch is not None
            or message.snapshot_id is not None
            or self._hw_told.get((group.group_id, env.destination)) != message.high_watermark
        ):
            return False
        node = group.node
        self._parked.append(
            _Parked(
                group,
                request,
                env,
                exchange,
                trio.current_time() + exchange.max_wait_s,
                node.log.end_offset,
                node.high_watermark,
            )
        )
        return True

    def _wake_parked(self) -> None:
        if not self._parked:
            return
        now = trio.current_time()
        keep: list[_Parked] = []
        for parked in self._parked:
            group = parked.group
            node = group.node
            moved = (
                node.role is not Role.LEADER
                or node.log.end_offset != parked.end_offset
                or node.high_watermark != parked.high_watermark
            )
            if moved and node.role is Role.LEADER:
                # Step the fetch again: the core answers with what is new.
                key = (parked.request.source, parked.request.correlation_id)
                self._pending[key] = (group, parked.exchange, parked.request)
                node.step(parked.request)
            elif moved or now >= parked.deadline or parked.exchange.answers:
                # (Another group of the same request has its answer: the
                # request goes back now, as a Kafka fetch with data does.)
                self._answer(group, parked.held, parked.exchange)
            else:
                keep.append(parked)
        self._parked = keep

    def _notify_changes(self) -> None:
        for group in self.groups.values():
            node = group.node
            seen = (node.role, node.epoch, node.known_leader(), node.high_watermark)
            if seen != group._seen:
                group._seen = seen
                group.changed.set()
                group.changed = trio.Event()
                if group.on_change is not None:
                    group.on_change()
