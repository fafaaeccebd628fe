"""The controller's state machine and the group coordinator core are sans-I/O.

Like tests/raft/test_purity.py (whose AST scan this reuses), but for the
metadata controller (everything in broker/controller except its Trio shell,
quorum.py, channel.py and membership_service.py) and broker/group.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.raft.test_purity import FORBIDDEN, ROOT, imported_roots

SHELLS = {
    ROOT / "controller" / name for name in ("quorum.py", "channel.py", "membership_service.py")
}


def modules() -> list[Path]:
    found: list[Path] = []
    for package in ("controller", "group"):
        found += [p for p in sorted((ROOT / package).rglob("*.py")) if p not in SHELLS]
    return found


def test_the_scan_covers_both_cores() -> None:
    names = {p.name for p in modules()}
    assert {"controller.py", "image.py", "coordinator.py"} <= names
    assert "quorum.py" not in names


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_is_pure(path: Path) -> None:
    assert imported_roots(path.read_text()) & FORBIDDEN == set()
