"""The localization benchmark's scoring, on hand-made rankings."""

from __future__ import annotations

import json

from benchmarks.localization import _function_hit, extra_groups, kind_of, load, score, summarize


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
