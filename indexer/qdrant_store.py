"""Qdrant vector store: the embedded local mode (a path) or a server/cluster (a URL).

The only module that imports qdrant_client. Every error the client raises, whatever the
backend, comes out as a VectorStoreError.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .vectors import VectorHit, VectorStoreError, as_matrix

log = logging.getLogger(__name__)

_BATCH = 512


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except VectorStoreError:
        raise
    except Exception as exc:  # qdrant_client raises several unrelated types by backend
        raise VectorStoreError(f"qdrant {what} failed: {exc}") from exc


class QdrantStore:
    """One collection of cosine vectors with a payload per point (path, lines, symbol,
    language, chunk id), so a server can filter by path prefix or language."""

    kind = "qdrant"

    def __init__(self, dim: int, *, path: Path | None = None, url: str | None = None,
                 api_key: str | None = None, collection: str = "repoqa_chunks", timeout: float = 30.0):
        try:
            from qdrant_client import QdrantClient, models
        except ImportError as exc:
            raise VectorStoreError("qdrant-client is not installed: pip install 'repoqa[qdrant]'") from exc
        self.models = models
        self.dim = dim
        self.collection = collection
        self.remote = bool(url)
        with _translated("connect"):
            if url:
                self.client = QdrantClient(url=url, api_key=api_key, timeout=int(timeout))
            else:
                if path is None:
                    raise VectorStoreError("qdrant needs a local path or a server url")
                path.mkdir(parents=True, exist_ok=True)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # local mode warns above 20k points
                    self.client = QdrantClient(path=str(path))
            self._ensure_collection()

    def _ensure_collection(self) -> None:
        m = self.models
        if self.client.collection_exists(self.collection):
            info = self.client.get_collection(self.collection)
            size = info.config.params.vectors.size  # type: ignore[union-attr]
            if size == self.dim:
                return
            log.warning("collection %s has dimension %s, not %s: recreating it", self.collection, size, self.dim)
            self.client.delete_collection(self.collection)
        self.client.create_collection(
            self.collection, vectors_config=m.VectorParams(size=self.dim, distance=m.Distance.COSINE))
        if self.remote:  # local mode has no payload indexes (filters work without them)
            for field in ("path", "language"):
                self.client.create_payload_index(self.collection, field, m.PayloadSchemaType.KEYWORD)

    def upsert(self, ids, vectors, payloads=None) -> None:
        vecs = as_matrix(vectors, self.dim)
        ids = [int(i) for i in ids]
        payloads = list(payloads) if payloads is not None else [{} for _ in ids]
        with _translated("upsert"):
            for i in range(0, len(ids), _BATCH):
                self.client.upsert(self.collection, points=self.models.Batch(
                    ids=ids[i:i + _BATCH], vectors=vecs[i:i + _BATCH].tolist(),
                    payloads=payloads[i:i + _BATCH]), wait=True)

    def delete(self, ids) -> None:
        ids = [int(i) for i in ids]
        with _translated("delete"):
            for i in range(0, len(ids), _BATCH):
                self.client.delete(self.collection, points_selector=self.models.PointIdsList(
                    points=ids[i:i + _BATCH]), wait=True)

    def search(self, vector, k: int, *, language: str = "") -> list[VectorHit]:
        if k <= 0:
            return []
        q = as_matrix(vector, self.dim)[0]
        m = self.models
        where = (m.Filter(must=[m.FieldCondition(key="language", match=m.MatchValue(value=language))])
                 if language else None)
        with _translated("search"):
            res = self.client.query_points(self.collection, query=q.tolist(), limit=k, query_filter=where)
        return [VectorHit(int(p.id), float(p.score)) for p in res.points]

    def ids(self) -> np.ndarray:
        out: list[int] = []
        offset = None
        with _translated("scroll"):
            while True:
                points, offset = self.client.scroll(self.collection, limit=4096, offset=offset,
                                                    with_payload=False, with_vectors=False)
                out.extend(int(p.id) for p in points)
                if offset is None:
                    break
        return np.array(out, dtype=np.int64)

    def count(self) -> int:
        with _translated("count"):
            return int(self.client.count(self.collection, exact=True).count)

    def flush(self) -> None:
        pass  # upserts are acknowledged with wait=True: durable when they return

    def clear(self) -> None:
        with _translated("clear"):
            self.client.delete_collection(self.collection)
            self._ensure_collection()

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing is best effort
            pass
