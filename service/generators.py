"""Generators that live behind HTTP, and choosing a generator.

- `OpenAIGenerator`: any OpenAI-compatible server by URL (`vllm serve`, llama.cpp's server,
  others), over HTTP with Server-Sent Events; with backend `vllm`, vLLM's extras too
  (`/tokenize` for exact token counts, usage in the stream, request fields such as
  `structured_outputs` passed through).
- `open_generator`: the generator `[generator]` chooses (assistant/generators.py documents the
  backends). It lives here, in the service layer, because only `service/` talks HTTP.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path

from assistant.errors import GeneratorError
from assistant.generators import (
    BACKENDS,
    DEFAULT_REMOTE_CONTEXT,
    MESSAGE_OVERHEAD,
    POLL_S,
    Generator,
    GeneratorOptions,
    TextStream,
    api_key_for,
    default_cache_dir,
    offline_tokenizer,
)

log = logging.getLogger(__name__)

# --- OpenAI-compatible servers ---------------------------------------------------------


def normalise_base_url(url: str) -> str:
    """The server's root: no trailing slash, no trailing /v1 (paths are added per request)."""
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[:-3]
    if not url.startswith(("http://", "https://")):
        raise GeneratorError(f"generator.base_url must start with http:// or https://, got {url!r}")
    return url


def is_vllm_model(entry: Mapping[str, object]) -> bool:
    """Whether a /v1/models entry comes from vLLM (or a server speaking vLLM's extras)."""
    return "max_model_len" in entry or str(entry.get("owned_by", "")).lower() == "vllm"


def error_message(body: str) -> str:
    """The message of an error response, in any of the shapes servers use."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:500] or "(empty response)"
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            for key in ("message", "detail", "msg"):
                if isinstance(err.get(key), str):
                    return err[key]
            if "detail" in data:
                return str(data["detail"])[:500]
        elif isinstance(err, str):
            return err
    return body.strip()[:500]


def iter_sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The `data` of each Server-Sent Event in `lines` (multi-line data joined with \\n)."""
    data: list[str] = []
    for line in lines:
        line = line.rstrip("\r")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue  # a comment (keep-alive)
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def continuation_logprob(logprobs: dict, prompt_chars: int, cont_chars: int, generated: int = 1) -> float:
    """The continuation's log-probability in an echoed completion's `logprobs`: its tokens are
    the echoed prompt's last (the `generated` tokens after them left out), found from the end
    by the lengths of their texts, so that a start token a server echoes before the prompt
    (vLLM: `<s>`, `<|begin_of_text|>`, counted in its offsets) shifts nothing. A token that
    straddles prefix and continuation counts as the continuation's."""
    tokens, values = logprobs["tokens"], logprobs["token_logprobs"]
    if len(tokens) != len(values):
        raise ValueError("tokens and token_logprobs differ in length")
    tokens, values = tokens[:len(tokens) - generated], values[:len(values) - generated]
    if sum(len(t) for t in tokens) < prompt_chars:
        raise ValueError("the reply does not echo the whole prompt (does the server take echo?)")
    total, covered = 0.0, 0
    for token, value in zip(reversed(tokens), reversed(values), strict=True):
        if covered >= cont_chars:
            break
        covered += len(token)
        if value is not None:
            total += float(value)
    return total


class OpenAIGenerator:
    """A model behind an OpenAI-compatible HTTP API (/v1/chat/completions, streamed)."""

    def __init__(self, base_url: str, model: str = "", *, api_key: str = "", backend: str = "openai",
                 context_length: int = 0, max_tokens: int = 512, temperature: float = 0.2,
                 top_p: float = 0.95, timeout_s: float = 120.0, tokenizer: str = ""):
        import httpx

        if backend not in ("openai", "vllm", "auto"):
            raise GeneratorError(f"OpenAIGenerator: unknown backend {backend!r}")
        self.base_url = normalise_base_url(base_url)
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers,
                                    timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)))
        try:
            entry = self._model_entry(model)
            self.model = model or str(entry.get("id", ""))
            if not self.model:
                raise GeneratorError(f"the model server {self.base_url} lists no models; set generator.model")
            self.server_is_vllm = is_vllm_model(entry)
            self.backend = ("vllm" if self.server_is_vllm else "openai") if backend == "auto" else backend
            stated = entry.get("max_model_len")
            if context_length > 0:
                self.context_length, self.context_source = context_length, "configured"
            elif isinstance(stated, int) and stated > 0:
                self.context_length, self.context_source = stated, "server"
            else:
                self.context_length, self.context_source = DEFAULT_REMOTE_CONTEXT, "default"
            # vLLM counts with the served model's own tokenizer; others with a local file.
            self._remote_count = self.backend == "vllm" and not tokenizer
            self._local = None if self._remote_count else offline_tokenizer(tokenizer)
            self.tokenizer_name = (f"{self.model} (the server's /tokenize)" if self._remote_count
                                   else self._local.name)
            self.tokens_exact = self._remote_count or bool(tokenizer)
            self._count_remote = lru_cache(maxsize=4096)(self._tokenize)
        except BaseException:
            self._client.close()
            raise

    # -- requests ------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs):
        import httpx

        try:
            return self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc

    def _transport_error(self, exc) -> GeneratorError:
        """What an httpx failure to reach or hear the server means, for the user."""
        import httpx

        if isinstance(exc, httpx.ConnectError):
            return GeneratorError(f"cannot reach the model server at {self.base_url}: {_reason(exc)}")
        if isinstance(exc, httpx.TimeoutException):
            return GeneratorError(f"the model server at {self.base_url} did not answer in time "
                                  f"({type(exc).__name__})")
        return GeneratorError(f"request to the model server at {self.base_url} failed: {exc}")

    def _check(self, res, what: str) -> None:
        if res.status_code >= 400:
            raise GeneratorError(f"the model server at {self.base_url} refused {what} "
                                 f"(HTTP {res.status_code}): {error_message(res.text)}", status=res.status_code)

    def _model_entry(self, model: str) -> dict:
        res = self._request("GET", "/v1/models")
        if res.status_code in (404, 405, 501):  # a server without a model list
            if not model:
                raise GeneratorError(f"the model server at {self.base_url} has no /v1/models; "
                                     "set generator.model")
            return {"id": model}
        self._check(res, "the model list")
        try:
            entries = [e for e in res.json().get("data", []) if isinstance(e, dict)]
        except (ValueError, AttributeError) as exc:
            raise GeneratorError(f"the model server at {self.base_url} sent a malformed model list") from exc
        if not model:
            return entries[0] if entries else {}
        for e in entries:
            if e.get("id") == model:
                return e
        if entries:
            served = ", ".join(str(e.get("id")) for e in entries[:10])
            raise GeneratorError(f"the model server at {self.base_url} does not serve {model!r} (it serves: {served})")
        return {"id": model}

    # -- tokens --------------------------------------------------------------------------

    def _tokenize(self, text: str) -> int:
        res = self._request("POST", "/tokenize", json={"model": self.model, "prompt": text,
                                                        "add_special_tokens": False})
        if res.status_code in (404, 405, 501):  # not vLLM after all: count offline from now on
            log.info("%s has no /tokenize; counting tokens with the offline default", self.base_url)
            self._remote_count = False
            self._local = offline_tokenizer("")
            self.tokenizer_name = self._local.name
            self.tokens_exact = False
            return self._local.count(text)
        self._check(res, "to count tokens")
        try:
            return int(res.json()["count"])
        except (ValueError, KeyError, TypeError) as exc:
            raise GeneratorError(f"the model server at {self.base_url} sent a malformed /tokenize reply") from exc

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        if self._remote_count:
            return self._count_remote(text)
        return self._local.count(text)

    def prompt_tokens(self, messages: list[dict]) -> int:
        """Tokens of the chat prompt: exact from vLLM's /tokenize (chat template applied),
        else the contents counted plus MESSAGE_OVERHEAD per message."""
        if self._remote_count:
            res = self._request("POST", "/tokenize", json={"model": self.model, "messages": messages,
                                                            "add_generation_prompt": True})
            if res.status_code < 400:
                try:
                    return int(res.json()["count"])
                except (ValueError, KeyError, TypeError):
                    pass
        return sum(self.count_tokens(m.get("content") or "") + MESSAGE_OVERHEAD for m in messages) + MESSAGE_OVERHEAD

    # -- generation ----------------------------------------------------------------------

    def request_body(self, messages: list[dict], *, max_tokens: int, temperature: float,
                     stop: list[str] | None, extra: dict | None, stream: bool = True) -> dict:
        body: dict = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                      "temperature": temperature, "top_p": self.top_p, "stream": stream}
        if stop:
            body["stop"] = list(stop)
        if stream and self.backend == "vllm":
            body["stream_options"] = {"include_usage": True}
        if extra:
            body.update(extra)
        return body

    def stream(self, messages: list[dict], *, max_tokens: int, temperature: float,
               stop: list[str] | None = None, cancel: threading.Event | None = None,
               extra: dict | None = None) -> TextStream:
        body = self.request_body(messages, max_tokens=max_tokens, temperature=temperature, stop=stop,
                                 extra=extra)
        return TextStream(lambda out: self._pieces(out, body, cancel))

    def _pieces(self, out: TextStream, body: dict, cancel: threading.Event | None) -> Iterator[str]:
        if cancel is not None and cancel.is_set():
            out.finish_reason = "cancelled"
            return
        if cancel is None:
            yield from self._events(out, body, None, {})
            return
        # With a cancel event the request runs on a reader thread, so that cancelling returns
        # at once even while the server is still silent (a long prefill before its response
        # headers or its first piece); the reader then closes the connection, which tells the
        # server to stop.
        items: queue.Queue = queue.Queue()
        abandon = threading.Event()
        held: dict = {}

        def read() -> None:
            try:
                for piece in self._events(out, body, abandon, held):
                    items.put(("piece", piece))
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                items.put(("error", exc))
            finally:
                items.put(("end", None))

        threading.Thread(target=read, name="repoqa-openai-read", daemon=True).start()
        try:
            while not cancel.is_set():
                try:
                    kind, value = items.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if kind == "end":
                    break
                if kind == "error":
                    if abandon.is_set() or cancel.is_set():
                        break
                    raise value
                yield value
        finally:
            abandon.set()
            _shutdown(held.get("response"))
        if cancel.is_set():
            out.finish_reason = "cancelled"

    def _events(self, out: TextStream, body: dict, abandon: threading.Event | None, held: dict) -> Iterator[str]:
        """The content pieces of one streamed chat completion; stops when `abandon` is set."""
        import httpx

        try:
            with self._client.stream("POST", "/v1/chat/completions", json=body) as res:
                held["response"] = res
                if res.status_code >= 400:
                    res.read()
                    self._check(res, "the chat completion")
                try:
                    for data in iter_sse_data(res.iter_lines()):
                        if abandon is not None and abandon.is_set():
                            break
                        if data.strip() == "[DONE]":
                            break
                        try:
                            chunk = json.loads(data)
                        except ValueError as exc:
                            raise GeneratorError(f"the model server at {self.base_url} sent a malformed "
                                                 f"event: {data[:200]!r}") from exc
                        if "error" in chunk:  # vLLM reports failures inside the stream
                            raise GeneratorError(f"the model server at {self.base_url} failed: "
                                                 f"{error_message(json.dumps(chunk))}")
                        usage = chunk.get("usage")
                        if isinstance(usage, dict):
                            out.prompt_tokens = usage.get("prompt_tokens", out.prompt_tokens)
                            out.completion_tokens = usage.get("completion_tokens", out.completion_tokens)
                        for choice in chunk.get("choices") or ():
                            if choice.get("index", 0) != 0:
                                continue
                            piece = (choice.get("delta") or {}).get("content")
                            if choice.get("finish_reason"):
                                out.finish_reason = choice["finish_reason"]
                            if piece:
                                yield piece
                except httpx.HTTPError as exc:
                    if abandon is None or not abandon.is_set():
                        raise GeneratorError(f"the stream from the model server at {self.base_url} "
                                             f"broke off: {_reason(exc)}") from exc
        except httpx.HTTPError as exc:
            # a failure to connect or a timeout is always reported; any other, unless abandoned
            if isinstance(exc, (httpx.ConnectError, httpx.TimeoutException)) or abandon is None \
                    or not abandon.is_set():
                raise self._transport_error(exc) from exc

    def complete(self, messages: list[dict], *, max_tokens: int, temperature: float,
                 stop: list[str] | None = None, extra: dict | None = None) -> dict:
        """One non-streamed chat completion: the server's JSON reply."""
        body = self.request_body(messages, max_tokens=max_tokens, temperature=temperature, stop=stop,
                                 extra=extra, stream=False)
        res = self._request("POST", "/v1/chat/completions", json=body)
        self._check(res, "the chat completion")
        try:
            return res.json()
        except ValueError as exc:
            raise GeneratorError(f"the model server at {self.base_url} sent malformed JSON") from exc

    def loglikelihood(self, pairs: list[tuple[str, str]]) -> list[float]:
        """For each (prefix, continuation): the sum of the log-probabilities of the
        continuation's tokens after the prefix, from one completion request that echoes the
        prompts with their logprobs (the request lm-evaluation-harness makes of vLLM, one
        token generated). A token that straddles the two counts as the continuation's."""
        if len(pairs) > 32:  # a request a server takes whole
            return self.loglikelihood(pairs[:32]) + self.loglikelihood(pairs[32:])
        if not pairs:
            return []
        body = {"model": self.model, "prompt": [p + c for p, c in pairs], "max_tokens": 1, "echo": True,
                "logprobs": 1, "temperature": 0.0}
        res = self._request("POST", "/v1/completions", json=body)
        self._check(res, "to score prompts (a completion with echo and logprobs)")
        try:
            choices = sorted(res.json()["choices"], key=lambda c: c["index"])
            if len(choices) != len(pairs):
                raise ValueError(f"{len(choices)} choices for {len(pairs)} prompts")
            if any(c.get("logprobs") is None for c in choices):
                raise GeneratorError(f"the model server at {self.base_url} does not return the prompt's "
                                     "logprobs (echo with logprobs): it cannot score text")
            return [continuation_logprob(c["logprobs"], len(p) + len(t), len(t)) for (p, t), c in
                    zip(pairs, choices, strict=True)]
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise GeneratorError(f"the model server at {self.base_url} sent a malformed scoring reply: "
                                 f"{type(exc).__name__}: {exc}") from exc

    def info(self) -> dict[str, object]:
        return {"backend": self.backend, "model": self.model, "base_url": self.base_url,
                "context_length": self.context_length, "context_source": self.context_source,
                "tokenizer": self.tokenizer_name, "tokens_exact": self.tokens_exact}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "OpenAIGenerator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower():
        return "connection refused (is the server running?)"
    return text


def _shutdown(response) -> None:
    """Shut the socket of `response` down, so a read blocked on it returns at once."""
    if response is None:
        return
    stream = response.extensions.get("network_stream")
    try:
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, AttributeError):
        pass



def open_generator(options: GeneratorOptions, *, env: Mapping[str, str] | None = None,
                   progress: Callable[[str], None] | None = None) -> Generator:
    """The generator `options` choose. `env` (default: the process environment) is read for
    the API key and the default cache directory only; `progress` hears slow steps."""
    backend = options.backend.strip().lower()
    if backend not in BACKENDS:
        raise GeneratorError(f"generator.backend must be one of {', '.join(BACKENDS)}, got {options.backend!r}")
    if backend == "auto":
        backend = "auto-remote" if options.base_url else "local"
    started = time.perf_counter()
    if backend == "local":
        from assistant.local import LocalGenerator

        gen: Generator = LocalGenerator(
            options.model, threads=options.local_threads, precision=options.local_precision,
            cache_dir=Path(options.cache_dir).expanduser() if options.cache_dir else default_cache_dir(env),
            context_length=options.context_length, max_tokens=options.max_tokens,
            temperature=options.temperature, top_p=options.top_p, progress=progress)
    elif backend == "vllm" and not options.base_url:
        from assistant.vllm_engine import VLLMEngineGenerator

        gen = VLLMEngineGenerator(options.model, context_length=options.context_length,
                                  max_tokens=options.max_tokens, temperature=options.temperature,
                                  top_p=options.top_p)
    else:
        if not options.base_url:
            raise GeneratorError(f"generator.backend {backend!r} needs generator.base_url")
        gen = OpenAIGenerator(
            options.base_url, options.model, api_key=api_key_for(options, env),
            backend="auto" if backend == "auto-remote" else backend, context_length=options.context_length,
            max_tokens=options.max_tokens, temperature=options.temperature, top_p=options.top_p,
            timeout_s=options.timeout_s, tokenizer=options.tokenizer)
    log.info("generator %s %s opened in %.1f s (context %d tokens)", gen.backend, gen.model,
             time.perf_counter() - started, gen.context_length)
    return gen
