"""One text (a search's question) is embedded by the traced model from the second such call:
the same vector as the eager model's, and the eager model whenever the trace cannot be had."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from indexer import embed
from indexer.embed import SentenceTransformerEmbedder

TEXTS = [
    "x",
    "Matrix.col_insert() no longer seems to work correctly with identity matrices",
    "def parse_http_response(raw: bytes) -> dict:\n    head, _, body = raw.partition(b'\\r\\n\\r\\n')\n",
    "Ünïcödé naïve façade — 数据 ✓",
    "why does the retry loop give up " * 80,  # past the model's 256 tokens: cut as the eager model cuts
]


@pytest.fixture(scope="module")
def fp32():
    """A model of its own in fp32, where the traced and the eager forward agree to rounding."""
    return SentenceTransformerEmbedder(precision="fp32")


def test_one_text_is_embedded_by_the_trace_as_by_the_eager_model(fp32):
    want = fp32.embed(TEXTS)  # several texts: the eager model
    first = fp32.embed([TEXTS[0]])
    assert fp32._single is None  # one question (the CLI's) is not worth a trace
    got = np.vstack([first] + [fp32.embed([t]) for t in TEXTS[1:]])
    assert callable(fp32._single)  # traced at the second call
    assert got.shape == want.shape == (len(TEXTS), fp32.dim)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * want).sum(axis=1).min() > 0.9999
    again = np.vstack([fp32.embed([t]) for t in reversed(TEXTS)])[::-1]  # every length after the first
    assert (again * want).sum(axis=1).min() > 0.9999


def test_the_default_model_traced_agrees_with_itself_eager(embedder):
    embedder.embed(["one"])
    embedder.embed(["two"])
    assert callable(embedder._single)
    got = np.vstack([embedder.embed([t]) for t in TEXTS])
    want = embedder.embed(TEXTS)  # bf16 where the CPU has it: batched, padded, rounded apart
    assert (got * want).sum(axis=1).min() > 0.99


def test_a_failed_trace_leaves_the_eager_model(fp32, monkeypatch, caplog):
    import torch

    model = SentenceTransformerEmbedder(precision="fp32")
    want = fp32.embed(TEXTS[1:3])

    def broken(*args, **kwargs):
        raise RuntimeError("cannot trace this model")

    monkeypatch.setattr(torch.jit, "trace", broken)
    with caplog.at_level(logging.WARNING, logger="indexer.embed"):
        got = np.vstack([model.embed([t]) for t in TEXTS[1:3]])
    assert model._single is False
    assert "cannot trace the embedding model" in caplog.text
    assert (got * want).sum(axis=1).min() > 0.9999


def test_a_trace_that_disagrees_is_not_used(fp32, monkeypatch, caplog):
    model = SentenceTransformerEmbedder(precision="fp32")
    monkeypatch.setattr(embed, "SINGLE_MIN_COSINE", 1.5)  # no vector agrees that well
    with caplog.at_level(logging.WARNING, logger="indexer.embed"):
        got = np.vstack([model.embed([t]) for t in TEXTS[1:3]])
    assert model._single is False
    assert "disagrees with the eager one" in caplog.text
    assert (got * fp32.embed(TEXTS[1:3])).sum(axis=1).min() > 0.9999
