"""Context bundles: best code first, whole definitions, merged spans, within the budget."""

from __future__ import annotations

import pytest
from conftest import git, git_repo, index, reader
from tokenizers import Tokenizer

from indexer.embed import default_model_path
from retrieval.bundle import BundleError, build_bundle
from retrieval.search import DEPTH, Searcher
from retrieval.tokens import counter_for

BIG_BODY = "".join(f"    step_{i} = normalise(value, {i})  # keep the order of the steps\n" for i in range(300))
FILES = {
    "shop/__init__.py": "",
    "shop/cart.py": (
        "from shop.pricing import apply_discount\n\n\n"
        "class Cart:\n"
        "    \"\"\"A shopping cart: items and their quantities.\"\"\"\n\n"
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
    "shop/pipeline.py": "def normalise(value, i):\n    return value\n\n\ndef run_pipeline(value):\n" + BIG_BODY
                        + "    return value\n",
}


@pytest.fixture()
def shop(tmp_path):
    git_repo(tmp_path, FILES)
    index(tmp_path)
    store = reader(tmp_path)
    yield tmp_path, Searcher(store)
    store.close()


def test_the_bundle_never_exceeds_its_budget(shop):
    root, searcher = shop
    counter = counter_for()
    raw = Tokenizer.from_file(str(default_model_path() / "tokenizer.json"))
    raw.no_truncation()
    raw.no_padding()
    for budget in (64, 100, 200, 400, 1000, 3000, 20000):
        b = build_bundle(searcher, root, "cart total with discount and the pipeline steps", budget, counter)
        assert counter.count(b.render()) == b.tokens <= budget, budget
        assert len(raw.encode(b.render(), add_special_tokens=False).ids) == b.tokens  # counted whole
        spans = sorted((u.path, u.start_line, u.end_line) for u in b.units)
        for (p1, _, e1), (p2, s2, _) in zip(spans, spans[1:]):
            assert p1 != p2 or e1 < s2, "a line twice"
    assert b.units and b.repo_map and b.snapshot in b.render()
    with pytest.raises(BundleError, match="too small"):
        build_bundle(searcher, root, "cart", 10, counter)


def test_units_are_whole_definitions_with_reasons_and_relations(shop):
    root, searcher = shop
    b = build_bundle(searcher, root, "why does `Cart.total` apply the discount wrongly", 4000, counter_for())
    by_path = {u.path: u for u in b.units}
    cart = by_path["shop/cart.py"]
    assert "def total(self):" in cart.text and "return apply_discount(subtotal)" in cart.text
    assert cart.reason and f"### {cart.location}" in b.render()
    assert "apply_discount" in by_path["shop/pricing.py"].text
    rels = {(r.src, r.kind, r.dst) for r in b.relations}
    assert ("Cart.total", "calls", "apply_discount") in rels
    assert "Cart.total calls apply_discount" in b.render()
    assert b.snapshot == git(root, "rev-parse", "HEAD").strip()[:12]
    assert "shop/cart.py  (shown below)" in b.repo_map and "def apply_discount(amount)" in b.repo_map


def test_a_definition_too_large_for_the_budget_is_cut_to_its_head(shop):
    root, searcher = shop
    b = build_bundle(searcher, root, "run_pipeline normalise steps", 600, counter_for())
    pipeline = [u for u in b.units if u.path == "shop/pipeline.py"]
    assert pipeline and b.tokens <= 600
    assert any(u.kind == "lines" or u.end_line - u.start_line < 300 for u in pipeline)


def test_a_file_edited_since_indexing_shows_what_was_indexed(shop):
    root, searcher = shop
    (root / "shop/pricing.py").write_text("# rewritten, not yet indexed\n")
    b = build_bundle(searcher, root, "`apply_discount` negative amounts", 2000, counter_for())
    pricing = next(u for u in b.units if u.path == "shop/pricing.py")
    assert "raise ValueError('negative amounts cannot be discounted')" in pricing.text



def test_the_best_file_comes_nearly_whole_before_weak_matches_elsewhere(shop):
    """A fix often lies in a part of the right file that no signal matched: the unmatched
    units of the best file go in before a weaker file's matched units."""
    from retrieval.bundle import _priorities
    from retrieval.search import FileHit, Fused

    root, searcher = shop
    ids = {p: [c for (c,) in searcher.store.conn.execute(
        "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path = ? ORDER BY c.start_line", (p,))]
        for p in ("shop/cart.py", "shop/pricing.py")}
    assert len(ids["shop/cart.py"]) >= 2
    matched_best, *unmatched = ids["shop/cart.py"]
    matched_weak = ids["shop/pricing.py"][0]
    fused = [Fused(matched_best, 0.03, {"lexical": 1}), Fused(matched_weak, 0.02, {"lexical": 2})]
    paths = {matched_best: "shop/cart.py", matched_weak: "shop/pricing.py"}
    files = [FileHit("shop/cart.py", 0.04, (matched_best,), {}), FileHit("shop/pricing.py", 0.02, (matched_weak,), {})]
    order = [f.chunk_id for f in _priorities(searcher.store, "", fused, paths, files)]
    assert order[0] == matched_best
    assert order.index(unmatched[0]) < order.index(matched_weak)  # 2 * 0.04 > 0.02 + 2 * 0.02
    assert set(order) == set(ids["shop/cart.py"]) | set(ids["shop/pricing.py"])


def test_a_large_files_units_nearest_the_best_match_come_first_then_those_sharing_the_questions_words(tmp_path):
    """When the best file is too large to show whole, its unmatched units go in by their
    distance from the ranking's best unit in it (the next one on either side right after the
    unit itself: a fix is mostly beside what was found); at one distance, those sharing the
    question's words first. A file with none of the best units keeps the words, then the
    file's order."""
    from retrieval.bundle import _priorities
    from retrieval.search import FileHit, Fused

    body = "".join(f"    total_{j} = ledger.entry({j}) + ledger.balance({j})\n" for j in range(12))
    names = [f"handle_step_{i}" for i in range(30)]
    names[17] = "refund_twice"
    code = "".join(f"def {n}(ledger):\n{body}    return ledger\n\n\n" for n in names)
    code = code.replace("def refund_twice(ledger):\n", "def refund_twice(ledger):\n    # refund a duplicated charge\n")
    store, units = indexed_units(tmp_path, {"orders.py": code, "other.py": "def unrelated():\n    return 1\n"})
    try:
        ids = units["orders.py"]
        symbol = dict(store.conn.execute("SELECT id, symbol FROM chunks"))
        at = {symbol[cid]: k for k, cid in enumerate(ids)}
        found, refund = at["handle_step_12"], at["refund_twice"]
        assert len(ids) == 30 and refund - found == 5
        fused = [Fused(ids[found], 0.03, {"lexical": 1})]
        files = [FileHit("orders.py", 0.04, (ids[found],), {})]
        order = [ids.index(f.chunk_id) for f in _priorities(
            store, "refund a duplicated charge", fused, {ids[found]: "orders.py"}, files)]
        assert order[0] == found and set(order[1:3]) == {found - 1, found + 1}
        gaps = [abs(k - found) for k in order]
        assert gaps == sorted(gaps)  # nearest first
        assert order.index(refund) == order.index(found - 5) - 1  # at one distance, the words first
        # a question sharing no word: by distance, the earlier line first
        order = [ids.index(f.chunk_id) for f in _priorities(
            store, "zebra", fused, {ids[found]: "orders.py"}, files)]
        assert order[:5] == [found, found - 1, found + 1, found - 2, found + 2]
        # no best unit in the file: the words, then the file's order; a file of one unit
        # (none beside it) comes after, whole
        one = units["other.py"]
        assert len(one) == 1
        order = [f.chunk_id for f in _priorities(store, "refund a duplicated charge", [], {},
                                                 files + [FileHit("other.py", 0.01, (), {})])]
        assert [ids.index(c) for c in order[:30]] == [refund] + [k for k in range(30) if k != refund]
        assert order[30:] == one
    finally:
        store.close()


def indexed_units(root, files: dict[str, str]):
    """A reader of the index of a repository holding `files`, and each file's chunk ids in
    line order."""
    git_repo(root, files)
    index(root)
    store = reader(root)
    return store, {p: [c for (c,) in store.conn.execute(
        "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path = ? ORDER BY c.start_line",
        (p,))] for p in files}


def test_the_five_best_files_may_fill_the_bundle_and_no_more(tmp_path):
    """The unmatched units of the five best files are candidates (the right file is often
    second to fifth, and a 32k bundle has room for more than three); a sixth file's are not."""
    from retrieval.bundle import _priorities
    from retrieval.search import FileHit, Fused

    files = {f"m{i}.py": f"def matched_{i}():\n    return {i}\n\n\n" + "".join(
        f"def other_{i}_{j}(x):\n    y = x + {j}\n    z = y * {i}\n    return z - {j}\n\n\n" for j in range(8))
        for i in range(6)}
    store, ids = indexed_units(tmp_path, files)
    try:
        assert all(len(v) >= 2 for v in ids.values())
        fused = [Fused(ids[p][0], 0.03 - 0.001 * i, {"lexical": i + 1}) for i, p in enumerate(files)]
        paths = {ids[p][0]: p for p in files}
        ranked = [FileHit(p, 0.04 - 0.002 * i, (ids[p][0],), {}) for i, p in enumerate(files)]
        order = {f.chunk_id for f in _priorities(store, "", fused, paths, ranked)}
        for i, p in enumerate(files):
            assert (set(ids[p][1:]) <= order) == (i < 5), p
    finally:
        store.close()


def test_a_found_unit_of_the_next_file_comes_before_the_first_files_unfound_ones(tmp_path):
    """The best file's unmatched units fill the bundle after what the signals found in a file
    ranked close behind it: a fix is as often there as in the first file's remaining code.
    Only the chunk next to the best unit itself goes before: it is most often what the unit
    continues."""
    from retrieval.bundle import _priorities
    from retrieval.search import FileHit, Fused

    files = {p: "".join(f"def {p[0]}_{j}(x):\n    y = x + {j}\n    return y * {j}\n\n\n" for j in range(8))
             for p in ("first.py", "second.py")}
    store, ids = indexed_units(tmp_path, files)
    try:
        first, second = ids["first.py"], ids["second.py"]
        fused = [Fused(first[0], 0.03, {"lexical": 1}), Fused(second[0], 0.015, {"lexical": 2})]
        paths = {first[0]: "first.py", second[0]: "second.py"}
        ranked = [FileHit("first.py", 0.06, (first[0],), {}), FileHit("second.py", 0.04, (second[0],), {})]
        order = [f.chunk_id for f in _priorities(store, "", fused, paths, ranked)]
        assert order[:3] == [first[0], first[1], second[0]]
        assert set(order[3:]) == set(first[2:]) | set(second[1:])
        assert max(order.index(c) for c in first[2:]) < min(order.index(c) for c in second[1:])
    finally:
        store.close()


def test_merged_and_cut_spans_count_and_show_exactly_their_lines(tmp_path, monkeypatch):
    """Spans grow as a file's adjacent units merge (counted by the lines each merge adds),
    a class too large to show whole shows its matching chunks (counted only until past the
    cap), and a span over the rest of the budget is cut: every unit's text is its lines and
    its count theirs."""
    from retrieval.bundle import _UNIT_OVERHEAD, LineCache, _priorities, _select
    from retrieval.search import rank_files

    small = "".join(f"def step_{i}(ledger):\n    return ledger.entry({i}) + ledger.balance({i})\n\n" for i in range(40))
    big = "class Ledger:\n" + "".join(
        f"    def post_{i}(self, amount):\n" + "".join(f"        self.row_{j} = amount * {j}\n" for j in range(20))
        for i in range(40))
    table = "class Table:\n" + "".join(f"    column_{i} = ledger_amount({i})  # a posted row\n" for i in range(600))
    git_repo(tmp_path, {"steps.py": small, "ledger.py": big, "table.py": table})
    index(tmp_path)
    store = reader(tmp_path)
    capped = []
    span_tokens = LineCache.span_tokens

    def spy(self, file_id, path, start, end, cap=None):
        n = span_tokens(self, file_id, path, start, end, cap)
        if cap is not None and n > cap:
            capped.append((path, start, end, n))
        return n

    monkeypatch.setattr(LineCache, "span_tokens", spy)
    try:
        assert store.conn.execute("SELECT count(*) FROM chunks c JOIN files f ON f.id = c.file_id "
                                  "WHERE f.path = 'table.py' AND c.symbol = 'Table'").fetchone()[0] >= 2
        searcher, counter = Searcher(store), counter_for()
        newline = 0 if counter.by_line else 1  # a newline is no WordPiece token
        question = "ledger entry balance post amount rows table column"
        fused, sig = searcher.fused(question, "hybrid", depth=DEPTH)
        paths = dict(sig.paths)
        order = _priorities(store, question, fused, paths, rank_files(fused, paths, sig, searcher.weights))
        shown, measured = {}, {}
        for budget in (700, 1500, 4000, 30000):
            lines = LineCache(store, tmp_path, counter)
            capped.clear()
            spans = shown[budget] = _select(store, lines, order, paths, budget)
            measured[budget] = list(capped)
            assert spans and sum(s.tokens for s in spans) <= budget
            for s in spans:
                file_lines = (tmp_path / s.path).read_text().splitlines()
                assert s.text == "\n".join(file_lines[s.start - 1:s.end])
                assert s.tokens == sum(counter.count(ln) + newline for ln in file_lines[s.start - 1:s.end]) + _UNIT_OVERHEAD
        # the class is too large to show whole: counted once per bundle, and not to its end
        whole = sum(counter.count(ln) + newline for ln in table.splitlines())
        assert all(len(m) <= 1 for m in measured.values()) and len(measured[30000]) == 1
        assert all(p == "table.py" and end - start == 600 and n < whole
                   for m in measured.values() for p, start, end, n in m)
        largest = store.conn.execute("SELECT max(c.end_line - c.start_line + 1) FROM chunks c JOIN files f "
                                     "ON f.id = c.file_id WHERE f.path = 'table.py'").fetchone()[0]
        assert sum(s.end - s.start + 1 for s in shown[30000] if s.path == "table.py") > largest  # several chunks
        assert all(s.end - s.start < 600 for b in (700, 1500, 4000) for s in shown[b] if s.path == "table.py")
        assert any(s.end - s.start > 10 for s in shown[4000] if s.path == "steps.py")  # merged
        assert any(s.path == "ledger.py" and s.end - s.start > 400 for s in shown[30000])  # its units merged
    finally:
        store.close()



def test_a_definition_reaching_over_several_shown_spans_joins_them_and_shows_no_line_twice(tmp_path):
    """A function before `outer` and the function nested in it are shown first, apart; then
    a chunk of `outer` grows to the whole function, which meets both. It takes their place as
    one span, counted once: no line of the file is shown twice."""
    from retrieval.bundle import _UNIT_OVERHEAD, LineCache, _select
    from retrieval.search import Fused

    def body(indent, n, v):
        return "".join(f"{indent}{v} = {v} * {j} + {j * 7} - len(str({v}))\n" for j in range(n))

    source = ("def before(x):\n    return x + 1\n\n\n"
              "def outer(a):\n" + body("    ", 60, "a") + "\n    def inner(b):\n" + body("        ", 30, "b")
              + "        return b\n\n" + body("    ", 60, "a") + "    return inner(a)\n\n\n"
              "def after(y):\n    return y - 1\n")
    store, ids = indexed_units(tmp_path, {"nest.py": source})
    try:
        chunks = {cid: (sym, a, b) for cid, sym, a, b in store.conn.execute(
            "SELECT id, symbol, start_line, end_line FROM chunks ORDER BY start_line")}
        first = {sym: cid for cid, (sym, _, _) in reversed(list(chunks.items()))}
        assert {"before", "outer", "outer.inner"} <= first.keys(), chunks
        whole = store.conn.execute("SELECT start_line, end_line FROM symbols WHERE qualname = 'outer'").fetchone()
        assert chunks[first["outer"]][1:] != tuple(whole)  # outer is chunked in parts
        fused = [Fused(first["before"], 0.05, {"lexical": 1}), Fused(first["outer.inner"], 0.04, {"lexical": 2}),
                 Fused(first["outer"], 0.03, {"lexical": 3})]
        paths = {f.chunk_id: "nest.py" for f in fused}
        spans = _select(store, LineCache(store, tmp_path, counter_for()), fused, paths, 60000)
        shown = [n for s in spans for n in range(s.start, s.end + 1)]
        assert len(shown) == len(set(shown)), [(s.start, s.end) for s in spans]
        assert [(s.start, s.end) for s in spans] == [(1, whole[1])]
        assert spans[0].text == "\n".join(source.split("\n")[:whole[1]])
        recount = LineCache(store, tmp_path, counter_for()).span_tokens(spans[0].file_id, "nest.py", 1, whole[1])
        assert spans[0].tokens == recount + _UNIT_OVERHEAD
    finally:
        store.close()


def test_a_file_too_long_for_the_map_shows_its_first_definitions(tmp_path):
    """The best file's map block alone may be over the map's share of the budget (a large
    module): it shows its first definitions and how many are left out, instead of leaving the
    map empty; a file with no room for one definition gives its place to the next."""
    from retrieval.bundle import _repo_map
    from retrieval.search import FileHit

    many = "".join(f"def handler_number_{i}(request, response, session):\n    return {i}\n\n\n" for i in range(40))
    store, ids = indexed_units(tmp_path, {"big.py": many, "small.py": "def tiny():\n    return 0\n"})
    try:
        counter = counter_for()
        ranked = [FileHit("big.py", 0.05, (ids["big.py"][0],), {}), FileHit("small.py", 0.04, (ids["small.py"][0],), {})]
        full = _repo_map(store, ranked, [], counter, 100_000)
        assert full.startswith("big.py") and "small.py" in full
        for budget in (60, 120, 300):
            text = _repo_map(store, ranked, [], counter, budget)
            assert counter.count(text) <= budget
            big = text.split("\nsmall.py")[0]
            assert big.startswith("big.py\n") and "handler_number_0(" in big, (budget, text)
            assert "handler_number_24(" not in big
            shown = big.count("def handler_number_")
            assert big.rstrip().endswith(f"    ... {40 - shown} more")  # those past the block's 25 too
        assert _repo_map(store, ranked, [], counter, 14).startswith("small.py")  # big.py: not one line fits
    finally:
        store.close()


def test_a_large_budget_gives_the_map_at_most_its_tokens_and_the_code_the_rest(tmp_path, monkeypatch):
    """The map takes a tenth of a small budget, but no more than MAP_TOKENS of a large one:
    past that, the budget buys code. Without the cap, this budget's map would be larger."""
    import retrieval.bundle as bundle

    files = {f"orders/handlers_{k}.py": "".join(
        f"def handle_order_{k}_{i}(order, customer, session):\n    total = order.total * {i}\n"
        f"    if customer.discount:\n        total -= customer.discount * {k}\n"
        + "".join(f"    total = session.adjust(total, step={j})\n" for j in range(8)) + "    return total\n\n\n"
        for i in range(60)) for k in range(16)}
    store, _ = indexed_units(tmp_path, files)
    try:
        counter = counter_for()
        question = "how is the order total computed with the customer discount"
        budget = 10 * bundle.MAP_TOKENS + 4000
        monkeypatch.setattr(bundle, "MAP_TOKENS", 10**6)
        wide = build_bundle(Searcher(store), tmp_path, question, budget, counter)
        monkeypatch.undo()
        b = build_bundle(Searcher(store), tmp_path, question, budget, counter)
        assert counter.count(wide.repo_map) > bundle.MAP_TOKENS  # a tenth of this budget would be more
        assert 0 < counter.count(b.repo_map) <= bundle.MAP_TOKENS
        assert b.tokens <= budget
        assert sum(u.tokens for u in b.units) > sum(u.tokens for u in wide.units)
        small = build_bundle(Searcher(store), tmp_path, question, 4000, counter)
        assert 300 < counter.count(small.repo_map) <= 400  # a tenth of a small one, filled
    finally:
        store.close()
