"""Every response the coordinator builds encodes at every version of its API.

The harness encodes each ``Respond`` at its request's version; these tests
walk each API through its versions, errors included.
"""

from __future__ import annotations

from typing import Any

import pytest

from broker.group import ErrorCode
from broker.wire.codec import Writer
from broker.wire.generated import (
    describe_groups_response,
    list_groups_response,
    offset_fetch_response,
)
from broker.wire.generated.describe_groups_request import DescribeGroupsRequest
from broker.wire.generated.list_groups_request import ListGroupsRequest
from broker.wire.generated.offset_fetch_request import (
    OffsetFetchRequest,
    OffsetFetchRequestGroup,
    OffsetFetchRequestTopics,
)
from tests.group.harness import Shell

E = ErrorCode


def encoded(module: Any, response: Any, version: int) -> bytes:
    w = Writer()
    module.ENCODERS[version](response, w)
    return w.getvalue()


@pytest.mark.parametrize("version", range(10))
def test_join_sync_heartbeat_leave_at_every_join_version(version: int) -> None:
    shell = Shell()
    first = shell.answer(shell.join(version=version))
    member_id = first.member_id
    if version >= 4:
        assert first.error_code == E.MEMBER_ID_REQUIRED
        first = shell.answer(shell.join("g", member_id, version=version))
    assert first.error_code == E.NONE
    assert shell.answer(shell.join("g", "nobody", version=version)).error_code
    sync_version = min(version, 5)
    names = {"protocol_type": None, "protocol_name": None} if sync_version < 5 else {}
    sync = shell.sync("g", member_id, 1, {member_id: b"x"}, version=sync_version, **names)
    assert shell.answer(sync).assignment == b"x"
    assert shell.answer(shell.sync("g", "nobody", 1, version=sync_version)).error_code
    for heartbeat_version in range(5):
        assert shell.heartbeat("g", member_id, 1, version=heartbeat_version) == E.NONE
    leave_version = min(version, 5)
    assert shell.leave("g", ("nobody", None), version=leave_version).error_code in (
        E.NONE,
        E.UNKNOWN_MEMBER_ID,
    )
    assert shell.leave("g", (member_id, None), version=leave_version).error_code == E.NONE


@pytest.mark.parametrize("version", range(2, 11))
def test_offset_commit_at_every_version(version: int) -> None:
    shell = Shell()
    ok = shell.commit("g", {("t", 0): 5}, version=version)
    assert shell.commit_errors(ok) == {("t", 0): E.NONE}
    bad = shell.commit("g", {("t", 0): 5}, generation=3, member_id="m", version=version)
    assert shell.commit_errors(bad) == {("t", 0): E.UNKNOWN_MEMBER_ID}


@pytest.mark.parametrize("version", range(1, 11))
def test_offset_fetch_at_every_version(version: int) -> None:
    shell = Shell()
    shell.commit("g", {("t", 0): 5, ("t", 1): 6})
    if version >= 8:
        request = OffsetFetchRequest(
            groups=[
                OffsetFetchRequestGroup(group_id="g", topics=None),
                OffsetFetchRequestGroup(
                    group_id="h",
                    topics=[OffsetFetchRequestTopics(name="t", partition_indexes=[0])],
                ),
            ]
        )
        response = shell.coordinator.offset_fetch(request, version=version)
    else:
        response = shell.fetch("g", None if version >= 2 else {"t": [0, 1, 2]}, version=version)
    encoded(offset_fetch_response, response, version)


@pytest.mark.parametrize("version", range(7))
def test_describe_groups_at_every_version(version: int) -> None:
    shell = Shell()
    member_id = shell.answer(shell.join(version=3, instance=None)).member_id
    shell.sync("g", member_id, 1, {member_id: b"x"})
    request = DescribeGroupsRequest(groups=["g", "missing"])
    encoded(
        describe_groups_response,
        shell.coordinator.describe_groups(request, version=version),
        version,
    )


@pytest.mark.parametrize("version", range(6))
def test_list_groups_at_every_version(version: int) -> None:
    shell = Shell()
    shell.join(version=3)
    response = shell.coordinator.list_groups(ListGroupsRequest(), version=version)
    assert [g.group_id for g in response.groups] == ["g"]
    encoded(list_groups_response, response, version)


@pytest.mark.parametrize("version", range(3))
def test_delete_groups_at_every_version(version: int) -> None:
    shell = Shell()
    shell.commit("g", {("t", 0): 1})
    token = shell.delete_groups("g", "h", version=version)
    assert [r.error_code for r in shell.answer(token).results] == [E.NONE, E.GROUP_ID_NOT_FOUND]


def test_offset_delete_encodes() -> None:
    shell = Shell()
    shell.commit("g", {("t", 0): 1})
    assert shell.answer(shell.offset_delete("g", {"t": [0]})).error_code == E.NONE
    assert shell.answer(shell.offset_delete("g", {"t": [0]})).error_code == E.GROUP_ID_NOT_FOUND
