"""Java: packages, imports (single-type, on-demand, static), Java's scoping of names, methods through supertypes."""

from __future__ import annotations

import re
from typing import NamedTuple

from ..context import Context
from ..model import (
    INFERRED,
    RESOLVED,
    RefRow,
    Resolved,
    SymRow,
    Target,
    is_test_path,
    parent_dir,
)
from .base import EXTERNAL, FAMILIES, External, by_name

# java.lang: in scope in every file without an import, and never in the repository.
_JAVA_LANG_NAMES = """
Appendable AutoCloseable Boolean Byte CharSequence Character Class ClassLoader ClassValue
Cloneable Comparable Deprecated Double Enum Float FunctionalInterface Integer Iterable Long
Math Module ModuleLayer Number Object Override Package Process ProcessBuilder ProcessHandle
Readable Record Runnable Runtime SafeVarargs Short StackTraceElement StackWalker StrictMath
String StringBuffer StringBuilder SuppressWarnings System Thread ThreadGroup ThreadLocal
InheritableThreadLocal Throwable Void Exception RuntimeException Error ArithmeticException
ArrayIndexOutOfBoundsException ArrayStoreException ClassCastException ClassNotFoundException
CloneNotSupportedException EnumConstantNotPresentException IllegalAccessException
IllegalArgumentException IllegalCallerException IllegalMonitorStateException
IllegalStateException IllegalThreadStateException IndexOutOfBoundsException
InstantiationException InterruptedException NegativeArraySizeException NoSuchFieldException
NoSuchMethodException NullPointerException NumberFormatException ReflectiveOperationException
SecurityException StringIndexOutOfBoundsException TypeNotPresentException
UnsupportedOperationException AssertionError ExceptionInInitializerError LinkageError
NoClassDefFoundError OutOfMemoryError StackOverflowError VirtualMachineError InternalError
"""
JAVA_LANG = frozenset(_JAVA_LANG_NAMES.split())
# JDK interfaces classes often implement, with their members: a class implementing them
# inherits nothing else from outside.
JDK_INTERFACES = {
    "Serializable": frozenset(), "Cloneable": frozenset(), "Comparable": frozenset({"compareTo"}),
    "Runnable": frozenset({"run"}), "AutoCloseable": frozenset({"close"}),
    "Closeable": frozenset({"close"}), "Iterable": frozenset({"iterator", "forEach", "spliterator"}),
}
_CLASS_KINDS = frozenset({"class", "interface", "enum"})
_CALLABLE_KINDS = frozenset({"method", "constructor", "field"})
_FIELD = frozenset({"field"})
_IDENT_PATH = re.compile(r"[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$")
_NEW = re.compile(r"new([A-Za-z_$][\w$.]*)(<[^()]*>)?\([^()]*\)$")  # `new T(args)`, spaces removed
_CONSTANT = re.compile(r"[A-Z][A-Z0-9_]*$")
_GENERIC = re.compile(r"<.*>")
_IMPORT_COL = len("import ")  # a name starting further right follows `static`
_DEPTH = 12  # supertype chains followed this far (cycles stop here)

Found = Target | External | None


class _Imports(NamedTuple):
    types: dict[str, str]  # simple name -> the dotted path a single(-static) import names
    stars: list[str]  # on-demand imports: packages, or classes whose member types are in scope
    statics: dict[str, str]  # member name -> its class, from single static imports
    static_stars: list[str]  # classes whose static members are in scope


class JavaSupport:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._package: dict[int, str] = {}
        self._packages: dict[str, list[int]] = {}
        self._imports: dict[int, _Imports] = {}
        self._supers: dict[Target, list[Found | frozenset[str]]] = {}
        self._creations: dict[int, set[tuple[int, int]]] = {}
        self._types: dict[tuple[int, str, str], Found] = {}

    # -- packages and qualified names ----------------------------------------------------

    def _java(self, fid: int) -> bool:
        return FAMILIES.get(self.ctx.language(fid)) == "java"

    def package_of(self, fid: int) -> str:
        pkg = self._package.get(fid)
        if pkg is None:
            # No package declaration: the default package.
            pkg = next((s.qualname for s in self.ctx.symbols(fid).values() if s.kind == "package"), "")
            self._package[fid] = pkg
        return pkg

    def package_files(self, pkg: str, fid: int | None = None) -> list[int]:
        """The files declaring package `pkg` (in any directory: src/main and src/test share
        it), less test code when seen from `fid` outside test code."""
        got = self._packages.get(pkg)
        if got is None:
            got = [f for f, s in self.ctx.named(pkg) if s.kind == "package" and self._java(f)]
            self._packages[pkg] = got
        if fid is not None and not is_test_path(self.ctx.path(fid)):
            return [f for f in got if not is_test_path(self.ctx.path(f))]
        return got

    def top_class(self, fid: int, pkg: str, name: str) -> Found:
        """Top-level class `name` of package `pkg`, as seen from file `fid`."""
        test = is_test_path(self.ctx.path(fid))  # main code does not see test code
        found = [Target(f, name) for f, s in self.ctx.named(name)
                 if s.qualname == name and s.kind in _CLASS_KINDS and self._java(f)
                 and self.package_of(f) == pkg and (test or not is_test_path(self.ctx.path(f)))]
        return _closest(self.ctx, fid, found)

    def fqn(self, fid: int, path: str) -> Found:
        """A package-qualified class name (a.b.C, a.b.C.Inner). EXTERNAL when no prefix is
        a package of the repository and it reads like one (lower-case, then a Type)."""
        parts = path.split(".")
        for i in range(len(parts) - 1, 0, -1):
            pkg = ".".join(parts[:i])
            if self.package_files(pkg):
                cls = self.top_class(fid, pkg, parts[i])
                for part in parts[i + 1:]:
                    if not isinstance(cls, Target):
                        break
                    cls = self.member(cls, part, _CLASS_KINDS)
                return cls
        if len(parts) > 1 and parts[0][:1].islower() and any(p[:1].isupper() for p in parts[1:]):
            return EXTERNAL
        return None

    # -- a file's imports ----------------------------------------------------------------

    def imports(self, fid: int) -> _Imports:
        got = self._imports.get(fid)
        if got is None:
            got = _Imports({}, [], {}, [])
            for r in self.ctx.refs(fid):
                if r.kind != "import":
                    continue
                path = r.name
                *_, last = path.split(".")
                static = r.col > _IMPORT_COL
                if static:
                    # import static a.B.m; or import static a.B.* (the index drops the `.*`)
                    cls = self.fqn(fid, path)
                    if isinstance(cls, Target) or (cls is EXTERNAL and last[:1].isupper()
                                                   and not _CONSTANT.match(last)):
                        got.static_stars.append(path)
                        got.stars.append(path)
                    if not (isinstance(cls, Target) and "." not in cls.qualname):
                        # a member (a top-level class can only be imported on demand),
                        # which may be a member type
                        got.types[last] = path
                        got.statics[last] = path.rsplit(".", 1)[0]
                elif self.package_files(path) or last[:1].islower():
                    got.stars.append(path)  # import a.b.*; (the index drops the `.*`)
                else:
                    # import a.b.C.* reads the same (the index drops the `.*`); taken as
                    # the far more common import a.b.C, its member types stay unresolved.
                    got.types[last] = path
            self._imports[fid] = got
        return got

    # -- scopes --------------------------------------------------------------------------

    def scopes(self, fid: int, enclosing: str) -> list[str]:
        """The definitions enclosing a reference, innermost first."""
        return [scope for scope, _ in self.ctx.scopes(fid, enclosing)]

    def classes(self, fid: int, enclosing: str) -> list[Target]:
        syms = self.ctx.symbols(fid)
        return [Target(fid, q) for q in self.scopes(fid, enclosing) if syms[q].kind in _CLASS_KINDS]

    def type_name(self, fid: int, enclosing: str, name: str) -> Found:
        """A simple type name: member and local classes of the enclosing scopes (inherited
        ones too), the file, single-type imports, the package, on-demand imports, java.lang."""
        key = (fid, enclosing, name)
        if key not in self._types:
            self._types[key] = None  # a name met again while resolving it stops here
            self._types[key] = self._type_name(fid, enclosing, name)
        return self._types[key]

    def _type_name(self, fid: int, enclosing: str, name: str) -> Found:
        syms = self.ctx.symbols(fid)
        for scope in self.scopes(fid, enclosing):
            q = f"{scope}.{name}"
            if (s := syms.get(q)) is not None and s.kind in _CLASS_KINDS:
                return Target(fid, q)
            if syms[scope].kind in _CLASS_KINDS:
                # A member type of a supertype outside the repository is not looked for:
                # rare, and taking it for granted would hide every import.
                found = self._inherited(Target(fid, scope), name, _CLASS_KINDS)
                if isinstance(found, Target):
                    return found
        if (s := syms.get(name)) is not None and s.kind in _CLASS_KINDS:
            return Target(fid, name)
        imports = self.imports(fid)
        if name in imports.types:
            found = self.fqn(fid, imports.types[name])
            if found is not None:
                return found if isinstance(found, Target) else EXTERNAL
        found = self.top_class(fid, self.package_of(fid), name)
        if found is not None:
            return found
        opaque = False
        for star in imports.stars:
            if self.package_files(star):
                found = self.top_class(fid, star, name)
            else:
                owner = self.fqn(fid, star)
                found = self.member(owner, name, _CLASS_KINDS) if isinstance(owner, Target) else None
                opaque |= owner is None or isinstance(owner, External)
            if found is not None:
                return found
        return EXTERNAL if opaque or name in JAVA_LANG else None

    def dotted_type(self, fid: int, enclosing: str, path: str) -> Found:
        """`T`, `Outer.Inner` or `a.b.C` as written in file `fid`."""
        head, *rest = _GENERIC.sub("", "".join(path.split())).split(".")
        found = self.type_name(fid, enclosing, head)
        if rest and not isinstance(found, Target):
            # a.b.C: a type in scope would hide the package, and none is
            qualified = self.fqn(fid, ".".join([head, *rest]))
            return qualified if qualified is not None else found
        for part in rest:
            if not isinstance(found, Target):
                break
            found = self.member(found, part, _CLASS_KINDS)
        return found

    def member(self, cls: Target, name: str, kinds: frozenset[str], depth: int = 0) -> Found:
        """A member of `cls` declared in it or inherited; EXTERNAL when it may come from a
        supertype outside the repository."""
        q = f"{cls.qualname}.{name}"
        if (s := self.ctx.symbols(cls.file_id).get(q)) is not None and s.kind in kinds:
            return Target(cls.file_id, q)
        return self._inherited(cls, name, kinds, depth)

    def _inherited(self, cls: Target, name: str, kinds: frozenset[str], depth: int = 0) -> Found:
        if depth > _DEPTH:
            return None
        unknown = False
        # Supertypes in source order: the superclass (and its chain) before the interfaces.
        for sup in self.supers(cls):
            if isinstance(sup, frozenset):
                found = EXTERNAL if name in sup else None
            else:
                found = self.member(sup, name, kinds, depth + 1) if isinstance(sup, Target) else sup
            if isinstance(found, Target):
                return found
            unknown |= found is not None
        return EXTERNAL if unknown else None

    def supers(self, cls: Target) -> list[Found | frozenset[str]]:
        """The supertypes of `cls`: classes here, EXTERNAL, or the member names of a JDK
        interface we know (so that `implements Comparable` hides no method of ours)."""
        got = self._supers.get(cls)
        if got is None:
            self._supers[cls] = []  # a class that (indirectly) extends itself stops here
            sym = self.ctx.symbols(cls.file_id).get(cls.qualname)
            outer = sym.parent if sym else ""
            got = []
            for r in self.ctx.refs(cls.file_id):
                if r.kind == "inherit" and r.enclosing == cls.qualname:
                    sup = self.dotted_type(cls.file_id, outer, r.name)
                    simple = _GENERIC.sub("", r.name).rsplit(".", 1)[-1]
                    if sup is EXTERNAL and simple in JDK_INTERFACES:
                        got.append(JDK_INTERFACES[simple])
                    elif sup != cls:
                        got.append(sup if sup is not None else EXTERNAL)
            self._supers[cls] = got
        return got

    # -- references ----------------------------------------------------------------------

    def resolve(self, fid: int, ref: RefRow) -> list[Resolved]:
        if ref.kind == "import":
            return self._import(fid, ref)
        if ref.kind == "call":
            if not ref.scope and self._is_creation(fid, ref):
                return _answer(self.dotted_type(fid, ref.enclosing, ref.name))
            return self._call(fid, ref)
        # A type name found nowhere is a type parameter, or comes from outside: Java leaves
        # no way to reach a definition elsewhere without naming it, so nothing to guess.
        return _answer(self.dotted_type(fid, ref.enclosing, ref.name))

    def _import(self, fid: int, ref: RefRow) -> list[Resolved]:
        found = self.fqn(fid, ref.name)
        if isinstance(found, Target):
            return [Resolved(found, RESOLVED)]
        if ref.col > _IMPORT_COL:  # import static a.B.m
            owner, _, name = ref.name.rpartition(".")
            cls = self.fqn(fid, owner)
            if isinstance(cls, Target):
                return _answer(self.member(cls, name, _CALLABLE_KINDS | _CLASS_KINDS))
            return []
        # import a.b.*: the package's directories (src/main and src/test may both hold it)
        out: list[Resolved] = []
        files = self.package_files(ref.name, fid)
        for d in sorted({parent_dir(self.ctx.path(f)) for f in files}):
            if d:
                out.append(Resolved(Target(0, d), RESOLVED))
            else:  # the repository root has no package node: its package is its files
                out.extend(Resolved(Target(f, ""), RESOLVED) for f in files if "/" not in self.ctx.path(f))
        return out

    def _is_creation(self, fid: int, ref: RefRow) -> bool:
        """`new T()` rather than a method `T()`: the indexer records T there as a type too."""
        got = self._creations.get(fid)
        if got is None:
            got = self._creations[fid] = {(r.line, r.col) for r in self.ctx.refs(fid) if r.kind == "type"}
        return (ref.line, ref.col) in got

    def _call(self, fid: int, ref: RefRow) -> list[Resolved]:
        scope = "".join(ref.scope.split())
        if not scope:
            return self._unqualified(fid, ref)
        if scope in ("this", "super"):
            classes = self.classes(fid, ref.enclosing)
            if not classes or self._anonymous(fid, ref.enclosing):
                return []  # `this` is an anonymous class, whose type the index does not keep
            if scope == "this":
                return _answer(self.member(classes[0], ref.name, _CALLABLE_KINDS))
            return _answer(self._inherited(classes[0], ref.name, _CALLABLE_KINDS))
        if scope.endswith((".this", ".super")):  # Outer.this.m(), Iface.super.m()
            owner = self.dotted_type(fid, ref.enclosing, scope.rsplit(".", 1)[0])
        elif m := _NEW.match(scope):
            owner = self.dotted_type(fid, ref.enclosing, m.group(1))
        elif _IDENT_PATH.match(scope):
            owner = self._scope_type(fid, ref.enclosing, scope)
            if owner is None:
                return _methods_named(self.ctx, fid, ref.name)  # a variable's value
        elif scope.startswith('"'):
            return []  # a String literal
        else:
            return _methods_named(self.ctx, fid, ref.name)  # the value of an expression
        if not isinstance(owner, Target):
            return []
        # A class known here without the member: it comes from a supertype outside.
        return _answer(self.member(owner, ref.name, _CALLABLE_KINDS))

    def _scope_type(self, fid: int, enclosing: str, scope: str) -> Found:
        """The class a dotted scope names (Type, Outer.Inner, a.b.Type); None when it is a
        variable (a field, local or parameter, or a field of those), whose type is unknown."""
        head, *rest = scope.split(".")
        if any(isinstance(self.member(c, head, _FIELD), Target) for c in self.classes(fid, enclosing)):
            return None  # a field: variables hide types of the same name
        if head[:1].islower():
            # A local or parameter, unless the whole reads as a qualified name (a.b.Type)
            return self.fqn(fid, scope) if rest else None
        owner = self.type_name(fid, enclosing, head)
        if owner is None:
            # A constant, else a class from outside (java.lang, an on-demand import)
            return None if _CONSTANT.match(head) else EXTERNAL
        for part in rest:
            if not isinstance(owner, Target):
                break
            owner = self.member(owner, part, _CLASS_KINDS)
            if owner is None:
                return None  # Type.FIELD
        return owner

    def _unqualified(self, fid: int, ref: RefRow) -> list[Resolved]:
        """m(): the innermost enclosing class that has a member m (its own or inherited),
        then single and on-demand static imports."""
        confidence = RESOLVED
        syms = self.ctx.symbols(fid)
        for scope in self.scopes(fid, ref.enclosing):
            s = syms[scope]
            if s.kind in _CLASS_KINDS:
                found = self.member(Target(fid, scope), ref.name, _CALLABLE_KINDS)
                if isinstance(found, Target):
                    return [Resolved(found, confidence)]
                if found is not None:
                    # A supertype from outside may declare m; if it does not, an outer
                    # class or a static import does.
                    confidence = INFERRED
            elif s.kind == "method" and (p := syms.get(s.parent)) is not None and p.kind == "method":
                # A method of an anonymous class: its siblings first; its supertype, which
                # the index does not keep, may declare m before the outer class does.
                sibling = f"{s.parent}.{ref.name}"
                if (t := syms.get(sibling)) is not None and t.kind == "method":
                    return [Resolved(Target(fid, sibling), RESOLVED)]
                confidence = INFERRED
        imports = self.imports(fid)
        owner = imports.statics.get(ref.name)
        if owner is not None:
            cls = self.fqn(fid, owner)
            return _answer(self.member(cls, ref.name, _CALLABLE_KINDS), confidence) \
                if isinstance(cls, Target) else []
        for star in imports.static_stars:
            cls = self.fqn(fid, star)
            if isinstance(cls, Target) and isinstance(
                    found := self.member(cls, ref.name, _CALLABLE_KINDS), Target):
                return [Resolved(found, confidence)]
        return []

    def _anonymous(self, fid: int, enclosing: str) -> bool:
        """Whether the innermost class around `enclosing` is an anonymous one (a method
        nested directly in a method)."""
        syms = self.ctx.symbols(fid)
        for scope in self.scopes(fid, enclosing):
            s = syms[scope]
            if s.kind in _CLASS_KINDS:
                return False
            if s.kind == "method" and (p := syms.get(s.parent)) is not None and p.kind == "method":
                return True
        return False


def _answer(found: Found, confidence: float = RESOLVED) -> list[Resolved]:
    return [Resolved(found, confidence)] if isinstance(found, Target) else []


def _methods_named(ctx: Context, fid: int, name: str) -> list[Resolved]:
    return by_name(ctx, fid, name, _is_method)


def _is_method(s: SymRow) -> bool:
    return s.kind == "method"


def _closest(ctx: Context, fid: int, found: list[Target]) -> Found:
    """One class among copies of the same qualified name (Maven modules, examples): the one
    nearest `fid` in the tree; EXTERNAL (link nothing) when two are equally near."""
    if len(found) <= 1:
        return found[0] if found else None
    here = ctx.path(fid).split("/")

    def shared(t: Target) -> int:
        n = 0
        for a, b in zip(here, ctx.path(t.file_id).split("/")):
            if a != b:
                break
            n += 1
        return n

    ranked = sorted(found, key=shared, reverse=True)
    return ranked[0] if shared(ranked[0]) > shared(ranked[1]) else EXTERNAL
