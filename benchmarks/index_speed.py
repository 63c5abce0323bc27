"""Index speed on a real repository, against the parser's bare floor and ctags.

    python -m benchmarks.index_speed --repo PATH [--runs 3] [--workers 0]

Measures, in one run: the full structure index (fresh, no embeddings) through the real
CLI in a subprocess, with the peak memory of its whole process tree; a no-op re-index;
a one-file edit; and two anchors on the same files: the bare floor of the parser (read,
tree-sitter parse, run the tag queries, on all cores, nothing stored; once with our
queries and once with the grammars' own tags.scm) and `ctags -R` (universal-ctags).
Prints a table and writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.common import write_result

def _floor_worker(args: tuple[str, str, str, str]) -> int:
    root, rel, language, which = args
    import tree_sitter

    from indexer.languages import LANGUAGES, compiled_query, grammar

    data = (Path(root) / rel).read_bytes()
    tree = tree_sitter.Parser(grammar(language)).parse(data)
    if which == "ours":
        query = compiled_query(language)
    else:
        query = _stock_query(language)
        if query is None:
            return len(data)
    tree_sitter.QueryCursor(query).matches(tree.root_node)
    del LANGUAGES
    return len(data)


_stock: dict[str, object] = {}


def _stock_query(language: str):
    """The grammar wheel's own queries/tags.scm, as GitHub's code navigation uses it."""
    if language not in _stock:
        import importlib

        import tree_sitter

        from indexer.languages import LANGUAGES, grammar

        module = importlib.import_module(LANGUAGES[language].grammar_module)
        path = Path(module.__file__).parent / "queries" / "tags.scm"
        try:
            _stock[language] = tree_sitter.Query(grammar(language), path.read_text())
        except Exception:  # some wheels' tags.scm use predicates or nodes this grammar lacks
            _stock[language] = None
    return _stock[language]


def bare_floor(root: Path, files: list[tuple[str, str]], workers: int, which: str) -> float:
    """Seconds to read, parse and query every file on `workers` processes, storing nothing."""
    ctx = multiprocessing.get_context("fork")
    tasks = [(str(root), rel, lang, which) for rel, lang in files]
    t0 = time.perf_counter()
    with ctx.Pool(workers) as pool:
        sum(pool.imap_unordered(_floor_worker, tasks, chunksize=4))
    return time.perf_counter() - t0


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_cli_index(root: Path, extra: list[str]) -> tuple[float, dict, int]:
    """(wall seconds, --json summary, peak RSS of the process tree in bytes)."""
    t0 = time.perf_counter()
    # the structure index alone (no embeddings: benchmarks.embed_speed measures those)
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "index", str(root), "--json", "--no-embed", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"repoqa index failed ({proc.returncode}): {err}")
    return wall, json.loads(out), peak[0]


def ctags_seconds(root: Path) -> float | None:
    exe = shutil.which("ctags")
    if exe is None:
        return None
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    if "Universal Ctags" not in version:
        return None
    t0 = time.perf_counter()
    subprocess.run([exe, "-R", "-f", os.devnull, "--exclude=.git", "--exclude=.repoqa", "."], cwd=root,
                   capture_output=True, check=False)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", required=True, type=Path)
    ap.add_argument("--runs", type=int, default=3, help="full-index repetitions (median reported)")
    ap.add_argument("--workers", type=int, default=0, help="parser processes (0: one per core)")
    ap.add_argument("--out", type=Path, default=None, help="JSON output path")
    args = ap.parse_args(argv)

    from indexer.options import IndexOptions
    from indexer.scan import scan
    from indexer.update import _workers, index_dir_for

    root = args.repo.resolve()
    options = IndexOptions(workers=args.workers)
    workers = _workers(options)
    entries = scan(root, options)
    parsed_files = [(e.path, e.language) for e in entries
                    if not e.skip_reason and e.language not in ("text", "shebang")]
    parsed_bytes = sum(e.size for e in entries if not e.skip_reason)
    extra = ["--workers", str(args.workers)] if args.workers else []

    fulls, peaks, summary = [], [], {}
    for _ in range(args.runs):
        shutil.rmtree(index_dir_for(root), ignore_errors=True)
        wall, summary, peak = run_cli_index(root, extra)
        fulls.append(summary["seconds"])
        peaks.append(peak)
    noop_wall, noop, _ = run_cli_index(root, extra)

    # one-file edit: append a function to a mid-sized source file, re-index, restore
    target = sorted(parsed_files)[len(parsed_files) // 2][0] if parsed_files else None
    edit_seconds = None
    if target:
        path = root / target
        original = path.read_bytes()
        try:
            path.write_bytes(original + b"\n")
            _, edit, _ = run_cli_index(root, extra)
            edit_seconds = edit["seconds"]
        finally:
            path.write_bytes(original)
        run_cli_index(root, extra)

    floors = [bare_floor(root, parsed_files, workers, "ours") for _ in range(args.runs)]
    stock = [bare_floor(root, parsed_files, workers, "stock") for _ in range(args.runs)]
    ctags = ctags_seconds(root)

    full = statistics.median(fulls)
    floor = statistics.median(floors)
    result = {
        "benchmark": "index_speed",
        "repo": str(root),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "workers": workers, "python": platform.python_version()},
        "files_seen": summary.get("files_seen"),
        "files_indexed": summary.get("files_parsed"),
        "files_skipped": summary.get("files_skipped"),
        "mb_indexed": round(parsed_bytes / 1e6, 2),
        "symbols": summary.get("symbols"), "references": summary.get("references"),
        "chunks": summary.get("chunks"),
        "full_index_seconds": {"runs": fulls, "median": full},
        "files_per_second": round(summary.get("files_parsed", 0) / full, 1),
        "mb_per_second": round(parsed_bytes / 1e6 / full, 2),
        "peak_rss_mb": round(max(peaks) / 2**20, 1),
        "noop_reindex_seconds": noop["seconds"], "noop_reindex_cli_wall_seconds": round(noop_wall, 3),
        "noop_files_parsed": noop["files_parsed"],
        "one_file_edit_seconds": edit_seconds,
        "bare_floor_seconds": {"runs": [round(x, 3) for x in floors], "median": round(floor, 3),
                               "files": len(parsed_files)},
        "bare_floor_stock_tags_seconds": {"runs": [round(x, 3) for x in stock],
                                          "median": round(statistics.median(stock), 3)},
        "ctags_seconds": round(ctags, 3) if ctags is not None else None,
        "ratio_full_to_floor": round(full / floor, 2),
        "ratio_full_to_stock_floor": round(full / statistics.median(stock), 2),
        "ratio_full_to_ctags": round(full / ctags, 1) if ctags else None,
    }
    out = write_result("index_speed", root, result, args.out)

    rows = [
        ("files indexed / seen", f"{result['files_indexed']:,} / {result['files_seen']:,}"),
        ("MB indexed", f"{result['mb_indexed']}"),
        ("full index (median)", f"{full:.2f} s  ({result['files_per_second']} files/s, "
                                f"{result['mb_per_second']} MB/s)"),
        ("peak memory (process tree)", f"{result['peak_rss_mb']} MB"),
        ("no-op re-index", f"{noop['seconds']:.3f} s in process, {noop_wall:.3f} s CLI wall"),
        ("one-file edit re-index", f"{edit_seconds} s"),
        ("bare floor, our queries", f"{floor:.2f} s on {workers} processes"),
        ("bare floor, stock tags.scm", f"{statistics.median(stock):.2f} s"),
        ("ctags -R", f"{ctags:.2f} s" if ctags is not None else "not installed (apt-get install universal-ctags)"),
        ("full / floor (ours, stock)", f"{result['ratio_full_to_floor']}x, {result['ratio_full_to_stock_floor']}x"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
