"""Embedding the index with the real model: only new text is embedded, vectors follow chunks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, index, reader, write_tree

from indexer.dense import embed_index
from indexer.embed import BATCH, GPU_BATCH, GPU_PAD, SentenceTransformerEmbedder, default_model_path
from indexer.store import Store
from indexer.text import content_hash
from indexer.update import index_dir_for
from indexer.vectors import WINDOWS, VectorOptions, chunk_of, open_vector_store
from retrieval import dense
from retrieval.dense import QUERY_TOKENS
from retrieval.search import Searcher


def copy_fixture(tmp_path: Path, name: str) -> Path:
    import shutil

    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    return root


def vector_chunks(root: Path, options: VectorOptions, dim: int = 384) -> set[int]:
    vstore = open_vector_store(options, index_dir_for(root), dim)
    try:
        return {chunk_of(int(v)) for v in vstore.ids()}
    finally:
        vstore.close()


def chunk_ids(root: Path) -> set[int]:
    store = reader(root)
    try:
        return {r[0] for r in store.conn.execute("SELECT id FROM chunks")}
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["faiss", "qdrant", "numpy"])
def test_every_chunk_gets_vectors_and_only_new_text_is_embedded(tmp_path, embedder, backend):
    options = VectorOptions(backend=backend)
    root = copy_fixture(tmp_path, "python")
    index(root)
    s = embed_index(root, embedder, options)
    n = len(chunk_ids(root))
    assert (s.chunks, s.chunks_embedded, s.chunks_reused) == (n, n, 0)
    assert vector_chunks(root, options) == chunk_ids(root)

    s = embed_index(root, embedder, options)
    assert (s.chunks_embedded, s.chunks_reused, s.vectors_added, s.vectors_dropped) == (0, 0, 0, 0)

    # a one-line edit in one function: that chunk is embedded, its file's others reused
    path = root / "shop/pricing.py"
    path.write_text(path.read_text().replace("return round(cart.total() - best, 2)",
                                             "return round(cart.total() - best, 3)"))
    index(root)
    s = embed_index(root, embedder, options)
    store = reader(root)
    n_pricing = store.conn.execute("SELECT count(*) FROM chunks c JOIN files f ON f.id = c.file_id "
                                   "WHERE f.path = 'shop/pricing.py'").fetchone()[0]
    store.close()
    assert s.chunks_embedded == 1
    assert s.chunks_reused == n_pricing - 1
    assert s.vectors_dropped == n_pricing  # the file's old chunk ids
    assert vector_chunks(root, options) == chunk_ids(root)

    # a moved file keeps its vectors (by text), a deleted one loses them
    os.rename(root / "shop/models.py", root / "shop/records.py")
    (root / "shop/checkout.py").unlink()
    index(root)
    s = embed_index(root, embedder, options)
    assert s.chunks_embedded == 0 and s.chunks_reused > 0 and s.vectors_dropped > 0
    assert vector_chunks(root, options) == chunk_ids(root)


@contextmanager
def embedded_shop(tmp_path: Path, embedder):
    """The python fixture indexed and embedded: its store and vector store, open."""
    root = copy_fixture(tmp_path, "python")
    index(root)
    embed_index(root, embedder)
    store = Store.open_reader(index_dir_for(root))
    vstore = open_vector_store(VectorOptions(), index_dir_for(root), embedder.dim)
    try:
        yield store, vstore
    finally:
        vstore.close()
        store.close()


def test_dense_and_hybrid_search_find_the_function(tmp_path, embedder):
    with embedded_shop(tmp_path, embedder) as (store, vstore):
        searcher = Searcher(store, vstore, embedder)
        for mode in ("dense", "hybrid"):
            top = searcher.search("merge an item into the cart when the SKU is already there", mode, k=3)
            # Cart is small enough to be one chunk, Cart.add included
            assert (top[0].path, top[0].symbol) == ("shop/models.py", "Cart"), (mode, top)
        assert Searcher(store).search("cart", "lexical", k=3)


def test_the_graph_walk_does_not_wait_for_the_embedding(tmp_path, embedder, monkeypatch):
    """The walk starts from the other signals' best units while the question is embedded on
    another thread: the embedding here waits for the walk (the code before waited for the
    embedding), the walk is the same with vectors or without, and both rankings are fused."""
    walked = threading.Event()
    order: list[bool] = []

    class WaitsForTheWalk:
        """The real model, whose embedding of a question waits (10 s at most) for the walk."""

        def __getattr__(self, name):
            return getattr(embedder, name)

        def embed_question(self, text):
            order.append(walked.wait(10))
            return embedder.embed_question(text)

    walk = Searcher._graph

    def walk_and_tell(self, sig, depth):
        try:
            return walk(self, sig, depth)
        finally:
            walked.set()

    monkeypatch.setattr(Searcher, "_graph", walk_and_tell)
    question = "merge an item into the cart when the SKU is already there: Cart.add"
    with embedded_shop(tmp_path, embedder) as (store, vstore):
        both = Searcher(store, vstore, WaitsForTheWalk()).signals(question)
        assert order == [True]
        alone = Searcher(store).signals(question)
        assert both.rankings["graph"] and both.rankings["dense"]
        assert both.rankings["graph"] == alone.rankings["graph"]
        assert "dense" not in alone.rankings
        fused = Searcher(store, vstore, embedder).fused(question)[0]
        assert any("dense" in f.ranks for f in fused) and any("graph" in f.ranks for f in fused)


def test_a_long_question_is_embedded_by_its_head(tmp_path, embedder):
    question = "merge an item into the cart when the SKU is already there. "
    tail = "Traceback (most recent call last): File shop/models.py, line 12, in add " * 40
    head = embedder.head(question + tail, QUERY_TOKENS)
    assert head.startswith(question) and len(head) < len(question + tail)
    assert embedder.count_tokens([head])[0] <= QUERY_TOKENS
    assert embedder.head(question, QUERY_TOKENS) == question  # a short one is whole
    with embedded_shop(tmp_path, embedder) as (_, vstore):
        # the tail beyond the head changes nothing: the ranking is the head's own
        assert dense.ranked(vstore, embedder, question + tail, 5) == dense.ranked(vstore, embedder, head, 5)
        assert dense.ranked(vstore, embedder, question + tail, 5) != dense.ranked(vstore, embedder, tail, 5)


def test_long_chunks_are_windows_not_truncated(embedder):
    body = "\n".join(f"    value_{i} = transform_{i}(value_{i - 1})  # step {i}" for i in range(1, 40))
    windows, capped = embedder.windows(body, head="big.py pipeline")
    assert len(windows) > 1 and not capped
    assert all(w.startswith("big.py pipeline\n") for w in windows)
    assert all(n <= embedder.max_tokens - 2 for n in embedder.count_tokens(windows))
    assert "value_1 =" in windows[0] and "step 39" in windows[-1]  # nothing dropped
    vectors = embedder.embed(windows)
    assert vectors.shape == (len(windows), embedder.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    huge, capped = embedder.windows(body * 20)
    assert len(huge) == WINDOWS and capped
    # a batch cuts each text as it would be cut alone, whatever its neighbours' lengths and heads
    items = [(body, "big.py pipeline"), ("x = 1", ""), (body * 20, "a/much/longer/path.py Class.method"), ("", "")]
    assert embedder.windows_many(items) == [embedder.windows(text, head) for text, head in items]
    assert embedder.windows_many([]) == []


def test_changing_the_model_rebuilds_the_vectors(tmp_path, embedder):
    other_dir = tmp_path / "other-minilm"  # the same weights under another name: another model id
    other_dir.mkdir()
    for entry in default_model_path().iterdir():
        os.symlink(entry, other_dir / entry.name)
    other = SentenceTransformerEmbedder(str(other_dir))
    root = copy_fixture(tmp_path, "python")
    index(root)
    embed_index(root, embedder)
    s = embed_index(root, other)
    assert s.rebuilt.startswith("vector_model all-MiniLM-L6-v2 -> other-minilm")
    assert s.chunks_embedded == s.chunks and s.chunks_reused == 0
    store = reader(root)
    try:
        # the old model's chunk and name vectors are gone; the new one's names are there too
        assert {m for (m,) in store.conn.execute("SELECT DISTINCT model FROM embeddings")} == \
            {"other-minilm", "other-minilm#names"}
    finally:
        store.close()


def test_vectors_of_deleted_chunks_are_never_returned(tmp_path, embedder):
    root = write_tree(tmp_path / "r", {
        "a.py": "def frobnicate_widgets(widgets):\n    return [w.frob() for w in widgets]\n",
        "b.py": "def unrelated_helper(x):\n    return x * 2\n",
    })
    index(root)
    embed_index(root, embedder)
    (root / "a.py").unlink()
    index(root)  # structure updated; vectors not yet (the watcher or next index does that)
    store = Store.open_reader(index_dir_for(root))
    vstore = open_vector_store(VectorOptions(), index_dir_for(root), embedder.dim)
    try:
        hits = Searcher(store, vstore, embedder).search("frobnicate widgets", "dense", k=5)
        assert [h.path for h in hits] == ["b.py"]
    finally:
        vstore.close()
        store.close()


def test_embedding_needs_a_structure_index_first(tmp_path, embedder):
    from indexer.errors import IndexNotFound

    write_tree(tmp_path, {"a.py": "x = 1\n"})
    with pytest.raises(IndexNotFound, match="run `repoqa index` first"):
        embed_index(tmp_path, embedder)
    assert not (tmp_path / ".repoqa").exists()  # and left nothing behind


def test_a_partly_written_chunk_is_rewritten_whole(tmp_path, embedder):
    root = copy_fixture(tmp_path, "python")
    index(root)
    embed_index(root, embedder)
    cid = min(chunk_ids(root))
    vstore = open_vector_store(VectorOptions(), index_dir_for(root), embedder.dim)
    # as if a crash left window 0 out and a stray window 5 in
    vstore.delete([cid * WINDOWS])
    vstore.upsert([cid * WINDOWS + 5], np.ones((1, embedder.dim), dtype=np.float32) / embedder.dim ** 0.5)
    vstore.flush()
    vstore.close()
    s = embed_index(root, embedder)
    assert (s.chunks_embedded, s.chunks_reused) == (0, 1)
    vstore = open_vector_store(VectorOptions(), index_dir_for(root), embedder.dim)
    try:
        assert sorted(int(v) for v in vstore.ids() if chunk_of(int(v)) == cid) == [cid * WINDOWS]
    finally:
        vstore.close()


def test_the_cache_forgets_old_text_once_it_piles_up(tmp_path, embedder, monkeypatch):
    import indexer.dense as dense

    monkeypatch.setattr(dense, "CACHE_SPARE_MIN", 2)  # a knob, not the behaviour under test
    root = write_tree(tmp_path / "r", {f"f{i}.py": f"def f{i}():\n    return {i}\n" for i in range(4)})
    index(root)
    embed_index(root, embedder)
    for i in range(4):
        (root / f"f{i}.py").write_text(f"def g{i}():\n    return {i * 10}\n")
    index(root)
    embed_index(root, embedder)
    store = reader(root)
    try:
        cached = {h for (h,) in store.conn.execute("SELECT text_hash FROM embeddings WHERE model = ?",
                                                   (embedder.model_id,))}
        live = {h for (h,) in store.conn.execute("SELECT text_hash FROM chunks")}
        names_cached = {h for (h,) in store.conn.execute("SELECT text_hash FROM embeddings WHERE model = ?",
                                                         (embedder.model_id + "#names",))}
    finally:
        store.close()
    assert cached == live
    # the names too: f0 .. f3 are gone, g0 .. g3 are there
    assert names_cached == {content_hash(f"g {i}".encode()) for i in range(4)}


def test_a_lone_text_is_embedded_on_one_thread(embedder):
    """A search's question runs on one torch thread, so the search's other signals have the
    other core; a batch runs on all of them, whichever thread asks and whatever another
    thread set before. The vectors are the same either way."""
    torch = pytest.importorskip("torch")
    on_gpu = embedder._load().device.type == "cuda"  # the session's model: on a GPU where there is one
    assert embedder.batch_size == (GPU_BATCH if on_gpu else BATCH)  # none configured: the device's
    # texts are padded to a few lengths on a GPU (each run once at load), not on a CPU
    padded = (embedder._model[0].processing_kwargs.get("text") or {}).get("pad_to_multiple_of")
    assert padded == (GPU_PAD if on_gpu else None)
    texts = ["def add(a, b):\n    return a + b", "class Parser:\n    pass"]
    embedder.embed_question("one")  # the model traced for questions (on a CPU) before the count starts
    embedder.embed_question("two")
    running: list[int] = []  # the thread count while the model runs
    # on the pooling module for the eager model; the traced one (pooling inside) as it is called
    hook = embedder._load()[1].register_forward_pre_hook(lambda *_: running.append(torch.get_num_threads()))
    traced = embedder._traced
    if traced:
        embedder._traced = lambda text: running.append(torch.get_num_threads()) or traced(text)
    try:
        batch = embedder.embed(texts)
        with ThreadPoolExecutor(1) as pool:
            vector = pool.submit(embedder.embed, texts[:1]).result()
        with ThreadPoolExecutor(1) as fresh:  # new to torch, which starts it from the last count set: 1
            fresh.submit(embedder.embed, texts).result()
        with ThreadPoolExecutor(1) as fresh:
            question = fresh.submit(embedder.embed_question, texts[0]).result()
        embedder.embed(texts[1:])
        embedder.embed(texts)
    finally:
        hook.remove()
        embedder._traced = traced
    assert running == [embedder.threads, 1, embedder.threads, 1, 1, embedder.threads]
    assert float(vector[0] @ batch[0]) == pytest.approx(1.0, abs=5e-3)
    assert float(question @ batch[0]) == pytest.approx(1.0, abs=5e-3)


def test_openmp_threads_sleep_while_they_wait_unless_told_otherwise():
    """faiss and torch are imported only after OpenMP threads were asked not to spin while they
    wait (each loads its own libgomp, which reads the setting then): a spinning thread takes
    the core the rest of a search needs. A setting of the user's own stays."""
    code = """if True:
        import os, sys
        seen = {}
        class Watch:  # the setting at the moment each library is first imported
            def find_spec(self, name, path=None, target=None):
                if name in ("faiss", "torch"):
                    seen.setdefault(name, os.environ.get("OMP_WAIT_POLICY"))
        sys.meta_path.insert(0, Watch())
        from indexer.faiss_store import gpu_count
        from indexer.embed import SentenceTransformerEmbedder
        gpu_count()
        SentenceTransformerEmbedder().embed(["x"])
        print(seen["faiss"], seen["torch"])
    """
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    for given, expected in ((None, "PASSIVE PASSIVE"), ("ACTIVE", "ACTIVE ACTIVE")):
        run_env = env if given is None else {**env, "OMP_WAIT_POLICY": given}
        out = subprocess.run([sys.executable, "-c", code], env=run_env, capture_output=True, text=True,
                             check=True, cwd=Path(__file__).resolve().parents[3])
        assert out.stdout.strip() == expected


@pytest.mark.gpu
def test_embedding_on_a_gpu_matches_the_cpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here (the CPU build of torch is installed)")
    auto = SentenceTransformerEmbedder()  # where torch sees a GPU, the model goes there, in bf16
    cpu = SentenceTransformerEmbedder(device="cpu", precision="fp32")
    code = Path(__file__).read_text()  # longer than the model reads: both cut it at 256 tokens
    # texts of very different lengths in one batch (padding), and a lone question
    texts = ["def add(a, b):\n    return a + b", "class Parser:\n    pass", code[:4000], "where is X parsed?"]
    on_gpu = auto.embed(texts)
    assert auto._model.device.type == "cuda" and auto._bf16 and auto.batch_size == GPU_BATCH
    assert auto._model[0].processing_kwargs["text"]["pad_to_multiple_of"] == GPU_PAD
    assert auto._model[0].preprocess([texts[0]])["input_ids"].shape[1] % GPU_PAD == 0
    assert on_gpu.dtype == np.float32 and on_gpu.shape == (len(texts), auto.dim)
    assert np.allclose((on_gpu * cpu.embed(texts)).sum(axis=1), 1.0, atol=5e-3)
    assert np.allclose(auto.embed([texts[-1]])[0] @ on_gpu[-1], 1.0, atol=5e-3)
    questions = [auto.embed_question(texts[-1]) for _ in range(3)]  # no trace on a GPU: the eager model
    assert auto._traced is False
    assert np.allclose([q @ on_gpu[-1] for q in questions], 1.0, atol=5e-3)


def test_dense_updater_follows_a_rebuild(tmp_path, embedder):
    """A rebuilt index numbers its chunks from 1 again: the updater must not keep the
    vectors it wrote for the old chunks under the same ids."""
    from indexer.dense import DenseUpdater
    from indexer.options import IndexOptions
    from indexer.update import update_index
    from indexer.vectors import open_vector_store
    from retrieval.search import Searcher

    topics = ["rain forecast weather", "chess opening strategy", "bread baking recipe", "ocean sailing boats"]
    write_tree(tmp_path, {f"m{i}.py": f"def f{i}():\n    '''{w}'''\n    return {i}\n" for i, w in enumerate(topics)})
    update_index(tmp_path, IndexOptions(workers=1))
    updater = DenseUpdater(tmp_path, embedder, VectorOptions(), flush_after_s=0)
    try:
        while updater.step(5) is not None:
            pass
        (tmp_path / "m0.py").unlink()
        update_index(tmp_path, IndexOptions(workers=1), rebuild=True)
        while updater.step(5) is not None:
            pass
    finally:
        updater.close()
    store = reader(tmp_path)
    vstore = open_vector_store(VectorOptions(), index_dir_for(tmp_path), embedder.dim)
    try:
        for query, path in (("chess", "m1.py"), ("bread", "m2.py"), ("sailing", "m3.py")):
            assert [h.path for h in Searcher(store, vstore, embedder).search(query, "dense", k=1)] == [path]
    finally:
        vstore.close()
        store.close()


def test_a_rebuild_keeps_the_embedding_cache(tmp_path, embedder):
    """A rebuild (asked for, or for a new index format) renumbers the chunks, but their text
    is what the cache is keyed by: nothing is embedded again."""
    from indexer.options import IndexOptions
    from indexer.update import update_index

    root = copy_fixture(tmp_path, "python")
    index(root)
    first = embed_index(root, embedder, VectorOptions())
    assert first.chunks_embedded > 0
    update_index(root, IndexOptions(workers=1), rebuild=True)
    again = embed_index(root, embedder, VectorOptions())
    assert (again.chunks_embedded, again.chunks_reused) == (0, first.chunks)
    assert vector_chunks(root, VectorOptions()) == chunk_ids(root)


def test_gpu_padding_and_warm_up_on_a_model_of_its_own(monkeypatch):
    """The padding the GPU path sets (run here on the CPU, on a model of the test's own):
    texts are padded and embed as before; every padded length runs, filled and one short; a
    model truncating at a length that is no multiple of GPU_PAD is left alone (the tokenizer
    refuses both), and a failing warm-up undoes the padding instead of failing the load."""
    import torch

    from indexer import embed as E

    monkeypatch.setattr(E, "_WARM_TOKENS", 64)
    model = SentenceTransformerEmbedder(device="cpu", precision="fp32")._load()
    module = model[0]
    text = "def add(a, b):\n    return a + b"
    before = model.encode([text], normalize_embeddings=True)
    seen: list[tuple[int, int]] = []
    encode = model.encode

    def counting(texts, **kw):
        batch = module.preprocess(texts)
        seen.append((batch["input_ids"].shape[1], int(batch["attention_mask"].sum())))
        return encode(texts, **kw)

    monkeypatch.setattr(model, "encode", counting)
    assert E.pad_and_warm(model, torch)
    assert seen == [(n, real) for n in (16, 32, 48, 64) for real in (n, n - 1)]
    assert module.preprocess([text])["input_ids"].shape[1] % GPU_PAD == 0
    assert float(encode([text], normalize_embeddings=True)[0] @ before[0]) == pytest.approx(1.0, abs=1e-4)

    module.processing_kwargs = {}
    model.max_seq_length = 250
    assert not E.pad_and_warm(model, torch) and module.processing_kwargs == {}
    model.max_seq_length = 256

    def broken(texts, **kw):
        raise RuntimeError("CUDA error: out of memory")

    monkeypatch.setattr(model, "encode", broken)
    assert not E.pad_and_warm(model, torch) and module.processing_kwargs == {}
