"""C and C++ the grammars cannot read as written: `.h` headers that hold C++ (read with the
C++ grammar, indexer.languages.header_language), lines that are only a macro (blanked when the
file does not parse without, indexer/parse.py) and out-of-line members of class templates."""

from __future__ import annotations

import pytest

from assistant.edits import check_syntax
from indexer.languages import header_language
from indexer.options import IndexOptions
from indexer.parse import parse_source
from indexer.records import FileRecord, Symbol
from tests.conftest import git_repo, index, reader

BOTH = ("c", "cpp")


def parsed(source: str, language: str, path: str = "include/a.h"):
    data = source.encode()
    return parse_source(path, language, data, IndexOptions(), FileRecord(path, language, len(data), 0, ""))


def definitions(source: str, language: str) -> list[tuple[str, str]]:
    return [(s.qualname, s.kind) for s in (Symbol(*t) for t in parsed(source, language).symbols)]


C_HEADER = """#ifndef LIST_H
#define LIST_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
struct list_node { int value; struct list_node *next; };
int list_push(struct list_node *list, int value);
#ifdef __cplusplus
}
#endif
#endif
"""


@pytest.mark.parametrize("source", [
    "namespace geo {\nint f();\n}\n",
    "namespace a::b {\n}\n",
    "namespace\n{\nint hidden;\n}\n",
    "namespace fs = std::filesystem;\n",
    "FMT_BEGIN_NAMESPACE\ntemplate <typename T> struct box {};\n",
    "class Shape {\n public:\n  double area() const;\n};\n",
    "class Shape\n{\n};\n",
    "class Shape;\n",
    "struct Circle : Shape {\n  private:\n  double r;\n};\n",
    "using namespace std;\n",
    "#include <vector>\nint n;\n",
    'extern "C++" {\nint g();\n}\n',
    "struct Point : public Base {\n  Point() = default;\n};\n",
    "inline namespace v1 {\n}\n",
    "enum class Color : int { red };\n",
    "#include <QString>\n",
    "#include <boost/optional.hpp>\n",
    "namespace geo\r\n{\r\n}\r\n",
    "class GEO_API Shape : public Base {\n",
])
def test_a_header_holding_cpp_is_cpp(source):
    assert header_language("include/geo/shape.h", "c", source.encode(), BOTH) == "cpp"


@pytest.mark.parametrize("source", [
    C_HEADER,
    "/* the namespace of a class of lists */\nint list_sum(void);\n",
    "#include <stdio.h>\n#include <sys/types.h>\nstruct class_info { int template; };\n",
    # prose in a comment is no C++
    "/* Every node belongs to one\n   class of lists. */\nstruct list_head *new;\n",
    "/*\n   namespace\n   public: functions below\n   template <name> is a word\n*/\nint x;\n",
])
def test_a_c_header_stays_c(source):
    assert header_language("src/list.h", "c", source.encode(), BOTH) == "c"


def test_only_headers_read_as_c_are_looked_at():
    cpp = b"namespace geo {\n}\n"
    assert header_language("src/shape.c", "c", cpp, BOTH) == "c"  # a .c file is C, whatever it holds
    assert header_language("src/shape.hpp", "cpp", C_HEADER.encode(), BOTH) == "cpp"
    assert header_language("src/shape.h", "c", cpp, ("c",)) == "c"  # C++ not enabled


def test_an_index_reads_a_cpp_header_as_cpp_and_a_c_header_as_c(tmp_path):
    root = git_repo(tmp_path / "r", {
        "include/geo/shape.h": ("#pragma once\nnamespace geo {\nclass Shape {\n public:\n"
                                "  virtual double area() const = 0;\n  double twice() const { return 2 * area(); }\n"
                                "};\n}  // namespace geo\n"),
        "src/list.h": C_HEADER,
        "src/list.c": '#include "list.h"\nint list_push(struct list_node *list, int value) { return value; }\n',
    })
    index(root)
    store = reader(root)
    try:
        languages = dict(store.conn.execute("SELECT path, language FROM files"))
        names = {r[0] for r in store.conn.execute(
            "SELECT s.qualname FROM symbols s JOIN files f ON f.id = s.file_id WHERE f.path = ?",
            ("include/geo/shape.h",))}
        errors = dict(store.conn.execute("SELECT path, parse_errors FROM files"))
    finally:
        store.close()
    assert languages["include/geo/shape.h"] == "cpp"
    assert languages["src/list.h"] == "c"
    assert {"geo", "geo.Shape", "geo.Shape.area", "geo.Shape.twice"} <= names
    assert errors["include/geo/shape.h"] == 0


def test_a_namespace_macro_no_longer_swallows_the_class_after_it():
    src = (
        "FMT_BEGIN_NAMESPACE\n"
        "FMT_BEGIN_EXPORT\n"
        "template <typename Char> class basic_string_view {\n"
        " public:\n"
        "  size_t size() const { return size_; }\n"
        " private:\n"
        "  size_t size_;\n"
        "};\n"
        "FMT_END_EXPORT\n"
        "int free_fn(int a) { return a; }\n"
        "FMT_END_NAMESPACE\n"
    )
    got = parsed(src, "cpp")
    assert got.parse_errors == 0
    defs = [(s.qualname, s.kind, s.start_line, s.end_line) for s in (Symbol(*t) for t in got.symbols)]
    assert ("basic_string_view", "class", 3, 8) in defs
    assert ("basic_string_view.size", "method", 5, 5) in defs
    assert ("free_fn", "function", 10, 10) in defs
    # the chunks keep the file's own text, macro lines included
    assert "FMT_BEGIN_EXPORT\ntemplate <typename Char>" in "\n".join(c[5] for c in got.chunks)


def test_a_macro_inside_a_namespace_keeps_the_namespace():
    src = (
        "namespace absl {\n"
        "ABSL_NAMESPACE_BEGIN\n"
        "class Notification {\n"
        " public:\n"
        "  bool HasBeenNotified() const { return notified_; }\n"
        " private:\n"
        "  bool notified_;\n"
        "};\n"
        "ABSL_NAMESPACE_END\n"
        "}  // namespace absl\n"
    )
    assert ("absl.Notification.HasBeenNotified", "method") in definitions(src, "cpp")


def test_c_macro_lines_are_blanked_but_a_definition_head_is_not():
    src = (
        "#include <glib-object.h>\n"
        "G_BEGIN_DECLS\n"
        "typedef struct _Foo Foo;\n"
        "G_DEFINE_TYPE (Foo, foo, G_TYPE_OBJECT)\n"
        "static void foo_init (Foo *self) { self->x = 0; }\n"
        "static int\n"
        "MAX_OF(int a, int b)\n"  # a function whose name is in capitals, its body on the next line
        "{\n"
        "    return a > b ? a : b;\n"
        "}\n"
        "G_END_DECLS\n"
    )
    got = parsed(src, "c", "src/foo.c")
    assert got.parse_errors == 0
    defs = [(s.qualname, s.kind, s.start_line) for s in (Symbol(*t) for t in got.symbols)]
    assert ("foo_init", "function", 5) in defs
    assert ("MAX_OF", "function", 6) in defs


def test_a_definition_head_is_not_blanked_past_comment_and_blank_lines():
    src = "TEST(Suite, Case)\n// checks the case\n\n{ run(); }\nFOO_BEGIN_DECLS\nint after(void) { return 1; }\n"
    assert ("TEST", "function") in definitions(src, "cpp")
    assert ("after", "function") in definitions(src, "cpp")


def test_a_file_that_parses_keeps_its_own_reading():
    # BLUE alone on its line is an enumerator, not a macro: the file has no errors, so nothing
    # is blanked and its references stay
    src = "enum color {\n    RED,\n    BLUE\n};\nint pick(void) { return paint(BLUE); }\n"
    got = parsed(src, "c", "src/color.c")
    assert got.parse_errors == 0
    assert any(r[0] == "paint" for r in got.references)


def test_an_export_macro_between_class_and_its_name_keeps_the_class():
    src = (
        "class ABSL_LOCKABLE Mutex {\n"
        " public:\n"
        "  void Lock();\n"
        "  int count() const { return n_; }\n"
        "};\n"
        "class GTEST_API_ Test final\n"
        "    : public Base {\n"
        "  virtual void SetUp();\n"
        "};\n"
        "struct Q_CORE_EXPORT Point { int x; };\n"
        "class FOO final { void f(); };\n"  # a class named in capitals is not a macro
        "struct BIG_T value = {0};\n"  # nor a struct tag before a variable
        "void Mutex::Lock() { n_++; }\n"
    )
    got = parsed(src, "cpp")
    defs = [(s.qualname, s.kind, s.start_line) for s in (Symbol(*t) for t in got.symbols)]
    for want in [("Mutex", "class", 1), ("Mutex.count", "method", 4), ("Test", "class", 6),
                 ("Test.SetUp", "method", 8), ("Point", "struct", 10), ("FOO", "class", 11), ("FOO.f", "method", 11)]:
        assert want in defs, (want, defs)
    assert got.parse_errors == 0
    mutex = next(Symbol(*t) for t in got.symbols if t[1] == "Mutex")
    assert "ABSL_LOCKABLE" in mutex.signature  # read from the file as written
    assert ("Test", "Base") in {(r[9], r[0]) for r in got.references if r[1] == "inherit"}
    assert definitions("struct EXPORTED node { int v; };\n", "c") == [("node", "struct")]


def test_an_out_of_line_member_of_a_class_template_belongs_to_its_class():
    src = (
        "namespace leveldb {\n"
        "template <typename Key, class Comparator>\n"
        "class SkipList {\n"
        " public:\n"
        "  void Insert(const Key& key);\n"
        "};\n"
        "template <typename Key, class Comparator>\n"
        "void SkipList<Key, Comparator>::Insert(const Key& key) { }\n"
        "}\n"
    )
    defs = [(s.qualname, s.kind, s.start_line) for s in (Symbol(*t) for t in parsed(src, "cpp").symbols)]
    assert ("leveldb.SkipList.Insert", "method", 7) in defs or ("leveldb.SkipList.Insert", "method", 8) in defs
    assert not any("<" in q for q, _, _ in defs)


def test_a_comparison_in_template_arguments_is_no_bracket():
    src = "template <int N> void A<(N > 2)>::f() {}\ntemplate <int N> void B<(N >> 1)>::g() {}\n"
    names = [q for q, _ in definitions(src, "cpp")]
    assert names == ["A.f", "B.g"]


def test_an_edit_to_a_cpp_header_is_checked_as_cpp():
    old = "namespace geo {\nclass Shape {\n public:\n  double area() const;\n};\n}\n"
    new = old.replace("double area() const;", "double area() const;\n  double perimeter() const;")
    check = check_syntax("include/geo/shape.h", old, new)
    assert check.language == "cpp"
    assert check.errors_after == 0


def test_an_edit_that_brings_cpp_into_a_c_looking_header_is_checked_as_cpp():
    old = "#pragma once\n#include <stdint.h>\nstruct Point { int32_t x, y; };\n"
    new = old + "namespace geo {\nclass Shape {\n public:\n  virtual double area() const = 0;\n};\n}\n"
    check = check_syntax("include/geo.h", old, new)
    assert (check.language, check.errors_after) == ("cpp", 0)
    assert check_syntax("include/point.h", old, old + "int norm(struct Point p);\n").language == "c"
