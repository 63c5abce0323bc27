"""Search over one index: BM25, vectors, exact matches and the graph, fused.

Modes: `lexical` (BM25 alone) and `dense` (vectors alone) are the baselines; `hybrid` fuses
every signal the index has:
- lexical: BM25 over split identifiers (the rarest terms of a long question);
- dense: the question's embedding against the chunk vectors (when the index has vectors);
- symbol: definitions of the names the question mentions (a rare name counts more);
- usage: code that uses those names (calls them, takes them as types, imports them);
- path: the files it names and the stack frames it quotes;
- message: chunks holding an error message or quoted string of the question, or a
  hyphenated name it quotes (an option, a setting, a rule's id: code chunks first);
- graph: personalized PageRank from the best units of the others but dense (the walk runs
  while the question is embedded), over forward and reverse edges (what they call, what
  calls them, their tests, their co-changed files);
- name: for a question the model reads whole (at most 128 tokens), its embedding against
  the name and parameters of the definition each unit the others found holds
  (indexer.names), when the index has vectors;
- file_lexical: BM25 over whole files, for file ranking only;
- title: the same for the question's title alone (its first line, when a body follows: an
  issue's title, a commit's subject), whose words a long body would outnumber;
- crash: the file where each stack trace the question quotes was raised (its most recent
  call in the repository), for file ranking only;
- scope: the files in the part of the project the question's first line opens with
  (`printer: ...`, `fix(form): ...`), ranked among themselves by the rest, for file
  ranking only.
Fusion is weighted reciprocal rank: each signal adds weight / (K + rank) to a unit. Files
are ranked by their units (the best counts most), plus the files the question names and
the whole-file rankings (file_lexical, title, crash), each as if a unit of that rank, then
the scope's, each file inside it as if a unit of its rank among them.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import re
import sqlite3
from dataclasses import dataclass, field, replace
from typing import Any

from graph.model import is_test_path
from indexer.embed import Embedder
from indexer.errors import IndexerError
from indexer.store import Store
from indexer.text import query_words, valid_text
from indexer.vectors import VectorStore

from . import dense, lexical, signals
from .hits import Hit, load_hits
from .query import analyze, scope_matches, without_banners

log = logging.getLogger(__name__)

MODES = ("lexical", "dense", "hybrid")
# How many units each ranked signal gives a hybrid question (BM25, the vectors, the graph walk,
# whole-file BM25), for its units, its files and its bundle alike: the depth
# benchmarks.localization measures and the weights were tuned at. The depth is no mere cut:
# a file's score sums its units', and the name signal reads the names of what the others
# found, so a deeper ranking changes the top. `search` ranked at depth 50 and `bundle` at 200
# before. On the 962 development tasks, each ranked at depths 50, 100 and 200 in one run
# (hybrid; the bundles built from each ranking): 32k bundles held 21,607, 21,912 and 21,753 of
# 25,033 gold lines, 8k bundles 16,451, 16,236 and 15,869; file Acc@1 518, 520, 511 tasks,
# Acc@5 852, 862, 860; function Acc@10 675, 668, 667.
DEPTH = 100
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="repoqa-dense")
SIGNALS = ("lexical", "dense", "symbol", "usage", "path", "message", "graph", "name")
# Signals of whole files, used in file ranking only: rankings of files (Signals.file_rankings),
# and the scope, which ranks the files the others found.
FILE_SIGNALS = ("file_lexical", "title", "crash", "scope")


class SearchError(IndexerError):
    pass


@dataclass(frozen=True)
class FusionWeights:
    """How much each signal's ranking counts: chosen by benchmarks.fusion_tune on one half of
    the development tasks (962 tasks, 6 repositories; coordinate descent from hand-set
    starting values, then again when whole-file BM25 came in, and when the title and crash
    signals did: title 2.0 chosen from 0; for crash the tuner is indifferent between 0 and
    2.0, kept for the questions whose title says little) and reported on the other."""

    lexical: float = 1.0
    dense: float = 1.0
    symbol: float = 1.0
    usage: float = 0.5
    path: float = 1.0
    message: float = 2.0
    graph: float = 0.15
    name: float = 1.0
    file_lexical: float = 0.5
    title: float = 2.0
    crash: float = 2.0
    # Not chosen by the tuner: 11 of the 962 development tasks open with a scope that names a
    # part of their repository. The weight of the path signal (a file the question names),
    # of which a scope is a looser kind.
    scope: float = 1.0
    docs: float = 0.2  # a unit of prose (documentation, changelogs, examples) relative to one of code
    tests: float = 0.3  # a unit in test code relative to one in the code under test
    k: float = 60.0  # the reciprocal-rank constant (Cormack et al. 2009)
    seeds: int = 10  # units the graph walk starts from
    file_decay: float = 0.25  # a file's n-th best unit counts file_decay**n of its score

    def of(self, name: str) -> float:
        return float(getattr(self, name))


DEFAULT_WEIGHTS = FusionWeights()


@dataclass
class Signals:
    """Each signal's ranking of chunks for one question, best first, and the files it names."""

    rankings: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    files: dict[str, float] = field(default_factory=dict)
    prose: set[int] = field(default_factory=set)  # chunks of documentation, examples, vendored code
    tests: set[int] = field(default_factory=set)  # chunks of test code
    known: set[int] = field(default_factory=set)  # chunks the store has
    paths: dict[int, str] = field(default_factory=dict)  # chunk id -> its file, for every known chunk
    file_rankings: dict[str, list[str]] = field(default_factory=dict)  # FILE_SIGNALS: paths, best first
    prose_files: set[str] = field(default_factory=set)  # files of documentation or vendored code among those
    scopes: list[str] = field(default_factory=list)  # the parts of the project the question opens with
    # The question's vector as dense search looked for it, and whether the model read the
    # question whole: a deeper ranking of the same question searches with it again.
    vector: tuple[Any, bool] | None = None


@dataclass(frozen=True, slots=True)
class Fused:
    chunk_id: int
    score: float
    ranks: dict[str, int]  # signal -> 1-based rank of this unit in it


@dataclass(frozen=True, slots=True)
class FileHit:
    path: str
    score: float
    units: tuple[int, ...]  # its chunk ids in the ranking, best first
    ranks: dict[str, int]  # signal -> best rank of any of its units (or "path": the mention)


# Ranks, not scores: fusing the BM25, vector and name scores themselves was tried on 929
# development tasks (flask's, requests' and fzf's needles and commits, their 9 SWE-bench issues
# at their commits, sympy's 77 on one index; replayed from `benchmarks.localization
# --signals-out`). Each of those signals' terms scaled by its min-max normalized score (by
# 0.5 + 0.5 z or z, z or z squared), or replaced by the normalized score (a convex
# combination), for BM25, vectors, names or several: the best on the choosing half (the mean
# of file Acc@1, Acc@5, MRR and function Acc@10 per kind: 0.762 against 0.746) lost on the
# other (0.732 against 0.742); no setting gained on both halves.
def fuse_signals(sig: Signals, weights: FusionWeights, names=SIGNALS) -> list[Fused]:
    """Weighted reciprocal rank fusion of the signals' rankings."""
    scores: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    for name in names:
        w = weights.of(name)
        ranking = sig.rankings.get(name) or []
        if w <= 0:
            continue
        for rank, (cid, _) in enumerate(ranking, 1):
            scores[cid] = scores.get(cid, 0.0) + w / (weights.k + rank)
            ranks.setdefault(cid, {})[name] = rank
    if sig.prose or sig.tests:  # the priors: what a question about code most likely wants
        for cid in scores:
            if cid in sig.prose:
                scores[cid] *= weights.docs
            if cid in sig.tests:
                scores[cid] *= weights.tests
    order = sorted(scores, key=lambda c: (-scores[c], c))
    return [Fused(c, scores[c], ranks[c]) for c in order]


def rank_files(fused: list[Fused], chunk_paths: dict[int, str], sig: Signals, weights: FusionWeights) -> list[FileHit]:
    """Files by their units' fused scores, the n-th best unit counting file_decay**n, plus the
    files the question names (as if each were a unit ranked by the path signal), plus the
    whole-file rankings (each file as if a unit of its rank there, with the same priors)."""
    per: dict[str, list[Fused]] = {}
    for f in fused:
        path = chunk_paths.get(f.chunk_id)
        if path is not None:
            per.setdefault(path, []).append(f)
    mentioned = sorted(sig.files.items(), key=lambda kv: -kv[1])
    bonus = {p: weights.path / (weights.k + r) for r, (p, _) in enumerate(mentioned, 1)}
    whole: dict[str, float] = {}
    whole_ranks: dict[str, dict[str, int]] = {}
    for name in FILE_SIGNALS:
        w = weights.of(name)
        for r, p in enumerate(sig.file_rankings.get(name, []) if w > 0 else [], 1):
            whole[p] = whole.get(p, 0.0) + _prior(p, sig, weights) * w / (weights.k + r)
            whole_ranks.setdefault(p, {})[name] = r
    out = []
    for path in set(per) | set(bonus) | set(whole):
        units = per.get(path, [])
        score = (sum(u.score * weights.file_decay ** i for i, u in enumerate(units)) + bonus.get(path, 0.0)
                 + whole.get(path, 0.0))
        ranks: dict[str, int] = dict(whole_ranks.get(path, {}))
        for u in units:
            for name, r in u.ranks.items():
                ranks[name] = min(r, ranks.get(name, r))
        if path in bonus:
            ranks["path"] = min(ranks.get("path", 10**9), list(bonus).index(path) + 1)
        out.append(FileHit(path, score, tuple(u.chunk_id for u in units), ranks))
    if sig.scopes and weights.scope > 0:
        out = _scoped(out, sig, weights)
    out.sort(key=lambda h: (-h.score, h.path))
    return out


def _scoped(hits: list[FileHit], sig: Signals, weights: FusionWeights) -> list[FileHit]:
    """The scope signal: the found files in the scope the question opens with, ranked by what
    the other signals gave them, each adding weight / (K + its rank there) (with the priors)."""
    inside = sorted((h for h in hits if any(scope_matches(s, h.path) for s in sig.scopes)),
                    key=lambda h: (-h.score, h.path))
    rank = {h.path: r for r, h in enumerate(inside, 1)}
    out = []
    for h in hits:
        r = rank.get(h.path)
        if r is None:
            out.append(h)
            continue
        out.append(replace(h, score=h.score + _prior(h.path, sig, weights) * weights.scope / (weights.k + r),
                           ranks={**h.ranks, "scope": r}))
    return out


def _prior(path: str, sig: Signals, weights: FusionWeights) -> float:
    """What a whole-file signal's vote for `path` is worth: documentation and tests count less."""
    return (weights.docs if path in sig.prose_files or is_peripheral(path) else 1.0) * \
        (weights.tests if is_test_path(path) else 1.0)


@dataclass(frozen=True)
class Searcher:
    """Search one index; `vstore` and `embedder` are None when the index has no vectors
    (hybrid search then fuses the other signals)."""

    store: Store
    vstore: VectorStore | None = None
    embedder: Embedder | None = None
    weights: FusionWeights = DEFAULT_WEIGHTS
    # A language model that reranks the best `rerank_depth` code units of a hybrid ranking
    # (retrieval.rerank); None: the fused ranking stands.
    scorer: Any = None
    rerank_depth: int = 0

    def _check(self, mode: str) -> None:
        if mode not in MODES:
            raise SearchError(f"unknown search mode {mode!r} (one of {', '.join(MODES)})")
        if mode == "dense" and (self.vstore is None or self.embedder is None):
            raise SearchError("dense search needs vectors: run `repoqa index` with embeddings")

    @property
    def has_vectors(self) -> bool:
        return self.vstore is not None and self.embedder is not None

    def signals(self, query: str, depth: int = DEPTH, mode: str = "hybrid",
                vector: tuple[Any, bool] | None = None) -> Signals:
        """Every signal's ranking for `query` (`mode` lexical or dense: that one alone);
        `vector`: the question's (`Signals.vector` of an earlier ranking), not embedded again."""
        self._check(mode)
        query = without_banners(valid_text(query))
        sig = Signals()
        # The query's embedding and vector search run on another thread while SQLite answers
        # the rest here, graph walk included: the model's kernels, SQLite and the walk's
        # matrix products release the GIL, so on two cores they mostly overlap. The walk
        # starts from the other signals' best units, not waiting for the embedding (30 ms
        # of a 50 ms sympy search, on one core, while the rest took 22 ms).
        vectors = None
        qvec = names = None
        whole = False
        if mode in ("dense", "hybrid") and self.has_vectors:
            if vector is not None:
                vectors = _POOL.submit(lambda: (dense.ranked_by_vector(self.vstore, vector[0], depth), *vector))
            else:
                vectors = _POOL.submit(dense.ranked_with_vector, self.vstore, self.embedder, query, depth)
        try:
            vendored = signals.vendored_dirs(self.store)
            if mode in ("lexical", "hybrid"):
                sig.rankings["lexical"] = lexical.ranked(self.store, query, depth)
            if mode == "hybrid":
                info = analyze(query)
                for name, text in (("file_lexical", query), ("title", info.title)):
                    if self.weights.of(name) > 0 and text:
                        found = lexical.ranked_files(self.store, text, depth)
                        sig.file_rankings[name] = [p for p, _, _ in found]
                        sig.prose_files |= {p for p, _, lang in found if lang == "text"}
                sig.scopes = info.scopes
                sig.rankings["symbol"] = signals.symbols(self.store, info)
                sig.rankings["usage"] = signals.usages(self.store, info)
                sig.rankings["path"], sig.files, crash = signals.paths(self.store, info)
                sig.file_rankings["crash"] = crash
                sig.rankings["message"] = signals.messages(
                    self.store, info, incidental=lambda kind, p: _is_prose(kind, p, vendored) or is_test_path(p))
                # A vendored package's code counts as prose does: another project's, copied in.
                sig.prose_files |= {p for r in sig.file_rankings.values() for p in r if p.startswith(vendored)}
                self._classify(sig, vendored)
                sig.rankings["graph"] = self._graph(sig, depth)
                if vectors is not None and self.weights.name > 0 and dense.read_whole(self.embedder, query):
                    # Read while the question is embedded. Whether the model reads it whole is
                    # known from its tokens, not only its words: 30 of 60 sympy issue texts have
                    # at most 128 words but more tokens, and reading their units' names (8-19
                    # ms) for nothing was on the search's critical path.
                    found = fuse_signals(sig, self.weights, [n for n in SIGNALS if n not in ("dense", "name")])
                    names = self._names([f.chunk_id for f in found])
        finally:
            if vectors is not None:
                sig.rankings["dense"], qvec, whole = vectors.result()
                sig.vector = (qvec, whole) if qvec is not None else None
        if names is not None and qvec is not None and whole:
            names = self._names([c for c, _ in sig.rankings["dense"]], names)
            if names is not None:
                sig.rankings["name"] = dense.names_ranked(qvec, names)
        self._classify(sig, vendored)
        return sig

    def _names(self, chunk_ids: list[int], have: dense.NameVectors | None = None) -> dense.NameVectors | None:
        """The units' names and their vectors; None (no name signal) when they cannot be had:
        a remote model that fails to embed the names the cache lacks fails no search."""
        try:
            return dense.name_vectors(self.store, self.embedder, chunk_ids, have)
        except IndexerError as exc:
            log.warning("no name signal: %s", exc)
            return None

    def _classify(self, sig: Signals, vendored: tuple[str, ...]) -> None:
        """Mark prose and test chunks (`vendored`: directories of copied packages, whose code
        counts as prose); drop ids the store no longer has (vectors may lag)."""
        ids = sorted({c for r in sig.rankings.values() for c, _ in r} - sig.known)
        for cid, kind, path in self.store.conn.execute(
                "SELECT c.id, c.kind, f.path FROM chunks c JOIN files f ON f.id = c.file_id "
                "WHERE c.id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)):
            sig.known.add(cid)
            sig.paths[cid] = path
            if _is_prose(kind, path, vendored):
                sig.prose.add(cid)
            if is_test_path(path):
                sig.tests.add(cid)
        for name, ranking in sig.rankings.items():
            sig.rankings[name] = [(c, v) for c, v in ranking if c in sig.known]

    def _graph(self, sig: Signals, depth: int) -> list[tuple[int, float]]:
        w = self.weights
        if w.graph <= 0 or w.seeds <= 0 or not _has_graph(self.store):
            return []
        first = fuse_signals(sig, w, [n for n in SIGNALS if n not in ("graph", "dense")])[:w.seeds]
        nodes = signals.chunk_nodes(self.store, [f.chunk_id for f in first])
        seeds: dict[int, float] = {}
        for f in first:
            ids = nodes.get(f.chunk_id, [])
            for nid in ids:
                seeds[nid] = seeds.get(nid, 0.0) + f.score / len(ids)
        if not seeds:
            return []
        from graph.rank import ranker_for

        try:
            top = ranker_for(self.store).top(seeds, k=depth, exclude_seeds=True)
        except (sqlite3.DatabaseError, OSError, ValueError) as exc:
            log.info("graph expansion skipped: %s", exc)
            return []
        chunks = signals.node_chunks(self.store, [n for n, _ in top])
        out, seen = [], {f.chunk_id for f in first}
        for nid, score in top:
            cid = chunks.get(nid)
            if cid is not None and cid not in seen:
                seen.add(cid)
                out.append((cid, score))
        return out

    def fused(self, query: str, mode: str = "hybrid", depth: int = DEPTH,
              vector: tuple[Any, bool] | None = None, rerank: bool = True) -> tuple[list[Fused], Signals]:
        """The fused ranking; a baseline mode (lexical, dense) keeps its signal's own order, as
        the scores it shows are that signal's: no priors for prose and tests. `rerank`: with
        the searcher's scorer, if it has one (not for a deeper ranking's tail)."""
        sig = self.signals(query, depth, mode, vector)
        weights = self.weights if mode == "hybrid" else replace(self.weights, docs=1.0, tests=1.0)
        fused = fuse_signals(sig, weights)
        if rerank and mode == "hybrid" and self.scorer is not None and self.rerank_depth > 0:
            from .rerank import rerank

            fused = rerank(self.store, query, fused, sig, self.scorer, self.rerank_depth)
        return fused, sig

    def search(self, query: str, mode: str = "hybrid", k: int = 10) -> list[Hit]:
        fused, sig = self._top(query, mode, k)
        return self._hits(query, fused, sig, mode)

    def _top(self, query: str, mode: str, k: int) -> tuple[list[Fused], Signals]:
        """The k best units. A hybrid ranking is the one at DEPTH whatever k is, so that asking
        for more results never reorders the first ones; when it holds fewer than k units,
        those of a ranking k deep follow, in its order (their scores held at or below the
        last one's, so that the list stays sorted by score)."""
        _check_k(k)
        if mode != "hybrid":
            fused, sig = self.fused(query, mode, k)
            return fused[:k], sig
        fused, sig = self.fused(query, mode, DEPTH)
        return _followed(fused, k, lambda: self.fused(query, mode, k, sig.vector, rerank=False)[0],
                         lambda f: f.chunk_id), sig

    def _hits(self, query: str, fused: list[Fused], sig: Signals, mode: str) -> list[Hit]:
        scored = [(f.chunk_id, f.score if mode == "hybrid" else _raw_score(sig, f)) for f in fused]
        hits = load_hits(self.store, scored, set(query_words(query)))
        ranks = {f.chunk_id: f.ranks for f in fused}
        return [replace(h, ranks=ranks.get(h.chunk_id, {})) for h in hits]

    def files(self, query: str, mode: str = "hybrid", k: int = 10) -> list[FileHit]:
        """The k best files, ranked from the units at DEPTH (as `search` ranks them), in every
        mode: a file sums its units, so a baseline's files too depend on how deep its units
        go; when fewer were found, those of a ranking k deep follow, as in `_top`."""
        _check_k(k)
        fused, sig = self.fused(query, mode, DEPTH)

        def deeper() -> list[FileHit]:
            more, msig = self.fused(query, mode, k, sig.vector, rerank=False)
            return rank_files(more, msig.paths, msig, self.weights)

        return _followed(rank_files(fused, sig.paths, sig, self.weights), k, deeper, lambda f: f.path)


def _check_k(k: int) -> None:
    # SQLite reads a negative LIMIT as none: a negative k would return everything.
    if k < 0:
        raise SearchError(f"cannot return {k} results (k must be 0 or more)")


def _followed(head: list, k: int, deeper, key) -> list:
    """`head` (units or files, best first) cut to k; where it holds fewer and k is past DEPTH,
    the items of `deeper()` (a ranking k deep) it lacks follow in their order, each score held
    at or below the last one's so that the list stays sorted by score."""
    out = head[:k]
    if len(out) < k and k > DEPTH:
        have = {key(x) for x in out}
        floor = out[-1].score if out else float("inf")
        for x in deeper():
            if len(out) >= k:
                break
            if key(x) not in have:
                have.add(key(x))
                floor = min(floor, x.score)
                out.append(replace(x, score=floor))
    return out


def _raw_score(sig: Signals, f: Fused) -> float:
    """A baseline mode shows its own score (BM25, cosine), not the fused one."""
    for name, rank in f.ranks.items():
        ranking = sig.rankings.get(name) or []
        if 0 < rank <= len(ranking):
            return float(ranking[rank - 1][1])
    return f.score


# Directories of documentation, examples and benchmarks: code there illustrates or measures the
# project rather than being it, so it counts as prose does.
PERIPHERAL_DIRS = frozenset({"doc", "docs", "example", "examples", "demo", "demos", "sample", "samples",
                             "bench", "benchmark", "benchmarks"})


# A script or stylesheet named for a release of a library (jquery-3.5.1.js,
# bootstrap-4.6.2.bundle.min.js) is another project's code copied in: long, and full of every
# word, it counts as prose does too. Other languages vendor by directory (the scan skips those).
_RELEASE_NAME = re.compile(r"^[A-Za-z][\w.-]*?[A-Za-z]-v?\d+(?:\.\d+)+(?:[.-][A-Za-z]\w*)*\.(?:js|mjs|cjs|css)$")


def is_peripheral(path: str) -> bool:
    parts = path.split("/")
    return any(part.lower() in PERIPHERAL_DIRS for part in parts[:-1]) or bool(_RELEASE_NAME.search(parts[-1]))


def _is_prose(kind: str, path: str, vendored: tuple[str, ...]) -> bool:
    """A chunk that counts as prose: text, documentation or examples, or vendored code."""
    return kind == "text" or is_peripheral(path) or path.startswith(vendored)


def _has_graph(store: Store) -> bool:
    try:
        return store.conn.execute("SELECT 1 FROM graph_nodes LIMIT 1").fetchone() is not None
    except sqlite3.DatabaseError:
        return False

