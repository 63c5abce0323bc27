"""Rust macro arguments: tree-sitter leaves them an unparsed token tree, and the indexer reads
the calls in them by a second parse (indexer/parse.py, _macro_argument_matches)."""

from __future__ import annotations

from indexer.options import IndexOptions
from indexer.parse import parse_source
from indexer.records import FileRecord


def refs(source: str) -> list[tuple]:
    """(name, kind, line, col, scope, enclosing) of every call and type reference."""
    data = source.encode()
    pf = parse_source("src/lib.rs", "rust", data, IndexOptions(), FileRecord("src/lib.rs", "rust", len(data), 0, ""))
    return [(r[0], r[1], r[2], r[3], r[6], r[9]) for r in pf.references if r[1] in ("call", "type")]


def at(src: str, line: int, text: str) -> tuple[int, int]:
    """(line, column) of the first `text` on 1-based `line` of `src`."""
    return line, src.splitlines()[line - 1].index(text)


def test_calls_in_arguments_nested_and_scoped():
    src = (
        "fn report(x: &Item) {\n"
        '    println!("{}", format!("{}: {}", x.label(), total(&x.parts)));\n'
        "    let v = vec![Part::new(1), make()];\n"
        '    std::assert_eq!(v.len(), 2, "{}", describe(v));\n'
        "}\n"
    )
    got = refs(src)
    assert ("label", "call", *at(src, 2, "label()"), "x", "report") in got
    assert ("total", "call", *at(src, 2, "total("), "", "report") in got
    assert ("format", "call", *at(src, 2, "format!"), "", "report") in got  # the nested macro, once
    assert ("new", "call", *at(src, 3, "new("), "Part", "report") in got
    assert ("make", "call", *at(src, 3, "make("), "", "report") in got
    assert ("len", "call", *at(src, 4, "len()"), "v", "report") in got
    assert ("describe", "call", *at(src, 4, "describe("), "", "report") in got
    assert ("assert_eq", "call", *at(src, 4, "assert_eq!"), "std", "report") in got  # a macro by its path
    # each reference once, though the second parse sees the macros' names too
    assert len(got) == len(set((r[0], r[1], r[2], r[3]) for r in got))


def test_lines_and_enclosing_kept_across_lines():
    src = (
        "impl Store {\n"
        "    fn check(&self) {\n"
        "        assert!(\n"
        "            self.ready(),\n"
        '            "not ready: {}",\n'
        "            self.name()\n"
        "        )\n"
        "    }\n"
        "}\n"
        "fn after() { plain() }\n"
    )
    got = refs(src)
    assert ("ready", "call", *at(src, 4, "ready()"), "self", "Store.check") in got
    assert ("name", "call", *at(src, 6, "name()"), "self", "Store.check") in got
    assert ("plain", "call", *at(src, 10, "plain()"), "", "after") in got


def test_brace_macros_and_macro_rules_are_left_alone():
    src = (
        "lazy_static! { static ref RE: Regex = Regex::new(pattern()).unwrap(); }\n"
        "macro_rules! twice { ($e:expr) => { helper($e); helper($e) }; }\n"
        "fn f() { twice!(g()) }\n"
    )
    got = {(r[0], r[2]) for r in refs(src)}
    assert ("g", 3) in got
    assert not {n for n, _ in got} & {"new", "pattern", "unwrap", "helper"}


def test_a_file_without_macros_or_with_arguments_that_are_no_expressions():
    assert refs("fn f() { g() }\n") == [("g", "call", 1, 9, "", "f")]
    src = "fn f() { m!(=> x.y() ,, ); c() }\nfn g() { d() }\n"
    assert refs(src) == [("m", "call", *at(src, 1, "m!"), "", "f"), ("y", "call", *at(src, 1, "y()"), "x", "f"),
                         ("c", "call", *at(src, 1, "c()"), "", "f"), ("d", "call", *at(src, 2, "d()"), "", "g")]
