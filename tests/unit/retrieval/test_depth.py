"""One ranking depth for a question's units, files and bundle: asking for more results keeps
the first ones, and the bundle is built from the ranking benchmarks.localization measures."""

from __future__ import annotations

import pytest
from conftest import index, reader, write_tree

from retrieval.bundle import build_bundle
from retrieval.search import DEPTH, SearchError, Searcher, rank_files
from retrieval.tokens import counter_for

QUESTION = "why does frobnicate_widget drop the widget gasket"
HANDLERS = DEPTH + 150  # more units share the question's words than one ranking holds


def _tree() -> dict[str, str]:
    files = {}
    for i in range(HANDLERS):
        words = " ".join(["widget"] * (1 + i % 7) + ["gasket"] * (i % 3))
        files[f"pkg/handler_{i:03d}.py"] = (
            f"def handle_{i:03d}(item):\n    \"\"\"{words}\"\"\"\n    return item.get('n{i}')\n")
    # The function the question names, whose few shared words rank it low in BM25: a deeper
    # lexical ranking adds to its score, and so changes the order at the top.
    files["pkg/frob.py"] = (
        "def frobnicate_widget(item, spool, ratchet, lever, cam, pulley, axle, sprocket):\n"
        "    \"\"\"" + " ".join(f"word{n}" for n in range(80)) + " widget\"\"\"\n"
        "    return spool + ratchet + lever + cam + pulley + axle + sprocket\n")
    return files


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    write_tree(root, _tree())
    index(root)
    store = reader(root)
    yield root, Searcher(store)
    store.close()


def _units(hits) -> list[tuple[str, str]]:
    return [(h.path, h.symbol) for h in hits]


def test_asking_for_more_results_keeps_the_first_ones_in_their_order(many):
    _, searcher = many
    first = _units(searcher.search(QUESTION, "hybrid", k=10))
    assert ("pkg/frob.py", "frobnicate_widget") in first
    for k in (20, 60, DEPTH, DEPTH + 50, 2 * HANDLERS):
        assert _units(searcher.search(QUESTION, "hybrid", k=k))[:10] == first, k
    files = [f.path for f in searcher.files(QUESTION, "hybrid", k=10)]
    for k in (DEPTH + 50, 2 * HANDLERS):
        assert [f.path for f in searcher.files(QUESTION, "hybrid", k=k)][:10] == files, k


def test_more_results_than_one_ranking_holds_follow_it_sorted_and_once(many):
    _, searcher = many
    n = len(searcher.fused(QUESTION, "hybrid", DEPTH)[0])  # units the first ranking holds
    assert n < HANDLERS  # the rest come from deeper
    head = _units(searcher.search(QUESTION, "hybrid", k=DEPTH))
    hits = searcher.search(QUESTION, "hybrid", k=HANDLERS)
    units = _units(hits)
    assert len(units) == HANDLERS and len(set(units)) == HANDLERS
    assert units[:DEPTH] == head
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
    # the units past the first ranking are the deeper ranking's, in its order
    deeper = [f.chunk_id for f in searcher.fused(QUESTION, "hybrid", HANDLERS)[0]]
    shown = {h.chunk_id for h in hits[:n]}
    assert [h.chunk_id for h in hits[n:]] == [c for c in deeper if c not in shown][:HANDLERS - n]
    files = searcher.files(QUESTION, "hybrid", k=HANDLERS)
    assert len({f.path for f in files}) == len(files) == HANDLERS
    assert all(a.score >= b.score for a, b in zip(files, files[1:]))


def test_a_baseline_s_files_follow_a_deeper_ranking_too(many):
    _, searcher = many
    fused, sig = searcher.fused(QUESTION, "lexical", DEPTH)
    head = [f.path for f in rank_files(fused, sig.paths, sig, searcher.weights)]
    assert len(head) < HANDLERS
    files = searcher.files(QUESTION, "lexical", k=HANDLERS)
    assert [f.path for f in files][:len(head)] == head
    assert len({f.path for f in files}) == len(files) == HANDLERS
    assert all(a.score >= b.score for a, b in zip(files, files[1:]))


def test_a_negative_count_is_refused_and_none_gives_none(many):
    _, searcher = many
    for mode in ("hybrid", "lexical"):
        with pytest.raises(SearchError, match="k must be 0 or more"):
            searcher.search(QUESTION, mode, k=-1)
        with pytest.raises(SearchError, match="k must be 0 or more"):
            searcher.files(QUESTION, mode, k=-1)
        assert searcher.search(QUESTION, mode, k=0) == [] and searcher.files(QUESTION, mode, k=0) == []


def test_a_bundle_is_built_from_the_ranking_the_benchmark_measures(many):
    root, searcher = many
    counter = counter_for()
    own = build_bundle(searcher, root, QUESTION, 32000, counter)
    measured = build_bundle(searcher, root, QUESTION, 32000, counter,
                            ranking=searcher.fused(QUESTION, "hybrid", DEPTH))
    assert len(own.units) > 20
    assert [(u.path, u.start_line, u.end_line) for u in own.units] == \
        [(u.path, u.start_line, u.end_line) for u in measured.units]


def test_a_deeper_ranking_searches_the_vectors_with_the_question_embedded_once(many, embedder):
    """Past the depth, the deeper ranking's dense search reuses the first ranking's vector of
    the question (a second embedding costs 40-50 ms for an issue's 128 tokens here)."""
    from indexer.dense import embed_index
    from indexer.update import index_dir_for
    from indexer.vectors import VectorOptions, open_vector_store

    root, plain = many
    embed_index(root, embedder)
    store = reader(root)
    vstore = open_vector_store(VectorOptions(), index_dir_for(root), embedder.dim)

    class Counting:
        def __init__(self):
            self.asked = []

        def __getattr__(self, name):
            return getattr(embedder, name)

        def embed_question(self, text):
            self.asked.append(text)
            return embedder.embed_question(text)

    # The question's pass made first, as a server does: a process without a saved pass embeds
    # its first question eagerly (fp32) and later ones through the int8 copy, whose vectors
    # differ enough to reorder the two searches below when this test runs alone.
    embedder.prepare_questions()
    counting = Counting()
    searcher = Searcher(store, vstore, counting)
    try:
        head = searcher.search(QUESTION, "hybrid", k=DEPTH)
        assert counting.asked == [QUESTION]
        more = searcher.search(QUESTION, "hybrid", k=HANDLERS + 50)  # more than the index holds
        assert counting.asked == [QUESTION] * 2  # once for this search, not again for its deeper ranking
        assert any("dense" in h.ranks for h in more[DEPTH:]) and _units(more[:DEPTH]) == _units(head)
        assert len(more) == len({h.chunk_id for h in more}) == len(more)
        scores = [h.score for h in more]
        assert scores == sorted(scores, reverse=True)
        files = searcher.files(QUESTION, "hybrid", k=HANDLERS + 50)
        assert counting.asked == [QUESTION] * 3 and len(files) == len({f.path for f in files})
    finally:
        vstore.close()
        store.close()
