"""Choose the fusion weights on one half of the tasks and report them on the other.

    python -m benchmarks.fusion_tune --signals FILE [--signals FILE ...] [--out FILE]

FILE: what `benchmarks.localization --signals-out` kept of each task (every signal's ranking
of chunk ids and their scores, with each chunk's path and symbol, and the gold). Fusion is replayed from
those rankings, so a weight setting costs milliseconds, not a re-index. Tasks are split in
two halves by a hash of their id; coordinate descent over a grid of each weight (a change kept only when it gains at least
MIN_GAIN) maximises
the mean of file Acc@1, file Acc@5, file MRR and function Acc@10 (per dataset kind, the
kinds weighted alike) on the first half (the
tuning half); the chosen weights are then scored on the second (held-out) half, beside the
defaults and the BM25-only and dense-only baselines. One limit: the graph signal's seeds were
computed with the weights of the run that recorded them.
"""

from __future__ import annotations

import argparse
import json
import zlib
from collections import defaultdict
from dataclasses import asdict, replace
from pathlib import Path

from benchmarks.common import RESULTS, write_result
from benchmarks.localization import baseline, extra_groups, score, summarize
from graph.model import is_test_path
from indexer.languages import SHEBANG, language_for
from indexer.options import IndexOptions
from retrieval.search import DEFAULT_WEIGHTS, FusionWeights, Signals, fuse_signals, is_peripheral, rank_files

GRID = {
    "dense": (0.0, 0.5, 1.0, 1.5, 2.0),
    "symbol": (0.0, 0.5, 1.0, 2.0, 3.0),
    "usage": (0.0, 0.25, 0.5, 1.0, 2.0),
    "path": (0.0, 0.5, 1.0, 2.0, 3.0),
    "message": (0.0, 0.5, 1.0, 2.0),
    "graph": (0.0, 0.15, 0.3, 0.6, 1.0),
    "name": (0.0, 0.5, 1.0, 1.5, 2.0),
    "file_lexical": (0.0, 0.5, 1.0, 2.0, 3.0),
    "title": (0.0, 0.25, 0.5, 1.0, 2.0),
    "crash": (0.0, 0.5, 1.0, 2.0, 3.0),
    "scope": (0.0, 0.5, 1.0, 2.0, 3.0),
    "docs": (0.2, 0.35, 0.5, 0.75, 1.0),
    "tests": (0.3, 0.5, 0.7, 0.85, 1.0),
    "file_decay": (0.0, 0.25, 0.5, 0.75),
    "k": (10.0, 30.0, 60.0, 100.0),
}
_OPTIONS = IndexOptions()


def _prose_path(path: str) -> bool:
    """Whether the index reads the file as text (older signal files do not record which
    chunks live search counted as prose; a file with no suffix counts as a script)."""
    return is_peripheral(path) or language_for(path, _OPTIONS.languages, True) in ("text", SHEBANG)


METRICS = ("file_acc@1", "file_acc@5", "file_mrr", "func_acc@10")


def half(row: dict) -> int:
    """0 or 1, by a hash of what makes a task unique (needles share their commit)."""
    key = "|".join([row["repo"], str(row["id"]), *row["gold_functions"], *row["gold_files"]])
    return zlib.crc32(key.encode()) % 2


class Task:
    def __init__(self, row: dict):
        self.row = row
        self.kind = "needle" if row["kind"].startswith("needle") else row["kind"].split("-")[0]
        self.group = row["kind"]
        chunks = {int(c): v for c, v in row["chunks"].items()}
        self.paths = {c: p for c, (p, _) in chunks.items()}
        self.symbols = {c: s for c, (_, s) in chunks.items()}
        scores = row.get("scores", {})  # older signal files kept the rankings only
        self.sig = Signals(rankings={n: list(zip(r, scores.get(n) or [0.0] * len(r), strict=True))
                                     for n, r in row["rankings"].items()},
                           files=row.get("files", {}),
                           file_rankings=row.get("file_rankings", {}),
                           prose_files=set(row.get("prose_files", [])), scopes=row.get("scopes", []),
                           prose=set(row["prose"]) if "prose" in row else
                           {c for c, p in self.paths.items() if _prose_path(p)},
                           tests={c for c, p in self.paths.items() if is_test_path(p)})
        self.gold = ({"gold_file": row["gold_files"][0], "gold_function": row["gold_functions"][0]}
                     if self.kind == "needle" else {"gold_files": row["gold_files"],
                                                     "gold_functions": row["gold_functions"]})

    def evaluate(self, w: FusionWeights) -> dict:
        fused = fuse_signals(self.sig, w)
        files = [f.path for f in rank_files(fused, self.paths, self.sig, w)]
        units: list[str] = []
        for f in fused:
            for q in (self.symbols.get(f.chunk_id) or "").split():
                u = f"{self.paths[f.chunk_id]}::{q}"
                if u not in units:
                    units.append(u)
        return score(self.kind, self.gold, files, units)


def objective(tasks: list[Task], w: FusionWeights) -> float:
    """The mean of the metrics, per dataset kind, then over the kinds: each kind counts the
    same however many tasks it has."""
    per: dict[str, list[dict]] = defaultdict(list)
    for t in tasks:
        per[t.kind].append(t.evaluate(w))
    means = []
    for scores in per.values():
        s = summarize(scores)
        vals = [float(s[m.replace("_rr", "_mrr")]) for m in METRICS if m.replace("_rr", "_mrr") in s]
        means.append(sum(vals) / len(vals))
    return sum(means) / len(means) if means else 0.0


MIN_GAIN = 0.003  # a change must gain this much on the tuning half: smaller gains are noise


def tune(tasks: list[Task], start: FusionWeights, passes: int = 2) -> tuple[FusionWeights, float]:
    best, best_obj = start, objective(tasks, start)
    for _ in range(passes):
        improved = False
        for name, values in GRID.items():
            for v in values:
                cand = replace(best, **{name: v})
                obj = objective(tasks, cand)
                if obj > best_obj + MIN_GAIN:
                    best, best_obj, improved = cand, obj, True
        if not improved:
            break
    return best, best_obj


def report(tasks: list[Task], w: FusionWeights) -> dict:
    groups: dict[str, list[dict]] = defaultdict(list)
    for t in tasks:
        s = t.evaluate(w)
        groups[t.group].append(s)
        groups[t.kind + ":all"].append(s)
        groups["all"].append(s)
        for g in extra_groups(t.kind, t.row):
            groups[g].append(s)
    return {g: summarize(v) for g, v in sorted(groups.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--signals", type=Path, action="append", required=True)
    ap.add_argument("--out", type=Path, default=RESULTS / "fusion_tune.json")
    args = ap.parse_args()
    tasks = [Task(json.loads(line)) for f in args.signals for line in f.read_text().splitlines() if line.strip()]
    tuning = [t for t in tasks if half(t.row) == 0]
    held = [t for t in tasks if half(t.row) == 1]
    chosen, obj = tune(tuning, DEFAULT_WEIGHTS)
    settings = {"chosen": chosen, "default": DEFAULT_WEIGHTS, "lexical": baseline("lexical"),
                "dense": baseline("dense")}
    result = {"tasks": len(tasks), "tuning_tasks": len(tuning), "held_out_tasks": len(held),
              "signals": [str(f) for f in args.signals], "tuning_objective": round(obj, 4),
              "weights": {k: asdict(v) for k, v in settings.items()},
              "held_out": {k: report(held, v) for k, v in settings.items()},
              "tuning_half": {k: report(tuning, v) for k, v in settings.items()}}
    out = write_result("fusion_tune", Path("all"), result, args.out)
    print(f"{len(tasks)} tasks: {len(tuning)} to tune on, {len(held)} held out; wrote {out}")
    print("chosen:", {k: v for k, v in asdict(chosen).items() if v != getattr(DEFAULT_WEIGHTS, k)})
    for name, groups in result["held_out"].items():
        for g in ("all", "swebench:all", "commit:all", "needle:all"):
            if g in groups:
                s = groups[g]
                print(f"  held-out {name:<8} {g:<13} " + "  ".join(
                    f"{k} {s[k]}" for k in ("tasks", "file_acc@1", "file_acc@5", "file_acc@10", "file_mrr",
                                            "func_acc@1", "func_acc@5", "func_acc@10") if k in s))


if __name__ == "__main__":
    main()
