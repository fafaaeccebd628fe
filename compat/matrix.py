"""The client-by-feature matrix: outcomes in, markdown out.

The conftest feeds this one report per test phase; ``render`` turns the
collected outcomes into ``compat/MATRIX.md``: one row per feature (in the
order of ``compat.features.FEATURES``), one column per client, each cell
``pass``, ``FAIL``, ``skip``, ``n/a`` (the client cannot do it; the reason
is listed under the table) or ``not run``.

The matrix says which commit it was made at (``provenance``): the full hash
and its subject. It is only written to ``compat/MATRIX.md`` from a clean tree
(no uncommitted change to a tracked file, generated reports aside), so that
the commit it names is the code that ran. ``python -m compat.matrix --check``
fails when broker or compat code changed after that commit (the matrix is
stale: rerun ``pytest compat`` and commit the result).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from compat.features import FEATURES

REPO_ROOT = Path(__file__).resolve().parent.parent
MATRIX_PATH = REPO_ROOT / "compat" / "MATRIX.md"
# What the matrix depends on, and the generated files that do not count.
CODE_PATHS = ("broker", "compat", "pyproject.toml")
GENERATED = ("compat/MATRIX.md", "compat/suites/results")
_NAMED = re.compile(r"at commit `(?P<commit>[0-9a-f]{40})")

CLIENT_ORDER = ("kafka-python", "aiokafka", "confluent-kafka", "kcat", "kafkajs")

# Worst first: a cell shows the worst outcome of its tests.
_RANK = {"FAIL": 0, "skip": 1, "not run": 2, "pass": 3}


@dataclass
class Matrix:
    # (client, feature) -> node ids of the tests that prove it
    tests: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # node id -> "pass" | "FAIL" | "skip"
    outcomes: dict[str, str] = field(default_factory=dict)
    # node id -> one line saying why it failed or was skipped
    reasons: dict[str, str] = field(default_factory=dict)
    # (client, feature) -> why the client cannot do it
    unsupported: dict[tuple[str, str], str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def add_test(self, client: str, feature: str, nodeid: str) -> None:
        self.tests.setdefault((client, feature), []).append(nodeid)

    def record(self, nodeid: str, when: str, outcome: str, reason: str | None) -> None:
        """One phase report (``when``: setup/call/teardown; pytest's outcome names)."""
        if outcome == "passed":
            if when == "call":
                self.outcomes.setdefault(nodeid, "pass")
            return
        result = "skip" if outcome == "skipped" else "FAIL"
        current = self.outcomes.get(nodeid)
        if current is None or _RANK[result] < _RANK[current]:
            self.outcomes[nodeid] = result
            if reason:
                self.reasons[nodeid] = reason

    def cell(self, client: str, feature: str) -> str:
        if (client, feature) in self.unsupported:
            return "n/a"
        nodeids = self.tests.get((client, feature))
        if not nodeids:
            return ""
        return min((self.outcomes.get(n, "not run") for n in nodeids), key=_RANK.__getitem__)

    def clients(self) -> list[str]:
        seen = {c for c, _ in self.tests} | {c for c, _ in self.unsupported}
        return [c for c in CLIENT_ORDER if c in seen] + sorted(seen - set(CLIENT_ORDER))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for client in self.clients():
            for feature in FEATURES:
                value = self.cell(client, feature)
                if value:
                    out[value] = out.get(value, 0) + 1
        return out


def render(matrix: Matrix, header_lines: Sequence[str], reason_width: int = 200) -> str:
    clients = matrix.clients()
    lines = ["# Compatibility matrix", "", *header_lines, ""]
    if matrix.versions:
        lines += [
            "Clients: "
            + ", ".join(f"{c} {matrix.versions[c]}" for c in clients if c in matrix.versions)
            + ".",
            "",
        ]
    counts = matrix.counts()
    lines += ["Cells: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + ".", ""]
    lines += ["| feature | " + " | ".join(clients) + " |"]
    lines += ["|---|" + "---|" * len(clients)]
    for feature in FEATURES:
        cells = [matrix.cell(c, feature) for c in clients]
        if any(cells):
            lines.append(f"| {feature} | " + " | ".join(cells) + " |")
    lines.append("")
    if matrix.unsupported:
        lines += ["## n/a: what a client cannot do", ""]
        for (client, feature), why in sorted(matrix.unsupported.items(), key=_client_feature_key):
            lines.append(f"- {client}, {feature}: {why}")
        lines.append("")
    failures = _reasons(matrix, "FAIL", reason_width)
    if failures:
        lines += ["## Failures (first line of each)", "", *failures, ""]
    skips = _reasons(matrix, "skip", reason_width)
    if skips:
        lines += ["## Skips", "", *skips, ""]
    lines += ["Features are described in docs/compat.md.", ""]
    return "\n".join(lines)


def _client_feature_key(item: tuple[tuple[str, str], str]) -> tuple[int, int]:
    (client, feature), _ = item
    client_rank = CLIENT_ORDER.index(client) if client in CLIENT_ORDER else len(CLIENT_ORDER)
    feature_rank = list(FEATURES).index(feature) if feature in FEATURES else len(FEATURES)
    return (client_rank, feature_rank)


def _reasons(matrix: Matrix, outcome: str, width: int) -> list[str]:
    out = []
    items: Mapping[tuple[str, str], list[str]] = matrix.tests
    for (client, feature), nodeids in sorted(
        items.items(), key=lambda kv: _client_feature_key((kv[0], ""))
    ):
        for nodeid in nodeids:
            if matrix.outcomes.get(nodeid) != outcome:
                continue
            reason = " ".join(matrix.reasons.get(nodeid, "").split())
            if len(reason) > width:
                reason = reason[: width - 3] + "..."
            out.append(f"- {client}, {feature}: {reason or '(no message)'}")
    return out


# -- provenance -----------------------------------------------------------------------


@dataclass(frozen=True)
class Provenance:
    commit: str  # full hash of HEAD
    subject: str
    dirty: tuple[str, ...]  # tracked files with uncommitted changes (generated ones aside)

    def header(self, stamp: str) -> list[str]:
        return [
            f"Generated by the compat suite (`.venv/bin/pytest compat`) on {stamp}, "
            f"at commit `{self.commit}` ({self.subject}).",
            "A cell is the worst outcome of the tests that prove the feature for that client.",
        ]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=True
    ).stdout


def provenance(repo: Path = REPO_ROOT) -> Provenance | None:
    """HEAD and the tracked files that differ from it; None outside a git checkout."""
    try:
        commit, _, subject = _git(repo, "log", "-1", "--format=%H %s").strip().partition(" ")
        status = _git(repo, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    dirty = []
    for line in status.splitlines():
        path = line[3:].split(" -> ")[-1]
        if not any(path == g or path.startswith(g + "/") for g in GENERATED):
            dirty.append(path)
    return Provenance(commit, subject, tuple(dirty))


def named_commit(text: str) -> str | None:
    match = _NAMED.search(text)
    return match.group("commit") if match else None


def changes_since(commit: str, repo: Path = REPO_ROOT) -> list[str]:
    """Commits after ``commit`` that touch the code the matrix depends on."""
    excludes = [f":(exclude){g}" for g in GENERATED]
    out = _git(repo, "log", "--format=%h %s", f"{commit}..HEAD", "--", *CODE_PATHS, *excludes)
    return out.splitlines()


def check(path: Path = MATRIX_PATH, repo: Path = REPO_ROOT) -> list[str]:
    """Why the matrix at ``path`` is not the result of the checked-out code (empty: it is)."""
    commit = named_commit(path.read_text())
    if commit is None:
        return [f"{path.name} names no full commit hash"]
    try:
        later = changes_since(commit, repo)
    except subprocess.CalledProcessError as exc:
        return [f"{path.name} names {commit[:12]}, which git does not know: {exc.stderr.strip()}"]
    problems = [f"changed after {commit[:12]}: {line}" for line in later]
    current = provenance(repo)
    if current is not None and current.dirty:
        problems.append("uncommitted changes: " + ", ".join(current.dirty))
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compat.matrix", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when MATRIX.md is stale")
    args = parser.parse_args(argv)
    if not args.check:
        parser.print_help()
        return 2
    problems = check()
    for problem in problems:
        print(f"compat/MATRIX.md is stale: {problem}")
    if not problems:
        print("compat/MATRIX.md was made at the checked-out code")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
