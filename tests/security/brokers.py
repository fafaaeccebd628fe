"""Broker processes with a secured listener, for the security compat tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from compat.broker_process import BrokerProcess


class SecureBroker(BrokerProcess):
    """A :class:`BrokerProcess` whose one listener speaks ``protocol``."""

    def __init__(
        self,
        data_dir: Path,
        protocol: str,
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(data_dir, overrides=overrides)
        self.protocol = protocol

    def command(self, port: int) -> list[str]:
        return [
            part.replace("listeners=PLAINTEXT://", f"listeners={self.protocol}://")
            for part in super().command(port)
        ]


def tls_overrides(keystore: Path, truststore: Path, client_auth: str) -> dict[str, str]:
    return {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(truststore),
        "ssl.client.auth": client_auth,
    }
