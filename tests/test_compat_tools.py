"""The compat suite's tool lookup: skip on a developer's machine, fail in CI."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from compat import tools


def _outcome_of_missing_tool(
    monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> type[BaseException]:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(BaseException) as info:
        tools.require_tool("kcat", None)
    return info.type


def test_missing_tool_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _outcome_of_missing_tool(monkeypatch, None) is pytest.skip.Exception
    for value in ("", "0", "false", "False"):
        assert _outcome_of_missing_tool(monkeypatch, value) is pytest.skip.Exception


def test_missing_tool_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("true", "1", "yes"):
        assert _outcome_of_missing_tool(monkeypatch, value) is pytest.fail.Exception


def test_present_tool_is_returned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    assert tools.require_tool("kcat", "/usr/bin/kcat") == "/usr/bin/kcat"
    assert tools.require_tool("kafkajs", tmp_path) == tmp_path


def test_missing_python_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        tools.require_module("no_such_kafka_client_module")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        tools.require_module("no_such_kafka_client_module")
    tools.require_module("json")


def test_env_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "kcat"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("KCAT", str(fake))
    monkeypatch.setenv("NODE", str(fake))
    assert tools.kcat_path() == str(fake)
    assert tools.node_path() == str(fake)
    monkeypatch.setenv("KCAT", str(tmp_path / "absent"))
    assert tools.kcat_path() is None


def test_path_lookup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KCAT", raising=False)
    monkeypatch.delenv("NODE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert tools.kcat_path() is None
    assert tools.node_path() is None
    node = tmp_path / "node"
    node.write_text("#!/bin/sh\n")
    node.chmod(0o755)
    assert tools.node_path() == str(node)


def test_kafkajs_dir(tmp_path: Path) -> None:
    assert tools.kafkajs_dir(tmp_path) is None
    pkg = tmp_path / "node_modules" / "kafkajs"
    pkg.mkdir(parents=True)
    assert tools.kafkajs_dir(tmp_path) is None
    (pkg / "package.json").write_text(json.dumps({"name": "kafkajs"}))
    assert tools.kafkajs_dir(tmp_path) == pkg


def test_system_clients_are_installed() -> None:
    """kcat, node and KafkaJS are present (skipped if not, but failed in CI)."""
    kcat = tools.require_tool("kcat", tools.kcat_path())
    node = tools.require_tool("node", tools.node_path())
    kafkajs = tools.require_tool("kafkajs", tools.kafkajs_dir())
    assert os.access(kcat, os.X_OK)
    assert os.access(node, os.X_OK)
    assert json.loads((kafkajs / "package.json").read_text())["name"] == "kafkajs"
