"""`kill -9` during an index leaves the previous state usable; the next run completes it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, reader, write_tree

N_FILES = 1500


def version(tag: str) -> dict[str, str]:
    body = "".join(f"    total += helper_{tag}_{j}(value, {j})\n" for j in range(25))
    return {f"pkg{i % 30}/mod_{i}.py": (
        f'"""Module {i}, version {tag}."""\n\n\n'
        f"def func_{tag}_{i}(value):\n    total = 0\n{body}    return total\n\n\n"
        f"class Thing_{tag}_{i}:\n    def method(self):\n        return func_{tag}_{i}(1)\n"
    ) for i in range(N_FILES)}


def state(root: Path) -> str:
    """"A" or "B" when every file holds one version's symbols; anything else is a mix."""
    store = reader(root)
    try:
        assert store.integrity_check() == "ok"
        tags = {name.split("_")[1] for (name,) in store.conn.execute(
            "SELECT name FROM symbols WHERE kind = 'function'")}
        n_files = store.conn.execute("SELECT count(*) FROM files").fetchone()[0]
        n_fts = store.conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
        n_chunks = store.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    finally:
        store.close()
    assert n_files == N_FILES and n_fts == n_chunks
    assert len(tags) == 1, f"a mix of versions: {tags}"
    return tags.pop()


def run_index(root: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "service.cli", "index", str(root), "--json", "--no-embed"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_kill_during_index_keeps_the_last_good_state(tmp_path):
    root = write_tree(tmp_path / "repo", version("A"))
    proc = run_index(root)  # killed during the very first build: no index, nothing half-made
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert not (root / ".repoqa" / "index.db").exists()
    t0 = time.monotonic()
    assert run_index(root).wait(timeout=300) == 0
    full = time.monotonic() - t0
    assert state(root) == "A"

    write_tree(root, version("B"))
    outcomes = []
    for fraction in (0.2, 0.45, 0.7, 0.9):
        proc = run_index(root)
        time.sleep(full * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        outcomes.append(state(root))  # whole A or whole B, never a mix, and searchable
    assert "A" in outcomes, f"no kill landed before the commit: {outcomes}; the test proves nothing"

    proc = run_index(root)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert state(root) == "B"
    # and the result equals a clean build of the same tree
    store = reader(root)
    counts = store.counts()
    store.close()
    clean = write_tree(tmp_path / "clean", version("B"))
    assert run_index(clean).wait(timeout=300) == 0
    store = reader(clean)
    try:
        assert store.counts() == counts
    finally:
        store.close()
