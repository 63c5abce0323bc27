"""FAISS vector store: exact search while small, IVF above a threshold; GPU when present.

The only module that imports faiss. Every faiss wheel installs the same `faiss` module
(faiss-cpu, faiss-gpu-cu12), so which one is installed decides whether a GPU is used.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

import numpy as np

from .files import atomic_write
from .openmp import passive_waits
from .vectors import VectorHit, VectorStoreError, as_matrix

log = logging.getLogger(__name__)


def _faiss():
    passive_waits()
    try:
        import faiss
    except ImportError as exc:
        raise VectorStoreError("faiss is not installed: pip install 'repoqa[cpu]' (or [gpu])") from exc
    return faiss


def gpu_count() -> int:
    """CUDA devices that faiss can use: 0 without faiss, with the CPU wheel, or without a driver."""
    try:
        faiss = _faiss()
    except VectorStoreError:
        return 0
    try:
        return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    except Exception:  # a GPU build without a usable driver
        return 0


class FaissStore:
    """Inner-product search over normalised vectors, persisted atomically to one file.

    Below `ivf_threshold` vectors the index is exact (IndexFlatIP); at or above it, the
    vectors are moved into an IVF index (nlist ~ 4 sqrt(n), `nprobe` lists searched),
    which supports removal, unlike HNSW. The IVF index is retrained when the collection
    has grown fourfold since it was trained.
    """

    kind = "faiss"

    def __init__(self, path: Path | None, dim: int, *, ivf_threshold: int = 50_000, nprobe: int = 128,
                 use_gpu: bool = True):
        self.faiss = _faiss()
        self.path = path
        self.dim = dim
        self.ivf_threshold = ivf_threshold
        self.nprobe = nprobe
        self.use_gpu = use_gpu and gpu_count() > 0
        self._gpu_index = None  # a GPU copy for search, rebuilt when the CPU index changes
        # A GPU index, and its resources, serve one thread at a time (FAISS's rule, searches
        # too); the CPU indexes answer concurrent searches (a server's threads share a store).
        self._gpu_lock = threading.Lock()
        self._trained_at = 0
        self._quantizer = None
        self.index = None
        if path is not None and path.is_file():
            try:
                index = self.faiss.read_index(str(path))
            except RuntimeError as exc:
                raise VectorStoreError(f"cannot read the vector index {path}: {exc}") from exc
            if index.d == dim:
                self.index = index  # read_index returns the concrete type, and owns it
                if self._is_ivf():
                    self.index.nprobe = nprobe
                self._trained_at = index.ntotal if self._is_ivf() else 0
            else:
                log.warning("%s has dimension %d, not %d: starting empty", path, index.d, dim)
        if self.index is None:
            self.index = self._flat()

    # -- construction --------------------------------------------------------------

    def _flat(self):
        return self.faiss.IndexIDMap2(self.faiss.IndexFlatIP(self.dim))

    def _is_ivf(self) -> bool:
        return isinstance(self.index, self.faiss.IndexIVF)

    def _ivf_from(self, ids: np.ndarray, vecs: np.ndarray):
        # IVF holds arbitrary ids itself (an IDMap over IVF breaks on removal), with a
        # hash-table direct map so vectors can be reconstructed and removed by id.
        n = len(ids)
        nlist = max(16, min(int(4 * math.sqrt(n)), n // 39))  # faiss wants >= 39 points per list
        quantizer = self.faiss.IndexFlatIP(self.dim)
        ivf = self.faiss.IndexIVFFlat(quantizer, self.dim, nlist, self.faiss.METRIC_INNER_PRODUCT)
        ivf.train(vecs)
        ivf.nprobe = self.nprobe
        ivf.set_direct_map_type(self.faiss.DirectMap.Hashtable)
        ivf.add_with_ids(vecs, ids)
        self._quantizer = quantizer  # the IVF index does not own it from Python
        self._trained_at = n
        return ivf

    def _all(self) -> tuple[np.ndarray, np.ndarray]:
        ids = self.ids()
        if not len(ids):
            return ids, np.zeros((0, self.dim), dtype=np.float32)
        return ids, np.ascontiguousarray(self.index.reconstruct_batch(ids), dtype=np.float32)

    def _maybe_restructure(self) -> None:
        n = self.index.ntotal
        if not self._is_ivf() and n >= self.ivf_threshold:
            self.index = self._ivf_from(*self._all())
        elif self._is_ivf() and (n >= 4 * self._trained_at or n < self.ivf_threshold // 2):
            ids, vecs = self._all()
            self.index = self._ivf_from(ids, vecs) if n >= self.ivf_threshold else self._rebuild_flat(ids, vecs)
        self._gpu_index = None

    def _rebuild_flat(self, ids: np.ndarray, vecs: np.ndarray):
        index = self._flat()
        if len(ids):
            index.add_with_ids(vecs, ids)
        self._trained_at = 0
        return index

    # -- the VectorStore protocol ----------------------------------------------------

    def upsert(self, ids, vectors, payloads=None) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vecs = as_matrix(vectors, self.dim)
        if not len(ids):
            return
        try:
            self.index.remove_ids(ids)  # ids stay unique only if the old ones go first
            self.index.add_with_ids(vecs, ids)
        except RuntimeError as exc:
            raise VectorStoreError(f"faiss upsert failed: {exc}") from exc
        self._maybe_restructure()

    def delete(self, ids) -> None:
        ids = np.fromiter(ids, dtype=np.int64)
        if len(ids):
            try:
                self.index.remove_ids(ids)
            except RuntimeError as exc:
                raise VectorStoreError(f"faiss delete failed: {exc}") from exc
            self._maybe_restructure()

    def search(self, vector, k: int) -> list[VectorHit]:
        if self.index.ntotal == 0 or k <= 0:
            return []
        q = as_matrix(vector, self.dim)
        if self.use_gpu:
            with self._gpu_lock:
                scores, ids = self._search_index().search(q, min(k, self.index.ntotal))
        else:
            scores, ids = self.index.search(q, min(k, self.index.ntotal))
        return [VectorHit(int(i), float(s)) for s, i in zip(scores[0], ids[0]) if i >= 0]

    def _search_index(self):
        if not self.use_gpu:
            return self.index
        if self._gpu_index is None:
            try:
                res = self.faiss.StandardGpuResources()
                self._gpu_index = self.faiss.index_cpu_to_gpu(res, 0, self.index)
            except Exception as exc:  # pragma: no cover - needs a GPU
                log.warning("GPU search unavailable (%s); using the CPU index", exc)
                self.use_gpu = False
                return self.index
        return self._gpu_index

    def ids(self) -> np.ndarray:
        if self.index.ntotal == 0:
            return np.zeros(0, dtype=np.int64)
        if not self._is_ivf():
            return self.faiss.vector_to_array(self.index.id_map).astype(np.int64)
        lists = self.index.invlists
        parts = [self.faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                 for i in range(self.index.nlist) if lists.list_size(i)]
        return np.concatenate(parts).astype(np.int64)

    def count(self) -> int:
        return int(self.index.ntotal)

    def flush(self) -> None:
        if self.path is not None:
            atomic_write(self.path, lambda tmp: self.faiss.write_index(self.index, str(tmp)))

    def clear(self) -> None:
        self.index = self._flat()
        self._trained_at = 0
        self._gpu_index = None

    def close(self) -> None:
        self._gpu_index = None
