"""Go-to-definition and find-references of the graph, against jedi on a real Python repository.

    python -m benchmarks.graph_accuracy --repo PATH [--sites 400] [--symbols 40] [--seed 1]

Definitions: a random sample of the reference sites the index extracted in Python files
(calls, imports, base classes, type uses). At each, jedi's `goto` (following imports) is the
oracle; sites where jedi finds no definition inside the repository, or only a parameter or
a function's local variable (not nodes of the graph), are counted apart. Ours is what
`repoqa def path:line:col` answers there: the resolved definitions, else candidates by name,
best first. Precision = sites where our first answer is jedi's / sites we answer; recall =
the same / sites jedi answers. Also reported: precision over every candidate listed, and
for the resolved answers alone (guesses by name are shown to users as guesses).

References: a random sample of functions, classes and methods. jedi's `get_references`
(project scope) is the oracle, restricted to lines where the index extracted a reference
of that name (a call, an import, a base class, an annotation), since a read of a name as
a value (`self.dimension` of a property) is not an edge of ours; the unrestricted recall
is reported too. Samples are drawn in a stable order, so a re-indexed repository at the
same commit gives the same sample. Disagreements are listed in the JSON.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.common import write_result
from graph.build import GraphIndex
from graph.query import Graph
from indexer.options import IndexOptions
from indexer.update import update_index


def _jedi():
    import jedi

    jedi.settings.fast_parser = True
    return jedi


class Oracle:
    def __init__(self, root: Path):
        self.jedi = _jedi()
        self.root = root
        self.project = self.jedi.Project(root, added_sys_path=[str(root)])
        self._scripts: dict[str, object] = {}
        self._lines: dict[str, list[str]] = {}

    def script(self, rel: str):
        s = self._scripts.get(rel)
        if s is None:
            code = (self.root / rel).read_text(encoding="utf-8", errors="replace")
            self._lines[rel] = code.splitlines()
            s = self._scripts[rel] = self.jedi.Script(code, path=str(self.root / rel), project=self.project)
            if len(self._scripts) > 64:  # bound memory: jedi keeps its own module cache anyway
                self._scripts.pop(next(iter(self._scripts)))
        return s

    def column(self, rel: str, line: int, byte_col: int) -> int:
        """A UTF-8 byte column as jedi counts columns (code points)."""
        self.script(rel)
        text = self._lines[rel][line - 1] if line - 1 < len(self._lines[rel]) else ""
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", "replace"))

    def _local(self, names) -> set[tuple[str, int, str]]:
        """(path, line, type) of the names inside the repository; type "local" for a
        parameter or a variable of a function (not nodes of the graph)."""
        out = set()
        for n in names:
            path = n.module_path
            if path is None:
                continue
            try:
                rel = Path(path).resolve().relative_to(self.root).as_posix()
            except ValueError:
                continue  # outside the repository
            kind = n.type
            if kind == "param" or (kind in ("statement", "instance") and n.parent().type == "function"):
                kind = "local"
            out.add((rel, n.line or 1, kind))
        return out

    def goto(self, rel: str, line: int, col: int) -> set[tuple[str, int, str]]:
        return self._local(self.script(rel).goto(line, col, follow_imports=True))

    def references(self, rel: str, line: int, col: int) -> set[tuple[str, int, str]]:
        names = self.script(rel).get_references(line, col, include_builtins=False, scope="project")
        return self._local(n for n in names if not (n.line == line and n.module_path
                                                    and Path(n.module_path) == self.root / rel))


def _our_definitions(graph: Graph, ref_id: int) -> list[tuple[str, int, int, float, str]]:
    """(path, start, end, confidence, kind) of the definitions the graph gives for a
    reference, best first, as `repoqa def path:line:col` lists them."""
    conf = dict(graph.conn.execute("SELECT dst, max(confidence) FROM graph_edges WHERE ref = ? GROUP BY dst",
                                   (ref_id,)))
    out = []
    for nid in graph.targets_of(ref_id):
        n = graph.node(nid)
        out.append((n.path, n.line, n.end_line if n.qualname else 10**9, conf[nid], n.kind))
    return out


def _matches(ours: tuple, theirs: set[tuple[str, int, str]]) -> bool:
    path, start, end, _, kind = ours
    for tpath, tline, ttype in theirs:
        if tpath != path:
            continue
        if kind == "file" or ttype == "module":
            if kind == "file" and ttype == "module":
                return True
            continue
        if start <= tline <= end:
            return True
    return False


def definitions(graph: Graph, oracle: Oracle, n_sites: int, rng: random.Random) -> dict:
    # in a stable order (row ids change whenever a file is parsed again), then shuffled
    ids = [r[0] for r in graph.conn.execute(
        "SELECT r.id FROM refs r JOIN files f ON f.id = r.file_id WHERE f.language = 'python' "
        "AND f.skip_reason = '' AND r.name != '*' ORDER BY f.path, r.line, r.col, r.kind, r.name")]
    rng.shuffle(ids)
    stats = defaultdict(int)
    disagreements = []
    judged = 0
    t_ours = t_jedi = 0.0
    for rid in ids:
        if judged >= n_sites:
            break
        path, name, kind, line, col, scope = graph.conn.execute(
            "SELECT f.path, r.name, r.kind, r.line, r.col, r.scope FROM refs r JOIN files f ON f.id = r.file_id "
            "WHERE r.id = ?", (rid,)).fetchone()
        last = name.rsplit(".", 1)[-1]
        # the position of the last component of a dotted name (a.b.C -> C)
        jcol = oracle.column(path, line, col) + (len(name) - len(last) if "." in name and not scope else 0)
        t = time.perf_counter()
        try:
            theirs = oracle.goto(path, line, jcol)
        except Exception as exc:  # noqa: BLE001 -- jedi's own failures are not ours to score
            stats["jedi_errors"] += 1
            disagreements.append({"site": f"{path}:{line}:{col}", "name": name, "jedi_error": repr(exc)[:200]})
            continue
        t_jedi += time.perf_counter() - t
        t = time.perf_counter()
        ours = _our_definitions(graph, rid)
        t_ours += time.perf_counter() - t
        if not theirs:
            stats["jedi_no_local_answer"] += 1
            if ours:
                stats["we_answer_where_jedi_has_none"] += 1
            continue
        if all(t[2] == "local" for t in theirs):
            # a parameter or a function's local variable: not a node of the graph
            stats["jedi_answer_is_a_local"] += 1
            if ours:
                stats["we_answer_where_jedi_says_local"] += 1
            continue
        judged += 1
        best = max((o[3] for o in ours), default=0)
        resolved = [o for o in ours if o[3] >= 1.0]
        right = [o for o in ours if _matches(o, theirs)]
        stats["answered"] += bool(ours)
        stats["first_right"] += bool(ours) and _matches(ours[0], theirs)
        stats["answers"] += len(ours)
        stats["answers_right"] += len(right)
        stats["resolved_answers"] += len(resolved)
        stats["resolved_right"] += sum(1 for o in resolved if _matches(o, theirs))
        stats["sites_found"] += bool(right)
        stats["sites_found_resolved"] += any(_matches(o, theirs) for o in resolved)
        if not right or len(right) != len(ours):
            disagreements.append({
                "site": f"{path}:{line}:{col}", "name": name, "kind": kind, "scope": scope,
                "jedi": sorted(f"{p}:{ln} ({tp})" for p, ln, tp in theirs),
                "ours": [f"{p}:{a}-{b if b < 10**9 else ''} ({c:.2g})" for p, a, b, c, _ in ours],
                "best_confidence": best,
            })
    return {
        "sites_judged": judged,
        # what `repoqa def path:line:col` shows first
        "precision": _ratio(stats["first_right"], stats["answered"]),
        "recall": _ratio(stats["first_right"], judged),
        # every candidate it lists (guesses by name list several)
        "precision_all_candidates": _ratio(stats["answers_right"], stats["answers"]),
        "recall_any_candidate": _ratio(stats["sites_found"], judged),
        "precision_resolved": _ratio(stats["resolved_right"], stats["resolved_answers"]),
        "recall_resolved": _ratio(stats["sites_found_resolved"], judged),
        "counts": dict(stats),
        "ms_per_site_ours": round(1000 * t_ours / max(judged, 1), 3),
        "ms_per_site_jedi": round(1000 * t_jedi / max(judged, 1), 1),
        "disagreements": disagreements,
    }


def references(graph: Graph, oracle: Oracle, n_symbols: int, rng: random.Random) -> dict:
    rows = graph.conn.execute(
        "SELECT f.path, s.name, s.qualname, s.start_line, s.end_line, s.kind FROM symbols s "
        "JOIN files f ON f.id = s.file_id WHERE f.language = 'python' AND f.skip_reason = '' "
        "AND s.kind IN ('function', 'class', 'method') AND s.name NOT LIKE '\\_\\_%' ESCAPE '\\' "
        "AND EXISTS (SELECT 1 FROM refs r WHERE r.name = s.name) ORDER BY f.path, s.start_line, s.qualname"
    ).fetchall()
    rng.shuffle(rows)
    # path -> (line, name) of the references the index extracts: jedi's references are
    # compared where the index has a reference of that name (a call, an import, a base,
    # an annotation), not where the name is read as a value (`self.dimension`)
    site_lines = defaultdict(set)
    for p, ln, nm in graph.conn.execute("SELECT f.path, r.line, r.name FROM refs r JOIN files f ON f.id = r.file_id"):
        site_lines[p].add((ln, nm.rsplit(".", 1)[-1]))
    found = extracted = ours_n = ours_right = total = sure_n = sure_right = sure_found = 0
    per_symbol = []
    t_ours = t_jedi = 0.0
    for path, name, qual, start, end, kind in rows[:n_symbols]:
        lines = oracle.script(path) and oracle._lines[path]
        # the line of the name: after decorators, the first line holding `def name`/`class name`
        name_line = next((i for i in range(start, end + 1)
                          if f"def {name}" in lines[i - 1] or f"class {name}" in lines[i - 1]), start)
        col = lines[name_line - 1].find(name, lines[name_line - 1].find("def " if kind != "class" else "class "))
        t = time.perf_counter()
        try:
            theirs = {(p, ln) for p, ln, _ in oracle.references(path, name_line, col)}
        except Exception as exc:  # noqa: BLE001 -- as above
            per_symbol.append({"symbol": f"{path}::{qual}", "jedi_error": repr(exc)[:200]})
            continue
        t_jedi += time.perf_counter() - t
        t = time.perf_counter()
        node = [n for n in graph.find(f"{path}:{start}") if n.qualname == qual] or graph.find(path)
        locs = graph.references(node[0], limit=100_000)
        ours = {(loc.path, loc.line) for loc in locs}
        sure = {(loc.path, loc.line) for loc in locs if loc.resolution == "resolved"}
        t_ours += time.perf_counter() - t
        kept = {x for x in theirs if (x[1], name) in site_lines.get(x[0], ())}
        total += len(theirs)
        extracted += len(kept)
        found += len(kept & ours)
        ours_n += len(ours)
        ours_right += len(ours & theirs)
        sure_n += len(sure)
        sure_right += len(sure & theirs)
        sure_found += len(kept & sure)
        if ours != kept:
            per_symbol.append({"symbol": f"{path}::{qual}", "jedi": len(kept), "ours": len(ours),
                               "missed": sorted(f"{p}:{ln}" for p, ln in kept - ours)[:10],
                               "extra": sorted(f"{p}:{ln}" for p, ln in ours - theirs)[:10]})
    n = min(n_symbols, len(rows))
    return {
        "symbols": n,
        "precision": _ratio(ours_right, ours_n),
        "recall_of_extracted_sites": _ratio(found, extracted),
        "recall_of_all_jedi_references": _ratio(found, total),
        "precision_resolved": _ratio(sure_right, sure_n),
        "recall_resolved": _ratio(sure_found, extracted),
        "jedi_references": total, "jedi_references_at_extracted_sites": extracted, "ours": ours_n,
        "ms_per_symbol_ours": round(1000 * t_ours / max(n, 1), 2),
        "ms_per_symbol_jedi": round(1000 * t_jedi / max(n, 1), 1),
        "disagreements": per_symbol,
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--sites", type=int, default=400, help="reference sites to check go-to-definition at")
    ap.add_argument("--symbols", type=int, default=40, help="definitions to check find-references for")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    root = args.repo.resolve()
    t = time.perf_counter()
    summary = update_index(root, IndexOptions(), derived=[GraphIndex()])
    index_s = time.perf_counter() - t
    oracle = Oracle(root)
    rng = random.Random(args.seed)
    with Graph.open(root) as graph:
        defs = definitions(graph, oracle, args.sites, rng)
        refs = references(graph, oracle, args.symbols, rng)
    result = {
        "repo": root.name, "snapshot": summary.snapshot, "seed": args.seed, "index_seconds": round(index_s, 2),
        "definitions": defs, "references": refs,
    }
    out = write_result("graph_accuracy", root, result, args.out)
    print(f"{root.name} @ {summary.snapshot}")
    print(f"  go-to-definition, {defs['sites_judged']} sites jedi answers: precision {defs['precision']}, "
          f"recall {defs['recall']} (first answer); every candidate listed: precision "
          f"{defs['precision_all_candidates']}, recall {defs['recall_any_candidate']}; resolved answers "
          f"alone: precision {defs['precision_resolved']}, recall {defs['recall_resolved']}")
    print(f"  jedi had no in-repo answer at "
          f"{defs['counts'].get('jedi_no_local_answer', 0)} more, a local variable or parameter at "
          f"{defs['counts'].get('jedi_answer_is_a_local', 0)}")
    print(f"  find-references, {refs['symbols']} symbols: precision {refs['precision']} (resolved only "
          f"{refs['precision_resolved']}), recall "
          f"{refs['recall_of_extracted_sites']} of jedi's references at sites we extract "
          f"({refs['recall_of_all_jedi_references']} of all jedi's references)")
    print(f"  wrote {out}")


if __name__ == "__main__":
    main()
