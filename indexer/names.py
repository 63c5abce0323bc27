"""Name vectors: each definition's name and parameters, embedded apart from its code.

A question that describes what a function does ("Open a resource file relative to the
instance folder") is close in meaning to the function's name and parameters
(`Flask.open_instance_resource(resource, mode)`) more sharply than to its whole body, whose
other words dilute the chunk's vector. So besides the chunk windows, the name of the
definition each chunk holds is embedded as a short text: its qualified name's words and its
parameters' names (`flask open instance resource (resource, mode)`). Search compares the
question's own vector with the names of the units the other signals found (retrieval.search's
`name` signal); it needs no second pass of the model over the question.

The vectors live in the embedding cache (`embeddings`) under the model's id with NAME_SUFFIX,
keyed by the hash of the text, so an unchanged name is never embedded twice and a renamed or
re-parametrised definition gets a new one.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable

import numpy as np

from .store import Store
from .text import content_hash, split_identifier

NAME_SUFFIX = "#names"
# Kinds whose signature's parenthesised group after the name lists parameters.
_CALLABLE = frozenset({"function", "method", "constructor", "macro"})
# Languages that write a parameter's type before its name (`String name`, `int *p`).
_TYPE_FIRST = frozenset({"c", "cpp", "java", "c_sharp", "csharp"})
# Languages whose types take angle brackets (`Map<K, V> m`): a comma inside them is not a
# parameter's end.
_ANGLED = frozenset({"cpp", "java", "c_sharp", "csharp", "rust", "typescript", "tsx", "kotlin", "swift"})
_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
# Not brackets. `>>` is left alone: it closes nested generics (`Map<K, List<V>> m`) far more
# often than a parameter's default shifts bits, and only angled languages count `<>` at all.
_ARROWS = re.compile(r"->|=>|<-|<=|>=")
_ASSIGNED = re.compile(r"[:=]\s*(?:async\s+)?(?:function\b\s*\*?\s*[\w$]*\s*)?(?=\()")
_STRINGS = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_HEAD = re.compile(r"=|(?<!:):(?!:)")  # `x: int = 3` -> `x`; `std::string s` is kept whole
# Words before a parameter's name that are not its name: the receiver, Rust's `mut`,
# TypeScript's parameter properties.
_SKIP = frozenset({"self", "cls", "this", "mut", "public", "private", "protected", "readonly"})
MAX_PARAMS = 8


def name_model(model_id: str) -> str:
    return model_id + NAME_SUFFIX


def _group_after(signature: str, name: str) -> str:
    """The text inside the parentheses that follow `name` (and its generic parameters, if
    any) in `signature`; only (), [] and {} count as brackets there."""
    # the same length, without `->` and the like, and with strings blanked (`d='('`)
    plain = _STRINGS.sub(lambda m: " " * len(m.group()), _ARROWS.sub("  ", signature))
    for i in _word_ends(plain, name):
        while i < len(plain) and plain[i].isspace():
            i += 1
        if i < len(plain) and plain[i] == "<":  # generic parameters: `f<T: Ord>(`
            depth = 0
            while i < len(plain):
                depth += (plain[i] == "<") - (plain[i] == ">")
                i += 1
                if depth == 0:
                    break
            while i < len(plain) and plain[i].isspace():
                i += 1
        arrow = _ASSIGNED.match(plain, i)  # `handler = async (req, res) =>`, `f = function (x)`
        if arrow:
            i = arrow.end()
        if i >= len(plain) or plain[i] != "(":
            continue
        depth = 0
        for j in range(i, len(plain)):
            c = plain[j]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
                if depth == 0:
                    return signature[i + 1:j]
        return signature[i + 1:]
    return ""


def _word_ends(text: str, name: str):
    """Where each occurrence of `name` in `text` that is no part of a longer name ends (no
    word character or `$` just before or after it), left to right, as `re.finditer` would
    find them; without compiling a pattern for each name (0.3 ms, most of a search's reading
    of names that the definitions of its units had not been read for)."""
    n, i = len(text), text.find(name)
    while i >= 0 and name:
        end = i + len(name)
        if (i == 0 or not _word_char(text[i - 1])) and (end == n or not _word_char(text[end])):
            yield end
            i = text.find(name, end)
        else:
            i = text.find(name, i + 1)


def _word_char(c: str) -> bool:
    return c.isalnum() or c == "_" or c == "$"  # re's \w (for str) and `$`


def _split_top(text: str, angled: bool) -> list[str]:
    """`text` split at the commas outside brackets (and outside <> where types take them)."""
    opening, closing = ("([{<", ")]}>") if angled else ("([{", ")]}")
    out, depth, cur = [], 0, []
    for c in _STRINGS.sub(lambda m: " " * len(m.group()), _ARROWS.sub("  ", text)):
        if c in opening:
            depth += 1
        elif c in closing:
            depth = max(0, depth - 1)
        if c == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    out.append("".join(cur))
    return out


def parameters(name: str, signature: str, language: str) -> list[str]:
    """The parameters' names in a definition's signature (self, cls and this left out)."""
    out: list[str] = []
    for piece in _split_top(_group_after(signature, name), language in _ANGLED):
        words = [w for w in _IDENT.findall(_HEAD.split(piece, maxsplit=1)[0]) if w not in _SKIP]
        if not words or words == ["void"]:  # C's `(void)`
            continue
        param = words[-1] if language in _TYPE_FIRST else words[0]
        if param not in out:
            out.append(param)
        if len(out) >= MAX_PARAMS:
            break
    return out


@functools.lru_cache(maxsize=65536)  # a search reads the same few hundred names again and again
def name_text(qualname: str, kind: str, signature: str, language: str) -> str:
    """What the model reads for a definition: its qualified name's words, and its
    parameters' names in parentheses when it takes any."""
    parts = [p for p in qualname.split(".") if p]
    words = " ".join(w for p in parts for w in split_identifier(p))
    if not words:  # `_`, or a name of no ASCII letters: nothing a question would say
        return ""
    params = parameters(parts[-1], signature, language) if kind in _CALLABLE else []
    if params:
        words += " (" + ", ".join(" ".join(split_identifier(p)) or p for p in params) + ")"
    return words


# By qualified name first (`+` keeps SQLite from reading every symbol of the chunk's file).
_NAMES_OF = ("SELECT c.id, s.qualname, s.kind, s.signature, f.language FROM json_each(?) j "
             "JOIN chunks c ON c.id = j.value JOIN files f ON f.id = c.file_id "
             "JOIN symbols s ON s.qualname = c.symbol AND +s.file_id = c.file_id "
             "WHERE c.symbol != '' AND c.kind != 'text'")


def chunk_names(store: Store, chunk_ids: Iterable[int]) -> dict[int, list[str]]:
    """Chunk id -> the name texts of the definition it holds (more than one where a name is
    defined twice in a file); chunks outside any definition have none."""
    out: dict[int, list[str]] = {}
    for cid, qualname, kind, signature, language in store.conn.execute(
            _NAMES_OF, (json.dumps(list(chunk_ids)),)):
        text = name_text(qualname, kind, signature, language)
        if text and text not in out.setdefault(cid, []):
            out[cid].append(text)
    return out


@functools.lru_cache(maxsize=65536)
def text_key(text: str) -> str:
    return content_hash(text.encode("utf-8"))


def write(store: Store, embedder, chunk_ids: Iterable[int], batch: int = 256,
          progress=None) -> tuple[int, set[str]]:
    """Embed the names of the given chunks' definitions that the cache lacks, one
    transaction per batch (the model runs outside it, so a reader or an interrupt loses at
    most a batch); returns how many were embedded and the keys of all those chunks' names.
    `progress(stage, done, total)` hears of each batch ("names")."""
    texts = {text_key(t): t for names in chunk_names(store, chunk_ids).values() for t in names}
    if not texts:
        return 0, set()
    have = {k for (k,) in store.conn.execute(
        "SELECT text_hash FROM embeddings WHERE model = ? AND text_hash IN (SELECT value FROM json_each(?))",
        (name_model(embedder.model_id), json.dumps(sorted(texts))))}
    todo = [k for k in texts if k not in have]
    for i in range(0, len(todo), batch):
        part = todo[i:i + batch]
        vectors = embedder.embed([texts[k] for k in part])
        with store.transaction():
            store.conn.executemany(
                "INSERT OR REPLACE INTO embeddings(model, text_hash, windows, capped, vectors) VALUES (?,?,1,0,?)",
                [(name_model(embedder.model_id), k, v.astype(np.float16).tobytes()) for k, v in zip(part, vectors)])
        if progress is not None:
            progress("names", i + len(part), len(todo))
    return len(todo), set(texts)


def prune(store: Store, model_id: str, spare: int, live: set[str]) -> None:
    """Forget name vectors whose key is not in `live` (every chunk's names, as `write`
    returns them), once there are more of those than `spare` and half the live ones
    (inside the caller's transaction)."""
    stored = [k for (k,) in store.conn.execute("SELECT text_hash FROM embeddings WHERE model = ?",
                                               (name_model(model_id),))]
    orphans = [k for k in stored if k not in live]
    if len(orphans) > max(spare, len(live) // 2):
        store.conn.executemany("DELETE FROM embeddings WHERE model = ? AND text_hash = ?",
                               [(name_model(model_id), k) for k in orphans])
