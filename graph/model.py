"""The graph's vocabulary: node keys, edge kinds, confidences, and what a resolver returns."""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

# Edge kinds. A reference of kind k (indexer.records.Reference.kind) becomes an edge of
# kind REF_EDGE[k]; the others are derived: contains from nesting, tests from calls made
# by test code, cochange from git history.
CONTAINS, IMPORTS, CALLS, INHERITS, REFERENCES, TESTS, COCHANGE = (
    "contains", "imports", "calls", "inherits", "references", "tests", "cochange")
EDGE_KINDS = (CONTAINS, IMPORTS, CALLS, INHERITS, REFERENCES, TESTS, COCHANGE)
REF_EDGE = {"call": CALLS, "import": IMPORTS, "inherit": INHERITS, "type": REFERENCES}
# The kinds that say "src depends on dst" (impact follows them backwards).
DEPENDENCY_KINDS = (IMPORTS, CALLS, INHERITS, REFERENCES, TESTS)

# Confidence of an edge: 1.0 when resolved through imports and scopes; below NAME_ONLY
# when only the name matched (split among the candidates), so it is never shown as certain.
RESOLVED = 1.0
INFERRED = 0.8  # resolved through a heuristic the language does not guarantee (e.g. self.m in a base)
NAME_ONLY = 0.5
MAX_NAME_CANDIDATES = 8  # more definitions than this share the name: too vague to link


def resolution(confidence: float) -> str:
    """The word shown for a confidence: "resolved", "inferred" or "name"."""
    if confidence >= RESOLVED:
        return "resolved"
    if confidence >= INFERRED:
        return "inferred"
    return "name"


class Target(NamedTuple):
    """A node: a symbol (file_id, qualname), a file (file_id, ""), or a directory
    (0, "dir/path") standing for a package."""

    file_id: int
    qualname: str


class Resolved(NamedTuple):
    target: Target
    confidence: float


class RefRow(NamedTuple):
    """A row of the indexer's refs table, as resolvers read it."""

    id: int
    name: str
    kind: str
    line: int
    col: int
    scope: str
    module: str
    alias: str
    enclosing: str


class SymRow(NamedTuple):
    qualname: str
    name: str
    kind: str
    parent: str
    line: int


class FileInfo(NamedTuple):
    id: int
    path: str
    language: str
    content_hash: str


_TEST_DIRS = {"test", "tests", "testing", "__tests__", "spec", "specs", "e2e"}
_TEST_FILE = re.compile(
    r"(^test_.*\.py$|.*_test\.(py|go|rs|c|cc|cpp)$|.*\.(test|spec)\.[cm]?[jt]sx?$"
    r"|.*(Test|Tests|IT)\.java$|^conftest\.py$)")


@functools.lru_cache(maxsize=65536)
def is_test_path(path: str) -> bool:
    """Whether a path holds tests, by the naming conventions of the languages we parse."""
    parts = path.split("/")
    return bool(_TEST_FILE.match(parts[-1])) or any(p in _TEST_DIRS for p in parts[:-1])


def parent_dir(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""
