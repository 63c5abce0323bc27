"""Fill the vector index from the store: embed the chunks that have no vector, reuse cached ones.

Runs after the structure index is committed (lexical search works meanwhile). Vectors
are keyed by chunk id; the SQLite embedding cache, keyed by chunk text, is the durable
copy, committed batch by batch, so an interrupted run loses at most one batch of work
and the next run (or the watcher) picks up where it stopped.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import names
from .embed import Embedder, embedding_head
from .errors import IndexMismatch, IndexNotFound
from .lock import WriterLock
from .options import FORMAT_VERSION
from .store import Store
from .update import ProgressFn, has_index, index_dir_for
from .vectors import (WINDOWS, VectorOptions, VectorStore, chunk_of, open_vector_store, store_location,
                      vector_id)

log = logging.getLogger(__name__)

# Cached vectors of text that no chunk holds any more are dropped once they outnumber
# this, or half the live ones.
CACHE_SPARE_MIN = 1000


@dataclass
class EmbedSummary:
    model: str
    store: str
    chunks: int = 0  # chunks in the index
    chunks_embedded: int = 0  # run through the model in this update
    chunks_reused: int = 0  # given a cached vector (unchanged or moved text)
    vectors_added: int = 0
    vectors_dropped: int = 0  # belonged to chunks that no longer exist
    vectors: int = 0  # in the store after the update
    windows_capped: int = 0  # chunks longer than the windows cover (strided, not truncated)
    names_embedded: int = 0  # definitions' names run through the model (indexer.names)
    rebuilt: str = ""  # why the vectors were dropped and rebuilt, if they were
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def vector_meta(embedder: Embedder, options: VectorOptions, index_dir: Path) -> dict[str, str]:
    return {"vector_model": embedder.model_id, "vector_dim": str(embedder.dim),
            "vector_store": f"{options.backend}:{store_location(options, index_dir)}"}


def embed_index(root: Path, embedder: Embedder, options: VectorOptions | None = None, *,
                progress: ProgressFn | None = None, batch_chunks: int = 256,
                flush_seconds: float = 30.0, lock_timeout: float = 0.0) -> EmbedSummary:
    """Give every chunk of the index at `root` its vectors; drop vectors of vanished chunks."""
    options = options or VectorOptions()
    progress = progress or (lambda stage, done, total: None)
    t0 = time.perf_counter()
    index_dir = index_dir_for(root.resolve())
    if not has_index(index_dir):  # checked before the lock or a store creates any file there
        raise IndexNotFound(f"no index at {index_dir}; run `repoqa index` first")
    want = vector_meta(embedder, options, index_dir)
    summary = EmbedSummary(model=embedder.model_id, store=want["vector_store"])
    with WriterLock(index_dir, timeout=lock_timeout):
        store = Store.open_writer(index_dir)
        vstore = open_vector_store(options, index_dir, embedder.dim)
        try:
            _reset_if_other_model(store, vstore, embedder, want, summary)
            live_names = _fill(store, vstore, embedder, summary, progress, batch_chunks, flush_seconds)
            vstore.flush()
            summary.vectors = vstore.count()
            with store.transaction():
                _prune_cache(store, embedder.model_id)
                names.prune(store, embedder.model_id, CACHE_SPARE_MIN, live_names)
                store.set_meta(vector_count=str(summary.vectors), vector_updated_ns=str(time.time_ns()))
        finally:
            vstore.close()
            store.close()
    summary.seconds = round(time.perf_counter() - t0, 3)
    return summary


def _reset_if_other_model(store: Store, vstore: VectorStore, embedder: Embedder, want: dict[str, str],
                          summary: EmbedSummary) -> None:
    """Refuse an index of another format; drop vectors made by another model or store."""
    meta = store.meta()
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise IndexMismatch(f"the index has format {meta.get('format_version')}, this repoqa "
                            f"writes {FORMAT_VERSION}; run `repoqa index` to rebuild it")
    have = {k: meta.get(k, "") for k in want}
    if have != want:
        if any(have.values()):
            summary.rebuilt = ", ".join(f"{k} {have[k] or '-'} -> {want[k]}" for k in want if have[k] != want[k])
        vstore.clear()
        with store.transaction():
            store.conn.execute("DELETE FROM embeddings WHERE model NOT IN (?, ?)",
                               (embedder.model_id, names.name_model(embedder.model_id)))
            store.set_meta(**want)


_ROW = ("SELECT c.id, c.text_hash, f.path, c.start_line, c.end_line, c.symbol, f.language "
        "FROM chunks c JOIN files f ON f.id = c.file_id")


def _plan(store: Store, vstore: VectorStore, embedder: Embedder, summary: EmbedSummary) -> tuple[list, set[int]]:
    """Reconcile the vector store with the chunks: drop vectors of vanished chunks and of
    half-written ones; returns (the chunks still to write, the live chunk ids)."""
    rows = store.conn.execute(_ROW + " ORDER BY c.id").fetchall()
    summary.chunks = len(rows)
    live = {r[0] for r in rows}
    vids = vstore.ids()
    stale = [int(v) for v in vids if chunk_of(int(v)) not in live]
    if stale:
        vstore.delete(stale)
        summary.vectors_dropped = len(stale)
    present: dict[int, set[int]] = {}  # chunk id -> its windows in the store
    for v in vids:
        c = chunk_of(int(v))
        if c in live:
            present.setdefault(c, set()).add(int(v) % WINDOWS)
    windows_of = dict(store.conn.execute("SELECT text_hash, windows FROM embeddings WHERE model = ?",
                                         (embedder.model_id,)))
    # A chunk is done when exactly its windows are in the store (a crash between two batches
    # of a remote upsert could leave some); anything else is (re)written whole.
    todo = [r for r in rows if r[1] not in windows_of or present.get(r[0]) != set(range(windows_of[r[1]]))]
    partial = [vector_id(r[0], w) for r in todo if r[0] in present for w in range(WINDOWS)]
    if partial:  # rewritten whole below: no window of an earlier attempt may linger
        vstore.delete(partial)
    return todo, live


def _fill(store: Store, vstore: VectorStore, embedder: Embedder, summary: EmbedSummary,
          progress: ProgressFn, batch_chunks: int, flush_seconds: float) -> set[str]:
    """Write the missing vectors, then the names of chunks whose vectors were there already
    (an index embedded before names were); returns the keys of every chunk's names."""
    todo, live = _plan(store, vstore, embedder, summary)
    progress("embed", 0, len(todo))
    keys: set[str] = set()
    _write(store, vstore, embedder, todo, summary, progress, batch_chunks, flush_seconds, names_seen=keys)
    n, rest = names.write(store, embedder, live - {r[0] for r in todo}, progress=progress)
    summary.names_embedded += n
    return keys | rest


def _write(store: Store, vstore: VectorStore, embedder: Embedder, todo: list, summary: EmbedSummary,
           progress: ProgressFn, batch_chunks: int, flush_seconds: float,
           deadline: float | None = None, names_seen: set[str] | None = None) -> list:
    """Give `todo` chunks their vectors: from the cache where their text was embedded
    before, else from the model. Without a deadline the longest go first (batches of
    similar length run faster); with one, `todo`'s order is kept (the caller puts what
    matters first), it stops at `deadline` (monotonic) and returns the chunks left. Their
    definitions' names are embedded with them; `names_seen` gathers those names' keys."""
    total = len(todo)
    done = 0
    last_flush = time.monotonic()
    windows_of = dict(store.conn.execute(
        "SELECT text_hash, windows FROM embeddings WHERE model = ? AND text_hash IN "
        "(SELECT value FROM json_each(?))", (embedder.model_id, json.dumps(sorted({r[1] for r in todo})))))
    reuse = [r for r in todo if r[1] in windows_of]
    for i in range(0, len(reuse), 2048):
        part = reuse[i:i + 2048]
        cached = cached_vectors(store, embedder.model_id, {r[1] for r in part})
        _write_names(store, embedder, [r[0] for r in part], summary, names_seen)
        _upsert(vstore, part, cached)
        summary.chunks_reused += len(part)
        summary.vectors_added += sum(len(cached[r[1]]) for r in part)
        done += len(part)
        progress("embed", done, total)

    fresh = [r for r in todo if r[1] not in windows_of]
    texts = dict(store.conn.execute(
        "SELECT text_hash, text FROM chunks WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps([r[0] for r in fresh]),))) if fresh else {}
    if deadline is None:
        fresh.sort(key=lambda r: -len(texts.get(r[1], "")))
    for i in range(0, len(fresh), batch_chunks):
        if deadline is not None and time.monotonic() >= deadline:
            return fresh[i:]
        part = fresh[i:i + batch_chunks]
        first: dict[str, tuple] = {}  # text hash -> the first chunk with that text
        for r in part:
            first.setdefault(r[1], r)
        new_hashes = dict(zip(first, embedder.windows_many(
            [(texts[h], embedding_head(r[2], r[5])) for h, r in first.items()])))
        flat = [w for ws, _ in new_hashes.values() for w in ws]
        vectors = embedder.embed(flat)
        cached: dict[str, np.ndarray] = {}
        at = 0
        with store.transaction():
            for h, (ws, capped) in new_hashes.items():
                vecs = vectors[at:at + len(ws)]
                at += len(ws)
                cached[h] = vecs
                summary.windows_capped += capped
                store.conn.execute(
                    "INSERT OR REPLACE INTO embeddings(model, text_hash, windows, capped, vectors) "
                    "VALUES (?,?,?,?,?)",
                    (embedder.model_id, h, len(ws), int(capped), vecs.astype(np.float16).tobytes()))
        _write_names(store, embedder, [r[0] for r in part], summary, names_seen)
        _upsert(vstore, part, cached)
        summary.chunks_embedded += len(new_hashes)
        summary.chunks_reused += len(part) - len(new_hashes)  # same text twice in this run
        summary.vectors_added += sum(len(cached[r[1]]) for r in part)
        done += len(part)
        progress("embed", done, total)
        if time.monotonic() - last_flush > flush_seconds:
            vstore.flush()  # bound the work a crash can lose to what the cache can restore
            last_flush = time.monotonic()
    return []


class DenseUpdater:
    """Vectors kept in step by a long-lived process (the watcher, the server): the model
    and the vector store stay open, and each `step` writes the vectors of the chunks that
    appeared since the last one and drops those of chunks that vanished, within a time
    budget, so structure updates are never held behind a long embedding run. The store
    file is flushed every `flush_every_s` and on `close`; the SQLite embedding cache is the
    durable copy meanwhile (a crash costs a re-read of it, not a re-embedding)."""

    def __init__(self, root: Path, embedder: Embedder, options: VectorOptions | None = None, *,
                 flush_every_s: float = 30.0, flush_after_s: float = 2.0, batch_chunks: int = 32):
        self.index_dir = index_dir_for(root.resolve())
        self.embedder = embedder
        self.options = options or VectorOptions()
        self.flush_every_s = flush_every_s
        self.flush_after_s = flush_after_s  # quiet time after the last change before a flush
        self.batch_chunks = batch_chunks
        self._last_change = 0.0
        self._created: str | None = None  # the index's creation stamp when the store was planned
        # Held while the vector store is written, so a reader in this process (the server
        # with --watch) can search the live store between steps.
        self.lock = threading.Lock()
        self.vstore: VectorStore | None = None
        self.live: set[int] = set()  # chunk ids the store has vectors for, or queued
        self.max_id = 0  # chunk ids are never reused: above this, chunks are new
        self.backlog: list = []
        self.names_backlog: list[int] = []  # chunks whose vectors were there before names were
        self._dirty_since: float | None = None
        self.summary = EmbedSummary(model=embedder.model_id, store="")

    # Between two steps with work left, the writer lock stays free this long: a
    # `repoqa index` (which waits for the lock) gets its turn during a long embedding run.
    GAP_S = 0.05
    NAMES_STEP = 128  # chunks whose names one pass of the names backlog embeds (when missing)

    def step(self, budget_s: float = 0.25) -> float | None:
        """Bring the vectors closer to the chunks, for at most about `budget_s`. Returns the
        seconds until the next step has work (0: chunks are waiting; later: the store file
        is due to be flushed), or None when all is done. Raises IndexLocked when another
        process writes the index (call again later)."""
        if not has_index(self.index_dir):
            return None
        deadline = time.monotonic() + budget_s
        with WriterLock(self.index_dir, timeout=0.0), self.lock:
            store = Store.open_writer(self.index_dir)
            try:
                meta = store.meta()
                if self.vstore is not None and (meta.get("created_ns") != self._created
                                                or meta.get("vector_model") != self.embedder.model_id):
                    # The index was rebuilt (chunk ids start again from 1) or its vectors
                    # were reset by another process: what this store holds means nothing now.
                    self.vstore.close()
                    self.vstore, self._dirty_since = None, None
                if self.vstore is None:
                    self._created = meta.get("created_ns")
                    want = vector_meta(self.embedder, self.options, self.index_dir)
                    self.summary.store = want["vector_store"]
                    self.vstore = open_vector_store(self.options, self.index_dir, self.embedder.dim)
                    _reset_if_other_model(store, self.vstore, self.embedder, want, self.summary)
                    self.backlog, self.live = _plan(store, self.vstore, self.embedder, self.summary)
                    queued = {r[0] for r in self.backlog}  # their names come with their vectors
                    self.names_backlog = sorted(c for c in self.live if c not in queued)
                    self.max_id = max(self.live, default=0)
                    self._dirty_since = time.monotonic()
                else:
                    self._catch_up(store)
                if self.backlog:
                    self.backlog = _write(store, self.vstore, self.embedder, self.backlog, self.summary,
                                          lambda *a: None, self.batch_chunks, self.flush_every_s, deadline)
                    self._dirty_since = self._dirty_since or time.monotonic()
                    self._last_change = time.monotonic()
                while self.names_backlog and not self.backlog and time.monotonic() < deadline:
                    part, self.names_backlog = self.names_backlog[:self.NAMES_STEP], self.names_backlog[self.NAMES_STEP:]
                    self.summary.names_embedded += names.write(store, self.embedder, part)[0]
                # The store file is rewritten whole (FAISS): not after every edit, but once
                # the edits pause, and at least every flush_every_s during a long run.
                now = time.monotonic()
                if self._dirty_since is not None and (
                        now - self._dirty_since >= self.flush_every_s
                        or (not self.backlog and now - self._last_change >= self.flush_after_s)):
                    self.vstore.flush()
                    self._dirty_since = None
                    with store.transaction():
                        store.set_meta(vector_count=str(self.vstore.count()),
                                       vector_updated_ns=str(time.time_ns()))
            finally:
                store.close()
        if self.backlog or self.names_backlog:
            return self.GAP_S
        if self._dirty_since is not None:
            return max(0.0, self.flush_after_s - (time.monotonic() - self._last_change))
        return None

    def _catch_up(self, store: Store) -> None:
        live = {r[0] for r in store.conn.execute("SELECT id FROM chunks")}
        gone = self.live - live
        if gone:
            self.vstore.delete([vector_id(c, w) for c in gone for w in range(WINDOWS)])
            self.summary.vectors_dropped += len(gone)
            self._dirty_since = self._dirty_since or time.monotonic()
            self._last_change = time.monotonic()
        new = store.conn.execute(_ROW + " WHERE c.id > ? ORDER BY c.id", (self.max_id,)).fetchall()
        # what was just edited first: a long backlog (a first embedding) must not delay it
        self.backlog = new + [r for r in self.backlog if r[0] in live]
        self.live = live
        self.max_id = max(self.max_id, max(live, default=0))

    def search(self, vector: np.ndarray, k: int) -> list:
        """Search the live store (what this process has written, flushed or not)."""
        with self.lock:
            return self.vstore.search(vector, k) if self.vstore is not None else []

    def has_chunk(self, chunk_id: int) -> bool:
        """Whether the chunk's vectors are in the live store."""
        with self.lock:
            return self.vstore is not None and chunk_id in self.live and not any(
                r[0] == chunk_id for r in self.backlog)

    def close(self) -> None:
        if self.vstore is None:
            return
        try:
            if self._dirty_since is not None:
                with WriterLock(self.index_dir, timeout=30.0):
                    self.vstore.flush()
                    store = Store.open_writer(self.index_dir)
                    try:
                        with store.transaction():
                            store.set_meta(vector_count=str(self.vstore.count()),
                                           vector_updated_ns=str(time.time_ns()))
                    finally:
                        store.close()
        finally:
            self.vstore.close()
            self.vstore = None


def _prune_cache(store: Store, model: str) -> None:
    """Forget cached vectors of text no chunk has any more, once there are many: a few are
    kept so that switching a branch back and forth does not embed the same code again."""
    orphans = store.conn.execute(
        "SELECT count(*) FROM embeddings WHERE model = ? AND text_hash NOT IN (SELECT text_hash FROM chunks)",
        (model,)).fetchone()[0]
    live = store.conn.execute("SELECT count(DISTINCT text_hash) FROM chunks").fetchone()[0]
    if orphans > max(CACHE_SPARE_MIN, live // 2):
        store.conn.execute("DELETE FROM embeddings WHERE model = ? AND text_hash NOT IN "
                           "(SELECT text_hash FROM chunks)", (model,))


def _write_names(store: Store, embedder: Embedder, chunk_ids: list[int], summary: EmbedSummary,
                 seen: set[str] | None) -> None:
    n, keys = names.write(store, embedder, chunk_ids)
    summary.names_embedded += n
    if seen is not None:
        seen |= keys


def cached_vectors(store: Store, model: str, hashes: set[str]) -> dict[str, np.ndarray]:
    """Cached vectors by text hash (windows x dimensions) of `model` (a chunk model's id,
    or its names': indexer.names.name_model)."""
    out: dict[str, np.ndarray] = {}
    q = ("SELECT text_hash, windows, vectors FROM embeddings WHERE model = ? "
         "AND text_hash IN (SELECT value FROM json_each(?))")
    for h, n, blob in store.conn.execute(q, (model, json.dumps(sorted(hashes)))):
        out[h] = np.frombuffer(blob, dtype=np.float16).astype(np.float32).reshape(n, -1)
    return out


def _upsert(vstore: VectorStore, rows: list, vectors_by_hash: dict[str, np.ndarray]) -> None:
    ids: list[int] = []
    mats: list[np.ndarray] = []
    payloads: list[dict] = []
    for chunk_id, text_hash, path, start, end, symbol, language in rows:
        vecs = vectors_by_hash[text_hash]
        for w in range(len(vecs)):
            ids.append(vector_id(chunk_id, w))
            payloads.append({"chunk_id": chunk_id, "path": path, "start_line": start, "end_line": end,
                             "symbol": symbol, "language": language, "window": w})
        mats.append(vecs)
    if ids:
        vstore.upsert(ids, np.vstack(mats), payloads)
