"""Exact answers from the graph for the questions it can answer: where is X defined, who
calls X, what does X call, what depends on X (what breaks if it changes), how does A reach B.

`repoqa ask` puts these facts before the model's answer, marked as exact, and gives them to
the model, which explains on top of them. A name the graph does not know gives no fact (the
model still answers from the bundle); a name-only match is said to be a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from graph.errors import GraphError
from graph.query import Graph, Location, Node

from .query import analyze

MAX_LISTED = 15

_INTENTS = (
    ("path", re.compile(r"\bhow (?:does|do|can|is) (?P<a>\S+) (?:reach|call|get to|lead to|end up (?:in|at)|use)"
                        r" (?P<b>\S+?)[?.!]*$|\bpath from (?P<a2>\S+) to (?P<b2>\S+?)[?.!]*$", re.I)),
    ("callers", re.compile(r"\b(?:who|what|which \w+) (?:calls?|invokes?|uses?)\b|\bcallers? of\b|"
                           r"\bwhere (?:is|are) \S+ (?:called|invoked|used)\b", re.I)),
    ("callees", re.compile(r"\bwhat (?:does|do) \S+ call\b|\bcallees? of\b", re.I)),
    ("impact", re.compile(r"\b(?:what|which \w+) (?:depends?|relies?) on\b|\bwhat (?:would |will )?breaks?\b|"
                          r"\bimpact of\b|\bdependents? of\b|\bif \S+ changes?\b", re.I)),
    ("definition", re.compile(r"\bwhere (?:is|are) \S+ (?:defined|declared|implemented)\b|"
                              r"\bdefinition of\b|\bwhere is\b", re.I)),
)


@dataclass
class Facts:
    """What the graph says for sure (`lines`, shown and given to the model), by intent."""

    intent: str = ""
    subject: str = ""
    lines: list[str] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.lines)


def _loc(loc: Location, who: bool = True) -> str:
    guess = "" if loc.resolution != "name" else f" (name-only guess, {loc.confidence:.2f})"
    name = (f"{loc.symbol} " if loc.symbol else "module-level code ") if who else ""
    return f"{name}at {loc.path}:{loc.line}{guess}"


def _subject(graph: Graph, question: str, exclude: set[str] = frozenset()) -> tuple[str, list[Node]] | None:
    """The first name in the question that the graph knows."""
    info = analyze(question)
    candidates = [f"{m.qualifier}.{m.name}" if m.qualifier else m.name for m in info.mentions]
    candidates += [w.strip("`'\"()?.,:") for w in re.findall(r"`[^`]+`|\S+", question)]
    seen: set[str] = set()
    for c in candidates:
        c = c.strip("`'\"()?.,:")
        if len(c) < 2 or c in seen or c in exclude or c.lower() in _COMMON:
            continue
        seen.add(c)
        try:
            nodes = graph.find(c)
        except GraphError:
            continue
        nodes = [n for n in nodes if n.qualname or "/" in c or "." in c]
        if nodes and len(nodes) <= 8:
            return c, nodes
    return None


_COMMON = frozenset("""who what which where when how why does do did is are the a an of to in on for by with
from and or not that this it its be been being calls call called uses use used depends depend breaks break
change changes changed defined declared implemented reach get lead end up if would will impact path
callers caller callees callee dependents definition function method class file module""".split())


def graph_facts(graph: Graph, question: str) -> Facts:
    """The exact facts for a graph-shaped question, or empty Facts."""
    intent = next((name for name, rx in _INTENTS if rx.search(question)), "")
    if not intent:
        return Facts()
    try:
        if intent == "path":
            m = _INTENTS[0][1].search(question)
            a = (m.group("a") or m.group("a2") or "").strip("`'\"()?.,")
            b = (m.group("b") or m.group("b2") or "").strip("`'\"()?.,")
            hops = graph.path(a, b)
            if not hops:
                return Facts(intent, f"{a} -> {b}", [f"The graph has no chain of calls or references from {a} to {b}."])
            chain = " -> ".join(f"{h.symbol or h.path} ({h.path}:{h.line})" for h in hops)
            return Facts(intent, f"{a} -> {b}", [f"{a} reaches {b}: {chain}"], hops)
        found = _subject(graph, question)
        if found is None:
            return Facts()
        name, nodes = found
        if intent == "definition":
            locs = graph.definition(nodes)
            lines = [f"{d.symbol or name} is defined {_loc(d, who=False)}" for d in locs]
            return Facts(intent, name, lines, locs)
        run = {"callers": graph.callers, "callees": graph.callees, "impact": graph.impact}[intent]
        locs = run(nodes, depth=1 if intent != "impact" else 2, limit=200)
        what = {"callers": "is called by", "callees": "calls", "impact": "is depended on by"}[intent]
        defs = ", ".join(f"{n.path}:{n.line}" for n in nodes[:3])
        if not locs:
            return Facts(intent, name, [f"{name} ({defs}) {what} nothing the index knows of."], [])
        shown = [f"- {_loc(x)}" for x in locs[:MAX_LISTED]]
        more = f"\n- ... and {len(locs) - MAX_LISTED} more" if len(locs) > MAX_LISTED else ""
        head = f"{name} ({defs}) {what} {len(locs)} place(s){' (depth 2)' if intent == 'impact' else ''}:"
        return Facts(intent, name, [head + "\n" + "\n".join(shown) + more], locs)
    except GraphError:
        return Facts()
