"""How fresh the watcher keeps an index: from a file write to the first query that sees it.

    python -m benchmarks.freshness --repo PATH [--edits 50] [--no-embed] [--branch-files 1000]

Runs the real watcher (watchdog observer, debounce, partial updates, graph; vectors through
a DenseUpdater unless --no-embed) in this process, as `repoqa serve --watch` will. For each
of `--edits` source files spread across the repository (a seeded sample), appends a new
function with a unique name and a docstring, then polls (every 2 ms, with an indexed
lookup of the name, so the probe does not steal the interpreter from the watcher) until
- structure: a BM25 search for the name returns the new chunk and the graph finds the
  new symbol (both, run when the lookup first sees it),
- dense: the new chunk's vectors are in the live vector store and a dense search with the
  docstring ranks it in the top 5,
and records each delay from the write; then restores the file and waits for that update.
Then a branch switch: a temporary branch changing `--branch-files` files is checked out,
and the time until the index holds every changed file's new content is measured (and back).
The repository is left as it was found (files, branch). Prints a table and writes JSON
under benchmarks/results/.

The index (and, for the dense figures, the vectors) should be complete before the run:
`repoqa index PATH` first; a missing embedding backlog would otherwise queue behind.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import threading
import time
from pathlib import Path

import psutil

from benchmarks.common import percentile, write_result
from graph.build import GraphIndex
from graph.errors import SymbolNotFound
from graph.query import Graph
from indexer.options import IndexOptions
from indexer.store import Store
from indexer.update import index_dir_for, update_index
from indexer.watch import Watcher, WatchOptions
from retrieval.search import Searcher

_DEF = {
    "python": "\n\ndef {name}():\n    \"\"\"{doc}\"\"\"\n    return 1\n",
    "go": "\n\n// {name} {doc}\nfunc {name}() int {{ return 1 }}\n",
    "javascript": "\n\n/** {doc} */\nfunction {name}() {{ return 1; }}\n",
    "typescript": "\n\n/** {doc} */\nfunction {name}(): number {{ return 1; }}\n",
    "rust": "\n\n/// {doc}\nfn {name}() -> i32 {{ 1 }}\n",
    "java": None, "c": "\n\n/* {doc} */\nint {name}(void) {{ return 1; }}\n",
    "cpp": "\n\n/* {doc} */\nint {name}() {{ return 1; }}\n",
}
_DOCS = ["Estimate the migration speed of swallows over the ocean",
         "Count the lighthouses visible from a sailing boat at night",
         "Translate a recipe for bread into the quantities for a bakery",
         "Schedule the watering of greenhouse tomatoes by humidity",
         "Rank chess openings by how often beginners lose with them"]


def _pct(xs: list[float], q: float) -> float | None:
    """A percentile of delays in seconds, in milliseconds; None without any."""
    return round(percentile(xs, q) * 1000, 1) if xs else None


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


class Probe:
    """Queries as a client of the live index would make them."""

    def __init__(self, root: Path, updater=None, embedder=None):
        self.store = Store.open_reader(index_dir_for(root))
        self.searcher = Searcher(self.store)
        self.graph = Graph(self.store)
        self.updater, self.embedder = updater, embedder

    def committed(self, name: str) -> bool:
        """A cheap look (an indexed lookup) for the new definition, polled until it shows;
        then the real queries run once. Polling with the real queries would steal this
        process's interpreter from the watcher it measures."""
        return self.store.conn.execute("SELECT 1 FROM symbols WHERE name = ? LIMIT 1", (name,)).fetchone() is not None

    def lexical(self, name: str, path: str) -> bool:
        return any(h.path == path for h in self.searcher.search(name, "lexical", k=3))

    def graph_has(self, name: str) -> bool:
        try:
            return bool(self.graph.find(name))
        except SymbolNotFound:
            return False

    def dense(self, name: str, path: str, doc: str) -> bool:
        row = self.store.conn.execute(
            "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path = ? AND c.symbols LIKE ?",
            (path, f"%{name}%")).fetchone()
        if row is None or not self.updater.has_chunk(row[0]):
            return False
        hits = self.updater.search(self.embedder.embed_question(doc), 5 * 8)
        return any(h.id // 8 == row[0] for h in hits)

    def close(self) -> None:
        self.store.close()


def _wait_idle(watcher: Watcher, root: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with watcher._cond:
            pending = bool(watcher._pending)
        if not pending and watcher._state.get(root, {}).get("state") in ("idle", None):
            time.sleep(0.2)  # let a trailing event arrive
            with watcher._cond:
                if not watcher._pending:
                    return
        time.sleep(0.02)
    raise TimeoutError("the watcher did not settle")


def edits(root: Path, watcher: Watcher, probe: Probe, n: int, rng: random.Random, dense: bool) -> dict:
    store = probe.store
    files = [(p, lang) for p, lang in store.conn.execute(
        "SELECT path, language FROM files WHERE skip_reason = '' AND language IN "
        "('python','go','javascript','typescript','rust','c','cpp') ORDER BY path")]
    sample = rng.sample(files, min(n, len(files)))
    lat = {"structure": [], "dense": []}  # structure: lexical search and the graph both see it
    misses = {"structure": 0, "dense": 0}
    rss: list[float] = []
    proc = psutil.Process()
    for i, (rel, lang) in enumerate(sample):
        path = root / rel
        original = path.read_bytes()
        name = f"repoqa_fresh_{i}_{rng.randrange(10**6)}"
        doc = _DOCS[i % len(_DOCS)]
        committed = {"lexical": lambda: probe.lexical(name, rel), "graph": lambda: probe.graph_has(name)}
        todo = {"structure": lambda: probe.committed(name) and all(f() for f in committed.values())}
        if dense:
            todo["dense"] = lambda: probe.committed(name) and probe.dense(name, rel, doc)
        try:
            t0 = time.monotonic()
            path.write_bytes(original + _DEF[lang].format(name=name, doc=doc).encode())
            deadline = t0 + 30
            while todo and time.monotonic() < deadline:
                for key, check in list(todo.items()):
                    if check():
                        lat[key].append(time.monotonic() - t0)
                        del todo[key]
                time.sleep(0.002)
            for key in todo:
                misses[key] += 1
        finally:
            path.write_bytes(original)
        _wait_idle(watcher, root)
        rss.append(proc.memory_info().rss / 2**20)
    out = {k: {"p50_ms": _pct(v, 0.5), "p95_ms": _pct(v, 0.95), "max_ms": _pct(v, 1.0), "n": len(v),
               "missed": misses[k]} for k, v in lat.items() if v or misses[k]}
    q = max(1, len(rss) // 4)  # memory over the run: flat means the last quarter matches the first
    out["rss_mb"] = {"first_quarter": round(sum(rss[:q]) / q, 1), "last_quarter": round(sum(rss[-q:]) / q, 1),
                     "samples": [round(x, 1) for x in rss]}
    return out


def branch_switch(root: Path, watcher: Watcher, probe: Probe, n_files: int, rng: random.Random) -> dict:
    if _git(root, "status", "--porcelain", "--untracked-files=no").strip():
        return {"skipped": "the work tree has uncommitted changes"}
    head = _git(root, "rev-parse", "--abbrev-ref", "HEAD").strip()
    start = _git(root, "rev-parse", "HEAD").strip()
    files = [p for (p,) in probe.store.conn.execute(
        "SELECT path FROM files WHERE skip_reason = '' AND language = 'python' ORDER BY path")]
    if len(files) < n_files:
        files = [p for (p,) in probe.store.conn.execute(
            "SELECT path FROM files WHERE skip_reason = '' AND language NOT IN ('', 'text') ORDER BY path")]
    chosen = rng.sample(files, min(n_files, len(files)))
    branch = f"repoqa-bench-{os.getpid()}"
    result = {}
    try:
        _git(root, "checkout", "-q", "--detach")
        for rel in chosen:
            with open(root / rel, "ab") as fh:
                fh.write(b"\n# repoqa branch-switch benchmark\n" if rel.endswith(".py") else b"\n// repoqa\n")
        _git(root, "checkout", "-q", "-b", branch)
        _git(root, "commit", "-qam", "benchmark branch", "--no-verify")
        _wait_idle(watcher, root, timeout=300)
        for label, target in (("switch_back", start), ("switch_to_branch", branch)):
            t0 = time.monotonic()
            _git(root, "checkout", "-q", target)
            want = {rel: os.stat(root / rel).st_size for rel in chosen}
            while True:
                got = dict(probe.store.conn.execute(
                    f"SELECT path, size FROM files WHERE path IN ({','.join('?' * len(chosen))})", chosen))
                if got == want:
                    break
                if time.monotonic() - t0 > 300:
                    raise TimeoutError("the branch switch was not absorbed in 300 s")
                time.sleep(0.01)
            result[label] = {"files": len(chosen), "seconds": round(time.monotonic() - t0, 2),
                             "updates": watcher.updates}
            _wait_idle(watcher, root, timeout=300)
    finally:
        _git(root, "checkout", "-q", "-f", head if head != "HEAD" else start)
        _git(root, "branch", "-q", "-D", branch)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--edits", type=int, default=50)
    ap.add_argument("--branch-files", type=int, default=1000)
    ap.add_argument("--no-embed", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    root = args.repo.resolve()
    rng = random.Random(args.seed)
    update_index(root, IndexOptions(), derived=[GraphIndex()])
    updater = embedder = None
    idle, after = [], []
    if not args.no_embed:
        from indexer.dense import DenseUpdater
        from indexer.embed import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder()
        embedder.prepare_questions()  # loaded, and traced for the probes' questions, before measuring
        updater = DenseUpdater(root, embedder)
        t = time.monotonic()
        while updater.step(budget_s=5.0) == 0.0:  # the backlog, if any, before measuring
            if time.monotonic() - t > 3600:
                raise SystemExit("more than an hour of embedding backlog: run `repoqa index` first")
        idle, after = [lambda r: updater.step(0.25)], [lambda r, s: updater.step(0.5)]
    watcher = Watcher({root: IndexOptions()}, derived=[GraphIndex()], watch=WatchOptions(),
                      idle=idle, after_update=after)
    watcher.start()
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    proc = psutil.Process()
    probe = None
    try:
        _wait_idle(watcher, root, timeout=600)
        probe = Probe(root, updater, embedder)
        cpu0, rss0 = proc.cpu_times(), proc.memory_info().rss
        time.sleep(5.0)
        cpu1 = proc.cpu_times()
        idle_cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / 5.0
        fresh = edits(root, watcher, probe, args.edits, rng, not args.no_embed)
        switch = branch_switch(root, watcher, probe, args.branch_files, rng) if args.branch_files else {}
        rss1 = proc.memory_info().rss
    finally:
        if probe is not None:
            probe.close()
        watcher.stop()
        thread.join(timeout=30)
        watcher.close()
        if updater is not None:
            updater.close()
    result = {"repo": root.name, "edits": fresh, "branch_switch": switch,
              "idle_cpu_share_of_a_core": round(idle_cpu, 4),
              "rss_mb_before_edits": round(rss0 / 2**20), "rss_mb_after": round(rss1 / 2**20),
              "vectors": not args.no_embed, "updates": watcher.updates}
    out = write_result("freshness" + ("-no-embed" if args.no_embed else ""), root, result, args.out)
    print(f"{root.name}: write -> first query that sees it, over {args.edits} edits")
    for key, v in fresh.items():
        if key != "rss_mb":
            print(f"  {key:<9} p50 {v['p50_ms']} ms  p95 {v['p95_ms']} ms  max {v['max_ms']} ms  (missed {v['missed']})")
    m = fresh["rss_mb"]
    print(f"  RSS over the edits: first quarter {m['first_quarter']} MB, last quarter {m['last_quarter']} MB")
    for label, v in switch.items():
        print(f"  branch switch ({label}): {v} ")
    print(f"  idle CPU {max(idle_cpu, 0.0) * 100:.2f}% of a core; RSS {rss0 / 2**20:.0f} -> {rss1 / 2**20:.0f} MB")
    print(f"  wrote {out}")


if __name__ == "__main__":
    main()
