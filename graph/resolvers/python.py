"""Python: modules from the package layout, imports (absolute, relative, aliased, star,
re-exported by a package's __init__), local and module scopes, self/cls/super() calls
through the class and its bases, dotted paths through modules and classes."""

from __future__ import annotations

import builtins
import sys
from dataclasses import dataclass
from typing import ClassVar

from ..context import Context
from ..model import NAME_ONLY, RESOLVED, RefRow, Resolved, SymRow, Target, parent_dir
from .base import EXTERNAL, External, by_name

BUILTINS = frozenset(dir(builtins))
_FUNCTION_KINDS = frozenset({"function", "method"})
_STDLIB = frozenset(sys.stdlib_module_names)
_DEPTH = 8  # re-export and base-class chains followed this far (cycles stop here)



@dataclass(frozen=True, slots=True)
class Namespace:
    """A namespace package (PEP 420): a dotted name with modules under it and no file of its
    own, reached by `import pkg.geo.area` (binding `pkg`) on the way to a module."""

    name: str


Found = Target | External | Namespace | None


class PythonSupport:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.modules: dict[str, int] = {}  # dotted module name -> file id
        self.module_of: dict[int, str] = {}
        self.rooted: dict[int, str] = {}  # file id -> its name from the root through namespace packages
        self.packages: set[str] = set()  # dotted names of the repository's top-level packages
        self.namespaces: set[str] = set()  # dotted names with modules under them and no file
        self.claimed: set[str] = set()  # top names the repository's code is imported by from anywhere
        self._bindings: dict[int, tuple[dict[str, tuple], list[str]]] = {}
        self._bases: dict[Target, list[Found]] = {}
        self._map_modules()

    # -- the module table --------------------------------------------------------------

    # The module table depends only on the set of Python paths: a process that keeps the
    # graph fresh (the watcher, the server) reuses it until a file appears or vanishes.
    _tables: ClassVar[dict[int, tuple[dict[str, int], dict[int, str], dict[int, str], set[str], set[str],
                                      set[str]]]] = {}

    def _map_modules(self) -> None:
        files = [f for f in self.ctx.files.values() if f.language == "python"]
        key = hash(tuple((f.id, f.path) for f in files))
        cached = PythonSupport._tables.get(key)
        if cached is not None:
            self.modules, self.module_of, self.rooted, self.packages, self.namespaces, self.claimed = cached
            return
        init_dirs = {parent_dir(f.path) for f in files if f.path.rsplit("/", 1)[-1] == "__init__.py"}
        for f in sorted(files, key=lambda f: (f.path.count("/"), f.path)):
            d = parent_dir(f.path)
            stem = f.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            parts = [] if stem == "__init__" else [stem]
            while d and d in init_dirs:
                parts.insert(0, d.rsplit("/", 1)[-1])
                d = parent_dir(d)
            if not parts or not all(p.isidentifier() for p in parts):
                continue
            name = ".".join(parts)
            self.module_of[f.id] = name
            # A module or package named like the standard library's below the root
            # (tools/code.py, vendor/json/) shadows it only for a script beside it, which
            # `_located` finds by its name from the root.
            if not (d and parts[0] in _STDLIB):
                self.modules.setdefault(name, f.id)  # the shallowest path wins a collision
                self.packages.add(parts[0])
                if not d or len(parts) > 1 or stem == "__init__" or d.rsplit("/", 1)[-1] == "src":
                    self.claimed.add(parts[0])  # a regular package's, a root module's, a src/ module's
            if not d:
                continue
            # Directories without __init__.py above it are namespace packages (PEP 420): the
            # module is also imported by its name from the root (`from pkg.shapes import f`)
            # when every directory on the way is a name that does not shadow the standard
            # library's (`tests/json/`). A name from a directory between (`geo.area` for
            # pkg/geo/area.py) is not the repository's for every file: `integrations/requests/`
            # does not take `from requests import adapters` at the root. `_located` finds it
            # for a file that would have that directory on its path; the name from the root
            # is kept for that too, even where no code could write it (`my-svc.tests.util`).
            dirs = d.split("/")
            full = ".".join(dirs + parts)
            self.modules.setdefault(full, f.id)
            if all(x.isidentifier() and x not in _STDLIB for x in dirs):
                self.packages.add(dirs[0])
                self.rooted[f.id] = full
            else:
                names = full.split(".")
                self.namespaces.update(".".join(names[:k]) for k in range(2, len(names)))
        # The namespaces of the repository's own packages: `benchmarks/numpy/linalg.py` also
        # answers to `numpy.linalg`, but `numpy` stays the installed package.
        for name in self.modules:
            parts = name.split(".")
            if parts[0] not in self.packages:
                continue
            for i in range(1, len(parts)):
                prefix = ".".join(parts[:i])
                if prefix not in self.modules:
                    self.namespaces.add(prefix)
        self.namespaces -= self.modules.keys()
        if len(PythonSupport._tables) > 8:
            PythonSupport._tables.clear()
        PythonSupport._tables[key] = (self.modules, self.module_of, self.rooted, self.packages, self.namespaces,
                                      self.claimed)

    def _absolute(self, fid: int, module: str) -> str:
        """`module` as written in file `fid` (".x", "..", "a.b") made absolute."""
        if not module.startswith("."):
            return module
        level = len(module) - len(module.lstrip("."))
        rest = module[level:]
        is_init = self.ctx.path(fid).endswith("__init__.py")
        # Its name from the root where namespace packages lead there (`from .. import shapes`
        # in pkg/geo/area.py is pkg.shapes), else from its outermost regular package.
        for me in (self.rooted.get(fid), self.module_of.get(fid)):
            if me is None:
                continue
            pkg = me.split(".") if is_init else me.split(".")[:-1]
            if level - 1 <= len(pkg):
                base = pkg[:len(pkg) - (level - 1)]
                return ".".join(base + ([rest] if rest else []))
        return rest

    def _located(self, fid: int, module: str) -> str:
        """`module` as imported by file `fid`, made a name of the module table. A name that
        no regular package, root module or src/ module of the repository claims, and not
        the standard library's, is looked for where it would be on the path when the file
        runs (`_roots`); otherwise it is left as written, for an installed package."""
        module = self._absolute(fid, module)
        top = module.split(".", 1)[0]
        if not top or top in self.claimed:
            return module
        roots = self._roots(fid)
        if top in _STDLIB:  # only a script's own directory comes before the standard library
            roots = roots[:1] if roots and self._basedir(fid) else []
        for root in roots:
            name = f"{root}.{module}"
            if name in self.modules or name in self.namespaces:
                return name
        return module

    def _roots(self, fid: int) -> list[str]:
        """The directories file `fid` may import from, nearest first, as names from the
        root: the directory above its outermost regular package (a script's own; pytest puts
        a test's there), a `src/` directory beside that one or any above it (the src layout),
        then the directories above it (where a conftest.py or a namespace app is run from)."""
        memo = self.ctx.memo["python.roots"]
        got = memo.get(fid)
        if got is None:
            d = self._basedir(fid)
            above = []
            up = d
            while up:
                up = parent_dir(up)
                above.append(up)
            dirs = ([d] if d else []) + [f"{x}/src" if x else "src" for x in [d] + above]
            dirs += [x for x in above if x]
            got = memo[fid] = [x.replace("/", ".") for x in dirs]
        return got

    def _basedir(self, fid: int) -> str:
        """The directory above file `fid`'s outermost regular package (its own directory
        when it is in none)."""
        memo = self.ctx.memo["python.basedir"]
        d = memo.get(fid)
        if d is None:
            path = self.ctx.path(fid)
            me = self.module_of.get(fid)
            d = parent_dir(path)
            if me is not None:
                for _ in range(me.count(".") + path.endswith("/__init__.py")):
                    d = parent_dir(d)
            memo[fid] = d
        return d

    def _name_of(self, fid: int) -> str | None:
        """A module name that leads back to file `fid`: the shortest may belong to another
        file (pkg/geo/area.py is `area` when no package holds it, and so may be ./area.py)."""
        names = (self.module_of.get(fid), self.rooted.get(fid))
        return next((n for n in names if n is not None and self.modules.get(n) == fid), names[0] or names[1])

    def _is_external(self, module: str) -> bool:
        return module.split(".", 1)[0] not in self.packages

    # -- bindings made by a file's imports ------------------------------------------

    def bindings(self, fid: int) -> tuple[dict[str, tuple], list[str]]:
        """(local name -> ("mod", module) | ("from", module, name), star-imported modules)."""
        got = self._bindings.get(fid)
        if got is None:
            names: dict[str, tuple] = {}
            stars: list[str] = []
            for r in self.ctx.refs(fid):
                if r.kind != "import":
                    continue
                if not r.module:  # import a.b.c [as x]
                    located = self._located(fid, r.name)
                    if r.alias:
                        names[r.alias] = ("mod", located)
                    else:  # binds `a`: the name `a` has in the module table
                        head = r.name.split(".", 1)[0]
                        names[head] = ("mod", located[:len(located) - len(r.name) + len(head)])
                    continue
                module = self._located(fid, r.module)
                if r.name == "*":
                    stars.append(module)
                else:
                    names[r.alias or r.name] = ("from", module, r.name)
            got = self._bindings[fid] = (names, stars)
        return got

    def _binding_target(self, binding: tuple, depth: int) -> Found:
        if binding[0] == "mod":
            fid = self.modules.get(binding[1])
            if fid is not None:
                return Target(fid, "")
            if binding[1] in self.namespaces:
                return Namespace(binding[1])
            return EXTERNAL if self._is_external(binding[1]) else None
        return self.module_attr(binding[1], binding[2], depth + 1)

    def module_attr(self, module: str, name: str, depth: int = 0) -> Found:
        """What `name` is in `module`: a definition, a submodule, or a re-export."""
        if depth > _DEPTH:
            return None
        fid = self.modules.get(module)
        sub = self.modules.get(f"{module}.{name}")
        if fid is None:
            if sub is not None:
                return Target(sub, "")
            if f"{module}.{name}" in self.namespaces:
                return Namespace(f"{module}.{name}")
            return EXTERNAL if self._is_external(module) else None
        if name in self.ctx.symbols(fid):
            return Target(fid, name)
        names, stars = self.bindings(fid)
        # A package's `from .sympify import sympify` rebinds the name its submodule set.
        if name in names:
            found = self._binding_target(names[name], depth)
            if found is not None:
                return found
        if sub is not None:
            return Target(sub, "")
        if f"{module}.{name}" in self.namespaces:  # a namespace package inside a regular one
            return Namespace(f"{module}.{name}")
        return self._from_stars(stars, name, depth)

    def _from_stars(self, stars: list[str], name: str, depth: int) -> Found:
        """`name` as the first of the star-imported modules that has it (a star import of a
        namespace package brings none of its subpackages)."""
        for star in stars:
            found = self.module_attr(star, name, depth + 1)
            if found is not None and not isinstance(found, Namespace):
                return found
        return None

    # -- scopes --------------------------------------------------------------------

    def lookup(self, fid: int, enclosing: str, name: str) -> Found:
        """A bare name used inside `enclosing`: local scopes, then the module, its imports."""
        syms = self.ctx.symbols(fid)
        for scope, s in self.ctx.scopes(fid, enclosing):
            # A class body is a scope for code directly in it, not for its methods' bodies.
            if scope == enclosing or s.kind in _FUNCTION_KINDS:
                q = f"{scope}.{name}"
                if q in syms:
                    return Target(fid, q)
        if name in syms:
            return Target(fid, name)
        names, stars = self.bindings(fid)
        if name in names:
            return self._binding_target(names[name], 0)
        found = self._from_stars(stars, name, 0)
        if found is not None:
            return found
        if name in BUILTINS:
            return EXTERNAL
        return None

    def attribute(self, owner: Found, name: str, depth: int = 0) -> Found:
        """`owner.name`, where owner is a module (file), a namespace package or a class."""
        if isinstance(owner, Namespace):
            return self.module_attr(owner.name, name, depth + 1) if depth <= _DEPTH else None
        if not isinstance(owner, Target) or depth > _DEPTH:
            return owner if isinstance(owner, External) else None
        if owner.qualname == "":
            module = self._name_of(owner.file_id)
            return self.module_attr(module, name, depth + 1) if module else None
        sym = self.ctx.symbols(owner.file_id).get(owner.qualname)
        if sym is not None and sym.kind == "class":
            return self.member(owner, name, depth + 1)
        return None  # an attribute of a function or a variable: its type is unknown

    def member(self, cls: Target, name: str, depth: int = 0) -> Found:
        """A method or class attribute of `cls`, looked up through its bases in order."""
        if depth > _DEPTH:
            return None
        q = f"{cls.qualname}.{name}"
        if q in self.ctx.symbols(cls.file_id):
            return Target(cls.file_id, q)
        unknown_base = False
        for base in self.bases(cls):
            if isinstance(base, Target):
                found = self.member(base, name, depth + 1)
                if isinstance(found, Target):
                    return found
                unknown_base |= found is not None
            else:
                unknown_base = True
        return EXTERNAL if unknown_base else None

    def bases(self, cls: Target) -> list[Found]:
        got = self._bases.get(cls)
        if got is None:
            self._bases[cls] = []  # a class that (indirectly) inherits itself stops here
            sym = self.ctx.symbols(cls.file_id).get(cls.qualname)
            outer = sym.parent if sym else ""
            got = []
            for r in self.ctx.refs(cls.file_id):
                if r.kind == "inherit" and r.enclosing == cls.qualname:
                    base = self.dotted(cls.file_id, outer, r.name)
                    if not isinstance(base, Namespace) and not (isinstance(base, Target) and base.qualname == "") \
                            and base != cls:
                        got.append(base if base is not None else EXTERNAL)
            self._bases[cls] = got
        return got

    def dotted(self, fid: int, enclosing: str, path: str) -> Found:
        head, *rest = path.split(".")
        found = self.lookup(fid, enclosing, head)
        for part in rest:
            found = self.attribute(found, part)
            if found is None or isinstance(found, External):
                return found
        return found

    def _enclosing_class(self, fid: int, enclosing: str) -> Target | None:
        return next((Target(fid, scope) for scope, s in self.ctx.scopes(fid, enclosing) if s.kind == "class"), None)

    # -- references ----------------------------------------------------------------

    def resolve(self, fid: int, ref: RefRow) -> list[Resolved]:
        if ref.kind == "import":
            return self._import(fid, ref)
        if ref.kind == "call" and ref.scope:
            found, confidence = self._method_call(fid, ref)
            if found is None:
                if ref.scope == "super()" or _is_dunder(ref.name):
                    return []  # object's own methods, or a base outside the repository
                return self._guess_member(fid, ref.name)
        else:
            if not _is_dotted(ref.name):
                return []
            found, confidence = self.dotted(fid, ref.enclosing, ref.name), RESOLVED
            if found is None and "." in ref.name:
                # a.b.C where a is a local variable: C's owner is unknown, guess by name
                accept = _is_class if ref.kind in ("inherit", "type") else _is_member
                return by_name(self.ctx, fid, ref.name.rsplit(".", 1)[-1], accept)
            # A bare name found in no scope, import or builtin is a parameter or a local
            # variable: Python never reaches another module's definition without an import.
        return [Resolved(found, confidence)] if isinstance(found, Target) else []

    def _guess_member(self, fid: int, name: str) -> list[Resolved]:
        """obj.name() with obj's type unknown: the methods so named, narrowed to those
        defined in this file or in files it imports from when any are (still guesses)."""
        found = by_name(self.ctx, fid, name, _is_member)
        if len(found) > 1:
            near = self._imported_files(fid)
            narrowed = [r.target for r in found if r.target.file_id in near]
            if narrowed:
                found = [Resolved(t, NAME_ONLY / len(narrowed)) for t in narrowed]
        return found

    def _imported_files(self, fid: int) -> set[int]:
        memo = self.ctx.memo["python.imported"]
        got = memo.get(fid)
        if got is None:
            got = {fid}
            names, stars = self.bindings(fid)
            for binding in names.values():
                t = self._binding_target(binding, 0)
                if isinstance(t, Target):
                    got.add(t.file_id)
            got.update(f for f in (self.modules.get(m) for m in stars) if f is not None)
            memo[fid] = got
        return got

    def _import(self, fid: int, ref: RefRow) -> list[Resolved]:
        if not ref.module:
            # import a.b.c: the deepest module of the path that exists here
            parts = self._located(fid, ref.name).split(".")
            for i in range(len(parts), 0, -1):
                target = self.modules.get(".".join(parts[:i]))
                if target is not None:
                    return [Resolved(Target(target, ""), RESOLVED)]
            return []
        module = self._located(fid, ref.module)
        if ref.name == "*":
            target = self.modules.get(module)
            return [Resolved(Target(target, ""), RESOLVED)] if target is not None else []
        found = self.module_attr(module, ref.name)
        return [Resolved(found, RESOLVED)] if isinstance(found, Target) else []

    def _method_call(self, fid: int, ref: RefRow) -> tuple[Found, float]:
        scope = ref.scope
        if scope in ("self", "cls", "super()"):
            cls = self._enclosing_class(fid, ref.enclosing)
            if cls is None:
                return None, 0.0
            if scope == "super()":
                for base in self.bases(cls):
                    found = self.member(base, ref.name) if isinstance(base, Target) else base
                    if found is not None:
                        return found, RESOLVED
                return None, 0.0
            found = self.member(cls, ref.name)
            # self.m() may reach an override in a subclass: the class's own m is the
            # static answer, certain only when no subclass could be involved.
            return found, RESOLVED
        if not _is_dotted(scope):
            return None, 0.0
        owner = self.dotted(fid, ref.enclosing, scope)
        if not isinstance(owner, Target):
            return owner, RESOLVED  # unknown (guess by name), or outside the repository
        kind = "module" if owner.qualname == "" else self.ctx.symbols(owner.file_id)[owner.qualname].kind
        if kind not in ("module", "class"):
            return None, RESOLVED  # a method of a variable's value: its type is unknown
        found = self.attribute(owner, ref.name)
        # A module or class known here without that attribute: set at run time, or
        # inherited from outside; nothing to link and nothing to guess.
        return (found if found is not None else EXTERNAL), RESOLVED


def _is_dotted(text: str) -> bool:
    """A name or a dotted path of names (Unicode identifiers included)."""
    return all(part.isidentifier() for part in text.split("."))


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _is_member(s: SymRow) -> bool:
    return s.kind in _FUNCTION_KINDS and s.parent != ""


def _is_class(s: SymRow) -> bool:
    return s.kind == "class"
