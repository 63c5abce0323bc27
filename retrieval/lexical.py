"""Lexical search: BM25 over the store's full-text index of chunks (identifiers split)."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from indexer.errors import StoreError
from indexer.store import Store
from indexer.text import query_words

# Words that carry no signal in a question about code; dropped unless nothing else is left.
STOPWORDS = frozenset("""
a an the is are was were be been being am to of in on at by for with from as into onto about
and or but not no nor so if then than that this these those it its it's i we you they he she
how what where when why which who whom whose does do did done doing can could should would will
shall may might must there here get gets got has have had having any all some each every
me my our your their them us please find show tell explain code function method file files
""".split())
_SNIPPET_LINES = 4
_MAX_TERMS = 32


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked code unit."""

    chunk_id: int
    path: str
    start_line: int
    end_line: int
    symbol: str
    kind: str
    score: float
    snippet: str
    snippet_line: int  # the line the snippet starts on


def fts_query(query: str) -> str | None:
    """An FTS5 OR-query over the query's words; None when it has none."""
    words = query_words(query)
    kept = [w for w in words if w not in STOPWORDS and len(w) > 1] or [w for w in words if len(w) > 1]
    seen: list[str] = []
    for w in kept:
        if w not in seen:
            seen.append(w)
    if not seen:
        return None
    return " OR ".join(f'"{w}"' for w in seen[:_MAX_TERMS])


def search(store: Store, query: str, k: int = 10) -> list[Hit]:
    """The k chunks ranking highest by BM25 for `query`, best first."""
    match = fts_query(query)
    if match is None:
        return []
    try:
        rows = store.conn.execute(
            "SELECT c.id, f.path, c.start_line, c.end_line, c.symbol, c.kind, c.text, -r.rank "
            "FROM (SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?) r "
            "JOIN chunks c ON c.id = r.rowid JOIN files f ON f.id = c.file_id ORDER BY r.rank",
            (match, k)).fetchall()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"lexical search failed: {exc}") from exc
    terms = set(query_words(query))
    out = []
    for cid, path, start, end, symbol, kind, text, score in rows:
        snippet, offset = snippet_of(text, terms)
        out.append(Hit(cid, path, start, end, symbol, kind, round(score, 4), snippet, start + offset))
    return out


_WORDS = re.compile(r"[A-Za-z0-9]+")


def snippet_of(text: str, terms: set[str]) -> tuple[str, int]:
    """The window of a few lines with the most query words, and its offset in the text."""
    from indexer.text import split_identifier

    lines = text.splitlines()
    if len(lines) <= _SNIPPET_LINES:
        return text, 0
    scores = []
    for line in lines:
        words = set()
        for w in _WORDS.findall(line):
            words.update(split_identifier(w))
            words.add(w.lower())
        scores.append(len(words & terms))
    best, best_at = -1, 0
    for i in range(0, len(lines) - _SNIPPET_LINES + 1):
        s = sum(scores[i:i + _SNIPPET_LINES])
        if s > best:
            best, best_at = s, i
    return "\n".join(lines[best_at:best_at + _SNIPPET_LINES]), best_at
