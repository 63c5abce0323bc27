"""Localization on real tasks: how often what a real fix touched is among what search returns.

    python -m benchmarks.localization --data ../shared/eval/commits/psf+requests.jsonl \\
        [--data ...] --repos DIR [--mode lexical] [--limit N] [--out FILE]

DIR holds one work tree per repository, named `owner+name` (a checkout of any commit; the
benchmark moves it). For each task, in the order the data gives them, the tree is brought
to the task's commit (`git checkout --force`, then the same incremental `update_index` a
user runs, which also exercises the indexer), the question is searched, and scored:
- file level: the ranked files (each file scored by its best unit) against `gold_files`:
  Acc@1/5/10 (every gold file within the top k) and MRR (first gold file);
- function level (tasks with `gold_functions` or a needle's `gold_function`): the ranked
  units (path::qualname of the definition each hit lies in) against the gold: Acc@5/10
  (any gold function within the top k), and Acc@1 for needles;
- `leak` tasks (the question names a gold file or function) are reported apart.
Needles are scored fairly: the function's doc comment (`doc_lines`) is blanked in the file
and the index updated before the query, then the file is restored.

Datasets: SWE-bench Lite rows (`base_commit`), commit rows (`parent`), needle rows
(`commit`), recognised by their fields. The work trees are left at the last task's commit.
Modes (`--mode`, repeatable, all computed on the same index state per task): lexical (BM25
over split identifiers), dense (vectors, kept in step by the watcher's DenseUpdater) and
hybrid (the two fused by reciprocal rank). Writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.common import RESULTS, write_result
from graph.build import GraphIndex
from indexer.options import IndexOptions
from indexer.store import Store
from indexer.update import index_dir_for, update_index
from retrieval.search import Searcher

UNITS = 100  # chunks fetched per query before grouping into files and units


# Fields the data stores as Python literals in strings (lists, dicts, booleans).
_LITERALS = frozenset({"gold_files", "gold_functions", "other_files", "edited_old_lines", "hunk_functions",
                       "leak", "doc_lines", "name_is_unique", "issue_refs"})


def load(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append({k: ast.literal_eval(v) if k in _LITERALS and isinstance(v, str) and v else v
                         for k, v in row.items()})
    return rows


def kind_of(row: dict) -> str:
    if "base_commit" in row:
        return "swebench"
    if "gold_function" in row:
        return "needle"
    return "commit"


def commit_of(row: dict) -> str:
    return row.get("base_commit") or row.get("parent") or row["commit"]


def checkout(tree: Path, commit: str) -> None:
    subprocess.run(["git", "checkout", "-q", "--force", commit], cwd=tree, check=True, capture_output=True)
    subprocess.run(["git", "clean", "-q", "-fd", "-e", ".repoqa"], cwd=tree, check=True, capture_output=True)


class Dense:
    """Vectors kept in step with each work tree through the same DenseUpdater the watcher
    uses (the model loaded once; a moved or unchanged chunk reuses its cached vector)."""

    def __init__(self):
        from indexer.embed import SentenceTransformerEmbedder

        self.embedder = SentenceTransformerEmbedder()
        self.updaters: dict[Path, object] = {}

    def sync(self, tree: Path):
        from indexer.dense import DenseUpdater
        from indexer.vectors import VectorOptions

        u = self.updaters.get(tree)
        if u is None:
            u = self.updaters[tree] = DenseUpdater(tree, self.embedder, VectorOptions(), flush_after_s=3600)
        u.step(budget_s=3600.0)
        return u.vstore

    def close(self) -> None:
        for u in self.updaters.values():
            u.close()


def rank(store: Store, query: str, mode: str, vstore=None, embedder=None) -> tuple[list[str], list[str]]:
    """(files, units) best first: a file by its best chunk, a unit as path::qualname."""
    hits = Searcher(store, vstore, embedder).search(query, mode, k=UNITS)
    files, units = [], []
    for h in hits:
        if h.path not in files:
            files.append(h.path)
        for q in ([h.symbol] if h.symbol else []):
            u = f"{h.path}::{q}"
            if u not in units:
                units.append(u)
    return files, units


def _function_hit(units: list[str], gold: set[str], k: int) -> bool:
    """A gold function is within the top k units (a unit inside it counts: Class.method
    for a gold Class, the enclosing definition for a nested one)."""
    for u in units[:k]:
        for g in gold:
            if u == g or u.startswith(g + ".") or g.startswith(u + "."):
                return True
    return False


def score(kind: str, row: dict, files: list[str], units: list[str]) -> dict:
    out: dict[str, object] = {}
    if kind == "needle":
        gold_files = {row["gold_file"]}
        gold_funcs = {row["gold_function"]}
    else:
        gold_files = set(row["gold_files"])
        gold_funcs = set(row.get("gold_functions") or [])
    for k in (1, 5, 10):
        out[f"file_acc@{k}"] = gold_files <= set(files[:k])
    first = next((i for i, f in enumerate(files, 1) if f in gold_files), None)
    out["file_rr"] = 1.0 / first if first else 0.0
    if gold_funcs:
        for k in (1, 5, 10):
            out[f"func_acc@{k}"] = _function_hit(units, gold_funcs, k)
    return out


def summarize(scores: list[dict]) -> dict:
    if not scores:
        return {"tasks": 0}
    keys = sorted({k for s in scores for k in s})
    out: dict[str, object] = {"tasks": len(scores)}
    for k in keys:
        vals = [float(s[k]) for s in scores if k in s]
        out[k.replace("_rr", "_mrr")] = round(sum(vals) / len(vals), 4)
    return out


def run_needle(tree: Path, row: dict, opts: IndexOptions, modes: list[str], dense: Dense | None
               ) -> dict[str, tuple[list[str], list[str]]]:
    path = tree / row["gold_file"]
    original = path.read_bytes()
    a, b = row["doc_lines"]
    lines = original.decode("utf-8", "surrogateescape").split("\n")
    blanked = lines[:a - 1] + [""] * (b - a + 1) + lines[b:]  # same line numbers, no doc
    try:
        path.write_bytes("\n".join(blanked).encode("utf-8", "surrogateescape"))
        update_index(tree, opts, derived=[GraphIndex()], paths=[row["gold_file"]])
        return rank_modes(tree, row["query"], modes, dense)
    finally:
        path.write_bytes(original)
        update_index(tree, opts, derived=[GraphIndex()], paths=[row["gold_file"]])


def rank_modes(tree: Path, query: str, modes: list[str], dense: Dense | None
               ) -> dict[str, tuple[list[str], list[str]]]:
    vstore = dense.sync(tree) if dense is not None else None
    store = Store.open_reader(index_dir_for(tree))
    try:
        return {m: rank(store, query, m, vstore, dense.embedder if dense else None) for m in modes}
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, action="append", required=True)
    ap.add_argument("--repos", type=Path, required=True)
    ap.add_argument("--mode", action="append", choices=["lexical", "dense", "hybrid"],
                    help="repeatable; default lexical. dense and hybrid embed every tree (minutes on a CPU)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many tasks per data file")
    ap.add_argument("--only-repo", default="", help="only tasks on this owner/name")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    opts = IndexOptions()
    modes = args.mode or ["lexical"]
    dense = Dense() if any(m != "lexical" for m in modes) else None
    per: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    detail = []
    t0 = time.perf_counter()
    skipped = defaultdict(int)
    for data in args.data:
        rows = load(data)
        if args.only_repo:
            rows = [r for r in rows if r["repo"] == args.only_repo]
        if args.limit:
            rows = rows[:args.limit]
        for row in rows:
            kind = kind_of(row)
            tree = args.repos / row["repo"].replace("/", "+")
            if not tree.is_dir():
                skipped[f"no work tree for {row['repo']}"] += 1
                continue
            try:
                checkout(tree, commit_of(row))
            except subprocess.CalledProcessError as exc:
                skipped[f"checkout failed: {exc.stderr.decode(errors='replace').strip()[:80]}"] += 1
                continue
            update_index(tree, opts, derived=[GraphIndex()])
            query = row.get("question") or row.get("query")
            if kind == "commit" and row.get("body"):
                query = f"{query}\n{row['body']}"
            ranked = run_needle(tree, row, opts, modes, dense) if kind == "needle" else \
                rank_modes(tree, query, modes, dense)
            group = f"{kind}{'-leak' if row.get('leak') is True else ''}"
            task = {"kind": group, "repo": row["repo"], "id": row.get("instance_id") or row.get("commit")}
            for mode, (files, units) in ranked.items():
                s = score(kind, row, files, units)
                per[mode][group].append(s)
                per[mode]["all"].append(s)
                task[mode] = {**s, "top_files": files[:5]}
            detail.append(task)
    if dense is not None:
        dense.close()
    result = {"modes": modes, "data": [str(d) for d in args.data], "seconds": round(time.perf_counter() - t0, 1),
              "skipped": dict(skipped),
              "summary": {m: {g: summarize(v) for g, v in sorted(groups.items())} for m, groups in per.items()},
              "tasks": detail}
    name = "-".join(d.stem for d in args.data)[:80]
    out = write_result("localization", Path(name), result,
                       args.out or RESULTS / f"localization-{name}-{'-'.join(modes)}.json")
    print(f"localization ({', '.join(modes)}), {len(detail)} tasks in {result['seconds']} s")
    for mode, groups in result["summary"].items():
        for group, summary in groups.items():
            print(f"  {mode:<8} {group:<12} " + "  ".join(f"{k} {v}" for k, v in summary.items()))
    for reason, n in skipped.items():
        print(f"  skipped {n}: {reason}")
    print(f"  wrote {out}")


if __name__ == "__main__":
    main()
