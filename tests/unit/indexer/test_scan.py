"""Which files the scan lists: git's view inside a work tree, nested .gitignore outside."""

from __future__ import annotations

from conftest import git_repo, write_tree

from indexer.options import IndexOptions
from indexer.scan import find_root, scan


def listed(root, **options) -> dict[str, str]:
    return {e.path: e.skip_reason or e.language for e in scan(root, IndexOptions(**options))}


def test_walk_outside_git_honours_nested_gitignore_with_negations(tmp_path):
    write_tree(tmp_path, {
        ".gitignore": "*.log\nbuild/\n/secret.py\n",
        "keep.py": "x = 1\n",
        "secret.py": "x = 1\n",
        "app.log": "x\n",
        "build/out.py": "x = 1\n",
        "src/.gitignore": "!important.log\ngenerated_*.py\n",
        "src/important.log": "x\n",
        "src/other.log": "x\n",
        "src/generated_api.py": "x = 1\n",
        "src/deep/.gitignore": "!generated_ok.py\n",
        "src/deep/generated_ok.py": "x = 1\n",
        "src/deep/secret.py": "x = 1\n",  # /secret.py is anchored to the root
        ".git_not_really/x.py": "x = 1\n",
    })
    got = listed(tmp_path)
    assert set(got) == {
        ".gitignore", "keep.py", "src/.gitignore", "src/important.log", "src/deep/.gitignore",
        "src/deep/generated_ok.py", "src/deep/secret.py", ".git_not_really/x.py",
    }
    assert got["src/important.log"] == "unsupported"
    assert got["keep.py"] == "python"


def test_repoqaignore_and_exclude_apply_on_top(tmp_path):
    write_tree(tmp_path, {".repoqaignore": "docs/\n*.md\n!KEEP.md\n", "a.py": "", "docs/x.py": "",
                          "README.md": "", "KEEP.md": "", "tests/t.py": ""})
    assert set(listed(tmp_path)) == {".repoqaignore", "a.py", "KEEP.md", "tests/t.py"}
    assert set(listed(tmp_path, exclude=("tests/",))) == {".repoqaignore", "a.py", "KEEP.md"}


def test_git_lists_tracked_and_untracked_unignored(tmp_path):
    root = git_repo(tmp_path / "r", {".gitignore": "*.tmp\n", "tracked.py": "x = 1\n"})
    write_tree(root, {"untracked.py": "y = 2\n", "junk.tmp": "z\n", "nested/new.go": "package n\n"})
    (root / "tracked.py").unlink()  # tracked but deleted in the work tree
    got = listed(root)
    assert got == {".gitignore": "text", "untracked.py": "python", "nested/new.go": "go",
                   "tracked.py": "vanished"}


def test_git_paths_with_unicode_and_spaces(tmp_path):
    root = git_repo(tmp_path / "r", {"dir with space/naïve module.py": "x = 1\n"})
    assert listed(root) == {"dir with space/naïve module.py": "python"}


def test_find_root_prefers_an_index_then_git(tmp_path):
    root = git_repo(tmp_path / "r", {"a/b/c.py": "x = 1\n"})
    assert find_root(root / "a" / "b") == root.resolve()
    plain = tmp_path / "plain"
    write_tree(plain, {"sub/x.py": ""})
    assert find_root(plain / "sub") == (plain / "sub").resolve()
    (plain / ".repoqa").mkdir()
    (plain / ".repoqa" / "index.db").write_bytes(b"")
    assert find_root(plain / "sub") == plain.resolve()


def test_extensionless_scripts_need_a_shebang(tmp_path):
    from conftest import index, indexed_paths, skip_reasons

    write_tree(tmp_path, {"bin/tool": "#!/usr/bin/env python3\ndef main():\n    pass\n",
                          "bin/run": "#!/bin/sh\necho hi\n", "data/blob": "no shebang here\n"})
    index(tmp_path)
    assert indexed_paths(tmp_path) == {"bin/tool", "bin/run"}
    assert skip_reasons(tmp_path) == {"data/blob": "unsupported"}
