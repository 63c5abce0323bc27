"""Reranking the best code units by query likelihood: how likely a language model finds the
question, written as the unit's own description (Sachan et al. 2022, "Improving passage
retrieval with zero-shot question generation").

Opt-in (`repoqa search|bundle --rerank N`, gRPC `rerank`, `benchmarks.localization --rerank
N`): it costs one model pass per unit, 0.2-2 s a unit for the packaged SmolLM2-135M on two CPU
cores (about 7 s a question for 10 units on flask's needles), one request to a model
server (which batches them). The fused ranking's best N code units (documentation and other prose keep
their places) are scored, and reordered by reciprocal rank over two rankings, the fused one
and the model's, each 0-based with constant K: 1/(K + fused rank) + WEIGHT/(K + model rank).
K and WEIGHT were chosen on flask's and fzf's needles (a scratch replay of the best 10
functions), requests' needles held out.

Each unit is written the way code carries its description, so that the model scores a
continuation it has seen in training:
- Python: the definition's header (decorators and signature), then its docstring opens, and
  the question is the docstring;
- other languages: the unit's code (its end, when long), then a line comment that opens with
  its name, and the question is the rest of the comment (Go's convention: "// Name does ...").
Measured on the 250 needles (a doc comment as the question, removed from the index) with the
packaged SmolLM2 and N = 10 (`benchmarks.localization --rerank 10`): the gold function first
in 94 instead of 89, the gold file first in 169 as without it; on flask's commits and
SWE-bench issues it lost (function Acc@1 31 against 21 of 77 commits): a symptom or a change
is not the code's own description. See the README's Benchmarks. A stronger served model is
what it is for; none could be measured here.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from indexer.store import Store
from indexer.text import valid_text

from .query import without_banners
from .search import Fused, Signals

log = logging.getLogger(__name__)

DEPTH = 10  # units reranked by default
K = 5.0
WEIGHT = 1.0
CODE_CHARS = 1600  # of a unit's code before its description (about 400 tokens), its last
QUESTION_CHARS = 400  # of the question scored (about 100 tokens)

_HEADER = re.compile(r"^\s*(?:async\s+def|def|class)\b")
_LAST_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_TRAILING_COMMENT = re.compile(r"#[^'\"]*$")  # a comment after the colon (no quote in it: not a string's #)
_SIGNATURE_LINES = 30


@runtime_checkable
class Scorer(Protocol):
    """A language model that scores continuations: for each (prefix, continuation) pair, the
    sum of the log-probabilities of the continuation's tokens after the prefix."""

    def loglikelihood(self, pairs: list[tuple[str, str]]) -> list[float]:
        ...


@dataclass(frozen=True)
class Unit:
    chunk_id: int
    text: str
    language: str
    symbol: str  # the definition it holds (the first, when it packs several), "" at top level


def prompt_for(unit: Unit) -> str:
    """What the question follows: see the module's docstring."""
    name = _LAST_NAME.search(unit.symbol.split(" ")[0])
    name = name.group(0) if name else ""
    if unit.language == "python":
        header = _python_header(unit.text)
        if header is not None:
            return header
    code = unit.text.rstrip()[-CODE_CHARS:]
    marker = "#" if unit.language == "python" else "//"
    return f"{code}\n\n{marker} {name}" if name else f"{code}\n\n{marker}"


def _python_header(text: str) -> str | None:
    """The definition's decorators and signature, then an opened docstring; None when the
    unit does not start with a definition (a part of a long one, module-level code) or its
    signature does not end within a few lines."""
    lines = text.split("\n")
    at = next((i for i, line in enumerate(lines) if _HEADER.match(line)), None)
    if at is None or any(line.strip() and not line.lstrip().startswith(("@", "#")) for line in lines[:at]):
        return None
    end = at
    while not _TRAILING_COMMENT.sub("", lines[end]).rstrip().endswith(":"):
        end += 1
        if end >= min(len(lines), at + _SIGNATURE_LINES) or _HEADER.match(lines[end]):
            return None
    indent = len(lines[at]) - len(lines[at].lstrip()) + 4
    header = "\n".join(lines[:end + 1])[:CODE_CHARS]
    return f"{header}\n{' ' * indent}\"\"\""


def units(store: Store, chunk_ids: list[int]) -> dict[int, Unit]:
    """The units' text, language and definition, by chunk id."""
    out = {}
    for cid, text, language, symbol, packed in store.conn.execute(
            "SELECT c.id, c.text, f.language, c.symbol, c.symbols FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE c.id IN (SELECT value FROM json_each(?))", (json.dumps(chunk_ids),)):
        if not symbol and packed:  # small definitions packed in one chunk: the first names it
            symbol = packed.split()[0]
        out[cid] = Unit(cid, text, language, symbol)
    return out


def rerank(store: Store, question: str, fused: list[Fused], sig: Signals, scorer: Scorer,
           depth: int = DEPTH) -> list[Fused]:
    """`fused` with its best `depth` code units reordered (see the module's docstring). They
    take the places they held, so the other units, the scores and their order stay; each
    reranked unit's `ranks` gains "rerank", its rank by the model. `question` as asked: it is
    read as the search reads it (no interpreter banners)."""
    question = without_banners(valid_text(question)).strip()[:QUESTION_CHARS]
    if depth <= 0 or not question:
        return fused
    places = [i for i, f in enumerate(fused) if f.chunk_id not in sig.prose][:depth * 3]
    found = units(store, [fused[i].chunk_id for i in places])
    places = [i for i in places if fused[i].chunk_id in found
              and found[fused[i].chunk_id].language not in ("text", "")][:depth]
    if len(places) < 2:
        return fused
    prompts = [prompt_for(found[fused[i].chunk_id]) for i in places]
    # after a docstring's quotes the description starts at once; after a comment's words, past
    # a space (which the question's first word carries, as a tokenizer splits them). A model
    # that cannot be had, or refuses a prompt, fails the search: it was asked for.
    scores = scorer.loglikelihood([(p, question if p.endswith('"""') else " " + question) for p in prompts])
    by_model = sorted(range(len(places)), key=lambda j: -scores[j])
    model_rank = {j: r for r, j in enumerate(by_model)}
    order = sorted(range(len(places)), key=lambda j: -(1 / (K + j) + WEIGHT / (K + model_rank[j])))
    out = list(fused)
    for place, j in zip(places, order, strict=True):
        f = fused[places[j]]
        out[place] = replace(f, score=fused[place].score, ranks={**f.ranks, "rerank": model_rank[j] + 1})
    log.debug("reranked %d units: %s", len(places), [round(s, 1) for s in scores])
    return out
