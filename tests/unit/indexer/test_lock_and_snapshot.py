"""One writer at a time; readers see whole updates; every index knows its snapshot."""

from __future__ import annotations

import pytest
from conftest import git, index, reader, write_tree

from indexer.errors import IndexLocked
from indexer.lock import WriterLock, holder_pid
from indexer.options import IndexOptions
from indexer.store import Store
from indexer.update import index_dir_for, update_index


def test_second_writer_is_refused_with_the_holder(py_repo):
    index(py_repo)
    with WriterLock(index_dir_for(py_repo)):
        import os

        assert holder_pid(index_dir_for(py_repo)) == os.getpid()
        with pytest.raises(IndexLocked, match=rf"pid {os.getpid()}"):
            update_index(py_repo, IndexOptions(workers=1))
    assert holder_pid(index_dir_for(py_repo)) is None
    assert index(py_repo).files_unchanged == 4


def test_readers_never_see_a_half_written_update(py_repo):
    index(py_repo)
    before = reader(py_repo)
    counts = before.counts()
    writer = Store.open_writer(index_dir_for(py_repo))
    writer.conn.execute("BEGIN IMMEDIATE")
    writer.conn.execute("DELETE FROM symbols")
    writer.conn.execute("DELETE FROM chunks")
    assert before.counts() == counts  # uncommitted work is invisible
    writer.conn.execute("ROLLBACK")
    writer.close()
    assert before.counts() == counts
    before.close()


def test_snapshot_stamp_follows_commits_and_dirty_state(py_repo):
    head = git(py_repo, "rev-parse", "HEAD").strip()
    s = index(py_repo)
    assert s.snapshot == head[:12]
    write_tree(py_repo, {"pkg/new.py": "def n():\n    pass\n"})
    s = index(py_repo)
    assert s.snapshot.startswith(head[:12] + "+")
    dirty1 = s.snapshot
    write_tree(py_repo, {"pkg/new.py": "def n2():\n    pass\n"})
    s = index(py_repo)
    assert s.snapshot != dirty1 and s.snapshot.startswith(head[:12] + "+")
    git(py_repo, "add", "-A")
    git(py_repo, "commit", "-qm", "more")
    s = index(py_repo)
    assert s.snapshot == git(py_repo, "rev-parse", "HEAD").strip()[:12]


def test_index_dir_ignores_itself(py_repo):
    index(py_repo)
    assert git(py_repo, "status", "--porcelain") == ""
