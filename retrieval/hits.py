"""Ranked code units, as every search mode returns them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from indexer.store import Store
from indexer.text import split_identifier

_SNIPPET_LINES = 4
_WORDS = re.compile(r"[A-Za-z0-9]+")


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
    ranks: dict[str, int] = field(default_factory=dict, compare=False)  # signal -> rank that found it


def load_hits(store: Store, scored: list[tuple[int, float]], terms: set[str]) -> list[Hit]:
    """Hits for (chunk id, score) pairs, in their order; ids of chunks that no longer
    exist are dropped (a vector index may lag the store)."""
    if not scored:
        return []
    rows = {r[0]: r for r in store.conn.execute(
        "SELECT c.id, f.path, c.start_line, c.end_line, c.symbol, c.kind, c.text, c.file_id, c.symbols FROM chunks c "
        "JOIN files f ON f.id = c.file_id WHERE c.id IN (SELECT value FROM json_each(?))",
        (json.dumps([cid for cid, _ in scored]),))}
    out = []
    for cid, score in scored:
        row = rows.get(cid)
        if row is None:
            continue
        _, path, start, end, symbol, kind, text, file_id, packed = row
        snippet, offset = snippet_of(text, terms)
        if not symbol and packed:
            symbol, kind = packed_definition(store, file_id, packed.split(), start + offset) or (symbol, kind)
        out.append(Hit(cid, path, start, end, symbol, kind, round(score, 4), snippet, start + offset))
    return out


def packed_definition(store: Store, file_id: int, names: list[str], line: int) -> tuple[str, str] | None:
    """Of the small definitions a chunk packs, the one at `line` (else the last that starts
    before it, else the first)."""
    defs = store.conn.execute(
        "SELECT qualname, kind, start_line, end_line FROM symbols WHERE file_id = ? "
        "AND qualname IN (SELECT value FROM json_each(?)) ORDER BY start_line", (file_id, json.dumps(names))).fetchall()
    if not defs:
        return None
    inside = [d for d in defs if d[2] <= line <= d[3]]
    before = [d for d in defs if d[2] <= line]
    q, kind, _, _ = (inside or before or defs)[-1] if (inside or before) else defs[0]
    return q, kind


def snippet_of(text: str, terms: set[str]) -> tuple[str, int]:
    """The window of a few lines with the most query words, and its offset in the text."""
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
