"""What a context bundle is: the units, map and relationships the model reads, and their text.

`retrieval.bundle.build_bundle` makes one; `repoqa bundle`, the Bundle RPC and `repoqa ask`
all read this same object, so what a user inspects is what the model is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

TokenCounter = Callable[[str], int]


@dataclass(frozen=True, slots=True)
class BundleUnit:
    """One span of code in the bundle: whole definitions where they fit, adjacent ones merged."""

    path: str
    start_line: int  # 1-based, inclusive
    end_line: int
    symbols: tuple[str, ...]  # qualified names of the definitions it holds ("" top level)
    kind: str  # function, class, method, ... or "lines" for a cut span
    reason: str  # one line: why it is there (matched the query, calls X, called by Y, ...)
    score: float
    text: str
    tokens: int = 0

    @property
    def location(self) -> str:
        return f"{self.path}:{self.start_line}-{self.end_line}"


@dataclass(frozen=True, slots=True)
class Relation:
    """An edge between two things in the bundle: `src` `kind` `dst` (X calls Y, A imports B)."""

    src: str
    kind: str
    dst: str
    confidence: float = 1.0

    def render(self) -> str:
        sure = "" if self.confidence >= 0.8 else f" (guess, {self.confidence:.2f})"
        return f"{self.src} {self.kind} {self.dst}{sure}"


@dataclass
class Bundle:
    """The context for one question, fitted to `budget` tokens as `counter` counts them."""

    query: str
    snapshot: str  # commit (12 hex) plus a digest of uncommitted changes, as the index stamps it
    repo_map: str  # paths with signatures/skeletons of the relevant part of the repository
    units: list[BundleUnit] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    budget: int = 0
    tokens: int = 0  # tokens of `render()`, counted with `tokenizer`
    tokenizer: str = ""  # what counted the tokens (a model's tokenizer, or the stated default)
    seconds: float = 0.0

    def render(self) -> str:
        """The bundle as the model reads it: map, units, relationships, snapshot, in that order."""
        return render_sections(self.repo_map, self.units, self.relations, self.snapshot)

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["units"] = [{**asdict(u), "location": u.location} for u in self.units]
        return out


def render_unit(u: BundleUnit) -> str:
    return f"### {u.location}  ({u.reason})\n```\n{u.text.rstrip()}\n```\n"


def render_sections(repo_map: str, units: list[BundleUnit], relations: list[Relation], snapshot: str) -> str:
    parts = []
    if repo_map:
        parts.append("## Repository map\n" + repo_map.rstrip() + "\n")
    if units:
        parts.append("## Code\n" + "\n".join(render_unit(u) for u in units))
    if relations:
        parts.append("## Relationships\n" + "\n".join(f"- {r.render()}" for r in relations) + "\n")
    parts.append(f"## Snapshot\n{snapshot}\n")
    return "\n".join(parts)
