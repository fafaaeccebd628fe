"""Test certificates made at test time (trustme + cryptography), written as PEM.

``Pki(tmp_path)`` makes a CA, a server certificate for 127.0.0.1/localhost
and client certificates on request. Keys are PKCS#8 (what Kafka's PEM
keystores read); ``encrypted`` keys use ``ssl.key.password``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization

KEY_PASSWORD = "key-secret"


@dataclass(frozen=True)
class Identity:
    key_pem: str  # PKCS#8, unencrypted
    chain_pem: str  # leaf first
    keystore: Path  # key + chain in one file (encrypted when made so)
    key_path: Path
    cert_path: Path


class Pki:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA(organization_name="Test CA")
        self.ca_path = directory / "ca.pem"
        self.ca_path.write_bytes(self.ca.cert_pem.bytes())
        self.ca_pem = self.ca.cert_pem.bytes().decode()
        self.server = self.issue("server", "127.0.0.1", "localhost", common_name="localhost")

    def issue(
        self,
        name: str,
        *identities: str,
        common_name: str | None = None,
        organization: str | None = None,
        unit: str | None = None,
        encrypted: bool = False,
        ca: trustme.CA | None = None,
    ) -> Identity:
        leaf = (ca or self.ca).issue_cert(
            *(identities or (f"{name}.example",)),
            common_name=common_name,
            organization_name=organization,
            organization_unit_name=unit,
        )
        key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
        pkcs8 = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        stored = pkcs8
        if encrypted:
            stored = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(KEY_PASSWORD.encode()),
            ).decode()
        chain = "".join(blob.bytes().decode() for blob in leaf.cert_chain_pems)
        keystore = self.directory / f"{name}.keystore.pem"
        keystore.write_text(stored + chain)
        key_path = self.directory / f"{name}.key.pem"
        key_path.write_text(stored)
        cert_path = self.directory / f"{name}.cert.pem"
        cert_path.write_text(chain)
        return Identity(pkcs8, chain, keystore, key_path, cert_path)
