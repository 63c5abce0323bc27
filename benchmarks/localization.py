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

- bundles: the share of gold lines inside an 8k- and a 32k-token bundle. Gold lines are the
  lines the change edited, with git's three lines of context each side (SWE-bench gives them
  as `edited_old_lines`; for a commit they are its diff's hunks in the parent's gold files),
  and a needle's whole function. `bundle_*_functions` counts a commit's gold functions'
  whole lines instead (the measure of earlier runs), where one long function the change
  touched in one place (fzf's 2,000-line event loop) outweighs many small ones.

Datasets: SWE-bench Lite rows (`base_commit`), commit rows (`parent`), needle rows
(`commit`), recognised by their fields. Within a repository, tasks run in the order of their
commits' dates, so each move is a small incremental update. The work trees are left at the
last task's commit.
Modes, all computed per task from one pass of the signals on the same index state: lexical
(BM25 alone), dense (vectors alone, kept in step by the watcher's DenseUpdater; with
`--dense`), hybrid (every signal fused, retrieval.search) and, with `--rerank N`, rerank (the
hybrid ranking with its best N code units reranked by a language model, retrieval.rerank:
the packaged local model, or the OpenAI-compatible server `--rerank-base-url` names; about
0.5-2 s a unit on a CPU). `--signals-out FILE` keeps each
task's rankings for `benchmarks.fusion_tune`. Writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from assistant.generators import GeneratorOptions
from benchmarks.common import RESULTS, old_hunks, write_result
from graph.build import GraphIndex
from indexer.lock import WriterLock
from indexer.options import IndexOptions
from indexer.store import Store
from indexer.text import query_words
from indexer.update import index_dir_for, update_index
from retrieval.bundle import LineCache, build_bundle, gold_line_coverage
from retrieval.hits import packed_order
from retrieval.rerank import rerank
from retrieval.search import DEPTH, FILE_SIGNALS, SIGNALS, Fused, FusionWeights, Searcher, Signals, fuse_signals, rank_files
from retrieval.tokens import counter_for
from service.generators import open_generator

BUDGETS = (8000, 32000)


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


def baseline(name: str) -> FusionWeights:
    """Weights that keep one signal alone: the BM25-only and dense-only baselines."""
    return FusionWeights(**{n: (1.0 if n == name else 0.0) for n in SIGNALS + FILE_SIGNALS}, seeds=0, docs=1.0,
                         tests=1.0)


def files_and_units(fused: list[Fused], paths: dict[int, str], symbols: dict[int, str], sig: Signals,
                    weights: FusionWeights) -> tuple[list[str], list[str]]:
    """(files, units) best first: files as retrieval ranks them, a unit as path::qualname."""
    files = [f.path for f in rank_files(fused, paths, sig, weights)]
    units: list[str] = []
    for f in fused:
        for q in (symbols.get(f.chunk_id) or "").split():
            u = f"{paths[f.chunk_id]}::{q}"
            if u not in units:
                units.append(u)
    return files, units


def chunk_symbols(store: Store, ids: list[int], query: str = "") -> dict[int, str]:
    """A chunk's definition, or the small definitions it packs (space-separated, the best
    match for `query` first, as search shows them)."""
    terms = set(query_words(query))
    out = {}
    for cid, symbol, packed in store.conn.execute(
            "SELECT id, symbol, symbols FROM chunks WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)):
        out[cid] = symbol or (" ".join(packed_order(store, cid, terms)) if packed else "")
    return out


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


def run_needle(tree: Path, row: dict, opts: IndexOptions, modes: list[str], dense: Dense | None,
               gold_lines: Callable, reranker: tuple | None = None) -> dict:
    path = tree / row["gold_file"]
    original = path.read_bytes()
    a, b = row["doc_lines"]
    lines = original.decode("utf-8", "surrogateescape").split("\n")
    blanked = lines[:a - 1] + [""] * (b - a + 1) + lines[b:]  # same line numbers, no doc
    try:
        path.write_bytes("\n".join(blanked).encode("utf-8", "surrogateescape"))
        update_index(tree, opts, derived=[GraphIndex()], paths=[row["gold_file"]])
        return rank_modes(tree, row["query"], modes, dense, gold_lines, reranker)
    finally:
        path.write_bytes(original)
        update_index(tree, opts, derived=[GraphIndex()], paths=[row["gold_file"]])


def extra_groups(kind: str, row: dict) -> list[str]:
    """The groups a task is also reported in beside its kind, dataset and `all`: a change to
    several files (`commit:multi-file`, `swebench:multi-file`), whose Acc@k needs all of them
    in the top k, apart (the first file is usually found; the others are what is missed)."""
    return [f"{kind}:multi-file"] if kind != "needle" and len(row.get("gold_files") or []) > 1 else []


Lines = dict[str, list[tuple[int, int]]]  # path -> inclusive line ranges


def edited_lines(tree: Path, parent: str, commit: str, paths: list[str]) -> Lines:
    """The line ranges of `paths` in `parent` that `commit` changed: each hunk of their diff
    with git's three lines of context, as SWE-bench's `edited_old_lines` are."""
    out: Lines = {}
    for path in paths:
        res = subprocess.run(["git", "diff", "--no-color", "--no-ext-diff", "-U3", parent, commit, "--", path],
                             cwd=tree, capture_output=True, text=True, errors="replace")
        for start, count in old_hunks(res.stdout if res.returncode == 0 else ""):
            if start > 0:  # a file that was empty has no old lines
                out.setdefault(path, []).append((start, start + max(count, 1) - 1))
    return out


def gold_lines_of(kind: str, row: dict, store: Store, tree: Path) -> tuple[Lines, Lines]:
    """The lines a task's answer lies on, in the tree as indexed: the edited lines (a needle's
    whole function); and the gold functions' whole lines for a commit, the same lines for the
    others (so that `bundle_*_functions` over all tasks is the measure earlier runs reported)."""
    if kind == "swebench":
        edited = {p: [tuple(r) for r in rs] for p, rs in row.get("edited_old_lines", {}).items()}
        return edited, edited
    if kind == "needle":
        whole = {row["gold_file"]: [(int(row["start_line"]), int(row["end_line"]))]}
        return whole, whole
    return edited_lines(tree, row["parent"], row["commit"], row["gold_files"]), function_lines(row, store)


def function_lines(row: dict, store: Store) -> Lines:
    """The whole lines of a commit's gold functions, as indexed."""
    out: Lines = {}
    for g in row.get("gold_functions") or []:
        path, _, qualname = g.partition("::")
        span = store.conn.execute(
            "SELECT s.start_line, s.end_line FROM symbols s JOIN files f ON f.id = s.file_id "
            "WHERE f.path = ? AND s.qualname = ? ORDER BY s.start_line LIMIT 1", (path, qualname)).fetchone()
        if span:
            out.setdefault(path, []).append(tuple(span))
    return out


def rank_modes(tree: Path, query: str, modes: list[str], dense: Dense | None,
               gold: tuple[Lines, Lines] | Callable, reranker: tuple | None = None) -> dict:
    """Per mode: files, units and bundle coverage (of the gold lines, and of the gold
    functions' lines: gold_lines_of), all from one pass of the signals; and the raw rankings
    (chunk ids with their path and symbol) for tuning. `reranker`: (scorer, depth) for the
    rerank mode."""
    vstore = dense.sync(tree) if dense is not None else None
    store = Store.open_reader(index_dir_for(tree))
    try:
        searcher = Searcher(store, vstore, dense.embedder if dense else None)
        sig = searcher.signals(query, DEPTH, "hybrid")
        ids = sorted({c for r in sig.rankings.values() for c, _ in r})
        paths, symbols = sig.paths, chunk_symbols(store, ids, query)
        gold_lines, gold_functions = gold(store) if callable(gold) else gold
        out: dict[str, object] = {"_signals": {
            "rankings": {n: [c for c, _ in r] for n, r in sig.rankings.items()},
            "scores": {n: [round(float(v), 6) for _, v in r] for n, r in sig.rankings.items()},
            "files": sig.files, "file_rankings": sig.file_rankings, "prose_files": sorted(sig.prose_files),
            "prose": sorted(sig.prose), "scopes": sig.scopes,
            "chunks": {c: [paths.get(c, ""), symbols.get(c, "")] for c in ids}}}
        counter = counter_for()
        lines = LineCache(store, tree, counter)
        for mode in modes:
            weights = searcher.weights if mode in ("hybrid", "rerank") else baseline(mode)
            fused = fuse_signals(sig, weights)
            if mode == "rerank":
                fused = rerank(store, query, fused, sig, *reranker)
            files, units = files_and_units(fused, paths, symbols, sig, weights)
            cover, fcover = {}, {}
            for budget in BUDGETS:
                b = build_bundle(Searcher(store, vstore, searcher.embedder, weights), tree, query, budget, counter,
                                 ranking=(fused, sig), lines=lines)
                cover[budget] = gold_line_coverage(b, gold_lines)
                fcover[budget] = cover[budget] if gold_functions is gold_lines else \
                    gold_line_coverage(b, gold_functions)
            out[mode] = (files, units, cover, fcover)
        return out
    finally:
        store.close()


def commit_time(tree: Path, commit: str) -> int:
    res = subprocess.run(["git", "show", "-s", "--format=%ct", commit], cwd=tree, capture_output=True, text=True)
    return int(res.stdout.strip() or 0) if res.returncode == 0 else 0


def plan(args) -> tuple[list[tuple[Path, dict]], dict[str, int]]:
    """(work tree, row) in the order to run them: repository by repository, and within one,
    by the date of the commit each task needs (each move a small incremental update)."""
    skipped: dict[str, int] = defaultdict(int)
    by_repo: dict[str, list[dict]] = defaultdict(list)
    for data in args.data:
        rows = load(data)
        if args.only_repo:
            rows = [r for r in rows if r["repo"] in args.only_repo]
        if args.limit:
            rows = rows[:args.limit]
        for row in rows:
            row["_dataset"] = data.parent.name if data.parent.name != "eval" else data.stem
            by_repo[row["repo"]].append(row)
    out = []
    for repo, rows in by_repo.items():
        tree = args.repos / repo.replace("/", "+")
        if not tree.is_dir():
            skipped[f"no work tree for {repo}"] += len(rows)
            continue
        when = {c: commit_time(tree, c) for c in {commit_of(r) for r in rows}}
        out += [(tree, r) for r in sorted(rows, key=lambda r: when[commit_of(r)])]
    return out, skipped


def coverage_keys(cover: dict, fcover: dict):
    """(summary key, (inside, total)) for a task's bundle coverages by budget: `bundle_8k`,
    `bundle_32k`, and `bundle_8k_functions`, `bundle_32k_functions` where the gold functions'
    lines were scored."""
    for suffix, covered in (("", cover), ("_functions", fcover)):
        for budget, c in sorted(covered.items(), key=lambda kv: int(kv[0])):
            yield f"bundle_{int(budget) // 1000}k{suffix}", tuple(c)


def coverage(covers: list[tuple[int, int]]) -> dict[str, float]:
    inside = sum(a for a, _ in covers)
    total = sum(b for _, b in covers)
    per_task = [a / b for a, b in covers if b]
    return {"gold_lines": round(inside / total, 4) if total else 0.0,
            "per_task": round(sum(per_task) / len(per_task), 4) if per_task else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, action="append", required=True)
    ap.add_argument("--repos", type=Path, required=True)
    ap.add_argument("--dense", action="store_true",
                    help="also embed every tree for the dense signal (minutes per repository on a CPU)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many tasks per data file")
    ap.add_argument("--only-repo", action="append", default=[], help="only tasks on this owner/name (repeatable)")
    ap.add_argument("--signals-out", type=Path, default=None, help="append each task's rankings here (JSON lines)")
    ap.add_argument("--rerank", type=int, default=0, metavar="N",
                    help="also the rerank mode: the hybrid ranking's best N code units reranked by a model")
    ap.add_argument("--rerank-base-url", default="", help="an OpenAI-compatible server to rerank with "
                    "(default: the packaged local model)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    opts = IndexOptions()
    modes = ["lexical", "dense", "hybrid"] if args.dense else ["lexical", "hybrid"]
    t0 = time.perf_counter()
    tasks, skipped = plan(args)
    with ExitStack() as held:
        for tree in dict.fromkeys(t for t, _ in tasks):
            # The run moves the tree from commit to commit: a second run on it would check
            # out its own commits under this one (the index's own lock guards only its writes).
            held.enter_context(WriterLock(index_dir_for(tree), name=TREE_LOCK,
                                          what="running a localization benchmark on this work tree",
                                          hint="let it finish, or give the new run other work trees (--repos)"))
        reranker = None
        if args.rerank > 0:
            modes.append("rerank")
            reranker = (open_generator(GeneratorOptions(base_url=args.rerank_base_url, max_tokens=1)), args.rerank)
        _run(args, tasks, skipped, opts, modes, Dense() if args.dense else None, reranker, t0)


TREE_LOCK = "benchmark.lock"


def _run(args, tasks, skipped, opts, modes, dense, reranker, t0) -> None:
    per: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    covers: dict[str, dict[str, dict[str, list]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    detail = []
    sig_file = args.signals_out.open("a") if args.signals_out else None
    for n, (tree, row) in enumerate(tasks, 1):
        kind = kind_of(row)
        try:
            checkout(tree, commit_of(row))
        except subprocess.CalledProcessError as exc:
            skipped[f"checkout failed: {exc.stderr.decode(errors='replace').strip()[:80]}"] += 1
            continue
        update_index(tree, opts, derived=[GraphIndex()])
        query = row.get("question") or row.get("query")
        if kind == "commit" and row.get("body"):
            query = f"{query}\n{row['body']}"
        def gold(store, k=kind, r=row, t=tree):
            return gold_lines_of(k, r, store, t)

        ranked = run_needle(tree, row, opts, modes, dense, gold, reranker) if kind == "needle" else \
            rank_modes(tree, query, modes, dense, gold, reranker)
        group = f"{kind}{'-leak' if row.get('leak') is True else ''}"
        task = {"kind": group, "dataset": row["_dataset"], "repo": row["repo"],
                "id": row.get("instance_id") or row.get("commit")}
        raw = ranked.pop("_signals")
        for mode, (files, units, cover, fcover) in ranked.items():
            s = score(kind, row, files, units)
            keyed = list(coverage_keys(cover, fcover))
            for g in (group, f"{row['_dataset']}", "all", *extra_groups(kind, row)):
                per[mode][g].append(s)
                for key, c in keyed:
                    covers[mode][g][key].append(c)
            task[mode] = {**s, "top_files": files[:5], "bundle": {str(b): c for b, c in cover.items()}}
            if fcover != cover:  # else the same lines (benchmarks.localization_report reads them so)
                task[mode]["bundle_functions"] = {str(b): c for b, c in fcover.items()}
        detail.append(task)
        if sig_file is not None:
            gold_files = [row["gold_file"]] if kind == "needle" else row["gold_files"]
            gold_funcs = [row["gold_function"]] if kind == "needle" else (row.get("gold_functions") or [])
            sig_file.write(json.dumps({**{k: task[k] for k in ("kind", "dataset", "repo", "id")},
                                       "gold_files": gold_files, "gold_functions": gold_funcs, **raw}) + "\n")
            sig_file.flush()
        if n % 25 == 0:
            print(f"  {n}/{len(tasks)} tasks, {time.perf_counter() - t0:.0f} s", flush=True)
    if dense is not None:
        dense.close()
    if reranker is not None:
        reranker[0].close()
    if sig_file is not None:
        sig_file.close()
    summary = {}
    for m, groups in per.items():
        summary[m] = {}
        for g, v in sorted(groups.items()):
            summary[m][g] = summarize(v)
            for key, cs in sorted(covers[m][g].items()):
                summary[m][g][key] = coverage(cs)
    result = {"modes": modes, "data": [str(d) for d in args.data], "repos": sorted({t["repo"] for t in detail}),
              "seconds": round(time.perf_counter() - t0, 1), "skipped": dict(skipped),
              "weights": {k: v for k, v in vars(Searcher.__dataclass_fields__["weights"].default).items()},
              "summary": summary, "tasks": detail}
    name = "-".join(r.replace("/", "+") for r in (args.only_repo or ["all"]))[:80]
    out = write_result("localization", Path(name), result, args.out or RESULTS / f"localization-{name}.json")
    print(f"localization ({', '.join(modes)}), {len(detail)} tasks in {result['seconds']} s")
    for mode, groups in result["summary"].items():
        for group, summ in groups.items():
            print(f"  {mode:<8} {group:<14} " + "  ".join(f"{k} {v}" for k, v in summ.items()))
    for reason, n in skipped.items():
        print(f"  skipped {n}: {reason}")
    print(f"  wrote {out}")


if __name__ == "__main__":
    main()
