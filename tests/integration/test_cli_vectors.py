"""Vectors through the CLI: dense and hybrid search, Qdrant by configuration, kill -9 while embedding."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import ROOT, repoqa, repoqa_json, write_tree

from indexer.vectors import VectorOptions, chunk_of, open_vector_store


def test_search_modes_and_status(py_repo):
    repoqa("index", str(py_repo), check=True)
    st = repoqa_json("status", str(py_repo))
    v = st["vectors"]
    assert (v["model"], v["dim"], v["chunks_embedded"]) == ("all-MiniLM-L6-v2", 384, v["chunks"])
    assert v["store"].startswith("faiss:")
    for mode in ("lexical", "dense", "hybrid", "auto"):
        hits = repoqa_json("search", "should a request be retried after a server error", "--mode", mode,
                           cwd=py_repo)
        assert hits and {"path", "start_line", "end_line", "symbol", "score"} <= set(hits[0]), mode
    dense = repoqa_json("search", "should a request be retried after a server error", "--mode", "dense",
                        cwd=py_repo)
    assert dense[0]["symbol"] == "RetryPolicy"


def test_qdrant_backend_from_config(py_repo):
    write_tree(py_repo, {"repoqa.toml": '[vectors]\nbackend = "qdrant"\n'})
    out = repoqa_json("index", str(py_repo))
    assert out["vector_store"] == f"qdrant:{py_repo.resolve()}/.repoqa/qdrant"
    assert out["vectors"] >= out["chunks"]
    hits = repoqa_json("search", "retry on status 500", "--mode", "dense", cwd=py_repo)
    assert hits[0]["symbol"] == "RetryPolicy"
    res = repoqa("index", str(py_repo), env={"REPOQA_VECTORS_BACKEND": "faiss"})
    assert res.returncode == 0 and "Rebuilt the vectors: vector_store qdrant:" in res.stderr


def embedded_count(root) -> int:
    try:
        conn = sqlite3.connect(f"file:{root / '.repoqa' / 'index.db'}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_kill_while_embedding_then_reconcile(tmp_path):
    files = {f"m{i}.py": "".join(f'def op_{i}_{j}(x):\n    """Scale x by {j}, then shift it by {i}."""\n'
                                 f"    return x * {j} + {i}  # step {i}.{j}\n\n\n"
                                 for j in range(25)) for i in range(30)}
    root = write_tree(tmp_path / "r", files)
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "index", str(root), "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while embedded_count(root) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    cached = embedded_count(root)
    assert cached > 0, "the kill did not land while embedding"

    # the structure index was committed before embedding began: lexical search works now
    hits = repoqa_json("search", "op_7_3", "--mode", "lexical", cwd=root)
    assert hits[0]["symbol"] == "op_7_3"

    (root / "m0.py").unlink()
    out = repoqa_json("index", str(root))
    assert out["chunks_reused"] > 0  # what the killed run had cached is not embedded again
    assert out["chunks_embedded"] + out["chunks_reused"] <= out["chunks"]
    vstore = open_vector_store(VectorOptions(), root / ".repoqa", 384)
    live = {r[0] for r in sqlite3.connect(root / ".repoqa" / "index.db").execute("SELECT id FROM chunks")}
    try:
        assert {chunk_of(int(v)) for v in vstore.ids()} == live
    finally:
        vstore.close()
    hits = repoqa_json("search", "return x * 3 + 0", "--mode", "dense", "-k", "50", cwd=root)
    assert all(h["path"] != "m0.py" for h in hits)
