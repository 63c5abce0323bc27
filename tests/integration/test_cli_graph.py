"""The graph commands of `repoqa`, run as a user runs them."""

from __future__ import annotations

from conftest import repoqa, repoqa_json, write_tree
from fixtures.graph_python import RULES

FIELDS = {"path", "line", "col", "symbol", "kind", "confidence", "resolution", "depth", "target", "of"}


def test_graph_commands_text_and_json(tmp_path):
    write_tree(tmp_path, RULES)
    repoqa("index", str(tmp_path), "--no-embed", check=True)
    defs = repoqa_json("def", "Engine.start", cwd=tmp_path)
    assert [(d["path"], d["line"], d["symbol"], d["kind"]) for d in defs] == [
        ("app/core/engine.py", 14, "Engine.start", "definition")]
    refs = repoqa_json("--repo", str(tmp_path), "refs", "helper")
    assert FIELDS <= set(refs[0])
    assert {(r["path"], r["line"], r["kind"]) for r in refs} == {
        ("app/core/engine.py", 3, "imports"), ("app/core/engine.py", 15, "calls"),
        ("main.py", 2, "imports"), ("main.py", 7, "calls")}
    assert all(r["confidence"] == 1.0 and r["resolution"] == "resolved" for r in refs)
    callers = repoqa_json("callers", "helper", "--depth", "2", cwd=tmp_path)
    assert {(c["symbol"], c["depth"]) for c in callers} >= {("Engine.start", 1), ("run", 1), ("Engine.__init__", 2)}
    text = repoqa("callers", "helper", cwd=tmp_path, check=True).stdout
    assert text.splitlines()[0].startswith("helper  (function, app/util.py:8)")
    assert "  main.py:7  run  calls helper" in text
    callees = repoqa("callees", "run", cwd=tmp_path, check=True).stdout
    assert "app/util.py:8  helper  <- calls from run" in callees
    impact = repoqa_json("impact", "app/core/plugins.py", cwd=tmp_path)
    assert [i["depth"] for i in impact] == sorted(i["depth"] for i in impact)
    assert {"main.py", "app/core/engine.py"} <= {i["path"] for i in impact}
    hops = repoqa_json("path", "test_start", "Base", cwd=tmp_path)
    assert [(h["symbol"], h["kind"], h["target"]) for h in hops] == [
        ("test_start", "calls", "Engine"), ("Engine", "inherits", "Base")]
    none = repoqa("path", "helper", "run", cwd=tmp_path, check=True).stdout
    assert "does not reach" in none


def test_bare_name_groups_every_definition(tmp_path):
    write_tree(tmp_path, {"a.py": "def go():\n    pass\n", "b.py": "def go():\n    pass\n",
                          "c.py": "import a\nimport b\n\ndef main():\n    a.go()\n    b.go()\n"})
    repoqa("index", str(tmp_path), "--no-embed", check=True)
    text = repoqa("callers", "go", cwd=tmp_path, check=True).stdout
    assert "go  (function, a.py:1)" in text and "go  (function, b.py:1)" in text
    rows = repoqa_json("callers", "go", cwd=tmp_path)
    assert sorted((r["of"], r["line"]) for r in rows) == [("a.py::go", 5), ("b.py::go", 6)]


def test_unknown_name_and_bad_position_are_clear_errors(tmp_path, tmp_path_factory):
    write_tree(tmp_path, RULES)
    repoqa("index", str(tmp_path), "--no-embed", check=True)
    res = repoqa("refs", "Engnie", cwd=tmp_path)
    assert res.returncode == 1
    assert res.stderr.strip() == "Error: no symbol named 'Engnie'; did you mean Engine?"
    res = repoqa("def", "main.py:400:1", cwd=tmp_path)
    assert res.returncode == 1 and "main.py has 9 lines" in res.stderr
    res = repoqa("callers", "helper", "--depth", "0", cwd=tmp_path)
    assert res.returncode == 2  # a usage error
    empty = tmp_path_factory.mktemp("empty")  # outside the indexed tree
    res = repoqa("--repo", str(empty), "refs", "helper")
    assert res.returncode == 1 and "run `repoqa index` first" in res.stderr
    inside = tmp_path / "empty"
    inside.mkdir()
    res = repoqa("--repo", str(inside), "refs", "helper", check=True)  # the index above it
    assert "main.py:7  run  calls helper" in res.stdout


def test_paths_are_read_from_the_current_directory_and_def_names_only_what_is_there(tmp_path):
    write_tree(tmp_path, RULES)
    repoqa("index", str(tmp_path), "--no-embed", check=True)
    core = tmp_path / "app" / "core"
    want = [("app/core/engine.py", 14, "Engine.start")]
    for spec in ("engine.py:14:8", "./engine.py:14", str(core / "engine.py") + ":14", "app/core/engine.py:14"):
        defs = repoqa_json("def", spec, cwd=core)
        assert [(d["path"], d["line"], d["symbol"]) for d in defs] == want, spec
    # a path from the root, with a column, where no such file is in the cwd
    assert [d["symbol"] for d in repoqa_json("def", "main.py:6:8", cwd=core)] == ["Engine"]
    assert [d["symbol"] for d in repoqa_json("def", "app/core/engine.py:14:8", cwd=core)] == ["Engine.start"]
    # a bare word that is a directory here is still a name; one too long for a path is too
    assert repoqa_json("callers", "helper", cwd=tmp_path / "app")[0]["of"] == "app/util.py::helper"
    res = repoqa("refs", "a" * 300, cwd=core)
    assert res.returncode == 1 and res.stderr.startswith("Error: no symbol named")
    impact = repoqa_json("impact", "plugins.py", cwd=core)
    assert {"main.py", "app/core/engine.py"} <= {i["path"] for i in impact}
    hops = repoqa_json("--repo", str(core), "path", "../../tests/test_engine.py", "Base", cwd=core)
    assert hops and hops[-1]["target"] == "Base"
    # main.py line 6 `    e = Engine()`, column 4 is on `e`: a local, not a use of a definition
    res = repoqa("def", "main.py:6:4", cwd=tmp_path)
    assert res.returncode == 1 and "nothing at main.py:6:4" in res.stderr
    assert [d["symbol"] for d in repoqa_json("def", "main.py:6:8", cwd=tmp_path)] == ["Engine"]
    assert [d["symbol"] for d in repoqa_json("def", "main.py:5:4", cwd=tmp_path)] == ["run"]  # def run():
    # other commands still take a position inside a definition for that definition
    callees = repoqa_json("callees", "main.py:6:4", cwd=tmp_path)
    assert {c["of"] for c in callees} == {"main.py::run"} and "helper" in {c["symbol"] for c in callees}
