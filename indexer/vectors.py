"""The vector store seam: one small protocol, a NumPy reference, and `open_vector_store`.

Vectors are keyed by integer ids (see `vector_id`): a chunk's windows are
`chunk_id * WINDOWS + w`, so every vector maps back to its chunk, and a chunk that no
longer exists can be found and dropped. Scores are inner products of L2-normalised
vectors, i.e. cosine similarities.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import IndexerError
from .files import atomic_write

# Vectors per chunk at most; a chunk longer than WINDOWS model windows is covered by
# evenly strided windows (counted as windows_capped).
WINDOWS = 8


class VectorStoreError(IndexerError):
    """A vector store failed or is unreachable (the service maps it to UNAVAILABLE)."""


def vector_id(chunk_id: int, window: int) -> int:
    return chunk_id * WINDOWS + window


def chunk_of(vid: int) -> int:
    return vid // WINDOWS


@dataclass(frozen=True, slots=True)
class VectorHit:
    id: int
    score: float


class VectorStore(Protocol):
    """What the indexer and retrieval need from a vector index."""

    kind: str
    dim: int

    def upsert(self, ids: Sequence[int], vectors: np.ndarray, payloads: Sequence[dict] | None = None) -> None: ...
    def delete(self, ids: Iterable[int]) -> None: ...
    def search(self, vector: np.ndarray, k: int) -> list[VectorHit]: ...
    def ids(self) -> np.ndarray: ...
    def count(self) -> int: ...
    def flush(self) -> None: ...  # make what was written durable
    def clear(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class VectorOptions:
    # "faiss" (default, in process), "qdrant" (embedded local path, or a server by url),
    # or "numpy" (brute force, the reference the others are tested against).
    backend: str = "faiss"
    # Qdrant server or cluster URL ("http://host:6333"); empty means embedded local mode.
    qdrant_url: str = ""
    # API key for a Qdrant server (sent only when qdrant_url is set).
    qdrant_api_key: str = ""
    # Qdrant collection name.
    qdrant_collection: str = "repoqa_chunks"
    # FAISS: at or above this many vectors, an IVF index replaces exact search.
    faiss_ivf_threshold: int = 50_000
    # FAISS IVF: lists probed per query (of about 4 sqrt(n)). Measured on sympy's 74k
    # vectors: 32 -> recall@20 0.91, 64 -> 0.95, 128 -> 0.98 at 0.44 ms a query.
    faiss_nprobe: int = 128
    # Use a GPU when a GPU build of faiss and a CUDA device are present.
    faiss_use_gpu: bool = True


def open_vector_store(options: VectorOptions, index_dir: Path, dim: int) -> VectorStore:
    """The backend the options name, persisted under `index_dir` when it is local."""
    if options.backend == "faiss":
        from .faiss_store import FaissStore

        return FaissStore(index_dir / "vectors.faiss", dim, ivf_threshold=options.faiss_ivf_threshold,
                          nprobe=options.faiss_nprobe, use_gpu=options.faiss_use_gpu)
    if options.backend == "qdrant":
        from .qdrant_store import QdrantStore

        return QdrantStore(dim, path=None if options.qdrant_url else index_dir / "qdrant",
                           url=options.qdrant_url or None, api_key=options.qdrant_api_key or None,
                           collection=options.qdrant_collection)
    if options.backend == "numpy":
        return NumpyStore(index_dir / "vectors.npz", dim)
    raise VectorStoreError(f"unknown vector store {options.backend!r} (faiss, qdrant or numpy)")


def store_location(options: VectorOptions, index_dir: Path) -> str:
    if options.backend == "qdrant":
        return options.qdrant_url or str(index_dir / "qdrant")
    return str(index_dir / ("vectors.faiss" if options.backend == "faiss" else "vectors.npz"))


class KeptStores:
    """Vector stores opened for searching and kept open for the next search, as a server
    wants: reading sympy's FAISS file (99 MB, 62,822 vectors) took 34-170 ms, on every
    request. A kept store is read again when its file changes: the indexer replaces the
    file whole (`flush`), so its inode, size or time changes. A Qdrant store is opened for
    each use, as before: local mode locks its folder against the indexer's writer.
    At most `limit` stores are kept, the least recently used dropped first; one whose file
    is gone is dropped at the next open. Concurrent opens of a store not kept read its file
    once between them."""

    def __init__(self, limit: int = 8):
        self.limit = limit
        self.lock = threading.Lock()
        self.kept: OrderedDict[tuple, tuple[tuple, VectorStore]] = OrderedDict()
        self.loading: dict[tuple, threading.Lock] = {}  # a lock per store, held while it is read

    def open(self, options: VectorOptions, index_dir: Path, dim: int, version: str = "") -> VectorStore:
        """The store, lent for searching (closing it keeps it open; writing it is refused),
        or, for Qdrant or while no file is there, opened as `open_vector_store` opens it.
        `version`: what the index says of its vectors (the meta `vector_updated_ns`); a kept
        store of another version is read again, whatever its file's stamp says."""
        if options.backend not in ("faiss", "numpy"):
            return open_vector_store(options, index_dir, dim)
        path = Path(store_location(options, index_dir))
        key = (repr(options), str(path), dim)
        stamp = _stamp(path)
        if stamp is None:  # none yet (or gone): nothing to keep, and nothing kept to serve
            with self.lock:
                self.kept.pop(key, None)
            return open_vector_store(options, index_dir, dim)
        before = (*stamp, version)
        lent = self._lend(key, before)
        if lent is not None:
            return lent
        with self.lock:
            loading = self.loading.setdefault(key, threading.Lock())
        with loading:  # another thread reading the same file: wait for it, then take its store
            lent = self._lend(key, before)
            if lent is not None:
                return lent
            store = open_vector_store(options, index_dir, dim)
            if _stamp(path) != stamp:  # replaced while it was read: use it once
                return store
            with self.lock:
                self.kept[key] = (before, store)
                self.kept.move_to_end(key)
                while len(self.kept) > self.limit:
                    self.kept.popitem(last=False)
        return _Lent(store)

    def _lend(self, key: tuple, stamp: tuple) -> _Lent | None:
        with self.lock:
            got = self.kept.get(key)
            if got is None or got[0] != stamp:
                return None
            self.kept.move_to_end(key)
            return _Lent(got[1])


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


class _Lent:
    """A kept store lent to one search: it searches and counts; `close` leaves it open for
    the next; writing is refused (the indexer writes its own store)."""

    def __init__(self, store: VectorStore):
        self._store = store
        self.kind, self.dim = store.kind, store.dim

    def search(self, vector: np.ndarray, k: int) -> list[VectorHit]:
        return self._store.search(vector, k)

    def ids(self) -> np.ndarray:
        return self._store.ids()

    def count(self) -> int:
        return self._store.count()

    def close(self) -> None:
        pass

    def _refuse(self, *args, **kwargs) -> None:
        raise VectorStoreError("a vector store kept open for searching is not written to")

    upsert = delete = flush = clear = _refuse


def as_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    m = np.ascontiguousarray(vectors, dtype=np.float32)
    if m.ndim == 1:
        m = m.reshape(1, -1)
    if m.shape[1] != dim:
        raise VectorStoreError(f"vectors of dimension {m.shape[1]} given to a store of dimension {dim}")
    return m


class NumpyStore:
    """Exact brute-force search over a dense matrix: the reference implementation."""

    kind = "numpy"

    def __init__(self, path: Path | None, dim: int):
        self.path = path
        self.dim = dim
        self._ids = np.zeros(0, dtype=np.int64)
        self._vecs = np.zeros((0, dim), dtype=np.float32)
        if path is not None and path.is_file():
            try:
                with np.load(path) as data:
                    ids, vecs = data["ids"], data["vectors"]
            except (OSError, ValueError, KeyError) as exc:
                raise VectorStoreError(f"cannot read {path}: {exc}") from exc
            if vecs.shape[1] == dim:
                self._ids, self._vecs = ids.astype(np.int64), vecs.astype(np.float32)

    def upsert(self, ids, vectors, payloads=None) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        vecs = as_matrix(vectors, self.dim)
        keep = ~np.isin(self._ids, ids)
        self._ids = np.concatenate([self._ids[keep], ids])
        self._vecs = np.concatenate([self._vecs[keep], vecs])

    def delete(self, ids) -> None:
        ids = np.fromiter(ids, dtype=np.int64)
        if len(ids):
            keep = ~np.isin(self._ids, ids)
            self._ids, self._vecs = self._ids[keep], self._vecs[keep]

    def search(self, vector, k):
        if not len(self._ids) or k <= 0:
            return []
        scores = self._vecs @ as_matrix(vector, self.dim)[0]
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((self._ids[top], -scores[top]))]
        return [VectorHit(int(self._ids[i]), float(scores[i])) for i in top]

    def ids(self) -> np.ndarray:
        return self._ids.copy()

    def count(self) -> int:
        return len(self._ids)

    def flush(self) -> None:
        if self.path is not None:
            atomic_write(self.path, lambda tmp: _save_npz(tmp, self._ids, self._vecs))

    def clear(self) -> None:
        self._ids = np.zeros(0, dtype=np.int64)
        self._vecs = np.zeros((0, self.dim), dtype=np.float32)

    def close(self) -> None:
        pass


def _save_npz(path: Path, ids: np.ndarray, vecs: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.savez(f, ids=ids, vectors=vecs)
