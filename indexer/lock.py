"""The single-writer lock of an index: an flock on a file, released by the kernel on any exit."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from .errors import IndexLocked

LOCK_NAME = "write.lock"


class WriterLock:
    """Held while a process writes an index; a second writer waits up to `timeout` then fails.

    flock dies with its process, so a `kill -9` never leaves a stale lock behind.
    """

    def __init__(self, index_dir: Path, timeout: float = 0.0, *, name: str = LOCK_NAME,
                 what: str = "writing the index", hint: str = "wait for it to finish"):
        self.path = index_dir / name
        self.timeout = timeout
        self.what, self.hint = what, hint  # for the message a second process gets
        self._fd: int | None = None

    def __enter__(self) -> "WriterLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read(fd)
                    os.close(fd)
                    raise IndexLocked(
                        f"another repoqa process{f' (pid {holder})' if holder else ''} is {self.what} "
                        f"in {self.path.parent}; {self.hint}") from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def is_current(self) -> bool:
        """Whether the file we hold locked is still the one at our path (the directory
        may have been deleted and recreated under us)."""
        if self._fd is None:
            return False
        try:
            return os.fstat(self._fd).st_ino == os.stat(self.path).st_ino
        except OSError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def holder_pid(index_dir: Path, name: str = LOCK_NAME) -> int | None:
    """The pid of the process holding the lock `name` (by default: writing the index), or None."""
    path = index_dir / name
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read(fd)
            return int(pid) if pid.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
