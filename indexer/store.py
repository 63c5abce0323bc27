"""The SQLite store: files, symbols, references, chunks and their full-text index."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from .errors import IndexNotFound, StoreError
from .files import fsync_path
from .options import FORMAT_VERSION
from .records import Chunk, FileRecord, ParsedFile, Reference, Symbol
from .text import search_terms

DB_NAME = "index.db"
BUILDING_SUFFIX = ".building"
FTS_WEIGHTS = (2.0, 4.0, 1.0)  # path, symbols, body

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    language TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,  -- the change stamp: the later of mtime and ctime
    content_hash TEXT NOT NULL,
    lines INTEGER NOT NULL DEFAULT 0,
    skip_reason TEXT NOT NULL DEFAULT '',
    skip_detail TEXT NOT NULL DEFAULT '',
    warnings TEXT NOT NULL DEFAULT '',
    parse_errors INTEGER NOT NULL DEFAULT 0,
    indexed_ns INTEGER NOT NULL,
    terms INTEGER NOT NULL DEFAULT 0  -- the words file_terms counts in it (its BM25 length)
);
CREATE TABLE symbols (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL,
    name TEXT NOT NULL, qualname TEXT NOT NULL, kind TEXT NOT NULL,
    start_line INTEGER NOT NULL, start_col INTEGER NOT NULL,
    end_line INTEGER NOT NULL, end_col INTEGER NOT NULL,
    signature TEXT NOT NULL, doc TEXT NOT NULL, parent TEXT NOT NULL
);
CREATE TABLE refs (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL,
    name TEXT NOT NULL, kind TEXT NOT NULL,
    line INTEGER NOT NULL, col INTEGER NOT NULL, end_line INTEGER NOT NULL, end_col INTEGER NOT NULL,
    scope TEXT NOT NULL, module TEXT NOT NULL, alias TEXT NOT NULL, enclosing TEXT NOT NULL
);
-- AUTOINCREMENT: a chunk id is never reused, so a vector keyed by an old id can't be mistaken.
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id INTEGER NOT NULL,
    start_line INTEGER NOT NULL, end_line INTEGER NOT NULL,
    symbol TEXT NOT NULL, kind TEXT NOT NULL, symbols TEXT NOT NULL,
    text TEXT NOT NULL, text_hash TEXT NOT NULL, tokens INTEGER NOT NULL
);
-- Embedding cache: vectors by chunk text, so an unchanged or moved chunk is not re-embedded.
-- vectors: `windows` float16 rows of the model's dimension. Kept across rebuilds: it is
-- keyed by content, not by anything a rebuild renumbers.
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL, text_hash TEXT NOT NULL, windows INTEGER NOT NULL, capped INTEGER NOT NULL,
    vectors BLOB NOT NULL, PRIMARY KEY (model, text_hash)
) WITHOUT ROWID;
-- Each file's words and how often they occur, for file-level BM25 (text.term_counts). Keyed by
-- file, so a file's rows are written (and removed) together, and file_terms_term finds a term's files.
CREATE TABLE file_terms (
    file_id INTEGER NOT NULL, term TEXT NOT NULL, tf INTEGER NOT NULL, PRIMARY KEY (file_id, term)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE chunks_fts USING fts5(
    path, symbols, body, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""
# Secondary indexes: dropped during a bulk load and built after it, which is faster
# than maintaining them row by row.
_INDEXES = {
    "symbols_file": "symbols(file_id)",
    "symbols_name": "symbols(name)",
    "symbols_qualname": "symbols(qualname)",
    "refs_file": "refs(file_id)",
    "refs_name_at": "refs(name, file_id, line)",  # where a name is used, from the index alone
    # A file's chunks, with what finding the chunk at a line or of a definition reads (search
    # asks for hundreds a question): answered from the index alone, not from the chunk rows,
    # which hold the text. Sympy, with refs_name_at: the usages signal p50 7.3 -> 3.6 ms,
    # graph nodes to chunks 5.0 -> 1.9 ms, definitions 1.9 -> 1.1 ms; 1.3 MB and 0.5 MB more.
    "chunks_lines": "chunks(file_id, start_line, end_line, symbol)",
    "chunks_hash": "chunks(text_hash)",
    "file_terms_term": "file_terms(term, tf)",
}
_RETIRED = ("chunks_file", "refs_name")  # indexes of earlier versions that ones above replace


# The full-text index is merged into one segment after this share of its rows (at least
# FTS_TIDY_MIN) were written or deleted by updates since the last merge: Store.tidy_full_text.
FTS_TIDY_SHARE = 0.25
FTS_TIDY_MIN = 2000


def db_path(index_dir: Path) -> Path:
    return index_dir / DB_NAME


def _unlink_db_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30,
                                   isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA temp_store=MEMORY")
        return conn
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open the index at {path}: {exc}") from exc


class FileState(NamedTuple):
    """What the store knows of a path, enough to decide whether to read it again."""

    id: int
    size: int
    mtime_ns: int
    indexed_ns: int
    content_hash: str
    skip_reason: str
    language: str  # for a file skipped for its content: the language it was read as


class Store:
    """One index database. Writers use `transaction()`; readers see only committed states."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.path = path
        self._chunk_seq: int | None = None  # last chunk id handed out in this transaction
        self._fts_writes = 0  # full-text rows written or deleted in this transaction

    # -- opening -----------------------------------------------------------------

    @classmethod
    def open_reader(cls, index_dir: Path) -> "Store":
        path = db_path(index_dir)
        if not path.is_file():
            raise IndexNotFound(f"no index at {index_dir}; run `repoqa index` first")
        store = cls(_connect(path, readonly=True), path)
        if not store.has_schema():
            store.close()
            raise IndexNotFound(f"the index at {index_dir} is empty; run `repoqa index`")
        return store

    @classmethod
    def open_writer(cls, index_dir: Path) -> "Store":
        index_dir.mkdir(parents=True, exist_ok=True)
        return cls(_connect(db_path(index_dir), readonly=False), db_path(index_dir))

    @classmethod
    def create_fresh(cls, index_dir: Path) -> "Store":
        """A new database built beside the index, without a journal (several times cheaper
        to commit): nothing can read it until `publish` renames it into place, and a crash
        leaves only a stray file that the next build removes."""
        index_dir.mkdir(parents=True, exist_ok=True)
        path = index_dir / (DB_NAME + BUILDING_SUFFIX)
        _unlink_db_files(path)
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("PRAGMA temp_store=MEMORY")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot create an index at {path}: {exc}") from exc
        return cls(conn, path)

    def publish(self) -> None:
        """Put a database made by `create_fresh` in place of the index, atomically."""
        target = self.path.with_name(DB_NAME)
        self.conn.execute("PRAGMA journal_mode=WAL")  # recorded in the file for later opens
        self.conn.close()
        fsync_path(self.path)
        # No index existed, so a -wal or -shm beside it belongs to no live database.
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(self.path, target)
        fsync_path(target.parent)
        self.path = target

    def discard(self) -> None:
        """Drop a database made by `create_fresh` that will not be published."""
        self.conn.close()
        _unlink_db_files(self.path)

    def close(self) -> None:
        self.conn.close()

    def has_schema(self) -> bool:
        try:
            row = self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the index at {self.path} is unreadable: {exc}") from exc
        return row is not None

    # -- metadata ----------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        if not self.has_schema():
            return {}
        return dict(self.conn.execute("SELECT key, value FROM meta"))

    def set_meta(self, **values: object) -> None:
        self.conn.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in values.items()],
        )

    # -- writing -----------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic update: readers see the state before it or after it, never between."""
        self.conn.execute("BEGIN IMMEDIATE")
        self._chunk_seq = None
        self._fts_writes = 0
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            self._chunk_seq = None
            raise
        else:
            self.conn.execute("COMMIT")

    def reset_schema(self) -> None:
        """Drop everything but the embedding cache and create the current schema (inside the
        caller's transaction)."""
        for (name,) in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
                "AND name NOT LIKE 'chunks_fts_%' AND name != 'embeddings'").fetchall():
            self.conn.execute(f'DROP TABLE IF EXISTS "{name}"')
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                self.conn.execute(stmt)
        self.create_indexes()
        # Field weights for ranking: a match in a symbol name counts most, then the path.
        self.conn.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('rank', ?)",
                          (f"bm25({FTS_WEIGHTS[0]}, {FTS_WEIGHTS[1]}, {FTS_WEIGHTS[2]})",))
        self.set_meta(format_version=str(FORMAT_VERSION))

    def tidy_full_text(self, chunks: int) -> bool:
        """Merge the full-text index into one segment once the rows written and deleted since
        the last merge (kept in meta `fts_writes`) reach FTS_TIDY_SHARE of the chunks, or at
        least FTS_TIDY_MIN; and in an index that has no count yet (a new one, or one from
        before the count). `chunks`: how many the index holds now. Inside the caller's
        transaction. Returns whether it merged.

        FTS5 writes each update as new segments and a deletion as a marker in them; its own
        merging leaves many behind. Sympy's index, moved through 39 commits by incremental
        updates: 18,195 rows in chunks_fts_data, 3,205 after FTS5's 'optimize' (1.7 s), and
        BM25 over chunks for 60 issue texts p50 30.8 -> 12.6 ms (median ratio 0.41, the same
        rankings). The update that crosses the threshold waits for the merge: on sympy, a
        watcher's save once in every quarter of the chunks rewritten."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'fts_writes'").fetchone()
        writes = self._fts_writes + (int(row[0]) if row and row[0].isdigit() else 0)
        self._fts_writes = 0
        merge = row is None or writes >= max(FTS_TIDY_MIN, FTS_TIDY_SHARE * chunks)
        if merge:
            self.conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')")
            writes = 0
        self.set_meta(fts_writes=str(writes))
        return merge

    def drop_indexes(self) -> None:
        for name in (*_INDEXES, *_RETIRED):
            self.conn.execute(f"DROP INDEX IF EXISTS {name}")

    def create_indexes(self) -> None:
        """The secondary indexes that are missing (an index of an earlier version gets the ones
        added since at its next update) and none of the retired ones."""
        have = {name for (name,) in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        for name in _RETIRED:
            if name in have:
                self.conn.execute(f"DROP INDEX {name}")
        for name, target in _INDEXES.items():
            if name not in have:
                self.conn.execute(f"CREATE INDEX {name} ON {target}")

    def file_states(self, under: Collection[str] | None = None) -> dict[str, "FileState"]:
        """What the store knows of every path, or of the paths `under` names (a path, or
        a directory standing for everything below it)."""
        cols = "SELECT path, id, size, mtime_ns, indexed_ns, content_hash, skip_reason, language FROM files"
        if under is None:
            rows = self.conn.execute(cols)
        else:
            rows = []
            for p in under:  # the path itself, then the range of paths below it ("p/" < x < "p0")
                rows += self.conn.execute(f"{cols} WHERE path = ? OR (path > ? AND path < ?)",
                                          (p, p + "/", p + "0")).fetchall()
        return {row[0]: FileState(*row[1:]) for row in rows}

    def _clear_file(self, file_id: int) -> None:
        c = self.conn
        gone = c.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE file_id = ?)",
                         (file_id,)).rowcount
        self._fts_writes += max(gone, 0)
        c.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
        c.execute("DELETE FROM symbols WHERE file_id = ?", (file_id,))
        c.execute("DELETE FROM refs WHERE file_id = ?", (file_id,))
        c.execute("DELETE FROM file_terms WHERE file_id = ?", (file_id,))

    def remove_file(self, file_id: int) -> None:
        self._clear_file(file_id)
        self.conn.execute("DELETE FROM files WHERE id = ?", (file_id,))

    def touch_file(self, file_id: int, size: int, mtime_ns: int, indexed_ns: int) -> None:
        """The content is unchanged; only its stat changed."""
        self.conn.execute("UPDATE files SET size = ?, mtime_ns = ?, indexed_ns = ? WHERE id = ?",
                          (size, mtime_ns, indexed_ns, file_id))

    def put_file(self, file_id: int | None, rec: FileRecord, indexed_ns: int,
                 parsed: ParsedFile | None) -> int:
        """Insert or replace one file and everything extracted from it."""
        c = self.conn
        row = (rec.path, rec.language, rec.size, rec.mtime_ns, rec.content_hash, rec.lines,
               rec.skip_reason, rec.skip_detail, ",".join(rec.warnings),
               parsed.parse_errors if parsed else 0, indexed_ns,
               sum(n for _, n in parsed.terms) if parsed else 0)
        if file_id is None:
            file_id = c.execute(
                "INSERT INTO files(path, language, size, mtime_ns, content_hash, lines, skip_reason, "
                "skip_detail, warnings, parse_errors, indexed_ns, terms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                row).lastrowid
        else:
            self._clear_file(file_id)
            c.execute(
                "UPDATE files SET path=?, language=?, size=?, mtime_ns=?, content_hash=?, lines=?, "
                "skip_reason=?, skip_detail=?, warnings=?, parse_errors=?, indexed_ns=?, terms=? WHERE id=?",
                (*row, file_id))
        if parsed is None:
            return file_id
        # file_id is an int from SQLite: formatting it into the statement saves a tuple a row.
        fid = int(file_id)
        c.executemany(
            "INSERT INTO symbols(file_id, name, qualname, kind, start_line, start_col, end_line, "
            f"end_col, signature, doc, parent) VALUES ({fid},?,?,?,?,?,?,?,?,?,?)", parsed.symbols)
        c.executemany(
            "INSERT INTO refs(file_id, name, kind, line, col, end_line, end_col, scope, module, alias, "
            f"enclosing) VALUES ({fid},?,?,?,?,?,?,?,?,?,?)", parsed.references)
        c.executemany(f"INSERT INTO file_terms(file_id, term, tf) VALUES ({fid},?,?)", sorted(parsed.terms))
        if parsed.chunks:
            first = self._next_chunk_id()
            ids = range(first, first + len(parsed.chunks))
            c.executemany(
                "INSERT INTO chunks(id, file_id, start_line, end_line, symbol, kind, symbols, text, "
                f"text_hash, tokens) VALUES (?,{fid},?,?,?,?,?,?,?,?)",
                [(i, *ch[:8]) for i, ch in zip(ids, parsed.chunks)])
            c.executemany("INSERT INTO chunks_fts(rowid, path, symbols, body) VALUES (?,?,?,?)",
                          [(i, rec.path, search_terms(ch[4] or ch[2], ch[8]), search_terms(ch[5], ch[9]))
                           for i, ch in zip(ids, parsed.chunks)])
            self._fts_writes += len(parsed.chunks)
            self._chunk_seq = ids[-1]
        return file_id

    def _next_chunk_id(self) -> int:
        if self._chunk_seq is None:
            row = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'").fetchone()
            self._chunk_seq = row[0] if row else 0
        return self._chunk_seq + 1

    # -- reading -----------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        c = self.conn
        one = lambda q: c.execute(q).fetchone()[0]  # noqa: E731
        return {
            "files": one("SELECT count(*) FROM files WHERE skip_reason = ''"),
            "files_skipped": one("SELECT count(*) FROM files WHERE skip_reason != ''"),
            "symbols": one("SELECT count(*) FROM symbols"),
            "references": one("SELECT count(*) FROM refs"),
            "chunks": one("SELECT count(*) FROM chunks"),
        }

    def languages(self) -> dict[str, int]:
        return dict(self.conn.execute(
            "SELECT language, count(*) FROM files WHERE skip_reason = '' GROUP BY language "
            "ORDER BY count(*) DESC"))

    def skipped(self) -> dict[str, int]:
        return dict(self.conn.execute(
            "SELECT skip_reason, count(*) FROM files WHERE skip_reason != '' GROUP BY skip_reason "
            "ORDER BY count(*) DESC"))

    def file_hashes(self, paths: list[str]) -> dict[str, str]:
        out = {}
        for i in range(0, len(paths), 500):
            part = paths[i:i + 500]
            q = f"SELECT path, content_hash FROM files WHERE path IN ({','.join('?' * len(part))})"
            out.update(self.conn.execute(q, part))
        return out

    def symbols_in(self, path: str) -> list[Symbol]:
        rows = self.conn.execute(
            "SELECT s.name, s.qualname, s.kind, s.start_line, s.start_col, s.end_line, s.end_col, "
            "s.signature, s.doc, s.parent FROM symbols s JOIN files f ON f.id = s.file_id "
            "WHERE f.path = ? ORDER BY s.start_line, s.start_col", (path,))
        return [Symbol(*r) for r in rows]

    def references_in(self, path: str) -> list[Reference]:
        rows = self.conn.execute(
            "SELECT r.name, r.kind, r.line, r.col, r.end_line, r.end_col, r.scope, r.module, r.alias, "
            "r.enclosing FROM refs r JOIN files f ON f.id = r.file_id WHERE f.path = ? "
            "ORDER BY r.line, r.col, r.kind, r.name", (path,))
        return [Reference(*r) for r in rows]

    def chunks_in(self, path: str) -> list[Chunk]:
        rows = self.conn.execute(
            "SELECT c.start_line, c.end_line, c.symbol, c.kind, c.symbols, c.text, c.text_hash, c.tokens "
            "FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path = ? ORDER BY c.start_line",
            (path,))
        return [Chunk(a, b, s, k, tuple(ss.split()) if ss else (), t, h, n) for a, b, s, k, ss, t, h, n in rows]

    def integrity_check(self) -> str:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]

