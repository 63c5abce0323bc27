"""Lexical search: BM25 over the store's full-text index of chunks (identifiers split)."""

from __future__ import annotations

import functools
import json
import math
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from indexer.errors import StoreError
from indexer.store import Store
from indexer.text import identifiers, query_words, split_identifier

from .hits import Hit, load_hits

# Words that carry no signal in a question about code; dropped unless nothing else is left.
STOPWORDS = frozenset("""
a an the is are was were be been being am to of in on at by for with from as into onto about
and or but not no nor so if then than that this these those it its it's i we you they he she
how what where when why which who whom whose does do did done doing can could should would will
shall may might must there here get gets got has have had having any all some each every
me my our your their them us please find show tell explain code function method file files
""".split())
_MAX_TERMS = 32
# A long question (an issue with a traceback) has hundreds of words: BM25 over all of them is
# slow and drowned by common ones, so it keeps the rarest terms (by document frequency).
_LONG_QUERY_TERMS = 20
# A word in more than this share of the chunks is not searched (in a short query, only if it
# is in _CHEAP_POSTINGS chunks or more). Short questions kept words in up to half the chunks:
# BM25 for sympy's 60 SWE-bench issue texts took p99 182 ms that way, 95 ms at a fifth (old and
# new rule alternating, one process). Gold files' ranks moved for 3 of 75 sympy issues (all
# below 30), none of pytest's or sphinx's 16 each; indexes under 4,000 chunks do not change.
_COMMON_SHARE = 0.2
# A short question drops a word in more than a tenth of the chunks (and in _CHEAP_POSTINGS or
# more; so only indexes over 10,000 chunks change). Such a word's idf is at most ln 9, and its
# postings cost 6-8 ms a word on sympy (`uses`, `set`, `expression`). Sympy, old and new share
# alternating in one process: BM25 for 60 short questions made from symbol names p50 23.7 ->
# 10.0 ms, p99 46 -> 30; for the 60 issue texts p99 91.5 -> 77.4. The 75 sympy issues' gold
# files rank the same in hybrid search (BM25 alone: one 2 -> 4).
_SHORT_SHARE = 0.1
_CHEAP_POSTINGS = 2000  # a word in fewer chunks than this is cheap to search, however common
# FTS5's BM25 costs about a microsecond for each chunk it scores: a long query's terms, rarest
# first, stop where they would occur in more chunks than this between them (the rarest is
# always kept; a phrase counts the chunks holding it, though its words' postings are read).
# On 119 SWE-bench issue texts, hybrid file ranking was better in total (sympy Acc@1 43 -> 44
# of 77, one task's gold file 2 -> 4; BM25 alone lost 3 there and gained 1 elsewhere);
# sympy search p50 45.7 -> 41.8 ms.
_POSTINGS_BUDGET = 5000
_FILE_TERMS = 40  # file-level BM25 reads the postings of at most this many terms, the rarest
_FILE_COMMON_SHARE = 0.2  # and of none in more than this share of the files


def query_terms(query: str) -> list[str]:
    """The words and identifier phrases to search for, in the query's order.

    An identifier made of several words (`op_7_3`, `parseHTTPResponse`) is also searched
    as a phrase, so the exact name outranks documents that only share its parts.
    """
    return list(_query_terms(query))


@functools.lru_cache(maxsize=32)
def _query_terms(query: str) -> tuple[str, ...]:
    # One search asks twice (chunks, then files), and an issue with a log in it has thousands
    # of words: the longest SWE-bench text here (22,778 characters) took 19.5 ms a call before
    # each distinct identifier was split once, 5.4 ms after.
    words = query_words(query)
    kept = [w for w in words if w not in STOPWORDS and len(w) > 1] or [w for w in words if len(w) > 1]
    phrases = [" ".join(parts) for parts in map(split_identifier, dict.fromkeys(identifiers(query)))
               if len(parts) > 1]
    return tuple(dict.fromkeys(phrases + kept))  # each once, in the place it first has


def fts_query(query: str, terms: list[str] | None = None) -> str | None:
    """An FTS5 OR-query over the query's words (or the given terms); None when it has none."""
    seen = query_terms(query) if terms is None else terms
    if not seen:
        return None
    return " OR ".join(f'"{w}"' for w in seen[:_MAX_TERMS])


class _Frequencies:
    """Document frequencies of terms, per index state: `count`, SQL counting the documents
    holding the term `?`; `totals`, SQL for (documents, mean length). `state`: the meta key
    whose change retires the counts: `created_ns` keeps them across updates (rough counts
    are enough to choose terms), `updated_ns` keeps them until the next update (scores
    need the counts of the index they rank)."""

    def __init__(self, count: str, totals: str, state: str):
        self.count, self.totals, self.state = count, totals, state
        self.lock = threading.Lock()
        self.by_index: dict[tuple[str, str], dict[str, float]] = {}

    def get(self, store: Store, terms: list[str], state: str | None = None) -> tuple[dict[str, int], int, float]:
        """(document frequency of each term, documents, mean length); `state`: the value of
        the meta key `self.state` the caller read, else read here."""
        key = (str(store.path), _meta_value(store, self.state) if state is None else state)
        with self.lock:
            cache = self.by_index.setdefault(key, {})
            missing = [t for t in terms if t not in cache]
        found: dict[str, float] = {}
        failed: dict[str, float] = {}  # counted 0 for this question, not kept
        for t in missing:
            try:
                found[t] = store.conn.execute(self.count, (t,)).fetchone()[0]
            except sqlite3.DatabaseError as exc:
                _reraise_interrupt(exc)
                failed[t] = 0
        if "\0total" not in cache:
            try:
                n, mean = store.conn.execute(self.totals).fetchone()
                found["\0total"], found["\0mean"] = n or 0, float(mean or 0.0)
            except sqlite3.DatabaseError as exc:
                _reraise_interrupt(exc)
                failed["\0total"], failed["\0mean"] = 0, 0.0
        with self.lock:
            if len(cache) + len(found) > _MAX_COUNTED:  # a long-lived index asked every word there is
                kept = {k: cache[k] for k in ("\0total", "\0mean", *terms) if k in cache}
                cache.clear()
                cache.update(kept)
            cache.update(found)
            if len(self.by_index) > 16:
                self.by_index.pop(next(iter(self.by_index)))
            def count(t: str) -> float:
                return failed[t] if t in failed else cache[t]

            return {t: int(count(t)) for t in terms}, int(count("\0total")), count("\0mean")


_MAX_COUNTED = 200_000  # terms whose counts are kept per index state


def _reraise_interrupt(exc: sqlite3.DatabaseError) -> None:
    """A call cancelled or past its deadline (the service's progress handler) stops here too,
    rather than leaving a count of 0 for the index's lifetime."""
    if isinstance(exc, sqlite3.OperationalError) and "interrupt" in str(exc).lower():
        raise exc


_FREQ = _Frequencies("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH '\"' || ? || '\"'",
                     "SELECT count(*), 0 FROM chunks", "created_ns")


def select_terms(store: Store, query: str, budget: int | None = None) -> list[str]:
    """The query's terms, less those in more than _COMMON_SHARE of the chunks (a short
    query: _SHORT_SHARE). BM25 weighs such a word little (FTS5's idf is at most ln 4 at a
    fifth, ln 9 at a tenth, against 6 for a word in 0.25% of the chunks, and 1e-6 from half
    the chunks on), but reading its postings is most of a search's cost: `sympy` is in 98% of
    sympy's chunks (60 ms of a 70 ms search); `return`, `tested` and `import`, in 45, 39 and
    24% of them, took a short question's BM25 to 163 ms. A short query keeps such a word when
    it is in fewer than _CHEAP_POSTINGS chunks, or when no other word occurs. A long query
    keeps only the rarest terms that occur at all, within the postings budget (`budget`,
    default _POSTINGS_BUDGET; 0 for none; the rarest term is always kept)."""
    terms = query_terms(query)
    if not terms:
        return terms
    df, total, _ = _FREQ.get(store, terms)
    if len(terms) <= _LONG_QUERY_TERMS:
        kept = [t for t in terms if df[t] <= total * _SHORT_SHARE or df[t] < _CHEAP_POSTINGS]
        return kept if any(df[t] for t in kept) else terms
    budget = _POSTINGS_BUDGET if budget is None else budget
    keep, read = set(), 0
    for t in _rarest(terms, df, max(50, int(total * _COMMON_SHARE)), _LONG_QUERY_TERMS):
        if keep and budget and read + df[t] > budget:
            break
        keep.add(t)
        read += df[t]
    return [t for t in terms if t in keep] or terms[:_LONG_QUERY_TERMS]


def _rarest(terms: list[str], df: dict[str, int], cap: int, n: int) -> list[str]:
    """The n rarest of the (distinct) terms found in 1 to `cap` documents, rarest first; ties
    in the query's order."""
    order = {t: i for i, t in enumerate(terms)}
    return sorted((t for t in terms if 0 < df[t] <= cap), key=lambda t: (df[t], order[t]))[:n]


class _TermScores:
    """Each term's share of the BM25 score of every document holding it, per index state (the
    meta key `updated_ns`: any update retires them), kept for the terms asked last, up to
    _CACHED_BYTES (by estimate: _ENTRY_BYTES a term, 16 bytes a posting).

    BM25 sums over the query's terms, each weighed by its own document frequency, so a
    document's score for an OR-query is the sum of its scores for each term alone (FTS5's
    bm25() gives the same scores to the last bit on sympy's issue texts). Reading a term's
    postings is a search's cost: a microsecond or two for each document holding it, and
    questions share their common words (`list`, `integer`, `simplify`: 2,500-3,900 of sympy's
    chunks each). A term seen before costs nothing to read again; a new one what it costs in
    one query. A term that would take more than a quarter of the bound is read, not kept."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.states: dict[str, str] = {}  # index path -> the state its entries are of
        self.size = 0  # bytes, by estimate

    def get(self, store: Store, terms: list[str], fetch: Callable[[str], list[tuple[int, float]]],
            state: str | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """(document ids, scores) for each term, in the terms' order; `fetch(term)` reads a
        term's (id, score) rows from the store; `state`: the index state the caller read
        (`index_state`), when what `fetch` computes depends on it."""
        path = str(store.path)
        state = index_state(store) if state is None else state
        with self.lock:
            if self.states.get(path) != state:
                self._drop(path)
                self.states[path] = state
            found = {}
            for t in terms:
                got = self.entries.get((path, state, t))
                if got is not None:
                    self.entries.move_to_end((path, state, t))
                    found[t] = got
        fetched = {}
        for t in dict.fromkeys(terms):
            if t not in found:
                rows = fetch(t)
                ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
                scores = np.fromiter((r[1] for r in rows), np.float64, len(rows))
                fetched[t] = found[t] = (ids, scores)
        with self.lock:
            if self.states.get(path) == state:  # not retired meanwhile by a newer state
                for t, got in fetched.items():
                    if _cost(got) <= _CACHED_BYTES // 4 and (path, state, t) not in self.entries:
                        self.entries[(path, state, t)] = got
                        self.size += _cost(got)
                while self.size > _CACHED_BYTES:
                    self.size -= _cost(self.entries.popitem(last=False)[1])
        return [found[t] for t in terms]

    def _drop(self, path: str) -> None:
        for key in [key for key in self.entries if key[0] == path]:
            self.size -= _cost(self.entries.pop(key))
        if len(self.states) > 16:
            self.states.pop(next(iter(self.states)))

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.states.clear()
            self.size = 0


def _cost(entry: tuple[np.ndarray, np.ndarray]) -> int:
    return _ENTRY_BYTES + 16 * len(entry[0])


def index_state(store: Store) -> str:
    """What retires kept scores: the index's `updated_ns`, which every update sets in the
    transaction that changes its chunks and files."""
    return _meta_value(store, "updated_ns")


def _meta_value(store: Store, key: str) -> str:
    row = store.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else ""


# Bytes kept per cache, by estimate: a term's entry (its key, arrays and place in the order)
# takes about _ENTRY_BYTES besides its postings' 16 bytes each. Sympy's 77 SWE-bench issue
# texts read 1,006 terms' 0.21 million chunk postings (3.8 MB) and 1,318 terms' 0.09 million
# file postings (2.1 MB).
_CACHED_BYTES = 24_000_000
_ENTRY_BYTES = 512
_CHUNK_SCORES = _TermScores()
_FILE_SCORES = _TermScores()


def forget_term_scores() -> None:
    """Drop every term's kept scores (chunks and files): the next question reads them all."""
    _CHUNK_SCORES.clear()
    _FILE_SCORES.clear()


def _top(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> list[tuple[int, float]]:
    """(id, summed score) of the k best documents, best first, ties by id."""
    parts = [p for p in parts if len(p[0])]
    if not parts or k <= 0:
        return []
    ids, inverse = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
    totals = np.bincount(inverse, weights=np.concatenate([p[1] for p in parts]), minlength=len(ids))
    if len(ids) > k:
        best = np.argpartition(-totals, k - 1)[:k]
        cut = totals[best].min()
        best = np.flatnonzero(totals >= cut)  # ties at the cut are settled by id, as below
    else:
        best = np.arange(len(ids))
    order = best[np.lexsort((ids[best], -totals[best]))][:k]
    return [(int(i), float(s)) for i, s in zip(ids[order], totals[order])]


def ranked(store: Store, query: str, k: int) -> list[tuple[int, float]]:
    """(chunk id, BM25 score) of the k best chunks for `query`, best first (ties by id)."""
    terms = select_terms(store, query)[:_MAX_TERMS]
    if not terms:
        return []

    def fetch(term: str) -> list[tuple[int, float]]:
        return store.conn.execute("SELECT rowid, -rank FROM chunks_fts WHERE chunks_fts MATCH ?",
                                  (f'"{term}"',)).fetchall()

    try:
        return _top(_CHUNK_SCORES.get(store, terms, fetch), k)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"lexical search failed: {exc}") from exc


def search(store: Store, query: str, k: int = 10) -> list[Hit]:
    """The k chunks ranking highest by BM25 for `query`, best first."""
    return load_hits(store, ranked(store, query, k), set(query_words(query)))


# File-level BM25: each file one document (its words counted at index time, unstemmed, in
# file_terms). A fix's file often matches a report as a whole (names from several of its
# functions, its module's words) where no one chunk does.
_FILE_K1, _FILE_B = 1.2, 0.75
_FILE_FREQ = _Frequencies("SELECT count(*) FROM file_terms WHERE term = ?",
                          "SELECT count(*), avg(terms) FROM files WHERE terms > 0", "updated_ns")


def ranked_files(store: Store, query: str, k: int) -> list[tuple[str, float, str]]:
    """(path, BM25 score, language) of the k files ranking highest for `query` as a whole,
    best first; [] for an index without file terms."""
    terms = [t for t in query_terms(query) if " " not in t]
    if not terms:
        return []
    state = index_state(store)  # the counts' state is the scores': they are kept under it
    df, n, mean = _FILE_FREQ.get(store, terms, state)
    if not n:
        return []
    terms = _rarest(terms, df, max(10, n * _FILE_COMMON_SHARE), _FILE_TERMS)
    if not terms:
        return []
    idf = {t: math.log(1.0 + max(0.0, n - df[t] + 0.5) / (df[t] + 0.5)) for t in terms}

    def fetch(term: str) -> list[tuple[int, float]]:
        # Scored in SQLite, a term at a time, so that each term's scores can be kept.
        return store.conn.execute(
            "SELECT t.file_id, :idf * t.tf * (:k1 + 1.0) / (t.tf + :k1 * (1.0 - :b + :b * f.terms / :mean)) "
            "FROM file_terms t JOIN files f ON f.id = t.file_id WHERE t.term = :term",
            {"term": term, "idf": idf[term], "k1": _FILE_K1, "b": _FILE_B, "mean": mean}).fetchall()

    try:
        best = _top(_FILE_SCORES.get(store, terms, fetch, state), k)
        found = {i: (p, lang) for i, p, lang in store.conn.execute(
            "SELECT id, path, language FROM files WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps([i for i, _ in best]),))}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"file search failed: {exc}") from exc
    return [(found[i][0], score, found[i][1]) for i, score in best if i in found]
