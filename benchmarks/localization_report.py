"""One table from several `benchmarks.localization` results (one per repository).

    python -m benchmarks.localization_report FILE [FILE ...] [--out FILE]

Re-scores every task of the given results together, per dataset kind (swebench, commit,
needle; leak tasks apart and within their kind) and overall, for each mode, and prints a
Markdown table; bundle coverage is the share of all gold lines inside the bundles (and of
the gold functions' lines, `bundle_*_functions`: a task that records none has the same
lines for both). Writes the merged summary as JSON.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from benchmarks.common import RESULTS, write_result
from benchmarks.localization import coverage, coverage_keys, summarize

COLUMNS = ("tasks", "file_acc@1", "file_acc@5", "file_acc@10", "file_mrr", "func_acc@1", "func_acc@5",
           "func_acc@10", "bundle_8k", "bundle_32k", "bundle_32k_functions")


def merge(results: list[dict]) -> dict[str, dict[str, dict]]:
    scores: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    covers: dict[str, dict[str, dict[str, list]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for res in results:
        for task in res["tasks"]:
            group = task["kind"]
            kind = group.split("-")[0]
            for mode in res["modes"]:
                if mode not in task:
                    continue
                s = {k: v for k, v in task[mode].items() if k not in ("top_files", "bundle", "bundle_functions")}
                bundle = task[mode].get("bundle", {})
                keyed = list(coverage_keys(bundle, task[mode].get("bundle_functions", bundle)))
                for g in {group, f"{kind}:all", "all"}:
                    scores[mode][g].append(s)
                    for key, c in keyed:
                        covers[mode][g][key].append(c)
    out: dict[str, dict[str, dict]] = {}
    for mode, groups in scores.items():
        out[mode] = {}
        for g, v in sorted(groups.items()):
            out[mode][g] = summarize(v)
            for key, cs in sorted(covers[mode][g].items()):
                out[mode][g][key] = coverage(cs)["gold_lines"]
    return out


def table(summary: dict[str, dict[str, dict]]) -> str:
    lines = ["| mode | group | " + " | ".join(COLUMNS) + " |", "|" + "---|" * (len(COLUMNS) + 2)]
    for mode, groups in summary.items():
        for g, s in groups.items():
            lines.append(f"| {mode} | {g} | " + " | ".join(
                str(s.get(c.replace("_rr", "_mrr"), "")) for c in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, default=RESULTS / "localization-all.json")
    args = ap.parse_args()
    results = [json.loads(p.read_text()) for p in args.results]
    summary = merge(results)
    write_result("localization_report", Path("all"), {
        "results": [str(p) for p in args.results], "repos": sorted({r for res in results for r in res["repos"]}),
        "weights": results[-1].get("weights", {}), "summary": summary}, args.out)
    print(table(summary))


if __name__ == "__main__":
    main()
