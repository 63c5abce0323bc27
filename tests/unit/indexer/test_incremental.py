"""Incremental indexing: exactly the changed files are re-parsed or removed."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import git, index, indexed_paths, reader, write_tree

from indexer.options import IndexOptions
from indexer.store import Store, db_path
from indexer.update import index_dir_for, update_index


def chunk_ids(root: Path, path: str) -> list[int]:
    store = reader(root)
    try:
        return [r[0] for r in store.conn.execute(
            "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path = ? ORDER BY c.id",
            (path,))]
    finally:
        store.close()


def qualnames(root: Path, path: str) -> set[str]:
    store = reader(root)
    try:
        return {s.qualname for s in store.symbols_in(path)}
    finally:
        store.close()


def fts_paths(root: Path, word: str) -> set[str]:
    store = reader(root)
    try:
        return {p for (p,) in store.conn.execute(
            "SELECT f.path FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid "
            "JOIN files f ON f.id = c.file_id WHERE chunks_fts MATCH ?", (f'"{word}"',))}
    finally:
        store.close()


def test_first_index_parses_everything(py_repo):
    s = index(py_repo)
    assert s.files_seen == 4
    assert s.files_parsed == 4
    assert s.files_unchanged == 0
    assert s.rebuilt == "new index"
    assert indexed_paths(py_repo) == {"pkg/__init__.py", "pkg/http.py", "pkg/client.py", "README.md"}
    assert s.symbols == len(qualnames(py_repo, "pkg/http.py")) + len(qualnames(py_repo, "pkg/client.py"))


def test_noop_reindex_parses_nothing(py_repo):
    index(py_repo)
    s = index(py_repo)
    assert (s.files_parsed, s.files_unchanged, s.files_removed, s.rebuilt) == (0, 4, 0, "")


def test_touch_without_change_is_not_reparsed(py_repo):
    index(py_repo)
    p = py_repo / "pkg/http.py"
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 5_000_000_000))
    s = index(py_repo)
    assert (s.files_parsed, s.files_unchanged) == (0, 4)


def test_a_same_size_replacement_that_keeps_the_mtime_is_reparsed(py_repo):
    """What `rsync -t` (a new file renamed over the old) and `cp -p` (rewritten in place) do
    with a file of the same length: new bytes under the old mtime. Only the ctime moves."""
    import time

    time.sleep(2.1)  # past the racy window: a file's stat alone is trusted from now on
    index(py_repo)
    http, client = py_repo / "pkg/http.py", py_repo / "pkg/client.py"
    kept = {p: p.stat().st_mtime_ns for p in (http, client)}
    tmp = py_repo / "pkg/.http.py.tmp"
    tmp.write_bytes(http.read_bytes().replace(b"RetryPolicy", b"RetryPolitic"))
    os.utime(tmp, ns=(kept[http], kept[http]))
    os.replace(tmp, http)
    client.write_bytes(client.read_bytes().replace(b"def get(", b"def put("))
    os.utime(client, ns=(kept[client], kept[client]))
    assert {p: p.stat().st_mtime_ns for p in (http, client)} == kept
    s = index(py_repo)
    assert (s.files_parsed, s.files_unchanged) == (2, 2)
    assert "RetryPolitic" in qualnames(py_repo, "pkg/http.py")
    assert "Client.put" in qualnames(py_repo, "pkg/client.py")


def test_edit_reparses_only_that_file(py_repo):
    index(py_repo)
    before_other = chunk_ids(py_repo, "pkg/client.py")
    (py_repo / "pkg/http.py").write_text("def parse_status_line(line):\n    return line.split()\n")
    s = index(py_repo)
    assert (s.files_parsed, s.files_unchanged, s.files_removed) == (1, 3, 0)
    assert qualnames(py_repo, "pkg/http.py") == {"parse_status_line"}
    assert chunk_ids(py_repo, "pkg/client.py") == before_other  # untouched rows keep their ids
    assert fts_paths(py_repo, "RetryPolicy") == set()
    assert fts_paths(py_repo, "status") == {"pkg/http.py"}


def test_add_delete_rename(py_repo):
    index(py_repo)
    write_tree(py_repo, {"pkg/retry.py": "def backoff(attempt):\n    return 2 ** attempt\n"})
    s = index(py_repo)
    assert (s.files_parsed, s.files_removed) == (1, 0)
    assert qualnames(py_repo, "pkg/retry.py") == {"backoff"}

    (py_repo / "pkg/retry.py").unlink()
    s = index(py_repo)
    assert (s.files_parsed, s.files_removed) == (0, 1)
    assert "pkg/retry.py" not in indexed_paths(py_repo)
    assert fts_paths(py_repo, "backoff") == set()

    git(py_repo, "mv", "pkg/client.py", "pkg/api_client.py")
    s = index(py_repo)
    assert (s.files_parsed, s.files_removed) == (1, 1)
    assert qualnames(py_repo, "pkg/api_client.py") == {"Client", "Client.fetch", "Client.get"}
    store = reader(py_repo)
    try:
        assert store.symbols_in("pkg/client.py") == []
        orphans = store.conn.execute(
            "SELECT (SELECT count(*) FROM symbols WHERE file_id NOT IN (SELECT id FROM files)) + "
            "(SELECT count(*) FROM refs WHERE file_id NOT IN (SELECT id FROM files)) + "
            "(SELECT count(*) FROM chunks WHERE file_id NOT IN (SELECT id FROM files)) + "
            "(SELECT count(*) FROM chunks_fts WHERE rowid NOT IN (SELECT id FROM chunks))").fetchone()[0]
        assert orphans == 0
    finally:
        store.close()


def test_untracked_files_are_indexed_and_ignored_ones_are_not(py_repo):
    write_tree(py_repo, {".gitignore": "build/\n*.log\n", "build/gen.py": "x = 1\n", "notes.log": "x\n",
                         "scratch.py": "def scratch():\n    pass\n"})
    index(py_repo)
    paths = indexed_paths(py_repo)
    assert "scratch.py" in paths
    assert "build/gen.py" not in paths and "notes.log" not in paths


def test_changed_options_rebuild_with_a_reason(py_repo):
    index(py_repo)
    s = index(py_repo, chunk_max_tokens=100)
    assert s.rebuilt == "built with other options"
    assert s.files_parsed == 4
    s = index(py_repo, chunk_max_tokens=100)
    assert (s.rebuilt, s.files_parsed) == ("", 0)


def test_forced_rebuild(py_repo):
    index(py_repo)
    s = update_index(py_repo, IndexOptions(workers=1), rebuild=True)
    assert (s.rebuilt, s.files_parsed) == ("rebuild requested", 4)


def test_file_growing_past_the_cap_loses_its_symbols(py_repo):
    index(py_repo)
    (py_repo / "pkg/http.py").write_text("def big():\n    pass\n" + "# padding\n" * 2000)
    s = index(py_repo, max_file_bytes=10_000)
    assert s.files_skipped == {"too_large": 1}
    assert qualnames(py_repo, "pkg/http.py") == set()


def test_parallel_and_serial_builds_store_the_same(tmp_path, py_repo):
    files = {f"m{i}/mod{i}.py": f"def f{i}(x):\n    return g{i}(x) + {i}\n\n\nclass C{i}:\n    pass\n"
             for i in range(60)}
    write_tree(py_repo, files)
    index(py_repo)
    store = reader(py_repo)
    serial = sorted(store.conn.execute("SELECT f.path, s.qualname, s.start_line FROM symbols s "
                                       "JOIN files f ON f.id = s.file_id"))
    store.close()
    s = update_index(py_repo, IndexOptions(workers=2, parallel_threshold=1), rebuild=True)
    assert s.files_parsed == 64
    store = reader(py_repo)
    parallel = sorted(store.conn.execute("SELECT f.path, s.qualname, s.start_line FROM symbols s "
                                         "JOIN files f ON f.id = s.file_id"))
    store.close()
    assert parallel == serial


def test_an_index_of_an_earlier_version_gets_the_new_secondary_indexes_at_its_next_update(py_repo):
    """Covering indexes replaced two (chunks by file, uses by name): an index written before
    has the old ones until its next update, a no-op one included, which swaps them."""
    index(py_repo)
    path = db_path(index_dir_for(py_repo))

    def names() -> set[str]:
        store = reader(py_repo)
        try:
            return {n for (n,) in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                     "AND name NOT LIKE 'sqlite_%'")}
        finally:
            store.close()

    fresh = names()
    assert {"chunks_lines", "refs_name_at"} <= fresh and not {"chunks_file", "refs_name"} & fresh
    store = Store.open_writer(path.parent)
    for name in ("chunks_lines", "refs_name_at"):
        store.conn.execute(f"DROP INDEX {name}")
    store.conn.execute("CREATE INDEX chunks_file ON chunks(file_id)")  # as an earlier version left them
    store.conn.execute("CREATE INDEX refs_name ON refs(name)")
    store.close()
    plan = reader(py_repo)
    detail = " ".join(r[-1] for r in plan.conn.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM chunks WHERE file_id = 1 AND start_line <= 3 AND end_line >= 3"))
    plan.close()
    assert "chunks_file" in detail  # searches still work, from the old index
    summary = update_index(py_repo, IndexOptions())
    assert summary.files_parsed == 0
    assert names() == fresh
    plan = reader(py_repo)
    detail = " ".join(r[-1] for r in plan.conn.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM chunks WHERE file_id = 1 AND start_line <= 3 AND end_line >= 3"))
    plan.close()
    assert "COVERING INDEX chunks_lines" in detail


def _fts_rows(root: Path) -> int:
    store = reader(root)
    try:
        return store.conn.execute("SELECT count(*) FROM chunks_fts_data").fetchone()[0]
    finally:
        store.close()


def _fts_writes(root: Path) -> int:
    store = reader(root)
    try:
        return int(store.meta()["fts_writes"])
    finally:
        store.close()


def test_the_full_text_index_is_merged_after_enough_updates(tmp_path, monkeypatch):
    """Incremental updates leave the full-text index in many segments, with deletion markers;
    once the rows they wrote and deleted reach the threshold, the update merges it into one,
    and BM25 finds the same chunks."""
    import indexer.store as store_mod

    monkeypatch.setattr(store_mod, "FTS_TIDY_MIN", 0)
    monkeypatch.setattr(store_mod, "FTS_TIDY_SHARE", 100.0)  # nothing merges until lowered below
    files = {f"mod{i}.py": "".join(f"def f{i}_{j}(x):\n    return x + {j}  # alpha{j}\n\n\n" for j in range(8))
             for i in range(12)}
    root = write_tree(tmp_path / "r", files)
    index(root)
    assert _fts_writes(root) == 0  # a new index is merged once it is built
    merged = _fts_rows(root)
    for round_ in range(6):
        for i in range(12):
            (root / f"mod{i}.py").write_text(files[f"mod{i}.py"].replace("alpha", f"beta{round_}_"))
        index(root)
    grown = _fts_rows(root)
    assert grown > merged
    chunks = index(root).chunks
    assert _fts_writes(root) == 6 * chunks * 2  # every chunk deleted and written again, six times
    assert fts_paths(root, "beta5_3") == set(files)
    monkeypatch.setattr(store_mod, "FTS_TIDY_SHARE", 0.25)
    (root / "mod0.py").write_text(files["mod0.py"].replace("alpha", "gamma"))
    index(root)
    assert _fts_writes(root) == 0
    assert _fts_rows(root) < grown
    assert fts_paths(root, "beta5_3") == set(files) - {"mod0.py"}
    assert fts_paths(root, "gamma3") == {"mod0.py"}
    (root / "mod1.py").write_text(files["mod1.py"].replace("alpha", "delta"))
    index(root)
    assert _fts_writes(root) == 2 * chunks // 12  # one file's chunks, under a quarter: counted, not merged
