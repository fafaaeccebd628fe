"""Principals: the name a connection acts as, and how a certificate becomes one.

Kafka's principal for a TLS client is ``User:`` followed by the certificate's
subject as Java prints it (``X500Principal.getName()``, RFC 2253: the most
specific name first, ``CN=alice,OU=eng,O=example``) and rewritten by
``ssl.principal.mapping.rules``. :func:`rfc2253` turns the subject Python's
``ssl`` module gives (``getpeercert()["subject"]``, most general first) into
that string; :class:`PrincipalMapper` applies the rules.

Rules, as Kafka writes them: a comma-separated list of ``DEFAULT`` (the
distinguished name unchanged) and ``RULE:pattern/replacement/`` with an
optional ``L`` or ``U`` after the last slash (lower- or upper-case the
result). The first rule whose pattern matches the whole name wins; ``$1``
in a replacement is the first group. No rule matching is an authentication
failure, as in Kafka.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

ANONYMOUS = "User:ANONYMOUS"

# Python's long attribute names -> the keywords Java's RFC 2253 output uses.
# Other attributes print as OID=#hex(DER value), as Java does.
_KEYWORDS = {
    "commonName": "CN",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}
_OIDS = {"emailAddress": ("1.2.840.113549.1.9.1", 0x16)}  # IA5String

RdnSequence = Sequence[Sequence[tuple[str, str]]]


class NoMatchingRule(ValueError):
    """No ``ssl.principal.mapping.rules`` rule applies to a distinguished name."""


def _escape(value: str) -> str:
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;' or (ch == "#" and i == 0):
            out.append("\\" + ch)
        elif ch == " " and (i == 0 or i == len(value) - 1):
            out.append("\\ ")
        else:
            out.append(ch)
    return "".join(out)


def _der_hex(tag: int, value: str) -> str:
    data = value.encode()
    if len(data) < 0x80:
        length = bytes([len(data)])
    else:
        size = len(data).to_bytes((len(data).bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(size)]) + size
    return "#" + (bytes([tag]) + length + data).hex()


def rfc2253(subject: RdnSequence) -> str:
    """The subject as Java's ``X500Principal.getName()`` prints it."""
    rdns = []
    for rdn in reversed(subject):
        parts = []
        for attr, value in rdn:
            if attr in _KEYWORDS:
                parts.append(f"{_KEYWORDS[attr]}={_escape(value)}")
            elif attr in _OIDS:
                oid, tag = _OIDS[attr]
                parts.append(f"{oid}={_der_hex(tag, value)}")
            else:
                parts.append(f"{attr}={_escape(value)}")
        rdns.append("+".join(parts))
    return ",".join(rdns)


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: re.Pattern[str] | None  # None: DEFAULT
    replacement: str = ""
    case: str = ""  # "", "L" or "U"

    def apply(self, name: str) -> str | None:
        if self.pattern is None:
            return name
        match = self.pattern.fullmatch(name)
        if match is None:
            return None
        result = match.expand(self.replacement)
        if self.case == "L":
            return result.lower()
        if self.case == "U":
            return result.upper()
        return result


# One rule, then an optional comma and more. Slashes and backslashes inside a
# pattern or replacement are escaped with a backslash, as in Kafka.
_RULE = re.compile(r"\s*(?:(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?))\s*(?:,|$)")


def _java_replacement(text: str) -> str:
    """A Java replacement string (``$1``, ``\\$``) in Python's ``expand`` syntax."""
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\\\\" if nxt == "\\" else nxt)
            i += 2
        elif ch == "$" and i + 1 < len(text) and text[i + 1].isdigit():
            j = i + 1
            while j < len(text) and text[j].isdigit():
                j += 1
            out.append(f"\\g<{text[i + 1 : j]}>")
            i = j
        else:
            out.append("\\\\" if ch == "\\" else ch)
            i += 1
    return "".join(out)


def parse_rules(text: str) -> list[Rule]:
    """``ssl.principal.mapping.rules`` -> rules; ValueError names what is wrong."""
    rules: list[Rule] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _RULE.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"invalid rule at {text[pos:]!r}")
        if match.group(1):
            rules.append(Rule(None))
        else:
            pattern = match.group(2).replace("\\/", "/")
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid pattern {pattern!r}: {exc}") from None
            replacement = _java_replacement(match.group(3).replace("\\/", "/"))
            rules.append(Rule(compiled, replacement, match.group(4)))
        pos = match.end()
    if not rules:
        raise ValueError("no rules")
    return rules


@dataclass(frozen=True, slots=True)
class PrincipalMapper:
    rules: tuple[Rule, ...] = (Rule(None),)

    @classmethod
    def from_config(cls, text: str | None) -> PrincipalMapper:
        return cls(tuple(parse_rules(text))) if text and text.strip() else cls()

    def name(self, distinguished_name: str) -> str:
        for rule in self.rules:
            result = rule.apply(distinguished_name)
            if result is not None:
                return result
        raise NoMatchingRule(f"no ssl.principal.mapping.rules rule applies to {distinguished_name}")

    def principal(self, subject: RdnSequence | None) -> str:
        """``User:<name>`` for a client certificate's subject; ANONYMOUS without one."""
        if not subject:
            return ANONYMOUS
        return "User:" + self.name(rfc2253(subject))
