"""Dense search: the query's embedding against the chunk vectors (max over a chunk's windows)."""

from __future__ import annotations

from indexer.embed import Embedder
from indexer.vectors import WINDOWS, VectorStore, chunk_of


def ranked(vstore: VectorStore, embedder: Embedder, query: str, k: int) -> list[tuple[int, float]]:
    """(chunk id, cosine) of the k best chunks, a chunk scored by its best window."""
    if not query.strip() or vstore.count() == 0:
        return []
    q = embedder.embed([query])[0]
    best: dict[int, float] = {}
    fetch = k * 3
    while True:
        hits = vstore.search(q, fetch)
        for h in hits:
            c = chunk_of(h.id)
            if c not in best or h.score > best[c]:
                best[c] = h.score
        if len(best) >= k or len(hits) < fetch or fetch >= k * WINDOWS:
            break
        fetch *= 2
    return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
