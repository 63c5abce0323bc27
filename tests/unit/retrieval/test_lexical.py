"""Lexical search: BM25 over chunks, identifiers split, best unit first."""

from __future__ import annotations

import math

from conftest import index, reader, write_tree

from retrieval.lexical import fts_query, query_terms, ranked_files, search


def hits(root, query, k=5):
    store = reader(root)
    try:
        return search(store, query, k=k)
    finally:
        store.close()


def test_query_terms_keep_each_word_and_phrase_once_in_the_order_first_seen():
    question = "Why does parseHTTPResponse fail? parse_http_response(raw) and parseHTTPResponse again"
    expected = ["parse http response", "parse", "http", "response", "parsehttpresponse", "fail", "raw", "again"]
    assert query_terms(question) == expected
    log = "\n".join(f"  File x.py, line {i}, in evalf_{i % 7}" for i in range(3000))  # a long traceback
    terms = query_terms(log)
    assert len(terms) == len(set(terms)) and terms[:3] == ["evalf 0", "evalf 1", "evalf 2"]
    terms.clear()  # each call hands out its own list
    assert query_terms(log)[:1] == ["evalf 0"] and query_terms(question) == expected


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


def _files(root, query, k=10):
    store = reader(root)
    try:
        return ranked_files(store, query, k)
    finally:
        store.close()


def test_a_file_whose_functions_share_the_question_between_them_ranks_first(tmp_path):
    """Whole-file BM25: the question's words are spread over three functions of one file,
    and no other file holds more than one of them."""
    write_tree(tmp_path, {
        "pkg/codec.py": "def encode_frame(buf):\n    return buf\n\n\n"
                        "def checksum_header(buf):\n    return sum(buf)\n\n\n"
                        "def split_payload(buf):\n    return buf[:4], buf[4:]\n",
        **{f"pkg/other{i}.py": f"def encode_value_{i}(v):\n    return v\n\n\ndef split_words_{i}(s):\n    return s\n"
           for i in range(4)},
        "README.md": "Nothing about the codec here.\n",
    })
    index(tmp_path)
    found = _files(tmp_path, "the frame checksum is wrong after the payload is split and encoded")
    assert found[0][0] == "pkg/codec.py"
    assert found[0][2] == "python" and found[0][1] > found[1][1] > 0
    assert _files(tmp_path, "?!") == [] and _files(tmp_path, "zyzzyva") == []


def test_file_terms_follow_edits_and_removals(tmp_path):
    write_tree(tmp_path, {"a.py": "def frobnicate_widget():\n    pass\n", "b.py": "def other():\n    pass\n"})
    index(tmp_path)
    assert [p for p, _, _ in _files(tmp_path, "frobnicate")] == ["a.py"]
    write_tree(tmp_path, {"a.py": "def plain():\n    pass\n", "b.py": "def frobnicate():\n    pass\n"})
    index(tmp_path)
    assert [p for p, _, _ in _files(tmp_path, "frobnicate")] == ["b.py"]
    (tmp_path / "b.py").unlink()
    index(tmp_path)
    assert _files(tmp_path, "frobnicate") == []
    store = reader(tmp_path)
    try:  # nothing is left of removed or replaced files, and each file's length is its words
        assert store.conn.execute("SELECT count(*) FROM file_terms WHERE file_id NOT IN "
                                  "(SELECT id FROM files)").fetchone()[0] == 0
        (tf,) = store.conn.execute("SELECT sum(tf) FROM file_terms").fetchone()
        assert tf == store.conn.execute("SELECT sum(terms) FROM files").fetchone()[0] > 0
    finally:
        store.close()


def test_file_statistics_follow_the_index_as_it_changes(tmp_path):
    """idf and the mean file length are those of the index being ranked, not of the state
    the first question saw (a term in most files of a grown index must not count against)."""
    write_tree(tmp_path, {"a.py": "def alpha():\n    pass\n", "b.py": "def other():\n    pass\n"})
    index(tmp_path)
    assert [p for p, _, _ in _files(tmp_path, "alpha")] == ["a.py"]
    write_tree(tmp_path, {f"m{i}.py": f"def beta_{i}():\n    return 'beta'\n" for i in range(6)})
    index(tmp_path)
    found = _files(tmp_path, "beta")
    assert len(found) == 6 and all(score > 0 for _, score, _ in found)


def test_a_common_word_is_not_searched_in_a_large_index_unless_nothing_else_is(tmp_path, monkeypatch):
    """A word in more than a tenth of the chunks (a short question; a fifth for a long one):
    BM25 gives such a word little weight (FTS5's idf is at most ln 4, and 1e-6 from half
    the chunks on), so in a large index searching it mostly costs the reading of its
    postings; it is kept when no other word of the question occurs."""
    from retrieval import lexical

    files = {f"pkg/m{i}.py": f"import pkg\n\n\ndef helper_{i}():\n    return pkg.value({i})\n" for i in range(8)}
    for i in range(3):  # `stale` in 4 of the 9 chunks (with cache.py), `evict` in 1
        files[f"pkg/m{i}.py"] += "# stale\n"
    files["pkg/cache.py"] = "import pkg\n\n\ndef evict_stale_entries(cache):\n    return pkg.purge(cache)\n"
    write_tree(tmp_path, files)
    index(tmp_path)
    store = reader(tmp_path)
    try:
        question = "pkg evict stale entries"
        df, total, _ = lexical._FREQ.get(store, ["pkg", "stale", "evict"])
        assert (df["pkg"], df["stale"], df["evict"], total) == (9, 4, 1, 9)
        assert lexical.select_terms(store, question) == ["pkg", "evict", "stale", "entries"]  # a small index
        monkeypatch.setattr(lexical, "_CHEAP_POSTINGS", 2)
        assert lexical.select_terms(store, question) == ["evict", "entries"]
        monkeypatch.setattr(lexical, "_SHORT_SHARE", 0.5)
        assert lexical.select_terms(store, question) == ["evict", "stale", "entries"]
        monkeypatch.setattr(lexical, "_SHORT_SHARE", 0.4)  # stale is in 4 of the 9
        assert lexical.select_terms(store, question) == ["evict", "entries"]
        assert lexical.select_terms(store, "pkg unknownword") == ["pkg", "unknownword"]  # nothing else occurs
        assert search(store, question, k=3)[0].path == "pkg/cache.py"
        assert lexical.ranked(store, "pkg", 20)  # a lone common word still finds its chunks
    finally:
        store.close()


def test_a_long_question_reads_the_postings_of_its_rarest_words_up_to_a_budget(tmp_path, monkeypatch):
    """BM25 costs in proportion to the chunks its terms occur in: a long question's words,
    rarest first, are searched until they occur in more chunks than the budget allows (its
    rarest word always). A short question keeps all its words."""
    from retrieval import lexical

    files = {f"m{i}.py": f"def helper_{i}():\n    return widget({i})\n" for i in range(6)}
    files["gadget.py"] = "def gadget_sprocket():\n    return widget(0)\n"
    files["other.py"] = "def gadget_flange():\n    return 0\n"
    write_tree(tmp_path, files)
    index(tmp_path)
    store = reader(tmp_path)
    try:
        filler = " ".join(f"zz{i}" for i in range(30))  # words no chunk has: the question is long
        question = f"widget gadget sprocket {filler}"
        df, _, _ = lexical._FREQ.get(store, ["widget", "gadget", "sprocket"])
        assert df["sprocket"] == 1 and df["gadget"] == 2 and df["widget"] == 7
        assert lexical.select_terms(store, question) == ["widget", "gadget", "sprocket"]
        monkeypatch.setattr(lexical, "_POSTINGS_BUDGET", 3)
        assert lexical.select_terms(store, question) == ["gadget", "sprocket"]
        assert lexical.select_terms(store, question, budget=0) == ["widget", "gadget", "sprocket"]  # none
        monkeypatch.setattr(lexical, "_POSTINGS_BUDGET", 1)
        assert lexical.select_terms(store, question) == ["sprocket"]
        assert search(store, question, k=1)[0].path == "gadget.py"
        assert lexical.select_terms(store, "widget gadget sprocket") == ["widget", "gadget", "sprocket"]
    finally:
        store.close()


def test_a_count_cut_short_by_a_cancelled_call_stops_the_call_and_is_not_kept(tmp_path, monkeypatch):
    """The service stops a cancelled call inside SQLite: a word count cut short stops the
    call too, and the next question counts the word again rather than reading a 0."""
    import sqlite3

    import pytest

    from retrieval import lexical

    write_tree(tmp_path, {"a.py": "def evict_stale_entries(cache):\n    return cache\n"})
    index(tmp_path)
    store = reader(tmp_path)
    try:
        cancel = {"now": True}
        store.conn.create_function("cancelled", 0, lambda: (store.conn.interrupt() if cancel["now"] else None) or 0)
        freq = lexical._Frequencies(lexical._FREQ.count.replace("SELECT count(*)", "SELECT count(*) + cancelled()"),
                                    lexical._FREQ.totals, lexical._FREQ.state)
        with pytest.raises(sqlite3.OperationalError, match="interrupt"):
            freq.get(store, ["evict", "stale"])
        cancel["now"] = False
        df, total, _ = freq.get(store, ["evict", "stale"])
        assert df == {"evict": 1, "stale": 1} and total >= 1
        monkeypatch.setattr(lexical, "_MAX_COUNTED", 3)  # full: the counts are forgotten, not the question's
        df, _, _ = freq.get(store, ["evict", "cache", "entries"])
        assert df == {"evict": 1, "cache": 1, "entries": 1}
    finally:
        store.close()


def test_a_snippet_is_the_window_of_lines_with_most_of_the_questions_words_and_their_parts():
    from retrieval.hits import _split_line, snippet_of

    assert _split_line("x = parseHTTPResponse(foo_bar, Value2, ABC, Abc, 42, x86_64)") == {
        "x", "parsehttpresponse", "parse", "http", "response", "foo", "bar", "value2", "value", "2",
        "abc", "42", "x86", "86", "64"}
    text = "\n".join(["def a():", "    pass", "", "", "", "", "def b():",
                      "    return parseHTTPResponse(raw)", "", "", "def c():", "    pass"])
    snippet, offset = snippet_of(text, {"http", "response", "raw"})
    assert offset == 4 and "parseHTTPResponse(raw)" in snippet  # the first window holding it


def _fts_or_query(store, question, k):
    """BM25 as one FTS5 OR-query over the question's chosen terms, as FTS5 ranks it."""
    from retrieval import lexical

    match = lexical.fts_query(question, lexical.select_terms(store, question))
    return store.conn.execute("SELECT rowid, -rank FROM chunks_fts WHERE chunks_fts MATCH ? "
                              "ORDER BY rank, rowid LIMIT ?", (match, k)).fetchall()


def test_scores_summed_term_by_term_are_those_of_one_fts5_query_seen_again_or_not(tmp_path):
    """A chunk's BM25 is the sum of its scores for each term alone (each term weighed by its
    own document frequency, fields by their weights): each term's scores are kept, and a
    question is ranked by summing them, in the order and to the bit of one FTS5 query."""
    from retrieval import lexical

    files = {f"pkg/m{i}.py": (f"def render_widget_{i}(frame):\n    '''Render the widget frame {i}.'''\n"
                              f"    return frame.widget{' + frame.border' * (i % 3)}\n") for i in range(12)}
    files["pkg/border.py"] = "class BorderStyle:\n    def draw_border(self, frame):\n        return frame.border\n"
    write_tree(tmp_path, files)
    index(tmp_path)
    store = reader(tmp_path)
    try:
        lexical._CHUNK_SCORES.clear()
        for question in ("render widget border", "draw_border frame", "BorderStyle render frame 7",
                         "widget", "frame border widget draw"):
            want = _fts_or_query(store, question, 10)
            assert want and lexical.ranked(store, question, 10) == want  # terms read now
            assert lexical.ranked(store, question, 10) == want  # terms kept from before
            assert lexical.ranked(store, question, 3) == want[:3]
        assert lexical._CHUNK_SCORES.size > 0
    finally:
        store.close()


def test_kept_term_scores_are_of_the_index_being_searched(tmp_path):
    """Scores kept for a term are retired by the next update: a chunk added or removed since
    is found or dropped, and every score is that of the new state."""
    from retrieval import lexical

    write_tree(tmp_path, {"a.py": "def frobnicate():\n    pass\n", "b.py": "def other():\n    pass\n"})
    index(tmp_path)
    store = reader(tmp_path)
    try:
        assert [h.path for h in search(store, "frobnicate")] == ["a.py"]
    finally:
        store.close()
    write_tree(tmp_path, {"b.py": "def frobnicate_more():\n    pass\n", "c.py": "def frobnicate_again():\n    pass\n"})
    (tmp_path / "a.py").unlink()
    index(tmp_path)
    store = reader(tmp_path)
    try:
        assert sorted(h.path for h in search(store, "frobnicate")) == ["b.py", "c.py"]
        assert lexical.ranked(store, "frobnicate", 10) == _fts_or_query(store, "frobnicate", 10)
    finally:
        store.close()


def test_kept_term_scores_stay_within_their_bound_the_least_recently_asked_dropped_first(tmp_path, monkeypatch):
    from retrieval import lexical

    files = {f"m{i}.py": f"def helper_{i}():\n    return kw{chr(97 + i)}x{' + shared' * (i < 4)}\n" for i in range(8)}
    write_tree(tmp_path, files)
    index(tmp_path)
    store = reader(tmp_path)
    cache = lexical._CHUNK_SCORES
    path = str(store.path)

    def ask(question):
        assert lexical.ranked(store, question, 5) == _fts_or_query(store, question, 5)
        assert cache.size == sum(lexical._cost(e) for e in cache.entries.values()) <= 128
        return [key[2] for key in cache.entries if key[0] == path]

    try:
        monkeypatch.setattr(lexical, "_ENTRY_BYTES", 16)  # a term in one chunk costs 32
        monkeypatch.setattr(lexical, "_CACHED_BYTES", 128)  # so four are kept, and none of more than 32
        cache.clear()
        for c in "abcdef":
            kept = ask(f"kw{c}x")
        assert kept == ["kwcx", "kwdx", "kwex", "kwfx"]
        assert ask("kwcx") == ["kwdx", "kwex", "kwfx", "kwcx"]  # asked again: the most recent
        assert ask("kwgx") == ["kwex", "kwfx", "kwcx", "kwgx"]  # the least recent goes
        assert ask("shared") == ["kwex", "kwfx", "kwcx", "kwgx"]  # in 4 chunks: 80 bytes, read, not kept
        assert ask("nosuchword") == ["kwfx", "kwcx", "kwgx", "nosuchword"]  # nothing found costs its entry
    finally:
        store.close()


def test_scores_read_while_the_index_moved_on_are_not_kept_and_other_indexes_keep_theirs(tmp_path):
    from retrieval import lexical

    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        write_tree(root, {"x.py": "def frobnicate():\n    pass\n"})
        index(root)
    cache = lexical._CHUNK_SCORES
    cache.clear()
    first, other = reader(a), reader(b)
    try:
        assert len(lexical.ranked(other, "frobnicate", 5)) == 1
        kept_b = [key for key in cache.entries if key[0] == str(other.path)]
        old = lexical.index_state(first)

        def moved_on(term):  # the index is updated, and searched at its new state, while a term is read
            rows = first.conn.execute("SELECT rowid, -rank FROM chunks_fts WHERE chunks_fts MATCH ?",
                                      (f'"{term}"',)).fetchall()
            write_tree(a, {"y.py": "def frobnicate_more():\n    pass\n"})
            index(a)
            newer = reader(a)
            try:
                assert len(lexical.ranked(newer, "frobnicate", 5)) == 2
            finally:
                newer.close()
            return rows

        (ids, _), = cache.get(first, ["frobnicate"], moved_on, old)
        assert len(ids) == 1  # this call's answer is of the state it began in ...
        ours = [key for key in cache.entries if key[0] == str(first.path)]
        assert ours and all(key[1] != old for key in ours)  # ... and not kept for the retired state
        assert [key for key in cache.entries if key[0] == str(other.path)] == kept_b
        assert len(lexical.ranked(first, "frobnicate", 5)) == 2
    finally:
        first.close()
        other.close()


def test_file_scores_summed_term_by_term_are_those_summed_in_one_query(tmp_path):
    from retrieval import lexical

    files = {f"pkg/m{i}.py": "".join(f"def step_{j}_{'codec' if j % 2 else 'frame'}():\n    return {j}\n"
                                     for j in range(i + 1)) for i in range(10)}
    write_tree(tmp_path, files)
    index(tmp_path)
    store = reader(tmp_path)
    try:
        question = "codec frame step"
        lexical._FILE_SCORES.clear()
        first = lexical.ranked_files(store, question, 4)
        assert lexical.ranked_files(store, question, 4) == first
        assert [p for p, _, _ in first] == [p for p, _, _ in lexical.ranked_files(store, question, 10)[:4]]
        df, n, mean = lexical._FILE_FREQ.get(store, ["codec", "frame", "step"])
        want = {}
        for term in ("codec", "frame", "step"):
            idf = math.log(1.0 + max(0.0, n - df[term] + 0.5) / (df[term] + 0.5))
            for path, tf, terms in store.conn.execute(
                    "SELECT f.path, t.tf, f.terms FROM file_terms t JOIN files f ON f.id = t.file_id "
                    "WHERE t.term = ?", (term,)):
                want[path] = want.get(path, 0.0) + idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * terms / mean))
        best = sorted(want.items(), key=lambda kv: -kv[1])[:4]
        assert [p for p, _, _ in first] == [p for p, _ in best]
        assert all(abs(score - want[p]) < 1e-9 for p, score, _ in first)
    finally:
        store.close()


def test_file_scores_kept_are_weighed_by_the_counts_of_the_state_they_are_kept_for(tmp_path, monkeypatch):
    """Whole-file BM25 weighs a term by its count in the files; an update landing between the
    counts and the scores must not leave scores weighed by the old counts for the new state."""
    from retrieval import lexical

    write_tree(tmp_path, {f"m{i}.py": f"def codec_{i}():\n    return frame\n" for i in range(3)})
    index(tmp_path)
    store = reader(tmp_path)
    counts = lexical._FILE_FREQ.get
    updates = []

    def then_update(*args, **kwargs):
        got = counts(*args, **kwargs)
        if not updates:
            updates.append(1)
            write_tree(tmp_path, {f"n{i}.py": f"def codec_more_{i}():\n    return 0\n" for i in range(6)})
            index(tmp_path)
        return got

    try:
        lexical.forget_term_scores()
        monkeypatch.setattr(lexical._FILE_FREQ, "get", then_update)
        lexical.ranked_files(store, "codec frame", 20)  # counted before the update, scored after it
        monkeypatch.setattr(lexical._FILE_FREQ, "get", counts)
        now = lexical.ranked_files(store, "codec frame", 20)
        lexical.forget_term_scores()
        assert now == lexical.ranked_files(store, "codec frame", 20) and len(now) == 9
    finally:
        store.close()
