"""Graph build, incremental update, query latency and memory on a real repository.

    python -m benchmarks.graph_speed --repo PATH [--edits 20] [--queries 200] [--seed 1]

Measures, in one run on an indexed repository (it indexes first if needed):
- a full graph build from the store (what `repoqa index --rebuild` adds to the structure index);
- one-file updates: for a sample of source files, (a) a body edit (a comment appended:
  no name appears or disappears) and (b) a new definition appended; each through the real
  `update_index` with the graph, reporting the graph's own seconds and the whole update's;
  every file is restored afterwards (and the index brought back in step);
- `callers` and `impact` at depth 2, and `references`, for a sample of functions, classes
  and methods, plus the ten with the most incoming edges (fan-in), p50/p99 in ms;
- personalized PageRank: building the sparse matrix from the edges, loading it from its
  cache file, and one ranking call (p50);
- memory: the rank matrix's bytes, and for comparison the time and memory it takes to
  load the same edges into a networkx MultiDiGraph.
Prints a table and writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import time
from pathlib import Path

import psutil

from benchmarks.common import latency_ms, write_result
from graph.build import GraphIndex, sync_graph
from graph.errors import SymbolNotFound
from graph.query import Graph
from graph.rank import Ranker, RankOptions
from indexer.options import IndexOptions
from indexer.store import Store
from indexer.update import index_dir_for, update_index


def full_build(root: Path, runs: int) -> dict:
    times = []
    summary = None
    for _ in range(runs):
        store = Store.open_writer(index_dir_for(root))
        try:
            store.conn.execute("BEGIN IMMEDIATE")
            t = time.perf_counter()
            summary = sync_graph(store, None, full=True)
            times.append(time.perf_counter() - t)
            store.conn.execute("ROLLBACK")  # the committed graph stays as it was
        finally:
            store.close()
    return {"seconds": [round(t, 3) for t in times], "best_s": round(min(times), 3),
            "nodes": summary.nodes, "edges": summary.edges, "references": summary.references,
            "resolved": summary.resolved, "name_only": summary.name_only}


def one_file_updates(root: Path, n: int, rng: random.Random) -> dict:
    store = Store.open_reader(index_dir_for(root))
    paths = [p for (p,) in store.conn.execute(
        "SELECT path FROM files WHERE skip_reason = '' AND language NOT IN ('text', '') ORDER BY path")]
    langs = dict(store.conn.execute("SELECT path, language FROM files"))
    store.close()
    sample = rng.sample(paths, min(n, len(paths)))
    comment = {"python": "#", "rust": "//", "go": "//", "java": "//", "c": "//", "cpp": "//",
               "javascript": "//", "typescript": "//", "tsx": "//"}
    out: dict[str, dict[str, list[float]]] = {"body": {"graph": [], "update": []},
                                              "new_name": {"graph": [], "update": []}}
    refs: dict[str, list[int]] = {"body": [], "new_name": []}
    opts = IndexOptions()
    for rel in sample:
        path = root / rel
        original = path.read_bytes()
        mark = comment.get(langs.get(rel, ""), "#")
        try:
            for kind, extra in (("body", f"\n{mark} repoqa benchmark edit\n"),
                                ("new_name", _new_definition(langs.get(rel, ""), rel))):
                path.write_bytes(original + extra.encode())
                t = time.perf_counter()
                s = update_index(root, opts, derived=[GraphIndex()])
                out[kind]["update"].append(time.perf_counter() - t)
                out[kind]["graph"].append(s.derived["graph"]["seconds"])
                refs[kind].append(s.derived["graph"]["references"])
                path.write_bytes(original)
        finally:
            path.write_bytes(original)
    update_index(root, opts, derived=[GraphIndex()])
    return {kind: {"graph": latency_ms(v["graph"]), "whole_update": latency_ms(v["update"]),
                   "references_resolved_p50": statistics.median(refs[kind]) if refs[kind] else 0}
            for kind, v in out.items()}


def _new_definition(language: str, rel: str) -> str:
    name = "repoqa_bench_" + str(abs(hash(rel)) % 10_000)
    return {
        "python": f"\n\ndef {name}():\n    return 1\n",
        "go": f"\n\nfunc {name}() int {{ return 1 }}\n",
        "rust": f"\n\nfn {name}() -> i32 {{ 1 }}\n",
        "javascript": f"\n\nfunction {name}() {{ return 1; }}\n",
        "typescript": f"\n\nfunction {name}(): number {{ return 1; }}\n",
        "c": f"\n\nint {name}(void) {{ return 1; }}\n",
        "cpp": f"\n\nint {name}() {{ return 1; }}\n",
    }.get(language, "\n")


def queries(root: Path, n: int, rng: random.Random) -> dict:
    with Graph.open(root) as g:
        ids = [r[0] for r in g.conn.execute(
            "SELECT id FROM graph_nodes WHERE kind IN ('function', 'method', 'class') ORDER BY id")]
        sample = rng.sample(ids, min(n, len(ids)))
        hubs = [r[0] for r in g.conn.execute(
            "SELECT dst FROM graph_edges WHERE kind IN ('calls', 'references', 'inherits', 'imports') "
            "GROUP BY dst ORDER BY count(*) DESC LIMIT 10")]
        result = {}
        for label, nodes in (("sample", sample), ("fan_in_top10", hubs)):
            found = g.nodes(nodes)
            for name, run in (("callers_depth2", lambda x: g.callers(x, depth=2)),
                              ("impact_depth2", lambda x: g.impact(x, depth=2)),
                              ("references", lambda x: g.references(x))):
                times = []
                for node in found:
                    t = time.perf_counter()
                    run(node)
                    times.append(time.perf_counter() - t)
                result[f"{label}.{name}"] = latency_ms(times)
        result["fan_in_top10.symbols"] = [f"{x.path}::{x.qualname}" for x in g.nodes(hubs)]
        t = time.perf_counter()
        try:
            g.find("Basci")
        except SymbolNotFound:
            pass
        result["unknown_name_with_suggestions_ms"] = round((time.perf_counter() - t) * 1000, 2)
    return result


def ranking(root: Path, rng: random.Random) -> dict:
    store = Store.open_reader(index_dir_for(root))
    try:
        proc = psutil.Process()
        gc.collect()
        rss0 = proc.memory_info().rss
        t = time.perf_counter()
        r = Ranker.build(store, RankOptions())
        build_s = time.perf_counter() - t
        rss1 = proc.memory_info().rss
        tmp = index_dir_for(root) / "rank-benchmark.npz"
        r.save(tmp)
        t = time.perf_counter()
        Ranker.load(tmp, RankOptions())
        load_s = time.perf_counter() - t
        tmp.unlink()
        ids = [x for (x,) in store.conn.execute(
            "SELECT id FROM graph_nodes WHERE kind IN ('function', 'method', 'class')")]
        times = []
        for _ in range(30):
            seeds = {i: 1.0 for i in rng.sample(ids, 5)}
            t = time.perf_counter()
            r.top(seeds, 50)
            times.append(time.perf_counter() - t)
        m = r.matrix
        matrix_bytes = m.data.nbytes + m.indices.nbytes + m.indptr.nbytes
        nx_result = _networkx_load(store, proc)
    finally:
        store.close()
    return {"matrix_build_s": round(build_s, 3), "matrix_load_s": round(load_s, 4),
            "matrix_mb": round(matrix_bytes / 2**20, 1), "rss_growth_build_mb": round((rss1 - rss0) / 2**20, 1),
            "ppr_top50": latency_ms(times), "networkx_multidigraph": nx_result}


def _networkx_load(store: Store, proc) -> dict:
    """What holding the same graph in networkx would cost (the reason queries run on SQLite
    and ranking on a sparse matrix)."""
    import networkx as nx

    gc.collect()
    rss0 = proc.memory_info().rss
    t = time.perf_counter()
    g = nx.MultiDiGraph()
    g.add_edges_from((s, d, {"kind": k, "confidence": c}) for s, d, k, c in store.conn.execute(
        "SELECT src, dst, kind, confidence FROM graph_edges"))
    seconds = time.perf_counter() - t
    rss1 = proc.memory_info().rss
    out = {"load_s": round(seconds, 2), "rss_mb": round((rss1 - rss0) / 2**20, 1),
           "nodes": g.number_of_nodes(), "edges": g.number_of_edges()}
    del g
    gc.collect()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--runs", type=int, default=2, help="full graph builds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    root = args.repo.resolve()
    rng = random.Random(args.seed)
    summary = update_index(root, IndexOptions(), derived=[GraphIndex()])
    with Graph.open(root) as g:
        stats = g.stats()
    result = {"repo": root.name, "snapshot": summary.snapshot, "cpus": os.cpu_count(), "graph": stats}
    result["full_build"] = full_build(root, args.runs)
    result["one_file_update"] = one_file_updates(root, args.edits, rng)
    result["queries"] = queries(root, args.queries, rng)
    result["ranking"] = ranking(root, rng)
    out = write_result("graph_speed", root, result, args.out)
    fb, up, q, rk = result["full_build"], result["one_file_update"], result["queries"], result["ranking"]
    print(f"{root.name} @ {summary.snapshot}: {fb['nodes']:,} nodes, {fb['edges']:,} edges")
    print(f"  full graph build        {fb['best_s']:.2f} s ({fb['references']:,} references)")
    for kind in ("body", "new_name"):
        print(f"  one-file update, {kind:<8} graph p50 {up[kind]['graph']['p50_ms']:.1f} ms "
              f"p99 {up[kind]['graph']['p99_ms']:.1f} ms; whole update p50 {up[kind]['whole_update']['p50_ms']:.0f} ms")
    for key in ("sample.callers_depth2", "sample.impact_depth2", "sample.references",
                "fan_in_top10.callers_depth2", "fan_in_top10.impact_depth2", "fan_in_top10.references"):
        print(f"  {key:<28} p50 {q[key]['p50_ms']:.2f} ms  p99 {q[key]['p99_ms']:.2f} ms")
    print(f"  rank matrix: build {rk['matrix_build_s']:.2f} s, load {rk['matrix_load_s'] * 1000:.0f} ms, "
          f"{rk['matrix_mb']} MB; PPR top-50 p50 {rk['ppr_top50']['p50_ms']:.1f} ms")
    nxr = rk["networkx_multidigraph"]
    print(f"  (networkx MultiDiGraph of the same edges: {nxr['load_s']:.1f} s to load, {nxr['rss_mb']:.0f} MB)")
    print(f"  wrote {out}")


if __name__ == "__main__":
    main()
