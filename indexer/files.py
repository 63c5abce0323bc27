"""Durable file writes: fsync a path, and write-to-.tmp-then-rename; a file's sha256; where
repoqa caches what it derives from installed models."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path


def cache_home(env: Mapping[str, str] | None = None) -> Path:
    """$REPOQA_CACHE, else $XDG_CACHE_HOME/repoqa, else ~/.cache/repoqa."""
    env = os.environ if env is None else env
    if env.get("REPOQA_CACHE"):
        return Path(env["REPOQA_CACHE"]).expanduser()
    base = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "repoqa"


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (after a rename, the directory holds the new name)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through `write(tmp_path)`, fsync, and rename over `path`: readers see the old
    file or the new one, never a torn one."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(path.parent)


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, read a megabyte at a time."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
