"""A search's question is embedded by the traced model from the second question on (from the
first, and in later processes, where the trace is saved): the same vector as the eager
model's, and the eager model whenever the trace cannot be had."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from indexer.embed import (
    DEFAULT_MODEL,
    INT8_MIN_COSINE,
    UNLIMITED_WINDOW,
    SentenceTransformerEmbedder,
    _OnnxPass,
    default_model_path,
)

TEXTS = [
    "x",
    "Matrix.col_insert() no longer seems to work correctly with identity matrices",
    "def parse_http_response(raw: bytes) -> dict:\n    head, _, body = raw.partition(b'\\r\\n\\r\\n')\n",
    "Ünïcödé naïve façade — 数据 ✓",
    "",
    "why does the retry loop give up " * 80,  # past the model's 256 tokens: cut as the eager model cuts
]


def cpu_model(**kwargs) -> SentenceTransformerEmbedder:
    """A model of its own on the CPU, where questions are traced; fp32 unless told, where the
    traced and the eager forward pass agree to rounding."""
    return SentenceTransformerEmbedder(device="cpu", **({"precision": "fp32"} | kwargs))


@pytest.fixture(scope="module")
def fp32():
    return cpu_model()


def calls_to_the_eager_model(model: SentenceTransformerEmbedder, monkeypatch) -> list[int]:
    """A list that grows by one at each forward pass of the eager transformer (which
    sentence-transformers calls as `.forward`, past any hook)."""
    net = model._load()[0].auto_model
    forward = net.forward
    calls: list[int] = []

    def counted(*args, **kwargs):
        calls.append(1)
        return forward(*args, **kwargs)

    monkeypatch.setattr(net, "forward", counted)
    return calls


def test_questions_are_embedded_by_the_trace_as_by_the_eager_model(fp32, monkeypatch):
    want = fp32.embed(TEXTS)  # several texts: the eager model
    first = fp32.embed_question(TEXTS[0])
    assert fp32._traced is None  # one question (the CLI's) is not worth a trace
    fp32.embed([TEXTS[1]])  # one text that is not a question (a chunk, a name): not counted
    fp32.embed([TEXTS[2]])
    assert fp32._traced is None
    got = np.vstack([first] + [fp32.embed_question(t) for t in TEXTS[1:]])
    assert isinstance(fp32._traced, _OnnxPass)  # traced at the second question, and run by onnxruntime (fp32)
    inputs = [i.name for i in fp32._traced.session.get_inputs()]
    assert "input_ids" in inputs and "attention_mask" not in inputs  # one text: its mask is all ones
    assert got.shape == want.shape == (len(TEXTS), fp32.dim) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * want).sum(axis=1).min() > 0.9999
    calls = calls_to_the_eager_model(fp32, monkeypatch)
    again = np.vstack([fp32.embed_question(t) for t in reversed(TEXTS)])[::-1]  # every length after the first
    assert calls == []  # the traced model answered, not the eager one
    fp32.embed([TEXTS[1]])
    assert calls == [1]  # one text given to embed() (indexing): the eager model still
    assert (again * want).sum(axis=1).min() > 0.9999


def test_the_default_model_traced_agrees_with_itself_eager(embedder):
    if embedder._load().device.type != "cpu":
        pytest.skip("questions are traced on a CPU only")
    embedder.embed_question("one")
    embedder.embed_question("two")
    assert callable(embedder._traced)
    # fp32 in ONNX where the CPU lacks fast bf16: then questions go through its int8 copy
    assert isinstance(embedder._traced, _OnnxPass) == (getattr(embedder._traced, "quick", None) is not None)
    got = np.vstack([embedder.embed_question(t) for t in TEXTS])
    want = embedder.embed(TEXTS)  # bf16 where the CPU has it: batched, padded, rounded apart
    assert (got * want).sum(axis=1).min() > INT8_MIN_COSINE


def test_with_precision_auto_questions_go_through_an_int8_copy_saved_beside_the_fp32_pass(fp32, tmp_path):
    """On a CPU where the model runs in fp32, a lone question is embedded by an int8 copy of
    the exported pass (faster, its vectors within INT8_MIN_COSINE of the eager model's), saved
    beside the fp32 pass; the next process loads both without the model, and embeds an edit's
    chunks by the fp32 pass, so that the index holds fp32 vectors only. Precision fp32 keeps
    questions in fp32 (the other tests)."""
    saved = tmp_path / "questions"
    model = cpu_model(precision="auto", saved_questions=saved)
    if model._use_bf16(__import__("torch"), "cpu"):
        pytest.skip("this CPU runs the model in bf16: its pass is TorchScript, with no int8 copy")
    first = model.embed_question(TEXTS[1])
    assert isinstance(model._traced, _OnnxPass) and model._traced.quick is not None
    assert "attention_mask" not in [i.name for i in model._traced.quick.session.get_inputs()]
    assert sorted(f.name.split(".", 1)[1] for f in saved.iterdir()) == ["onnx", "q8.onnx"]
    want = fp32.embed(TEXTS)
    got = np.vstack([model.embed_question(t) for t in TEXTS])
    cosine = (got * want).sum(axis=1)
    assert cosine.min() > INT8_MIN_COSINE and cosine.min() < 0.9999  # close, and not the fp32 pass
    assert float(first @ want[1]) > INT8_MIN_COSINE
    again, state = embed_in_another_process(DEFAULT_MODEL, saved, TEXTS, tmp_path, precision="auto")
    assert state == [True, False, False, False] and np.allclose(again, got, atol=1e-5)  # the saved copy
    chunks, state = embed_in_another_process(DEFAULT_MODEL, saved, TEXTS, tmp_path, how="embed", precision="auto")
    assert state[0] is True and (chunks * want).sum(axis=1).min() > 0.9999  # an edit's chunks: fp32
    # An int8 copy that cannot be read: the next process asks in fp32; one with the model makes it again
    q8 = next(f for f in saved.iterdir() if f.name.endswith(".q8.onnx"))
    q8.write_bytes(b"not a model")
    plain, state = embed_in_another_process(DEFAULT_MODEL, saved, TEXTS, tmp_path, precision="auto")
    assert state[0] is True and (plain * want).sum(axis=1).min() > 0.9999 and not q8.exists()
    remade = cpu_model(precision="auto", saved_questions=saved)
    remade._load()
    remade.prepare_questions()
    assert remade._traced.quick is not None and q8.read_bytes() != b"not a model"
    assert np.allclose(np.vstack([remade.embed_question(t) for t in TEXTS]), got, atol=1e-5)
    # An int8 pass that fails at a question: the fp32 pass takes over, not the eager model
    remade._traced.quick = lambda one: (_ for _ in ()).throw(RuntimeError("int8 kernels missing"))
    assert float(remade.embed_question(TEXTS[1]) @ want[1]) > 0.9999
    assert isinstance(remade._traced, _OnnxPass) and remade._traced.quick is None


def test_a_failed_trace_leaves_the_eager_model(fp32, monkeypatch, caplog):
    import torch

    model = cpu_model()
    want = fp32.embed(TEXTS[1:3])

    def broken(*args, **kwargs):
        raise RuntimeError("cannot trace this model")

    monkeypatch.setattr(torch.jit, "trace", broken)
    with caplog.at_level(logging.WARNING, logger="indexer.embed"):
        got = np.vstack([model.embed_question(t) for t in TEXTS[1:3]])
    assert model._traced is False
    assert "cannot trace the embedding model" in caplog.text
    assert (got * want).sum(axis=1).min() > 0.9999


def test_a_trace_that_disagrees_with_the_eager_model_is_not_used(fp32, monkeypatch, caplog):
    """A traced model whose vectors are off (here: those of a one-token text shifted)
    fails the check on its three texts at the real threshold."""
    import torch

    model = cpu_model()
    trace = torch.jit.trace

    def off_for_short_texts(module, *args, **kwargs):
        traced = trace(module, *args, **kwargs)

        def forward(*inputs):  # the token ids first
            out = traced(*inputs)
            return out + 0.5 if inputs[0].shape[1] <= 3 else out

        return forward

    monkeypatch.setattr(torch.jit, "trace", off_for_short_texts)
    with caplog.at_level(logging.WARNING, logger="indexer.embed"):
        got = np.vstack([model.embed_question(t) for t in TEXTS[1:3]])
    assert model._traced is False
    assert "disagrees with the eager one" in caplog.text
    assert (got * fp32.embed(TEXTS[1:3])).sum(axis=1).min() > 0.9999


def test_a_trace_that_fails_later_gives_way_to_the_eager_model(fp32, caplog):
    model = cpu_model()
    model.embed_question(TEXTS[0])
    model.embed_question(TEXTS[1])
    assert callable(model._traced)

    def broken(text):
        raise RuntimeError("the traced graph failed")

    model._traced = broken
    with caplog.at_level(logging.WARNING, logger="indexer.embed"):
        got = model.embed_question(TEXTS[2])
    assert model._traced is False
    assert "the traced embedding model failed" in caplog.text
    assert float(got @ fp32.embed([TEXTS[2]])[0]) > 0.9999


def test_an_exported_pass_that_fails_later_gives_way_to_the_eager_model_and_says_which(fp32, monkeypatch, caplog):
    model = cpu_model()
    model.embed_question(TEXTS[0])
    model.embed_question(TEXTS[1])
    assert isinstance(model._traced, _OnnxPass)

    def broken(self, text):
        raise RuntimeError("the session failed")

    monkeypatch.setattr(_OnnxPass, "__call__", broken)
    with caplog.at_level(logging.WARNING, logger="indexer.embed"):
        got = model.embed_question(TEXTS[2])
    assert model._traced is False
    assert "the exported (ONNX) embedding model failed" in caplog.text and "traced" not in caplog.text
    assert float(got @ fp32.embed([TEXTS[2]])[0]) > 0.9999


def test_a_model_with_a_default_prompt_is_not_traced(fp32):
    """encode() puts the prompt before each text; the traced forward pass would not."""
    model = cpu_model()
    model._load().default_prompt_name = "query"
    model._model.prompts["query"] = "query: "
    questions = [model.embed_question(t) for t in TEXTS[1:3]]
    assert model._traced is False
    with_prompt = fp32._load().encode(["query: " + TEXTS[2]], normalize_embeddings=True)[0]
    assert float(questions[1] @ with_prompt) > 0.9999


def test_a_static_embedding_model_without_a_length_limit_works_untraced(tmp_path):
    """A sentence-transformers model of static token vectors (no transformer, an infinite
    max_seq_length) embeds chunks in windows of UNLIMITED_WINDOW tokens, and its questions
    without a trace or a warning, instead of failing to load (OverflowError)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer

    static = StaticEmbedding(Tokenizer.from_file(str(default_model_path() / "tokenizer.json")), embedding_dim=32)
    SentenceTransformer(modules=[static], device="cpu").save(str(tmp_path / "static"))
    model = SentenceTransformerEmbedder(str(tmp_path / "static"), device="cpu")
    assert (model.dim, model.max_tokens) == (32, UNLIMITED_WINDOW)
    windows, capped = model.windows("word " * 2000)
    assert 1 < len(windows) and all(n <= UNLIMITED_WINDOW for n in model.count_tokens(windows))
    batch = model.embed(TEXTS[1:3])
    questions = np.vstack([model.embed_question(t) for t in TEXTS[1:3]])
    assert model._traced is False
    assert batch.shape == questions.shape == (2, 32)
    assert (batch * questions).sum(axis=1).min() > 0.9999


def test_the_vector_size_is_the_last_module_s_a_dense_layer_included(tmp_path):
    """A model whose dense layer after the pooling changes the size (saved in the older
    format, where the pooling's config says `word_embedding_dimension`) has vectors of the
    dense layer's size, known without loading it; its questions are traced through it."""
    import json

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Pooling, Transformer

    base = Transformer(str(default_model_path()))
    SentenceTransformer(modules=[base, Pooling(384, "mean"), Dense(384, 48)], device="cpu").save(str(tmp_path / "m"))
    pooling = tmp_path / "m" / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config["word_embedding_dimension"] = config.pop("embedding_dimension", 384)
    pooling.write_text(json.dumps(config))
    bert = tmp_path / "m" / "sentence_bert_config.json"  # where the older format keeps the length
    bert.write_text(json.dumps(json.loads(bert.read_text()) | {"max_seq_length": 256}))
    model = SentenceTransformerEmbedder(str(tmp_path / "m"), device="cpu", precision="fp32")
    assert model.dim == 48 and model._model is None
    batch = model.embed(TEXTS[1:4])
    assert batch.shape == (3, 48)
    questions = np.vstack([model.embed_question(t) for t in TEXTS[1:4]])
    assert callable(model._traced)
    assert (batch * questions).sum(axis=1).min() > 0.9999


def test_a_server_makes_the_model_ready_for_questions_when_it_loads_it(tmp_path, embedder):
    """The server's first request waits for the model to load; the trace is made then, so
    the second request does not wait for it."""
    from conftest import index, write_tree

    from indexer.dense import embed_index
    from indexer.store import Store
    from indexer.update import index_dir_for
    from service.cli import _server_searcher

    root = write_tree(tmp_path / "repo", {"shop.py": "def add_to_cart(cart, item):\n    cart.append(item)\n"})
    index(root)
    embed_index(root, embedder)
    store = Store.open_reader(index_dir_for(root))
    try:
        searcher = _server_searcher()(store, store.meta(), root, "hybrid")
        assert searcher.embedder is not embedder and callable(searcher.embedder._traced)
        assert searcher.search("put an item in the cart", "hybrid", k=1)[0].symbol == "add_to_cart"
    finally:
        store.close()


def test_preparing_for_questions_leaves_the_eager_model_where_there_is_no_trace(fp32, monkeypatch):
    import torch

    model = cpu_model()
    monkeypatch.setattr(torch.jit, "trace", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no")))
    model.prepare_questions()
    assert model._traced is False
    assert float(model.embed_question(TEXTS[1]) @ fp32.embed([TEXTS[1]])[0]) > 0.9999


_OTHER_PROCESS = """
import json, sys
from pathlib import Path
import numpy as np
from indexer.embed import SentenceTransformerEmbedder
m = SentenceTransformerEmbedder(sys.argv[1], device="cpu", precision=sys.argv[6], saved_questions=Path(sys.argv[2]))
texts = json.loads(sys.argv[4])
np.save(sys.argv[3], m.embed(texts) if sys.argv[5] == "embed" else np.vstack([m.embed_question(t) for t in texts]))
print(json.dumps([m._model is None, "sentence_transformers" in sys.modules, "transformers" in sys.modules,
                  "torch" in sys.modules]))
"""


def embed_in_another_process(model: str, saved: Path, texts: list[str], tmp_path: Path,
                             how: str = "question", precision: str = "fp32") -> tuple[np.ndarray, list]:
    """The texts embedded by a new process, as questions (or by `embed`, as chunks); whether it
    left the model unloaded, and whether it imported sentence_transformers, transformers and torch."""
    out = tmp_path / "vectors.npy"
    run = subprocess.run([sys.executable, "-c", _OTHER_PROCESS, model, str(saved), str(out), json.dumps(texts), how,
                          precision],
                         capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[3])
    assert run.returncode == 0, run.stderr
    return np.load(out), json.loads(run.stdout.strip().splitlines()[-1])


def test_a_saved_forward_pass_embeds_the_next_process_s_questions_without_the_model(fp32, tmp_path):
    """The first question traces the model's forward pass, exports it (fp32) to ONNX and saves
    it; another process embeds its questions with it through onnxruntime alone (no model
    loaded; neither sentence_transformers, transformers nor torch imported), as the eager model
    does, each text cut to the model's length as the model's tokenizer cuts it; and a few
    chunks too."""
    saved = tmp_path / "questions"
    model = cpu_model(saved_questions=saved)
    first = model.embed_question(TEXTS[1])
    assert callable(model._traced)  # traced at the first question: the next process gains from it
    files = list(saved.iterdir())
    assert len(files) == 1 and files[0].suffix == ".onnx"
    assert model._traced.model == str(files[0])  # run from the file, its bytes let go of
    got, state = embed_in_another_process(DEFAULT_MODEL, saved, TEXTS, tmp_path)
    assert state == [True, False, False, False]
    want = fp32.embed(TEXTS)
    assert got.shape == want.shape and (got * want).sum(axis=1).min() > 0.9999
    assert float(first @ want[1]) > 0.9999
    assert list(saved.iterdir()) == files  # used, not written again
    # a few chunks (an edit's) are embedded by the saved pass too, rather than the model loaded
    got, state = embed_in_another_process(DEFAULT_MODEL, saved, TEXTS, tmp_path, how="embed")
    assert state == [True, False, False, False] and (got * want).sum(axis=1).min() > 0.9999
    many = [f"def f{n}(x):\n    return x + {n}" for n in range(17)]  # more: the model, batched
    got, state = embed_in_another_process(DEFAULT_MODEL, saved, many, tmp_path, how="embed")
    assert state[0] is False and (got * fp32.embed(many)).sum(axis=1).min() > 0.9999


def test_a_process_with_the_model_loaded_runs_the_saved_pass_rather_than_trace_and_export_again(
        fp32, tmp_path, monkeypatch):
    """A server loads the model (for indexing) and makes ready for questions: where an earlier
    process saved the pass, it is checked against the eager model and run from its file, with
    no trace or export (whose leftovers cost memory); one that disagrees is made anew."""
    import torch

    saved = tmp_path / "questions"
    cpu_model(saved_questions=saved).embed_question(TEXTS[1])
    (file,) = saved.iterdir()

    def refused(*args, **kwargs):
        raise AssertionError("traced or exported again")

    with monkeypatch.context() as patched:
        patched.setattr(torch.jit, "trace", refused)
        patched.setattr(torch.onnx, "export", refused)
        server = cpu_model(saved_questions=saved)
        server._load()
        server.prepare_questions()
        assert isinstance(server._traced, _OnnxPass) and server._traced.model == str(file)
        got = np.vstack([server.embed_question(t) for t in TEXTS])
    assert (got * fp32.embed(TEXTS)).sum(axis=1).min() > 0.9999
    opened = SentenceTransformerEmbedder._open_saved
    want = fp32.embed(TEXTS[1:3])
    for export in (torch.onnx.export, refused):
        # a saved pass whose vectors are off: not used, and made again (as the trace, where the
        # export fails), and the next process without the model takes the new one
        with monkeypatch.context() as patched:
            patched.setattr(SentenceTransformerEmbedder, "_open_saved",
                            lambda self, path: (lambda one, found=opened(self, path): found(one) + 0.5))
            patched.setattr(torch.onnx, "export", export)
            server = cpu_model(saved_questions=saved)
            server._load()
            server.prepare_questions()
            assert callable(server._traced) and isinstance(server._traced, _OnnxPass) == (export is not refused)
            assert float(server.embed_question(TEXTS[1]) @ want[0]) > 0.9999
        assert [f.suffix for f in saved.iterdir()] == [".onnx" if export is not refused else ".pt"]
        got, state = embed_in_another_process(DEFAULT_MODEL, saved, TEXTS[1:3], tmp_path)
        assert state == [True, False, False, export is refused]
        assert (got * want).sum(axis=1).min() > 0.9999


def test_where_onnx_cannot_have_the_pass_torchscript_does_and_the_next_process_runs_it_with_torch(
        fp32, tmp_path, monkeypatch):
    """A bf16 model's pass (onnxruntime has no fast bf16 on a CPU), or one the ONNX exporter
    fails on, is saved as the TorchScript trace, which the next process runs with torch."""
    import torch

    want = fp32.embed(TEXTS[1:3])
    saved = tmp_path / "bf16"
    bf16 = cpu_model(precision="bf16", saved_questions=saved)
    first = bf16.embed_question(TEXTS[1])
    assert callable(bf16._traced) and not isinstance(bf16._traced, _OnnxPass)
    assert [f.suffix for f in saved.iterdir()] == [".pt"]
    got, state = embed_in_another_process(DEFAULT_MODEL, saved, TEXTS[1:3], tmp_path, precision="bf16")
    assert state == [True, False, False, True]
    assert float(first @ got[0]) > 0.999 and (got * want).sum(axis=1).min() > 0.99  # bf16 against fp32

    def broken(*args, **kwargs):
        raise RuntimeError("cannot export this model")

    def fails_on_long_texts(self, one):  # an exported graph onnxruntime cannot run at some length
        if len(one) > 1000:
            raise RuntimeError("no kernel for this length")
        return run(self, one)

    run = _OnnxPass.__call__
    for name, patch in (("unexported", lambda: monkeypatch.setattr(torch.onnx, "export", broken)),
                        ("unrunnable", lambda: monkeypatch.setattr(_OnnxPass, "__call__", fails_on_long_texts))):
        monkeypatch.undo()
        patch()
        saved = tmp_path / name
        model = cpu_model(saved_questions=saved)
        first = model.embed_question(TEXTS[1])
        assert callable(model._traced) and not isinstance(model._traced, _OnnxPass), name
        assert [f.suffix for f in saved.iterdir()] == [".pt"], name
        monkeypatch.undo()
        got, state = embed_in_another_process(DEFAULT_MODEL, saved, TEXTS[1:3], tmp_path)
        assert state == [True, False, False, True], name
        assert float(first @ want[0]) > 0.9999 and (got * want).sum(axis=1).min() > 0.9999


def test_a_saved_forward_pass_is_not_used_for_a_changed_model_or_when_unreadable(fp32, tmp_path, caplog):
    folder = tmp_path / "model"
    shutil.copytree(default_model_path(), folder)
    saved = tmp_path / "questions"
    cpu_model(model=str(folder), saved_questions=saved).embed_question(TEXTS[1])
    before = set(saved.iterdir())
    assert len(before) == 1
    config = folder / "config.json"
    os.utime(config, ns=(config.stat().st_atime_ns, config.stat().st_mtime_ns + 10**9))  # the model changed
    old, leftover = saved / "model-0123.pt", saved / "model-0123.pt1234.tmp"  # unused for 31 days; a dead save
    for path, days in ((old, 31), (leftover, 2)):
        path.write_bytes(b"x")
        os.utime(path, (time.time() - days * 86400,) * 2)
    got, state = embed_in_another_process(str(folder), saved, TEXTS[1:3], tmp_path)
    assert state[0] is False  # no saved pass for this model: loaded, traced, and saved anew
    assert len(set(saved.iterdir())) == 2  # the new beside the first (in use); the old and the dead gone
    new = (set(saved.iterdir()) - before).pop()
    new.write_bytes(b"not an ONNX model")
    model = cpu_model(model=str(folder), saved_questions=saved)
    with caplog.at_level(logging.WARNING, logger="indexer.embed"):
        again = np.vstack([model.embed_question(t) for t in TEXTS[1:3]])
    assert "cannot use the saved forward pass" in caplog.text
    want = fp32.embed(TEXTS[1:3])
    assert min((got * want).sum(axis=1).min(), (again * want).sum(axis=1).min()) > 0.9999
    got, state = embed_in_another_process(str(folder), saved, TEXTS[1:3], tmp_path)  # written over: good again
    assert state == [True, False, False, False] and (got * want).sum(axis=1).min() > 0.9999


def test_the_saved_pass_cuts_texts_as_the_model_does_with_its_tokenizer_changed_in_memory(fp32, tmp_path):
    """sentence-transformers lowercases for a model whose config says so (do_lower_case) by
    changing its tokenizer in memory, not the tokenizer file: the saved pass keeps the
    tokenizer the model used, so a mixed-case or accented question gets the model's vector."""
    folder = tmp_path / "model"
    shutil.copytree(default_model_path(), folder)
    spec = json.loads((folder / "tokenizer.json").read_text())
    spec["normalizer"]["lowercase"] = False
    (folder / "tokenizer.json").write_text(json.dumps(spec))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256, "do_lower_case": True}))
    saved = tmp_path / "questions"
    cpu_model(model=str(folder), saved_questions=saved).embed_question("where is the request parsed")
    texts = ["Where Is The HTTPClient Request PARSED?", "Café Naïve Ångström", "x"]
    got, state = embed_in_another_process(str(folder), saved, texts, tmp_path)
    assert state == [True, False, False, False]
    want = cpu_model(model=str(folder)).embed(texts)
    assert (got * want).sum(axis=1).min() > 0.9999


def test_with_a_cache_it_cannot_write_the_model_is_traced_at_the_second_question(tmp_path):
    (tmp_path / "afile").write_text("x")
    model = cpu_model(saved_questions=tmp_path / "afile" / "questions")
    model.embed_question(TEXTS[1])
    assert model._traced is None  # no trace paid at the first question: it could not be saved
    model.embed_question(TEXTS[2])
    assert callable(model._traced)
