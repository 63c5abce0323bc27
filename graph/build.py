"""Build the graph from the index and keep it in step: tables beside the index's own, updated
in the index's transaction, recomputing only what a change can affect."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from indexer.store import Store

from . import cochange
from .context import Context
from .model import (
    CALLS,
    CONTAINS,
    REF_EDGE,
    RESOLVED,
    TESTS,
    RefRow,
    Target,
    is_test_path,
    parent_dir,
)
from .resolvers import support_for

log = logging.getLogger(__name__)

# Bump when the graph's tables change. The stored version also carries a digest of the
# resolvers' and builder's code, so a change in what resolution produces rebuilds the graph
# at the next update instead of mixing edges of two resolvers.
GRAPH_VERSION = 2


def _code_digest() -> str:
    here = Path(__file__).parent
    h = hashlib.blake2b(digest_size=6)
    for f in sorted([here / "build.py", here / "context.py", *(here / "resolvers").glob("*.py")]):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


GRAPH_STAMP = f"{GRAPH_VERSION}.{_code_digest()}"
# An update changing more files than this share of the repository rebuilds the graph.
FULL_SHARE = 3
FULL_MIN = 300

_SCHEMA = """
CREATE TABLE IF NOT EXISTS graph_nodes (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL,  -- 0 for a directory (a package), named by qualname
    qualname TEXT NOT NULL,    -- "" for the file itself
    kind TEXT NOT NULL         -- package, file, or the symbol's kind
);
CREATE TABLE IF NOT EXISTS graph_edges (
    src INTEGER NOT NULL, dst INTEGER NOT NULL, kind TEXT NOT NULL,
    confidence REAL NOT NULL,
    file_id INTEGER NOT NULL,  -- the file whose content produced the edge, 0 if none
    ref INTEGER NOT NULL,      -- the refs row it resolves, 0 for derived edges
    line INTEGER NOT NULL, col INTEGER NOT NULL
);
-- The state each file's edges were computed from, and the names it defined or imported
-- then: a change of those names is what makes references elsewhere resolve differently.
CREATE TABLE IF NOT EXISTS graph_files (
    file_id INTEGER PRIMARY KEY, path TEXT NOT NULL, content_hash TEXT NOT NULL, names TEXT NOT NULL
);
"""
_INDEXES = {
    "graph_nodes_key": "graph_nodes(file_id, qualname)",
    # covering the walks (callers, impact): a symbol used everywhere is answered from the
    # index alone, without a table lookup per edge
    "graph_edges_src": "graph_edges(src, kind, dst, confidence)",
    "graph_edges_dst": "graph_edges(dst, kind, src, confidence)",
    "graph_edges_file": "graph_edges(file_id)",
    "graph_edges_ref": "graph_edges(ref)",
    "refs_module": "refs(module)",
}


@dataclass
class GraphSummary:
    mode: str = "none"  # none (nothing changed), incremental, full
    files: int = 0  # files whose edges were recomputed
    references: int = 0  # references resolved
    nodes: int = 0
    edges: int = 0
    resolved: int = 0  # edges from references resolved through imports and scopes
    name_only: int = 0  # edges from references matched by name only
    cochange: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def ensure_schema(store: Store) -> None:
    for stmt in _SCHEMA.split(";"):
        if stmt.strip():
            store.conn.execute(stmt)
    _create_indexes(store.conn)


def sync_graph(store: Store, root: Path | None = None, *, full: bool = False, commit: str | None = None
               ) -> GraphSummary:
    """Bring the graph in `store` in step with its files (inside the caller's transaction).

    Edges out of changed files are recomputed; edges into them only where a name they
    define or import appeared or disappeared. `root` enables co-change edges from git;
    `commit` is HEAD when the caller has read it already (else git is asked).
    """
    t0 = time.perf_counter()
    ensure_schema(store)
    conn = store.conn
    meta = store.meta()
    ctx = Context(store)
    hashes, paths = {}, {}
    for fid, h, path in conn.execute("SELECT file_id, content_hash, path FROM graph_files"):
        hashes[fid], paths[fid] = h, path
    # A file id freed by a removal is given to the next new file: an id whose path changed
    # is a file gone and another come, not an edit.
    renamed = [fid for fid, f in ctx.files.items() if fid in paths and paths[fid] != f.path]
    changed = [fid for fid, f in ctx.files.items() if hashes.get(fid) != f.content_hash or fid in renamed]
    removed = [fid for fid in hashes if fid not in ctx.files]
    manifests = _manifests_digest(conn)  # go.mod, Cargo.toml: they decide what imports mean
    full = (full or meta.get("graph_version") != GRAPH_STAMP or not hashes
            or meta.get("graph_manifests", "") != manifests
            or len(changed) + len(removed) > max(FULL_MIN, len(ctx.files) // FULL_SHARE))
    summary = GraphSummary()
    builder: _Builder | None = None
    if full:
        ctx = Context(store, preload=True)
        _Builder(store, ctx, summary).full()
        summary.mode = "full"
    elif changed or removed:
        # what those files defined and imported when their edges were made
        was = {fid: (names, path) for fid, names, path in _in_rows(
            conn, "SELECT file_id, names, path FROM graph_files WHERE file_id IN ({})",
            [f for f in changed + removed if f in hashes])}
        builder = _Builder(store, ctx, summary)
        builder.incremental(changed, removed, was, set(renamed))
        summary.mode = "incremental"
    # HEAD, as the caller's snapshot already read it, or from git
    head = commit if commit is not None else cochange.head(root) if root is not None else ""
    if full or (head and head != meta.get("graph_cochange_commit", "")):
        summary.cochange = cochange.rebuild(store, root) if root is not None else 0
        store.set_meta(graph_cochange_commit=head)
    if full or summary.cochange:
        summary.nodes = conn.execute("SELECT count(*) FROM graph_nodes").fetchone()[0]
        summary.edges = conn.execute("SELECT count(*) FROM graph_edges").fetchone()[0]
    else:  # counting 700k rows costs more than a one-file update: keep the counts by delta
        summary.nodes = int(meta.get("graph_nodes", "0")) + (builder.nodes_delta if builder else 0)
        summary.edges = int(meta.get("graph_edges", "0")) + (builder.edges_delta if builder else 0)
    if summary.mode != "none" or summary.cochange:
        gen = int(meta.get("graph_generation", "0")) + 1
        store.set_meta(graph_version=GRAPH_STAMP, graph_generation=str(gen), graph_manifests=manifests,
                       graph_nodes=str(summary.nodes), graph_edges=str(summary.edges))
    summary.seconds = round(time.perf_counter() - t0, 3)
    return summary


class _Builder:
    def __init__(self, store: Store, ctx: Context, summary: GraphSummary):
        self.conn = store.conn
        self.ctx = ctx
        self.summary = summary
        self.ids: dict[Target, int] = {}
        self.edges: list[tuple] = []
        self.nodes_delta = 0  # rows added minus rows deleted, for the counts in meta
        self.edges_delta = 0

    # -- node ids ----------------------------------------------------------------------

    def node(self, target: Target) -> int | None:
        nid = self.ids.get(target)
        if nid is None:
            row = self.conn.execute("SELECT id FROM graph_nodes WHERE file_id = ? AND qualname = ?",
                                    target).fetchone()
            if row is None:
                return None
            nid = self.ids[target] = row[0]
        return nid

    def _add_nodes(self, rows: list[tuple[int, str, str]]) -> None:
        cur = self.conn.execute("SELECT coalesce(max(id), 0) FROM graph_nodes").fetchone()[0]
        with_ids = [(cur + i, *row) for i, row in enumerate(rows, 1)]
        self.nodes_delta += len(with_ids)
        self.conn.executemany("INSERT INTO graph_nodes(id, file_id, qualname, kind) VALUES (?,?,?,?)",
                              with_ids)
        for nid, fid, qual, _ in with_ids:
            self.ids[Target(fid, qual)] = nid

    def _ensure_dirs(self, paths: Iterable[str]) -> None:
        """Package nodes for the directories holding `paths`, linked to their parents."""
        want: list[str] = []
        for path in paths:
            d = parent_dir(path)
            while d and self.node(Target(0, d)) is None and d not in want:
                want.append(d)
                d = parent_dir(d)
        if not want:
            return
        self._add_nodes([(0, d, "package") for d in want])
        for d in want:
            up = parent_dir(d)
            if up:
                self.edges.append((self.ids[Target(0, up)], self.ids[Target(0, d)], CONTAINS,
                                   RESOLVED, 0, 0, 0, 0))

    # -- full build --------------------------------------------------------------------

    def full(self) -> None:
        c = self.conn
        for table in ("graph_nodes", "graph_edges", "graph_files"):
            c.execute(f"DELETE FROM {table}")
        for name in _INDEXES:
            if name.startswith("graph_edges"):
                c.execute(f"DROP INDEX IF EXISTS {name}")
        fids = sorted(self.ctx.files)
        rows = [(0, d, "package") for d in sorted({parent_dir(self.ctx.path(f)) for f in fids} - {""})]
        # every ancestor directory too
        dirs = {r[1] for r in rows}
        for d in list(dirs):
            up = parent_dir(d)
            while up and up not in dirs:
                dirs.add(up)
                rows.append((0, up, "package"))
                up = parent_dir(up)
        for fid in fids:
            rows.append((fid, "", "file"))
            rows.extend((fid, q, s.kind) for q, s in self.ctx.symbols(fid).items())
        self.ids = {}
        self._add_nodes(rows)
        for d in dirs:
            up = parent_dir(d)
            if up:
                self.edges.append((self.ids[Target(0, up)], self.ids[Target(0, d)], CONTAINS,
                                   RESOLVED, 0, 0, 0, 0))
        for fid in fids:
            self._contains(fid)
            self._resolve(fid, self.ctx.refs(fid))
        self._flush()
        self._record(fids)
        self.summary.files = len(fids)
        _create_indexes(c)

    # -- incremental -------------------------------------------------------------------

    def incremental(self, changed: list[int], removed: list[int], was: dict[int, tuple[str, str]],
                    renamed: set[int] = frozenset()) -> None:
        """`renamed`: ids among `changed` that now name another path (gone and new)."""
        c = self.conn
        gone = changed + removed
        self.edges_delta -= _in(c, "DELETE FROM graph_edges WHERE file_id IN ({})", gone)
        affected: set[str] = set()
        for fid in [*removed, *renamed]:
            affected |= set(was[fid][0].split())
        dead = [nid for (nid,) in _in_rows(c, "SELECT id FROM graph_nodes WHERE file_id IN ({})",
                                           [*removed, *renamed])]
        if renamed:  # their nodes go now, so the loop below makes them anew
            self.edges_delta -= _in(c, "DELETE FROM graph_edges WHERE src IN ({0}) OR dst IN ({0})", dead,
                                    repeat=2)
            self.nodes_delta -= _in(c, "DELETE FROM graph_nodes WHERE id IN ({})", dead)
            dead = []
        new_files = {f for f in changed if f not in was or f in renamed}
        new_nodes: list[tuple[int, str, str]] = []
        for fid in changed:
            syms = self.ctx.symbols(fid)
            have = dict(c.execute("SELECT qualname, id FROM graph_nodes WHERE file_id = ?", (fid,)))
            dead.extend(nid for q, nid in have.items() if q and q not in syms)
            new_nodes.extend((fid, q, s.kind) for q, s in syms.items() if q not in have)
            if "" not in have:
                new_nodes.append((fid, "", "file"))
            for q, nid in have.items():
                self.ids[Target(fid, q)] = nid
            old = set(was[fid][0].split()) if fid not in new_files else set()
            affected |= old ^ self._names(fid)
        if dead:
            self.edges_delta -= _in(c, "DELETE FROM graph_edges WHERE src IN ({0}) OR dst IN ({0})", dead, repeat=2)
            self.nodes_delta -= _in(c, "DELETE FROM graph_nodes WHERE id IN ({})", dead)
            dead_set = set(dead)
            self.ids = {t: n for t, n in self.ids.items() if n not in dead_set}
        self._ensure_dirs(self.ctx.path(f) for f in new_files)
        self._add_nodes(new_nodes)
        self._drop_empty_dirs([*removed, *renamed])
        for fid in changed:
            self._contains(fid)
            self._resolve(fid, self.ctx.refs(fid))
        # References elsewhere whose answer may have changed.
        others = self._dependents(affected, changed, removed, was, new_files, renamed)
        if others:
            self.edges_delta -= _in(c, "DELETE FROM graph_edges WHERE ref IN ({})", [r.id for _, r in others])
            by_file: dict[int, list] = {}
            for fid, r in others:
                by_file.setdefault(fid, []).append(r)
            for fid, refs in by_file.items():
                self._resolve(fid, refs)
        self._flush()
        _in(c, "DELETE FROM graph_files WHERE file_id IN ({})", removed)
        self._record(changed)
        self.summary.files = len(changed) + len(removed)

    def _dependents(self, affected: set[str], changed: list[int], removed: list[int],
                    was: dict[int, tuple[str, str]], new_files: set[int],
                    renamed: set[int]) -> list[tuple[int, RefRow]]:
        """References outside the changed files that a change of these names can redirect;
        when files appeared or vanished, also every reference in files whose imports
        mention them."""
        skip = set(changed)
        rows: dict[int, tuple[int, RefRow]] = {}
        cols = "file_id, id, name, kind, line, col, scope, module, alias, enclosing"
        names = sorted({n.split("=", 1)[0] for n in affected if n})
        for fid, *r in _in_rows(self.conn, f"SELECT {cols} FROM refs WHERE name IN ({{}})", names):
            if fid not in skip and fid in self.ctx.files:
                rows[r[0]] = (fid, RefRow(*r))
        moved = [self.ctx.path(f) for f in new_files]
        moved += [was[f][1] for f in [*removed, *renamed]]
        keys = set()
        for path in moved:
            stem = path.rsplit("/", 1)[-1].split(".", 1)[0]
            keys.add(stem if stem not in ("__init__", "index", "mod", "lib") else
                     parent_dir(path).rsplit("/", 1)[-1])
        keys.discard("")
        importers: set[int] = set()
        for key in keys:
            like = f"%{key}%"
            importers.update(f for (f,) in self.conn.execute(
                "SELECT DISTINCT file_id FROM refs WHERE kind = 'import' AND (name LIKE ? OR module LIKE ?)",
                (like, like)))
        for fid in importers - skip:
            if fid in self.ctx.files:
                for r in self.ctx.refs(fid):
                    rows[r.id] = (fid, r)
        return list(rows.values())

    def _drop_empty_dirs(self, removed: list[int]) -> None:
        if not removed:
            return
        live = {parent_dir(f.path) for f in self.ctx.files.values()}
        full_live = set()
        for d in live:
            while d and d not in full_live:
                full_live.add(d)
                d = parent_dir(d)
        empty = [nid for nid, q in self.conn.execute(
            "SELECT id, qualname FROM graph_nodes WHERE file_id = 0") if q not in full_live]
        if empty:
            self.edges_delta -= _in(self.conn, "DELETE FROM graph_edges WHERE src IN ({0}) OR dst IN ({0})",
                                    empty, repeat=2)
            self.nodes_delta -= _in(self.conn, "DELETE FROM graph_nodes WHERE id IN ({})", empty)

    # -- edges -------------------------------------------------------------------------

    def _names(self, fid: int) -> set[str]:
        """The names a file defines, as references elsewhere spell them, and the names it
        imports with what they stand for (`g=a:f` for `from a import f as g`), so that
        pointing an alias elsewhere counts as a change of the name `g`."""
        names = {s.name for s in self.ctx.symbols(fid).values()}
        for r in self.ctx.refs(fid):
            if r.kind == "import":
                names.add(f"{r.alias or r.name}={r.module}:{r.name}".replace(" ", ""))
        return names

    def _contains(self, fid: int) -> None:
        file_node = self.ids[Target(fid, "")]
        d = parent_dir(self.ctx.path(fid))
        if d:
            self.edges.append((self.node(Target(0, d)), file_node, CONTAINS, RESOLVED, fid, 0, 0, 0))
        for q, s in self.ctx.symbols(fid).items():
            parent = self.ids.get(Target(fid, s.parent), file_node) if s.parent else file_node
            self.edges.append((parent, self.ids[Target(fid, q)], CONTAINS, RESOLVED, fid, 0, s.line, 0))

    def _resolve(self, fid: int, refs: list) -> None:
        support = support_for(self.ctx, self.ctx.language(fid))
        if support is None:
            return
        file_node = self.node(Target(fid, ""))
        from_test = is_test_path(self.ctx.path(fid))
        s = self.summary
        for r in refs:
            s.references += 1
            found = support.resolve(fid, r)
            if not found:
                continue
            src = (self.node(Target(fid, r.enclosing)) if r.enclosing else None) or file_node
            kind = REF_EDGE.get(r.kind, "references")
            for target, confidence in found:
                dst = self.node(target)
                if dst is None or dst == src:
                    continue
                self.edges.append((src, dst, kind, confidence, fid, r.id, r.line, r.col))
                if confidence >= RESOLVED:
                    s.resolved += 1
                else:
                    s.name_only += 1
                if from_test and kind == CALLS and target.file_id and not is_test_path(
                        self.ctx.path(target.file_id)):
                    self.edges.append((src, dst, TESTS, confidence, fid, r.id, r.line, r.col))
            if len(self.edges) > 50_000:
                self._flush()

    def _flush(self) -> None:
        self.edges_delta += len(self.edges)
        self.conn.executemany(
            "INSERT INTO graph_edges(src, dst, kind, confidence, file_id, ref, line, col) "
            "VALUES (?,?,?,?,?,?,?,?)", self.edges)
        self.edges = []

    def _record(self, fids: list[int]) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO graph_files(file_id, path, content_hash, names) VALUES (?,?,?,?)",
            [(f, self.ctx.path(f), self.ctx.files[f].content_hash, " ".join(sorted(self._names(f)))) for f in fids])


def _manifests_digest(conn) -> str:
    """A digest of the files resolvers read besides sources (go.mod, Cargo.toml)."""
    h = hashlib.blake2b(digest_size=8)
    for path, digest in conn.execute(
            "SELECT path, content_hash FROM files WHERE skip_reason = '' AND (path IN ('go.mod', 'Cargo.toml') "
            "OR path LIKE '%/go.mod' OR path LIKE '%/Cargo.toml') ORDER BY path"):
        h.update(f"{path}\0{digest}\n".encode())
    return h.hexdigest()


def _create_indexes(conn) -> None:
    for name, target in _INDEXES.items():
        unique = "UNIQUE " if name == "graph_nodes_key" else ""
        conn.execute(f"CREATE {unique}INDEX IF NOT EXISTS {name} ON {target}")


def _in(conn, sql: str, values: list, repeat: int = 1) -> int:
    """Run a statement over `values` in chunks; returns the rows it changed."""
    changed = 0
    for i in range(0, len(values), 400):
        part = values[i:i + 400]
        changed += conn.execute(sql.format(",".join("?" * len(part))), part * repeat).rowcount
    return changed


def _in_rows(conn, sql: str, values: list) -> list[tuple]:
    out: list[tuple] = []
    for i in range(0, len(values), 400):
        part = values[i:i + 400]
        out.extend(conn.execute(sql.format(",".join("?" * len(part))), part))
    return out


class GraphIndex:
    """The graph as a derived index of `indexer.update.update_index`."""

    name = "graph"

    def update(self, store: Store, root: Path, snapshot) -> dict[str, object]:
        return sync_graph(store, root, commit=snapshot.commit).to_json()
