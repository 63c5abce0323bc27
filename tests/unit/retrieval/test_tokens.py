"""Token counts: the default tokenizer counted line by line (and remembered) gives the count
of the whole text; a tokenizer whose tokens may hold a newline is counted whole."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from indexer.embed import default_model_path
from retrieval import tokens
from retrieval.tokens import TokenizerError, counter_for, from_tokenizer_file

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


class _Spy:
    """The real tokenizer, recording the texts it is asked to encode."""

    def __init__(self, tok):
        self.tok, self.encoded = tok, []

    def __getattr__(self, name):
        return getattr(self.tok, name)

    def encode_batch(self, texts, **kw):
        self.encoded.extend(texts)
        return self.tok.encode_batch(texts, **kw)

    def encode_batch_fast(self, texts, **kw):
        self.encoded.extend(texts)
        return self.tok.encode_batch_fast(texts, **kw)


def _spied(monkeypatch) -> tuple[object, _Spy]:
    spies = []
    real = Tokenizer.from_file
    monkeypatch.setattr(Tokenizer, "from_file", lambda p: spies.append(_Spy(real(p))) or spies[-1])
    counter = from_tokenizer_file(default_model_path() / "tokenizer.json")
    return counter, spies[0]


def test_lines_are_counted_once_and_the_kept_counts_stay_bounded(monkeypatch):
    # Lines with a character beyond ASCII: the tokenizer counts them (ASCII is read apart)
    counter, spy = _spied(monkeypatch)
    text = "def f(é):\n    return é\n\n" + "ÿ" * 300 + "\n"
    want = _whole(default_model_path() / "tokenizer.json", text)
    assert counter.count(text) == want
    spy.encoded.clear()
    assert counter.count(text) == want and counter.count_many(["def f(é):", "def f(é):"]) == [6, 6]
    assert spy.encoded == ["ÿ" * 300]  # only the long line again: short ones are kept

    monkeypatch.setattr(tokens, "_KNOWN_MAX", 5)
    texts = [f"línea_{i} = value * {i}" for i in range(40)]
    first = counter.count_many(texts)
    assert first == [_whole(default_model_path() / "tokenizer.json", t) for t in texts]
    spy.encoded.clear()
    assert counter.count_many(texts[::-1]) == first[::-1]  # right, though most were forgotten
    assert len(texts) - len(spy.encoded) <= 5  # at most _KNOWN_MAX were kept
    assert counter.count("\n".join(texts)) == sum(first)


def test_a_tokenizer_whose_tokens_may_hold_a_newline_is_counted_whole(tmp_path):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator([TRICKY] * 20, trainers.BpeTrainer(vocab_size=400, show_progress=False,
                                                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    counter = from_tokenizer_file(path)
    assert not counter.by_line
    assert counter.count(TRICKY) == _whole(path, TRICKY)
    assert sum(counter.count_many(TRICKY.split("\n"))) != counter.count(TRICKY)  # why: newlines are tokens
    # a normalizer that rewrites more than one character at a time: counted whole too
    spec = json.loads((default_model_path() / "tokenizer.json").read_text())
    spec["normalizer"] = {"type": "Sequence", "normalizers": [
        spec["normalizer"], {"type": "Replace", "pattern": {"String": "\n\n"}, "content": " x "}]}
    (tmp_path / "replace.json").write_text(json.dumps(spec))
    assert not from_tokenizer_file(tmp_path / "replace.json").by_line
    with pytest.raises(TokenizerError):  # no file, no counter (rather than one guessing)
        from_tokenizer_file(tmp_path / "missing.json")


def _layout(tmp_path, name: str, change) -> object:
    spec = json.loads((default_model_path() / "tokenizer.json").read_text())
    change(spec)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return path


def test_added_tokens_and_later_pre_tokenizers_decide_too(tmp_path):
    # an added token is matched before the pre-tokenizer: one holding a newline spans lines
    newline = _layout(tmp_path, "newline", lambda s: s["added_tokens"].append(
        {"id": 30522, "content": "\n", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": False}))
    assert not from_tokenizer_file(newline).by_line
    assert from_tokenizer_file(newline).count("foo\nbar") == _whole(newline, "foo\nbar") == 3
    # Metaspace marks only the text's first piece: lines would each be a first piece
    meta = _layout(tmp_path, "meta", lambda s: s.update(pre_tokenizer={"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"}, {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first",
                                      "split": True}]}))
    assert not from_tokenizer_file(meta).by_line
    # digits split off in each piece, wherever it falls: still the sum of the lines
    digits = _layout(tmp_path, "digits", lambda s: s.update(pre_tokenizer={"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"}, {"type": "Digits", "individual_digits": True}]}))
    assert from_tokenizer_file(digits).by_line
    assert from_tokenizer_file(digits).count(TRICKY + "x = 12345\n") == _whole(digits, TRICKY + "x = 12345\n")


ASCII_TRICKY = ("def f(x):\r\n\treturn x  # a comment, with: punctuation!?\n"
                "    very_long_identifier_" + "x" * 150 + " = 1\n"
                "    y" * 96 + "\n" + "z" * 100 + " " + "z" * 101 + "\n"
                "ctrl\x0bjoins\x1fwords\x7f and \x00 too\x0c a\x1cb\n"
                "tensor[MASK] [mask] [CLS][SEP] [PAD [UNK]\n"
                "0x1F2E 3.14159e-10 CamelCaseName snake_case_name __dunder__ $var @decorator\n"
                "`~!@#$%^&*()-_=+[{]}\\|;:'\",<.>/?\n   \n\n")


def test_ascii_text_is_counted_exactly_without_the_tokenizer(monkeypatch):
    """A BERT-style tokenizer's count of an ASCII text is read from its pieces (runs of letters
    and digits, each punctuation character): exactly the tokenizer's, control characters,
    over-long words and all; a text holding an added token ([MASK]) goes to the tokenizer."""
    counter, spy = _spied(monkeypatch)
    path = default_model_path() / "tokenizer.json"
    lines = ASCII_TRICKY.split("\n")
    assert counter.count_many(lines) == [_whole(path, t) for t in lines]
    assert spy.encoded == ["tensor[MASK] [mask] [CLS][SEP] [PAD [UNK]"]  # the only line it encoded
    assert counter.count(ASCII_TRICKY * 2) == _whole(path, ASCII_TRICKY * 2)
    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    fast = tokens._ascii_wordpiece(tok)
    assert fast("[mask] is lowercase, so no added token") == _whole(path, "[mask] is lowercase, so no added token")
    assert fast("a [SEP] b") is None and fast("café") is None
    # every ASCII character alone and every pair of them (control characters, punctuation
    # that joins or splits, "a\x1fb" joined into one word)
    chars = [chr(i) for i in range(128)]
    texts = chars + [a + b for a in chars for b in chars] + ["a\x1fb", "x" * 100, "x" * 101, "x" * 300 + "y"]
    assert [fast(t) for t in texts] == [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]


def _word_level(spec: dict) -> None:
    spec["model"] = {"type": "WordLevel", "vocab": spec["model"]["vocab"], "unk_token": "[UNK]"}


def test_the_ascii_reading_is_only_for_bert_style_tokenizers(tmp_path):
    normalized = {"id": 30522, "content": "qwertyzz", "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": True, "special": False}
    for name, change in (("cased", lambda s: s["normalizer"].update(lowercase=False)),
                         ("unclean", lambda s: s["normalizer"].update(clean_text=False)),
                         ("pre", lambda s: s.update(pre_tokenizer={"type": "WhitespaceSplit"})),
                         ("wordlevel", _word_level),
                         # an added token matched in the normalized text, through a control character
                         ("normalized", lambda s: s["added_tokens"].append(normalized))):
        path = _layout(tmp_path, name, change)
        tok = Tokenizer.from_file(str(path))
        assert tokens._ascii_wordpiece(tok) is None
        assert from_tokenizer_file(path).count(ASCII_TRICKY) == _whole(path, ASCII_TRICKY)
        assert from_tokenizer_file(path).count("QWER\x0bTYZZ") == _whole(path, "QWER\x0bTYZZ")


def test_the_pieces_kept_stay_bounded(monkeypatch):
    monkeypatch.setattr(tokens, "_PIECES_MAX", 10)
    tok = Tokenizer.from_file(str(default_model_path() / "tokenizer.json"))
    fast = tokens._ascii_wordpiece(tok)
    pieces = next(c.cell_contents for c in fast.__closure__ if isinstance(c.cell_contents, dict))
    path = default_model_path() / "tokenizer.json"
    for i in range(50):
        text = f"word{i} other{i} = {'z' * 70}{i}"
        assert fast(text) == _whole(path, text)
        assert len(pieces) <= 10 + 5  # cleared once past the bound; long pieces are not kept
    assert not any(len(p) > tokens._PIECE_CHARS for p in pieces)
