"""Kafka's ``ssl.*`` and ``sasl.*`` settings: which we honour, per listener.

A setting applies to every listener unless a listener-scoped one,
``listener.name.<listener, lower case>.<setting>``, overrides it (PLAIN's
users: ``listener.name.<l>.plain.sasl.jaas.config``, as Kafka's brokers).
:func:`listener_security` resolves each listener; :func:`check` refuses at
start-up, naming the key, every setting we would otherwise ignore: an
unknown one, one of a feature we lack (JKS/PKCS12 keystores, Kerberos,
OAUTHBEARER, pluggable classes), or a bad value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from broker.security import jaas
from broker.security.principal import PrincipalMapper

if TYPE_CHECKING:
    from broker.config import BrokerConfig

PREFIXES = ("ssl.", "sasl.", "listener.name.")
TLS_PROTOCOLS = ("SSL", "SASL_SSL")
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")

# Settings we implement; their values are checked when a listener uses them.
SSL_KEYS = frozenset(
    {
        "ssl.keystore.type",
        "ssl.keystore.location",
        "ssl.keystore.password",
        "ssl.key.password",
        "ssl.keystore.key",
        "ssl.keystore.certificate.chain",
        "ssl.truststore.type",
        "ssl.truststore.location",
        "ssl.truststore.password",
        "ssl.truststore.certificates",
        "ssl.client.auth",
        "ssl.enabled.protocols",
        "ssl.protocol",
        "ssl.principal.mapping.rules",
        # Hostname verification of the server by a client: nothing for a
        # listener to do (Kafka's brokers use it only as clients of each other).
        "ssl.endpoint.identification.algorithm",
    }
)
SASL_KEYS = frozenset(
    {
        "sasl.enabled.mechanisms",
        # Only for inter-broker SASL, which is refused separately.
        "sasl.mechanism.inter.broker.protocol",
        "sasl.jaas.config",
    }
)
# Accepted only at Kafka's default (or empty): anything else would be ignored.
DEFAULT_ONLY = {
    "ssl.keymanager.algorithm": ("SunX509",),
    "ssl.trustmanager.algorithm": ("PKIX",),
    "ssl.provider": (),
    "ssl.secure.random.implementation": (),
    "ssl.engine.factory.class": (),
    "ssl.cipher.suites": (),
    "ssl.allow.dn.changes": ("false",),
    "ssl.allow.san.changes": ("false",),
    "sasl.server.max.receive.size": ("524288",),
}


@dataclass(frozen=True, slots=True)
class SslSettings:
    keystore_location: str | None = None
    certificate_chain: str | None = None  # inline PEM
    private_key: str | None = None  # inline PEM
    key_password: str | None = None
    truststore_location: str | None = None
    truststore_certificates: str | None = None  # inline PEM
    client_auth: str = "none"  # required, requested, none
    min_version: str = "TLSv1.2"
    max_version: str = "TLSv1.3"
    mapper: PrincipalMapper = field(default_factory=PrincipalMapper)


@dataclass(frozen=True, slots=True)
class SaslSettings:
    mechanisms: tuple[str, ...]
    plain_users: Mapping[str, str] = field(default_factory=dict)
    failed_delay_ms: int = 100  # connection.failed.authentication.delay.ms
    reauth_ms: int = 0  # connections.max.reauth.ms (KIP-368); 0: no expiry


@dataclass(frozen=True, slots=True)
class ListenerSecurity:
    name: str
    protocol: str
    ssl: SslSettings | None = None
    sasl: SaslSettings | None = None


def security_settings(given: Mapping[str, str]) -> dict[str, str]:
    """The settings of :data:`PREFIXES` among those given."""
    return {k: v for k, v in given.items() if k.startswith(PREFIXES)}


def value(security: Mapping[str, str], listener: str, key: str) -> tuple[str, str | None]:
    """(the key that decided, its value): the listener-scoped one, else the global one."""
    scoped = f"listener.name.{listener.lower()}.{key}"
    if scoped in security:
        return scoped, security[scoped]
    return key, security.get(key)


def _blank(text: str | None) -> bool:
    return text is None or text.strip() == ""


def ssl_settings(security: Mapping[str, str], listener: str) -> SslSettings:
    """A TLS listener's settings; ValueError("key: problem") when they cannot work."""

    def get(key: str) -> tuple[str, str | None]:
        return value(security, listener, key)

    type_key, store_type = get("ssl.keystore.type")
    loc_key, location = get("ssl.keystore.location")
    chain_key, chain = get("ssl.keystore.certificate.chain")
    key_key, key = get("ssl.keystore.key")
    if _blank(location) and _blank(chain) and _blank(key):
        raise ValueError(
            f"{loc_key}: the {listener} listener needs a keystore: ssl.keystore.type=PEM with "
            "ssl.keystore.location (or ssl.keystore.certificate.chain and ssl.keystore.key)"
        )
    _require_pem("keystore", type_key, store_type, loc_key)
    pass_key, store_password = get("ssl.keystore.password")
    if not _blank(store_password):
        raise ValueError(
            f"{pass_key}: SSL key store password cannot be specified with PEM format, "
            "only key password may be specified"
        )
    if _blank(location) == (_blank(chain) or _blank(key)):
        raise ValueError(
            f"{loc_key}: the {listener} listener needs either ssl.keystore.location (a PEM "
            "file with the private key and certificate chain) or both "
            "ssl.keystore.certificate.chain and ssl.keystore.key"
        )
    if not _blank(location) and not (_blank(chain) and _blank(key)):
        raise ValueError(f"{chain_key}/{key_key}: not with {loc_key}")
    trust_type_key, trust_type = get("ssl.truststore.type")
    trust_loc_key, trust_location = get("ssl.truststore.location")
    _cert_key, trust_certs = get("ssl.truststore.certificates")
    trust_given = not (_blank(trust_location) and _blank(trust_certs))
    if trust_given:
        _require_pem("truststore", trust_type_key, trust_type, trust_loc_key)
    trust_pass_key, trust_password = get("ssl.truststore.password")
    if not _blank(trust_password):
        raise ValueError(
            f"{trust_pass_key}: SSL trust store password cannot be specified for PEM format"
        )
    if not _blank(trust_location) and not _blank(trust_certs):
        raise ValueError(f"{trust_loc_key}: not with ssl.truststore.certificates")
    auth_key, client_auth = get("ssl.client.auth")
    auth = (client_auth or "none").strip().lower()
    if auth not in ("required", "requested", "none"):
        raise ValueError(f"{auth_key}: {client_auth!r} is not required, requested or none")
    proto_key, enabled = get("ssl.enabled.protocols")
    versions = [p.strip() for p in (enabled or "TLSv1.2,TLSv1.3").split(",") if p.strip()]
    for version in versions:
        if version not in TLS_VERSIONS:
            raise ValueError(f"{proto_key}: {version} is not supported (only TLSv1.2, TLSv1.3)")
    if not versions:
        raise ValueError(f"{proto_key}: no protocol enabled")
    ctx_key, context = get("ssl.protocol")
    context = (context or "TLSv1.3").strip()
    if context not in ("TLS", "TLSv1.2", "TLSv1.3"):
        raise ValueError(f"{ctx_key}: {context} is not supported (TLS, TLSv1.2 or TLSv1.3)")
    if context == "TLSv1.2":
        versions = [v for v in versions if v == "TLSv1.2"]
        if not versions:
            raise ValueError(f"{ctx_key}: TLSv1.2 but {proto_key} does not enable it")
    rules_key, rules = get("ssl.principal.mapping.rules")
    try:
        mapper = PrincipalMapper.from_config(rules)
    except ValueError as exc:
        raise ValueError(f"{rules_key}: {exc}") from None
    return SslSettings(
        keystore_location=None if _blank(location) else str(location).strip(),
        certificate_chain=None if _blank(chain) else chain,
        private_key=None if _blank(key) else key,
        key_password=get("ssl.key.password")[1] or None,
        truststore_location=None if _blank(trust_location) else str(trust_location).strip(),
        truststore_certificates=None if _blank(trust_certs) else trust_certs,
        client_auth=auth,
        min_version=min(versions),
        max_version=max(versions),
        mapper=mapper,
    )


def _require_pem(store: str, type_key: str, store_type: str | None, location_key: str) -> None:
    """Only PEM stores are read; Kafka's default type is JKS."""
    given = (store_type or "JKS").strip()
    if given.upper() != "PEM":
        where = type_key if not _blank(store_type) else location_key
        raise ValueError(
            f"{where}: {given} {store}s are not supported (ssl.{store}.type defaults to JKS); "
            f"use ssl.{store}.type=PEM"
        )


def sasl_settings(security: Mapping[str, str], listener: str) -> SaslSettings:
    mech_key, mechs = value(security, listener, "sasl.enabled.mechanisms")
    names = tuple(m.strip() for m in (mechs or "GSSAPI").split(",") if m.strip())
    for name in names:
        if name not in MECHANISMS:
            default = " (Kafka's default)" if _blank(mechs) else ""
            raise ValueError(
                f"{mech_key}: {name}{default} is not implemented; enable "
                f"{', '.join(MECHANISMS)} for the {listener} listener"
            )
    if not names:
        raise ValueError(f"{mech_key}: no mechanism enabled for the {listener} listener")
    users: dict[str, str] = {}
    for name in names:
        jaas_key = f"listener.name.{listener.lower()}.{name.lower()}.sasl.jaas.config"
        text = security.get(jaas_key)
        if name == "PLAIN":
            if _blank(text):
                raise ValueError(
                    f"{jaas_key}: PLAIN on the {listener} listener needs its users, "
                    f'{jaas.PLAIN_MODULE} required user_NAME="password" ...;'
                )
            try:
                users = jaas.plain_users(str(text))
            except ValueError as exc:
                raise ValueError(f"{jaas_key}: {exc}") from None
        elif not _blank(text):
            try:
                jaas.check_scram(str(text))
            except ValueError as exc:
                raise ValueError(f"{jaas_key}: {exc}") from None
    return SaslSettings(names, users)


def listener_security(config: BrokerConfig) -> list[ListenerSecurity]:
    """Each of ``config.listeners``, in order, with what it needs."""
    out = []
    for name, _host, _port in config.listeners:
        protocol = config.security_protocol(name)
        ssl = ssl_settings(config.security, name) if protocol in TLS_PROTOCOLS else None
        sasl = sasl_settings(config.security, name) if protocol in SASL_PROTOCOLS else None
        if sasl is not None:
            delay = config.values.get("connection.failed.authentication.delay.ms", 100)
            reauth = config.values.get("connections.max.reauth.ms", 0)
            sasl = replace(sasl, failed_delay_ms=int(delay), reauth_ms=int(reauth))
        out.append(ListenerSecurity(name, protocol, ssl, sasl))
    return out


def _check_key(key: str, text: str, listeners: set[str]) -> str | None:
    """Why ``key`` cannot be accepted, or None."""
    base = key
    if key.startswith("listener.name."):
        rest = key[len("listener.name.") :]
        listener, _, base = rest.partition(".")
        if listener.upper() not in listeners:
            return (
                f"no listener named {listener.upper()} (listeners: {', '.join(sorted(listeners))})"
            )
        mech, _, tail = base.partition(".")
        if mech.upper() in MECHANISMS and tail == "sasl.jaas.config":
            return None  # checked with the listener's mechanisms
        if mech.upper() in MECHANISMS:
            return f"{tail} per mechanism is not implemented"
    if base == "sasl.jaas.config":
        if key == base and not _blank(text):
            return (
                "a broker takes its JAAS configuration per listener and mechanism: "
                "listener.name.<listener>.<mechanism>.sasl.jaas.config"
            )
        return None
    if base == "sasl.enabled.mechanisms":
        unknown = [m.strip() for m in text.split(",") if m.strip() and m.strip() not in MECHANISMS]
        if unknown:
            return f"{', '.join(unknown)} not implemented (only {', '.join(MECHANISMS)})"
        return None
    if base in SSL_KEYS or base in SASL_KEYS:
        return None
    if base in DEFAULT_ONLY:
        allowed = DEFAULT_ONLY[base]
        if _blank(text) or text.strip() in allowed:
            return None
        return f"{text.strip()!r}: only the default is implemented"
    if base.startswith(("ssl.", "sasl.")):
        if _blank(text):
            return None  # empty: nothing promised
        if base.startswith(("sasl.kerberos.", "sasl.oauthbearer.", "sasl.login.")):
            return "Kerberos, OAUTHBEARER and SASL login settings are not implemented"
        return "not implemented"
    return "not a security setting"


def check(config: BrokerConfig) -> None:
    """Refuse, naming the key, what we would not honour; resolve every listener."""
    listeners = {name for name, _h, _p in config.listeners}
    for key in sorted(config.security):
        problem = _check_key(key, config.security[key], listeners)
        if problem is not None:
            raise ValueError(f"{key}: {problem}")
    for name in config.values.get("controller.listener.names") or ():
        protocol = config.security_protocol(name) if name in listeners else "PLAINTEXT"
        if protocol != "PLAINTEXT":
            raise ValueError(
                f"controller.listener.names: {name} uses {protocol}; TLS and SASL between "
                "nodes are not implemented (controller listeners must be PLAINTEXT)"
            )
    problem = voter_listener_problem(config)
    if problem is not None:
        raise ValueError(problem)
    resolved = listener_security(config)
    if not any(r.ssl is not None for r in resolved):
        # ssl.* given but no TLS listener: still refuse stores we could never read.
        for store in ("keystore", "truststore"):
            if not _blank(config.security.get(f"ssl.{store}.location")):
                _require_pem(
                    store,
                    f"ssl.{store}.type",
                    config.security.get(f"ssl.{store}.type"),
                    f"ssl.{store}.location",
                )


def voter_listener_problem(config: BrokerConfig) -> str | None:
    """With several voters, peers reach this node's quorum at its voter address,
    on one of its listeners, in plaintext: that listener must be PLAINTEXT."""
    voters = config.values.get("controller.quorum.voters") or []
    if len(voters) < 2:
        return None
    own = next((v for v in voters if v.strip().partition("@")[0] == str(config.node_id)), None)
    if own is None:
        return None  # refused elsewhere
    port = own.rpartition(":")[2].strip()
    for name, _host, listener_port in config.listeners:
        if str(listener_port) == port:
            protocol = config.security_protocol(name)
            if protocol != "PLAINTEXT":
                return (
                    f"controller.quorum.voters: this node's voter address is on the {name} "
                    f"listener, which uses {protocol}; TLS and SASL between nodes are not "
                    "implemented, so the quorum's listener must be PLAINTEXT"
                )
    return None
