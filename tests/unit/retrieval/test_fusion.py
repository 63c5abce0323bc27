"""Hybrid search: exact signals and the graph fused with BM25, on a real index."""

from __future__ import annotations

import pytest
from conftest import index, reader, write_tree

from retrieval.search import FusionWeights, Searcher, Signals, fuse_signals, rank_files

FILES = {
    "shop/cart.py": (
        "from shop.pricing import apply_discount\n\n\n"
        "class Cart:\n"
        "    def __init__(self):\n        self.items = []\n\n"
        "    def add_item(self, item, qty=1):\n        self.items.append((item, qty))\n\n"
        "    def total(self):\n"
        "        subtotal = sum(i.price * q for i, q in self.items)\n"
        "        return apply_discount(subtotal)\n"),
    "shop/pricing.py": (
        "def apply_discount(amount):\n"
        "    if amount < 0:\n"
        "        raise ValueError('negative amounts cannot be discounted')\n"
        "    return amount * 0.9 if amount > 100 else amount\n\n\n"
        "def round_price(amount):\n    return round(amount, 2)\n"),
    "shop/report.py": (
        "def total_report(carts):\n"
        "    \"\"\"The total of every cart, for the report: totals add up.\"\"\"\n"
        "    totals = [c.total() for c in carts]\n    return sum(totals)\n"),
    "docs/guide.md": "# Totals\n\nThe total of a cart is the sum of its items; discounts apply to totals.\n",
    "tests/test_cart.py": (
        "from shop.cart import Cart\n\n\n"
        "def test_total():\n    c = Cart()\n    assert c.total() == 0\n"),
}


@pytest.fixture()
def shop(tmp_path):
    write_tree(tmp_path, FILES)
    index(tmp_path)
    store = reader(tmp_path)
    yield Searcher(store)
    store.close()


def top(searcher, query, k=5):
    return [(h.path, h.symbol) for h in searcher.search(query, "hybrid", k=k)]


def test_a_named_definition_comes_first_and_says_why(shop):
    hits = shop.search("why does `apply_discount` misbehave", "hybrid", k=5)
    assert (hits[0].path, hits[0].symbol) == ("shop/pricing.py", "apply_discount")
    assert {"symbol", "lexical"} <= set(hits[0].ranks)


def test_a_stack_frame_finds_its_line_and_file(shop):
    q = ('Traceback:\n  File "/opt/venv/lib/site-packages/shop/pricing.py", line 3, in apply_discount\n'
         "ValueError: negative amounts cannot be discounted")
    hits = shop.search(q, "hybrid", k=3)
    assert hits[0].path == "shop/pricing.py" and hits[0].symbol == "apply_discount"
    assert {"path", "message"} <= set(hits[0].ranks)
    files = shop.files(q, "hybrid", k=3)
    assert files[0].path == "shop/pricing.py" and "path" in files[0].ranks


def test_graph_expansion_brings_what_the_best_units_call(shop):
    sig = shop.signals("Cart.total() is wrong for big carts", mode="hybrid")
    assert all("apply_discount" not in symbols_of(shop, c) for c, _ in sig.rankings["lexical"])
    graph = [c for c, _ in sig.rankings["graph"]]
    assert any("apply_discount" in symbols_of(shop, c) for c in graph)  # Cart.total calls it


def test_prose_and_tests_rank_below_code_that_matches_as_well(shop):
    files = [f.path for f in shop.files("total of a cart", "hybrid", k=10)]
    assert files.index("shop/cart.py") < files.index("docs/guide.md")
    assert files.index("shop/cart.py") < files.index("tests/test_cart.py")
    no_priors = Searcher(shop.store, weights=FusionWeights(docs=1.0, tests=1.0))
    assert [f.path for f in no_priors.files("total of a cart", "hybrid", k=10)] != files


def test_a_vendored_release_of_a_library_ranks_below_the_projects_own_code(tmp_path):
    """A copy of another project's release (jquery-3.5.1.js) is long and full of every word:
    it counts as prose does, so the project's own code that matches comes first."""
    kit = "\n\n".join(f"function cartTotal{i}(cart) {{\n  // the total of a cart, variant {i}\n"
                       f"  return cart.items.reduce((total, item) => total + item.price * {i}, 0);\n}}"
                       for i in range(12))
    write_tree(tmp_path, {
        "shop/cart.js": "function cartTotal(cart) {\n  return cart.items.reduce((t, i) => t + i.price, 0);\n}\n",
        "shop/static/cartkit-2.4.1.js": kit + "\n",
    })
    index(tmp_path)
    store = reader(tmp_path)
    try:
        files = [f.path for f in Searcher(store).files("the total of a cart", "hybrid", k=5)]
        assert files[0] == "shop/cart.js", files
        no_priors = Searcher(store, weights=FusionWeights(docs=1.0))
        assert no_priors.files("the total of a cart", "hybrid", k=5)[0].path == "shop/static/cartkit-2.4.1.js"
    finally:
        store.close()


def test_a_python_package_copied_into_the_project_ranks_below_the_projects_own_code(tmp_path):
    """A package inside another package that sets a release of its own (__version__ = "1.26.0")
    is another project's copy (requests/packages/urllib3): it counts as prose does. The
    project's own top package sets its version too, and is the project."""
    from retrieval.signals import vendored_dirs

    pool = "\n\n".join(f"def connection_pool_retry_{i}(pool, retries):\n"
                        f"    \"\"\"Retry the pool's connection, variant {i}.\"\"\"\n"
                        f"    return pool.urlopen(retries=retries - {i})\n" for i in range(12))
    write_tree(tmp_path, {
        "client/__init__.py": '__version__ = "2.3.0"\n',
        "client/adapters.py": "def retry_connection(pool, retries):\n    return pool.send(retries)\n",
        "client/packages/__init__.py": "",
        "client/packages/urllib9/__init__.py": '__author__ = "someone else"\n__version__ = "1.26.0"\n',
        "client/packages/urllib9/pool.py": pool + "\n",
        "client/sub/__init__.py": "__version__ = VERSION\n",  # not a release string: the project's
        # a namespace package (pkgutil or pkg_resources style) holds the project's own package
        "nsp/__init__.py": "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n",
        "nsp/tool/__init__.py": '__version__ = "0.3"\n',
        "old/__init__.py": "__import__('pkg_resources').declare_namespace(__name__)\n",
        "old/tool/__init__.py": "__version__ = '1.1.6'\n",
    })
    index(tmp_path)
    store = reader(tmp_path)
    try:
        assert vendored_dirs(store) == ("client/packages/urllib9/",)
        question = "retry the connection pool when retries run out"
        files = [f.path for f in Searcher(store).files(question, "hybrid", k=5)]
        assert files[0] == "client/adapters.py", files
        no_priors = Searcher(store, weights=FusionWeights(docs=1.0))
        assert no_priors.files(question, "hybrid", k=5)[0].path == "client/packages/urllib9/pool.py"
    finally:
        store.close()
    write_tree(tmp_path, {"client/packages/six9/__init__.py": "__version__ = '1.16.0'\n"})
    index(tmp_path)
    store = reader(tmp_path)
    try:  # the index as it is now
        assert vendored_dirs(store) == ("client/packages/six9/", "client/packages/urllib9/")
    finally:
        store.close()


def test_baselines_are_one_signal_alone(shop):
    lexical = shop.search("apply_discount", "lexical", k=3)
    assert all(set(h.ranks) == {"lexical"} for h in lexical)
    # in BM25's own order, which the scores shown are: docs and tests are not demoted here
    hits = shop.search("total of a cart", "lexical", k=10)
    assert {"docs/guide.md", "tests/test_cart.py"} & {h.path for h in hits}
    assert [h.ranks["lexical"] for h in hits] == list(range(1, len(hits) + 1))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    with pytest.raises(Exception, match="dense search needs vectors"):
        shop.search("x", "dense")
    with pytest.raises(Exception, match="unknown search mode"):
        shop.search("x", "fuzzy")


def test_weighted_reciprocal_rank_fusion_and_file_ranking():
    sig = Signals(rankings={"lexical": [(1, 9.0), (2, 5.0), (3, 1.0)], "symbol": [(3, 1.0)]})
    w = FusionWeights(symbol=2.0, k=1.0, docs=1.0, tests=1.0, file_decay=0.5)
    fused = fuse_signals(sig, w)
    assert [f.chunk_id for f in fused] == [3, 1, 2]  # 1/4 + 2/2 beats 1/2
    assert fused[0].ranks == {"lexical": 3, "symbol": 1}
    files = rank_files(fused, {1: "a.py", 2: "a.py", 3: "b.py"}, Signals(files={"c.py": 1.0}), w)
    assert [f.path for f in files] == ["b.py", "a.py", "c.py"]  # a named file counts as a unit ranked there
    a = next(f for f in files if f.path == "a.py")
    assert a.units == (1, 2) and a.score == pytest.approx(0.5 + 0.5 * (1 / 3))


def test_whole_file_ranking_counts_as_a_unit_of_its_rank_with_the_priors():
    fused = fuse_signals(Signals(rankings={"lexical": [(1, 9.0), (2, 5.0)]}), FusionWeights(k=1.0))
    sig = Signals(file_rankings={"file_lexical": ["docs/guide.md", "tests/test_b.py", "b.py", "a.py"]},
                  prose_files={"docs/guide.md"})
    w = FusionWeights(k=1.0, docs=0.5, tests=0.25, file_decay=0.5, file_lexical=2.0)
    files = {f.path: f for f in rank_files(fused, {1: "a.py", 2: "b.py"}, sig, w)}
    assert files["a.py"].score == pytest.approx(1 / 2 + 2 / 5)
    assert files["b.py"].score == pytest.approx(1 / 3 + 2 / 4)  # b.py overtakes a.py
    assert files["docs/guide.md"].score == pytest.approx(0.5 * 2 / 2)
    assert files["tests/test_b.py"].score == pytest.approx(0.25 * 2 / 3)
    assert files["b.py"].ranks == {"lexical": 2, "file_lexical": 3} and files["docs/guide.md"].units == ()
    off = rank_files(fused, {1: "a.py", 2: "b.py"}, sig, FusionWeights(k=1.0, file_lexical=0.0))
    assert [f.path for f in off] == ["a.py", "b.py"]


def test_a_scope_the_question_opens_with_lifts_the_files_inside_it():
    fused = fuse_signals(Signals(rankings={"lexical": [(1, 9.0), (2, 5.0), (3, 4.0), (4, 1.0)]}), FusionWeights(k=1.0))
    paths = {1: "core/app.rs", 2: "printer/util.rs", 3: "printer/path.rs", 4: "docs/printer/guide.md"}
    sig = Signals(scopes=["printer"])
    w = FusionWeights(k=1.0, docs=0.5, file_decay=0.5, scope=1.0)
    files = {f.path: f for f in rank_files(fused, paths, sig, w)}
    # each file inside the scope adds weight / (K + its rank among them by the rest), with the priors
    assert files["printer/util.rs"].score == pytest.approx(1 / 3 + 1 / 2)
    assert files["printer/path.rs"].score == pytest.approx(1 / 4 + 1 / 3)
    assert files["docs/printer/guide.md"].score == pytest.approx(1 / 5 + 0.5 / 4)
    assert files["core/app.rs"].score == pytest.approx(1 / 2) and "scope" not in files["core/app.rs"].ranks
    assert files["printer/util.rs"].ranks == {"lexical": 2, "scope": 1}
    assert set(files) == set(paths.values())  # a file nothing else found is not added
    ranked = [f.path for f in rank_files(fused, paths, sig, w)]
    assert ranked == ["printer/util.rs", "printer/path.rs", "core/app.rs", "docs/printer/guide.md"]
    off = [f.path for f in rank_files(fused, paths, sig, FusionWeights(k=1.0, docs=0.5, file_decay=0.5, scope=0.0))]
    assert off == ["core/app.rs", "printer/util.rs", "printer/path.rs", "docs/printer/guide.md"]


def test_a_commit_subjects_scope_finds_its_file_on_a_real_index(tmp_path):
    """`printer: ...` says which part of the project a change is in, where the rest of the
    subject's words are as much another part's."""
    write_tree(tmp_path, {
        "core/columns.py": (
            "def pad_column(text, width):\n    return text.ljust(width)\n\n\n"
            "def column_width(rows):\n    return max(len(r) for r in rows)\n\n\n"
            "def pad_columns(rows, width):\n    return [pad_column(r, width) for r in rows]\n"),
        "printer/table.py": (
            "def render(rows):\n    width = 10\n    return '\\n'.join(r.rjust(width) for r in rows)\n"),
    })
    index(tmp_path)
    store = reader(tmp_path)
    question = "printer: pad each column to its width"
    try:
        sig = Searcher(store).signals(question)
        assert sig.scopes == ["printer"]
        first_only_with(store, question, "scope", "printer/table.py", "core/columns.py")
    finally:
        store.close()


def first_only_with(store, question, signal, first, second):
    """The two files rank `first`, `second` (`first` found by `signal` at rank 1), and the
    other way round without that signal."""
    files = Searcher(store).files(question, "hybrid", k=2)
    assert [f.path for f in files] == [first, second] and files[0].ranks[signal] == 1
    without = Searcher(store, weights=FusionWeights(**{signal: 0.0})).files(question, "hybrid", k=2)
    assert without[0].path == second


def symbols_of(searcher, cid):
    return searcher.store.conn.execute("SELECT symbol || symbols FROM chunks WHERE id = ?", (cid,)).fetchone()[0]


def test_an_interpreter_banner_pasted_with_a_session_does_not_pick_the_files(tmp_path):
    """A console that prints the interpreter's banner shares the banner's rare words (copyright,
    credits, Anaconda); the question's own words must decide."""
    write_tree(tmp_path, {
        "shop/console.py": (
            "BANNER = (\n"
            "    'Python 3.6 |Anaconda custom (64-bit)| (default)\\n'\n"
            "    \"Type 'copyright', 'credits' or 'license' for more information\\n\"\n"
            "    'IPython 6.2.1 -- An enhanced Interactive Python.')\n\n\n"
            "def interact():\n    print(BANNER)\n"),
        "shop/refunds.py": (
            "def refund_total(order):\n"
            '    """The refund of an order: its paid amount less the restocking fee."""\n'
            "    return order.paid - order.fee\n"),
    })
    index(tmp_path)
    store = reader(tmp_path)
    question = ("The refund total ignores the fee\n```\n"
                "Python 3.6.4 |Anaconda custom (64-bit)| (default, Dec 21 2017, 15:39:08)\n"
                "Type 'copyright', 'credits' or 'license' for more information\n"
                "IPython 6.2.1 -- An enhanced Interactive Python. Type '?' for help.\n\n"
                "In [1]: o = Order(paid=10, fee=2)\nIn [2]: refund(o)\nOut[2]: 10\n```\n")
    try:
        searcher = Searcher(store)
        files = searcher.files(question, "hybrid", k=5)
        assert files[0].path == "shop/refunds.py", files
        sig = searcher.signals(question)  # no word of the question is in the console any more
        assert "shop/console.py" not in {sig.paths[c] for c, _ in sig.rankings["lexical"]}
        assert "shop/console.py" not in sig.file_rankings["file_lexical"]
    finally:
        store.close()


def test_the_file_a_trace_was_raised_in_ranks_first(tmp_path):
    """A pasted traceback passes through the code that happened to run first (here a parser the
    question's words are all about); the error comes from its most recent call in the
    repository, below the frames of another package."""
    write_tree(tmp_path, {
        "geo/parsing.py": (
            "from geo.point import Point\n\n\n"
            "def parse_expr(text, evaluate=True):\n"
            "    code = transform_tokens(text)\n    return eval_expr(code, evaluate)\n\n\n"
            "def transform_tokens(text):\n    return text.replace('^', '**')\n\n\n"
            "def eval_expr(code, evaluate):\n    return eval(code, {'Point': Point, 'evaluate': evaluate})\n"),
        "geo/point.py": (
            "class Point:\n"
            "    def __init__(self, x, y):\n"
            "        if isinstance(x, complex) or isinstance(y, complex):\n"
            "            raise ValueError('coordinates must be real')\n"
            "        self.x, self.y = x, y\n"),
    })
    index(tmp_path)
    store = reader(tmp_path)
    question = ("parse_expr fails when evaluate is off: parsing the text gives an error\n"
                "Traceback (most recent call last):\n"
                '  File "/home/me/venv/lib/python3.11/site-packages/geo/parsing.py", line 6, in parse_expr\n'
                "    return eval_expr(code, evaluate)\n"
                '  File "/home/me/venv/lib/python3.11/site-packages/geo/parsing.py", line 14, in eval_expr\n'
                "    return eval(code, {'Point': Point, 'evaluate': evaluate})\n"
                '  File "<string>", line 1, in <module>\n'
                '  File "/home/me/venv/lib/python3.11/site-packages/geo/point.py", line 4, in __init__\n'
                "    raise ValueError('not here')\n"
                '  File "/usr/lib/python3.11/abc.py", line 119, in __instancecheck__\n'
                "TypeError: unexpected\n")
    try:
        sig = Searcher(store).signals(question)
        assert sig.file_rankings["crash"] == ["geo/point.py"]
        first_only_with(store, question, "crash", "geo/point.py", "geo/parsing.py")
    finally:
        store.close()


def test_the_title_of_a_long_question_ranks_files_by_its_own_words(tmp_path):
    """A long body's many words outnumber the title's few: the title says what the question is
    about (an issue's title, a commit's subject) and ranks whole files by itself too."""
    write_tree(tmp_path, {
        "shop/refunds.py": (
            "def refund(order):\n"
            "    return order.paid - restocking_fee(order)\n\n\n"
            "def restocking_fee(order):\n    return order.paid * 0.1\n"),
        "shop/session.py": (
            "def open_session(user):\n    log_session(user, 'opened')\n    return {'user': user, 'cart': []}\n\n\n"
            "def log_session(user, event):\n    print(user, event, 'session', 'browser', 'login')\n"),
    })
    index(tmp_path)
    store = reader(tmp_path)
    question = ("Refund forgets the restocking fee\n\n"
                "I log in, the session opens in the browser, my session shows the cart, the session "
                "log says the session opened after login, then in the same browser session I ask for a "
                "refund and the session ends.\n")
    try:
        sig = Searcher(store).signals(question)
        assert sig.file_rankings["title"][0] == "shop/refunds.py"
        ranked = [f.path for f in Searcher(store).files(question, "hybrid", k=2)]
        assert ranked == ["shop/refunds.py", "shop/session.py"]
        without = Searcher(store, weights=FusionWeights(title=0.0)).files(question, "hybrid", k=2)
        assert without[0].path == "shop/session.py"
    finally:
        store.close()


def test_a_frame_finds_its_file_by_the_longest_suffix_the_index_knows(tmp_path):
    """A frame's path is the installed copy's (site-packages/geo/point.py), a Windows one, or
    differs in case; it resolves to the index's file by suffix, the index as it is now."""
    from retrieval.signals import resolve_path

    write_tree(tmp_path, {"geo/point.py": "class Point:\n    pass\n", "geo/my_point.py": "X = 1\n",
                          "other/point.py": "Y = 2\n", "geo/mypoint.py": "Z = 3\n",
                          ".ci/point.py": "W = 4\n", ".startup.py": "V = 5\n", "startup.py": "U = 6\n"})
    index(tmp_path)
    store = reader(tmp_path)
    try:
        def paths_of(mention):
            return sorted(p for _, p in resolve_path(store, mention))

        assert paths_of("/home/me/venv/lib/python3.11/site-packages/geo/point.py") == ["geo/point.py"]
        assert paths_of("C:\\Users\\me\\geo\\Point.py") == ["geo/point.py"]
        assert paths_of("point.py") == [".ci/point.py", "geo/point.py", "other/point.py"]
        assert paths_of("./.ci/point.py") == paths_of(".ci/point.py") == [".ci/point.py"]  # a dotted directory
        assert paths_of(".startup.py") == [".startup.py"] and paths_of("./startup.py") == ["startup.py"]
        assert paths_of("geo/my_point.py") == ["geo/my_point.py"]  # `_` is no wildcard
        assert paths_of("geo.point.Point") == ["geo/point.py"]
        assert paths_of("/usr/lib/python3.11/abc.py") == []
    finally:
        store.close()
    write_tree(tmp_path, {"abc.py": "def f():\n    pass\n"})
    index(tmp_path)
    store = reader(tmp_path)
    try:  # a file indexed since the last question is found
        assert [p for _, p in resolve_path(store, "/usr/lib/python3.11/abc.py")] == ["abc.py"]
    finally:
        store.close()


def test_a_name_the_tests_repeat_is_still_found_where_the_code_holds_it(tmp_path):
    """An option's name in one place of the code and in 30 tests: the code comes first. A
    name the code itself holds everywhere says nothing, and neither does a quoted string
    (not a name) that the tests repeat: it is as likely the question's own data."""
    files = {"tool/cli.py": "def add_options(parser):\n    parser.add('--collect-only', help='only list')\n",
             "tool/run.py": "def run(argv):\n    return main(argv, 'alpha, beta, gamma')\n"}
    for i in range(30):
        files[f"tests/test_cli_{i}.py"] = (f"def test_collect_{i}(run):\n    run('--collect-only', {i})\n"
                                           f"    run('alpha, beta, gamma')\n")
    for i in range(25):
        files[f"tool/plugin_{i}.py"] = f"def hook_{i}(parser):\n    parser.add('--verbose-mode', {i})\n"
    write_tree(tmp_path, files)
    index(tmp_path)
    store = reader(tmp_path)
    try:
        s = Searcher(store)
        sig = s.signals("the `--collect-only` option lists nothing", mode="hybrid")
        assert sig.rankings["message"] and sig.paths[sig.rankings["message"][0][0]] == "tool/cli.py"
        assert s.files("pytest --collect-only lists nothing", "hybrid", k=1)[0].path == "tool/cli.py"
        assert s.signals("the `--verbose-mode` option", mode="hybrid").rankings["message"] == []
        assert s.signals("run('alpha, beta, gamma') fails", mode="hybrid").rankings["message"] == []
    finally:
        store.close()


def test_each_named_definition_maps_to_its_own_chunk_or_the_one_holding_it(shop):
    """The symbol signal's definitions become chunks in one query: the chunk of the symbol
    where it has one, else the smallest chunk holding its line (small definitions share one)."""
    from retrieval.signals import chunk_at, chunks_for

    store = shop.store
    defs = store.conn.execute(
        "SELECT s.file_id, s.qualname, s.start_line FROM symbols s JOIN files f ON f.id = s.file_id "
        "WHERE f.path LIKE 'shop/%' ORDER BY f.path, s.start_line").fetchall()
    assert len(defs) >= 6
    found = chunks_for(store, [tuple(d) for d in defs] + [(10**6, "nowhere", 1)])
    assert found[-1] is None and len(found) == len(defs) + 1
    for (file_id, qualname, line), cid in zip(defs, found):
        own = store.conn.execute("SELECT id FROM chunks WHERE file_id = ? AND symbol = ? ORDER BY start_line LIMIT 1",
                                 (file_id, qualname)).fetchone()
        assert cid == (own[0] if own else chunk_at(store, file_id, line)), qualname
        start, end = store.conn.execute("SELECT start_line, end_line FROM chunks WHERE id = ?", (cid,)).fetchone()
        assert start <= line <= end or own
    assert any(store.conn.execute("SELECT symbol FROM chunks WHERE id = ?", (c,)).fetchone()[0] != q
               for (_, q, _), c in zip(defs, found))  # some share a chunk
    assert chunks_for(store, []) == []


def test_a_definition_described_by_its_caller_is_found_through_the_graph(shop):
    """"Called by `Cart.total`" asks about what Cart.total calls, not Cart.total: the symbol
    signal ranks its callees above it, and so does the search; named plainly, it ranks first."""
    said_q, plain_q = "Called by `Cart.total` to lower the amount of a big order.", "`Cart.total` lowers the amount."
    said = shop.signals(said_q, mode="hybrid")
    first = symbols_of(shop, said.rankings["symbol"][0][0])
    assert "apply_discount" in first and "total" not in first
    assert top(shop, said_q, k=1) == [("shop/pricing.py", "apply_discount")]
    plain = shop.signals(plain_q, mode="hybrid")
    assert "total" in symbols_of(shop, plain.rankings["symbol"][0][0])
    assert all("apply_discount" not in symbols_of(shop, c) for c, _ in plain.rankings["symbol"])
    assert top(shop, plain_q, k=1)[0][0] == "shop/cart.py"


def test_a_definition_the_question_compares_with_is_not_what_it_asks_about(shop):
    """"Like `apply_discount`, but ..." describes something else: the symbol signal leaves
    apply_discount out, and the search's first unit is another."""
    q = "Like `apply_discount`, but rounds the amount to cents."
    assert all("apply_discount" not in symbols_of(shop, c) for c, _ in shop.signals(q, mode="hybrid").rankings["symbol"])
    assert top(shop, q, k=1)[0][1] != "apply_discount"
    named = "`apply_discount` rounds the amount to cents."
    assert top(shop, named, k=1) == [("shop/pricing.py", "apply_discount")]
