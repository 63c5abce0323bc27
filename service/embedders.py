"""Embedders reached over HTTP, and the one function that opens any configured embedder."""

from __future__ import annotations

import numpy as np

from indexer.embed import BATCH, Embedder, EmbedderError, EmbedOptions, strided, unit_rows
from indexer.embed import open_embedder as open_local_embedder
from indexer.text import CHARS_PER_TOKEN

_OVERLAP_CHARS = 100


class OpenAIEmbedder:
    """An OpenAI-compatible `/v1/embeddings` endpoint (`vllm serve` with an embedding
    model, or any compatible server). Long chunks are cut into windows of characters,
    since the server's tokenizer is not known here."""

    def __init__(self, base_url: str, model: str, *, api_key: str = "", window_chars: int = 1500,
                 batch_size: int = 64, timeout: float = 60.0):
        import httpx

        if not base_url or not model:
            raise EmbedderError("the openai embedder needs embed.openai_url and embed.openai_model")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.model_id = f"openai:{model}"
        self.window_chars = window_chars
        self.batch_size = batch_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self.dim = int(self._request(["dimension probe"]).shape[1])

    def windows(self, text: str, head: str = "") -> tuple[list[str], bool]:
        prefix = f"{head}\n" if head else ""
        size = max(200, self.window_chars - len(prefix))
        if len(text) <= size:
            return [prefix + text], False
        pieces = [prefix + text[i:i + size] for i in range(0, len(text), size - _OVERLAP_CHARS)]
        return strided(pieces)

    def windows_many(self, items: list[tuple[str, str]]) -> list[tuple[list[str], bool]]:
        return [self.windows(text, head) for text, head in items]

    def head(self, text: str, tokens: int) -> str:
        # the remote tokenizer is unknown: the project's stated rate for code and English
        return text[:int(max(1, tokens) * CHARS_PER_TOKEN)]

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._request(texts[i:i + self.batch_size])
                          for i in range(0, len(texts), self.batch_size)])

    def embed_question(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def _request(self, texts: list[str]) -> np.ndarray:
        import httpx

        try:
            res = self._client.post("/embeddings", json={"model": self.model, "input": texts})
        except httpx.HTTPError as exc:
            raise EmbedderError(f"embedding server {self.base_url} unreachable: {exc}") from exc
        if res.status_code != 200:
            raise EmbedderError(f"embedding server {self.base_url} answered {res.status_code}: {res.text[:300]}")
        try:
            data = sorted(res.json()["data"], key=lambda d: d["index"])
            out = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbedderError(f"embedding server {self.base_url} sent a malformed reply: {exc}") from exc
        if out.ndim != 2 or len(out) != len(texts):
            raise EmbedderError(f"embedding server {self.base_url} returned {len(out)} vectors for {len(texts)} inputs")
        return unit_rows(out)

    def close(self) -> None:
        self._client.close()


def open_embedder(options: EmbedOptions) -> Embedder:
    if options.backend == "openai":
        return OpenAIEmbedder(options.openai_url, options.openai_model, api_key=options.openai_api_key,
                              window_chars=options.openai_window_chars,
                              batch_size=options.batch_size or BATCH)
    return open_local_embedder(options)
