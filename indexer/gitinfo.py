"""What a repository's work tree is at: the commit and a digest of uncommitted changes."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .text import valid_text


@dataclass(frozen=True, slots=True)
class Snapshot:
    commit: str  # "" outside git or before the first commit
    dirty: bool  # uncommitted changes (tracked or untracked) were present
    digest: str  # stable digest of those changes as indexed; "" when clean

    def stamp(self) -> str:
        if not self.commit:
            return f"worktree@{self.digest[:12]}" if self.digest else "worktree"
        return f"{self.commit[:12]}+{self.digest[:12]}" if self.dirty else self.commit[:12]


def run_git(root: Path, *args: str) -> str | None:
    """stdout of a git command in `root`, or None when git fails or is missing."""
    try:
        res = subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.decode("utf-8", "surrogateescape") if res.returncode == 0 else None


def changed_paths(root: Path) -> list[str] | None:
    """Paths with uncommitted changes relative to HEAD (None outside git)."""
    out = run_git(root, "-c", "core.quotePath=off", "status", "--porcelain=v1", "-z", "--untracked-files=all",
               "--", ".")
    if out is None:
        return None
    paths = []
    fields = out.split("\0")
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":  # renames carry the old path in the next field
            paths.append(fields[i])
            i += 1
    # A name that is not UTF-8 (a file the scan leaves out) still marks the tree changed.
    return sorted({valid_text(p) for p in paths})


_UNSET: list[str] = []


def snapshot(root: Path, hashes: dict[str, str], changed: list[str] | None = _UNSET) -> Snapshot:
    """The snapshot of `root`, with `hashes` (path -> content hash as indexed) for the digest;
    `changed`: what `changed_paths(root)` returned, when the caller already asked git."""
    head = run_git(root, "rev-parse", "--verify", "-q", "HEAD")
    commit = head.strip() if head else ""
    if changed is _UNSET:
        changed = changed_paths(root)
    if changed is None:  # not a git work tree: the digest covers every file
        changed = sorted(hashes)
    h = hashlib.sha256()
    for p in changed:
        h.update(f"{p}\0{hashes.get(p, '-')}\n".encode("utf-8", "surrogateescape"))
    dirty = bool(changed) if commit else True
    return Snapshot(commit=commit, dirty=dirty, digest=h.hexdigest() if dirty else "")
