"""Embedding and vector-store speed on a real repository.

    python -m benchmarks.embed_speed --repo PATH [--encoder-sample 1500] [--queries 200]
        [--device auto|cpu|cuda] [--batch-size N] [--stores faiss-flat,faiss-ivf,numpy,qdrant-local]

In one run: the whole embedding pipeline (`embed_index`, fresh cache and store) in
chunks/s, against the bare encoder on a random sample of the same chunks (the same
windows, nothing else); the chunks re-embedded after a one-line edit; dense query latency
p50/p99 for k=20 on each store (FAISS exact, FAISS IVF, Qdrant local, NumPy); IVF
recall@20 against exact search with real query embeddings; a lone question's embedding
p50/p99 (what each search pays); index size on disk; peak memory. `--device cuda` runs the
model on a GPU; `--stores` leaves out stores whose library a machine lacks. Prints a table
and writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import write_result

# The stores compared, and where each keeps its data in the run's temporary folder.
STORES = {"faiss-flat": "flat.faiss", "faiss-ivf": "ivf.faiss", "numpy": "np.npz", "qdrant-local": "qdrant"}


def gpu_name() -> str | None:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # a torch without CUDA support
        return None


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def edit_churn(root: Path, paths: list[str], files: int = 300) -> dict[str, float]:
    """Chunks whose text changes when one random non-blank line of a file gets a comment
    appended, over a sample of files: what a one-line edit costs in re-embedding."""
    from indexer.languages import language_for
    from indexer.options import IndexOptions
    from indexer.parse import parse_source
    from indexer.records import FileRecord

    options = IndexOptions()
    rng = random.Random(1)
    sample = sorted(paths)
    rng.shuffle(sample)
    changed, counts = [], []
    for rel in sample[:files]:
        lang = language_for(rel, options.languages, True)
        data = (root / rel).read_bytes()
        lines = data.split(b"\n")
        candidates = [i for i, line in enumerate(lines) if line.strip()]
        if not candidates or lang in ("", "text", "shebang"):
            continue
        i = rng.choice(candidates)
        lines[i] += b"  // edited" if lang not in ("python",) else b"  # edited"
        rec = FileRecord(rel, lang, 0, 0, "")
        try:
            before = parse_source(rel, lang, data, options, rec).chunks
            after = parse_source(rel, lang, b"\n".join(lines), options, rec).chunks
        except UnicodeDecodeError:
            continue
        old = {c[6] for c in before}
        changed.append(sum(1 for c in after if c[6] not in old))
        counts.append(len(after))
    return {"files": len(changed), "chunks_changed_mean": round(statistics.mean(changed), 3),
            "chunks_changed_max": max(changed), "share_with_one_change": round(
                sum(1 for c in changed if c == 1) / len(changed), 3),
            "chunks_per_file_mean": round(statistics.mean(counts), 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", required=True, type=Path)
    ap.add_argument("--encoder-sample", type=int, default=1500, help="chunks for the bare-encoder run")
    ap.add_argument("--queries", type=int, default=200, help="queries for latency and recall")
    ap.add_argument("--nprobe", type=int, default=None, help="FAISS IVF lists probed (default: repoqa's)")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the embedding cache: skip the full pipeline run, measure the rest")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                    help="where the model runs (auto: a GPU when torch sees one)")
    ap.add_argument("--batch-size", type=int, default=None, help="texts per forward pass (default: 32 on a CPU, 256 on a GPU)")
    ap.add_argument("--stores", default=",".join(STORES),
                    help=f"comma-separated, from {', '.join(STORES)}; IVF recall needs both FAISS stores")
    ap.add_argument("--backend", choices=("faiss", "numpy", "qdrant"), default="faiss",
                    help="the vector store the pipeline writes to")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    wanted = [s for s in args.stores.split(",") if s]
    if unknown := set(wanted) - set(STORES):
        ap.error(f"unknown stores: {', '.join(sorted(unknown))}")

    from indexer.dense import embed_index
    from indexer.embed import SentenceTransformerEmbedder, embedding_head
    from indexer.options import IndexOptions
    from indexer.update import index_dir_for, update_index
    from indexer.vectors import NumpyStore, VectorOptions

    root = args.repo.resolve()
    index_dir = index_dir_for(root)
    update_index(root, IndexOptions())
    embedder = SentenceTransformerEmbedder(device=None if args.device == "auto" else args.device,
                                           batch_size=args.batch_size or 0)
    t0 = time.perf_counter()
    embedder.embed(["load the model"])
    load_seconds = time.perf_counter() - t0

    pipeline_store = VectorOptions(backend=args.backend)
    if not args.reuse:
        # fresh vectors: drop the cache and the store so the pipeline embeds everything
        conn = sqlite3.connect(index_dir / "index.db")
        conn.execute("DELETE FROM embeddings")
        conn.execute("DELETE FROM meta WHERE key LIKE 'vector_%'")
        conn.commit()
        conn.close()
        for name in ("vectors.faiss", "vectors.npz"):
            (index_dir / name).unlink(missing_ok=True)
    summary = embed_index(root, embedder, pipeline_store)
    pipeline_cps = summary.chunks_embedded / summary.seconds if summary.chunks_embedded else None

    conn = sqlite3.connect(index_dir / "index.db")
    rows = conn.execute("SELECT c.id, f.path, c.symbol, c.text FROM chunks c JOIN files f ON f.id = c.file_id").fetchall()
    random.Random(7).shuffle(rows)
    sample = rows[:args.encoder_sample]
    texts = [w for _, p, s, t in sample for w in embedder.windows(t, embedding_head(p, s))[0]]
    t0 = time.perf_counter()
    embedder.embed(texts)
    encoder_seconds = time.perf_counter() - t0
    encoder_cps = len(sample) / encoder_seconds
    tokens = embedder.count_tokens([t for *_, t in rows[:2000]])

    # a one-line edit: how many chunks are embedded again
    target_path, = conn.execute(
        "SELECT f.path FROM files f JOIN chunks c ON c.file_id = f.id WHERE f.language != 'text' "
        "GROUP BY f.id HAVING count(*) >= 5 ORDER BY count(*) LIMIT 1").fetchone()
    n_file_chunks = conn.execute("SELECT count(*) FROM chunks c JOIN files f ON f.id = c.file_id "
                                 "WHERE f.path = ?", (target_path,)).fetchone()[0]
    conn.close()
    path = root / target_path
    original = path.read_bytes()
    lines = original.split(b"\n")
    mid = len(lines) // 2
    while mid < len(lines) and not lines[mid].strip():
        mid += 1
    lines[mid] = lines[mid] + b"  # edited"
    try:
        path.write_bytes(b"\n".join(lines))
        update_index(root, IndexOptions())
        edit = embed_index(root, embedder, pipeline_store)
    finally:
        path.write_bytes(original)
        update_index(root, IndexOptions())
        embed_index(root, embedder, pipeline_store)

    # stores: the same vectors in each, queried with real query embeddings
    conn = sqlite3.connect(index_dir / "index.db")
    ids, mats = [], []
    for cid, blob, n in conn.execute(
            "SELECT c.id, e.vectors, e.windows FROM chunks c JOIN embeddings e ON e.text_hash = c.text_hash"):
        v = np.frombuffer(blob, dtype=np.float16).astype(np.float32).reshape(n, -1)
        mats.append(v)
        ids.extend(cid * 8 + w for w in range(n))
    docs = [d for (d,) in conn.execute("SELECT doc FROM symbols WHERE length(doc) > 20 ORDER BY id")]
    conn.close()
    vecs = np.vstack(mats)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.array(ids, dtype=np.int64)
    random.Random(3).shuffle(docs)
    questions = [d.split("\n\n")[0][:300] for d in docs[:args.queries]] or ["query"]
    queries = embedder.embed(questions)
    lone = []
    embedder.prepare_questions()  # as the server does: the trace is made once, not in a sample
    for q in questions:  # one at a time, as a search embeds its question
        t0 = time.perf_counter()
        embedder.embed_question(q)
        lone.append((time.perf_counter() - t0) * 1000)

    churn = edit_churn(root, [p for (p,) in sqlite3.connect(index_dir / "index.db").execute(
        "SELECT path FROM files WHERE language NOT IN ('', 'text')")])
    stores_nprobe = args.nprobe or VectorOptions().faiss_nprobe
    tmp = Path(tempfile.mkdtemp(prefix="repoqa-embed-bench-"))
    stores = {}
    for name in wanted:
        where = tmp / STORES[name]
        if name.startswith("faiss"):
            from indexer.faiss_store import FaissStore

            stores[name] = (FaissStore(where, embedder.dim, ivf_threshold=10**12) if name == "faiss-flat" else
                            FaissStore(where, embedder.dim, ivf_threshold=0, nprobe=stores_nprobe))
        elif name == "numpy":
            stores[name] = NumpyStore(where, embedder.dim)
        elif len(ids) <= 60_000:  # local Qdrant upserts are slow on disk (about 1,000 points/s here)
            from indexer.qdrant_store import QdrantStore

            stores[name] = QdrantStore(embedder.dim, path=where)
    build, latency, sizes = {}, {}, {}
    for name, store in stores.items():
        t0 = time.perf_counter()
        store.upsert(ids, vecs)
        store.flush()
        build[name] = round(time.perf_counter() - t0, 3)
        store.search(queries[0], 20)
        times = []
        for q in queries:
            t0 = time.perf_counter()
            store.search(q, 20)
            times.append((time.perf_counter() - t0) * 1000)
        latency[name] = {"p50_ms": round(percentile(times, 50), 3), "p99_ms": round(percentile(times, 99), 3)}
    recall = []
    if "faiss-flat" in stores and "faiss-ivf" in stores:
        for q in queries:
            want = {h.id for h in stores["faiss-flat"].search(q, 20)}
            got = {h.id for h in stores["faiss-ivf"].search(q, 20)}
            recall.append(len(want & got) / max(1, len(want)))
    for store in stores.values():
        store.close()
    sizes = {name: dir_size(tmp / STORES[name]) for name in stores}
    shutil.rmtree(tmp, ignore_errors=True)

    result = {
        "benchmark": "embed_speed",
        "repo": str(root),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "model": embedder.model_id,
        "device": str(embedder._load().device),
        "gpu": gpu_name(),
        "cpus": len(os.sched_getaffinity(0)),
        "precision": "bf16" if getattr(embedder, "_bf16", False) else "fp32",
        "threads": embedder.threads,
        "batch_size": embedder.batch_size,
        "model_load_seconds": round(load_seconds, 2),
        "chunks": summary.chunks,
        "vectors": summary.vectors,
        "windows_per_chunk": round(summary.vectors / max(1, summary.chunks), 3),
        "chunk_tokens_p50_p90": [int(percentile(tokens, 50)), int(percentile(tokens, 90))],
        "windows_capped": summary.windows_capped,
        "pipeline_seconds": summary.seconds,
        "pipeline_chunks_per_second": round(pipeline_cps, 1) if pipeline_cps else None,
        "encoder_sample_chunks": len(sample),
        "encoder_chunks_per_second": round(encoder_cps, 1),
        "pipeline_to_encoder": round(pipeline_cps / encoder_cps, 3) if pipeline_cps else None,
        "edit_churn": churn,
        "one_line_edit": {"file": target_path, "file_chunks": n_file_chunks,
                          "chunks_embedded": edit.chunks_embedded, "chunks_reused": edit.chunks_reused},
        "question_embedding_ms": {"p50": round(percentile(lone, 50), 3), "p99": round(percentile(lone, 99), 3)},
        "query_latency_k20": latency,
        "store_build_seconds": build,
        "ivf_nprobe": stores_nprobe,
        "ivf_recall_at_20": round(statistics.mean(recall), 4) if recall else None,
        "ivf_recall_at_20_min": round(min(recall), 4) if recall else None,
        "store_bytes": sizes,
        "index_dir_bytes": dir_size(index_dir),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    out = write_result("embed_speed", root, result, args.out)
    for k, v in result.items():
        print(f"{k:<28} {v}")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
