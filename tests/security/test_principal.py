"""Principals from certificates: RFC 2253 names and ssl.principal.mapping.rules."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from broker.security.principal import (
    ANONYMOUS,
    NoMatchingRule,
    PrincipalMapper,
    parse_rules,
    rfc2253,
)
from tests.security.certs import Pki

SUBJECT = (
    (("countryName", "US"),),
    (("organizationName", "example"),),
    (("organizationalUnitName", "eng"),),
    (("commonName", "Alice"),),
)


def test_the_subject_prints_most_specific_first_as_java_does() -> None:
    assert rfc2253(SUBJECT) == "CN=Alice,OU=eng,O=example,C=US"


def test_special_characters_are_escaped() -> None:
    subject = ((("commonName", 'a,b+c"d\\e<f>g;h'),), (("organizationName", " #x "),))
    assert rfc2253(subject) == 'O=\\ #x\\ ,CN=a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h'
    assert rfc2253(((("organizationName", "#lead"),),)) == "O=\\#lead"


def test_multi_valued_rdns_and_unknown_attributes() -> None:
    subject = ((("commonName", "x"), ("userId", "42")), (("emailAddress", "a@b.c"),))
    # emailAddress has no keyword in RFC 2253: Java prints OID=#DER(IA5String)
    assert rfc2253(subject) == "1.2.840.113549.1.9.1=#1605614062" + "2e63" + ",CN=x+UID=42"


def test_a_real_certificate_subject(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    who = pki.issue("alice", common_name="Alice", organization="example", unit="eng")
    cert = ssl._ssl._test_decode_cert(str(who.cert_path))  # type: ignore[attr-defined]
    assert rfc2253(cert["subject"]) == "CN=Alice,OU=eng,O=example"


@pytest.mark.parametrize(
    ("rules", "name", "expected"),
    [
        ("DEFAULT", "CN=Alice,OU=eng", "CN=Alice,OU=eng"),
        ("RULE:^CN=(.*?),OU=(.*?)$/$1@$2/", "CN=Alice,OU=eng", "Alice@eng"),
        ("RULE:^CN=(.*?),OU=(.*?)$/$1@$2/L", "CN=Alice,OU=ENG", "alice@eng"),
        ("RULE:^CN=(.*?),OU=(.*?)$/$1@$2/U", "CN=Alice,OU=eng", "ALICE@ENG"),
        ("RULE:^OU=x$/no/,DEFAULT", "CN=Alice", "CN=Alice"),
        ("RULE:^CN=([^,]+),.*$/$1/, RULE:^CN=(.*)$/only-$1/", "CN=Bob", "only-Bob"),
        ("RULE:^CN=(.*)$/a\\/b $1/", "CN=Bob", "a/b Bob"),
        ("RULE:^CN=(.*)$/cost \\$1/", "CN=Bob", "cost $1"),
    ],
)
def test_mapping_rules(rules: str, name: str, expected: str) -> None:
    assert PrincipalMapper.from_config(rules).name(name) == expected


def test_no_matching_rule_fails() -> None:
    mapper = PrincipalMapper.from_config("RULE:^CN=admin$/admin/")
    with pytest.raises(NoMatchingRule, match="CN=eve"):
        mapper.name("CN=eve")


@pytest.mark.parametrize("bad", ["RULE:^x$/y", "NOPE", "RULE:(/x/", "DEFAULT,,"])
def test_bad_rules_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_rules(bad)


def test_no_certificate_is_anonymous() -> None:
    assert PrincipalMapper().principal(()) == ANONYMOUS
    assert PrincipalMapper().principal(SUBJECT) == "User:CN=Alice,OU=eng,O=example,C=US"
