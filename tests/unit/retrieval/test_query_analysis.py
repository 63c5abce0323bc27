"""What a question says about code: mentions, paths, frames, messages."""

from __future__ import annotations

from retrieval.query import analyze, code_like, scope_matches


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


def test_interpreter_banners_are_not_part_of_the_question():
    from retrieval.query import without_banners

    session = "In [1]: from shop import Cart\n\nIn [2]: Cart().total()\nOut[2]: 0\n"
    pasted = [
        'Python 3.6.9 (default, Jan 26 2021, 15:33:00)\r\n[GCC 8.4.0] on linux\r\n'
        'Type "help", "copyright", "credits" or "license" for more information.\r\n',
        "Python 3.6.4 |Anaconda custom (64-bit)| (default, Dec 21 2017, 15:39:08) \n"
        "Type 'copyright', 'credits' or 'license' for more information\n"
        "IPython 6.2.1 -- An enhanced Interactive Python. Type '?' for help.\n",
        'IPython 5.1.0 -- An enhanced Interactive Python.\n'
        "?         -> Introduction and overview of IPython's features.\n"
        "%quickref -> Quick reference.\nhelp      -> Python's own help system.\n"
        "object?   -> Details about 'object', use 'object??' for extra details.\n",
        'Welcome to Node.js v20.11.1.\nType ".help" for more information.\n',
    ]
    for banner in pasted:
        question = f"Cart.total is wrong\n```\n{banner}\n{session}```\nIt should be 3."
        cleaned = without_banners(question)
        assert not {"copyright", "IPython", "quickref", "Node.js", "GCC"} & set(cleaned.replace(".", " ").split())
        assert session in cleaned and cleaned.startswith("Cart.total is wrong") and cleaned.endswith("be 3.")
    # prose about an interpreter is not a banner, and a question that is only a banner stays
    prose = "On Python 3.11 the help text says nothing; see `help` -> options. Type hints break."
    assert without_banners(prose) == prose
    assert without_banners(pasted[0]) == pasted[0]


def test_ipython_and_jupyter_frames():
    """IPython's frames: `path in f(args)` with an arrow at the line (before IPython 8), and
    `File path:line, in f(args)` (since); the function is named, the line is the arrow's."""
    q = ("<ipython-input-3-e2060d5eec73> in <module>\n"
         "----> 1 point.vel(A)\n\n"
         "~/miniconda3/lib/python3.6/site-packages/pkg/vector/point.py in vel(self, frame)\n"
         "    453         if not (frame in self._vel_dict):\n"
         "--> 455             raise ValueError('Velocity of point has not been defined')\n\n"
         "/Users/me/src/pkg/polys/options.py in build_options(gens, args)\n"
         "    718     x = 1\n\n"
         "File ~/venv/lib/python3.11/site-packages/pkg/core/dataset.py:1234, in Dataset.sel(self, indexers)\n"
         "   1232 x = 1\n-> 1234 return self.isel(indexers)\n")
    info = analyze(q)
    assert [(f.path, f.line, f.function) for f in info.frames] == [
        ("~/miniconda3/lib/python3.6/site-packages/pkg/vector/point.py", 455, "vel"),
        ("/Users/me/src/pkg/polys/options.py", 0, "build_options"),  # no arrow: the file alone
        ("~/venv/lib/python3.11/site-packages/pkg/core/dataset.py", 1234, "Dataset.sel"),
    ]
    got = names(info)
    assert ("vel", "") in got and ("build_options", "") in got and ("sel", "Dataset") in got


def test_each_frame_knows_its_trace_and_how_recent_a_call_it_is():
    """Python prints the most recent call last, Java, JavaScript and Rust first; a chained
    exception starts a new trace; a `file:line` outside any trace belongs to none."""
    q = ("See src/term.go:120 too.\n"
         "Traceback (most recent call last):\n"
         '  File "app/main.py", line 10, in main\n    run()\n'
         '  File "app/run.py", line 20, in run\n    parse(text)\n'
         "ValueError: bad\n\nDuring handling of the above exception, another exception occurred:\n\n"
         "Traceback (most recent call last):\n"
         '  File "app/cli.py", line 5, in cli\n    main()\n'
         '  File "app/errors.py", line 7, in report\n    raise SystemError\n'
         "java.lang.IllegalStateException: boom\n"
         "\tat com.acme.Parser.parse(Parser.java:40)\n"
         "\tat com.acme.App.main(App.java:12)\n"
         "Caused by: java.io.IOException\n"
         "\tat com.acme.Reader.read(Reader.java:7)\n"
         "Uncaught TypeError: x is undefined\n"
         "    at render (src/view.js:12:5)\n"
         "    at main (src/app.js:3:1)\n"
         "ValueError: and then I think the fault is in app/helpers.py:40\n")
    got = {f.path: (f.trace, f.recency) for f in analyze(q).frames}
    recency = {p: r for p, (_, r) in got.items()}
    assert recency == {"app/run.py": 0, "app/main.py": 1, "app/errors.py": 0, "app/cli.py": 1, "Parser.java": 0,
                       "App.java": 1, "Reader.java": 0, "src/view.js": 0, "src/app.js": 1, "src/term.go": 0,
                       "app/helpers.py": 0}
    groups = (["app/run.py", "app/main.py"], ["app/errors.py", "app/cli.py"], ["Parser.java", "App.java"],
              ["Reader.java"], ["src/view.js", "src/app.js"])
    assert all(len({got[p][0] for p in group}) == 1 for group in groups)
    traces = [got[group[0]][0] for group in groups]
    assert traces == sorted(set(traces)) and traces[0] >= 0  # five traces, in the order of the text
    assert got["src/term.go"][0] == got["app/helpers.py"][0] == -1  # prose, not a frame: no trace


def test_code_in_a_fence_counts_less_than_the_prose():
    """A snippet's calls and imports are code whatever they look like (`total(x)`), weighing
    less than what the prose names; an indented line is code up to its end only."""
    q = ("`apply_discount` rounds wrongly\n"
         "```python\n>>> from shop.pricing import rebate, coupon as c\ninit_shop()\n"
         "if (total(apply_discount(101)) > 1): pass\n```\n"
         "The result should be exact, see `apply_discount`.\n    refund()\nas the docs say; an inline ``` "
         "opens no fence, `Promise.catch` is a name\n"
         "```\nfrom shop.tax import (\n    vat_rate,\n    duty,\n)\n```\n"
         "```unterminated\nlast_call()\n")
    info = analyze(q)
    weight = {m.name: m.weight for m in info.mentions if not m.qualifier}
    assert weight["apply_discount"] == 1.0
    assert weight["init_shop"] == weight["total"] == weight["rebate"] == weight["coupon"] == 0.5
    assert weight["refund"] == weight["last_call"] == weight["vat_rate"] == weight["duty"] == 0.5
    assert ("catch", "Promise") in {(m.name, m.qualifier) for m in info.mentions}
    assert not {"if", "import", "as", "c"} & set(weight)
    assert "init_shop" not in info.prose and "last_call" not in info.prose and "refund" not in info.prose
    assert "exact" in info.prose and "docs say" in info.prose and "is a name" in info.prose


def test_the_title_is_the_first_line_of_prose_over_a_body():
    def title_of(question):
        return analyze(question).title

    assert title_of("Refunds ignore the fee\n\nWhen an order is refunded ...") == "Refunds ignore the fee"
    assert title_of("```\ntrace()\n```\n## Refunds ignore the fee\nbody") == "## Refunds ignore the fee"
    assert title_of("Refunds ignore the fee") == "" and title_of("  \n") == ""
    assert title_of('Traceback (most recent call last):\n  File "x.py", line 1, in f\nValueError') == ""
    assert title_of(">>> from shop import Cart\n>>> Cart().total()\n0") == ""


def test_hyphenated_names_are_looked_for_as_phrases():
    """An option, a setting or a rule's id is a string in code: quoted, in backticks, or an
    option anywhere; hyphenated English words in prose are not."""
    info = analyze("pytest --collect-only needs a one char shortcut\nI run `--collect-only` often. "
                   "Fix `undefined-loop-variable` with 'ignore-paths' and `--recursive=y`, or "
                   "`--sort-key=name`. A built-in, re-run, non-empty case.")
    assert info.names == ["collect-only", "undefined-loop-variable", "ignore-paths", "sort-key"]
    assert info.messages == []
    assert analyze("a built-in re-run of a non-empty list").names == []
    assert analyze("`Content-Type` and 'content-type'").names == ["Content-Type"]  # one phrase


def test_the_scope_a_first_line_opens_with():
    assert analyze("printer: remove the 'subl' alias").scopes == ["printer"]
    assert analyze("fix(form)!: keep the defaults\n\nThe body says more.").scopes == ["form"]
    assert analyze("Ignore/Types, cli: add a method").scopes == ["ignore/types", "cli"]
    for q in ("Error: cannot open the file", "https://example.com/x: broken", "Why does it fail? see: the log",
              "```\nkey: 1\n```\nThe key is lost", ""):
        assert analyze(q).scopes == [], q


def test_a_scope_matches_the_files_in_that_part_of_the_project():
    assert scope_matches("ignore/types", "crates/ignore/src/types.rs")  # its parts in order
    assert scope_matches("printer", "crates/printer/src/util.rs") and scope_matches("printer", "src/Printer.java")
    assert scope_matches("form", "binding/form_mapping.go")  # a word of the file's stem
    assert scope_matches("_compat.py", "flask/_compat.py")
    assert not scope_matches("types/ignore", "crates/ignore/src/types.rs")
    assert not scope_matches("core", "crates/corex/a.rs") and not scope_matches("core", "src/score.py")


def test_a_block_quote_is_looked_for_as_a_message():
    """An issue that pastes the message it got as a Markdown quote has it looked for as a
    phrase, as a quoted string is; a `>>>` prompt, a pytest failure's `>   code` line and a
    quote of a word or two are not messages."""
    q = ("skip at module level\r\nThis issues this error:\r\n\r\n"
         ">Using pytest.skip outside of a test is not allowed. To decorate a test function, use marks.\r\n"
         "> and the docs say so too  \n"
         ">>> skip('why')\n"
         ">       assert foo == (3 + 2) * (6 + 9)\n"
         "> me too\n")
    assert analyze(q).messages == [
        "Using pytest.skip outside of a test is not allowed. To decorate a test function, use marks.",
        "and the docs say so too"]


def test_a_caller_the_question_names_is_told_apart():
    """"Called by X", "used by X", "invoked from X()": X calls what is asked about. A Sphinx
    role, a leading `~.` and a qualifier are left out; prose after the words is not a name."""
    def callers(q):
        return analyze(q).callers

    assert callers("Called by :meth:`.AppContext.pop`.") == ["AppContext.pop"]
    assert callers("Used by :func:`send_file` to determine the max age.") == ["send_file"]
    assert callers("This is invoked from run_hooks() each time, and called by Flask.dispatch.") == \
        ["run_hooks", "Flask.dispatch"]
    assert callers("called by the user; used by many; called in reverse order") == []
    assert callers("It should not be called from user code.") == []


def test_a_name_the_question_compares_with_is_told_apart():
    """"Like X, but", "works like X", "the same as X, except", "equivalent to X": X is what
    the subject resembles. "like" inside a sentence is as often "such as": not a likeness."""
    def likenesses(q):
        return analyze(q).likenesses

    assert likenesses("Like :meth:`errorhandler`, but for every request. Equivalent to "
                      ":meth:`.Flask.errorhandler`.") == ["errorhandler", "Flask.errorhandler"]
    assert likenesses("Works like :meth:`record` but wraps it; similar to make_setup_state().") == \
        ["record", "make_setup_state"]
    assert likenesses("The behavior is the same as :meth:`.Flask.after_request`, except ...") == \
        ["Flask.after_request"]
    assert likenesses("functions like `simplify` fail; override it like follows. For file-like objects.") == []
    assert analyze("called by foo. Like bar.").callers == [] and analyze("Like bar.").likenesses == []


def test_a_name_said_to_call_or_resemble_is_matched_with_its_qualifier():
    """A bare name matches only the bare mentions of it; a qualified one those with its
    qualifier and the bare ones: `Flask.url_for` works like `url_for` is still about Flask.url_for."""
    from retrieval.query import names_one_of

    info = analyze("`Flask.url_for` works like `url_for`, but inside the app.")
    assert info.likenesses == ["url_for"]
    said = {(m.name, m.qualifier) for m in info.mentions if names_one_of(m, info.likenesses)}
    assert said == {("url_for", "")} and ("url_for", "Flask") in {(m.name, m.qualifier) for m in info.mentions}
    info = analyze("Called by :meth:`AppContext.pop` and `pop`.")
    assert {(m.name, m.qualifier) for m in info.mentions if names_one_of(m, info.callers)} == \
        {("pop", "AppContext"), ("pop", "")}
    assert not names_one_of(next(m for m in analyze("`Stack.pop` and `AppContext.pop`").mentions
                                 if m.qualifier == "Stack"), ["AppContext.pop"])
