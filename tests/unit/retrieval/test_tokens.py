"""Token counts: the default tokenizer counted line by line (and remembered) gives the count
of the whole text; a tokenizer whose tokens may hold a newline is counted whole."""

from __future__ import annotations

import json

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from indexer.embed import default_model_path
from retrieval import tokens
from retrieval.tokens import counter_for, from_tokenizer_file, splits_at_whitespace

TRICKY = ("def f(x):\r\n\treturn x  # naïve café, 数据库 lookup 🙂\n\n"
          "    very_long_identifier_" + "x" * 150 + " = 1\n"
          "\u2028not a line break for BERT\u00a0nbsp\n"
          "e\u0301 combining\n\n\n  \n"
          "\"quoted\": [1, 2, 3], 'tabs'\t\there\n"
          "### shop/cart.py:1-12  (lexical 1)\n```\nclass Cart:\n```\n")


def _whole(path, text: str) -> int:
    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    return len(tok.encode(text, add_special_tokens=False).ids)


def test_the_default_tokenizer_counts_a_text_as_the_sum_of_its_lines():
    counter = counter_for()
    path = default_model_path() / "tokenizer.json"
    assert counter.by_line
    for text in (TRICKY, TRICKY * 3, "no newline at all", "\n", "a\n" * 500):
        want = _whole(path, text)
        assert counter.count(text) == want
        assert counter.count(text) == want  # again, from the remembered lines
    lines = TRICKY.split("\n")
    assert counter.count_many(lines + lines[::-1]) == [_whole(path, t) for t in lines + lines[::-1]]


def test_the_remembered_counts_stay_right_when_they_are_forgotten(monkeypatch):
    monkeypatch.setattr(tokens, "_KNOWN_MAX", 5)
    counter = from_tokenizer_file(default_model_path() / "tokenizer.json")
    texts = [f"line_{i} = value * {i}" for i in range(40)]
    first = counter.count_many(texts)
    assert first == [_whole(default_model_path() / "tokenizer.json", t) for t in texts]
    assert counter.count_many(texts[::-1]) == first[::-1]
    assert counter.count("\n".join(texts)) == sum(first)


def test_a_tokenizer_whose_tokens_may_hold_a_newline_is_counted_whole(tmp_path):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator([TRICKY] * 20, trainers.BpeTrainer(vocab_size=400, show_progress=False,
                                                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    counter = from_tokenizer_file(path)
    assert not counter.by_line and not splits_at_whitespace(path)
    assert counter.count(TRICKY) == _whole(path, TRICKY)
    assert sum(counter.count_many(TRICKY.split("\n"))) != counter.count(TRICKY)  # why: newlines are tokens
    # a normalizer that rewrites more than one character at a time: counted whole too
    spec = json.loads((default_model_path() / "tokenizer.json").read_text())
    spec["normalizer"] = {"type": "Sequence", "normalizers": [
        spec["normalizer"], {"type": "Replace", "pattern": {"String": "\n\n"}, "content": " x "}]}
    (tmp_path / "replace.json").write_text(json.dumps(spec))
    assert not splits_at_whitespace(tmp_path / "replace.json")
    assert not splits_at_whitespace(tmp_path / "missing.json")
