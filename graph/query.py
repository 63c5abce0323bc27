"""Questions the graph answers: where is X defined, who refers to or calls it, what it calls,
what depends on it, and how one symbol reaches another. Every answer reads the index's
SQLite tables through one connection, so it sees one committed state."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from indexer.store import Store
from indexer.text import split_lines
from indexer.update import index_dir_for

from .errors import BadPosition, GraphNotBuilt, SymbolNotFound
from .model import CALLS, DEPENDENCY_KINDS, RESOLVED, resolution

DEFAULT_LIMIT = 100
_WORD = re.compile(rb"[A-Za-z0-9_$\x80-\xff]+")


def _words(line: str) -> list[str]:
    return [m.group().decode("utf-8", "replace") for m in _WORD.finditer(line.encode("utf-8", "surrogatepass"))]


def word_columns(line: str, name: str) -> list[int]:
    """The byte columns where the identifier `name` stands whole in `line` (as `word_at`
    reads identifiers)."""
    want = name.encode("utf-8", "surrogatepass")
    return [m.start() for m in _WORD.finditer(line.encode("utf-8", "surrogatepass")) if m.group() == want]


def word_at(line: str, col: int) -> str:
    """The identifier at byte column `col` of `line` (0-based; the column just past its end
    counts too, where an editor's cursor sits after typing it), or ""."""
    data = line.encode("utf-8", "surrogatepass")
    for m in _WORD.finditer(data):
        if m.start() <= col <= m.end():
            return m.group().decode("utf-8", "replace")
    return ""


_POSITION = re.compile(r"^(?P<path>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$")
_SEPARATORS = re.compile(r"::|\.|#|/")


@dataclass(frozen=True, slots=True)
class Node:
    """A node of the graph as users see it."""

    id: int
    path: str  # the file, or the directory of a package
    qualname: str  # "" for a file or package
    kind: str  # package, file, or the symbol's kind
    line: int  # where the definition starts (1 for a file, 0 for a package)
    end_line: int

    @property
    def label(self) -> str:
        return self.qualname or self.path


Spec = str | Node | Sequence[Node]  # what a query starts from


@dataclass(frozen=True, slots=True)
class Location:
    """One answer: a place in the code, the symbol there, and how it relates to the question."""

    path: str
    line: int
    col: int
    symbol: str  # the symbol at that place (the caller, the definition, ...); "" at file level
    kind: str  # the edge kind (calls, imports, ...), or "definition"
    confidence: float
    resolution: str  # resolved, inferred or name (matched by name only: not certain)
    depth: int = 1  # hops from the question (callers/callees/impact)
    target: str = ""  # the symbol at the other end of the edge

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class Graph:
    """The graph of one index. Cheap to open: queries go to SQLite through its indexes."""

    def __init__(self, store: Store):
        self.store = store
        self.conn = store.conn
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='graph_edges'").fetchone()
        if row is None:
            raise GraphNotBuilt("this index has no graph yet; run `repoqa index` to build it")
        self._nodes: dict[int, Node] = {}

    @classmethod
    def open(cls, root: Path) -> Graph:
        return cls(Store.open_reader(index_dir_for(root)))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Graph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- nodes -------------------------------------------------------------------------

    def nodes(self, ids: Iterable[int]) -> list[Node]:
        want = [i for i in dict.fromkeys(ids) if i not in self._nodes]
        for i in range(0, len(want), 400):
            part = want[i:i + 400]
            for row in self.conn.execute(
                    "SELECT n.id, coalesce(f.path, n.qualname), n.qualname, n.kind, n.file_id, "
                    "(SELECT s.start_line || ' ' || s.end_line FROM symbols s "
                    " WHERE s.file_id = n.file_id AND s.qualname = n.qualname "
                    " ORDER BY s.end_line - s.start_line DESC LIMIT 1), "  # an @overload: its body
                    "f.lines FROM graph_nodes n LEFT JOIN files f ON f.id = n.file_id "
                    f"WHERE n.id IN ({','.join('?' * len(part))})", part):
                nid, path, qual, kind, fid, span, lines = row
                if fid == 0:
                    self._nodes[nid] = Node(nid, qual, "", kind, 0, 0)
                elif not qual:
                    self._nodes[nid] = Node(nid, path, "", kind, 1, lines or 1)
                else:
                    start, end = map(int, span.split()) if span else (1, 1)
                    self._nodes[nid] = Node(nid, path, qual, kind, start, end)
        return [self._nodes[i] for i in ids if i in self._nodes]

    def node(self, nid: int) -> Node:
        return self.nodes([nid])[0]

    def find(self, spec: str, *, exact: bool = False) -> list[Node]:
        """The nodes `spec` names: a path, `path:line[:col]`, a qualified name (`Class.method`,
        `pkg.module.Class.method`, `ns::f`) or a bare name. Raises SymbolNotFound with close
        matches when nothing matches. `exact`: a position names only what a use there
        resolves to or the definition whose name is there, not the one enclosing it
        (go-to-definition); BadPosition when there is none."""
        spec = spec.strip()
        if not spec:
            raise SymbolNotFound(spec)
        m = _POSITION.match(spec)
        if m and self._file_id(m["path"]) is not None:
            ids = self.at(m["path"], int(m["line"]), int(m["col"]) if m["col"] else None, enclosing=not exact)
            if not ids:
                raise BadPosition(f"nothing at {spec} is a use or a definition of a name this repository defines")
            return self.nodes(ids)
        if "::" in spec:  # path::qualname, as --json writes `of`
            path, _, qual = spec.partition("::")
            fid = self._file_id(path)
            if fid is not None:
                ids = self._ids("SELECT id FROM graph_nodes WHERE file_id = ? AND qualname = ?", fid, qual)
                if ids:
                    return self.nodes(ids)
        fid = self._file_id(spec.rstrip("/"))
        if fid is not None:
            return self.nodes(self._ids("SELECT id FROM graph_nodes WHERE file_id = ? AND qualname = ''", fid))
        pkg = self._ids("SELECT id FROM graph_nodes WHERE file_id = 0 AND qualname = ?", spec.rstrip("/"))
        if pkg:
            return self.nodes(pkg)
        found = self._by_name(spec)
        if not found:
            raise SymbolNotFound(spec, self.suggest(spec))
        return self.nodes(found)

    def _by_name(self, spec: str) -> list[int]:
        ids = self._ids("SELECT n.id FROM graph_nodes n JOIN symbols s ON s.file_id = n.file_id "
                        "AND s.qualname = n.qualname WHERE s.qualname = ? GROUP BY n.id", spec)
        if ids:
            return ids
        parts = [p for p in _SEPARATORS.split(spec) if p]
        if not parts:
            return []
        if len(parts) == 1:
            return self._ids("SELECT n.id FROM graph_nodes n JOIN symbols s ON s.file_id = n.file_id "
                             "AND s.qualname = n.qualname WHERE s.name = ? GROUP BY n.id "
                             "ORDER BY length(n.qualname), n.id", parts[0])
        # A qualified name in any spelling: the longest tail that is a qualname (in any of
        # the separators the languages use), in a file whose path ends with the head.
        for cut in range(1, len(parts)):
            head, tail = parts[:cut], parts[cut:]
            rows = self.conn.execute(
                "SELECT n.id, f.path FROM symbols s JOIN graph_nodes n ON n.file_id = s.file_id "
                "AND n.qualname = s.qualname JOIN files f ON f.id = s.file_id "
                "WHERE s.name = ? AND s.qualname IN (?, ?)",
                (tail[-1], ".".join(tail), "::".join(tail))).fetchall()
            hits = [nid for nid, path in rows if _path_matches(path, head)]
            if hits:
                return list(dict.fromkeys(hits))
        # Class.method spelled with another separator than the index uses.
        rows = self.conn.execute(
            "SELECT n.id FROM symbols s JOIN graph_nodes n ON n.file_id = s.file_id "
            "AND n.qualname = s.qualname WHERE s.name = ? AND s.qualname IN (?, ?)",
            (parts[-1], ".".join(parts), "::".join(parts))).fetchall()
        return list(dict.fromkeys(r[0] for r in rows))

    def suggest(self, spec: str, n: int = 5) -> list[str]:
        last = [p for p in _SEPARATORS.split(spec) if p]
        word = last[-1] if last else spec
        names = [r[0] for r in self.conn.execute("SELECT DISTINCT name FROM symbols")]
        close = difflib.get_close_matches(word, names, n=n, cutoff=0.75)
        lowered = word.lower()
        if len(close) < n:  # a case-insensitive prefix finds what edit distance misses
            close += [x for x in names if x.lower().startswith(lowered) and x not in close][:n - len(close)]
        return close

    def _file_id(self, path: str) -> int | None:
        path = path.removeprefix("./")
        row = self.conn.execute("SELECT id FROM files WHERE path = ? AND skip_reason = ''", (path,)).fetchone()
        return row[0] if row else None

    def _ids(self, sql: str, *args: object) -> list[int]:
        return [r[0] for r in self.conn.execute(sql, args)]

    def at(self, path: str, line: int, col: int | None = 0, *, enclosing: bool = True) -> list[int]:
        """The nodes at a position, best first: what a reference there resolves to (as
        go-to-definition does), else the innermost definition enclosing it, else the file.
        Without `enclosing`: else the innermost definition around it whose name is the word
        at the cursor (the cursor on a definition's name, below its decorators or
        attributes too), else nothing: a builtin's or a literal's enclosing function is no
        answer to go-to-definition. `col` None: the line alone (a use at its start, or a
        definition whose name is a word of the line).

        A reference matched by name only has several candidates; they are ranked by how
        often resolved references elsewhere reach each (a method everyone calls is the
        likelier target), and the caller sees their confidence."""
        fid = self._file_id(path)
        if fid is None:
            raise BadPosition(f"{path} is not an indexed file of this repository")
        lines = self.conn.execute("SELECT lines FROM files WHERE id = ?", (fid,)).fetchone()[0]
        if line < 1 or (lines and line > lines):
            raise BadPosition(f"{path} has {lines} lines; line {line} is outside it")
        words: list[str] = []
        if not enclosing:
            text = self._line_text(fid, line)
            words = _words(text) if col is None else [word_at(text, col)]
            if not any(words):
                return []
        col = col or 0
        ref = self.conn.execute(
            "SELECT r.id FROM refs r WHERE r.file_id = ? AND r.line = ? AND r.col <= ? "
            "AND (r.end_line > ? OR r.end_col >= ?) AND EXISTS (SELECT 1 FROM graph_edges e WHERE e.ref = r.id) "
            "ORDER BY r.col DESC LIMIT 1", (fid, line, col, line, col)).fetchone()
        if ref is not None:
            return self.targets_of(ref[0])
        row = self.conn.execute(
            "SELECT n.id FROM symbols s JOIN graph_nodes n ON n.file_id = s.file_id AND n.qualname = s.qualname "
            "WHERE s.file_id = ? AND s.start_line <= ? AND s.end_line >= ? "
            "AND (? OR s.name IN (SELECT value FROM json_each(?))) "
            "ORDER BY s.end_line - s.start_line, s.start_line DESC LIMIT 1",
            (fid, line, line, enclosing, json.dumps(words))).fetchone()
        if row:
            return [row[0]]
        if not enclosing:
            return []
        return self._ids("SELECT id FROM graph_nodes WHERE file_id = ? AND qualname = ''", fid)

    def _line_text(self, file_id: int, line: int) -> str:
        """One line of a file as the index has it (from the chunk holding it), or ""."""
        row = self.conn.execute(
            "SELECT start_line, text FROM chunks WHERE file_id = ? AND start_line <= ? AND end_line >= ? "
            "ORDER BY start_line DESC LIMIT 1", (file_id, line, line)).fetchone()
        if row is None:
            return ""
        lines = split_lines(row[1])
        return lines[line - row[0]] if 0 <= line - row[0] < len(lines) else ""

    def targets_of(self, ref_id: int) -> list[int]:
        """What one reference (a refs row) resolves to, best first: the resolved targets,
        else the candidates by name, the most referenced first."""
        rows = self.conn.execute("SELECT dst, max(confidence) FROM graph_edges WHERE ref = ? AND kind != 'tests' "
                                 "GROUP BY dst", (ref_id,)).fetchall()
        best = max((c for _, c in rows), default=0.0)
        if best >= RESOLVED:
            return [d for d, c in rows if c >= RESOLVED]
        ids = [d for d, _ in rows]
        use = dict(_chunked_rows(
            self.conn, "SELECT dst, count(*) FROM graph_edges WHERE dst IN ({}) AND confidence >= ? "
            "AND kind NOT IN ('contains', 'tests', 'cochange') GROUP BY dst", ids, (RESOLVED,)))
        conf = dict(rows)
        return sorted(ids, key=lambda d: (-conf[d], -use.get(d, 0), d))

    # -- queries -----------------------------------------------------------------------

    def start(self, spec: Spec) -> list[Node]:
        """The nodes a query starts from: `spec` as `find` reads it, or nodes already found."""
        if isinstance(spec, str):
            return self.find(spec)
        if isinstance(spec, Node):
            return [spec]
        return list(spec)

    def definition(self, spec: Spec) -> list[Location]:
        """Where `spec` is defined: one location per matching definition."""
        return [Location(n.path, n.line, 0, n.qualname, "definition", RESOLVED, "resolved", 0)
                for n in self.start(spec)]

    def references(self, spec: Spec, *, limit: int = DEFAULT_LIMIT, offset: int = 0) -> list[Location]:
        """Every place that uses `spec` (calls, imports, inherits, type uses), surest first."""
        ids = [n.id for n in self.start(spec)]
        rows = _chunked_rows(
            self.conn,
            "SELECT e.src, e.dst, e.kind, e.confidence, f.path, e.line, e.col FROM graph_edges e "
            "JOIN files f ON f.id = e.file_id WHERE e.dst IN ({}) AND e.kind NOT IN ('contains', 'tests', "
            "'cochange') ORDER BY e.confidence DESC, f.path, e.line, e.col, e.kind, e.dst LIMIT ?",
            ids, (offset + limit,))
        rows.sort(key=lambda r: (-r[3], r[4], r[5], r[6], r[2], r[1]))  # a total order: pages neither repeat nor skip
        rows = rows[offset:offset + limit]
        self.nodes([r[0] for r in rows] + [r[1] for r in rows])
        return [Location(path, line, col, self._nodes[src].qualname, kind, conf, resolution(conf), 1,
                         self._nodes[dst].label)
                for src, dst, kind, conf, path, line, col in rows]

    def callers(self, spec: Spec, *, depth: int = 1, limit: int = DEFAULT_LIMIT,
                offset: int = 0) -> list[Location]:
        """Who calls `spec`, then who calls those, up to `depth` hops; nearest first."""
        return self._walk(spec, (CALLS,), reverse=True, depth=depth, limit=limit, offset=offset)

    def callees(self, spec: Spec, *, depth: int = 1, limit: int = DEFAULT_LIMIT,
                offset: int = 0) -> list[Location]:
        """What `spec` calls, and what those call, up to `depth` hops; nearest first."""
        return self._walk(spec, (CALLS,), reverse=False, depth=depth, limit=limit, offset=offset)

    def impact(self, spec: Spec, *, depth: int = 0, limit: int = DEFAULT_LIMIT,
               offset: int = 0) -> list[Location]:
        """Everything that depends on `spec` (a symbol, a file or a package), transitively,
        nearest first: what imports, calls, inherits from, refers to or tests it or
        anything inside it. depth 0: no bound."""
        return self._walk(spec, DEPENDENCY_KINDS, reverse=True, depth=depth, limit=limit,
                          offset=offset, inside=True)

    def _walk(self, spec: Spec, kinds: tuple[str, ...], *, reverse: bool, depth: int, limit: int,
              offset: int, inside: bool = False) -> list[Location]:
        start = [n.id for n in self.start(spec)]
        seen = set(start)
        frontier = self._inside(start) if inside else list(start)
        seen.update(frontier)
        near, far = ("dst", "src") if reverse else ("src", "dst")
        marks = ",".join("?" * len(kinds))
        out: list[Location] = []
        want = offset + limit
        level = 0
        while frontier and (depth <= 0 or level < depth) and len(out) < want:
            level += 1
            # The nodes of this level, surest first, aggregated in SQLite: a symbol used
            # everywhere has thousands of incoming edges and the page shows a hundred. When
            # the page fills here the walk ends, so the cut never hides a next level.
            cap = want - len(out) + len(seen)
            best: dict[int, float] = {}
            for i in range(0, len(frontier), 900):
                part = frontier[i:i + 900]
                for other, conf in self.conn.execute(
                        f"SELECT e.{far}, max(e.confidence) AS c FROM graph_edges e "
                        f"WHERE e.{near} IN ({','.join('?' * len(part))}) AND e.kind IN ({marks}) "
                        f"GROUP BY e.{far} ORDER BY c DESC, e.{far} LIMIT ?", (*part, *kinds, cap)):
                    if other not in seen and conf > best.get(other, -1.0):
                        best[other] = conf
            ordered = sorted(best, key=lambda n: (-best[n], n))
            shown = self._best_edges(ordered[:want - len(out)], frontier, kinds, near, far)
            self.nodes([r[0] for r in shown] + [r[1] for r in shown])
            paths = self._paths({r[4] for r in shown})
            nxt = ordered
            seen.update(nxt)
            for other, via, kind, conf, fid, line, col in shown:
                node, via_node = self._nodes[other], self._nodes[via]
                if reverse:  # the place is the use site, in the dependent
                    out.append(Location(paths.get(fid, node.path), line, col, node.qualname, kind, conf,
                                        resolution(conf), level, via_node.label))
                else:  # the place is the definition reached
                    out.append(Location(node.path, node.line, 0, node.qualname, kind, conf,
                                        resolution(conf), level, via_node.label))
            if len(out) >= want:
                break
            frontier = self._inside(nxt) if inside else nxt
            seen.update(frontier)
        return out[offset:offset + limit]

    def _best_edges(self, others: list[int], frontier: list[int], kinds: tuple[str, ...], near: str,
                    far: str) -> list[tuple]:
        """For each node of `others` (in that order), its surest edge from the frontier:
        (other, via, kind, confidence, file_id, line, col)."""
        if not others:
            return []
        marks = ",".join("?" * len(kinds))
        best: dict[int, tuple] = {}
        front = set(frontier)
        sql = (f"SELECT e.{far}, e.{near}, e.kind, e.confidence, e.file_id, e.line, e.col FROM graph_edges e "
               f"WHERE e.{far} IN ({{}}) AND e.kind IN ({marks})")
        if len(frontier) <= 400:  # else filtered below: SQLite takes a bounded number of parameters
            sql += f" AND e.{near} IN ({','.join('?' * len(frontier))})"
            rows = _chunked_rows(self.conn, sql, others, (*kinds, *frontier))
        else:
            rows = _chunked_rows(self.conn, sql, others, kinds)
        for row in rows:
            if row[1] in front and (row[0] not in best or (row[3], -row[5]) > (best[row[0]][3], -best[row[0]][5])):
                best[row[0]] = row
        return [best[o] for o in others if o in best]

    def _inside(self, ids: list[int]) -> list[int]:
        """`ids` and everything they contain (a file's symbols, a class's methods)."""
        out, frontier = list(ids), list(ids)
        seen = set(ids)
        while frontier:
            rows = _chunked_rows(self.conn, "SELECT dst FROM graph_edges WHERE src IN ({}) AND kind = 'contains'",
                                 frontier)
            frontier = [r[0] for r in rows if r[0] not in seen]
            seen.update(frontier)
            out.extend(frontier)
        return out

    def _paths(self, fids: set[int]) -> dict[int, str]:
        return dict(_chunked_rows(self.conn, "SELECT id, path FROM files WHERE id IN ({})", list(fids)))

    def path(self, source: Spec, target: Spec, *, max_depth: int = 12) -> list[Location]:
        """How `source` reaches `target` over calls, imports, inheritance and type uses: the
        shortest chain of edges, surest first among equals; [] when none exists."""
        src = [n.id for n in self.start(source)]
        dst = set(self._inside([n.id for n in self.start(target)]))  # a file or package: what is in it
        kinds = tuple(k for k in DEPENDENCY_KINDS if k != "tests")
        marks = ",".join("?" * len(kinds))
        parent: dict[int, tuple] = {s: () for s in src}
        frontier = list(src)
        hit = next((s for s in src if s in dst), None)
        for _ in range(max_depth):
            if hit is not None or not frontier:
                break
            rows = _chunked_rows(
                self.conn,
                f"SELECT e.src, e.dst, e.kind, e.confidence, e.file_id, e.line, e.col FROM graph_edges e "
                f"WHERE e.src IN ({{}}) AND e.kind IN ({marks}) ORDER BY e.confidence DESC, e.dst",
                self._inside(frontier), kinds)
            nxt = []
            for row in rows:
                d = row[1]
                if d in parent:
                    continue
                parent[d] = row
                nxt.append(d)
                if d in dst:
                    hit = d
                    break
            frontier = nxt
        if hit is None:
            return []
        chain = []
        while parent[hit]:
            chain.append(parent[hit])
            hit = self._owner_in(parent, parent[hit][0])
        chain.reverse()
        self.nodes([r[0] for r in chain] + [r[1] for r in chain])
        paths = self._paths({r[4] for r in chain})
        return [Location(paths.get(fid, self._nodes[s].path), line, col, self._nodes[s].qualname, kind, conf,
                         resolution(conf), i, self._nodes[d].label)
                for i, (s, d, kind, conf, fid, line, col) in enumerate(chain, 1)]

    def _owner_in(self, parent: dict[int, tuple], nid: int) -> int:
        """The node on the search tree that an edge's source belongs to (itself, or the
        file or class containing it)."""
        while nid not in parent:
            row = self.conn.execute("SELECT src FROM graph_edges WHERE dst = ? AND kind = 'contains' LIMIT 1",
                                    (nid,)).fetchone()
            if row is None:
                break
            nid = row[0]
        return nid

    def to_networkx(self, kinds: Iterable[str] | None = None):
        """The graph (or the edges of `kinds`) as a networkx MultiDiGraph, for analysis:
        nodes carry path, qualname and kind, edges kind and confidence. Queries and ranking
        do not go through it: loading sympy's 730k edges into networkx takes seconds and
        several hundred MB (see benchmarks.graph_speed)."""
        import networkx as nx

        g = nx.MultiDiGraph()
        for nid, fid, qual, kind, path in self.conn.execute(
                "SELECT n.id, n.file_id, n.qualname, n.kind, f.path FROM graph_nodes n "
                "LEFT JOIN files f ON f.id = n.file_id"):
            g.add_node(nid, path=path if fid else qual, qualname=qual if fid else "", kind=kind)
        sql = "SELECT src, dst, kind, confidence FROM graph_edges"
        args: tuple = ()
        if kinds is not None:
            args = tuple(kinds)
            sql += f" WHERE kind IN ({','.join('?' * len(args))})"
        g.add_edges_from((s, d, {"kind": k, "confidence": c}) for s, d, k, c in self.conn.execute(sql, args))
        return g

    def stats(self) -> dict[str, object]:
        c = self.conn
        return {
            "nodes": c.execute("SELECT count(*) FROM graph_nodes").fetchone()[0],
            "edges": dict(c.execute("SELECT kind, count(*) FROM graph_edges GROUP BY kind ORDER BY 2 DESC")),
            "name_only_edges": c.execute(
                "SELECT count(*) FROM graph_edges WHERE confidence < ? AND kind NOT IN ('cochange')",
                (0.8,)).fetchone()[0],
        }


def _path_matches(path: str, head: list[str]) -> bool:
    """Whether a file's path ends with the module path `head` (pkg.module -> pkg/module.py,
    pkg/module/__init__.py, pkg/module/mod.rs, ...)."""
    stem = path.rsplit(".", 1)[0]
    parts = stem.split("/")
    if parts[-1] in ("__init__", "mod", "index", "lib"):
        parts = parts[:-1]
    return parts[-len(head):] == head if len(parts) >= len(head) else False


def _chunked_rows(conn, sql: str, ids: list[int], extra: tuple = ()) -> list[tuple]:
    """Rows of `sql` with its IN ({}) list filled from `ids`, in chunks SQLite accepts.
    Trailing parameters (`extra`) are bound after the list, once per chunk."""
    out: list[tuple] = []
    for i in range(0, max(len(ids), 1), 900):
        part = ids[i:i + 900]
        if not part:
            break
        out.extend(conn.execute(sql.format(",".join("?" * len(part))), (*part, *extra)))
    return out

