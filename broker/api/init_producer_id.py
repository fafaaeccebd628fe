"""InitProducerId (key 22), versions 0-5: ids for idempotent producers.

A producer without a transactional id gets a fresh producer id from this
node's block (blocks come from the metadata log's ProducerIds records, so ids
are never reused across restarts) and epoch 0. A producer that sends its
current id and epoch (KIP-360) gets the same id with the epoch bumped, or a
new id when the epoch would overflow. Transactions are not supported yet: a
request with a transactional id is answered TRANSACTIONAL_ID_AUTHORIZATION_FAILED
(fatal to the clients, see find_coordinator.py) and logged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from broker.api.context import RequestContext
from broker.api.find_coordinator import NO_TRANSACTIONS
from broker.errors import ErrorCode
from broker.wire.generated.init_producer_id_request import InitProducerIdRequest
from broker.wire.generated.init_producer_id_response import InitProducerIdResponse

if TYPE_CHECKING:
    from broker.node import Node

log = logging.getLogger(__name__)

API_KEY = 22
MIN_VERSION = 0
MAX_VERSION = 5
MAX_EPOCH = 32767


async def handle(ctx: RequestContext, body: InitProducerIdRequest) -> InitProducerIdResponse:
    node: Node = ctx.node
    if body.transactional_id is not None:
        log.warning(
            "client %r asked for a producer id for transactional id %r: %s",
            ctx.header.client_id,
            body.transactional_id,
            NO_TRANSACTIONS,
        )
        return InitProducerIdResponse(error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    if body.producer_id >= 0 and 0 <= body.producer_epoch < MAX_EPOCH - 1:
        return InitProducerIdResponse(
            producer_id=body.producer_id, producer_epoch=body.producer_epoch + 1
        )
    producer_id = await node.next_producer_id()
    return InitProducerIdResponse(producer_id=producer_id, producer_epoch=0)
