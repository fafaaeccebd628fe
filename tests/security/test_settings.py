"""ssl.* settings: what a TLS listener takes, and what is refused naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from broker.config import ConfigError, load_config
from broker.security.settings import listener_security
from tests.security.certs import Pki


def _load(*settings: str) -> object:
    return load_config(None, list(settings), environ={})


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def test_a_pem_listener_resolves(pki: Pki) -> None:
    config = load_config(
        None,
        [
            "listeners=PLAINTEXT://:9092,SSL://:9093,EXTERNAL://:9094",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,EXTERNAL:SSL",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={pki.server.keystore}",
            "ssl.client.auth=requested",
            "listener.name.external.ssl.client.auth=required",
            "listener.name.external.ssl.enabled.protocols=TLSv1.3",
            f"listener.name.external.ssl.truststore.location={pki.ca_path}",
            "listener.name.external.ssl.truststore.type=PEM",
            "ssl.principal.mapping.rules=RULE:^CN=(.*?),.*$/$1/L,DEFAULT",
            "ssl.endpoint.identification.algorithm=https",
            "ssl.keymanager.algorithm=SunX509",
        ],
        environ={},
    )
    plain, internal, external = listener_security(config)
    assert plain.ssl is None and plain.protocol == "PLAINTEXT"
    assert internal.ssl is not None and internal.ssl.client_auth == "requested"
    assert internal.ssl.truststore_location is None
    assert external.ssl is not None and external.ssl.client_auth == "required"
    assert (external.ssl.min_version, external.ssl.max_version) == ("TLSv1.3", "TLSv1.3")
    assert external.ssl.truststore_location == str(pki.ca_path)
    assert external.ssl.mapper.name("CN=Bob,O=x") == "bob"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["ssl.keystore.location=/ks.jks"], "ssl.keystore.location: JKS keystores"),
        (["ssl.keystore.type=PKCS12", "ssl.keystore.location=/ks.p12"], "PKCS12 keystores"),
        (["ssl.truststore.location=/ts.jks"], "ssl.truststore.location: JKS truststores"),
        (["ssl.keystore.password=x"], "SSL key store password cannot be specified with PEM"),
        (["ssl.truststore.password=x"], "SSL trust store password cannot be specified for PEM"),
        (["ssl.client.auth=always"], "ssl.client.auth: 'always'"),
        (["ssl.enabled.protocols=TLSv1.1"], "ssl.enabled.protocols: TLSv1.1"),
        (["ssl.protocol=SSLv3"], "ssl.protocol: SSLv3"),
        (["ssl.cipher.suites=TLS_AES_128_GCM_SHA256"], "ssl.cipher.suites"),
        (["ssl.provider=BC"], "ssl.provider"),
        (["ssl.engine.factory.class=x.Y"], "ssl.engine.factory.class"),
        (["ssl.principal.mapping.rules=RULE:oops"], "ssl.principal.mapping.rules"),
        (["ssl.wat=1"], "ssl.wat: not implemented"),
        (["listener.name.ssl.ssl.key.password=x"], "no listener named SSL"),
        ([], "the SSL listener needs a keystore"),
        (["ssl.keystore.type=PEM", "ssl.keystore.key=k"], "needs either ssl.keystore.location"),
    ],
)
def test_refused_naming_the_key(pki: Pki, settings: list[str], message: str) -> None:
    base = ["listeners=SSL://:9093"] if not any("listener.name" in s for s in settings) else []
    if any(s.startswith("ssl.keystore.type") for s in settings) or not settings:
        pass
    elif not any("keystore" in s and "password" not in s for s in settings):
        base += ["ssl.keystore.type=PEM", f"ssl.keystore.location={pki.server.keystore}"]
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, [*base, *settings], environ={})


def test_a_key_that_does_not_load_fails_start_up(pki: Pki, tmp_path: Path) -> None:
    from broker.net.tls import TlsConfigError, server_context

    config = load_config(
        None,
        ["listeners=SSL://:9093", "ssl.keystore.type=PEM", f"ssl.keystore.location={pki.ca_path}"],
        environ={},
    )
    spec = listener_security(config)[0]
    assert spec.ssl is not None
    with pytest.raises(TlsConfigError, match=r"ssl\.keystore\.location"):
        server_context(spec.ssl, spec.name)
    encrypted = pki.issue("enc", encrypted=True)
    config = load_config(
        None,
        [
            "listeners=SSL://:9093",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={encrypted.keystore}",
            "ssl.key.password=wrong",
        ],
        environ={},
    )
    spec = listener_security(config)[0]
    assert spec.ssl is not None
    with pytest.raises(TlsConfigError, match=r"ssl\.keystore\.location"):
        server_context(spec.ssl, spec.name)


def test_a_controller_listener_must_be_plaintext(pki: Pki) -> None:
    with pytest.raises(ConfigError, match="controller listeners must be PLAINTEXT"):
        load_config(
            None,
            [
                "listeners=PLAINTEXT://:9092,CONTROLLER://:9093",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SSL",
                "ssl.keystore.type=PEM",
                f"ssl.keystore.location={pki.server.keystore}",
            ],
            environ={},
        )


def test_the_quorum_listener_must_be_plaintext(pki: Pki) -> None:
    import dataclasses

    from broker.security.settings import voter_listener_problem

    config = load_config(
        None,
        [
            "listeners=PLAINTEXT://:9092,SSL://:9093",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={pki.server.keystore}",
        ],
        environ={},
    )
    values = dict(config.values)
    values["controller.quorum.voters"] = ["1@a:9092", "2@b:9092"]
    assert voter_listener_problem(dataclasses.replace(config, values=values)) is None
    values["controller.quorum.voters"] = ["1@a:9093", "2@b:9093"]
    problem = voter_listener_problem(dataclasses.replace(config, values=values))
    assert problem is not None and "the SSL listener, which uses SSL" in problem
