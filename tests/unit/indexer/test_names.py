"""Name vectors (indexer.names) and the search signal that reads them (retrieval.dense.names_ranked)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from conftest import index, write_tree
from indexer import names
from indexer.dense import embed_index
from indexer.names import name_text, parameters
from indexer.store import Store
from indexer.update import index_dir_for
from indexer.vectors import VectorOptions, open_vector_store
from retrieval import dense
from retrieval.search import DEFAULT_WEIGHTS, Searcher


@pytest.mark.parametrize("name, signature, language, want", [
    ("open_resource", 'def open_resource(self, resource: str, mode: str = "rb") -> t.IO[t.AnyStr]:', "python",
     ["resource", "mode"]),
    ("fetch", "async def fetch(cls, *urls, timeout=(3, 5), **kwargs):", "python", ["urls", "timeout", "kwargs"]),
    ("scan", "func (m *Matcher) scan(request MatchRequest, n int) MatchResult", "go", ["request", "n"]),
    ("join", "public static String join(final String sep, List<Map<String, Integer>> parts)", "java", ["sep", "parts"]),
    ("push", "pub fn push(&mut self, value: T) -> Result<(), Error>", "rust", ["value"]),
    ("fetchUser", "function fetchUser(id: number, opts?: {a: string, b: number}): Promise<User>", "typescript",
     ["id", "opts"]),
    ("copy", "size_t copy(char *dst, const char *src, size_t n)", "c", ["dst", "src", "n"]),
    ("run", "def run():", "python", []),
    # brackets that are not: comparisons, arrows, shifts; generics; `::`; C's (void)
    ("f", "def f(a, b=x > 0, c=1 << 2, d='(', e=None):", "python", ["a", "b", "c", "d", "e"]),
    ("f", "fn f<T: Fn(i32) -> i32>(g: T, y: u8)", "rust", ["g", "y"]),
    ("f", "function f(cb: (x: number) => void, opts: Opts)", "typescript", ["cb", "opts"]),
    ("bar", "void bar(const std::string& name, std::vector<int> v, int n = 5)", "cpp", ["name", "v", "n"]),
    ("w", "func w(out io.Writer, ch chan<- int, n int)", "go", ["out", "ch", "n"]),
    ("g", "int g(void)", "c", []),
    ("put", "public void put(Map<String, List<Integer>> m, int k)", "java", ["m", "k"]),
    ("f", "fn f<K: Ord, V: Into<Vec<u8>>>(k: K, v: V)", "rust", ["k", "v"]),
    ("s", "void s(@Nullable String s, final int k)", "java", ["s", "k"]),
    ("constructor", "constructor(private readonly http: HttpClient, x)", "typescript", ["http", "x"]),
    ("handler", "const handler = async (req, res) => {", "javascript", ["req", "res"]),
    # the name itself, not a longer one holding it: `_`, `$`, digits and letters of any script join it
    ("get", "def get_all(a): return getter(b) or get(c, d)", "python", ["c", "d"]),
    ("f", "const f$ = (x) => f_2(y) + éf(z) + f(w)", "javascript", ["w"]),
    ("$f", "function $f(q, r)", "javascript", ["q", "r"]),
    ("run", "def run_run(a): run(b)", "python", ["b"]),
    ("x", "def xx(a):", "python", []),
    ("get", "x = 2get(a) or get(b)", "python", ["b"]),
    ("f", "f = g; f(x)", "python", ["x"]),  # the first `f` takes no group: the next does
])
def test_parameters_are_read_from_the_signature(name, signature, language, want):
    assert parameters(name, signature, language) == want


def test_the_text_is_the_qualified_name_and_the_parameters():
    sig = 'def open_instance_resource(self, resource: str, mode: str = "rb") -> t.IO[t.AnyStr]:'
    assert name_text("Flask.open_instance_resource", "method", sig, "python") == \
        "flask open instance resource (resource, mode)"
    assert name_text("parseHTTPResponse", "function", "func parseHTTPResponse(rawBody []byte)", "go") == \
        "parse http response (raw body)"
    # a class's parenthesised group is its bases, not parameters
    assert name_text("TLSAdapter", "class", "class TLSAdapter(HTTPAdapter):", "python") == "tls adapter"


_TREE = {
    "app/storage.py": (
        "def open_instance_resource(resource, mode='rb'):\n"
        "    p = _join(_base(), resource)\n"
        "    return _fs(p, mode)\n\n\n"
        "def remove_stale_sessions(cutoff):\n"
        "    for k in list(_table):\n"
        "        if _table[k] < cutoff:\n"
        "            del _table[k]\n"),
    "app/views.py": (
        "def render_error_page(code, context):\n"
        "    t = _templates[code]\n"
        "    return t.format(**context)\n\n\n"
        "def register_url_rule(rule, endpoint, view):\n"
        "    _rules[rule] = (endpoint, view)\n"),
}
_QUESTION = "Open a file from the application's instance folder for reading"


def _searcher_parts(tmp_path, embedder):
    root = write_tree(tmp_path / "r", _TREE)
    index(root)
    s = embed_index(root, embedder)
    store = Store.open_reader(index_dir_for(root))
    vstore = open_vector_store(VectorOptions(), index_dir_for(root), embedder.dim)
    return root, s, store, vstore


def _symbol(store: Store, cid: int) -> str:
    return store.conn.execute("SELECT symbol FROM chunks WHERE id = ?", (cid,)).fetchone()[0]


def test_a_description_finds_the_definition_by_its_name(tmp_path, embedder, monkeypatch):
    root, summary, store, vstore = _searcher_parts(tmp_path, embedder)
    reads, read = [], names.chunk_names
    monkeypatch.setattr(names, "chunk_names", lambda st, ids: reads.append(ids) or read(st, ids))
    try:
        assert summary.names_embedded == 4  # the four functions' names, once each
        sig = Searcher(store, vstore, embedder).signals(_QUESTION)
        assert [_symbol(store, c) for c, _ in sig.rankings["name"]][0] == "open_instance_resource"
        fused = Searcher(store, vstore, embedder).fused(_QUESTION)[0]
        assert any("name" in f.ranks for f in fused)
        # off with its weight, and without vectors (nothing to compare the names with)
        off = Searcher(store, vstore, embedder, replace(DEFAULT_WEIGHTS, name=0.0)).signals(_QUESTION)
        assert "name" not in off.rankings
        assert "name" not in Searcher(store).signals(_QUESTION).rankings
        # nor for a question longer than the model reads: a long issue's head is a blend
        # (few words, many tokens: only the model's count tells)
        long = _QUESTION + " " + " ".join(["app.storage.open_instance_resource_from_the_folder"] * 30)
        assert len(long.split()) < 128 < embedder.count_tokens([long])[0]
        reads.clear()
        assert "name" not in Searcher(store, vstore, embedder).signals(long).rankings
        assert not reads  # and its units' names are not read for nothing
    finally:
        vstore.close()
        store.close()
    # a second embedding run finds every name cached
    assert embed_index(root, embedder).names_embedded == 0


def test_names_the_cache_lacks_are_embedded_at_query_time(tmp_path, embedder, monkeypatch):
    """An index embedded before names were (or a watcher's backlog) still gets the signal."""
    root, _, store, vstore = _searcher_parts(tmp_path, embedder)
    try:
        want = Searcher(store, vstore, embedder).signals(_QUESTION).rankings["name"]
        conn = sqlite3.connect(index_dir_for(root) / "index.db")
        conn.execute("DELETE FROM embeddings WHERE model LIKE '%#names'")
        conn.commit()
        conn.close()
        dense._name_cache.clear()  # nor are they kept in this process
        got = Searcher(store, vstore, embedder).signals(_QUESTION).rankings["name"]
        assert [c for c, _ in got] == [c for c, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=0.01)  # fp16 in the cache
        assert len(dense._name_cache) == 4  # embedded here, and kept for the next question
        q = dense.embed_query(embedder, _QUESTION)
        with monkeypatch.context() as m:  # the next question's names need no model
            m.setattr(embedder, "embed", lambda texts: pytest.fail(f"embedded {texts} again"))
            again = dense.names_ranked(q, dense.name_vectors(store, embedder, [c for c, _ in got]))
        assert [c for c, _ in again] == [c for c, _ in got]
    finally:
        vstore.close()
        store.close()


def test_the_watcher_embeds_the_names_an_older_index_lacks(tmp_path, embedder):
    """Vectors written before names were: the watcher's updater fills the names in."""
    from indexer.dense import DenseUpdater

    root, _, store, vstore = _searcher_parts(tmp_path, embedder)
    vstore.close()
    store.close()
    conn = sqlite3.connect(index_dir_for(root) / "index.db")
    conn.execute("DELETE FROM embeddings WHERE model LIKE '%#names'")
    conn.commit()
    updater = DenseUpdater(root, embedder, VectorOptions(), flush_after_s=0)
    try:
        while updater.step(5) is not None:
            pass
    finally:
        updater.close()
    assert updater.summary.names_embedded == 4 and updater.summary.chunks_embedded == 0
    assert conn.execute("SELECT count(*) FROM embeddings WHERE model LIKE '%#names'").fetchone()[0] == 4
    conn.close()
