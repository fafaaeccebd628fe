"""The client-by-feature matrix: outcomes in, markdown out.

The conftest feeds this one report per test phase; ``render`` turns the
collected outcomes into ``compat/MATRIX.md``: one row per feature (in the
order of ``compat.features.FEATURES``), one column per client, each cell
``pass``, ``FAIL``, ``skip``, ``n/a`` (the client cannot do it; the reason
is listed under the table) or ``not run``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from compat.features import FEATURES

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
