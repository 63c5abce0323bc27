"""`repoqa ask` and `repoqa edit`, for the CLI and the server alike: the bundle fitted to the
generator, the graph's exact facts, the answer or the checked edit.

One read transaction covers the facts, the bundle and the files an edit starts from, so an
answer and its snapshot stamp describe one committed state of the index.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.answer import Answer, ask, bundle_budget
from assistant.edits import Proposal, suggest_edit
from assistant.errors import StaleFileError
from assistant.generators import Generator, GeneratorOptions
from graph.errors import GraphError
from graph.query import Graph
from indexer.store import Store
from indexer.text import content_hash
from retrieval.bundle import Bundle, build_bundle
from retrieval.facts import Facts, graph_facts
from retrieval.tokens import TokenCounter, counter_for

EDIT_MAX_TOKENS = 1024


def counter_of(generator: Generator, options: GeneratorOptions) -> TokenCounter:
    """How the bundle counts tokens: the model's own tokenizer in process; for a server, the
    configured tokenizer.json (else the stated default), since counting line by line over
    HTTP would be slow: the prompt is then fitted exactly once, by the server's count."""
    if generator.backend == "local":
        return TokenCounter(generator.tokenizer_name, lambda texts: [generator.count_tokens(t) for t in texts])
    return counter_for(options.tokenizer)


@dataclass
class Prepared:
    bundle: Bundle
    facts: Facts


def facts_for(store: Store, question: str) -> Facts:
    """What the graph knows exactly about the names `question` mentions (none without a graph)."""
    try:
        return graph_facts(Graph(store), question)
    except GraphError:
        return Facts()


def prepare(store: Store, searcher, root: Path, question: str, generator: Generator,
            options: GeneratorOptions, max_tokens: int, *,
            on_facts: Callable[[Facts], None] | None = None) -> Prepared:
    """The graph's facts for `question` and a bundle that fits the generator's context.
    `on_facts` hears the facts before anything asks the model server (its context length,
    its token counts), so they reach the user even when the server is down."""
    facts = facts_for(store, question)
    if on_facts is not None:
        on_facts(facts)
    budget = bundle_budget(generator, max_tokens, question=question, facts=facts.lines)
    bundle = build_bundle(searcher, root, question, max(budget, 64), counter_of(generator, options))
    return Prepared(bundle, facts)


def answer(store: Store, searcher, root: Path, question: str, generator: Generator, options: GeneratorOptions,
           *, max_tokens: int | None = None, on_facts: Callable[[Facts], None] | None = None,
           on_text: Callable[[str], None] | None = None, cancel: threading.Event | None = None) -> Answer:
    """The model's answer to `question`; `on_facts` hears the graph's exact facts before the
    model starts, `on_text` each piece of the answer as it streams."""
    max_tokens = max_tokens or options.max_tokens
    p = prepare(store, searcher, root, question, generator, options, max_tokens, on_facts=on_facts)
    return ask(generator, p.bundle, question, facts=p.facts.lines, cancel=cancel, on_text=on_text,
               max_tokens=max_tokens)


def dependents(store: Store) -> Callable[[str, list[tuple[int, int]]], list[str]]:
    """For an edit: what depends on the definitions a change touches (the graph's callers,
    subclasses, importers, one hop), as `path:line  symbol  (kind of RELATION)` lines."""
    graph = Graph(store)

    def hook(path: str, ranges: list[tuple[int, int]]) -> list[str]:
        out: list[str] = []
        rows = store.conn.execute(
            "SELECT s.qualname, s.start_line, s.end_line FROM symbols s JOIN files f ON f.id = s.file_id "
            "WHERE f.path = ? AND s.kind IN ('function', 'method', 'class', 'constructor', 'interface', "
            "'struct', 'enum', 'trait', 'type') ORDER BY s.start_line", (path,)).fetchall()
        touched = [q for q, a, b in rows if any(a <= e and s <= b for s, e in ranges)]
        inner = [q for q in touched if not any(o != q and q.startswith(o + ".") for o in touched)] or touched
        for q in inner[:10]:
            try:
                locs = graph.impact(f"{path}::{q}", depth=1, limit=25)
            except GraphError:
                continue
            for loc in locs:
                if loc.path == path and any(a <= loc.line <= b for a, b in ranges):
                    continue  # inside the change itself
                line = f"{loc.path}:{loc.line}  {loc.symbol or '(module)'}  ({loc.kind} {q}"
                line += ", name-only guess)" if loc.resolution == "name" else ")"
                if line not in out:
                    out.append(line)
        return out

    return hook


def check_fresh(store: Store, root: Path, paths: list[str]) -> None:
    """Refuse when a file of the bundle differs on disk from what was indexed: the model
    would be editing text the user no longer has."""
    for path in sorted(set(paths)):
        row = store.conn.execute("SELECT content_hash FROM files WHERE path = ?", (path,)).fetchone()
        try:
            data = (root / path).read_bytes()
        except OSError:
            raise StaleFileError(f"{path} was indexed but cannot be read now; run `repoqa index`") from None
        if row is None or content_hash(data) != row[0]:
            raise StaleFileError(f"{path} changed since it was indexed; run `repoqa index` (or keep "
                                 "`repoqa watch` running) and ask again")


def propose_edit(store: Store, searcher, root: Path, instruction: str, generator: Generator,
                 options: GeneratorOptions, *, on_text: Callable[[str], None] | None = None,
                 cancel: threading.Event | None = None) -> Proposal:
    max_tokens = max(options.max_tokens, EDIT_MAX_TOKENS)
    p = prepare(store, searcher, root, instruction, generator, options, max_tokens)
    check_fresh(store, root, [u.path for u in p.bundle.units])
    return suggest_edit(generator, p.bundle, instruction, root, facts=p.facts.lines, dependents=dependents(store),
                        cancel=cancel, on_text=on_text, max_tokens=max_tokens)
