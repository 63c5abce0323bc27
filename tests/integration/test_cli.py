"""The `repoqa` command line, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import repoqa, repoqa_json, write_tree

INDEX_KEYS = {"files_seen", "files_parsed", "files_unchanged", "files_removed", "files_skipped",
              "symbols", "references", "chunks", "seconds"}


def test_index_json_then_noop(py_repo):
    first = repoqa_json("index", str(py_repo))
    assert INDEX_KEYS | {"chunks_embedded", "chunks_reused", "vectors"} <= set(first)
    assert (first["files_seen"], first["files_parsed"], first["files_skipped"]) == (4, 4, {})
    assert first["chunks_embedded"] == first["chunks"] and first["chunks_reused"] == 0
    again = repoqa_json("index", str(py_repo))
    assert (again["files_parsed"], again["files_unchanged"]) == (0, 4)
    assert (again["chunks_embedded"], again["chunks_reused"], again["vectors"]) == (0, 0, first["vectors"])


def test_index_human_summary(py_repo):
    res = repoqa("index", str(py_repo))
    assert res.returncode == 0, res.stderr
    line, graph, embedded = res.stdout.strip().splitlines()
    assert line.startswith(f"Indexed {py_repo.resolve()}")
    assert graph.startswith("Graph (full): ") and "references resolved" in graph
    assert embedded.startswith("Embedded ") and "with all-MiniLM-L6-v2 into faiss:" in embedded
    for part in ("4 files seen", "4 parsed", "0 unchanged", "0 removed", "0 skipped", "symbols",
                 "references", "chunks", " s"):
        assert part in line


def test_search_from_inside_the_repository_and_with_repo(py_repo):
    repoqa("index", str(py_repo), "--no-embed", check=True)
    from_cwd = repoqa_json("search", "retry status", cwd=py_repo / "pkg")
    with_flag = repoqa_json("--repo", str(py_repo), "search", "retry status")
    assert from_cwd == with_flag
    top = from_cwd[0]
    assert {"path", "start_line", "end_line", "symbol", "score"} <= set(top)
    assert (top["path"], top["symbol"]) == ("pkg/http.py", "RetryPolicy")
    human = repoqa("search", "retry status", cwd=py_repo, check=True).stdout
    assert "pkg/http.py:12-14" in human and "status >= 500" in human


def test_status_fresh_stale_and_other_options(py_repo):
    repoqa("index", str(py_repo), "--no-embed", check=True)
    st = repoqa_json("status", str(py_repo))
    assert st["state"] == "fresh"
    assert st["languages"] == {"python": 3, "text": 1}
    assert st["counts"]["files"] == 4 and not st["dirty"]
    assert len(st["commit"]) == 40 and st["format_version"] == st["current_format_version"]
    write_tree(py_repo, {"pkg/extra.py": "def extra():\n    pass\n"})
    (py_repo / "README.md").unlink()
    st = repoqa_json("status", str(py_repo))
    assert (st["state"], st["added"], st["removed"], st["changed"]) == ("stale", 1, 1, 0)
    human = repoqa("status", cwd=py_repo, check=True).stdout
    assert "stale: 0 changed, 1 added, 1 removed" in human

    write_tree(py_repo, {"repoqa.toml": "[index]\nchunk_max_tokens = 128\n"})
    st = repoqa_json("status", str(py_repo))
    assert st["state"] == "other-options"
    res = repoqa("search", "retry", cwd=py_repo)
    assert res.returncode == 1 and res.stderr.startswith("Error: the index was built with other options")
    res = repoqa("index", "--no-embed", cwd=py_repo)
    assert res.returncode == 0 and "Rebuilt the index: built with other options." in res.stderr


def test_errors_exit_1_and_usage_errors_exit_2(tmp_path):
    res = repoqa("index", str(tmp_path / "nope"))
    assert res.returncode == 1 and res.stderr.strip() == f"Error: {tmp_path / 'nope'} does not exist"
    (tmp_path / "afile").write_text("x")
    for args in (("--repo", str(tmp_path / "afile"), "search", "x"), ("status", str(tmp_path / "afile"))):
        res = repoqa(*args)  # a file where a repository is wanted: the same error either way
        assert res.returncode == 1 and res.stderr.strip() == f"Error: {tmp_path / 'afile'} is not a directory", args
    res = repoqa("search", "anything", cwd=tmp_path)
    assert res.returncode == 1 and "run `repoqa index` first" in res.stderr
    res = repoqa("status", str(tmp_path))
    assert res.returncode == 1 and res.stderr.startswith("Error: no index")
    assert repoqa("search", cwd=tmp_path).returncode == 2
    assert repoqa("index", "--workers", "many").returncode == 2
    assert repoqa("frobnicate").returncode == 2
    write_tree(tmp_path, {"repoqa.toml": "[index]\nchunk_max_tokens = 'big'\n"})
    res = repoqa("index", str(tmp_path))
    assert res.returncode == 1 and "chunk_max_tokens: expected an integer" in res.stderr


def test_environment_overrides_config(py_repo):
    write_tree(py_repo, {"repoqa.toml": "[index]\nmax_file_bytes = 1000000\n"})
    res = subprocess.run([sys.executable, "-m", "service.cli", "index", str(py_repo), "--json", "--no-embed"],
                         capture_output=True, text=True, env={**os.environ, "REPOQA_MAX_FILE_BYTES": "100"})
    out = json.loads(res.stdout)
    assert out["files_skipped"] == {"too_large": 2}  # pkg/http.py and pkg/client.py exceed 100 bytes


def test_help_lists_the_commands():
    res = repoqa("--help", check=True)
    for cmd in ("index", "status", "search"):
        assert cmd in res.stdout
