"""C and C++ resolution: the two fixtures, checked edge by edge, and one case per rule."""

from __future__ import annotations

import shutil

from conftest import FIXTURES, graph_edges, index, write_tree

R, I, N = "resolved", "inferred", "name"


def fixture_edges(tmp_path, lang):
    root = tmp_path / lang
    shutil.copytree(FIXTURES / lang, root)
    index(root)
    return graph_edges(root)


def test_fixture_c_edges_exactly(tmp_path):
    edges = fixture_edges(tmp_path, "c")
    h, c, m = "src/list.h", "src/list.c", "src/main.c"
    assert edges == {
        (c, "imports", h, R),  # "list.h", beside the includer; <stdlib.h> is outside
        (m, "imports", h, R),
        (f"{h}::list_t", "references", f"{h}::list_node", R),
        (f"{h}::list_push", "references", f"{h}::list_t", R),
        (f"{h}::list_sum", "references", f"{h}::list_t", R),
        (f"{h}::list_free", "references", f"{h}::list_t", R),
        (f"{c}::node_new", "references", f"{h}::list_node", R),
        (f"{c}::list_push", "references", f"{h}::list_t", R),
        (f"{c}::list_push", "references", f"{h}::list_node", R),
        (f"{c}::list_push", "calls", f"{c}::node_new", R),  # static, in the same file
        (f"{c}::list_sum", "references", f"{h}::list_t", R),
        (f"{c}::list_sum", "references", f"{h}::list_node", R),
        (f"{c}::list_free", "references", f"{h}::list_t", R),
        (f"{c}::list_free", "references", f"{h}::list_node", R),
        (f"{c}::list_free", "calls", f"{h}::LIST_EMPTY", R),  # a macro of the header
        # declared in list.h, which main.c includes; defined in list.c, named after it
        (f"{m}::main", "calls", f"{c}::list_push", R),
        (f"{m}::main", "calls", f"{c}::list_sum", R),
        (f"{m}::main", "calls", f"{c}::list_free", R),
        (f"{m}::main", "references", f"{h}::list_t", R),
    }
    # calloc, free, atoi, fprintf, printf: the C library, never linked (by the equality above).


def test_fixture_cpp_edges_exactly(tmp_path):
    edges = fixture_edges(tmp_path, "cpp")
    h, s, m = "include/shape.hpp", "src/shape.cpp", "src/main.cpp"
    assert edges == {
        (s, "imports", h, R),  # "shape.hpp" from src/: found in include/
        (m, "imports", h, R),
        (m, "imports", f"{h}::geo", R),  # namespace g = geo;
        (m, "imports", f"{s}::geo.make_shape", R),  # using geo::make_shape: its definition
        (f"{h}::geo.Circle", "inherits", f"{h}::geo.Shape", R),
        (f"{h}::geo.Circle", "references", f"{h}::geo.Shape", R),
        (f"{h}::geo.Square", "inherits", f"{h}::geo.Shape", R),
        (f"{h}::geo.Square", "references", f"{h}::geo.Shape", R),
        (f"{h}::geo.make_shape", "references", f"{h}::geo.Shape", R),
        # area() unqualified in Shape::describe: the member, declared in the header
        (f"{s}::geo.Shape.describe", "calls", f"{h}::geo.Shape.area", R),
        (f"{s}::geo.make_shape", "references", f"{h}::geo.Shape", R),
        (f"{s}::geo.make_shape", "references", f"{h}::geo.Circle", R),  # make_unique<Circle>
        (f"{s}::geo.make_shape", "references", f"{h}::geo.Square", R),
        (f"{s}::geo.make_shape", "calls", f"{h}::geo.Square", R),  # new Square(..)
        (f"{m}::main", "references", f"{h}::geo.Shape", R),  # g::Shape through the alias
        (f"{m}::main", "references", f"{h}::geo.Square", R),
        (f"{m}::main", "calls", f"{s}::geo.make_shape", R),  # through the using-declaration
        (f"{m}::main", "calls", f"{m}::total_area", R),
        # s->area() and s->describe() on values of unknown type: guesses among methods,
        # one per method (its definition when it has one)
        (f"{m}::total_area", "calls", f"{h}::geo.Shape.area", N),
        (f"{m}::total_area", "calls", f"{s}::geo.Circle.area", N),
        (f"{m}::total_area", "calls", f"{h}::geo.Square.area", N),
        (f"{m}::main", "calls", f"{s}::geo.Shape.describe", N),
    }
    # std::string, std::make_unique, std::pow, the template parameter T, out.str() and
    # shapes.push_back(): nothing in the repository, never linked.


RULES = {
    # C: a header beside another, a header dir named include/, definitions in src/
    "include/geo/vec.h": (
        "#include \"util.h\"\n"
        "struct vec { double x; };\n"
        "double vec_len(const struct vec *v);\n"
    ),
    "include/geo/util.h": "int clamp(int x);\n",
    "src/util.c": "#include \"geo/util.h\"\n\nint clamp(int x) { return x < 0 ? 0 : x; }\n",
    "src/vec.c": (
        "#include \"geo/vec.h\"\n"
        "static double sq(double x) { return x * x; }\n"
        "double vec_len(const struct vec *v) { return sq(v->x) + clamp(1); }\n"
    ),
    "src/main.c": (
        "#include <stdio.h>\n"
        "#include <geo/vec.h>\n"
        "#include \"config.h\"\n"
        "int main(void) {\n"
        "    struct vec v = {3.0};\n"
        "    printf(\"%f\\n\", vec_len(&v));\n"
        "    sq(2.0);\n"
        "    undeclared(1);\n"
        "    return 0;\n"
        "}\n"
    ),
    "tools/fmt.c": "int printf(const char *f, ...) { return 0; }\nstatic double sq(double x) { return x; }\n",
    "third/a/config.h": "#define LEVEL 1\n",
    "third/b/config.h": "#define LEVEL 2\n",
    "third/a/use.c": "#include \"config.h\"\nint level(void) { return LEVEL; }\n",
    # C++: namespaces, out-of-line members, bases, this->, using-declarations, aliases
    "include/app/shape.hpp": (
        "#pragma once\n"
        "#include <vector>\n"
        "namespace app {\n"
        "class Shape {\n"
        "public:\n"
        "    virtual double area() const;\n"
        "    void log() const;\n"
        "};\n"
        "namespace detail { double pi(); }\n"
        "class Circle : public Shape {\n"
        "public:\n"
        "    double area() const override;\n"
        "    void show();\n"
        "};\n"
        "}\n"
    ),
    "src/shape.cpp": (
        "#include \"app/shape.hpp\"\n"
        "#include <algorithm>\n"
        "namespace app {\n"
        "double detail::pi() { return 3.14; }\n"
        "void Shape::log() const {}\n"
        "double Shape::area() const { return 0; }\n"
        "}\n"
        "double app::Circle::area() const { return detail::pi(); }\n"
        "void app::Circle::show() {\n"
        "    log();\n"
        "    this->area();\n"
        "    Shape::area();\n"
        "    std::sort(nullptr, nullptr);\n"
        "}\n"
    ),
    "src/main.cpp": (
        "#include \"app/shape.hpp\"\n"
        "namespace a = app;\n"
        "using app::Circle;\n"
        "int main() {\n"
        "    Circle c;\n"
        "    c.show();\n"
        "    a::Shape* s = &c;\n"
        "    s->area();\n"
        "    boost::format(\"x\");\n"
        "    return 0;\n"
        "}\n"
    ),
}


def test_c_family_rules(tmp_path):
    write_tree(tmp_path, RULES)
    index(tmp_path)
    edges = graph_edges(tmp_path)
    vh, uh, hpp = "include/geo/vec.h", "include/geo/util.h", "include/app/shape.hpp"
    vc, uc, mc, sc, mcpp = "src/vec.c", "src/util.c", "src/main.c", "src/shape.cpp", "src/main.cpp"
    assert edges == {
        # includes: beside the includer, under an include/ directory, <..> by a unique suffix
        (vh, "imports", uh, R),
        (uc, "imports", uh, R),
        (vc, "imports", vh, R),
        (mc, "imports", vh, R),  # <geo/vec.h>
        ("third/a/use.c", "imports", "third/a/config.h", R),
        # "config.h" from src/main.c: two files end with it, neither nearer: no edge
        (f"{vh}::vec_len", "references", f"{vh}::vec", R),
        (f"{vc}::vec_len", "references", f"{vh}::vec", R),
        (f"{vc}::vec_len", "calls", f"{vc}::sq", R),  # the file's own static function
        # clamp: declared in util.h, which vec.c sees through vec.h; defined in util.c
        (f"{vc}::vec_len", "calls", f"{uc}::clamp", R),
        (f"{mc}::main", "references", f"{vh}::vec", R),
        (f"{mc}::main", "calls", f"{vc}::vec_len", R),
        # sq is static in two files main.c does not include: a guess between them
        (f"{mc}::main", "calls", f"{vc}::sq", N),
        (f"{mc}::main", "calls", "tools/fmt.c::sq", N),
        # C++
        (f"{hpp}::app.Circle", "inherits", f"{hpp}::app.Shape", R),
        (f"{hpp}::app.Circle", "references", f"{hpp}::app.Shape", R),
        (sc, "imports", hpp, R),
        (f"{sc}::app.Circle.area", "calls", f"{sc}::app.detail.pi", R),  # detail:: from app::Circle
        (f"{sc}::app.Circle.show", "calls", f"{sc}::app.Shape.log", R),  # a member of the base
        (f"{sc}::app.Circle.show", "calls", f"{sc}::app.Circle.area", R),  # this->area()
        (f"{sc}::app.Circle.show", "calls", f"{sc}::app.Shape.area", R),  # Shape::area()
        (mcpp, "imports", hpp, R),
        (mcpp, "imports", f"{hpp}::app", R),  # namespace a = app;
        (mcpp, "imports", f"{hpp}::app.Circle", R),  # using app::Circle;
        (f"{mcpp}::main", "references", f"{hpp}::app.Circle", R),
        (f"{mcpp}::main", "references", f"{hpp}::app.Shape", R),  # a::Shape
        (f"{mcpp}::main", "calls", f"{sc}::app.Circle.show", N),  # c.show()
        (f"{mcpp}::main", "calls", f"{sc}::app.Shape.area", N),  # s->area()
        (f"{mcpp}::main", "calls", f"{sc}::app.Circle.area", N),
    }
    # Not linked (by the equality above): printf in main.c, although tools/fmt.c defines one
    # (main.c sees only <stdio.h>'s); undeclared(); std::sort; boost::format, from a
    # namespace the repository does not define; <stdio.h>, <vector>, <algorithm>.


def test_c_definitions_preferred_to_declarations(tmp_path):
    write_tree(tmp_path, {
        "lib/core/io.h": "int io_read(void);\nint io_close(void);\n",
        "lib/core/io_posix.c": "#include \"io.h\"\nint io_read(void) { return 0; }\n",
        "lib/core/fast.h": "static inline int fast(void) { return 1; }\n",
        "other/fast2.c": "int fast(void) { return 2; }\n",
        "app/x.c": (
            "#include \"core/io.h\"\n"  # no include/ directory: the only file ending with it
            "#include \"core/fast.h\"\n"
            "int run(void) { return io_read() + io_close() + fast(); }\n"
        ),
    })
    index(tmp_path)
    edges = graph_edges(tmp_path)
    assert {e for e in edges if e[0].startswith("app/")} == {
        ("app/x.c", "imports", "lib/core/io.h", R),
        ("app/x.c", "imports", "lib/core/fast.h", R),
        # defined in a file not named after the header: the only definition, inferred
        ("app/x.c::run", "calls", "lib/core/io_posix.c::io_read", I),
        # declared and defined nowhere else: the declaration the caller sees
        ("app/x.c::run", "calls", "lib/core/io.h::io_close", R),
        # the inline definition the caller includes, not another file's function of that name
        ("app/x.c::run", "calls", "lib/core/fast.h::fast", R),
    }
