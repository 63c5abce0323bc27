"""The Assistant RPCs (Ask, Edit) on a real server: with the packaged local model, and with a
scripted model behind the real OpenAI-compatible protocol standing in for a GPU model server
(vLLM with a code model cannot run here), whose replies a test can fix."""

from __future__ import annotations

import os

import grpc
import pytest
from conftest import index, write_tree
from fixtures.graph_python import RULES
from test_server import Server

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from assistant.generators import GeneratorOptions, TextStream, offline_tokenizer  # noqa: E402
from service.generators import OpenAIGenerator  # noqa: E402
from service.openai_server import OpenAIServer  # noqa: E402


class ScriptedModel:
    """A Generator that replies with fixed text, a few characters at a time."""

    backend, model, tokenizer_name = "scripted", "scripted-coder", "default"
    context_length, max_tokens, temperature = 8192, 512, 0.0

    def __init__(self):
        self.reply = ""
        self.prompts: list[list[dict]] = []
        self.tok = offline_tokenizer()

    def count_tokens(self, text: str) -> int:
        return self.tok.count(text)

    def stream(self, messages, *, max_tokens, temperature, stop=None, cancel=None, extra=None):
        self.prompts.append(messages)
        reply = self.reply

        def pieces(out):
            for i in range(0, len(reply), 7):
                yield reply[i:i + 7]
            out.finish_reason = "stop"

        return TextStream(pieces)

    def close(self) -> None:
        pass


@pytest.fixture()
def scripted(tmp_path):
    root = tmp_path / "proj"
    write_tree(root, RULES)
    index(root)
    model = ScriptedModel()
    http = OpenAIServer(model).start()

    def opener(options: GeneratorOptions):
        return OpenAIGenerator(http.url, backend="openai", timeout_s=30)

    server = Server([root], generator_opener=opener)
    yield root, model, server
    server.stop()
    http.close()


def test_ask_streams_exact_facts_then_the_answer_then_checked_citations(scripted):
    root, model, server = scripted
    model.reply = "helper returns 2 (app/util.py:7-8); run calls it (main.py:5-9). See also nowhere.py:1-3."
    with server.client() as c:
        messages = list(c.ask("proj", "who calls helper?"))
    first, last = messages[0], messages[-1]
    assert any("helper" in f and "is called by" in f and "main.py:" in f for f in first.exact_facts)
    assert "".join(m.text for m in messages) == model.reply
    assert last.done and last.model and last.snapshot.stamp == first.snapshot.stamp
    assert {(x.path, x.start_line, x.end_line) for x in last.citations} == {("app/util.py", 7, 8), ("main.py", 5, 9)}
    assert last.dropped_citations == 1  # nowhere.py is not in the bundle: never shown as a source
    prompt = "\n".join(m["content"] for m in model.prompts[-1])
    assert "def helper():" in prompt and prompt.rstrip().endswith("who calls helper?")  # the question last


EDIT = """app/util.py
<<<<<<< SEARCH
def helper():
    return 2
=======
def helper():
    return 3
>>>>>>> REPLACE
"""


def test_edit_is_checked_shown_and_written_only_when_asked(scripted):
    root, model, server = scripted
    before = (root / "app/util.py").read_text()
    model.reply = EDIT
    with server.client() as c:
        r = c.edit("proj", "make helper return 3")
        assert r.ok and "-    return 2" in r.diff and "+    return 3" in r.diff and "--- a/app/util.py" in r.diff
        assert [(x.path, x.checked, x.ok) for x in r.checks] == [("app/util.py", True, True)]
        assert any(line.startswith("main.py:") and "run" in line for line in r.may_need_updating)
        assert not r.applied and (root / "app/util.py").read_text() == before
        r = c.edit("proj", "make helper return 3", apply=True)
        assert list(r.applied) == ["app/util.py"] and "return 3" in (root / "app/util.py").read_text()
        (root / "app/util.py").write_text(before)
        index(root)
        model.reply = EDIT.replace("    return 3", "    return (3")
        r = c.edit("proj", "break it", apply=True)
        assert not r.ok and not r.applied and (root / "app/util.py").read_text() == before
        model.reply = "Sure! I would change helper to return 3."
        with pytest.raises(grpc.RpcError) as err:
            c.edit("proj", "make helper return 3", apply=True)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        (root / "app/util.py").write_text(before + "\n# edited since indexing\n")
        model.reply = EDIT
        with pytest.raises(grpc.RpcError) as err:
            c.edit("proj", "make helper return 3", apply=True)
        assert err.value.code() == grpc.StatusCode.ABORTED and "changed since it was indexed" in err.value.details()
    assert (root / "app/util.py").read_text() == before + "\n# edited since indexing\n"


@pytest.fixture()
def local(tmp_path):
    """The rules project on a server whose generator is the default: the packaged model on the CPU."""
    root = tmp_path / "proj"
    write_tree(root, RULES)
    index(root)
    server = Server([root])
    yield server
    server.stop()


@pytest.mark.slow
def test_ask_with_the_local_model_streams_and_can_be_cancelled(local):
    with local.client() as c:
        messages = list(c.ask("proj", "what does Engine.start do?", max_tokens=8))
        assert messages[-1].done and messages[-1].model.startswith("SmolLM2")
        assert "".join(m.text for m in messages).strip() and messages[-1].prompt_tokens > 100
        call = c.ask("proj", "explain the engine in detail", max_tokens=400)
        next(call)  # the first message: the facts
        call.cancel()
        with pytest.raises(grpc.RpcError) as err:
            list(call)
        assert err.value.code() == grpc.StatusCode.CANCELLED
        again = list(c.ask("proj", "what does helper return?", max_tokens=4))  # the model is free again
        assert again[-1].done


@pytest.mark.slow
def test_search_and_bundle_reranked_by_the_local_model(local):
    question = "What value does helper give back?"
    with local.client() as c:
        plain = c.search("proj", question, limit=5)
        assert all(not any(r.signal == "rerank" for r in h.signals) for h in plain.hits)
        hits = c.search("proj", question, limit=5, rerank=3).hits
        ranks = sorted(r.rank for h in hits for r in h.signals if r.signal == "rerank")
        assert ranks == [1, 2, 3]
        # the first three code units trade places among themselves: the same five results
        assert sorted((h.path, h.start_line) for h in hits) == sorted((h.path, h.start_line) for h in plain.hits)
        files = c.search("proj", question, files=True, rerank=3).files
        assert files and files[0].score >= files[-1].score
        b = c.bundle("proj", question, budget_tokens=400, rerank=3)
        assert any("the model reads the question as its description" in u.reason for u in b.units)
        for bad, words in (({"rerank": 101}, "rerank must be 0 to 100"),
                           ({"rerank": 3, "mode": "lexical"}, "rerank reranks the hybrid ranking")):
            with pytest.raises(grpc.RpcError) as err:
                c.search("proj", question, **bad)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and words in err.value.details()


def test_rerank_with_a_server_that_cannot_score_is_refused_clearly(scripted):
    root, model, server = scripted  # the scripted model's server speaks chat completions only
    with server.client() as c:
        assert c.search("proj", "who calls helper?", limit=3).hits  # no rerank: no model needed
        with pytest.raises(grpc.RpcError) as err:
            c.search("proj", "who calls helper?", limit=3, rerank=3)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # as for any failure of the model server
    assert "refused to score prompts" in err.value.details() and "this model cannot score prompts" in err.value.details()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when this returns: nothing listens there


def test_ask_with_the_model_server_down_still_streams_the_exact_facts(tmp_path):
    root = tmp_path / "proj"
    write_tree(root, RULES)
    index(root)
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    server = Server([root], generator_opener=lambda options: OpenAIGenerator(url, backend="openai", timeout_s=5))
    try:
        with server.client() as c:
            got = []
            with pytest.raises(grpc.RpcError) as exc:
                for m in c.ask("proj", "who calls helper?"):
                    got.append(m)
        assert exc.value.code() == grpc.StatusCode.UNAVAILABLE and "cannot reach the model server" in exc.value.details()
        assert len(got) == 1 and any("is called by" in f for f in got[0].exact_facts) and got[0].snapshot.stamp
    finally:
        server.stop()
    bare = tmp_path / "bare"  # not indexed: no facts, and the model's error is the answer
    write_tree(bare, {"a.py": "x = 1\n"})
    server = Server([bare], generator_opener=lambda options: OpenAIGenerator(url, backend="openai", timeout_s=5))
    try:
        with server.client() as c, pytest.raises(grpc.RpcError) as exc:
            list(c.ask("bare", "who calls helper?"))
        assert exc.value.code() == grpc.StatusCode.UNAVAILABLE and "cannot reach the model server" in exc.value.details()
    finally:
        server.stop()
