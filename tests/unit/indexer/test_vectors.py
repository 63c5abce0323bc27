"""Every vector store answers the same calls like the NumPy reference does."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from indexer.faiss_store import FaissStore
from indexer.qdrant_store import QdrantStore
from indexer.vectors import NumpyStore, VectorOptions, VectorStoreError, open_vector_store, store_location

DIM = 48


def data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.arange(n, dtype=np.int64) * 8 + 3, x


def backends(tmp_path):
    return {
        "faiss-flat": FaissStore(tmp_path / "f.faiss", DIM, ivf_threshold=10**9),
        # nprobe at least nlist: an exhaustive IVF search must agree exactly with brute force
        "faiss-ivf": FaissStore(tmp_path / "i.faiss", DIM, ivf_threshold=200, nprobe=1024),
        "qdrant-local": QdrantStore(DIM, path=tmp_path / "qdrant"),
    }


def same_results(store, ref, queries, k=10):
    for q in queries:
        got, want = store.search(q, k), ref.search(q, k)
        assert [h.id for h in got] == [h.id for h in want]
        assert np.allclose([h.score for h in got], [h.score for h in want], atol=1e-5)


@pytest.mark.parametrize("name", ["faiss-flat", "faiss-ivf", "qdrant-local"])
def test_same_calls_same_answers(tmp_path, name):
    store = backends(tmp_path)[name]
    ref = NumpyStore(None, DIM)
    ids, x = data(600)
    payloads = [{"path": f"p{i % 7}.py", "language": "python"} for i in range(len(ids))]
    for s in (store, ref):
        s.upsert(ids, x, payloads)
        s.delete(ids[:50])
        s.upsert(ids[100:120], x[:20])  # overwrite: same ids, new vectors
    assert store.count() == ref.count() == 550
    assert sorted(store.ids().tolist()) == sorted(ref.ids().tolist())
    same_results(store, ref, [x[i] for i in (0, 60, 300, 599)])
    store.flush()
    store.close()
    again = backends(tmp_path)[name]  # reopened from disk
    assert again.count() == 550
    same_results(again, ref, [x[300]])
    again.clear()
    assert again.count() == 0 and again.search(x[0], 5) == []
    again.close()


def test_faiss_moves_to_ivf_and_back(tmp_path):
    store = FaissStore(None, DIM, ivf_threshold=400, nprobe=1024)
    ids, x = data(500)
    store.upsert(ids[:300], x[:300])
    assert not store._is_ivf()
    store.upsert(ids[300:], x[300:])
    assert store._is_ivf()
    store.delete(ids[:350])  # below half the threshold: exact search again
    assert not store._is_ivf() and store.count() == 150
    ref = NumpyStore(None, DIM)
    ref.upsert(ids[350:], x[350:])
    same_results(store, ref, [x[400], x[499]])


def test_qdrant_payload_filter_and_errors(tmp_path):
    store = QdrantStore(DIM, path=tmp_path / "q")
    ids, x = data(40)
    store.upsert(ids, x, [{"language": "go" if i % 2 else "python"} for i in range(40)])
    hits = store.search(x[1], 5, language="go")
    assert hits and all((h.id - 3) // 8 % 2 == 1 for h in hits)
    with pytest.raises(VectorStoreError, match="qdrant connect failed"):
        QdrantStore(DIM, path=tmp_path / "q")  # local mode: one client per path
    with pytest.raises(VectorStoreError, match="dimension"):
        store.upsert(ids[:1], np.zeros((1, DIM + 1), dtype=np.float32))
    store.close()
    with pytest.raises(VectorStoreError, match="unreachable|connect failed|failed"):
        QdrantStore(DIM, url="http://127.0.0.1:9", timeout=2).count()


def test_open_vector_store_by_name(tmp_path):
    assert open_vector_store(VectorOptions(backend="numpy"), tmp_path, DIM).kind == "numpy"
    assert open_vector_store(VectorOptions(), tmp_path, DIM).kind == "faiss"
    with pytest.raises(VectorStoreError, match="unknown vector store"):
        open_vector_store(VectorOptions(backend="milvus"), tmp_path, DIM)


def test_no_faiss_means_no_faiss_gpu(monkeypatch):
    """Where faiss is missing (a machine using Qdrant or NumPy), there is no GPU for it,
    rather than an error from the question."""
    import sys

    from indexer.faiss_store import gpu_count

    monkeypatch.setitem(sys.modules, "faiss", None)  # `import faiss` raises ImportError
    assert gpu_count() == 0
    with pytest.raises(VectorStoreError, match="faiss is not installed"):
        FaissStore(None, DIM)


@pytest.mark.gpu
def test_faiss_gpu_search_matches_cpu(tmp_path):
    from indexer.faiss_store import gpu_count

    if gpu_count() == 0:
        pytest.skip("no GPU build of faiss with a CUDA device here")
    gpu = FaissStore(None, DIM, ivf_threshold=10**9, use_gpu=True)
    ref = NumpyStore(None, DIM)
    ids, x = data(2000)
    gpu.upsert(ids, x)
    ref.upsert(ids, x)
    assert gpu.use_gpu
    same_results(gpu, ref, [x[5], x[1500]])


@pytest.mark.parametrize("backend", ["faiss", "numpy"])
def test_a_kept_store_is_read_once_and_again_when_its_file_or_version_changes(tmp_path, backend):
    from indexer.vectors import KeptStores

    options = VectorOptions(backend=backend)
    kept = KeptStores()
    assert kept.open(options, tmp_path, DIM).count() == 0 and not kept.kept  # no file yet: not kept
    ids, x = data(300)
    writer = open_vector_store(options, tmp_path, DIM)
    writer.upsert(ids[:200], x[:200])
    writer.flush()
    lent = kept.open(options, tmp_path, DIM, "v1")
    assert lent.count() == 200 and lent.search(x[5], 1)[0].id == ids[5]
    lent.close()  # a search is done with it: it stays open for the next
    again = kept.open(options, tmp_path, DIM, "v1")
    assert again._store is lent._store and again.search(x[7], 1)[0].id == ids[7]
    for write in (lambda: again.upsert(ids[:1], x[:1]), lambda: again.delete(ids[:1]), again.flush, again.clear):
        with pytest.raises(VectorStoreError, match="not written"):
            write()
    writer.upsert(ids[:200], x[100:300])  # the indexer writes: the file is replaced, the same size
    writer.flush()
    same_size = kept.open(options, tmp_path, DIM, "v1")
    assert same_size._store is not lent._store and same_size.search(x[105], 1)[0].id == ids[5]
    writer.upsert(ids[200:], x[200:])
    writer.flush()
    newer = kept.open(options, tmp_path, DIM, "v1")
    assert newer._store is not same_size._store and newer.count() == 300
    assert lent.count() == 200 and lent.search(x[5], 1)[0].id == ids[5]  # a search holding the old one goes on
    other = kept.open(options, tmp_path, DIM, "v2")  # the index says its vectors changed
    assert other._store is not newer._store and other.count() == 300
    assert kept.open(options, tmp_path, DIM, "v2")._store is other._store
    Path(store_location(options, tmp_path)).unlink()  # gone: an empty store, and the kept one let go
    assert kept.open(options, tmp_path, DIM, "v2").count() == 0 and not kept.kept


def test_concurrent_opens_of_a_store_not_kept_read_it_once(tmp_path, monkeypatch):
    import threading

    from indexer import vectors
    from indexer.vectors import KeptStores

    options = VectorOptions(backend="numpy")
    ids, x = data(50)
    writer = open_vector_store(options, tmp_path, DIM)
    writer.upsert(ids, x)
    writer.flush()
    reads, opening = [], threading.Event()
    real = vectors.open_vector_store

    def slow_open(*args):
        reads.append(1)
        opening.set()
        time.sleep(0.2)
        return real(*args)

    monkeypatch.setattr(vectors, "open_vector_store", slow_open)
    kept = KeptStores()
    got = []
    threads = [threading.Thread(target=lambda: got.append(kept.open(options, tmp_path, DIM, "v"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(reads) == 1 and len(got) == 4 and len({id(g._store) for g in got}) == 1


def test_kept_stores_are_bounded_and_qdrant_is_opened_each_time(tmp_path):
    from indexer.vectors import KeptStores

    kept = KeptStores(limit=2)
    ids, x = data(20)
    for name in ("a", "b", "c"):
        writer = open_vector_store(VectorOptions(backend="numpy"), tmp_path / name, DIM)
        writer.upsert(ids, x)
        (tmp_path / name).mkdir()
        writer.flush()
    for name in ("a", "b", "a", "c"):  # a, used again after b, outlasts it
        assert kept.open(VectorOptions(backend="numpy"), tmp_path / name, DIM).count() == 20
    assert [key[1] for key in kept.kept] == [str(tmp_path / n / "vectors.npz") for n in ("a", "c")]
    q = kept.open(VectorOptions(backend="qdrant"), tmp_path / "q", DIM)
    try:
        assert isinstance(q, QdrantStore) and len(kept.kept) == 2
    finally:
        q.close()
    writer = open_vector_store(VectorOptions(backend="qdrant"), tmp_path / "q", DIM)  # its folder is free again
    writer.close()
