"""TLS for listeners: an ``ssl.SSLContext`` from Kafka's settings, and the handshake.

:func:`server_context` builds the context of one listener from its
:class:`~broker.security.settings.SslSettings` (PEM keystore as a file or
inline, PEM truststore, ``ssl.client.auth``, protocol versions); a key or
certificate that does not load is a :class:`TlsConfigError` naming the
setting, reported at start-up. :func:`handshake` wraps an accepted stream in
Trio's :class:`trio.SSLStream` and completes the handshake within a deadline;
the peer's certificate (when it sent one) becomes the principal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import ssl
import tempfile

import trio

from broker.security.settings import SslSettings

log = logging.getLogger(__name__)

_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_VERIFY = {"required": ssl.CERT_REQUIRED, "requested": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)


def normalize_pem(text: str) -> str:
    """PEM blocks with their line breaks restored: an inline value in a
    properties file often has them as spaces, which Kafka accepts too."""
    blocks = []
    for label, body in _PEM_BLOCK.findall(text):
        data = "".join(body.split())
        lines = [data[i : i + 64] for i in range(0, len(data), 64)]
        blocks.append(
            f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"
        )
    if not blocks:
        raise ValueError("no PEM block (-----BEGIN ...-----)")
    return "".join(blocks)


class TlsConfigError(Exception):
    """A listener's keystore or truststore cannot be loaded; the message says which."""


def server_context(settings: SslSettings, listener: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _VERSIONS[settings.min_version]
    ctx.maximum_version = _VERSIONS[settings.max_version]
    password = settings.key_password
    try:
        if settings.keystore_location is not None:
            where = "ssl.keystore.location"
            ctx.load_cert_chain(settings.keystore_location, password=password or None)
        else:
            where = "ssl.keystore.certificate.chain/ssl.keystore.key"
            _load_inline_chain(
                ctx, settings.certificate_chain or "", settings.private_key or "", password
            )
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise TlsConfigError(f"{listener} listener: {where}: cannot load ({exc})") from None
    try:
        if settings.truststore_location is not None:
            where = "ssl.truststore.location"
            ctx.load_verify_locations(cafile=settings.truststore_location)
        elif settings.truststore_certificates is not None:
            where = "ssl.truststore.certificates"
            ctx.load_verify_locations(cadata=normalize_pem(settings.truststore_certificates))
        elif settings.client_auth != "none":
            ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)  # as the JVM's default truststore
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise TlsConfigError(f"{listener} listener: {where}: cannot load ({exc})") from None
    ctx.verify_mode = _VERIFY[settings.client_auth]
    return ctx


def _load_inline_chain(ctx: ssl.SSLContext, chain: str, key: str, password: str | None) -> None:
    """``load_cert_chain`` reads files only: hand it a private temporary file."""
    fd, path = tempfile.mkstemp(prefix="broker-keystore-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as out:  # mkstemp: mode 0600, only we can read it
            out.write(normalize_pem(key) + normalize_pem(chain))
        ctx.load_cert_chain(path, password=password or None)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


async def handshake(
    stream: trio.SocketStream, ctx: ssl.SSLContext, timeout_s: float, peer: str
) -> trio.SSLStream[trio.SocketStream] | None:
    """The stream over TLS, or None (logged) when the handshake fails or times out."""
    tls = trio.SSLStream(stream, ctx, server_side=True)
    with trio.move_on_after(timeout_s) as scope:
        try:
            await tls.do_handshake()
        except trio.BrokenResourceError as exc:
            reason = exc.__cause__ or exc
            log.info("TLS handshake with %s failed: %s", peer, reason)
            return None
    if scope.cancelled_caught:
        log.info("TLS handshake with %s not done within %.0f ms", peer, timeout_s * 1000)
        return None
    return tls


def peer_subject(tls: trio.SSLStream[trio.SocketStream]) -> tuple[tuple[tuple[str, str], ...], ...]:
    """The client certificate's subject (empty when it sent none)."""
    cert = tls.getpeercert()
    if not cert:
        return ()
    subject: tuple[tuple[tuple[str, str], ...], ...] = cert.get("subject", ())
    return subject
