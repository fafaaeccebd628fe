"""The sans-I/O cores never import trio, socket, time or random.

Scans the AST of every module under broker/raft (except the Trio driver,
``driver.py``) and broker/wire.  Time and randomness are injected.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "broker"
FORBIDDEN = {"trio", "socket", "time", "random"}
EXEMPT = {ROOT / "raft" / "driver.py"}


def modules() -> list[Path]:
    found = []
    for package in ("raft", "wire"):
        found += [p for p in sorted((ROOT / package).rglob("*.py")) if p not in EXEMPT]
    return found


def imported_roots(source: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def test_the_scan_finds_the_raft_core() -> None:
    names = {p.name for p in modules()}
    assert {"node.py", "replication.py", "log.py", "sim.py"} <= names


def test_the_scan_detects_forbidden_imports() -> None:
    sample = "import os\nfrom time import monotonic\nimport trio.lowlevel\n__import__('random')\n"
    assert imported_roots(sample) & FORBIDDEN == {"time", "trio", "random"}


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_pure(path: Path) -> None:
    assert imported_roots(path.read_text()) & FORBIDDEN == set()
