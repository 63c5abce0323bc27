"""An incremental graph update must end where a full rebuild from the same files ends, while
resolving only the references a change can affect."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import index, reader, write_tree
from fixtures.graph_python import RULES

from graph.build import sync_graph
from indexer.store import Store
from indexer.update import index_dir_for

_EDGES = (
    "SELECT coalesce(fa.path, a.qualname || '/'), a.qualname, a.file_id, e.kind, round(e.confidence, 4), "
    "coalesce(fb.path, b.qualname || '/'), b.qualname, b.file_id, e.line, e.col FROM {edges} e "
    "JOIN {nodes} a ON a.id = e.src JOIN {nodes} b ON b.id = e.dst "
    "LEFT JOIN files fa ON fa.id = a.file_id LEFT JOIN files fb ON fb.id = b.file_id WHERE e.kind != 'cochange'")


def _label(path, qual, fid):
    return path if fid == 0 or not qual else f"{path}::{qual}"


def _edges(conn, edges="graph_edges", nodes="graph_nodes") -> Counter:
    """Every edge with its confidence and site, counted (a duplicate edge is a difference)."""
    return Counter((_label(pa, qa, fa), k, _label(pb, qb, fb), c, line, col)
                   for pa, qa, fa, k, c, pb, qb, fb, line, col in conn.execute(_EDGES.format(edges=edges, nodes=nodes)))


def current_edges(root) -> Counter:
    store = reader(root)
    try:
        return _edges(store.conn)
    finally:
        store.close()


def rebuilt_edges(root) -> Counter:
    """The edges a full rebuild makes from the index as it is now (rolled back afterwards)."""
    store = Store.open_writer(index_dir_for(root))
    try:
        store.conn.execute("BEGIN IMMEDIATE")
        sync_graph(store, None, full=True)
        got = _edges(store.conn)
        store.conn.execute("ROLLBACK")
    finally:
        store.close()
    assert got
    return got


EDITS = [
    # a body edit: no name appears or disappears
    ("body", {"app/util.py": RULES["app/util.py"].replace("return 2", "return 3")}, []),
    # a method renamed: the self.shared() call in another file loses its target
    ("rename method", {"app/util.py": RULES["app/util.py"].replace("def shared", "def common")}, []),
    # ... and a caller follows the rename
    ("caller follows", {"app/core/engine.py": RULES["app/core/engine.py"].replace("self.shared()", "self.common()")}, []),
    # a new module, imported instead of the old one
    ("new module", {
        "app/extra.py": "def helper():\n    return 4\n",
        "app/core/engine.py": RULES["app/core/engine.py"].replace("self.shared()", "self.common()")
        .replace("from ..util import helper, Base", "from ..extra import helper\nfrom ..util import Base"),
    }, []),
    # a module deleted: its importers lose their edges
    ("delete module", {}, ["app/core/plugins.py"]),
    # ... and recreated
    ("recreate module", {"app/core/plugins.py": "def load():\n    return [1]\n"}, []),
    # a package re-export added: `from app import X` elsewhere starts to resolve
    ("re-export", {
        "app/__init__.py": RULES["app/__init__.py"] + "from .core.plugins import load\n",
        "main.py": RULES["main.py"] + "\nfrom app import load\n\ndef again():\n    load()\n",
    }, []),
    # a method defined twice under one name (an overload, a conditional definition) and
    # called on a value of unknown type: guessed once per name, lazily or preloaded
    ("duplicate names", {
        "app/dups.py": "class D:\n    def dup(self):\n        pass\n\n    def dup(self):\n        pass\n",
        "main.py": RULES["main.py"] + "\nfrom app import load\n\ndef again(x):\n    load()\n    x.dup()\n",
    }, []),
    # a package re-exports a name under an alias, used elsewhere; then the alias is pointed
    # at another definition, the user's file unchanged: its edges must follow
    ("alias made", {
        "app/__init__.py": RULES["app/__init__.py"] + "from .util import helper as helper2\n",
        "main.py": RULES["main.py"] + "\nfrom app import helper2\n\ndef third():\n    helper2()\n",
    }, []),
    ("alias retargeted", {
        "app/__init__.py": RULES["app/__init__.py"] + "from .core.plugins import load as helper2\n",
    }, []),
    # a new file takes the highest id; then it moves to a new directory (the freed id is
    # reused by the moved file: gone and new, not edited), then moves again with an edit
    ("newest file", {"zz_last.py": "from app.util import helper\n\ndef last():\n    helper()\n"}, []),
    ("moved, id reused", {"newdir/zz_moved.py": "from app.util import helper\n\ndef last():\n    helper()\n"},
     ["zz_last.py"]),
    ("moved with an edit", {"other/deeper/zz.py": "from app.util import helper\n\ndef last2():\n    helper()\n"},
     ["newdir/zz_moved.py"]),
    # a whole package removed
    ("delete package", {}, ["app/core/__init__.py", "app/core/engine.py", "app/core/plugins.py"]),
]


@pytest.mark.parametrize("upto", range(1, len(EDITS) + 1), ids=[e[0] for e in EDITS])
def test_incremental_equals_full_rebuild(tmp_path, upto):
    write_tree(tmp_path, RULES)
    index(tmp_path)
    for _, writes, deletes in EDITS[:upto]:
        write_tree(tmp_path, writes)
        for rel in deletes:
            (tmp_path / rel).unlink()
        summary = index(tmp_path)
        assert summary.derived["graph"]["mode"] == "incremental"
    assert current_edges(tmp_path) == rebuilt_edges(tmp_path)
    store = reader(tmp_path)  # the counts kept by delta are the real ones
    nodes, edges = (store.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                    for t in ("graph_nodes", "graph_edges"))
    store.close()
    assert (summary.derived["graph"]["nodes"], summary.derived["graph"]["edges"]) == (nodes, edges)


def test_update_cost_follows_the_change(tmp_path):
    files = dict(RULES)
    # A large unrelated part of the repository that a one-file edit must not touch.
    for i in range(60):
        files[f"big/m{i}.py"] = "".join(f"def f{j}():\n    return g{j}()\n\ndef g{j}():\n    return {j}\n"
                                         for j in range(20))
    write_tree(tmp_path, files)
    first = index(tmp_path).derived["graph"]
    assert first["mode"] == "full" and first["references"] > 1200
    write_tree(tmp_path, {"app/util.py": RULES["app/util.py"].replace("return 2", "return 3")})
    g = index(tmp_path).derived["graph"]
    assert g["mode"] == "incremental" and g["files"] == 1
    assert g["references"] == 0  # util.py has no references of its own; its names did not change
    write_tree(tmp_path, {"app/util.py": RULES["app/util.py"] + "\ndef g0():\n    return 0\n"})
    g = index(tmp_path).derived["graph"]
    # A name util.py did not define before: only the 60 references named g0 are looked at again.
    assert g["references"] == 60
    assert index(tmp_path).derived["graph"]["mode"] == "none"


def test_a_go_mod_change_rebuilds(tmp_path):
    files = {"go.mod": "module example.com/app\n\ngo 1.22\n",
             "store/store.go": "package store\n\nfunc Get() int { return 1 }\n",
             "main.go": "package main\n\nimport \"example.com/app/store\"\n\nfunc main() { store.Get() }\n"}
    write_tree(tmp_path, files)
    index(tmp_path)
    assert any(e[0] == "main.go::main" and e[2] == "store/store.go::Get" for e in current_edges(tmp_path))
    write_tree(tmp_path, {"go.mod": "module example.com/renamed\n\ngo 1.22\n"})
    assert index(tmp_path).derived["graph"]["mode"] == "full"
    assert current_edges(tmp_path) == rebuilt_edges(tmp_path)
    assert not any(e[2] == "store/store.go::Get" and e[1] == "calls" and e[3] == 1.0
                   for e in current_edges(tmp_path))
