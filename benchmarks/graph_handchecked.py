"""Go-to-definition of the graph, scored against a hand-checked sample of reference sites.

    python -m benchmarks.graph_handchecked --data benchmarks/data/graph_handchecked-<name>.json \
        --repo PATH [--out FILE]

The data file names a repository, the commit it was read at, and sites (path, line, 0-based
byte column, name, kind) whose true definition someone wrote down by reading the code:
`{"path", "line"}` for a definition in the repository (`{"path"}` alone: the file itself;
`also`: more lines of the same symbol, such as its other overload signatures; `local`: a
parameter, type parameter or function-local variable, which is no node of the graph),
"external" for a package, global or builtin, "unknown" where only a type checker could tell.

Ours is what `repoqa def path:line:col` shows first there (Graph.at): nothing when the
reference at the site has no edge. Right when that node is in the expected file and spans the
expected line (a file node only for a file-level expectation).
Precision = right / sites we answer, over the sites whose truth is known (answers at
"external" and local sites are wrong, answers at "unknown" sites are listed, not scored).
Recall = right / sites with a definition in the repository that is a node (not local).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import write_result
from graph.build import GraphIndex
from graph.model import resolution
from graph.query import Graph, Node
from indexer.options import IndexOptions
from indexer.update import update_index


def _head(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def _category(expected: object) -> str:
    if expected in ("external", "unknown"):
        return str(expected)
    if not isinstance(expected, dict) or "path" not in expected:
        raise ValueError(f"bad expectation: {expected!r}")
    return "local" if expected.get("local") else "in_repo"


def _right(node: Node, expected: dict) -> bool:
    if node.path != expected["path"]:
        return False
    if "line" not in expected:  # the file itself
        return node.qualname == ""
    if node.qualname == "":
        return False  # the file, where a definition in it was expected: not go-to-definition
    lines = [expected["line"], *expected.get("also", ())]
    return any(node.line <= ln <= node.end_line for ln in lines)


def _answer(graph: Graph, site: dict) -> tuple[list[Node], str] | None:
    """Our answers at a site, best first, and the resolution of the first; none when the
    reference there has no edge (Graph.at would then give the enclosing definition).
    None when the index has no such reference: the sample no longer fits the indexer."""
    rows = graph.conn.execute(
        "SELECT r.id, EXISTS (SELECT 1 FROM graph_edges e WHERE e.ref = r.id) FROM refs r "
        "JOIN files f ON f.id = r.file_id WHERE f.path = ? AND r.line = ? AND r.col = ? AND r.name = ? "
        "ORDER BY r.kind = ? DESC",
        (site["path"], site["line"], site["col"], site["name"], site["kind"])).fetchall()
    if not rows:
        return None
    ref = next((rid for rid, linked in rows if linked), None)
    if ref is None:
        return [], ""
    nodes = graph.nodes(graph.at(site["path"], site["line"], site["col"]))
    conf = graph.conn.execute("SELECT max(confidence) FROM graph_edges WHERE ref = ? AND dst = ?",
                              (ref, nodes[0].id)).fetchone()[0] if nodes else None
    return nodes, resolution(conf) if conf is not None else ""


def _describe(expected: object) -> str:
    if not isinstance(expected, dict):
        return str(expected)
    out = expected["path"] + (f":{expected['line']}" if "line" in expected else "")
    if expected.get("also"):
        out += f" (or {', '.join(map(str, expected['also']))})"
    return out + (" (local)" if expected.get("local") else "")


def score(graph: Graph, sites: list[dict]) -> dict:
    by_cat: dict[str, Counter] = {c: Counter() for c in ("in_repo", "local", "external", "unknown")}
    by_res: dict[str, Counter] = {}  # first answer's resolution -> answered / right
    disagreements = []
    missing: list[str] = []  # sites the index no longer extracts a reference at (scored as unanswered)
    for s in sites:
        cat = _category(s["expected"])
        got = _answer(graph, s)
        if got is None:
            missing.append(f"{s['path']}:{s['line']}:{s['col']} {s['name']} ({s['kind']})")
            got = [], ""
        nodes, res = got
        right = bool(nodes) and cat == "in_repo" and _right(nodes[0], s["expected"])
        c = by_cat[cat]
        c["sites"] += 1
        c["answered"] += bool(nodes)
        c["right"] += right
        if cat == "in_repo":
            c["right_among_candidates"] += any(_right(n, s["expected"]) for n in nodes)
        if nodes and cat != "unknown":
            r = by_res.setdefault(res, Counter())
            r["answered"] += 1
            r["right"] += right
        if right or (cat != "in_repo" and not nodes):
            continue
        disagreements.append({
            "site": f"{s['path']}:{s['line']}:{s['col']}", "name": s["name"], "kind": s["kind"],
            "category": cat, "expected": _describe(s["expected"]),
            "ours": [f"{n.path}:{n.line}-{n.end_line} {n.qualname or '(file)'}" for n in nodes[:5]],
            "resolution": res, "note": s.get("note", ""),
        })
    judged = [c for k, c in by_cat.items() if k != "unknown"]
    answered = sum(c["answered"] for c in judged)
    right = sum(c["right"] for c in judged)
    return {
        "sites": len(sites),
        "precision": _ratio(right, answered),
        "recall": _ratio(by_cat["in_repo"]["right"], by_cat["in_repo"]["sites"]),
        "recall_any_candidate": _ratio(by_cat["in_repo"]["right_among_candidates"], by_cat["in_repo"]["sites"]),
        "answered": answered, "right": right,
        "categories": {k: {"sites": c["sites"], "answered": c["answered"], "right": c["right"], **c}
                       for k, c in by_cat.items()},
        "by_resolution": {k: {**c, "precision": _ratio(c["right"], c["answered"])} for k, c in sorted(by_res.items())},
        "sites_without_reference": missing,
        "disagreements": disagreements,
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="the hand-checked sample (JSON)")
    ap.add_argument("--repo", type=Path, required=True, help="a work tree of the repository it was read from")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    data = json.loads(args.data.read_text())
    root = args.repo.resolve()
    head = _head(root)
    if head != data["commit"]:
        print(f"warning: {root} is at {head or 'no git commit'}, the sample was read at {data['commit']}; "
              "the expected lines may not hold", file=sys.stderr)
    t = time.perf_counter()
    summary = update_index(root, IndexOptions(), derived=[GraphIndex()])
    index_s = time.perf_counter() - t
    with Graph.open(root) as graph:
        res = score(graph, data["sites"])
    result = {"repo": data["repo"], "url": data.get("url", ""), "commit": data["commit"], "head": head,
              "snapshot": summary.snapshot, "data": str(args.data), "index_seconds": round(index_s, 2), **res}
    out = write_result("graph_handchecked", root, result, args.out)

    cats = res["categories"]
    print(f"{data['repo']} @ {(head or '?')[:12]}: {res['sites']} hand-checked sites")
    print(f"  precision {res['precision']} ({res['right']}/{res['answered']} answered), recall {res['recall']} "
          f"({cats['in_repo']['right']}/{cats['in_repo']['sites']}); any candidate right: "
          f"{res['recall_any_candidate']}")
    print(f"  {'expected':<10} {'sites':>5} {'answered':>8} {'right':>5}")
    for k, c in cats.items():
        print(f"  {k:<10} {c.get('sites', 0):>5} {c.get('answered', 0):>8} "
              f"{c.get('right', 0) if k == 'in_repo' else '-':>5}")
    for k, c in res["by_resolution"].items():
        print(f"  first answer {k}: {c['right']}/{c['answered']} right")
    if res["sites_without_reference"]:
        print(f"  warning: no reference extracted at {len(res['sites_without_reference'])} sites: "
              + ", ".join(res["sites_without_reference"]))
    if res["disagreements"]:
        print("  disagreements:")
    for d in res["disagreements"]:
        ours = "; ".join(d["ours"]) or "nothing"
        print(f"    {d['site']} {d['name']} ({d['kind']}): expected {d['expected']}, ours {ours}"
              f"{' [' + d['resolution'] + ']' if d['resolution'] else ''}")
    print(f"  wrote {out}")


if __name__ == "__main__":
    main()
