import json

import pytest

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


def test_against_a_revision_each_side_answers_every_question_in_turn(tmp_path):
    """`--against REV`: this tree's code and REV's (a temporary worktree) answer the same
    questions on the same index, each in its own process, paired question by question; the
    worktree is gone afterwards. A name that is no revision stops the run, saying so."""
    import subprocess
    from pathlib import Path

    from conftest import index, write_tree

    from benchmarks.retrieval_speed import AGAINST_OPS, against

    root = tmp_path / "proj"
    write_tree(root, {"retry.py": "def retry_after_server_error(status):\n    return status >= 500\n",
                      "client.py": "from retry import retry_after_server_error\n\n\n"
                                   "def send(request):\n    return retry_after_server_error(request.status)\n"})
    project = Path(__file__).resolve().parents[3]
    if not (project / ".git").exists():
        pytest.skip("the project is not a git checkout here")
    index(root)
    before = subprocess.run(["git", "-C", str(project), "worktree", "list"], capture_output=True, text=True).stdout
    qs = ["when is a request retried", "who sends requests", "server error status"]
    got = against(root, qs, "HEAD")
    head = subprocess.run(["git", "-C", str(project), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert got["rev"] == head.strip()
    assert set(got["ops"]) == set(AGAINST_OPS)
    for v in got["ops"].values():
        assert v["this"]["n"] == v["rev"]["n"] == len(qs)
        assert v["ratio_p50"] > 0 and 0 <= v["this_faster"] <= len(qs)
    after = subprocess.run(["git", "-C", str(project), "worktree", "list"], capture_output=True, text=True).stdout
    assert after == before
    with pytest.raises(SystemExit, match="not a revision"):
        against(root, qs, "no-such-revision-anywhere")
    # a side that cannot answer stops the run with what it said, and leaves no worktree
    (tmp_path / "bare").mkdir()
    with pytest.raises(SystemExit, match="(?s)failed:.*no index"):
        against(tmp_path / "bare", qs, "HEAD")
    assert subprocess.run(["git", "-C", str(project), "worktree", "list"],
                          capture_output=True, text=True).stdout == before
