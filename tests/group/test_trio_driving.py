"""The coordinator driven by one Trio task under a MockClock, as the shell will.

A sketch of the shell, not the shell: one task owns the coordinator and
reads a bounded inbox; it waits until ``next_deadline()`` at most and ticks;
``Persist`` effects are appended by a helper task that reports back through
the inbox; replies go to per-request channels. Consumers are tasks that
join, sync and heartbeat like a client library.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import trio
import trio.testing

from broker.group import ErrorCode, GroupConfig, GroupCoordinator, Persist, Record, Respond
from broker.wire.generated.heartbeat_request import HeartbeatRequest
from broker.wire.generated.join_group_request import JoinGroupRequest, JoinGroupRequestProtocol
from broker.wire.generated.leave_group_request import LeaveGroupRequest, MemberIdentity
from broker.wire.generated.sync_group_request import SyncGroupRequest, SyncGroupRequestAssignment
from tests.group.harness import subscription

E = ErrorCode
Reply = trio.MemorySendChannel[Any]


def now_ms() -> int:
    return int(trio.current_time() * 1000)


@dataclass
class Call:
    api: str
    request: Any
    version: int
    reply: Reply


@dataclass
class Persisted:
    persist_id: int


async def coordinator_task(
    coordinator: GroupCoordinator[Reply],
    inbox: trio.MemoryReceiveChannel[Call | Persisted],
    loopback: trio.MemorySendChannel[Call | Persisted],
    log: list[Record],
) -> None:
    async with trio.open_nursery() as nursery:

        async def append(persist: Persist) -> None:
            await trio.sleep(0.002)  # replication to a majority
            log.extend(persist.records)
            await loopback.send(Persisted(persist.persist_id))

        while True:
            deadline = coordinator.next_deadline()
            message = None
            with trio.move_on_at(math.inf if deadline is None else deadline / 1000):
                message = await inbox.receive()
            if message is None:
                effects = coordinator.tick(now_ms())
            elif isinstance(message, Persisted):
                effects = coordinator.persisted(message.persist_id, 0, now_ms())
            elif message.api == "join":
                effects = coordinator.join_group(
                    message.reply,
                    message.request,
                    version=message.version,
                    client_id="consumer",
                    client_host="/127.0.0.1",
                    now_ms=now_ms(),
                )
            else:
                method = getattr(coordinator, message.api)
                effects = method(
                    message.reply, message.request, version=message.version, now_ms=now_ms()
                )
            for effect in effects:
                if isinstance(effect, Respond):
                    effect.token.send_nowait(effect.response)
                else:
                    nursery.start_soon(append, effect)


class Consumer:
    """Just enough of a client library: join, sync, heartbeat every 3 s."""

    def __init__(self, name: str, inbox: trio.MemorySendChannel[Call | Persisted]) -> None:
        self.name = name
        self.inbox = inbox
        self.member_id = ""
        self.generation = -1
        self.assignment = b""
        self.generations: list[int] = []

    async def call(self, api: str, request: Any, version: int) -> Any:
        send, receive = trio.open_memory_channel[Any](1)
        await self.inbox.send(Call(api, request, version, send))
        return await receive.receive()

    async def join(self) -> None:
        while True:
            request = JoinGroupRequest(
                group_id="g",
                session_timeout_ms=10_000,
                rebalance_timeout_ms=30_000,
                member_id=self.member_id,
                protocol_type="consumer",
                protocols=[JoinGroupRequestProtocol(name="range", metadata=subscription("t"))],
            )
            joined = await self.call("join", request, 9)
            if joined.error_code == E.MEMBER_ID_REQUIRED:
                self.member_id = joined.member_id
                continue
            assert joined.error_code == E.NONE, joined
            self.member_id, self.generation = joined.member_id, joined.generation_id
            assignments = [
                SyncGroupRequestAssignment(member_id=m.member_id, assignment=m.member_id.encode())
                for m in joined.members
            ]
            synced = await self.call(
                "sync_group",
                SyncGroupRequest(
                    group_id="g",
                    generation_id=self.generation,
                    member_id=self.member_id,
                    protocol_type="consumer",
                    protocol_name="range",
                    assignments=assignments,
                ),
                5,
            )
            if synced.error_code == E.NONE:
                self.assignment = synced.assignment
                self.generations.append(self.generation)
                return

    async def run(self, seconds: float) -> None:
        await self.join()
        end = trio.current_time() + seconds
        while trio.current_time() < end:
            await trio.sleep(3)
            beat = HeartbeatRequest(
                group_id="g", generation_id=self.generation, member_id=self.member_id
            )
            if (await self.call("heartbeat", beat, 4)).error_code != E.NONE:
                await self.join()

    async def leave(self) -> None:
        leave = LeaveGroupRequest(group_id="g", members=[MemberIdentity(member_id=self.member_id)])
        await self.call("leave_group", leave, 5)


async def test_consumers_driven_by_a_trio_task_under_a_mock_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    suffixes = itertools.count(1)
    coordinator: GroupCoordinator[Reply] = GroupCoordinator(
        GroupConfig(initial_rebalance_delay_ms=3000), lambda: str(next(suffixes))
    )
    coordinator.load_complete(now_ms())
    send, receive = trio.open_memory_channel[Call | Persisted](16)
    log: list[Record] = []
    a, b, c = Consumer("a", send), Consumer("b", send), Consumer("c", send)

    async def b_life() -> None:
        await b.run(20)
        await b.leave()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(coordinator_task, coordinator, receive, send.clone(), log)
        async with trio.open_nursery() as consumers:
            consumers.start_soon(a.run, 60)
            consumers.start_soon(b_life)  # b leaves after 20 s...
            await trio.sleep(40)
            consumers.start_soon(c.run, 30)  # ...c arrives at 40 s
        nursery.cancel_scope.cancel()
    # a and b shared the first generation (the initial delay waited for b);
    # b's departure and c's arrival each made a new one.
    assert (a.generations, b.generations, c.generations) == ([1, 2, 3], [1], [3])
    assert {a.assignment, c.assignment} == {a.member_id.encode(), c.member_id.encode()}
    assert log  # the assignments were recorded
