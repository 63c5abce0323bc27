"""How fast hybrid search and bundles answer, in process, on one indexed repository.

    python -m benchmarks.retrieval_speed --repo PATH [--data FILE ...] [--queries N] [--server]
        [--against REV] [--out FILE]

Questions: the `question`/`query` fields of evaluation rows for this repository (`--data`,
real issue texts, commit messages and doc comments), else short questions made from the
index's own symbol names. The repository must be indexed (`repoqa index`); with vectors,
search includes the query embedding and the vector search. Reported (p50/p99/max, after one
warm-up query that loads the model, the rank matrix and the term statistics; each operation
over all the questions in turn):
- search: `Searcher.search(q, "hybrid", k=10)`, every signal fused;
- search_files: the same ranked by file;
- bundle_8k and bundle_32k: `build_bundle` with the default tokenizer;
- the signals alone: query embedding (of the part dense search reads), BM25 over chunks and
  over whole files, vector search, exact matches (definitions, uses, paths, messages), graph
  walk. BM25 keeps each term's scores for the next question: `lexical` and `file_lexical`
  are timed with none kept (every term read from the index), `lexical_again` and
  `file_lexical_again` for the same question asked again. `search`, the first operation,
  finds kept only the words the questions before it (and the warm-up's) had, as a server
  answering one question after another would; `search_files` and the bundles come after it
  and find every question's terms kept, as a bundle asked after a search of the same
  question does.
With `--against REV`, then the same questions through the code at git revision REV (a
temporary worktree) and through this tree, each in a process of its own on the same index,
question by question, the two taking turns to go first: `against` holds each one's latency
for `search`, `search_files` and `bundle_32k`, and the median of this tree's time over REV's
per question (`ratio_p50`) with how often this tree was faster. The machines are shared and
noisy: the same code measured in separate runs minutes apart differs by up to a fifth, which
pairing question by question mostly cancels (the same code against itself: median ratios of
0.977-1.014). REV must read the index this tree built; each side checks that its modules
are its tree's (an editable install would serve this project's for any module REV lacks).
An embedded Qdrant store admits one process at a time, so it cannot be measured this way.
With `--server`, then the same through the real server (`repoqa serve` on a loopback port, in
its own process, as benchmarks.service_load starts it): `server_search` (hybrid, 10 hits) and
`server_bundle_32k`, each question once after one warm-up, timed at the client. The server
refuses questions over its limit (service.rpc.MAX_QUERY characters): those are cut to it
(`server_questions_cut` counts them).
Writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import PROJECT, latency_ms, write_result
from indexer.store import Store
from indexer.update import index_dir_for
from retrieval import dense, lexical, signals
from retrieval.bundle import build_bundle
from retrieval.query import analyze
from retrieval.search import DEPTH, Searcher
from retrieval.tokens import counter_for


def for_repo(row_repo: str, name: str) -> bool:
    """Whether an evaluation row's `owner/name` (or none) is the repository in the folder
    `name`: a checkout named `name` or `owner+name` (as benchmarks.localization lays them out)."""
    return not row_repo or name in (row_repo.split("/")[-1], row_repo.replace("/", "+"))


def questions(repo: Path, data: list[Path], store: Store, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    name = repo.resolve().name
    out = []
    for f in data:
        for line in f.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                if for_repo(row.get("repo", ""), name):
                    out.append(row.get("question") or row.get("query") or "")
    out = [q for q in out if q.strip()]
    if data and not out:
        # Made-up short questions cost differently (the name signal, common words): a run
        # meant to use real ones must not quietly measure something else.
        raise SystemExit(f"no question in {', '.join(map(str, data))} is about {name}")
    if not out:
        names = [r[0] for r in store.conn.execute(
            "SELECT DISTINCT qualname FROM symbols WHERE kind IN ('function', 'method', 'class') LIMIT 5000")]
        out = [f"how does {q} work and who uses it" for q in rng.sample(names, min(n, len(names)))]
    rng.shuffle(out)
    return out[:n]


def open_searcher(repo: Path, store: Store) -> Searcher:
    meta = store.meta()
    if not int(meta.get("vector_count", "0") or 0):
        return Searcher(store)
    from indexer.vectors import open_vector_store
    from service.config import embed_options, vector_options
    from service.embedders import open_embedder

    embedder = open_embedder(embed_options(repo))
    vstore = open_vector_store(vector_options(repo), index_dir_for(repo), int(meta["vector_dim"]))
    return Searcher(store, vstore, embedder)


def through_server(repo: Path, qs: list[str]) -> tuple[list[float], list[float], int]:
    """Seconds per hybrid Search and per 32k Bundle through a real server on `repo`, and how
    many questions were cut to the server's limit."""
    from benchmarks.service_load import ServerProcess
    from service.client import Client
    from service.rpc import MAX_QUERY

    asked = [q[:MAX_QUERY] for q in qs]
    server = ServerProcess(repo)
    searches, bundles = [], []
    try:
        with Client(server.target) as client:
            client.search(repo.name, asked[0], limit=10, mode="hybrid")  # warm-up: model, vectors
            client.bundle(repo.name, asked[0], budget_tokens=32000)
            for q in asked:
                t = time.perf_counter()
                client.search(repo.name, q, limit=10, mode="hybrid")
                searches.append(time.perf_counter() - t)
            for q in asked:
                t = time.perf_counter()
                client.bundle(repo.name, q, budget_tokens=32000)
                bundles.append(time.perf_counter() - t)
    finally:
        rc = server.stop()
    if rc != 0:
        raise SystemExit(f"the server exited {rc}:\n" + "\n".join(server.stderr[-20:]))
    return searches, bundles, sum(len(q) > MAX_QUERY for q in qs)


# What each side of `--against` runs, from its own tree: that tree's packages first on the
# import path and no editable install's finder (it would serve this project's files for a
# module the tree lacks); the side checks where each module came from and says so. It
# answers on a descriptor of its own: whatever a library prints goes to the side's log.
_SIDE = """
import json, os, sys, time
from pathlib import Path
root = Path.cwd().resolve()
sys.path.insert(0, str(root))
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
answers = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr
from benchmarks.retrieval_speed import open_searcher
from indexer.store import Store
from indexer.update import index_dir_for
from retrieval.bundle import build_bundle
from retrieval.tokens import counter_for
ours = ("benchmarks", "graph", "indexer", "retrieval", "service")
elsewhere = sorted(name for name, m in list(sys.modules.items()) if name.split(".")[0] in ours
                   and getattr(m, "__file__", None) and root not in Path(m.__file__).resolve().parents)
if elsewhere:
    raise SystemExit(f"modules from outside {root}: {', '.join(elsewhere)}")
repo = Path(sys.argv[1])
searcher = open_searcher(repo, Store.open_reader(index_dir_for(repo)))
counter = counter_for()
ops = {"search": lambda q: searcher.search(q, "hybrid", k=10),
       "search_files": lambda q: searcher.files(q, "hybrid", k=10),
       "bundle_32k": lambda q: build_bundle(searcher, repo, q, 32000, counter)}
print(json.dumps(str(root)), file=answers, flush=True)
for line in sys.stdin:
    asked = json.loads(line)
    t = time.perf_counter()
    ops[asked["op"]](asked["q"])
    print(json.dumps(time.perf_counter() - t), file=answers, flush=True)
"""
AGAINST_OPS = ("search", "search_files", "bundle_32k")


class _Side:
    """One tree's code answering timed questions in its own process; `root`, the tree its
    modules came from, as it says."""

    def __init__(self, name: str, tree: Path, repo: Path, log: Path):
        self.name, self.log = name, log
        with open(log, "w") as err:  # a file, not a pipe: nobody reads it until the end
            self.proc = subprocess.Popen([sys.executable, "-c", _SIDE, str(repo)], cwd=tree, text=True,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        self.root = Path(json.loads(self.answer()))
        if self.root != tree.resolve():
            self.close()
            raise SystemExit(f"the code at {self.name} ran from {self.root}, not {tree}")

    def answer(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise SystemExit(f"the code at {self.name} failed:\n{self.log.read_text(errors='replace')[-3000:]}")
        return line

    def ask(self, op: str, q: str) -> float:
        self.proc.stdin.write(json.dumps({"op": op, "q": q}) + "\n")
        self.proc.stdin.flush()
        return float(self.answer())

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.stdin.close()  # the side's loop ends
                self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()


def resolve_revision(rev: str) -> str:
    """The commit `rev` names in this project's history; stops the run when it names none."""
    try:
        return subprocess.run(["git", "-C", str(PROJECT), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
                              check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"--against {rev}: not a revision of {PROJECT} ({exc})") from exc


def paired(this: list[float], that: list[float]) -> dict:
    """Both sides' latencies (seconds, question by question), the median of this side's time
    over that one's per question, and how often this side was faster."""
    ratios = [a / b for a, b in zip(this, that) if b > 0]
    return {"this": latency_ms(this), "rev": latency_ms(that),
            "ratio_p50": round(statistics.median(ratios), 3) if ratios else 0.0,
            "this_faster": sum(a < b for a, b in zip(this, that))}


def against(repo: Path, qs: list[str], rev: str, ops=AGAINST_OPS, side=_Side) -> dict:
    """`ops` over the questions by this tree and by the code at `rev`, paired question by
    question (the side going first alternates), each side warmed up as the main run is."""
    sha = resolve_revision(rev)
    from service.config import vector_options

    options = vector_options(repo)
    if options.backend == "qdrant" and not options.qdrant_url:
        raise SystemExit("--against: an embedded Qdrant store admits one process at a time")
    git = ["git", "-C", str(PROJECT)]
    with tempfile.TemporaryDirectory(prefix="repoqa-against-") as tmp:
        tree = Path(tmp) / "tree"
        sides: list = []
        try:
            made = subprocess.run(git + ["worktree", "add", "--detach", "--quiet", str(tree), sha],
                                  capture_output=True, text=True)
            if made.returncode != 0:
                raise SystemExit(f"--against {rev}: no worktree of it: {made.stderr.strip()}")
            sides.append(side("this tree", PROJECT, repo, Path(tmp) / "this.log"))
            sides.append(side(sha[:10], tree, repo, Path(tmp) / "rev.log"))
            for s in sides:
                s.ask("search", qs[0])
                s.ask("bundle_32k", qs[0])
            out: dict = {"rev": sha, "trees": [str(s.root) for s in sides], "ops": {}}
            for op in ops:
                times: list[list[float]] = [[], []]
                for i, q in enumerate(qs):
                    for j in ((0, 1) if i % 2 == 0 else (1, 0)):
                        times[j].append(sides[j].ask(op, q))
                out["ops"][op] = paired(*times)
            return out
        finally:
            for s in sides:
                try:
                    s.close()
                except Exception:  # noqa: BLE001 - the worktree goes all the same
                    pass
            if subprocess.run(git + ["worktree", "remove", "--force", str(tree)], capture_output=True).returncode:
                shutil.rmtree(tree, ignore_errors=True)
                subprocess.run(git + ["worktree", "prune"], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--data", type=Path, action="append", default=[])
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--server", action="store_true", help="also time search and 32k bundles through the server")
    ap.add_argument("--against", metavar="REV", default=None,
                    help="also time search, files and 32k bundles against the code at this git revision, paired")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    repo = args.repo.resolve()
    if args.against:
        resolve_revision(args.against)  # before the main run: a wrong name stops it at once
    store = Store.open_reader(index_dir_for(repo))
    searcher = open_searcher(repo, store)
    counter = counter_for()
    qs = questions(repo, args.data, store, args.queries, args.seed)
    t0 = time.perf_counter()
    searcher.search(qs[0], "hybrid", k=10)  # warm-up: model, rank matrix, term statistics
    build_bundle(searcher, repo, qs[0], 32000, counter)
    warmup = time.perf_counter() - t0
    times: dict[str, list[float]] = {k: [] for k in (
        "search", "search_files", "bundle_8k", "bundle_32k", "embed_query", "lexical", "lexical_again",
        "file_lexical", "file_lexical_again", "vectors", "exact", "graph")}
    tokens = []
    # One operation over all the questions, then the next, as a client asking one question
    # after another would: what one call leaves running (an OpenMP thread that spins while it
    # waits) slows the next.
    for name, fn in (("search", lambda q: searcher.search(q, "hybrid", k=10)),
                     ("search_files", lambda q: searcher.files(q, "hybrid", k=10)),
                     ("bundle_8k", lambda q: build_bundle(searcher, repo, q, 8000, counter)),
                     ("bundle_32k", lambda q: build_bundle(searcher, repo, q, 32000, counter))):
        for q in qs:
            t = time.perf_counter()
            out = fn(q)
            times[name].append(time.perf_counter() - t)
            if name == "bundle_32k":
                tokens.append(out.tokens)
    for q in qs:
        lexical.forget_term_scores()
        for name, fn in (("lexical", lexical.ranked), ("lexical_again", lexical.ranked),
                         ("file_lexical", lexical.ranked_files), ("file_lexical_again", lexical.ranked_files)):
            t = time.perf_counter()
            fn(store, q, DEPTH)
            times[name].append(time.perf_counter() - t)
        if searcher.has_vectors:
            t = time.perf_counter()
            vec = dense.embed_query(searcher.embedder, q)
            times["embed_query"].append(time.perf_counter() - t)
            t = time.perf_counter()
            searcher.vstore.search(vec, DEPTH)
            times["vectors"].append(time.perf_counter() - t)
        t = time.perf_counter()
        info = analyze(q)
        signals.symbols(store, info)
        signals.usages(store, info)
        signals.paths(store, info)
        signals.messages(store, info)
        times["exact"].append(time.perf_counter() - t)
        sig = searcher.signals(q, DEPTH, "lexical")
        t = time.perf_counter()
        searcher._graph(sig, DEPTH)
        times["graph"].append(time.perf_counter() - t)
    cut = 0
    if args.server:
        times["server_search"], times["server_bundle_32k"], cut = through_server(repo, qs)
    pair = None
    if args.against:
        try:
            pair = against(repo, qs, args.against)
        except SystemExit as exc:  # the main run's figures are still written
            pair = {"error": str(exc)}
    meta = store.meta()
    result = {
        "repo": str(repo), "commit": meta.get("commit", ""), "queries": len(qs),
        "questions": "evaluation rows" if args.data else "made from symbol names",
        "chunks": store.counts()["chunks"], "vectors": int(meta.get("vector_count", "0") or 0),
        "vector_store": meta.get("vector_store", ""), "tokenizer": counter.name,
        "warmup_seconds": round(warmup, 3),
        "query_chars_p50": sorted(len(q) for q in qs)[len(qs) // 2],
        "bundle_32k_tokens_p50": sorted(tokens)[len(tokens) // 2] if tokens else 0,
        **({"server_questions_cut": cut} if args.server else {}),
        "latency": {k: latency_ms(v) for k, v in times.items() if v},
        **({"against": pair} if pair else {}),
    }
    out = write_result("retrieval_speed", repo, result, args.out)
    print(f"retrieval_speed on {repo.name}: {len(qs)} queries, {result['chunks']} chunks, "
          f"{result['vectors']} vectors (warm-up {warmup:.1f} s)")
    for k, v in result["latency"].items():
        print(f"  {k:<18} p50 {v['p50_ms']:>8.1f} ms   p99 {v['p99_ms']:>8.1f} ms   max {v['max_ms']:>8.1f} ms")
    if pair and "error" in pair:
        print(f"  against {args.against}: {pair['error']}")
    elif pair:
        print(f"  against {pair['rev'][:10]}, question by question (this tree / that revision):")
        for op, v in pair["ops"].items():
            print(f"  {op:<18} p50 {v['this']['p50_ms']:>8.1f} / {v['rev']['p50_ms']:.1f} ms   "
                  f"p99 {v['this']['p99_ms']:>8.1f} / {v['rev']['p99_ms']:.1f} ms   "
                  f"median ratio {v['ratio_p50']:.3f}, faster in {v['this_faster']} of {v['this']['n']}")
    print(f"  wrote {out}")
    if searcher.vstore is not None:
        searcher.vstore.close()
    store.close()


if __name__ == "__main__":
    main()
