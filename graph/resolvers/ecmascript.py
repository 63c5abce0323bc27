"""JavaScript/TypeScript: modules, imports, require(), scopes, this, bases and declared types."""

from __future__ import annotations

import posixpath
import re
from typing import NamedTuple

from ..context import Context
from ..model import (
    INFERRED,
    NAME_ONLY,
    RESOLVED,
    RefRow,
    Resolved,
    SymRow,
    Target,
    parent_dir,
)
from .base import EXTERNAL, External, by_name

Found = Target | External | None
Hit = tuple[Found, float]
_NONE: Hit = (None, 0.0)

_DEPTH = 16  # re-export and base-class chains followed this far
_DOTTED = re.compile(r"[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$")
_FUNCTION_KINDS = frozenset({"function", "method"})
# A class, interface, enum or namespace known here without the member asked for: the member
# is set at run time or comes from outside the repository; nothing to guess.
_CLOSED_KINDS = frozenset({"class", "interface", "enum", "module", "type"})
# Extension resolution order: TypeScript's own for TypeScript importers, Node's otherwise.
_TS_EXTS = (".ts", ".tsx", ".d.ts", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs")
_JS_EXTS = (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".d.ts", ".mts", ".cts")
# TypeScript sources are imported by the name of their compiled output (`./a.js` -> a.ts).
_TS_SOURCE = {".js": (".ts", ".tsx", ".d.ts"), ".jsx": (".tsx",), ".mjs": (".mts", ".d.mts"),
              ".cjs": (".cts", ".d.cts")}

# Names every script can use without importing them: the language, the browser, Node, the
# test runners that inject globals, and TypeScript's built-in types. Bound nowhere in the
# repository, so never guessed by name.
_GLOBAL_NAMES = """
globalThis window self document console navigator location history screen localStorage
sessionStorage performance crypto fetch alert confirm prompt atob btoa Math JSON Reflect
Intl Atomics Object Function Array String Number Boolean Symbol BigInt Date RegExp Error
TypeError RangeError SyntaxError ReferenceError EvalError URIError AggregateError Promise
Map Set WeakMap WeakSet WeakRef FinalizationRegistry Proxy ArrayBuffer SharedArrayBuffer
DataView Int8Array Uint8Array Uint8ClampedArray Int16Array Uint16Array Int32Array
Uint32Array Float32Array Float64Array BigInt64Array BigUint64Array parseInt parseFloat isNaN
isFinite encodeURI encodeURIComponent decodeURI decodeURIComponent escape unescape eval
setTimeout clearTimeout setInterval clearInterval setImmediate clearImmediate queueMicrotask
structuredClone requestAnimationFrame cancelAnimationFrame requestIdleCallback
getComputedStyle matchMedia Request Response Headers URL URLSearchParams AbortController
AbortSignal Blob File FileReader FormData TextEncoder TextDecoder WebSocket Worker
MessageChannel BroadcastChannel EventSource XMLHttpRequest Image Audio Option Event
CustomEvent EventTarget ErrorEvent MouseEvent KeyboardEvent PointerEvent TouchEvent
FocusEvent InputEvent WheelEvent DragEvent ClipboardEvent SubmitEvent ProgressEvent
MessageEvent Node Element Document DocumentFragment Text Comment NodeList HTMLCollection
DOMParser DOMException DOMRect CSSStyleDeclaration ShadowRoot MutationObserver
IntersectionObserver ResizeObserver PerformanceObserver Notification Storage Selection
Range CanvasRenderingContext2D WebGLRenderingContext OffscreenCanvas ImageData ImageBitmap
process Buffer global require module exports __dirname __filename
describe it test expect beforeEach afterEach beforeAll afterAll jest vi suite
Partial Required Readonly Record Pick Omit Exclude Extract NonNullable Parameters
ConstructorParameters ReturnType InstanceType ThisParameterType OmitThisParameter ThisType
Awaited Uppercase Lowercase Capitalize Uncapitalize NoInfer PromiseLike ArrayLike Iterable
Iterator IterableIterator AsyncIterable AsyncIterator AsyncIterableIterator Generator
AsyncGenerator ReadonlyArray ReadonlyMap ReadonlySet PropertyKey PropertyDescriptor
TemplateStringsArray TypedPropertyDescriptor ClassDecorator MethodDecorator
PropertyDecorator ParameterDecorator NodeJS JSX React
"""
GLOBALS = frozenset(_GLOBAL_NAMES.split())
_DOM_TYPE = re.compile(r"(HTML|SVG)\w*Element$")


class _Imports(NamedTuple):
    """What one file's import, re-export and require() references bind."""

    # local name -> (module as written, imported name): "*" binds the whole module (a
    # default or namespace import: the index cannot tell them apart), "default" its default.
    names: dict[str, tuple[str, str]]
    # modules imported with no visible binding: `export * from`, side-effect imports and
    # destructured or unassigned require() all look alike in the index.
    stars: list[str]
    # top-level variable -> the module it was required from (`const m = require("./m")`)
    required: dict[str, str]
    # a package was imported with no visible binding: an unknown bare name may be from it
    opaque: bool


class EcmaScriptSupport:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._imports: dict[int, _Imports] = {}
        self._files: dict[tuple[str, str, bool], int | External] = {}
        self._exports: dict[tuple[int, str], Hit] = {}
        self._bases: dict[Target, list[Found]] = {}
        self._near: dict[int, set[int]] = {}
        self._types: dict[Target, Hit] = {}

    # -- modules -------------------------------------------------------------------------

    def module_file(self, fid: int, spec: str) -> int | External:
        """The file a module specifier names; EXTERNAL for a package, or for a relative
        path to nothing indexed (a stylesheet, JSON, generated code)."""
        here = parent_dir(self.ctx.path(fid))
        ts = self.ctx.language(fid) != "javascript"
        key = (here, spec, ts)
        got = self._files.get(key)
        if got is None:
            got = self._files[key] = self._find_file(here, spec, ts)
        return got

    def _find_file(self, here: str, spec: str, ts: bool) -> int | External:
        if not (spec in (".", "..") or spec.startswith(("./", "../"))):
            return EXTERNAL  # a package (react, lodash/fp, node:fs) or a path alias
        path = posixpath.normpath(posixpath.join(here, spec.split("?", 1)[0]))
        if path == ".." or path.startswith("../"):
            return EXTERNAL
        path = "" if path == "." else path
        by_path = self.ctx.by_path
        candidates = [path]
        stem, ext = posixpath.splitext(path)
        candidates += [stem + e for e in _TS_SOURCE.get(ext, ())]
        exts = _TS_EXTS if ts else _JS_EXTS
        candidates += [path + e for e in exts]
        candidates += [posixpath.join(path, "index") + e for e in exts]
        for c in candidates:
            fid = by_path.get(c)
            if fid is not None and self.ctx.language(fid) in ("javascript", "typescript", "tsx"):
                return fid
        return EXTERNAL

    def imports(self, fid: int) -> _Imports:
        got = self._imports.get(fid)
        if got is None:
            syms = self.ctx.symbols(fid)
            got = _Imports({}, [], {}, False)
            opaque = False
            for r in self.ctx.refs(fid):
                if r.kind != "import":
                    continue
                if r.name != r.module:  # import { a as b } / export { a as b } from
                    got.names[r.alias or r.name] = (r.module, r.name)
                elif r.alias:  # import x from / import * as x from
                    got.names[r.alias] = (r.module, "*")
                elif (s := syms.get(r.enclosing)) is not None and s.kind == "variable" and not s.parent:
                    # require() inside a top-level `const v = ...`; two in one is ambiguous
                    got.required[r.enclosing] = "" if r.enclosing in got.required else r.module
                else:
                    got.stars.append(r.module)
                    opaque |= not r.module.startswith(".")  # not a stylesheet beside it
            got = self._imports[fid] = got._replace(opaque=opaque)
        return got

    def exports(self, fid: int, name: str, depth: int = 0) -> Hit:
        """What module `fid` exports as `name`: its own top-level definition, a name it
        imported or re-exported (`export { a as name } from`), or one of `export *`."""
        key = (fid, name)
        got = self._exports.get(key)
        if got is not None:
            return got
        if depth > _DEPTH:
            return _NONE
        self._exports[key] = _NONE  # a cycle of re-exports stops here
        sym = self.ctx.symbols(fid).get(name)
        if sym is not None and not sym.parent:
            got = (Target(fid, name), RESOLVED)
        else:
            imp = self.imports(fid)
            if name in imp.names:
                got = self._binding(fid, imp.names[name], name, depth + 1)
            else:
                got = self._from_stars(fid, imp.stars, name, depth + 1)
        self._exports[key] = got
        return got

    def _from_stars(self, fid: int, stars: list[str], name: str, depth: int) -> Hit:
        outside = False
        for spec in stars:
            m = self.module_file(fid, spec)
            if isinstance(m, External):
                outside = True
                continue
            found, conf = self.exports(m, name, depth)
            if isinstance(found, Target):
                return found, conf
            outside |= found is not None
        return (EXTERNAL, RESOLVED) if outside else _NONE

    def _binding(self, fid: int, binding: tuple[str, str], local: str, depth: int) -> Hit:
        """What an import binding names: the whole module (as its file), its default
        export, or one of its exports. EXTERNAL when the module is known but the name is
        not visible in it: the name is bound, so it is never guessed."""
        spec, name = binding
        m = self.module_file(fid, spec)
        if isinstance(m, External):
            return EXTERNAL, RESOLVED
        if name == "*":
            return Target(m, ""), RESOLVED
        found, conf = (self.default_export(m, local, depth) if name == "default"
                       else self.exports(m, name, depth))
        return (found, conf) if found is not None else (EXTERNAL, RESOLVED)

    def default_export(self, fid: int, local: str, depth: int = 0) -> Hit:
        """The default export of `fid`, where it can be identified: an explicit re-export
        of a default, else (a convention, so INFERRED) the top-level definition named as
        the importer names it, or as the file (or the folder of an index file) is named."""
        if depth > _DEPTH:
            return _NONE
        imp = self.imports(fid)
        if "default" in imp.names:
            found, conf = self._binding(fid, imp.names["default"], local, depth + 1)
            return (found, conf) if isinstance(found, Target) else _NONE
        syms = self.ctx.symbols(fid)
        sym = syms.get(local)
        if sym is not None and not sym.parent:
            return Target(fid, local), INFERRED
        path = self.ctx.path(fid)
        stem = posixpath.basename(path).split(".", 1)[0]
        if stem == "index":
            stem = posixpath.basename(parent_dir(path))
        # Exact case only: `import * as base from "./base"` beside a class Base is a
        # namespace import as often as not.
        sym = syms.get(stem)
        if sym is not None and not sym.parent and sym.kind in ("class", "function", "interface"):
            return Target(fid, stem), INFERRED
        return _NONE

    # -- scopes --------------------------------------------------------------------------

    def lookup(self, fid: int, enclosing: str, name: str) -> Hit:
        """A bare name used inside `enclosing`: enclosing functions, the file's top level,
        its imports, the globals, then (a guess) the modules required without a binding.
        A whole-module binding comes back as the module's file."""
        syms = self.ctx.symbols(fid)
        for scope, s in self.ctx.scopes(fid, enclosing):
            # Only functions are scopes; class members are reached through `this`.
            if s.kind in _FUNCTION_KINDS and f"{scope}.{name}" in syms:
                return Target(fid, f"{scope}.{name}"), RESOLVED
        imp = self.imports(fid)
        sym = syms.get(name)
        if sym is not None and not sym.parent:
            spec = imp.required.get(name)
            if spec:  # const m = require("./m"): m stands for the module
                m = self.module_file(fid, spec)
                return (m if isinstance(m, External) else Target(m, "")), INFERRED
            return Target(fid, name), RESOLVED
        if name in imp.names:
            return self._binding(fid, imp.names[name], name, 0)
        if name in GLOBALS or _DOM_TYPE.match(name):
            return EXTERNAL, RESOLVED
        # const { a } = require("./m"): a comes from one of the modules bound invisibly.
        found, _ = self._from_stars(fid, imp.stars, name, 1)
        if isinstance(found, Target):
            return found, INFERRED
        return (EXTERNAL, RESOLVED) if imp.opaque else _NONE

    def attribute(self, owner: Found, name: str, local: str = "", depth: int = 0) -> Hit:
        """`owner.name`: an export of a module, a member of a class (through its bases),
        a property of an object literal, a member of a namespace."""
        if not isinstance(owner, Target) or depth > _DEPTH:
            return owner, RESOLVED
        if owner.qualname == "":
            found, conf = self.exports(owner.file_id, name)
            if isinstance(found, Target):
                return found, conf
            if local:  # a default import of a class: a static member
                cls, c = self.default_export(owner.file_id, local)
                if isinstance(cls, Target) and self._kind(cls) == "class":
                    found, conf = self.member(cls, name)
                    if isinstance(found, Target):
                        return found, min(c, conf)
            return EXTERNAL, RESOLVED
        syms = self.ctx.symbols(owner.file_id)
        q = f"{owner.qualname}.{name}"
        if q in syms:
            return Target(owner.file_id, q), RESOLVED
        kind = self._kind(owner)
        if kind in ("class", "interface"):
            return self.member(owner, name, depth + 1)
        if kind == "variable":  # a member of the class or interface it is declared to hold
            typ, conf = self.declared_type(owner)
            if isinstance(typ, Target):
                found, c = self.member(typ, name, depth + 1)
                return (found, min(conf, c)) if found is not None else _NONE
            if typ is not None:
                return EXTERNAL, RESOLVED  # a Map, a Promise, a package's type
        return (EXTERNAL, RESOLVED) if kind in _CLOSED_KINDS else _NONE

    def declared_type(self, var: Target) -> Hit:
        """The class or interface a top-level variable holds, read from its declaration:
        the annotation (`v: T = ...`), else the class constructed (`v = new C(...)`).
        INFERRED: nothing checks that the value keeps that type. EXTERNAL for a type from
        outside the repository; none when the declaration says nothing this simple."""
        got = self._types.get(var)
        if got is None:
            self._types[var] = _NONE  # `const v = new v.C()` stops here
            got = self._types[var] = self._declared_type(var)
        return got

    def _declared_type(self, var: Target) -> Hit:
        # The signature (the declarator's first line) is what shows the shape of the type:
        # the references on the line cannot tell `v: Foo` from `v: Foo[]` or `v: () => Foo`,
        # nor `new Foo()` from `{ a: new Foo() }`. The context does not carry it.
        row = self.ctx.conn.execute(
            "SELECT signature FROM symbols WHERE file_id = ? AND qualname = ? ORDER BY id LIMIT 1",
            (var.file_id, var.qualname)).fetchone()
        decl = _declaration(row[0], var.qualname.rsplit(".", 1)[-1]) if row else None
        if decl is None:
            return _NONE
        how, path = decl
        if how == "new" and any(r.enclosing == var.qualname and r.scope.startswith("new")
                                for r in self.ctx.refs(var.file_id)):
            return _NONE  # new C(...).m() over several lines: the value is what m returns
        found, conf = self.dotted(var.file_id, var.qualname, path, bare=True)
        if isinstance(found, Target):
            kind = self._kind(found)
            # `new` of a function or an alias: a constructor function, or not a class at all
            if kind == "class" or (how == "type" and kind == "interface"):
                return found, min(conf, INFERRED)
            return _NONE
        return (EXTERNAL, RESOLVED) if found is not None else _NONE

    def member(self, cls: Target, name: str, depth: int = 0) -> Hit:
        """A member of `cls`, else of its bases in order (INFERRED: found by walking the
        `extends` chain, which the index records by name only)."""
        if depth > _DEPTH:
            return _NONE
        q = f"{cls.qualname}.{name}"
        if q in self.ctx.symbols(cls.file_id):
            return Target(cls.file_id, q), RESOLVED
        unknown_base = False
        for base in self.bases(cls):
            if isinstance(base, Target) and base.qualname:
                found, _ = self.member(base, name, depth + 1)
                if isinstance(found, Target):
                    return found, INFERRED
                unknown_base |= found is not None
            else:
                unknown_base = True
        return (EXTERNAL, RESOLVED) if unknown_base else _NONE

    def bases(self, cls: Target) -> list[Found]:
        got = self._bases.get(cls)
        if got is None:
            self._bases[cls] = []  # a class that (indirectly) extends itself stops here
            got = []
            for r in self.ctx.refs(cls.file_id):
                if r.kind == "inherit" and r.enclosing == cls.qualname:
                    base, _ = self.dotted(cls.file_id, cls.qualname, r.name, bare=True)
                    if base != cls:
                        got.append(base if base is not None else EXTERNAL)
            self._bases[cls] = got
        return got

    def dotted(self, fid: int, enclosing: str, path: str, bare: bool = False) -> Hit:
        """`a.b.c` from where it is written. With `bare`, a whole-module binding used as a
        value (called, extended, a type) stands for the module's default export."""
        head, *rest = path.split(".")
        found, conf = self.lookup(fid, enclosing, head)
        if not rest:
            if bare and isinstance(found, Target) and found.qualname == "":
                found, c = self.default_export(found.file_id, head)
                return (found, min(conf, c)) if found is not None else (EXTERNAL, RESOLVED)
            return found, conf
        local = head
        for part in rest:
            if not isinstance(found, Target):
                return found, conf
            found, c = self.attribute(found, part, local)
            conf, local = min(conf, c), ""
        return found, conf

    def _kind(self, t: Target) -> str:
        sym = self.ctx.symbols(t.file_id).get(t.qualname)
        return sym.kind if sym is not None else ""

    def _this(self, fid: int, enclosing: str) -> Target | None:
        """What `this` is inside `enclosing`: the nearest enclosing class, or the object
        literal a method belongs to."""
        return next((Target(fid, scope) for scope, s in self.ctx.scopes(fid, enclosing)
                     if s.kind in ("class", "variable")), None)

    # -- references ----------------------------------------------------------------------

    def resolve(self, fid: int, ref: RefRow) -> list[Resolved]:
        if ref.kind == "import":
            return self._import(fid, ref)
        scope = ref.scope.replace("?.", ".")
        if ref.kind == "call" and scope:
            found, conf = self._method_call(fid, ref, scope)
            if found is None:
                return self._guess_member(fid, ref.name)
        else:
            path = f"{scope}.{ref.name}" if scope else ref.name
            if not _DOTTED.match(path):
                return []
            found, conf = self.dotted(fid, ref.enclosing, path, bare=True)
            if found is None:
                return self._guess(fid, ref, path)
        return [Resolved(found, conf)] if isinstance(found, Target) else []

    def _guess(self, fid: int, ref: RefRow, path: str) -> list[Resolved]:
        """Nothing in scope binds the name: a local value, a global, or (in a script that
        imports nothing) a function of another script loaded beside it."""
        last = path.rsplit(".", 1)[-1]
        if ref.kind == "call":
            if any(r.kind == "import" for r in self.ctx.refs(fid)):
                return []  # a module sees no other module's names without importing them
            return by_name(self.ctx, fid, last, _is_top_level)
        if len(last) == 1:
            return []  # a type parameter (T, K, V): declared where the index does not look
        return by_name(self.ctx, fid, last, _is_class_like if ref.kind == "inherit" else _is_type)

    def _guess_member(self, fid: int, name: str) -> list[Resolved]:
        """obj.name() with obj's type unknown: the methods so named, narrowed to those in
        this file or in files it imports from when any are (still guesses)."""
        found = by_name(self.ctx, fid, name, _is_member)
        if len(found) > 1:
            near = self._imported_files(fid)
            narrowed = [r.target for r in found if r.target.file_id in near]
            if narrowed:
                found = [Resolved(t, NAME_ONLY / len(narrowed)) for t in narrowed]
        return found

    def _imported_files(self, fid: int) -> set[int]:
        got = self._near.get(fid)
        if got is None:
            got = {fid}
            imp = self.imports(fid)
            # the files named by its imports, and those its imported names are defined in
            for local, binding in imp.names.items():
                target, _ = self._binding(fid, binding, local, 0)
                if isinstance(target, Target):
                    got.add(target.file_id)
            for spec in [*(b[0] for b in imp.names.values()), *imp.stars, *imp.required.values()]:
                m = self.module_file(fid, spec) if spec else EXTERNAL
                if isinstance(m, int):
                    got.add(m)
            self._near[fid] = got
        return got

    def _import(self, fid: int, ref: RefRow) -> list[Resolved]:
        m = self.module_file(fid, ref.module)
        if isinstance(m, External):
            return []
        if ref.name == ref.module:
            found, conf = self.default_export(m, ref.alias) if ref.alias else _NONE
        elif ref.name == "default":
            found, conf = self.default_export(m, ref.alias or "default")
        else:
            found, conf = self.exports(m, ref.name)
        if isinstance(found, Target):
            return [Resolved(found, conf)]
        return [Resolved(Target(m, ""), RESOLVED)]  # the file, at least, is certain

    def _method_call(self, fid: int, ref: RefRow, scope: str) -> Hit:
        if scope in ("this", "super"):
            owner = self._this(fid, ref.enclosing)
            if owner is None:
                return _NONE
            if self._kind(owner) == "variable":
                if scope == "super":
                    return EXTERNAL, RESOLVED  # an object literal's prototype: Object's
                # this.m() in a method of an object literal: the literal's m, if it is
                # called as obj.m(), which is how such methods are almost always called
                q = f"{owner.qualname}.{ref.name}"
                return (Target(fid, q), INFERRED) if q in self.ctx.symbols(fid) else _NONE
            if scope == "this":
                return self.member(owner, ref.name)
            for base in self.bases(owner):
                if isinstance(base, Target) and base.qualname:
                    found, conf = self.member(base, ref.name)
                    if isinstance(found, Target):
                        return found, conf
            return EXTERNAL, RESOLVED  # super.m() names no other candidate: nothing to guess
        if not _DOTTED.match(scope) or scope.split(".", 1)[0] in ("this", "super"):
            return _NONE  # the value of an expression: its type is unknown
        owner, conf = self.dotted(fid, ref.enclosing, scope)
        if not isinstance(owner, Target):
            return owner, conf
        found, c = self.attribute(owner, ref.name, scope if "." not in scope else "")
        return found, min(conf, c)


def _declaration(signature: str, name: str) -> tuple[str, str] | None:
    """What a variable's declaration says it holds: ("type", T) for `name: T = ...` and
    ("new", C) for `name = new C(...)`, T and C dotted names with type arguments at most.
    None for anything else: an array, union, function or object type, a cast, a call
    on the new object, or a line cut before the shape shows."""
    if not signature.startswith(name):
        return None
    rest = signature[len(name):].lstrip().removeprefix("!").lstrip()  # `v!: T`
    if rest.startswith(":"):
        how, m = "type", _TYPE_HEAD.match(rest)
    else:
        how, m = "new", _NEW_HEAD.match(rest)
    if m is None:
        return None
    i = _balanced(rest, m.end(), "<", ">")
    if i is None:
        return None
    tail = rest[i:].lstrip()
    if how == "type":
        ok = tail == "" or (tail.startswith("=") and not tail.startswith("=="))
    elif tail == "":
        ok = True  # `new C` without arguments
    else:
        end = _balanced(tail, 0, "(", ")") if tail.startswith("(") else None
        # arguments running past the line: what follows them is checked by the caller
        ok = end is not None and (end == -1 or tail[end:].strip() == "")
    return (how, re.sub(r"\s+", "", m.group(1))) if ok else None


_IDENT = r"[A-Za-z_$][\w$]*"
_TYPE_HEAD = re.compile(rf":\s*({_IDENT}(?:\s*\.\s*{_IDENT})*)(?![\w$])\s*")
_NEW_HEAD = re.compile(rf"=\s*new\s+({_IDENT}(?:\s*\.\s*{_IDENT})*)(?![\w$])\s*")


def _balanced(text: str, i: int, left: str, right: str) -> int | None:
    """The index after the bracketed group starting at text[i] (i itself when there is
    none there); -1 when the text ends inside it; None when the group cannot be read."""
    if not text.startswith(left, i):
        return i
    depth = 0
    for j in range(i, len(text)):
        ch = text[j]
        if ch == left:
            depth += 1
        elif ch == right and text[j - 1] != "=":  # the `>` of `=>` closes nothing
            depth -= 1
            if depth == 0:
                return j + 1
    return -1 if left == "(" else None


def _is_member(s: SymRow) -> bool:
    # Methods only: a nested function (`x.filter = () => ...` inside a function is one)
    # would otherwise be a candidate for every arr.filter() in the repository.
    return s.kind == "method"


def _is_top_level(s: SymRow) -> bool:
    return s.parent == "" and s.kind in ("function", "class")


def _is_class_like(s: SymRow) -> bool:
    return s.kind in ("class", "interface")


def _is_type(s: SymRow) -> bool:
    return s.kind in ("class", "interface", "type", "enum")
