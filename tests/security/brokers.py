"""Broker processes with a secured listener, for the security compat tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from compat.broker_process import BrokerProcess


class SecureBroker(BrokerProcess):
    """A :class:`BrokerProcess` whose one listener speaks ``protocol``."""

    def __init__(
        self,
        data_dir: Path,
        protocol: str,
        overrides: Mapping[str, str] | None = None,
        extra_listeners: Sequence[str] = (),
    ) -> None:
        super().__init__(data_dir, overrides=overrides)
        self.protocol = protocol
        self.extra_listeners = list(extra_listeners)

    def command(self, port: int) -> list[str]:
        out = []
        for part in super().command(port):
            if part.startswith("listeners=PLAINTEXT://"):
                part = part.replace("listeners=PLAINTEXT://", f"listeners={self.protocol}://")
                part = ",".join([part, *self.extra_listeners])
            out.append(part)
        return out


def tls_overrides(keystore: Path, truststore: Path, client_auth: str) -> dict[str, str]:
    return {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(truststore),
        "ssl.client.auth": client_auth,
    }


@contextmanager
def started(broker: SecureBroker) -> Iterator[SecureBroker]:
    """The broker running for the block; stopped cleanly (exit code 0) after it."""
    broker.start()
    try:
        yield broker
        broker.stop()
    finally:
        broker.close()
