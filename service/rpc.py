"""The gRPC servicers: convert the request, call what the CLI calls, convert the result.

Each call runs its work on a worker thread with its own read-only SQLite connection, so it
sees one committed state of the index even while the repository is being re-indexed. A
call the client cancels (or whose deadline passes) sets a flag its work checks, so an
index update stops and rolls back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import posixpath
import re
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from repoqa.v1 import assistant_pb2 as assistant
from repoqa.v1 import (
    assistant_pb2_grpc,
    navigation_pb2_grpc,
    repositories_pb2_grpc,
    retrieval_pb2_grpc,
)
from repoqa.v1 import common_pb2 as common
from repoqa.v1 import navigation_pb2 as nav
from repoqa.v1 import repositories_pb2 as repos
from repoqa.v1 import retrieval_pb2 as retrieval

from assistant.errors import AssistantError
from graph.build import GraphIndex
from graph.errors import SymbolNotFound
from graph.query import Graph, Node, word_at, word_columns
from graph.query import Location as GraphLocation
from indexer.errors import IndexerError, IndexLocked
from indexer.options import IndexOptions
from indexer.parse import parse_source
from indexer.records import FileRecord, Symbol
from indexer.scan import checked_root
from indexer.store import Store
from indexer.text import content_hash
from indexer.update import index_dir_for, update_index
from service.config import MAX_ANSWER_TOKENS

from . import convert
from .errors import InvalidRequest, PathOutsideRoot, UnknownRepository

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_LIMIT = 10_000
MAX_TEXT = 4 * 2**20  # an unsaved buffer larger than this is refused
MAX_QUERY = 10_000
MAX_BUDGET = 2_000_000  # tokens of a bundle
MAX_RERANK = 100  # units a Search or Bundle may rerank


_INDEX_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="repoqa-index")
# Answers stream from their own threads: a long generation never holds up queries.
_MODEL_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="repoqa-model")


class Cancelled(Exception):
    """The client went away (cancelled, or its deadline passed): stop the work."""


@dataclass
class RepoEntry:
    id: str
    root: Path
    options: IndexOptions
    lock: threading.Lock = field(default_factory=threading.Lock)  # one index run at a time


class Registry:
    """The repositories a server holds, by id."""

    def __init__(self, options_for: Callable[[Path], IndexOptions], allowed: Sequence[Path] = ()):
        self.options_for = options_for
        # Where AddRepository may register repositories (and so read and index files):
        # nowhere but under these directories. The server's own --repo roots are added
        # with `trusted=True`.
        self.allowed = [Path(a).resolve() for a in allowed]
        self._repos: dict[str, RepoEntry] = {}
        self._lock = threading.Lock()
        self._added: list[Callable[[RepoEntry], None]] = []
        self._removed: list[Callable[[RepoEntry], None]] = []
        # One change and its callbacks at a time: a watcher told of an add and a remove of
        # one repository hears them in the order they happened.
        self._changing = threading.RLock()

    def subscribe(self, added: Callable[[RepoEntry], None], removed: Callable[[RepoEntry], None]
                  ) -> list[RepoEntry]:
        """Be told of each repository added or removed from now on (a watcher follows them),
        after the change, on the caller's thread (what they raise reaches the caller); returns
        the repositories held at that moment."""
        with self._changing:
            self._added.append(added)
            self._removed.append(removed)
            return self.all()

    def add(self, path: str | Path, repo_id: str = "", *, trusted: bool = False) -> RepoEntry:
        text = str(path)
        if not text.strip() or "\0" in text:
            raise InvalidRequest("path is required (an absolute directory on the server)")
        if not trusted:
            if not Path(text).is_absolute():
                raise InvalidRequest(f"{text}: give an absolute path")
            real = Path(os.path.realpath(text))
            if not any(real == a or a in real.parents for a in self.allowed):
                raise PathOutsideRoot(f"{text} is not under a directory this server may serve "
                                      "(start it with --allow-root DIR)")
        root = checked_root(Path(path))
        with self._lock:
            for e in self._repos.values():
                if e.root == root and (not repo_id or repo_id == e.id):
                    return e  # one root, one entry: its id is the one it has
        repo_id = repo_id or root.name
        if not re.fullmatch(r"[A-Za-z0-9._@+-]{1,200}", repo_id):
            raise InvalidRequest(f"repository id {repo_id!r}: use letters, digits and . _ @ + -")
        with self._changing:
            with self._lock:
                old = self._repos.get(repo_id)
                if old is not None and old.root != root:
                    raise InvalidRequest(f"the id {repo_id!r} already names {old.root}")
                if any(e.root == root for e in self._repos.values() if e.id != repo_id):
                    raise InvalidRequest(f"{root} is already registered under another id")
                entry = old or RepoEntry(repo_id, root, self.options_for(root))
                self._repos[repo_id] = entry
            if old is None:
                for added in self._added:
                    added(entry)
        return entry

    def get(self, repo_id: str) -> RepoEntry:
        with self._lock:
            repos = dict(self._repos)
        if not repo_id:
            if len(repos) == 1:  # a server holding one repository needs no id
                return next(iter(repos.values()))
            raise InvalidRequest("repository is required (this server holds several)")
        entry = repos.get(repo_id)
        if entry is None:
            raise UnknownRepository(f"no repository {repo_id!r} on this server; known: "
                                    f"{', '.join(sorted(self._repos)) or 'none'}")
        return entry

    def remove(self, repo_id: str) -> None:
        with self._changing:
            with self._lock:
                entry = self._repos.pop(repo_id, None)
            if entry is None:
                raise UnknownRepository(f"no repository {repo_id!r} on this server")
            for removed in self._removed:
                removed(entry)

    def all(self) -> list[RepoEntry]:
        with self._lock:
            return sorted(self._repos.values(), key=lambda e: e.id)


async def _drain(task: asyncio.Future, queue: asyncio.Queue):
    """The messages a worker puts on `queue` while `task` runs, then the task's own result."""
    task.add_done_callback(lambda t: t.cancelled() or t.exception())  # read, so never "never retrieved"
    getter: asyncio.Future | None = None
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield getter.result()
                continue
            getter.cancel()
            while not queue.empty():
                yield queue.get_nowait()
            yield task.result()
            return
    finally:
        if getter is not None and not getter.done():
            getter.cancel()


async def run(work: Callable[[threading.Event], T]) -> T:
    """Run `work(stop)` on a worker thread; `stop` is set when the call is cancelled."""
    stop = threading.Event()
    try:
        return await asyncio.to_thread(work, stop)
    except asyncio.CancelledError:
        stop.set()
        raise


def relative_path(root: Path, document: common.TextDocument) -> str:
    """The document's path relative to `root`; refuses anything that leaves it (`..`,
    symlinks pointing out, absolute paths elsewhere)."""
    raw = document.path or document.uri
    if document.uri and not document.path:
        parsed = urllib.parse.urlparse(document.uri)
        if parsed.scheme not in ("", "file"):
            raise InvalidRequest(f"unsupported URI scheme {parsed.scheme!r}")
        raw = urllib.parse.unquote(parsed.path)
    if not raw or "\0" in raw:
        raise InvalidRequest("document path is required")
    p = Path(raw)
    full = p if p.is_absolute() else root / p
    real = Path(os.path.realpath(full))
    if real != root and root not in real.parents:
        raise PathOutsideRoot(f"{raw} is outside the repository")
    return real.relative_to(root).as_posix()


def _limit(value: int, default: int, cap: int = MAX_LIMIT) -> int:
    if value > cap:
        raise InvalidRequest(f"limit {value} is above the maximum {cap}")
    return value or default


class _Query:
    """One read of an index: a store connection, the graph, the lines, the snapshot."""

    def __init__(self, entry: RepoEntry, stop: threading.Event, rel: str = "", buffer: str | None = None):
        """`buffer`: the unsaved text of `rel`, which takes priority over the file for this call."""
        self.entry, self.stop = entry, stop
        self.store = Store.open_reader(index_dir_for(entry.root))
        try:
            # A cancelled call (or one past its deadline) stops inside SQLite at once.
            self.store.conn.set_progress_handler(lambda: 1 if stop.is_set() else 0, 10_000)
            # One read transaction: every statement of this call sees one committed state,
            # the one its snapshot stamp names, even while the repository is re-indexed.
            self.store.conn.execute("BEGIN")
            self.meta = self.store.meta()
            _check_compatible(self.meta, entry.options)
        except BaseException:
            self.store.close()
            raise
        self.rel, self.buffer = rel, buffer
        self.lines = convert.Lines(entry.root, {rel: buffer} if buffer is not None else None)
        self.indexed_lines = convert.Lines(entry.root) if buffer is not None else self.lines
        self._parsed = None
        self._remap: convert.Remap | bool | None = None  # False: the file changed since it was indexed

    def __enter__(self) -> _Query:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.store.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        self.store.close()

    @property
    def graph(self) -> Graph:
        return Graph(self.store)

    def parsed(self, language: str):
        """The unsaved buffer parsed as the indexer parses the file (symbols and references
        as tuples), once per call."""
        if self._parsed is None:
            data = self.buffer.encode("utf-8")
            self._parsed = parse_source(self.rel, language, data, self.entry.options,
                                        FileRecord(self.rel, language, len(data), 0, ""))
        return self._parsed

    def remap(self) -> convert.Remap | None:
        """Where the indexed lines of the buffer's file are in the buffer: None without a
        buffer, or where the file on disk is no longer the one indexed (saved since: the
        indexed lines are not known, and answers keep the index's places)."""
        if self.buffer is None or self._remap is False:
            return None
        if self._remap is None:
            row = self.store.conn.execute("SELECT content_hash FROM files WHERE path = ?", (self.rel,)).fetchone()
            try:
                same = row is not None and content_hash((self.entry.root / self.rel).read_bytes()) == row[0]
            except OSError:
                same = False
            self._remap = convert.Remap(self.indexed_lines.all(self.rel), self.lines.all(self.rel)) if same else False
        return self._remap or None

    @property
    def places(self) -> convert.Lines:
        """The lines that the places of the index's answers are converted with: the buffer's
        once they are moved into it (`in_buffer`, `site` make the remap for an answer in the
        buffer's file), else the files' (the same but in the buffer's file)."""
        return self.lines if self._remap else self.indexed_lines

    def in_buffer(self, node: Node) -> Node | None:
        """A definition of the index as the unsaved buffer has it, when it is in the buffer's
        file: the buffer's definition of that name (the nearest, where several), else its
        indexed lines moved as the buffer moved them; None where the buffer has neither that
        name nor the definition's first line (deleted). The file itself is the whole buffer.
        Any other node as it is."""
        if node.path != self.rel or node.id < 0:
            return node
        remap = self.remap()
        if remap is None:
            return node
        if not node.qualname:
            return Node(node.id, node.path, node.qualname, node.kind, 1, max(remap.size, 1))
        start, end = remap.span(node.line, max(node.end_line, node.line))
        same = [sym for sym in self.parsed(_indexed_file(self, self.rel)).symbols if sym[1] == node.qualname]
        if same:
            sym = min(same, key=lambda sym: abs(sym[3] - start))
            start, end = sym[3], sym[5]
        elif remap.line(node.line) is None:
            return None
        return Node(node.id, node.path, node.qualname, node.kind, start, end)

    def written(self, loc) -> str:
        """The name written at a use's indexed place (an alias, a module's name as imported),
        else the name of what it uses."""
        word = word_at(self.indexed_lines.get(loc.path, loc.line), loc.col)
        if word:
            return word
        target = loc.target
        if "/" not in target:
            return target.rsplit(".", 1)[-1]
        stem = posixpath.splitext(posixpath.basename(target))[0]
        return posixpath.basename(posixpath.dirname(target)) if stem == "__init__" else stem

    def site(self, loc, name: str):
        """A use of `name` at an indexed place, as the unsaved buffer has it when it is in the
        buffer's file (None: the buffer has it no more); any other as it is."""
        if loc.path != self.rel:
            return loc
        remap = self.remap()
        if remap is None:
            return loc
        moved = remap.site(loc.line, loc.col, name)
        return None if moved is None else replace(loc, line=moved[0], col=moved[1])

    def references(self, nodes: list[Node], limit: int, offset: int) -> list[tuple]:
        """A page of the uses of `nodes` as (place, name written there), the uses an unsaved
        buffer deleted left out before the page is cut, so that pages neither repeat nor skip."""
        want = offset + limit
        fetch = want
        while True:
            locs = self.graph.references(nodes, limit=fetch, offset=0)
            kept = [(place, name) for loc in locs for name in (self.written(loc),)
                    for place in (self.site(loc, name),) if place is not None]
            if len(kept) >= want or len(locs) < fetch:
                return kept[offset:want]
            fetch += want - len(kept)

    def snapshot(self) -> common.Snapshot:
        return convert.snapshot(self.meta)


def _check_compatible(meta: dict[str, str], options: IndexOptions) -> None:
    """Refuse an index of another format or built with other options (being rebuilt)."""
    from indexer.errors import IndexMismatch
    from indexer.languages import queries_digest
    from indexer.options import FORMAT_VERSION, options_hash

    if meta.get("format_version") != str(FORMAT_VERSION):
        raise IndexMismatch(f"the index has format {meta.get('format_version')}, this server reads "
                            f"{FORMAT_VERSION}; index the repository again")
    if meta.get("options_hash") != options_hash(options, queries_digest(tuple(options.languages))):
        raise IndexMismatch("the index was built with other options; index the repository again")


def _indexed_file(q: _Query, rel: str) -> str:
    """The language of an indexed source file; refuses anything else before reading it."""
    row = q.store.conn.execute("SELECT language FROM files WHERE path = ? AND skip_reason = ''", (rel,)).fetchone()
    if row is None or not row[0]:
        raise InvalidRequest(f"{rel} is not an indexed file of this repository")
    return row[0]


def _targets(q: _Query, rel: str, request, buffer: str | None, *, exact: bool = False) -> list[Node]:
    """What the position in `request` names, best first: what a use there resolves to, else
    the definition enclosing it (references and calls of the function the cursor is in).
    `exact` (go-to-definition): only a use, or a definition whose name is at the cursor;
    nothing for a builtin, a literal or a name the repository does not define."""
    if request.encoding not in (common.POSITION_ENCODING_UNSPECIFIED, common.POSITION_ENCODING_UTF16,
                                common.POSITION_ENCODING_UTF8):
        raise InvalidRequest(f"unknown position encoding {request.encoding}")
    language = _indexed_file(q, rel)
    line = request.position.line + 1
    if buffer is not None and line > buffer.count("\n") + 1:
        raise InvalidRequest(f"line {request.position.line} is past the end of the document")
    text = q.lines.get(rel, line)
    col = convert.to_byte_col(text, request.position.character, request.encoding)
    graph = q.graph
    if buffer is None:
        return graph.nodes(graph.at(rel, line, col, enclosing=not exact))
    # An unsaved buffer: parse it, find the reference under the cursor, and answer for the
    # same reference in the indexed file (matched by what it names and where it sits).
    parsed = q.parsed(language)
    here = [r for r in parsed.references if r[2] == line and r[3] <= col <= r[5] + (r[4] > line) * 10**9]
    if not here:
        word = word_at(text, col) if exact else ""
        enclosing = [s for s in parsed.symbols if s[3] <= line <= s[5] and (not exact or s[0] == word)]
        if enclosing:
            sym = min(enclosing, key=lambda s: s[5] - s[3])
            found = _named(graph, sym[1], exact)
            mine = [n for n in found if n.path == rel][:1]
            if exact:  # on a definition the index has not in this file yet: the buffer's, in its lines
                return mine or [_buffer_node(rel, sym)]
            return mine or found
        return [] if exact else graph.nodes(graph.at(rel, 1, 0))
    name, kind, _, _, _, _, scope, _, _, enclosing = max(here, key=lambda r: r[3])
    rows = q.store.conn.execute(
        "SELECT r.id, r.line FROM refs r JOIN files f ON f.id = r.file_id WHERE f.path = ? AND r.name = ? "
        "AND r.kind = ? AND r.scope = ? AND r.enclosing = ?", (rel, name, kind, scope, enclosing)).fetchall()
    if rows:
        ref_id = min(rows, key=lambda r: abs(r[1] - line))[0]
        found = graph.targets_of(ref_id)
        if found:
            return graph.nodes(found)
    short = name.rsplit(".", 1)[-1]
    if exact:  # a use the index cannot resolve: a definition the buffer makes, where the use sees it
        own = _buffer_definitions(parsed.symbols, short, enclosing)
        if own:
            return [_buffer_node(rel, s) for s in own]
    return _named(graph, short, exact)


def _declarations(q: _Query, nodes: list[Node], encoding: int) -> list:
    """Each definition's name, where the buffer has it in the buffer's file (kind
    "definition"); a file or package has none."""
    out = []
    for n in (q.in_buffer(n) for n in nodes):
        if n is None or not n.qualname:
            continue
        lines = q.lines if n.id < 0 else q.places
        name = n.qualname.replace("::", ".").rsplit(".", 1)[-1]
        cols = word_columns(lines.get(n.path, n.line), name)
        out.append(convert.symbol_location(q.entry.root, lines, GraphLocation(
            n.path, n.line, cols[0] if cols else 0, n.qualname, "definition", 1.0, "resolved", 0, n.qualname),
            encoding, len(name.encode()) if cols else 0))
    return out


def _call_sites(q: _Query, caller: Node, callee: Node) -> list[GraphLocation]:
    """Where `caller` calls `callee` (by the index), in order."""
    return [GraphLocation(path, line, col, caller.qualname, "calls", 1.0, "resolved", 1, callee.label)
            for path, line, col in q.store.conn.execute(
                "SELECT f.path, e.line, e.col FROM graph_edges e JOIN files f ON f.id = e.file_id "
                "WHERE e.src = ? AND e.dst = ? AND e.kind = 'calls' ORDER BY e.line, e.col", (caller.id, callee.id))]


def _buffer_definitions(symbols, name: str, enclosing: str) -> list:
    """The buffer's definitions of `name` a use inside `enclosing` (a qualname, "" at file
    level) sees: in the innermost scope around the use that has one (a method of the use's
    class, a nested function, the file's own), else the first of that name anywhere."""
    named = [s for s in symbols if s[0] == name]
    scopes = enclosing.split(".") if enclosing else []
    for depth in range(len(scopes), -1, -1):
        parent = ".".join(scopes[:depth])
        here = [s for s in named if s[9] == parent]
        if here:
            return here[:1]
    return named[:1]


def _buffer_node(rel: str, sym) -> Node:
    """A definition of the unsaved buffer as a node (id -1: not in the graph; lines are the
    buffer's)."""
    return Node(-1, rel, sym[1], sym[2], sym[3], sym[5])


def _named(graph, name: str, exact: bool) -> list[Node]:
    """The definitions named `name`; none, for go-to-definition, when the index has none
    (a builtin, or a name only the unsaved buffer defines), else SymbolNotFound."""
    try:
        return graph.find(name)
    except SymbolNotFound:
        if exact:
            return []
        raise


def _buffer(request) -> str | None:
    """The request's unsaved buffer, if it carries one."""
    if request.document.HasField("text"):
        if len(request.document.text) > MAX_TEXT:
            raise InvalidRequest(f"the document text is larger than {MAX_TEXT} bytes")
        return request.document.text
    return None


class NavigationServicer(navigation_pb2_grpc.NavigationServicer):
    def __init__(self, registry: Registry):
        self.registry = registry

    async def Definition(self, request, context):
        entry = self.registry.get(request.repository)
        rel = relative_path(entry.root, request.document)
        buffer = _buffer(request)

        def work(stop):
            with _Query(entry, stop, rel, buffer) as q:
                nodes = _targets(q, rel, request, buffer, exact=True)
                # in the buffer's file, where the buffer has them (the index's lines there are
                # the saved file's); elsewhere where the index has them
                locs = [convert.definition_location(entry.root, q.lines if n.id < 0 else q.places, n, 1.0,
                                                    "resolved", request.encoding)
                        for n in map(q.in_buffer, nodes) if n is not None]
                return nav.LocationsResponse(locations=locs, snapshot=q.snapshot())

        return await run(work)

    async def References(self, request, context):
        entry = self.registry.get(request.repository)
        rel = relative_path(entry.root, request.document)
        buffer = _buffer(request)
        limit = _limit(request.limit, 100)

        def work(stop):
            with _Query(entry, stop, rel, buffer) as q:
                nodes = _targets(q, rel, request, buffer)
                # the definitions' names first where asked, as the list's first entries
                decls = _declarations(q, nodes, request.encoding) if request.include_declaration else []
                skip = min(request.offset, len(decls))
                out = decls[skip:skip + limit]
                if nodes and limit > len(out):
                    out += [convert.symbol_location(entry.root, q.places, loc, request.encoding, len(name.encode()))
                            for loc, name in q.references(nodes, limit - len(out), request.offset - skip)]
                return nav.LocationsResponse(locations=out, snapshot=q.snapshot())

        return await run(work)

    async def IncomingCalls(self, request, context):
        return await self._calls(request, incoming=True)

    async def OutgoingCalls(self, request, context):
        return await self._calls(request, incoming=False)

    async def _calls(self, request, incoming: bool):
        entry = self.registry.get(request.repository)
        rel = relative_path(entry.root, request.document)
        buffer = _buffer(request)
        limit = _limit(request.limit, 100)
        depth = request.depth or 1
        if depth > 20:
            raise InvalidRequest("depth is at most 20")

        def work(stop):
            with _Query(entry, stop, rel, buffer) as q:
                nodes = _targets(q, rel, request, buffer)
                if not nodes:
                    return nav.CallHierarchyResponse(snapshot=q.snapshot())
                graph = q.graph
                target = nodes[0]
                walk = graph.callers if incoming else graph.callees
                locs = walk(target, depth=depth, limit=limit)
                calls = []
                for loc in locs:
                    other = [n for n in graph.find(f"{loc.path}:{loc.line}") if n.qualname == loc.symbol] \
                        if loc.symbol else graph.find(loc.path)
                    node = q.in_buffer(other[0] if other else Node(0, loc.path, loc.symbol, "", loc.line, loc.line))
                    if node is None:
                        continue  # a caller or callee the buffer deleted
                    sites = []
                    if incoming:  # the call's place: in the buffer's file, where the buffer has it
                        site = q.site(loc, q.written(loc))
                        if site is None:
                            continue  # the buffer has that call no more
                        sites = [convert.position(q.places, site.path, site.line, site.col, request.encoding)]
                    elif loc.depth == 1 and other:  # the calls' places in the caller, where the buffer has them
                        made = _call_sites(q, target, other[0])
                        moved = [m for m in (q.site(s, q.written(s)) for s in made) if m is not None]
                        if made and not moved:
                            continue  # the buffer has none of those calls any more
                        sites = [convert.position(q.places, m.path, m.line, m.col, request.encoding) for m in moved]
                    calls.append(nav.CallHierarchyCall(
                        item=convert.call_item(entry.root, q.places, node, request.encoding),
                        from_ranges=[common.Range(start=p, end=p) for p in sites], confidence=loc.confidence,
                        resolution=convert.resolution(loc.resolution), depth=loc.depth))
                return nav.CallHierarchyResponse(
                    item=convert.call_item(entry.root, q.places, q.in_buffer(target) or target, request.encoding),
                    calls=calls, snapshot=q.snapshot())

        return await run(work)

    async def DocumentSymbols(self, request, context):
        entry = self.registry.get(request.repository)
        rel = relative_path(entry.root, request.document)
        buffer = _buffer(request)

        def work(stop):
            with _Query(entry, stop, rel, buffer) as q:
                language = _indexed_file(q, rel)
                if buffer is not None:
                    symbols = [Symbol(*s) for s in q.parsed(language).symbols]
                else:
                    symbols = q.store.symbols_in(rel)
                if len(symbols) > MAX_LIMIT:
                    symbols = symbols[:MAX_LIMIT]
                return nav.DocumentSymbolsResponse(
                    symbols=[convert.document_symbol(q.lines, rel, s, request.encoding) for s in symbols],
                    snapshot=q.snapshot())

        return await run(work)

    async def WorkspaceSymbols(self, request, context):
        entry = self.registry.get(request.repository)
        limit = _limit(request.limit, 50, 1000)
        query = request.query.strip()
        if not query or len(query) > 200:
            raise InvalidRequest("query must be 1 to 200 characters")

        def work(stop):
            with _Query(entry, stop) as q:
                pattern = "%" + "%".join(_like_escape(c) for c in query) + "%"
                # symbols first (CROSS JOIN keeps that order): a scan of the names, then one
                # indexed node lookup per match
                rows = q.store.conn.execute(
                    "SELECT n.id, s.qualname, s.name FROM symbols s CROSS JOIN graph_nodes n "
                    "ON n.file_id = s.file_id AND n.qualname = s.qualname "
                    "WHERE s.qualname LIKE ? ESCAPE '\\' GROUP BY n.id LIMIT 5000", (pattern,)).fetchall()
                ranked = sorted(rows, key=lambda r: _fuzzy_rank(query, r[2], r[1]))[:limit]
                lines = convert.Lines(entry.root)
                nodes = q.graph.nodes([r[0] for r in ranked])
                return nav.WorkspaceSymbolsResponse(
                    symbols=[convert.call_item(entry.root, lines, n, request.encoding) for n in nodes],
                    snapshot=q.snapshot())

        return await run(work)


def _like_escape(c: str) -> str:
    return "\\" + c if c in "%_\\" else c


def _fuzzy_rank(query: str, name: str, qualname: str) -> tuple:
    q, n = query.lower(), name.lower()
    return (n != q, not n.startswith(q), q not in qualname.lower(), len(qualname), qualname)


class RetrievalServicer(retrieval_pb2_grpc.RetrievalServicer):
    def __init__(self, registry: Registry, searcher_for: Callable[[Store, dict, Path, str], object],
                 generators: Generators | None = None):
        self.registry = registry
        self.searcher_for = searcher_for
        self.generators = generators or Generators()  # the models that rerank (shared with Ask)

    @contextlib.contextmanager
    def _reranking(self, root: Path, searcher, depth: int):
        """`searcher` with the repository's model reranking its best `depth` units, while the
        model is held (one use at a time, as for Ask); `searcher` itself when depth is 0."""
        if not depth:
            yield searcher
            return
        _, gen, busy = self.generators.get(root)
        if not callable(getattr(gen, "loglikelihood", None)):
            raise InvalidRequest(f"the {gen.backend} generator cannot score text, which rerank needs: use the "
                                 "local model, or a model server (`vllm serve`) as generator.base_url")
        with busy:
            yield replace(searcher, scorer=gen, rerank_depth=depth)

    async def Search(self, request, context):
        entry = self.registry.get(request.repository)
        query = request.query.strip()
        if not query or len(query) > MAX_QUERY:
            raise InvalidRequest(f"query must be 1 to {MAX_QUERY} characters")
        limit = _limit(request.limit, 10, 1000)
        mode = request.mode or "auto"
        if mode not in ("auto", "lexical", "dense", "hybrid"):
            raise InvalidRequest(f"mode {mode!r}: use auto, lexical, dense or hybrid")
        depth = _rerank_depth(request.rerank, mode)

        def work(stop):
            with _Query(entry, stop) as q:
                searcher = self.searcher_for(q.store, q.meta, entry.root, mode)
                try:
                    m = "hybrid" if mode == "auto" else mode
                    with self._reranking(entry.root, searcher, depth) as s:
                        if request.files:
                            found = s.files(query, m, k=limit)
                            return retrieval.SearchResponse(files=[convert.file_hit(f) for f in found],
                                                            snapshot=q.snapshot())
                        hits = s.search(query, m, k=limit)
                finally:
                    if searcher.vstore is not None:
                        searcher.vstore.close()
                return retrieval.SearchResponse(hits=[convert.search_hit(h) for h in hits], snapshot=q.snapshot())

        return await run(work)

    async def Bundle(self, request, context):
        from retrieval.bundle import build_bundle
        from retrieval.tokens import counter_for
        from service.config import bundle_options

        entry = self.registry.get(request.repository)
        query = request.query.strip()
        if not query or len(query) > MAX_QUERY:
            raise InvalidRequest(f"query must be 1 to {MAX_QUERY} characters")
        opts = bundle_options(entry.root)
        budget = request.budget_tokens or opts.budget
        if not 64 <= budget <= MAX_BUDGET:
            raise InvalidRequest(f"budget_tokens must be 64 to {MAX_BUDGET}")
        counter = counter_for(opts.tokenizer)
        depth = _rerank_depth(request.rerank, "auto")

        def work(stop):
            with _Query(entry, stop) as q:
                searcher = self.searcher_for(q.store, q.meta, entry.root, "auto")
                try:
                    with self._reranking(entry.root, searcher, depth) as s:
                        b = build_bundle(s, entry.root, query, budget, counter)
                finally:
                    if searcher.vstore is not None:
                        searcher.vstore.close()
                return convert.bundle(b, q.snapshot())

        return await run(work)


def _rerank_depth(depth: int, mode: str) -> int:
    if depth > MAX_RERANK:
        raise InvalidRequest(f"rerank must be 0 to {MAX_RERANK}")
    if depth and mode in ("lexical", "dense"):
        raise InvalidRequest("rerank reranks the hybrid ranking: use mode auto or hybrid")
    return depth


class Generators:
    """The model each repository's [generator] section chooses, opened once and shared; one
    generation at a time per model (a local CPU model serves one stream)."""

    def __init__(self, opener: Callable | None = None):
        self.opener = opener
        self.lock = threading.Lock()
        self.open: dict[str, tuple[object, threading.Lock]] = {}

    def get(self, root: Path):
        from service.config import generator_options
        from service.generators import open_generator

        options = generator_options(root)
        key = repr(options)
        with self.lock:
            if key not in self.open:
                gen = self.opener(options) if self.opener else open_generator(options)
                self.open[key] = (gen, threading.Lock())
            gen, busy = self.open[key]
        return options, gen, busy

    def close(self) -> None:
        with self.lock:
            for gen, _ in self.open.values():
                gen.close()
            self.open.clear()


class AssistantServicer(assistant_pb2_grpc.AssistantServicer):
    def __init__(self, registry: Registry, searcher_for: Callable[[Store, dict, Path, str], object],
                 generators: Generators | None = None):
        self.registry = registry
        self.searcher_for = searcher_for
        self.generators = generators or Generators()

    async def Ask(self, request, context):
        from service import assist

        entry = self.registry.get(request.repository)
        question = request.question.strip()
        if not question or len(question) > MAX_QUERY:
            raise InvalidRequest(f"question must be 1 to {MAX_QUERY} characters")
        if request.max_tokens > MAX_ANSWER_TOKENS:
            raise InvalidRequest(f"max_tokens {request.max_tokens} is above the maximum {MAX_ANSWER_TOKENS}")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()

        def put(item) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def facts_message(facts, snap) -> None:
            put(assistant.AskResponse(exact_facts=facts.lines, snapshot=snap))

        def work():
            try:
                options, gen, busy = self.generators.get(entry.root)
            except AssistantError:  # the graph's facts need no model: they come before the error
                with contextlib.suppress(IndexerError), _Query(entry, cancel) as q:  # no index: the model's error
                    facts = assist.facts_for(q.store, question)
                    if facts.lines:
                        facts_message(facts, q.snapshot())
                raise
            max_tokens = request.max_tokens or options.max_tokens
            with busy, _Query(entry, cancel) as q:
                snap = q.snapshot()
                searcher = self.searcher_for(q.store, q.meta, entry.root, "auto")
                try:
                    answer = assist.answer(
                        q.store, searcher, entry.root, question, gen, options, max_tokens=max_tokens, cancel=cancel,
                        on_facts=lambda facts: facts_message(facts, snap),
                        on_text=lambda piece: put(assistant.AskResponse(text=piece)))
                finally:
                    if searcher.vstore is not None:
                        searcher.vstore.close()
            return assistant.AskResponse(
                done=True, snapshot=snap, model=answer.model, dropped_citations=answer.dropped_citations,
                masked_secrets=answer.masked_secrets, prompt_tokens=answer.prompt_tokens,
                finish_reason=answer.finish_reason,
                citations=[assistant.Citation(path=c["path"], start_line=c["start_line"], end_line=c["end_line"])
                           for c in answer.citations])

        try:
            async for message in _drain(loop.run_in_executor(_MODEL_POOL, work), queue):
                yield message
        finally:
            cancel.set()  # done, or the client went away: generation stops at its next token

    async def Edit(self, request, context):
        from assistant.edits import apply as apply_edit
        from service import assist

        entry = self.registry.get(request.repository)
        instruction = request.instruction.strip()
        if not instruction or len(instruction) > MAX_QUERY:
            raise InvalidRequest(f"instruction must be 1 to {MAX_QUERY} characters")

        def work(stop):
            options, gen, busy = self.generators.get(entry.root)
            with busy, _Query(entry, stop) as q:
                searcher = self.searcher_for(q.store, q.meta, entry.root, "auto")
                try:
                    proposal = assist.propose_edit(q.store, searcher, entry.root, instruction, gen, options,
                                                   cancel=stop)
                finally:
                    if searcher.vstore is not None:
                        searcher.vstore.close()
                snap = q.snapshot()
            written = apply_edit(proposal, entry.root) if request.apply and proposal.ok else []
            return assistant.EditResponse(
                diff=proposal.diff, snapshot=snap, ok=proposal.ok, applied=written, model=proposal.model,
                may_need_updating=proposal.may_need_updating, notes=proposal.notes,
                checks=[assistant.SyntaxCheck(path=c.path, checked=c.checked, errors_before=c.errors_before,
                                              errors_after=c.errors_after, ok=c.ok) for c in proposal.checks],
                findings=[assistant.Finding(path=f.path, line=f.line, test_id=f.test_id, severity=f.severity,
                                            message=f.message, introduced=f.introduced) for f in proposal.findings])

        return await run(work)


class RepositoriesServicer(repositories_pb2_grpc.RepositoriesServicer):
    def __init__(self, registry: Registry, embed: Callable[[Path, Callable], object] | None = None):
        self.registry = registry
        self.embed = embed

    async def AddRepository(self, request, context):
        entry = await asyncio.to_thread(self.registry.add, request.path, request.id)
        return repos.Repository(id=entry.id, root=str(entry.root))

    async def ListRepositories(self, request, context):
        return repos.ListRepositoriesResponse(
            repositories=[repos.Repository(id=e.id, root=str(e.root)) for e in self.registry.all()])

    async def RemoveRepository(self, request, context):
        await asyncio.to_thread(self.registry.remove, request.repository)  # a watcher lets go of it first
        return repos.RemoveRepositoryResponse()

    async def GetStatus(self, request, context):
        entry = self.registry.get(request.repository)

        def work(stop):
            from indexer.status import index_status
            from indexer.watch import read_state

            if not (index_dir_for(entry.root) / "index.db").is_file():
                return repos.RepositoryStatus(repository=repos.Repository(id=entry.id, root=str(entry.root)),
                                              state="not-indexed")
            st = index_status(entry.root, entry.options)
            with _Query(entry, stop) as q:
                snap = q.snapshot()
                try:
                    stats = q.graph.stats()
                except Exception:  # noqa: BLE001 -- an index without a graph yet
                    stats = {"nodes": 0, "edges": {}}
            w = read_state(index_dir_for(entry.root)) or {}
            c = st.counts or {}
            return repos.RepositoryStatus(
                repository=repos.Repository(id=entry.id, root=str(entry.root)), state=st.state, snapshot=snap,
                files=c.get("files", 0), symbols=c.get("symbols", 0), references=c.get("references", 0),
                chunks=c.get("chunks", 0), vectors=(st.vectors or {}).get("vectors", 0),
                graph_nodes=stats["nodes"], graph_edges=sum(stats["edges"].values()),
                watcher_pid=w.get("pid", 0) or 0, watcher_pending=w.get("pending", 0) or 0)

        return await run(work)

    async def IndexRepository(self, request, context):
        entry = self.registry.get(request.repository)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        last = [0.0, ""]

        def progress(stage: str, done: int, total: int) -> None:
            if stop.is_set():
                raise Cancelled("the client cancelled the index update")
            now = loop.time()
            if stage != last[1] or now - last[0] > 0.1 or done == total:
                last[0], last[1] = now, stage
                loop.call_soon_threadsafe(queue.put_nowait, repos.IndexProgress(stage=stage, done=done, total=total))

        # A call cancelled a moment ago releases the lock at its next progress report; a
        # run really in progress is refused (ABORTED) rather than queued behind.
        if not await asyncio.to_thread(entry.lock.acquire, True, 2.0):
            raise IndexLocked(f"{entry.id} is being indexed by another call; wait for it to finish")

        def work() -> repos.IndexProgress:
            try:
                summary = update_index(entry.root, entry.options, rebuild=request.rebuild, progress=progress,
                                       derived=[GraphIndex()])
                embedded = self.embed(entry.root, progress) if request.embed and self.embed else None
            finally:
                entry.lock.release()
            return repos.IndexProgress(stage="done", done=1, total=1,
                                       summary=convert.index_summary(summary, embedded))

        # Index runs have their own threads: a long one never holds up queries.
        try:
            async for message in _drain(loop.run_in_executor(_INDEX_POOL, work), queue):
                yield message
        except asyncio.CancelledError:
            stop.set()  # the worker stops at its next progress report and rolls back
            raise
