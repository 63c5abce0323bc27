import json

import pytest

from benchmarks.common import PROJECT
from benchmarks.retrieval_speed import for_repo, questions


def test_rows_match_a_checkout_named_either_way():
    assert for_repo("sympy/sympy", "sympy")
    assert for_repo("sympy/sympy", "sympy+sympy")  # benchmarks.localization's layout
    assert for_repo("", "anything")  # a row without a repository is about any
    assert not for_repo("sympy/sympy", "flask")
    assert not for_repo("pallets/flask", "pallets+flask-old")


def test_questions_come_from_the_data_or_the_run_stops(tmp_path):
    data = tmp_path / "dev.jsonl"
    rows = [{"repo": "pallets/flask", "question": f"why does route {i} fail"} for i in range(5)]
    rows.append({"repo": "psf/requests", "question": "session keeps cookies"})
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    got = questions(tmp_path / "pallets+flask", [data], None, 3, seed=1)
    assert len(got) == 3 and all(q.startswith("why does route") for q in got)
    # Asked for real questions about a repository the data does not cover: no made-up ones.
    with pytest.raises(SystemExit, match="no question"):
        questions(tmp_path / "sympy+sympy", [data], None, 3, seed=1)


def test_through_the_server_each_question_is_asked_once_and_an_overlong_one_cut(tmp_path):
    """`--server`: the real server in its own process answers every question, each once; a
    question over the server's limit is cut to it rather than refused."""
    from conftest import index, write_tree

    from benchmarks.retrieval_speed import through_server
    from service.rpc import MAX_QUERY

    root = tmp_path / "proj"
    write_tree(root, {"retry.py": "def retry_after_server_error(status):\n    return status >= 500\n"})
    index(root)
    searches, bundles, cut = through_server(root, ["when is a request retried", "retry " * (MAX_QUERY // 3)])
    assert len(searches) == len(bundles) == 2 and cut == 1
    assert all(0 < t < 60 for t in searches + bundles)


@pytest.fixture
def project():
    """The project's own git checkout, which `--against` makes its worktrees of."""
    if not (PROJECT / ".git").exists():
        pytest.skip("the project is not a git checkout here")
    return PROJECT


def _against_worktrees(project) -> list[str]:
    import subprocess

    listed = subprocess.run(["git", "-C", str(project), "worktree", "list"], capture_output=True, text=True).stdout
    return [line for line in listed.splitlines() if "repoqa-against-" in line]


def test_against_a_revision_each_side_runs_its_own_trees_code_on_every_question(tmp_path, project):
    """`--against REV`: this tree's code and REV's (a temporary worktree) answer the same
    questions on the same index, each in its own process whose modules all come from its
    tree; the worktree is gone afterwards. A name that is no revision stops the run, saying
    so, and so does a side that cannot answer, with what it said."""
    import subprocess
    from pathlib import Path

    from conftest import index, write_tree

    from benchmarks.retrieval_speed import AGAINST_OPS, against

    root = tmp_path / "proj"
    write_tree(root, {"retry.py": "def retry_after_server_error(status):\n    return status >= 500\n",
                      "client.py": "from retry import retry_after_server_error\n\n\n"
                                   "def send(request):\n    return retry_after_server_error(request.status)\n"})
    index(root)
    qs = ["when is a request retried", "who sends requests", "server error status"]
    got = against(root, qs, "HEAD")
    head = subprocess.run(["git", "-C", str(project), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert got["rev"] == head.strip()
    this, rev = map(Path, got["trees"])
    assert this == project.resolve() and rev != this and "repoqa-against-" in str(rev)
    assert set(got["ops"]) == set(AGAINST_OPS)
    for v in got["ops"].values():
        assert v["this"]["n"] == v["rev"]["n"] == len(qs)
    assert not _against_worktrees(project) and not rev.exists()
    with pytest.raises(SystemExit, match="not a revision"):
        against(root, qs, "no-such-revision-anywhere")
    (tmp_path / "bare").mkdir()
    with pytest.raises(SystemExit, match="(?s)failed:.*no index"):
        against(tmp_path / "bare", qs, "HEAD")
    assert not _against_worktrees(project)


def test_against_pairs_each_question_with_the_sides_taking_turns_and_closes_both_on_failure(tmp_path, project):
    """Question by question, the side that goes first alternates; each side is warmed up
    first; the ratio is this side's time over the other's, per question. When the second
    side cannot start, the first is closed all the same."""
    from benchmarks.retrieval_speed import against, paired

    calls, closed = [], []

    class Fake:
        def __init__(self, name, tree, repo, log):
            self.name, self.root = name, tree

        def ask(self, op, q):
            calls.append((self.name == "this tree", op, q))
            return 1.0 if self.name == "this tree" else 2.0

        def close(self):
            closed.append(self.name)

    got = against(tmp_path, ["a", "b", "c"], "HEAD", ops=("search",), side=Fake)
    warm, timed = calls[:4], calls[4:]
    assert [(s, op) for s, op, _ in warm] == [(True, "search"), (True, "bundle_32k"),
                                                (False, "search"), (False, "bundle_32k")]
    assert timed == [(True, "search", "a"), (False, "search", "a"), (False, "search", "b"),
                     (True, "search", "b"), (True, "search", "c"), (False, "search", "c")]
    assert got["ops"]["search"]["ratio_p50"] == 0.5 and got["ops"]["search"]["this_faster"] == 3
    assert len(closed) == 2 and not _against_worktrees(project)
    p = paired([0.01, 0.04, 0.03], [0.02, 0.02, 0.03])  # ratios 0.5, 2 and 1; a tie is not faster
    assert (p["ratio_p50"], p["this_faster"], p["this"]["n"], p["rev"]["p50_ms"]) == (1.0, 1, 3, 20.0)

    class Refused(Fake):
        def __init__(self, name, tree, repo, log):
            if name != "this tree":
                raise SystemExit("cannot start")
            super().__init__(name, tree, repo, log)

    closed.clear()
    with pytest.raises(SystemExit, match="cannot start"):
        against(tmp_path, ["a"], "HEAD", side=Refused)
    assert closed == ["this tree"] and not _against_worktrees(project)
