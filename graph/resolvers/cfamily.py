"""C and C++: #include paths (relative, include directories, path suffixes), what a translation
unit sees through its includes, definitions preferred to declarations, namespaces, classes
and their bases, using-declarations and namespace aliases."""

from __future__ import annotations

import posixpath
import re

from ..context import Context
from ..model import (
    INFERRED,
    MAX_NAME_CANDIDATES,
    NAME_ONLY,
    RESOLVED,
    RefRow,
    Resolved,
    SymRow,
    Target,
    parent_dir,
)
from .base import FAMILIES, path_segments

_DEPTH = 8  # base-class chains followed this far (cycles stop here)
_HEADER_EXT = frozenset({"h", "hh", "hpp", "hxx", "h++", "inl", "ipp", "tpp", "inc"})
_FUNCS = frozenset({"function", "method", "prototype", "macro"})
_TYPES = frozenset({"class", "struct", "enum", "type"})
_CLASSES = frozenset({"class", "struct"})
_NAMESPACE = frozenset({"namespace"})
_IDENT = re.compile(r"~?[A-Za-z_]\w*$")
_EXTERNAL_ROOTS = frozenset({"std", "__gnu_cxx", "__cxxabiv1"})
# The C library (and a few C++ names used unqualified): outside the repository unless a file
# the caller includes declares them.
_C_STD = frozenset({
    "abort", "abs", "acos", "asin", "atan", "atan2", "atexit", "atof", "atoi", "atol", "atoll",
    "bsearch", "calloc", "ceil", "clock", "cos", "cosh", "exit", "exp", "fabs", "fclose",
    "feof", "ferror", "fflush", "fgetc", "fgets", "floor", "fmod", "fopen", "fprintf", "fputc",
    "fputs", "fread", "free", "freopen", "frexp", "fscanf", "fseek", "ftell", "fwrite", "getc",
    "getchar", "getenv", "gets", "isalnum", "isalpha", "iscntrl", "isdigit", "isgraph",
    "islower", "isprint", "ispunct", "isspace", "isupper", "isxdigit", "labs", "ldexp", "log",
    "log10", "longjmp", "malloc", "memchr", "memcmp", "memcpy", "memmove", "memset", "modf",
    "perror", "pow", "printf", "putc", "putchar", "puts", "qsort", "raise", "rand", "realloc",
    "remove", "rename", "rewind", "scanf", "setjmp", "setvbuf", "signal", "sin", "sinh",
    "snprintf", "sprintf", "sqrt", "srand", "sscanf", "strcat", "strchr", "strcmp", "strcoll",
    "strcpy", "strcspn", "strdup", "strerror", "strftime", "strlen", "strncat", "strncmp",
    "strncpy", "strndup", "strpbrk", "strrchr", "strspn", "strstr", "strtod", "strtok",
    "strtol", "strtoll", "strtoul", "strtoull", "system", "tan", "tanh", "time", "tmpfile",
    "tolower", "toupper", "ungetc", "va_arg", "va_copy", "va_end", "va_start", "vfprintf",
    "vprintf", "vsnprintf", "vsprintf", "assert", "offsetof", "errno", "close", "open", "read",
    "write", "lseek", "pipe", "fork", "execv", "execvp", "waitpid", "getpid", "sleep",
    "usleep", "pthread_create", "pthread_join", "pthread_mutex_lock", "pthread_mutex_unlock",
    "move", "forward", "swap", "make_unique", "make_shared", "make_pair", "get", "begin",
    "end", "size",
})

Cand = tuple[int, SymRow]


class CFamilySupport:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.paths = {f.path: f.id for f in ctx.files.values() if FAMILIES.get(f.language) == "c"}
        self.by_base: dict[str, list[str]] = {}  # file name -> paths, for suffix matches
        for p in self.paths:
            self.by_base.setdefault(p.rsplit("/", 1)[-1], []).append(p)
        dirs = {up for p in self.paths for up in _ancestors(parent_dir(p))}
        self.include_dirs = sorted(d for d in dirs if d.rsplit("/", 1)[-1] == "include")
        self._includes: dict[int, list[int]] = {}
        self._visible: dict[int, frozenset[int]] = {}
        self._bindings: dict[int, dict[tuple[str, str], list[str]]] = {}
        self._top: dict[int, dict[str, list[str]]] = {}
        self._defs: dict[str, list[Cand]] = {}
        self._bases: dict[str, list[str]] = {}

    # -- includes ------------------------------------------------------------------------

    def include(self, fid: int, spec: str) -> tuple[int | None, float]:
        """The file `#include spec` names ("x.h" quoted, "<x.h>" for the system form)."""
        system = spec.startswith("<")
        inc = spec.strip("<>").strip()
        if not inc or inc.startswith("/"):
            return None, 0.0
        if not system:
            near = posixpath.normpath(posixpath.join(parent_dir(self.ctx.path(fid)), inc))
            if near in self.paths:
                return self.paths[near], RESOLVED
        found = {posixpath.normpath(posixpath.join(d, inc)) for d in self.include_dirs}
        found = {p for p in found if p in self.paths}
        if not inc.startswith("../"):
            tail = "/" + inc
            found |= {p for p in self.by_base.get(inc.rsplit("/", 1)[-1], ()) if p == inc or p.endswith(tail)}
        found.discard(self.ctx.path(fid))
        if len(found) == 1:
            return self.paths[found.pop()], RESOLVED
        if len(found) > 1 and not system:
            # Several files end with that path: the one sharing most of the includer's
            # directories, when there is exactly one.
            me = self.ctx.path(fid).split("/")
            score = {p: _common(me, p.split("/")) for p in found}
            best = max(score.values())
            top = [p for p, s in score.items() if s == best]
            if len(top) == 1:
                return self.paths[top[0]], INFERRED
        return None, 0.0

    def includes(self, fid: int) -> list[int]:
        got = self._includes.get(fid)
        if got is None:
            got = []
            for r in self.ctx.refs(fid):
                if r.kind == "import" and r.module:
                    target, _ = self.include(fid, r.module)
                    if target is not None:
                        got.append(target)
            self._includes[fid] = got
        return got

    def visible(self, fid: int) -> frozenset[int]:
        """The files a translation unit sees: itself and its includes, transitively."""
        got = self._visible.get(fid)
        if got is None:
            seen, todo = {fid}, [fid]
            while todo:
                for nxt in self.includes(todo.pop()):
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
            got = self._visible[fid] = frozenset(seen)
        return got

    # -- qualified names ---------------------------------------------------------------

    def defs(self, qualname: str, kinds: frozenset[str]) -> list[Cand]:
        """Every C-family symbol with this qualname and one of these kinds."""
        every = self._defs.get(qualname)
        if every is None:
            short = qualname.rsplit(".", 1)[-1]
            every = self._defs[qualname] = [
                (f, s) for f, s in self.ctx.named(short)
                if s.qualname == qualname and FAMILIES.get(self.ctx.language(f)) == "c"]
        return [c for c in every if c[1].kind in kinds]

    def seen(self, fid: int, qualname: str, kinds: frozenset[str]) -> bool:
        vis = self.visible(fid)
        return any(f in vis for f, _ in self.defs(qualname, kinds))

    def bindings(self, fid: int) -> dict[tuple[str, str], list[str]]:
        """(scope, name) -> qualname parts, from `using a::b;` and `namespace x = a::b;`."""
        got = self._bindings.get(fid)
        if got is None:
            got = {}
            for r in self.ctx.refs(fid):
                if r.kind == "import" and not r.module:
                    segs = _segments(r.name)
                    if segs:
                        got[(r.enclosing, r.alias or segs[-1])] = segs
            self._bindings[fid] = got
        return got

    def bases(self, cls: str, depth: int = 0) -> list[str]:
        got = self._bases.get(cls)
        if got is None:
            self._bases[cls] = []  # a class that (indirectly) derives from itself stops here
            got = []
            for f, s in self.defs(cls, _CLASSES):
                for r in self.ctx.refs(f):
                    if r.kind == "inherit" and r.enclosing == cls and (segs := _segments(r.name)):
                        base = self.qualified(f, s.parent, segs, _CLASSES, depth + 1)
                        if base and base != cls and base not in got:
                            got.append(base)
            self._bases[cls] = got
        return got

    def member(self, fid: int, cls: str, name: str, kinds: frozenset[str], depth: int = 0) -> str | None:
        """`cls::name`, in the class or one of its bases (the first base that has it)."""
        q = f"{cls}.{name}"
        if self.seen(fid, q, kinds) or (self.defs(q, kinds) and self.seen(fid, cls, _CLASSES)):
            return q  # a member defined out of line in a file the caller does not include
        if depth > _DEPTH:
            return None
        for base in self.bases(cls, depth):
            found = self.member(fid, base, name, kinds, depth + 1)
            if found is not None:
                return found
        return None

    def qualified(self, fid: int, enclosing: str, segs: list[str], kinds: frozenset[str],
                  depth: int = 0) -> str | None:
        """The qualname `a::b::c` written in `enclosing` means: tried in each enclosing
        class (with its bases) and namespace outwards, through using-declarations and
        namespace aliases, among what the file sees."""
        if depth > _DEPTH:
            return None
        parts = enclosing.split(".") if enclosing else []
        for k in range(len(parts), -1, -1):
            scope = parts[:k]
            paths = [scope + segs]  # the name inside this scope, or what a using there binds
            alias = self._binding(fid, ".".join(scope), segs[0])
            if alias is not None:
                paths.append(alias + segs[1:])
            for path in paths:
                owner = ".".join(path[:-1])
                if owner and self.defs(owner, _CLASSES):
                    found = self.member(fid, owner, path[-1], kinds, depth + 1)
                    if found is not None:
                        return found
                q = f"{owner}.{path[-1]}" if owner else path[-1]
                if self.seen(fid, q, kinds):
                    return q
        return None

    def _binding(self, fid: int, scope: str, name: str) -> list[str] | None:
        if scope:
            return self.bindings(fid).get((scope, name))
        top = self._top.get(fid)
        if top is None:  # file-level using-declarations, the includes' too
            top = {}
            for f in sorted(self.visible(fid), key=lambda f: f != fid):
                for (sc, local), segs in self.bindings(f).items():
                    if sc == "":
                        top.setdefault(local, segs)
            self._top[fid] = top
        return top.get(name)

    def class_of(self, enclosing: str) -> str | None:
        parts = enclosing.split(".") if enclosing else []
        for k in range(len(parts) - 1, 0, -1):
            q = ".".join(parts[:k])
            if self.defs(q, _CLASSES):
                return q
        if enclosing and self.defs(enclosing, _CLASSES):
            return enclosing
        return None

    # -- choosing among declarations and definitions -------------------------------------

    def choose(self, fid: int, qualname: str, kinds: frozenset[str]) -> list[Resolved]:
        """The definition a use in `fid` links to: one with a body in the files it sees,
        then one in the source file named after a header it sees that declares it, then the
        only one there is, then the declaration it sees."""
        cands = self.defs(qualname, kinds)
        vis = self.visible(fid)
        seen = [c for c in cands if c[0] in vis]
        if not seen and cands and self.seen(fid, qualname.rsplit(".", 1)[0], _CLASSES):
            seen = cands  # a member of a class the caller sees, declared out of its sight
        if not seen:
            return []
        if not kinds & _FUNCS:  # a type or namespace: where the caller sees it, its own file first
            mine = [c for c in seen if c[0] == fid] or seen
            return [Resolved(Target(f, qualname), RESOLVED) for f in dict.fromkeys(f for f, _ in mine)]
        bodies = [c for c in cands if c[1].kind not in ("prototype", "namespace") and not self._header(c[0])]
        # A header's `function` has a body (static inline); its `method` may be a mere
        # declaration in a class body, so it waits until no definition is found elsewhere.
        inline = [c for c in seen if c[1].kind in ("function", "macro") and self._header(c[0])]
        stems = {_stem(self.ctx.path(f)) for f, _ in seen if self._header(f)}
        for tier in ([c for c in bodies if c[0] in vis], inline,
                     [c for c in bodies if _stem(self.ctx.path(c[0])) in stems]):
            if len(tier) > 1:  # the nearest to the caller, when there is one
                me = self.ctx.path(fid).split("/")
                score = {c: _common(me, self.ctx.path(c[0]).split("/")) for c in tier}
                tier = [c for c in tier if score[c] == max(score.values())]
            if len(tier) == 1:
                return [Resolved(Target(tier[0][0], qualname), RESOLVED)]
            if tier:
                return _split(Target(f, qualname) for f, _ in tier)
        if len(bodies) == 1:  # declared where the caller sees it, defined in an unrelated file
            return [Resolved(Target(bodies[0][0], qualname), INFERRED)]
        declared = [c for c in seen if c[1].kind != "prototype"] or seen
        return [Resolved(Target(f, qualname), RESOLVED) for f in dict.fromkeys(f for f, _ in declared)]

    def guess(self, fid: int, name: str, kinds: frozenset[str]) -> list[Resolved]:
        """By name alone: every definition with a body in a source file (static functions of
        two files are two candidates), else per qualname its declaration; NAME_ONLY split
        among them, none when too many share the name."""
        bodies: list[Target] = []
        decls: dict[str, tuple[int, int]] = {}
        for f, s in self.ctx.named(name):
            if s.kind not in kinds or FAMILIES.get(self.ctx.language(f)) != "c":
                continue
            if s.kind != "prototype" and not self._header(f):
                bodies.append(Target(f, s.qualname))
            else:
                rank = (s.kind == "prototype", f)
                if s.qualname not in decls or rank < decls[s.qualname]:
                    decls[s.qualname] = rank
        have = {t.qualname for t in bodies}
        found = bodies + [Target(f, q) for q, (_, f) in decls.items() if q not in have]
        if not found or len(found) > MAX_NAME_CANDIDATES:
            return []
        return [Resolved(t, NAME_ONLY / len(found)) for t in found]

    def _header(self, fid: int) -> bool:
        return self.ctx.path(fid).rsplit(".", 1)[-1].lower() in _HEADER_EXT

    # -- references ----------------------------------------------------------------------

    def resolve(self, fid: int, ref: RefRow) -> list[Resolved]:
        if ref.kind == "import":
            if ref.module:
                target, confidence = self.include(fid, ref.module)
                return [Resolved(Target(target, ""), confidence)] if target is not None else []
            segs = _segments(ref.name)  # using a::b; namespace x = a::b;
            if not segs:
                return []
            for kinds in (_FUNCS, _TYPES, _NAMESPACE):
                found = self._named(fid, ref.enclosing, segs, kinds, guess=False)
                if found:
                    return found
            return []
        if ref.kind == "call":
            return self._call(fid, ref)
        segs = _segments(f"{ref.scope}::{ref.name}" if ref.scope else ref.name)
        if not segs:
            return []
        enclosing = ref.enclosing
        if ref.kind == "inherit":  # a base is named from the scope around its class
            enclosing = enclosing.rsplit(".", 1)[0] if "." in enclosing else ""
        return self._named(fid, enclosing, segs, _TYPES, guess=True)

    def _named(self, fid: int, enclosing: str, segs: list[str], kinds: frozenset[str],
               guess: bool) -> list[Resolved]:
        if segs[0] in _EXTERNAL_ROOTS:
            return []
        q = self.qualified(fid, enclosing, segs, kinds)
        if q is not None:
            return self.choose(fid, q, kinds)
        if not guess or (len(segs) == 1 and segs[0] in _C_STD):
            return []
        if len(segs) > 1 and not any(s.kind in _NAMESPACE | _CLASSES for _, s in self.ctx.named(segs[0])):
            return []  # a namespace or class the repository does not define
        return self.guess(fid, segs[-1], kinds)

    def _call(self, fid: int, ref: RefRow) -> list[Resolved]:
        name, scope = ref.name, ref.scope
        if scope == "this":
            cls = self.class_of(ref.enclosing)
            found = self.member(fid, cls, name, _FUNCS) if cls else None
            return self.choose(fid, found, _FUNCS) if found else []
        if not scope:
            for kinds in (_FUNCS, _TYPES):  # a function, else a constructor (a class's name)
                q = self.qualified(fid, ref.enclosing, [name], kinds)
                if q == name and name in _C_STD:
                    return []  # a global printf or move: the library's, whatever a header says
                if q is not None:
                    return self.choose(fid, q, kinds)
            return [] if name in _C_STD else self.guess(fid, name, _FUNCS - {"method"})
        segs = _segments(scope)
        if segs is None:
            return self.guess(fid, name, frozenset({"method"}))  # a method of an expression's value
        if segs[0] in _EXTERNAL_ROOTS:
            return []
        # `x.f()`, `x->f()` and `x::f()` all read (scope "x", name "f"): a class or namespace
        # x makes it a qualified name; anything else is a value of unknown type.
        for kinds in (_FUNCS, _TYPES):
            q = self.qualified(fid, ref.enclosing, segs + [name], kinds)
            if q is not None:
                return self.choose(fid, q, kinds)
        if len(segs) > 1:
            if not any(s.kind in _NAMESPACE | _CLASSES for _, s in self.ctx.named(segs[0])):
                return []  # a::b::f() in a namespace the repository does not define
            return self.guess(fid, name, _FUNCS)
        return self.guess(fid, name, frozenset({"method"}))


def _segments(path: str) -> list[str] | None:
    """`a::b<T>::c` -> [a, b, c]; None for an expression (`p->next`, `a.b`, `f()`)."""
    if "->" in path or "." in path:
        return None
    return path_segments(path, _IDENT)


def _ancestors(d: str):
    while d:
        yield d
        d = parent_dir(d)


def _stem(path: str) -> str:
    return path.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def _common(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a[:-1], b[:-1]):
        if x != y:
            break
        n += 1
    return n


def _split(targets) -> list[Resolved]:
    ts = list(dict.fromkeys(targets))
    return [Resolved(t, NAME_ONLY / len(ts)) for t in ts]
