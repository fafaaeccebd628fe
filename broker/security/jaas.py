"""``sasl.jaas.config`` values, as Kafka reads them (a JAAS configuration entry).

    org.apache.kafka.common.security.plain.PlainLoginModule required
        username="admin" password="admin-secret" user_alice="alice-secret";

One or more login modules, each ``ClassName flag option=value ... ;`` with
``flag`` one of required, requisite, sufficient, optional and each value a
bare word or a double-quoted string (backslash escapes the next character).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
FLAGS = ("required", "requisite", "sufficient", "optional")

_TOKEN = re.compile(r'\s*(?:"((?:\\.|[^"\\])*)"|([^\s=;"]+)|(=)|(;))')


@dataclass(frozen=True, slots=True)
class LoginModule:
    name: str
    flag: str
    options: dict[str, str] = field(default_factory=dict)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"cannot parse JAAS configuration at {text[pos : pos + 20]!r}")
        quoted, word, equals, semi = match.groups()
        if quoted is not None:
            out.append(("value", re.sub(r"\\(.)", r"\1", quoted)))
        elif word is not None:
            out.append(("word", word))
        elif equals:
            out.append(("=", "="))
        elif semi:
            out.append((";", ";"))
        pos = match.end()
    return out


def parse_jaas(text: str) -> list[LoginModule]:
    tokens = _tokens(text)
    modules: list[LoginModule] = []
    i = 0
    while i < len(tokens):
        if i + 1 >= len(tokens) or tokens[i][0] != "word" or tokens[i + 1][0] != "word":
            raise ValueError("expected 'LoginModuleClass flag' in JAAS configuration")
        name, flag = tokens[i][1], tokens[i + 1][1]
        if flag not in FLAGS:
            raise ValueError(f"JAAS login module flag {flag!r} is not one of {', '.join(FLAGS)}")
        i += 2
        options: dict[str, str] = {}
        while i < len(tokens) and tokens[i][0] != ";":
            if (
                i + 2 >= len(tokens)
                or tokens[i][0] != "word"
                or tokens[i + 1][0] != "="
                or tokens[i + 2][0] not in ("word", "value")
            ):
                raise ValueError(f"expected option=value in JAAS configuration of {name}")
            options[tokens[i][1]] = tokens[i + 2][1]
            i += 3
        if i >= len(tokens):
            raise ValueError(f"JAAS configuration of {name} does not end with ';'")
        i += 1
        modules.append(LoginModule(name, flag, options))
    if not modules:
        raise ValueError("empty JAAS configuration")
    return modules


def plain_users(text: str) -> dict[str, str]:
    """The ``user_NAME="password"`` options of a PlainLoginModule entry."""
    modules = parse_jaas(text)
    if len(modules) != 1 or modules[0].name != PLAIN_MODULE:
        raise ValueError(f"expected one {PLAIN_MODULE} entry")
    return {
        key[len("user_") :]: value
        for key, value in modules[0].options.items()
        if key.startswith("user_")
    }


def check_scram(text: str) -> None:
    modules = parse_jaas(text)
    if len(modules) != 1 or modules[0].name != SCRAM_MODULE:
        raise ValueError(f"expected one {SCRAM_MODULE} entry")
