"""The localization benchmark's scoring, on hand-made rankings, and its record of the signals."""

from __future__ import annotations

import json
import subprocess

from conftest import index, write_tree

from benchmarks.fusion_tune import Task
from benchmarks.localization import (_function_hit, coverage, coverage_keys, edited_lines, extra_groups, kind_of, load,
                                     rank_modes, score, summarize)
from indexer.store import Store
from indexer.update import index_dir_for
from retrieval.search import DEFAULT_WEIGHTS, DEPTH, FusionWeights, Searcher, fuse_signals, rank_files


def test_rows_are_read_with_their_literals(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps({"repo": "a/b", "parent": "c0", "question": "q", "body": "",
                             "gold_files": "['x.py', 'y.py']", "gold_functions": "['x.py::F.g']",
                             "leak": "False"}) + "\n")
    (row,) = load(f)
    assert row["gold_files"] == ["x.py", "y.py"] and row["leak"] is False and row["body"] == ""
    assert kind_of(row) == "commit"
    assert kind_of({"base_commit": "c"}) == "swebench" and kind_of({"gold_function": "x"}) == "needle"


def test_file_and_function_scores():
    row = {"gold_files": ["a.py", "b.py"], "gold_functions": ["a.py::C.m"]}
    files = ["a.py", "z.py", "b.py"] + [f"f{i}.py" for i in range(10)]
    s = score("commit", row, files, ["z.py::q", "a.py::C", "a.py::C.m"])
    assert (s["file_acc@1"], s["file_acc@5"], s["file_rr"]) == (False, True, 1.0)  # all gold files by 5
    assert (s["func_acc@1"], s["func_acc@5"]) == (False, True)  # a.py::C holds the gold method
    assert not _function_hit(["a.py::Cx"], {"a.py::C"}, 5)  # a prefix of the name is not the unit
    assert summarize([s, {**s, "file_rr": 0.0}])["file_mrr"] == 0.5


def test_changes_to_several_files_are_also_reported_apart():
    assert extra_groups("commit", {"gold_files": ["a.py", "b.py"]}) == ["commit:multi-file"]
    assert extra_groups("swebench", {"gold_files": ["a.py", "b.py"]}) == ["swebench:multi-file"]
    assert extra_groups("commit", {"gold_files": ["a.py"]}) == []
    assert extra_groups("needle", {"gold_file": "a.py", "gold_files": ["a.py", "b.py"]}) == []


def _git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def test_a_commits_edited_lines_are_its_hunks_in_the_parent_with_context(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    old = [f"line {i}" for i in range(1, 41)]
    (repo / "a.py").write_text("\n".join(old) + "\n")
    (repo / "b.py").write_text("x = 1\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "one")
    parent = _git(repo, "rev-parse", "HEAD")
    new = old[:]
    new[4] = "changed 5"  # one line changed: lines 2-8 with context
    new[30:32] = []  # lines 31-32 removed: 28-35
    new.insert(20, "inserted after 20")  # an insertion: the context around it, 18-23
    (repo / "a.py").write_text("\n".join(new) + "\n")
    (repo / "b.py").write_text("x = 2\n")
    _git(repo, "commit", "-q", "-am", "two")
    commit = _git(repo, "rev-parse", "HEAD")
    got = edited_lines(repo, parent, commit, ["a.py", "missing.py"])
    assert got == {"a.py": [(2, 8), (18, 23), (28, 35)]}  # only the paths asked; a missing one has none
    assert edited_lines(repo, parent, "no-such-commit", ["a.py"]) == {}


def test_bundle_coverage_is_reported_for_the_edited_lines_and_for_whole_functions():
    keys = list(coverage_keys({8000: [1, 4], 32000: [3, 4]}, {"8000": [10, 100], "32000": [50, 100]}))
    assert keys == [("bundle_8k", (1, 4)), ("bundle_32k", (3, 4)), ("bundle_8k_functions", (10, 100)),
                    ("bundle_32k_functions", (50, 100))]
    assert list(coverage_keys({8000: [0, 0]}, {})) == [("bundle_8k", (0, 0))]
    # pooled over lines, and per task (a task with no gold lines counts in neither)
    assert coverage([(3, 4), (50, 100), (0, 0)]) == {"gold_lines": 0.5096, "per_task": 0.625}


def test_the_recorded_signals_replay_the_live_file_ranking(tmp_path):
    """What --signals-out keeps is enough for benchmarks.fusion_tune to rank the files as the
    live search did, the question's scope included."""
    write_tree(tmp_path, {
        "core/columns.py": ("def pad_column(text, width):\n    return text.ljust(width)\n\n\n"
                            "def column_width(rows):\n    return max(len(r) for r in rows)\n"),
        "printer/table.py": "def render(rows):\n    width = 10\n    return [r.rjust(width) for r in rows]\n",
        "printer/util.py": "def column(rows, i):\n    return [r[i] for r in rows]\n",
    })
    index(tmp_path)
    out = rank_modes(tmp_path, "printer: pad each column to its width", ["lexical", "hybrid"], None, ({}, {}))
    row = {**json.loads(json.dumps(out["_signals"])), "kind": "commit", "repo": "o/r", "id": "c",
           "gold_files": ["printer/table.py"], "gold_functions": ["printer/table.py::render"]}
    assert row["scopes"] == ["printer"]
    task = Task(row)

    def replayed(weights):
        return [f.path for f in rank_files(fuse_signals(task.sig, weights), task.paths, task.sig, weights)]

    assert out["hybrid"][0] == replayed(DEFAULT_WEIGHTS) and out["hybrid"][0][0].startswith("printer/")
    assert replayed(FusionWeights(scope=0.0))[0] == "core/columns.py"  # the recorded scope decides it
    # each ranking's scores are kept beside its ids (score-aware fusion can be replayed too) ...
    live = Searcher(Store.open_reader(index_dir_for(tmp_path))).signals(
        "printer: pad each column to its width", DEPTH, "hybrid")
    lexical = [(c, round(float(v), 6)) for c, v in live.rankings["lexical"]]
    assert len(lexical) > 1 and lexical[0][1] > lexical[-1][1] > 0
    assert task.sig.rankings["lexical"] == lexical
    # ... and a row recorded before they were still replays, by rank alone
    del row["scores"]
    assert [v for _, v in Task(row).sig.rankings["lexical"]] == [0.0] * len(lexical)


def test_a_second_run_on_the_same_work_tree_stops_before_moving_it(tmp_path):
    """The benchmark checks its trees out commit by commit: while one run holds a tree, a
    second stops with a clear error and leaves the tree where it was; once the first is done,
    the same run goes through."""
    import os
    import sys
    from pathlib import Path

    from benchmarks.localization import TREE_LOCK
    from indexer.lock import WriterLock

    repo = tmp_path / "repos" / "o+r"
    repo.mkdir(parents=True)
    for args in (("init", "-q"), ("config", "user.email", "t@example.com"), ("config", "user.name", "t")):
        _git(repo, *args)
    (repo / "cart.py").write_text("def total(items):\n    return sum(items)\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "one")
    parent = _git(repo, "rev-parse", "HEAD")
    (repo / "cart.py").write_text("def total(items):\n    return sum(i.price for i in items)\n")
    _git(repo, "commit", "-q", "-am", "Sum the items' prices in the cart total")
    commit = _git(repo, "rev-parse", "HEAD")
    data = tmp_path / "commits.jsonl"
    data.write_text(json.dumps({"repo": "o/r", "commit": commit, "parent": parent,
                                "question": "Sum the items' prices in the cart total", "gold_files": ["cart.py"],
                                "gold_functions": ["cart.py::total"]}) + "\n")
    run = [sys.executable, "-m", "benchmarks.localization", "--data", str(data), "--repos", str(tmp_path / "repos"),
           "--out", str(tmp_path / "out.json")]
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    with WriterLock(index_dir_for(repo), name=TREE_LOCK):
        busy = subprocess.run(run, capture_output=True, text=True, env=env, cwd=root)
        assert busy.returncode != 0 and "running a localization benchmark on this work tree" in busy.stderr
        assert _git(repo, "rev-parse", "HEAD") == commit and not (tmp_path / "out.json").exists()
    done = subprocess.run(run, capture_output=True, text=True, env=env, cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "out.json").read_text())
    assert [t["id"] for t in result["tasks"]] == [commit] and _git(repo, "rev-parse", "HEAD") == parent
