"""The remote embedder against an OpenAI-compatible /v1/embeddings server on loopback.

No embedding server can be installed here, so the test serves the real model behind the
same HTTP protocol vLLM's `vllm serve` speaks (POST /v1/embeddings, data[i].embedding).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from conftest import index, write_tree

from indexer.dense import embed_index
from indexer.embed import EmbedderError, EmbedOptions
from service.embedders import OpenAIEmbedder, open_embedder


@pytest.fixture
def server(embedder):
    state = {"mode": "ok", "requests": 0, "auth": None}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            state["requests"] += 1
            state["auth"] = self.headers.get("Authorization")
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/v1/embeddings":
                return self._send(404, {"error": {"message": "not found"}})
            if state["mode"] == "error":
                return self._send(500, {"error": {"message": "model crashed"}})
            if state["mode"] == "garbage":
                return self._send(200, {"data": "nope"})
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            vecs = embedder.embed(texts)
            data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vecs)]
            data.reverse()  # the protocol orders by index, not by position
            self._send(200, {"object": "list", "data": data, "model": body["model"],
                             "usage": {"prompt_tokens": 0, "total_tokens": 0}})

        def _send(self, code, payload):
            raw = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield state
    httpd.shutdown()
    httpd.server_close()


def test_remote_vectors_match_the_local_model(server, embedder):
    remote = OpenAIEmbedder(server["url"], "minilm", api_key="sekrit")
    assert remote.dim == 384 and remote.model_id == "openai:minilm"
    texts = ["def add(a, b): return a + b", "parse the HTTP response", "x"]
    assert np.allclose(remote.embed(texts), embedder.embed(texts), atol=1e-5)
    assert server["auth"] == "Bearer sekrit"
    long = "parse the HTTP response " * 100  # the remote tokenizer is unknown: cut by characters
    assert long.startswith(remote.head(long, 128)) and 128 <= len(remote.head(long, 128)) < len(long)


def test_index_through_the_remote_embedder(server, tmp_path):
    root = write_tree(tmp_path / "r", {"a.py": "def alpha():\n    return 1\n", "b.py": "def beta():\n    return 2\n"})
    index(root)
    remote = open_embedder(EmbedOptions(backend="openai", openai_url=server["url"], openai_model="minilm"))
    s = embed_index(root, remote)
    assert (s.model, s.chunks_embedded, s.vectors) == ("openai:minilm", 2, 2)


def test_remote_failures_are_clear_errors(server):
    remote = OpenAIEmbedder(server["url"], "minilm")
    server["mode"] = "error"
    with pytest.raises(EmbedderError, match="answered 500: .*model crashed"):
        remote.embed(["x"])
    server["mode"] = "garbage"
    with pytest.raises(EmbedderError, match="malformed reply"):
        remote.embed(["x"])
    with pytest.raises(EmbedderError, match="unreachable"):
        OpenAIEmbedder("http://127.0.0.1:9/v1", "minilm", timeout=2)
    with pytest.raises(EmbedderError, match="needs embed.openai_url"):
        OpenAIEmbedder("", "")
    windows, capped = remote.windows("y" * 5000, head="f.py g")
    assert len(windows) > 1 and not capped and all(len(w) <= 1500 for w in windows)
