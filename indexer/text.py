"""Text helpers shared by indexing and search: identifier splitting, token estimates, hashes."""

from __future__ import annotations

import hashlib
import re
from collections import Counter

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9]+")
_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")

# Characters per token assumed until a model tokenizer is configured (code averages 3-4).
CHARS_PER_TOKEN = 3.0


def split_identifier(word: str) -> list[str]:
    """`parseHTTPResponse` -> [parse, http, response]; snake_case splits on the underscores."""
    out: list[str] = []
    for piece in word.split("_"):
        if piece:
            out.extend(p.lower() for p in _PARTS.findall(piece))
    return out


def identifier_parts(text: str) -> str:
    """The parts of the identifiers in `text` that the full-text tokenizer would miss.

    SQLite's unicode61 tokenizer already splits on `_` and punctuation and folds case, so
    only identifiers with inner case changes or letter-digit runs need their parts
    (`parseHTTPResponse` -> "parse http response"), once per distinct identifier.
    """
    extra = [" ".join(split_identifier(w)) for w in set(_IDENT.findall(text)) if not is_plain_word(w)]
    return " ".join(sorted(extra))


def is_plain_word(word: str) -> bool:
    """Whether a run of letters or digits is its own only part (split_identifier gives just
    it, lowercased): one case, capitalized, or all digits."""
    return (word.isalpha() and (word.islower() or word.isupper() or (word[0].isupper() and word[1:].islower()))
            or word.isdigit())


_RUN = re.compile(r"[A-Za-z0-9]+")


def term_counts(text: str, path: str = "") -> dict[str, int]:
    """A whole file's words for file-level BM25, with how often each occurs: alphanumeric runs
    case-folded (as the full-text tokenizer splits them, without stemming), plus the parts
    of identifiers with inner case changes or digits (once per distinct identifier, as
    identifier_parts adds them), plus the words of the path."""
    counts = Counter(_RUN.findall(text.lower()))
    counts.update(identifier_parts(text).split())
    counts.update(_RUN.findall(path.lower()))
    return dict(counts)


def search_terms(text: str, parts: str | None = None) -> str:
    """The text as the full-text index sees it: the original plus its identifier parts."""
    parts = identifier_parts(text) if parts is None else parts
    return f"{text}\n{parts}" if parts else text


def identifiers(text: str) -> list[str]:
    """The identifier-like tokens of a text, in order."""
    return _WORD.findall(text)


def query_words(query: str) -> list[str]:
    """Lower-cased words of a query, identifiers split the way search_terms splits them."""
    words: list[str] = []
    present: set[str] = set()
    split: dict[str, list[str]] = {}  # a long question (a log) repeats its identifiers
    for token in _WORD.findall(query):
        parts = split.get(token)
        if parts is None:
            parts = split[token] = split_identifier(token)
        words.extend(parts)
        present.update(parts)
        joined = "".join(parts)
        if len(parts) > 1 and joined not in present:
            words.append(joined)  # a query for `parse_http_response` also matches `parsehttpresponse`
            present.add(joined)
    return words


def line_token_estimates(lines: list[str]) -> list[int]:
    return [int(len(s) / CHARS_PER_TOKEN) + 1 if (s := line.strip()) else 0 for line in lines]


def split_lines(text: str) -> list[str]:
    """The lines of `text` as git, tree-sitter and editors number them: split at "\n" alone, a
    "\r" before it dropped, and no empty line after a final newline. (str.splitlines also
    splits at form feeds, U+2028 and other separators, so every line after one in a file
    would be numbered wrong.)"""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def valid_text(text: str) -> str:
    """`text` with any lone surrogate (undecodable bytes Python kept from a command line or a
    file name: surrogateescape) replaced by U+FFFD, so that it encodes as UTF-8."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _OTHER_SURROGATE.sub("\ufffd", text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


_OTHER_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")  # not an escaped byte


def estimate_tokens(text: str) -> int:
    return sum(line_token_estimates(split_lines(text)))


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()
