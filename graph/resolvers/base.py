"""What every language resolver shares: the protocol, and matching by name alone."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Protocol

from ..context import Context
from ..model import MAX_NAME_CANDIDATES, NAME_ONLY, RefRow, Resolved, SymRow, Target


class LanguageSupport(Protocol):
    """Resolves the references of one language family. One instance lives for one graph
    update; it may memoize what it learns of the repository (module tables, bindings)."""

    def resolve(self, fid: int, ref: RefRow) -> list[Resolved]:
        """The definitions `ref` (a reference in file `fid`) points at; [] when it points
        outside the repository or at nothing known."""
        ...


# The language families whose files can refer to one another's definitions.
FAMILIES: dict[str, str] = {
    "python": "python", "javascript": "ecmascript", "typescript": "ecmascript",
    "tsx": "ecmascript", "go": "go", "java": "java", "rust": "rust", "c": "c", "cpp": "c",
}


class External:
    """Resolution reached a definition outside the repository (stdlib, a dependency):
    nothing to link, and no reason to guess by name."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "EXTERNAL"


EXTERNAL = External()


def by_name(ctx: Context, fid: int, name: str,
            accept: Callable[[SymRow], bool] = lambda s: True) -> list[Resolved]:
    """Definitions in the same language family named `name`, each with its share of
    NAME_ONLY confidence; none when more than MAX_NAME_CANDIDATES share the name.
    Memoized per context by (family, name, accept): pass a module-level function as
    `accept`, not a lambda made per call."""
    family = FAMILIES.get(ctx.language(fid))
    memo = ctx.memo["by_name"]
    key = (family, name, accept)
    got = memo.get(key)
    if got is None:
        found = [Target(f, s.qualname) for f, s in ctx.named(name)
                 if FAMILIES.get(ctx.language(f)) == family and accept(s)]
        if not found or len(found) > MAX_NAME_CANDIDATES:
            got = []
        else:
            conf = NAME_ONLY / len(found)
            got = [Resolved(t, conf) for t in found]
        memo[key] = got
    return list(got)


def path_segments(path: str, ident: re.Pattern, also: frozenset[str] = frozenset()) -> list[str] | None:
    """`a::b<T>::c` -> [a, b, c], for the languages that write paths with `::` (C++, Rust):
    template and generic arguments dropped however nested; None when the brackets do not
    balance or a segment is neither an identifier nor one of `also`."""
    depth, buf = 0, []
    for ch in path.strip():
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0:
            buf.append(ch)
    if depth != 0:
        return None
    out = []
    for seg in "".join(buf).split("::"):
        seg = seg.strip()
        if not seg:
            continue
        if seg not in also and not ident.match(seg):
            return None
        out.append(seg)
    return out or None


def resolved(targets: Iterable[Target], confidence: float) -> list[Resolved]:
    return [Resolved(t, confidence) for t in targets]
