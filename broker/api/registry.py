"""The one table of supported APIs: it drives both ApiVersions and dispatch.

Each handler module (one per Kafka API key) exports ``API_KEY``,
``MIN_VERSION`` and ``MAX_VERSION`` (the versions it implements) and an async
``handle(ctx, body)`` that returns the response body, or None when no
response is due (Produce with acks=0). Kafka errors are written into
response fields; handlers raise only for broken invariants.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from broker.api.versions import advertised_range

if TYPE_CHECKING:
    from broker.api.context import RequestContext

Handler = Callable[["RequestContext", Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ApiEntry:
    api_key: int
    min_version: int  # implemented
    max_version: int
    handler: Handler
    # False for the controller's APIs (a module's ``ADVERTISED = False``):
    # served, but not in ApiVersions, as a Kafka broker listener lists them not.
    advertise: bool = True

    @property
    def advertised(self) -> tuple[int, int]:
        return advertised_range(self.api_key, self.min_version, self.max_version)

    def implements(self, version: int) -> bool:
        return self.min_version <= version <= self.max_version


class ApiTable:
    def __init__(self, modules: Iterable[ModuleType]) -> None:
        self.entries: dict[int, ApiEntry] = {}
        for module in modules:
            entry = ApiEntry(
                module.API_KEY,
                module.MIN_VERSION,
                module.MAX_VERSION,
                module.handle,
                getattr(module, "ADVERTISED", True),
            )
            if entry.api_key in self.entries:
                raise ValueError(f"two handlers for api key {entry.api_key}")
            self.entries[entry.api_key] = entry

    def get(self, api_key: int) -> ApiEntry | None:
        return self.entries.get(api_key)

    def advertised(self) -> list[tuple[int, int, int]]:
        """(api key, min, max) for every API, as ApiVersions lists them."""
        return [
            (key, *self.entries[key].advertised)
            for key in sorted(self.entries)
            if self.entries[key].advertise
        ]
