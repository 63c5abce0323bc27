"""Bring an index up to date with its work tree: the one update function every caller uses."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import posixpath
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from . import gitinfo
from .errors import IndexerError
from .languages import SHEBANG, header_language, language_of_script, queries_digest
from .lock import WriterLock
from .options import FORMAT_VERSION, IndexOptions, options_dict, options_hash
from .parse import parse_source
from .records import FileRecord, ParsedFile
from .scan import IGNORE_FILES, INDEX_DIR, ScanEntry, checked_root, scan, scan_paths, stamp_ns, storable_path
from .store import Store, db_path
from .text import content_hash

log = logging.getLogger(__name__)

# Files whose change stamp (scan.stamp_ns: mtime or ctime) is this close to the moment they
# were read may have changed within the filesystem's timestamp granularity after the read:
# their stat is not trusted.
RACY_NS = 2_000_000_000
# An update writing more files than this (or than half the index) loads in bulk.
BULK_FILES = 1000
_NUL_PROBE = 8000  # like git: a NUL byte in the first 8000 bytes means binary
_GENERATED_MARKERS = (b"@generated", b"DO NOT EDIT", b"Code generated")


ProgressFn = Callable[[str, int, int], None]
"""progress(stage, done, total): stages are "scan", "parse", "commit" (and "embed" in dense)."""


class DerivedIndex(Protocol):
    """An index computed from the store's rows (the graph), kept in step by `update_index`
    inside its transaction, so readers never see the files without it."""

    name: str

    def update(self, store: Store, root: Path, snapshot: gitinfo.Snapshot) -> dict[str, object]:
        """Bring it up to date with the store's current rows (`snapshot`: the commit and
        changes this update saw); returns a summary for --json."""
        ...


@dataclass
class IndexSummary:
    root: str
    files_seen: int = 0
    files_parsed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    files_skipped: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    files_with_syntax_errors: int = 0
    symbols: int = 0
    references: int = 0
    chunks: int = 0
    rebuilt: str = ""  # why the index was rebuilt from scratch, "" if it was not
    snapshot: str = ""
    derived: dict[str, dict[str, object]] = field(default_factory=dict)  # name -> its summary
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def index_dir_for(root: Path) -> Path:
    return root / INDEX_DIR


def update_index(root: Path, options: IndexOptions | None = None, *, rebuild: bool = False,
                 progress: ProgressFn | None = None,
                 derived: Sequence[DerivedIndex] = (), paths: Collection[str] | None = None,
                 ) -> IndexSummary:
    """Scan `root`, parse what changed, and commit the new state in one transaction.

    A no-op run reads no file whose size and change stamp (mtime, or a later ctime) are
    unchanged. An interrupted run (even `kill -9`) leaves the previous committed state;
    the next run completes it.
    `paths` (relative; a directory stands for everything under it) limits the scan to
    what a watcher saw change; the whole tree is scanned when the index is new or being
    rebuilt, or outside git, where only a whole walk knows the ignore rules.
    """
    options = options or IndexOptions()
    t0 = time.perf_counter()
    started_ns = time.time_ns()
    root = checked_root(root)
    progress = progress or (lambda stage, done, total: None)
    index_dir = index_dir_for(root)
    summary = IndexSummary(root=str(root))
    digest = queries_digest(tuple(options.languages))
    want_hash = options_hash(options, digest)

    with WriterLock(index_dir, timeout=options.lock_timeout):
        _ignore_index_dir(index_dir)
        fresh = not has_index(index_dir)
        store = Store.create_fresh(index_dir) if fresh else Store.open_writer(index_dir)
        published = False
        try:
            meta = store.meta()
            reason = _rebuild_reason(meta, want_hash, rebuild)
            progress("scan", 0, 0)
            entries = None
            scope = None
            wanted = _normalized(root, paths) if paths is not None and not reason else None
            if wanted is not None:
                entries = scan_paths(root, wanted, options)
                scope = set(wanted) if entries is not None else None
            if entries is None:
                entries = scan(root, options)
            summary.files_seen = len(entries)
            progress("scan", len(entries), len(entries))
            with store.transaction():
                if reason:
                    summary.rebuilt = reason
                    store.reset_schema()
                known = store.file_states(scope)
                _apply(store, root, options, entries, known, started_ns, summary, progress, scope)
                changed = gitinfo.changed_paths(root)
                snap = gitinfo.snapshot(root, _changed_hashes(store, changed), changed)
                for d in derived:
                    progress(d.name, 0, 1)
                    summary.derived[d.name] = d.update(store, root, snap)
                    progress(d.name, 1, 1)
                progress("commit", 0, 1)
                counts = store.counts()
                store.tidy_full_text(counts["chunks"])
                summary.symbols, summary.references, summary.chunks = (
                    counts["symbols"], counts["references"], counts["chunks"])
                summary.snapshot = snap.stamp()
                summary.seconds = round(time.perf_counter() - t0, 3)
                store.set_meta(
                    format_version=str(FORMAT_VERSION), options_hash=want_hash,
                    options=json.dumps(options_dict(options), sort_keys=True),
                    commit=snap.commit, dirty="1" if snap.dirty else "0", dirty_digest=snap.digest,
                    updated_ns=str(time.time_ns()), started_ns=str(started_ns),
                    last_summary=json.dumps(summary.to_json()),
                )
                if reason:
                    store.set_meta(created_ns=str(started_ns))
            if fresh:
                store.publish()
            published = True
            progress("commit", 1, 1)
        finally:
            if fresh and not published:
                store.discard()
            elif not fresh:
                store.close()
    summary.seconds = round(time.perf_counter() - t0, 3)
    return summary


def has_index(index_dir: Path) -> bool:
    """Whether a usable index exists (else the next one is built fresh, beside it)."""
    if not db_path(index_dir).is_file():
        return False
    try:
        store = Store.open_reader(index_dir)
    except IndexerError:
        return False
    store.close()
    return True


def _ignore_index_dir(index_dir: Path) -> None:
    gi = index_dir / ".gitignore"
    if not gi.exists():
        index_dir.mkdir(parents=True, exist_ok=True)
        gi.write_text("# repoqa's index: never commit it\n*\n")


def _rebuild_reason(meta: dict[str, str], want_hash: str, forced: bool) -> str:
    if not meta:
        return "new index"
    if forced:
        return "rebuild requested"
    if meta.get("format_version") != str(FORMAT_VERSION):
        return f"index format {meta.get('format_version')} != {FORMAT_VERSION}"
    if meta.get("options_hash") != want_hash:
        return "built with other options"
    return ""


def _changed_hashes(store: Store, changed: list[str] | None) -> dict[str, str]:
    """The indexed content hashes the snapshot digest covers: of the paths git sees
    changed, or of every file outside git."""
    if changed is None:
        return dict(store.conn.execute("SELECT path, content_hash FROM files"))
    return store.file_hashes(changed)


@dataclass(frozen=True, slots=True)
class _Task:
    path: str
    language: str
    known_hash: str  # the stored content hash, "" if none: equal content is not re-parsed
    size: int


@dataclass(frozen=True, slots=True)
class _Same:
    path: str
    size: int
    mtime_ns: int


def _apply(store: Store, root: Path, options: IndexOptions, entries: list[ScanEntry],
           known: dict[str, tuple], started_ns: int, summary: IndexSummary, progress: ProgressFn,
           scope: set[str] | None = None) -> None:
    """Apply a scan to the store. With `scope` (the paths a partial scan covered), only
    known files under those paths can be found removed."""
    skipped: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    tasks: list[_Task] = []
    seen = set()
    for e in entries:
        seen.add(e.path)
        old = known.get(e.path)
        if e.skip_reason:
            skipped[e.skip_reason] += 1
            if e.skip_reason == "vanished":
                seen.discard(e.path)
            elif (old is None or old.skip_reason != e.skip_reason or old.size != e.size
                  or old.mtime_ns != e.mtime_ns):
                rec = FileRecord(e.path, "", e.size, e.mtime_ns, "", 0, e.skip_reason, e.skip_detail)
                store.put_file(old.id if old else None, rec, started_ns, None)
            continue
        if (old is not None and old.size == e.size and old.mtime_ns == e.mtime_ns
                and old.mtime_ns + RACY_NS < old.indexed_ns):
            if not old.skip_reason:
                summary.files_unchanged += 1
                continue
            if old.language == e.language:  # skipped for its content, which has not changed
                skipped[old.skip_reason] += 1
                continue
        known_hash = old.content_hash if old is not None and not old.skip_reason else ""
        tasks.append(_Task(e.path, e.language, known_hash, e.size))

    for path, old in known.items():
        if path not in seen and (scope is None or _within(path, scope)):
            store.remove_file(old.id)
            summary.files_removed += 1

    total = len(tasks)
    bulk = total > max(BULK_FILES, len(known) // 2)
    if bulk:
        store.drop_indexes()
    progress("parse", 0, total)
    for done, result in enumerate(_run(root, options, tasks), 1):
        if isinstance(result, _Same):
            old = known[result.path]
            store.touch_file(old.id, result.size, result.mtime_ns, started_ns)
            summary.files_unchanged += 1
        else:
            rec = result.record if isinstance(result, ParsedFile) else result
            old = known.get(rec.path)
            if rec.skip_reason == "vanished":
                if old is not None:
                    store.remove_file(old.id)
                skipped["vanished"] += 1
            else:
                parsed = result if isinstance(result, ParsedFile) else None
                store.put_file(old.id if old else None, rec, started_ns, parsed)
                if rec.skip_reason:
                    skipped[rec.skip_reason] += 1
                else:
                    summary.files_parsed += 1
                    if parsed is not None and parsed.parse_errors:
                        summary.files_with_syntax_errors += 1
                for w in rec.warnings:
                    warnings[w] += 1
        progress("parse", done, total)
    store.create_indexes()  # after a bulk load; else only those an older version lacks
    summary.files_skipped = dict(sorted(skipped.items()))
    summary.warnings = dict(sorted(warnings.items()))


def _normalized(root: Path, paths: Collection[str]) -> list[str] | None:
    """`paths` as clean relative paths (`./a`, `d/../a`, absolute paths under root), or None
    when only a whole scan will do: the root itself, or an ignore file (its rules reach
    every file below it). Paths outside the root are dropped."""
    out = []
    for raw in paths:
        p = raw.replace(os.sep, "/")
        if os.path.isabs(p):
            try:
                p = Path(p).relative_to(root).as_posix()
            except ValueError:
                continue
        p = posixpath.normpath(p)
        if p in (".", ""):
            return None
        if p == ".." or p.startswith("../") or not storable_path(p):
            continue
        if p.rsplit("/", 1)[-1] in IGNORE_FILES:
            return None
        out.append(p)
    return sorted(set(out))


def _within(path: str, scope: set[str]) -> bool:
    """Whether `path` is one of `scope` or lies under one of them."""
    if path in scope:
        return True
    parts = path.split("/")
    return any("/".join(parts[:i]) in scope for i in range(1, len(parts)))


# -- parsing, in this process or in a pool -------------------------------------------

_worker_root: Path | None = None
_worker_options: IndexOptions | None = None


def _init_worker(root: Path, options: IndexOptions) -> None:
    global _worker_root, _worker_options
    _worker_root, _worker_options = root, options


def _work(task: _Task):
    assert _worker_root is not None and _worker_options is not None
    return process_file(_worker_root, task.path, task.language, task.known_hash, _worker_options)


def _workers(options: IndexOptions) -> int:
    if options.workers:
        return options.workers
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _run(root: Path, options: IndexOptions, tasks: list[_Task]) -> Iterator[object]:
    workers = _workers(options)
    if workers <= 1 or len(tasks) < options.parallel_threshold:
        _init_worker(root, options)
        yield from map(_work, tasks)
        return
    # fork is cheap and safe while this process runs no other thread; else forkserver.
    method = "fork" if threading.active_count() == 1 else "forkserver"
    ctx = multiprocessing.get_context(method)
    # Larger files first so the last task does not leave one core idle.
    order = sorted(tasks, key=lambda t: -t.size)
    with ctx.Pool(workers, initializer=_init_worker, initargs=(root, options)) as pool:
        yield from pool.imap_unordered(_work, order, chunksize=4)


def process_file(root: Path, rel: str, language: str, known_hash: str,
                 options: IndexOptions) -> ParsedFile | FileRecord | _Same:
    """Read one file and parse it, or say why not. Never raises for bad input."""
    full = root / rel
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        try:
            st = os.fstat(fd)
            size, mtime = st.st_size, stamp_ns(st)
            if not stat.S_ISREG(st.st_mode):
                return FileRecord(rel, "", size, mtime, "", 0, "not_regular", "")
            if size > options.max_file_bytes:
                return FileRecord(rel, "", size, mtime, "", 0, "too_large",
                                  f"{size:,} bytes > max_file_bytes {options.max_file_bytes:,}")
            data = _read_all(fd, options.max_file_bytes + 1)
        finally:
            os.close(fd)
    except FileNotFoundError:
        return FileRecord(rel, "", 0, 0, "", 0, "vanished", "deleted while indexing")
    except OSError as exc:
        reason = "symlink" if exc.errno == 40 else "unreadable"  # ELOOP: it became a symlink
        return FileRecord(rel, "", 0, 0, "", 0, reason, exc.strerror or str(exc))
    if len(data) > options.max_file_bytes:
        return FileRecord(rel, "", len(data), mtime, "", 0, "too_large", "grew while indexing")
    digest = content_hash(data)
    if known_hash and digest == known_hash:
        return _Same(rel, size, mtime)
    skip = _content_skip(data, options)
    if skip:
        return FileRecord(rel, language, size, mtime, digest, 0, *skip)
    if language == SHEBANG:
        language = language_of_script(data[:200].split(b"\n", 1)[0], options.languages)
        if not language:
            return FileRecord(rel, SHEBANG, size, mtime, digest, 0, "unsupported", "no extension and no #! line")
    language = header_language(rel, language, data, options.languages)
    warnings: list[str] = []
    if b"\0" in data:  # past the probe: keep the text, blank the NULs (offsets unchanged)
        data = data.replace(b"\0", b" ")
        warnings.append("nul_bytes")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        data = data.decode("utf-8", "replace").encode("utf-8")
        warnings.append("invalid_utf8")
    lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    rec = FileRecord(rel, language, size, mtime, digest, lines, "", "", tuple(warnings))
    try:
        return parse_source(rel, language, data, options, rec)
    except Exception as exc:  # a grammar bug must not stop the run: index it as text
        log.warning("parsing %s as %s failed (%s); indexed as text", rel, language, exc)
        rec = FileRecord(rel, "text", size, mtime, digest, lines, "", "", (*warnings, "parse_failed"))
        return parse_source(rel, "text", data, options, rec)


def _read_all(fd: int, limit: int) -> bytes:
    parts = []
    remaining = limit
    while remaining > 0:
        b = os.read(fd, min(remaining, 1 << 20))
        if not b:
            break
        parts.append(b)
        remaining -= len(b)
    return b"".join(parts)


def _content_skip(data: bytes, options: IndexOptions) -> tuple[str, str] | None:
    if b"\0" in data[:_NUL_PROBE]:
        return "binary", "NUL bytes in the first 8000 bytes"
    head = data[:1024]
    first_lines = head.split(b"\n", 5)[:5]
    if any(m in line for line in first_lines for m in _GENERATED_MARKERS):
        return "generated", "a generated-code marker in its first lines"
    if len(data) > 4096:
        n_lines = data.count(b"\n") + 1
        if len(data) / n_lines > options.max_avg_line_length:
            return "minified", f"average line of {len(data) // n_lines} bytes"
    return None

