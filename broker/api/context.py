"""What a handler gets besides the request body."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from broker.security.session import Session
from broker.wire.protocol import RequestHeader

if TYPE_CHECKING:
    from broker.api.registry import ApiTable


@dataclass(slots=True)
class RequestContext:
    header: RequestHeader
    apis: ApiTable
    node: Any  # the broker's services (issue 4); handlers that need none ignore it
    frame_size: int = 0
    client_host: str = ""  # the peer's address as Kafka prints it: /127.0.0.1
    session: Session = field(default_factory=Session)  # principal, SASL state
