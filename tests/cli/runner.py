"""Run ``raftbroker`` as a user does: a child process, its exit code, stdout and stderr.

``Cli(bootstrap)("topic", "list")`` runs ``python -m broker topic list -b
BOOTSTRAP`` with the repository on ``PYTHONPATH`` and checks that nothing
printed a Python traceback (errors must be one line a person can act on).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def lines(self) -> list[str]:
        return self.out.splitlines()

    def __str__(self) -> str:
        return f"raftbroker {' '.join(self.args)} -> {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


@dataclass
class Cli:
    bootstrap: str | None
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 60.0

    def argv(self, args: tuple[str, ...]) -> list[str]:
        argv = [sys.executable, "-m", "broker", *args]
        if self.bootstrap is not None and args and args[0] not in ("serve", "--version"):
            argv += ["-b", self.bootstrap]
        return argv

    def environ(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("RAFTBROKER_BROKERS", None)
        env.update(self.env)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        return env

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """Start a command and leave it running (a consumer in a group, say)."""
        return subprocess.Popen(
            self.argv(args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            env=self.environ(),
            cwd=REPO_ROOT,
        )

    def __call__(self, *args: str, stdin: str | None = None, expect: int | None = 0) -> Result:
        proc = subprocess.run(
            self.argv(args),
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            env=self.environ(),
            timeout=self.timeout_s,
            cwd=REPO_ROOT,
        )
        result = Result(tuple(args), proc.returncode, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, str(result)
        if expect is not None:
            assert proc.returncode == expect, str(result)
        return result
