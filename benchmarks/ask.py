"""How `repoqa ask` answers on a real repository: time to first token, total latency, prompt
size, and whether the citations point where the answer lies.

    python -m benchmarks.ask --repo PATH [--questions 20] [--max-tokens 128]
        [--backend local|openai|vllm --base-url URL --model NAME] [--out FILE]

The repository must be indexed (`repoqa index`). Questions are drawn (seeded) from its graph,
in four kinds, five each by default, so that each has a known answer:
- definition: "Where is NAME defined?" (gold: the definition's lines);
- callers: "Who calls QUALNAME?" (gold: the calling definitions);
- handled: "Where is WORDS handled?", WORDS the definition's name split into words (gold: it);
- impact: "What breaks if QUALNAME changes?" (gold: what depends on it, one hop).
Each is answered as `repoqa ask` answers (graph facts, bundle fitted to the generator, the
model's streamed answer, citations checked against the bundle). Reported per question and
summarised: seconds to the first token and in all, prompt and answer tokens, citations kept
and dropped, and the share of kept citations that fall on a gold location (its file, within
a few lines of a gold span). The generator is the configured one (`[generator]`), or the
flags'; the default on a machine without a server is the packaged CPU model.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from benchmarks.common import latency_ms, write_result
from graph.model import is_test_path
from graph.query import Graph
from indexer.store import Store
from indexer.text import split_identifier
from indexer.update import index_dir_for

NEAR = 3  # lines: a citation this close to a gold span points at it


def draw(store: Store, graph: Graph, per_kind: int, seed: int) -> list[dict]:
    """Questions with known answers, from definitions with resolved callers."""
    rng = random.Random(seed)
    rows = store.conn.execute(
        "SELECT n.id, f.path, n.qualname, s.name, s.start_line, s.end_line FROM graph_nodes n "
        "JOIN files f ON f.id = n.file_id JOIN symbols s ON s.file_id = n.file_id AND s.qualname = n.qualname "
        "WHERE s.kind IN ('function', 'method') AND EXISTS (SELECT 1 FROM graph_edges e WHERE e.dst = n.id "
        "AND e.kind = 'calls' AND e.confidence >= 0.8) GROUP BY n.id ORDER BY n.id").fetchall()
    rows = [r for r in rows if not is_test_path(r[1]) and not r[3].startswith("__")]
    names = {}
    for r in rows:
        names.setdefault(r[3], []).append(r)
    unique = [r for r in rows if len(names[r[3]]) == 1 and len(split_identifier(r[3])) >= 2]
    rng.shuffle(unique)
    out: list[dict] = []
    picks = iter(unique)
    for kind in ("definition", "callers", "handled", "impact"):
        for _ in range(per_kind):
            try:
                nid, path, qualname, name, start, end = next(picks)
            except StopIteration:
                break
            own = {path: [(start, end)]}
            if kind == "definition":
                q, gold = f"Where is {name} defined?", own
            elif kind == "handled":
                q, gold = f"Where is {' '.join(split_identifier(name))} handled?", own
            else:
                locs = graph.callers(qualname if "." in qualname else f"{path}::{qualname}", limit=50) \
                    if kind == "callers" else graph.impact(f"{path}::{qualname}", depth=1, limit=50)
                gold = {}
                for loc in locs:
                    span = _span(store, loc.path, loc.symbol, loc.line)
                    gold.setdefault(loc.path, []).append(span)
                q = f"Who calls {qualname}?" if kind == "callers" else f"What breaks if {qualname} changes?"
            out.append({"kind": kind, "question": q, "subject": f"{path}::{qualname}", "gold": gold})
    return out


def _span(store: Store, path: str, symbol: str, line: int) -> tuple[int, int]:
    row = store.conn.execute(
        "SELECT s.start_line, s.end_line FROM symbols s JOIN files f ON f.id = s.file_id WHERE f.path = ? "
        "AND s.qualname = ? ORDER BY abs(s.start_line - ?) LIMIT 1", (path, symbol, line)).fetchone()
    return tuple(row) if row and symbol else (line, line)


def on_gold(citation: dict, gold: dict[str, list[tuple[int, int]]]) -> bool:
    for a, b in gold.get(citation["path"], []):
        if citation["start_line"] <= b + NEAR and citation["end_line"] >= a - NEAR:
            return True
    return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--backend", default=None)
    ap.add_argument("--base-url", default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    from indexer.openmp import passive_waits

    passive_waits()
    from benchmarks.retrieval_speed import open_searcher
    from service import assist
    from service.config import generator_options
    from service.generators import open_generator

    repo = args.repo.resolve()
    options = generator_options(repo, overrides={"backend": args.backend, "base_url": args.base_url,
                                                 "model": args.model, "max_tokens": args.max_tokens})
    t0 = time.perf_counter()
    generator = open_generator(options)
    load_s = time.perf_counter() - t0
    store = Store.open_reader(index_dir_for(repo))
    searcher = open_searcher(repo, store)
    questions = draw(store, Graph(store), max(1, args.questions // 4), args.seed)
    rows = []
    for q in questions:
        t = time.perf_counter()
        ans = assist.answer(store, searcher, repo, q["question"], generator, options)
        wall = time.perf_counter() - t
        good = [c for c in ans.citations if on_gold(c, q["gold"])]
        rows.append({**{k: q[k] for k in ("kind", "question", "subject")}, "ttft_s": round(ans.ttft_s, 3),
                     "total_s": round(ans.total_s, 3), "wall_s": round(wall, 3),
                     "prompt_tokens": ans.prompt_tokens, "completion_tokens": ans.completion_tokens,
                     "citations": len(ans.citations), "citations_on_gold": len(good),
                     "dropped_citations": ans.dropped_citations, "exact_facts": len(ans.exact_facts),
                     "units_dropped": ans.units_dropped, "answer": ans.answer[:400]})
        print(f"  {q['kind']:<10} ttft {ans.ttft_s:5.1f} s  total {ans.total_s:5.1f} s  prompt {ans.prompt_tokens:>5}"
              f"  citations {len(good)}/{len(ans.citations)} on gold  {q['question'][:60]}", flush=True)
    cited = sum(r["citations"] for r in rows)
    result = {
        "repo": str(repo), "commit": store.meta().get("commit", ""), "backend": generator.backend,
        "model": generator.model, "context_length": generator.context_length, "max_tokens": args.max_tokens,
        "model_load_s": round(load_s, 2), "questions": len(rows),
        "ttft": latency_ms([r["ttft_s"] for r in rows]), "total": latency_ms([r["total_s"] for r in rows]),
        "prompt_tokens_mean": round(statistics.mean(r["prompt_tokens"] for r in rows), 1) if rows else 0,
        "completion_tokens_mean": round(statistics.mean(r["completion_tokens"] for r in rows), 1) if rows else 0,
        "tokens_per_s": round(sum(r["completion_tokens"] for r in rows)
                              / max(1e-9, sum(r["total_s"] - r["ttft_s"] for r in rows)), 1),
        "citations": cited, "citations_on_gold_share": round(sum(r["citations_on_gold"] for r in rows) / cited, 3)
        if cited else None,
        "answers_citing": sum(1 for r in rows if r["citations"]),
        "dropped_citations": sum(r["dropped_citations"] for r in rows),
        "with_exact_facts": sum(1 for r in rows if r["exact_facts"]),
        "rows": rows,
    }
    out = write_result("ask", repo, result, args.out)
    print(f"ask on {repo.name} with {generator.model} ({generator.backend}): {len(rows)} questions; ttft p50 "
          f"{result['ttft']['p50_ms'] / 1000:.1f} s, total p50 {result['total']['p50_ms'] / 1000:.1f} s, prompt "
          f"{result['prompt_tokens_mean']} tokens, citations on gold {result['citations_on_gold_share']} "
          f"({cited} kept, {result['dropped_citations']} dropped); graph facts for {result['with_exact_facts']}")
    print(f"  wrote {out}")
    generator.close()
    store.close()


if __name__ == "__main__":
    main()
