"""Ranked code units, as every search mode returns them."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field

from indexer.store import Store
from indexer.text import is_plain_word, split_identifier, split_lines

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
        if not symbol and packed:  # small definitions share the chunk: name the best match
            best = packed_order(store, cid, terms)[:1]
            found = store.conn.execute("SELECT kind FROM symbols WHERE file_id = ? AND qualname = ? LIMIT 1",
                                       (file_id, best[0])).fetchone() if best else None
            if found:
                symbol, kind = best[0], found[0]
        out.append(Hit(cid, path, start, end, symbol, kind, round(score, 4), snippet, start + offset))
    return out


def packed_order(store: Store, chunk_id: int, terms: set[str]) -> list[str]:
    """The definitions a chunk packs, best match first: by how many of the query's words each
    one's own lines hold (its name counting twice), ties in file order."""
    row = store.conn.execute("SELECT file_id, start_line, text, symbols FROM chunks WHERE id = ?",
                             (chunk_id,)).fetchone()
    if row is None or not row[3]:
        return []
    file_id, start, text, packed = row
    names = packed.split()
    defs = store.conn.execute(
        "SELECT qualname, start_line, end_line FROM symbols WHERE file_id = ? "
        "AND qualname IN (SELECT value FROM json_each(?)) ORDER BY start_line", (file_id, json.dumps(names))).fetchall()
    lines = split_lines(text)
    scored = []
    for i, (qualname, a, b) in enumerate(defs):
        words = _words("\n".join(lines[max(0, a - start):max(0, b - start + 1)]))
        name = _words(qualname.rsplit(".", 1)[-1])
        scored.append((-(len(words & terms) + 2 * len(name & terms)), i, qualname))
    ranked = [q for _, _, q in sorted(scored)]
    return ranked + [n for n in names if n not in ranked]


def _words(text: str) -> set[str]:
    out: set[str] = set()
    for line in text.splitlines():
        out |= _line_words(line)
    return out


def _line_words(line: str) -> frozenset[str]:
    """A line's words and their identifier parts, lowercased: the hits of one question and
    the next show the same units, so their lines are split once (a tenth of a search); a
    long line (a data blob) is split each time rather than kept."""
    return _split_line(line) if len(line) > 1000 else _kept_line_words(line)


def _split_line(line: str) -> frozenset[str]:
    out: set[str] = set()
    for w in _WORDS.findall(line):
        out.add(w.lower())
        if not is_plain_word(w):  # most words are
            out.update(split_identifier(w))
    return frozenset(out)


_kept_line_words = functools.lru_cache(maxsize=1 << 14)(_split_line)


def snippet_of(text: str, terms: set[str]) -> tuple[str, int]:
    """The window of a few lines with the most query words, and its offset in the text."""
    lines = split_lines(text)
    if len(lines) <= _SNIPPET_LINES:
        return text, 0
    scores = [len(_line_words(line) & terms) for line in lines]
    best, best_at = -1, 0
    for i in range(0, len(lines) - _SNIPPET_LINES + 1):
        s = sum(scores[i:i + _SNIPPET_LINES])
        if s > best:
            best, best_at = s, i
    return "\n".join(lines[best_at:best_at + _SNIPPET_LINES]), best_at
