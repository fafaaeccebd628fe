"""Locating the external Kafka clients that the compat suite drives.

Python clients (aiokafka, kafka-python, confluent-kafka) are test
dependencies and are imported directly.  The others are system tools that
`.ci/install-system` installs: kcat (Debian's package), node, and KafkaJS
under ``compat/node/node_modules``.

On a developer's machine a missing tool skips the test that needs it; in CI
(env var ``CI`` set to anything but ``""``, ``0`` or ``false``) it fails the
test instead, because CI must never silently skip compatibility coverage.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

COMPAT_DIR = Path(__file__).resolve().parent
NODE_DIR = COMPAT_DIR / "node"

_PathT = TypeVar("_PathT", str, Path)

_FALSE_VALUES = frozenset({"", "0", "false", "no", "off"})


def in_ci() -> bool:
    """True when running under CI (``CI`` set to a true-ish value)."""
    return os.environ.get("CI", "").strip().lower() not in _FALSE_VALUES


def _which(name: str, env_var: str) -> str | None:
    override = os.environ.get(env_var)
    if override:
        return override if os.access(override, os.X_OK) else None
    return shutil.which(name)


def kcat_path() -> str | None:
    """Path to kcat (or its old name kafkacat); ``$KCAT`` overrides."""
    if os.environ.get("KCAT"):
        return _which("kcat", "KCAT")
    return shutil.which("kcat") or shutil.which("kafkacat")


def node_path() -> str | None:
    """Path to node; ``$NODE`` overrides."""
    return _which("node", "NODE")


def kafkajs_dir(node_dir: Path = NODE_DIR) -> Path | None:
    """Directory of the installed KafkaJS package, if ``npm ci`` has run."""
    pkg = node_dir / "node_modules" / "kafkajs"
    return pkg if (pkg / "package.json").is_file() else None


def _fail_or_skip(reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"{reason} (CI must not skip compat tests; see .ci/install-system)")
    pytest.skip(reason)


def require_tool(name: str, path: _PathT | None) -> _PathT:
    """Return ``path`` if the tool was found, else skip (or fail in CI).

    Typical use: ``kcat = require_tool("kcat", kcat_path())``.
    """
    if path is None:
        _fail_or_skip(f"{name} not found; run .ci/install-system to install it")
    return path


def require_module(name: str) -> None:
    """Skip (or fail in CI) when a Python client package is not importable."""
    try:
        __import__(name)
    except ImportError as exc:
        _fail_or_skip(f"Python module {name} not importable: {exc}")
