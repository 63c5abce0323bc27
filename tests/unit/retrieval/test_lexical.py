"""Lexical search: BM25 over chunks, identifiers split, best unit first."""

from __future__ import annotations

from conftest import index, reader, write_tree

from retrieval.lexical import fts_query, search


def hits(root, query, k=5):
    store = reader(root)
    try:
        return search(store, query, k=k)
    finally:
        store.close()


def test_identifier_styles_match_natural_words(tmp_path):
    write_tree(tmp_path, {
        "camel.js": "export function parseHTTPResponse(raw) {\n  return raw.split('\\n');\n}\n",
        "snake.py": "def parse_http_response(raw):\n    return raw.splitlines()\n",
        "other.py": "def render_template(name):\n    return name\n",
    })
    index(tmp_path)
    found = hits(tmp_path, "http response")
    assert {h.path for h in found[:2]} == {"camel.js", "snake.py"}
    assert {h.symbol for h in found[:2]} == {"parseHTTPResponse", "parse_http_response"}
    assert all(h.path != "other.py" for h in found)


def test_the_unit_that_matches_best_comes_first_with_its_lines(py_repo):
    index(py_repo)
    top = hits(py_repo, "should we retry a 500 status")[0]
    assert (top.path, top.symbol) == ("pkg/http.py", "RetryPolicy")
    assert (top.start_line, top.end_line) == (12, 14)
    assert "status >= 500" in top.snippet


def test_stemming_and_stopwords(py_repo):
    index(py_repo)
    top = hits(py_repo, "how are responses parsed?")[0]
    assert top.symbol == "parse_http_response"
    assert fts_query("how is the") == '"how" OR "is" OR "the"'  # nothing but stopwords: keep them
    assert fts_query("?!") is None
    assert hits(py_repo, "?!") == []


def test_quotes_and_fts_syntax_in_queries_are_plain_words(py_repo):
    index(py_repo)
    for q in ['"unbalanced', "NEAR(a b)", "col:value", "a AND OR NOT b", "*", "fetch -url"]:
        hits(py_repo, q)  # no FTS syntax error escapes
    top = hits(py_repo, 'Client."fetch"')[0]
    assert (top.symbol, top.start_line, top.end_line) == ("Client", 4, 9)  # the class fits whole


def test_an_exact_identifier_outranks_its_parts(tmp_path):
    write_tree(tmp_path, {f"m{i}.py": "".join(
        f'def op_{i}_{j}(x):\n    """Scale x by {j}, then shift it by {i}."""\n    return x * {j} + {i}\n\n\n'
        for j in range(6)) for i in range(6)})
    index(tmp_path)
    assert [h.symbol for h in hits(tmp_path, "where is op_3_4 used", k=1)] == ["op_3_4"]
    assert [h.symbol for h in hits(tmp_path, "opThreeFour op_2_5", k=1)] == ["op_2_5"]
