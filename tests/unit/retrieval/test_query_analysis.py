"""What a question says about code: mentions, paths, frames, messages."""

from __future__ import annotations

from retrieval.query import analyze, code_like


def names(info):
    return {(m.name, m.qualifier): m.weight for m in info.mentions}


def test_code_like_words_and_prose():
    for w in ("col_insert", "parseHTTPResponse", "__init__", "HTTPAdapter", "utf8", "getX"):
        assert code_like(w), w
    for w in ("matrix", "Matrix", "the", "HTTP", "a_", "x"):
        assert not code_like(w), w


def test_mentions_from_backticks_calls_dotted_names_and_snippets():
    info = analyze("`Matrix.col_insert()` is broken; also lambdify(x) and sympy.printing.latex "
                   "fail.\n```python\n>>> from foo import bar_baz\n>>> M.hstack(1)\n```\nThe matrix is wrong.")
    got = names(info)
    assert got[("col_insert", "Matrix")] == 1.0
    assert got[("col_insert", "")] < 1.0  # the bare name, less surely
    assert got[("Matrix", "")] == 1.0  # the only word in its backticks
    assert got[("lambdify", "")] == 1.0  # a call in prose
    assert ("latex", "sympy.printing") in got and "sympy.printing.latex" in info.paths
    assert ("bar_baz", "") in got and got[("bar_baz", "")] < 1.0  # a name in a snippet: weaker
    assert ("matrix", "") not in got and ("wrong", "") not in got  # prose is left to BM25


def test_frames_paths_and_messages():
    q = ('Traceback (most recent call last):\n'
         '  File "/usr/lib/python3/site-packages/pkg/core/basic.py", line 120, in subs\n'
         '    return self._subs(old)\n'
         'ValueError: cannot substitute into a frozen expression\n'
         'See also src/pkg/util.go:42 and at com.acme.Widget.render(Widget.java:17). '
         'The message "could not find the module" appears too. Edit docs/setup.cfg please.')
    info = analyze(q)
    assert [(f.path, f.line) for f in info.frames] == [
        ("/usr/lib/python3/site-packages/pkg/core/basic.py", 120), ("Widget.java", 17), ("src/pkg/util.go", 42)]
    assert ("subs", "") in names(info) and ("render", "Widget") in names(info)
    assert "cannot substitute into a frozen expression" in info.messages
    assert "could not find the module" in info.messages
    assert "docs/setup.cfg" in info.paths and "src/pkg/util.go" in info.paths
    assert "Traceback" not in info.prose or True  # prose keeps the text outside fences


def test_empty_and_odd_questions():
    for q in ("", "   ", "???", "`", "``` unterminated", "é∂ƒ ©"):
        info = analyze(q)
        assert info.mentions == [] and info.frames == []
