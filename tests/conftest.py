"""Shared test helpers: small repositories written on the fly, git, and the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graph.build import GraphIndex
from graph.model import resolution
from indexer.options import IndexOptions
from indexer.store import Store
from indexer.update import index_dir_for, update_index

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "repos"


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    return root


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    res = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env=env, check=True)
    return res.stdout


def git_repo(root: Path, files: dict[str, str | bytes], commit: bool = True) -> Path:
    write_tree(root, files)
    git(root, "init", "-q", "-b", "main")
    if commit:
        git(root, "add", "-A")
        git(root, "commit", "-qm", "initial")
    return root


def index(root: Path, **options) -> object:
    """Index `root` as `repoqa index` does (structure and graph, no vectors)."""
    opts = {"workers": 1, **options}
    return update_index(root, IndexOptions(**opts), derived=[GraphIndex()])


def graph_edges(root: Path, kinds: tuple[str, ...] = ("imports", "calls", "inherits", "references", "tests"),
                ) -> set[tuple[str, str, str, str]]:
    """The graph's edges as (source, kind, target, resolution), each end written as
    `path::qualname`, `path` for a file, or `dir/` for a package."""
    store = reader(root)
    try:
        rows = store.conn.execute(
            "SELECT coalesce(fa.path, a.qualname || '/'), a.qualname, a.file_id, e.kind, e.confidence, "
            "coalesce(fb.path, b.qualname || '/'), b.qualname, b.file_id FROM graph_edges e "
            "JOIN graph_nodes a ON a.id = e.src JOIN graph_nodes b ON b.id = e.dst "
            "LEFT JOIN files fa ON fa.id = a.file_id LEFT JOIN files fb ON fb.id = b.file_id "
            f"WHERE e.kind IN ({','.join('?' * len(kinds))})", kinds).fetchall()
    finally:
        store.close()

    def label(path: str, qual: str, fid: int) -> str:
        return path if fid == 0 or not qual else f"{path}::{qual}"

    return {(label(pa, qa, fa), kind, label(pb, qb, fb), resolution(conf))
            for pa, qa, fa, kind, conf, pb, qb, fb in rows}


def reader(root: Path) -> Store:
    return Store.open_reader(index_dir_for(root))


def indexed_paths(root: Path) -> set[str]:
    store = reader(root)
    try:
        return {p for (p,) in store.conn.execute("SELECT path FROM files WHERE skip_reason = ''")}
    finally:
        store.close()


def skip_reasons(root: Path) -> dict[str, str]:
    store = reader(root)
    try:
        return dict(store.conn.execute("SELECT path, skip_reason FROM files WHERE skip_reason != ''"))
    finally:
        store.close()


def repoqa(*args: str, cwd: Path | None = None, check: bool = False,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would."""
    res = subprocess.run([sys.executable, "-m", "service.cli", *args], cwd=cwd or ROOT,
                         capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})
    if check and res.returncode != 0:
        raise AssertionError(f"repoqa {' '.join(args)} exited {res.returncode}: {res.stderr}")
    return res


def repoqa_json(*args: str, cwd: Path | None = None):
    res = repoqa(*args, "--json", cwd=cwd, check=True)
    return json.loads(res.stdout)


@pytest.fixture
def py_repo(tmp_path: Path) -> Path:
    """A small Python package with cross-file calls, in git."""
    return git_repo(tmp_path / "repo", {
        "pkg/__init__.py": "from .http import parse_http_response\n",
        "pkg/http.py": (
            '"""HTTP helpers."""\n\n'
            "import json\n\n\n"
            "def parse_http_response(raw: bytes) -> dict:\n"
            '    """Split an HTTP response into status, headers and body."""\n'
            "    head, _, body = raw.partition(b'\\r\\n\\r\\n')\n"
            "    return {'head': head, 'body': json.loads(body)}\n\n\n"
            "class RetryPolicy:\n"
            "    def should_retry(self, status: int) -> bool:\n"
            "        return status >= 500\n"
        ),
        "pkg/client.py": (
            "from .http import parse_http_response as parse\n\n\n"
            "class Client:\n"
            "    def fetch(self, url):\n"
            "        return parse(self.get(url))\n\n"
            "    def get(self, url):\n"
            "        raise NotImplementedError(url)\n"
        ),
        "README.md": "# pkg\n\nA tiny HTTP client used by the tests.\n",
    })


@pytest.fixture(scope="session")
def embedder():
    """The real default embedding model (all-MiniLM-L6-v2 from its PyPI package), loaded once."""
    from indexer.embed import SentenceTransformerEmbedder

    model = SentenceTransformerEmbedder()
    model.embed(["warm up"])
    return model
