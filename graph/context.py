"""What resolvers may ask of the index: files, the symbols and references of a file, and
definitions by name. Loaded lazily (an incremental update touches a few files) or all at
once (a full build touches every file)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from indexer.store import Store

from .model import FileInfo, RefRow, SymRow

_REF_COLS = "id, name, kind, line, col, scope, module, alias, enclosing"
_SYM_COLS = "qualname, name, kind, parent, start_line"


class Context:
    def __init__(self, store: Store, *, preload: bool = False):
        self.conn = store.conn
        self.files: dict[int, FileInfo] = {}
        self.by_path: dict[str, int] = {}
        for fid, path, language, digest in self.conn.execute(
                "SELECT id, path, language, content_hash FROM files "
                "WHERE skip_reason = '' AND language != 'text'"):
            self.files[fid] = FileInfo(fid, path, language, digest)
            self.by_path[path] = fid
        self._symbols: dict[int, dict[str, SymRow]] = {}
        self._refs: dict[int, list[RefRow]] = {}
        self._named: dict[str, list[tuple[int, SymRow]]] = {}
        self._preloaded = preload
        # Per-language memo space for resolvers (module tables, bindings), dropped with
        # the context: one context lives for one graph update.
        self.memo: dict[str, dict[Any, Any]] = defaultdict(dict)
        if preload:
            self._preload()

    def _preload(self) -> None:
        syms: dict[int, dict[str, SymRow]] = {fid: {} for fid in self.files}
        named: dict[str, list[tuple[int, SymRow]]] = defaultdict(list)
        for fid, *row in self.conn.execute(f"SELECT file_id, {_SYM_COLS} FROM symbols ORDER BY id"):
            table = syms.get(fid)
            if table is None:
                continue
            s = SymRow(*row)
            if s.qualname not in table:
                table[s.qualname] = s
                named[s.name].append((fid, s))
        refs: dict[int, list[RefRow]] = {fid: [] for fid in self.files}
        for fid, *row in self.conn.execute(f"SELECT file_id, {_REF_COLS} FROM refs ORDER BY id"):
            lst = refs.get(fid)
            if lst is not None:
                lst.append(RefRow(*row))
        self._symbols, self._refs, self._named = syms, refs, dict(named)

    def language(self, fid: int) -> str:
        return self.files[fid].language

    def path(self, fid: int) -> str:
        return self.files[fid].path

    def symbols(self, fid: int) -> dict[str, SymRow]:
        """qualname -> the first definition of that name in the file."""
        table = self._symbols.get(fid)
        if table is None:
            table = {}
            for row in self.conn.execute(
                    f"SELECT {_SYM_COLS} FROM symbols WHERE file_id = ? ORDER BY id", (fid,)):
                s = SymRow(*row)
                table.setdefault(s.qualname, s)
            self._symbols[fid] = table
        return table

    def scopes(self, fid: int, qualname: str) -> Iterator[tuple[str, SymRow]]:
        """The definitions of a file enclosing `qualname`, innermost first, itself included
        (scope walks of every resolver: locals, the class of `self`, the module of an item)."""
        syms = self.symbols(fid)
        scope = qualname
        while scope and (s := syms.get(scope)) is not None:
            yield scope, s
            scope = s.parent

    def refs(self, fid: int) -> list[RefRow]:
        lst = self._refs.get(fid)
        if lst is None:
            lst = [RefRow(*r) for r in self.conn.execute(
                f"SELECT {_REF_COLS} FROM refs WHERE file_id = ? ORDER BY id", (fid,))]
            self._refs[fid] = lst
        return lst

    def manifests(self, basename: str) -> dict[str, tuple[int, str]]:
        """Indexed text files named `basename` (go.mod, Cargo.toml), which are not source
        files of the graph: path -> (file id, text), read from their chunks."""
        key = ("manifests", basename)
        got = self.memo["context"].get(key)
        if got is None:
            got = {}
            for fid, path in self.conn.execute(
                    "SELECT id, path FROM files WHERE skip_reason = '' AND (path = ? OR path LIKE ?) "
                    "ORDER BY path", (basename, f"%/{basename}")).fetchall():
                text = "\n".join(t for (t,) in self.conn.execute(
                    "SELECT text FROM chunks WHERE file_id = ? ORDER BY start_line", (fid,)))
                got[path] = (fid, text)
            self.memo["context"][key] = got
        return got

    def named(self, name: str) -> list[tuple[int, SymRow]]:
        """Every definition whose short name is `name`, in indexed source files."""
        hit = self._named.get(name)
        if hit is None:
            if self._preloaded:
                return []
            hit = []
            seen = set()
            for fid, *row in self.conn.execute(
                    f"SELECT file_id, {_SYM_COLS} FROM symbols WHERE name = ? ORDER BY id", (name,)):
                if fid in self.files and (fid, row[0]) not in seen:  # one per qualname, as preloaded
                    seen.add((fid, row[0]))
                    hit.append((fid, SymRow(*row)))
            self._named[name] = hit
        return hit
