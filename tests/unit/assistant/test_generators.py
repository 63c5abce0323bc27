"""Generators: options, opening, SSE and stop-string helpers, the model cache, the local model."""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from pathlib import Path

import pytest
from assistant_model import shared_local_generator

from assistant.errors import GeneratorError, PromptTooLong
from assistant.generators import Generator, GeneratorOptions, StopMatcher, api_key_for, default_cache_dir
from assistant.local import build_once
from service.config import ENV_PREFIX, load_section
from service.generators import error_message, is_vllm_model, iter_sse_data, normalise_base_url, open_generator


@pytest.fixture(scope="module")
def local_generator():
    return shared_local_generator()

MESSAGES = [{"role": "system", "content": "You answer in one short sentence."},
            {"role": "user", "content": "What is a Python list?"}]


def test_options_load_from_repoqa_toml_then_environment(tmp_path):
    (tmp_path / "repoqa.toml").write_text(
        '[generator]\nbackend = "vllm"\nbase_url = "http://gpu-box:8000/v1"\nmodel = "Qwen/Qwen2.5-Coder-7B-Instruct"\n'
        "temperature = 0.1\nmax_tokens = 800\n")
    env = {"REPOQA_GENERATOR_MAX_TOKENS": "300", "REPOQA_GENERATOR_CONTEXT_LENGTH": "16384"}
    opts = load_section(GeneratorOptions, tmp_path, "generator", ENV_PREFIX + "GENERATOR_", env)
    assert opts == GeneratorOptions(backend="vllm", base_url="http://gpu-box:8000/v1",
                                    model="Qwen/Qwen2.5-Coder-7B-Instruct", temperature=0.1, max_tokens=300,
                                    context_length=16384)


def test_api_key_comes_from_options_then_environment():
    assert api_key_for(GeneratorOptions(api_key="k1"), {"OPENAI_API_KEY": "k3"}) == "k1"
    assert api_key_for(GeneratorOptions(), {"REPOQA_GENERATOR_API_KEY": "k2", "OPENAI_API_KEY": "k3"}) == "k2"
    assert api_key_for(GeneratorOptions(), {"OPENAI_API_KEY": "k3"}) == "k3"
    assert api_key_for(GeneratorOptions(), {}) == ""


def test_default_cache_dir():
    assert default_cache_dir({"REPOQA_CACHE": "/data/rq"}) == Path("/data/rq/models")
    assert default_cache_dir({"XDG_CACHE_HOME": "/xdg"}) == Path("/xdg/repoqa/models")
    assert default_cache_dir({}) == Path.home() / ".cache" / "repoqa" / "models"


def test_open_generator_refuses_bad_configurations():
    with pytest.raises(GeneratorError, match="must be one of"):
        open_generator(GeneratorOptions(backend="llamafile"))
    with pytest.raises(GeneratorError, match="needs generator.base_url"):
        open_generator(GeneratorOptions(backend="openai"))
    with pytest.raises(GeneratorError, match="must start with http"):
        open_generator(GeneratorOptions(backend="openai", base_url="gpu-box:8000"))
    with pytest.raises(GeneratorError, match="cannot reach the model server at http://127.0.0.1:9"):
        open_generator(GeneratorOptions(base_url="http://127.0.0.1:9/v1", timeout_s=5))


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_in_process_vllm_without_vllm_is_a_clear_error():
    with pytest.raises(GeneratorError, match=r"vllm is not installed here.*vllm serve"):
        open_generator(GeneratorOptions(backend="vllm", model="Qwen/Qwen2.5-Coder-7B-Instruct"))


def test_helpers_for_servers():
    assert normalise_base_url("http://h:8000/v1/") == "http://h:8000"
    assert normalise_base_url(" https://api.example.com ") == "https://api.example.com"
    assert is_vllm_model({"id": "m", "max_model_len": 32768}) and is_vllm_model({"id": "m", "owned_by": "vllm"})
    assert not is_vllm_model({"id": "m", "owned_by": "openai"})
    assert error_message('{"error": {"message": "The model `x` does not exist.", "code": 404}}') == \
        "The model `x` does not exist."
    assert error_message('{"object": "error", "message": "too long", "code": 400}') == "too long"
    assert error_message('{"detail": "Not Found"}') == "Not Found"
    assert error_message('{"error": "bad key"}') == "bad key"
    assert error_message("<html>502 Bad Gateway</html>") == "<html>502 Bad Gateway</html>"


def test_sse_events_are_parsed_by_the_spec():
    lines = [": keep-alive", "data: {\"a\": 1}", "", "event: message", "data: line one", "data: line two", "",
             "data:[DONE]", "", "data: tail without blank line"]
    assert list(iter_sse_data(lines)) == ['{"a": 1}', "line one\nline two", "[DONE]", "tail without blank line"]


def test_stop_matcher_holds_back_a_possible_stop_string():
    m = StopMatcher(["</answer>", "\n\nQ:"])
    out = [m.feed(p) for p in ["The answer is 4", ".</ans", "wer> trailing"]]
    assert "".join(out) == "The answer is 4." and m.stopped
    m = StopMatcher(["STOP"])
    assert m.feed("abc ST") == "abc " and m.feed("ILL going") == "STILL going" and m.flush() == ""
    m = StopMatcher(["STOP"])
    assert m.feed("abc ST") == "abc " and m.feed("O") == "" and m.feed("P! more") == "" and m.stopped
    m = StopMatcher(["STOP"])
    assert m.feed("the end ST") == "the end " and m.flush() == "ST"  # a held tail comes out at the end
    m = StopMatcher(None)
    assert m.feed("anything") == "anything" and not m.stopped


def test_build_once_makes_the_cache_whole_or_not_at_all(tmp_path):
    final = tmp_path / "models" / "m-abc"

    def broken(tmp: Path) -> None:
        (tmp / "config.json").write_text("{}")
        raise RuntimeError("killed half way")

    with pytest.raises(RuntimeError):
        build_once(final, broken)
    assert not final.exists() and list(final.parent.iterdir()) == []  # no half cache, no leftovers
    # a leftover of a killed process (its pid is gone) is cleaned up by the next build
    stale = final.parent / f".{final.name}.tmp-999999999-deadbeef"
    stale.mkdir()
    assert build_once(final, lambda tmp: (tmp / "config.json").write_text("{}")) is True
    assert (final / "config.json").read_text() == "{}" and not stale.exists()
    assert build_once(final, broken) is False  # already there: not built again


# --- the local model (one loaded per session) ----------------------------------------------


@pytest.mark.slow
def test_local_model_streams_a_few_tokens(local_generator):
    assert isinstance(local_generator, Generator)
    info = local_generator.info()
    assert info["backend"] == "local" and local_generator.model == "SmolLM2-135M-Instruct"
    assert local_generator.context_length == 2048 and local_generator.tokenizer_name.startswith("SmolLM2")
    assert 0 < info["load_seconds"] < 120
    stream = local_generator.stream(MESSAGES, max_tokens=6, temperature=0.0)
    pieces = list(stream)
    assert "".join(pieces).strip()
    assert stream.completion_tokens == 6 and stream.finish_reason == "length"
    assert stream.prompt_tokens == local_generator.prompt_tokens(MESSAGES)
    again = local_generator.stream(MESSAGES, max_tokens=6, temperature=0.0).text()
    assert again == "".join(pieces)  # greedy decoding is deterministic
    assert local_generator.count_tokens("def parse(raw):\n    return raw\n") > 5
    assert local_generator.count_tokens("") == 0


@pytest.mark.slow
def test_local_model_generates_on_its_threads_after_a_search(local_generator, embedder):
    """A search embeds its question on one torch thread, and torch starts a thread it has not
    met from the count last set: the model's own generation thread must still use all of its."""
    torch = pytest.importorskip("torch")
    search = threading.Thread(target=embedder.embed, args=(["where is the cart total computed"],))
    search.start()
    search.join()
    fresh: list[int] = []
    probe = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
    probe.start()
    probe.join()
    assert fresh == [1]  # what a search leaves as the last count set
    running: list[int] = []
    hook = local_generator._model.register_forward_pre_hook(lambda *_: running.append(torch.get_num_threads()))
    try:
        local_generator.stream(MESSAGES, max_tokens=2, temperature=0.0).text()
    finally:
        hook.remove()
    assert running and set(running) == {local_generator.threads}


@pytest.mark.slow
def test_local_model_stops_at_a_stop_string(local_generator):
    full = local_generator.stream(MESSAGES, max_tokens=12, temperature=0.0).text()
    word = full.split()[1]
    stream = local_generator.stream(MESSAGES, max_tokens=12, temperature=0.0, stop=[word])
    cut = stream.text()
    assert word not in cut and full.startswith(cut) and stream.finish_reason == "stop"


@pytest.mark.slow
def test_local_model_cancels_promptly(local_generator):
    cancel = threading.Event()
    stream = local_generator.stream(MESSAGES, max_tokens=200, temperature=0.0, cancel=cancel)
    got = []
    for piece in stream:
        got.append(piece)
        if len(got) == 2:
            cancel.set()
            set_at = time.perf_counter()
    assert time.perf_counter() - set_at < 0.5
    assert len(got) == 2 and stream.finish_reason == "cancelled"
    deadline = time.monotonic() + 5
    while local_generator.busy and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not local_generator.busy  # the generation thread ended too, not just the iterator
    assert local_generator.stream(MESSAGES, max_tokens=2, temperature=0.0).text()  # and the model is free


@pytest.mark.slow
def test_local_model_refuses_a_prompt_over_its_context(local_generator):
    long = [{"role": "user", "content": "word " * 5000}]
    with pytest.raises(PromptTooLong, match="takes at most 2048"):
        local_generator.stream(long, max_tokens=4, temperature=0.0).text()
    assert not local_generator.busy


@pytest.mark.slow
def test_local_model_leaving_early_frees_the_model(local_generator):
    stream = local_generator.stream(MESSAGES, max_tokens=200, temperature=0.0)
    next(stream)
    stream.close()
    deadline = time.monotonic() + 5
    while local_generator.busy and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not local_generator.busy


def test_local_model_file_must_exist(tmp_path):
    with pytest.raises(GeneratorError, match="must be a .gguf file or a transformers model folder"):
        open_generator(GeneratorOptions(backend="local", model=str(tmp_path / "nope.bin")))
    assert os.environ.get("OMP_WAIT_POLICY", "PASSIVE").upper() == "PASSIVE"
