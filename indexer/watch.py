"""Keep indexes fresh while people work: filesystem events, filtered, debounced and coalesced
into the same `update_index` calls `repoqa index` makes.

    events (watchdog thread) ──note──▶ pending paths per root ──debounce──▶ update_index(paths)
                                                                          └─▶ after_update hooks

An editor's save (write a temporary file, rename it over the original) and a `git checkout`
touching thousands of files each become one update. Anything that can lose events (the
kernel queue overflowing, the watched root deleted and recreated) turns into a rescan of the
whole tree by content hash, which re-parses only what differs; so does a branch switch and,
as a safety net, the passage of `rescan_every_s`. While paths are pending, the state file
says so: the index never claims to be fresh when it is not.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from .errors import IndexerError, IndexLocked
from .lock import WriterLock
from .options import IndexOptions
from .scan import _PRUNE_DIRS, IGNORE_FILES, INDEX_DIR
from .update import DerivedIndex, IndexSummary, index_dir_for, update_index

log = logging.getLogger(__name__)

WATCH_LOCK = "watch.lock"
STATE_FILE = "watch.json"
PID_FILE = "watch.pid"


@dataclass(frozen=True, slots=True)
class WatchOptions:
    debounce_s: float = 0.05  # a burst of events ends after this much quiet
    max_delay_s: float = 0.5  # ... or this long after its first event, whichever is first
    rescan_over: int = 1000  # more pending paths than this: rescan the tree instead
    rescan_every_s: float = 600.0  # a full rescan this often, against events lost unnoticed
    retry_s: float = 1.0  # after a failed update (the index locked by `repoqa index`, ...)
    lock_timeout_s: float = 0.5  # how long an update waits for another writer per try


_LET_GO: dict = {}  # what `_next_batch` returns when removed roots wait (never filled)

AfterUpdate = Callable[[Path, IndexSummary], None]
"""Called after each committed update of a root (vectors, server caches); runs on the
watcher's thread, so the next update waits for it."""


@dataclass
class _Pending:
    paths: set[str] = field(default_factory=set)
    full: bool = False  # rescan the whole tree (events lost, branch switch, too many paths)
    first: float = 0.0  # monotonic time of the first and last event of the burst
    last: float = 0.0


class Watcher:
    """Watches roots (each already indexed or not) and keeps their indexes fresh. Roots can
    be added and removed while it runs (`add_root`, `remove_root`), from any thread."""

    def __init__(self, roots: dict[Path, IndexOptions], *, watch: WatchOptions | None = None,
                 derived: Sequence[DerivedIndex] = (), after_update: Sequence[AfterUpdate] = (),
                 idle: Sequence[Callable[[Path], float | None]] = ()):
        # Replaced whole, never changed in place: a loop over it sees one set of roots while
        # another thread adds or removes one.
        self.roots = {Path(r).resolve(): o for r, o in roots.items()}
        self.watch = watch or WatchOptions()
        self.derived = tuple(derived)
        self.after_update = tuple(after_update)
        # idle hooks: work done in slices while no event is pending (embedding); each
        # returns the seconds until it wants another turn, or None when it is done
        self.idle = tuple(idle)
        self._cond = threading.Condition()
        self._pending: dict[Path, _Pending] = {}
        self._missing: set[Path] = set()
        self._stop = False
        self._observer = None
        self._watches: dict[Path, object] = {}
        self._inodes: dict[Path, int] = {}  # of each root when its watch was made
        self._failures: dict[Path, int] = {}  # failed updates in a row, for the backoff
        self._locks: list[WriterLock] = []
        self._roots_lock = threading.RLock()  # roots, their watch locks and observer watches
        self._leaving: dict[Path, threading.Event] = {}  # removed roots the loop has yet to let go of
        self._closed = False
        self._last_full: dict[Path, float] = {}
        self._state: dict[Path, dict] = {}
        self.updates = 0  # committed updates, for tests and benchmarks

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Take each index's watch lock, bring each index up to date, start observing."""
        from watchdog.observers import Observer

        with self._roots_lock:
            try:
                for root in self.roots:
                    self._relock(root)
                _OverflowLog.install(self)
                self._observer = Observer()
                for root in self.roots:
                    self._begin(root)
                self._observer.start()
            except BaseException:  # nothing half-started: no lock, no pid file left behind
                _OverflowLog.uninstall(self)
                for lock in self._locks:
                    (lock.path.parent / PID_FILE).unlink(missing_ok=True)
                self._release()
                self._observer = None
                raise

    def _begin(self, root: Path) -> None:
        """Observe a root whose watch lock is held, and queue its first update: a whole scan,
        picking up what changed while nothing watched it."""
        self._schedule(root)
        self._state[root] = {"pid": os.getpid(), "started_ns": time.time_ns(), "state": "starting",
                             "pending": 0, "oldest_pending_ns": 0, "last_update_ns": 0, "last_error": ""}
        self._set_state(root, pending=1)  # `repoqa status` says so before the first update
        with self._cond:
            self._pending[root] = _Pending(full=True, first=time.monotonic(), last=0.0)
            self._cond.notify_all()

    def add_root(self, root: Path, options: IndexOptions) -> bool:
        """Watch one more root, while running or before `start`. Its watch lock is taken
        here (IndexLocked when another watcher holds it); its first update, a whole scan,
        follows on the watcher's thread. False when it is watched already (or the watcher
        is closed)."""
        root = Path(root).resolve()
        with self._roots_lock:
            if self._closed or root in self.roots:
                return False
            if self._observer is None:  # `start` takes it with the others
                self.roots = {**self.roots, root: options}
                return True
            left = self._leaving.pop(root, None)
            if left is None:
                self._relock(root)
            else:  # removed a moment ago and not let go of yet: its lock is still ours
                left.set()
            self.roots = {**self.roots, root: options}
            try:
                self._begin(root)
            except BaseException:
                self.roots = {r: o for r, o in self.roots.items() if r != root}
                self._unlock(root)
                raise
        return True

    def remove_root(self, root: Path, timeout: float = 30.0) -> bool:
        """Stop watching a root, from any thread: its pending changes are dropped, and an
        update of it already under way finishes. Returns once the watcher's thread has let
        go of it (its watch lock, pid file and hooks' work; or after `timeout` seconds, when
        that update is still running). False when it was not watched."""
        root = Path(root).resolve()
        with self._roots_lock:
            if root not in self.roots:
                return False
            self.roots = {r: o for r, o in self.roots.items() if r != root}
            # Under the lock: watchdog takes two watches of one path for one, so a late
            # unschedule would take away the watch of the same root added back meanwhile.
            self._unschedule(root)
            if self._observer is None or self._closed:
                return True
            done = self._leaving[root] = threading.Event()
        with self._cond:
            self._pending.pop(root, None)
            self._missing.discard(root)
            self._cond.notify_all()  # the loop wakes to let go of it
            if self._stop:  # no loop to do it: `close` will
                return True
        done.wait(timeout)
        return True

    def _unschedule(self, root: Path) -> None:
        watch = self._watches.pop(root, None)
        if watch is not None and self._observer is not None:
            try:
                self._observer.unschedule(watch)
            except (KeyError, OSError):
                pass

    def _let_go(self) -> None:
        """On the watcher's thread (or at close): the removed roots' locks, pid files, state
        and hooks' work let go of, now that no update of them is running. Each under the
        roots' lock, so that one added back meanwhile is either still ours (left alone) or
        let go of whole before it is taken again."""
        with self._roots_lock:
            leaving, self._leaving = self._leaving, {}
        for root, done in leaving.items():
            with self._roots_lock:
                if root not in self.roots:  # else added back meanwhile: still ours
                    self._drop(root)
                    (index_dir_for(root) / PID_FILE).unlink(missing_ok=True)
                    self._unlock(root)
            done.set()

    def _drop(self, root: Path, **state: object) -> None:
        """What the watcher keeps of a root it no longer watches, let go of: its observer
        watch, its state (written `stopped` unless another watcher has the file now:
        `state=None`), its counters and its hooks' work."""
        self._unschedule(root)  # one an update under way made again
        if state.get("state", "stopped") is not None:
            self._set_state(root, **{"state": "stopped", "pending": 0, "oldest_pending_ns": 0, **state})
        for table in (self._state, self._last_full, self._inodes, self._failures):
            table.pop(root, None)
        with self._cond:
            self._missing.discard(root)
            self._pending.pop(root, None)
        for forget in self._hook_methods("forget"):
            try:
                forget(root)
            except Exception:  # noqa: BLE001 -- one hook must not keep the root half-held
                log.exception("letting go of %s in a watcher hook failed", root)

    def _hook_methods(self, name: str) -> list[Callable]:
        """Each hook's method `name`, once per object (one may be both idle and after_update)."""
        found = {}
        for hook in (*self.idle, *self.after_update):
            method = getattr(hook, name, None)
            if method is not None:
                found.setdefault(id(hook), method)
        return list(found.values())

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def close(self) -> None:
        """Stop observing, close the hooks that have a `close` (vectors flush their store),
        say so in the state file and let go of the locks."""
        with self._roots_lock:
            self._closed = True
            observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
        _OverflowLog.uninstall(self)
        self._let_go()
        for root in self.roots:
            self._set_state(root, state="stopped", pending=0, oldest_pending_ns=0)
            (index_dir_for(root) / PID_FILE).unlink(missing_ok=True)
        for close in self._hook_methods("close"):
            try:
                close()
            except Exception:  # one hook failing to close must not keep the others open
                log.exception("closing a watcher hook failed")
        self._release()

    def _release(self) -> None:
        with self._roots_lock:
            for lock in self._locks:
                lock.__exit__(None, None, None)
            self._locks = []

    def run(self) -> None:
        """Work until `stop()`: the debounce loop, and the idle hooks' slices (embedding)
        while no event is pending. Blocks; the observer runs on its own thread."""
        idle_at: float | None = 0.0 if self.idle else None  # when the idle hooks want a turn
        while True:
            batch = self._next_batch(idle_at)
            if batch is None:
                self._let_go()  # removals that came with the stop
                return
            if batch is _LET_GO:
                self._let_go()
                continue
            for root, pending in batch.items():
                self._update(root, pending)
                idle_at = 0.0 if self.idle else None
            if not batch:
                delay = self._run_idle()
                idle_at = None if delay is None else time.monotonic() + delay

    # -- events (watchdog's thread) ------------------------------------------------------

    def _schedule(self, root: Path) -> None:
        from watchdog.events import FileSystemEventHandler

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                watcher._on_event(root, event)

        try:
            self._inodes[root] = os.stat(root).st_ino
            self._watches[root] = self._observer.schedule(Handler(), str(root), recursive=True)
        except OSError as exc:  # the root is gone; polled until it comes back
            log.warning("cannot watch %s: %s", root, exc)
            self._missing.add(root)

    def _on_event(self, root: Path, event) -> None:
        kind = event.event_type
        if kind in ("opened", "closed_no_write") or (kind == "modified" and event.is_directory):
            return
        paths = [event.src_path] + ([event.dest_path] if getattr(event, "dest_path", "") else [])
        for raw in paths:
            path = os.fsdecode(raw)
            if path == str(root):
                if kind in ("deleted", "moved"):
                    self.lost(root, missing=True)
                continue
            if not path.startswith(str(root) + os.sep):
                continue
            rel = path[len(str(root)) + 1:].replace(os.sep, "/")
            self._note(root, rel)

    def _note(self, root: Path, rel: str) -> None:
        parts = rel.split("/")
        if parts[0] == INDEX_DIR:
            return
        if parts[0] == ".git":
            # HEAD moves on a branch switch: rescan. A commit moves a branch ref: the
            # snapshot stamp must follow, which an update without paths does.
            if rel in (".git/HEAD", ".git/info/exclude"):
                self._add(root, None, full=True)
            elif rel.startswith(".git/refs/heads/") or rel == ".git/packed-refs":
                self._add(root, None)
            return
        if any(p in _PRUNE_DIRS for p in parts[:-1]) or parts[-1] in _PRUNE_DIRS:
            return
        # A change of ignore rules changes which files count anywhere below: rescan.
        self._add(root, rel, full=parts[-1] in IGNORE_FILES)

    def _add(self, root: Path, rel: str | None, full: bool = False) -> None:
        now = time.monotonic()
        with self._cond:
            if root not in self.roots:  # an event late for a root removed meanwhile
                return
            p = self._pending.get(root)
            if p is None:
                p = self._pending[root] = _Pending(first=now)
            if rel is not None:
                p.paths.add(rel)
            p.full |= full or len(p.paths) > self.watch.rescan_over
            if p.full:
                p.paths.clear()
            p.last = now
            self._cond.notify_all()

    def lost(self, root: Path, missing: bool = False) -> None:
        """Events were lost (or the root itself vanished): the next update rescans."""
        if missing:
            with self._cond:
                self._missing.add(root)
        self._add(root, None, full=True)

    # -- the debounce loop -----------------------------------------------------------------

    def _next_batch(self, idle_at: float | None) -> dict[Path, _Pending] | None:
        """The bursts that are over (quiet for `debounce_s`, or older than `max_delay_s`);
        {} when nothing is pending and the idle hooks are due (monotonic `idle_at`);
        _LET_GO when a removed root waits to be let go of; None once stopped."""
        with self._cond:
            while not self._stop:
                if self._leaving:
                    return _LET_GO
                now = time.monotonic()
                ready, wait = {}, self.watch.rescan_every_s
                for root, p in self._pending.items():
                    due = min(p.last + self.watch.debounce_s, p.first + self.watch.max_delay_s)
                    if root in self._missing and not root.is_dir():
                        due = max(due, now + 0.5)  # poll for the root to come back
                    if due <= now:
                        ready[root] = p
                    else:
                        wait = min(wait, due - now)
                for root in ready:
                    del self._pending[root]
                for root in self.roots:  # the safety rescan
                    last = self._last_full.get(root, now)
                    if now - last >= self.watch.rescan_every_s and root not in ready:
                        ready[root] = _Pending(full=True, first=now, last=now)
                    else:
                        wait = min(wait, self.watch.rescan_every_s - (now - last))
                if ready:
                    return ready
                if idle_at is not None and not self._pending:
                    if idle_at <= now:
                        return {}
                    wait = min(wait, idle_at - now)
                for root, p in self._pending.items():  # `repoqa status` shows what waits
                    st = self._state.get(root, {})
                    count = max(len(p.paths), 1)
                    if st.get("pending") != count or st.get("state") == "idle":
                        self._set_state(root, pending=count,
                                        state="pending" if st.get("state") in (None, "idle") else st["state"])
                self._cond.wait(timeout=max(wait, 0.005))
            return None

    def _run_idle(self) -> float | None:
        """One slice of each idle hook on each root: the soonest any wants another turn
        (seconds), or None when none has anything left to do."""
        soonest: float | None = None
        for hook in self.idle:
            for root in self.roots:
                with self._cond:
                    if self._pending or self._stop:
                        return 0.0
                try:
                    delay = hook(root)
                except IndexLocked:
                    delay = self.watch.retry_s
                except Exception:  # a failing hook must not stop the watcher
                    log.exception("background work on %s failed", root)
                    delay = None
                if delay is not None:
                    soonest = delay if soonest is None else min(soonest, delay)
        return soonest

    def _update(self, root: Path, pending: _Pending) -> None:
        options = self.roots.get(root)
        if options is None:  # removed since its changes were taken
            return
        try:
            ino = os.stat(root).st_ino
        except OSError:  # the root is gone (with its index): poll until it is back
            with self._cond:
                self._missing.add(root)
            self._add(root, None, full=True)
            self._state.setdefault(root, {})["state"] = "root missing"
            return
        options = replace(options, lock_timeout=self.watch.lock_timeout_s)
        try:
            if root in self._missing or ino != self._inodes.get(root) or not self._lock_current(root):
                # Back, replaced by another directory of the same name, or its index
                # directory deleted: a new lock file, a new watch, and only a whole scan
                # knows what the tree holds.
                with self._roots_lock:
                    if root not in self.roots:  # removed meanwhile
                        return
                    with self._cond:
                        self._missing.discard(root)
                    self._relock(root)
                    self._reschedule(root)
                pending.full = True
            self._set_state(root, state="updating")
            summary = update_index(root, options,
                                   derived=self.derived, paths=None if pending.full else sorted(pending.paths))
        except IndexLocked as exc:
            if "watching" in str(exc):  # another watcher took the index while ours was gone
                log.error("%s", exc)
                with self._roots_lock:  # that root is its now (its state file too); the others go on
                    self.roots = {r: o for r, o in self.roots.items() if r != root}
                    self._drop(root, state=None)
                    self._unlock(root)
                    if not self.roots:
                        self.stop()
                return
            self._requeue(root, pending, "waiting for another writer")
            return
        except Exception as exc:
            # Logged once per kind of failure; retried as a whole scan, later each time.
            why = f"{type(exc).__name__}: {exc}"
            if why != self._state.get(root, {}).get("last_error"):
                log.warning("updating %s failed: %s", root, why, exc_info=not isinstance(exc, (IndexerError, OSError)))
            self._failures[root] = self._failures.get(root, 0) + 1
            self._requeue(root, pending, why, full=True, delay=min(60.0, self.watch.retry_s * 2 ** self._failures[root]))
            return
        self._failures.pop(root, None)
        if root not in self.roots:  # removed during the update: `_let_go` says it stopped
            return
        if pending.full:
            self._last_full[root] = time.monotonic()
        self.updates += 1
        for hook in self.after_update:
            try:
                hook(root, summary)
            except IndexLocked:
                pass  # the idle hooks finish it
            except Exception:
                log.exception("after-update hook on %s failed", root)
        with self._cond:
            left = self._pending.get(root)
        self._set_state(root, state="pending" if left else "idle", pending=len(left.paths) if left else 0,
                        oldest_pending_ns=time.time_ns() - int((time.monotonic() - left.first) * 1e9) if left else 0,
                        last_update_ns=time.time_ns(), last_error="",
                        last_update={"files_parsed": summary.files_parsed, "files_removed": summary.files_removed,
                                     "seconds": summary.seconds, "snapshot": summary.snapshot})

    def _requeue(self, root: Path, pending: _Pending, why: str, full: bool = False,
                 delay: float | None = None) -> None:
        later = time.monotonic() + (self.watch.retry_s if delay is None else delay)
        with self._cond:
            if root not in self.roots:
                return
            p = self._pending.setdefault(root, _Pending(first=later, last=later))
            p.paths |= pending.paths
            p.full |= pending.full or full
            p.first = max(p.first, later - self.watch.max_delay_s)
            p.last = max(p.last, later - self.watch.debounce_s)
        self._set_state(root, state="retrying", last_error=why, pending=max(len(pending.paths), 1))

    def _lock_current(self, root: Path) -> bool:
        """Whether the watch lock we hold is still the index's lock file (not one whose
        directory was deleted under us)."""
        index_dir = index_dir_for(root)
        with self._roots_lock:
            for lock in self._locks:
                if lock.path.parent == index_dir:
                    return lock.is_current()
        return False

    def _unlock(self, root: Path) -> None:
        index_dir = index_dir_for(root)
        with self._roots_lock:
            for lock in list(self._locks):
                if lock.path.parent == index_dir:
                    lock.__exit__(None, None, None)
                    self._locks.remove(lock)

    def _relock(self, root: Path) -> None:
        with self._roots_lock:
            self._unlock(root)
            lock = WriterLock(index_dir_for(root), timeout=0.0, name=WATCH_LOCK,
                              what="already watching this repository", hint="stop that watcher first")
            lock.__enter__()
            self._locks.append(lock)
            (index_dir_for(root) / PID_FILE).write_text(f"{os.getpid()}\n")

    def _reschedule(self, root: Path) -> None:
        self._unschedule(root)
        self._schedule(root)

    # -- the state file `repoqa status` reads ------------------------------------------

    def _set_state(self, root: Path, **changes: object) -> None:
        st = self._state.setdefault(root, {"pid": os.getpid()})
        if changes.get("pending") and not st.get("oldest_pending_ns"):
            changes.setdefault("oldest_pending_ns", time.time_ns())
        if changes.get("pending") == 0:
            changes["oldest_pending_ns"] = 0
        st.update(changes)
        write_state(index_dir_for(root), st)


def write_state(index_dir: Path, state: dict) -> None:
    """The watcher's state for `repoqa status` (replaced whole, never torn)."""
    path = index_dir / STATE_FILE
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(state))
        os.replace(tmp, path)
    except OSError as exc:  # the index directory vanished with the root: nothing to tell
        log.debug("cannot write %s: %s", path, exc)


def read_state(index_dir: Path) -> dict | None:
    """The state of the watcher of this index, if one is running (its lock is held)."""
    from .lock import holder_pid

    pid = holder_pid(index_dir, WATCH_LOCK)
    if pid is None:
        return None
    try:
        state = json.loads((index_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        state = {}
    state["pid"] = pid
    return state


class _OverflowLog(logging.Handler):
    """watchdog recovers its own watches when the kernel's event queue overflows, and says
    so only in its log: that line is our signal that events were lost."""

    _watchers: ClassVar[list[Watcher]] = []
    _installed: ClassVar[_OverflowLog | None] = None

    @classmethod
    def install(cls, watcher: Watcher) -> None:
        cls._watchers.append(watcher)
        if cls._installed is None:
            cls._installed = cls(logging.WARNING)
            logging.getLogger("watchdog.observers").addHandler(cls._installed)

    @classmethod
    def uninstall(cls, watcher: Watcher) -> None:
        if watcher in cls._watchers:
            cls._watchers.remove(watcher)

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            for w in list(self._watchers):
                for root in w.roots:
                    w.lost(root)
