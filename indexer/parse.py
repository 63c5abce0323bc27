"""Parse one file with tree-sitter and extract definitions, references and chunks."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache

from .chunk import Piece, chunk_code, chunk_text
from .languages import LANGUAGES, LanguageSpec, compiled_query, grammar, query_source
from .options import IndexOptions
from .records import FileRecord, ParsedFile
from .text import content_hash, identifier_parts, line_token_estimates, split_lines, term_counts

_MAX_SIGNATURE = 240
_MAX_DOC = 2000
_MAX_SCOPE = 120
_CLASS_KINDS = frozenset({"class", "interface", "struct", "trait", "impl", "enum"})
_WS = re.compile(r"\s+")
_COMMENT_MARKERS = re.compile(r"^\s*(?:/\*\*?|\*/|\*|///?|//!|#)\s?", re.M)


@dataclass(slots=True)
class _Def:
    name: str
    kind: str
    node: object  # the definition node (for its body when it must be split)
    start_byte: int
    end_byte: int
    start_line: int  # 1-based, the wrapper's start when wrapped (decorators, export)
    end_line: int
    head_line: int  # first line of its doc comment, or start_line
    start_col: int
    end_col: int
    scope: str
    signature: str
    doc: str
    qualname: str = ""
    parent: "_Def | None" = None


_parsers: dict[tuple[str, str], object] = {}


def _parser(language: str, purpose: str = "file"):
    """The process's parser of `language` for one purpose (a macro-argument parser keeps its
    included ranges between calls, so it is not the one whole files use)."""
    parser = _parsers.get((language, purpose))
    if parser is None:
        import tree_sitter

        parser = _parsers[(language, purpose)] = tree_sitter.Parser(grammar(language))
    return parser


def parse_source(path: str, language: str, data: bytes, options: IndexOptions,
                 record: FileRecord) -> ParsedFile:
    """Extract symbols, references and chunks from the bytes of one file.

    `data` must be valid UTF-8 (the caller replaces invalid bytes). A syntax error is
    not fatal: tree-sitter recovers, and whatever it recovered is kept.
    """
    text = data.decode("utf-8")
    lines = split_lines(text)
    estimates = line_token_estimates(lines)
    if language == "text" or language not in LANGUAGES:
        pieces = chunk_text(lines, estimates, options.chunk_max_tokens)
        return _finish(record, text, lines, estimates, [], [], pieces, 0)

    spec = LANGUAGES[language]
    source = _without_class_macros(data) if spec.bare_macros else data  # what the parser reads
    root = _parser(language).parse(source).root_node
    errors = error_nodes(root)
    if errors and spec.bare_macros:
        root, errors = _without_bare_macros(language, source, root, errors)
    def_matches, ref_matches = _split_matches(language, root)
    defs, def_names = _definitions(def_matches, data, spec)
    if spec.macro_arguments:
        ref_matches += _macro_argument_matches(language, ref_matches, data)
    refs = _references(ref_matches, data, defs, def_names, spec)
    pieces = chunk_code(lines, estimates, defs, options.chunk_max_tokens, options.chunk_min_tokens,
                        spec.bodies)
    return _finish(record, text, lines, estimates, _symbols(defs), refs, pieces, len(errors))


@cache
def _pattern_kinds(language: str) -> tuple[tuple[bool, str] | None, ...]:
    """Per query pattern: (is a definition, kind), read once from the pattern's source."""
    query = compiled_query(language)
    source = query_source(language).encode("utf-8")
    table = []
    for i in range(query.pattern_count):
        text = source[query.start_byte_for_pattern(i):query.end_byte_for_pattern(i)]
        m = _PATTERN_KIND.search(text)
        table.append((m.group(1) == b"definition", m.group(2).decode()) if m else None)
    return tuple(table)


_PATTERN_KIND = re.compile(rb"@(definition|reference)\.(\w+)")


def _split_matches(language: str, root) -> tuple[list, list]:
    """Query matches as (kind, node, captures), definitions and references apart."""
    import tree_sitter

    kinds = _pattern_kinds(language)
    defs, refs = [], []
    for index, caps in tree_sitter.QueryCursor(compiled_query(language)).matches(root):
        k = kinds[index]
        if k is None:
            continue
        is_def, kind = k
        node = caps[("definition." if is_def else "reference.") + kind][0]
        (defs if is_def else refs).append((kind, node, caps))
    return defs, refs


def _end_line(node) -> int:
    """1-based last line of a node; a node that ends with its newline (a macro, a line
    comment) ends on the line before, not at column 0 of the next."""
    (row, col), start_row = node.end_point, node.start_point[0]
    return row if col == 0 and row > start_row else row + 1


def _text(data: bytes, node) -> str:
    return data[node.start_byte:node.end_byte].decode("utf-8", "replace")


def _definitions(matches: list, data: bytes, spec: LanguageSpec) -> tuple[list[_Def], set[int]]:
    found: dict[tuple[int, int, str], _Def] = {}
    name_nodes: set[int] = set()
    for kind, node, caps in matches:
        if "name" not in caps:
            continue
        name_node = caps["name"][0]
        name = _text(data, name_node)
        key = (node.start_byte, node.end_byte, name)
        doc_nodes = caps.get("doc", ())
        existing = found.get(key)
        if existing is not None:
            if doc_nodes and not existing.doc:
                existing.doc, existing.head_line = _doc(doc_nodes, data, existing.start_line)
            continue
        name_nodes.add(name_node.start_byte)
        outer = node
        while outer.parent is not None and outer.parent.type in spec.wrappers:
            outer = outer.parent
        first = outer  # attributes written before an item belong to it (Rust #[derive])
        while (prev := first.prev_named_sibling) is not None and prev.type in spec.attributes:
            first = prev
        start_line = first.start_point[0] + 1
        doc, head_line = _doc(doc_nodes, data, start_line) if doc_nodes else ("", start_line)
        scope_nodes = caps.get("scope")
        found[key] = _Def(
            name=name, kind=kind, node=node, start_byte=first.start_byte, end_byte=node.end_byte,
            start_line=start_line, end_line=_end_line(node), head_line=head_line,
            start_col=first.start_point[1], end_col=node.end_point[1],
            scope=_qualifier(scope_nodes[0], name_node, data) if scope_nodes else "",
            signature=_signature(node, data), doc=doc,
        )
    defs = sorted(found.values(), key=lambda d: (d.start_byte, -d.end_byte))
    # A function directly inside a class-like definition is a method, whatever the grammar says.
    stack: list[_Def] = []
    for d in defs:
        while stack and stack[-1].end_byte <= d.start_byte:
            stack.pop()
        d.parent = stack[-1] if stack else None
        if d.scope:  # an out-of-line member: Go's receiver, C++'s ns::Class::
            prefix = d.parent.qualname + "." if d.parent is not None else ""
            d.qualname = f"{d.scope}.{d.name}" if d.scope.startswith(prefix) else f"{prefix}{d.scope}.{d.name}"
        elif d.parent is not None:
            d.qualname = f"{d.parent.qualname}.{d.name}"
        else:
            d.qualname = d.name
        if d.kind == "function" and d.parent is not None and d.parent.kind in _CLASS_KINDS:
            d.kind = "method"
        stack.append(d)
    return defs, name_nodes


def _qualifier(scope_node, name_node, data: bytes) -> str:
    """The whole qualifier of a name, dotted: `geo::Circle::area` -> "geo.Circle"."""
    top = name_node
    while top.parent is not None and top.parent.type in _QUALIFIED_NODES:
        top = top.parent
    if top is name_node:
        text = _text(data, scope_node)
    else:
        text = data[top.start_byte:name_node.start_byte].decode("utf-8", "replace")
    if "<" in text:  # `SkipList<Key, Cmp>::NewNode`, `Vec::<T>::new`: the class's own name
        text = _without_template_arguments(text)
    return _QUALIFIER_SEPARATORS.sub(".", text).strip(".")


def _without_template_arguments(text: str) -> str:
    out, depth, parens = [], 0, 0
    for ch in text:
        if depth and ch in "()":  # `A<(N > 2)>`: a comparison inside parentheses
            parens += 1 if ch == "(" else -1
        elif ch == "<" and not parens:
            depth += 1
        elif ch == ">" and depth and not parens:
            depth -= 1
        elif not depth:
            out.append(ch)
    return "".join(out)


_QUALIFIED_NODES = frozenset({"qualified_identifier", "scoped_identifier", "nested_name_specifier"})
_QUALIFIER_SEPARATORS = re.compile(r"\s*(?:::|\.)\s*")


def _signature(node, data: bytes) -> str:
    body = node.child_by_field_name("body")
    end = body.start_byte if body is not None and body.start_byte > node.start_byte else node.end_byte
    head = data[node.start_byte:end].decode("utf-8", "replace")
    if body is None:
        head = head.split("\n", 1)[0]
    if "\n" in head:  # drop comment lines between a signature and its body
        head = "\n".join(x for x in head.split("\n") if not x.lstrip().startswith(("#", "//", "/*", "*")))
    head = _WS.sub(" ", head).strip().rstrip("{;").rstrip()
    if head.endswith(":") and not head.endswith("::"):  # Python's `def f():`
        head = head[:-1]
    return head[:_MAX_SIGNATURE]


def _doc(nodes: list, data: bytes, def_line: int) -> tuple[str, int]:
    """The doc text and the line it starts on. Comments must touch the definition."""
    if len(nodes) == 1 and nodes[0].type in ("string", "string_literal"):
        raw = _text(data, nodes[0])
        return _clean_docstring(raw), def_line
    kept = []
    expect = def_line
    for n in sorted(nodes, key=lambda n: n.start_byte, reverse=True):
        if _end_line(n) < expect - 1:
            break
        kept.append(n)
        expect = n.start_point[0] + 1
    if not kept:
        return "", def_line
    kept.reverse()
    text = "\n".join(_COMMENT_MARKERS.sub("", _text(data, n)).rstrip("*/ \n") for n in kept)
    return text.strip()[:_MAX_DOC], kept[0].start_point[0] + 1


def _clean_docstring(raw: str) -> str:
    s = raw.lstrip("rbuRBU")
    for q in ('"""', "'''", '"', "'"):
        if s.startswith(q) and s.endswith(q) and len(s) >= 2 * len(q):
            s = s[len(q):-len(q)]
            break
    lines = s.strip().splitlines()
    if len(lines) > 1:
        indent = min((len(x) - len(x.lstrip()) for x in lines[1:] if x.strip()), default=0)
        lines = [lines[0]] + [x[indent:] for x in lines[1:]]
    return "\n".join(lines).strip()[:_MAX_DOC]


def _innermost(defs: list[_Def], starts: list[int], byte: int) -> str:
    """Qualname of the innermost definition containing `byte` (defs sorted by start).

    The last definition starting at or before `byte` either contains it or has the
    container among its ancestors, since definitions nest.
    """
    d = defs[i] if (i := bisect_right(starts, byte) - 1) >= 0 else None
    while d is not None and d.end_byte <= byte:
        d = d.parent
    return d.qualname if d is not None else ""


def _references(matches: list, data: bytes, defs: list[_Def], def_names: set[int],
                spec: LanguageSpec) -> list[tuple]:
    """References as tuples in the field order of records.Reference."""
    starts = [d.start_byte for d in defs]
    found: dict[tuple[str, int, str], tuple] = {}
    for kind, node, caps in matches:
        name_nodes = caps.get("name")
        name_node = name_nodes[0] if name_nodes else None
        module_nodes = caps.get("module")
        module_node = module_nodes[0] if module_nodes else None
        if name_node is None:
            if module_node is None:
                continue
            anchor = module_node
        else:
            if kind == "type" and (name_node.start_byte in def_names
                                   or name_node.parent.type in _TYPE_PARAMETERS):
                continue  # the name of a definition (or a type parameter) is not a use of it
            anchor = name_node
        module = _text(data, module_node) if module_node is not None else ""
        alias = _text(data, caps["alias"][0]) if "alias" in caps else ""
        scope = _text(data, caps["scope"][0])[:_MAX_SCOPE] if "scope" in caps else ""
        enclosing = _innermost(defs, starts, node.start_byte)
        (line, col), (end_line, end_col) = anchor.start_point, anchor.end_point
        if kind == "import" and spec.use_trees and name_node is not None and name_node.type in _RUST_USE_NODES:
            names = list(_expand_rust_use(name_node, data, ""))
        else:
            names = [(_text(data, name_node) if name_node is not None else module, alias)]
        for name, al in names:
            key = (kind, anchor.start_byte, name)
            prev = found.get(key)
            if prev is not None and len(prev[6]) >= len(scope):
                continue
            found[key] = (name, kind, line + 1, col, end_line + 1, end_col, scope, module, al, enclosing)
    return sorted(found.values(), key=lambda r: (r[2], r[3], r[1], r[0]))


_TYPE_PARAMETERS = frozenset({"type_parameter", "type_parameter_declaration", "type_parameters",
                              "constrained_type_parameter", "optional_type_parameter_declaration",
                              "variadic_type_parameter_declaration"})
_RUST_USE_NODES = frozenset({"scoped_identifier", "identifier", "use_as_clause", "use_list",
                             "scoped_use_list", "use_wildcard", "crate", "self", "super"})


def _expand_rust_use(node, data: bytes, prefix: str):
    """`use a::{b, c::d as e}` -> (a::b, ""), (a::c::d, "e")."""
    t = node.type
    join = (lambda s: f"{prefix}::{s}" if prefix else s)
    if t == "use_as_clause":
        path = node.child_by_field_name("path")
        alias = node.child_by_field_name("alias")
        yield join(_text(data, path)), _text(data, alias) if alias is not None else ""
    elif t == "scoped_use_list":
        path = node.child_by_field_name("path")
        inner = join(_text(data, path)) if path is not None else prefix
        lst = node.child_by_field_name("list")
        if lst is not None:
            yield from _expand_rust_use(lst, data, inner)
    elif t == "use_list":
        for child in node.named_children:
            yield from _expand_rust_use(child, data, prefix)
    else:  # a path, `*` (use_wildcard), crate/self/super
        yield join(_text(data, node)), ""


# Rust's macro arguments are token trees that tree-sitter leaves unparsed, so the calls in
# format!(...), println!(...), assert_eq!(...) or vec![...] would be nobody's references. They
# are read by a second parse of the file's macro invocations alone (the parser's included
# ranges), each made a call statement (`format!(...)` -> `format (...);`, nested ones too)
# at its own byte offsets, so lines, columns and enclosing definitions are the file's own.
# Brace-delimited invocations (`lazy_static! { ... }`, `quote! { ... }`) are their own
# syntax, not arguments, and are left alone.
_MACRO_KINDS = frozenset({"call", "type"})


def _macro_argument_matches(language: str, ref_matches: list, data: bytes) -> list:
    """Reference matches (call and type uses) inside the arguments of the macro invocations
    among `ref_matches`, from a second parse. _references reads them with the file's own
    bytes (a scope shows `vec![..]`, as written) and counts a macro's name, which both
    parses see, once."""
    import tree_sitter

    kept = []
    invocations = {m.start_byte: m for _, m, _ in ref_matches if m.type == "macro_invocation"}
    for _, m in sorted(invocations.items()):
        args = m.children[-1]
        if args.type == "token_tree" and data[args.start_byte:args.start_byte + 1] != b"{" \
                and not (kept and kept[-1].end_byte > m.start_byte):
            kept.append(m)
    if not kept:
        return []
    buf = bytearray(data)
    ranges = []
    for i, m in enumerate(kept):
        _unbang(buf, m.children)
        ranges.append(tree_sitter.Range(m.start_point, m.end_point, m.start_byte, m.end_byte))
        # Each invocation its own statement: a `;` on the first byte after it that is no
        # newline (one at its line's end has the next line's indentation)
        stop = kept[i + 1].start_byte if i + 1 < len(kept) else len(buf)
        at = m.end_byte
        while at < stop and buf[at] == 0x0A:
            at += 1
        if at < stop:
            buf[at] = 0x3B
            row = m.end_point[0] + (at - m.end_byte)
            col = m.end_point[1] if at == m.end_byte else 0
            ranges.append(tree_sitter.Range((row, col), (row, col + 1), at, at + 1))
    parser = _parser(language, "macro arguments")
    parser.included_ranges = ranges
    _, matches = _split_matches(language, parser.parse(bytes(buf)).root_node)
    return [x for x in matches if x[0] in _MACRO_KINDS]


def _unbang(buf: bytearray, children) -> None:
    """Blanks the `!` of each macro call among these tokens (and in their token trees)."""
    for i, c in enumerate(children):
        if c.type == "!" and 0 < i < len(children) - 1 and children[i + 1].type == "token_tree" \
                and children[i - 1].type in ("identifier", "scoped_identifier"):
            buf[c.start_byte] = 0x20
        elif c.type == "token_tree":
            _unbang(buf, c.children)


# C and C++: a line that is nothing but a macro, its name in capitals (FMT_BEGIN_NAMESPACE,
# ABSL_NAMESPACE_BEGIN, G_BEGIN_DECLS, Q_OBJECT, an attribute macro on the line above a
# function) or a call of one without a `;` (G_DEFINE_TYPE (Foo, foo, G_TYPE_OBJECT)), expands
# to what tree-sitter cannot see, and it reads the code after it wrongly: a namespace, a class
# or every definition after it lost to syntax errors. When a file has errors, it is parsed
# again with those lines blanked (the same bytes as spaces, so every position is the file's
# own and names, chunks and scopes are read from its own text) and that tree kept if its
# errors swallow fewer bytes. A call followed by a line opening with `{` (past blank and
# comment lines) is a definition's head (K&R style, a test macro), not blanked.
_BARE_MACRO = re.compile(
    rb"^[ \t]*[A-Z_][A-Z0-9_]*[A-Z0-9][ \t]*(?:\((?:[^()\n]|\([^()\n]*\))*\))?[ \t]*(?://[^\n]*)?\r?$"
    rb"(?!\n(?:[ \t]*(?:(?://|/\*|\*)[^\n]*)?\r?\n)*[ \t]*\{)", re.M)


# C and C++: an export or attribute macro between `class` (`struct`, `union`) and the name
# (`class ABSL_LOCKABLE Mutex {`, `class GTEST_API_ Test : public Base`, `struct Q_CORE_EXPORT
# Point {`) reads as a function named Mutex returning `class ABSL_LOCKABLE`: the class, its
# methods' qualified names and often the definitions after it are lost. Such a macro, in
# capitals and followed by a name and then the body or a base clause, is blanked before the
# parse (spaces, so positions are the file's own; names and signatures keep the macro).
_CLASS_MACRO = re.compile(
    rb"\b(?:class|struct|union)[ \t]+([A-Z_][A-Z0-9_]*[A-Z0-9_])[ \t]+"
    rb"(?=(?!final\b)[A-Za-z_]\w*\s*(?:final\b\s*)?(?:\{|:(?!:)))")


def _without_class_macros(data: bytes) -> bytes:
    if b"class" not in data and b"struct" not in data and b"union" not in data:
        return data
    return _blanked(data, _CLASS_MACRO, 1) or data


def _blanked(data: bytes, pattern: re.Pattern, group: int = 0) -> bytes | None:
    """`data` with each match's `group` turned to spaces (every position kept), or None
    when nothing matches."""
    buf = None
    for m in pattern.finditer(data):
        if buf is None:
            buf = bytearray(data)
        buf[m.start(group):m.end(group)] = b" " * (m.end(group) - m.start(group))
    return None if buf is None else bytes(buf)


def _without_bare_macros(language: str, data: bytes, root, errors: list):
    """(root, its error nodes) of the better parse: the file's own, or with its bare macro
    lines blanked."""
    blanked = _blanked(data, _BARE_MACRO)
    if blanked is None:
        return root, errors
    other = _parser(language).parse(blanked).root_node
    other_errors = error_nodes(other)
    if _swallowed(other_errors) >= _swallowed(errors):
        return root, errors
    return other, other_errors


def _swallowed(errors: list) -> int:
    """How much of the file its errors swallow: the bytes of its ERROR nodes, and one for each
    MISSING one (fewer errors can lose more: one ERROR around a whole class)."""
    return sum(1 if n.is_missing else max(1, n.end_byte - n.start_byte) for n in errors)


def error_nodes(root) -> list:
    """ERROR and MISSING nodes, without descending into error-free subtrees (or into an ERROR)."""
    found = []
    stack = [root] if root.has_error else []
    while stack:
        n = stack.pop()
        if n.is_error or n.is_missing:
            found.append(n)
        elif n.has_error:
            stack.extend(n.children)
    return found


def _symbols(defs: list[_Def]) -> list[tuple]:
    """Definitions as tuples in the field order of records.Symbol."""
    return [(d.name, d.qualname, d.kind, d.start_line, d.start_col, d.end_line, d.end_col,
             d.signature, d.doc, d.parent.qualname if d.parent else "") for d in defs]


def _finish(record: FileRecord, text: str, lines: list[str], estimates: list[int], symbols: list[tuple],
            refs: list[tuple], pieces: list[Piece], errors: int) -> ParsedFile:
    chunks = []
    for p in pieces:
        body = "\n".join(lines[p.start - 1:p.end])
        symbols_text = " ".join(p.symbols)
        chunks.append((
            p.start, p.end, p.symbol, p.kind, symbols_text, body,
            content_hash(body.encode("utf-8")), sum(estimates[p.start - 1:p.end]),
            identifier_parts(symbols_text or p.symbol), identifier_parts(body),
        ))
    terms = list(term_counts(text, record.path).items())
    return ParsedFile(record=record, symbols=symbols, references=refs, chunks=chunks, parse_errors=errors,
                      terms=terms)
