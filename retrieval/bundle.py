"""Context bundles: the best code for a question, fitted to a token budget.

From the fused ranking (retrieval.search), units are taken best first: each chunk grows to
its whole definition when that fits (a method, a function, a small class), spans of one
file that overlap or touch are merged, nothing is included twice. Each unit carries a
one-line reason (which signals found it; for a unit the graph found, its edge to a unit
found otherwise). Around them: a repository map of the files concerned (paths and
signatures), the graph's edges between the units, and the index's snapshot stamp.
The whole rendered text never exceeds the budget as the counter counts it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass, replace
from pathlib import Path

from indexer.errors import IndexerError
from indexer.gitinfo import Snapshot
from indexer.store import Store
from indexer.text import content_hash, split_lines, valid_text

from . import lexical
from .bundle_types import Bundle, BundleUnit, Relation, render_unit
from .query import without_banners
from .search import DEPTH, FileHit, Fused, Searcher, Signals, rank_files
from .tokens import TokenCounter

log = logging.getLogger(__name__)

MAP_SHARE = 0.1  # of the budget, at most, for the repository map
# ... and at most this many tokens, whatever the budget (aider's repository map defaults to
# 1k tokens too): past that, the budget buys more of the code a fix touches. Every hybrid
# bundle of 953 development tasks built both ways from one ranking in one run (fzf's, flask's
# and requests' commits and needles with vectors; pytest's, sphinx's and sympy's issues
# without), a tenth against this cap: 32k gold lines 21,589 -> 21,771 of 24,857 (0.869 ->
# 0.876; the two halves by a hash of the question +63 and +119): fzf's commits 8,170 -> 8,296
# of 10,388, sympy 632 -> 642 of 1,025, sphinx 179 -> 204 of 260, pytest 152 -> 169 of 218,
# requests' commits 1,769 -> 1,777, flask's commits 3,135 -> 3,131, needles unchanged. A 2k
# cap gained less on the first half (fzf 4,291 against 4,306). An 8k bundle is unchanged.
MAP_TOKENS = 1024
MAP_FILES = 15
MAP_SYMBOLS_PER_FILE = 25
MERGE_GAP = 3  # spans of one file this close are merged into one unit
CANDIDATES = 200  # fused units considered (of the signals' rankings at retrieval.search.DEPTH)
RELATIONS = 60
_MAP_KINDS = ("class", "function", "method", "constructor", "interface", "struct", "enum", "trait",
              "impl", "module", "namespace", "type", "macro")
_EDGE_KINDS = ("calls", "inherits", "imports", "references")
_SIGNAL_WORDS = {
    "symbol": "defines a name the question mentions",
    "usage": "uses a name the question mentions",
    "path": "at a file or stack frame the question names",
    "message": "holds a message the question quotes",
    "lexical": "shares the question's words",
    "dense": "close in meaning to the question",
    "graph": "linked to the best matches in the graph",
    "name": "its name and parameters are close in meaning to the question",
    "rerank": "the model reads the question as its description",
}


class BundleError(IndexerError):
    pass


@dataclass(frozen=True)
class BundleOptions:
    budget: int = 8000  # tokens
    tokenizer: str = ""  # a tokenizer.json or a model folder; "" for the default (retrieval.tokens)


@dataclass
class _Span:
    path: str
    file_id: int
    start: int
    end: int
    symbols: list[str]
    kind: str
    score: float
    ranks: dict[str, int]
    text: str = ""
    tokens: int = 0


class LineCache:
    """Lines of the indexed files: from disk when the file still has the content the index
    saw, else from the index's own chunks (so a bundle always shows what was indexed); and
    the tokens of each line, counted once (a text's tokens are the sum of its lines' for a
    whitespace-splitting tokenizer, and within a fraction of a percent for byte-level BPE:
    the final count is exact)."""

    def __init__(self, store: Store, root: Path, counter: TokenCounter):
        self.store, self.root, self.counter = store, root, counter
        self.lines: dict[int, dict[int, str]] = {}
        self.tokens: dict[int, dict[int, int]] = {}

    def get(self, file_id: int, path: str) -> dict[int, str]:
        if file_id in self.lines:
            return self.lines[file_id]
        row = self.store.conn.execute("SELECT content_hash FROM files WHERE id = ?", (file_id,)).fetchone()
        out: dict[int, str] = {}
        try:
            data = (self.root / path).read_bytes()
            if row and content_hash(data) == row[0]:
                text = data.decode("utf-8", "replace")
                out = dict(enumerate(split_lines(text), 1))
        except OSError:
            pass
        if not out:
            for start, text in self.store.conn.execute(
                    "SELECT start_line, text FROM chunks WHERE file_id = ? ORDER BY start_line", (file_id,)):
                for i, line in enumerate(split_lines(text)):
                    out.setdefault(start + i, line)
        self.lines[file_id] = out
        self.tokens[file_id] = {}
        return out

    def text(self, file_id: int, path: str, start: int, end: int) -> str:
        lines = self.get(file_id, path)
        return "\n".join(lines.get(n, "") for n in range(start, end + 1))

    def line_tokens(self, file_id: int, path: str, start: int, end: int) -> list[int]:
        lines = self.get(file_id, path)
        known = self.tokens[file_id]
        missing = [n for n in range(start, end + 1) if n not in known]
        if missing:
            # A newline is a token of byte-level BPE, none of WordPiece (it splits at whitespace
            # and drops it). Counting one per line for WordPiece too, bundles were filled to 93%
            # of their budget; without it (every bundle built both ways from one ranking),
            # 32k gold lines on fzf's 349 commit tasks 0.755 -> 0.769 and flask's 244 tasks
            # 0.959 -> 0.961, 8k 0.453 -> 0.465 and 0.793 -> 0.797 (fewer lines in 11 of
            # 1,186 bundles, more in 59).
            newline = 0 if self.counter.by_line else 1
            for n, c in zip(missing, self.counter.count_many([lines.get(n, "") for n in missing])):
                known[n] = c + newline
        return [known[n] for n in range(start, end + 1)]

    def span_tokens(self, file_id: int, path: str, start: int, end: int, cap: int | None = None) -> int:
        """The tokens of lines start..end; with `cap`, counting stops once past it (a
        definition too large to show is not counted whole)."""
        if cap is None:
            return sum(self.line_tokens(file_id, path, start, end))
        total = 0
        for a in range(start, end + 1, 256):
            total += sum(self.line_tokens(file_id, path, a, min(a + 255, end)))
            if total > cap:
                break
        return total


def build_bundle(searcher: Searcher, root: Path, query: str, budget: int, counter: TokenCounter, *,
                 ranking: tuple[list[Fused], Signals] | None = None, lines: LineCache | None = None) -> Bundle:
    """The bundle for `query` within `budget` tokens of `counter`. `ranking`: the fused
    ranking when the caller has it already; `lines`: a LineCache of the same index state and
    counter, to share between bundles of one question."""
    t0 = time.perf_counter()
    query = valid_text(query)
    if budget < 64:
        raise BundleError(f"a budget of {budget} tokens is too small for a bundle (at least 64)")
    store = searcher.store
    fused, sig = ranking if ranking is not None else searcher.fused(query, "hybrid", depth=DEPTH)
    fused = fused[:CANDIDATES]
    paths = dict(sig.paths)  # the fill below adds the best files' other chunks
    files_ranked = rank_files(fused, paths, sig, searcher.weights)
    snapshot = _snapshot(store)
    bundle = Bundle(query=query, snapshot=snapshot, repo_map="", budget=budget, tokenizer=counter.name)
    fixed = counter.count(bundle.render()) + 16
    files = lines if lines is not None else LineCache(store, root, counter)
    map_budget = max(0, min(int(budget * MAP_SHARE), MAP_TOKENS, budget - fixed - 64))
    order = _priorities(store, without_banners(query), fused, paths, files_ranked)
    spans = _select(store, files, order, paths, int((budget - fixed - map_budget) * 0.99))
    relations = _relations(store, spans)
    units = _units(spans, relations)
    bundle.units = _order(units, files_ranked)
    bundle.relations = relations
    bundle.repo_map = _repo_map(store, files_ranked, spans, counter, map_budget)
    _fit(bundle, counter)
    bundle.seconds = round(time.perf_counter() - t0, 4)
    return bundle


# Chosen on the gold lines of 33 SWE-bench tasks (pytest, sphinx) and 80 commit tasks (flask,
# requests) among settings of the three; with FILE_WEIGHT 1 and _FILL 0.5 before, the 32k
# bundle held 55% and 52% of their gold lines, then 71% and 87%. TOP_FILES 3 -> 5 on 119
# SWE-bench and 240 commit tasks (the same rankings, without vectors): 32k gold lines
# sympy 0.650 -> 0.660, pytest 0.706 -> 0.729, requests' commits 0.867 -> 0.873, the rest
# (sphinx, flask, fzf's commits) and every 8k bundle unchanged; 8 files gave what 5 did.
# Letting a file's later units count less (so more files show their best parts) helped
# pytest and sphinx but cost sympy and flask more (sympy 32k 0.650 -> 0.604).
# _FILL 1.0 -> 0.75, with vectors and the edited-lines measure (every hybrid bundle of the 962
# development tasks built both ways from one ranking, in one run): 32k gold lines
# 0.834 -> 0.848 (SWE-bench 0.711 -> 0.719, commits 0.795 -> 0.810, needles 0.940 -> 0.953),
# 8k 0.630 -> 0.632 (SWE-bench 0.543 -> 0.577). Settings 1, 0.75, 0.5, 0.25 on one half of the
# tasks: 0.833, 0.857, 0.858, 0.848 (0.75 taken: within noise of 0.5 and the smaller change);
# on the other half 0.836 -> 0.839. At 0.5 sympy's issues lose (32k 0.640 -> 0.619): the fix
# is often in the first file's unmatched code. Held-out seaborn and jq: 0.523 -> 0.582.
FILE_WEIGHT = 2.0  # how much a unit's file's rank adds to the unit's own when choosing what to show
TOP_FILES = 5  # files whose unmatched units may fill the bundle too, beside the matched ones
_FILL = 0.75  # those units' priority, as a share of what their file adds to a matched unit
# A file too large to show whole shows the code around its best matches first: a fix's lines
# are mostly beside what a signal found (further on in one long function, or the next one).
# Of the edited lines of fzf's commit tasks that a 32k bundle missed, 1,758 of 2,315 were in
# a chunk of a file whose turn came too late, a third of them right beside a shown span.
# Chosen on half the tasks (by a hash of their ids) among 15, 30 or 60 best units with no
# neighbour's share, 30 with 0.7 or 0.9, and 15 with 0.9, every hybrid bundle built each way
# from one ranking in one run: fzf, flask and requests whole, sympy's first 25 issues, pytest's and sphinx's first
# 8 (24,023 gold lines). On the other half, 32k gold lines 0.847 -> 0.866, 8k 0.631 -> 0.632;
# over all of them 0.870 -> 0.885 (fzf 0.790 -> 0.817, its needles 0.855 -> 0.947; sympy's 25
# 0.720 -> 0.753, but 8k 0.487 -> 0.466; flask 0.968 -> 0.967; the rest unchanged at 32k).
# Held-out (got, gin, ripgrep, gson, seaborn, fmt): 8k 0.508 -> 0.527, 32k 0.763 -> 0.758, as
# gson lost 98 lines of one wide change whose scattered hunks the question's words reached.
NEAR = 15  # the fused ranking's best units, around which their files' other units are ordered
NEIGHBOUR = 0.9  # the chunk next to one of them: this share of that unit's own priority


def _priorities(store: Store, query: str, fused: list[Fused], paths: dict[int, str],
                files_ranked: list[FileHit]) -> list[Fused]:
    """Units in the order the bundle takes them: a unit's own score plus its file's (the file
    ranking gathers evidence one unit lacks); the other units of the best files count what
    their file adds, so those files come nearly whole before the weaker matches of other
    files (a fix's lines are often in a part of the right file that no signal matched).
    Among one file's other units, those nearest the ranking's best units come first (the
    next chunk on either side, right after the unit itself), then those sharing the
    question's words, so a file too large to show whole shows its most relevant parts."""
    file_score = {f.path: f.score for f in files_ranked}
    scored = [Fused(f.chunk_id, f.score + FILE_WEIGHT * file_score.get(paths.get(f.chunk_id, ""), 0.0), f.ranks)
              for f in fused]
    best = {f.chunk_id: f.score for f in scored[:NEAR]}
    seen = {f.chunk_id for f in fused}
    local: dict[int, float] = {}
    gap: dict[int, int] = {}  # an unmatched unit's distance, in chunks, to its file's nearest best unit
    # Every rare term, not the search's budget: the postings read here are one file's.
    match = lexical.fts_query(query, lexical.select_terms(store, query, budget=0)) if files_ranked else None
    for f in files_ranked[:TOP_FILES]:
        ids = [cid for (cid,) in store.conn.execute(
            "SELECT c.id FROM chunks c JOIN files x ON x.id = c.file_id WHERE x.path = ? "
            "ORDER BY c.start_line, c.id", (f.path,))]
        marks = [k for k, cid in enumerate(ids) if cid in best]
        fill = _FILL * FILE_WEIGHT * f.score
        rest = []
        for k, cid in enumerate(ids):
            if cid in seen:
                continue
            rest.append(cid)
            paths[cid] = f.path
            gap[cid] = min((abs(k - m) for m in marks), default=len(ids))
            beside = [best[ids[j]] for j in (k - 1, k + 1) if 0 <= j < len(ids) and ids[j] in best]
            scored.append(Fused(cid, max([fill] + [NEIGHBOUR * b for b in beside]), {}))
        seen.update(rest)
        local.update(_local_bm25(store, match, rest))
    scored.sort(key=lambda f: (-f.score, gap.get(f.chunk_id, 0), -local.get(f.chunk_id, 0.0), f.chunk_id))
    return scored


def _local_bm25(store: Store, match: str | None, ids: list[int]) -> dict[int, float]:
    """BM25 of the given chunks (one file's) for the full-text query `match`; those matching
    no word are left out. A file's chunks are written together, so their ids span a short
    range that the full-text index reads alone."""
    if not ids or match is None:
        return {}
    wanted = set(ids)
    try:
        rows = store.conn.execute(
            "SELECT rowid, -rank FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid BETWEEN ? AND ?",
            (match, min(ids), max(ids))).fetchall()
    except sqlite3.DatabaseError as exc:
        log.info("no lexical order for a file's other units: %s", exc)
        return {}
    return {cid: score for cid, score in rows if cid in wanted}


def _snapshot(store: Store) -> str:
    meta = store.meta()
    return Snapshot(meta.get("commit", ""), meta.get("dirty") == "1", meta.get("dirty_digest", "")).stamp()


def _definition(store: Store, file_id: int, symbol: str) -> tuple[int, int, str] | None:
    if not symbol:
        return None
    return store.conn.execute(
        "SELECT start_line, end_line, kind FROM symbols WHERE file_id = ? AND qualname = ? "
        "ORDER BY start_line LIMIT 1", (file_id, symbol)).fetchone()


def _select(store: Store, files: LineCache, fused: list[Fused], paths: dict[int, str], budget: int) -> list[_Span]:
    """Spans best first until the budget is spent: a chunk grows to its definition when that
    fits a sixteenth of the budget (at least 400 tokens); spans of a file that meet are merged."""
    rows = {r[0]: r for r in store.conn.execute(
        "SELECT id, file_id, start_line, end_line, symbol, kind FROM chunks "
        "WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps([f.chunk_id for f in fused]),))}
    spans: list[_Span] = []
    used = 0
    # A definition larger than this shows its matching chunks. Larger caps were measured on
    # fzf's 349 commit tasks (Go; 22% of their edited lines lie in functions over 2k tokens)
    # and flask's 244 tasks, every bundle built three ways from one ranking: 32k gold lines
    # 0.755 / 0.959 at a sixteenth, 0.747 / 0.958 at an eighth, 0.739 / 0.958 at a quarter
    # (8k on fzf 0.453, 0.452, 0.437). A giant function shown whole crowds out the rest.
    unit_cap = max(400, budget // 16)
    too_large: set[tuple[int, int, int]] = set()
    for f in fused:
        if budget - used < 48:
            break
        row = rows.get(f.chunk_id)
        if row is None:
            continue
        _, file_id, start, end, symbol, kind = row
        path = paths[f.chunk_id]
        whole = _definition(store, file_id, symbol)
        if whole and whole[0] <= start and whole[1] >= end and (whole[0], whole[1]) != (start, end) \
                and (file_id, whole[0], whole[1]) not in too_large:
            cand = _Span(path, file_id, whole[0], whole[1], [symbol], whole[2], f.score, dict(f.ranks))
            _measure(cand, files, unit_cap)
            if cand.tokens > unit_cap:
                too_large.add((file_id, whole[0], whole[1]))  # its other chunks need not count it again
                cand = None
        else:
            cand = None
        if cand is None:
            cand = _Span(path, file_id, start, end, [symbol], kind or "lines", f.score, dict(f.ranks))
            _measure(cand, files)
        met = [s for s in spans if s.file_id == cand.file_id
               and cand.start <= s.end + MERGE_GAP and s.start <= cand.end + MERGE_GAP]
        if met:
            merged_into = met[0]
            if merged_into.start <= cand.start and merged_into.end >= cand.end:
                continue  # already in the bundle
            # A candidate reaching over several spans (a definition grown whole) joins them all,
            # so that no line is shown twice.
            new = merged_into
            for other in met[1:] + [cand]:
                new = _Span(path, file_id, min(new.start, other.start), max(new.end, other.end),
                            new.symbols + [s for s in other.symbols if s not in new.symbols],
                            new.kind if new.kind == other.kind else "lines", new.score, {**other.ranks, **new.ranks})
            if len(met) == 1:
                _grow(new, merged_into, files)
            else:
                _measure(new, files)
            freed = sum(s.tokens for s in met)
            if used - freed + new.tokens <= budget:
                used += new.tokens - freed
                spans[spans.index(merged_into)] = new
                for other in met[1:]:
                    spans.remove(other)
            continue
        if used + cand.tokens > budget:
            cut = _cut(cand, files, budget - used)
            if cut is None:
                continue
            cand = cut
        spans.append(cand)
        used += cand.tokens
    for s in spans:  # only what is shown is read out (a file's units merge a span at a time)
        s.text = files.text(s.file_id, s.path, s.start, s.end)
    return spans


_UNIT_OVERHEAD = 40  # tokens of a unit's header line and fences, with its reason


def _measure(span: _Span, files: LineCache, cap: int | None = None) -> None:
    """A span's tokens (past `cap`, perhaps not all of them: it is too large either way)."""
    span.tokens = files.span_tokens(span.file_id, span.path, span.start, span.end,
                                    None if cap is None else cap - _UNIT_OVERHEAD) + _UNIT_OVERHEAD


def _grow(new: _Span, old: _Span, files: LineCache) -> None:
    """The tokens of `new`, a span of one file holding `old` (already counted) and lines on
    either side of it: those lines' tokens are added to old's."""
    extra = 0
    if new.start < old.start:
        extra += files.span_tokens(new.file_id, new.path, new.start, old.start - 1)
    if new.end > old.end:
        extra += files.span_tokens(new.file_id, new.path, old.end + 1, new.end)
    new.tokens = old.tokens + extra


def _cut(span: _Span, files: LineCache, room: int) -> _Span | None:
    """The head of a span that fits `room` tokens (its signature and first lines), or None
    when too little of it would fit to be worth showing."""
    if room < 96 or span.end - span.start < 4:
        return None
    used, end = _UNIT_OVERHEAD, span.start - 1
    for n, c in enumerate(files.line_tokens(span.file_id, span.path, span.start, span.end), span.start):
        if used + c > room:
            break
        used, end = used + c, n
    if end - span.start < 3:
        return None
    cut = replace(span, end=end, kind="lines", ranks=dict(span.ranks), symbols=list(span.symbols))
    _measure(cut, files)
    return cut


def _nodes(store: Store, spans: list[_Span]) -> dict[int, tuple[int, str]]:
    """Graph node id -> (span index, label) for the definitions inside each span."""
    out: dict[int, tuple[int, str]] = {}
    try:
        for i, s in enumerate(spans):
            for nid, qualname in store.conn.execute(
                    "SELECT n.id, n.qualname FROM graph_nodes n JOIN symbols y ON y.file_id = n.file_id "
                    "AND y.qualname = n.qualname WHERE n.file_id = ? AND y.start_line >= ? AND y.start_line <= ?",
                    (s.file_id, s.start, s.end)):
                out.setdefault(nid, (i, qualname))
    except Exception:  # noqa: BLE001 - an index without a graph has no relationships
        return {}
    return out


def _relations(store: Store, spans: list[_Span]) -> list[Relation]:
    nodes = _nodes(store, spans)
    if len(nodes) < 2:
        return []
    ids = json.dumps(list(nodes))
    rows = store.conn.execute(
        "SELECT src, dst, kind, max(confidence) FROM graph_edges WHERE src IN (SELECT value FROM json_each(?)) "
        "AND dst IN (SELECT value FROM json_each(?)) AND kind IN (%s) AND src != dst GROUP BY src, dst, kind "
        "ORDER BY max(confidence) DESC, src, dst" % ",".join("?" * len(_EDGE_KINDS)),
        (ids, ids, *_EDGE_KINDS)).fetchall()
    spans_of: dict[str, set[int]] = {}
    for i, label in nodes.values():
        spans_of.setdefault(label, set()).add(i)

    def label(nid: int) -> str:  # a name two units define is told apart by its file
        i, name = nodes[nid]
        return f"{spans[i].path}::{name}" if len(spans_of[name]) > 1 else name

    out, seen = [], set()
    for src, dst, kind, conf in rows:
        if nodes[src][0] == nodes[dst][0]:
            continue
        rel = Relation(label(src), kind, label(dst), round(conf, 2))
        if (rel.src, rel.kind, rel.dst) in seen:
            continue
        seen.add((rel.src, rel.kind, rel.dst))
        out.append(rel)
        if len(out) >= RELATIONS:
            break
    return out


_VERB_BACK = {"calls": "called by", "inherits": "inherited by", "imports": "imported by",
              "references": "used by", "tests": "tested by"}


def _reason(s: _Span, relations: list[Relation]) -> str:
    found = sorted(s.ranks.items(), key=lambda kv: kv[1])
    parts = []
    for name, rank in found:
        if name == "graph":
            continue
        if name in ("lexical", "dense", "name", "rerank"):
            parts.append(f"{_SIGNAL_WORDS[name]} (#{rank})")
        else:
            parts.append(_SIGNAL_WORDS[name])
    if "graph" in s.ranks or not parts:
        mine = set(s.symbols) | {f"{s.path}::{x}" for x in s.symbols}
        for r in relations:
            if r.src in mine:
                parts.append(f"{r.kind} {r.dst}")
                break
            if r.dst in mine:
                parts.append(f"{_VERB_BACK.get(r.kind, r.kind)} {r.src}")
                break
        else:
            if "graph" in s.ranks:
                parts.append(_SIGNAL_WORDS["graph"])
    if not parts:
        parts.append("more of a best-ranked file")
    return "; ".join(parts[:3])


def _units(spans: list[_Span], relations: list[Relation]) -> list[BundleUnit]:
    return [BundleUnit(s.path, s.start, s.end, tuple(x for x in s.symbols), s.kind, _reason(s, relations),
                       round(s.score, 6), s.text, s.tokens) for s in spans]


def _order(units: list[BundleUnit], files_ranked: list[FileHit]) -> list[BundleUnit]:
    """Files in the order of their rank, units in a file by line: read top to bottom."""
    rank = {f.path: i for i, f in enumerate(files_ranked)}
    return sorted(units, key=lambda u: (rank.get(u.path, len(rank)), u.start_line))


def _repo_map(store: Store, files_ranked: list[FileHit], spans: list[_Span], counter: TokenCounter,
              budget: int) -> str:
    """The files of the bundle and the next best ones, with their definitions' signatures;
    those shown in full below are marked `*`."""
    if budget <= 0:
        return ""
    shown: dict[str, list[tuple[int, int]]] = {}
    for s in spans:
        shown.setdefault(s.path, []).append((s.start, s.end))
    order = [f.path for f in files_ranked if f.path in shown]
    order += [f.path for f in files_ranked if f.path not in shown][:max(0, MAP_FILES - len(order))]
    candidates: list[str] = []
    for path in order:
        rows = store.conn.execute(
            "SELECT s.qualname, s.kind, s.start_line, s.signature FROM symbols s JOIN files f ON f.id = s.file_id "
            "WHERE f.path = ? AND s.kind IN (%s) ORDER BY s.start_line" % ",".join("?" * len(_MAP_KINDS)),
            (path, *_MAP_KINDS)).fetchall()
        spans_here = shown.get(path, [])
        lines = [f"{path}{'  (shown below)' if spans_here else ''}"]
        for qualname, kind, line, signature in rows[:MAP_SYMBOLS_PER_FILE]:
            depth = qualname.count(".")
            if depth > 1:
                continue
            mark = "*" if any(a <= line <= b for a, b in spans_here) else " "
            sig = " ".join((signature or f"{kind} {qualname}").split())[:160]
            lines.append(f"{mark} {'  ' * depth}{line}: {sig}")
        if len(rows) > MAP_SYMBOLS_PER_FILE:
            lines.append(f"    ... {len(rows) - MAP_SYMBOLS_PER_FILE} more")
        candidates.append("\n".join(lines))
    blocks: list[str] = []
    used = 0
    for block, cost in zip(candidates, counter.count_many(candidates) if candidates else []):
        if used + cost + 1 > budget:
            # A file with many definitions (a large module is often the best file) shows its
            # first ones; a file with no room even for that leaves the room to the next.
            block, cost = _head_of(block, counter, budget - used - 1)
            if not block:
                continue
        blocks.append(block)
        used += cost + 1
    return "\n".join(blocks)


def _head_of(block: str, counter: TokenCounter, room: int) -> tuple[str, int]:
    """A map block's path line and as many of its definitions as fit `room` tokens with a
    line saying how many are left out; ("", 0) when not even one fits."""
    lines = block.split("\n")
    defs = [ln for ln in lines[1:] if not ln.startswith("    ... ")]
    beyond = sum(int(ln.split()[1]) for ln in lines[1:] if ln.startswith("    ... "))  # already left out
    costs = counter.count_many(lines[:1] + defs)
    used = costs[0] + 1 + counter.count(f"    ... {len(defs) + beyond} more") + 1
    keep = 0
    while keep < len(defs) and used + costs[keep + 1] + 1 <= room:
        used += costs[keep + 1] + 1
        keep += 1
    while keep > 0:
        left = len(defs) - keep + beyond
        head = "\n".join([lines[0], *defs[:keep]] + ([f"    ... {left} more"] if left else []))
        cost = counter.count(head)
        if cost <= room:
            return head, cost
        keep -= 1
    return "", 0


def _fit(bundle: Bundle, counter: TokenCounter) -> None:
    """Drop the lowest-ranked units (then relations, then the map) until the whole fits."""
    while True:
        bundle.tokens = counter.count(bundle.render())
        if bundle.tokens <= bundle.budget:
            return
        if bundle.units:  # the lowest-ranked units that make up the excess
            over = bundle.tokens - bundle.budget
            drop: set[int] = set()
            for i in sorted(range(len(bundle.units)), key=lambda i: bundle.units[i].score):
                drop.add(i)
                over -= bundle.units[i].tokens
                if over <= 0:
                    break
            bundle.units = [u for i, u in enumerate(bundle.units) if i not in drop]
        elif bundle.relations:
            bundle.relations = bundle.relations[: len(bundle.relations) // 2]
        elif bundle.repo_map:
            bundle.repo_map = ""
        else:
            return  # the snapshot alone: the budget was checked to hold it


def gold_line_coverage(bundle: Bundle, gold: dict[str, list[tuple[int, int]]]) -> tuple[int, int]:
    """(gold lines inside the bundle's units, gold lines): for the localization benchmark."""
    inside = total = 0
    for path, ranges in gold.items():
        mine = [(u.start_line, u.end_line) for u in bundle.units if u.path == path]
        for a, b in ranges:
            for line in range(a, b + 1):
                total += 1
                inside += any(s <= line <= e for s, e in mine)
    return inside, total


__all__ = ["Bundle", "BundleError", "BundleUnit", "LineCache", "Relation", "build_bundle", "gold_line_coverage",
           "render_unit"]
