"""Answers from the model, grounded in a bundle: secrets masked, fitted to the context,
streamed, and citations checked against what the model was actually shown."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from retrieval.bundle_types import Bundle, BundleUnit

from .errors import PromptTooLong
from .generators import MESSAGE_OVERHEAD, Generator
from .prompting import ask_messages
from .secrets import mask_bundle, mask_secrets

DEFAULT_MAX_TOKENS = 512
DEFAULT_TEMPERATURE = 0.2
# Tokens kept for the question and facts when the budget is computed before they are known.
QUESTION_RESERVE = 256
# Kept free when the tokenizer only approximates the model's (a remote model without /tokenize).
APPROXIMATE_MARGIN = 0.05
MIN_ANSWER_TOKENS = 32

_CITE = re.compile(
    r"(?<![\w/.\-])"
    r"(?P<path>(?:\.{1,2}/)?(?:[\w.\-]+/)*[\w\-][\w.\-]*\.[A-Za-z0-9_]+|(?:[\w.\-]+/)+[\w.\-]+)"
    r"(?::|#)L?(?P<start>\d+)(?:\s*[-\u2013\u2014]\s*L?(?P<end>\d+))?(?![\d])")


@dataclass
class Answer:
    answer: str
    citations: list[dict] = field(default_factory=list)  # path, start_line, end_line: all in the bundle
    dropped_citations: int = 0  # cited locations that were not in the bundle: never shown as sources
    model: str = ""
    backend: str = ""
    snapshot: str = ""
    masked_secrets: int = 0
    secret_kinds: tuple[str, ...] = ()
    exact_facts: list[str] = field(default_factory=list)  # from the graph; the rest is the model's
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float = 0.0  # seconds to the first piece of the answer
    total_s: float = 0.0
    finish_reason: str = ""  # stop, length, cancelled
    units_dropped: int = 0  # bundle units left out so the prompt fits the model's context
    tokenizer: str = ""

    @property
    def cancelled(self) -> bool:
        return self.finish_reason == "cancelled"

    def to_json(self) -> dict[str, object]:
        out = dataclasses.asdict(self)
        out["secret_kinds"] = list(self.secret_kinds)
        out["cancelled"] = self.cancelled
        return out


def _tokens_exact(generator: Generator) -> bool:
    return bool(getattr(generator, "tokens_exact", False))


def messages_tokens(generator: Generator, messages: list[dict]) -> int:
    """Prompt tokens of `messages`: exact where the generator applies its chat template
    itself, else the contents counted plus a fixed overhead per message."""
    exact = getattr(generator, "prompt_tokens", None)
    if callable(exact):
        return int(exact(messages))
    return sum(generator.count_tokens(m["content"]) + MESSAGE_OVERHEAD for m in messages) + MESSAGE_OVERHEAD


def bundle_budget(generator: Generator, max_tokens: int | None = None, *, question: str = "",
                  facts: Iterable[str] = ()) -> int:
    """Tokens (counted with `generator.count_tokens`) a bundle's rendered text may take so that
    the prompt plus `max_tokens` of answer fit the generator's context length.

    Pass the question and facts when they are known; otherwise QUESTION_RESERVE is kept for them.
    """
    max_tokens = max_tokens or int(getattr(generator, "max_tokens", DEFAULT_MAX_TOKENS))
    facts = list(facts)
    overhead = messages_tokens(generator, ask_messages("", question, facts))
    if not question:
        overhead += QUESTION_RESERVE
    margin = 0 if _tokens_exact(generator) else int(generator.context_length * APPROXIMATE_MARGIN)
    return max(0, generator.context_length - max_tokens - overhead - margin)


def _fit(generator: Generator, bundle: Bundle, question: str, facts: list[str],
         max_tokens: int) -> tuple[list[dict], int, int, int]:
    """(messages, prompt tokens, answer tokens, units dropped): the lowest-scored units are
    dropped while the prompt and a full answer do not fit; then the answer is shortened."""
    margin = 0 if _tokens_exact(generator) else int(generator.context_length * APPROXIMATE_MARGIN)
    limit = generator.context_length - margin
    units = list(bundle.units)
    dropped = 0
    while True:
        text = bundle.render() if not dropped else dataclasses.replace(bundle, units=units).render()
        messages = ask_messages(text, question, facts)
        prompt = messages_tokens(generator, messages)
        if prompt + max_tokens <= limit:
            return messages, prompt, max_tokens, dropped
        if not units:
            room = limit - prompt
            if room >= MIN_ANSWER_TOKENS:
                return messages, prompt, room, dropped
            raise PromptTooLong(f"the question and bundle take {prompt} tokens; {generator.model} takes "
                                f"{generator.context_length} in all (prompt and answer)", status=400)
        worst = min(range(len(units)), key=lambda i: (units[i].score, -i))
        units.pop(worst)
        dropped += 1


def extract_citations(text: str) -> list[tuple[str, int, int]]:
    """`path:start-end` and `path:line` (also `path#L1-L2`) locations in `text`, in order, once each."""
    seen: dict[tuple[str, int, int], None] = {}
    for m in _CITE.finditer(text):
        path = m.group("path")
        while path.startswith("./"):
            path = path[2:]
        start = int(m.group("start"))
        end = int(m.group("end") or start)
        if end < start:
            start, end = end, start
        seen.setdefault((path, start, end), None)
    return list(seen)


def check_citations(text: str, units: Sequence[BundleUnit], facts: Sequence[str] = ()) -> tuple[list[dict], int]:
    """(citations kept, number dropped). A citation is kept when its path is a path of the
    bundle (or the unique bundle path it is a suffix of) and its lines overlap a unit of it,
    or a location named in the exact facts the model was given."""
    by_path: dict[str, list[tuple[int, int]]] = {}
    for u in units:
        by_path.setdefault(u.path, []).append((u.start_line, u.end_line))
    for fact in facts:
        for path, start, end in extract_citations(fact):
            by_path.setdefault(path, []).append((start, end))
    kept: list[dict] = []
    dropped = 0
    for path, start, end in extract_citations(text):
        if path not in by_path:
            matches = [p for p in by_path if p.endswith("/" + path)]
            if len(matches) != 1:
                dropped += 1
                continue
            path = matches[0]
        if start >= 1 and any(s <= end and start <= e for s, e in by_path[path]):
            cite = {"path": path, "start_line": start, "end_line": end}
            if cite not in kept:
                kept.append(cite)
        else:
            dropped += 1
    return kept, dropped


def ask(generator: Generator, bundle: Bundle, question: str, *, facts: Sequence[str] = (),
        cancel: threading.Event | None = None, on_text: Callable[[str], None] | None = None,
        max_tokens: int | None = None, temperature: float | None = None) -> Answer:
    """Ask `generator` `question` about `bundle`; stream the answer to `on_text`.

    Credentials in the bundle (and the question) are masked before anything is sent. The
    bundle should already fit `bundle_budget(generator, max_tokens)`; when it does not, its
    lowest-scored units are left out (counted in `units_dropped`). `facts` are exact answers
    from the graph, shown to the model as such and returned as `exact_facts`. Setting `cancel`
    stops the generation; the answer so far comes back with finish_reason "cancelled".
    """
    started = time.perf_counter()
    max_tokens = max_tokens or int(getattr(generator, "max_tokens", DEFAULT_MAX_TOKENS))
    if temperature is None:
        temperature = float(getattr(generator, "temperature", DEFAULT_TEMPERATURE))
    masked, n_masked, kinds = mask_bundle(bundle)
    q = mask_secrets(question)
    fact_list = [f for f in facts if f and f.strip()]
    masked_facts = [mask_secrets(f) for f in fact_list]
    n_masked += q.count + sum(m.count for m in masked_facts)
    kinds = tuple(sorted(set(kinds) | set(q.kinds) | {k for m in masked_facts for k in m.kinds}))
    messages, prompt_tokens, answer_tokens, dropped_units = _fit(
        generator, masked, q.text, [m.text for m in masked_facts], max_tokens)
    parts: list[str] = []
    ttft = 0.0
    stream = generator.stream(messages, max_tokens=answer_tokens, temperature=temperature, cancel=cancel)
    try:
        for piece in stream:
            if not parts:
                ttft = time.perf_counter() - started
            parts.append(piece)
            if on_text is not None:
                on_text(piece)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    text = "".join(parts)
    citations, dropped = check_citations(text, masked.units, fact_list)
    reported_prompt = getattr(stream, "prompt_tokens", None)
    reported_completion = getattr(stream, "completion_tokens", None)
    finish = getattr(stream, "finish_reason", None) or ""
    if cancel is not None and cancel.is_set():
        finish = "cancelled"
    return Answer(
        answer=text, citations=citations, dropped_citations=dropped, model=generator.model,
        backend=generator.backend, snapshot=bundle.snapshot, masked_secrets=n_masked, secret_kinds=kinds,
        exact_facts=fact_list, prompt_tokens=int(reported_prompt if reported_prompt is not None else prompt_tokens),
        completion_tokens=int(reported_completion if reported_completion is not None
                              else generator.count_tokens(text)),
        ttft_s=round(ttft, 4), total_s=round(time.perf_counter() - started, 4), finish_reason=finish,
        units_dropped=dropped_units, tokenizer=generator.tokenizer_name,
    )
