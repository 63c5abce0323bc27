"""Co-change edges: files that recent commits changed together, weighted by how often."""

from __future__ import annotations

import math
from collections import Counter
from itertools import combinations
from pathlib import Path

from indexer.gitinfo import run_git
from indexer.store import Store

from .model import COCHANGE

COMMITS = 1000  # how far back history is read
MAX_FILES = 30  # a commit touching more files than this (a reformat, a rename) says little
MIN_TOGETHER = 2  # changed together at least this often
PARTNERS = 8  # strongest partners kept per file


def head(root: Path | None) -> str:
    out = run_git(root, "rev-parse", "-q", "--verify", "HEAD") if root is not None else None
    return out.strip() if out else ""


def history(root: Path, commits: int = COMMITS) -> list[list[str]]:
    """The paths each of the last `commits` non-merge commits touched (newest first)."""
    out = run_git(root, "-c", "core.quotePath=off", "log", f"-n{commits}", "--no-merges",
                  "--format=%x00", "--name-only", "--no-renames", "--relative")
    if not out:
        return []
    return [[p for p in block.split("\n") if p] for block in out.split("\0")[1:]]


def rebuild(store: Store, root: Path) -> int:
    """Replace the co-change edges from the history at `root`; returns how many were written."""
    conn = store.conn
    conn.execute("DELETE FROM graph_edges WHERE kind = ?", (COCHANGE,))
    nodes = dict(conn.execute(
        "SELECT f.path, n.id FROM graph_nodes n JOIN files f ON f.id = n.file_id WHERE n.qualname = ''"))
    alone: Counter[int] = Counter()
    together: Counter[tuple[int, int]] = Counter()
    for paths in history(root):
        ids = sorted({nodes[p] for p in paths if p in nodes})
        if not ids or len(ids) > MAX_FILES:
            continue
        alone.update(ids)
        together.update(combinations(ids, 2))
    partners: dict[int, list[tuple[float, int]]] = {}
    for (a, b), n in together.items():
        if n < MIN_TOGETHER:
            continue
        weight = n / math.sqrt(alone[a] * alone[b])  # cosine of the two files' commit sets
        partners.setdefault(a, []).append((weight, b))
        partners.setdefault(b, []).append((weight, a))
    rows = []
    for a, lst in partners.items():
        for weight, b in sorted(lst, reverse=True)[:PARTNERS]:
            rows.append((a, b, COCHANGE, round(weight, 4), 0, 0, 0, 0))
    conn.executemany("INSERT INTO graph_edges(src, dst, kind, confidence, file_id, ref, line, col) "
                     "VALUES (?,?,?,?,?,?,?,?)", rows)
    return len(rows)
