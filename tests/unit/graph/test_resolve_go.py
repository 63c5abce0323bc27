"""Go resolution: the inventory fixture, checked edge by edge, and one case per rule."""

from __future__ import annotations

import shutil

from conftest import FIXTURES, graph_edges, index, write_tree

R, I, N = "resolved", "inferred", "name"


def test_fixture_inventory_edges_exactly(tmp_path):
    root = tmp_path / "go"
    shutil.copytree(FIXTURES / "go", root)
    index(root)
    edges = graph_edges(root)
    m, s, i = "main.go", "store/store.go", "store/item.go"
    assert {e for e in edges if e[3] != N} == {
        # inv "example.com/inventory/store": go.mod's module path + the directory
        (m, "imports", "store/", R),
        (f"{m}::auditedStore", "inherits", f"{s}::Store", R),  # embedded *inv.Store
        (f"{m}::auditedStore", "references", f"{s}::Store", R),
        (f"{m}::auditedStore.Add", "references", f"{m}::auditedStore", R),  # the receiver
        (f"{m}::report", "references", f"{i}::Reader", R),  # inv.Reader
        (f"{m}::main", "calls", f"{m}::auditedStore", R),  # &auditedStore{...}
        (f"{m}::main", "references", f"{m}::auditedStore", R),
        (f"{m}::main", "calls", f"{s}::New", R),  # inv.New()
        (f"{m}::main", "calls", f"{m}::report", R),
        (f"{i}::Reader.Get", "references", f"{i}::Item", R),
        (f"{i}::Item.String", "references", f"{i}::Item", R),
        # the package scope spans the package's files: Item is declared in item.go
        (f"{s}::Store", "references", f"{i}::Item", R),
        (f"{s}::New", "references", f"{s}::Store", R),
        (f"{s}::New", "calls", f"{s}::Store", R),  # &Store{...}
        (f"{s}::New", "references", f"{i}::Item", R),
        (f"{s}::Store.Add", "references", f"{s}::Store", R),
        (f"{s}::Store.Add", "calls", f"{i}::Item", R),  # Item{...}
        (f"{s}::Store.Add", "references", f"{i}::Item", R),
        (f"{s}::Store.Get", "references", f"{s}::Store", R),
        (f"{s}::Store.Get", "references", f"{i}::Item", R),
    }
    # Methods of values whose type the index does not know: every method of that name.
    # errors.New, fmt.Sprintf, log.Fatal, s.mu.Lock(): the standard library, never guessed.
    assert {e for e in edges if e[3] == N} == {
        (f"{m}::auditedStore.Add", "calls", f"{s}::Store.Add", N),  # a.Store.Add (and itself)
        (f"{m}::report", "calls", f"{i}::Reader.Get", N),  # r.Get
        (f"{m}::report", "calls", f"{s}::Store.Get", N),
        (f"{m}::report", "calls", f"{i}::Item.String", N),  # it.String()
        (f"{m}::main", "calls", f"{s}::Store.Add", N),  # s.Add
        (f"{m}::main", "calls", f"{m}::auditedStore.Add", N),
    }


RULES = {
    "go.mod": "module example.com/app\n\ngo 1.22\n",
    "app.go": "package app\n\nfunc Version() string { return \"1\" }\n",
    "app_test.go": "package app\n\nfunc fixture() string { return Version() }\n",
    "cmd/run/main.go": (
        "package main\n\n"
        "import (\n"
        "\t\"errors\"\n"
        "\t\"fmt\"\n\n"
        "\t\"example.com/app\"\n"
        "\tm \"example.com/app/internal/model\"\n"
        "\t. \"example.com/app/internal/util\"\n"
        "\t_ \"example.com/app/internal/plugin\"\n"
        "\told \"example.com/app/tools/gen\"\n"
        "\t\"example.com/tools/gen\"\n"
        "\t\"gopkg.in/yaml.v3\"\n"
        ")\n\n"
        "func main() {\n"
        "\tfmt.Println(app.Version())\n"
        "\tc := m.New()\n"
        "\tc.Inc()\n"
        "\tm.Counter.Inc(c)\n"
        "\tm.Wrapped.Reset(m.Wrapped{})\n"
        "\tm.ResetCloser.Reset(nil)\n"
        "\t_ = errors.New(\"x\")\n"
        "\t_, _ = yaml.Marshal(c)\n"
        "\tHelp()\n"
        "\told.Run()\n"
        "\tgen.Run()\n"
        "\t_ = m.onlyInTests()\n"
        "\t_ = len(\"abc\") + max(1, 2)\n"
        "}\n"
    ),
    "internal/model/counter.go": (
        "package model\n\n"
        "type Counter struct{ n int }\n\n"
        "func New() *Counter { return &Counter{} }\n\n"
        "func (c *Counter) Inc() { c.n = clamp(c.n + 1) }\n\n"
        "func (c *Counter) Marshal() ([]byte, error) { return nil, nil }\n"
    ),
    "internal/model/util.go": (
        "package model\n\n"
        "func clamp(n int) int { _ = platform(); return max(n, 0) }\n\n"
        "func max(a, b int) int {\n\tif a > b {\n\t\treturn a\n\t}\n\treturn b\n}\n\n"
        "type Resetter interface{ Reset() }\n\n"
        "type ResetCloser interface {\n\tResetter\n\tClose() error\n}\n\n"
        "type Wrapped struct {\n\t*Counter\n}\n\n"
        "func (c *Counter) Reset() { c.n = 0 }\n"
    ),
    "internal/model/os_linux.go": "package model\n\nfunc platform() string { return \"linux\" }\n",
    "internal/model/os_windows.go": "package model\n\nfunc platform() string { return \"windows\" }\n",
    "internal/model/counter_test.go": "package model\n\nfunc onlyInTests() int { return clamp(3) }\n",
    "internal/model/export_test.go": "package model_test\n\nfunc TestX() { New() }\n",
    "internal/util/util.go": "package util\n\nfunc Help() {}\n",
    "internal/plugin/plugin.go": "package plugin\n\nfunc init() {}\n",
    "tools/go.mod": "module example.com/tools\n",
    "tools/gen/gen.go": "package gen\n\nfunc Run() {}\n",
}


def test_go_rules(tmp_path):
    write_tree(tmp_path, RULES)
    index(tmp_path)
    edges = graph_edges(tmp_path)
    main, c, u = "cmd/run/main.go", "internal/model/counter.go", "internal/model/util.go"
    want = {
        # imports: the package directory; the root package, which has no directory node, is
        # its non-test files; `.` and `_` imports are imports too. tools/ is a module of its
        # own: example.com/tools/gen is there, example.com/app/tools/gen is nowhere.
        (main, "imports", "app.go", R),
        (main, "imports", "internal/model/", R),
        (main, "imports", "internal/util/", R),
        (main, "imports", "internal/plugin/", R),
        (main, "imports", "tools/gen/", R),
        # pkg.Name through the import's name or alias, into any file of the package
        (f"{main}::main", "calls", "app.go::Version", R),
        (f"{main}::main", "calls", f"{c}::New", R),
        (f"{main}::main", "calls", "tools/gen/gen.go::Run", R),
        (f"{main}::main", "calls", f"{u}::Wrapped", R),  # m.Wrapped{}
        (f"{main}::main", "references", f"{u}::Wrapped", R),
        # a dot import puts the package's names in the file's scope
        (f"{main}::main", "calls", "internal/util/util.go::Help", R),
        # method expressions: declared on the type, or promoted from what it embeds
        (f"{main}::main", "calls", f"{c}::Counter.Inc", R),
        (f"{main}::main", "calls", f"{u}::Counter.Reset", R),  # Wrapped embeds *Counter
        (f"{main}::main", "calls", f"{u}::Resetter.Reset", R),  # ResetCloser embeds Resetter
        # x.M() on a variable: by name among methods
        (f"{main}::main", "calls", f"{c}::Counter.Inc", N),
        # the package scope: every file of the package, and it shadows the builtin max
        (f"{c}::New", "calls", f"{c}::Counter", R),
        (f"{c}::New", "references", f"{c}::Counter", R),
        (f"{c}::Counter.Inc", "references", f"{c}::Counter", R),
        (f"{c}::Counter.Inc", "calls", f"{u}::clamp", R),
        (f"{c}::Counter.Marshal", "references", f"{c}::Counter", R),
        (f"{u}::clamp", "calls", f"{u}::max", R),
        # one definition per build constraint: each is a candidate
        (f"{u}::clamp", "calls", "internal/model/os_linux.go::platform", I),
        (f"{u}::clamp", "calls", "internal/model/os_windows.go::platform", I),
        (f"{u}::ResetCloser", "inherits", f"{u}::Resetter", R),
        (f"{u}::ResetCloser", "references", f"{u}::Resetter", R),
        (f"{u}::Wrapped", "inherits", f"{c}::Counter", R),
        (f"{u}::Wrapped", "references", f"{c}::Counter", R),
        (f"{u}::Counter.Reset", "references", f"{c}::Counter", R),
        # a test file of the package sees the package (and is a test of what it calls)
        ("internal/model/counter_test.go::onlyInTests", "calls", f"{u}::clamp", R),
        ("internal/model/counter_test.go::onlyInTests", "tests", f"{u}::clamp", R),
        ("app_test.go::fixture", "calls", "app.go::Version", R),
        ("app_test.go::fixture", "tests", "app.go::Version", R),
    }
    assert edges == want
    # Not linked, by the rules above: errors.New (standard library, not model.New),
    # yaml.Marshal (a dependency, not Counter.Marshal), max in main (the builtin, not
    # model's), old.Run (no such package), m.onlyInTests (declared in a test file), New()
    # in package model_test (another package, which must import model), len.
    for name in ("max", "Marshal", "onlyInTests", "app_test.go"):
        assert not any(e[0].startswith(main) and e[2].endswith(name) for e in edges)
    assert not any(e[0].startswith("internal/model/export_test.go") for e in edges)


def test_without_go_mod_import_paths_are_inferred(tmp_path):
    write_tree(tmp_path, {
        "go.mod": "module example.com/app\n",
        "main.go": (
            "package main\n\n"
            "import (\n\t\"fmt\"\n\t\"example.com/app/lib\"\n\t\"github.com/other/lib2\"\n)\n\n"
            "func main() { fmt.Println(lib.F()); lib2.F() }\n"
        ),
        "lib/lib.go": "package lib\n\nfunc F() int { return 1 }\n",
    })
    index(tmp_path, index_text_files=False)  # go.mod is not indexed
    assert graph_edges(tmp_path) == {
        ("main.go", "imports", "lib/", I),  # the directory that ends the import path
        ("main.go::main", "calls", "lib/lib.go::F", I),
    }
