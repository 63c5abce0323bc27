"""Lexical search: BM25 over the store's full-text index of chunks (identifiers split)."""

from __future__ import annotations

import sqlite3

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


def fts_query(query: str) -> str | None:
    """An FTS5 OR-query over the query's words; None when it has none.

    An identifier made of several words (`op_7_3`, `parseHTTPResponse`) is also searched
    as a phrase, so the exact name outranks documents that only share its parts.
    """
    words = query_words(query)
    kept = [w for w in words if w not in STOPWORDS and len(w) > 1] or [w for w in words if len(w) > 1]
    phrases = [" ".join(parts) for parts in map(split_identifier, identifiers(query)) if len(parts) > 1]
    seen: list[str] = []
    for w in phrases + kept:
        if w not in seen:
            seen.append(w)
    if not seen:
        return None
    return " OR ".join(f'"{w}"' for w in seen[:_MAX_TERMS])


def ranked(store: Store, query: str, k: int) -> list[tuple[int, float]]:
    """(chunk id, BM25 score) of the k best chunks for `query`, best first."""
    match = fts_query(query)
    if match is None:
        return []
    try:
        return store.conn.execute(
            "SELECT rowid, -rank FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?",
            (match, k)).fetchall()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"lexical search failed: {exc}") from exc


def search(store: Store, query: str, k: int = 10) -> list[Hit]:
    """The k chunks ranking highest by BM25 for `query`, best first."""
    return load_hits(store, ranked(store, query, k), set(query_words(query)))
