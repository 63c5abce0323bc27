"""update_index(paths=...): what a watcher calls with the paths it saw change."""

from __future__ import annotations

import shutil

from conftest import git_repo, index, indexed_paths, reader, write_tree

from graph.build import GraphIndex
from indexer.options import IndexOptions
from indexer.update import update_index

FILES = {
    ".gitignore": "build/\n",
    "pkg/a.py": "def alpha():\n    return 1\n",
    "pkg/b.py": "from pkg.a import alpha\n\ndef beta():\n    return alpha()\n",
    "lib/c.py": "def gamma():\n    return 3\n",
}


def update(root, paths):
    return update_index(root, IndexOptions(workers=1), derived=[GraphIndex()], paths=paths)


def symbols(root):
    store = reader(root)
    try:
        return {q for (q,) in store.conn.execute("SELECT qualname FROM symbols")}
    finally:
        store.close()


def test_only_the_given_paths_are_looked_at(tmp_path):
    git_repo(tmp_path, FILES)
    index(tmp_path)
    write_tree(tmp_path, {"pkg/a.py": "def alpha2():\n    return 1\n",
                          "lib/c.py": "def gamma2():\n    return 3\n"})
    s = update(tmp_path, ["pkg/a.py"])
    assert (s.files_seen, s.files_parsed) == (1, 1)
    assert "alpha2" in symbols(tmp_path) and "gamma" in symbols(tmp_path)  # c.py not looked at
    s = update(tmp_path, ["lib"])  # a directory stands for what is under it
    assert s.files_parsed == 1 and "gamma2" in symbols(tmp_path)


def test_deletions_moves_and_ignored_paths(tmp_path):
    git_repo(tmp_path, FILES)
    index(tmp_path)
    (tmp_path / "pkg/b.py").unlink()
    s = update(tmp_path, ["pkg/b.py"])
    assert s.files_removed == 1 and "pkg/b.py" not in indexed_paths(tmp_path)
    shutil.move(tmp_path / "lib", tmp_path / "src")  # a directory move: both ends reported
    s = update(tmp_path, ["lib", "src"])
    assert (s.files_removed, s.files_parsed) == (1, 1)
    assert {"src/c.py", "pkg/a.py"} <= indexed_paths(tmp_path) and "lib/c.py" not in indexed_paths(tmp_path)
    write_tree(tmp_path, {"build/out.py": "def built():\n    pass\n", "new.py": "def fresh():\n    pass\n"})
    s = update(tmp_path, ["build/out.py", "new.py"])
    assert "build/out.py" not in indexed_paths(tmp_path)  # ignored by .gitignore, as in a full scan
    assert "fresh" in symbols(tmp_path)


def test_outside_git_the_whole_tree_is_scanned(tmp_path):
    write_tree(tmp_path, FILES)
    index(tmp_path)
    write_tree(tmp_path, {"lib/c.py": "def gamma2():\n    return 3\n"})
    s = update(tmp_path, ["pkg/a.py"])
    assert s.files_seen == 4 and "gamma2" in symbols(tmp_path)


def test_paths_are_normalized_and_ignore_rules_rescan(tmp_path):
    git_repo(tmp_path, FILES)
    index(tmp_path)
    write_tree(tmp_path, {"pkg/a.py": "def alpha3():\n    return 1\n"})
    for spelling in ("./pkg/a.py", "pkg/../pkg/a.py", "pkg//a.py", str(tmp_path / "pkg/a.py")):
        update(tmp_path, [spelling])  # no duplicate rows, no error
    assert "alpha3" in symbols(tmp_path)
    assert update(tmp_path, ["../elsewhere.py"]).files_seen == 0
    write_tree(tmp_path, {"lib/untracked.py": "def loose():\n    pass\n"})
    update(tmp_path, ["lib/untracked.py"])
    assert "lib/untracked.py" in indexed_paths(tmp_path)
    write_tree(tmp_path, {".gitignore": "build/\nlib/untracked.py\n"})  # ignored from now on
    s = update(tmp_path, [".gitignore"])  # the rules reach every file: a whole scan
    assert "lib/untracked.py" not in indexed_paths(tmp_path) and s.files_seen > 1
    assert "lib/c.py" in indexed_paths(tmp_path)  # tracked: git still lists it, as a full scan does
