"""Rust: crates and their module trees (mod declarations, inline modules), use paths (crate,
self, super, aliases, globs, re-exports), Type::f and self.m() through impl blocks in any
file, traits with their default methods and supertraits."""

from __future__ import annotations

import posixpath
import re

from ..context import Context
from ..model import RESOLVED, RefRow, Resolved, SymRow, Target, parent_dir
from .base import EXTERNAL, External, by_name, path_segments

Found = Target | External | None  # None: unknown here (guess by name); EXTERNAL: not ours
# What a name no scope binds resolves to: the prelude, a local variable, a closure. Unlike
# EXTERNAL (bound by a `use` of another crate), `x.f()` with such an x is a method call.
UNBOUND = External()

_DEPTH = 8  # re-export, glob and alias chains followed this far (cycles stop here)
_EXTERNAL_ROOTS = frozenset({"std", "core", "alloc"})
_PATH_HEADS = _EXTERNAL_ROOTS | {"crate", "self", "super"}
# Macros of std and core: `format!(..)` is a call named format, whatever the crate defines.
_STD_MACROS = frozenset({
    "assert", "assert_eq", "assert_ne", "cfg", "column", "compile_error", "concat", "dbg",
    "debug_assert", "debug_assert_eq", "debug_assert_ne", "env", "eprint", "eprintln", "file",
    "format", "format_args", "include", "include_bytes", "include_str", "line", "matches",
    "module_path", "option_env", "panic", "print", "println", "stringify", "thread_local",
    "todo", "try", "unimplemented", "unreachable", "vec", "write", "writeln",
})
# The std prelude: where a file's module is unknown, these names are still never guessed.
_PRELUDE = frozenset({
    "Option", "Some", "None", "Result", "Ok", "Err", "Vec", "String", "Box", "ToString", "ToOwned",
    "Clone", "Copy", "Send", "Sync", "Sized", "Unpin", "Default", "Drop", "Fn", "FnMut", "FnOnce",
    "Iterator", "IntoIterator", "DoubleEndedIterator", "ExactSizeIterator", "Extend", "PartialEq",
    "Eq", "PartialOrd", "Ord", "AsRef", "AsMut", "Into", "From", "TryFrom", "TryInto", "FromIterator",
    "Self", "drop",
})
_TYPE_KINDS = frozenset({"struct", "enum", "trait", "type"})
_IMPL_OWNERS = frozenset({"impl", "struct", "enum", "type"})  # what an impl's qualname may read as
_IDENT = re.compile(r"[A-Za-z_]\w*$")
# Crate roots, relative to a package directory (the one holding Cargo.toml).
_ROOT = re.compile(r"(src/(lib|main)\.rs|src/bin/[^/]+\.rs|src/bin/[^/]+/main\.rs"
                   r"|(tests|examples|benches)/[^/]+\.rs|(tests|examples|benches)/[^/]+/main\.rs|build\.rs)$")
_CARGO_NAME = re.compile(r'^\s*name\s*=\s*"([^"]+)"', re.MULTILINE)
_CARGO_PATH = re.compile(r'^\s*path\s*=\s*"([^"]+\.rs)"', re.MULTILINE)


class RustSupport:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.roots: set[int] = set()  # crate root files
        self.roots_in: dict[str, list[int]] = {}  # directory -> crate roots in it
        self.crates: dict[str, int] = {}  # crate name -> its library root
        self._parent: dict[int, Target | None] = {}
        self._root_of: dict[int, int | None] = {}
        self._declared: dict[int, set[str]] = {}
        self._bindings: dict[int, tuple[dict[tuple[str, str], list[str]], dict[str, list[list[str]]]]] = {}
        self._impl_type: dict[tuple[int, str], Found] = {}
        self._traits: dict[Target, list[Target]] | None = None
        self._lookups: dict[tuple[int, str, str], Found] = {}
        self._generics: dict[int, dict[str, set[str]]] = {}
        self._map_crates()

    # -- crates and the module tree ------------------------------------------------------

    def _map_crates(self) -> None:
        rust = {f.path: f.id for f in self.ctx.files.values() if f.language == "rust"}
        # Cargo.toml is a text file, absent from ctx.files: the index still lists it.
        manifests = {p: fid for p, (fid, _) in self.ctx.manifests("Cargo.toml").items()}
        packages = {parent_dir(p) for p in manifests}
        for p in rust:  # a package without its manifest in the index still has src/
            if p.rsplit("/", 2)[-2:] in (["src", "lib.rs"], ["src", "main.rs"]):
                packages.add(parent_dir(parent_dir(p)))
        declared: dict[str, str] = {}  # root path -> "lib" or "bin", from [lib] / [[bin]] path = ..
        names: dict[str, str] = {}  # package -> its library's name
        for manifest, mid in manifests.items():
            pkg = parent_dir(manifest)
            name, paths = self._manifest(mid)
            if name:
                names[pkg] = name
            for kind, rel in paths:
                declared[posixpath.normpath(f"{pkg}/{rel}" if pkg else rel)] = kind
        for path, fid in rust.items():
            pkg = max((d for d in packages if not d or path.startswith(d + "/")), key=len, default=None)
            if pkg is None:
                continue
            lib = path == (f"{pkg}/src/lib.rs" if pkg else "src/lib.rs")
            if path in declared:
                lib = declared[path] == "lib"
            elif not _ROOT.fullmatch(path[len(pkg) + 1:] if pkg else path):
                continue
            self.roots.add(fid)
            self.roots_in.setdefault(parent_dir(path), []).append(fid)
            name = names.get(pkg) or pkg.rsplit("/", 1)[-1]
            if lib and name:
                self.crates[name.replace("-", "_")] = fid

    def _manifest(self, fid: int) -> tuple[str | None, list[tuple[str, str]]]:
        """From a Cargo.toml (read from the index's text chunks of it): the library's name
        ([lib] name, else [package] name), and the targets with an explicit path."""
        text = next((t for f, t in self.ctx.manifests("Cargo.toml").values() if f == fid), "")
        names, paths = {}, []
        for section in re.split(r"^\s*\[", text, flags=re.MULTILINE)[1:]:
            head = section.split("]", 1)[0].strip("[ ")
            name, path = _CARGO_NAME.search(section), _CARGO_PATH.search(section)
            if name and head in ("lib", "package"):
                names[head] = name.group(1)
            if path and head in ("lib", "bin", "test", "example", "bench"):
                paths.append(("lib" if head == "lib" else "bin", path.group(1)))
        return names.get("lib") or names.get("package"), paths

    def declared(self, fid: int) -> set[str]:
        """Qualnames of the `mod x;` declarations of a file (modules whose body is a file)."""
        got = self._declared.get(fid)
        if got is None:
            syms = self.ctx.symbols(fid)
            got = self._declared[fid] = {
                r.enclosing for r in self.ctx.refs(fid)
                if r.kind == "import" and (s := syms.get(r.enclosing)) is not None
                and s.kind == "module" and s.name == r.name}
        return got

    def _child_dir(self, module: Target) -> str:
        """Where the files of `module`'s `mod x;` declarations live."""
        path = self.ctx.path(module.file_id)
        d, stem = parent_dir(path), path.rsplit("/", 1)[-1][:-3]
        if module.file_id not in self.roots and stem != "mod":
            d = f"{d}/{stem}" if d else stem  # Rust 2018: a.rs declares a/b.rs
        for part in module.qualname.split(".") if module.qualname else ():
            d = f"{d}/{part}" if d else part
        return d

    def _module_file(self, module: Target, name: str) -> Target | None:
        d = self._child_dir(module)
        for cand in (f"{name}.rs", f"{name}/mod.rs"):
            fid = self.ctx.by_path.get(f"{d}/{cand}" if d else cand)
            if fid is not None and self.ctx.language(fid) == "rust":
                return Target(fid, "")
        return None

    def file_parent(self, fid: int) -> Target | None:
        """The module whose `mod x;` declares file `fid`; None for a crate root or a file
        no declaration reaches (a #[path] module, a file left out of the build)."""
        if fid in self._parent:
            return self._parent[fid]
        self._parent[fid] = None
        path = self.ctx.path(fid)
        d, stem = parent_dir(path), path.rsplit("/", 1)[-1][:-3]
        if fid in self.roots or not _IDENT.match(stem if stem != "mod" else d.rsplit("/", 1)[-1]):
            return None
        if stem == "mod":
            d, stem = parent_dir(d), d.rsplit("/", 1)[-1]
        parts = d.split("/") if d else []
        # The declaring module may be a file owning directory d, or an inline module
        # `mod a { mod b; }` of a file owning a directory above it.
        for k in range(min(3, len(parts)) + 1):
            base, inline = "/".join(parts[:len(parts) - k]), parts[len(parts) - k:]
            owners = [f"{base}.rs"] if base else []
            owners += [f"{base}/{n}" if base else n for n in ("mod.rs", "lib.rs", "main.rs")]
            fids = [self.ctx.by_path.get(p) for p in owners] + self.roots_in.get(base, [])
            for owner in dict.fromkeys(f for f in fids if f is not None and f != fid):
                if self.ctx.language(owner) != "rust":
                    continue
                prefix = ".".join(inline)
                module = Target(owner, prefix)
                if prefix and self.ctx.symbols(owner).get(prefix, _NO).kind != "module":
                    continue
                if self._child_dir(module) != d:
                    continue
                if (f"{prefix}.{stem}" if prefix else stem) in self.declared(owner):
                    self._parent[fid] = module
                    return module
        return None

    def crate_root(self, fid: int) -> int | None:
        if fid in self._root_of:
            return self._root_of[fid]
        self._root_of[fid] = None  # a declaration cycle stops here
        if fid in self.roots:
            root: int | None = fid
        else:
            up = self.file_parent(fid)
            root = self.crate_root(up.file_id) if up is not None else None
        self._root_of[fid] = root
        return root

    def module_scope(self, fid: int, enclosing: str) -> Target:
        """The module (the file, or an inline `mod m { }`) that code in `enclosing` is in."""
        for scope, s in self.ctx.scopes(fid, enclosing):
            if s.kind == "module" and scope not in self.declared(fid):
                return Target(fid, scope)
        return Target(fid, "")

    def parent_module(self, module: Target) -> Target | None:
        if module.qualname:
            s = self.ctx.symbols(module.file_id)[module.qualname]
            return self.module_scope(module.file_id, s.parent)
        return self.file_parent(module.file_id)

    def _is_module(self, t: Target) -> bool:
        return t.qualname == "" or self.ctx.symbols(t.file_id).get(t.qualname, _NO).kind == "module"

    # -- use bindings and scopes --------------------------------------------------------

    def bindings(self, fid: int):
        """((scope, local name) -> path segments, scope -> glob paths) of a file's `use`s."""
        got = self._bindings.get(fid)
        if got is None:
            names: dict[tuple[str, str], list[str]] = {}
            globs: dict[str, list[list[str]]] = {}
            for r in self.ctx.refs(fid):
                if r.kind != "import" or self._is_mod_decl(fid, r):
                    continue
                segs = _segments(r.name)
                if not segs:
                    continue
                if segs[-1] == "*":
                    globs.setdefault(r.enclosing, []).append(segs[:-1])
                    continue
                local = r.alias or (segs[-2] if segs[-1] == "self" and len(segs) > 1 else segs[-1])
                if local != "_":  # `use Trait as _` brings methods, not a name
                    names[(r.enclosing, local)] = segs
            got = self._bindings[fid] = (names, globs)
        return got

    def _in_scope(self, fid: int, scope: str, name: str, depth: int) -> tuple[Found, bool]:
        """`name` among the items, `use`s and globs of one scope: (found, whether an
        unresolved glob may hold it)."""
        syms = self.ctx.symbols(fid)
        q = f"{scope}.{name}" if scope else name
        s = syms.get(q)
        if s is not None and s.kind != "impl":
            if s.kind == "module" and q in self.declared(fid):
                file = self._module_file(self.module_scope(fid, s.parent), name)
                return file, file is None  # no file where the declaration points: #[path]
            return Target(fid, q), False
        names, globs = self.bindings(fid)
        segs = names.get((scope, name))
        if segs is not None:
            return self.path(fid, scope, segs, depth + 1), False
        uncertain = False
        for glob in globs.get(scope, ()):
            owner = self.path(fid, scope, glob, depth + 1)
            if isinstance(owner, Target) and self._is_module(owner):
                found, unsure = self._in_scope(owner.file_id, owner.qualname, name, depth + 1)
                if isinstance(found, Target):
                    return found, False
                uncertain |= unsure
            elif owner is None or isinstance(owner, Target):  # an unknown path, or an enum's variants
                uncertain = True
        return None, uncertain

    def lookup(self, fid: int, enclosing: str, name: str, depth: int = 0) -> Found:
        """A bare name used in `enclosing`: function scopes outwards to the module (items,
        uses, globs), then the crates; UNBOUND when the module is known and lacks it."""
        if depth > _DEPTH:
            return None
        key = (fid, enclosing, name)
        if key in self._lookups:
            return self._lookups[key]
        found = self._lookup(fid, enclosing, name, depth)
        if depth == 0:  # deeper answers may be cut short by the depth limit
            self._lookups[key] = found
        return found

    def _lookup(self, fid: int, enclosing: str, name: str, depth: int) -> Found:
        syms = self.ctx.symbols(fid)
        scope, uncertain = enclosing, False
        generics = self.generics(fid)
        while True:
            s = syms.get(scope) if scope else None
            if s is None:
                scope = ""
            elif name in generics.get(scope, ()):
                return EXTERNAL  # a type parameter of an enclosing item shadows the rest
            is_module = s is None or (s.kind == "module" and scope not in self.declared(fid))
            if is_module or s.kind in ("function", "method"):
                found, unsure = self._in_scope(fid, scope, name, depth)
                if found is not None:
                    return found
                uncertain |= unsure
                if is_module:
                    break  # a module does not see the items of the module around it
            scope = s.parent
        if name in self.crates:
            return Target(self.crates[name], "")
        if uncertain or self.crate_root(fid) is None:
            return None
        return UNBOUND

    def generics(self, fid: int) -> dict[str, set[str]]:
        """qualname -> the generic parameters its signature declares (`fn f<T>`, `impl<T>`).
        Read from the symbols' signatures, which the context does not carry."""
        got = self._generics.get(fid)
        if got is None:
            got = self._generics[fid] = {}
            rows = self.ctx.conn.execute(
                "SELECT qualname, name, signature FROM symbols WHERE file_id = ? AND signature LIKE '%<%'",
                (fid,))
            for qualname, name, signature in rows:
                m = re.match(rf"(?:.*?\bimpl\s*|.*?\b(?:fn|struct|enum|trait|type|union)\s+{re.escape(name)}\s*)<",
                             signature)
                if m:
                    got.setdefault(qualname, set()).update(_parameters(signature[m.end():]))
        return got

    def path(self, fid: int, scope: str, segs: list[str], depth: int = 0) -> Found:
        """A path `a::b::c` written in `scope` of file `fid`."""
        if depth > _DEPTH or not segs:
            return None
        head = segs[0]
        if head == "crate":
            root = self.crate_root(fid)
            cur: Found = Target(root, "") if root is not None else None
        elif head == "self":
            cur = self.module_scope(fid, scope)
        elif head == "super":
            cur = self.parent_module(self.module_scope(fid, scope))
        elif head == "Self":
            # outside an impl we can see (impl Trait for &T): nothing to resolve it through
            cur = self._self_scope(fid, scope)[1] or UNBOUND
        elif head in _EXTERNAL_ROOTS:
            return EXTERNAL
        else:
            cur = self.lookup(fid, scope, head, depth + 1)
        for seg in segs[1:]:
            if not isinstance(cur, Target):
                return cur
            if seg == "self":
                continue
            cur = self.parent_module(cur) if seg == "super" else self.member(cur, seg, depth + 1)
        return cur

    # -- members of modules, types and traits ---------------------------------------------

    def member(self, owner: Target, name: str, depth: int = 0) -> Found:
        if depth > _DEPTH:
            return None
        if self._is_module(owner):
            found, _ = self._in_scope(owner.file_id, owner.qualname, name, depth)
            return found  # a module lacking it: generated, or cfg'd out; a guess may find it
        kind = self.ctx.symbols(owner.file_id).get(owner.qualname, _NO).kind
        if kind not in _TYPE_KINDS:
            return None  # a function's or constant's member: not a path Rust allows
        found = self.associated(owner, name, depth)
        if found is not None:
            return found
        if kind == "enum" and name[:1].isupper():
            return owner  # a variant: its enum is the definition
        # A type of ours without it: derived, or from a trait outside the repository.
        return None if kind == "type" else EXTERNAL

    def associated(self, owner: Target, name: str, depth: int = 0) -> Target | None:
        """A function or constant of `owner` (a type or a trait): in any impl block of it,
        in its own body (a trait), or a default method of a trait it implements."""
        syms = self.ctx.symbols(owner.file_id)
        if syms.get(owner.qualname, _NO).kind == "trait":
            q = f"{owner.qualname}.{name}"
            if q in syms:
                return Target(owner.file_id, q)
        else:
            for f, s in self.ctx.named(name):
                if not s.parent or self.ctx.language(f) != "rust":
                    continue
                if self.ctx.symbols(f).get(s.parent, _NO).kind in _IMPL_OWNERS \
                        and self.impl_type(f, s.parent) == owner:
                    return Target(f, s.qualname)
        if depth > _DEPTH:
            return None
        for trait in self.traits().get(owner, ()):
            found = self.associated(trait, name, depth + 1)
            if found is not None:
                return found
        return None

    def impl_type(self, fid: int, impl: str) -> Found:
        """The type an impl block (qualname `impl`, named by its type) is for."""
        key = (fid, impl)
        if key not in self._impl_type:
            self._impl_type[key] = None
            s = self.ctx.symbols(fid)[impl]
            self._impl_type[key] = self.lookup(fid, s.parent, s.name)
        return self._impl_type[key]

    def traits(self) -> dict[Target, list[Target]]:
        """Type or trait -> the traits it implements or extends, from every inherit ref."""
        if self._traits is None:
            self._traits = {}
            for f in self.ctx.files.values():
                if f.language != "rust":
                    continue
                syms = self.ctx.symbols(f.id)
                for r in self.ctx.refs(f.id):
                    s = syms.get(r.enclosing) if r.kind == "inherit" else None
                    if s is None:
                        continue
                    owner = Target(f.id, r.enclosing) if s.kind == "trait" else self.impl_type(f.id, r.enclosing)
                    trait = self.path(f.id, s.parent, _segments(r.name) or [])
                    if isinstance(owner, Target) and isinstance(trait, Target) and trait != owner:
                        self._traits.setdefault(owner, []).append(trait)
        return self._traits

    def _self_scope(self, fid: int, enclosing: str) -> tuple[bool, Found]:
        """Whether `enclosing` is in an impl or a trait, and the type `Self` stands for
        there: the impl's type, or the trait."""
        for scope, s in self.ctx.scopes(fid, enclosing):
            if s.kind == "module":
                break
            if s.kind == "trait":
                return True, Target(fid, scope)
            if s.kind in _IMPL_OWNERS:
                return True, self.impl_type(fid, scope)
        return False, None

    # -- references ----------------------------------------------------------------------

    def resolve(self, fid: int, ref: RefRow) -> list[Resolved]:
        if ref.kind == "import":
            return self._import(fid, ref)
        if ref.kind == "call":
            return self._call(fid, ref)
        # a type use or an implemented trait / supertrait
        segs = _segments(f"{ref.scope}::{ref.name}" if ref.scope else ref.name)
        if not segs:
            return []
        if segs == ["Self"]:
            found = self._self_scope(fid, ref.enclosing)[1]
            if isinstance(found, Target) and self.ctx.symbols(found.file_id)[found.qualname].kind == "trait":
                return []  # Self in a trait is whichever type implements it
        else:
            found = self.path(fid, ref.enclosing, segs)
        if found is None and segs[0] not in _PRELUDE:
            return by_name(self.ctx, fid, segs[-1], _is_type)
        return _link(found)

    def _is_mod_decl(self, fid: int, ref: RefRow) -> bool:
        return ref.enclosing in self.declared(fid) and ref.name == ref.enclosing.rsplit(".", 1)[-1]

    def _import(self, fid: int, ref: RefRow) -> list[Resolved]:
        if self._is_mod_decl(fid, ref):
            s = self.ctx.symbols(fid)[ref.enclosing]
            return _link(self._module_file(self.module_scope(fid, s.parent), ref.name))
        segs = _segments(ref.name)
        if not segs:
            return []
        if segs[-1] == "*":
            segs = segs[:-1]
        return _link(self.path(fid, ref.enclosing, segs))

    def _call(self, fid: int, ref: RefRow) -> list[Resolved]:
        name, scope = ref.name, ref.scope
        if not scope:
            if name in _STD_MACROS:
                return []
            found = self.lookup(fid, ref.enclosing, name)
            if isinstance(found, External):
                # Not a name in scope: a macro of this crate (macro_rules! scoping is textual,
                # not by path), or a closure or a name from outside.
                return by_name(self.ctx, fid, name, _is_macro)
            if found is None and name not in _PRELUDE:
                return by_name(self.ctx, fid, name, _is_free)
            return _link(found)
        if scope == "self":
            in_impl, owner = self._self_scope(fid, ref.enclosing)
            if not in_impl:
                return _link(self.path(fid, ref.enclosing, ["self", name]))  # self::f()
            if isinstance(owner, Target):
                return _link(self.member(owner, name))
            return by_name(self.ctx, fid, name, _is_method)  # an impl for a type we can't see
        segs = _segments(scope)
        if segs is None:
            return by_name(self.ctx, fid, name, _is_method)  # a method of an expression's value
        owner = self.path(fid, ref.enclosing, segs)
        if len(segs) == 1 and segs[0][:1].islower() and segs[0] not in _PATH_HEADS:
            # `x.f()` and `x::f()` both read (scope "x", name "f"): a module named x makes
            # it a path; anything else is a value whose type is unknown.
            found = self.member(owner, name) if isinstance(owner, Target) else None
            if found is not None or owner is EXTERNAL:  # a module of ours, or `use std::mem`
                return _link(found)
            return by_name(self.ctx, fid, name, _is_method)
        if isinstance(owner, Target):
            found = self.member(owner, name)
            if found is not None:
                return _link(found)
        elif isinstance(owner, External) or segs[0] in _PRELUDE:
            return []
        return by_name(self.ctx, fid, name, _is_callable)


_NO = SymRow("", "", "", "", 0)


def _segments(path: str) -> list[str] | None:
    """`a::b::<T>::c` -> [a, b, c]; None for an expression or a qualified path (<T as U>)."""
    path = path.strip()
    if path.startswith("<"):
        return None
    return path_segments(path.removeprefix("::"), _IDENT, frozenset({"*"}))


def _parameters(text: str) -> list[str]:
    """The names in a generic parameter list, `T: Clone, 'a, const N: usize>` -> [T, N]."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "<([":
            depth += 1
        elif ch in ")]" or (ch == ">" and depth > 0):
            depth -= 1
        elif ch in ",>" and depth == 0:
            param = text[start:i].strip().removeprefix("const ").strip()
            m = re.match(r"([A-Za-z_]\w*)", param)
            if m:
                out.append(m.group(1))
            start = i + 1
            if ch == ">":
                break
    return out


def _link(found: Found) -> list[Resolved]:
    return [Resolved(found, RESOLVED)] if isinstance(found, Target) else []


def _is_type(s: SymRow) -> bool:
    # not an associated type (`type Item = ..;` in an impl): a bare name never means one
    return s.kind in _TYPE_KINDS and not (s.kind == "type" and s.parent.rsplit(".", 1)[-1][:1].isupper())


def _is_method(s: SymRow) -> bool:
    return s.kind == "method"


def _is_free(s: SymRow) -> bool:
    return s.kind in ("function", "struct", "macro")


def _is_callable(s: SymRow) -> bool:
    return s.kind in ("function", "method", "struct")


def _is_macro(s) -> bool:
    return s.kind == "macro"
