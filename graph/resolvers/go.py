"""Go: import paths through go.mod modules, packages as directories, package scope, selectors, methods."""

from __future__ import annotations

import re
from typing import NamedTuple

from ..context import Context
from ..model import INFERRED, RESOLVED, RefRow, Resolved, SymRow, Target, parent_dir
from .base import EXTERNAL, External, by_name

# The universe block: predeclared types, constants and functions. A package may redeclare
# any of them, so they are consulted after the package scope, as Go does.
_UNIVERSE = """
any bool byte comparable complex64 complex128 error float32 float64 int int8 int16 int32
int64 rune string uint uint8 uint16 uint32 uint64 uintptr true false iota nil append cap
clear close complex copy delete imag len make max min new panic print println real recover
"""
BUILTINS = frozenset(_UNIVERSE.split())
_TYPE_KINDS = frozenset({"struct", "interface", "type"})
_IDENT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_MODULE = re.compile(r'^\s*module\s+"?([^"\s]+)"?', re.MULTILINE)
_MAJOR = re.compile(r"v\d+$")
_DEPTH = 8  # embedding chains followed this far (cycles stop here)

Pkg = str | External  # a package directory ("" is the repository root), or outside the repository


class _Imports(NamedTuple):
    # local name -> (package, confidence): the alias, else the imported package's name
    names: dict[str, tuple[Pkg, float]]
    # packages imported with `.`: their exported names are in the file's scope
    dots: list[tuple[Pkg, float]]


class GoSupport:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.dirs: dict[str, list[int]] = {}  # directory -> its .go files
        for f in sorted(ctx.files.values(), key=lambda f: f.path):
            if f.language == "go":
                self.dirs.setdefault(parent_dir(f.path), []).append(f.id)
        self.modules = _go_modules(ctx)  # module root directory -> module path
        self.packages: dict[str, str] = {}  # import path -> directory
        for d in self.dirs:
            path = self._import_path(d)
            if path is not None:
                self.packages[path] = d
        self._pkg_name: dict[int, str] = {}
        self._dir_name: dict[str, str] = {}
        self._tables: dict[tuple[str, str, bool], dict[str, list[Target]]] = {}
        self._imports: dict[int, _Imports] = {}
        self._embeds: dict[Target, list[tuple[list[Target] | External | None, float]]] = {}

    # -- packages ----------------------------------------------------------------------

    def _import_path(self, d: str) -> str | None:
        """The import path of directory `d`: its nearest go.mod's module path plus the rest."""
        root = d
        while True:
            module = self.modules.get(root)
            if module is not None:
                rest = d[len(root):].lstrip("/")
                return f"{module}/{rest}" if rest else module
            if not root:
                return None
            root = parent_dir(root)

    def package(self, path: str) -> tuple[Pkg | None, float]:
        """The directory an import path names; EXTERNAL for the standard library and
        dependencies (and for a path under a module here that holds no indexed file)."""
        d = self.packages.get(path)
        if d is not None:
            return d, RESOLVED
        if self.modules:
            return EXTERNAL, RESOLVED
        # No go.mod indexed (text files off, or a GOPATH-era tree): a directory whose path
        # ends the import path, or which the import path ends, is probably the package.
        if "." not in path.split("/", 1)[0]:
            return EXTERNAL, RESOLVED  # the standard library's paths have no domain
        found = [d for d in self.dirs if d and (path.endswith("/" + d) or d.endswith("/" + path))]
        return (found[0], INFERRED) if len(found) == 1 else (EXTERNAL, RESOLVED)

    def package_name(self, fid: int) -> str:
        name = self._pkg_name.get(fid)
        if name is None:
            name = next((s.name for s in self.ctx.symbols(fid).values() if s.kind == "package"), "")
            self._pkg_name[fid] = name
        return name

    def dir_name(self, d: str) -> str:
        """The name a directory's package is imported under: the package clause of its
        non-test files (the most common one, should tools with `package main` sit beside it)."""
        name = self._dir_name.get(d)
        if name is None:
            counts: dict[str, int] = {}
            for f in self.dirs.get(d, ()):
                if not _is_test(self.ctx.path(f)):
                    n = self.package_name(f)
                    counts[n] = counts.get(n, 0) + 1
            last = d.rsplit("/", 1)[-1]
            name = max(counts, key=lambda n: (counts[n], n == last, n), default="")
            self._dir_name[d] = name
        return name

    def table(self, d: str, pkg: str, tests: bool) -> dict[str, list[Target]]:
        """qualname -> definitions, over the files of package `pkg` in directory `d`; test
        files are part of the package only when compiling its tests."""
        key = (d, pkg, tests)
        got = self._tables.get(key)
        if got is None:
            got = {}
            for f in self.dirs.get(d, ()):
                if self.package_name(f) != pkg or (not tests and _is_test(self.ctx.path(f))):
                    continue
                for q, s in self.ctx.symbols(f).items():
                    if s.kind != "package":  # the package clause is no name in scope
                        got.setdefault(q, []).append(Target(f, q))
            self._tables[key] = got
        return got

    def exported(self, d: str) -> dict[str, list[Target]]:
        """What importers of directory `d` see."""
        return self.table(d, self.dir_name(d), False)

    def own_scope(self, fid: int) -> dict[str, list[Target]]:
        return self.table(parent_dir(self.ctx.path(fid)), self.package_name(fid),
                          _is_test(self.ctx.path(fid)))

    def _sym(self, t: Target) -> SymRow | None:
        return self.ctx.symbols(t.file_id).get(t.qualname)

    # -- a file's imports --------------------------------------------------------------

    def imports(self, fid: int) -> _Imports:
        got = self._imports.get(fid)
        if got is None:
            names: dict[str, tuple[Pkg, float]] = {}
            guessed: dict[str, tuple[Pkg, float]] = {}
            dots: list[tuple[Pkg, float]] = []
            for r in self.ctx.refs(fid):
                if r.kind != "import":
                    continue
                pkg, conf = self.package(r.module or r.name)
                if pkg is None:
                    continue
                if r.alias == ".":
                    dots.append((pkg, conf))
                elif r.alias == "_":
                    continue
                elif r.alias:
                    names[r.alias] = (pkg, conf)
                elif isinstance(pkg, str):
                    names[self.dir_name(pkg)] = (pkg, conf)
                else:
                    # A dependency's package name is in its own source, which we don't have:
                    # bind the names it is usually called by, so that none is taken for a
                    # variable and guessed at.
                    for n in _external_names(r.module or r.name):
                        guessed[n] = (EXTERNAL, RESOLVED)
            for n, v in guessed.items():
                names.setdefault(n, v)
            got = self._imports[fid] = _Imports(names, dots)
        return got

    # -- scopes ------------------------------------------------------------------------

    def lookup(self, fid: int, name: str) -> tuple[list[Target] | External | None, float]:
        """A bare name: the package scope (every file of the package), dot imports, the
        universe; None when it is none of them (a local variable or parameter)."""
        found = self.own_scope(fid).get(name)
        if found:
            return found, RESOLVED
        opaque = False
        for pkg, conf in self.imports(fid).dots:
            if isinstance(pkg, External):
                opaque = True
            elif found := self.exported(pkg).get(name):
                return found, conf
        if opaque or name in BUILTINS:
            return EXTERNAL, RESOLVED
        return None, 0.0

    def type_name(self, fid: int, name: str) -> tuple[list[Target] | External | None, float]:
        """`T` or `pkg.T` as written in file `fid`."""
        if "." not in name:
            return self.lookup(fid, name)
        head, _, rest = name.partition(".")
        binding = self.imports(fid).names.get(head)
        if binding is None or "." in rest:
            return None, 0.0
        pkg, conf = binding
        if isinstance(pkg, External):
            return EXTERNAL, RESOLVED
        return self.exported(pkg).get(rest) or None, conf

    def method(self, types: list[Target], name: str, depth: int = 0) -> list[Target]:
        """Method `name` of a type: declared with it as receiver anywhere in its package,
        else promoted from the types it embeds."""
        if depth > _DEPTH:
            return []
        for t in types:
            path = self.ctx.path(t.file_id)
            scope = self.table(parent_dir(path), self.package_name(t.file_id), _is_test(path))
            found = scope.get(f"{t.qualname}.{name}")
            if found:
                return found
        for t in types:
            for embedded, _ in self.embeds(t):
                if isinstance(embedded, list) and (found := self.method(embedded, name, depth + 1)):
                    return found
        return []

    def embeds(self, t: Target) -> list[tuple[list[Target] | External | None, float]]:
        got = self._embeds.get(t)
        if got is None:
            self._embeds[t] = []  # a type that (indirectly) embeds itself stops here
            got = [self.type_name(t.file_id, r.name) for r in self.ctx.refs(t.file_id)
                   if r.kind == "inherit" and r.enclosing == t.qualname]
            self._embeds[t] = got
        return got

    # -- references --------------------------------------------------------------------

    def resolve(self, fid: int, ref: RefRow) -> list[Resolved]:
        if ref.kind == "import":
            pkg, conf = self.package(ref.module or ref.name)
            return [Resolved(t, conf) for t in self._package_nodes(pkg)] if isinstance(pkg, str) else []
        if ref.kind == "call" and ref.scope:
            return self._selector(fid, ref)
        if ref.scope:  # a qualified type: its scope is always an imported package
            found, conf = self.type_name(fid, f"{ref.scope}.{ref.name}")
        elif ref.kind == "inherit":
            found, conf = self.type_name(fid, ref.name)
        else:
            found, conf = self.lookup(fid, ref.name)
        # A bare name in no scope is a local: Go reaches no other definition without
        # qualifying it, so there is nothing to guess.
        return _answer(found, conf)

    def _package_nodes(self, d: str) -> list[Target]:
        if d:
            return [Target(0, d)]
        # The repository root has no package node: its package is its files.
        name = self.dir_name(d)
        return [Target(f, "") for f in self.dirs.get(d, ())
                if self.package_name(f) == name and not _is_test(self.ctx.path(f))]

    def _selector(self, fid: int, ref: RefRow) -> list[Resolved]:
        """`x.Name(...)`: a package's function or type, a method expression, or a method of
        a value whose type we cannot know."""
        scope = _bare(ref.scope)
        if not _IDENT_PATH.match(scope):
            return _methods_named(self.ctx, fid, ref.name)  # f().M(), s.items[k].M()
        head, *rest = scope.split(".")
        binding = self.imports(fid).names.get(head)
        conf = RESOLVED
        owner: list[Target] | None
        if binding is not None:
            pkg, conf = binding
            if isinstance(pkg, External):
                return []
            members = self.exported(pkg)
            if not rest:
                return _answer(members.get(ref.name), conf)
            owner = members.get(rest[0])
            if not owner:
                return []  # a package known here without that name
            if len(rest) > 1:
                owner = None  # pkg.Var.Field.M()
        elif rest:
            owner = None  # a field of a value
        else:
            found, conf = self.lookup(fid, head)
            # EXTERNAL: a name a dot import from outside may hold, or a local; guess by name
            owner = found if isinstance(found, list) else None
        if owner and all((s := self._sym(t)) is not None and s.kind in _TYPE_KINDS for t in owner):
            # T.M: a method expression; a type known here without M gets it from outside
            return _answer(self.method(owner, ref.name), conf)
        return _methods_named(self.ctx, fid, ref.name)


def _answer(found: list[Target] | External | None, conf: float) -> list[Resolved]:
    if not isinstance(found, list) or not found:
        return []
    if len(found) > 1:  # one definition per build constraint (foo_linux.go, foo_windows.go)
        conf = min(conf, INFERRED)
    return [Resolved(t, conf) for t in found]


def _methods_named(ctx: Context, fid: int, name: str) -> list[Resolved]:
    return by_name(ctx, fid, name, _is_method)


def _is_method(s) -> bool:
    return s.kind == "method"


def _bare(scope: str) -> str:
    """`(*T)` -> `T`: the operand of a method expression or a dereference."""
    s = "".join(scope.split())
    while s.startswith("(") and s.endswith(")"):
        s = s[1:-1]
    return s.lstrip("*&")


def _is_test(path: str) -> bool:
    return path.endswith("_test.go")


def _external_names(path: str) -> set[str]:
    """Names a dependency's package is commonly declared with, from its import path:
    gopkg.in/yaml.v3 -> yaml, github.com/x/go-redis/v9 -> redis, go-redis, ..."""
    parts = path.split("/")
    last = parts[-1]
    if _MAJOR.match(last) and len(parts) > 1:
        last = parts[-2]
    base = {last, last.split(".", 1)[0]}
    names = base | {v for n in base for v in (n.removeprefix("go-"), n.removesuffix("-go"),
                                              n.rsplit("-", 1)[-1], n.replace("-", ""))}
    return {n for n in names if n.isidentifier()}


def _go_modules(ctx: Context) -> dict[str, str]:
    """Module root directory -> module path, from the go.mod files indexed as text (their
    chunks hold their text; the context lists source files only)."""
    modules: dict[str, str] = {}
    rows = [(path, text) for path, (_, text) in ctx.manifests("go.mod").items()]
    for path, text in rows:
        d = parent_dir(path)
        if d not in modules and (m := _MODULE.search(text)):
            modules[d] = m.group(1)
    return modules
