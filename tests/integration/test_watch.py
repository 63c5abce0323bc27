"""The watcher with a real watchdog observer on a temporary directory: each change is
followed by a check that search and the graph answer from the new content."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time

import pytest
from conftest import git, git_repo, reader, write_tree

from graph.build import GraphIndex
from graph.errors import SymbolNotFound
from graph.query import Graph
from indexer.errors import IndexLocked
from indexer.lock import WriterLock
from indexer.options import IndexOptions
from indexer.update import index_dir_for
from indexer.watch import Watcher, WatchOptions, read_state
from retrieval.search import Searcher

FILES = {
    "pkg/__init__.py": "",
    "pkg/core.py": "def compute_total(items):\n    return sum(items)\n",
    "pkg/use.py": "from pkg.core import compute_total\n\ndef report():\n    return compute_total([1])\n",
}


class Running:
    def __init__(self, root, **watch):
        self.root = root
        self.watcher = Watcher({root: IndexOptions(workers=1)}, derived=[GraphIndex()],
                               watch=WatchOptions(**watch))
        self.watcher.start()
        self.thread = threading.Thread(target=self.watcher.run, daemon=True)
        self.thread.start()
        self.wait(lambda: self.watcher.updates >= 1)

    def wait(self, check, timeout: float = 15.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except Exception as exc:  # noqa: BLE001 -- the index may be mid-rebuild
                last = exc
            time.sleep(0.02)
        raise AssertionError(f"not seen within {timeout} s (last error: {last!r})")

    def stop(self):
        self.watcher.stop()
        self.thread.join(timeout=10)
        self.watcher.close()


@pytest.fixture()
def running(tmp_path):
    git_repo(tmp_path, FILES)
    r = Running(tmp_path)
    yield r
    r.stop()


def symbols(root, name):
    try:
        with Graph(reader(root)) as g:
            return {(n.path, n.qualname) for n in g.find(name)}
    except SymbolNotFound:
        return set()


def callers(root, name):
    with Graph(reader(root)) as g:
        return {(loc.path, loc.symbol) for loc in g.callers(name)}


def lexical(root, query):
    store = reader(root)
    try:
        return {(h.path, h.symbol) for h in Searcher(store).search(query, "lexical", k=10)}
    finally:
        store.close()


def test_edit_create_delete_rename(running):
    root = running.root
    write_tree(root, {"pkg/core.py": "def compute_grand_total(items):\n    return sum(items)\n"})
    running.wait(lambda: symbols(root, "compute_grand_total") == {("pkg/core.py", "compute_grand_total")})
    assert ("pkg/core.py", "compute_grand_total") in lexical(root, "grand total")
    write_tree(root, {"pkg/extra.py": "from pkg.core import compute_grand_total\n\n"
                                      "def extra():\n    return compute_grand_total([2])\n"})
    running.wait(lambda: ("pkg/extra.py", "extra") in callers(root, "compute_grand_total"))
    os.rename(root / "pkg/extra.py", root / "pkg/moved.py")
    running.wait(lambda: callers(root, "compute_grand_total") == {("pkg/moved.py", "extra")})
    (root / "pkg/moved.py").unlink()
    running.wait(lambda: not callers(root, "compute_grand_total") and not symbols(root, "extra"))


def test_atomic_save_and_directory_move(running):
    root = running.root
    tmp = root / "pkg/.core.py.swp"  # an editor's save: write beside, rename over
    tmp.write_text("def compute_total(items):\n    return 0\n\ndef saved_atomically():\n    pass\n")
    os.replace(tmp, root / "pkg/core.py")
    running.wait(lambda: symbols(root, "saved_atomically") == {("pkg/core.py", "saved_atomically")})
    shutil.move(root / "pkg", root / "lib")
    running.wait(lambda: symbols(root, "saved_atomically") == {("lib/core.py", "saved_atomically")})
    with Graph(reader(root)) as g:
        assert not [n for n in g.find("report") if n.path.startswith("pkg/")]


def test_a_burst_of_2000_files_is_a_few_updates(running):
    root = running.root
    before = running.watcher.updates
    for i in range(2000):
        (root / "gen").mkdir(exist_ok=True)
        (root / f"gen/m{i:04}.py").write_text(f"def generated_{i}():\n    return {i}\n")
    running.wait(lambda: symbols(root, "generated_1999") and symbols(root, "generated_0"), timeout=60)
    store = reader(root)
    n = store.conn.execute("SELECT count(*) FROM files WHERE path LIKE 'gen/%'").fetchone()[0]
    store.close()
    assert n == 2000
    assert running.watcher.updates - before <= 10  # debounced and coalesced, not 2000


def test_branch_switch_and_lost_events(running):
    root = running.root
    git(root, "checkout", "-q", "-b", "other")
    write_tree(root, {"pkg/branchy.py": "def only_on_other():\n    pass\n"})
    running.wait(lambda: symbols(root, "only_on_other"))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "other")
    git(root, "checkout", "-q", "main")
    running.wait(lambda: not symbols(root, "only_on_other"))
    # Events lost: the observer stops seeing the tree, then watchdog reports an overflow.
    w = running.watcher
    w._observer.unschedule_all()
    write_tree(root, {"pkg/core.py": "def unseen_change():\n    pass\n"})
    time.sleep(0.3)
    assert not symbols(root, "unseen_change")
    logging.getLogger("watchdog.observers.inotify_c").warning("Inotify queue overflowed; filesystem events were lost")
    running.wait(lambda: symbols(root, "unseen_change"))


def test_manual_writer_and_second_watcher(running):
    root = running.root
    with pytest.raises(IndexLocked, match=r"already watching this repository.*stop that watcher first"):
        Watcher({root: IndexOptions()}).start()
    with WriterLock(index_dir_for(root)):  # `repoqa index` holds the index
        write_tree(root, {"pkg/core.py": "def during_lock():\n    pass\n"})
        running.wait(lambda: (read_state(index_dir_for(root)) or {}).get("state") == "retrying")
        state = read_state(index_dir_for(root))
        assert state["pid"] == os.getpid() and state["pending"] >= 1
    running.wait(lambda: symbols(root, "during_lock"))
    running.wait(lambda: read_state(index_dir_for(root))["state"] == "idle")


def test_roots_added_and_removed_while_running(tmp_path):
    first, other = tmp_path / "first", tmp_path / "other"
    git_repo(first, FILES)
    git_repo(other, {"lib.py": "def first_added():\n    pass\n"})

    class Hook:  # what the CLI's vector hook is told: each root's slices, then that it is let go of
        def __init__(self):
            self.roots, self.forgotten = set(), []

        def __call__(self, root):
            self.roots.add(root)

        def forget(self, root):
            self.forgotten.append(root)

    hook = Hook()
    watcher = Watcher({first: IndexOptions(workers=1)}, derived=[GraphIndex()], idle=[hook])
    watcher.start()
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    wait = Running.__new__(Running).wait
    try:
        assert watcher.add_root(other, IndexOptions(workers=1))
        # `repoqa status` sees it at once, pending its first update
        assert read_state(index_dir_for(other))["pid"] == os.getpid()
        assert not watcher.add_root(other / ".", IndexOptions(workers=1))  # the same root
        wait(lambda: symbols(other, "first_added"))  # its first update indexes it
        wait(lambda: (read_state(index_dir_for(other)) or {}).get("state") == "idle")
        assert read_state(index_dir_for(other))["pid"] == os.getpid()
        wait(lambda: other in hook.roots)
        with pytest.raises(IndexLocked, match="already watching"):
            Watcher({other: IndexOptions()}).start()
        write_tree(other, {"lib.py": "def edited_later():\n    pass\n"})
        wait(lambda: symbols(other, "edited_later"))

        assert watcher.remove_root(other)
        # let go of when it returns: the lock, the pid file, the hook's work
        assert read_state(index_dir_for(other)) is None
        assert not (index_dir_for(other) / "watch.pid").exists()
        assert hook.forgotten == [other]
        assert not watcher.remove_root(other)
        write_tree(other, {"lib.py": "def after_removal():\n    pass\n"})
        write_tree(first, {"pkg/core.py": "def still_watched():\n    pass\n"})
        wait(lambda: symbols(first, "still_watched"))  # the other root is still followed ...
        time.sleep(0.5)
        assert not symbols(other, "after_removal")  # ... and this one not any more

        # another watcher may take it now; while it does, adding it here is refused whole
        second = Watcher({other: IndexOptions(workers=1)})
        second.start()
        try:
            with pytest.raises(IndexLocked, match="already watching"):
                watcher.add_root(other, IndexOptions(workers=1))
            assert other not in watcher.roots
        finally:
            second.close()
        assert watcher.add_root(other, IndexOptions(workers=1))  # and back again
        wait(lambda: symbols(other, "after_removal"))

        # Its index deleted and taken by another watcher: this one lets go of that root alone
        # (leaving the other's state file as it is) and goes on with the rest.
        wait(lambda: (read_state(index_dir_for(other)) or {}).get("state") == "idle")
        shutil.rmtree(other / ".repoqa")
        third = Watcher({other: IndexOptions(workers=1)})
        third.start()
        try:
            write_tree(other, {"lib.py": "def taken_over():\n    pass\n"})
            wait(lambda: other not in watcher.roots)
            assert read_state(index_dir_for(other))["state"] != "stopped"  # the third is not said to have stopped
            write_tree(first, {"pkg/core.py": "def after_the_takeover():\n    pass\n"})
            wait(lambda: symbols(first, "after_the_takeover"))
            assert thread.is_alive()
        finally:
            third.close()
    finally:
        watcher.stop()
        thread.join(timeout=10)
        watcher.close()
    assert read_state(index_dir_for(other)) is None and read_state(index_dir_for(first)) is None


def test_the_watched_root_removed_and_recreated(running):
    root = running.root
    shutil.rmtree(root)
    running.wait(lambda: running.watcher._missing)
    write_tree(root, {"fresh.py": "def after_recreate():\n    pass\n"})
    running.wait(lambda: symbols(root, "after_recreate") == {("fresh.py", "after_recreate")}, timeout=20)
    # the state file is written again once the watcher records the update (under load, a
    # moment after the symbols are readable)
    running.wait(lambda: (read_state(index_dir_for(root)) or {}).get("pid") == os.getpid(), timeout=20)


def test_repoqa_watch_command(tmp_path):
    import signal
    import subprocess
    import sys

    from conftest import ROOT, repoqa, repoqa_json

    git_repo(tmp_path, FILES)
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "watch", str(tmp_path), "--no-embed"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr.readline().startswith(f"Watching {tmp_path}")
        pid_file = tmp_path / ".repoqa/watch.pid"
        deadline = time.monotonic() + 20
        while not (pid_file.exists() and (read_state(tmp_path / ".repoqa") or {}).get("state") == "idle"):
            assert time.monotonic() < deadline, "the watcher never became idle"
            time.sleep(0.05)
        assert int(pid_file.read_text()) == proc.pid
        write_tree(tmp_path, {"pkg/core.py": "def renamed_total(items):\n    return sum(items)\n"})
        deadline = time.monotonic() + 20
        while repoqa("def", "renamed_total", cwd=tmp_path).returncode != 0:
            assert time.monotonic() < deadline, "the edit never reached the index"
            time.sleep(0.1)
        st = repoqa_json("status", str(tmp_path))
        assert st["watcher"]["pid"] == proc.pid and st["watcher"]["state"] in ("idle", "pending", "updating")
        assert "Watcher:    pid" in repoqa("status", str(tmp_path), check=True).stdout
        second = repoqa("watch", str(tmp_path), "--no-embed")
        assert second.returncode == 1 and "already watching this repository" in second.stderr
        served = repoqa("serve", "--port", "0", "--repo", str(tmp_path), "--watch", "--no-embed")
        assert served.returncode == 1 and "already watching this repository" in served.stderr
        assert served.stderr.count("\n") == 1, served.stderr  # the error alone: the server stopped cleanly
        assert int(pid_file.read_text()) == proc.pid  # and left the running watcher's state alone
        assert repoqa_json("status", str(tmp_path))["watcher"]["state"] in ("idle", "pending", "updating")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Stopped watching." in err
    assert not (tmp_path / ".repoqa/watch.pid").exists()
    assert repoqa_json("status", str(tmp_path))["watcher"] is None


def test_vectors_follow_the_edits(tmp_path, embedder):
    from indexer.dense import DenseUpdater
    from indexer.vectors import VectorOptions, open_vector_store

    git_repo(tmp_path, FILES)
    updater = DenseUpdater(tmp_path, embedder, VectorOptions(), flush_after_s=0.1)
    watcher = Watcher({tmp_path: IndexOptions(workers=1)}, derived=[GraphIndex()],
                      after_update=[lambda root, s: updater.step(0.5)], idle=[lambda root: updater.step(0.25)])
    watcher.start()
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()

    def dense(query):
        store = reader(tmp_path)
        vstore = open_vector_store(VectorOptions(), index_dir_for(tmp_path), embedder.dim)
        try:
            return [(h.path, h.symbol) for h in Searcher(store, vstore, embedder).search(query, "dense", k=3)]
        finally:
            vstore.close()
            store.close()

    try:
        helper = Running.__new__(Running)
        helper.wait(lambda: dense("sum of the items")[0] == ("pkg/core.py", "compute_total"), timeout=60)
        write_tree(tmp_path, {"pkg/weather.py": "def forecast_rain_probability(clouds, humidity):\n"
                                                 "    \"\"\"Chance of rain tomorrow from cloud cover.\"\"\"\n"
                                                 "    return clouds * humidity\n"})
        helper.wait(lambda: dense("will it rain tomorrow")[0] == ("pkg/weather.py", "forecast_rain_probability"),
                    timeout=60)
        (tmp_path / "pkg/weather.py").unlink()
        helper.wait(lambda: all(p != "pkg/weather.py" for p, _ in dense("will it rain tomorrow")), timeout=60)
    finally:
        watcher.stop()
        thread.join(timeout=10)
        watcher.close()
        updater.close()


def test_ignore_rules_index_dir_deleted_and_failures(running, monkeypatch):
    root = running.root
    write_tree(root, {".gitignore": "pkg/use.py\n"})  # a tracked file stays; an untracked one goes
    write_tree(root, {"scratch.py": "def scratch_thing():\n    pass\n"})
    running.wait(lambda: symbols(root, "scratch_thing"))
    write_tree(root, {".gitignore": "scratch.py\n"})
    running.wait(lambda: not symbols(root, "scratch_thing"))
    # The index directory deleted under the watcher: it takes a new lock and rebuilds.
    for attempt in range(10):
        try:
            shutil.rmtree(root / ".repoqa")
            break
        except FileNotFoundError:  # the watcher renamed its state file's temporary copy mid-walk
            if attempt == 9:
                raise
    write_tree(root, {"pkg/core.py": "def after_index_deleted():\n    pass\n"})
    running.wait(lambda: symbols(root, "after_index_deleted"))
    running.wait(lambda: (read_state(index_dir_for(root)) or {}).get("pid") == os.getpid())
    # An unexpected failure: the watcher logs it, retries, and goes on.
    import indexer.watch as watch_module

    real = watch_module.update_index
    calls = {"n": 0}

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("disk on fire")
        return real(*a, **kw)

    monkeypatch.setattr(watch_module, "update_index", flaky)
    write_tree(root, {"pkg/core.py": "def survived_failure():\n    pass\n"})
    running.wait(lambda: symbols(root, "survived_failure"), timeout=30)
    assert calls["n"] >= 2 and running.thread.is_alive()
