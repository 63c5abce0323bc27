"""`repoqa ask` and `repoqa edit` as a user runs them: the packaged local model, and a
scripted model behind the real OpenAI-compatible protocol (standing in for a GPU server)."""

from __future__ import annotations

import json

import pytest
from conftest import repoqa
from test_server_assistant import EDIT, ScriptedModel, _closed_port

from service.openai_server import OpenAIServer


@pytest.mark.slow
def test_ask_with_the_local_model(py_repo):
    repoqa("index", str(py_repo), "--no-embed", check=True)
    res = repoqa("ask", "who calls parse_http_response?", "--max-tokens", "8", cwd=py_repo, check=True)
    out = res.stdout
    assert out.index("Exact, from the graph:") < out.index("Answer (SmolLM2-135M-Instruct, generated):")
    assert "parse_http_response (pkg/http.py:6) is called by 1 place(s)" in out
    assert "Client.fetch at pkg/client.py" in out
    assert "prompt tokens" in res.stderr and "snapshot" in res.stderr
    data = json.loads(repoqa("ask", "what does RetryPolicy do?", "--max-tokens", "8", "--json", cwd=py_repo,
                             check=True).stdout)
    assert set(data) >= {"answer", "citations", "model", "snapshot", "exact_facts", "prompt_tokens", "ttft_s"}
    assert data["answer"].strip() and data["model"] == "SmolLM2-135M-Instruct" and data["snapshot"]
    assert all(set(c) == {"path", "start_line", "end_line"} for c in data["citations"])


@pytest.fixture()
def scripted_server():
    model = ScriptedModel()
    http = OpenAIServer(model).start()
    yield model, http.url
    http.close()


def test_edit_shows_a_checked_diff_and_applies_only_when_asked(py_repo, scripted_server):
    model, url = scripted_server
    repoqa("index", str(py_repo), "--no-embed", check=True)
    old = "    def should_retry(self, status: int) -> bool:\n        return status >= 500"
    model.reply = (EDIT.replace("app/util.py", "pkg/http.py").replace("def helper():\n    return 2", old)
                   .replace("def helper():\n    return 3", old + " or status == 429"))
    before = (py_repo / "pkg/http.py").read_text()
    flags = ["--backend", "openai", "--base-url", url]
    res = repoqa("edit", "retry on 429 too", *flags, cwd=py_repo, check=True)
    assert "+        return status >= 500 or status == 429" in res.stdout
    assert "check pkg/http.py: parses" in res.stdout and "--apply" in res.stderr
    assert (py_repo / "pkg/http.py").read_text() == before
    res = repoqa("edit", "retry on 429 too", *flags, "--json", "--apply", cwd=py_repo, check=True)
    data = json.loads(res.stdout)
    assert data["ok"] and data["applied"] == ["pkg/http.py"]
    assert "status == 429" in (py_repo / "pkg/http.py").read_text()
    model.reply = "I cannot produce an edit."
    bad = repoqa("edit", "anything", *flags, "--apply", cwd=py_repo)
    assert bad.returncode == 1 and bad.stderr.startswith("Error: ")


def test_ask_with_the_model_server_down_prints_the_exact_facts_then_the_error(py_repo):
    repoqa("index", str(py_repo), "--no-embed", check=True)
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    res = repoqa("ask", "who calls parse_http_response?", "--backend", "openai", "--base-url", url, cwd=py_repo)
    assert res.returncode == 1 and res.stderr.startswith("Error: cannot reach the model server")
    assert res.stdout.startswith("Exact, from the graph:") and "Client.fetch at pkg/client.py" in res.stdout
    res = repoqa("ask", "who calls parse_http_response?", "--json", "--backend", "openai", "--base-url", url,
                 cwd=py_repo)
    assert res.returncode == 1 and res.stdout == ""  # --json prints one object, only for a whole answer
