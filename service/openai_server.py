"""An OpenAI-compatible HTTP server in front of any Generator (the local CPU model by default).

It speaks the subset of the API that chat clients use, in OpenAI's exact shapes, plus the
vLLM extras repoqa's client uses (`max_model_len` in /v1/models, POST /tokenize, usage in the
stream), so the `openai` and `vllm` client paths are tested against a real server:

    GET  /v1/models              the one served model
    POST /v1/chat/completions    streamed (Server-Sent Events) or not; usage; stop strings
    POST /v1/completions         scoring only, as lm-evaluation-harness asks it: echo with
                                 logprobs and max_tokens 0 or 1 (the prompt's token
                                 log-probabilities, and the likeliest next token)
    POST /tokenize               {"prompt": ...} or {"messages": [...]} -> {"count": ...}
    GET  /health                 200 when serving

A client that disconnects stops its generation. Run it with
`python -m service.openai_server --port 8000`.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import select
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from assistant.errors import GeneratorError, PromptTooLong
from assistant.generators import Generator, GeneratorOptions, TextStream, api_key_for

from .generators import open_generator

log = logging.getLogger(__name__)

MAX_BODY = 32 * 1024 * 1024
# Request fields that ask for more than this server can do with a plain generator; they are
# accepted (so clients that always send them work) and logged.
_UNHONOURED = ("structured_outputs", "guided_json", "guided_regex", "guided_choice", "guided_grammar",
               "response_format", "tools", "tool_choice", "logprobs", "top_logprobs", "seed")


class RequestError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status, self.kind, self.param = status, kind, param


def _text_of(content: object) -> str:
    """A message's content: a string, or OpenAI's list of parts (text parts joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                raise RequestError(400, "only text content parts are supported", param="messages")
        return "".join(parts)
    if content is None:
        return ""
    raise RequestError(400, "message content must be a string or a list of text parts", param="messages")


def parse_messages(raw: object) -> list[dict]:
    if not isinstance(raw, list) or not raw:
        raise RequestError(400, "messages must be a non-empty list", param="messages")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "developer"):
            raise RequestError(400, f"messages[{i}] must have a role of system, user or assistant",
                               param="messages")
        role = "system" if m["role"] == "developer" else m["role"]
        out.append({"role": role, "content": _text_of(m.get("content"))})
    return out


def _number(body: dict, name: str, default, lo: float, hi: float, kind: type):
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise RequestError(400, f"{name} must be {'an integer' if kind is int else 'a number'}", param=name)
    if not lo <= value <= hi:
        raise RequestError(400, f"{name} must be between {lo} and {hi}, got {value}", param=name)
    return kind(value)


class OpenAIServer:
    """Serves one Generator over HTTP on `host:port` (port 0 picks a free one)."""

    def __init__(self, generator: Generator, *, host: str = "127.0.0.1", port: int = 0,
                 model_name: str | None = None, api_key: str = ""):
        self.generator = generator
        self.model_name = model_name or generator.model
        self.api_key = api_key
        self.created = int(time.time())
        try:
            self.httpd = _Server((host, port), _Handler)
        except OSError as exc:
            raise GeneratorError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        self.httpd.app = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        host = self.httpd.server_address[0]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def start(self) -> "OpenAIServer":
        """Serve on a background thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="repoqa-openai-server", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> "OpenAIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the API, apart from HTTP ---------------------------------------------------------

    def models(self) -> dict:
        return {"object": "list", "data": [{
            "id": self.model_name, "object": "model", "created": self.created, "owned_by": "repoqa",
            "root": self.model_name, "parent": None, "max_model_len": self.generator.context_length,
        }]}

    def check_model(self, body: dict) -> None:
        model = body.get("model")
        if model not in (None, "", self.model_name):
            raise RequestError(404, f"The model `{model}` does not exist.", kind="not_found_error", param="model")

    def tokenize(self, body: dict) -> dict:
        self.check_model(body)
        if "messages" in body:
            messages = parse_messages(body["messages"])
            counter = getattr(self.generator, "prompt_tokens", None)
            count = counter(messages) if counter else sum(self.generator.count_tokens(m["content"]) for m in messages)
        elif isinstance(body.get("prompt"), str):
            count = self.generator.count_tokens(body["prompt"])
        else:
            raise RequestError(400, "give prompt (a string) or messages", param="prompt")
        return {"count": count, "max_model_len": self.generator.context_length}

    def score(self, body: dict) -> dict:
        """A completion that scores its prompts: echo, logprobs, max_tokens 0 or 1."""
        self.check_model(body)
        scorer = getattr(self.generator, "text_logprobs", None)
        if scorer is None:
            raise RequestError(400, "this model cannot score prompts")
        generate = body.get("max_tokens", 16)
        if body.get("echo") is not True or generate not in (0, 1):
            raise RequestError(400, "this server answers /v1/completions only to score prompts (echo true, "
                                    "max_tokens 0 or 1); generate through /v1/chat/completions", param="echo")
        prompts = body.get("prompt")
        prompts = [prompts] if isinstance(prompts, str) else prompts
        if not isinstance(prompts, list) or not prompts or len(prompts) > 64 \
                or not all(isinstance(p, str) and p for p in prompts):
            raise RequestError(400, "prompt must be a non-empty string or a list of at most 64 of them",
                               param="prompt")
        if body.get("logprobs") is None:
            raise RequestError(400, "give logprobs (0 or more): this server answers /v1/completions only to "
                                    "score prompts", param="logprobs")
        top = _number(body, "logprobs", 0, 0, 20, int)
        choices, used = [], 0
        for i, prompt in enumerate(prompts):
            try:
                found = scorer(prompt, top)
            except GeneratorError as exc:
                raise RequestError(400, str(exc), param="prompt") from None
            used += len(found["tokens"])
            token, logprob = found.pop("next")
            text = prompt
            if generate == 1:
                found["text_offset"].append(len(prompt))
                found["tokens"].append(token)
                found["token_logprobs"].append(logprob)
                if found["top_logprobs"] is not None:
                    found["top_logprobs"].append({token: logprob})
                text += token
            choices.append({"index": i, "text": text, "logprobs": found,
                            "finish_reason": "length"})
        generated = len(prompts) if generate == 1 else 0
        return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
                "model": self.model_name, "choices": choices,
                "usage": {"prompt_tokens": used, "completion_tokens": generated, "total_tokens": used + generated}}

    def chat_request(self, body: dict) -> dict:
        """The checked arguments of a chat completion request."""
        self.check_model(body)
        messages = parse_messages(body.get("messages"))
        if body.get("n", 1) != 1:
            raise RequestError(400, "n must be 1", param="n")
        default_max = int(getattr(self.generator, "max_tokens", 512))
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        max_tokens = _number({"max_tokens": max_tokens}, "max_tokens", default_max, 1,
                             self.generator.context_length, int)
        temperature = _number(body, "temperature", float(getattr(self.generator, "temperature", 1.0)), 0, 2, float)
        top_p = _number(body, "top_p", None, 0, 1, float)
        stop = body.get("stop")
        if isinstance(stop, str):
            stop = [stop]
        if stop is not None and (not isinstance(stop, list) or not all(isinstance(s, str) for s in stop)
                                 or len(stop) > 16):
            raise RequestError(400, "stop must be a string or a list of at most 16 strings", param="stop")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise RequestError(400, "stream must be true or false", param="stream")
        options = body.get("stream_options") or {}
        if not isinstance(options, dict):
            raise RequestError(400, "stream_options must be an object", param="stream_options")
        ignored = [k for k in _UNHONOURED if body.get(k) not in (None, False)]
        if ignored:
            log.info("request fields this server does not honour, ignored: %s", ", ".join(ignored))
        return {"messages": messages, "max_tokens": max_tokens, "temperature": temperature,
                "stop": stop or None, "stream": stream, "usage": bool(options.get("include_usage")),
                "extra": {"top_p": top_p} if top_p is not None else None}

    def check_fits(self, req: dict) -> None:
        """A 400 before anything is generated when the prompt alone fills the context (where
        the generator can count its chat prompt), as vLLM answers."""
        counter = getattr(self.generator, "prompt_tokens", None)
        if counter is None:
            return
        n = counter(req["messages"])
        if n >= self.generator.context_length:
            raise RequestError(400, f"This model's maximum context length is {self.generator.context_length} "
                                    f"tokens. However, your messages take {n} tokens: the prompt "
                                    f"takes at most {self.generator.context_length - 1}.", param="messages")

    def usage(self, req: dict, stream: TextStream, text: str) -> dict:
        prompt = stream.prompt_tokens
        if prompt is None:
            prompt = sum(self.generator.count_tokens(m["content"]) for m in req["messages"])
        completion = stream.completion_tokens
        if completion is None:
            completion = self.generator.count_tokens(text)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: OpenAIServer


def _finish(reason: str | None) -> str:
    return "stop" if reason in (None, "cancelled") else reason


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "repoqa-openai"
    server: _Server

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        log.debug("%s " + format, self.address_string(), *args)

    # -- plumbing --------------------------------------------------------------------------

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, err: RequestError) -> None:
        self._json(err.status, {"error": {"message": str(err), "type": err.kind, "param": err.param,
                                          "code": err.status}})

    def _authorised(self) -> bool:
        key = self.server.app.api_key
        if not key:
            return True
        if self.headers.get("Authorization", "") == f"Bearer {key}":
            return True
        self._error(RequestError(401, "a valid API key is required (Authorization: Bearer ...)",
                                 kind="authentication_error"))
        return False

    def _body(self) -> dict:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise RequestError(400, "bad Content-Length") from None
        if length > MAX_BODY:
            self.close_connection = True
            raise RequestError(413, f"request body over {MAX_BODY} bytes")
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise RequestError(400, f"the body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise RequestError(400, "the body must be a JSON object")
        return body

    # -- routes ----------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            self._json(200, {"status": "ok"})
        elif not self._authorised():
            return
        elif path == "/v1/models":
            self._json(200, self.server.app.models())
        else:
            self._error(RequestError(404, f"no route {self.path}", kind="not_found_error"))

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0].rstrip("/")
        if not self._authorised():
            return
        try:
            body = self._body()
            if path == "/v1/chat/completions":
                self._chat(body)
            elif path == "/v1/completions":
                self._json(200, self.server.app.score(body))
            elif path in ("/tokenize", "/v1/tokenize"):
                self._json(200, self.server.app.tokenize(body))
            else:
                raise RequestError(404, f"no route {self.path}", kind="not_found_error")
        except RequestError as err:
            self._error(err)
        except PromptTooLong as exc:
            self._error(RequestError(400, str(exc), param="messages"))
        except GeneratorError as exc:
            log.warning("generation failed: %s", exc)
            self._error(RequestError(500, str(exc), kind="server_error"))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - one bad request must not take the server down
            log.exception("internal error serving %s", self.path)
            self._error(RequestError(500, f"internal error: {type(exc).__name__}", kind="server_error"))

    def _chat(self, body: dict) -> None:
        app = self.server.app
        req = app.chat_request(body)
        app.check_fits(req)
        cancel = threading.Event()
        watch = _DisconnectWatch(self.connection, cancel)
        stream = app.generator.stream(req["messages"], max_tokens=req["max_tokens"], temperature=req["temperature"],
                                      stop=req["stop"], cancel=cancel, extra=req["extra"])
        try:
            if req["stream"]:
                self._chat_stream(req, stream, cancel)
                return
            text = "".join(stream)
            if cancel.is_set():
                self.close_connection = True
                return
            self._json(200, {
                "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": app.model_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "logprobs": None, "finish_reason": _finish(stream.finish_reason)}],
                "usage": app.usage(req, stream, text),
            })
        finally:
            watch.stop()
            stream.close()

    def _chat_stream(self, req: dict, stream: TextStream, cancel: threading.Event) -> None:
        """Headers at once (as vLLM sends them), then a chunk per piece; a failure after the
        headers is reported as an error event."""
        app = self.server.app
        ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def chunk(delta: dict, finish: str | None = None) -> dict:
            return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": app.model_name,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

        text: list[str] = []
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._event(chunk({"role": "assistant", "content": ""}))
            try:
                for piece in stream:
                    text.append(piece)
                    self._event(chunk({"content": piece}))
            except GeneratorError as exc:
                status = 400 if isinstance(exc, PromptTooLong) else 500
                self._event({"error": {"message": str(exc), "type": "server_error" if status == 500 else
                                       "invalid_request_error", "param": None, "code": status}})
                self._send_chunk(b"data: [DONE]\n\n")
                self._send_chunk(b"")
                return
            if cancel.is_set():
                self.close_connection = True
                return
            self._event(chunk({}, _finish(stream.finish_reason)))
            if req["usage"]:
                self._event({"id": ident, "object": "chat.completion.chunk", "created": created,
                             "model": app.model_name, "choices": [], "usage": app.usage(req, stream, "".join(text))})
            self._send_chunk(b"data: [DONE]\n\n")
            self._send_chunk(b"")  # the chunked body's end
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            cancel.set()  # the client left: stop generating for it
            self.close_connection = True
            log.debug("client disconnected; generation stopped")

    def _event(self, payload: dict) -> None:
        self._send_chunk(b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n")

    def _send_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


class _DisconnectWatch:
    """Sets `cancel` when the client closes its connection while we are generating (during a
    long prefill nothing is written, so a failed write cannot tell us)."""

    def __init__(self, conn: socket.socket, cancel: threading.Event):
        self._conn, self._cancel = conn, cancel
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="repoqa-disconnect-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.1):
            try:
                readable, _, _ = select.select([self._conn], [], [], 0)
                if not readable:
                    continue
                if self._conn.recv(1, socket.MSG_PEEK) == b"":
                    self._cancel.set()
                return  # closed, or the client sent more: nothing more to learn here
            except (OSError, ValueError):
                self._cancel.set()
                return

    def stop(self) -> None:
        self._done.set()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.openai_server",
                                     description="Serve the local model over an OpenAI-compatible API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", default="", help="a .gguf file or transformers folder (default: packaged SmolLM2)")
    parser.add_argument("--served-model-name", default=None)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = one per core)")
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    parser.add_argument("--context-length", type=int, default=0)
    parser.add_argument("--cache-dir", default="")
    parser.add_argument("--api-key", default="", help="require this bearer token "
                        "(default: REPOQA_GENERATOR_API_KEY; needed beyond loopback)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    options = GeneratorOptions(backend="local", model=args.model, local_threads=args.threads,
                               local_precision=args.precision, context_length=args.context_length,
                               cache_dir=args.cache_dir, api_key=args.api_key)
    api_key = api_key_for(options, {k: v for k, v in os.environ.items() if k == "REPOQA_GENERATOR_API_KEY"})
    if not api_key and not _is_loopback(args.host):
        print(f"Error: listening on {args.host} (beyond loopback) needs --api-key or REPOQA_GENERATOR_API_KEY",
              file=sys.stderr)
        return 2
    try:
        generator = open_generator(options, progress=lambda m: print(m, file=sys.stderr))
        server = OpenAIServer(generator, host=args.host, port=args.port, model_name=args.served_model_name,
                              api_key=api_key)
    except GeneratorError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(f"serving {server.model_name} at {server.url}/v1 (context {generator.context_length} tokens)",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
        generator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
