"""Search modes over one index: lexical (BM25), dense (vectors) and hybrid (fused)."""

from __future__ import annotations

from dataclasses import dataclass

from indexer.embed import Embedder
from indexer.errors import IndexerError
from indexer.store import Store
from indexer.text import query_words
from indexer.vectors import VectorStore

from . import dense, lexical
from .hits import Hit, load_hits

MODES = ("lexical", "dense", "hybrid")
RRF_K = 60  # reciprocal rank fusion constant (Cormack et al. 2009)


class SearchError(IndexerError):
    pass


@dataclass(frozen=True)
class Searcher:
    """Search one index; `vstore` and `embedder` are None when the index has no vectors."""

    store: Store
    vstore: VectorStore | None = None
    embedder: Embedder | None = None

    def ranked(self, query: str, mode: str, k: int) -> list[tuple[int, float]]:
        if mode not in MODES:
            raise SearchError(f"unknown search mode {mode!r} (one of {', '.join(MODES)})")
        if mode == "lexical":
            return lexical.ranked(self.store, query, k)
        if self.vstore is None or self.embedder is None:
            raise SearchError(f"{mode} search needs vectors: run `repoqa index` with embeddings")
        if mode == "dense":
            return dense.ranked(self.vstore, self.embedder, query, k)
        depth = max(k * 2, 50)
        return fuse([lexical.ranked(self.store, query, depth),
                     dense.ranked(self.vstore, self.embedder, query, depth)], k)

    def search(self, query: str, mode: str = "hybrid", k: int = 10) -> list[Hit]:
        return load_hits(self.store, self.ranked(query, mode, k), set(query_words(query)))


def fuse(rankings: list[list[tuple[int, float]]], k: int) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of several rankings of chunk ids."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, (cid, _) in enumerate(ranking):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
