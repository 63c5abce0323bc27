"""Graph queries: names and positions, both directions, depth, impact, paths, paging."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from conftest import git, git_repo, index, reader, write_tree
from fixtures.graph_python import RULES

import graph.rank as rank_module
from graph.errors import BadPosition, SymbolNotFound
from graph.query import Graph
from graph.rank import Ranker, RankOptions, ranker_for

ENG = "app/core/engine.py"


@pytest.fixture()
def graph(tmp_path):
    write_tree(tmp_path, RULES)
    index(tmp_path)
    g = Graph(reader(tmp_path))
    yield g
    g.close()


def sites(locs):
    return [(loc.path, loc.line, loc.symbol, loc.kind, loc.depth) for loc in locs]


def test_find_by_every_spelling(graph):
    want = [(ENG, "Engine.start")]
    for spec in ("Engine.start", "app.core.engine.Engine.start", "core.engine.Engine.start",
                 "Engine::start", f"{ENG}:14", f"{ENG}:14:8"):
        assert [(n.path, n.qualname) for n in graph.find(spec)] == want, spec
    assert [(n.path, n.qualname, n.kind) for n in graph.find(ENG)] == [(ENG, "", "file")]
    assert [(n.path, n.qualname) for n in graph.find(f"{ENG}::Engine.start")] == want  # as --json's `of`
    assert [(n.path, n.kind) for n in graph.find("app/core")] == [("app/core", "package")]
    # a bare name matches every definition of it
    assert sorted((n.path, n.qualname) for n in graph.find("load")) == [("app/core/plugins.py", "load")]
    assert sorted(n.qualname for n in graph.find("__init__")) == ["Base.__init__", "Engine.__init__"]


def test_position_on_a_use_is_go_to_definition(graph):
    # main.py line 7 `    helper()`: the name starts at byte column 4
    assert [(n.path, n.qualname) for n in graph.find("main.py:7:5")] == [("app/util.py", "helper")]
    # inside run() but on no reference: the enclosing definition
    assert [n.qualname for n in graph.find("main.py:6:0")] in (["run"],)
    with pytest.raises(BadPosition, match="has 9 lines"):
        graph.find("main.py:90:1")
    # go-to-definition (exact): a use, or a definition's first line; not what encloses it
    assert [n.qualname for n in graph.find("main.py:7:5", exact=True)] == ["helper"]
    assert [n.qualname for n in graph.find("main.py:5:4", exact=True)] == ["run"]
    with pytest.raises(BadPosition, match="nothing at main.py:6:0"):
        graph.find("main.py:6:0", exact=True)
    # on a decorated definition's name (its range starts at the decorator), a nested one's,
    # and on a word of a first line that is not the name (a parameter): nothing
    for spec, want in ((f"{ENG}:21:8", "Engine.make"), (f"{ENG}:25:12", "Engine.build"),
                       (f"{ENG}:26:12", "Engine.build.inner"), (f"{ENG}:7:8", "Engine.__init__")):
        assert [n.qualname for n in graph.find(spec, exact=True)] == [want], spec
    for spec in (f"{ENG}:7:18", f"{ENG}:20:6", f"{ENG}:21:14"):  # self, @classmethod, cls
        with pytest.raises(BadPosition):
            graph.find(spec, exact=True)


def test_unknown_names_suggest_close_ones(graph):
    with pytest.raises(SymbolNotFound, match=r"no symbol named 'Engnie'; did you mean Engine") as exc:
        graph.find("Engnie")
    assert exc.value.suggestions[0] == "Engine"
    with pytest.raises(SymbolNotFound):
        graph.find("nothing.like.this")
    with pytest.raises(SymbolNotFound):
        graph.find("   ")


def test_references_and_callers(graph):
    refs = sites(graph.references("helper"))
    assert refs == [
        ("app/core/engine.py", 3, "", "imports", 1),
        ("app/core/engine.py", 15, "Engine.start", "calls", 1),
        ("main.py", 2, "", "imports", 1),
        ("main.py", 7, "run", "calls", 1),
    ]
    assert sites(graph.callers("helper")) == [
        ("app/core/engine.py", 15, "Engine.start", "calls", 1),
        ("main.py", 7, "run", "calls", 1),
    ]
    # depth 2: who calls the callers (Engine.__init__ calls start; run calls Engine() only)
    two = sites(graph.callers("helper", depth=2))
    assert ("app/core/engine.py", 9, "Engine.__init__", "calls", 2) in two
    assert all(d <= 2 for *_, d in two)


def test_callees_with_depth(graph):
    one = {(loc.symbol, loc.depth) for loc in graph.callees("run")}
    assert one == {("Engine", 1), ("helper", 1), ("load", 1), ("Engine.make", 1)}
    two = {(loc.symbol, loc.depth) for loc in graph.callees("run", depth=2)}
    assert ("Engine.build", 2) in two  # make -> cls.build()


def test_impact_of_a_file_is_transitive_and_nearest_first(graph):
    out = graph.impact("app/core/plugins.py")
    depths = [loc.depth for loc in out]
    assert depths == sorted(depths)
    places = {(loc.path, loc.symbol) for loc in out}
    assert ("app/core/engine.py", "Engine.start") in places  # calls plug.load()
    assert ("main.py", "run") in places  # calls P.load()
    # transitively: engine.py is impacted, so what imports Engine is too
    assert ("tests/test_engine.py", "test_start") in places
    assert graph.impact("app/core/plugins.py", depth=1) == [loc for loc in out if loc.depth == 1]


def test_path_between_symbols(graph):
    hops = graph.path("run", "helper")
    assert [(h.symbol, h.kind, h.target) for h in hops] == [("run", "calls", "helper")]
    hops = graph.path("test_start", "Base")
    # test_start calls Engine (the class), which inherits Base
    assert [(h.symbol, h.kind, h.target) for h in hops] == [
        ("test_start", "calls", "Engine"), ("Engine", "inherits", "Base")]
    assert graph.path("helper", "run") == []  # edges have a direction
    # a file as the target: whatever reaches something inside it
    assert [(h.symbol, h.target) for h in graph.path("run", "app/util.py")][-1][1] in ("helper", "app/util.py")
    assert graph.path("main.py", "app/util.py")


def test_networkx_export_agrees_with_the_queries(graph):
    g = graph.to_networkx(kinds=("calls",))
    helper = graph.find("helper")[0].id
    callers = {g.nodes[src]["qualname"] for src, _ in g.in_edges(helper)}
    assert callers == {loc.symbol for loc in graph.callers("helper")}
    assert g.nodes[helper] == {"path": "app/util.py", "qualname": "helper", "kind": "function"}
    assert all(d["kind"] == "calls" for *_, d in g.edges(data=True))


def test_cycles_and_fan_in_paging(tmp_path):
    files = {
        "log.py": "def log(msg):\n    return emit(msg)\n\ndef emit(msg):\n    return log(msg)\n",
    }
    for i in range(40):
        files[f"m{i:02}.py"] = "from log import log\n" + "".join(
            f"def f{j}():\n    log('x')\n" for j in range(50))
    write_tree(tmp_path, files)
    index(tmp_path)
    with Graph(reader(tmp_path)) as g:
        assert {loc.symbol for loc in g.callers("log", depth=5)} >= {"emit"}  # a cycle ends
        first = g.callers("log", limit=100)
        second = g.callers("log", limit=100, offset=100)
        assert len(first) == len(second) == 100
        assert not {(x.path, x.symbol) for x in first} & {(x.path, x.symbol) for x in second}
        every = g.callers("log", limit=10_000)
        assert len(every) == 40 * 50 + 1  # every f_j of every module, and emit
        refs = g.references("log", limit=50, offset=2000)
        assert len(refs) == 41  # 2000 calls, 40 imports, emit's call: 2041 in all


def test_personalized_pagerank_matches_networkx(graph):
    opts = RankOptions(iterations=500, tolerance=1e-12)
    r = Ranker.build(graph.store, opts)
    seed = graph.find("helper")[0].id
    ours = r.rank({seed: 1.0})
    # The same walk in networkx: forward edges weighted by kind x confidence, reverse
    # edges by that times `reverse`.
    g = nx.DiGraph()
    g.add_nodes_from(range(r.size))
    for src, dst, kind, conf in graph.conn.execute("SELECT src, dst, kind, confidence FROM graph_edges"):
        w = opts.weights[kind] * conf
        for a, b, x in ((src, dst, w), (dst, src, w * opts.reverse)):
            g.add_edge(a, b, weight=g[a][b]["weight"] + x if g.has_edge(a, b) else x)
    personalization = {n: 0.0 for n in g}
    personalization[seed] = 1.0
    theirs = nx.pagerank(g, alpha=opts.alpha, personalization=personalization, weight="weight",
                         dangling=personalization, tol=1e-12, max_iter=1000)
    expected = np.array([theirs[n] for n in range(r.size)])
    assert (r.order != np.arange(r.size)).any()  # the matrix is in another order than the ids
    assert np.abs(ours - expected).max() < 1e-5
    top = [graph.node(n).qualname for n, _ in r.top({seed: 1.0}, k=3)]
    assert top[0] == "helper"


def test_ranker_is_cached_per_graph_state(tmp_path):
    write_tree(tmp_path, RULES)
    index(tmp_path)
    store = reader(tmp_path)
    first = ranker_for(store)
    assert ranker_for(store) is first
    assert list((tmp_path / ".repoqa").glob("rank-*.npz"))
    store.close()
    write_tree(tmp_path, {"app/extra.py": "from app.util import helper\n\ndef again():\n    helper()\n"})
    index(tmp_path)
    store = reader(tmp_path)
    second = ranker_for(store)
    assert second is not first and second.generation != first.generation
    assert len(list((tmp_path / ".repoqa").glob("rank-*.npz"))) == 1  # the old one retired
    store.close()


def test_a_saved_matrix_loads_in_its_order_and_one_without_an_order_is_rebuilt(tmp_path):
    write_tree(tmp_path, RULES)
    index(tmp_path)
    store = reader(tmp_path)
    built = ranker_for(store)
    seed = 1
    saved = next((tmp_path / ".repoqa").glob("rank-*.npz"))
    loaded = Ranker.load(saved, RankOptions())
    assert (loaded.order == built.order).all()
    assert np.array_equal(loaded.rank({seed: 1.0}), built.rank({seed: 1.0}))
    with np.load(saved) as z:
        # a version before the ordering read data, indices, indptr and dangling: finding none,
        # it rebuilds rather than taking the permuted matrix for one by node id
        assert not {"data", "indices", "indptr", "dangling"} & set(z.files)
        m = built.matrix
        back = np.argsort(built.order)  # as that version wrote it: by node id
        by_id = m[back][:, back].tocsr()
        old = {"data": by_id.data, "indices": by_id.indices, "indptr": by_id.indptr,
               "dangling": built.dangling[back], "shape": z["shape"], "generation": z["generation"]}
    with open(saved, "wb") as fh:
        np.savez(fh, **old)
    with pytest.raises(KeyError):
        Ranker.load(saved, RankOptions())
    rank_module._CACHE.clear()
    again = ranker_for(store)  # rebuilt, and saved with its order
    assert np.array_equal(again.rank({seed: 1.0}), built.rank({seed: 1.0}))
    assert (Ranker.load(saved, RankOptions()).order == built.order).all()
    store.close()


def test_cochange_edges_from_history(tmp_path):
    git_repo(tmp_path, {"a.py": "def a():\n    pass\n", "b.py": "def b():\n    pass\n",
                        "c.py": "def c():\n    pass\n"})
    for i in range(3):  # a and b change together three times, c alone
        write_tree(tmp_path, {"a.py": f"def a():\n    return {i}\n", "b.py": f"def b():\n    return {i}\n"})
        git(tmp_path, "commit", "-qam", f"ab {i}")
        write_tree(tmp_path, {"c.py": f"def c():\n    return {i}\n"})
        git(tmp_path, "commit", "-qam", f"c {i}")
    summary = index(tmp_path).derived["graph"]
    assert summary["cochange"] == 2
    with Graph(reader(tmp_path)) as g:
        rows = g.conn.execute(
            "SELECT fa.path, fb.path, e.confidence FROM graph_edges e JOIN graph_nodes a ON a.id = e.src "
            "JOIN graph_nodes b ON b.id = e.dst JOIN files fa ON fa.id = a.file_id "
            "JOIN files fb ON fb.id = b.file_id WHERE e.kind = 'cochange' ORDER BY 1").fetchall()
    # a and b: 4 commits each (the first one too), 4 together -> weight 1.0
    assert rows == [("a.py", "b.py", 1.0), ("b.py", "a.py", 1.0)]
    # a new commit moves HEAD: the next update reads the history again
    write_tree(tmp_path, {"a.py": "def a():\n    return 9\n", "c.py": "def c():\n    return 9\n"})
    git(tmp_path, "commit", "-qam", "ac")
    write_tree(tmp_path, {"a.py": "def a():\n    return 10\n", "c.py": "def c():\n    return 10\n"})
    git(tmp_path, "commit", "-qam", "ac again")
    assert index(tmp_path).derived["graph"]["cochange"] == 4


def test_an_index_without_a_graph_says_so(tmp_path):
    from graph.errors import GraphNotBuilt
    from indexer.options import IndexOptions
    from indexer.update import update_index

    write_tree(tmp_path, {"a.py": "def a():\n    pass\n"})
    update_index(tmp_path, IndexOptions(workers=1))  # an index made without the graph
    with pytest.raises(GraphNotBuilt, match="run `repoqa index`"):
        Graph(reader(tmp_path))
    index(tmp_path)  # the next `repoqa index` builds it
    with Graph(reader(tmp_path)) as g:
        assert [n.qualname for n in g.find("a")] == ["a"]
