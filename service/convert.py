"""Every conversion between protobuf messages and repoqa's own records, in one place.

Positions: the API speaks LSP's 0-based lines and characters in UTF-16 code units (or UTF-8
bytes when the request says so); the index speaks 1-based lines and 0-based UTF-8 byte
columns. A conversion needs the line's text, read from the file (or the request's unsaved
buffer) through `Lines`.
"""

from __future__ import annotations

import bisect
import difflib
from pathlib import Path

from repoqa.v1 import common_pb2 as common
from repoqa.v1 import navigation_pb2 as nav
from repoqa.v1 import repositories_pb2 as repos
from repoqa.v1 import retrieval_pb2 as retrieval

from graph.query import Location as GraphLocation
from graph.query import Node, word_columns

UTF8 = common.POSITION_ENCODING_UTF8
_RESOLUTION = {"resolved": common.RESOLUTION_RESOLVED, "inferred": common.RESOLUTION_INFERRED,
               "name": common.RESOLUTION_NAME}


class Lines:
    """Lines of a repository's files, read once per request; `overlay` holds unsaved buffers."""

    def __init__(self, root: Path, overlay: dict[str, str] | None = None):
        self.root = root
        self.overlay = overlay or {}
        self._files: dict[str, list[str]] = {}

    def get(self, path: str, line: int) -> str:
        """Line `line` (1-based) of `path`, "" past the end or when unreadable."""
        lines = self._files.get(path)
        if lines is None:
            text = self.overlay.get(path)
            if text is None:
                try:
                    text = (self.root / path).read_bytes().decode("utf-8", "replace")
                except OSError:
                    text = ""
            lines = self._files[path] = text.split("\n")
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def all(self, path: str) -> list[str]:
        """Every line of `path` (one "" when it is empty or unreadable)."""
        self.get(path, 1)
        return self._files[path]


# A diff of lines is quadratic where lines repeat: past this many (indexed lines x buffer lines,
# after the lines both share at the top and the bottom) the changed middle is taken as replaced
# whole. Random lines of 110 kinds: 8,000 x 8,000 took 0.24 s here, 40,000 x 40,000 9.6 s.
DIFF_CELLS = 64_000_000


class Remap:
    """Where the lines of a file as indexed are in its unsaved buffer, whose text the client
    sent: a line the buffer keeps moves by what was inserted or deleted above it; a line the
    buffer changed or deleted has no place of its own, only the buffer's lines that replaced
    it. The lines are matched as a diff does (after the lines both share at the top and the
    bottom, which is most of a file being edited)."""

    def __init__(self, indexed: list[str], buffer: list[str]):
        self.buffer = buffer
        self.size = len(buffer)
        top = 0
        while top < min(len(indexed), len(buffer)) and indexed[top] == buffer[top]:
            top += 1
        bottom = 0
        while bottom < min(len(indexed), len(buffer)) - top and indexed[-1 - bottom] == buffer[-1 - bottom]:
            bottom += 1
        a, b = indexed[top:len(indexed) - bottom], buffer[top:len(buffer) - bottom]
        if len(a) * len(b) > DIFF_CELLS:  # a rewrite, not an edit: the middle is replaced whole
            ops = [("replace", 0, len(a), 0, len(b))]
        else:
            ops = difflib.SequenceMatcher(None, a, b).get_opcodes() if a or b else []
        # (indexed start, indexed end, buffer start, buffer end, kept), 0-based, ends excluded
        self._ops = [(0, top, 0, top, True)] if top else []
        self._ops += [(i1 + top, i2 + top, j1 + top, j2 + top, tag == "equal") for tag, i1, i2, j1, j2 in ops]
        if bottom:
            self._ops.append((len(indexed) - bottom, len(indexed), len(buffer) - bottom, len(buffer), True))
        self._starts = [op[0] for op in self._ops]

    def _op(self, line: int):
        """The part of the diff holding indexed line `line` (1-based), or None past the end."""
        k = bisect.bisect_right(self._starts, line - 1) - 1
        while 0 <= k < len(self._ops) and self._ops[k][1] <= line - 1:
            k += 1  # an insertion (empty on the indexed side) sits at its start: skip it
        return self._ops[k] if 0 <= k < len(self._ops) else None

    def line(self, line: int) -> int | None:
        """Indexed line `line` in the buffer (1-based), or None where the buffer changed it."""
        op = self._op(line)
        if op is None or not op[4]:
            return None
        return op[2] + (line - 1 - op[0]) + 1

    def site(self, line: int, col: int, name: str) -> tuple[int, int] | None:
        """A use of `name` at indexed (line, byte column) in the buffer: where it was, moved
        with its line; on a changed line, the occurrence of the name in the lines that replaced
        it nearest its place; None where the buffer has the name there no more."""
        moved = self.line(line)
        if moved is not None:
            return moved, col
        op = self._op(line)
        if op is None or not name:
            return None
        found = [(n, c) for n in range(op[2], op[3]) for c in word_columns(self.buffer[n], name)]
        if not found:
            return None
        offset = line - 1 - op[0]
        n, c = min(found, key=lambda f: (abs(f[0] - op[2] - offset), abs(f[1] - col), f[0], f[1]))
        return n + 1, c

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Indexed lines start..end in the buffer: each end moved with its line, or, where
        the buffer changed it, the buffer's lines that replaced it (a deleted end: the line
        after, or before, it was)."""
        first = self.line(start)
        if first is None:
            op = self._op(start)
            first = op[2] + 1 if op is not None else self.size
        last = self.line(end)
        if last is None:
            op = self._op(end)
            last = max(op[3], op[2] + 1) if op is not None else self.size
        first = min(max(first, 1), max(self.size, 1))
        return first, min(max(last, first), max(self.size, 1))


def to_byte_col(line_text: str, character: int, encoding: int) -> int:
    """An LSP character offset on a line as a UTF-8 byte column."""
    if encoding == UTF8:
        return character
    if line_text.isascii():
        return character
    units = line_text.encode("utf-16-le")[:2 * character].decode("utf-16-le", "ignore")
    return len(units.encode("utf-8"))


def from_byte_col(line_text: str, byte_col: int, encoding: int) -> int:
    """A UTF-8 byte column as an LSP character offset in `encoding`."""
    if encoding == UTF8 or line_text.isascii():
        return byte_col
    prefix = line_text.encode("utf-8")[:byte_col].decode("utf-8", "ignore")
    return len(prefix.encode("utf-16-le")) // 2


def position(lines: Lines, path: str, line: int, byte_col: int, encoding: int) -> common.Position:
    """An index position (1-based line, byte column) as an API position."""
    return common.Position(line=max(line - 1, 0), character=from_byte_col(lines.get(path, line), byte_col, encoding))


def location(root: Path, lines: Lines, path: str, start: tuple[int, int], end: tuple[int, int],
             encoding: int) -> common.Location:
    return common.Location(
        path=path, uri=(root / path).as_uri(),
        range=common.Range(start=position(lines, path, *start, encoding), end=position(lines, path, *end, encoding)))


def snapshot(meta: dict[str, str]) -> common.Snapshot:
    commit, dirty, digest = meta.get("commit", ""), meta.get("dirty") == "1", meta.get("dirty_digest", "")
    if not commit:
        stamp = f"worktree@{digest[:12]}" if digest else "worktree"
    else:
        stamp = f"{commit[:12]}+{digest[:12]}" if dirty else commit[:12]
    return common.Snapshot(commit=commit, dirty=dirty, digest=digest, stamp=stamp)


def node_span(node: Node, lines: Lines) -> tuple[tuple[int, int], tuple[int, int]]:
    """A definition's range: its first line to the end of its last."""
    end_line = max(node.end_line, node.line, 1)
    return (max(node.line, 1), 0), (end_line, len(lines.get(node.path, end_line).encode("utf-8")))


def symbol_location(root: Path, lines: Lines, loc: GraphLocation, encoding: int, name_len: int = 0
                    ) -> nav.SymbolLocation:
    start = (loc.line, loc.col)
    end = (loc.line, loc.col + name_len) if name_len else (loc.line, len(lines.get(loc.path, loc.line).encode("utf-8")))
    return nav.SymbolLocation(
        location=location(root, lines, loc.path, start, end, encoding), symbol=loc.symbol, kind=loc.kind,
        confidence=loc.confidence, resolution=_RESOLUTION.get(loc.resolution, common.RESOLUTION_UNSPECIFIED))


def definition_location(root: Path, lines: Lines, node: Node, confidence: float, resolution: str,
                        encoding: int) -> nav.SymbolLocation:
    start, end = node_span(node, lines)
    return nav.SymbolLocation(
        location=location(root, lines, node.path, start, end, encoding), symbol=node.qualname,
        kind="definition", confidence=confidence,
        resolution=_RESOLUTION.get(resolution, common.RESOLUTION_UNSPECIFIED))


def call_item(root: Path, lines: Lines, node: Node, encoding: int) -> nav.CallHierarchyItem:
    start, end = node_span(node, lines)
    name = node.qualname.replace("::", ".").rsplit(".", 1)[-1] if node.qualname else node.path
    return nav.CallHierarchyItem(name=name, qualname=node.qualname, kind=node.kind,
                                 location=location(root, lines, node.path, start, end, encoding))


def resolution(word: str) -> int:
    return _RESOLUTION.get(word, common.RESOLUTION_UNSPECIFIED)


def document_symbol(lines: Lines, path: str, s, encoding: int) -> nav.DocumentSymbol:
    """From an indexer Symbol (1-based lines, byte columns)."""
    return nav.DocumentSymbol(
        name=s.name, qualname=s.qualname, kind=s.kind, detail=s.signature, parent=s.parent,
        range=common.Range(start=position(lines, path, s.start_line, s.start_col, encoding),
                           end=position(lines, path, s.end_line, s.end_col, encoding)))


def signal_ranks(ranks: dict[str, int]) -> list[retrieval.SignalRank]:
    return [retrieval.SignalRank(signal=name, rank=rank) for name, rank in sorted(ranks.items(), key=lambda kv: kv[1])]


def search_hit(h) -> retrieval.SearchHit:
    return retrieval.SearchHit(path=h.path, start_line=h.start_line, end_line=h.end_line, symbol=h.symbol,
                               kind=h.kind, score=h.score, snippet=h.snippet, signals=signal_ranks(h.ranks))


def file_hit(f) -> retrieval.FileHit:
    return retrieval.FileHit(path=f.path, score=round(f.score, 6), signals=signal_ranks(f.ranks))


def bundle(b, snap: common.Snapshot) -> retrieval.BundleResponse:
    return retrieval.BundleResponse(
        text=b.render(), snapshot=snap, repo_map=b.repo_map, tokens=b.tokens, budget_tokens=b.budget,
        tokenizer=b.tokenizer,
        units=[retrieval.BundleUnit(path=u.path, start_line=u.start_line, end_line=u.end_line, symbols=list(u.symbols),
                                    kind=u.kind, reason=u.reason, score=u.score, text=u.text, tokens=u.tokens)
               for u in b.units],
        relations=[retrieval.Relation(source=r.src, kind=r.kind, target=r.dst, confidence=r.confidence)
                   for r in b.relations])


def index_summary(s, embedded=None) -> repos.IndexSummary:
    return repos.IndexSummary(
        files_seen=s.files_seen, files_parsed=s.files_parsed, files_unchanged=s.files_unchanged,
        files_removed=s.files_removed, symbols=s.symbols, references=s.references, chunks=s.chunks,
        rebuilt=s.rebuilt, seconds=s.seconds,
        snapshot=common.Snapshot(stamp=s.snapshot), chunks_embedded=embedded.chunks_embedded if embedded else 0)
