"""Exact signals: definitions the question names, files and stack frames it points at, and
error messages it quotes, each turned into a ranking of chunks."""

from __future__ import annotations

import json
import math
import posixpath
import re
import sqlite3
import threading
from collections.abc import Callable

from graph.model import is_test_path
from indexer.store import Store

from .query import QueryInfo, names_one_of

_NAME_SCAN = 400  # chunks read for a hyphenated name: more, and it is found everywhere
MAX_DEFINITIONS = 40  # a name defined more often than this (`__init__`, `get`) says nothing
_TEST_FACTOR = 0.5  # a definition or file in test code, relative to one in the code itself


def chunk_at(store: Store, file_id: int, line: int) -> int | None:
    """The smallest chunk of the file that holds `line`."""
    row = store.conn.execute(
        "SELECT id FROM chunks WHERE file_id = ? AND start_line <= ? AND end_line >= ? "
        "ORDER BY end_line - start_line LIMIT 1", (file_id, line, line)).fetchone()
    return row[0] if row else None


def _first_chunks(store: Store, items: list[tuple], match: str, order: str) -> dict[int, int | None]:
    """For each item (its file id, then a value `p.v`), by its index: the first chunk of that
    file meeting `match`, in `order`. One query for all of them."""
    return dict(store.conn.execute(
        "WITH p(k, f, v) AS MATERIALIZED (SELECT key, json_extract(value, '$[0]'), json_extract(value, '$[1]') "
        f"FROM json_each(?)) SELECT p.k, (SELECT c.id FROM chunks c WHERE c.file_id = p.f AND {match} "
        f"ORDER BY {order} LIMIT 1) FROM p", (json.dumps(items),)))


def chunks_at(store: Store, points: list[tuple[int, int]]) -> list[int | None]:
    """chunk_at for many (file id, line) points in one query."""
    if not points:
        return []
    found = _first_chunks(store, points, "c.start_line <= p.v AND c.end_line >= p.v", "c.end_line - c.start_line")
    return [found.get(i) for i in range(len(points))]


def chunks_for(store: Store, defs: list[tuple[int, str, int]]) -> list[int | None]:
    """For each (file id, qualname, line) of a definition, the first chunk of that symbol,
    else the smallest chunk holding the line (chunks_at): two queries in all."""
    if not defs:
        return []
    found = _first_chunks(store, defs, "c.symbol = p.v", "c.start_line")
    missing = [i for i in range(len(defs)) if found.get(i) is None]
    found.update(zip(missing, chunks_at(store, [(defs[i][0], defs[i][2]) for i in missing])))
    return [found.get(i) for i in range(len(defs))]


def _add(scores: dict[int, float], cid: int | None, score: float) -> None:
    if cid is not None and score > scores.get(cid, 0.0):
        scores[cid] = score


def _ranking(scores: dict[int, float]) -> list[tuple[int, float]]:
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def _mentioned(store: Store, info: QueryInfo, limit_mentions: int, cap: int, sql: str):
    """(mention, rarity, rows) for each of the first mentions whose name `sql` finds at most
    `cap` rows for (`sql` takes the name and a row limit); a rarer name weighs more."""
    for m in info.mentions[:limit_mentions]:
        rows = store.conn.execute(sql, (m.name, cap + 1)).fetchall()
        if rows and len(rows) <= cap:
            yield m, 1.0 / (1.0 + math.log(len(rows))), rows


def symbols(store: Store, info: QueryInfo, limit_mentions: int = 40) -> list[tuple[int, float]]:
    """Chunks defining the names the question mentions. A rarer name counts more; a
    qualifier that agrees with the definition's class or module counts more still. A name
    the question says calls what it asks about ("called by X") counts for what X calls, in
    the graph, more than for X itself; one it compares its subject with ("like X, but ...")
    does not count."""
    defs: list[tuple[int, str, int]] = []
    weights: list[float] = []
    callers: list[tuple[int, str, float]] = []
    for m, rarity, rows in _mentioned(
            store, info, limit_mentions, MAX_DEFINITIONS,
            "SELECT s.file_id, f.path, s.qualname, s.start_line FROM symbols s JOIN files f ON f.id = s.file_id "
            "WHERE s.name = ? LIMIT ?"):
        if names_one_of(m, info.likenesses):
            continue  # what the question compares its subject with is not its subject
        caller = names_one_of(m, info.callers)
        qual = m.qualifier.split(".") if m.qualifier else []
        for file_id, path, qualname, line in rows:
            score = m.weight * rarity
            if qual:
                owner = qualname.split(".")[:-1]
                module = path.rsplit(".", 1)[0].replace("/", ".").split(".")
                if owner and owner[-1] == qual[-1] or module[-len(qual):] == qual or \
                        (module and module[-1] == "__init__" and module[-1 - len(qual):-1] == qual):
                    score *= 2.0
                else:
                    score *= 0.5
            if is_test_path(path):
                score *= _TEST_FACTOR
            if caller:
                callers.append((file_id, qualname, score))
                score *= CALLER_SHARE
            defs.append((file_id, qualname, line))
            weights.append(score)
    scores: dict[int, float] = {}
    for cid, score in zip(chunks_for(store, defs), weights):
        _add(scores, cid, score)
    for cid, score in _callees(store, callers):
        _add(scores, cid, score)
    return _ranking(scores)


CALLER_SHARE = 0.25  # of a definition's score, for one the question says calls what it asks about
MAX_CALLEES = 40  # of one caller's: a dispatcher calling everything says nothing


def _callees(store: Store, callers: list[tuple[int, str, float]]) -> list[tuple[int, float]]:
    """(chunk, score) of the definitions each (file, qualname, score) calls in the graph."""
    out: list[tuple[int, float]] = []
    for file_id, qualname, score in callers:
        try:
            dsts = [r[0] for r in store.conn.execute(
                "SELECT DISTINCT e.dst FROM graph_nodes n JOIN graph_edges e ON e.src = n.id "
                "WHERE n.file_id = ? AND n.qualname = ? AND e.kind = 'calls' AND e.dst != n.id LIMIT ?",
                (file_id, qualname, MAX_CALLEES + 1))]
        except sqlite3.DatabaseError:  # an index without a graph has no callees
            return out
        if len(dsts) > MAX_CALLEES:
            continue
        out.extend((cid, score) for cid in node_chunks(store, dsts).values())
    return out


MAX_USES = 200  # a name used more often than this says little about where the question points


def usages(store: Store, info: QueryInfo, limit_mentions: int = 40) -> list[tuple[int, float]]:
    """Chunks that use the names the question mentions (a call, a type, an import): what
    a question describes often works with the things it names rather than being them."""
    uses: list[tuple[int, int]] = []
    weights: list[float] = []
    for m, rarity, rows in _mentioned(
            store, info, limit_mentions, MAX_USES,
            "SELECT r.file_id, f.path, r.line FROM refs r JOIN files f ON f.id = r.file_id WHERE r.name = ? LIMIT ?"):
        for file_id, path, line in rows:
            uses.append((file_id, line))
            weights.append(m.weight * rarity * (_TEST_FACTOR if is_test_path(path) else 1.0))
    scores: dict[int, float] = {}
    for cid, score in zip(chunks_at(store, uses), weights):
        if cid is not None:
            scores[cid] = scores.get(cid, 0.0) + score
    return _ranking(scores)


_STATE_LOCK = threading.Lock()
_BY_STATE: dict[tuple[str, str], object] = {}


def _per_state(store: Store, what: str, build):
    """build(store), kept until the index changes (its `updated_ns`), one per store and `what`."""
    row = store.conn.execute("SELECT value FROM meta WHERE key = 'updated_ns'").fetchone()
    key, state = (str(store.path), what), row[0] if row else ""
    with _STATE_LOCK:
        found = _BY_STATE.get(key)
    if found is not None and found[0] == state:
        return found[1]
    value = build(store)
    with _STATE_LOCK:
        _BY_STATE.pop(key, None)
        _BY_STATE[key] = (state, value)
        while len(_BY_STATE) > _STATES_KEPT:  # the least recently built first
            _BY_STATE.pop(next(iter(_BY_STATE)))
    return value


_STATES_KEPT = 32  # (index, what) pairs: a service with many repositories rebuilds the rest on use


def _files_named(store: Store) -> dict[str, list[tuple[int, str]]]:
    """The indexed files by lowercased base name, read once per index state: a traceback's
    frames try several suffixes each, and one scan of the files table per suffix cost
    sympy's 22-frame tracebacks 40 ms."""
    def build(store: Store) -> dict[str, list[tuple[int, str]]]:
        out: dict[str, list[tuple[int, str]]] = {}
        for fid, path in store.conn.execute("SELECT id, path FROM files WHERE skip_reason = '' ORDER BY id"):
            out.setdefault(path.rsplit("/", 1)[-1].lower(), []).append((fid, path))
        return out

    return _per_state(store, "files_named", build)


_RELEASED = re.compile(r"""^__version__\s*(?::\s*str\s*)?=\s*[rbu]?['"]""")
# An outer __init__.py that only declares a namespace (pkgutil's extend_path, pkg_resources'
# declare_namespace): the packages inside it are the project's own (sphinxcontrib.foo).
_NAMESPACE = re.compile(r"\b(?:extend_path|declare_namespace)\b")


def vendored_dirs(store: Store) -> tuple[str, ...]:
    """Python packages copied into another package (requests/packages/urllib3, a project's
    own copy of a small library): a package whose __init__.py sets a `__version__` string
    of its own while its directory is inside another package. A project's own top package
    sets its version too, but not inside another package (a namespace package's __init__,
    which declares the namespace, does not count as one); a subpackage of the project has
    no release of its own. Vendor directories by name (vendor/, _vendor/) the scan skips."""
    def build(store: Store) -> tuple[str, ...]:
        rows = store.conn.execute(
            "SELECT f.path, s.signature FROM symbols s JOIN files f ON f.id = s.file_id "
            "WHERE s.name = '__version__' AND s.parent = '' AND (f.path = '__init__.py' OR f.path LIKE '%/__init__.py')"
        ).fetchall()
        out = []
        for path, signature in rows:
            package = posixpath.dirname(path)
            outer = posixpath.dirname(package)
            if not (package and outer and _RELEASED.match(signature)):
                continue
            init = store.conn.execute(
                "SELECT (SELECT group_concat(c.text, char(10)) FROM chunks c WHERE c.file_id = f.id) "
                "FROM files f WHERE f.path = ?", (outer + "/__init__.py",)).fetchone()
            if init is not None and not _NAMESPACE.search(init[0] or ""):
                out.append(package + "/")
        return tuple(sorted(out))

    return _per_state(store, "vendored_dirs", build)


def _files_by_suffix(named: dict[str, list[tuple[int, str]]], suffix: str) -> list[tuple[int, str]]:
    """Files (of `named`, _files_named's map) whose path is `suffix` or ends in /`suffix`
    (letters' case aside, as on the file systems that ignore it)."""
    while suffix.startswith(("./", "/")):  # `./x.py`, `/x.py`; a dotfile keeps its dot
        suffix = suffix[1:] if suffix[0] == "/" else suffix[2:]
    if not suffix:
        return []
    low = suffix.lower()
    return [(fid, path) for fid, path in named.get(low.rsplit("/", 1)[-1], [])
            if (p := path.lower()) == low or p.endswith("/" + low)]


def resolve_path(store: Store, mention: str) -> list[tuple[int, str]]:
    """Files a path or dotted module name in a question may mean: the longest suffix of it
    that names files of the index (a traceback's /usr/lib/.../pkg/mod.py ends in pkg/mod.py)."""
    named = _files_named(store)
    if "/" not in mention and mention.count(".") >= 2 and not mention.endswith((".py", ".js", ".ts", ".go")):
        parts = mention.split(".")
        for cut in range(len(parts), 0, -1):  # pkg.mod.Class.method -> pkg/mod.py
            stem = "/".join(parts[:cut])
            found = _files_by_suffix(named, stem + ".py") or _files_by_suffix(named, stem + "/__init__.py")
            if found:
                return found
        return []
    parts = [p for p in mention.replace("\\", "/").split("/") if p and p not in (".", "..")]
    for start in range(len(parts)):
        found = _files_by_suffix(named, "/".join(parts[start:]))
        if found and (len(found) <= 3 or start == len(parts) - 1):
            return found if len(found) <= 3 else []
    return []


def paths(store: Store, info: QueryInfo) -> tuple[list[tuple[int, float]], dict[str, float], list[str]]:
    """Chunks at the stack frames the question quotes (the most recent calls first), and the
    first chunk of each file it names; with the files themselves and their scores, for
    ranking files; and each trace's crash site: the file of its most recent call in the
    repository (a trace's last frames are often in the standard library or another
    package), the last trace's first."""
    scores: dict[int, float] = {}
    files: dict[str, float] = {}
    crash: dict[int, str] = {}  # trace -> the file of its most recent frame here
    order = sorted(range(len(info.frames)), key=lambda i: (info.frames[i].recency, i))
    for rank, i in enumerate(order):
        frame = info.frames[i]
        found = resolve_path(store, frame.path)
        if len(found) != 1:
            continue
        fid, path = found[0]
        score = 1.0 / (1.0 + 0.1 * rank)
        files[path] = max(files.get(path, 0.0), score)
        _add(scores, chunk_at(store, fid, frame.line), score)
        if frame.trace >= 0:  # frames come most recent first: the first found of a trace is its crash site
            crash.setdefault(frame.trace, path)
    for i, mention in enumerate(info.paths):
        found = resolve_path(store, mention)
        for fid, path in found:
            score = (0.9 / (1.0 + 0.1 * i)) / len(found)
            if is_test_path(path):
                score *= _TEST_FACTOR
            files[path] = max(files.get(path, 0.0), score)
            row = store.conn.execute(
                "SELECT id FROM chunks WHERE file_id = ? ORDER BY (symbol = '') , start_line LIMIT 1",
                (fid,)).fetchone()
            _add(scores, row[0] if row else None, score * 0.5)
    return _ranking(scores), files, list(dict.fromkeys(crash[t] for t in sorted(crash, reverse=True)))


def messages(store: Store, info: QueryInfo, k: int = 20,
             incidental: Callable[[str, str], bool] | None = None) -> list[tuple[int, float]]:
    """Chunks containing an error message, quoted string or hyphenated name of the question,
    as a phrase. A phrase in `k` chunks or more is found everywhere and says nothing. A name
    (an option, a setting, a rule's id) counts only the chunks of code for that, ranked first:
    tests and documentation repeat a name wherever it is used, while the code that defines it
    holds it in one place. `incidental(kind, path)`: a chunk of tests, documentation or
    vendored code. A message is left to the plain count, since a string the question's own
    code passes (`symbols('x1, x2, x3')`) is as common in code's examples as in the tests."""
    scores: dict[int, float] = {}
    phrases = [(m, False) for m in info.messages] + [(n, True) for n in info.names if n not in info.messages]
    for i, (msg, name) in enumerate(phrases[:8]):
        words = [w for w in _phrase_words(msg)][:12]
        if len(words) < 2:
            continue
        phrase = f'body : "{" ".join(words)}"'
        try:
            if not name:
                rows = store.conn.execute(
                    "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?", (phrase, k)).fetchall()
                found = [cid for (cid,) in rows] if len(rows) < k else []
            else:
                rows = store.conn.execute(
                    "SELECT m.rowid, c.kind, f.path FROM (SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ? "
                    "ORDER BY rank LIMIT ?) m JOIN chunks c ON c.id = m.rowid JOIN files f ON f.id = c.file_id "
                    "ORDER BY m.rank", (phrase, _NAME_SCAN)).fetchall()
                code, other = [], []
                for cid, kind, path in rows:
                    (other if incidental is not None and incidental(kind, path) else code).append(cid)
                found = (code + other)[:k] if len(code) < k and len(rows) < _NAME_SCAN else []
        except Exception:  # noqa: BLE001 - a message FTS cannot parse is simply not matched
            continue
        for j, cid in enumerate(found):
            _add(scores, cid, 1.0 / (1.0 + 0.1 * i) / (1.0 + 0.05 * j))
    return _ranking(scores)


def _phrase_words(text: str) -> list[str]:
    out, word = [], []
    for ch in text:
        if ch.isalnum():
            word.append(ch)
        elif word:
            out.append("".join(word))
            word = []
    if word:
        out.append("".join(word))
    return out


def chunk_nodes(store: Store, chunk_ids: list[int]) -> dict[int, list[int]]:
    """The graph nodes of each chunk: its definition, or the definitions it packs (small
    ones share a chunk), else its file."""
    if not chunk_ids:
        return {}
    out: dict[int, list[int]] = {}
    rows = store.conn.execute(
        "SELECT c.id, c.file_id, c.symbol, c.symbols FROM chunks c WHERE c.id IN (SELECT value FROM json_each(?))",
        (json.dumps(chunk_ids),)).fetchall()
    for cid, file_id, symbol, packed in rows:
        names = [symbol] if symbol else (packed.split() or [""])
        ids = [r[0] for r in store.conn.execute(
            "SELECT id FROM graph_nodes WHERE file_id = ? AND qualname IN (SELECT value FROM json_each(?))",
            (file_id, json.dumps(names)))]
        if not ids and symbol:
            ids = [r[0] for r in store.conn.execute(
                "SELECT id FROM graph_nodes WHERE file_id = ? AND qualname = ''", (file_id,))]
        if ids:
            out[cid] = ids
    return out


def node_chunks(store: Store, node_ids: list[int]) -> dict[int, int]:
    """The chunk that holds each symbol node's definition (file and package nodes have none):
    the smallest chunk at its first line, one that is that symbol's own before any other."""
    if not node_ids:
        return {}
    return dict(store.conn.execute(
        "WITH d(nid, file_id, qualname, line) AS MATERIALIZED (SELECT n.id, n.file_id, n.qualname, "
        "min(s.start_line) FROM graph_nodes n JOIN symbols s ON s.file_id = n.file_id AND s.qualname = n.qualname "
        "WHERE n.id IN (SELECT value FROM json_each(?)) AND n.qualname != '' AND n.file_id != 0 GROUP BY n.id) "
        "SELECT nid, cid FROM (SELECT d.nid, c.id AS cid, row_number() OVER (PARTITION BY d.nid "
        "ORDER BY c.symbol != d.qualname, c.end_line - c.start_line, c.id) AS r FROM d JOIN chunks c "
        "ON c.file_id = d.file_id AND c.start_line <= d.line AND c.end_line >= d.line) WHERE r = 1",
        (json.dumps(node_ids),)).fetchall())
