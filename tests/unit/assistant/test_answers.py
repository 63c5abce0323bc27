"""Answers: prompt order, budget, fitting, citation checks, secrets kept from the model."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from assistant_model import shared_local_generator

from assistant.answer import (
    Answer,
    ask,
    bundle_budget,
    check_citations,
    extract_citations,
    messages_tokens,
)
from assistant.prompting import ask_messages, fill, load_prompt, parse_template
from retrieval.bundle_types import Bundle, BundleUnit, Relation


@pytest.fixture(scope="module")
def local_generator():
    return shared_local_generator()


def unit(path: str, start: int, end: int, text: str = "pass\n", score: float = 1.0,
         reason: str = "matched") -> BundleUnit:
    return BundleUnit(path=path, start_line=start, end_line=end, symbols=(), kind="function", reason=reason,
                      score=score, text=text)


BUNDLE = Bundle(
    query="where are HTTP responses parsed?",
    snapshot="0123456789ab+dirty:5f3e",
    repo_map="pkg/http.py\n  def parse_http_response(raw: bytes) -> dict\npkg/client.py\n  class Client\n",
    units=[
        unit("pkg/http.py", 6, 9, "def parse_http_response(raw: bytes) -> dict:\n"
             "    head, _, body = raw.partition(b'\\r\\n\\r\\n')\n"
             "    return {'head': head, 'body': json.loads(body)}\n"),
        unit("pkg/client.py", 4, 9, "class Client:\n    def fetch(self, url):\n        return parse(self.get(url))\n",
             score=0.5, reason="calls parse_http_response"),
    ],
    relations=[Relation("pkg/client.py::Client.fetch", "calls", "pkg/http.py::parse_http_response")],
)


def test_extract_citations_forms():
    text = ("See pkg/http.py:6-9 and `pkg/client.py:5`, also ./pkg/http.py:7\u20138, pkg/http.py#L6-L7, "
            "again pkg/http.py:6-9; not http://example.com:8080/x nor 12:30 nor v1.2.")
    assert extract_citations(text) == [("pkg/http.py", 6, 9), ("pkg/client.py", 5, 5), ("pkg/http.py", 7, 8),
                                       ("pkg/http.py", 6, 7)]


def test_citations_are_checked_against_the_bundle():
    answer = ("parse_http_response (pkg/http.py:6-9) is called by Client.fetch (pkg/client.py:6). "
              "Tests live in tests/test_http.py:3-8, and pkg/http.py:40-50 has nothing. "
              "http.py:7 is short for the same file; pkg/client.py:1-3 ends before the unit. "
              "The fact said pkg/server.py:12.")
    kept, dropped = check_citations(answer, BUNDLE.units, facts=["handle is called by serve at pkg/server.py:12"])
    assert kept == [
        {"path": "pkg/http.py", "start_line": 6, "end_line": 9},
        {"path": "pkg/client.py", "start_line": 6, "end_line": 6},
        {"path": "pkg/http.py", "start_line": 7, "end_line": 7},  # unique suffix of a bundle path
        {"path": "pkg/server.py", "start_line": 12, "end_line": 12},  # a location the facts gave
    ]
    assert dropped == 3  # a file not in the bundle, lines outside its units, lines before a unit


def test_prompt_order_is_prefix_cache_friendly():
    msgs = ask_messages(BUNDLE.render(), "Who calls parse_http_response?", ["Client.fetch calls it at pkg/client.py:6"])
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[0]["content"] == load_prompt("ask").system  # the same for every question
    assert "path:start-end" in msgs[0]["content"] and "Exact facts" in msgs[0]["content"]
    user = msgs[1]["content"]
    order = [user.index(s) for s in ("## Repository map", "## Code", "## Relationships", "## Snapshot",
                                     "# Exact facts", "- Client.fetch calls it", "Who calls parse_http_response?")]
    assert order == sorted(order)
    assert user.rstrip().endswith("Who calls parse_http_response?")  # the question last
    assert "(none" in ask_messages("b", "q")[1]["content"]  # no facts: said so


def test_placeholders_are_filled_once():
    tricky = "code that prints {question} and {facts}\n"
    user = ask_messages(tricky, "the real question")[1]["content"]
    assert "code that prints {question} and {facts}" in user
    assert fill("{a}{b}{c}", {"a": "{b}", "b": "x"}) == "{b}x{c}"
    with pytest.raises(ValueError, match="needs"):
        parse_template("bad", "<!-- system -->\nonly a system part\n")
    with pytest.raises(KeyError):
        load_prompt("no-such-prompt")


class Recording:
    """A Generator that passes everything to a real one and keeps the messages it was sent."""

    def __init__(self, inner, context_length: int | None = None):
        self.inner = inner
        self.backend, self.model, self.tokenizer_name = inner.backend, inner.model, inner.tokenizer_name
        self.context_length = context_length or inner.context_length
        self.tokens_exact = True
        self.max_tokens = 8
        self.temperature = 0.0
        self.sent: list[list[dict]] = []

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def prompt_tokens(self, messages: list[dict]) -> int:
        return self.inner.prompt_tokens(messages)

    def stream(self, messages, **kwargs) -> Iterator[str]:
        self.sent.append(messages)
        return self.inner.stream(messages, **kwargs)

    def close(self) -> None:
        pass


@pytest.mark.slow
def test_ask_with_the_local_model(local_generator):
    secret_unit = unit("pkg/settings.py", 1, 2, 'GITHUB_TOKEN = "ghp_' + "x1Y2z3" * 6 + '"\nTIMEOUT = 5\n', score=0.1)
    bundle = Bundle(query=BUNDLE.query, snapshot=BUNDLE.snapshot, repo_map=BUNDLE.repo_map,
                    units=[*BUNDLE.units, secret_unit], relations=BUNDLE.relations)
    gen = Recording(local_generator)
    pieces: list[str] = []
    answer = ask(gen, bundle, "Which function parses HTTP responses?",
                 facts=["parse_http_response is defined at pkg/http.py:6"], on_text=pieces.append)
    assert isinstance(answer, Answer)
    assert answer.answer == "".join(pieces) and answer.answer.strip()
    assert answer.masked_secrets == 1 and answer.secret_kinds == ("github_token",)
    sent = "\n".join(m["content"] for m in gen.sent[0])
    assert "ghp_x1Y2" not in sent and "[MASKED:github_token]" in sent
    assert answer.model == local_generator.model and answer.backend == "local"
    assert answer.snapshot == BUNDLE.snapshot
    assert answer.exact_facts == ["parse_http_response is defined at pkg/http.py:6"]
    assert answer.prompt_tokens == local_generator.prompt_tokens(gen.sent[0])
    assert 1 <= answer.completion_tokens <= 8
    assert answer.finish_reason in ("stop", "length")
    assert 0 < answer.ttft_s <= answer.total_s
    assert answer.units_dropped == 0
    data = answer.to_json()
    assert set(data) >= {"answer", "citations", "model", "snapshot", "dropped_citations", "masked_secrets"}


@pytest.mark.slow
def test_budget_and_fitting_to_a_small_context(local_generator):
    budget = bundle_budget(local_generator, 64, question="Which function parses HTTP responses?")
    overhead = messages_tokens(local_generator, ask_messages("", "Which function parses HTTP responses?"))
    assert budget == local_generator.context_length - 64 - overhead
    # a bundle far over a 600-token context: the lowest-scored units are left out until it fits
    filler = [unit(f"pkg/m{i}.py", 1, 40, "def f():\n" + "    x = compute(x) + 1\n" * 40, score=0.01 * i)
              for i in range(8)]
    bundle = Bundle(query="q", snapshot="s", repo_map="", units=[*BUNDLE.units, *filler])
    gen = Recording(local_generator, context_length=600)
    answer = ask(gen, bundle, "Which function parses HTTP responses?", max_tokens=8)
    assert answer.units_dropped >= 6
    assert answer.prompt_tokens + 8 <= 600
    assert "pkg/http.py:6-9" in gen.sent[0][1]["content"]  # the best units stay


@pytest.mark.slow
def test_ask_cancelled_before_it_starts(local_generator):
    cancel = threading.Event()
    cancel.set()
    answer = ask(local_generator, BUNDLE, "Which function parses HTTP responses?", cancel=cancel)
    assert answer.answer == "" and answer.cancelled and answer.citations == []
