"""compat/MATRIX.md names the commit it was made at, and knows when it is stale."""

from __future__ import annotations

import subprocess
from pathlib import Path

from compat import matrix


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _commit(repo: Path, message: str, **files: str) -> str:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", message)
    return _git(repo, "rev-parse", "HEAD")


def _repo(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    head = _commit(repo, "first", **{"broker/a.py": "1\n", "docs/x.md": "x\n"})
    return repo, head


def _write_matrix(repo: Path, commit_of: matrix.Provenance) -> Path:
    path = repo / "compat" / "MATRIX.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(matrix.render(matrix.Matrix(), commit_of.header("now")))
    return path


def test_provenance_names_the_full_commit_and_the_dirty_files(tmp_path: Path) -> None:
    repo, head = _repo(tmp_path)
    clean = matrix.provenance(repo)
    assert clean is not None and clean.commit == head and clean.dirty == ()
    assert f"at commit `{head}` (first)" in clean.header("now")[0]
    _commit(repo, "results", **{"compat/suites/results/x.md": "r\n"})
    (repo / "broker" / "a.py").write_text("2\n")
    (repo / "compat" / "suites" / "results" / "x.md").write_text("r2\n")  # generated: ignored
    dirty = matrix.provenance(repo)
    assert dirty is not None and dirty.dirty == ("broker/a.py",)


def test_check_flags_code_changed_after_the_named_commit(tmp_path: Path) -> None:
    repo, _head = _repo(tmp_path)
    made_at = matrix.provenance(repo)
    assert made_at is not None
    path = _write_matrix(repo, made_at)
    _commit(repo, "the matrix")
    assert matrix.check(path, repo) == []
    _commit(repo, "docs only", **{"docs/x.md": "y\n"})
    assert matrix.check(path, repo) == []  # nothing the matrix depends on
    _commit(repo, "broker change", **{"broker/a.py": "3\n"})
    [problem] = matrix.check(path, repo)
    assert (
        problem.startswith(f"changed after {made_at.commit[:12]}: ") and "broker change" in problem
    )
    (repo / "broker" / "a.py").write_text("4\n")
    assert matrix.check(path, repo)[-1] == "uncommitted changes: broker/a.py"


def test_check_needs_a_full_commit_hash(tmp_path: Path) -> None:
    repo, _head = _repo(tmp_path)
    path = repo / "MATRIX.md"
    path.write_text("at commit `4f2f265 compat: something`\n")
    assert matrix.check(path, repo) == ["MATRIX.md names no full commit hash"]
