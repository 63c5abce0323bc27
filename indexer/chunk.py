"""Chunk a file along its syntax: definitions are units, large ones split at statements."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import accumulate

# Definition kinds that make a retrieval unit of their own; variables, fields and
# prototypes stay with the code around them.
UNIT_KINDS = frozenset({
    "function", "method", "constructor", "class", "interface", "struct", "enum", "trait",
    "impl", "module", "namespace", "type", "macro",
})


@dataclass(frozen=True, slots=True)
class Piece:
    start: int  # 1-based inclusive lines
    end: int
    symbol: str  # qualname of the innermost definition enclosing the whole piece
    kind: str
    tokens: int
    symbols: tuple[str, ...] = ()


class _Lines:
    """Token estimates per line with O(1) range sums."""

    def __init__(self, lines: list[str], estimates: list[int]):
        self.lines = lines
        self.prefix = [0, *accumulate(estimates)]

    def tokens(self, start: int, end: int) -> int:
        return self.prefix[end] - self.prefix[start - 1]

    def blank(self, line: int) -> bool:
        return self.prefix[line] == self.prefix[line - 1]

    def trim(self, start: int, end: int) -> tuple[int, int]:
        while start <= end and self.blank(start):
            start += 1
        while end >= start and self.blank(end):
            end -= 1
        return start, end


def chunk_text(lines: list[str], estimates: list[int], max_tokens: int) -> list[Piece]:
    """Documentation and configuration: paragraphs packed up to max_tokens."""
    L = _Lines(lines, estimates)
    paragraphs: list[tuple[int, int]] = []
    start = None
    for i in range(1, len(lines) + 1):
        if L.blank(i):
            if start is not None:
                paragraphs.append((start, i - 1))
                start = None
        elif start is None:
            start = i
    if start is not None:
        paragraphs.append((start, len(lines)))
    return [Piece(s, e, "", "text", L.tokens(s, e)) for s, e in _pack(L, paragraphs, max_tokens)]


def chunk_code(lines: list[str], estimates: list[int], defs: list, max_tokens: int, min_tokens: int,
               bodies: frozenset[str]) -> list[Piece]:
    """Chunks covering every non-blank line of a parsed file exactly once.

    `defs` are the parser's definitions sorted by start, each with a `parent`.
    """
    L = _Lines(lines, estimates)
    units = [d for d in defs if d.kind in UNIT_KINDS]
    children: dict[int, list] = {}
    top: list = []
    for d in units:
        p = d.parent
        while p is not None and p.kind not in UNIT_KINDS:
            p = p.parent
        (children.setdefault(id(p), []) if p is not None else top).append(d)
    ctx = _Context(L, children, max_tokens, min_tokens, bodies)
    pieces = ctx.container(1, len(lines), "", "code", top)
    starts = [d.start_line for d in defs]
    out = []
    for p in pieces:
        inside = defs[bisect_left(starts, p.start):bisect_right(starts, p.end)]
        out.append(Piece(p.start, p.end, p.symbol, p.kind, p.tokens, tuple(d.qualname for d in inside)))
    return out


class _Context:
    def __init__(self, L: _Lines, children: dict, max_tokens: int, min_tokens: int, bodies: frozenset[str]):
        self.L = L
        self.children = children
        self.max = max_tokens
        self.min = min_tokens
        self.bodies = bodies

    def container(self, start: int, end: int, symbol: str, kind: str, units: list) -> list[Piece]:
        pieces: list[Piece] = []
        cur = start
        for u in units:
            s, e = max(u.head_line, cur), min(u.end_line, end)
            if e < s:
                continue  # shares lines with the previous unit, which already holds them
            if s > cur:
                pieces.extend(self.gap(cur, s - 1, symbol, kind))
            if self.L.tokens(s, e) <= self.max:
                pieces.append(Piece(s, e, u.qualname, u.kind, self.L.tokens(s, e)))
            elif id(u) in self.children:
                pieces.extend(self.container(s, e, u.qualname, u.kind, self.children[id(u)]))
            else:
                pieces.extend(self.split(u, s, e))
            cur = e + 1
        if cur <= end:
            pieces.extend(self.gap(cur, end, symbol, kind))
        return self.merge(pieces, symbol, kind)

    def gap(self, start: int, end: int, symbol: str, kind: str) -> list[Piece]:
        start, end = self.L.trim(start, end)
        if start > end:
            return []
        runs = []
        run_start = start
        for i in range(start, end + 1):  # break at blank lines where we can
            if self.L.blank(i) and i > run_start:
                runs.append((run_start, i - 1))
                run_start = i + 1
            elif self.L.blank(i):
                run_start = i + 1
        if run_start <= end:
            runs.append((run_start, end))
        kind = kind if symbol else "code"
        return [Piece(s, e, symbol, kind, self.L.tokens(s, e)) for s, e in _pack(self.L, runs, self.max)]

    def split(self, unit, start: int, end: int) -> list[Piece]:
        """A definition too large for one chunk, cut at its top-level statements."""
        node = unit.node
        body = node.child_by_field_name("body")
        if body is None:
            body = next((c for c in node.named_children if c.type in self.bodies), None)
        cuts = [start]
        if body is not None:
            for stmt in body.named_children:
                line = stmt.start_point[0] + 1
                if cuts[-1] < line <= end:
                    cuts.append(line)
        segments = [(a, b - 1) for a, b in zip(cuts, cuts[1:] + [end + 1])]
        return [Piece(s, e, unit.qualname, unit.kind, self.L.tokens(s, e))
                for s, e in _pack(self.L, segments, self.max)]

    def merge(self, pieces: list[Piece], symbol: str, kind: str) -> list[Piece]:
        """Merge a small piece into its neighbour when both fit in one chunk.

        A definition is not merged with the loose code beside it unless both are small,
        so that a function keeps a chunk of its own (and its name) next to its imports.
        """
        out: list[Piece] = []
        for p in pieces:
            if out:
                q = out[-1]
                small_q, small_p = q.tokens < self.min, p.tokens < self.min
                alike = (q.symbol == symbol) == (p.symbol == symbol)
                if ((small_q and small_p) or ((small_q or small_p) and alike)) \
                        and q.tokens + p.tokens <= self.max:
                    same = q.symbol == p.symbol
                    out[-1] = Piece(q.start, p.end, q.symbol if same else symbol,
                                    q.kind if same else (kind if symbol else "code"),
                                    q.tokens + p.tokens)
                    continue
            out.append(p)
        return out


def _pack(L: _Lines, segments: list[tuple[int, int]], max_tokens: int) -> list[tuple[int, int]]:
    """Pack consecutive segments into ranges of at most max_tokens; oversized ones by lines."""
    out: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    for s, e in segments:
        s, e = L.trim(s, e)
        if s > e:
            continue
        if L.tokens(s, e) > max_tokens:
            if cur is not None:
                out.append(cur)
                cur = None
            a = s
            for i in range(s, e + 1):
                if i > a and L.tokens(a, i) > max_tokens:
                    out.append(L.trim(a, i - 1))
                    a = i
            cur = L.trim(a, e)
            continue
        if cur is not None and L.tokens(cur[0], e) <= max_tokens:
            cur = (cur[0], e)
        else:
            if cur is not None:
                out.append(cur)
            cur = (s, e)
    if cur is not None:
        out.append(cur)
    return [r for r in out if r[0] <= r[1]]
