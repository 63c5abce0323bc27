"""Personalized PageRank over the graph's sparse form, forward and reverse edges together:
what a set of seeds calls and imports matters, and so do their callers and subclasses."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from indexer.store import Store

from .model import CALLS, COCHANGE, CONTAINS, IMPORTS, INHERITS, REFERENCES, TESTS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RankOptions:
    # How much a step along each kind of edge carries (times the edge's confidence).
    weights: dict[str, float] = field(default_factory=lambda: {
        CALLS: 1.0, INHERITS: 1.0, REFERENCES: 0.6, IMPORTS: 0.4, TESTS: 0.5, CONTAINS: 0.5,
        COCHANGE: 0.6})
    reverse: float = 0.7  # a step against an edge (to a caller, a subclass) relative to along it
    alpha: float = 0.85  # the chance of following an edge rather than returning to the seeds
    # sympy, 77 issue texts: the top 5 hybrid units equal those at 30 iterations in 76 (the
    # same as at 15), 6 ms a call (9 at 15)
    iterations: int = 10
    tolerance: float = 1e-4  # L1 change of the scores at which the order of the top is settled


class Ranker:
    """The transition matrix of one graph state (one `graph_generation`). Its rows and columns
    are in `order` (order[i] is the node id at position i): reverse Cuthill-McKee, which puts
    linked nodes near each other, so a step of the walk reads the scores it needs from nearby
    memory (sympy, 40k nodes, 357k entries: a step 0.9 -> 0.4 ms; 20 ms more to build)."""

    def __init__(self, matrix: sp.csr_matrix, dangling: np.ndarray, generation: str,
                 options: RankOptions, order: np.ndarray):
        self.matrix = matrix
        self.dangling = dangling  # by position
        self.generation = generation
        self.options = options
        self.size = matrix.shape[0]
        self.order = order

    @classmethod
    def build(cls, store: Store, options: RankOptions | None = None) -> Ranker:
        options = options or RankOptions()
        conn = store.conn
        conn.execute("BEGIN")  # one state for the generation, the size and the edges
        try:
            return cls._build(store, options)
        finally:
            conn.execute("COMMIT")

    @classmethod
    def _build(cls, store: Store, options: RankOptions) -> Ranker:
        conn = store.conn
        generation = _generation(store)
        size = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM graph_nodes").fetchone()[0]
        kinds = list(options.weights)
        kind_weight = np.array([options.weights[k] for k in kinds], dtype=np.float64)
        rows = conn.execute(
            "SELECT src, dst, CASE kind " + " ".join(f"WHEN '{k}' THEN {i}" for i, k in enumerate(kinds))
            + " ELSE -1 END, confidence FROM graph_edges").fetchall()
        if rows:
            arr = np.array(rows, dtype=np.float64)
            arr = arr[arr[:, 2] >= 0]
            src, dst = arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64)
            w = kind_weight[arr[:, 2].astype(np.int64)] * arr[:, 3]
        else:
            src = dst = np.zeros(0, dtype=np.int64)
            w = np.zeros(0)
        a = sp.coo_matrix((np.concatenate([w, w * options.reverse]),
                           (np.concatenate([src, dst]), np.concatenate([dst, src]))),
                          shape=(size, size)).tocsr()
        a.sum_duplicates()
        out = np.asarray(a.sum(axis=1)).ravel()
        inv = np.divide(1.0, out, out=np.zeros_like(out), where=out > 0)
        # Column-stochastic transpose: scores flow along x <- alpha * M @ x + (1 - alpha) * p.
        matrix = (sp.diags(inv) @ a).T.tocsr().astype(np.float32)
        # imported here: a process that loads the saved matrix (a CLI's search) never needs it (0.1 s)
        from scipy.sparse.csgraph import reverse_cuthill_mckee

        order = reverse_cuthill_mckee(a, symmetric_mode=True).astype(np.int64)  # a holds both directions
        return cls(matrix[order][:, order].tocsr(), (out == 0)[order], generation, options, order)

    def save(self, path: Path) -> None:
        """Write the matrix for other processes (a cache: any failure only costs a rebuild)."""
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        m = self.matrix
        with open(tmp, "wb") as fh:
            # Keys of their own: a version before the ordering finds none of its keys (KeyError,
            # and it rebuilds) rather than reading a permuted matrix as one by node id.
            np.savez(fh, pdata=m.data, pindices=m.indices, pindptr=m.indptr, pdangling=self.dangling,
                     shape=np.array(m.shape), generation=np.array(self.generation), order=self.order)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, options: RankOptions) -> Ranker:
        with np.load(path) as z:
            # a file from before the ordering has none of these keys: KeyError, and it is rebuilt
            m = sp.csr_matrix((z["pdata"], z["pindices"], z["pindptr"]), shape=tuple(z["shape"]))
            order = z["order"]
            if order.shape != (m.shape[0],):
                raise ValueError(f"an order of {order.shape} for a matrix of {m.shape}")
            return cls(m, z["pdangling"], str(z["generation"]), options, order)

    def rank(self, seeds: dict[int, float]) -> np.ndarray:
        """Scores of every node id (an array indexed by id) for a walk restarting at `seeds`."""
        p = np.zeros(self.size, dtype=np.float32)
        for nid, weight in seeds.items():
            if 0 <= nid < self.size and weight > 0:
                p[nid] += weight
        total = p.sum()
        if total == 0:
            return p
        p /= total
        p = p[self.order]  # to positions
        x = p.copy()
        alpha = self.options.alpha
        for _ in range(self.options.iterations):
            nxt = alpha * (self.matrix @ x)
            nxt += (alpha * x[self.dangling].sum() + (1 - alpha)) * p  # dead ends restart
            done = np.abs(nxt - x).sum() < self.options.tolerance
            x = nxt
            if done:
                break
        scores = np.empty_like(x)
        scores[self.order] = x  # back to node ids
        return scores

    def top(self, seeds: dict[int, float], k: int = 50, exclude_seeds: bool = False) -> list[tuple[int, float]]:
        scores = self.rank(seeds)
        if exclude_seeds:
            scores[[n for n in seeds if 0 <= n < self.size]] = 0
        k = min(k, int(np.count_nonzero(scores)))
        if k <= 0:
            return []
        idx = np.argpartition(-scores, k - 1)[:k]
        idx = idx[np.argsort(-scores[idx])]
        return [(int(i), float(scores[i])) for i in idx]


_CACHE: dict[str, Ranker] = {}
_LOCK = threading.Lock()
_FILE = "rank-{}.npz"


def ranker_for(store: Store, options: RankOptions | None = None) -> Ranker:
    """The ranker of the store's current graph: kept per process, and saved beside the index
    so the next process loads it instead of reading every edge (a graph update changes the
    generation, which retires both)."""
    key = str(store.path)
    gen = _generation(store)
    default = options is None or options == RankOptions()
    options = options or RankOptions()
    with _LOCK:
        r = _CACHE.get(key)
        if r is not None and r.generation == gen and r.options == options:
            return r
        cached = store.path.parent / _FILE.format(gen)
        r = None
        if default and cached.is_file():
            try:
                r = Ranker.load(cached, options)
            except (OSError, ValueError, KeyError) as exc:
                log.info("rebuilding the rank matrix: %s unreadable (%s)", cached, exc)
        if r is None or r.generation != gen:
            r = Ranker.build(store, options)
            if default:
                _save(r, cached)
        _CACHE[key] = r
        return r


def _save(r: Ranker, path: Path) -> None:
    try:
        r.save(path)
        for old in path.parent.glob(_FILE.format("*")):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:  # a read-only index: every process builds its own
        log.info("cannot cache the rank matrix at %s: %s", path, exc)


def _generation(store: Store) -> str:
    """The graph state: its generation within this index, and the index's creation time,
    since a rebuilt index counts generations from 1 again."""
    rows = dict(store.conn.execute(
        "SELECT key, value FROM meta WHERE key IN ('graph_generation', 'created_ns')").fetchall())
    return f"{rows.get('created_ns', '0')}-{rows.get('graph_generation', '0')}"
