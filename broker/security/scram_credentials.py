"""AlterUserScramCredentials / DescribeUserScramCredentials over the image (sans-I/O).

Kafka's rules, per user: a user named twice for the same mechanism in one
request is DUPLICATE_RESOURCE; an empty name or an iteration count outside
4096..16384 is UNACCEPTABLE_CREDENTIAL; an unknown mechanism is
UNSUPPORTED_SASL_MECHANISM; deleting a credential that does not exist is
RESOURCE_NOT_FOUND. A user with any error has none of its alterations
applied; the others become UserScramCredentialRecord /
RemoveUserScramCredentialRecord records.
"""

from __future__ import annotations

from typing import Any

from broker.controller.image import MetadataImage
from broker.errors import ErrorCode
from broker.security import scram
from broker.wire.generated.alter_user_scram_credentials_request import (
    AlterUserScramCredentialsRequest,
)
from broker.wire.generated.alter_user_scram_credentials_response import (
    AlterUserScramCredentialsResult,
)
from broker.wire.generated.describe_user_scram_credentials_request import (
    DescribeUserScramCredentialsRequest,
)
from broker.wire.generated.describe_user_scram_credentials_response import (
    CredentialInfo,
    DescribeUserScramCredentialsResult,
)
from broker.wire.generated.remove_user_scram_credential_record import (
    RemoveUserScramCredentialRecord,
)
from broker.wire.generated.user_scram_credential_record import UserScramCredentialRecord

Error = tuple[int, str | None]
_OK: Error = (ErrorCode.NONE, None)


def alter(
    image: MetadataImage, request: AlterUserScramCredentialsRequest
) -> tuple[list[AlterUserScramCredentialsResult], list[Any]]:
    errors: dict[str, Error] = {}
    records: dict[str, list[Any]] = {}
    seen: set[tuple[str, int]] = set()
    order: list[str] = []

    def fail(user: str, code: int, message: str) -> None:
        if errors.get(user, _OK) == _OK:
            errors[user] = (code, message)

    alterations = [(d.name, d.mechanism, None) for d in request.deletions] + [
        (u.name, u.mechanism, u) for u in request.upsertions
    ]
    for user, mechanism, upsertion in alterations:
        if user not in errors:
            errors[user] = _OK
            order.append(user)
        if (user, mechanism) in seen:
            fail(
                user,
                ErrorCode.DUPLICATE_RESOURCE,
                "A user credential cannot be altered twice in the same request",
            )
            continue
        seen.add((user, mechanism))
        if not user:
            fail(user, ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty")
            continue
        if mechanism not in scram.MECHANISM_NAMES:
            fail(user, ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism")
            continue
        if upsertion is None:
            if (user, mechanism) not in image.scram_credentials:
                fail(
                    user,
                    ErrorCode.RESOURCE_NOT_FOUND,
                    "Attempt to delete a user credential that does not exist",
                )
                continue
            records.setdefault(user, []).append(RemoveUserScramCredentialRecord(user, mechanism))
            continue
        if upsertion.iterations < scram.MIN_ITERATIONS:
            fail(user, ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too few iterations")
            continue
        if upsertion.iterations > scram.MAX_ITERATIONS:
            fail(user, ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too many iterations")
            continue
        credential = scram.credential_from_salted(
            mechanism, bytes(upsertion.salt), bytes(upsertion.salted_password), upsertion.iterations
        )
        records.setdefault(user, []).append(
            UserScramCredentialRecord(
                user,
                mechanism,
                credential.salt,
                credential.stored_key,
                credential.server_key,
                credential.iterations,
            )
        )
    results = []
    out: list[Any] = []
    for user in order:
        code, message = errors[user]
        results.append(AlterUserScramCredentialsResult(user, code, message))
        if code == ErrorCode.NONE:
            out += records.get(user, [])
    return results, out


def describe(
    image: MetadataImage, request: DescribeUserScramCredentialsRequest
) -> list[DescribeUserScramCredentialsResult]:
    by_user: dict[str, list[CredentialInfo]] = {}
    for (user, mechanism), credential in sorted(image.scram_credentials.items()):
        by_user.setdefault(user, []).append(CredentialInfo(mechanism, credential.iterations))
    if not request.users:  # null or empty: every user with a credential
        return [
            DescribeUserScramCredentialsResult(u, 0, None, infos) for u, infos in by_user.items()
        ]
    names = [u.name for u in request.users]
    results = []
    for name in dict.fromkeys(names):
        if names.count(name) > 1:
            results.append(
                DescribeUserScramCredentialsResult(
                    name,
                    ErrorCode.DUPLICATE_RESOURCE,
                    "Cannot describe SCRAM credentials for the same user twice in a single request",
                )
            )
        elif name not in by_user:
            results.append(
                DescribeUserScramCredentialsResult(
                    name,
                    ErrorCode.RESOURCE_NOT_FOUND,
                    "Attempt to describe a user credential that does not exist",
                )
            )
        else:
            results.append(DescribeUserScramCredentialsResult(name, 0, None, by_user[name]))
    return results
